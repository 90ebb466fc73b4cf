/*
 * metrics_eval.c: scores (MAE, RMSE, directional accuracy + Wilson interval,
 * Brier) and the purged walk-forward evaluation (metrics_eval.h). Folds are
 * prefixes of the target-time ordered dataset, so a fold's training rows
 * are never copied. No shared state.
 */
#include "coin/metrics_eval.h"

#include "coin/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define D COIN_FEATURES_COUNT
#define BATCH 4096
#define WILSON_Z 1.959963984540054

void coin_score_add(struct coin_score *s, double pred_ret, double p_up,
                    double realized) {
  if (!isfinite(pred_ret) || !isfinite(realized))
    return;
  double e = pred_ret - realized;
  s->n++;
  s->sum_abs += fabs(e);
  s->sum_sq += e * e;
  if (realized != 0 && isfinite(p_up)) {
    bool up = realized > 0;
    s->n_dir++;
    if ((p_up >= 0.5) == up)
      s->n_hit++;
    double o = up ? 1.0 : 0.0;
    s->sum_brier += (p_up - o) * (p_up - o);
  }
}

void coin_wilson_interval(double *lo, double *hi, uint64_t hits, uint64_t n) {
  if (n == 0) {
    *lo = 0;
    *hi = 1;
    return;
  }
  double p = (double)hits / (double)n, z2 = WILSON_Z * WILSON_Z;
  double den = 1 + z2 / (double)n;
  double mid = (p + z2 / (2.0 * (double)n)) / den;
  double half = WILSON_Z *
                sqrt(p * (1 - p) / (double)n + z2 / (4.0 * (double)n * n)) /
                den;
  *lo = mid - half < 0 ? 0 : mid - half;
  *hi = mid + half > 1 ? 1 : mid + half;
}

void coin_score_summarize(struct coin_score_summary *out,
                          const struct coin_score *s) {
  struct coin_score_summary r = {.n = s->n, .n_dir = s->n_dir};
  r.mae = s->n ? s->sum_abs / (double)s->n : NAN;
  r.rmse = s->n ? sqrt(s->sum_sq / (double)s->n) : NAN;
  r.dir_acc = s->n_dir ? (double)s->n_hit / (double)s->n_dir : NAN;
  r.brier = s->n_dir ? s->sum_brier / (double)s->n_dir : NAN;
  if (s->n_dir)
    coin_wilson_interval(&r.dir_lo, &r.dir_hi, s->n_hit, s->n_dir);
  else
    r.dir_lo = r.dir_hi = NAN;
  *out = r;
}

/* ---- walk-forward ------------------------------------------------------- */

size_t coin_wf_bytes_per_row(void) {
  /* z, p_up, z_served, and the calibration's residual (or ratio) buffer */
  return 3 * sizeof(double) + 2 * sizeof(double);
}

