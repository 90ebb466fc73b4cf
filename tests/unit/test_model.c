/* test_model.c: the model contract (model.h), run identically over every
 * registered kind:
 * - fit / predict / save / load round-trip gives bit-identical predictions
 *   and a byte-identical re-save; fits are reproducible;
 * - a corrupted, truncated or foreign artifact is refused on load with a
 *   clear error, and so is a well-framed one whose learner is broken;
 * - every kind learns a signal that exists (synthetic AR returns);
 * plus calibration, scores (MAE, directional accuracy + Wilson interval,
 * Brier), the dataset helpers and the purged walk-forward. */
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

static struct coin_model_params small_params(void) {
  struct coin_model_params p;
  coin_model_params_default(&p);
  p.xgb_rounds = 40; /* fast; the contract does not depend on size */
  return p;
}

/* A fitted + calibrated model of kind on rows [0, 2000). */
static struct coin_model *fit_calibrated(const char *kind,
                                         const struct coin_dataset *ds) {
  struct coin_model_params p = small_params();
  struct coin_model *m = NULL;
  if (coin_model_fit(&m, kind, ds, 0, 2000, &p) != 0)
    return NULL;
  double z[500];
  if (coin_model_predict_z(m, z, ds->x + 2000 * D, 500) != 0) {
    coin_model_free(m);
    return NULL;
  }
  struct coin_calibration cal;
  if (coin_calibration_fit(&cal, z, ds->y + 2000, ds->scale + 2000,
                           ds->tf + 2000, 500) != 0) {
    coin_model_free(m);
    return NULL;
  }
  coin_model_set_calibration(m, &cal);
  return m;
}

static void contract_round_trip(void) {
  struct coin_dataset ds = make_dataset(3000, 1);
  for (const char *const *k = coin_model_kinds(); *k; k++) {
    struct coin_model *m = fit_calibrated(*k, &ds);
    ASSERT_TRUE(m != NULL);
    ASSERT_EQ_STR(coin_model_kind(m), *k);
    ASSERT_TRUE(coin_model_servable(m));
    uint8_t *a = NULL, *a2 = NULL;
    size_t alen = 0, a2len = 0;
    ASSERT_OK(coin_model_save(m, &a, &alen));
    fprintf(stderr, "  %s artifact: %zu bytes\n", *k, alen);
    struct coin_model *m2 = NULL;
    ASSERT_OK(coin_model_load(&m2, a, alen));
    ASSERT_EQ_STR(coin_model_kind(m2), *k);
    ASSERT_EQ_STR(coin_model_schema_hash(m2), coin_features_schema_hash());
    double z1[1000], z2[1000];
    ASSERT_OK(coin_model_predict_z(m, z1, ds.x + 2000 * D, 1000));
    ASSERT_OK(coin_model_predict_z(m2, z2, ds.x + 2000 * D, 1000));
    ASSERT_TRUE(memcmp(z1, z2, sizeof(z1)) == 0);
    for (size_t i = 2500; i < 2600; i++) {
      struct coin_feature_row row = {.scale = ds.scale[i], .close = 1};
      for (size_t j = 0; j < D; j++)
        row.x[j] = ds.x[i * D + j];
      struct coin_model_output o1, o2;
      ASSERT_OK(coin_model_predict_row(m, &o1, &row, COIN_TF_1H, 0.8));
      ASSERT_OK(coin_model_predict_row(m2, &o2, &row, COIN_TF_1H, 0.8));
      ASSERT_TRUE(memcmp(&o1, &o2, sizeof(o1)) == 0);
      ASSERT_TRUE(o1.band_low_ret < o1.ret && o1.ret < o1.band_high_ret);
      ASSERT_TRUE(o1.p_up > 0 && o1.p_up < 1);
    }
    ASSERT_OK(coin_model_save(m2, &a2, &a2len));
    ASSERT_EQ_INT(a2len, alen);
    ASSERT_TRUE(memcmp(a, a2, alen) == 0);
    char *desc = NULL;
    ASSERT_OK(coin_model_describe(&desc, m2));
    ASSERT_CONTAINS(desc, *k);
    ASSERT_CONTAINS(desc, "feature_schema_hash");
    free(desc);
    free(a);
    free(a2);
    coin_model_free(m);
    coin_model_free(m2);
  }
  coin_dataset_free(&ds);
}

