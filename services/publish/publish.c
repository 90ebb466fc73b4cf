/*
 * publish.c: the coin-publish context (NATS, InfluxDB, the serving object,
 * the HTTP endpoints), the start-up rebuild and the main loop: fetch a batch
 * of messages, handle them in order, write the files once, advance the
 * watermarks, then acknowledge; between fetches the timers (ingest watermark
 * watch, reconcile of silent series, freshness re-evaluation, model refresh,
 * temp-file cleanup).
 * Threads: publish_run's thread owns everything; the HTTP handlers read the
 * atomic counters only.
 */
#include "publish_int.h"

#include "coin/clock.h"
#include "coin/error.h"
#include "coin/log.h"
#include "coin/service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TICK_MS 250
#define STALL_MS 120000 /* /healthz fails when the loop stalls this long */
#define TMP_CLEAN_PERIOD_MS (10 * 60 * 1000)
#define TMP_MAX_AGE_MS (10 * 60 * 1000)
#define FLUSH_RETRY_MS 1000
#define NAK_DELAY_MS 2000
#define ERROR_PAUSE_MS 500
#define WATCH_INIT_TIMEOUT_MS 10000

static void pause_ms(struct publish *p, int64_t ms) {
  int64_t until = coin_mono_ms() + ms;
  while (!p->stop && coin_mono_ms() < until) {
    struct timespec ts = {0, 20 * 1000000L};
    nanosleep(&ts, NULL);
  }
}

/* ---- the leader lease ----------------------------------------------------
 * Only the lease holder writes the site (docs/scaling.md). */

static enum coin_leader_role role_now(struct publish *p) {
  return coin_leader_role(p->leader);
}

/* site_flush, only while the lease is confirmed. */
static int flush(struct publish *p) {
  if (role_now(p) != COIN_LEADER_ACTIVE)
    return coin_error_set(COIN_ECONFLICT,
                          "publish: not the leader: the site is not written");
  return site_flush(p);
}

/* The lease thread; its first attempt is made here. */
static int start_leader(struct publish *p) {
  char holder[96], name[96];
  /* one lease per durable consumer: its replicas are active and standby,
   * other durables (other sites) are independent */
  snprintf(name, sizeof(name), "publish.%s", p->cfg->durable);
  struct coin_leader_options lo = {
      .name = name, .holder = holder, .lease_ms = p->cfg->lease_seconds * 1000};
  snprintf(holder, sizeof(holder), "%s", p->cfg->core.service_id);
  int rc = coin_leader_start(&p->leader, p->bus, &lo);
  if (rc != 0)
    return coin_error_wrap(rc, "leader lease");
  return 0;
}

/* Standby until the lease is ours (or stop). */
static int wait_for_lease(struct publish *p) {
  while (!p->stop && role_now(p) != COIN_LEADER_ACTIVE) {
    atomic_store(&p->c.last_loop_mono_ms, coin_mono_ms());
    pause_ms(p, 100);
  }
  return 0;
}

/* ---- HTTP endpoints ----------------------------------------------------- */

static int metrics_cb(char **out, void *ctx) {
  return coin_prom_text(out, publish_metrics, publish_metric_count, ctx);
}

