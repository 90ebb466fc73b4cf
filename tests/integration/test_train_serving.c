/* test_train_serving.c: the real serving chain (serving.h) against real
 * nats-server and influxd, with models registered through the registry as
 * coin-train does (ridge fitted here on real BTCUSDT 1h candles):
 * - no registry / no champion: blocked as no_model, never a guess;
 * - the champion serves; its prediction is recorded (role champion);
 * - the challenger runs in shadow: recorded, never returned;
 * - realize writes realized returns and errors for both when the target
 *   candle closes;
 * - a champion whose stored artifact fails its sha256, or whose feature
 *   schema is not servable, leaves the old champion serving with degraded
 *   model_load_failed; repairing the alias clears it;
 * - a broken challenger degrades with challenger_failing only;
 * - an old champion is degraded model_too_old;
 * - a champion whose 1h walk-forward MAE is above persistence's is not
 *   served on 1h (worse_than_persistence), but still recorded. */
#include "coin/bus.h"
#include "coin/candle_file.h"
#include "coin/codec.h"
#include "coin/error.h"
#include "coin/features.h"
#include "coin/freshness.h"
#include "coin/hmac.h"
#include "coin/influx.h"
#include "coin/model.h"
#include "coin/registry.h"
#include "coin/serving.h"
#include "harness.h"
#include "test.h"

#include <math.h>
#include <time.h>
#include <unistd.h>

static struct coin_test_server nats, influx;
static struct coin_bus *bus;
static struct coin_registry *reg;
static struct coin_influx *ix;
static struct coin_candle_file *btc;
static size_t pos; /* candles [0, pos) are history; pos is the next target */

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A ridge model on 3000 rows before pos, calibrated on the next 1000. */
static int fit_artifact(uint8_t **out, size_t *len, double alpha) {
  struct coin_dataset ds = {0};
  size_t series;
  struct coin_features_builder b;
  coin_dataset_series_index(&series, &ds, "BTCUSDT", COIN_TF_1H);
  coin_features_builder_init(&b, COIN_TF_1H);
  for (size_t i = pos - 4200; i < pos; i++) {
    struct coin_feature_row r;
    double y;
    if (coin_features_builder_push(&b, &r, &y, &btc->rows[i]) == 1)
      coin_dataset_add(&ds, &r, y, series);
  }
  coin_dataset_sort(&ds);
  struct coin_model_params p;
  coin_model_params_default(&p);
  p.ridge_alpha = alpha;
  struct coin_model *m = NULL;
  double *z = malloc(1000 * sizeof(double));
  int rc = coin_model_fit(&m, "ridge", &ds, 0, ds.n - 1000, &p);
  if (rc == 0)
    rc = coin_model_predict_z(m, z, ds.x + (ds.n - 1000) * COIN_FEATURES_COUNT,
                              1000);
  struct coin_calibration cal;
  size_t o = ds.n - 1000;
  if (rc == 0)
    rc = coin_calibration_fit(&cal, z, ds.y + o, ds.scale + o, ds.tf + o, 1000);
  if (rc == 0) {
    coin_model_set_calibration(m, &cal);
    rc = coin_model_save(m, out, len);
  }
  free(z);
  coin_model_free(m);
  coin_dataset_free(&ds);
  return rc;
}

static int register_model_mae(const char *version, double alpha,
                              int64_t created_ms, const char *alias_name,
                              double wf_mae) {
  uint8_t *art = NULL;
  size_t len = 0;
  struct coin_model_metadata m;
  memset(&m, 0, sizeof(m));
  int rc = fit_artifact(&art, &len, alpha);
  if (rc)
    return rc;
  snprintf(m.version, sizeof(m.version), "%s", version);
  snprintf(m.kind, sizeof(m.kind), "ridge");
  m.role = COIN_ROLE_CHALLENGER;
  m.feature_schema_version = COIN_FEATURES_SCHEMA_VERSION;
  snprintf(m.feature_schema_hash, sizeof(m.feature_schema_hash), "%s",
           coin_features_schema_hash());
  m.train_from_ms = btc->rows[pos - 4200].open_ms;
  m.train_to_ms = m.train_watermark_ms = btc->rows[pos - 1].open_ms;
  m.created_at_ms = created_ms;
  snprintf(m.git_revision, sizeof(m.git_revision), "test");
  coin_codec_metric_set(m.metrics, &m.n_metrics, "wf.1h.mae", wf_mae);
  coin_codec_metric_set(m.metrics, &m.n_metrics, "wf.1h.persistence_mae",
                        0.0061);
  coin_codec_metric_set(m.metrics, &m.n_metrics, "wf.1h.dir_acc", 0.51);
  coin_codec_metric_set(m.metrics, &m.n_metrics, "wf.1h.n", 1234);
  if ((rc = coin_registry_put_artifact(reg, &m, art, len)) == 0 &&
      (rc = coin_registry_create(reg, &m)) == 0 && alias_name) {
    char cur[COIN_CODEC_ID_BYTES];
    uint64_t rev = 0;
    if (coin_registry_alias_get(reg, cur, &rev, alias_name) != 0)
      rev = 0;
    rc = coin_registry_alias_set(reg, alias_name, version, rev);
  }
  free(art);
  return rc;
}

