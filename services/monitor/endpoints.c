/*
 * endpoints.c: coin-monitor's HTTP surface and its status document:
 * GET /status (the same JSON as STATIC_DATA_DIR/status.json),
 * GET /status/<exchange>/<symbol>/<tf>, /metrics (Prometheus text),
 * /healthz (the pass loop is alive), /readyz (NATS and InfluxDB reachable,
 * first evaluation done). Unknown paths 404, other methods 405.
 * Thread model: handlers run on httpd threads; /status copies the text the
 * last pass built; per-series and metrics read the series under m->lock.
 */
#include "monitor_int.h"

#include "coin/candle.h"
#include "coin/clock.h"
#include "coin/error.h"
#include "coin/prom.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the status document ------------------------------------------------ */

static void put_wm(struct coin_jbuf *b, const char *key_ms, const char *key,
                   int64_t v) {
  coin_jbuf_kint_or_null(b, key_ms, v);
  coin_jbuf_ktime(b, key, v);
}

static int status_series_json(struct coin_jbuf *b, const struct monitor *m,
                              const struct mon_series *s, int64_t now_ms) {
  (void)now_ms;
  enum coin_fresh_state st = s->known ? s->state : COIN_STATE_UNSPECIFIED;
  coin_jbuf_putn(b, "{", 1);
  coin_jbuf_kstr(b, "exchange", m->cfg->core.exchange);
  coin_jbuf_kstr(b, "symbol", s->symbol);
  coin_jbuf_kstr(b, "timeframe", coin_tf_name(s->tf));
  struct coin_site_validity v;
  status_series_validity(&v, s, m->pass_now_ms);
  coin_site_put_validity(b, &v);
  coin_jbuf_kbool(b, "escalated",
                  st == COIN_STATE_SOFT_STALE_ESCALATED ||
                      st == COIN_STATE_HARD_STALE_ESCALATED);
  coin_jbuf_kint_or_null(b, "since_ms", s->known ? s->since_ms : -1);
  coin_jbuf_ktime(b, "since", s->known ? s->since_ms : -1);
  coin_jbuf_kint_or_null(b, "changed_at_ms", s->known ? s->at_ms : -1);
  coin_jbuf_kint(b, "overdue_ms", s->fresh.overdue_ms);
  coin_jbuf_kint(b, "missing_candles", s->fresh.missing_candles);
  coin_jbuf_kint(b, "expected_open_ms", s->fresh.expected_open_ms);
  put_wm(b, "last_candle_open_ms", "last_candle_open", s->last_open_ms);
  coin_jbuf_key(b, "site_validity"); /* what the files announce */
  coin_jbuf_putn(b, "{", 1);
  coin_jbuf_kint_or_null(b, "soft_stale_at_ms", s->announced_soft_ms);
  coin_jbuf_kint_or_null(b, "hard_stale_at_ms", s->announced_hard_ms);
  coin_jbuf_trim_comma(b);
  coin_jbuf_putn(b, "},", 2);
  coin_jbuf_kint(b, "candles", s->n_candles);
  coin_jbuf_kstr(b, "site_status",
                 s->man.gen == m->man_gen &&
                         m->manifest_state == MON_MANIFEST_OK && !s->man.bad
                     ? coin_codec_state_name(s->man.site_status)
                     : NULL);
  coin_jbuf_kbool(b, "degraded", s->degraded);
  coin_jbuf_key(b, "degraded_reasons");
  coin_jbuf_putn(b, "[", 1);
  for (int i = 0; i < COIN_DEGRADED_REASON_COUNT; i++)
    if (s->degraded && (s->reasons & (1u << i))) {
      coin_jbuf_str(b, coin_degraded_reason_name(1u << i));
      coin_jbuf_putn(b, ",", 1);
    }
  coin_jbuf_trim_comma(b);
  coin_jbuf_putn(b, "],", 2);
  coin_jbuf_kint_or_null(b, "degraded_since_ms",
                         s->degraded ? s->degraded_since_ms : -1);
  coin_jbuf_kint_or_null(
      b, "alerts_held_until_ms",
      s->bootstrap_until_ms > m->pass_now_ms ? s->bootstrap_until_ms : -1);
  coin_jbuf_key(b, "watermarks");
  coin_jbuf_putn(b, "{", 1);
  put_wm(b, "ingest_ms", "ingest", s->ingest_wm_ms);
  put_wm(b, "publish_ms", "publish", s->publish_wm_ms);
  put_wm(b, "site_ms", "site", s->last_open_ms);
  coin_jbuf_kint_or_null(b, "publish_lag_candles", s->publish_lag_candles);
  coin_jbuf_kint_or_null(b, "site_behind_publish_candles", s->site_lag_candles);
  coin_jbuf_kbool(b, "site_ahead_of_ingest", s->site_ahead);
  coin_jbuf_trim_comma(b);
  coin_jbuf_putn(b, "},", 2);
  coin_jbuf_kstr(b, "cause", s->cause);
  coin_jbuf_kstr(b, "detail", s->detail[0] ? s->detail : NULL);
  coin_jbuf_kbool(b, "pending_recheck", s->pending);
  state_alert_json(b, "alert", m, s, &s->alert, MON_ALERT_STATUS);
  state_alert_json(b, "degraded_alert", m, s, &s->dalert, MON_ALERT_STATUS);
  coin_jbuf_key(b, "last_alert");
  if (s->last_alert.set) {
    const struct mon_last_alert *l = &s->last_alert;
    char msg_id[COIN_CODEC_MSG_ID_BYTES];
    mon_last_msg_id(msg_id, m, s);
    coin_jbuf_putn(b, "{", 1);
    coin_jbuf_kstr(b, "msg_id", msg_id);
    coin_jbuf_kstr(b, "alertname", l->alertname);
    coin_jbuf_kstr(b, "status", coin_codec_alert_status_name(l->status));
    coin_jbuf_kstr(b, "severity", coin_codec_severity_name(l->severity));
    coin_jbuf_kstr(b, "state", coin_codec_state_name(l->state));
    coin_jbuf_kint(b, "at_ms", l->at_ms);
    coin_jbuf_ktime(b, "at", l->at_ms);
    coin_jbuf_trim_comma(b);
    coin_jbuf_putn(b, "},", 2);
  } else {
    coin_jbuf_putn(b, "null,", 5);
  }
  coin_jbuf_trim_comma(b);
  coin_jbuf_putn(b, "}", 1);
  return b->oom ? COIN_ENOMEM : 0;
}

