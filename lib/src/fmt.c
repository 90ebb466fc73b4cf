/* fmt.c: shortest round-trip text of a double (see fmt.h), in %g style and
 * in an exchange's plain decimals: an exact integer fast path for short
 * decimals (prices, volumes), else printf. */
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

#define TWO_POW_53 9007199254740992.0

/* Digits of v into out (no NUL), returns the count. */
static size_t u64_text(char *out, uint64_t v) {
  char tmp[24];
  size_t n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (size_t i = 0; i < n; i++)
    out[i] = tmp[n - 1 - i];
  return n;
}

/* Finds the fewest decimals k such that m / 10^k == a exactly, with m an
 * integer < 2^53. Both are exact doubles and IEEE division is correctly
 * rounded, so m / 10^k is the double nearest to the decimal m·10^-k, which
 * is what strtod returns for that text: the check proves the round trip. */
static int exact_decimal(double a, uint64_t *m_out) {
  for (int k = 0; k < (int)(sizeof(pow10_exact) / sizeof(pow10_exact[0]));
       k++) {
    double m = a * pow10_exact[k];
    if (m >= TWO_POW_53)
      return -1;
    double r = nearbyint(m);
    if (r / pow10_exact[k] == a) {
      *m_out = (uint64_t)r;
      return k;
    }
  }
  return -1;
}

size_t coin_fmt_decimal(char *out, double v) {
  if (!isfinite(v) || v == 0) /* never from the data; keeps JSON valid */
    return (size_t)snprintf(out, COIN_FMT_DOUBLE_BYTES, "0");
  size_t n = 0;
  double a = v;
  if (a < 0) {
    out[n++] = '-';
    a = -a;
  }
  uint64_t m;
  int k = exact_decimal(a, &m);
  if (k >= 0) {
    char digits[24];
    size_t nd = u64_text(digits, m);
    if ((size_t)k >= nd) { /* 0.000ddd */
      out[n++] = '0';
      out[n++] = '.';
      for (size_t i = nd; i < (size_t)k; i++)
        out[n++] = '0';
      memcpy(out + n, digits, nd);
      n += nd;
    } else {
      memcpy(out + n, digits, nd - (size_t)k);
      n += nd - (size_t)k;
      if (k > 0) {
        out[n++] = '.';
        memcpy(out + n, digits + nd - (size_t)k, (size_t)k);
        n += (size_t)k;
      }
    }
    out[n] = '\0';
    return n;
  }
  /* Computed values (sums, the partial candle) need 15-17 digits; very
   * large or very small short values may need fewer: search down from 15. */
  int w = snprintf(out, COIN_FMT_DOUBLE_BYTES, "%.15g", v);
  if (strtod(out, NULL) != v) {
    w = snprintf(out, COIN_FMT_DOUBLE_BYTES, "%.16g", v);
    if (strtod(out, NULL) != v)
      w = snprintf(out, COIN_FMT_DOUBLE_BYTES, "%.17g", v);
    return (size_t)w;
  }
  char shorter[COIN_FMT_DOUBLE_BYTES];
  for (int prec = 14; prec >= 1; prec--) {
    int sw = snprintf(shorter, sizeof(shorter), "%.*g", prec, v);
    if (strtod(shorter, NULL) != v)
      break;
    memcpy(out, shorter, (size_t)sw + 1);
    w = sw;
  }
  return (size_t)w;
}

size_t coin_fmt_fixed8(char *out, double v) {
  if (!isfinite(v) || v < 0 || v >= 9e18)
    return (size_t)snprintf(out, COIN_FMT_FIXED8_BYTES, "%.8f",
                            isfinite(v) ? v : 0.0);
  uint64_t ip = (uint64_t)v;
  uint64_t frac = (uint64_t)llround((v - (double)ip) * 1e8);
  if (frac >= 100000000) {
    ip++;
    frac -= 100000000;
  }
  size_t n = u64_text(out, ip);
  out[n++] = '.';
  for (int i = 7; i >= 0; i--) {
    out[n + (size_t)i] = (char)('0' + frac % 10);
    frac /= 10;
  }
  n += 8;
  out[n] = '\0';
  return n;
}

int coin_fmt_decimal_places(double v) {
  uint64_t m;
  if (!isfinite(v))
    return 0;
  int k = exact_decimal(fabs(v), &m);
  return k >= 0 ? k : 17;
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

void coin_fmt_vline(char *out, size_t n, const char *fmt, va_list ap) {
  vsnprintf(out, n, fmt, ap);
  for (char *p = out; *p; p++)
    if (*p == '\n' || *p == '\r')
      *p = ' ';
}