static void handle_http(void *ctx, const struct coin_httpd_request *req,
                        struct coin_httpd_response *resp) {
  struct publish *p = ctx;
  static const char *const paths[] = {"/metrics", "/healthz", "/readyz", NULL};
  if (coin_service_http_common(req, resp, paths, metrics_cb, p))
    return;
  const char *path = coin_httpd_request_path(req);
  int64_t idle = coin_mono_ms() - atomic_load(&p->c.last_loop_mono_ms);
  if (!strcmp(path, "/healthz")) {
    bool ok = idle < STALL_MS;
    coin_httpd_respond_printf(resp, ok ? 200 : 503, "application/json",
                              "{\"status\":\"%s\",\"loop_idle_ms\":%lld}\n",
                              ok ? "ok" : "stalled", (long long)idle);
    return;
  }
  /* /readyz: the site was rebuilt, NATS answers (a round trip: a paused
   * server keeps the socket up) and the site's files can be written (the
   * latest write did not fail, e.g. a full or read-only disk). */
  bool nats = coin_bus_responsive(p->bus, COIN_BUS_READY_TIMEOUT_MS,
                                  COIN_BUS_READY_CACHE_MS, NULL);
  enum coin_leader_role role = coin_leader_role(p->leader);
  if (role != COIN_LEADER_ACTIVE) {
    /* a standby is ready to take over when NATS answers; it writes
     * nothing, so the site's state is not its to report */
    bool ok = nats && role == COIN_LEADER_STANDBY;
    coin_httpd_respond_printf(resp, ok ? 200 : 503, "application/json",
                              "{\"role\":\"%s\",\"nats\":%s}\n",
                              coin_leader_role_name(role),
                              nats ? "true" : "false");
    return;
  }
  bool ready = atomic_load(&p->c.ready);
  bool writes = !atomic_load(&p->c.writes_failing);
  coin_httpd_respond_printf(
      resp, nats && ready && writes ? 200 : 503, "application/json",
      "{\"role\":\"active\",\"nats\":%s,\"site_ready\":%s,"
      "\"site_writes\":\"%s\"}\n",
      nats ? "true" : "false", ready ? "true" : "false",
      writes ? "ok" : "failing");
}

/* ---- construction ------------------------------------------------------- */

static int make_influx(struct coin_influx **out,
                       const struct publish_config *cfg) {
  struct coin_influx_options o;
  coin_service_influx_options(&o, &cfg->core);
  o.chunk_size = (size_t)cfg->read_chunk_candles;
  /* A read blocks the one working thread: fail (and retry) rather than
   * stall for InfluxDB's default 10 minutes. */
  o.query_timeout_ms = 60000;
  return coin_influx_new(out, &o);
}

static int setup_bus(struct publish *p) {
  const struct publish_config *cfg = p->cfg;
  struct coin_bus_options bo;
  coin_service_bus_options(&bo, &cfg->core, p->producer_id);
  int rc = coin_bus_connect(&p->bus, &bo);
  if (rc != 0)
    return coin_error_wrap(rc, "NATS"); /* the bus names the (redacted) URLs */
  struct coin_bus_kv_config kw = {.bucket = COIN_KV_WATERMARKS, .history = 5};
  if ((rc = coin_bus_kv_ensure(&p->kv_wm, NULL, p->bus, &kw)) != 0)
    return coin_error_wrap(rc, "KV bucket %s", COIN_KV_WATERMARKS);
  return 0;
}

/* Ensures the stream (the same config as coin-ingest's: whoever starts
 * first creates it) and the durable pull consumer, and binds to it. */
static int bind_consumer(struct publish *p) {
  const struct publish_config *cfg = p->cfg;
  const char *subjects[] = {"coin.candles.>"};
  struct coin_bus_stream_config sc = {.name = COIN_STREAM_CANDLES,
                                      .subjects = subjects,
                                      .subjects_len = 1,
                                      .duplicate_window_ms = 120000,
                                      .max_msg_bytes = 1 << 20};
  int rc = coin_bus_stream_ensure(NULL, p->bus, &sc);
  if (rc != 0)
    return coin_error_wrap(rc, "stream %s", COIN_STREAM_CANDLES);
  struct coin_bus_consumer_config cc = {
      .stream = COIN_STREAM_CANDLES,
      .durable = cfg->durable,
      .ack_wait_ms = cfg->ack_wait_seconds * 1000,
      .max_ack_pending =
          cfg->fetch_batch * 4 > 1000 ? cfg->fetch_batch * 4 : 1000};
  rc = coin_bus_consumer_ensure(NULL, p->bus, &cc);
  if (rc == 0)
    rc = coin_bus_sub_bind(&p->sub, p->bus, COIN_STREAM_CANDLES, cfg->durable);
  if (rc != 0)
    return coin_error_wrap(rc, "consumer %s/%s", COIN_STREAM_CANDLES,
                           cfg->durable);
  return 0;
}