static int register_model(const char *version, double alpha, int64_t created_ms,
                          const char *alias_name) {
  return register_model_mae(version, alpha, created_ms, alias_name, 0.006);
}

static int point_alias(const char *alias_name, const char *version) {
  char cur[COIN_CODEC_ID_BYTES];
  uint64_t rev = 0;
  if (coin_registry_alias_get(reg, cur, &rev, alias_name) != 0)
    rev = 0;
  return coin_registry_alias_set(reg, alias_name, version, rev);
}

/* Refreshes until the serving object's champion/challenger are as wanted,
 * or load_failures reaches min_failures (deadline 5 s). */
static int settle(struct coin_serving *s, const char *champion,
                  const char *challenger, uint64_t min_failures) {
  for (int i = 0; i < 500; i++) {
    (void)coin_serving_refresh(s);
    struct coin_serving_stats st;
    coin_serving_stats(&st, s);
    if (!strcmp(st.champion, champion) && !strcmp(st.challenger, challenger) &&
        st.load_failures >= min_failures)
      return 0;
    usleep(10000);
  }
  return -1;
}

struct rec {
  int n;
  double pred, realized, abs_error, input_close;
  char role[16];
};

static int on_rec(void *ud, const struct coin_influx_row *row) {
  struct rec *r = ud;
  const struct coin_influx_value *v;
  r->n++;
  const char *role = coin_influx_row_tag(row, "role");
  snprintf(r->role, sizeof(r->role), "%s", role ? role : "");
  r->pred = r->realized = r->abs_error = r->input_close = NAN;
  if ((v = coin_influx_row_get(row, "predicted_return")) &&
      v->type == COIN_INFLUX_FLOAT)
    r->pred = v->v.f64;
  if ((v = coin_influx_row_get(row, "realized_return")) &&
      v->type == COIN_INFLUX_FLOAT)
    r->realized = v->v.f64;
  if ((v = coin_influx_row_get(row, "abs_error")) &&
      v->type == COIN_INFLUX_FLOAT)
    r->abs_error = v->v.f64;
  if ((v = coin_influx_row_get(row, "input_close")) &&
      v->type == COIN_INFLUX_FLOAT)
    r->input_close = v->v.f64;
  return 0;
}

static struct rec record_of(const char *version, int64_t target_ms) {
  struct rec r = {0};
  char q[512];
  snprintf(q, sizeof(q),
           "SELECT predicted_return, realized_return, abs_error, input_close "
           "FROM prediction WHERE model_version='%s' AND symbol='BTCUSDT' AND "
           "time = %lldms GROUP BY role",
           version, (long long)target_ms);
  if (coin_influx_query(ix, q, on_rec, &r) != 0)
    r.n = -1;
  return r;
}

/* What the model itself predicts for the window (an independent load):
 * the served return, or the learner's raw z. */
static double own_output(const char *version, bool raw_z) {
  struct coin_model *m = NULL;
  struct coin_feature_row row;
  struct coin_model_output o;
  double v = NAN;
  if (coin_registry_load_model(reg, &m, NULL, version) == 0 &&
      coin_features_compute(&row, COIN_TF_1H, btc->rows, pos) == 0 &&
      coin_model_predict_row(m, &o, &row, COIN_TF_1H, 0.8) == 0)
    v = raw_z ? o.z : o.ret;
  coin_model_free(m);
  return v;
}

static double own_prediction(const char *version) {
  return own_output(version, false);
}

