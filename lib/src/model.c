/*
 * model.c: the common layer of the model contract (model.h): dataset,
 * calibration (Platt scaling of the direction, shrinkage of the return
 * toward 0, residual quantiles for the band), fitting on standardized targets,
 * full predictions, and the artifact format (magic, kind, feature schema,
 * calibration, learner bytes, sha256 trailer). The learners live in
 * model_<kind>.c. No shared mutable state.
 */
#include "coin/model.h"

#include "coin/error.h"
#include "coin/hmac.h"
#include "model_int.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define D COIN_FEATURES_COUNT
#define ARTIFACT_MAGIC "COINMDL1"
#define ARTIFACT_FORMAT 2u /* 2: + shrinkage; 1 still loads */
#define PLATT_MIN_ROWS 100
#define TABLE_MIN_ROWS 200

/* One line per kind: adding a kind is its file plus a line here. */
static const struct model_kind *const kinds[] = {
    &model_kind_ridge,
    &model_kind_xgboost,
};
static const char *const kind_names[] = {"ridge", "xgboost", NULL};

struct coin_model {
  const struct model_kind *kind;
  void *state;
  uint32_t schema_version;
  char schema_hash[65];
  uint32_t n_features;
  struct coin_calibration cal;
};

/* ---- helpers ------------------------------------------------------------ */

static void sha256_raw(unsigned char out[32], const void *data, size_t len) {
  if (coin_sha256(out, data, len) != 0)
    memset(out, 0, 32);
}

static const struct model_kind *find_kind(const char *name) {
  if (name == NULL)
    return NULL;
  for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
    if (strcmp(kinds[i]->name, name) == 0)
      return kinds[i];
  return NULL;
}

const char *const *coin_model_kinds(void) {
  return kind_names;
}

bool coin_model_kind_exists(const char *name) {
  return find_kind(name) != NULL;
}

size_t coin_model_fit_bytes_per_row(const char *kind) {
  const struct model_kind *k = find_kind(kind);
  /* + the standardized target array coin_model_fit builds */
  return (k ? k->fit_bytes_per_row : 0) + sizeof(double);
}

/* ---- dataset ------------------------------------------------------------ */

size_t coin_dataset_bytes_per_row(void) {
  /* x, y, scale, t_feat, t_target, series, tf, + the sort permutation */
  return D * sizeof(float) + 4 * sizeof(double) + sizeof(uint16_t) +
         sizeof(uint8_t) + sizeof(size_t);
}

#define GROW(field, cap)                                                       \
  do {                                                                         \
    void *np_ = realloc(ds->field, (cap) * sizeof(*ds->field));                \
    if (!np_)                                                                  \
      return coin_error_set(                                                   \
          COIN_ENOMEM, "dataset: out of memory for %zu rows", (size_t)(cap));  \
    ds->field = np_;                                                           \
  } while (0)

int coin_dataset_reserve(struct coin_dataset *ds, size_t rows) {
  if (ds == NULL)
    return coin_error_set(COIN_EINVAL, "dataset: NULL argument");
  if (rows <= ds->cap)
    return 0;
  if (rows > SIZE_MAX / (D * sizeof(float)))
    return coin_error_set(COIN_ETOOBIG, "dataset: %zu rows too many", rows);
  GROW(x, rows * D);
  GROW(y, rows);
  GROW(scale, rows);
  GROW(t_feat_ms, rows);
  GROW(t_target_ms, rows);
  GROW(series, rows);
  GROW(tf, rows);
  if (ds->y_fit)
    GROW(y_fit, rows);
  ds->cap = rows;
  return 0;
}

int coin_dataset_series_index(size_t *out, struct coin_dataset *ds,
                              const char *symbol, enum coin_tf tf) {
  for (size_t i = 0; i < ds->n_series; i++)
    if (ds->series_tab[i].tf == tf &&
        strcmp(ds->series_tab[i].symbol, symbol) == 0) {
      *out = i;
      return 0;
    }
  if (ds->n_series >= UINT16_MAX)
    return coin_error_set(COIN_ETOOBIG, "dataset: more than %d series",
                          UINT16_MAX);
  if (strlen(symbol) >= sizeof(ds->series_tab[0].symbol))
    return coin_error_set(COIN_EINVAL, "dataset: symbol \"%s\" too long",
                          symbol);
  struct coin_dataset_series *t =
      realloc(ds->series_tab, (ds->n_series + 1) * sizeof(*t));
  if (!t)
    return coin_error_set(COIN_ENOMEM, "dataset: out of memory");
  ds->series_tab = t;
  snprintf(t[ds->n_series].symbol, sizeof(t[0].symbol), "%s", symbol);
  t[ds->n_series].tf = tf;
  *out = ds->n_series++;
  return 0;
}

