/*
 * model.h: the model contract. Every kind (ridge, xgboost, ...) implements
 * fit / predict / save / load / describe behind struct coin_model; the
 * common layer adds what every kind needs: the target in units of the
 * row's volatility (features.h), out-of-sample residual quantiles for the
 * uncertainty band, a calibrated probability of an up move, and a
 * self-checking artifact format (sha256 trailer). Adding a kind is one new
 * file lib/src/model_<kind>.c plus one line in model.c's table.
 * Also here: the training dataset (rows of features + targets) the
 * walk-forward evaluation and the final fit read.
 * Threads: a fitted or loaded model is immutable; predict may be called by
 * one thread at a time per model (XGBoost boosters are not re-entrant).
 * Ownership: *_free accept NULL; save returns malloc'd bytes.
 */
#ifndef COIN_MODEL_H
#define COIN_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coin/features.h"
#include "coin/timeframe.h"

#define COIN_MODEL_TARGET_CLIP 8.0 /* |target / scale| cap seen by learners */
#define COIN_MODEL_QUANTILES 101   /* residual quantiles kept: 0%, 1%, ... */
#define COIN_MODEL_MAX_ARTIFACT_BYTES ((size_t)64 << 20)

/* ---- dataset -------------------------------------------------------------
 * Rows of one or more series (symbol x timeframe). t_feat_ms is the close
 * time of the row's newest input candle (when a prediction would be made),
 * t_target_ms the close time of the candle predicted. coin_dataset_sort
 * orders rows by t_target_ms, so "every row whose target was known by time
 * T" is a prefix: walk-forward folds train on prefixes. */

struct coin_dataset_series {
  char symbol[33];
  enum coin_tf tf;
};

struct coin_dataset {
  size_t n, cap;
  float *x;      /* n * COIN_FEATURES_COUNT, row-major (features as float) */
  double *y;     /* next candle's log return */
  double *y_fit; /* NULL, or labels to fit instead of y (diagnostics:
                    shuffled labels); evaluation always scores y */
  double *scale; /* the row's volatility unit */
  int64_t *t_feat_ms;
  int64_t *t_target_ms;
  uint16_t *series; /* index into series[] */
  uint8_t *tf;      /* enum coin_tf */
  struct coin_dataset_series *series_tab;
  size_t n_series;
};

/* Bytes one row costs in the dataset (for memory budgets). */
size_t coin_dataset_bytes_per_row(void);
/* Grows capacity to at least rows (exact, no doubling). */
int coin_dataset_reserve(struct coin_dataset *ds, size_t rows);
/* Index of the series (added when new; at most 65535). */
int coin_dataset_series_index(size_t *out, struct coin_dataset *ds,
                              const char *symbol, enum coin_tf tf);
/* Appends a row (grows by 50% when full). */
int coin_dataset_add(struct coin_dataset *ds,
                     const struct coin_feature_row *row, double target,
                     size_t series);
/* Sorts rows by (t_target_ms, t_feat_ms, series) in place. */
int coin_dataset_sort(struct coin_dataset *ds);
/* Keeps the newest keep rows (call after sort): drops the oldest. */
void coin_dataset_keep_newest(struct coin_dataset *ds, size_t keep);
/* Replaces y_fit by a seeded permutation of y (label-shuffling test). */
int coin_dataset_shuffle_labels(struct coin_dataset *ds, uint64_t seed);
void coin_dataset_free(struct coin_dataset *ds);

/* ---- parameters ---------------------------------------------------------- */

struct coin_model_params {
  double ridge_alpha; /* penalty = alpha * rows, on standardized features */
  int xgb_rounds;     /* boosting rounds (trees) */
  int xgb_max_depth;
  double xgb_eta;
  double xgb_subsample;
  double xgb_colsample;
  double xgb_min_child_weight;
  double xgb_lambda;
  int xgb_max_bin;
  uint64_t seed;
};

void coin_model_params_default(struct coin_model_params *p);

/* ---- calibration: band and direction probability -------------------------
 * Built from out-of-sample predictions only (walk-forward). Residuals are
 * in units of the row's scale: e = y/scale - z_pred. */

struct coin_calibration {
  bool has_platt; /* P(up) = 1 / (1 + exp(-(a + b z))); a is 0 today (no
                     intercept: see docs/models.md), kept in the format */
  double platt_a, platt_b;
  /* table[tf] for each timeframe with >= 200 residuals, table[COIN_TF_COUNT]
   * pooled; n == 0: none. q[i] = the i% quantile. */
  struct {
    uint32_t n;
    double q[COIN_MODEL_QUANTILES];
  } table[COIN_TF_COUNT + 1];
  /* Shrinkage toward a zero return (docs/models.md "Shrinkage"): the
   * served return is k * z * scale, k in [0, 1] minimizing the MAE of the
   * out-of-sample rows; shrink[tf] for each timeframe with >= 200 rows,
   * shrink[COIN_TF_COUNT] pooled; n == 0: not fitted (k = 1, no shrink:
   * what a format-1 artifact carries). The residual tables are those of
   * the shrunk prediction, so the band stays centred on it. */
  struct {
    uint32_t n;
    double k;
  } shrink[COIN_TF_COUNT + 1];
};

