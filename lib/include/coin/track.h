/*
 * track.h: the track record's arithmetic, one place for the public
 * track_record.json (coin-publish) and the champion watch (coin-monitor):
 * predictions next to their realized candles, the model's and
 * persistence's errors (persistence predicts a zero log return), direction
 * hits, and rolling windows with 95% confidence intervals. Units: log
 * returns of the close, as the walk-forward figures. Pure functions over
 * caller-owned arrays; thread-safe.
 */
#ifndef COIN_TRACK_H
#define COIN_TRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One published prediction and, once its target candle closed, the truth. */
struct coin_track_row {
  int64_t target_open_ms;
  double input_close;      /* close of the candle the prediction saw */
  double predicted_return; /* log(predicted close / input_close) */
  bool realized;
  double realized_close; /* close of the target candle (when realized) */
};

/* Errors of one realized row; false when not realized or unusable. hit is
 * -1 when the realized return is exactly 0 (no direction to hit). */
bool coin_track_row_errors(const struct coin_track_row *r, double *out_ret,
                           double *out_abs_error, double *out_persist_error,
                           int *out_hit);

struct coin_track_window {
  int64_t from_ms;         /* rows with target_open_ms >= from_ms */
  int64_t n;               /* realized rows */
  double mae;              /* model; NAN when n == 0 */
  double persistence_mae;  /* NAN when n == 0 */
  double mae_ratio;        /* mae / persistence_mae; NAN when undefined */
  double diff_lo, diff_hi; /* 95% CI of mean(model - persistence error);
                              NAN when n < 2 */
  int64_t directional_n;   /* rows with a direction (realized return != 0) */
  int64_t hits;
  double hit_rate;       /* NAN when directional_n == 0 */
  double hit_lo, hit_hi; /* Wilson 95% interval */
};

void coin_track_window(struct coin_track_window *out,
                       const struct coin_track_row *rows, size_t n,
                       int64_t from_ms);

/* ---- the verdict on a window (one rule for everyone who judges a model on
 * realized candles: the monitor's champion watch, the site's degraded
 * reason, coin-train's automatic rollback) ----------------------------------
 */

enum coin_track_verdict {
  COIN_TRACK_TOO_FEW = 0, /* fewer than min_n realized rows: no verdict */
  COIN_TRACK_OK,          /* not significantly worse than persistence */
  COIN_TRACK_WORSE        /* significantly worse: the 95% interval of the
                             mean error difference lies above 0 */
};

/* The verdict on w with at least min_n realized rows (min_n >= 2). */
enum coin_track_verdict coin_track_judge(const struct coin_track_window *w,
                                         int64_t min_n);
/* "too_few", "ok", "worse_than_persistence". */
const char *coin_track_verdict_name(enum coin_track_verdict v);

#endif
