/*
 * sched.c: coin-ingest's scheduler. Persistent workers take series from one
 * queue; a round is the series found due at one wake (a "cycle" of
 * runtime_metrics.json: its elapsed time is from dispatch until its last
 * series ended). Rounds overlap and there is no barrier between them: a
 * series still running when it comes due again is skipped, and dispatched
 * again as soon as it ends, so a slow or stalled series holds one worker,
 * never another series' due fetch.
 * Each sync has a deadline (INGEST_SERIES_DEADLINE_SECONDS): an exchange
 * that never answers for one symbol holds a worker that long at most (the
 * sync fails, the series is retried later, behind the healthy ones); a long
 * fill that reaches it goes back to the end of the queue in the same round
 * (the next slice), so a round still ends with its fills complete.
 * Threads: ingest_run's thread dispatches; workers and the control thread
 * claim series under in->lock; a series is touched by one thread at a time
 * (its busy flag); everything below the lock is in struct ingest.
 */
#include "ingest_int.h"

#include "coin/clock.h"
#include "coin/error.h"
#include "coin/file.h"
#include "coin/log.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* pthread_cond_timedwait on CLOCK_MONOTONIC (the conds are made so). */
static void wait_ms(pthread_cond_t *c, pthread_mutex_t *m, int64_t ms) {
  struct timespec ts = coin_deadline_ts(CLOCK_MONOTONIC, ms);
  pthread_cond_timedwait(c, m, &ts);
}

static bool quitting(const struct ingest *in) {
  return in->stop || in->quit;
}

/* ---- the queue (under lock) --------------------------------------------- */

static void push(struct ingest *in, struct sched_item it) {
  in->queue[(in->q_head + in->q_len) % in->n_series] = it;
  in->q_len++;
}

static struct sched_item pop(struct ingest *in) {
  struct sched_item it = in->queue[in->q_head];
  in->q_head = (in->q_head + 1) % in->n_series;
  in->q_len--;
  return it;
}

/* The ended sync's gaps, as the dispatcher and the wake-up planner see
 * them (the series' own array belongs to whoever syncs it). */
static void cache_gaps(struct series *s) {
  s->sched_gaps = s->n_gaps;
  s->sched_next_check_ms = INT64_MAX;
  for (size_t k = 0; k < s->n_gaps; k++)
    if (s->gaps[k].next_check_ms < s->sched_next_check_ms)
      s->sched_next_check_ms = s->gaps[k].next_check_ms;
}

static void free_series(struct ingest *in, struct series *s) {
  s->busy = false;
  cache_gaps(s);
  if (s->missed) {
    s->missed = false;
    in->redispatch = true;
  }
}

/* ---- the end of a round ------------------------------------------------- */

static void write_runtime_metrics(struct ingest *in) {
  char *json = NULL, path[4096];
  pthread_mutex_lock(&in->lock);
  int rc = cycle_stats_json(&json, &in->stats, coin_now_ms());
  pthread_mutex_unlock(&in->lock);
  if (rc != 0)
    return;
  snprintf(path, sizeof(path), "%s/runtime_metrics.json",
           in->cfg->core.static_data_dir);
  rc = coin_file_write_atomic(path, json, strlen(json));
  if (rc != 0)
    COIN_LOG_WARN("runtime_metrics.json not written", COIN_LOG_RC(rc));
  free(json);
}

/* Called without the lock once round r has no series pending. */
static void finish_round(struct ingest *in, int r) {
  pthread_mutex_lock(&in->lock);
  struct sched_round rd = in->rounds[r];
  in->rounds[r].active = false;
  uint64_t known = 0;
  for (size_t i = 0; i < in->n_series; i++)
    known += in->series[i].sched_gaps;
  double elapsed = (double)(coin_mono_ms() - rd.start_mono_ms) / 1000.0;
  bool overrun = elapsed > (double)in->cfg->cycle_budget_seconds;
  cycle_stats_add(&in->stats, elapsed, overrun);
  if (rd.undone)
    in->retry_soon = true;
  pthread_mutex_unlock(&in->lock);

  atomic_store(&in->c.gaps_known, known);
  atomic_fetch_add(&in->c.cycles, 1);
  if (overrun)
    atomic_fetch_add(&in->c.overruns, 1);
  write_runtime_metrics(in);
  runtime_window_touch(in); /* saved to KV by the writer thread */
  COIN_LOG_INFO("cycle done", COIN_LOG_UINT("due", rd.n),
                COIN_LOG_DBL("elapsed_seconds", elapsed),
                COIN_LOG_BOOL("overrun", overrun),
                COIN_LOG_BOOL("complete", !rd.undone));
}

