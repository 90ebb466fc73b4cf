/*
 * exchange.h: the exchange adapter boundary of coin-ingest. An adapter fetches
 * candles of a symbol+timeframe over a time range (paginating as its API
 * requires), tells the exchange's server time, and keeps its rate-limit state
 * in a budget shared by every handle of the same exchange. Adding an exchange
 * is one new file that fills struct coin_exchange_ops.
 * Threads: a handle is used by one thread at a time; the shared budget is
 * locked internally, so several handles may fetch in parallel.
 */
#ifndef COIN_INGEST_EXCHANGE_H
#define COIN_INGEST_EXCHANGE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "coin/candle.h"
#include "coin/http.h"
#include "coin/timeframe.h"

/* Rate-limit state shared by all handles of one exchange. */
struct coin_exchange_budget {
  pthread_mutex_t lock;
  int64_t weight_limit;    /* per minute, e.g. Binance 6000 */
  int64_t weight_used;     /* last value reported by the exchange */
  int64_t own_used;        /* this process's requests in the minute */
  int64_t share;           /* live replicas splitting the limit (>= 1) */
  int64_t window_start_ms; /* minute the weight_used figure belongs to */
  int64_t paused_until_ms; /* 429/418 Retry-After: no request before this */
  bool banned;             /* last pause was a ban (418) */
};

struct coin_exchange_stats {
  uint64_t requests;
  uint64_t status_2xx, status_4xx, status_429, status_418, status_5xx;
  uint64_t transport_errors;
  uint64_t retries;
  uint64_t malformed;
  int64_t weight_used;
};

/* One page of rows as the exchange sent them, ascending by open time.
 * close_ms[i] is the exchange's close time (-1 when the API has none). The
 * still-open candle may be included: filtering is the caller's job. */
typedef int (*coin_exchange_page_fn)(void *ud, const struct coin_candle *rows,
                                     const int64_t *close_ms, size_t n);

struct coin_exchange;

struct coin_exchange_ops {
  const char *name; /* "binance" */
  int (*server_time)(struct coin_exchange *ex, int64_t *out_ms);
  /* Rows with open time in [from_ms, to_ms], ascending, in pages. */
  int (*fetch_range)(struct coin_exchange *ex, const char *symbol,
                     enum coin_tf tf, int64_t from_ms, int64_t to_ms,
                     coin_exchange_page_fn fn, void *ud);
  /* Open time of the symbol's first candle (COIN_ENOTFOUND: no data). */
  int (*first_open)(struct coin_exchange *ex, const char *symbol,
                    enum coin_tf tf, int64_t *out_ms);
  /* COIN_ENOTFOUND with the symbol named when the exchange does not list it. */
  int (*check_symbol)(struct coin_exchange *ex, const char *symbol);
  void (*free)(struct coin_exchange *ex);
};

struct coin_exchange_opts {
  const char *name;                    /* adapter name, e.g. "binance" */
  const char *base_url;                /* e.g. https://api.binance.com */
  struct coin_exchange_budget *budget; /* shared; required */
  int max_retries;         /* on 5xx / transport errors; default 4 */
  int64_t backoff_base_ms; /* default 250 */
  int64_t backoff_max_ms;  /* default 8000 */
  long timeout_ms;         /* per request; default 15000 */
  size_t max_body_bytes;   /* default 4 MiB */
  const atomic_bool *stop; /* optional: true aborts waits (SIGTERM) */
};

/* Common head of every adapter object. */
struct coin_exchange {
  const struct coin_exchange_ops *ops;
  struct coin_exchange_opts opts;
  struct coin_http *http;
  struct coin_exchange_stats stats;
  int64_t deadline_ms; /* wall clock; 0 = none (coin_exchange_set_deadline) */
};

int coin_exchange_budget_init(struct coin_exchange_budget *b,
                              int64_t weight_limit);