void status_series_validity(struct coin_site_validity *out,
                            const struct mon_series *s, int64_t now_ms) {
  coin_site_validity_of(out, &s->fresh, now_ms);
  out->status = s->known ? s->state : COIN_STATE_UNSPECIFIED;
  if (!s->known || out->status == COIN_STATE_CORRUPT ||
      out->status == COIN_STATE_INSUFFICIENT_DATA)
    out->soft_at_ms = out->hard_at_ms = -1;
}

static const char *manifest_name(enum mon_manifest_state s) {
  return s == MON_MANIFEST_OK    ? "ok"
         : s == MON_MANIFEST_BAD ? "corrupt"
                                 : "missing";
}

/* "global_alerts": the firing alerts about no series, and the loop. */
static void status_global_json(struct coin_jbuf *b, struct monitor *m) {
  struct mon_global g[MON_MAX_GLOBALS];
  char id[COIN_CODEC_ALERT_ID_BYTES];
  size_t n = mon_global_active(m, g, MON_MAX_GLOBALS);
  coin_jbuf_key(b, "global_alerts");
  coin_jbuf_putn(b, "[", 1);
  for (size_t i = 0; i < n; i++) {
    mon_global_alert_id(id, &g[i]);
    coin_jbuf_putn(b, "{", 1);
    coin_jbuf_kstr(b, "alert_id", id);
    coin_jbuf_kstr(b, "alertname", g[i].alertname);
    coin_jbuf_kstr(b, "target", g[i].target[0] ? g[i].target : NULL);
    coin_jbuf_kstr(b, "severity", coin_codec_severity_name(g[i].severity));
    coin_jbuf_ktime(b, "starts_at", g[i].starts_at_ms);
    coin_jbuf_kint(b, "starts_at_ms", g[i].starts_at_ms);
    coin_jbuf_kstr(b, "summary", g[i].summary);
    coin_jbuf_trim_comma(b);
    coin_jbuf_putn(b, "},", 2);
  }
  coin_jbuf_trim_comma(b);
  coin_jbuf_putn(b, "],", 2);
}

