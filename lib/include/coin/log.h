/*
 * log.h: structured logs, one JSON object per line:
 *   {"ts":"2026-11-26T22:20:57.123Z","level":"info","svc":"coin-ingest",
 *    "msg":"backfill progress","symbol":"BTCUSDT","done":120,"rate":3.5}
 * Usage:
 *   COIN_LOG_INFO("backfill progress", COIN_LOG_STR("symbol", s),
 *                 COIN_LOG_INT("done", n), COIN_LOG_DBL("rate", r));
 * The level is checked before anything is evaluated or formatted: with the
 * level disabled, the field arguments (and the message) are not evaluated.
 * Thread-safe: a line is built in a private buffer and written with one
 * fwrite + fflush under a process-wide mutex, so lines never interleave.
 * The logger keeps the FILE* and svc name it is given (the caller owns the
 * FILE*, which must outlive logging; svc is copied). Lines are capped at
 * COIN_LOG_LINE_MAX_BYTES; longer ones are cut and end with "truncated":true.
 */
#ifndef COIN_LOG_H
#define COIN_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "coin/error.h"

#define COIN_LOG_LINE_MAX_BYTES 65536

enum coin_log_level {
  COIN_LOG_LEVEL_DEBUG = 0,
  COIN_LOG_LEVEL_INFO = 1,
  COIN_LOG_LEVEL_WARN = 2,
  COIN_LOG_LEVEL_ERROR = 3,
  COIN_LOG_LEVEL_OFF = 4 /* nothing is logged (tests) */
};

enum coin_log_kind {
  COIN_LOG_KIND_STR,  /* v.s: escaped JSON string; NULL prints null */
  COIN_LOG_KIND_INT,  /* v.i */
  COIN_LOG_KIND_UINT, /* v.u */
  COIN_LOG_KIND_DBL,  /* v.d: shortest round-trip; NaN/inf print null */
  COIN_LOG_KIND_BOOL, /* v.b */
  COIN_LOG_KIND_RAW,  /* v.s: already valid JSON (object, array...), as is */
  COIN_LOG_KIND_TIME, /* v.i: epoch ms, printed as "2020-01-01T00:00:00.000Z" */
};

struct coin_log_field {
  const char *key; /* escaped as needed; must not be NULL */
  enum coin_log_kind kind;
  union {
    const char *s;
    int64_t i;
    uint64_t u;
    double d;
    bool b;
  } v;
};

#define COIN_LOG_STR(k, x)                                                     \
  ((struct coin_log_field){.key = (k), .kind = COIN_LOG_KIND_STR, .v.s = (x)})
#define COIN_LOG_INT(k, x)                                                     \
  ((struct coin_log_field){                                                    \
      .key = (k), .kind = COIN_LOG_KIND_INT, .v.i = (int64_t)(x)})
#define COIN_LOG_UINT(k, x)                                                    \
  ((struct coin_log_field){                                                    \
      .key = (k), .kind = COIN_LOG_KIND_UINT, .v.u = (uint64_t)(x)})
#define COIN_LOG_DBL(k, x)                                                     \
  ((struct coin_log_field){                                                    \
      .key = (k), .kind = COIN_LOG_KIND_DBL, .v.d = (double)(x)})
#define COIN_LOG_BOOL(k, x)                                                    \
  ((struct coin_log_field){                                                    \
      .key = (k), .kind = COIN_LOG_KIND_BOOL, .v.b = (bool)(x)})
#define COIN_LOG_RAW(k, json)                                                  \
  ((struct coin_log_field){                                                    \
      .key = (k), .kind = COIN_LOG_KIND_RAW, .v.s = (json)})
#define COIN_LOG_TIME(k, ms)                                                   \
  ((struct coin_log_field){                                                    \
      .key = (k), .kind = COIN_LOG_KIND_TIME, .v.i = (int64_t)(ms)})
/* A failed call's code and text: "err":"ECONFLICT","error":"<last error>". */
#define COIN_LOG_RC(rc)                                                        \
  COIN_LOG_STR("err", coin_error_name(rc)),                                    \
      COIN_LOG_STR("error", coin_error_last())

/* Sets the service name, the minimum level and the stream (NULL = stderr).
 * Call once at start, before other threads log; may be called again (tests).
 * Until called: svc "coin", level info, stderr. */
void coin_log_init(const char *svc, enum coin_log_level level, FILE *out);
void coin_log_set_level(enum coin_log_level level);

/* "debug" "info" "warn" "error" (LOG_LEVEL values). Returns 0 or COIN_EINVAL
 * naming the text and the valid set. */
int coin_log_level_parse(enum coin_log_level *out, const char *text);
const char *coin_log_level_name(enum coin_log_level level);

/* Writes one line unconditionally (the macros check the level first). */
void coin_log_write(enum coin_log_level level, const char *msg,
                    const struct coin_log_field *fields, size_t n_fields);

/* Builds the line that coin_log_write would write (with '\n'), for tests and
 * for callers that ship lines elsewhere. *out is malloc'd; caller frees. */
int coin_log_format(char **out, enum coin_log_level level, int64_t ts_ms,
                    const char *msg, const struct coin_log_field *fields,
                    size_t n_fields);

/* Internal: the current minimum level, read by coin_log_enabled(). */
extern atomic_int coin_log_min_level_;

static inline bool coin_log_enabled(enum coin_log_level level) {
  return (int)level >=
         atomic_load_explicit(&coin_log_min_level_, memory_order_relaxed);
}

/* The message and every field expression are evaluated only when enabled. */
#define COIN_LOG(level, msg, ...)                                              \
  do {                                                                         \
    if (coin_log_enabled(level)) {                                             \
      const struct coin_log_field coin_log_f_[] = {{.key = NULL},              \
                                                   ##__VA_ARGS__};             \
      coin_log_write((level), (msg), coin_log_f_ + 1,                          \
                     sizeof(coin_log_f_) / sizeof(coin_log_f_[0]) - 1);        \
    }                                                                          \
  } while (0)

#define COIN_LOG_DEBUG(msg, ...)                                               \
  COIN_LOG(COIN_LOG_LEVEL_DEBUG, msg, ##__VA_ARGS__)
#define COIN_LOG_INFO(msg, ...)                                                \
  COIN_LOG(COIN_LOG_LEVEL_INFO, msg, ##__VA_ARGS__)
#define COIN_LOG_WARN(msg, ...)                                                \
  COIN_LOG(COIN_LOG_LEVEL_WARN, msg, ##__VA_ARGS__)
#define COIN_LOG_ERROR(msg, ...)                                               \
  COIN_LOG(COIN_LOG_LEVEL_ERROR, msg, ##__VA_ARGS__)

#endif