void coin_exchange_budget_destroy(struct coin_exchange_budget *b);
/* N replicas behind one address: each keeps its own requests within 1/N of
 * the budget, besides the shared usage the exchange reports. */
void coin_exchange_budget_set_share(struct coin_exchange_budget *b,
                                    int64_t replicas);

/* Creates a handle of the adapter named opts->name ("binance").
 * COIN_ENOTFOUND names the unknown adapter. */
int coin_exchange_new(struct coin_exchange **out,
                      const struct coin_exchange_opts *opts);
void coin_exchange_free(struct coin_exchange *ex);

static inline int coin_exchange_server_time(struct coin_exchange *ex,
                                            int64_t *out_ms) {
  return ex->ops->server_time(ex, out_ms);
}
static inline int coin_exchange_fetch_range(struct coin_exchange *ex,
                                            const char *symbol, enum coin_tf tf,
                                            int64_t from_ms, int64_t to_ms,
                                            coin_exchange_page_fn fn,
                                            void *ud) {
  return ex->ops->fetch_range(ex, symbol, tf, from_ms, to_ms, fn, ud);
}
static inline int coin_exchange_first_open(struct coin_exchange *ex,
                                           const char *symbol, enum coin_tf tf,
                                           int64_t *out_ms) {
  return ex->ops->first_open(ex, symbol, tf, out_ms);
}
static inline int coin_exchange_check_symbol(struct coin_exchange *ex,
                                             const char *symbol) {
  return ex->ops->check_symbol(ex, symbol);
}

/* Bounds the calls that follow: no request, retry, backoff or budget wait
 * goes past deadline_ms (wall clock, coin_exchange_now_ms; 0 = none); a
 * request is given at most the time left. Past it, calls fail with
 * COIN_ETIMEOUT ("deadline"). One series' sync sets it, so that an
 * exchange that never answers for one symbol holds a worker only that long. */
void coin_exchange_set_deadline(struct coin_exchange *ex, int64_t deadline_ms);

/* --- helpers shared by adapters (exchange.c) --- */

/* Before a request: COIN_ETIMEOUT when the deadline has passed, else 0 with
 * the request timeout cut to the time left. */
int coin_exchange_before_request(struct coin_exchange *ex, const char *what);

/* Waits until the budget allows a request of `weight` (pause, minute window).
 * Returns 0, or COIN_ECLOSED when opts.stop was raised while waiting. */
int coin_exchange_budget_acquire(struct coin_exchange *ex, int64_t weight);
/* Records a Retry-After pause (ban = 418). */
void coin_exchange_budget_pause(struct coin_exchange *ex, int64_t until_ms,
                                bool ban);
/* Records the weight the exchange reports for the current minute. */
void coin_exchange_budget_report(struct coin_exchange *ex, int64_t used);
/* Sleeps backoff for attempt (1-based) with jitter; COIN_ECLOSED on stop. */
int coin_exchange_backoff(struct coin_exchange *ex, int attempt);

/* Adapters, one file each. */
extern const struct coin_exchange_ops coin_exchange_binance_ops;

/* The Binance /api/v3/klines body decoder on its own (tests, fuzzing):
 * rows and close_ms hold COIN_EXCHANGE_BINANCE_KLINES_LIMIT entries; *n
 * rows decoded (exact duplicate rows dropped), or COIN_EDECODE with a
 * one-line error. */
#define COIN_EXCHANGE_BINANCE_KLINES_LIMIT 1000
int coin_exchange_binance_decode_klines(struct coin_candle *rows,
                                        int64_t *close_ms, size_t *n,
                                        const char *body, size_t len);
/* The same with the jansson decoder only (the fast scanner of the common
 * page shape is left out): tests and the fuzz target compare the two. */
int coin_exchange_binance_decode_klines_json(struct coin_candle *rows,
                                             int64_t *close_ms, size_t *n,
                                             const char *body, size_t len);

#endif
