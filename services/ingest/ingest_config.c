/* ingest_config.c: coin-ingest's own variables (the core ones are shared). */
#include "ingest.h"

#include "coin/error.h"

#include <stddef.h>
#include <stdlib.h>

#define F(field) offsetof(struct ingest_config, field)

const struct coin_cfg_var ingest_config_vars[] = {
    {.name = "INGEST_FULL_FILL_TIMEFRAMES",
     .type = COIN_CFG_TF_LIST,
     .def = "1h,1d,1w,1M",
     .offset = F(full_fill_timeframes),
     .rule = "1m is never full-filled",
     .doc = "Timeframes filled from the symbol's first candle (asked from the "
            "exchange from time 0); others start INGEST_LOOKBACK_DAYS back."},
    {.name = "INGEST_LOOKBACK_DAYS",
     .type = COIN_CFG_INT,
     .def = "30",
     .offset = F(lookback_days),
     .min = 1,
     .max = 36500,
     .doc = "First-start history for timeframes that are not full-filled "
            "(1m: capped by its retention)."},
    {.name = "INGEST_1M_RETENTION_DAYS",
     .type = COIN_CFG_INT,
     .def = "7",
     .offset = F(retention_1m_days),
     .min = 1,
     .max = 3650,
     .doc = "Duration of the InfluxDB retention policy rp_1m that holds 1m "
            "candles (rolling window)."},
    {.name = "INGEST_GAP_WINDOW_CANDLES",
     .type = COIN_CFG_INT,
     .def = "1000",
     .offset = F(gap_window_candles),
     .min = 10,
     .max = 1000000,
     .doc = "Gap detection compares this many expected candles back from the "
            "watermark with what InfluxDB holds, every cycle."},
    {.name = "INGEST_GAP_RECHECK_SECONDS",
     .type = COIN_CFG_INT,
     .def = "3600",
     .offset = F(gap_recheck_seconds),
     .min = 1,
     .max = 86400 * 30,
     .doc = "First re-check delay of a known gap (the exchange had no data); "
            "doubles per empty answer, up to 7 days."},
    {.name = "INGEST_INVALID_RECHECK_SECONDS",
     .type = COIN_CFG_INT,
     .def = "60",
     .offset = F(invalid_recheck_seconds),
     .min = 1,
     .max = 86400,
     .doc = "First re-check delay of a hole left by an invalid row (often "
            "transient: served correctly on the next request); doubles per "
            "attempt up to INGEST_GAP_RECHECK_SECONDS, then as a known gap."},
    {.name = "INGEST_PARALLEL",
     .type = COIN_CFG_INT,
     .def = "4",
     .offset = F(parallel),
     .min = 1,
     .max = 64,
     .doc = "Series fetched in parallel (each worker has its own exchange "
            "connection and InfluxDB client), within the weight budget."},
    {.name = "INGEST_MEMBER_TTL_SECONDS",
     .type = COIN_CFG_INT,
     .def = "15",
     .offset = F(member_ttl_seconds),
     .min = 3,
     .max = 600,
     .doc = "Replicas share the series through heartbeats in KV coin_ingest "
            "(every third of this); a replica silent this long is gone and "
            "its series are taken over (docs/scaling.md)."},
    {.name = "EXCHANGE_WEIGHT_LIMIT",
     .type = COIN_CFG_INT,
     .def = "6000",
     .offset = F(weight_limit),
     .min = 10,
     .max = 1000000,
     .doc = "Request weight per minute the exchange allows (Binance: 6000) "
            "for all replicas behind one address; ingest keeps 10% in "
            "reserve and each of N live replicas uses at most 1/N of the "
            "rest."},
    {.name = "INGEST_BOUNDARY_DELAY_MS",
     .type = COIN_CFG_INT,
     .def = "1500",
     .offset = F(boundary_delay_ms),
     .min = 0,
     .max = 600000,
     .doc = "Boundary mode wakes this long after a UTC candle boundary, so "
            "the exchange has closed the candle."},
    {.name = "INGEST_RETRY_SECONDS",
     .type = COIN_CFG_INT,
     .def = "15",
     .offset = F(retry_seconds),
     .min = 1,
     .max = 3600,
     .doc = "After a cycle that left work undone (errors, rate limits), the "
            "next one starts at most this long after."},
    {.name = "INGEST_SERIES_DEADLINE_SECONDS",
     .type = COIN_CFG_INT,
     .def = "20",
     .offset = F(series_deadline_seconds),
     .min = 0,
     .max = 86400,
     .doc = "One series' sync holds a worker at most this long: exchange "
            "requests and retries stop at it, and a longer fill continues "
            "as the next slice at the back of the queue (0 = no deadline)."},
    {.name = "INGEST_CYCLE_BUDGET_SECONDS",
     .type = COIN_CFG_INT,
     .def = "0",
     .def_doc = "= WORKER_CYCLE_SECONDS",
     .offset = F(cycle_budget_seconds),
     .min = 0,
     .max = 86400,
     .doc = "A cycle longer than this is an overrun (runtime_metrics.json)."},
    {.name = "EXCHANGE_MAX_RETRIES",
     .type = COIN_CFG_INT,
     .def = "4",
     .offset = F(max_retries),
     .min = 0,
     .max = 20,
     .doc = "Retries of one exchange request on 5xx, timeouts and malformed "
            "bodies (exponential backoff with jitter)."},
    {.name = "EXCHANGE_TIMEOUT_MS",
     .type = COIN_CFG_INT,
     .def = "15000",
     .offset = F(exchange_timeout_ms),
     .min = 100,
     .max = 600000,
     .doc = "Timeout of one exchange request."},
    {.name = "INGEST_BACKFILL_LOG_SECONDS",
     .type = COIN_CFG_INT,
     .def = "5",
     .offset = F(backfill_log_seconds),
     .min = 1,
     .max = 3600,
     .doc = "Backfill progress is logged per symbol+timeframe at most this "
            "often (done/total and rate)."},
    {.name = "INGEST_CHECK_SYMBOLS",
     .type = COIN_CFG_BOOL,
     .def = "true",
     .offset = F(check_symbols),
     .doc = "At start, ask the exchange whether every symbol exists; an "
            "unknown one is a start-up error."},
    {.name = "INGEST_MAX_CYCLES",
     .type = COIN_CFG_INT,
     .def = "0",
     .offset = F(max_cycles),
     .min = 0,
     .max = INT64_MAX,
     .doc = "Stop after this many cycles (0 = run until SIGTERM); for "
            "benchmarks and tests."},
};
const size_t ingest_config_var_count = COIN_ARRAY_LEN(ingest_config_vars);

