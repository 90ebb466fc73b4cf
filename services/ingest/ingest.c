/*
 * ingest.c: the coin-ingest context, the cycle (detection gate, a pool of
 * workers over the series that are due), the scheduler (boundary or
 * poll_loop) and the /metrics, /healthz, /readyz endpoints.
 * Threads: ingest_run's thread plans cycles and writes runtime metrics;
 * workers exist only during a cycle; httpd handlers read atomics and take
 * the lock for the cycle statistics.
 */
#include "ingest_int.h"

#include "coin/error.h"
#include "coin/file.h"
#include "coin/log.h"
#include "coin/redact.h"
#include "coin/service.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool tf_in(const struct coin_cfg_tf_list *l, enum coin_tf tf) {
  for (size_t i = 0; i < l->n; i++)
    if (l->tfs[i] == tf)
      return true;
  return false;
}

/* ---- HTTP endpoints ----------------------------------------------------- */

static int metrics_cb(char **out, void *ctx) {
  return ingest_metrics_text(out, ctx);
}

static void handle_http(void *ctx, const struct coin_httpd_request *req,
                        struct coin_httpd_response *resp) {
  struct ingest *in = ctx;
  static const char *const paths[] = {"/metrics", "/healthz", "/readyz", NULL};
  if (coin_service_http_common(req, resp, paths, metrics_cb, in))
    return;
  const char *path = coin_httpd_request_path(req);
  if (!strcmp(path, "/healthz")) {
    coin_httpd_respond_printf(resp, 200, "application/json",
                              "{\"status\":\"ok\",\"cycles\":%llu}\n",
                              (unsigned long long)atomic_load(&in->c.cycles));
    return;
  }
  /* /readyz: the servers we depend on answer (NATS: a round trip, a paused
   * server keeps the socket up). */
  bool nats = coin_bus_responsive(in->bus, COIN_BUS_READY_TIMEOUT_MS,
                                  COIN_BUS_READY_CACHE_MS, NULL);
  coin_httpd_respond_printf(resp, nats ? 200 : 503, "application/json",
                            "{\"nats\":%s}\n", nats ? "true" : "false");
}

/* ---- construction ------------------------------------------------------- */

static int make_influx(struct coin_influx **out,
                       const struct ingest_config *cfg) {
  struct coin_influx_options o;
  coin_service_influx_options(&o, &cfg->core);
  return coin_influx_new(out, &o);
}

static int make_exchange(struct coin_exchange **out, struct ingest *in) {
  struct coin_exchange_opts o = {
      .name = in->cfg->core.exchange,
      .base_url = in->cfg->core.exchange_base_url,
      .budget = &in->budget,
      .max_retries = (int)in->cfg->max_retries,
      .timeout_ms = in->cfg->exchange_timeout_ms,
      .stop = (volatile const int *)&in->stop,
  };
  return coin_exchange_new(out, &o);
}

static int setup_servers(struct ingest *in) {
  const struct ingest_config *cfg = in->cfg;
  int rc = coin_influx_create_db(in->ix_main);
  if (rc != 0) {
    char shown[512];
    coin_redact_urls(shown, sizeof(shown), cfg->core.influx_url);
    return coin_error_wrap(rc, "InfluxDB %s", shown);
  }
  if (tf_in(&cfg->core.ingest_timeframes, COIN_TF_1M)) {
    rc = coin_influx_ensure_rp(in->ix_main, COIN_INFLUX_RP_1M,
                               cfg->retention_1m_days * COIN_DAY_MS, false);
    if (rc != 0)
      return coin_error_wrap(rc, "InfluxDB retention policy %s",
                             COIN_INFLUX_RP_1M);
  }
  const char *subjects[] = {"coin.candles.>"};
  struct coin_bus_stream_config sc = {.name = COIN_STREAM_CANDLES,
                                      .subjects = subjects,
                                      .subjects_len = 1,
                                      .duplicate_window_ms = 120000,
                                      .max_msg_bytes = 1 << 20};
  rc = coin_bus_stream_ensure(NULL, in->bus, &sc);
  if (rc != 0)
    return coin_error_wrap(rc, "stream %s", COIN_STREAM_CANDLES);
  struct coin_bus_kv_config kw = {.bucket = COIN_KV_WATERMARKS, .history = 5};
  rc = coin_bus_kv_ensure(&in->kv_wm, NULL, in->bus, &kw);
  if (rc != 0)
    return coin_error_wrap(rc, "KV bucket %s", COIN_KV_WATERMARKS);
  struct coin_bus_kv_config ks = {.bucket = INGEST_BUCKET_STATE, .history = 1};
  rc = coin_bus_kv_ensure(&in->kv_state, NULL, in->bus, &ks);
  if (rc != 0)
    return coin_error_wrap(rc, "KV bucket %s", INGEST_BUCKET_STATE);
  return 0;
}

