/* publish_config.c: coin-publish's own variables (core and freshness ones
 * are shared with the other services). Documented in docs/publish.md. */
#include "publish.h"

#include "coin/error.h"

#include <stddef.h>
#include <stdlib.h>

#define F(field) offsetof(struct publish_config, field)
#define HIST(tfname, idx, dflt)                                                \
  {                                                                            \
    .name = "PUBLISH_HISTORY_CANDLES_" tfname, .type = COIN_CFG_INT,           \
    .def = dflt,                                                               \
    .offset = F(history_candles) + (size_t)(idx) * sizeof(int64_t), .min = 1,  \
    .max = 10000,                                                              \
    .doc = "Candle slots of a " tfname " series in history.json (the window "  \
           "ends at the publish watermark)."                                   \
  }

static int check_durable(const char *text) {
  return coin_cfg_check_service_id(text);
}

static const char *const data_source_choices[] = {"live", "recorded", NULL};

const struct coin_cfg_var publish_config_vars[] = {
    {.name = "PUBLISH_DURABLE",
     .type = COIN_CFG_STRING,
     .def = "coin-publish",
     .offset = F(durable),
     .check = check_durable,
     .rule = "[A-Za-z0-9_-]{1,64}",
     .doc = "Durable JetStream consumer on COIN_CANDLES. Replicas that each "
            "write their own copy of the site need distinct names."},
    {.name = "PUBLISH_FETCH_BATCH",
     .type = COIN_CFG_INT,
     .def = "256",
     .offset = F(fetch_batch),
     .min = 1,
     .max = 1024,
     .doc = "Messages fetched at once; a fetched batch is processed in order "
            "and its files are written once."},
    {.name = "PUBLISH_ACK_WAIT_SECONDS",
     .type = COIN_CFG_INT,
     .def = "60",
     .offset = F(ack_wait_seconds),
     .min = 5,
     .max = 3600,
     .doc = "A message not acknowledged within this time is redelivered."},
    {.name = "PUBLISH_RECONCILE_AFTER_SECONDS",
     .type = COIN_CFG_INT,
     .def = "30",
     .offset = F(reconcile_after_seconds),
     .min = 1,
     .max = 86400,
     .doc = "When the ingest watermark stays ahead of the publish watermark "
            "this long without a batch, the missing range is read from "
            "InfluxDB."},
    {.name = "PUBLISH_REEVALUATE_SECONDS",
     .type = COIN_CFG_INT,
     .def = "5",
     .offset = F(reevaluate_seconds),
     .min = 1,
     .max = 3600,
     .doc = "Period of the freshness re-evaluation; series whose status "
            "changed are rewritten."},
    {.name = "PUBLISH_LEASE_SECONDS",
     .type = COIN_CFG_INT,
     .def = "10",
     .offset = F(lease_seconds),
     .min = 2,
     .max = 300,
     .doc = "Leader lease (KV coin_locks/publish.<PUBLISH_DURABLE>): one "
            "replica writes the "
            "site, the others stand by; a standby takes over at most this "
            "long after the active one died (docs/scaling.md)."},
    {.name = "PUBLISH_MODEL_CHECK_SECONDS",
     .type = COIN_CFG_INT,
     .def = "30",
     .offset = F(model_check_seconds),
     .min = 1,
     .max = 86400,
     .doc = "Period of the model registry refresh; predictions that changed "
            "are rewritten."},
    HIST("1m", COIN_TF_1M, "1440"),
    HIST("1h", COIN_TF_1H, "500"),
    HIST("1d", COIN_TF_1D, "365"),
    HIST("1w", COIN_TF_1W, "260"),
    HIST("1M", COIN_TF_1MO, "120"),
    {.name = "PUBLISH_READ_CHUNK_CANDLES",
     .type = COIN_CFG_INT,
     .def = "1000",
     .offset = F(read_chunk_candles),
     .min = 10,
     .max = 100000,
     .doc = "Rows per chunk of the streamed InfluxDB reads (rebuild, "
            "reconcile)."},
    {.name = "PUBLISH_MAX_SERIES",
     .type = COIN_CFG_INT,
     .def = "10000",
     .offset = F(max_series),
     .min = 1,
     .max = 100000,
     .doc = "Cap on series held (configured plus seen on the stream)."},
    {.name = "PUBLISH_UNCONFIGURED_SERIES",
     .type = COIN_CFG_BOOL,
     .def = "true",
     .offset = F(unconfigured_series),
     .doc = "Also publish valid series of EXCHANGE seen on the stream but not "
            "in SYMBOLS x INGEST_TIMEFRAMES, once coin-ingest ingests them "
            "(their ingest watermark exists)."},
    {.name = "PUBLISH_CACHE_MAX_AGE_SECONDS",
     .type = COIN_CFG_INT,
     .def = "3600",
     .offset = F(cache_max_age_seconds),
     .min = 1,
     .max = 31536000,
     .doc = "Upper bound of the max-age the manifest suggests for a fresh "
            "file (otherwise: until the next candle boundary)."},
    {.name = "PUBLISH_MODEL_MAX_AGE_HOURS",
     .type = COIN_CFG_INT,
     .def = "0",
     .offset = F(model_max_age_hours),
     .min = 0,
     .max = 87600,
     .doc = "A champion older than this marks predictions degraded "
            "model_too_old (0 = no limit)."},
    {.name = "PUBLISH_SERVE_UNEVALUATED",
     .type = COIN_CFG_BOOL,
     .def = "false",
     .offset = F(serve_unevaluated),
     .doc = "Also serve predictions on timeframes the champion was not "
            "walk-forward evaluated on (prediction_status not_evaluated "
            "otherwise; the page then says so)."},
    {.name = "PUBLISH_TRACK_RECORD_ROWS",
     .type = COIN_CFG_INT,
     .def = "48",
     .offset = F(track_record_rows),
     .min = 1,
     .max = 1000,
     .doc = "Newest predictions listed with their realized candles in "
            "track_record.json (its windows use every row of the last 30 "
            "days)."},
    /* champion_underperforming on the site (track.c) */
    {.name = "PUBLISH_CHAMPION_MIN_SERIES_ROWS",
     .type = COIN_CFG_INT,
     .def = "100",
     .offset = F(champion_min_series_rows),
     .min = 2,
     .max = 100000000,
     .doc = "A series' prediction is marked degraded champion_underperforming "
            "when the current champion's realized rows of its 7d track "
            "record window, at least this many, are significantly worse "
            "than persistence (the monitor's rule, "
            "MONITOR_CHAMPION_MIN_SERIES_ROWS)."},
    {.name = "SITE_DATA_SOURCE",
     .type = COIN_CFG_ENUM,
     .def = "live",
     .offset = F(data_source),
     .choices = data_source_choices,
     .doc = "What the candles are, as manifest.json data_source.kind: live "
            "(an exchange) or recorded (replayed recordings, e.g. the "
            "demo's replay exchange); the page shows a banner for "
            "recorded."},
};
const size_t publish_config_var_count = COIN_ARRAY_LEN(publish_config_vars);

