/*
 * monitor.h: coin-monitor watches every configured symbol+timeframe from
 * three viewpoints (ingest watermark, publish watermark, the static site
 * users see), runs one state machine per series with escalation, persists
 * it in KV coin_monitor, publishes transitions (coin.status.>) and alerts
 * (JetStream COIN_ALERTS) and delivers alerts to webhook, Slack and
 * Alertmanager sinks. See docs/monitor.md.
 * Threads: monitor_run's thread evaluates; an outbox thread publishes to
 * NATS; one thread per sink delivers; a KV watch thread feeds watermarks;
 * httpd threads serve /status, /metrics, /healthz, /readyz.
 * monitor_request_stop is async-signal-safe.
 */
#ifndef COIN_MONITOR_MONITOR_H
#define COIN_MONITOR_MONITOR_H

#include <stdbool.h>
#include <stdint.h>

#include "coin/config.h"
#include "coin/freshness.h"
#include "coin/prom.h"

struct monitor_config {
  struct coin_config core;
  struct coin_freshness_settings fresh;
  struct coin_freshness_policy policy; /* from fresh (computed at load) */
  int64_t eval_seconds;
  int64_t lease_seconds; /* leader lease: one active replica */
  int64_t soft_escalate_seconds;
  int64_t hard_escalate_seconds;
  int64_t repeat_seconds;
  int64_t bootstrap_seconds;
  char *webhook_urls; /* comma lists; NULL = none */
  char *webhook_secret;
  char *slack_urls;
  char *alertmanager_urls;
  int64_t sink_timeout_ms;
  int64_t retry_base_ms;
  int64_t retry_max_seconds;
  int64_t give_up_4xx_attempts;
  int64_t am_resend_seconds;
  int64_t verify_seconds;
  int64_t corrupt_grace_ms;
  int64_t max_file_bytes;
  int64_t alert_max_age_hours;
  bool status_file;
  char *site_url; /* public base URL of the site ("/"-terminated); NULL */
  /* receivers */
  char *public_url;       /* the monitor's public base ("/"-terminated); NULL */
  int64_t slack_group_ms; /* Slack incident wave window */
  int64_t max_passes;     /* 0 = forever; tests and benchmarks stop after N */
  int64_t delivery_deadline_seconds; /* alert-miss accounting (delivery.c) */
  /* availability probe (probe.c) */
  int64_t probe_interval_seconds;
  double probe_slo;
  /* champion watch (champion.c) */
  int64_t champ_check_seconds; /* 0 = off */
  int64_t champ_window_hours;
  int64_t champ_min_rows;
  int64_t champ_min_series_rows;
  int64_t champ_max_rows;
  int64_t champ_retrain_series;
  int64_t champ_max_series_alerts;
};

extern const struct coin_cfg_var monitor_config_vars[];
extern const size_t monitor_config_var_count;

/* Loads core, freshness and monitor variables; all problems in errs. */
int monitor_config_load(struct monitor_config *out, const struct coin_env *env,
                        struct coin_cfg_errors *errs);
void monitor_config_free(struct monitor_config *cfg);
int monitor_config_to_json(char **out, const struct monitor_config *cfg);

struct monitor;

/* Connects to NATS (stream COIN_ALERTS, KV coin_watermarks and
 * coin_monitor), loads the persisted states, starts the outbox, the sinks,
 * the watermark watch and the HTTP listener. cfg must outlive the monitor. */
int monitor_new(struct monitor **out, const struct monitor_config *cfg);
/* Evaluates every MONITOR_EVAL_SECONDS and on watermark changes until
 * monitor_request_stop (or max_passes); then flushes the outbox (bounded). */
int monitor_run(struct monitor *m);
void monitor_request_stop(struct monitor *m);
void monitor_free(struct monitor *m);

/* The /metrics table (endpoints.c): rendered by coin_prom_render, printed by
 * --metrics-doc (docs/metrics.md). */
extern const struct coin_prom_metric monitor_metrics[];
extern const size_t monitor_metric_count;

#endif