int publish_new(struct publish **out, const struct publish_config *cfg) {
  struct publish *p = calloc(1, sizeof(*p));
  int rc = 0;
  if (!p)
    return coin_error_set(COIN_ENOMEM, "publish: out of memory");
  p->cfg = cfg;
  snprintf(p->producer_id, sizeof(p->producer_id), "publish@%s",
           cfg->core.service_id);
  int n = snprintf(p->site, sizeof(p->site), "%s", cfg->core.static_data_dir);
  if (n <= 0 || (size_t)n >= sizeof(p->site) - 256) {
    rc = coin_error_set(COIN_EINVAL, "STATIC_DATA_DIR: path too long");
    goto fail;
  }
  while (n > 1 && p->site[n - 1] == '/')
    p->site[--n] = '\0';
  if ((rc = coin_freshness_policy_from(&p->policy, &cfg->freshness)) != 0)
    goto fail;
  atomic_store(&p->c.last_loop_mono_ms, coin_mono_ms());

  for (size_t i = 0; i < cfg->core.symbols.n; i++)
    for (size_t k = 0; k < cfg->core.ingest_timeframes.n; k++) {
      struct pseries *s;
      rc = series_add(&s, p, cfg->core.exchange, cfg->core.symbols.items[i],
                      cfg->core.ingest_timeframes.tfs[k], true);
      if (rc != 0)
        goto fail;
    }
  if ((rc = make_influx(&p->ix, cfg)) != 0 ||
      (rc = make_influx(&p->ix_serving, cfg)) != 0)
    goto fail;
  if ((rc = setup_bus(p)) != 0)
    goto fail;
  if ((rc = bind_consumer(p)) != 0) {
    /* a bad durable name stops here; a stream leader being elected does
     * not: the loop binds again (publish_run) */
    if (!coin_error_retryable(rc))
      goto fail;
    COIN_LOG_WARN("consumer not bound yet, the loop tries again",
                  COIN_LOG_RC(rc));
  }
  if ((rc = start_leader(p)) != 0)
    goto fail;
  struct coin_serving_opts so = {.bus = p->bus,
                                 .ix = p->ix_serving,
                                 .exchange = cfg->core.exchange,
                                 .model_max_age_ms =
                                     cfg->model_max_age_hours * COIN_HOUR_MS};
  if ((rc = coin_serving_new(&p->serving, &so)) != 0) {
    coin_error_wrap(rc, "model serving");
    goto fail;
  }

  if ((rc = coin_service_httpd_start(&p->httpd, cfg->core.publish_http_addr,
                                     "PUBLISH_HTTP_ADDR", handle_http, p)) != 0)
    goto fail;
  *out = p;
  return 0;
fail:
  publish_free(p);
  return rc;
}

void publish_free(struct publish *p) {
  if (!p)
    return;
  coin_httpd_free(p->httpd);
  coin_leader_stop(p->leader); /* frees the lease: a standby takes over */
  coin_serving_free(p->serving);
  coin_bus_kv_watch_free(p->wm_watch);
  coin_bus_sub_free(p->sub);
  coin_bus_kv_free(p->kv_wm);
  coin_bus_free(p->bus);
  coin_influx_free(p->ix);
  coin_influx_free(p->ix_serving);
  for (size_t i = 0; i < p->n_series; i++)
    series_free(p->series[i]);
  free(p->series);
  coin_jbuf_free(&p->out);
  free(p);
}

void publish_request_stop(struct publish *p) {
  atomic_store(&p->stop, true);
}

/* ---- start-up -------------------------------------------------------------
 */

/* The watch first replays the current value of every ingest watermark:
 * that is our start-up view of how far the SoT is complete. A watch that
 * cannot start just when this replica took the lease (NATS electing a
 * leader, the bucket away) is tried again every second while the lease is
 * ours; only a lost lease or a non-retryable error stops the process. */