int coin_dataset_add(struct coin_dataset *ds,
                     const struct coin_feature_row *row, double target,
                     size_t series) {
  int rc;
  if (ds == NULL || row == NULL || series >= ds->n_series)
    return coin_error_set(COIN_EINVAL, "dataset add: bad argument");
  if (ds->n == ds->cap &&
      (rc = coin_dataset_reserve(ds, ds->cap ? ds->cap + ds->cap / 2 : 1024)))
    return rc;
  size_t i = ds->n;
  enum coin_tf tf = ds->series_tab[series].tf;
  for (size_t j = 0; j < D; j++)
    ds->x[i * D + j] = (float)row->x[j];
  ds->y[i] = target;
  if (ds->y_fit)
    ds->y_fit[i] = target;
  ds->scale[i] = row->scale;
  ds->t_feat_ms[i] = coin_tf_next(tf, row->open_ms);
  ds->t_target_ms[i] = coin_tf_next(tf, ds->t_feat_ms[i]);
  ds->series[i] = (uint16_t)series;
  ds->tf[i] = (uint8_t)tf;
  ds->n++;
  return 0;
}

static int row_cmp(const void *a, const void *b, void *arg) {
  const struct coin_dataset *ds = arg;
  size_t i = *(const size_t *)a, j = *(const size_t *)b;
  if (ds->t_target_ms[i] != ds->t_target_ms[j])
    return ds->t_target_ms[i] < ds->t_target_ms[j] ? -1 : 1;
  if (ds->t_feat_ms[i] != ds->t_feat_ms[j])
    return ds->t_feat_ms[i] < ds->t_feat_ms[j] ? -1 : 1;
  if (ds->series[i] != ds->series[j])
    return ds->series[i] < ds->series[j] ? -1 : 1;
  return i < j ? -1 : (i > j);
}

int coin_dataset_sort(struct coin_dataset *ds) {
  if (ds == NULL)
    return coin_error_set(COIN_EINVAL, "dataset sort: NULL");
  if (ds->n < 2)
    return 0;
  size_t *perm = malloc(ds->n * sizeof(*perm));
  if (!perm)
    return coin_error_set(COIN_ENOMEM, "dataset sort: out of memory");
  for (size_t i = 0; i < ds->n; i++)
    perm[i] = i;
  qsort_r(perm, ds->n, sizeof(*perm), row_cmp, ds);
  /* Apply in place by following cycles: position j takes row perm[j]. */
  for (size_t i = 0; i < ds->n; i++) {
    if (perm[i] == i)
      continue;
    float tx[D];
    memcpy(tx, ds->x + i * D, sizeof(tx));
    double ty = ds->y[i], tyf = ds->y_fit ? ds->y_fit[i] : 0, ts = ds->scale[i];
    int64_t tfe = ds->t_feat_ms[i], tta = ds->t_target_ms[i];
    uint16_t tse = ds->series[i];
    uint8_t ttf = ds->tf[i];
    size_t j = i;
    for (;;) {
      size_t k = perm[j];
      perm[j] = j;
      if (k == i) {
        memcpy(ds->x + j * D, tx, sizeof(tx));
        ds->y[j] = ty;
        if (ds->y_fit)
          ds->y_fit[j] = tyf;
        ds->scale[j] = ts;
        ds->t_feat_ms[j] = tfe;
        ds->t_target_ms[j] = tta;
        ds->series[j] = tse;
        ds->tf[j] = ttf;
        break;
      }
      memcpy(ds->x + j * D, ds->x + k * D, sizeof(tx));
      ds->y[j] = ds->y[k];
      if (ds->y_fit)
        ds->y_fit[j] = ds->y_fit[k];
      ds->scale[j] = ds->scale[k];
      ds->t_feat_ms[j] = ds->t_feat_ms[k];
      ds->t_target_ms[j] = ds->t_target_ms[k];
      ds->series[j] = ds->series[k];
      ds->tf[j] = ds->tf[k];
      j = k;
    }
  }
  free(perm);
  return 0;
}

void coin_dataset_keep_newest(struct coin_dataset *ds, size_t keep) {
  if (ds == NULL || keep >= ds->n)
    return;
  size_t drop = ds->n - keep;
  memmove(ds->x, ds->x + drop * D, keep * D * sizeof(float));
  memmove(ds->y, ds->y + drop, keep * sizeof(double));
  if (ds->y_fit)
    memmove(ds->y_fit, ds->y_fit + drop, keep * sizeof(double));
  memmove(ds->scale, ds->scale + drop, keep * sizeof(double));
  memmove(ds->t_feat_ms, ds->t_feat_ms + drop, keep * sizeof(int64_t));
  memmove(ds->t_target_ms, ds->t_target_ms + drop, keep * sizeof(int64_t));
  memmove(ds->series, ds->series + drop, keep * sizeof(uint16_t));
  memmove(ds->tf, ds->tf + drop, keep);
  ds->n = keep;
}

