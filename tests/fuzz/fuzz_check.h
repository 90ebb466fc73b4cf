/*
 * fuzz_check.h: the checks every fuzz target shares (header only): abort
 * with a message when a property of the input's outcome breaks, so that
 * libFuzzer and the replay driver both report the input.
 */
#ifndef COIN_FUZZ_CHECK_H
#define COIN_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coin/error.h"

static inline void fuzz_fail(const char *target, const char *what) {
  fprintf(stderr, "%s: property broken: %s (last error: %s)\n", target, what,
          coin_error_last());
  abort();
}

/* Call before the decoder: a failure must set its own message. */
static inline void fuzz_begin(void) {
  coin_error_clear();
}

/* A failure: one of the allowed codes and a non-empty one-line message. */
static inline void fuzz_check_error(const char *target, int rc,
                                    const int *allowed, size_t n_allowed,
                                    const char *msg) {
  int ok = 0;
  for (size_t i = 0; i < n_allowed; i++)
    ok |= rc == allowed[i];
  if (!ok) {
    fprintf(stderr, "%s: unexpected rc %d (%s)\n", target, rc,
            coin_error_name(rc));
    abort();
  }
  if (msg == NULL || msg[0] == '\0')
    fuzz_fail(target, "empty error message");
  if (strchr(msg, '\n') || strchr(msg, '\r'))
    fuzz_fail(target, "error message is not one line");
}

/* A decoded fixed-size text field is NUL-terminated inside its array. */
#define FUZZ_CHECK_TEXT(target, arr)                                           \
  do {                                                                         \
    if (memchr((arr), '\0', sizeof(arr)) == NULL)                              \
      fuzz_fail((target), #arr " is not NUL-terminated");                      \
  } while (0)

#endif