static int setup_series(struct ingest *in) {
  const struct ingest_config *cfg = in->cfg;
  size_t n = cfg->core.symbols.n * cfg->core.ingest_timeframes.n;
  in->series = calloc(n ? n : 1, sizeof(*in->series));
  in->due = calloc(n ? n : 1, sizeof(*in->due));
  if (!in->series || !in->due)
    return coin_error_set(COIN_ENOMEM, "ingest: out of memory");
  for (size_t i = 0; i < cfg->core.symbols.n; i++) {
    for (size_t k = 0; k < cfg->core.ingest_timeframes.n; k++) {
      struct series *s = &in->series[in->n_series++];
      const char *ex = cfg->core.exchange, *sym = cfg->core.symbols.items[i];
      enum coin_tf tf = cfg->core.ingest_timeframes.tfs[k];
      snprintf(s->symbol, sizeof(s->symbol), "%s", sym);
      s->tf = tf;
      s->watermark_ms = -1;
      s->stored_ms = -1;
      s->first_open_ms = -1;
      s->start_ms = INT64_MIN;
      s->full_fill = tf != COIN_TF_1M && tf_in(&cfg->full_fill_timeframes, tf);
      int rc = coin_codec_series_key(s->wm_key, sizeof(s->wm_key),
                                     COIN_KEY_INGEST_PREFIX, ex, sym, tf);
      if (rc == 0)
        rc = coin_codec_series_key(s->gaps_key, sizeof(s->gaps_key), "gaps", ex,
                                   sym, tf);
      if (rc == 0)
        rc = coin_codec_subject_candles(s->subject, sizeof(s->subject), ex, sym,
                                        tf);
      if (rc != 0)
        return rc;
    }
  }
  return 0;
}

int ingest_new(struct ingest **out, const struct ingest_config *cfg) {
  struct ingest *in = calloc(1, sizeof(*in));
  int rc = 0;
  if (!in)
    return coin_error_set(COIN_ENOMEM, "ingest: out of memory");
  in->cfg = cfg;
  pthread_mutex_init(&in->lock, NULL);
  runtime_window_init(in);
  snprintf(in->producer_id, sizeof(in->producer_id), "ingest@%s",
           cfg->core.service_id);
  if ((rc = coin_exchange_budget_init(&in->budget, cfg->weight_limit)) != 0 ||
      (rc = cycle_stats_init(
           &in->stats, (size_t)cfg->core.runtime_metrics_window_size)) != 0 ||
      (rc = setup_series(in)) != 0)
    goto fail;

  if ((rc = make_influx(&in->ix_main, cfg)) != 0 ||
      (rc = make_exchange(&in->ex_main, in)) != 0)
    goto fail;
  in->n_workers = (size_t)cfg->parallel;
  in->workers = calloc(in->n_workers, sizeof(*in->workers));
  if (!in->workers) {
    rc = coin_error_set(COIN_ENOMEM, "ingest: out of memory");
    goto fail;
  }
  for (size_t i = 0; i < in->n_workers; i++) {
    in->workers[i].in = in;
    if ((rc = make_influx(&in->workers[i].ix, cfg)) != 0 ||
        (rc = make_exchange(&in->workers[i].ex, in)) != 0)
      goto fail;
  }

  struct coin_bus_options bo;
  coin_service_bus_options(&bo, &cfg->core, in->producer_id);
  if ((rc = coin_bus_connect(&in->bus, &bo)) != 0) {
    coin_error_wrap(rc, "NATS"); /* the bus names the (redacted) URLs */
    goto fail;
  }
  if ((rc = setup_servers(in)) != 0)
    goto fail;
  /* the durable runtime-metrics window, before the first cycle */
  runtime_window_load(in);
  if ((rc = runtime_window_start(in)) != 0)
    goto fail;
  if ((rc = control_start(in)) != 0) {
    coin_error_wrap(rc, "subscribe %s", COIN_SUBJECT_BACKFILL);
    goto fail;
  }

  if (cfg->check_symbols) {
    for (size_t i = 0; i < cfg->core.symbols.n; i++) {
      rc = coin_exchange_check_symbol(in->ex_main, cfg->core.symbols.items[i]);
      if (rc != 0) {
        coin_error_wrap(rc, "SYMBOLS");
        goto fail;
      }
    }
  }

  if ((rc = coin_service_httpd_start(&in->httpd, cfg->core.ingest_http_addr,
                                     "INGEST_HTTP_ADDR", handle_http, in)) != 0)
    goto fail;
  *out = in;
  return 0;
fail:
  ingest_free(in);
  return rc;
}

