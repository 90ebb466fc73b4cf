/*
 * monitor.c: the coin-monitor context: the series table and its index,
 * start-up (NATS stream and buckets, persisted states, sinks, watermark
 * watch, HTTP), the scheduler (every MONITOR_EVAL_SECONDS, sooner after a
 * watermark change or when a fresh mismatch needs confirming) and shutdown.
 * Threads: monitor_run's thread evaluates; the KV watch callback only
 * updates the watermark cache and wakes the scheduler.
 */
#include "monitor_int.h"

#include "coin/clock.h"
#include "coin/error.h"
#include "coin/log.h"
#include "coin/service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- watermarks --------------------------------------------------------- */

static void wake(struct monitor *m) {
  pthread_mutex_lock(&m->wake_lock);
  m->triggered = true;
  pthread_cond_signal(&m->wake_cond);
  pthread_mutex_unlock(&m->wake_lock);
}

static void on_watermark(const struct coin_bus_kv_entry *e, void *closure) {
  struct monitor *m = closure;
  if (e->op == COIN_BUS_KV_INIT_DONE) {
    pthread_mutex_lock(&m->wm_lock);
    m->wm_ready = true;
    pthread_mutex_unlock(&m->wm_lock);
    wake(m);
    return;
  }
  struct coin_series_id id;
  bool ingest = strncmp(e->key, "ingest.", 7) == 0;
  bool publish = strncmp(e->key, "publish.", 8) == 0;
  if (!(ingest || publish) ||
      coin_codec_series_parse(
          &id, ingest ? COIN_KEY_INGEST_PREFIX : COIN_KEY_PUBLISH_PREFIX,
          e->key) != 0 ||
      strcmp(id.exchange, m->cfg->core.exchange) != 0)
    return;
  ssize_t k = mon_series_find(m, id.symbol, id.tf);
  if (k < 0)
    return;
  int64_t v = -1;
  if (e->op == COIN_BUS_KV_PUT) {
    int64_t x = -1;
    if (coin_codec_watermark_parse(&x, e->value, e->value_len) != 0) {
      COIN_LOG_WARN("watermark is not a decimal ms time",
                    COIN_LOG_STR("key", e->key));
      return;
    }
    v = x;
  }
  pthread_mutex_lock(&m->wm_lock);
  int64_t *slot = ingest ? &m->wm_ingest[k] : &m->wm_publish[k];
  bool changed = *slot != v;
  *slot = v;
  bool ready = m->wm_ready;
  pthread_mutex_unlock(&m->wm_lock);
  if (changed)
    atomic_fetch_add(&m->c.watermark_updates, 1);
  if (changed && ready)
    wake(m);
}

/* ---- construction ------------------------------------------------------- */

static int setup_nats(struct monitor *m) {
  const struct monitor_config *cfg = m->cfg;
  struct coin_bus_options bo;
  coin_service_bus_options(&bo, &cfg->core, m->producer_id);
  int rc = coin_bus_connect(&m->bus, &bo);
  if (rc != 0)
    return coin_error_wrap(rc, "NATS"); /* the bus names the (redacted) URLs */
  const char *subjects[] = {"coin.alerts.>"};
  struct coin_bus_stream_config sc = {
      .name = COIN_STREAM_ALERTS,
      .subjects = subjects,
      .subjects_len = 1,
      .duplicate_window_ms = MON_DEDUP_WINDOW_MS,
      .max_msg_bytes = 1 << 20,
      .max_age_ms = cfg->alert_max_age_hours * 3600 * 1000,
      .max_bytes = INT64_C(256) << 20};
  rc = coin_bus_stream_ensure(NULL, m->bus, &sc);
  if (rc != 0)
    return coin_error_wrap(rc, "stream %s", COIN_STREAM_ALERTS);
  rc = coin_bus_kv_open(&m->kv_wm, m->bus, COIN_KV_WATERMARKS);
  if (rc == COIN_ENOTFOUND) {
    /* ingest has not run yet: create it as ingest does */
    struct coin_bus_kv_config kw = {.bucket = COIN_KV_WATERMARKS, .history = 5};
    rc = coin_bus_kv_ensure(&m->kv_wm, NULL, m->bus, &kw);
  }
  if (rc != 0)
    return coin_error_wrap(rc, "KV bucket %s", COIN_KV_WATERMARKS);
  struct coin_bus_kv_config ks = {.bucket = COIN_KV_MONITOR,
                                  .history = MON_BUCKET_HISTORY};
  rc = coin_bus_kv_ensure(&m->kv_state, NULL, m->bus, &ks);
  if (rc != 0)
    return coin_error_wrap(rc, "KV bucket %s", COIN_KV_MONITOR);
  return 0;
}

