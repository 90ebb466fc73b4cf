/* jbuf.c: the growable JSON / text buffer (see jbuf.h). */
#include "coin/jbuf.h"

#include "coin/error.h"
#include "coin/fmt.h"
#include "coin/timeframe.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NUM_TEXT_BYTES 32

void coin_jbuf_free(struct coin_jbuf *b) {
  free(b->p);
  memset(b, 0, sizeof(*b));
}

void coin_jbuf_reset(struct coin_jbuf *b) {
  b->len = 0;
  b->oom = false;
  if (b->p)
    b->p[0] = '\0';
}

static bool reserve(struct coin_jbuf *b, size_t more) {
  if (b->oom)
    return false;
  if (b->len + more + 1 <= b->cap)
    return true;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->len + more + 1)
    cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) {
    b->oom = true;
    return false;
  }
  b->p = p;
  b->cap = cap;
  return true;
}

void coin_jbuf_putn(struct coin_jbuf *b, const char *s, size_t n) {
  if (!reserve(b, n))
    return;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

void coin_jbuf_puts(struct coin_jbuf *b, const char *s) {
  coin_jbuf_putn(b, s, strlen(s));
}

void coin_jbuf_printf(struct coin_jbuf *b, const char *fmt, ...) {
  char small[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof(small), fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  if ((size_t)n < sizeof(small)) {
    coin_jbuf_putn(b, small, (size_t)n);
    return;
  }
  if (!reserve(b, (size_t)n))
    return;
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

void coin_jbuf_str(struct coin_jbuf *b, const char *s) {
  if (!s) {
    coin_jbuf_putn(b, "null", 4);
    return;
  }
  size_t n = strlen(s);
  if (!reserve(b, n * 6 + 2))
    return;
  char *o = b->p + b->len;
  *o++ = '"';
  for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
    unsigned char c = *q;
    if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f) {
      *o++ = (char)c;
    } else if (c == '"' || c == '\\') {
      *o++ = '\\';
      *o++ = (char)c;
    } else if (c == '\n') {
      *o++ = '\\';
      *o++ = 'n';
    } else {
      o += sprintf(o, "\\u%04x", c);
    }
  }
  *o++ = '"';
  *o = '\0';
  b->len = (size_t)(o - b->p);
}

void coin_jbuf_i64(struct coin_jbuf *b, int64_t v) {
  char t[24];
  int n = snprintf(t, sizeof(t), "%" PRId64, v);
  coin_jbuf_putn(b, t, (size_t)n);
}

size_t coin_jbuf_num_text(char *out, double v) {
  if (!isfinite(v)) {
    memcpy(out, "null", 5);
    return 4;
  }
  /* Integers (volumes, round prices) print as such. */
  if (fabs(v) < 1e15 && v == (double)(int64_t)v && !(v == 0 && signbit(v)))
    return (size_t)snprintf(out, NUM_TEXT_BYTES, "%" PRId64, (int64_t)v);
  return coin_fmt_double(out, v);
}

void coin_jbuf_num(struct coin_jbuf *b, double v) {
  char t[NUM_TEXT_BYTES];
  size_t n = coin_jbuf_num_text(t, v);
  coin_jbuf_putn(b, t, n);
}

void coin_jbuf_time(struct coin_jbuf *b, int64_t ms) {
  char t[COIN_TF_UTC_TEXT_BYTES];
  if (coin_tf_format_utc(t, sizeof(t), ms) != 0) {
    coin_jbuf_puts(b, "null");
    return;
  }
  coin_jbuf_putn(b, "\"", 1);
  coin_jbuf_putn(b, t, strlen(t));
  coin_jbuf_putn(b, "\"", 1);
}

void coin_jbuf_prom_counter(struct coin_jbuf *b, const char *name,
                            const char *help, uint64_t v) {
  coin_jbuf_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help,
                   name, name, (unsigned long long)v);
}

void coin_jbuf_prom_gauge(struct coin_jbuf *b, const char *name,
                          const char *help, double v) {
  char num[COIN_FMT_DOUBLE_BYTES];
  coin_fmt_double(num, v);
  coin_jbuf_printf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %s\n", name, help,
                   name, name, isfinite(v) ? num : "NaN");
}

void coin_jbuf_key(struct coin_jbuf *b, const char *key) {
  coin_jbuf_str(b, key);
  coin_jbuf_putn(b, ":", 1);
}

void coin_jbuf_knum(struct coin_jbuf *b, const char *key, double v) {
  coin_jbuf_key(b, key);
  coin_jbuf_num(b, v); /* non-finite: null */
  coin_jbuf_putn(b, ",", 1);
}

void coin_jbuf_kinterval(struct coin_jbuf *b, const char *key, double lo,
                         double hi) {
  coin_jbuf_key(b, key);
  if (!isfinite(lo)) {
    coin_jbuf_puts(b, "null,");
    return;
  }
  coin_jbuf_putn(b, "[", 1);
  coin_jbuf_num(b, lo);
  coin_jbuf_putn(b, ",", 1);
  coin_jbuf_num(b, hi);
  coin_jbuf_putn(b, "],", 2);
}

void coin_jbuf_kstr(struct coin_jbuf *b, const char *key, const char *s) {
  coin_jbuf_key(b, key);
  coin_jbuf_str(b, s);
  coin_jbuf_putn(b, ",", 1);
}

void coin_jbuf_kint(struct coin_jbuf *b, const char *key, int64_t v) {
  coin_jbuf_key(b, key);
  coin_jbuf_i64(b, v);
  coin_jbuf_putn(b, ",", 1);
}

void coin_jbuf_kint_or_null(struct coin_jbuf *b, const char *key, int64_t v) {
  if (v < 0) {
    coin_jbuf_key(b, key);
    coin_jbuf_putn(b, "null,", 5);
  } else {
    coin_jbuf_kint(b, key, v);
  }
}

void coin_jbuf_kbool(struct coin_jbuf *b, const char *key, bool v) {
  coin_jbuf_key(b, key);
  coin_jbuf_putn(b, v ? "true," : "false,", v ? 5 : 6);
}

void coin_jbuf_ktime(struct coin_jbuf *b, const char *key, int64_t ms) {
  char t[COIN_TF_UTC_TEXT_BYTES];
  if (ms < 0 || coin_tf_format_utc(t, sizeof(t), ms) != 0) {
    coin_jbuf_key(b, key);
    coin_jbuf_putn(b, "null,", 5);
    return;
  }
  coin_jbuf_kstr(b, key, t);
}

void coin_jbuf_trim_comma(struct coin_jbuf *b) {
  if (!b->oom && b->len > 0 && b->p[b->len - 1] == ',')
    b->p[--b->len] = '\0';
}

int coin_jbuf_finish(char **out, size_t *out_len, struct coin_jbuf *b) {
  if (b->oom || !reserve(b, 0)) {
    coin_jbuf_free(b);
    return coin_error_set(COIN_ENOMEM, "out of memory building text");
  }
  *out = b->p;
  if (out_len)
    *out_len = b->len;
  b->p = NULL;
  b->len = b->cap = 0;
  return 0;
}