static int start_watch(struct publish *p) {
  struct coin_bus_kv_watch_options wo = {.keys = COIN_KEY_INGEST_PREFIX ".>"};
  for (;;) {
    int rc = coin_bus_kv_watch(&p->wm_watch, p->kv_wm, &wo);
    if (rc == 0)
      return 0;
    coin_error_wrap(rc, "watch %s/%s.>", COIN_KV_WATERMARKS,
                    COIN_KEY_INGEST_PREFIX);
    if (!coin_error_retryable(rc) || role_now(p) == COIN_LEADER_LOST)
      return rc;
    COIN_LOG_WARN("start as the active replica failed, trying again in 1 s",
                  COIN_LOG_RC(rc));
    atomic_fetch_add(&p->c.activation_retries, 1);
    pause_ms(p, 1000);
    if (p->stop)
      return COIN_ECLOSED;
  }
}

/* Rebuilds every series from the SoT; retries until it worked (an InfluxDB
 * that is still starting) or stop. */
static int rebuild_all(struct publish *p, bool have_watermarks) {
  int64_t t0 = coin_mono_ms();
  if (!have_watermarks) {
    /* the watch did not deliver them: read each key */
    for (size_t i = 0; i < p->n_series && !p->stop; i++)
      if (consume_load_watermarks(p, p->series[i]) != 0)
        break; /* the retry loop below reads them again */
  }
  consume_rebuild_all(p);
  for (int attempt = 0; !p->stop; attempt++) {
    size_t failed = 0;
    int last_rc = 0;
    for (size_t i = 0; i < p->n_series && !p->stop; i++) {
      struct pseries *s = p->series[i];
      if (s->loaded)
        continue;
      int rc =
          attempt == 0 && have_watermarks ? 0 : consume_load_watermarks(p, s);
      if (rc == 0)
        rc = consume_rebuild(p, s);
      if (rc == COIN_EDECODE)
        continue; /* an undecodable watermark: said once, that series waits
                     for a good value (consume_reconcile_due), the rest
                     goes on */
      if (rc != 0) {
        failed++;
        last_rc = rc;
        COIN_LOG_WARN("series rebuild failed", COIN_LOG_STR("series", s->dir),
                      COIN_LOG_RC(rc));
      }
    }
    if (failed == 0)
      break;
    COIN_LOG_ERROR("rebuild incomplete, retrying",
                   COIN_LOG_UINT("failed", failed),
                   COIN_LOG_INT("attempt", attempt + 1), COIN_LOG_RC(last_rc));
    pause_ms(p, attempt < 5 ? 1000 : 5000);
  }
  if (p->stop)
    return COIN_ECLOSED;
  int64_t read_ms = coin_mono_ms() - t0;
  uint64_t before = atomic_load(&p->c.files_written);
  for (int attempt = 0; !p->stop; attempt++) {
    int rc = flush(p);
    if (rc == 0)
      break;
    if (role_now(p) == COIN_LEADER_LOST)
      return COIN_ECONFLICT;
    COIN_LOG_ERROR("site not written, retrying", COIN_LOG_RC(rc));
    pause_ms(p, 2000);
  }
  int64_t ms = coin_mono_ms() - t0;
  uint64_t files = atomic_load(&p->c.files_written) - before;
  atomic_store(&p->c.rebuild_ms, (uint64_t)ms);
  atomic_store(&p->c.rebuild_files, files);
  COIN_LOG_INFO("site rebuilt from InfluxDB",
                COIN_LOG_UINT("series", p->n_series),
                COIN_LOG_UINT("files", files), COIN_LOG_INT("elapsed_ms", ms),
                COIN_LOG_INT("read_ms", read_ms),
                COIN_LOG_DBL("files_per_second",
                             ms > 0 ? (double)files * 1000.0 / (double)ms : 0));
  return p->stop ? COIN_ECLOSED : 0;
}

/* ---- the loop ----------------------------------------------------------- */