static uint64_t splitmix64(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

int coin_dataset_shuffle_labels(struct coin_dataset *ds, uint64_t seed) {
  if (ds == NULL)
    return coin_error_set(COIN_EINVAL, "dataset shuffle: NULL");
  if (!ds->y_fit) {
    ds->y_fit = malloc((ds->cap ? ds->cap : 1) * sizeof(double));
    if (!ds->y_fit)
      return coin_error_set(COIN_ENOMEM, "dataset shuffle: out of memory");
  }
  /* Shuffle the standardized label so each row keeps a label of its own
   * scale's size: y_fit = y[j] / scale[j] * scale[i]. */
  for (size_t i = 0; i < ds->n; i++)
    ds->y_fit[i] = ds->y[i] / ds->scale[i];
  uint64_t s = seed;
  for (size_t i = ds->n; i > 1; i--) {
    size_t j = (size_t)(splitmix64(&s) % i);
    double t = ds->y_fit[i - 1];
    ds->y_fit[i - 1] = ds->y_fit[j];
    ds->y_fit[j] = t;
  }
  for (size_t i = 0; i < ds->n; i++)
    ds->y_fit[i] *= ds->scale[i];
  return 0;
}

void coin_dataset_free(struct coin_dataset *ds) {
  if (ds == NULL)
    return;
  free(ds->x);
  free(ds->y);
  free(ds->y_fit);
  free(ds->scale);
  free(ds->t_feat_ms);
  free(ds->t_target_ms);
  free(ds->series);
  free(ds->tf);
  free(ds->series_tab);
  memset(ds, 0, sizeof(*ds));
}

/* ---- parameters --------------------------------------------------------- */

void coin_model_params_default(struct coin_model_params *p) {
  memset(p, 0, sizeof(*p));
  p->ridge_alpha = 1.0;
  p->xgb_rounds = 150;
  p->xgb_max_depth = 5;
  p->xgb_eta = 0.05;
  p->xgb_subsample = 0.8;
  p->xgb_colsample = 0.8;
  p->xgb_min_child_weight = 200;
  p->xgb_lambda = 10;
  p->xgb_max_bin = 64;
  p->seed = 42;
}

/* ---- calibration -------------------------------------------------------- */

static int dbl_cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void fill_table(double q[COIN_MODEL_QUANTILES], double *v, size_t n) {
  qsort(v, n, sizeof(double), dbl_cmp);
  for (size_t i = 0; i < COIN_MODEL_QUANTILES; i++) {
    double pos = (double)i / (COIN_MODEL_QUANTILES - 1) * (double)(n - 1);
    size_t lo = (size_t)pos;
    size_t hi = lo + 1 < n ? lo + 1 : lo;
    double f = pos - (double)lo;
    q[i] = v[lo] + (v[hi] - v[lo]) * f;
  }
}

/* Logistic regression of up on z without an intercept (Newton's method on
 * one parameter): P(up) = 1 / (1 + exp(-b z)). No intercept on purpose: the
 * share of up candles drifts with the market regime, and an intercept would
 * bet on the past regime's drift (it made walk-forward Brier scores worse
 * than 0.25 on the real data). Without it, the direction is the sign of the
 * predicted return and the probability says how far to trust it. */
static bool platt_fit(double *b_out, const double *z, const double *y,
                      size_t n) {
  size_t m = 0;
  double zz = 0;
  for (size_t i = 0; i < n; i++) {
    if (y[i] == 0 || !isfinite(z[i]) || !isfinite(y[i]))
      continue;
    m++;
    zz += z[i] * z[i];
  }
  if (m < PLATT_MIN_ROWS || !(zz > 0))
    return false;
  double b = 0;
  for (int it = 0; it < 50; it++) {
    double g = 0, h = 0;
    for (size_t i = 0; i < n; i++) {
      if (y[i] == 0 || !isfinite(z[i]) || !isfinite(y[i]))
        continue;
      double p = 1.0 / (1.0 + exp(-b * z[i]));
      g += (p - (y[i] > 0 ? 1.0 : 0.0)) * z[i];
      h += p * (1 - p) * z[i] * z[i];
    }
    if (!(h > 0))
      break;
    double step = g / h;
    b -= step;
    if (fabs(step) < 1e-12 * (1 + fabs(b)))
      break;
  }
  if (!isfinite(b))
    return false;
  *b_out = b;
  return true;
}

/* ---- shrinkage (calibration) ---------------------------------------------
 * The served return is k * z * scale. The k in [0, 1] minimizing
 * sum |y - k a| (a = z * scale) is the median of y / a weighted by |a|,
 * clamped: sum |y - k a| = sum |a| |y / a - k|, a convex function of k.
 * Pure noise puts that median near 0, an exact predictor at 1. */

struct ratio {
  double r, w;
};

static int ratio_cmp(const void *a, const void *b) {
  double x = ((const struct ratio *)a)->r, y = ((const struct ratio *)b)->r;
  return x < y ? -1 : x > y;
}

/* m rows, of which v[0..nv) have a != 0. */
static double shrink_fit(struct ratio *v, size_t nv) {
  double total = 0;
  for (size_t i = 0; i < nv; i++)
    total += v[i].w;
  if (!(total > 0))
    return 0; /* the model always says 0: nothing to keep */
  qsort(v, nv, sizeof(*v), ratio_cmp);
  double acc = 0, k = v[nv - 1].r;
  for (size_t i = 0; i < nv; i++) {
    acc += v[i].w;
    if (acc >= total / 2) {
      k = v[i].r;
      break;
    }
  }
  return k > 1 ? 1 : k > 0 ? k : 0; /* also turns -0 and NaN into 0 */
}

static bool shrink_row_ok(const double *z, const double *y, const double *scale,
                          size_t i) {
  return isfinite(z[i]) && isfinite(y[i]) && isfinite(scale[i]) && scale[i] > 0;
}

static int shrink_fit_all(struct coin_calibration *c, const double *z,
                          const double *y, const double *scale,
                          const uint8_t *tf, size_t n) {
  struct ratio *v = malloc(n * sizeof(*v));
  if (!v)
    return coin_error_set(COIN_ENOMEM, "calibration: out of memory");
  for (int t = 0; t <= COIN_TF_COUNT; t++) {
    size_t m = 0, nv = 0;
    for (size_t i = 0; i < n; i++) {
      if ((t < COIN_TF_COUNT && tf[i] != t) || !shrink_row_ok(z, y, scale, i))
        continue;
      m++;
      double a = z[i] * scale[i];
      if (a != 0)
        v[nv++] = (struct ratio){y[i] / a, fabs(a)};
    }
    c->shrink[t].k = 1;
    if (m >= TABLE_MIN_ROWS) {
      c->shrink[t].n = (uint32_t)(m > UINT32_MAX ? UINT32_MAX : m);
      c->shrink[t].k = shrink_fit(v, nv);
    }
  }
  free(v);
  return 0;
}

double coin_calibration_shrink_factor(const struct coin_calibration *c,
                                      enum coin_tf tf) {
  if ((unsigned)tf < COIN_TF_COUNT && c->shrink[tf].n)
    return c->shrink[tf].k;
  if (c->shrink[COIN_TF_COUNT].n)
    return c->shrink[COIN_TF_COUNT].k;
  return 1;
}

double coin_calibration_shrink(const struct coin_calibration *c,
                               enum coin_tf tf, double z) {
  return coin_calibration_shrink_factor(c, tf) * z;
}

int coin_calibration_fit(struct coin_calibration *out, const double *z_pred,
                         const double *y, const double *scale,
                         const uint8_t *tf, size_t n) {
  struct coin_calibration c;
  int rc;
  memset(&c, 0, sizeof(c));
  for (int t = 0; t <= COIN_TF_COUNT; t++)
    c.shrink[t].k = 1;
  if (n == 0) {
    *out = c;
    return 0;
  }
  if (!z_pred || !y || !scale || !tf)
    return coin_error_set(COIN_EINVAL, "calibration: NULL argument");
  if ((rc = shrink_fit_all(&c, z_pred, y, scale, tf, n)) != 0)
    return rc;
  double *v = malloc(n * sizeof(double));
  if (!v)
    return coin_error_set(COIN_ENOMEM, "calibration: out of memory");
  c.has_platt = platt_fit(&c.platt_b, z_pred, y, n);
  c.platt_a = 0;
  for (int t = 0; t <= COIN_TF_COUNT; t++) {
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
      if (t < COIN_TF_COUNT && tf[i] != t)
        continue;
      /* residuals of the prediction as served */
      double k = coin_calibration_shrink_factor(&c, (enum coin_tf)tf[i]);
      double e = y[i] / scale[i] - k * z_pred[i];
      if (isfinite(e))
        v[m++] = e;
    }
    if (m >= (t < COIN_TF_COUNT ? TABLE_MIN_ROWS : 2)) {
      c.table[t].n = (uint32_t)(m > UINT32_MAX ? UINT32_MAX : m);
      fill_table(c.table[t].q, v, m);
    }
  }
  free(v);
  *out = c;
  return 0;
}

