/* test_features.c: the one feature pipeline (features.h):
 * - training's row builder and serving's window computation give
 *   bit-identical features for the same candles, whatever the chunking;
 * - no look-ahead: perturbing candles after t changes no feature, target or
 *   prediction up to t;
 * - too little history is refused, never guessed; bad candles are named;
 * - gaps stop labelled rows; the schema hash and names are stable;
 * - features are symbol-agnostic: scaling prices and volume changes nothing.
 * Candles are a seeded synthetic random walk (no data files needed). */
#include "coin/error.h"
#include "coin/features.h"
#include "coin/model.h"
#include "synthetic.h"
#include "test.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* n hourly (or daily) candles of a random walk with volatility clustering. */
static struct coin_candle *make_candles(size_t n, enum coin_tf tf,
                                        uint64_t seed) {
  struct coin_candle *c = calloc(n, sizeof(*c));
  rng_state = seed * 2654435761u + 1;
  double price = 100, vol = 0.01;
  int64_t t = coin_tf_floor(tf, T0);
  for (size_t i = 0; i < n; i++) {
    vol = 0.9 * vol + 0.1 * (0.005 + 0.02 * uniform());
    double r = vol * gauss();
    double open = price, close = price * exp(r);
    double hi = fmax(open, close) * exp(fabs(gauss()) * vol * 0.5);
    double lo = fmin(open, close) * exp(-fabs(gauss()) * vol * 0.5);
    c[i] = (struct coin_candle){.open_ms = t,
                                .open = open,
                                .high = hi,
                                .low = lo,
                                .close = close,
                                .volume = 1000 * (0.5 + uniform())};
    price = close;
    t = coin_tf_next(tf, t);
  }
  return c;
}

