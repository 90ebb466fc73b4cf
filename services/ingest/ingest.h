/*
 * ingest.h: coin-ingest keeps InfluxDB holding every closed, valid candle the
 * exchange has for each configured symbol+timeframe, and for each batch does
 * (1) write InfluxDB, (2) advance the ingest watermark in KV by CAS,
 * (3) publish the CandleBatch on NATS. See docs/ingest.md.
 * Threads: ingest_run's thread dispatches rounds of due series to a pool of
 * workers (sched.c), each with its own exchange handle and InfluxDB client;
 * operator refills run on a control thread; the bus connection and the
 * counters are shared (atomics / locks inside).
 * ingest_request_stop is async-signal-safe.
 */
#ifndef COIN_INGEST_INGEST_H
#define COIN_INGEST_INGEST_H

#include <stdbool.h>
#include <stdint.h>

#include "coin/config.h"
#include "coin/prom.h"

struct ingest_config {
  struct coin_config core;
  struct coin_cfg_tf_list full_fill_timeframes;
  int64_t lookback_days;
  int64_t retention_1m_days;
  int64_t gap_window_candles;
  int64_t gap_recheck_seconds;
  int64_t invalid_recheck_seconds;
  int64_t parallel;
  int64_t weight_limit;
  int64_t member_ttl_seconds; /* a silent replica is gone after it */
  int64_t boundary_delay_ms;
  int64_t retry_seconds;
  int64_t series_deadline_seconds;
  int64_t cycle_budget_seconds;
  int64_t max_retries;
  int64_t backfill_log_seconds;
  int64_t exchange_timeout_ms;
  bool check_symbols;
  int64_t max_cycles; /* 0 = forever; tests and benchmarks stop after N */
};

extern const struct coin_cfg_var ingest_config_vars[];
extern const size_t ingest_config_var_count;

/* Loads core + ingest variables; all problems in errs (one line each). */
int ingest_config_load(struct ingest_config *out, const struct coin_env *env,
                       struct coin_cfg_errors *errs);
void ingest_config_free(struct ingest_config *cfg);
int ingest_config_to_json(char **out, const struct ingest_config *cfg);

struct ingest;

/* Connects to InfluxDB, NATS and the exchange, ensures the database, the 1m
 * retention policy, the stream and the KV buckets, checks the symbols at the
 * exchange, starts /metrics. A failure is returned with its one-line reason;
 * COIN_ENOTFOUND means a symbol the exchange does not list (a config error).
 * cfg must outlive the ingest object. */
int ingest_new(struct ingest **out, const struct ingest_config *cfg);
/* Dispatches rounds until ingest_request_stop (or max_cycles rounds, then
 * waits until they end). */
int ingest_run(struct ingest *in);
void ingest_request_stop(struct ingest *in);
void ingest_free(struct ingest *in);

/* The /metrics table (metrics.c): rendered by coin_prom_render, printed by
 * --metrics-doc (docs/metrics.md). */
extern const struct coin_prom_metric ingest_metrics[];
extern const size_t ingest_metric_count;

#endif