static void fit_is_reproducible(void) {
  struct coin_dataset ds = make_dataset(2600, 2);
  for (const char *const *k = coin_model_kinds(); *k; k++) {
    struct coin_model *m1 = fit_calibrated(*k, &ds);
    struct coin_model *m2 = fit_calibrated(*k, &ds);
    ASSERT_TRUE(m1 && m2);
    uint8_t *a = NULL, *b = NULL;
    size_t al = 0, bl = 0;
    ASSERT_OK(coin_model_save(m1, &a, &al));
    ASSERT_OK(coin_model_save(m2, &b, &bl));
    ASSERT_EQ_INT(al, bl);
    ASSERT_TRUE(memcmp(a, b, al) == 0);
    free(a);
    free(b);
    coin_model_free(m1);
    coin_model_free(m2);
  }
  coin_dataset_free(&ds);
}

static void reseal(uint8_t *a, size_t len) {
  unsigned int md_len = 0;
  EVP_Digest(a, len - 32, a + len - 32, &md_len, EVP_sha256(), NULL);
}

static void corrupted_artifact_is_refused(void) {
  struct coin_dataset ds = make_dataset(2600, 3);
  for (const char *const *k = coin_model_kinds(); *k; k++) {
    struct coin_model *m = fit_calibrated(*k, &ds), *bad = NULL;
    ASSERT_TRUE(m != NULL);
    uint8_t *a = NULL;
    size_t len = 0;
    ASSERT_OK(coin_model_save(m, &a, &len));
    uint8_t *c = malloc(len);
    /* one flipped bit anywhere: checksum */
    size_t spots[] = {9, len / 3, len / 2, len - 40, len - 1};
    for (size_t s = 0; s < 5; s++) {
      memcpy(c, a, len);
      c[spots[s]] ^= 0x10;
      ASSERT_RC(coin_model_load(&bad, c, len), COIN_EDECODE);
      ASSERT_CONTAINS(coin_error_last(), "checksum mismatch");
      ASSERT_TRUE(bad == NULL);
    }
    ASSERT_RC(coin_model_load(&bad, a, len - 1), COIN_EDECODE);
    ASSERT_CONTAINS(coin_error_last(), "corrupted or truncated");
    ASSERT_RC(coin_model_load(&bad, a, 20), COIN_EDECODE);
    ASSERT_RC(coin_model_load(&bad, (const uint8_t *)"{\"json\":1}", 10),
              COIN_EDECODE);
    ASSERT_CONTAINS(coin_error_last(), "magic");
    /* well framed and sealed, but the learner's bytes are broken */
    memcpy(c, a, len);
    for (size_t i = len - 32 - 64; i < len - 32; i++)
      c[i] = 0xff;
    reseal(c, len);
    ASSERT_RC(coin_model_load(&bad, c, len), COIN_EDECODE);
    ASSERT_CONTAINS(coin_error_last(), *k);
    /* the kind name itself unknown */
    memcpy(c, a, len);
    c[16] = 'Z';
    reseal(c, len);
    ASSERT_RC(coin_model_load(&bad, c, len), COIN_EDECODE);
    ASSERT_CONTAINS(coin_error_last(), "unknown");
    free(c);
    free(a);
    coin_model_free(m);
  }
  coin_dataset_free(&ds);
}

static void every_kind_learns_a_real_signal(void) {
  struct coin_dataset ds = make_dataset(4000, 4);
  for (const char *const *k = coin_model_kinds(); *k; k++) {
    struct coin_model *m = fit_calibrated(*k, &ds);
    ASSERT_TRUE(m != NULL);
    struct coin_score model = {0}, persist = {0};
    for (size_t i = 2500; i < ds.n; i++) {
      double z;
      ASSERT_OK(coin_model_predict_z(m, &z, ds.x + i * D, 1));
      double p =
          coin_calibration_p_up(coin_model_calibration(m), COIN_TF_1H, z);
      coin_score_add(&model, z * ds.scale[i], p, ds.y[i]);
      coin_score_add(&persist, 0, 0.5, ds.y[i]);
    }
    struct coin_score_summary sm, sp;
    coin_score_summarize(&sm, &model);
    coin_score_summarize(&sp, &persist);
    fprintf(stderr, "  %s: mae %.5f (persistence %.5f) dir %.3f brier %.4f\n",
            *k, sm.mae, sp.mae, sm.dir_acc, sm.brier);
    ASSERT_TRUE(sm.mae < 0.97 * sp.mae);
    ASSERT_TRUE(sm.dir_lo > 0.55);
    ASSERT_TRUE(sm.brier < 0.24);
    coin_model_free(m);
  }
  coin_dataset_free(&ds);
}