int status_build(char **out, size_t *out_len, struct monitor *m) {
  int64_t now_ms = m->pass_now_ms;
  struct coin_jbuf b = {0};
  uint64_t counts[COIN_STATE_INSUFFICIENT_DATA + 1] = {0};
  struct coin_site_validity overall;
  bool any_degraded = false;
  coin_site_validity_none(&overall, now_ms);
  overall.status = COIN_STATE_FRESH;
  for (size_t i = 0; i < m->n_series; i++) {
    const struct mon_series *s = &m->series[i];
    enum coin_fresh_state st = s->known ? s->state : COIN_STATE_UNSPECIFIED;
    counts[st]++;
    if (s->known) {
      struct coin_site_validity v;
      status_series_validity(&v, s, now_ms);
      coin_site_validity_merge(&overall, &v);
    }
    any_degraded |= s->degraded;
  }
  coin_jbuf_putn(&b, "{", 1);
  coin_site_put_head(&b, now_ms);
  coin_jbuf_kstr(&b, "exchange", m->cfg->core.exchange);
  coin_jbuf_key(&b, "monitor");
  coin_jbuf_putn(&b, "{", 1);
  coin_jbuf_kstr(&b, "producer_id", m->producer_id);
  coin_jbuf_kint(&b, "eval_seconds", m->cfg->eval_seconds);
  coin_jbuf_kint(&b, "soft_escalate_seconds", m->cfg->soft_escalate_seconds);
  coin_jbuf_kint(&b, "hard_escalate_seconds", m->cfg->hard_escalate_seconds);
  coin_jbuf_kint(&b, "repeat_seconds", m->cfg->repeat_seconds);
  coin_jbuf_kint(&b, "passes", m->pass_seq);
  coin_jbuf_kbool(&b, "nats_connected", coin_bus_connected(m->bus));
  /* the monitor's view of itself: the socket can be up while the server
   * does not answer (paused, stuck) */
  coin_jbuf_kbool(&b, "nats_responsive",
                  coin_bus_responsive(m->bus, 200, 5000, NULL));
  coin_jbuf_kstr(&b, "manifest", manifest_name(m->manifest_state));
  coin_jbuf_kstr(&b, "manifest_detail",
                 m->manifest_err[0] ? m->manifest_err : NULL);
  coin_jbuf_kint_or_null(
      &b, "manifest_generated_at_ms",
      m->manifest_state == MON_MANIFEST_OK ? m->man_generated_ms : -1);
  coin_jbuf_trim_comma(&b);
  coin_jbuf_putn(&b, "},", 2);
  coin_jbuf_key(&b, "overall");
  coin_jbuf_putn(&b, "{", 1);
  coin_site_put_validity(&b, &overall);
  coin_jbuf_kbool(&b, "degraded", any_degraded);
  coin_jbuf_kint(&b, "series", (int64_t)m->n_series);
  coin_jbuf_key(&b, "counts");
  coin_jbuf_putn(&b, "{", 1);
  for (int st = 0; st <= COIN_STATE_INSUFFICIENT_DATA; st++)
    if (counts[st])
      coin_jbuf_kint(&b, coin_codec_state_name((enum coin_fresh_state)st),
                     (int64_t)counts[st]);
  coin_jbuf_trim_comma(&b);
  coin_jbuf_putn(&b, "}},", 3);
  status_global_json(&b, m);
  delivery_status_json(&b, m);                    /* alert-miss accounting */
  probe_status_json(&b, m->probe, coin_now_ms()); /* availability probe */
  champ_status_json(&b, m->champ);                /* champion watch */
  coin_jbuf_key(&b, "series");
  coin_jbuf_putn(&b, "[", 1);
  for (size_t i = 0; i < m->n_series; i++) {
    status_series_json(&b, m, &m->series[i], now_ms);
    coin_jbuf_putn(&b, ",", 1);
  }
  coin_jbuf_trim_comma(&b);
  coin_jbuf_putn(&b, "]}\n", 3);
  return coin_jbuf_finish(out, out_len, &b);
}

/* ---- metrics ------------------------------------------------------------ */

#define COUNTER(field, name, help)                                             \
  COIN_PROM_COUNTER_AT(struct monitor, c.field, name, help)
/* A per-sink family; field: an atomic_uint_fast64_t of struct mon_sink. */
#define SINK_COUNTER(field, name_, help_)                                      \
  {                                                                            \
    .name = (name_), .help = (help_), .type = COIN_PROM_COUNTER,               \
    .offset = offsetof(struct mon_sink, field), .label = "sink",               \
    .samples = sink_counter_samples                                            \
  }
/* A figure over every series; field: a double of struct series_tally. */
#define SERIES_GAUGE(field, name, help)                                        \
  COIN_PROM_COMPUTED_AT(COIN_PROM_GAUGE, struct series_tally, field,           \
                        series_value, name, help)
/* in the /metrics of the active replica and of a standby */
#define ACTIVATION_RETRIES                                                     \
  COUNTER(activation_retries, "coin_monitor_activation_retries_total",         \
          "Times taking over as the active replica failed (NATS electing a "   \
          "leader, a stream missing) and was tried again 1 s later.")

