/*
 * replay_format.c: the capped JSON output buffer and number printing.
 * Prices are printed as the shortest decimal that parses back to the same
 * double (so a client gets exactly the CSV's value), found with exact
 * integer/power-of-ten arithmetic instead of trial printf where possible:
 * the hot path of a 1000-row klines answer. Pure functions, thread-safe.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay.h"

void jb_init(struct jbuf *b, size_t max_bytes) {
  memset(b, 0, sizeof(*b));
  b->max = max_bytes;
}

void jb_free(struct jbuf *b) {
  free(b->p);
  memset(b, 0, sizeof(*b));
}

static bool jb_reserve(struct jbuf *b, size_t n) {
  if (b->failed)
    return false;
  if (b->len + n + 1 <= b->cap)
    return true;
  if (b->len + n + 1 > b->max) {
    b->failed = true;
    return false;
  }
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->len + n + 1)
    cap *= 2;
  if (cap > b->max)
    cap = b->max;
  char *np = realloc(b->p, cap);
  if (np == NULL) {
    b->failed = true;
    return false;
  }
  b->p = np;
  b->cap = cap;
  return true;
}

void jb_put(struct jbuf *b, const char *s, size_t n) {
  if (!jb_reserve(b, n))
    return;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

void jb_puts(struct jbuf *b, const char *s) {
  jb_put(b, s, strlen(s));
}

void jb_printf(struct jbuf *b, const char *fmt, ...) {
  char small[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof(small), fmt, ap);
  va_end(ap);
  if (n < 0) {
    b->failed = true;
    return;
  }
  if ((size_t)n < sizeof(small)) {
    jb_put(b, small, (size_t)n);
    return;
  }
  if (!jb_reserve(b, (size_t)n))
    return;
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

/* Digits of v (< 2^63) into out, returns the count. */
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

void jb_i64(struct jbuf *b, int64_t v) {
  char buf[24];
  size_t n = 0;
  uint64_t u = (uint64_t)v;
  if (v < 0) {
    buf[n++] = '-';
    u = (uint64_t)0 - u;
  }
  n += u64_text(buf + n, u);
  jb_put(b, buf, n);
}

static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,
                                     1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                     1e12, 1e13, 1e14, 1e15, 1e16, 1e17};

#define TWO_POW_53 9007199254740992.0

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

size_t replay_fmt_double(char *out, double v) {
  if (!isfinite(v)) /* never from the data; keeps the JSON valid anyway */
    return (size_t)sprintf(out, "0");
  if (v == 0)
    return (size_t)sprintf(out, "0");
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
  int w = snprintf(out, 32, "%.15g", v);
  if (strtod(out, NULL) != v) {
    w = snprintf(out, 32, "%.16g", v);
    if (strtod(out, NULL) != v)
      w = snprintf(out, 32, "%.17g", v);
    return (size_t)w;
  }
  char shorter[32];
  for (int prec = 14; prec >= 1; prec--) {
    int sw = snprintf(shorter, sizeof(shorter), "%.*g", prec, v);
    if (strtod(shorter, NULL) != v)
      break;
    memcpy(out, shorter, (size_t)sw + 1);
    w = sw;
  }
  return (size_t)w;
}

int replay_decimals(double v) {
  uint64_t m;
  if (!isfinite(v))
    return 0;
  int k = exact_decimal(fabs(v), &m);
  return k >= 0 ? k : 17;
}

void jb_dbl(struct jbuf *b, double v) {
  char buf[40];
  jb_put(b, buf, replay_fmt_double(buf, v));
}

void jb_str(struct jbuf *b, const char *s) {
  jb_put(b, "\"", 1);
  for (const char *p = s; *p; p++) {
    unsigned char ch = (unsigned char)*p;
    if (ch == '"' || ch == '\\') {
      char esc[2] = {'\\', (char)ch};
      jb_put(b, esc, 2);
    } else if (ch < 0x20) {
      char esc[8];
      snprintf(esc, sizeof(esc), "\\u%04x", ch);
      jb_put(b, esc, 6);
    } else {
      jb_put(b, p, 1);
    }
  }
  jb_put(b, "\"", 1);
}

/* "1.5" with quotes, as Binance sends numbers. */
static void jb_qdbl(struct jbuf *b, double v) {
  char buf[40];
  buf[0] = '"';
  size_t n = replay_fmt_double(buf + 1, v);
  buf[n + 1] = '"';
  jb_put(b, buf, n + 2);
}

/* An estimate needs no round trip: Binance's fixed 8 decimals, quoted,
 * without printf (it dominated the cost of a 1000-row answer). */
static void jb_fixed8(struct jbuf *b, double v) {
  char buf[48];
  size_t n = 0;
  if (!isfinite(v) || v < 0 || v >= 9e18) {
    jb_printf(b, "\"%.8f\"", isfinite(v) ? v : 0.0);
    return;
  }
  uint64_t ip = (uint64_t)v;
  uint64_t frac = (uint64_t)llround((v - (double)ip) * 1e8);
  if (frac >= 100000000) {
    ip++;
    frac -= 100000000;
  }
  buf[n++] = '"';
  n += u64_text(buf + n, ip);
  buf[n++] = '.';
  for (int i = 7; i >= 0; i--) {
    buf[n + (size_t)i] = (char)('0' + frac % 10);
    frac /= 10;
  }
  n += 8;
  buf[n++] = '"';
  jb_put(b, buf, n);
}

void replay_render_kline(struct jbuf *b, const struct replay_kline *k) {
  /* Binance: [openTime, open, high, low, close, volume, closeTime,
   * quoteAssetVolume, numberOfTrades, takerBuyBase, takerBuyQuote, ignore].
   * The files have no trade data: quote volume is approximated with the
   * typical price, trades and taker volumes are 0 (docs/replay-exchange.md). */
  double quote_volume = k->volume * (k->high + k->low + k->close) / 3.0;
  jb_put(b, "[", 1);
  jb_i64(b, k->open_ms);
  jb_put(b, ",", 1);
  jb_qdbl(b, k->open);
  jb_put(b, ",", 1);
  jb_qdbl(b, k->high);
  jb_put(b, ",", 1);
  jb_qdbl(b, k->low);
  jb_put(b, ",", 1);
  jb_qdbl(b, k->close);
  jb_put(b, ",", 1);
  jb_qdbl(b, k->volume);
  jb_put(b, ",", 1);
  jb_i64(b, k->close_ms);
  jb_put(b, ",", 1);
  jb_fixed8(b, quote_volume);
  jb_puts(b, ",0,\"0\",\"0\",\"0\"]");
}