/* Fits from n out-of-sample rows. Rows with y == 0 carry no direction and
 * are left out of the Platt fit; rows with a non-finite z (not predicted)
 * are left out of everything. Platt is fitted on the raw z (the direction
 * is sign(z) whatever k), the shrink factors next, then the residual
 * quantiles of y/scale - k z. */
int coin_calibration_fit(struct coin_calibration *out, const double *z_pred,
                         const double *y, const double *scale,
                         const uint8_t *tf, size_t n);
/* P(next return > 0) for a standardized prediction z of timeframe tf:
 * Platt when fitted, else the residual distribution, else 0.5. */
double coin_calibration_p_up(const struct coin_calibration *c, enum coin_tf tf,
                             double z);
/* Residual quantile at level p in [0, 1] (interpolated; 0 without data). */
double coin_calibration_quantile(const struct coin_calibration *c,
                                 enum coin_tf tf, double p);
/* Shrink factor k of timeframe tf (its own, else pooled, else 1). */
double coin_calibration_shrink_factor(const struct coin_calibration *c,
                                      enum coin_tf tf);
/* The standardized prediction as served: k * z. */
double coin_calibration_shrink(const struct coin_calibration *c,
                               enum coin_tf tf, double z);

/* ---- models -------------------------------------------------------------- */

struct coin_model;

/* Registered kinds ("ridge", "xgboost"), NULL-terminated. */
const char *const *coin_model_kinds(void);
/* True when name is a registered kind. */
bool coin_model_kind_exists(const char *name);
/* Memory a fit of kind needs per row beyond the dataset (estimate). */
size_t coin_model_fit_bytes_per_row(const char *kind);

/* Fits kind on rows [from, to) of ds (learner target: clip(y/scale)).
 * COIN_EINVAL for an unknown kind, too few rows (< 2 * features) or bad
 * parameters; the model has no calibration yet. */
int coin_model_fit(struct coin_model **out, const char *kind,
                   const struct coin_dataset *ds, size_t from, size_t to,
                   const struct coin_model_params *params);
void coin_model_free(struct coin_model *m);

/* Attaches a calibration (copied). */
void coin_model_set_calibration(struct coin_model *m,
                                const struct coin_calibration *c);
const struct coin_calibration *
coin_model_calibration(const struct coin_model *m);

/* Standardized predictions z for n rows of floats (COIN_FEATURES_COUNT
 * each). */
int coin_model_predict_z(const struct coin_model *m, double *out,
                         const float *x, size_t n);

struct coin_model_output {
  double z;             /* the learner's prediction in units of scale */
  double ret;           /* predicted log return = k * z * scale (shrunk) */
  double p_up;          /* calibrated P(return > 0) */
  double band_low_ret;  /* log return at the lower residual quantile */
  double band_high_ret; /* ... at the upper one */
};

/* Full prediction from one feature row (features are cast to float, as in
 * the dataset). band_level in (0, 1), e.g. 0.8 for the 10%..90% band. */
int coin_model_predict_row(const struct coin_model *m,
                           struct coin_model_output *out,
                           const struct coin_feature_row *row, enum coin_tf tf,
                           double band_level);

/* Serializes kind, feature schema, calibration and the learner into one
 * artifact that ends with the sha256 of everything before it. */
int coin_model_save(const struct coin_model *m, uint8_t **out, size_t *out_len);
/* Loads an artifact: COIN_EDECODE with a clear one-line reason for a bad
 * magic, checksum mismatch (corrupted or truncated), unknown kind, or a
 * learner that does not load; COIN_ETOOBIG beyond the cap. The feature
 * schema may differ from this build's (see coin_model_servable). */
int coin_model_load(struct coin_model **out, const uint8_t *data, size_t len);

/* {"kind":"ridge","feature_schema_version":1,...,"learner":{...}} (malloc'd) */
int coin_model_describe(char **out, const struct coin_model *m);

const char *coin_model_kind(const struct coin_model *m);
uint32_t coin_model_schema_version(const struct coin_model *m);
const char *coin_model_schema_hash(const struct coin_model *m);
/* The model's feature schema is the one this build computes. */
bool coin_model_servable(const struct coin_model *m);

#endif