static void pass_samples(struct coin_jbuf *b,
                         const struct coin_prom_metric *row, void *base) {
  const struct mon_counters *c = &((const struct monitor *)base)->c;
  uint64_t cum = 0;
  for (int i = 0; i < MON_PASS_BUCKETS; i++) {
    cum += atomic_load(&c->pass_bucket[i]);
    coin_jbuf_printf(b, "%s_bucket{le=\"%g\"} %llu\n", row->name,
                     mon_pass_bucket_le[i], (unsigned long long)cum);
  }
  cum += atomic_load(&c->pass_bucket[MON_PASS_BUCKETS]);
  coin_jbuf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", row->name,
                   (unsigned long long)cum);
  coin_jbuf_printf(b, "%s_sum %.6f\n", row->name,
                   (double)atomic_load(&c->pass_us_sum) / 1e6);
  coin_jbuf_printf(b, "%s_count %llu\n", row->name, (unsigned long long)cum);
}

/* The series, counted under the lock. */
struct series_tally {
  uint64_t by_state[COIN_STATE_INSUFFICIENT_DATA + 1];
  double degraded, lagging, ahead, active, max_lag;
};

static void series_tally(struct series_tally *out, struct monitor *m) {
  struct series_tally t = {0};
  pthread_mutex_lock(&m->lock);
  for (size_t i = 0; i < m->n_series; i++) {
    const struct mon_series *s = &m->series[i];
    t.by_state[s->known ? s->state : COIN_STATE_UNSPECIFIED]++;
    t.degraded += s->degraded;
    t.lagging += s->publish_lag_candles > 0;
    t.ahead += s->site_ahead;
    t.active += s->alert.active + s->dalert.active;
    if ((double)s->publish_lag_candles > t.max_lag)
      t.max_lag = (double)s->publish_lag_candles;
  }
  pthread_mutex_unlock(&m->lock);
  *out = t;
}

static double series_value(const struct coin_prom_metric *row, void *base) {
  struct series_tally t;
  series_tally(&t, base);
  return *(const double *)((const char *)&t + row->offset);
}

static void series_samples(struct coin_jbuf *b,
                           const struct coin_prom_metric *row, void *base) {
  struct series_tally t;
  series_tally(&t, base);
  for (int st = 0; st <= COIN_STATE_INSUFFICIENT_DATA; st++)
    coin_jbuf_printf(b, "%s{%s=\"%s\"} %llu\n", row->name, row->label,
                     coin_codec_state_name((enum coin_fresh_state)st),
                     (unsigned long long)t.by_state[st]);
}

static void transitions_samples(struct coin_jbuf *b,
                                const struct coin_prom_metric *row,
                                void *base) {
  const struct mon_counters *c = &((const struct monitor *)base)->c;
  for (int st = 1; st <= COIN_STATE_INSUFFICIENT_DATA; st++)
    coin_jbuf_printf(b, "%s{%s=\"%s\"} %llu\n", row->name, row->label,
                     coin_codec_state_name((enum coin_fresh_state)st),
                     (unsigned long long)atomic_load(&c->transitions[st]));
}

static double nats_connected(const struct coin_prom_metric *row, void *base) {
  (void)row;
  return coin_bus_connected(((const struct monitor *)base)->bus) ? 1 : 0;
}

static double nats_responsive(const struct coin_prom_metric *row, void *base) {
  (void)row;
  return coin_bus_responsive(((struct monitor *)base)->bus,
                             COIN_BUS_READY_TIMEOUT_MS, COIN_BUS_READY_CACHE_MS,
                             NULL)
             ? 1
             : 0;
}

static void sink_counter_samples(struct coin_jbuf *b,
                                 const struct coin_prom_metric *row,
                                 void *base) {
  const struct monitor *m = base;
  for (size_t i = 0; i < m->n_sinks; i++) {
    const struct mon_sink *k = &m->sinks[i];
    const atomic_uint_fast64_t *v =
        (const atomic_uint_fast64_t *)((const char *)k + row->offset);
    coin_jbuf_printf(b, "%s{sink=\"%s\"} %llu\n", row->name, k->name,
                     (unsigned long long)atomic_load(v));
  }
}

static void sink_backlog_samples(struct coin_jbuf *b,
                                 const struct coin_prom_metric *row,
                                 void *base) {
  const struct monitor *m = base;
  for (size_t i = 0; i < m->n_sinks; i++)
    coin_jbuf_printf(b, "%s{sink=\"%s\"} %lld\n", row->name, m->sinks[i].name,
                     (long long)atomic_load(&m->sinks[i].backlog));
}

