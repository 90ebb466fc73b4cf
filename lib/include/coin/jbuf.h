/*
 * jbuf.h: a growable text buffer for the JSON and Prometheus text the
 * services write (site files, status, metrics). Appends never fail visibly: the
 * first allocation failure sets oom and later appends are ignored, so a
 * renderer checks once at the end. Numbers print in their shortest round-trip
 * form. Not thread-safe; one buffer per renderer.
 */
#ifndef COIN_JBUF_H
#define COIN_JBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct coin_jbuf {
  char *p; /* NUL-terminated while !oom */
  size_t len;
  size_t cap;
  bool oom;
};

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

/* Prometheus text exposition: one metric with its HELP and TYPE lines. */
void coin_jbuf_prom_counter(struct coin_jbuf *b, const char *name,
                            const char *help, uint64_t v);
void coin_jbuf_prom_gauge(struct coin_jbuf *b, const char *name,
                          const char *help, double v);

/* Writes the shortest round-trip text of v into out (>= 32 bytes); returns
 * its length. */
size_t coin_jbuf_num_text(char *out, double v);

#endif