static const double *pick_table(const struct coin_calibration *c,
                                enum coin_tf tf) {
  if ((unsigned)tf < COIN_TF_COUNT && c->table[tf].n)
    return c->table[tf].q;
  if (c->table[COIN_TF_COUNT].n)
    return c->table[COIN_TF_COUNT].q;
  return NULL;
}

double coin_calibration_quantile(const struct coin_calibration *c,
                                 enum coin_tf tf, double p) {
  const double *q = pick_table(c, tf);
  if (!q || !(p >= 0) || !(p <= 1))
    return 0;
  double pos = p * (COIN_MODEL_QUANTILES - 1);
  size_t lo = (size_t)pos;
  if (lo >= COIN_MODEL_QUANTILES - 1)
    return q[COIN_MODEL_QUANTILES - 1];
  double f = pos - (double)lo;
  return q[lo] + (q[lo + 1] - q[lo]) * f;
}

double coin_calibration_p_up(const struct coin_calibration *c, enum coin_tf tf,
                             double z) {
  if (c->has_platt) {
    double p = 1.0 / (1.0 + exp(-(c->platt_a + c->platt_b * z)));
    return isfinite(p) ? p : 0.5;
  }
  const double *q = pick_table(c, tf);
  if (!q)
    return 0.5;
  /* P(z + e > 0) = 1 - F(-z), F from the quantile table */
  double x = -z;
  if (x <= q[0])
    return 1.0 - 0.5 / (COIN_MODEL_QUANTILES - 1);
  if (x >= q[COIN_MODEL_QUANTILES - 1])
    return 0.5 / (COIN_MODEL_QUANTILES - 1);
  for (size_t i = 1; i < COIN_MODEL_QUANTILES; i++)
    if (x <= q[i]) {
      double span = q[i] - q[i - 1];
      double f = span > 0 ? (x - q[i - 1]) / span : 0.5;
      double F = ((double)(i - 1) + f) / (COIN_MODEL_QUANTILES - 1);
      return 1.0 - F;
    }
  return 0.5;
}