static void fit_refuses_bad_input(void) {
  struct coin_dataset ds = make_dataset(300, 5);
  struct coin_model_params p = small_params();
  struct coin_model *m = NULL;
  ASSERT_RC(coin_model_fit(&m, "forest", &ds, 0, 200, &p), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "forest");
  ASSERT_RC(coin_model_fit(&m, "ridge", &ds, 0, 10, &p), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "at least");
  ASSERT_RC(coin_model_fit(&m, "ridge", &ds, 0, ds.n + 1, &p), COIN_EINVAL);
  p.xgb_max_depth = 0;
  ASSERT_RC(coin_model_fit(&m, "xgboost", &ds, 0, 200, &p), COIN_EINVAL);
  p = small_params();
  p.ridge_alpha = -1;
  ASSERT_RC(coin_model_fit(&m, "ridge", &ds, 0, 200, &p), COIN_EINVAL);
  ASSERT_TRUE(m == NULL);
  coin_dataset_free(&ds);
}

static void calibration_is_monotone(void) {
  size_t n = 5000;
  double *z = malloc(n * sizeof(double)), *y = malloc(n * sizeof(double));
  double *s = malloc(n * sizeof(double));
  uint8_t *tf = malloc(n);
  rng_state = 77;
  for (size_t i = 0; i < n; i++) {
    z[i] = 0.3 * gauss();
    y[i] = 0.01 * (z[i] + gauss());
    s[i] = 0.01;
    tf[i] = COIN_TF_1H;
  }
  struct coin_calibration c;
  ASSERT_OK(coin_calibration_fit(&c, z, y, s, tf, n));
  ASSERT_TRUE(c.has_platt);
  ASSERT_TRUE(c.platt_b > 0);
  ASSERT_EQ_DBL(c.platt_a, 0);
  ASSERT_TRUE(c.table[COIN_TF_1H].n == n);
  ASSERT_TRUE(c.table[COIN_TF_1D].n == 0);
  ASSERT_NEAR(coin_calibration_p_up(&c, COIN_TF_1H, 0), 0.5, 1e-12);
  double prev = 0;
  for (double v = -2; v <= 2; v += 0.25) {
    double p = coin_calibration_p_up(&c, COIN_TF_1H, v);
    ASSERT_TRUE(p > prev);
    prev = p;
  }
  double q10 = coin_calibration_quantile(&c, COIN_TF_1H, 0.1);
  double q50 = coin_calibration_quantile(&c, COIN_TF_1H, 0.5);
  double q90 = coin_calibration_quantile(&c, COIN_TF_1H, 0.9);
  ASSERT_TRUE(q10 < q50 && q50 < q90);
  ASSERT_NEAR(q90, 1.2816, 0.1); /* residuals are N(0,1) in scale units */
  /* 1d falls back to the pooled table */
  ASSERT_EQ_DBL(coin_calibration_quantile(&c, COIN_TF_1D, 0.9), q90);
  /* without Platt: the residual distribution, still monotone */
  c.has_platt = false;
  prev = 0;
  for (double v = -2; v <= 2; v += 0.25) {
    double p = coin_calibration_p_up(&c, COIN_TF_1H, v);
    ASSERT_TRUE(p >= prev);
    prev = p;
  }
  /* nothing known: 0.5 */
  struct coin_calibration empty;
  memset(&empty, 0, sizeof(empty));
  ASSERT_EQ_DBL(coin_calibration_p_up(&empty, COIN_TF_1H, 3), 0.5);
  free(z);
  free(y);
  free(s);
  free(tf);
}

static void scores_follow_the_conventions(void) {
  struct coin_score s = {0};
  coin_score_add(&s, 0.01, 0.7, 0.02);  /* up, hit */
  coin_score_add(&s, 0.01, 0.6, -0.01); /* miss */
  coin_score_add(&s, -0.01, 0.2, 0.0);  /* no direction: MAE only */
  coin_score_add(&s, NAN, 0.5, 0.01);   /* ignored */
  struct coin_score_summary m;
  coin_score_summarize(&m, &s);
  ASSERT_EQ_INT(m.n, 3);
  ASSERT_EQ_INT(m.n_dir, 2);
  ASSERT_NEAR(m.mae, (0.01 + 0.02 + 0.01) / 3, 1e-15);
  ASSERT_NEAR(m.rmse, sqrt((1e-4 + 4e-4 + 1e-4) / 3), 1e-15);
  ASSERT_NEAR(m.dir_acc, 0.5, 1e-15);
  ASSERT_NEAR(m.brier, (0.09 + 0.36) / 2, 1e-15);
  /* persistence: p 0.5 -> Brier exactly 0.25; tie counts as "up" */
  struct coin_score p = {0};
  coin_score_add(&p, 0, 0.5, 0.01);
  coin_score_add(&p, 0, 0.5, -0.01);
  coin_score_add(&p, 0, 0.5, 0.02);
  coin_score_summarize(&m, &p);
  ASSERT_EQ_DBL(m.brier, 0.25);
  ASSERT_NEAR(m.dir_acc, 2.0 / 3, 1e-15);
  double lo, hi;
  coin_wilson_interval(&lo, &hi, 52, 100);
  ASSERT_NEAR(lo, 0.4231, 5e-4);
  ASSERT_NEAR(hi, 0.6153, 5e-4);
  coin_wilson_interval(&lo, &hi, 0, 0);
  ASSERT_EQ_DBL(lo, 0);
  ASSERT_EQ_DBL(hi, 1);
  struct coin_score empty = {0};
  coin_score_summarize(&m, &empty);
  ASSERT_TRUE(isnan(m.mae) && isnan(m.brier));
}

