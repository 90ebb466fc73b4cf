/*
 * jbuf.h: a growable text buffer for the JSON coin-publish writes (history,
 * prediction, manifest, metrics). Appends never fail visibly: the first
 * allocation failure sets oom and later appends are ignored, so a renderer
 * checks once at the end. Numbers print in their shortest round-trip form.
 * Not thread-safe; one buffer per renderer.
 */
#ifndef COIN_PUBLISH_JBUF_H
#define COIN_PUBLISH_JBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct jbuf {
  char *p; /* NUL-terminated while !oom */
  size_t len;
  size_t cap;
  bool oom;
};

void jb_free(struct jbuf *b);
void jb_reset(struct jbuf *b); /* len = 0, keeps the memory */
void jb_putn(struct jbuf *b, const char *s, size_t n);
void jb_puts(struct jbuf *b, const char *s);
void jb_printf(struct jbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A JSON string literal (quotes and escapes added). NULL prints null. */
void jb_str(struct jbuf *b, const char *s);
void jb_i64(struct jbuf *b, int64_t v);
/* Shortest %g text (15..17 digits) that reads back to the same double
 * ("29000.01", "12", "1.234e-05"); non-finite: null. */
void jb_num(struct jbuf *b, double v);
/* "2026-11-26T22:00:00.000Z" as a JSON string; out of range: null. */
void jb_time(struct jbuf *b, int64_t ms);

/* Writes the shortest round-trip text of v into out (>= 32 bytes); returns
 * its length. */
size_t jb_num_text(char *out, double v);

#endif