static void process(struct publish *p, struct coin_bus_msg **msgs, size_t n) {
  enum msg_verdict *v = calloc(n, sizeof(*v));
  int64_t *stamp = calloc(n, sizeof(*stamp));
  struct pseries **ser = calloc(n, sizeof(*ser));
  if (!v || !stamp || !ser) {
    /* cannot even remember verdicts: let JetStream redeliver */
    for (size_t i = 0; i < n; i++)
      coin_bus_msg_free(msgs[i]);
    free(v);
    free(stamp);
    free(ser);
    return;
  }
  size_t done = 0;
  for (; done < n && !p->stop; done++) {
    bool published = false;
    v[done] = consume_msg(p, msgs[done], &published, &ser[done]);
    if (published)
      stamp[done] = coin_bus_msg_timestamp_ms(msgs[done]);
  }
  /* Files and watermarks first; only then the acknowledgements. */
  if (flush(p) != 0)
    p->flush_retry_mono_ms = coin_mono_ms() + FLUSH_RETRY_MS;
  int64_t now = coin_now_ms();
  for (size_t i = 0; i < n; i++) {
    /* A message is done when its series has nothing left to write (a
     * failing series does not hold back the others). */
    bool on_disk = !ser[i] || (!ser[i]->dirty_files && !ser[i]->dirty_wm &&
                               !p->manifest_dirty);
    if (i >= done) {
      coin_bus_msg_nak(msgs[i], 0); /* stopping: not looked at */
    } else if (v[i] == MSG_TERM) {
      /* already answered */
    } else if (v[i] == MSG_ACK && on_disk) {
      int arc = coin_bus_msg_ack(msgs[i]);
      if (arc == 0) {
        atomic_fetch_add(&p->c.batches, 1);
        if (stamp[i] > 0)
          metrics_observe_latency(&p->c, now - stamp[i]);
      } else {
        COIN_LOG_WARN(
            "ack failed (the message will be redelivered)",
            COIN_LOG_UINT("stream_seq", coin_bus_msg_stream_seq(msgs[i])),
            COIN_LOG_RC(arc));
      }
    } else {
      if (v[i] == MSG_ACK)
        atomic_fetch_add(&p->c.naks, 1);
      coin_bus_msg_nak(msgs[i], NAK_DELAY_MS);
    }
    coin_bus_msg_free(msgs[i]);
  }
  consume_realize_pending(p);
  free(v);
  free(stamp);
  free(ser);
}

static void tick(struct publish *p) {
  int64_t mono = coin_mono_ms();
  atomic_store(&p->c.last_loop_mono_ms, mono);
  if (mono < p->next_tick_mono_ms)
    return;
  p->next_tick_mono_ms = mono + TICK_MS;
  if (role_now(p) != COIN_LEADER_ACTIVE)
    return; /* every step below may write */
  consume_drain_watch(p);
  consume_reconcile_due(p);
  if (mono >= p->next_reeval_mono_ms) {
    bool model = mono >= p->next_model_mono_ms;
    site_reevaluate(p, model);
    p->next_reeval_mono_ms = mono + p->cfg->reevaluate_seconds * 1000;
    if (model)
      p->next_model_mono_ms = mono + p->cfg->model_check_seconds * 1000;
  }
  if (mono >= p->next_tmp_clean_mono_ms) {
    site_clean_tmp(p, TMP_MAX_AGE_MS);
    p->next_tmp_clean_mono_ms = mono + TMP_CLEAN_PERIOD_MS;
  }
  bool dirty = p->manifest_dirty;
  for (size_t i = 0; i < p->n_series && !dirty; i++)
    dirty = p->series[i]->loaded &&
            (p->series[i]->dirty_files || p->series[i]->dirty_wm);
  if (dirty && mono >= p->flush_retry_mono_ms) {
    if (flush(p) != 0)
      p->flush_retry_mono_ms = mono + FLUSH_RETRY_MS;
  }
  consume_realize_pending(p);
}

