/*
 * metrics_eval.h: honest scores of next-candle predictions, shared by the
 * training job, `coin-train evaluate`, the promotion gate and the benchmark:
 * MAE and RMSE of the log return, directional accuracy with a 95% Wilson
 * interval, Brier score of P(up); and the walk-forward evaluation (time
 * ordered folds, expanding or rolling window, no shuffling, purged so no
 * training target overlaps a test row). Conventions (docs/models.md):
 * a prediction says "up" when p_up >= 0.5; rows whose realized return is
 * exactly 0 have no direction and count only in MAE/RMSE; persistence
 * predicts return 0 with p_up 0.5. Plain values; thread-compatible.
 */
#ifndef COIN_METRICS_EVAL_H
#define COIN_METRICS_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coin/model.h"

struct coin_score {
  uint64_t n;
  double sum_abs;
  double sum_sq;
  uint64_t n_dir; /* rows with a realized direction */
  uint64_t n_hit; /* ... whose direction was predicted */
  double sum_brier;
};

void coin_score_add(struct coin_score *s, double pred_ret, double p_up,
                    double realized);

struct coin_score_summary {
  uint64_t n, n_dir;
  double mae, rmse;
  double dir_acc, dir_lo, dir_hi; /* 95% Wilson interval */
  double brier;
};

/* NaN for figures without rows. */
void coin_score_summarize(struct coin_score_summary *out,
                          const struct coin_score *s);
/* 95% Wilson score interval of hits/n (0..1 when n == 0). */
void coin_wilson_interval(double *lo, double *hi, uint64_t hits, uint64_t n);

/* ---- walk-forward -------------------------------------------------------- */

struct coin_wf_options {
  const char *kind;
  const struct coin_model_params *params;
  int folds;            /* scored folds (after one warm-up fold), >= 1 */
  double test_fraction; /* rows in warm-up + scored folds, (0, 0.9] */
  bool rolling;         /* train on a window of the first fold's size */
  /* Called after each fold (may be NULL). */
  void (*progress)(void *ud, int fold, int folds, size_t train_rows,
                   size_t test_rows, double fit_seconds);
  void *progress_ud;
  /* Called with each block's model before it is freed (may be NULL):
   * block 0 is the warm-up; cal is the calibration known before the block
   * (empty for block 0); the block's test rows have t_feat_ms in
   * [t_lo_ms, t_hi_ms). Lets a caller score rows the walk-forward does not
   * hold, e.g. a symbol left out of training. Non-zero return aborts. */
  int (*on_fold)(void *ud, int block, const struct coin_model *m,
                 const struct coin_calibration *cal, int64_t t_lo_ms,
                 int64_t t_hi_ms);
  void *on_fold_ud;
};

struct coin_wf_result {
  size_t n;         /* rows of the dataset */
  double *z;        /* out-of-sample standardized prediction; NaN if none */
  double *p_up;     /* scored rows: P(up) from earlier folds' calibration;
                       NaN for rows that are not scored (warm-up, training) */
  double *z_served; /* scored rows: z shrunk with that same calibration
                       (coin_calibration_shrink), i.e. what serving would
                       have returned: score z_served * scale; NaN for rows
                       that are not scored */
  size_t rows_warmup, rows_scored;
  int64_t scored_from_ms; /* t_feat_ms of the first scored fold's start */
  size_t train_rows_first, train_rows_last;
  struct coin_calibration cal; /* from every out-of-sample row */
  double fit_seconds;
};

/* Extra bytes per dataset row the walk-forward holds. */
size_t coin_wf_bytes_per_row(void);

/* Runs the walk-forward on ds (sorted with coin_dataset_sort). Folds split
 * the last test_fraction of rows (by target time) into 1 + folds blocks;
 * block j is predicted by a model fitted on every row whose target closed
 * at or before block j's start (rolling: only the newest of them). Block 0
 * only seeds the calibration; blocks 1.. are scored with the calibration
 * of the blocks before them. */
int coin_wf_run(struct coin_wf_result *out, const struct coin_dataset *ds,
                const struct coin_wf_options *o);
void coin_wf_result_free(struct coin_wf_result *r);

#endif
