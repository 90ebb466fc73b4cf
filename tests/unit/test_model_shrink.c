/* test_model_shrink.c: the shrinkage toward a zero return (model.h
 * "shrink", docs/models.md "Shrinkage"):
 * - the fit finds k ~ 0 on pure-noise predictions, k ~ 1 on informative
 *   ones, the MAE minimum over [0, 1] in between, per timeframe, pooled
 *   for a timeframe with too few rows, and no shrink without evidence;
 * - predict_row returns k z scale, with the band centred on it;
 * - the artifact keeps k (save / load round trip, format 2); a format-1
 *   artifact (no shrink block) still loads with k = 1 and predicts as
 *   before; a shrink factor outside [0, 1] or NaN is refused;
 * - the walk-forward's z_served is the shrunk z of exactly its scored rows. */
#include "coin/error.h"
#include "coin/features.h"
#include "coin/metrics_eval.h"
#include "coin/model.h"
#include "synthetic.h"
#include "test.h"

#include <math.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define D COIN_FEATURES_COUNT

static double mae_at(double k, const double *z, const double *y,
                     const double *s, const uint8_t *tf, size_t n,
                     enum coin_tf which) {
  double sum = 0;
  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if (tf[i] == which) {
      sum += fabs(y[i] - k * z[i] * s[i]);
      m++;
    }
  return sum / (double)m;
}

static void fit_finds_zero_on_noise_and_one_on_signal(void) {
  size_t n = 30000;
  double *z = malloc(n * sizeof(double)), *y = malloc(n * sizeof(double));
  double *s = malloc(n * sizeof(double));
  uint8_t *tf = malloc(n);
  rng_state = 1234;
  for (size_t i = 0; i < n; i++) {
    s[i] = 0.01 * (0.5 + uniform());
    z[i] = 0.3 * gauss();
    switch (i % 3) {
    case 0: /* 1h: predictions unrelated to the outcome */
      tf[i] = COIN_TF_1H;
      y[i] = s[i] * gauss();
      break;
    case 1: /* 1d: the outcome is the prediction plus a little noise */
      tf[i] = COIN_TF_1D;
      y[i] = s[i] * (z[i] + 0.05 * gauss());
      break;
    default: /* 1m: half the prediction is real */
      tf[i] = COIN_TF_1M;
      y[i] = s[i] * (0.5 * z[i] + 0.3 * gauss());
      break;
    }
  }
  z[3] = NAN; /* a row that was never predicted: left out */
  struct coin_calibration c;
  ASSERT_OK(coin_calibration_fit(&c, z, y, s, tf, n));
  double k1h = coin_calibration_shrink_factor(&c, COIN_TF_1H);
  double k1d = coin_calibration_shrink_factor(&c, COIN_TF_1D);
  double k1m = coin_calibration_shrink_factor(&c, COIN_TF_1M);
  fprintf(stderr, "  k: 1h %.4f 1d %.4f 1m %.4f pooled %.4f\n", k1h, k1d, k1m,
          c.shrink[COIN_TF_COUNT].k);
  ASSERT_TRUE(k1h >= 0 && k1h < 0.1);
  ASSERT_TRUE(k1d > 0.95 && k1d <= 1);
  ASSERT_TRUE(k1m > 0.35 && k1m < 0.65);
  ASSERT_EQ_INT(c.shrink[COIN_TF_1H].n, n / 3 - 1);
  ASSERT_EQ_INT(c.shrink[COIN_TF_1D].n, n / 3);
  /* each k is the MAE minimum over [0, 1] (a grid cannot beat it) */
  enum coin_tf tfs[3] = {COIN_TF_1H, COIN_TF_1D, COIN_TF_1M};
  double ks[3] = {k1h, k1d, k1m};
  for (int t = 0; t < 3; t++) {
    /* mae_at skips nothing: put the NaN row's z back to 0 for it */
    double zr = z[3];
    z[3] = 0;
    double best = mae_at(ks[t], z, y, s, tf, n, tfs[t]);
    for (double k = 0; k <= 1.0001; k += 0.01)
      ASSERT_TRUE(best <= mae_at(k, z, y, s, tf, n, tfs[t]) + 1e-12);
    z[3] = zr;
  }
  /* so the shrunk noise predictor is no worse than persistence (k = 0) */
  z[3] = 0;
  ASSERT_TRUE(mae_at(k1h, z, y, s, tf, n, COIN_TF_1H) <=
              mae_at(0, z, y, s, tf, n, COIN_TF_1H) + 1e-12);
  /* a timeframe without rows of its own uses the pooled factor */
  ASSERT_EQ_INT(c.shrink[COIN_TF_1W].n, 0);
  ASSERT_EQ_DBL(coin_calibration_shrink_factor(&c, COIN_TF_1W),
                c.shrink[COIN_TF_COUNT].k);
  ASSERT_EQ_DBL(coin_calibration_shrink(&c, COIN_TF_1D, 2.0), 2.0 * k1d);
  /* the band is that of the shrunk prediction: residuals y/s - k z */
  ASSERT_NEAR(coin_calibration_quantile(&c, COIN_TF_1D, 0.9), 1.2816 * 0.05,
              0.01);

  /* too few rows (< 200): no evidence, no shrink (k = 1, as format 1) */
  struct coin_calibration few;
  ASSERT_OK(coin_calibration_fit(&few, z, y, s, tf, 150));
  ASSERT_EQ_INT(few.shrink[COIN_TF_COUNT].n, 0);
  ASSERT_EQ_DBL(coin_calibration_shrink_factor(&few, COIN_TF_1H), 1);
  struct coin_calibration empty;
  memset(&empty, 0, sizeof(empty));
  ASSERT_EQ_DBL(coin_calibration_shrink_factor(&empty, COIN_TF_1H), 1);
  /* a model that always says 0: k = 0 (nothing to keep) */
  for (size_t i = 0; i < 600; i++)
    z[i] = 0;
  struct coin_calibration zero;
  ASSERT_OK(coin_calibration_fit(&zero, z, y, s, tf, 600));
  ASSERT_EQ_DBL(zero.shrink[COIN_TF_COUNT].k, 0);
  free(z);
  free(y);
  free(s);
  free(tf);
}

