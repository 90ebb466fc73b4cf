/* jbuf.c: growable text buffer with JSON helpers (see jbuf.h). */
#include "jbuf.h"

#include "coin/error.h"
#include "coin/timeframe.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool reserve(struct jbuf *b, size_t more) {
  if (b->oom)
    return false;
  if (b->len + more + 1 <= b->cap)
    return true;
  size_t cap = b->cap ? b->cap : 1024;
  while (cap < b->len + more + 1)
    cap *= 2;
  char *p = realloc(b->buf, cap);
  if (p == NULL) {
    b->oom = true;
    return false;
  }
  b->buf = p;
  b->cap = cap;
  return true;
}

void jbuf_put(struct jbuf *b, const char *s, size_t n) {
  if (!reserve(b, n))
    return;
  memcpy(b->buf + b->len, s, n);
  b->len += n;
  b->buf[b->len] = '\0';
}

void jbuf_printf(struct jbuf *b, const char *fmt, ...) {
  va_list ap;
  char small[256];
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof(small), fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  if ((size_t)n < sizeof(small)) {
    jbuf_put(b, small, (size_t)n);
    return;
  }
  if (!reserve(b, (size_t)n))
    return;
  va_start(ap, fmt);
  vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

void jbuf_str(struct jbuf *b, const char *s) {
  if (s == NULL) {
    jbuf_put(b, "null", 4);
    return;
  }
  size_t n = strlen(s);
  if (!reserve(b, n * 6 + 2))
    return;
  char *o = b->buf + b->len;
  *o++ = '"';
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    unsigned char c = *p;
    if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f) {
      *o++ = (char)c;
    } else if (c == '"' || c == '\\') {
      *o++ = '\\';
      *o++ = (char)c;
    } else if (c == '\n') {
      *o++ = '\\';
      *o++ = 'n';
    } else if (c < 0x20 || c == 0x7f) {
      o += sprintf(o, "\\u%04x", c);
    } else {
      *o++ = (char)c;
    }
  }
  *o++ = '"';
  *o = '\0';
  b->len = (size_t)(o - b->buf);
}

void jbuf_key(struct jbuf *b, const char *key) {
  jbuf_str(b, key);
  jbuf_put(b, ":", 1);
}

void jbuf_kstr(struct jbuf *b, const char *key, const char *s) {
  jbuf_key(b, key);
  jbuf_str(b, s);
  jbuf_put(b, ",", 1);
}

void jbuf_kint(struct jbuf *b, const char *key, int64_t v) {
  char tmp[24], *p = tmp + sizeof(tmp);
  uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  *--p = ',';
  do {
    *--p = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0)
    *--p = '-';
  jbuf_key(b, key);
  jbuf_put(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

void jbuf_kint_or_null(struct jbuf *b, const char *key, int64_t v) {
  if (v < 0) {
    jbuf_key(b, key);
    jbuf_put(b, "null,", 5);
  } else {
    jbuf_kint(b, key, v);
  }
}

void jbuf_kbool(struct jbuf *b, const char *key, bool v) {
  jbuf_key(b, key);
  jbuf_put(b, v ? "true," : "false,", v ? 5 : 6);
}

void jbuf_ktime(struct jbuf *b, const char *key, int64_t ms) {
  char t[COIN_TF_UTC_TEXT_BYTES];
  if (ms < 0 || coin_tf_format_utc(t, sizeof(t), ms) != 0) {
    jbuf_key(b, key);
    jbuf_put(b, "null,", 5);
    return;
  }
  jbuf_kstr(b, key, t);
}

void jbuf_trim_comma(struct jbuf *b) {
  if (!b->oom && b->len > 0 && b->buf[b->len - 1] == ',')
    b->buf[--b->len] = '\0';
}

int jbuf_finish(char **out, size_t *out_len, struct jbuf *b) {
  if (b->oom || !reserve(b, 0)) {
    jbuf_free(b);
    return coin_error_set(COIN_ENOMEM, "out of memory building text");
  }
  *out = b->buf;
  if (out_len)
    *out_len = b->len;
  b->buf = NULL;
  b->len = b->cap = 0;
  return 0;
}

void jbuf_free(struct jbuf *b) {
  free(b->buf);
  b->buf = NULL;
  b->len = b->cap = 0;
  b->oom = false;
}