/* ---- models ------------------------------------------------------------- */

static struct coin_model *model_new(const struct model_kind *k) {
  struct coin_model *m = calloc(1, sizeof(*m));
  if (!m)
    return NULL;
  m->kind = k;
  m->schema_version = COIN_FEATURES_SCHEMA_VERSION;
  snprintf(m->schema_hash, sizeof(m->schema_hash), "%s",
           coin_features_schema_hash());
  m->n_features = D;
  return m;
}

void coin_model_free(struct coin_model *m) {
  if (m == NULL)
    return;
  if (m->state)
    m->kind->free(m->state);
  free(m);
}

int coin_model_fit(struct coin_model **out, const char *kind,
                   const struct coin_dataset *ds, size_t from, size_t to,
                   const struct coin_model_params *params) {
  int rc = 0;
  double *t = NULL;
  struct coin_model *m = NULL;
  const struct model_kind *k = find_kind(kind);
  if (out == NULL || ds == NULL || params == NULL)
    return coin_error_set(COIN_EINVAL, "model fit: NULL argument");
  if (k == NULL)
    return coin_error_set(COIN_EINVAL,
                          "model fit: kind \"%s\" unknown (rule: one of "
                          "ridge xgboost)",
                          kind ? kind : "(null)");
  if (from > to || to > ds->n)
    return coin_error_set(COIN_EINVAL, "model fit: rows [%zu, %zu) outside %zu",
                          from, to, ds->n);
  size_t n = to - from;
  if (n < 2 * D)
    return coin_error_set(COIN_EINVAL,
                          "model fit: %zu rows (rule: at least %d to fit %d "
                          "features)",
                          n, 2 * D, D);
  t = malloc(n * sizeof(double));
  m = model_new(k);
  if (!t || !m) {
    rc = coin_error_set(COIN_ENOMEM, "model fit: out of memory");
    goto out;
  }
  const double *y = ds->y_fit ? ds->y_fit : ds->y;
  for (size_t i = 0; i < n; i++) {
    double z = y[from + i] / ds->scale[from + i];
    if (!isfinite(z))
      z = 0;
    t[i] = z > COIN_MODEL_TARGET_CLIP    ? COIN_MODEL_TARGET_CLIP
           : z < -COIN_MODEL_TARGET_CLIP ? -COIN_MODEL_TARGET_CLIP
                                         : z;
  }
  if ((rc = k->fit(&m->state, ds->x + from * D, t, n, D, params)) != 0) {
    coin_error_wrap(rc, "model fit (%s)", k->name);
    goto out;
  }
  *out = m;
  m = NULL;
out:
  free(t);
  coin_model_free(m);
  return rc;
}

