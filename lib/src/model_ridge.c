/*
 * model_ridge.c: ridge regression, closed form. Features are standardized
 * with the training rows' mean and standard deviation; the intercept is not
 * penalized; the penalty is alpha * rows so its strength does not change
 * with the amount of data. X'X is accumulated row by row (no copy of the
 * data) and solved by Cholesky. Immutable after fit; thread-safe predict.
 */
#include "coin/error.h"
#include "model_int.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct ridge {
  size_t d;
  double alpha;
  double lambda;
  uint64_t rows;
  double intercept;
  double *mean; /* d */
  double *sd;   /* d */
  double *w;    /* d, on standardized features */
};

static void ridge_free(void *state) {
  struct ridge *r = state;
  if (!r)
    return;
  free(r->mean);
  free(r->sd);
  free(r->w);
  free(r);
}

static struct ridge *ridge_new(size_t d) {
  struct ridge *r = calloc(1, sizeof(*r));
  if (!r)
    return NULL;
  r->d = d;
  r->mean = calloc(d, sizeof(double));
  r->sd = calloc(d, sizeof(double));
  r->w = calloc(d, sizeof(double));
  if (!r->mean || !r->sd || !r->w) {
    ridge_free(r);
    return NULL;
  }
  return r;
}

/* Solves A x = b for symmetric positive definite A (d x d, overwritten). */
static int cholesky_solve(double *a, double *b, size_t d) {
  for (size_t j = 0; j < d; j++) {
    double s = a[j * d + j];
    for (size_t k = 0; k < j; k++)
      s -= a[j * d + k] * a[j * d + k];
    if (!(s > 0))
      return coin_error_set(COIN_EINTERNAL,
                            "ridge: normal matrix not positive definite at "
                            "column %zu",
                            j);
    double l = sqrt(s);
    a[j * d + j] = l;
    for (size_t i = j + 1; i < d; i++) {
      double t = a[i * d + j];
      for (size_t k = 0; k < j; k++)
        t -= a[i * d + k] * a[j * d + k];
      a[i * d + j] = t / l;
    }
  }
  for (size_t i = 0; i < d; i++) { /* L y = b */
    double t = b[i];
    for (size_t k = 0; k < i; k++)
      t -= a[i * d + k] * b[k];
    b[i] = t / a[i * d + i];
  }
  for (size_t i = d; i-- > 0;) { /* L' x = y */
    double t = b[i];
    for (size_t k = i + 1; k < d; k++)
      t -= a[k * d + i] * b[k];
    b[i] = t / a[i * d + i];
  }
  return 0;
}

static int ridge_fit(void **out, const float *x, const double *y, size_t n,
                     size_t d, const struct coin_model_params *p) {
  int rc = 0;
  double *a = NULL, *b = NULL, *u = NULL;
  struct ridge *r = NULL;
  if (!(p->ridge_alpha >= 0) || !isfinite(p->ridge_alpha))
    return coin_error_set(COIN_EINVAL, "ridge: alpha %g (rule: finite, >= 0)",
                          p->ridge_alpha);
  r = ridge_new(d);
  a = calloc(d * d, sizeof(double));
  b = calloc(d, sizeof(double));
  u = calloc(d, sizeof(double));
  if (!r || !a || !b || !u) {
    rc = coin_error_set(COIN_ENOMEM, "ridge: out of memory");
    goto out;
  }
  double ymean = 0;
  for (size_t i = 0; i < n; i++) {
    ymean += y[i];
    for (size_t j = 0; j < d; j++)
      r->mean[j] += x[i * d + j];
  }
  ymean /= (double)n;
  for (size_t j = 0; j < d; j++)
    r->mean[j] /= (double)n;
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < d; j++) {
      double v = x[i * d + j] - r->mean[j];
      r->sd[j] += v * v;
    }
  for (size_t j = 0; j < d; j++) {
    r->sd[j] = sqrt(r->sd[j] / (double)n);
    if (!(r->sd[j] > 1e-12)) /* constant column: contributes nothing */
      r->sd[j] = 1;
  }
  for (size_t i = 0; i < n; i++) {
    for (size_t j = 0; j < d; j++)
      u[j] = (x[i * d + j] - r->mean[j]) / r->sd[j];
    double t = y[i] - ymean;
    for (size_t j = 0; j < d; j++) {
      b[j] += u[j] * t;
      for (size_t k = 0; k <= j; k++)
        a[j * d + k] += u[j] * u[k];
    }
  }
  r->alpha = p->ridge_alpha;
  r->lambda = p->ridge_alpha * (double)n;
  /* a tiny floor keeps constant columns (all-zero u) solvable */
  double floor_pen = 1e-9 * (double)n + 1e-12;
  for (size_t j = 0; j < d; j++) {
    a[j * d + j] += r->lambda > floor_pen ? r->lambda : floor_pen;
    for (size_t k = j + 1; k < d; k++)
      a[j * d + k] = a[k * d + j];
  }
  if ((rc = cholesky_solve(a, b, d)) != 0)
    goto out;
  memcpy(r->w, b, d * sizeof(double));
  r->intercept = ymean;
  r->rows = n;
  *out = r;
  r = NULL;