static struct coin_serving *serving_new(int64_t max_age_ms) {
  struct coin_serving *s = NULL;
  struct coin_serving_opts o = {.bus = bus,
                                .ix = ix,
                                .exchange = "binance",
                                .model_max_age_ms = max_age_ms};
  if (coin_serving_new(&s, &o) != 0)
    return NULL;
  return s;
}

/* ---- tests ------------------------------------------------------------------
 */

static void no_registry_blocks_as_no_model(void) {
  struct coin_serving *s = NULL;
  struct coin_serving_opts o = {.exchange = "binance"};
  ASSERT_OK(coin_serving_new(&s, &o));
  ASSERT_EQ_INT(coin_serving_lookback(s), COIN_FEATURES_LOOKBACK);
  ASSERT_OK(coin_serving_refresh(s));
  struct coin_prediction p;
  ASSERT_OK(coin_serving_predict(s, &p, "BTCUSDT", COIN_TF_1H, btc->rows, pos));
  ASSERT_FALSE(p.has_values);
  ASSERT_EQ_INT(p.state, COIN_STATE_INSUFFICIENT_DATA);
  ASSERT_EQ_INT(p.degraded, COIN_DEGRADED_NO_MODEL);
  ASSERT_EQ_INT(p.target_open_ms, btc->rows[pos].open_ms);
  coin_serving_free(s);
  /* a registry without a champion: the same */
  s = serving_new(0);
  ASSERT_TRUE(s != NULL);
  ASSERT_OK(coin_serving_predict(s, &p, "BTCUSDT", COIN_TF_1H, btc->rows, pos));
  ASSERT_FALSE(p.has_values);
  ASSERT_TRUE(p.degraded & COIN_DEGRADED_NO_MODEL);
  coin_serving_free(s);
}

static void champion_serves_and_challenger_stays_in_shadow(void) {
  ASSERT_OK(register_model("champ-a", 1.0, wall_ms(), COIN_ALIAS_CHAMPION));
  ASSERT_OK(register_model("chall-c", 0.0, wall_ms(), COIN_ALIAS_CHALLENGER));
  struct coin_serving *s = serving_new(0);
  ASSERT_TRUE(s != NULL);
  ASSERT_OK(settle(s, "champ-a", "chall-c", 0));
  struct coin_prediction p;
  ASSERT_OK(coin_serving_predict(s, &p, "BTCUSDT", COIN_TF_1H, btc->rows, pos));
  ASSERT_TRUE(p.has_values);
  ASSERT_EQ_INT(p.degraded, 0);
  ASSERT_EQ_STR(p.model_version, "champ-a");
  ASSERT_EQ_STR(p.model_kind, "ridge");
  double a = own_prediction("champ-a"), c = own_prediction("chall-c");
  /* two different models (both returns may be shrunk to 0 on these
   * candles: compare the learners) */
  ASSERT_TRUE(own_output("champ-a", true) != own_output("chall-c", true));
  ASSERT_EQ_DBL(p.predicted_return, a); /* the champion's, never the shadow */
  ASSERT_TRUE(p.has_metrics && p.wf_n == 1234);
  ASSERT_EQ_DBL(p.wf_mae, 0.006);
  int64_t t = btc->rows[pos].open_ms;
  struct rec ra = record_of("champ-a", t), rc = record_of("chall-c", t);
  ASSERT_EQ_INT(ra.n, 1);
  ASSERT_EQ_STR(ra.role, "champion");
  ASSERT_EQ_DBL(ra.pred, a);
  ASSERT_EQ_INT(rc.n, 1);
  ASSERT_EQ_STR(rc.role, "challenger");
  ASSERT_EQ_DBL(rc.pred, c);
  ASSERT_EQ_DBL(rc.input_close, btc->rows[pos - 1].close);
  ASSERT_TRUE(isnan(rc.realized));
  /* the target candle closes: realized returns and errors for both */
  ASSERT_OK(coin_serving_realize(s, "BTCUSDT", COIN_TF_1H, &btc->rows[pos], 1));
  double want = log(btc->rows[pos].close / btc->rows[pos - 1].close);
  ra = record_of("champ-a", t);
  rc = record_of("chall-c", t);
  ASSERT_EQ_DBL(ra.realized, want);
  ASSERT_EQ_DBL(rc.realized, want);
  ASSERT_NEAR(ra.abs_error, fabs(a - want), 1e-15);
  ASSERT_NEAR(rc.abs_error, fabs(c - want), 1e-15);
  struct coin_serving_stats st;
  coin_serving_stats(&st, s);
  ASSERT_EQ_INT(st.records_written, 1);
  ASSERT_EQ_INT(st.realized_written, 2);
  coin_serving_free(s);
}

