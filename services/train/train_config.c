/* train_config.c: coin-train's own variables (the core ones are shared). */
#include "train.h"

#include "coin/candle.h"
#include "coin/error.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#ifndef COIN_GIT_REVISION
#define COIN_GIT_REVISION "unknown"
#endif

#define F(field) offsetof(struct train_config, field)

static const char *const kinds[] = {"ridge", "xgboost", NULL};
static const char *const windows[] = {"expanding", "rolling", NULL};
static const char *const policies[] = {"always", "age", "new_data",
                                       "age_or_new_data", NULL};

static int check_revision(const char *t) {
  size_t n = strlen(t);
  if (n > 64)
    return coin_error_set(COIN_EINVAL, "longer than 64 characters");
  for (size_t i = 0; i < n; i++) {
    char c = t[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '+' ||
          c == '-'))
      return coin_error_set(COIN_EINVAL, "character %zu '%c' not allowed", i,
                            c);
  }
  return 0;
}

const struct coin_cfg_var train_config_vars[] = {
    {.name = "TRAIN_MODEL_KIND",
     .type = COIN_CFG_ENUM,
     .def = "xgboost",
     .offset = F(kind),
     .choices = kinds,
     .doc = "Model kind coin-train fits (`--kind` overrides)."},
    {.name = "TRAIN_SYMBOLS",
     .type = COIN_CFG_STR_LIST,
     .def_doc = "= `SYMBOLS`",
     .offset = F(symbols),
     .max = 1000,
     .check = coin_symbol_validate,
     .rule = "[A-Z0-9][A-Z0-9_-]{0,31}",
     .doc = "Symbols whose SoT candles train the one shared model."},
    {.name = "TRAIN_TIMEFRAMES",
     .type = COIN_CFG_TF_LIST,
     .def_doc = "= `INGEST_TIMEFRAMES`",
     .offset = F(timeframes),
     .doc = "Timeframes pooled into the one shared model."},
    {.name = "TRAIN_MEMORY_BUDGET_MB",
     .type = COIN_CFG_INT,
     .def = "256",
     .offset = F(memory_budget_mb),
     .min = 32,
     .max = 1048576,
     .doc = "Peak memory the job plans for; beyond it the oldest rows are "
            "left out (said in the metadata: data.rows_dropped_budget)."},
    {.name = "TRAIN_READ_CHUNK_CANDLES",
     .type = COIN_CFG_INT,
     .def = "10000",
     .offset = F(read_chunk_candles),
     .min = 100,
     .max = 1000000,
     .doc = "Candles per InfluxDB read (one time window of one series)."},
    {.name = "TRAIN_WF_FOLDS",
     .type = COIN_CFG_INT,
     .def = "4",
     .offset = F(wf_folds),
     .min = 1,
     .max = 20,
     .doc = "Scored walk-forward folds (after one warm-up fold that seeds "
            "the calibration)."},
    {.name = "TRAIN_WF_TEST_FRACTION",
     .type = COIN_CFG_DOUBLE,
     .def = "0.5",
     .offset = F(wf_test_fraction),
     .dmin = 0.05,
     .dmax = 0.9,
     .doc = "Share of the newest rows in the warm-up + scored folds."},
    {.name = "TRAIN_WF_WINDOW",
     .type = COIN_CFG_ENUM,
     .def = "expanding",
     .offset = F(wf_window),
     .choices = windows,
     .doc = "Walk-forward training window: all earlier rows, or a rolling "
            "window of the first fold's size."},
    {.name = "TRAIN_LOCK_TTL_SECONDS",
     .type = COIN_CFG_INT,
     .def = "600",
     .offset = F(lock_ttl_seconds),
     .min = 5,
     .max = 86400,
     .doc = "Lease of the lock coin_locks/train, renewed every third of it; "
            "a crashed holder's lock is free after it."},
    {.name = "TRAIN_RETRAIN_POLICY",
     .type = COIN_CFG_ENUM,
     .def = "always",
     .offset = F(retrain_policy),
     .choices = policies,
     .doc = "When `coin-train train` really trains (with a champion): "
            "always, when the champion is older than "
            "TRAIN_RETRAIN_MAX_AGE_HOURS, when TRAIN_RETRAIN_MIN_NEW_CANDLES "
            "arrived after its newest trained candle, or either."},
    {.name = "TRAIN_RETRAIN_MAX_AGE_HOURS",
     .type = COIN_CFG_INT,
     .def = "168",
     .offset = F(retrain_max_age_hours),
     .min = 1,
     .max = 87600,
     .doc = "Champion age that makes a retrain due (policy age)."},
    {.name = "TRAIN_RETRAIN_MIN_NEW_CANDLES",
     .type = COIN_CFG_INT,
     .def = "168",
     .offset = F(retrain_min_new_candles),
     .min = 1,
     .max = INT64_MAX,
     .doc = "Candles (all training series together) opened after the "
            "model's newest trained candle that make a retrain due (policy "
            "new_data)."},
    {.name = "TRAIN_RIDGE_ALPHA",
     .type = COIN_CFG_DOUBLE,
     .def = "1.0",
     .offset = F(ridge_alpha),
     .dmin = 0,
     .dmax = 1e6,
     .doc = "Ridge penalty per row on standardized features."},
    {.name = "TRAIN_XGB_ROUNDS",
     .type = COIN_CFG_INT,
     .def = "150",
     .offset = F(xgb_rounds),
     .min = 1,
     .max = 5000,
     .doc = "XGBoost boosting rounds (trees)."},
    {.name = "TRAIN_XGB_MAX_DEPTH",
     .type = COIN_CFG_INT,
     .def = "5",
     .offset = F(xgb_max_depth),
     .min = 1,
     .max = 16,
     .doc = "XGBoost tree depth."},
    {.name = "TRAIN_XGB_ETA",
     .type = COIN_CFG_DOUBLE,
     .def = "0.05",
     .offset = F(xgb_eta),
     .dmin = 1e-4,
     .dmax = 1,
     .doc = "XGBoost learning rate."},
    {.name = "TRAIN_SEED",
     .type = COIN_CFG_INT,
     .def = "42",
     .offset = F(seed),
     .min = 0,
     .max = INT64_MAX,
     .doc = "Seed of every random choice (XGBoost row/column sampling, "
            "label shuffling): a run is reproducible."},
    {.name = "COIN_GIT_REVISION",
     .type = COIN_CFG_STRING,
     .def = COIN_GIT_REVISION,
     .offset = F(git_revision),
     .check = check_revision,
     .rule = "[A-Za-z0-9._+-]{0,64}",
     .doc = "Source revision recorded in each model's metadata (default: "
            "the build's, else `unknown`)."},
    {.name = "MODEL_HISTORY_KEEP",
     .type = COIN_CFG_INT,
     .def = "10",
     .offset = F(history_keep),
     .min = 2,
     .max = 1000,
     .doc = "Registered versions kept (metadata + artifact); the champion, "
            "the previous champion and the challenger are never purged."},
    {.name = "PROMOTE_MIN_SHADOW_PREDICTIONS",
     .type = COIN_CFG_INT,
     .def = "200",
     .offset = F(promote_min_shadow),
     .min = 1,
     .max = 100000000,
     .doc = "Realized shadow predictions the gate needs (challenger and "
            "champion on the same candles)."},
    {.name = "PROMOTE_MIN_COMPARE_ROWS",
     .type = COIN_CFG_INT,
     .def = "200",
     .offset = F(promote_min_compare),
     .min = 1,
     .max = 100000000,
     .doc = "Walk-forward rows the champion never saw that make the "
            "training-time head-to-head count in the gate (else each "
            "model's skill over persistence is compared)."},
    {.name = "PROMOTE_MARGIN_MAE",
     .type = COIN_CFG_DOUBLE,
     .def = "0.002",
     .offset = F(margin_mae),
     .dmin = 0,
     .dmax = 1,
     .doc = "Refuse when the challenger's MAE exceeds the champion's by more "
            "than this fraction."},
    {.name = "PROMOTE_MARGIN_DIRECTIONAL_ACCURACY",
     .type = COIN_CFG_DOUBLE,
     .def = "0.01",
     .offset = F(margin_dir),
     .dmin = 0,
     .dmax = 1,
     .doc = "Refuse when the challenger's directional accuracy is below "
            "the champion's by more than this (absolute)."},
    {.name = "PROMOTE_MARGIN_BRIER",
     .type = COIN_CFG_DOUBLE,
     .def = "0.001",
     .offset = F(margin_brier),
     .dmin = 0,
     .dmax = 1,
     .doc = "Refuse when the challenger's Brier score exceeds the "
            "champion's by more than this (absolute)."},
    /* coin-train cycle: retraining that runs itself */
    {.name = "TRAIN_CYCLE_POLICY",
     .type = COIN_CFG_ENUM,
     .def = "age_or_new_data",
     .offset = F(cycle_policy),
     .choices = policies,
     .doc = "When `coin-train cycle` trains a new challenger (none in "
            "shadow): the retrain policies of TRAIN_RETRAIN_POLICY, measured "
            "against the newest registered model; a retraining request for "
            "the champion (request.retrain) trains regardless."},
    {.name = "TRAIN_PROBATION_HOURS",
     .type = COIN_CFG_INT,
     .def = "72",
     .offset = F(probation_hours),
     .min = 0,
     .max = 87600,
     .doc = "After a promotion (or rollback) any champion is on probation "
            "this long: `coin-train cycle` rolls it back when its realized "
            "predictions are significantly worse than persistence (a "
            "champion the cycle promoted stays on watch after it)."},
    {.name = "TRAIN_WINDOW_DAYS",
     .type = COIN_CFG_INT,
     .def = "365",
     .offset = F(window_days),
     .min = 0,
     .max = 36500,
     .doc = "`coin-train cycle` trains on the candles of the last N days "
            "(0: all; `--window-days` overrides; `coin-train train` reads "
            "all unless given `--window-days`)."},
};
const size_t train_config_var_count = COIN_ARRAY_LEN(train_config_vars);

int train_config_load(struct train_config *out, const struct coin_env *env,
                      struct coin_cfg_errors *errs) {
  struct train_config cfg;
  memset(&cfg, 0, sizeof(cfg));
  int before = errs->count;
  coin_config_load(&cfg.core, COIN_CFG_TRAIN, env, errs);
  coin_cfg_load(&cfg, train_config_vars, train_config_var_count, env, errs);
  if (errs->count > before) {
    train_config_free(&cfg);
    return coin_error_set(COIN_EINVAL, "%d configuration problem(s)",
                          errs->count - before);
  }
  *out = cfg;
  return 0;
}

void train_config_free(struct train_config *cfg) {
  coin_config_free(&cfg->core);
  coin_cfg_free(cfg, train_config_vars, train_config_var_count);
}

int train_config_to_json(char **out, const struct train_config *cfg) {
  struct coin_cfg_var core[COIN_CONFIG_MAX_VARS];
  struct coin_cfg_part parts[] = {
      {&cfg->core, core, coin_config_rows(core, COIN_CFG_TRAIN)},
      {cfg, train_config_vars, train_config_var_count},
  };
  return coin_cfg_to_json(out, parts, 2);
}