void coin_model_set_calibration(struct coin_model *m,
                                const struct coin_calibration *c) {
  if (m && c)
    m->cal = *c;
}

const struct coin_calibration *
coin_model_calibration(const struct coin_model *m) {
  return &m->cal;
}

int coin_model_predict_z(const struct coin_model *m, double *out,
                         const float *x, size_t n) {
  if (m == NULL || out == NULL || (x == NULL && n))
    return coin_error_set(COIN_EINVAL, "model predict: NULL argument");
  if (m->n_features != D)
    return coin_error_set(COIN_EINVAL,
                          "model predict: model has %u features, this build "
                          "computes %d (rule: same feature schema)",
                          m->n_features, D);
  if (n == 0)
    return 0;
  int rc = m->kind->predict(m->state, out, x, n, D);
  if (rc)
    return coin_error_wrap(rc, "model predict (%s)", m->kind->name);
  for (size_t i = 0; i < n; i++)
    if (!isfinite(out[i]))
      return coin_error_set(COIN_EINTERNAL,
                            "model predict (%s): non-finite prediction",
                            m->kind->name);
  return 0;
}

int coin_model_predict_row(const struct coin_model *m,
                           struct coin_model_output *out,
                           const struct coin_feature_row *row, enum coin_tf tf,
                           double band_level) {
  if (m == NULL || out == NULL || row == NULL)
    return coin_error_set(COIN_EINVAL, "model predict: NULL argument");
  if (!(band_level > 0 && band_level < 1))
    return coin_error_set(COIN_EINVAL,
                          "model predict: band_level %g (rule: 0 < level < 1)",
                          band_level);
  float x[D];
  for (size_t j = 0; j < D; j++)
    x[j] = (float)row->x[j];
  double z;
  int rc = coin_model_predict_z(m, &z, x, 1);
  if (rc)
    return rc;
  struct coin_model_output o;
  /* the return, the close and the band centre all use the shrunk z; the
   * direction probability is Platt's on the raw z (its sign is the same) */
  double zs = coin_calibration_shrink(&m->cal, tf, z);
  o.z = z;
  o.ret = zs * row->scale;
  o.p_up = coin_calibration_p_up(&m->cal, tf, z);
  double tail = (1 - band_level) / 2;
  o.band_low_ret =
      (zs + coin_calibration_quantile(&m->cal, tf, tail)) * row->scale;
  o.band_high_ret =
      (zs + coin_calibration_quantile(&m->cal, tf, 1 - tail)) * row->scale;
  *out = o;
  return 0;
}

/* ---- artifact ----------------------------------------------------------- */

int coin_model_save(const struct coin_model *m, uint8_t **out,
                    size_t *out_len) {
  struct model_buf b = {0};
  uint8_t *learner = NULL;
  size_t learner_len = 0;
  int rc;
  if (m == NULL || out == NULL || out_len == NULL)
    return coin_error_set(COIN_EINVAL, "model save: NULL argument");
  if ((rc = m->kind->save(m->state, &learner, &learner_len)) != 0)
    return coin_error_wrap(rc, "model save (%s)", m->kind->name);
  model_buf_put(&b, ARTIFACT_MAGIC, 8);
  model_buf_u32(&b, ARTIFACT_FORMAT);
  model_buf_u32(&b, (uint32_t)strlen(m->kind->name));
  model_buf_put(&b, m->kind->name, strlen(m->kind->name));
  model_buf_u32(&b, m->schema_version);
  model_buf_put(&b, m->schema_hash, 64);
  model_buf_u32(&b, m->n_features);
  model_buf_f64(&b, COIN_MODEL_TARGET_CLIP);
  model_buf_u32(&b, m->cal.has_platt ? 1 : 0);
  model_buf_f64(&b, m->cal.platt_a);
  model_buf_f64(&b, m->cal.platt_b);
  for (int t = 0; t <= COIN_TF_COUNT; t++) {
    model_buf_u32(&b, m->cal.table[t].n);
    if (m->cal.table[t].n)
      for (size_t i = 0; i < COIN_MODEL_QUANTILES; i++)
        model_buf_f64(&b, m->cal.table[t].q[i]);
  }
  for (int t = 0; t <= COIN_TF_COUNT; t++) { /* format 2: shrinkage */
    model_buf_u32(&b, m->cal.shrink[t].n);
    model_buf_f64(&b, m->cal.shrink[t].n ? m->cal.shrink[t].k : 1.0);
  }
  model_buf_u64(&b, learner_len);
  model_buf_put(&b, learner, learner_len);
  free(learner);
  if (!b.err) {
    unsigned char md[32];
    sha256_raw(md, b.p, b.len);
    model_buf_put(&b, md, 32);
  }
  if (b.err) {
    free(b.p);
    return coin_error_set(COIN_ENOMEM, "model save: out of memory");
  }
  *out = b.p;
  *out_len = b.len;
  return 0;
}

