/*
 * exchange.c: the helpers every adapter shares: the per-exchange weight
 * budget, Retry-After pauses, deadlines, backoff with jitter. The adapters
 * (exchange_binance.c, ...) use these; exchange_new.c picks one by name.
 */
#include "exchange.h"

#include "coin/clock.h"
#include "coin/error.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

int coin_exchange_budget_init(struct coin_exchange_budget *b,
                              int64_t weight_limit) {
  memset(b, 0, sizeof(*b));
  b->weight_limit = weight_limit > 0 ? weight_limit : 6000;
  b->share = 1;
  if (pthread_mutex_init(&b->lock, NULL) != 0)
    return coin_error_set(COIN_EINTERNAL, "exchange: mutex init failed");
  return 0;
}

void coin_exchange_budget_destroy(struct coin_exchange_budget *b) {
  if (b)
    pthread_mutex_destroy(&b->lock);
}

static int stopped(const struct coin_exchange *ex) {
  return ex->opts.stop && *ex->opts.stop;
}

void coin_exchange_set_deadline(struct coin_exchange *ex, int64_t deadline_ms) {
  ex->deadline_ms = deadline_ms;
  coin_http_set_timeout(ex->http, ex->opts.timeout_ms);
}

static int past_deadline(const struct coin_exchange *ex, const char *what) {
  return coin_error_set(COIN_ETIMEOUT,
                        "exchange %s: %s: deadline of this series' sync "
                        "reached (INGEST_SERIES_DEADLINE_SECONDS)",
                        ex->ops->name, what);
}

int coin_exchange_before_request(struct coin_exchange *ex, const char *what) {
  if (!ex->deadline_ms)
    return 0;
  int64_t left = ex->deadline_ms - coin_now_ms();
  if (left <= 0)
    return past_deadline(ex, what);
  coin_http_set_timeout(
      ex->http, left < ex->opts.timeout_ms ? (long)left : ex->opts.timeout_ms);
  return 0;
}

/* Sleeps in short slices so a stop request is noticed quickly; a wait past
 * the deadline fails at once. */
static int sleep_until(struct coin_exchange *ex, int64_t until_ms) {
  if (ex->deadline_ms && until_ms > ex->deadline_ms)
    return past_deadline(ex, "wait");
  for (;;) {
    if (stopped(ex))
      return coin_error_set(COIN_ECLOSED, "exchange %s: stopping",
                            ex->ops->name);
    int64_t left = until_ms - coin_now_ms();
    if (left <= 0)
      return 0;
    if (left > 100)
      left = 100;
    struct timespec ts = {0, (long)left * 1000000L};
    nanosleep(&ts, NULL);
  }
}

/* The start of now's minute, the window the exchange counts weight in; a
 * new window starts the counts from 0. Called with b->lock held. */
static int64_t budget_window(struct coin_exchange_budget *b, int64_t now) {
  int64_t minute = now - now % 60000;
  if (b->window_start_ms != minute) {
    b->window_start_ms = minute;
    b->weight_used = 0;
    b->own_used = 0;
  }
  return minute;
}

int coin_exchange_budget_acquire(struct coin_exchange *ex, int64_t weight) {
  struct coin_exchange_budget *b = ex->opts.budget;
  for (;;) {
    int64_t now = coin_now_ms();
    int64_t wait_until = 0;
    pthread_mutex_lock(&b->lock);
    int64_t minute = budget_window(b, now);
    int64_t usable = b->weight_limit * 9 / 10;
    if (b->paused_until_ms > now) {
      wait_until = b->paused_until_ms;
    } else if (b->weight_used + weight > usable ||
               b->own_used + weight > usable / b->share) {
      /* Keep a 10% margin for requests already in flight elsewhere; each
       * replica within its share of the rest. */
      wait_until = minute + 60000;
    } else {
      b->weight_used += weight; /* optimistic; corrected by the header */
      b->own_used += weight;
      b->banned = false;
    }
    pthread_mutex_unlock(&b->lock);
    if (!wait_until)
      return 0;
    int rc = sleep_until(ex, wait_until);
    if (rc != 0)
      return rc;
  }
}

void coin_exchange_budget_set_share(struct coin_exchange_budget *b,
                                    int64_t replicas) {
  pthread_mutex_lock(&b->lock);
  b->share = replicas > 0 ? replicas : 1;
  pthread_mutex_unlock(&b->lock);
}

void coin_exchange_budget_pause(struct coin_exchange *ex, int64_t until_ms,
                                bool ban) {
  struct coin_exchange_budget *b = ex->opts.budget;
  pthread_mutex_lock(&b->lock);
  if (until_ms > b->paused_until_ms)
    b->paused_until_ms = until_ms;
  b->banned = ban;
  pthread_mutex_unlock(&b->lock);
}

void coin_exchange_budget_report(struct coin_exchange *ex, int64_t used) {
  struct coin_exchange_budget *b = ex->opts.budget;
  int64_t now = coin_now_ms();
  pthread_mutex_lock(&b->lock);
  budget_window(b, now);
  if (used > b->weight_used)
    b->weight_used = used;
  pthread_mutex_unlock(&b->lock);
  ex->stats.weight_used = used;
}

int coin_exchange_backoff(struct coin_exchange *ex, int attempt) {
  int64_t d = ex->opts.backoff_base_ms;
  for (int i = 1; i < attempt && d < ex->opts.backoff_max_ms; i++)
    d *= 2;
  if (d > ex->opts.backoff_max_ms)
    d = ex->opts.backoff_max_ms;
  /* Full jitter in [d/2, d]: retries of parallel workers spread out. */
  unsigned seed = (unsigned)(coin_now_ms() ^ (intptr_t)ex);
  d = d / 2 + (int64_t)(rand_r(&seed) % (int)(d / 2 + 1));
  return sleep_until(ex, coin_now_ms() + d);
}