/* A ridge model on rows [0, 2000) with a hand-set shrink of k on 1h. */
static struct coin_model *ridge_with_shrink(const struct coin_dataset *ds,
                                            double k) {
  struct coin_model_params p;
  coin_model_params_default(&p);
  struct coin_model *m = NULL;
  double z[500];
  struct coin_calibration cal;
  if (coin_model_fit(&m, "ridge", ds, 0, 2000, &p) != 0 ||
      coin_model_predict_z(m, z, ds->x + 2000 * D, 500) != 0 ||
      coin_calibration_fit(&cal, z, ds->y + 2000, ds->scale + 2000,
                           ds->tf + 2000, 500) != 0) {
    coin_model_free(m);
    return NULL;
  }
  cal.shrink[COIN_TF_1H].n = 500;
  cal.shrink[COIN_TF_1H].k = k;
  coin_model_set_calibration(m, &cal);
  return m;
}

static struct coin_feature_row row_of(const struct coin_dataset *ds, size_t i) {
  struct coin_feature_row row = {.scale = ds->scale[i], .close = 1};
  for (size_t j = 0; j < D; j++)
    row.x[j] = ds->x[i * D + j];
  return row;
}

static void predict_row_returns_the_shrunk_return(void) {
  struct coin_dataset ds = make_dataset(3000, 11);
  struct coin_model *m = ridge_with_shrink(&ds, 0.25);
  ASSERT_TRUE(m != NULL);
  const struct coin_calibration *c = coin_model_calibration(m);
  for (size_t i = 2500; i < 2550; i++) {
    struct coin_feature_row row = row_of(&ds, i);
    struct coin_model_output o;
    ASSERT_OK(coin_model_predict_row(m, &o, &row, COIN_TF_1H, 0.8));
    ASSERT_EQ_DBL(o.ret, 0.25 * o.z * row.scale);
    ASSERT_EQ_DBL(o.band_low_ret,
                  (0.25 * o.z + coin_calibration_quantile(c, COIN_TF_1H, 0.1)) *
                      row.scale);
    ASSERT_EQ_DBL(o.band_high_ret,
                  (0.25 * o.z + coin_calibration_quantile(c, COIN_TF_1H, 0.9)) *
                      row.scale);
    ASSERT_TRUE(o.band_low_ret < o.ret && o.ret < o.band_high_ret);
    /* the direction is the raw prediction's, calibrated by Platt */
    ASSERT_EQ_DBL(o.p_up, coin_calibration_p_up(c, COIN_TF_1H, o.z));
  }
  coin_model_free(m);
  coin_dataset_free(&ds);
}