int publish_config_load(struct publish_config *out, const struct coin_env *env,
                        struct coin_cfg_errors *errs) {
  struct publish_config cfg = {0};
  int before = errs->count;
  coin_config_load(&cfg.core, COIN_CFG_PUBLISH, env, errs);
  coin_cfg_load(&cfg.freshness, coin_freshness_vars, coin_freshness_var_count,
                env, errs);
  coin_cfg_load(&cfg, publish_config_vars, publish_config_var_count, env, errs);
  if (errs->count == before) {
    struct coin_freshness_policy pol;
    if (coin_freshness_policy_from(&pol, &cfg.freshness) != 0)
      coin_cfg_errors_add(errs, "%s", coin_error_last());
  }
  if (errs->count > before) {
    publish_config_free(&cfg);
    return coin_error_set(COIN_EINVAL, "%d configuration problem(s)",
                          errs->count - before);
  }
  *out = cfg;
  return 0;
}

void publish_config_free(struct publish_config *cfg) {
  coin_config_free(&cfg->core);
  coin_cfg_free(&cfg->freshness, coin_freshness_vars, coin_freshness_var_count);
  coin_cfg_free(cfg, publish_config_vars, publish_config_var_count);
}

int publish_config_to_json(char **out, const struct publish_config *cfg) {
  struct coin_cfg_var core[COIN_CONFIG_MAX_VARS];
  struct coin_cfg_part parts[] = {
      {&cfg->core, core, coin_config_rows(core, COIN_CFG_PUBLISH)},
      {&cfg->freshness, coin_freshness_vars, coin_freshness_var_count},
      {cfg, publish_config_vars, publish_config_var_count},
  };
  return coin_cfg_to_json(out, parts, 3);
}