int publish_run(struct publish *p) {
  const struct publish_config *cfg = p->cfg;
  struct coin_bus_msg **msgs = calloc((size_t)cfg->fetch_batch, sizeof(*msgs));
  if (!msgs)
    return coin_error_set(COIN_ENOMEM, "publish: out of memory");
  COIN_LOG_INFO("publish starting", COIN_LOG_UINT("series", p->n_series),
                COIN_LOG_STR("durable", cfg->durable),
                COIN_LOG_STR("site", p->site),
                COIN_LOG_INT("http_port", coin_httpd_port(p->httpd)));
  int rc = wait_for_lease(p);
  if (rc != 0 || p->stop)
    goto out;
  rc = start_watch(p);
  if (rc != 0) {
    if (p->stop)
      rc = 0; /* SIGTERM while retrying: a clean stop */
    goto out;
  }
  /* The watch's initial values (until INIT_DONE) before the rebuild. */
  bool have_wm = consume_watch_init(p, WATCH_INIT_TIMEOUT_MS);
  site_clean_tmp(p, TMP_MAX_AGE_MS);
  site_load_disk(p);
  p->next_tmp_clean_mono_ms = coin_mono_ms() + TMP_CLEAN_PERIOD_MS;
  if ((rc = rebuild_all(p, have_wm)) != 0) {
    if (rc == COIN_ECONFLICT)
      rc = coin_error_set(COIN_ECONFLICT,
                          "publish: leader lease lost during the rebuild");
    else if (p->stop)
      rc = 0; /* SIGTERM during the rebuild: a clean stop */
    goto out;
  }
  atomic_store(&p->c.ready, true);
  int64_t mono = coin_mono_ms();
  p->next_reeval_mono_ms = mono + cfg->reevaluate_seconds * 1000;
  p->next_model_mono_ms = mono + cfg->model_check_seconds * 1000;

  while (!p->stop) {
    size_t n = 0;
    enum coin_leader_role role = role_now(p);
    if (role == COIN_LEADER_LOST) {
      rc = coin_error_set(COIN_ECONFLICT,
                          "publish: leader lease lost to another replica: "
                          "stopping (a restart comes back as standby)");
      goto out;
    }
    if (role != COIN_LEADER_ACTIVE) {
      /* fenced: nothing is fetched or written until the lease is renewed */
      atomic_store(&p->c.last_loop_mono_ms, coin_mono_ms());
      pause_ms(p, 100);
      continue;
    }
    if (!p->sub) {
      int brc = bind_consumer(p);
      if (brc != 0) {
        COIN_LOG_ERROR("consumer not bound, retrying", COIN_LOG_RC(brc));
        pause_ms(p, ERROR_PAUSE_MS * 4);
        tick(p);
        continue;
      }
      COIN_LOG_INFO("consumer bound again",
                    COIN_LOG_STR("durable", cfg->durable));
    }
    int frc = coin_bus_fetch(msgs, &n, p->sub, (int)cfg->fetch_batch, TICK_MS);
    if (frc == 0 && n > 0) {
      process(p, msgs, n);
    } else if (frc != 0 && frc != COIN_ETIMEOUT) {
      atomic_fetch_add(&p->c.fetch_errors, 1);
      COIN_LOG_WARN("fetch failed", COIN_LOG_RC(frc));
      struct coin_bus_consumer_info ci;
      if (frc == COIN_ENOTFOUND ||
          coin_bus_consumer_info(&ci, p->bus, COIN_STREAM_CANDLES,
                                 cfg->durable) == COIN_ENOTFOUND) {
        /* the consumer (or the stream) was deleted under us: create it
         * again; the stream replays and everything old is a duplicate */
        COIN_LOG_WARN("consumer gone, creating it again",
                      COIN_LOG_STR("durable", cfg->durable));
        coin_bus_sub_free(p->sub);
        p->sub = NULL;
      }
      pause_ms(p, ERROR_PAUSE_MS);
    }
    tick(p);
  }
  /* Graceful stop: whatever is dirty goes to disk first (while ours). */
  (void)flush(p);
  consume_realize_pending(p);
  rc = 0;
out:
  COIN_LOG_INFO("publish stopping",
                COIN_LOG_UINT("batches", atomic_load(&p->c.batches)));
  free(msgs);
  return rc;
}