static void dataset_helpers(void) {
  struct coin_dataset ds = make_dataset(1000, 6);
  for (size_t i = 1; i < ds.n; i++)
    ASSERT_TRUE(ds.t_target_ms[i - 1] <= ds.t_target_ms[i]);
  double sum = 0;
  for (size_t i = 0; i < ds.n; i++)
    sum += ds.y[i] / ds.scale[i];
  ASSERT_OK(coin_dataset_shuffle_labels(&ds, 9));
  double sum2 = 0;
  size_t moved = 0;
  for (size_t i = 0; i < ds.n; i++) {
    sum2 += ds.y_fit[i] / ds.scale[i];
    moved += ds.y_fit[i] != ds.y[i];
  }
  ASSERT_NEAR(sum, sum2, 1e-9); /* a permutation of standardized labels */
  ASSERT_TRUE(moved > ds.n / 2);
  int64_t newest = ds.t_target_ms[ds.n - 1];
  coin_dataset_keep_newest(&ds, 100);
  ASSERT_EQ_INT(ds.n, 100);
  ASSERT_EQ_INT(ds.t_target_ms[99], newest);
  coin_dataset_free(&ds);
  coin_dataset_free(&ds); /* idempotent */
}

struct wf_seen {
  size_t train[8];
  int blocks;
  int64_t lo[8];
};

static void wf_progress(void *ud, int fold, int folds, size_t train_rows,
                        size_t test_rows, double secs) {
  struct wf_seen *w = ud;
  (void)test_rows;
  (void)secs;
  w->blocks = folds;
  if (fold < 8)
    w->train[fold] = train_rows;
}

static void walk_forward_is_purged_and_ordered(void) {
  struct coin_dataset ds = make_dataset(3000, 8);
  struct coin_model_params p = small_params();
  for (int rolling = 0; rolling < 2; rolling++) {
    struct wf_seen seen = {0};
    struct coin_wf_options o = {.kind = "ridge",
                                .params = &p,
                                .folds = 3,
                                .test_fraction = 0.5,
                                .rolling = rolling,
                                .progress = wf_progress,
                                .progress_ud = &seen};
    struct coin_wf_result r;
    ASSERT_OK(coin_wf_run(&r, &ds, &o));
    ASSERT_EQ_INT(seen.blocks, 4);
    for (int j = 1; j < 4; j++) {
      if (rolling)
        ASSERT_EQ_INT(seen.train[j], seen.train[0]);
      else
        ASSERT_TRUE(seen.train[j] > seen.train[j - 1]);
    }
    /* nothing before the test region is predicted; scored rows have p */
    size_t scored = 0;
    for (size_t i = 0; i < ds.n; i++) {
      if (i < 1400)
        ASSERT_TRUE(isnan(r.z[i]));
      if (!isnan(r.p_up[i])) {
        scored++;
        ASSERT_TRUE(!isnan(r.z[i]));
        ASSERT_TRUE(ds.t_feat_ms[i] >= r.scored_from_ms);
      }
    }
    ASSERT_EQ_INT(scored, r.rows_scored);
    ASSERT_TRUE(r.rows_scored > 1000 && r.rows_warmup > 300);
    ASSERT_TRUE(r.cal.has_platt);
    coin_wf_result_free(&r);
  }
  struct coin_wf_options bad = {
      .kind = "ridge", .params = &p, .folds = 0, .test_fraction = 0.5};
  struct coin_wf_result r;
  ASSERT_RC(coin_wf_run(&r, &ds, &bad), COIN_EINVAL);
  coin_dataset_free(&ds);
}

TEST_MAIN(RUN_TEST(contract_round_trip); RUN_TEST(fit_is_reproducible);
          RUN_TEST(corrupted_artifact_is_refused);
          RUN_TEST(every_kind_learns_a_real_signal);
          RUN_TEST(fit_refuses_bad_input); RUN_TEST(calibration_is_monotone);
          RUN_TEST(scores_follow_the_conventions); RUN_TEST(dataset_helpers);
          RUN_TEST(walk_forward_is_purged_and_ordered))
