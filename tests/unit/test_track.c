/* test_track.c: the track record's arithmetic against hand-computed
 * figures: errors vs persistence, hits, windows, the CIs' known values. */
#include "coin/track.h"
#include "test.h"

#include <math.h>

static struct coin_track_row row(int64_t t, double in, double pred_ret,
                                 double real_close) {
  struct coin_track_row r = {t, in, pred_ret, real_close > 0, real_close};
  return r;
}

static void row_errors(void) {
  double ret, e, pe;
  int hit;
  struct coin_track_row r = row(1, 100, 0.01, 102);
  ASSERT_TRUE(coin_track_row_errors(&r, &ret, &e, &pe, &hit));
  ASSERT_NEAR(ret, log(1.02), 1e-15);
  ASSERT_NEAR(e, fabs(0.01 - log(1.02)), 1e-15);
  ASSERT_NEAR(pe, log(1.02), 1e-15);
  ASSERT_EQ_INT(hit, 1);
  r = row(1, 100, 0.01, 99);
  ASSERT_TRUE(coin_track_row_errors(&r, &ret, &e, &pe, &hit));
  ASSERT_EQ_INT(hit, 0);
  r = row(1, 100, -0.01, 100);
  ASSERT_TRUE(coin_track_row_errors(&r, &ret, &e, &pe, &hit));
  ASSERT_EQ_INT(hit, -1);   /* no direction to hit */
  r = row(1, 100, 0.01, 0); /* pending */
  ASSERT_FALSE(coin_track_row_errors(&r, &ret, &e, &pe, &hit));
  r = row(1, 0, 0.01, 100); /* unusable input */
  ASSERT_FALSE(coin_track_row_errors(&r, &ret, &e, &pe, &hit));
}

static void windows(void) {
  /* 10 realized rows: predicted +-0.001, realized close up/down 1%. */
  struct coin_track_row rows[12];
  for (int i = 0; i < 10; i++)
    rows[i] = row(1000 + i, 100, i < 7 ? 0.001 : -0.001, i % 2 ? 99 : 101);
  rows[10] = row(2000, 100, 0.001, 0); /* pending: not counted */
  rows[11] = row(10, 100, 0.5, 150);   /* before the window */
  struct coin_track_window w;
  coin_track_window(&w, rows, 12, 1000);
  ASSERT_EQ_INT(w.n, 10);
  ASSERT_EQ_INT(w.directional_n, 10);
  /* hits: up rows i even (0,2,4,6,8), predicted up for i<7: 0,2,4,6 hit,
   * 8 missed; down rows odd: predicted down for 7,9 */
  ASSERT_EQ_INT(w.hits, 6);
  ASSERT_NEAR(w.hit_rate, 0.6, 1e-15);
  /* Wilson 95% for 6/10: [0.3127, 0.8318] */
  ASSERT_NEAR(w.hit_lo, 0.3127, 5e-4);
  ASSERT_NEAR(w.hit_hi, 0.8318, 5e-4);
  double up = log(1.01), dn = -log(0.99);
  double pm = (5 * up + 5 * dn) / 10;
  ASSERT_NEAR(w.persistence_mae, pm, 1e-15);
  double mae = 0;
  for (int i = 0; i < 10; i++) {
    double ret = log((i % 2 ? 99.0 : 101.0) / 100);
    mae += fabs((i < 7 ? 0.001 : -0.001) - ret);
  }
  ASSERT_NEAR(w.mae, mae / 10, 1e-15);
  ASSERT_NEAR(w.mae_ratio, (mae / 10) / pm, 1e-12);
  ASSERT_TRUE(w.diff_lo <= w.mae - w.persistence_mae);
  ASSERT_TRUE(w.diff_hi >= w.mae - w.persistence_mae);
  /* an empty window says so */
  coin_track_window(&w, rows, 12, 5000);
  ASSERT_EQ_INT(w.n, 0);
  ASSERT_TRUE(isnan(w.mae) && isnan(w.hit_rate) && isnan(w.diff_lo));
}

/* The verdict: too few rows say nothing; a model whose errors exceed
 * persistence's on every row is worse; one that equals it is not. */
static void verdicts(void) {
  struct coin_track_row rows[40];
  struct coin_track_window w;
  for (int i = 0; i < 40; i++) /* realized +-1%, predicted the wrong way */
    rows[i] = row(i, 100, i % 2 ? 0.01 : -0.01, i % 2 ? 99 : 101);
  coin_track_window(&w, rows, 40, 0);
  ASSERT_TRUE(w.diff_lo > 0);
  ASSERT_EQ_INT(coin_track_judge(&w, 30), COIN_TRACK_WORSE);
  ASSERT_EQ_INT(coin_track_judge(&w, 41), COIN_TRACK_TOO_FEW);
  ASSERT_EQ_STR(coin_track_verdict_name(COIN_TRACK_WORSE),
                "worse_than_persistence");
  for (int i = 0; i < 40; i++) /* persistence itself: never worse */
    rows[i] = row(i, 100, 0, i % 3 ? 99 : 101);
  coin_track_window(&w, rows, 40, 0);
  ASSERT_EQ_INT(coin_track_judge(&w, 30), COIN_TRACK_OK);
  for (int i = 0; i < 40; i++) /* the right way: better, not worse */
    rows[i] = row(i, 100, i % 2 ? -0.005 : 0.005, i % 2 ? 99 : 101);
  coin_track_window(&w, rows, 40, 0);
  ASSERT_TRUE(w.diff_hi < 0);
  ASSERT_EQ_INT(coin_track_judge(&w, 30), COIN_TRACK_OK);
  ASSERT_EQ_STR(coin_track_verdict_name(COIN_TRACK_OK), "ok");
  ASSERT_EQ_STR(coin_track_verdict_name(COIN_TRACK_TOO_FEW), "too_few");
}

TEST_MAIN(RUN_TEST(row_errors); RUN_TEST(windows); RUN_TEST(verdicts);)