static void reseal(uint8_t *a, size_t len) {
  unsigned int md_len = 0;
  EVP_Digest(a, len - 32, a + len - 32, &md_len, EVP_sha256(), NULL);
}

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

/* Offset of the shrink block of a format-2 artifact, walking the format
 * as docs/models.md describes it. */
static size_t shrink_offset(const uint8_t *a) {
  size_t off = 8 + 4;
  uint32_t kind_len = le32(a + off);
  off += 4 + kind_len + 4 + 64 + 4 + 8 + 4 + 8 + 8;
  for (int t = 0; t <= COIN_TF_COUNT; t++) {
    uint32_t n = le32(a + off);
    off += 4 + (n ? COIN_MODEL_QUANTILES * 8 : 0);
  }
  return off;
}

#define SHRINK_BLOCK ((size_t)(COIN_TF_COUNT + 1) * 12)

static void artifact_keeps_the_shrink_and_format_1_still_loads(void) {
  struct coin_dataset ds = make_dataset(3000, 12);
  struct coin_model *m = ridge_with_shrink(&ds, 0.375), *m2 = NULL;
  ASSERT_TRUE(m != NULL);
  uint8_t *a = NULL;
  size_t len = 0;
  ASSERT_OK(coin_model_save(m, &a, &len));
  ASSERT_EQ_INT(le32(a + 8), 2); /* format 2 */
  ASSERT_OK(coin_model_load(&m2, a, len));
  const struct coin_calibration *c1 = coin_model_calibration(m),
                                *c2 = coin_model_calibration(m2);
  for (int t = 0; t <= COIN_TF_COUNT; t++) {
    ASSERT_EQ_INT(c2->shrink[t].n, c1->shrink[t].n);
    if (c1->shrink[t].n)
      ASSERT_EQ_DBL(c2->shrink[t].k, c1->shrink[t].k);
  }
  ASSERT_EQ_DBL(coin_calibration_shrink_factor(c2, COIN_TF_1H), 0.375);
  char *desc = NULL;
  ASSERT_OK(coin_model_describe(&desc, m2));
  ASSERT_CONTAINS(desc, "\"shrink\"");
  free(desc);
  coin_model_free(m2);
  m2 = NULL;

  /* format 1: the same bytes without the shrink block */
  size_t off = shrink_offset(a);
  size_t len1 = len - SHRINK_BLOCK;
  uint8_t *f1 = malloc(len1);
  memcpy(f1, a, off);
  memcpy(f1 + off, a + off + SHRINK_BLOCK, len - off - SHRINK_BLOCK);
  f1[8] = 1;
  reseal(f1, len1);
  ASSERT_OK(coin_model_load(&m2, f1, len1));
  for (int t = 0; t < COIN_TF_COUNT; t++)
    ASSERT_EQ_DBL(coin_calibration_shrink_factor(coin_model_calibration(m2), t),
                  1);
  for (size_t i = 2500; i < 2520; i++) {
    struct coin_feature_row row = row_of(&ds, i);
    struct coin_model_output o1, o2;
    ASSERT_OK(coin_model_predict_row(m, &o1, &row, COIN_TF_1H, 0.8));
    ASSERT_OK(coin_model_predict_row(m2, &o2, &row, COIN_TF_1H, 0.8));
    ASSERT_EQ_DBL(o2.z, o1.z);               /* the same learner */
    ASSERT_EQ_DBL(o2.ret, o2.z * row.scale); /* unshrunk, as before */
    ASSERT_EQ_DBL(o2.p_up, o1.p_up);
  }
  /* re-saved, it is a format-2 artifact with no shrink fitted */
  uint8_t *a2 = NULL;
  size_t len2 = 0;
  ASSERT_OK(coin_model_save(m2, &a2, &len2));
  ASSERT_EQ_INT(len2, len);
  ASSERT_EQ_INT(le32(a2 + 8), 2);
  free(a2);
  coin_model_free(m2);
  m2 = NULL;

  /* a shrink factor outside [0, 1], or NaN, is refused (sealed bytes) */
  uint8_t *c = malloc(len);
  double bad[3] = {1.5, -0.25, NAN};
  for (int b = 0; b < 3; b++) {
    memcpy(c, a, len);
    uint64_t u;
    memcpy(&u, &bad[b], 8);
    size_t at = off + (size_t)COIN_TF_1H * 12 + 4;
    for (int i = 0; i < 8; i++)
      c[at + i] = (uint8_t)(u >> (8 * i));
    reseal(c, len);
    ASSERT_RC(coin_model_load(&m2, c, len), COIN_EDECODE);
    ASSERT_CONTAINS(coin_error_last(), "shrink factor");
    ASSERT_CONTAINS(coin_error_last(), "1h");
    ASSERT_TRUE(m2 == NULL);
  }
  /* a format from the future is refused */
  memcpy(c, a, len);
  c[8] = 3;
  reseal(c, len);
  ASSERT_RC(coin_model_load(&m2, c, len), COIN_EDECODE);
  ASSERT_CONTAINS(coin_error_last(), "format 3");
  /* format 1 claimed on format-2 bytes: the framing does not match */
  memcpy(c, a, len);
  c[8] = 1;
  reseal(c, len);
  ASSERT_RC(coin_model_load(&m2, c, len), COIN_EDECODE);
  free(c);
  free(f1);
  free(a);
  coin_model_free(m);
  coin_dataset_free(&ds);
}

