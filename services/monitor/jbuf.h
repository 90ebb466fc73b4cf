/*
 * jbuf.h: a growable text buffer for the JSON and Prometheus text that
 * coin-monitor builds (status, payloads, KV records, metrics). Errors are
 * sticky: after an allocation failure every append is a no-op and
 * jbuf_finish reports COIN_ENOMEM once. One owner, one thread.
 */
#ifndef COIN_MONITOR_JBUF_H
#define COIN_MONITOR_JBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct jbuf {
  char *buf;
  size_t len;
  size_t cap;
  bool oom;
};

void jbuf_printf(struct jbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void jbuf_put(struct jbuf *b, const char *s, size_t n);
/* A JSON string literal (quotes included); NULL prints null. Control bytes
 * are escaped; bytes >= 0x80 are copied (callers pass UTF-8). */
void jbuf_str(struct jbuf *b, const char *s);
/* "key": then the value helpers below. */
void jbuf_key(struct jbuf *b, const char *key);
void jbuf_kstr(struct jbuf *b, const char *key, const char *s);
void jbuf_kint(struct jbuf *b, const char *key, int64_t v);
/* v < 0 prints null (an absent time or watermark). */
void jbuf_kint_or_null(struct jbuf *b, const char *key, int64_t v);
void jbuf_kbool(struct jbuf *b, const char *key, bool v);
/* ISO 8601 UTC text of ms, or null when ms < 0. */
void jbuf_ktime(struct jbuf *b, const char *key, int64_t ms);
/* Drops a trailing ',' (after the last member of an object or array). */
void jbuf_trim_comma(struct jbuf *b);

/* Hands out the NUL-terminated text (*out, caller frees) and resets b.
 * COIN_ENOMEM when an append failed (nothing handed out). */
int jbuf_finish(char **out, size_t *out_len, struct jbuf *b);
void jbuf_free(struct jbuf *b);

#endif