void ingest_free(struct ingest *in) {
  if (!in)
    return;
  coin_httpd_free(in->httpd);
  runtime_window_destroy(in); /* saves what is pending, before the bus goes */
  coin_bus_tap_free(in->control_tap);
  for (size_t i = 0; i < in->n_workers && in->workers; i++) {
    coin_influx_free(in->workers[i].ix);
    coin_exchange_free(in->workers[i].ex);
  }
  free(in->workers);
  coin_influx_free(in->ix_main);
  coin_exchange_free(in->ex_main);
  coin_bus_kv_free(in->kv_wm);
  coin_bus_kv_free(in->kv_state);
  coin_bus_free(in->bus);
  for (size_t i = 0; i < in->n_series; i++)
    free(in->series[i].gaps);
  free(in->series);
  free(in->due);
  cycle_stats_destroy(&in->stats);
  coin_exchange_budget_destroy(&in->budget);
  pthread_mutex_destroy(&in->lock);
  free(in);
}

void ingest_request_stop(struct ingest *in) {
  in->stop = 1;
}

/* ---- the cycle ---------------------------------------------------------- */

struct worker_result {
  int failures;
};

static void *worker_main(void *arg) {
  struct worker *w = arg;
  struct ingest *in = w->in;
  for (;;) {
    pthread_mutex_lock(&in->lock);
    size_t idx = in->next_due < in->n_due ? in->due[in->next_due++] : SIZE_MAX;
    pthread_mutex_unlock(&in->lock);
    if (idx == SIZE_MAX || in->stop)
      break;
    struct series *s = &in->series[idx];
    int rc = sync_series(w, s, in->cycle_now_ms);
    atomic_fetch_add(&in->c.series_synced, 1);
    if (rc != 0 && rc != COIN_ECLOSED)
      COIN_LOG_ERROR(
          rc == COIN_ERATELIMIT ? "exchange rate limit" : "series sync failed",
          COIN_LOG_STR("symbol", s->symbol),
          COIN_LOG_STR("timeframe", coin_tf_name(s->tf)), COIN_LOG_RC(rc));
  }
  return NULL;
}