void coin_wf_result_free(struct coin_wf_result *r) {
  if (!r)
    return;
  free(r->z);
  free(r->p_up);
  free(r->z_served);
  memset(r, 0, sizeof(*r));
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* First index with t_target_ms > t (rows sorted by t_target_ms). */
static size_t upper_bound(const struct coin_dataset *ds, int64_t t) {
  size_t lo = 0, hi = ds->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (ds->t_target_ms[mid] <= t)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static int predict_rows(const struct coin_model *m,
                        const struct coin_dataset *ds, size_t from,
                        int64_t t_lo, int64_t t_hi, double *z_out,
                        size_t *n_out) {
  float *xb = malloc(BATCH * D * sizeof(float));
  size_t *idx = malloc(BATCH * sizeof(size_t));
  double *zb = malloc(BATCH * sizeof(double));
  int rc = 0;
  size_t count = 0;
  if (!xb || !idx || !zb) {
    rc = coin_error_set(COIN_ENOMEM, "walk-forward: out of memory");
    goto out;
  }
  size_t k = 0;
  for (size_t i = from; i <= ds->n; i++) {
    bool take =
        i < ds->n && ds->t_feat_ms[i] >= t_lo && ds->t_feat_ms[i] < t_hi;
    if (take) {
      memcpy(xb + k * D, ds->x + i * D, D * sizeof(float));
      idx[k++] = i;
    }
    if (k == BATCH || (i == ds->n && k > 0)) {
      if ((rc = coin_model_predict_z(m, zb, xb, k)) != 0)
        goto out;
      for (size_t j = 0; j < k; j++)
        z_out[idx[j]] = zb[j];
      count += k;
      k = 0;
    }
  }
  *n_out = count;
out:
  free(xb);
  free(idx);
  free(zb);
  return rc;
}

int coin_wf_run(struct coin_wf_result *out, const struct coin_dataset *ds,
                const struct coin_wf_options *o) {
  int rc = 0;
  struct coin_wf_result r;
  memset(&r, 0, sizeof(r));
  if (out == NULL || ds == NULL || o == NULL || o->params == NULL)
    return coin_error_set(COIN_EINVAL, "walk-forward: NULL argument");
  if (o->folds < 1 || o->folds > 50)
    return coin_error_set(COIN_EINVAL, "walk-forward: folds %d (rule: 1..50)",
                          o->folds);
  if (!(o->test_fraction > 0 && o->test_fraction <= 0.9))
    return coin_error_set(COIN_EINVAL,
                          "walk-forward: test_fraction %g (rule: 0 < f <= "
                          "0.9)",
                          o->test_fraction);
  if (!coin_model_kind_exists(o->kind))
    return coin_error_set(COIN_EINVAL, "walk-forward: kind \"%s\" unknown",
                          o->kind ? o->kind : "(null)");
  int blocks = o->folds + 1;
  size_t start = (size_t)((double)ds->n * (1 - o->test_fraction));
  if (start < 4 * D || ds->n - start < (size_t)blocks * 10)
    return coin_error_set(COIN_EINVAL,
                          "walk-forward: %zu rows are too few for %d folds "
                          "(rule: >= %d training rows and >= 10 rows per "
                          "fold)",
                          ds->n, o->folds, 4 * D);
  r.n = ds->n;
  r.z = malloc(ds->n * sizeof(double));
  r.p_up = malloc(ds->n * sizeof(double));
  r.z_served = malloc(ds->n * sizeof(double));
  if (!r.z || !r.p_up || !r.z_served) {
    rc = coin_error_set(COIN_ENOMEM, "walk-forward: out of memory");
    goto out;
  }
  for (size_t i = 0; i < ds->n; i++)
    r.z[i] = r.p_up[i] = r.z_served[i] = NAN;

  int64_t bound[52];
  for (int j = 0; j < blocks; j++)
    bound[j] = ds->t_target_ms[start + (size_t)j * (ds->n - start) / blocks];
  bound[blocks] = INT64_MAX;
  size_t first_train = upper_bound(ds, bound[0]);
  struct coin_calibration cal;
  memset(&cal, 0, sizeof(cal));
  for (int j = 0; j < blocks; j++) {
    size_t hi = upper_bound(ds, bound[j]);
    size_t lo = o->rolling && hi > first_train ? hi - first_train : 0;
    struct coin_model *m = NULL;
    double t0 = now_seconds();
    if ((rc = coin_model_fit(&m, o->kind, ds, lo, hi, o->params)) != 0) {
      coin_error_wrap(rc, "walk-forward fold %d", j);
      goto out;
    }
    double dt = now_seconds() - t0;
    r.fit_seconds += dt;
    size_t n_test = 0;
    rc = predict_rows(m, ds, hi, bound[j], bound[j + 1], r.z, &n_test);
    if (rc == 0 && o->on_fold)
      rc = o->on_fold(o->on_fold_ud, j, m, &cal, bound[j], bound[j + 1]);
    coin_model_free(m);
    if (rc)
      goto out;
    if (j == 0) {
      r.rows_warmup = n_test;
      r.train_rows_first = hi - lo;
      r.scored_from_ms = bound[1];
    } else {
      r.rows_scored += n_test;
      for (size_t i = hi; i < ds->n; i++)
        if (ds->t_feat_ms[i] >= bound[j] && ds->t_feat_ms[i] < bound[j + 1]) {
          enum coin_tf tf = (enum coin_tf)ds->tf[i];
          r.p_up[i] = coin_calibration_p_up(&cal, tf, r.z[i]);
          r.z_served[i] = coin_calibration_shrink(&cal, tf, r.z[i]);
        }
    }
    r.train_rows_last = hi - lo;
    /* the calibration for the next block: every out-of-sample row so far */
    if ((rc = coin_calibration_fit(&cal, r.z, ds->y, ds->scale, ds->tf,
                                   ds->n)) != 0)
      goto out;
    if (o->progress)
      o->progress(o->progress_ud, j, blocks, hi - lo, n_test, dt);
  }
  r.cal = cal;
  *out = r;
  memset(&r, 0, sizeof(r));
out:
  coin_wf_result_free(&r);
  return rc;
}