int coin_model_load(struct coin_model **out, const uint8_t *data, size_t len) {
  int rc = 0;
  struct coin_model *m = NULL;
  if (out == NULL || (data == NULL && len))
    return coin_error_set(COIN_EINVAL, "model load: NULL argument");
  if (len > COIN_MODEL_MAX_ARTIFACT_BYTES)
    return coin_error_set(COIN_ETOOBIG,
                          "model artifact: %zu bytes (rule: at most %zu)", len,
                          COIN_MODEL_MAX_ARTIFACT_BYTES);
  if (len < 8 + 32 || memcmp(data, ARTIFACT_MAGIC, 8) != 0)
    return coin_error_set(COIN_EDECODE,
                          "model artifact: %zu bytes without the magic "
                          "\"" ARTIFACT_MAGIC "\" (rule: a coin model "
                          "artifact)",
                          len);
  unsigned char md[32];
  sha256_raw(md, data, len - 32);
  if (memcmp(md, data + len - 32, 32) != 0) {
    char want[65], got[65];
    for (int i = 0; i < 32; i++) {
      snprintf(want + 2 * i, 3, "%02x", data[len - 32 + i]);
      snprintf(got + 2 * i, 3, "%02x", md[i]);
    }
    return coin_error_set(COIN_EDECODE,
                          "model artifact: checksum mismatch: trailer %.16s... "
                          "content %.16s... (rule: the artifact is corrupted "
                          "or truncated)",
                          want, got);
  }
  struct model_rd r = {.p = data, .len = len - 32, .off = 8};
  uint32_t format = model_rd_u32(&r);
  if (format < 1 || format > ARTIFACT_FORMAT)
    return coin_error_set(COIN_EDECODE,
                          "model artifact: format %u (rule: 1..%u)", format,
                          ARTIFACT_FORMAT);
  char kind[33] = {0};
  uint32_t kind_len = model_rd_u32(&r);
  if (kind_len == 0 || kind_len > 32)
    return coin_error_set(
        COIN_EDECODE, "model artifact: kind length %u (rule: 1..32)", kind_len);
  model_rd_get(&r, kind, kind_len);
  const struct model_kind *k = find_kind(kind);
  if (!k)
    return coin_error_set(COIN_EDECODE,
                          "model artifact: kind \"%s\" unknown to this build",
                          kind);
  m = model_new(k);
  if (!m)
    return coin_error_set(COIN_ENOMEM, "model load: out of memory");
  m->schema_version = model_rd_u32(&r);
  model_rd_get(&r, m->schema_hash, 64);
  m->schema_hash[64] = '\0';
  m->n_features = model_rd_u32(&r);
  double clip = model_rd_f64(&r);
  m->cal.has_platt = model_rd_u32(&r) != 0;
  m->cal.platt_a = model_rd_f64(&r);
  m->cal.platt_b = model_rd_f64(&r);
  for (int t = 0; t <= COIN_TF_COUNT && !r.bad; t++) {
    m->cal.table[t].n = model_rd_u32(&r);
    if (m->cal.table[t].n)
      for (size_t i = 0; i < COIN_MODEL_QUANTILES; i++)
        m->cal.table[t].q[i] = model_rd_f64(&r);
  }
  /* format 1 has no shrinkage: k = 1 (n = 0), predictions as before */
  bool shrink_ok = true;
  int bad_tf = 0;
  double bad_k = 1;
  for (int t = 0; t <= COIN_TF_COUNT; t++) {
    m->cal.shrink[t].n = format >= 2 ? model_rd_u32(&r) : 0;
    m->cal.shrink[t].k = format >= 2 ? model_rd_f64(&r) : 1.0;
    if (shrink_ok && !(m->cal.shrink[t].k >= 0 && m->cal.shrink[t].k <= 1)) {
      shrink_ok = false;
      bad_tf = t;
      bad_k = m->cal.shrink[t].k;
    }
  }
  uint64_t learner_len = model_rd_u64(&r);
  if (r.bad || learner_len != r.len - r.off) {
    rc = coin_error_set(COIN_EDECODE,
                        "model artifact: learner length %llu does not match "
                        "the %zu bytes left (rule: consistent framing)",
                        (unsigned long long)learner_len,
                        r.bad ? (size_t)0 : r.len - r.off);
    goto out;
  }
  if (clip != COIN_MODEL_TARGET_CLIP || m->n_features == 0 ||
      m->n_features > 4096 || !isfinite(m->cal.platt_a) ||
      !isfinite(m->cal.platt_b)) {
    rc = coin_error_set(COIN_EDECODE,
                        "model artifact: header values out of range "
                        "(features %u, target clip %g)",
                        m->n_features, clip);
    goto out;
  }
  if (!shrink_ok) {
    rc = coin_error_set(
        COIN_EDECODE,
        "model artifact: shrink factor %g for %s (rule: 0 <= k <= 1)", bad_k,
        bad_tf < COIN_TF_COUNT ? coin_tf_name((enum coin_tf)bad_tf) : "pooled");
    goto out;
  }
  for (size_t i = 0; i < 64; i++) {
    char c = m->schema_hash[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      rc = coin_error_set(COIN_EDECODE,
                          "model artifact: feature schema hash not hex");
      goto out;
    }
  }
  if ((rc = k->load(&m->state, r.p + r.off, (size_t)learner_len,
                    m->n_features)) != 0) {
    coin_error_wrap(rc, "model artifact (%s learner)", k->name);
    goto out;
  }
  *out = m;
  m = NULL;
out:
  coin_model_free(m);
  return rc;
}

