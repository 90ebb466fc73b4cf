/* jbuf.c: the JSON / Prometheus text layer on coin_buf (see jbuf.h). Every
 * append goes through put or putf, which record the first failure. */
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

void coin_jbuf_init(struct coin_jbuf *b, size_t cap_bytes) {
  memset(b, 0, sizeof(*b));
  coin_buf_init(&b->buf, cap_bytes);
}

void coin_jbuf_free(struct coin_jbuf *b) {
  coin_buf_free(&b->buf);
  memset(b, 0, sizeof(*b));
}

void coin_jbuf_reset(struct coin_jbuf *b) {
  coin_buf_reset(&b->buf);
  b->oom = false;
  b->err = 0;
}

/* A zero-initialized buffer gets the default cap at its first append. */
static struct coin_buf *ready(struct coin_jbuf *b) {
  if (b->buf.cap_bytes == 0 && b->buf.p == NULL)
    b->buf.cap_bytes = COIN_BUF_CAP_TEXT;
  return &b->buf;
}

static void failed(struct coin_jbuf *b, int rc) {
  b->oom = true;
  b->err = rc;
}

static void put(struct coin_jbuf *b, const char *s, size_t n) {
  if (b->oom)
    return;
  int rc = coin_buf_add(ready(b), s, n);
  if (rc)
    failed(b, rc);
}

void coin_jbuf_putn(struct coin_jbuf *b, const char *s, size_t n) {
  put(b, s, n);
}

void coin_jbuf_puts(struct coin_jbuf *b, const char *s) {
  put(b, s, strlen(s));
}

void coin_jbuf_printf(struct coin_jbuf *b, const char *fmt, ...) {
  if (b->oom)
    return;
  va_list ap;
  va_start(ap, fmt);
  int rc = coin_buf_vaddf(ready(b), fmt, ap);
  va_end(ap);
  if (rc)
    failed(b, rc);
}

/* Runs of plain bytes are copied at once; '"', '\\' and the control bytes
 * are escaped (\n, \r, \t short, the others and DEL as \u00XX). */
void coin_jbuf_str(struct coin_jbuf *b, const char *s) {
  if (!s) {
    put(b, "null", 4);
    return;
  }
  put(b, "\"", 1);
  const char *run = s;
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
      continue;
    put(b, run, (size_t)(s - run));
    char esc[8];
    switch (c) {
    case '"': put(b, "\\\"", 2); break;
    case '\\': put(b, "\\\\", 2); break;
    case '\n': put(b, "\\n", 2); break;
    case '\r': put(b, "\\r", 2); break;
    case '\t': put(b, "\\t", 2); break;
    default: put(b, esc, (size_t)snprintf(esc, sizeof(esc), "\\u%04x", c));
    }
    run = s + 1;
  }
  put(b, run, (size_t)(s - run));
  put(b, "\"", 1);
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
  if (!b->oom && b->buf.len > 0 && b->buf.p[b->buf.len - 1] == ',')
    coin_buf_truncate(&b->buf, b->buf.len - 1);
}

int coin_jbuf_finish(char **out, size_t *out_len, struct coin_jbuf *b) {
  int rc = b->oom ? (b->err ? b->err : COIN_ENOMEM) : 0;
  if (rc == 0 && (rc = coin_buf_take(out, out_len, ready(b))) == 0)
    return 0;
  size_t len = b->buf.len;
  coin_jbuf_free(b);
  if (rc == COIN_ETOOBIG)
    return coin_error_set(rc, "text exceeds its cap at %zu bytes", len);
  return coin_error_set(COIN_ENOMEM, "out of memory building text");
}
