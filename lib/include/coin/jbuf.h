/*
 * jbuf.h: the JSON and Prometheus text layer the services write (site files,
 * status, metrics) on the capped buffer of buf.h. Appends never fail
 * visibly: the first failure (out of memory, or past the cap) sets oom and
 * later appends are ignored, so a renderer checks once at the end. A
 * zero-initialized coin_jbuf is ready, capped at COIN_BUF_CAP_TEXT. Numbers
 * print in their shortest round-trip form. Not thread-safe; one buffer per
 * renderer.
 */
#ifndef COIN_JBUF_H
#define COIN_JBUF_H

#include "coin/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct coin_jbuf {
  union {
    struct coin_buf buf;
    /* Read-only views of buf.p and buf.len (their common initial sequence):
     * p is NUL-terminated text, NULL before the first append. */
    struct {
      char *p;
      size_t len;
    };
  };
  bool oom; /* an append failed (err says why); a renderer may set it too */
  int err;  /* COIN_ENOMEM or COIN_ETOOBIG once an append failed, else 0 */
};

/* An empty buffer capped at cap_bytes (0, like a zero-initialized buffer:
 * COIN_BUF_CAP_TEXT). */
void coin_jbuf_init(struct coin_jbuf *b, size_t cap_bytes);
void coin_jbuf_free(struct coin_jbuf *b);
void coin_jbuf_reset(struct coin_jbuf *b); /* len = 0, keeps the memory */
void coin_jbuf_putn(struct coin_jbuf *b, const char *s, size_t n);
void coin_jbuf_puts(struct coin_jbuf *b, const char *s);
void coin_jbuf_printf(struct coin_jbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A JSON string literal (quotes and escapes added). NULL prints null. */
void coin_jbuf_str(struct coin_jbuf *b, const char *s);
void coin_jbuf_i64(struct coin_jbuf *b, int64_t v);
/* Shortest %g text (15..17 digits) that reads back to the same double
 * ("29000.01", "12", "1.234e-05"); non-finite: null. */
void coin_jbuf_num(struct coin_jbuf *b, double v);
/* "2026-11-26T22:00:00.000Z" as a JSON string; out of range: null. */
void coin_jbuf_time(struct coin_jbuf *b, int64_t ms);

/* Object members with a trailing comma ("key":value,); finish an object or
 * array with coin_jbuf_trim_comma before its closing bracket. */
void coin_jbuf_key(struct coin_jbuf *b, const char *key); /* "key": */
void coin_jbuf_kstr(struct coin_jbuf *b, const char *key, const char *s);
void coin_jbuf_kint(struct coin_jbuf *b, const char *key, int64_t v);
/* "key":v, with v non-finite printed as null. */
void coin_jbuf_knum(struct coin_jbuf *b, const char *key, double v);
/* "key":[lo,hi], or null when lo is not finite (an undefined interval). */
void coin_jbuf_kinterval(struct coin_jbuf *b, const char *key, double lo,
                         double hi);
/* v < 0 prints null (an absent time or watermark). */
void coin_jbuf_kint_or_null(struct coin_jbuf *b, const char *key, int64_t v);
void coin_jbuf_kbool(struct coin_jbuf *b, const char *key, bool v);
/* ISO 8601 UTC text of ms, or null when ms < 0. */
void coin_jbuf_ktime(struct coin_jbuf *b, const char *key, int64_t ms);
/* Drops a trailing ',' (after the last member of an object or array). */
void coin_jbuf_trim_comma(struct coin_jbuf *b);
/* Hands out the NUL-terminated text (*out, caller frees; out_len may be
 * NULL) and resets b. COIN_ENOMEM or COIN_ETOOBIG when an append failed (b
 * freed). */
int coin_jbuf_finish(char **out, size_t *out_len, struct coin_jbuf *b);

/* Prometheus text exposition: one metric with its HELP and TYPE lines. */
void coin_jbuf_prom_counter(struct coin_jbuf *b, const char *name,
                            const char *help, uint64_t v);
void coin_jbuf_prom_gauge(struct coin_jbuf *b, const char *name,
                          const char *help, double v);

/* Writes the shortest round-trip text of v into out (>= 32 bytes); returns
 * its length. */
size_t coin_jbuf_num_text(char *out, double v);

#endif
