/*
 * model_xgboost.c: gradient-boosted trees through XGBoost's C API (1.6/1.7).
 * Training uses nthread=1 and a fixed seed, so a fit is byte-reproducible;
 * the learner is saved as UBJSON. XGBoost owns the buffers it returns
 * (SaveModelToBuffer, Predict): they are copied at once. A booster is not
 * re-entrant: one thread at a time per model (model.h).
 */
#include "coin/error.h"
#include "model_int.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xgboost/c_api.h>

struct xgb {
  BoosterHandle h;
  size_t d;
  int rounds;
  char params[1024]; /* as used, for describe */
};

static pthread_once_t quiet_once = PTHREAD_ONCE_INIT;

static void make_quiet(void) {
  XGBSetGlobalConfig("{\"verbosity\":0}");
}

static int xgb_error(const char *what) {
  const char *t = XGBGetLastError();
  char line[320];
  /* XGBoost's text may span lines; keep the first */
  snprintf(line, sizeof(line), "%s", t ? t : "unknown error");
  line[strcspn(line, "\n")] = '\0';
  return coin_error_set(COIN_EINTERNAL, "xgboost: %s: %s", what, line);
}

static void xgb_free(void *state) {
  struct xgb *m = state;
  if (!m)
    return;
  if (m->h)
    XGBoosterFree(m->h);
  free(m);
}

static int set_param(BoosterHandle h, const char *k, const char *v) {
  return XGBoosterSetParam(h, k, v) == 0 ? 0 : xgb_error(k);
}

static int xgb_fit(void **out, const float *x, const double *y, size_t n,
                   size_t d, const struct coin_model_params *p) {
  int rc = 0;
  DMatrixHandle dm = NULL;
  float *labels = NULL;
  struct xgb *m = NULL;
  pthread_once(&quiet_once, make_quiet);
  if (p->xgb_rounds < 1 || p->xgb_rounds > 5000 || p->xgb_max_depth < 1 ||
      p->xgb_max_depth > 16 || !(p->xgb_eta > 0 && p->xgb_eta <= 1) ||
      !(p->xgb_subsample > 0 && p->xgb_subsample <= 1) ||
      !(p->xgb_colsample > 0 && p->xgb_colsample <= 1) ||
      !(p->xgb_min_child_weight >= 0) || !(p->xgb_lambda >= 0) ||
      p->xgb_max_bin < 2 || p->xgb_max_bin > 256)
    return coin_error_set(COIN_EINVAL,
                          "xgboost: parameters out of range (rounds 1..5000, "
                          "depth 1..16, 0 < eta <= 1, 0 < subsample <= 1, "
                          "0 < colsample <= 1, max_bin 2..256)");
  m = calloc(1, sizeof(*m));
  labels = malloc(n * sizeof(float));
  if (!m || !labels) {
    rc = coin_error_set(COIN_ENOMEM, "xgboost: out of memory");
    goto out;
  }
  double mean = 0;
  for (size_t i = 0; i < n; i++) {
    labels[i] = (float)y[i];
    mean += y[i];
  }
  mean /= (double)n;
  m->d = d;
  m->rounds = p->xgb_rounds;
  if (XGDMatrixCreateFromMat(x, (bst_ulong)n, (bst_ulong)d, NAN, &dm) != 0) {
    rc = xgb_error("create training matrix");
    goto out;
  }
  if (XGDMatrixSetFloatInfo(dm, "label", labels, (bst_ulong)n) != 0) {
    rc = xgb_error("set labels");
    goto out;
  }
  free(labels);
  labels = NULL;
  if (XGBoosterCreate(&dm, 1, &m->h) != 0) {
    rc = xgb_error("create booster");
    goto out;
  }
  char v[8][64];
  snprintf(v[0], sizeof(v[0]), "%d", p->xgb_max_depth);
  snprintf(v[1], sizeof(v[1]), "%.17g", p->xgb_eta);
  snprintf(v[2], sizeof(v[2]), "%.17g", p->xgb_subsample);
  snprintf(v[3], sizeof(v[3]), "%.17g", p->xgb_colsample);
  snprintf(v[4], sizeof(v[4]), "%.17g", p->xgb_min_child_weight);
  snprintf(v[5], sizeof(v[5]), "%.17g", p->xgb_lambda);
  snprintf(v[6], sizeof(v[6]), "%d", p->xgb_max_bin);
  snprintf(v[7], sizeof(v[7]), "%llu",
           (unsigned long long)(p->seed & 0x7fffffff));
  char base[64];
  snprintf(base, sizeof(base), "%.17g", mean);
  if ((rc = set_param(m->h, "nthread", "1")) ||
      (rc = set_param(m->h, "verbosity", "0")) ||
      (rc = set_param(m->h, "objective", "reg:squarederror")) ||
      (rc = set_param(m->h, "tree_method", "hist")) ||
      (rc = set_param(m->h, "base_score", base)) ||
      (rc = set_param(m->h, "max_depth", v[0])) ||
      (rc = set_param(m->h, "eta", v[1])) ||
      (rc = set_param(m->h, "subsample", v[2])) ||
      (rc = set_param(m->h, "colsample_bytree", v[3])) ||
      (rc = set_param(m->h, "min_child_weight", v[4])) ||
      (rc = set_param(m->h, "lambda", v[5])) ||
      (rc = set_param(m->h, "max_bin", v[6])) ||
      (rc = set_param(m->h, "seed", v[7])))
    goto out;
  snprintf(m->params, sizeof(m->params),
           "{\"rounds\":%d,\"max_depth\":%s,\"eta\":%s,\"subsample\":%s,"
           "\"colsample_bytree\":%s,\"min_child_weight\":%s,\"lambda\":%s,"
           "\"max_bin\":%s,\"seed\":%s,\"base_score\":%s,\"rows\":%zu}",
           p->xgb_rounds, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], base,
           n);
  for (int it = 0; it < p->xgb_rounds; it++)
    if (XGBoosterUpdateOneIter(m->h, it, dm) != 0) {
      rc = xgb_error("boosting round");
      goto out;
    }
  *out = m;
  m = NULL;