static void bad_champion_keeps_the_old_one_serving(void) {
  struct coin_serving *s = serving_new(0);
  ASSERT_TRUE(s != NULL);
  ASSERT_OK(settle(s, "champ-a", "chall-c", 0));
  /* B's stored artifact is damaged after registration */
  ASSERT_OK(register_model("champ-b", 2.0, wall_ms(), NULL));
  const char junk[] = "definitely not the bytes that were hashed";
  struct coin_bus_header h[] = {{"Coin-Artifact-Chunks", "1"}};
  ASSERT_OK(coin_bus_js_publish_msg(NULL, bus,
                                    "coin.models.artifacts.champ-b.0", NULL, h,
                                    1, junk, sizeof(junk)));
  ASSERT_OK(point_alias(COIN_ALIAS_CHAMPION, "champ-b"));
  ASSERT_OK(settle(s, "champ-a", "chall-c", 1));
  int rc = coin_serving_refresh(s);
  (void)rc;
  struct coin_prediction p;
  ASSERT_OK(coin_serving_predict(s, &p, "BTCUSDT", COIN_TF_1H, btc->rows, pos));
  ASSERT_TRUE(p.has_values);
  ASSERT_EQ_STR(p.model_version, "champ-a");
  ASSERT_EQ_INT(p.degraded, COIN_DEGRADED_MODEL_LOAD_FAILED);

  /* D's artifact is intact but computes another feature schema */
  uint8_t *art = NULL;
  size_t len = 0;
  ASSERT_OK(fit_artifact(&art, &len, 1.0));
  size_t hash_at = 8 + 4 + 4 + strlen("ridge") + 4;
  memset(art + hash_at, 'e', 64);
  ASSERT_OK(coin_sha256(art + len - 32, art, len - 32));
  struct coin_model_metadata m;
  memset(&m, 0, sizeof(m));
  snprintf(m.version, sizeof(m.version), "champ-d");
  snprintf(m.kind, sizeof(m.kind), "ridge");
  m.role = COIN_ROLE_CHALLENGER;
  m.created_at_ms = wall_ms();
  ASSERT_OK(coin_registry_put_artifact(reg, &m, art, len));
  ASSERT_OK(coin_registry_create(reg, &m));
  free(art);
  ASSERT_OK(point_alias(COIN_ALIAS_CHAMPION, "champ-d"));
  ASSERT_OK(settle(s, "champ-a", "chall-c", 2));
  ASSERT_OK(coin_serving_predict(s, &p, "BTCUSDT", COIN_TF_1H, btc->rows, pos));
  ASSERT_EQ_STR(p.model_version, "champ-a");
  ASSERT_EQ_INT(p.degraded, COIN_DEGRADED_MODEL_LOAD_FAILED);

  /* the operator points the alias back: healthy again */
  ASSERT_OK(point_alias(COIN_ALIAS_CHAMPION, "champ-a"));
  for (int i = 0; i < 500; i++) { /* until the watch delivered the change */
    (void)coin_serving_refresh(s);
    ASSERT_OK(
        coin_serving_predict(s, &p, "BTCUSDT", COIN_TF_1H, btc->rows, pos));
    if (p.degraded == 0)
      break;
    usleep(10000);
  }
  ASSERT_EQ_INT(p.degraded, 0);
  ASSERT_EQ_STR(p.model_version, "champ-a");

  /* a broken challenger: only challenger_failing */
  ASSERT_OK(point_alias(COIN_ALIAS_CHALLENGER, "champ-b"));
  ASSERT_OK(settle(s, "champ-a", "", 3));
  ASSERT_OK(coin_serving_predict(s, &p, "BTCUSDT", COIN_TF_1H, btc->rows, pos));
  ASSERT_TRUE(p.has_values);
  ASSERT_EQ_INT(p.degraded, COIN_DEGRADED_CHALLENGER_FAILING);
  coin_serving_free(s);
}