static void write_runtime_metrics(struct ingest *in) {
  char *json = NULL, path[4096];
  pthread_mutex_lock(&in->lock);
  int rc = cycle_stats_json(&json, &in->stats, coin_exchange_now_ms());
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

int ingest_cycle(struct ingest *in) {
  int64_t t0 = mono_ms();
  int64_t now = 0;
  int rc = coin_exchange_server_time(in->ex_main, &now);
  if (rc != 0) {
    atomic_fetch_add(&in->c.exchange_errors, 1);
    COIN_LOG_ERROR("exchange server time unavailable", COIN_LOG_RC(rc));
    goto done;
  }
  in->cycle_now_ms = now;
  in->n_due = in->next_due = 0;
  for (size_t i = 0; i < in->n_series; i++)
    if (sync_due(in, &in->series[i], now))
      in->due[in->n_due++] = i;

  size_t nw = in->n_workers < in->n_due ? in->n_workers : in->n_due;
  size_t started = 0;
  for (size_t i = 0; i < nw; i++) {
    if (pthread_create(&in->workers[i].thread, NULL, worker_main,
                       &in->workers[i]) != 0)
      break;
    started++;
  }
  if (started == 0 && in->n_due > 0)
    worker_main(&in->workers[0]); /* no threads: do it here */
  for (size_t i = 0; i < started; i++)
    pthread_join(in->workers[i].thread, NULL);

done:;
  uint64_t known = 0;
  bool undone = rc != 0;
  for (size_t i = 0; i < in->n_series; i++) {
    known += in->series[i].n_gaps;
    undone |= in->series[i].retry;
  }
  atomic_store(&in->c.gaps_known, known);
  double elapsed = (double)(mono_ms() - t0) / 1000.0;
  bool overrun = elapsed > (double)in->cfg->cycle_budget_seconds;
  pthread_mutex_lock(&in->lock);
  cycle_stats_add(&in->stats, elapsed, overrun);
  pthread_mutex_unlock(&in->lock);
  atomic_fetch_add(&in->c.cycles, 1);
  if (overrun)
    atomic_fetch_add(&in->c.overruns, 1);
  write_runtime_metrics(in);
  runtime_window_touch(in); /* saved to KV by the writer thread */
  in->last_cycle_end_ms = coin_exchange_now_ms();
  if (!undone)
    in->last_cycle_ok_ms = in->last_cycle_end_ms;
  COIN_LOG_INFO("cycle done", COIN_LOG_UINT("due", in->n_due),
                COIN_LOG_DBL("elapsed_seconds", elapsed),
                COIN_LOG_BOOL("overrun", overrun),
                COIN_LOG_BOOL("complete", !undone));
  return undone ? COIN_EUNAVAIL : 0;
}

/* ---- scheduling --------------------------------------------------------- */

static int64_t next_wake_ms(const struct ingest *in, int64_t now, bool undone) {
  const struct ingest_config *cfg = in->cfg;
  int64_t wake;
  if (cfg->core.worker_scheduler_mode == COIN_SCHED_POLL_LOOP) {
    wake = now + cfg->core.worker_cycle_seconds * 1000;
  } else {
    wake = INT64_MAX;
    for (size_t i = 0; i < cfg->core.ingest_timeframes.n; i++) {
      int64_t b = coin_tf_next(cfg->core.ingest_timeframes.tfs[i], now) +
                  cfg->boundary_delay_ms;
      if (b < wake)
        wake = b;
    }
    /* Known gaps come due between boundaries too. */
    for (size_t i = 0; i < in->n_series; i++)
      for (size_t k = 0; k < in->series[i].n_gaps; k++)
        if (in->series[i].gaps[k].next_check_ms < wake)
          wake = in->series[i].gaps[k].next_check_ms;
    if (wake < now)
      wake = now;
  }
  if (undone && wake > now + cfg->retry_seconds * 1000)
    wake = now + cfg->retry_seconds * 1000;
  return wake;
}

int ingest_run(struct ingest *in) {
  int64_t cycles = 0;
  COIN_LOG_INFO("ingest started", COIN_LOG_UINT("series", in->n_series),
                COIN_LOG_INT("http_port", coin_httpd_port(in->httpd)));
  while (!in->stop) {
    int rc = ingest_cycle(in);
    cycles++;
    if (in->cfg->max_cycles && cycles >= in->cfg->max_cycles)
      break;
    int64_t now = coin_exchange_now_ms();
    int64_t wake = next_wake_ms(in, now, rc != 0);
    COIN_LOG_DEBUG("sleeping", COIN_LOG_TIME("until", wake));
    while (!in->stop && coin_exchange_now_ms() < wake) {
      if (control_pending(in))
        control_run(in);
      int64_t left = wake - coin_exchange_now_ms();
      struct timespec ts = {0, (long)(left > 200 ? 200 : left) * 1000000L};
      nanosleep(&ts, NULL);
    }
  }
  COIN_LOG_INFO("ingest stopping", COIN_LOG_INT("cycles", cycles));
  return 0;
}