/* ---- workers ------------------------------------------------------------ */

static int sync_one(struct worker *w, struct series *s, int64_t now_ms) {
  struct ingest *in = w->in;
  int64_t d = in->cfg->series_deadline_seconds;
  w->deadline_ms = d > 0 ? coin_now_ms() + d * 1000 : 0;
  w->deadline_hit = false;
  coin_exchange_set_deadline(w->ex, w->deadline_ms);
  int rc = sync_series(w, s, now_ms);
  coin_exchange_set_deadline(w->ex, 0);
  atomic_fetch_add(&in->c.series_synced, 1);
  if (w->deadline_hit)
    atomic_fetch_add(&in->c.series_slices, 1);
  if (rc == COIN_ETIMEOUT && w->deadline_ms && coin_now_ms() >= w->deadline_ms)
    atomic_fetch_add(&in->c.series_deadlines, 1);
  if (rc != 0 && rc != COIN_ECLOSED)
    COIN_LOG_ERROR(
        rc == COIN_ERATELIMIT ? "exchange rate limit" : "series sync failed",
        COIN_LOG_STR("symbol", s->symbol),
        COIN_LOG_STR("timeframe", coin_tf_name(s->tf)), COIN_LOG_RC(rc));
  return rc;
}

/* Under lock, after item's sync: back to the queue (a slice) or ended.
 * Returns the round that has just ended, or -1. */
static int series_ended(struct ingest *in, struct sched_item it, int rc,
                        bool sliced) {
  struct series *s = &in->series[it.series];
  if (sliced && rc == 0 && !in->stop) {
    push(in, it); /* the next slice, behind what is queued */
    pthread_cond_signal(&in->work_cond);
    return -1;
  }
  s->fail_streak = rc != 0 ? s->fail_streak + 1 : 0;
  struct sched_round *r = &in->rounds[it.round];
  r->undone |= s->retry || rc != 0;
  free_series(in, s);
  return --r->pending == 0 ? it.round : -1;
}

static void *worker_main(void *arg) {
  struct worker *w = arg;
  struct ingest *in = w->in;
  pthread_mutex_lock(&in->lock);
  for (;;) {
    while (!quitting(in) && in->q_len == 0)
      wait_ms(&in->work_cond, &in->lock, 200);
    if (in->stop || in->q_len == 0)
      break;
    struct sched_item it = pop(in);
    in->n_running++;
    pthread_mutex_unlock(&in->lock);

    int rc = sync_one(w, &in->series[it.series], it.now_ms);

    pthread_mutex_lock(&in->lock);
    in->n_running--;
    int ended = series_ended(in, it, rc, w->deadline_hit);
    pthread_cond_broadcast(&in->idle_cond);
    if (ended >= 0) {
      pthread_mutex_unlock(&in->lock);
      finish_round(in, ended);
      pthread_mutex_lock(&in->lock);
    }
  }
  pthread_mutex_unlock(&in->lock);
  return NULL;
}

/* ---- the dispatcher's side ---------------------------------------------- */

static int new_round(struct ingest *in) {
  int newest = -1;
  for (int r = 0; r < INGEST_MAX_ROUNDS; r++) {
    if (!in->rounds[r].active) {
      memset(&in->rounds[r], 0, sizeof(in->rounds[r]));
      in->rounds[r].active = true;
      in->rounds[r].start_mono_ms = coin_mono_ms();
      return r;
    }
    if (newest < 0 ||
        in->rounds[r].start_mono_ms > in->rounds[newest].start_mono_ms)
      newest = r;
  }
  return newest; /* all in flight: the newest takes these series too */
}