out:
  if (dm)
    XGDMatrixFree(dm);
  free(labels);
  xgb_free(m);
  return rc;
}

static int xgb_predict(const void *state, double *out, const float *x, size_t n,
                       size_t d) {
  const struct xgb *m = state;
  DMatrixHandle dm = NULL;
  bst_ulong len = 0;
  const float *res = NULL;
  int rc = 0;
  if (d != m->d)
    return coin_error_set(
        COIN_EINVAL, "xgboost: %zu features given, model has %zu", d, m->d);
  if (XGDMatrixCreateFromMat(x, (bst_ulong)n, (bst_ulong)d, NAN, &dm) != 0)
    return xgb_error("create prediction matrix");
  if (XGBoosterPredict(m->h, dm, 0, 0, 0, &len, &res) != 0) {
    rc = xgb_error("predict");
    goto out;
  }
  if (len != n) {
    rc =
        coin_error_set(COIN_EINTERNAL, "xgboost: %llu predictions for %zu rows",
                       (unsigned long long)len, n);
    goto out;
  }
  for (size_t i = 0; i < n; i++) /* res belongs to the booster: copy */
    out[i] = res[i];
out:
  XGDMatrixFree(dm);
  return rc;
}

static int xgb_save(const void *state, uint8_t **out, size_t *out_len) {
  const struct xgb *m = state;
  bst_ulong len = 0;
  const char *buf = NULL;
  if (XGBoosterSaveModelToBuffer(m->h, "{\"format\": \"ubj\"}", &len, &buf) !=
      0)
    return xgb_error("save");
  size_t plen = strlen(m->params);
  /* params text first (describe after load), then the booster's bytes */
  uint8_t *copy = malloc(4 + plen + (size_t)len);
  if (!copy)
    return coin_error_set(COIN_ENOMEM, "xgboost save: out of memory");
  struct model_buf b = {.p = copy, .cap = 4 + plen + (size_t)len};
  model_buf_u32(&b, (uint32_t)plen);
  model_buf_put(&b, m->params, plen);
  model_buf_put(&b, buf, (size_t)len); /* buf is the booster's: copy now */
  *out = b.p;
  *out_len = b.len;
  return 0;
}

static int xgb_load(void **out, const uint8_t *data, size_t len, size_t d) {
  int rc = 0;
  struct xgb *m = NULL;
  struct model_rd rd = {.p = data, .len = len};
  pthread_once(&quiet_once, make_quiet);
  uint32_t plen = model_rd_u32(&rd);
  if (rd.bad || plen >= sizeof(((struct xgb *)0)->params) || plen > len - 4)
    return coin_error_set(COIN_EDECODE,
                          "xgboost: parameter text length %u (rule: < 1024 "
                          "and inside the %zu bytes)",
                          plen, len);
  m = calloc(1, sizeof(*m));
  if (!m)
    return coin_error_set(COIN_ENOMEM, "xgboost load: out of memory");
  model_rd_get(&rd, m->params, plen);
  m->params[plen] = '\0';
  m->d = d;
  if (XGBoosterCreate(NULL, 0, &m->h) != 0) {
    rc = xgb_error("create booster");
    goto out;
  }
  if (XGBoosterLoadModelFromBuffer(m->h, data + rd.off,
                                   (bst_ulong)(len - rd.off)) != 0) {
    (void)xgb_error("load");
    rc = COIN_EDECODE;
    goto out;
  }
  bst_ulong nf = 0;
  if (XGBoosterGetNumFeature(m->h, &nf) != 0 || nf != d) {
    rc = coin_error_set(COIN_EDECODE,
                        "xgboost: booster has %llu features (rule: %zu)",
                        (unsigned long long)nf, d);
    goto out;
  }
  if ((rc = set_param(m->h, "nthread", "1")) != 0)
    goto out;
  int rounds = 0;
  if (XGBoosterBoostedRounds(m->h, &rounds) == 0)
    m->rounds = rounds;
  *out = m;
  m = NULL;
out:
  xgb_free(m);
  return rc;
}

static int xgb_describe(const void *state, char **out) {
  const struct xgb *m = state;
  json_t *params = json_loads(m->params, 0, NULL);
  json_t *o = json_pack("{s:i, s:o}", "boosted_rounds", m->rounds, "params",
                        params ? params : json_null());
  *out = o ? json_dumps(o, JSON_COMPACT) : NULL;
  json_decref(o);
  return *out ? 0 : coin_error_set(COIN_ENOMEM, "xgboost describe: no memory");
}

/* Bytes per row at the fit's peak: the booster's copy of the rows (index +
 * value per cell), the quantized histogram index, float labels, gradients,
 * predictions. */
const struct model_kind model_kind_xgboost =
    MODEL_OPS(xgb, "xgboost", 12 * COIN_FEATURES_COUNT + 64);