/* The lease thread; its first attempt is made here (docs/scaling.md). */
static int start_leader(struct monitor *m) {
  char holder[96], name[96];
  snprintf(name, sizeof(name), "monitor.%s", m->cfg->core.exchange);
  snprintf(holder, sizeof(holder), "%s", m->cfg->core.service_id);
  struct coin_leader_options lo = {
      .name = name, .holder = holder, .lease_ms = m->cfg->lease_seconds * 1000};
  int rc = coin_leader_start(&m->leader, m->bus, &lo);
  return rc ? coin_error_wrap(rc, "leader lease") : 0;
}

static int setup_influx(struct monitor *m) {
  struct coin_influx_options o;
  coin_service_influx_options(&o, &m->cfg->core);
  o.connect_timeout_ms = 1000;
  o.timeout_ms = 2000;
  o.max_retries = 0;
  return coin_influx_new(&m->ix, &o);
}

int monitor_new(struct monitor **out, const struct monitor_config *cfg) {
  struct monitor *m = calloc(1, sizeof(*m));
  int rc = 0;
  if (m == NULL)
    return coin_error_set(COIN_ENOMEM, "monitor: out of memory");
  m->cfg = cfg;
  pthread_mutex_init(&m->lock, NULL);
  pthread_mutex_init(&m->wm_lock, NULL);
  pthread_mutex_init(&m->wake_lock, NULL);
  pthread_mutex_init(&m->out_lock, NULL);
  pthread_mutex_init(&m->ix_lock, NULL);
  pthread_mutex_init(&m->g_lock, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&m->wake_cond, &ca);
  pthread_condattr_destroy(&ca);
  pthread_cond_init(&m->out_cond, NULL);
  m->manifest_state = MON_MANIFEST_MISSING;
  m->started_ms = coin_now_ms();
  atomic_store(&m->last_pass_mono_ms, coin_mono_ms());
  m->site_fd = -1;
  snprintf(m->producer_id, sizeof(m->producer_id), "monitor@%s",
           cfg->core.service_id);
  coin_http_global_init();
  if ((rc = mon_series_setup(m)) != 0 || (rc = setup_influx(m)) != 0 ||
      (rc = setup_nats(m)) != 0 || (rc = start_leader(m)) != 0)
    goto fail;
  if ((rc = coin_service_httpd_start(&m->httpd, cfg->core.monitor_http_addr,
                                     "MONITOR_HTTP_ADDR", endpoints_handle,
                                     m)) != 0)
    goto fail;
  *out = m;
  return 0;
fail:
  monitor_free(m);
  return rc;
}

/* The active part, once the lease is ours: the stored states (what was
 * already alerted, as the previous active replica left it), the sinks, the
 * probe, the champion watch and the watermark watch. */
/* The active replica's start: each step once, in order; a step that fails
 * (NATS electing a stream leader just when this replica took the lease
 * over, a stream not there yet) is tried again by the next call, which
 * resumes from it. */
static int activate(struct monitor *m) {
  const struct monitor_config *cfg = m->cfg;
  int rc = 0;
  while (rc == 0 && m->activation_step < 8) {
    switch (m->activation_step) {
    case 0: rc = state_load_all(m); break;
    case 1: rc = mon_global_load(m); break;
    case 2: rc = sinks_setup(m); break;
    case 3: rc = outbox_start(m); break;
    case 4: rc = sinks_start(m); break;
    case 5: /* availability probe (probe.c) */
      if (!m->probe)
        rc = probe_new(&m->probe, m, cfg->site_url, cfg->probe_interval_seconds,
                       cfg->probe_slo);
      if (rc == 0)
        rc = probe_start(m->probe);
      break;
    case 6: /* champion watch (champion.c) */
      if (!m->champ)
        rc = champ_new(&m->champ, m);
      if (rc == 0)
        rc = champ_start(m->champ);
      break;
    default: {
      struct coin_bus_kv_watch_options wo = {.keys = NULL};
      rc =
          coin_bus_kv_watch_start(&m->wm_watch, m->kv_wm, &wo, on_watermark, m);
      if (rc != 0)
        coin_error_wrap(rc, "KV %s watch", COIN_KV_WATERMARKS);
      break;
    }
    }
    if (rc == 0)
      m->activation_step++;
  }
  if (rc == 0)
    atomic_store(&m->activated, true);
  return rc;
}

void monitor_request_stop(struct monitor *m) {
  atomic_store(&m->stop, true);
}

/* ---- scheduling --------------------------------------------------------- */

/* Waits until the next pass is due: the period, a watermark change (at most
 * every MON_MIN_PASS_GAP_MS) or a recheck; false when stopping. */
