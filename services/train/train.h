/*
 * train.h: coin-train, the model lifecycle as one-shot commands: train (read
 * the SoT in chunks under a memory budget, walk-forward against persistence
 * and the champion, fit, register a challenger), evaluate (score any model
 * on any SoT data, no registry change), promote (the gate), rollback, ls and
 * show, and cycle (the three in one scheduled run). Every registry mutation
 * holds the lock coin_locks/train. See docs/models.md. Threads: one command at
 * a time on the calling thread (the lock keepalive has its own). Exit codes:
 * TRAIN_EXIT_*.
 */
#ifndef COIN_TRAIN_TRAIN_H
#define COIN_TRAIN_TRAIN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "coin/config.h"

enum {
  TRAIN_EXIT_OK = 0,
  TRAIN_EXIT_FAILED = 1,  /* an error (logged, one line on stderr) */
  TRAIN_EXIT_USAGE = 2,   /* bad arguments or configuration */
  TRAIN_EXIT_LOCKED = 3,  /* another job holds the lock: nothing done */
  TRAIN_EXIT_REFUSED = 4, /* the promotion gate refused */
};

enum train_policy {
  TRAIN_POLICY_ALWAYS = 0,
  TRAIN_POLICY_AGE = 1,
  TRAIN_POLICY_NEW_DATA = 2,
  TRAIN_POLICY_AGE_OR_NEW_DATA = 3,
};

struct train_config {
  struct coin_config core;
  int kind;                           /* index into coin_model_kinds() */
  struct coin_cfg_str_list symbols;   /* empty: SYMBOLS */
  struct coin_cfg_tf_list timeframes; /* empty: INGEST_TIMEFRAMES */
  int64_t memory_budget_mb;
  int64_t read_chunk_candles;
  int64_t wf_folds;
  double wf_test_fraction;
  int wf_window; /* 0 expanding, 1 rolling */
  int64_t lock_ttl_seconds;
  int retrain_policy; /* enum train_policy */
  int64_t retrain_max_age_hours;
  int64_t retrain_min_new_candles;
  double ridge_alpha;
  int64_t xgb_rounds;
  int64_t xgb_max_depth;
  double xgb_eta;
  int64_t seed;
  char *git_revision;
  int64_t history_keep;
  int64_t promote_min_shadow;
  int64_t promote_min_compare;
  double margin_mae;
  double margin_dir;
  double margin_brier;
  /* coin-train cycle (retraining that runs itself) */
  int cycle_policy;        /* enum train_policy */
  int64_t probation_hours; /* automatic rollback window of any champion */
  int64_t window_days;     /* the cycle trains on the last N days; 0 all */
};

extern const struct coin_cfg_var train_config_vars[];
extern const size_t train_config_var_count;

int train_config_load(struct train_config *out, const struct coin_env *env,
                      struct coin_cfg_errors *errs);
void train_config_free(struct train_config *cfg);
int train_config_to_json(char **out, const struct train_config *cfg);

/* Command-line choices that override the configuration for one run. */
struct train_args {
  const char *kind;       /* NULL: TRAIN_MODEL_KIND */
  const char *symbols;    /* comma list; NULL: configured */
  const char *timeframes; /* comma list; NULL: configured */
  const char *model;      /* evaluate/show: version, champion, challenger */
  const char *version;    /* promote: the candidate (default challenger) */
  const char *policy;     /* train: always|age|new_data|age_or_new_data */
  int64_t from_ms, to_ms; /* evaluate range (0 / INT64_MAX: all) */
  bool shuffle_labels;    /* train: permutation baseline (diagnostics) */
  bool json;
  bool dry_run;         /* promote: verdict only */
  bool bootstrap;       /* promote: first champion without shadow evidence */
  int64_t hold_lock_ms; /* tests: keep the lock this long before working */
  int64_t window_days;  /* train/cycle: the last N days (0 all; -1 unset:
                           train all, cycle TRAIN_WINDOW_DAYS) */
};

struct train_ctx;

/* Connects to NATS and InfluxDB, opens the registry. out receives the
 * command's report (text or JSON). cfg must outlive the context. */
int train_ctx_open(struct train_ctx **out, const struct train_config *cfg,
                   FILE *report);
void train_ctx_free(struct train_ctx *c);

/* Each returns a TRAIN_EXIT_* code (messages already logged/printed). */
int train_cmd_train(struct train_ctx *c, const struct train_args *a);
int train_cmd_evaluate(struct train_ctx *c, const struct train_args *a);
int train_cmd_promote(struct train_ctx *c, const struct train_args *a);
int train_cmd_rollback(struct train_ctx *c, const struct train_args *a);
int train_cmd_ls(struct train_ctx *c, const struct train_args *a);
int train_cmd_show(struct train_ctx *c, const struct train_args *a);
/* One scheduled run (cycle.c): automatic rollback of a champion on
 * probation, automatic promotion of the challenger, retraining when due or
 * requested; exit 0 also for "nothing due", "waiting" and a refusal. */
int train_cmd_cycle(struct train_ctx *c, const struct train_args *a);

#endif