static void sink_last_success_samples(struct coin_jbuf *b,
                                      const struct coin_prom_metric *row,
                                      void *base) {
  const struct monitor *m = base;
  for (size_t i = 0; i < m->n_sinks; i++)
    coin_jbuf_printf(b, "%s{sink=\"%s\"} %.3f\n", row->name, m->sinks[i].name,
                     (double)atomic_load(&m->sinks[i].last_success_ms) /
                         1000.0);
}

/* Global alerts and the evaluation loop (dead-man switch). */
static double loop_healthy(const struct coin_prom_metric *row, void *base) {
  (void)row;
  int64_t age = 0;
  return mon_loop_healthy(base, &age) ? 1 : 0;
}

static void last_pass_age_samples(struct coin_jbuf *b,
                                  const struct coin_prom_metric *row,
                                  void *base) {
  int64_t age = 0;
  (void)mon_loop_healthy(base, &age);
  coin_jbuf_printf(b, "%s %.3f\n", row->name, (double)age / 1000.0);
}

static void global_alert_samples(struct coin_jbuf *b,
                                 const struct coin_prom_metric *row,
                                 void *base) {
  struct mon_global g[MON_MAX_GLOBALS];
  size_t n = mon_global_active(base, g, MON_MAX_GLOBALS);
  for (size_t i = 0; i < n; i++)
    coin_jbuf_printf(
        b, "%s{alertname=\"%s\",target=\"%s\",severity=\"%s\"} 1\n", row->name,
        g[i].alertname, g[i].target, coin_codec_severity_name(g[i].severity));
}

static void leader_block(struct coin_jbuf *b,
                         const struct coin_prom_metric *row, void *base) {
  (void)row;
  coin_leader_metrics(b, "monitor", ((struct monitor *)base)->leader);
}

/* Blocks the modules of their mechanisms write. */
static void module_blocks(struct coin_jbuf *b,
                          const struct coin_prom_metric *row, void *base) {
  (void)row;
  struct monitor *m = base;
  delivery_metrics(b, m);                    /* alert-miss accounting */
  probe_metrics(b, m->probe, coin_now_ms()); /* availability probe */
  champ_metrics(b, m->champ);                /* champion watch */
}