int coin_model_describe(char **out, const struct coin_model *m) {
  int rc = 0;
  char *learner = NULL;
  json_t *o = NULL, *l = NULL;
  if (out == NULL || m == NULL)
    return coin_error_set(COIN_EINVAL, "model describe: NULL argument");
  if ((rc = m->kind->describe(m->state, &learner)) != 0)
    return rc;
  l = json_loads(learner, 0, NULL);
  o = json_pack("{s:s, s:I, s:s, s:I, s:b, s:f, s:f}", "kind", m->kind->name,
                "feature_schema_version", (json_int_t)m->schema_version,
                "feature_schema_hash", m->schema_hash, "features",
                (json_int_t)m->n_features, "platt", (int)m->cal.has_platt,
                "platt_a", m->cal.platt_a, "platt_b", m->cal.platt_b);
  if (!o || !l) {
    rc = coin_error_set(COIN_ENOMEM, "model describe: JSON failed");
    goto out;
  }
  json_t *tables = json_object();
  for (int t = 0; t <= COIN_TF_COUNT; t++) {
    if (!m->cal.table[t].n)
      continue;
    const char *name =
        t < COIN_TF_COUNT ? coin_tf_name((enum coin_tf)t) : "pooled";
    json_object_set_new(
        tables, name,
        json_pack("{s:I, s:f, s:f, s:f}", "n", (json_int_t)m->cal.table[t].n,
                  "q10", m->cal.table[t].q[10], "q50", m->cal.table[t].q[50],
                  "q90", m->cal.table[t].q[90]));
  }
  json_object_set_new(o, "residual_quantiles", tables);
  json_t *shrink = json_object();
  for (int t = 0; t <= COIN_TF_COUNT; t++)
    if (m->cal.shrink[t].n)
      json_object_set_new(
          shrink, t < COIN_TF_COUNT ? coin_tf_name((enum coin_tf)t) : "pooled",
          json_pack("{s:I, s:f}", "n", (json_int_t)m->cal.shrink[t].n, "k",
                    m->cal.shrink[t].k));
  json_object_set_new(o, "shrink", shrink);
  json_object_set(o, "learner", l);
  *out = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17));
  if (!*out)
    rc = coin_error_set(COIN_ENOMEM, "model describe: out of memory");
out:
  json_decref(o);
  json_decref(l);
  free(learner);
  return rc;
}

const char *coin_model_kind(const struct coin_model *m) {
  return m->kind->name;
}

uint32_t coin_model_schema_version(const struct coin_model *m) {
  return m->schema_version;
}

const char *coin_model_schema_hash(const struct coin_model *m) {
  return m->schema_hash;
}

bool coin_model_servable(const struct coin_model *m) {
  return m->schema_version == COIN_FEATURES_SCHEMA_VERSION &&
         m->n_features == D &&
         strcmp(m->schema_hash, coin_features_schema_hash()) == 0;
}
