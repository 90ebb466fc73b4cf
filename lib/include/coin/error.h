/*
 * error.h: the project's error codes and the per-thread "last error" text.
 * Every public function returns 0 on success or a negative COIN_E* code and,
 * on failure, leaves a one-line message naming what failed (field, value, rule,
 * or the dependency's own text) retrievable with coin_error_last().
 * The message buffer is thread-local: no locking, no ownership to manage.
 */
#ifndef COIN_ERROR_H
#define COIN_ERROR_H

#include <stdbool.h>

enum coin_error {
  COIN_OK = 0,
  COIN_EINVAL = -1,     /* bad argument or bad input value */
  COIN_ENOMEM = -2,     /* allocation failed */
  COIN_ENOTFOUND = -3,  /* key, file, series or symbol does not exist */
  COIN_ECONFLICT = -4,  /* compare-and-set lost (e.g. KV wrong last sequence) */
  COIN_EDECODE = -5,    /* malformed bytes from the network or a file */
  COIN_ETOOBIG = -6,    /* input exceeds a hard cap */
  COIN_EIO = -7,        /* local I/O (files, sockets) */
  COIN_ETIMEOUT = -8,   /* deadline passed */
  COIN_EUNAVAIL = -9,   /* server unreachable or refusing service (5xx) */
  COIN_EREJECTED = -10, /* server understood and refused (4xx) */
  COIN_ERATELIMIT = -11, /* 429/418: slow down, see retry-after */
  COIN_EEXISTS = -12,    /* already exists / duplicate */
  COIN_ECLOSED = -13,    /* connection or subscription closed */
  COIN_EINTERNAL = -14,  /* unexpected failure of a dependency */
};

/* Sets the thread's last error text (printf-style) and returns code, so that
 * `return coin_error_set(COIN_EINVAL, "...")` reads naturally. */
int coin_error_set(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prefixes the current message: "<prefix>: <old message>". Returns code. */
int coin_error_wrap(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The last error text of this thread ("" when none). Valid until the next
 * coin_error_set on the same thread. */
const char *coin_error_last(void);

void coin_error_clear(void);

/* True when another attempt may succeed: not a bad input or configuration
 * (EINVAL), not a refusal by the server (EREJECTED, e.g. permissions), not
 * a lack of memory. A service that holds a leader lease retries its start
 * while this holds (NATS electing a stream leader, a stream missing). */
bool coin_error_retryable(int code);

/* Short stable name for a code ("EINVAL", "ECONFLICT", ...). */
const char *coin_error_name(int code);

#endif