static void walk_forward_serves_the_shrunk_z(void) {
  struct coin_dataset ds = make_dataset(3000, 13);
  struct coin_model_params p;
  coin_model_params_default(&p);
  struct coin_wf_options o = {
      .kind = "ridge", .params = &p, .folds = 3, .test_fraction = 0.5};
  struct coin_wf_result r;
  ASSERT_OK(coin_wf_run(&r, &ds, &o));
  size_t scored = 0;
  for (size_t i = 0; i < ds.n; i++) {
    ASSERT_EQ_INT(isnan(r.z_served[i]), isnan(r.p_up[i]));
    if (isnan(r.p_up[i]))
      continue;
    scored++;
    /* k in [0, 1]: the same sign, never larger */
    ASSERT_TRUE(fabs(r.z_served[i]) <= fabs(r.z[i]));
    ASSERT_TRUE(r.z_served[i] * r.z[i] >= 0);
  }
  ASSERT_EQ_INT(scored, r.rows_scored);
  /* the signal is real: the final calibration keeps most of it */
  ASSERT_TRUE(coin_calibration_shrink_factor(&r.cal, COIN_TF_1H) > 0.5);
  coin_wf_result_free(&r);
  coin_dataset_free(&ds);
}

TEST_MAIN(RUN_TEST(fit_finds_zero_on_noise_and_one_on_signal);
          RUN_TEST(predict_row_returns_the_shrunk_return);
          RUN_TEST(artifact_keeps_the_shrink_and_format_1_still_loads);
          RUN_TEST(walk_forward_serves_the_shrunk_z))
