/* fmt.c: shortest round-trip text of a double (see fmt.h): an exact
 * integer fast path for short decimals (prices, volumes), else printf. */
#include "coin/fmt.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Exact powers of ten (all below 2^53 up to 1e22). */
static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,
                                     1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                     1e12, 1e13, 1e14, 1e15, 1e16, 1e17};

/* The fast path: a decimal of at most 15 significant digits m / 10^d that
 * reads back to exactly v, in the range where "%.15g" prints fixed
 * notation. m and 10^d are exact doubles, so m / 10^d is the double nearest
 * that decimal, which is what strtod returns for its text: the check is
 * exact. The smallest such d has no trailing zero, and a double within half
 * an ulp of a 15-digit decimal rounds to it at 15 digits, so the text is
 * the one "%.15g" prints. Returns 0 when the slow path must decide. */
static size_t fmt_fast(char *out, double v) {
  double a = fabs(v);
  if (!(a >= 1e-4 && a < 1e15))
    return 0;
  for (int d = 0; d < (int)(sizeof(pow10_exact) / sizeof(pow10_exact[0]));
       d++) {
    double m = nearbyint(a * pow10_exact[d]);
    if (m >= 1e15)
      return 0;
    if (m / pow10_exact[d] != a)
      continue;
    uint64_t u = (uint64_t)m, p = (uint64_t)pow10_exact[d];
    uint64_t ip = u / p, fp = u % p;
    char digits[24];
    size_t n = 0, k = 0;
    if (v < 0)
      out[n++] = '-';
    do {
      digits[k++] = (char)('0' + ip % 10);
      ip /= 10;
    } while (ip);
    while (k)
      out[n++] = digits[--k];
    if (d > 0) {
      out[n++] = '.';
      for (int i = d - 1; i >= 0; i--) {
        out[n + (size_t)i] = (char)('0' + fp % 10);
        fp /= 10;
      }
      n += (size_t)d;
    }
    out[n] = '\0';
    return n;
  }
  return 0;
}

/* The reference: at most three printf/strtod round trips. */
static size_t fmt_slow(char *out, double v) {
  int n = 0;
  for (int prec = 15; prec <= 17; prec++) {
    n = snprintf(out, COIN_FMT_DOUBLE_BYTES, "%.*g", prec, v);
    /* A locale with a decimal comma must not leak into any format. */
    for (char *p = out; *p; p++)
      if (*p == ',')
        *p = '.';
    double back = strtod(out, NULL);
    if (memcmp(&back, &v, sizeof(v)) == 0)
      break;
  }
  return (size_t)n;
}

size_t coin_fmt_double_slow(char *out, double v) {
  if (!isfinite(v))
    return coin_fmt_double(out, v);
  return fmt_slow(out, v);
}

size_t coin_fmt_double(char *out, double v) {
  if (!isfinite(v))
    return (size_t)snprintf(out, COIN_FMT_DOUBLE_BYTES, "%s",
                            isnan(v) ? "nan"
                            : v > 0  ? "inf"
                                     : "-inf");
  size_t n = fmt_fast(out, v);
  return n ? n : fmt_slow(out, v);
}

bool coin_fmt_parse_decimal(double *out, const char *s) {
  const char *p = s;
  bool neg = *p == '-';
  p += neg;
  uint64_t m = 0;
  int digits = 0, dec = -1;
  for (;; p++) {
    if (*p >= '0' && *p <= '9') {
      if (++digits > 15)
        return false; /* beyond 2^53 maybe: strtod decides */
      m = m * 10 + (uint64_t)(*p - '0');
      if (dec >= 0)
        dec++;
    } else if (*p == '.' && dec < 0 && digits > 0) {
      dec = 0;
    } else {
      break;
    }
  }
  if (*p != '\0' || digits == 0 || dec == 0)
    return false; /* "", "-", "1.", exponents, anything else */
  /* m < 10^15 and 10^dec (dec <= 15) are exact: one correctly rounded
   * division is the double nearest the decimal, as strtod's */
  double v = (double)m / pow10_exact[dec < 0 ? 0 : dec];
  *out = neg ? -v : v;
  return true;
}

const char *coin_fmt_shown(char *buf, size_t bufsize, const char *text) {
  size_t i = 0;
  for (; text[i] && i + 4 < bufsize; i++) {
    unsigned char ch = (unsigned char)text[i];
    buf[i] = (ch >= 0x20 && ch < 0x7f && ch != '"') ? (char)ch : '?';
  }
  if (text[i]) {
    memcpy(buf + i, "...", 3);
    i += 3;
  }
  buf[i] = '\0';
  return buf;
}