int ingest_config_load(struct ingest_config *out, const struct coin_env *env,
                       struct coin_cfg_errors *errs) {
  struct ingest_config cfg = {0};
  int before = errs->count;
  coin_config_load(&cfg.core, COIN_CFG_INGEST, env, errs);
  coin_cfg_load(&cfg, ingest_config_vars, ingest_config_var_count, env, errs);
  for (size_t i = 0; i < cfg.full_fill_timeframes.n; i++)
    if (cfg.full_fill_timeframes.tfs[i] == COIN_TF_1M)
      coin_cfg_errors_add(
          errs, "INGEST_FULL_FILL_TIMEFRAMES: 1m is never full-filled "
                "(rule: 1m keeps a rolling window of "
                "INGEST_1M_RETENTION_DAYS)");
  if (cfg.cycle_budget_seconds == 0)
    cfg.cycle_budget_seconds = cfg.core.worker_cycle_seconds;
  if (errs->count > before) {
    ingest_config_free(&cfg);
    return coin_error_set(COIN_EINVAL, "%d configuration problem(s)",
                          errs->count - before);
  }
  *out = cfg;
  return 0;
}

void ingest_config_free(struct ingest_config *cfg) {
  coin_config_free(&cfg->core);
  coin_cfg_free(cfg, ingest_config_vars, ingest_config_var_count);
}

int ingest_config_to_json(char **out, const struct ingest_config *cfg) {
  struct coin_cfg_var core[COIN_CONFIG_MAX_VARS];
  struct coin_cfg_part parts[] = {
      {&cfg->core, core, coin_config_rows(core, COIN_CFG_INGEST)},
      {cfg, ingest_config_vars, ingest_config_var_count},
  };
  return coin_cfg_to_json(out, parts, 2);
}