const struct coin_prom_metric monitor_metrics[] = {
    COUNTER(passes, "coin_monitor_passes_total", "Evaluation passes run."),
    COIN_PROM_FAMILY(COIN_PROM_HISTOGRAM, NULL, pass_samples,
                     "coin_monitor_pass_seconds",
                     "Duration of one evaluation pass over every series."),
    COIN_PROM_SCALED_AT(struct monitor, c.pass_us_last, 1e6,
                        "coin_monitor_pass_last_seconds",
                        "Duration of the last pass."),
    COIN_PROM_SCALED_AT(struct monitor, c.pass_us_max, 1e6,
                        "coin_monitor_pass_max_seconds",
                        "Longest pass since start."),
    COIN_PROM_FAMILY(COIN_PROM_GAUGE, "state", series_samples,
                     "coin_monitor_series", "Series by monitor state."),
    SERIES_GAUGE(degraded, "coin_monitor_series_degraded",
                 "Series whose prediction path is degraded."),
    SERIES_GAUGE(lagging, "coin_monitor_series_publish_lagging",
                 "Series whose site is behind the ingest watermark."),
    SERIES_GAUGE(max_lag, "coin_monitor_publish_lag_candles_max",
                 "Largest number of candles the site is behind the ingest "
                 "watermark."),
    SERIES_GAUGE(ahead, "coin_monitor_series_site_ahead_of_ingest",
                 "Series whose site shows candles beyond the ingest "
                 "watermark."),
    SERIES_GAUGE(active, "coin_monitor_alerts_active",
                 "Alert episodes firing now."),
    COIN_PROM_FAMILY(COIN_PROM_COUNTER, "to", transitions_samples,
                     "coin_monitor_transitions_total",
                     "State transitions by new state."),
    COUNTER(degraded_transitions, "coin_monitor_degraded_transitions_total",
            "Changes of the degraded flag."),
    COUNTER(alerts_queued, "coin_monitor_alerts_queued_total",
            "Alert messages produced by the state machine."),
    COUNTER(alerts_published, "coin_monitor_alerts_published_total",
            "Alert messages stored by stream COIN_ALERTS."),
    COUNTER(alerts_duplicate, "coin_monitor_alerts_duplicate_total",
            "Alert messages the stream already had (same Nats-Msg-Id)."),
    COUNTER(publish_errors, "coin_monitor_publish_errors_total",
            "Failed JetStream publishes (retried)."),
    COUNTER(status_published, "coin_monitor_status_published_total",
            "StatusTransition messages published."),
    COUNTER(kv_writes, "coin_monitor_state_writes_total",
            "State records written to KV coin_monitor."),
    COUNTER(kv_errors, "coin_monitor_state_write_errors_total",
            "Failed state record writes (retried)."),
    COIN_PROM_GAUGE_AT(
        struct monitor, c.outbox_depth, "coin_monitor_outbox_depth",
        "Jobs waiting for NATS (alerts, transitions, state records)."),
    COUNTER(outbox_dropped, "coin_monitor_outbox_dropped_total",
            "Jobs dropped because the outbox was full."),
    COUNTER(files_hashed, "coin_monitor_files_hashed_total",
            "Site files read and hashed (changed or re-verified)."),
    COUNTER(bytes_hashed, "coin_monitor_bytes_hashed_total", "Bytes hashed."),
    COUNTER(manifest_loads, "coin_monitor_manifest_loads_total",
            "Times manifest.json was read."),
    COUNTER(state_bad_records, "coin_monitor_state_bad_records_total",
            "Stored series states (KV coin_monitor state.*) that did not "
            "decode at start: ignored, the series starts afresh."),
    ACTIVATION_RETRIES,
    COUNTER(watermark_updates, "coin_monitor_watermark_updates_total",
            "Watermark changes seen on KV coin_watermarks."),
    COUNTER(status_file_errors, "coin_monitor_status_file_errors_total",
            "status.json writes that failed."),
    COIN_PROM_BLOCK(leader_block), /* coin_monitor_leader_* (leader.h) */
    COIN_PROM_COMPUTED(COIN_PROM_GAUGE, nats_connected,
                       "coin_monitor_nats_connected",
                       "1 when connected to NATS."),
    COIN_PROM_COMPUTED(
        COIN_PROM_GAUGE, nats_responsive, "coin_monitor_nats_responsive",
        "1 when the NATS server answered a round trip (a paused server "
        "keeps the socket connected)."),
    SINK_COUNTER(delivered, "coin_monitor_sink_delivered_total",
                 "Alerts a sink accepted (2xx), then acked."),
    SINK_COUNTER(attempts_failed, "coin_monitor_sink_failures_total",
                 "Failed delivery attempts."),
    SINK_COUNTER(dropped, "coin_monitor_sink_dropped_total",
                 "Alerts given up (undecodable, or refused with 4xx too "
                 "often)."),
    SINK_COUNTER(skipped, "coin_monitor_sink_skipped_total",
                 "Alerts older than a newly created sink consumer."),
    SINK_COUNTER(resends, "coin_monitor_sink_resends_total",
                 "Active alerts re-sent to Alertmanager (requests)."),
    SINK_COUNTER(watchdogs, "coin_monitor_sink_watchdog_total",
                 "Alertmanager refreshes that carried the Watchdog (dead-man "
                 "switch)."),
    COIN_PROM_FAMILY(
        COIN_PROM_GAUGE, "sink", sink_backlog_samples,
        "coin_monitor_sink_backlog",
        "Alerts not yet delivered to a sink (consumer pending + in "
        "flight)."),
    COIN_PROM_FAMILY(COIN_PROM_GAUGE, "sink", sink_last_success_samples,
                     "coin_monitor_sink_last_success_seconds",
                     "Unix time of the last delivery (0: none)."),
    COIN_PROM_COMPUTED(
        COIN_PROM_GAUGE, loop_healthy, "coin_monitor_evaluation_loop_healthy",
        "1 while passes complete within 3 periods + 30 s (Watchdog "
        "sent)."),
    COIN_PROM_FAMILY(COIN_PROM_GAUGE, NULL, last_pass_age_samples,
                     "coin_monitor_last_pass_age_seconds",
                     "Since the last evaluation pass ended."),
    COIN_PROM_FAMILY(COIN_PROM_GAUGE, "alertname,target,severity",
                     global_alert_samples, "coin_monitor_global_alert_active",
                     "Global alerts firing (alertname, target, severity)."),
    COIN_PROM_BLOCK(module_blocks), /* delivery.c, probe.c, champion.c */
};
const size_t monitor_metric_count = COIN_ARRAY_LEN(monitor_metrics);