size_t sched_dispatch(struct ingest *in, int64_t now_ms, bool have_time) {
  pthread_mutex_lock(&in->lock);
  int r = new_round(in);
  struct sched_round *rd = &in->rounds[r];
  size_t queued = 0;
  if (!have_time)
    rd->undone = true;
  /* healthy series first, then those whose last sync failed */
  for (int pass = 0; pass < 2 && have_time; pass++) {
    for (size_t i = 0; i < in->n_series; i++) {
      struct series *s = &in->series[i];
      if (!s->owned)
        continue; /* another replica's (members.c) */
      if (s->busy) {
        if (pass == 0 && !s->missed) {
          s->missed = true;
          atomic_fetch_add(&in->c.series_busy_skips, 1);
        }
        continue;
      }
      if (s->reload) {
        /* taken over: what the last owner stored, not what we knew */
        s->reload = false;
        s->wm_loaded = s->gaps_loaded = false;
        s->full_scan_done = false;
        s->next_gap_scan_ms = 0;
        s->stored_ms = -1;
      }
      if ((s->fail_streak > 0) != (pass == 1) || !sync_due(in, s, now_ms))
        continue;
      s->busy = true;
      push(in, (struct sched_item){.series = i, .round = r, .now_ms = now_ms});
      rd->n++;
      rd->pending++;
      queued++;
    }
  }
  bool empty = rd->pending == 0;
  if (queued)
    pthread_cond_broadcast(&in->work_cond);
  pthread_mutex_unlock(&in->lock);
  if (empty)
    finish_round(in, r); /* nothing due: a cycle all the same */
  return queued;
}

void sched_wait_idle(struct ingest *in) {
  pthread_mutex_lock(&in->lock);
  while (!in->stop && (in->q_len > 0 || in->n_running > 0))
    wait_ms(&in->idle_cond, &in->lock, 200);
  pthread_mutex_unlock(&in->lock);
}

void sched_take_flags(struct ingest *in, bool *redispatch, bool *retry_soon) {
  pthread_mutex_lock(&in->lock);
  *redispatch = in->redispatch;
  *retry_soon = in->retry_soon;
  in->redispatch = in->retry_soon = false;
  pthread_mutex_unlock(&in->lock);
}

int64_t sched_next_check_ms(struct ingest *in) {
  int64_t t = INT64_MAX;
  pthread_mutex_lock(&in->lock);
  for (size_t i = 0; i < in->n_series; i++)
    if (in->series[i].sched_next_check_ms < t)
      t = in->series[i].sched_next_check_ms;
  pthread_mutex_unlock(&in->lock);
  return t;
}

bool sched_claim(struct ingest *in, size_t series) {
  struct series *s = &in->series[series];
  pthread_mutex_lock(&in->lock);
  while (s->busy && !in->stop)
    wait_ms(&in->idle_cond, &in->lock, 200);
  bool ok = !in->stop;
  if (ok)
    s->busy = true;
  pthread_mutex_unlock(&in->lock);
  return ok;
}

void sched_release(struct ingest *in, size_t series) {
  pthread_mutex_lock(&in->lock);
  free_series(in, &in->series[series]);
  pthread_cond_broadcast(&in->idle_cond);
  pthread_mutex_unlock(&in->lock);
}

/* ---- start and stop ----------------------------------------------------- */

int sched_start(struct ingest *in) {
  if (in->sched_started)
    return 0;
  for (size_t i = 0; i < in->n_series; i++)
    in->series[i].sched_next_check_ms = INT64_MAX;
  size_t started = 0;
  for (size_t i = 0; i < in->n_workers; i++) {
    if (pthread_create(&in->workers[i].thread, NULL, worker_main,
                       &in->workers[i]) != 0)
      break;
    in->workers[i].started = true;
    started++;
  }
  in->sched_started = true;
  if (started == 0) {
    sched_stop(in);
    return coin_error_set(COIN_EINTERNAL,
                          "ingest: cannot start worker threads (%s)",
                          strerror(errno ? errno : EAGAIN));
  }
  return 0;
}

void sched_stop(struct ingest *in) {
  if (!in->sched_started)
    return;
  pthread_mutex_lock(&in->lock);
  in->quit = true;
  pthread_cond_broadcast(&in->work_cond);
  pthread_mutex_unlock(&in->lock);
  for (size_t i = 0; i < in->n_workers; i++)
    if (in->workers[i].started) {
      pthread_join(in->workers[i].thread, NULL);
      in->workers[i].started = false;
    }
  in->sched_started = false;
}
