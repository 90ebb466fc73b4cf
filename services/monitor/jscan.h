/*
 * jscan.h: a strict, non-allocating JSON pull scanner (RFC 8259) for the
 * site files coin-monitor reads on every change: it validates the whole
 * document (grammar, string escapes, UTF-8, number syntax, nesting) while
 * the caller picks out the few values it needs, so a 100 KB history.json
 * costs one pass over its bytes and no tree. The input must stay valid
 * while scanning. One scanner, one thread.
 */
#ifndef COIN_MONITOR_JSCAN_H
#define COIN_MONITOR_JSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSCAN_MAX_DEPTH 64

enum jtok {
  J_ERR = 0, /* the document is not valid JSON: jscan_error() says why */
  J_EOF,     /* the one top-level value ended, only whitespace followed */
  J_OBJ,     /* '{' */
  J_OBJ_END, /* '}' */
  J_ARR,     /* '[' */
  J_ARR_END, /* ']' */
  J_KEY,     /* an object member name (then its value) */
  J_STR,
  J_NUM,
  J_TRUE,
  J_FALSE,
  J_NULL,
};

struct jscan {
  const char *start, *p, *end;
  int depth;
  uint8_t stack[JSCAN_MAX_DEPTH]; /* 'o' object, 'a' array */
  uint8_t want;                   /* grammar state, see jscan.c */
  /* the current token */
  enum jtok tok;
  const char *text; /* J_KEY/J_STR: between the quotes (raw); J_NUM: digits */
  size_t len;
  bool escaped;    /* J_KEY/J_STR: holds a backslash escape */
  bool is_int;     /* J_NUM: no fraction or exponent, fits int64 */
  int64_t int_val; /* J_NUM when is_int */
  char err[120];
};

void jscan_init(struct jscan *s, const char *data, size_t len);
/* The next token; J_ERR stays J_ERR. */
enum jtok jscan_next(struct jscan *s);
/* Inside an object: reads the next member's key. 1 at a J_KEY, 0 at the
 * object's end, -1 otherwise (invalid JSON). */
int jscan_next_key(struct jscan *s);
/* After J_OBJ or J_ARR: skips to (and consumes) the matching end. After a
 * scalar: nothing to do. Returns false on a syntax error. */
bool jscan_skip(struct jscan *s);
/* The current J_KEY/J_STR equals lit (escapes decoded). */
bool jscan_is(const struct jscan *s, const char *lit);
/* Decodes the current J_KEY/J_STR into out (NUL-terminated); false when it
 * does not fit in out_bytes. */
bool jscan_str(const struct jscan *s, char *out, size_t out_bytes);
/* Fast path for rows of numbers: after J_ARR, reads exactly n numbers and
 * the closing ']' (the whole array), storing the first one's integer value
 * in *first (it must be an integer when first is not NULL). Returns 1 on
 * success, 0 when the array is not n numbers (the scanner is then at an
 * unspecified point inside it: stop using it), -1 on invalid JSON. */
int jscan_number_row(struct jscan *s, int n, int64_t *first);
/* "line L col C: why" of the error, or of the current position. */
void jscan_error(const struct jscan *s, char *out, size_t out_bytes);

#endif