static void old_champion_is_degraded_too_old(void) {
  ASSERT_OK(register_model("champ-old", 1.0, wall_ms() - 10 * COIN_DAY_MS,
                           COIN_ALIAS_CHAMPION));
  ASSERT_OK(point_alias(COIN_ALIAS_CHALLENGER, "chall-c"));
  struct coin_serving *s = serving_new(7 * COIN_DAY_MS);
  ASSERT_TRUE(s != NULL);
  ASSERT_OK(settle(s, "champ-old", "chall-c", 0));
  struct coin_prediction p;
  ASSERT_OK(coin_serving_predict(s, &p, "BTCUSDT", COIN_TF_1H, btc->rows, pos));
  ASSERT_TRUE(p.has_values);
  ASSERT_EQ_INT(p.degraded, COIN_DEGRADED_MODEL_TOO_OLD);
  coin_serving_free(s);
}

/* A model that cannot beat persistence on a timeframe is not served there;
 * equal to persistence is served (the target is MAE <= persistence). */
static void worse_than_persistence_is_not_served(void) {
  ASSERT_OK(register_model_mae("champ-w", 1.0, wall_ms(), COIN_ALIAS_CHAMPION,
                               0.0062));
  struct coin_serving *s = serving_new(0);
  ASSERT_TRUE(s != NULL);
  ASSERT_OK(settle(s, "champ-w", "chall-c", 0));
  struct coin_prediction p;
  ASSERT_OK(coin_serving_predict(s, &p, "BTCUSDT", COIN_TF_1H, btc->rows, pos));
  ASSERT_FALSE(p.has_values);
  ASSERT_TRUE(p.worse_than_persistence);
  ASSERT_EQ_INT(p.degraded, 0); /* a decision, not a fault */
  ASSERT_EQ_INT(p.state, COIN_STATE_FRESH);
  ASSERT_TRUE(p.evaluated);
  ASSERT_EQ_DBL(p.wf_mae, 0.0062);
  ASSERT_EQ_DBL(p.wf_persistence_mae, 0.0061);
  ASSERT_EQ_DBL(p.predicted_close, 0); /* no value leaks */
  ASSERT_EQ_STR(p.model_version, "champ-w");
  /* still predicted and recorded: the evidence keeps accumulating */
  struct rec r = record_of("champ-w", btc->rows[pos].open_ms);
  ASSERT_EQ_INT(r.n, 1);
  ASSERT_EQ_STR(r.role, "champion");
  ASSERT_EQ_DBL(r.pred, own_prediction("champ-w"));
  coin_serving_free(s);
  /* equal to persistence: served */
  ASSERT_OK(register_model_mae("champ-e", 1.0, wall_ms(), COIN_ALIAS_CHAMPION,
                               0.0061));
  s = serving_new(0);
  ASSERT_TRUE(s != NULL);
  ASSERT_OK(settle(s, "champ-e", "chall-c", 0));
  ASSERT_OK(coin_serving_predict(s, &p, "BTCUSDT", COIN_TF_1H, btc->rows, pos));
  ASSERT_TRUE(p.has_values);
  ASSERT_FALSE(p.worse_than_persistence);
  coin_serving_free(s);
}

static int setup(void) {
  const char *dir = getenv("COIN_SHARED_DATA_DIR");
  struct coin_influx_options o;
  coin_influx_options_init(&o);
  o.url = influx.url;
  if (!dir || coin_influx_new(&ix, &o) != 0 || coin_influx_create_db(ix) != 0 ||
      coin_candle_file_load_dir(&btc, dir, "BTCUSDT", COIN_TF_1H, 0) != 0)
    return -1;
  pos = btc->count - 100;
  struct coin_bus_options bo;
  coin_test_nats_options(&bo, &nats, "admin");
  if (coin_bus_connect(&bus, &bo) != 0 ||
      coin_registry_open(&reg, bus, "test") != 0)
    return -1;
  return 0;
}

int main(int argc, char **argv) {
  coin_test_main_begin(argc, argv);
  if (coin_test_nats_start(&nats) != 0 ||
      coin_test_influx_start(&influx) != 0 || setup() != 0) {
    fprintf(stderr, "setup failed: %s\n", coin_error_last());
    return 1;
  }
  RUN_TEST(no_registry_blocks_as_no_model);
  RUN_TEST(champion_serves_and_challenger_stays_in_shadow);
  RUN_TEST(bad_champion_keeps_the_old_one_serving);
  RUN_TEST(old_champion_is_degraded_too_old);
  RUN_TEST(worse_than_persistence_is_not_served);
  coin_registry_free(reg);
  coin_bus_free(bus);
  coin_influx_free(ix);
  coin_candle_file_free(btc);
  coin_bus_shutdown();
  coin_test_server_cleanup(&nats);
  coin_test_server_cleanup(&influx);
  return coin_test_summary();
}