static bool wait_next(struct monitor *m, int64_t due_mono, int64_t last_end) {
  for (;;) {
    if (m->stop)
      return false;
    int64_t now = coin_mono_ms();
    int64_t recheck = m->next_recheck_ms;
    if (recheck > 0) {
      int64_t r = now + (recheck - coin_now_ms());
      if (r < due_mono)
        due_mono = r;
    }
    pthread_mutex_lock(&m->wake_lock);
    bool trig = m->triggered;
    pthread_mutex_unlock(&m->wake_lock);
    if (trig && last_end + MON_MIN_PASS_GAP_MS < due_mono)
      due_mono = last_end + MON_MIN_PASS_GAP_MS;
    if (now >= due_mono) {
      pthread_mutex_lock(&m->wake_lock);
      m->triggered = false;
      pthread_mutex_unlock(&m->wake_lock);
      return true;
    }
    int64_t slice = due_mono - now;
    if (slice > 200)
      slice = 200; /* notice the stop flag (set by a signal handler) */
    struct timespec ts = coin_deadline_ts(CLOCK_MONOTONIC, slice);
    pthread_mutex_lock(&m->wake_lock);
    if (!m->triggered)
      pthread_cond_timedwait(&m->wake_cond, &m->wake_lock, &ts);
    pthread_mutex_unlock(&m->wake_lock);
  }
}

int monitor_run(struct monitor *m) {
  /* Standby until the lease is ours; the loop counts as alive meanwhile. */
  while (!m->stop && !coin_leader_active(m->leader)) {
    atomic_store(&m->last_pass_mono_ms, coin_mono_ms());
    struct timespec ts = {0, 100 * 1000000L};
    nanosleep(&ts, NULL);
  }
  if (m->stop)
    return 0;
  int rc;
  while ((rc = activate(m)) != 0) {
    if (!coin_error_retryable(rc) ||
        coin_leader_role(m->leader) == COIN_LEADER_LOST)
      return rc;
    COIN_LOG_WARN("activation failed, trying again in 1 s", COIN_LOG_RC(rc),
                  COIN_LOG_INT("step", m->activation_step));
    atomic_fetch_add(&m->c.activation_retries, 1);
    if (mon_sleep_unless(&m->stop, 1000))
      return 0;
  }
  /* The first pass wants the watermarks: wait (briefly) for the watch. */
  int64_t until = coin_mono_ms() + 5000;
  for (;;) {
    pthread_mutex_lock(&m->wm_lock);
    bool ready = m->wm_ready;
    pthread_mutex_unlock(&m->wm_lock);
    if (ready || m->stop || coin_mono_ms() >= until)
      break;
    struct timespec ts = {0, 20 * 1000000L};
    nanosleep(&ts, NULL);
  }
  COIN_LOG_INFO("monitor started", COIN_LOG_UINT("series", m->n_series),
                COIN_LOG_UINT("sinks", m->n_sinks),
                COIN_LOG_INT("http_port", coin_httpd_port(m->httpd)));
  int64_t due = coin_mono_ms();
  int64_t last_end = 0;
  while (wait_next(m, due, last_end)) {
    int64_t start = coin_mono_ms();
    enum coin_leader_role role = coin_leader_role(m->leader);
    if (role == COIN_LEADER_LOST) {
      rc = coin_error_set(COIN_ECONFLICT,
                          "monitor: leader lease lost to another replica: "
                          "stopping (a restart comes back as standby)");
      break;
    }
    if (role != COIN_LEADER_ACTIVE) {
      /* fenced: no pass (no alert, no state write) until renewed */
      atomic_store(&m->last_pass_mono_ms, coin_mono_ms());
      due = start + 200;
      continue;
    }
    eval_pass(m, coin_now_ms());
    m->passes_done++;
    last_end = coin_mono_ms();
    due = start + m->cfg->eval_seconds * 1000;
    if (m->cfg->max_passes && m->passes_done >= m->cfg->max_passes)
      break;
  }
  COIN_LOG_INFO("monitor stopping", COIN_LOG_INT("passes", m->passes_done));
  return rc;
}

void monitor_free(struct monitor *m) {
  if (m == NULL)
    return;
  probe_free(m->probe); /* availability probe (probe.c) */
  m->probe = NULL;
  champ_free(m->champ); /* champion watch (champion.c) */
  m->champ = NULL;
  coin_bus_kv_watch_free(m->wm_watch);
  m->wm_watch = NULL;
  coin_httpd_free(m->httpd);
  m->httpd = NULL;
  outbox_stop(m, 3000); /* sinks keep delivering meanwhile */
  sinks_stop(m);
  coin_leader_stop(m->leader); /* frees the lease: a standby takes over */
  m->leader = NULL;
  coin_bus_kv_free(m->kv_wm);
  coin_bus_kv_free(m->kv_state);
  coin_bus_free(m->bus);
  coin_influx_free(m->ix);
  for (size_t i = 0; i < m->n_series && m->series; i++)
    site_entry_clear(&m->series[i].man);
  if (m->site_fd >= 0)
    close(m->site_fd);
  free(m->series);
  free(m->index);
  free(m->wm_ingest);
  free(m->wm_publish);
  pthread_mutex_destroy(&m->lock);
  pthread_mutex_destroy(&m->wm_lock);
  pthread_mutex_destroy(&m->wake_lock);
  pthread_mutex_destroy(&m->out_lock);
  pthread_mutex_destroy(&m->ix_lock);
  pthread_mutex_destroy(&m->g_lock);
  pthread_cond_destroy(&m->wake_cond);
  pthread_cond_destroy(&m->out_cond);
  free(m);
}