/* A standby evaluates nothing: its leader metrics and activation tries. */
static const struct coin_prom_metric standby_metrics[] = {
    COIN_PROM_BLOCK(leader_block),
    ACTIVATION_RETRIES,
};

int metrics_text(char **out, struct monitor *m) {
  return coin_prom_text(out, monitor_metrics, monitor_metric_count, m);
}

/* ---- HTTP --------------------------------------------------------------- */

static bool influx_ok(struct monitor *m) {
  pthread_mutex_lock(&m->ix_lock);
  int64_t now = coin_mono_ms();
  if (m->ix_checked_ms == 0 || now - m->ix_checked_ms >= 1000) {
    m->ix_ok = m->ix && coin_influx_ping(m->ix) == 0;
    m->ix_checked_ms = now;
  }
  bool ok = m->ix_ok;
  pthread_mutex_unlock(&m->ix_lock);
  return ok;
}

static void respond_error(struct coin_httpd_response *resp, int status,
                          const char *msg) {
  struct coin_jbuf b = {0};
  char *text = NULL;
  size_t len = 0;
  coin_jbuf_putn(&b, "{", 1);
  coin_jbuf_kstr(&b, "error", msg);
  coin_jbuf_trim_comma(&b);
  coin_jbuf_putn(&b, "}\n", 2);
  if (coin_jbuf_finish(&text, &len, &b) == 0)
    coin_httpd_respond_take(resp, status, "application/json", text, len);
  else
    coin_httpd_respond(resp, 500, NULL, "out of memory\n", 14);
}

static void handle_series(struct monitor *m, const char *rest,
                          struct coin_httpd_response *resp) {
  char ex[64], sym[64], tfs[16];
  const char *a = rest, *b = strchr(a, '/');
  const char *c = b ? strchr(b + 1, '/') : NULL;
  if (!b || !c || strchr(c + 1, '/') || (size_t)(b - a) >= sizeof(ex) ||
      (size_t)(c - b - 1) >= sizeof(sym) || strlen(c + 1) >= sizeof(tfs)) {
    respond_error(resp, 404,
                  "no such path (rule: /status/<exchange>/"
                  "<symbol>/<timeframe>)");
    return;
  }
  snprintf(ex, sizeof(ex), "%.*s", (int)(b - a), a);
  snprintf(sym, sizeof(sym), "%.*s", (int)(c - b - 1), b + 1);
  snprintf(tfs, sizeof(tfs), "%s", c + 1);
  enum coin_tf tf;
  if (coin_exchange_validate(ex) != 0 || coin_symbol_validate(sym) != 0 ||
      coin_tf_parse(&tf, tfs) != 0) {
    respond_error(resp, 400, coin_error_last());
    return;
  }
  ssize_t k =
      strcmp(ex, m->cfg->core.exchange) == 0 ? mon_series_find(m, sym, tf) : -1;
  if (k < 0) {
    char msg[256];
    snprintf(msg, sizeof(msg), "series %.32s/%.32s/%.4s is not monitored", ex,
             sym, tfs);
    respond_error(resp, 404, msg);
    return;
  }
  if (!atomic_load(&m->evaluated)) {
    respond_error(resp, 503, "no evaluation yet");
    return;
  }
  struct coin_jbuf jb = {0};
  char *text = NULL;
  size_t len = 0;
  pthread_mutex_lock(&m->lock);
  status_series_json(&jb, m, &m->series[k], m->pass_now_ms);
  pthread_mutex_unlock(&m->lock);
  coin_jbuf_putn(&jb, "\n", 1);
  if (coin_jbuf_finish(&text, &len, &jb) != 0) {
    coin_httpd_respond(resp, 500, NULL, "out of memory\n", 14);
    return;
  }
  coin_httpd_respond_take(resp, 200, "application/json", text, len);
}

/* A standby (or a replica still starting its active part) evaluates
 * nothing: alive, ready to take over when NATS answers, and its leader
 * metrics; the rest belongs to the active replica. */