out:
  free(a);
  free(b);
  free(u);
  ridge_free(r);
  return rc;
}

static int ridge_predict(const void *state, double *out, const float *x,
                         size_t n, size_t d) {
  const struct ridge *r = state;
  if (d != r->d)
    return coin_error_set(COIN_EINVAL,
                          "ridge: %zu features given, model has "
                          "%zu",
                          d, r->d);
  for (size_t i = 0; i < n; i++) {
    double s = r->intercept;
    for (size_t j = 0; j < d; j++)
      s += r->w[j] * (((double)x[i * d + j] - r->mean[j]) / r->sd[j]);
    out[i] = s;
  }
  return 0;
}

static int ridge_save(const void *state, uint8_t **out, size_t *out_len) {
  const struct ridge *r = state;
  struct model_buf b = {0};
  model_buf_u32(&b, (uint32_t)r->d);
  model_buf_f64(&b, r->alpha);
  model_buf_f64(&b, r->lambda);
  model_buf_u64(&b, r->rows);
  model_buf_f64(&b, r->intercept);
  for (size_t j = 0; j < r->d; j++) {
    model_buf_f64(&b, r->mean[j]);
    model_buf_f64(&b, r->sd[j]);
    model_buf_f64(&b, r->w[j]);
  }
  if (b.err) {
    free(b.p);
    return coin_error_set(COIN_ENOMEM, "ridge save: out of memory");
  }
  *out = b.p;
  *out_len = b.len;
  return 0;
}

static int ridge_load(void **out, const uint8_t *data, size_t len, size_t d) {
  struct model_rd rd = {.p = data, .len = len};
  size_t want = 4 + 8 * 4 + 24 * d;
  if (len != want)
    return coin_error_set(COIN_EDECODE,
                          "ridge: %zu bytes (rule: %zu for %zu features)", len,
                          want, d);
  uint32_t dd = model_rd_u32(&rd);
  if (dd != d)
    return coin_error_set(
        COIN_EDECODE, "ridge: %u features (rule: %zu as in the header)", dd, d);
  struct ridge *r = ridge_new(d);
  if (!r)
    return coin_error_set(COIN_ENOMEM, "ridge load: out of memory");
  r->alpha = model_rd_f64(&rd);
  r->lambda = model_rd_f64(&rd);
  r->rows = model_rd_u64(&rd);
  r->intercept = model_rd_f64(&rd);
  bool ok = isfinite(r->alpha) && isfinite(r->lambda) && isfinite(r->intercept);
  for (size_t j = 0; j < d; j++) {
    r->mean[j] = model_rd_f64(&rd);
    r->sd[j] = model_rd_f64(&rd);
    r->w[j] = model_rd_f64(&rd);
    ok = ok && isfinite(r->mean[j]) && r->sd[j] > 0 && isfinite(r->sd[j]) &&
         isfinite(r->w[j]);
  }
  if (!ok || rd.bad) {
    ridge_free(r);
    return coin_error_set(COIN_EDECODE,
                          "ridge: non-finite or non-positive parameter "
                          "(rule: finite weights, sd > 0)");
  }
  *out = r;
  return 0;
}

static int ridge_describe(const void *state, char **out) {
  const struct ridge *r = state;
  json_t *w = json_object();
  for (size_t j = 0; j < r->d; j++) {
    const char *name = coin_features_name(j);
    char fallback[32];
    if (!name || r->d != COIN_FEATURES_COUNT) {
      snprintf(fallback, sizeof(fallback), "f%zu", j);
      name = fallback;
    }
    json_object_set_new(w, name, json_real(r->w[j]));
  }
  json_t *o = json_pack("{s:f, s:f, s:I, s:f, s:o}", "alpha", r->alpha,
                        "lambda", r->lambda, "rows", (json_int_t)r->rows,
                        "intercept", r->intercept, "weights", w);
  *out = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
  json_decref(o);
  return *out ? 0 : coin_error_set(COIN_ENOMEM, "ridge describe: no memory");
}

/* the fit holds d x d sums, nothing per row */
const struct model_kind model_kind_ridge = MODEL_OPS(ridge, "ridge", 0);
