/*
 * publish.h: coin-publish turns the candle stream into the static site. It
 * consumes CandleBatch messages from a durable JetStream pull consumer in
 * order, never exposes a candle beyond the ingest watermark, reconciles holes
 * from InfluxDB, and writes history.json, prediction.json and (last)
 * manifest.json atomically; it acknowledges a message only after its files
 * are on disk and the publish watermark advanced. See docs/publish.md.
 * Threads: publish_run's thread does all the work (bus, InfluxDB, serving,
 * files); the HTTP server's threads only read atomics and a snapshot under a
 * lock. publish_request_stop is async-signal-safe.
 */
#ifndef COIN_PUBLISH_PUBLISH_H
#define COIN_PUBLISH_PUBLISH_H

#include <stdbool.h>
#include <stdint.h>

#include "coin/config.h"
#include "coin/freshness.h"
#include "coin/prom.h"
#include "coin/timeframe.h"

struct publish_config {
  struct coin_config core;
  struct coin_freshness_settings freshness;
  char *durable;
  int64_t fetch_batch;
  int64_t ack_wait_seconds;
  int64_t reconcile_after_seconds;
  int64_t reevaluate_seconds;
  int64_t lease_seconds; /* leader lease: one active replica */
  int64_t model_check_seconds;
  int64_t history_candles[COIN_TF_COUNT];
  int64_t read_chunk_candles;
  int64_t max_series;
  bool unconfigured_series;
  int64_t cache_max_age_seconds;
  int64_t model_max_age_hours;
  bool serve_unevaluated;
  int64_t track_record_rows;
  int64_t champion_min_series_rows; /* champion_underperforming (track.c) */
  int data_source;                  /* 0 live, 1 recorded */
};

extern const struct coin_cfg_var publish_config_vars[];
extern const size_t publish_config_var_count;

/* Loads core + freshness + publish variables; all problems in errs. */
int publish_config_load(struct publish_config *out, const struct coin_env *env,
                        struct coin_cfg_errors *errs);
void publish_config_free(struct publish_config *cfg);
int publish_config_to_json(char **out, const struct publish_config *cfg);

struct publish;

/* Connects to NATS and InfluxDB, ensures the stream, the KV bucket and the
 * durable consumer, starts the HTTP endpoints. No files are written yet.
 * cfg must outlive the object. */
int publish_new(struct publish **out, const struct publish_config *cfg);
/* Rebuilds every configured series from InfluxDB (bounded by the ingest
 * watermarks), writes the whole site, then consumes until
 * publish_request_stop. Returns 0 after a clean stop. */
int publish_run(struct publish *p);
void publish_request_stop(struct publish *p);
void publish_free(struct publish *p);

/* The /metrics table (metrics.c): rendered by coin_prom_render, printed by
 * --metrics-doc (docs/metrics.md). */
extern const struct coin_prom_metric publish_metrics[];
extern const size_t publish_metric_count;

#endif