static void handle_standby(struct monitor *m, const char *path,
                           struct coin_httpd_response *resp) {
  enum coin_leader_role role = coin_leader_role(m->leader);
  if (!strcmp(path, "/metrics")) {
    struct coin_jbuf b = {0};
    char *text = NULL;
    size_t len = 0;
    coin_prom_render(&b, standby_metrics, COIN_ARRAY_LEN(standby_metrics), m);
    if (coin_jbuf_finish(&text, &len, &b) != 0) {
      coin_httpd_respond(resp, 500, NULL, "metrics unavailable\n", 20);
      return;
    }
    coin_httpd_respond_take(resp, 200, "text/plain; version=0.0.4", text, len);
    return;
  }
  if (!strcmp(path, "/healthz") || !strcmp(path, "/readyz")) {
    bool nats = coin_bus_responsive(m->bus, COIN_BUS_READY_TIMEOUT_MS,
                                    COIN_BUS_READY_CACHE_MS, NULL);
    /* holding the lease but not started yet (activate() retrying): not
     * ready, and said so */
    bool activating = role == COIN_LEADER_ACTIVE;
    bool ok = !strcmp(path, "/healthz") || (nats && !activating);
    coin_httpd_respond_printf(resp, ok ? 200 : 503, "application/json",
                              "{\"role\":\"%s\",\"nats\":%s}\n",
                              activating ? "activating"
                                         : coin_leader_role_name(role),
                              nats ? "true" : "false");
    return;
  }
  respond_error(resp, 503,
                "standby: the active replica evaluates (see its /status)");
}

void endpoints_handle(void *ctx, const struct coin_httpd_request *req,
                      struct coin_httpd_response *resp) {
  struct monitor *m = ctx;
  const char *path = coin_httpd_request_path(req);
  const char *method = coin_httpd_request_method(req);
  bool series = strncmp(path, "/status/", 8) == 0;
  bool known = series || !strcmp(path, "/status") ||
               !strcmp(path, "/metrics") || !strcmp(path, "/healthz") ||
               !strcmp(path, "/readyz");
  if (!known) {
    respond_error(resp, 404,
                  "no such path (see /status, /metrics, /healthz, "
                  "/readyz)");
    return;
  }
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
    coin_httpd_response_header(resp, "Allow", "GET, HEAD");
    respond_error(resp, 405, "method not allowed (rule: GET or HEAD)");
    return;
  }
  if (!atomic_load(&m->activated)) {
    handle_standby(m, path, resp);
    return;
  }
  if (series) {
    handle_series(m, path + 8, resp);
    return;
  }
  if (!strcmp(path, "/status")) {
    char *text = NULL;
    size_t len = 0;
    if (!atomic_load(&m->evaluated)) {
      respond_error(resp, 503, "no evaluation yet");
      return;
    }
    pthread_mutex_lock(&m->lock);
    int rc = status_build(&text, &len, m);
    pthread_mutex_unlock(&m->lock);
    if (rc != 0) {
      coin_httpd_respond(resp, 500, NULL, "out of memory\n", 14);
      return;
    }
    coin_httpd_respond_take(resp, 200, "application/json", text, len);
    return;
  }
  if (!strcmp(path, "/metrics")) {
    char *text = NULL;
    if (metrics_text(&text, m) != 0) {
      coin_httpd_respond(resp, 500, NULL, "metrics unavailable\n", 20);
      return;
    }
    coin_httpd_respond_take(resp, 200, "text/plain; version=0.0.4", text,
                            strlen(text));
    return;
  }
  if (!strcmp(path, "/healthz")) {
    /* alive = the pass loop keeps passing */
    int64_t age = 0;
    bool ok = mon_loop_healthy(m, &age);
    coin_httpd_respond_printf(
        resp, ok ? 200 : 503, "application/json",
        "{\"status\":\"%s\",\"passes\":%llu,\"last_pass_age_ms\":%lld}\n",
        ok ? "ok" : "stalled", (unsigned long long)atomic_load(&m->c.passes),
        (long long)age);
    return;
  }
  /* ready = NATS and InfluxDB reachable, evaluated once, and the loop is
   * not stuck (never takes m->lock: a stuck pass holds it) */
  int64_t age = 0;
  bool loop = mon_loop_healthy(m, &age);
  bool nats = coin_bus_responsive(m->bus, COIN_BUS_READY_TIMEOUT_MS,
                                  COIN_BUS_READY_CACHE_MS, NULL);
  bool influx = influx_ok(m);
  bool evaluated = atomic_load(&m->evaluated);
  bool ready = nats && influx && evaluated && loop;
  coin_httpd_respond_printf(
      resp, ready ? 200 : 503, "application/json",
      "{\"role\":\"%s\",\"ready\":%s,\"nats\":%s,\"influx\":%s,"
      "\"evaluated\":%s,"
      "\"evaluation_loop\":\"%s\",\"last_pass_age_ms\":%lld}\n",
      coin_leader_role_name(coin_leader_role(m->leader)),
      ready ? "true" : "false", nats ? "true" : "false",
      influx ? "true" : "false", evaluated ? "true" : "false",
      loop ? "ok" : "stuck", (long long)age);
}
