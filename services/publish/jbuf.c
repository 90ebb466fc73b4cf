/* jbuf.c: the growable JSON text buffer of coin-publish (see jbuf.h). */
#include "jbuf.h"

#include "coin/fmt.h"
#include "coin/timeframe.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NUM_TEXT_BYTES 32

void jb_free(struct jbuf *b) {
  free(b->p);
  memset(b, 0, sizeof(*b));
}

void jb_reset(struct jbuf *b) {
  b->len = 0;
  b->oom = false;
  if (b->p)
    b->p[0] = '\0';
}

static bool reserve(struct jbuf *b, size_t more) {
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

void jb_putn(struct jbuf *b, const char *s, size_t n) {
  if (!reserve(b, n))
    return;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

void jb_puts(struct jbuf *b, const char *s) {
  jb_putn(b, s, strlen(s));
}

void jb_printf(struct jbuf *b, const char *fmt, ...) {
  char small[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof(small), fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  if ((size_t)n < sizeof(small)) {
    jb_putn(b, small, (size_t)n);
    return;
  }
  if (!reserve(b, (size_t)n))
    return;
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

void jb_str(struct jbuf *b, const char *s) {
  if (!s) {
    jb_puts(b, "null");
    return;
  }
  jb_putn(b, "\"", 1);
  const char *run = s;
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch >= 0x20 && ch != '"' && ch != '\\')
      continue;
    jb_putn(b, run, (size_t)(s - run));
    if (ch == '"' || ch == '\\') {
      char esc[2] = {'\\', (char)ch};
      jb_putn(b, esc, 2);
    } else {
      jb_printf(b, "\\u%04x", ch);
    }
    run = s + 1;
  }
  jb_putn(b, run, (size_t)(s - run));
  jb_putn(b, "\"", 1);
}

void jb_i64(struct jbuf *b, int64_t v) {
  char t[24];
  int n = snprintf(t, sizeof(t), "%" PRId64, v);
  jb_putn(b, t, (size_t)n);
}

size_t jb_num_text(char *out, double v) {
  if (!isfinite(v)) {
    memcpy(out, "null", 5);
    return 4;
  }
  /* Integers (volumes, round prices) print as such. */
  if (fabs(v) < 1e15 && v == (double)(int64_t)v && !(v == 0 && signbit(v)))
    return (size_t)snprintf(out, NUM_TEXT_BYTES, "%" PRId64, (int64_t)v);
  return coin_fmt_double(out, v);
}

void jb_num(struct jbuf *b, double v) {
  char t[NUM_TEXT_BYTES];
  size_t n = jb_num_text(t, v);
  jb_putn(b, t, n);
}

void jb_time(struct jbuf *b, int64_t ms) {
  char t[COIN_TF_UTC_TEXT_BYTES];
  if (coin_tf_format_utc(t, sizeof(t), ms) != 0) {
    jb_puts(b, "null");
    return;
  }
  jb_putn(b, "\"", 1);
  jb_putn(b, t, strlen(t));
  jb_putn(b, "\"", 1);
}
