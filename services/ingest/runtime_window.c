/*
 * runtime_window.c: the runtime-metrics window (cycle_stats) kept in KV
 * bucket coin_ingest, key runtime.<SERVICE_ID>.cycles, so that samples and
 * percentiles survive restarts (docs/ingest.md). Read once before the first
 * cycle; saved by a writer thread after each cycle (the cycle only sets a
 * flag), so a slow or absent NATS never holds a cycle up.
 * Threads: load runs on ingest_new's thread before the writer starts, and
 * afterwards only on the writer; in->lock guards the stats, rw->lock the
 * dirty/stop flags; the counters are atomics read by /metrics.
 */
#include "ingest_int.h"

#include "coin/clock.h"
#include "coin/error.h"
#include "coin/log.h"

#include <stdio.h>
#include <stdlib.h>

void runtime_window_init(struct ingest *in) {
  struct runtime_window *rw = &in->rw;
  pthread_mutex_init(&rw->lock, NULL);
  pthread_cond_init(&rw->cond, NULL);
  snprintf(rw->key, sizeof(rw->key), "%s.%s.cycles", INGEST_KEY_RUNTIME_PREFIX,
           in->cfg->core.service_id);
}

void runtime_window_load(struct ingest *in) {
  struct runtime_window *rw = &in->rw;
  struct coin_bus_kv_entry e = {0};
  int rc = coin_bus_kv_get(&e, in->kv_state, rw->key);
  if (rc == COIN_ENOTFOUND) {
    rw->loaded = true;
    COIN_LOG_INFO("runtime window: none stored, starting empty",
                  COIN_LOG_STR("bucket", COIN_KV_INGEST),
                  COIN_LOG_STR("key", rw->key));
    return;
  }
  if (rc != 0) {
    /* Not overwritten until it could be read (the writer retries). */
    if (atomic_fetch_add(&rw->load_errors, 1) == 0)
      COIN_LOG_WARN("runtime window not read from KV; retried before saving",
                    COIN_LOG_STR("bucket", COIN_KV_INGEST),
                    COIN_LOG_STR("key", rw->key), COIN_LOG_RC(rc));
    return;
  }
  pthread_mutex_lock(&in->lock);
  rc = cycle_stats_restore(&in->stats, e.value, e.value_len);
  size_t samples = in->stats.count;
  uint64_t total = in->stats.total_cycles;
  pthread_mutex_unlock(&in->lock);
  rw->loaded = true;
  if (rc != 0) {
    atomic_fetch_add(&rw->rejected, 1);
    COIN_LOG_ERROR("runtime window in KV rejected and ignored (not restored; "
                   "the next save replaces it)",
                   COIN_LOG_STR("bucket", COIN_KV_INGEST),
                   COIN_LOG_STR("key", rw->key),
                   COIN_LOG_UINT("revision", e.revision), COIN_LOG_RC(rc));
  } else {
    COIN_LOG_INFO(
        "runtime window restored", COIN_LOG_STR("bucket", COIN_KV_INGEST),
        COIN_LOG_STR("key", rw->key), COIN_LOG_UINT("samples", samples),
        COIN_LOG_UINT("total_cycles", total));
  }
  coin_bus_kv_entry_clear(&e);
}

static int save_once(struct ingest *in) {
  struct runtime_window *rw = &in->rw;
  if (!coin_bus_connected(in->bus))
    return coin_error_set(COIN_EUNAVAIL, "NATS not connected");
  if (!rw->loaded)
    runtime_window_load(in);
  if (!rw->loaded)
    return coin_error_set(COIN_EUNAVAIL,
                          "the stored window could not be read yet");
  char *value = NULL;
  size_t len = 0;
  pthread_mutex_lock(&in->lock);
  int rc = cycle_stats_serialize(&value, &len, &in->stats, coin_now_ms());
  pthread_mutex_unlock(&in->lock);
  if (rc == 0)
    rc = coin_bus_kv_put(NULL, in->kv_state, rw->key, value, len);
  free(value);
  return rc;
}

static void save(struct ingest *in) {
  struct runtime_window *rw = &in->rw;
  int rc = save_once(in);
  if (rc == 0) {
    atomic_fetch_add(&rw->saves, 1);
    if (rw->failing)
      COIN_LOG_INFO("runtime window saved to KV again",
                    COIN_LOG_STR("key", rw->key));
    rw->failing = false;
    return;
  }
  atomic_fetch_add(&rw->save_errors, 1);
  if (!rw->failing)
    COIN_LOG_WARN("runtime window not saved to KV (once per failure streak; "
                  "coin_ingest_runtime_window_save_errors_total counts them)",
                  COIN_LOG_STR("bucket", COIN_KV_INGEST),
                  COIN_LOG_STR("key", rw->key), COIN_LOG_RC(rc));
  rw->failing = true;
}

static void *writer_main(void *arg) {
  struct ingest *in = arg;
  struct runtime_window *rw = &in->rw;
  pthread_mutex_lock(&rw->lock);
  for (;;) {
    while (!rw->dirty && !rw->stop)
      pthread_cond_wait(&rw->cond, &rw->lock);
    if (!rw->dirty)
      break; /* stopping, nothing pending */
    rw->dirty = false;
    pthread_mutex_unlock(&rw->lock);
    save(in);
    pthread_mutex_lock(&rw->lock);
  }
  pthread_mutex_unlock(&rw->lock);
  return NULL;
}

int runtime_window_start(struct ingest *in) {
  if (pthread_create(&in->rw.thread, NULL, writer_main, in) != 0)
    return coin_error_set(COIN_EINTERNAL,
                          "runtime window: cannot start its writer thread");
  in->rw.started = true;
  return 0;
}

void runtime_window_touch(struct ingest *in) {
  struct runtime_window *rw = &in->rw;
  pthread_mutex_lock(&rw->lock);
  rw->dirty = true;
  pthread_cond_signal(&rw->cond);
  pthread_mutex_unlock(&rw->lock);
}

static void runtime_window_stop(struct ingest *in) {
  struct runtime_window *rw = &in->rw;
  if (!rw->started)
    return;
  pthread_mutex_lock(&rw->lock);
  rw->stop = true;
  pthread_cond_signal(&rw->cond);
  pthread_mutex_unlock(&rw->lock);
  pthread_join(rw->thread, NULL);
  rw->started = false;
}

void runtime_window_destroy(struct ingest *in) {
  runtime_window_stop(in);
  pthread_mutex_destroy(&in->rw.lock);
  pthread_cond_destroy(&in->rw.cond);
}
