/*
 * ingest.c: the coin-ingest context, the wake-up plan (boundary or
 * poll_loop; sched.c runs the rounds it dispatches) and the /metrics,
 * /healthz, /readyz endpoints.
 * Threads: ingest_run's thread plans and dispatches rounds; the workers and
 * the control thread live from ingest_run to its end (sched.c); httpd
 * handlers read atomics and take the lock for the cycle statistics.
 */
#include "ingest_int.h"

#include "coin/clock.h"
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

static bool tf_in(const struct coin_cfg_tf_list *l, enum coin_tf tf) {
  for (size_t i = 0; i < l->n; i++)
    if (l->tfs[i] == tf)
      return true;
  return false;
}

/* ---- HTTP endpoints ----------------------------------------------------- */

static int metrics_cb(char **out, void *ctx) {
  return coin_prom_text(out, ingest_metrics, ingest_metric_count, ctx);
}

/* InfluxDB answers a ping (at most one a second, shared by the handlers)
 * and the latest write did not fail. */
static bool influx_ok(struct ingest *in) {
  pthread_mutex_lock(&in->probe_lock);
  int64_t now = coin_mono_ms();
  if (in->probe_checked_mono_ms == 0 ||
      now - in->probe_checked_mono_ms >= 1000) {
    in->probe_influx_ok = coin_influx_ping(in->ix_probe) == 0;
    in->probe_checked_mono_ms = now;
  }
  bool ok = in->probe_influx_ok;
  pthread_mutex_unlock(&in->probe_lock);
  return ok && !atomic_load(&in->influx_failing);
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
  /* /readyz: what ingest needs to do its job answers now: NATS (a round
   * trip, a paused server keeps the socket up), InfluxDB (a ping, and the
   * latest write did not fail) and the exchange (its time, asked each
   * cycle). */
  bool nats = coin_bus_responsive(in->bus, COIN_BUS_READY_TIMEOUT_MS,
                                  COIN_BUS_READY_CACHE_MS, NULL);
  bool influx = influx_ok(in);
  bool exchange = !atomic_load(&in->exchange_failing);
  coin_httpd_respond_printf(
      resp, nats && influx && exchange ? 200 : 503, "application/json",
      "{\"nats\":%s,\"influx\":%s,\"exchange\":%s}\n", nats ? "true" : "false",
      influx ? "true" : "false", exchange ? "true" : "false");
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
      .stop = &in->stop,
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
  struct coin_bus_kv_config ks = {.bucket = COIN_KV_INGEST, .history = 1};
  rc = coin_bus_kv_ensure(&in->kv_state, NULL, in->bus, &ks);
  if (rc != 0)
    return coin_error_wrap(rc, "KV bucket %s", COIN_KV_INGEST);
  return 0;
}