static void schema_is_stable(void) {
  const char *h = coin_features_schema_hash();
  ASSERT_EQ_INT(strlen(h), 64);
  for (size_t i = 0; i < 64; i++)
    ASSERT_TRUE((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f'));
  ASSERT_EQ_STR(h, coin_features_schema_hash());
  for (size_t i = 0; i < COIN_FEATURES_COUNT; i++) {
    ASSERT_TRUE(coin_features_name(i) != NULL);
    ASSERT_CONTAINS(coin_features_schema_text(), coin_features_name(i));
  }
  ASSERT_TRUE(coin_features_name(COIN_FEATURES_COUNT) == NULL);
}

static void too_little_history_is_refused(void) {
  struct coin_candle *c = make_candles(COIN_FEATURES_LOOKBACK, COIN_TF_1H, 1);
  struct coin_feature_row row;
  memset(&row, 0x5a, sizeof(row));
  struct coin_feature_row before = row;
  ASSERT_RC(
      coin_features_compute(&row, COIN_TF_1H, c, COIN_FEATURES_LOOKBACK - 1),
      COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "1 missing");
  ASSERT_TRUE(memcmp(&row, &before, sizeof(row)) == 0); /* out untouched */
  ASSERT_RC(coin_features_compute(&row, COIN_TF_1H, c, 0), COIN_EINVAL);
  ASSERT_OK(coin_features_compute(&row, COIN_TF_1H, c, COIN_FEATURES_LOOKBACK));
  ASSERT_EQ_INT(row.open_ms, c[COIN_FEATURES_LOOKBACK - 1].open_ms);
  ASSERT_EQ_DBL(row.close, c[COIN_FEATURES_LOOKBACK - 1].close);
  free(c);
}

static void bad_candles_are_named(void) {
  struct coin_candle *c = make_candles(200, COIN_TF_1H, 2);
  struct coin_feature_row row;
  c[150].close = 0;
  ASSERT_RC(coin_features_compute(&row, COIN_TF_1H, c, 200), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "candle 150");
  c[150].close = NAN;
  ASSERT_RC(coin_features_compute(&row, COIN_TF_1H, c, 200), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "non-finite");
  c[150].close = c[150].open;
  c[160].open_ms = c[159].open_ms;
  ASSERT_RC(coin_features_compute(&row, COIN_TF_1H, c, 200), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "strictly ascending");
  /* candles outside the window are not looked at */
  ASSERT_OK(coin_features_compute(&row, COIN_TF_1H, c, 100));
  free(c);
}

/* Training's builder, fed in uneven chunks (like a chunked read), against
 * serving's computation over the whole history up to each candle. */
static void builder_and_serving_are_bit_identical(void) {
  for (int tfi = 0; tfi < 2; tfi++) {
    enum coin_tf tf = tfi ? COIN_TF_1D : COIN_TF_1H;
    size_t n = 1500;
    struct coin_candle *c = make_candles(n, tf, 3 + (uint64_t)tfi);
    struct coin_features_builder b;
    coin_features_builder_init(&b, tf);
    size_t rows = 0, i = 0, chunk = 1;
    while (i < n) {
      size_t end = i + chunk < n ? i + chunk : n;
      for (; i < end; i++) {
        struct coin_feature_row tr, sr;
        double target;
        int rc = coin_features_builder_push(&b, &tr, &target, &c[i]);
        ASSERT_TRUE(rc == 0 || rc == 1);
        if (rc != 1)
          continue;
        rows++;
        /* serving sees every candle up to the row's candle, c[i-1] */
        ASSERT_OK(coin_features_compute(&sr, tf, c, i));
        ASSERT_TRUE(memcmp(tr.x, sr.x, sizeof(tr.x)) == 0);
        ASSERT_TRUE(memcmp(&tr.scale, &sr.scale, sizeof(double)) == 0);
        ASSERT_EQ_INT(tr.open_ms, c[i - 1].open_ms);
        ASSERT_EQ_DBL(target, log(c[i].close / c[i - 1].close));
      }
      chunk = chunk * 3 % 97 + 1; /* 1, 4, 13, 40, 24, ... */
    }
    ASSERT_EQ_INT(rows, n - COIN_FEATURES_LOOKBACK);
    free(c);
  }
}

static void gaps_stop_labelled_rows(void) {
  size_t n = 400;
  struct coin_candle *c = make_candles(n, COIN_TF_1H, 5);
  /* remove candle 250: the series has a one-hour hole */
  memmove(&c[250], &c[251], (n - 251) * sizeof(*c));
  n--;
  struct coin_features_builder b;
  coin_features_builder_init(&b, COIN_TF_1H);
  size_t rows = 0;
  for (size_t i = 0; i < n; i++) {
    struct coin_feature_row r;
    double y;
    int rc = coin_features_builder_push(&b, &r, &y, &c[i]);
    ASSERT_TRUE(rc == 0 || rc == 1);
    if (rc == 1) {
      rows++;
      /* a target is always the directly following candle */
      ASSERT_EQ_INT(coin_tf_next(COIN_TF_1H, r.open_ms), c[i].open_ms);
    }
  }
  /* one row fewer than without the hole: the candle before it has no
   * directly following target */
  ASSERT_EQ_INT(rows, n - COIN_FEATURES_LOOKBACK - 1);
  /* out of order is refused and leaves the builder unchanged */
  struct coin_feature_row r;
  double y;
  ASSERT_RC(coin_features_builder_push(&b, &r, &y, &c[10]), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "strictly ascending");
  free(c);
}

/* Rows of a series, in the order the builder emits them. */
static size_t build_rows(struct coin_dataset *ds, const struct coin_candle *c,
                         size_t n, enum coin_tf tf) {
  size_t series = 0;
  if (coin_dataset_series_index(&series, ds, "SYN", tf) != 0)
    return 0;
  struct coin_features_builder b;
  coin_features_builder_init(&b, tf);
  for (size_t i = 0; i < n; i++) {
    struct coin_feature_row r;
    double y;
    if (coin_features_builder_push(&b, &r, &y, &c[i]) == 1 &&
        coin_dataset_add(ds, &r, y, series) != 0)
      return 0;
  }
  return ds->n;
}

static void no_look_ahead(void) {
  size_t n = 1200, t = 900; /* perturb every candle after index t */
  struct coin_candle *a = make_candles(n, COIN_TF_1H, 7);
  struct coin_candle *b = malloc(n * sizeof(*b));
  memcpy(b, a, n * sizeof(*b));
  rng_state = 99;
  for (size_t i = t + 1; i < n; i++) {
    double f = exp(0.2 * gauss());
    b[i].open *= f;
    b[i].close *= f * exp(0.05 * gauss());
    b[i].high = fmax(b[i].high * f, fmax(b[i].open, b[i].close)) * 1.01;
    b[i].low = fmin(b[i].low * f, fmin(b[i].open, b[i].close)) * 0.99;
    b[i].volume *= 3;
  }
  /* serving path: features at every t' <= t are unchanged */
  for (size_t k = COIN_FEATURES_LOOKBACK; k <= t + 1; k++) {
    struct coin_feature_row ra, rb;
    ASSERT_OK(coin_features_compute(&ra, COIN_TF_1H, a, k));
    ASSERT_OK(coin_features_compute(&rb, COIN_TF_1H, b, k));
    ASSERT_TRUE(memcmp(ra.x, rb.x, sizeof(ra.x)) == 0);
  }
  /* training path: rows whose target closed by t are unchanged */
  struct coin_dataset da = {0}, db = {0};
  ASSERT_TRUE(build_rows(&da, a, n, COIN_TF_1H) > 0);
  ASSERT_TRUE(build_rows(&db, b, n, COIN_TF_1H) > 0);
  ASSERT_EQ_INT(da.n, db.n);
  int64_t t_close = coin_tf_next(COIN_TF_1H, a[t].open_ms);
  size_t same = 0;
  for (size_t i = 0; i < da.n; i++) {
    if (da.t_target_ms[i] > t_close)
      continue;
    same++;
    ASSERT_TRUE(memcmp(&da.x[i * COIN_FEATURES_COUNT],
                       &db.x[i * COIN_FEATURES_COUNT],
                       COIN_FEATURES_COUNT * sizeof(float)) == 0);
    ASSERT_EQ_DBL(da.y[i], db.y[i]);
  }
  ASSERT_EQ_INT(same, t - COIN_FEATURES_LOOKBACK + 1);
  /* predictions up to t: a model fitted on those rows, on both series */
  struct coin_model *m = NULL;
  struct coin_model_params p;
  coin_model_params_default(&p);
  ASSERT_OK(coin_model_fit(&m, "ridge", &da, 0, same, &p));
  struct coin_model *m2 = NULL;
  ASSERT_OK(coin_model_fit(&m2, "ridge", &db, 0, same, &p));
  for (size_t k = COIN_FEATURES_LOOKBACK; k <= t + 1; k += 17) {
    struct coin_feature_row ra, rb;
    struct coin_model_output oa, ob;
    ASSERT_OK(coin_features_compute(&ra, COIN_TF_1H, a, k));
    ASSERT_OK(coin_features_compute(&rb, COIN_TF_1H, b, k));
    ASSERT_OK(coin_model_predict_row(m, &oa, &ra, COIN_TF_1H, 0.8));
    ASSERT_OK(coin_model_predict_row(m2, &ob, &rb, COIN_TF_1H, 0.8));
    ASSERT_EQ_DBL(oa.ret, ob.ret);
  }
  /* and the perturbation did reach the later rows (the test can fail) */
  size_t differ = 0;
  for (size_t i = 0; i < da.n; i++)
    if (da.t_target_ms[i] > t_close && da.y[i] != db.y[i])
      differ++;
  ASSERT_TRUE(differ > 0);
  coin_model_free(m);
  coin_model_free(m2);
  coin_dataset_free(&da);
  coin_dataset_free(&db);
  free(a);
  free(b);
}

static void calendar_and_timeframe_terms(void) {
  struct coin_candle *h = make_candles(200, COIN_TF_1H, 11);
  struct coin_candle *d = make_candles(200, COIN_TF_1D, 11);
  struct coin_feature_row rh, rd;
  ASSERT_OK(coin_features_compute(&rh, COIN_TF_1H, h, 200));
  ASSERT_OK(coin_features_compute(&rd, COIN_TF_1D, d, 200));
  /* indices: hour_sin 17, hour_cos 18, dow 19-20, one-hot 21.. */
  ASSERT_EQ_DBL(rd.x[17], 0);
  ASSERT_EQ_DBL(rd.x[18], 0);
  ASSERT_EQ_DBL(rh.x[22], 1); /* tf_1h */
  ASSERT_EQ_DBL(rh.x[23], 0);
  ASSERT_EQ_DBL(rd.x[23], 1); /* tf_1d */
  /* the target of h[199] opens at hour (199 + 1) % 24 = 8 UTC */
  ASSERT_NEAR(rh.x[17], sin(6.283185307179586 * 8 / 24), 1e-12);
  ASSERT_NEAR(rh.x[18], cos(6.283185307179586 * 8 / 24), 1e-12);
  free(h);
  free(d);
}

static void symbol_agnostic(void) {
  struct coin_candle *a = make_candles(300, COIN_TF_1H, 13);
  struct coin_candle *b = malloc(300 * sizeof(*b));
  for (size_t i = 0; i < 300; i++) {
    b[i] = a[i];
    b[i].open *= 1000;
    b[i].high *= 1000;
    b[i].low *= 1000;
    b[i].close *= 1000;
    b[i].volume *= 7;
  }
  struct coin_feature_row ra, rb;
  ASSERT_OK(coin_features_compute(&ra, COIN_TF_1H, a, 300));
  ASSERT_OK(coin_features_compute(&rb, COIN_TF_1H, b, 300));
  for (size_t j = 0; j < COIN_FEATURES_COUNT; j++)
    ASSERT_NEAR(ra.x[j], rb.x[j], 1e-6);
  ASSERT_NEAR(ra.scale, rb.scale, 1e-12);
  free(a);
  free(b);
}

TEST_MAIN(RUN_TEST(schema_is_stable); RUN_TEST(too_little_history_is_refused);
          RUN_TEST(bad_candles_are_named);
          RUN_TEST(builder_and_serving_are_bit_identical);
          RUN_TEST(gaps_stop_labelled_rows); RUN_TEST(no_look_ahead);
          RUN_TEST(calendar_and_timeframe_terms); RUN_TEST(symbol_agnostic))