static int setup_series(struct ingest *in) {
  const struct ingest_config *cfg = in->cfg;
  size_t n = cfg->core.symbols.n * cfg->core.ingest_timeframes.n;
  in->series = calloc(n ? n : 1, sizeof(*in->series));
  in->queue = calloc(n ? n : 1, sizeof(*in->queue));
  if (!in->series || !in->queue)
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
      s->bf_from_ms = -1;
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
  pthread_mutex_init(&in->probe_lock, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&in->work_cond, &ca);
  pthread_cond_init(&in->idle_cond, &ca);
  pthread_condattr_destroy(&ca);
  runtime_window_init(in);
  snprintf(in->producer_id, sizeof(in->producer_id), "ingest@%s",
           cfg->core.service_id);
  if ((rc = coin_exchange_budget_init(&in->budget, cfg->weight_limit)) != 0 ||
      (rc = cycle_stats_init(
           &in->stats, (size_t)cfg->core.runtime_metrics_window_size)) != 0 ||
      (rc = setup_series(in)) != 0)
    goto fail;

  if ((rc = make_influx(&in->ix_main, cfg)) != 0 ||
      (rc = make_influx(&in->ix_probe, cfg)) != 0 ||
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
  in->control.in = in;
  if ((rc = make_influx(&in->control.ix, cfg)) != 0 ||
      (rc = make_exchange(&in->control.ex, in)) != 0)
    goto fail;

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
  control_thread_stop(in);
  sched_stop(in);
  runtime_window_destroy(in); /* saves what is pending, before the bus goes */
  coin_bus_tap_free(in->control_tap);
  for (size_t i = 0; i < in->n_workers && in->workers; i++) {
    coin_influx_free(in->workers[i].ix);
    coin_exchange_free(in->workers[i].ex);
  }
  free(in->workers);
  coin_influx_free(in->control.ix);
  coin_exchange_free(in->control.ex);
  coin_influx_free(in->ix_main);
  coin_influx_free(in->ix_probe);
  coin_exchange_free(in->ex_main);
  coin_bus_kv_free(in->kv_wm);
  coin_bus_kv_free(in->kv_state);
  coin_bus_free(in->bus);
  for (size_t i = 0; i < in->n_series; i++)
    free(in->series[i].gaps);
  free(in->series);
  free(in->queue);
  cycle_stats_destroy(&in->stats);
  coin_exchange_budget_destroy(&in->budget);
  pthread_cond_destroy(&in->work_cond);
  pthread_cond_destroy(&in->idle_cond);
  pthread_mutex_destroy(&in->lock);
  pthread_mutex_destroy(&in->probe_lock);
  free(in);
}

void ingest_request_stop(struct ingest *in) {
  atomic_store(&in->stop, true);
}

/* ---- scheduling --------------------------------------------------------- */

static int64_t next_wake_ms(struct ingest *in, int64_t now, bool undone) {
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
    int64_t check = sched_next_check_ms(in);
    if (check < wake)
      wake = check;
    if (wake < now)
      wake = now;
  }
  if (undone && wake > now + cfg->retry_seconds * 1000)
    wake = now + cfg->retry_seconds * 1000;
  return wake;
}

/* One round: the exchange's time, then every due series that is free. */
static int dispatch_round(struct ingest *in) {
  int64_t now = 0;
  int rc = coin_exchange_server_time(in->ex_main, &now);
  atomic_store(&in->exchange_failing, rc != 0);
  if (rc != 0) {
    atomic_fetch_add(&in->c.exchange_errors, 1);
    COIN_LOG_ERROR("exchange server time unavailable", COIN_LOG_RC(rc));
  }
  sched_dispatch(in, now, rc == 0);
  return rc;
}

int ingest_run(struct ingest *in) {
  int rc = sched_start(in);
  if (rc != 0)
    return rc;
  if ((rc = control_thread_start(in)) != 0) {
    sched_stop(in);
    return rc;
  }
  int64_t rounds = 0, wake = 0;
  const int64_t retry_ms = in->cfg->retry_seconds * 1000;
  members_start(in); /* our share of the series, before the first round */
  COIN_LOG_INFO("ingest started", COIN_LOG_UINT("series", in->n_series),
                COIN_LOG_INT("http_port", coin_httpd_port(in->httpd)));
  while (!in->stop) {
    bool again, undone;
    members_tick(in, false);
    sched_take_flags(in, &again, &undone);
    int64_t now = coin_now_ms();
    if (undone && wake > now + retry_ms)
      wake = now + retry_ms; /* a round left work undone: retry soon */
    bool planned = now >= wake;
    if (planned || again) { /* again: a series that was busy is free */
      rc = dispatch_round(in);
      rounds++;
      if (in->cfg->max_cycles && rounds >= in->cfg->max_cycles) {
        sched_wait_idle(in);
        break;
      }
      if (planned || rc != 0)
        wake = next_wake_ms(in, coin_now_ms(), rc != 0);
      COIN_LOG_DEBUG("sleeping", COIN_LOG_TIME("until", wake));
    }
    int64_t left = wake - coin_now_ms();
    if (left > 200)
      left = 200;
    if (left > 0) {
      struct timespec ts = {0, (long)left * 1000000L};
      nanosleep(&ts, NULL);
    }
  }
  control_thread_stop(in);
  sched_stop(in);
  members_leave(in);
  COIN_LOG_INFO("ingest stopping", COIN_LOG_INT("cycles", rounds));
  return 0;
}
