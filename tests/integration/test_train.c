/* test_train.c: the model lifecycle end to end with real nats-server and
 * influxd, on real candles ($COIN_SHARED_DATA_DIR, BTCUSDT + ETHUSDT 1h and
 * 1d, their whole history up to a split time written into the test's
 * InfluxDB). coin-train runs
 * as a child process; serving runs in this process exactly as coin-publish
 * drives it (predict on each new candle, realize when it closes), replaying
 * the candles after the split, so the gate has shadow evidence.
 * - train registers a challenger: metadata, verified artifact, event;
 * - the first promotion needs evidence (or --bootstrap) and must beat
 *   persistence; serving picks the champion up without restart;
 * - a challenger trained on shuffled labels is refused, every failed check
 *   listed, and leaves the shadow;
 * - a good challenger is promoted; serving switches to it;
 * - rollback restores the previous champion; serving follows;
 * - evaluate scores any model and changes nothing. */
#include "coin/bus.h"
#include "coin/candle_file.h"
#include "coin/codec.h"
#include "coin/error.h"
#include "coin/features.h"
#include "coin/freshness.h"
#include "coin/influx.h"
#include "coin/registry.h"
#include "coin/serving.h"
#include "harness.h"
#include "test.h"

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <unistd.h>

#define SPLIT_MS INT64_C(1654041600000) /* 2022-06-01T00:00Z */
#define FROM_MS INT64_C(1514764800000)  /* 2018-01-01T00:00Z */
#define SHADOW_STEPS 130                /* hours replayed per phase */

static struct coin_test_server nats, influx;
static char tmpdir[256], bin_train[512], last_log[512];
static const char *symbols[2] = {"BTCUSDT", "ETHUSDT"};
static struct coin_candle_file *h1[2];
static size_t replay_pos[2]; /* next 1h candle (index) to replay */

static struct coin_bus *bus;
static struct coin_registry *reg;
static struct coin_influx *ix;
static struct coin_serving *serving;
static struct coin_influx *serving_ix;
static struct coin_bus_tap *tap;

/* ---- model events seen on coin.models.events ----------------------------- */

static pthread_mutex_t ev_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
  enum coin_model_event_kind kind;
  char version[COIN_CODEC_ID_BYTES];
  char reason[COIN_CODEC_TEXT_BYTES];
} events[64];
static size_t n_events;

static void on_event(const struct coin_bus_msg *m, void *ud) {
  (void)ud;
  struct coin_model_event ev;
  if (coin_codec_unpack_model_event(&ev, coin_bus_msg_data(m),
                                    coin_bus_msg_len(m)) != 0)
    return;
  pthread_mutex_lock(&ev_mu);
  if (n_events < 64) {
    events[n_events].kind = ev.kind;
    snprintf(events[n_events].version, COIN_CODEC_ID_BYTES, "%s", ev.version);
    snprintf(events[n_events].reason, COIN_CODEC_TEXT_BYTES, "%s", ev.reason);
    n_events++;
  }
  pthread_mutex_unlock(&ev_mu);
}

/* Polls (deadline 5 s) for an event of kind about version. */
static bool saw_event(enum coin_model_event_kind kind, const char *version,
                      char *reason_out) {
  for (int i = 0; i < 500; i++) {
    pthread_mutex_lock(&ev_mu);
    for (size_t k = 0; k < n_events; k++)
      if (events[k].kind == kind && !strcmp(events[k].version, version)) {
        if (reason_out)
          snprintf(reason_out, COIN_CODEC_TEXT_BYTES, "%s", events[k].reason);
        pthread_mutex_unlock(&ev_mu);
        return true;
      }
    pthread_mutex_unlock(&ev_mu);
    usleep(10000);
  }
  return false;
}

/* ---- running coin-train ----------------------------------------------------
 */

/* Runs coin-train with args (NULL-terminated) and extra env lines; returns
 * its exit code; its output is in last_log. */
static int run_train(const char *const *args, const char *extra_env) {
  static int seq;
  char e[26][256];
  int k = COIN_TEST_NATS_ENV(e, 0, &nats, "train");
  snprintf(e[k++], 256, "INFLUX_URL=%s", influx.url);
  snprintf(e[k++], 256, "SYMBOLS=BTCUSDT,ETHUSDT");
  snprintf(e[k++], 256, "TRAIN_TIMEFRAMES=1h,1d");
  snprintf(e[k++], 256, "TRAIN_XGB_ROUNDS=60");
  snprintf(e[k++], 256, "TRAIN_LOCK_TTL_SECONDS=30");
  /* the gate runs with its defaults: 200 shadow predictions, margins MAE
   * +0.2%, directional accuracy -1 pp, Brier +0.001 */
  snprintf(e[k++], 256, "SERVICE_ID=test");
  snprintf(e[k++], 256, "LOG_LEVEL=info");
  for (const char *x = extra_env; x && *x && k < 25;) {
    const char *nl = strchr(x, '\n');
    int len = nl ? (int)(nl - x) : (int)strlen(x);
    snprintf(e[k++], 256, "%.*s", len, x);
    x = nl ? nl + 1 : x + len;
  }
  char *envp[27];
  for (int i = 0; i < k; i++)
    envp[i] = e[i];
  envp[k] = NULL;
  char *argv[16];
  int n = 0;
  argv[n++] = bin_train;
  for (; args && args[n - 1] && n < 15; n++)
    argv[n] = (char *)args[n - 1];
  argv[n] = NULL;
  snprintf(last_log, sizeof(last_log), "%s/train-%d.log", tmpdir, ++seq);
  struct coin_test_proc p;
  if (coin_test_proc_start(&p, argv, envp, last_log) != 0)
    return -1;
  int st = coin_test_proc_wait(&p, 120000);
  if (st < 0)
    coin_test_proc_signal(&p, SIGKILL);
  return st;
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f)
    return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)n + 1);
  size_t got = fread(b, 1, (size_t)n, f);
  b[got] = '\0';
  fclose(f);
  return b;
}

static void show_log(void) {
  coin_test_sh("tail -25 %s >&2", last_log);
}

/* The JSON report line of the last run (caller decrefs). */
static json_t *report(void) {
  char *text = slurp(last_log);
  json_t *j = NULL;
  for (char *l = text; l && *l && !j;) {
    char *nl = strchr(l, '\n');
    if (nl)
      *nl = '\0';
    if (!strncmp(l, "{\"command\"", 10))
      j = json_loads(l, 0, NULL);
    l = nl ? nl + 1 : l + strlen(l);
  }
  free(text);
  return j;
}

static int train_version(char *out, const char *extra_args, const char *env) {
  const char *args[8] = {"train", "--json"};
  int n = 2;
  char buf[128] = "";
  if (extra_args) {
    snprintf(buf, sizeof(buf), "%s", extra_args);
    for (char *s = NULL, *t = strtok_r(buf, " ", &s); t && n < 7;
         t = strtok_r(NULL, " ", &s))
      args[n++] = t;
  }
  args[n] = NULL;
  int st = run_train(args, env);
  if (st != 0) {
    show_log();
    return st;
  }
  json_t *j = report();
  const char *v = json_string_value(json_object_get(j, "version"));
  snprintf(out, COIN_CODEC_ID_BYTES, "%s", v ? v : "");
  json_decref(j);
  return v ? 0 : -1;
}

static void alias(char *out, const char *name) {
  if (coin_registry_alias_get(reg, out, NULL, name) != 0)
    out[0] = '\0';
}

/* ---- the shadow: serving as coin-publish drives it --------------------- */

/* Replays steps hours of both symbols: predict the next candle from the
 * history so far, then hand the closed candle to realize. */
static int shadow_replay(int steps, char *served_version) {
  if (coin_serving_refresh(serving) != 0)
    fprintf(stderr, "  refresh: %s\n", coin_error_last());
  for (int s = 0; s < steps; s++) {
    for (int i = 0; i < 2; i++) {
      size_t k = replay_pos[i];
      struct coin_prediction p;
      if (k + 1 >= h1[i]->count)
        return -1;
      if (coin_serving_predict(serving, &p, symbols[i], COIN_TF_1H, h1[i]->rows,
                               k) != 0)
        return -1;
      if (served_version)
        snprintf(served_version, COIN_CODEC_ID_BYTES, "%s", p.model_version);
      if (coin_serving_realize(serving, symbols[i], COIN_TF_1H, &h1[i]->rows[k],
                               1) != 0)
        return -1;
      replay_pos[i]++;
    }
  }
  return 0;
}

/* ---- tests ----------------------------------------------------------------
 */

static char champion_a[COIN_CODEC_ID_BYTES];

static void train_registers_a_challenger(void) {
  char v[COIN_CODEC_ID_BYTES];
  ASSERT_OK(train_version(v, NULL, NULL));
  ASSERT_CONTAINS(v, "xgboost-");
  char a[COIN_CODEC_ID_BYTES];
  alias(a, COIN_ALIAS_CHALLENGER);
  ASSERT_EQ_STR(a, v);
  struct coin_model_metadata m;
  ASSERT_OK(coin_registry_get(reg, &m, NULL, v));
  ASSERT_EQ_INT(m.role, COIN_ROLE_CHALLENGER);
  ASSERT_EQ_STR(m.kind, "xgboost");
  ASSERT_EQ_INT(m.feature_schema_version, COIN_FEATURES_SCHEMA_VERSION);
  ASSERT_EQ_STR(m.feature_schema_hash, coin_features_schema_hash());
  ASSERT_EQ_STR(m.parent_version, "");
  ASSERT_TRUE(m.train_rows > 80000 && m.eval_rows > 20000);
  ASSERT_TRUE(m.train_from_ms < FROM_MS && m.train_to_ms < SPLIT_MS);
  /* no coin-ingest watermark: each series' newest candle; the minimum */
  ASSERT_EQ_INT(m.train_watermark_ms, SPLIT_MS - COIN_DAY_MS);
  ASSERT_EQ_INT(strlen(m.artifact_sha256), 64);
  ASSERT_TRUE(m.git_revision[0] != '\0');
  double mae, pmae, n1h;
  ASSERT_OK(coin_codec_metric_get(&mae, m.metrics, m.n_metrics, "wf.mae"));
  ASSERT_OK(coin_codec_metric_get(&pmae, m.metrics, m.n_metrics,
                                  "wf.persistence_mae"));
  ASSERT_OK(coin_codec_metric_get(&n1h, m.metrics, m.n_metrics, "wf.1h.n"));
  ASSERT_TRUE(mae > 0 && pmae > 0 && n1h > 1000);
  struct coin_model *model = NULL;
  ASSERT_OK(coin_registry_load_model(reg, &model, NULL, v)); /* sha256 ok */
  coin_model_free(model);
  ASSERT_TRUE(saw_event(COIN_MODEL_EVENT_REGISTERED, v, NULL));
  snprintf(champion_a, sizeof(champion_a), "%s", v);
}

static void first_promotion_needs_evidence_and_beats_persistence(void) {
  const char *promote[] = {"promote", NULL};
  ASSERT_EQ_INT(run_train(promote, NULL), 4);
  char *log = slurp(last_log);
  ASSERT_CONTAINS(log, "[FAIL] shadow_evidence");
  ASSERT_CONTAINS(log, "[pass] walk_forward_beats_persistence_mae");
  ASSERT_CONTAINS(log, "[pass] walk_forward_beats_persistence_brier");
  free(log);
  char a[COIN_CODEC_ID_BYTES];
  alias(a, COIN_ALIAS_CHAMPION);
  ASSERT_EQ_STR(a, "");
  alias(a, COIN_ALIAS_CHALLENGER); /* missing evidence: stays challenger */
  ASSERT_EQ_STR(a, champion_a);
  ASSERT_TRUE(saw_event(COIN_MODEL_EVENT_REFUSED, champion_a, NULL));

  /* no champion: serving blocks (no_model) but records the shadow */
  char served[COIN_CODEC_ID_BYTES];
  ASSERT_OK(shadow_replay(5, served));
  ASSERT_EQ_STR(served, "");
  struct coin_prediction p;
  ASSERT_OK(coin_serving_predict(serving, &p, "BTCUSDT", COIN_TF_1H,
                                 h1[0]->rows, replay_pos[0]));
  ASSERT_FALSE(p.has_values);
  ASSERT_EQ_INT(p.state, COIN_STATE_INSUFFICIENT_DATA);
  ASSERT_TRUE(p.degraded & COIN_DEGRADED_NO_MODEL);
  struct coin_serving_stats st;
  coin_serving_stats(&st, serving);
  ASSERT_EQ_STR(st.challenger, champion_a);
  ASSERT_TRUE(st.records_written >= 10 && st.realized_written >= 8);

  const char *boot[] = {"promote", "--bootstrap", NULL};
  int rc = run_train(boot, NULL);
  if (rc != 0)
    show_log();
  ASSERT_EQ_INT(rc, 0);
  alias(a, COIN_ALIAS_CHAMPION);
  ASSERT_EQ_STR(a, champion_a);
  alias(a, COIN_ALIAS_CHALLENGER);
  ASSERT_EQ_STR(a, "");
  struct coin_model_metadata m;
  ASSERT_OK(coin_registry_get(reg, &m, NULL, champion_a));
  ASSERT_EQ_INT(m.role, COIN_ROLE_CHAMPION);
  ASSERT_TRUE(saw_event(COIN_MODEL_EVENT_PROMOTED, champion_a, NULL));
  /* bootstrap: walk-forward evidence stood in, recorded in the metadata */
  double x = NAN, mae = NAN, pmae = NAN, diff = NAN, ci = NAN;
  ASSERT_OK(
      coin_codec_metric_get(&x, m.metrics, m.n_metrics, "promotion.bootstrap"));
  ASSERT_NEAR(x, 1, 0);
  ASSERT_OK(coin_codec_metric_get(&x, m.metrics, m.n_metrics,
                                  "promotion.evidence_walk_forward"));
  ASSERT_NEAR(x, 1, 0);
  ASSERT_OK(coin_codec_metric_get(&x, m.metrics, m.n_metrics,
                                  "promotion.beats_persistence_mae"));
  ASSERT_OK(coin_codec_metric_get(&mae, m.metrics, m.n_metrics, "wf.mae"));
  ASSERT_OK(coin_codec_metric_get(&pmae, m.metrics, m.n_metrics,
                                  "wf.persistence_mae"));
  ASSERT_OK(
      coin_codec_metric_get(&diff, m.metrics, m.n_metrics, "wf.mae_diff"));
  ASSERT_OK(
      coin_codec_metric_get(&ci, m.metrics, m.n_metrics, "wf.mae_diff_ci95"));
  ASSERT_NEAR(x, mae < pmae ? 1 : 0, 0); /* beat it or not: said honestly */
  ASSERT_NEAR(diff, mae - pmae, 1e-9);   /* paired over the same rows */
  ASSERT_TRUE(ci > 0 && diff - ci <= 0); /* else the gate had refused */
  char *blog = slurp(last_log);
  ASSERT_CONTAINS(blog, "PROMOTED (bootstrap");
  ASSERT_CONTAINS(blog, "[pass] bootstrap_walk_forward_mae_vs_persistence");
  free(blog);
}

static void serving_picks_up_the_champion(void) {
  char served[COIN_CODEC_ID_BYTES];
  ASSERT_OK(shadow_replay(1, served)); /* refresh happens inside */
  ASSERT_EQ_STR(served, champion_a);
  struct coin_prediction p;
  size_t k = replay_pos[0];
  ASSERT_OK(
      coin_serving_predict(serving, &p, "BTCUSDT", COIN_TF_1H, h1[0]->rows, k));
  ASSERT_TRUE(p.has_values);
  ASSERT_EQ_INT(p.state, COIN_STATE_FRESH);
  ASSERT_EQ_INT(p.degraded, 0);
  ASSERT_EQ_STR(p.model_kind, "xgboost");
  ASSERT_EQ_INT(p.input_last_open_ms, h1[0]->rows[k - 1].open_ms);
  ASSERT_EQ_INT(p.target_open_ms, h1[0]->rows[k].open_ms);
  ASSERT_TRUE(p.band_low < p.predicted_close &&
              p.predicted_close < p.band_high);
  ASSERT_NEAR(p.predicted_close,
              h1[0]->rows[k - 1].close * exp(p.predicted_return), 1e-6);
  ASSERT_TRUE(p.direction == 1 || p.direction == -1);
  ASSERT_TRUE(p.direction_probability >= 0.5 && p.direction_probability <= 1);
  ASSERT_EQ_DBL(p.band_level, 0.8);
  ASSERT_TRUE(p.has_metrics && p.wf_n > 1000 && p.wf_mae > 0 &&
              p.wf_persistence_mae > 0);
  /* too little history: blocked, never a guess */
  ASSERT_OK(coin_serving_predict(serving, &p, "BTCUSDT", COIN_TF_1H,
                                 h1[0]->rows + k - 50, 50));
  ASSERT_FALSE(p.has_values);
  ASSERT_EQ_INT(p.state, COIN_STATE_INSUFFICIENT_DATA);
  ASSERT_EQ_STR(p.model_version, champion_a);
}

static void shuffled_label_challenger_is_refused(void) {
  char s[COIN_CODEC_ID_BYTES];
  ASSERT_OK(train_version(s, "--shuffle-labels", NULL));
  struct coin_model_metadata m;
  ASSERT_OK(coin_registry_get(reg, &m, NULL, s));
  ASSERT_EQ_STR(m.parent_version, champion_a);
  char served[COIN_CODEC_ID_BYTES];
  ASSERT_OK(shadow_replay(SHADOW_STEPS, served));
  ASSERT_EQ_STR(served, champion_a); /* the shadow is never returned */
  const char *promote[] = {"promote", NULL};
  ASSERT_EQ_INT(run_train(promote, NULL), 4);
  char *log = slurp(last_log);
  char *verdict = strstr(log, "coin-train promote:");
  fprintf(stderr, "%s", verdict ? verdict : log);
  ASSERT_CONTAINS(log, "REFUSED");
  ASSERT_CONTAINS(log, "[pass] shadow_evidence");
  ASSERT_CONTAINS(log, "[FAIL] walk_forward");
  free(log);
  char a[COIN_CODEC_ID_BYTES];
  alias(a, COIN_ALIAS_CHAMPION);
  ASSERT_EQ_STR(a, champion_a);
  alias(a, COIN_ALIAS_CHALLENGER); /* out of the shadow */
  ASSERT_EQ_STR(a, "");
  ASSERT_OK(coin_registry_get(reg, &m, NULL, s));
  ASSERT_EQ_INT(m.role, COIN_ROLE_REFUSED);
  char reason[COIN_CODEC_TEXT_BYTES];
  ASSERT_TRUE(saw_event(COIN_MODEL_EVENT_REFUSED, s, reason));
  ASSERT_CONTAINS(reason, "walk_forward");
}

static char champion_b[COIN_CODEC_ID_BYTES];

static void good_challenger_is_promoted_and_served(void) {
  char b[COIN_CODEC_ID_BYTES];
  ASSERT_OK(train_version(b, NULL, "TRAIN_SEED=7"));
  char served[COIN_CODEC_ID_BYTES];
  ASSERT_OK(shadow_replay(SHADOW_STEPS, served));
  const char *promote[] = {"promote", "--json", NULL};
  int rc = run_train(promote, NULL);
  if (rc != 0)
    show_log();
  ASSERT_EQ_INT(rc, 0);
  json_t *j = report();
  char *checks = json_dumps(json_object_get(j, "checks"), JSON_COMPACT);
  fprintf(stderr, "  gate: %s\n", checks ? checks : "?");
  free(checks);
  ASSERT_EQ_STR(json_string_value(json_object_get(j, "outcome")), "PROMOTED");
  double n = json_real_value(
      json_object_get(json_object_get(j, "metrics"), "realized_candles"));
  ASSERT_TRUE(n >= 200);
  json_decref(j);
  char a[COIN_CODEC_ID_BYTES];
  alias(a, COIN_ALIAS_CHAMPION);
  ASSERT_EQ_STR(a, b);
  alias(a, COIN_ALIAS_PREVIOUS);
  ASSERT_EQ_STR(a, champion_a);
  struct coin_model_metadata m;
  ASSERT_OK(coin_registry_get(reg, &m, NULL, champion_a));
  ASSERT_EQ_INT(m.role, COIN_ROLE_RETIRED);
  ASSERT_OK(shadow_replay(1, served));
  ASSERT_EQ_STR(served, b);
  snprintf(champion_b, sizeof(champion_b), "%s", b);
}

static void rollback_restores_the_previous_champion(void) {
  const char *rb[] = {"rollback", NULL};
  int rc = run_train(rb, NULL);
  if (rc != 0)
    show_log();
  ASSERT_EQ_INT(rc, 0);
  char a[COIN_CODEC_ID_BYTES];
  alias(a, COIN_ALIAS_CHAMPION);
  ASSERT_EQ_STR(a, champion_a);
  alias(a, COIN_ALIAS_PREVIOUS); /* A had no predecessor */
  ASSERT_EQ_STR(a, "");
  struct coin_model_metadata m;
  ASSERT_OK(coin_registry_get(reg, &m, NULL, champion_b));
  ASSERT_EQ_INT(m.role, COIN_ROLE_RETIRED);
  ASSERT_OK(coin_registry_get(reg, &m, NULL, champion_a));
  ASSERT_EQ_INT(m.role, COIN_ROLE_CHAMPION);
  ASSERT_TRUE(saw_event(COIN_MODEL_EVENT_ROLLED_BACK, champion_a, NULL));
  char served[COIN_CODEC_ID_BYTES];
  ASSERT_OK(shadow_replay(1, served));
  ASSERT_EQ_STR(served, champion_a);
  /* nothing further back: a second rollback is refused, nothing changes */
  ASSERT_EQ_INT(run_train(rb, NULL), 1);
  char *log = slurp(last_log);
  ASSERT_CONTAINS(log, "no previous champion");
  free(log);
  alias(a, COIN_ALIAS_CHAMPION);
  ASSERT_EQ_STR(a, champion_a);
}

static void evaluate_scores_any_model_and_changes_nothing(void) {
  struct coin_bus_kv *kv = NULL;
  struct coin_bus_kv_entry before = {0}, after = {0};
  ASSERT_OK(coin_bus_kv_open(&kv, bus, COIN_KV_MODELS));
  ASSERT_OK(coin_bus_kv_get(&before, kv, COIN_ALIAS_CHAMPION));
  /* the post-split candles, in the SoT now */
  for (int i = 0; i < 2; i++) {
    size_t k = coin_candle_file_lower_bound(h1[i], SPLIT_MS);
    ASSERT_OK(coin_influx_write_candles(ix, "binance", symbols[i], "1h",
                                        h1[i]->rows + k, 500));
  }
  char arg[96];
  snprintf(arg, sizeof(arg), "%s", champion_b);
  const char *ev[] = {"evaluate",     "--model", arg,
                      "--timeframes", "1h",      "--from",
                      "2022-05-01",   "--json",  NULL};
  int rc = run_train(ev, NULL);
  if (rc != 0)
    show_log();
  ASSERT_EQ_INT(rc, 0);
  json_t *j = report();
  ASSERT_EQ_STR(json_string_value(json_object_get(j, "version")), champion_b);
  json_t *oos = json_object_get(json_object_get(j, "out_of_sample"), "all");
  json_int_t n =
      json_integer_value(json_object_get(json_object_get(oos, "model"), "n"));
  json_int_t pn = json_integer_value(
      json_object_get(json_object_get(oos, "persistence"), "n"));
  ASSERT_TRUE(n >= 900 && n == pn); /* 2 x 500 new hours, minus the edge */
  ASSERT_TRUE(json_object_get(json_object_get(j, "out_of_sample"), "symbols") !=
              NULL);
  json_decref(j);
  ASSERT_OK(coin_bus_kv_get(&after, kv, COIN_ALIAS_CHAMPION));
  ASSERT_EQ_INT(after.revision, before.revision);
  coin_bus_kv_entry_clear(&before);
  coin_bus_kv_entry_clear(&after);
  coin_bus_kv_free(kv);
  /* ls and show work on the same registry */
  const char *ls[] = {"ls", "--json", NULL};
  ASSERT_EQ_INT(run_train(ls, NULL), 0);
  j = report();
  ASSERT_TRUE(json_array_size(json_object_get(j, "models")) >= 3);
  json_decref(j);
  const char *show[] = {"show", "champion", NULL};
  ASSERT_EQ_INT(run_train(show, NULL), 0);
  j = report();
  ASSERT_TRUE(json_is_true(json_object_get(j, "artifact_verified")));
  json_decref(j);
}

/* ---- setup -----------------------------------------------------------------
 */

static int setup(void) {
  const char *dir = getenv("COIN_SHARED_DATA_DIR");
  struct coin_influx_options o;
  coin_influx_options_init(&o);
  o.url = influx.url;
  if (!dir || coin_influx_new(&ix, &o) != 0 || coin_influx_create_db(ix) != 0)
    return -1;
  for (int i = 0; i < 2; i++) {
    struct coin_candle_file *d = NULL;
    if (coin_candle_file_load_dir(&h1[i], dir, symbols[i], COIN_TF_1H, 0) ||
        coin_candle_file_load_dir(&d, dir, symbols[i], COIN_TF_1D, 0))
      return -1;
    size_t a = 0; /* the whole history before the split */
    size_t b = coin_candle_file_lower_bound(h1[i], SPLIT_MS);
    size_t da = 0;
    size_t db = coin_candle_file_lower_bound(d, SPLIT_MS);
    if (coin_influx_write_candles(ix, "binance", symbols[i], "1h",
                                  h1[i]->rows + a, b - a) != 0 ||
        coin_influx_write_candles(ix, "binance", symbols[i], "1d", d->rows + da,
                                  db - da) != 0)
      return -1;
    coin_candle_file_free(d);
    replay_pos[i] = b; /* serving starts with the first post-split hour */
  }
  struct coin_bus_options bo;
  coin_test_nats_options(&bo, &nats, "admin");
  if (coin_bus_connect(&bus, &bo) != 0 ||
      coin_registry_open(&reg, bus, "test") != 0 ||
      coin_bus_tap_core(&tap, bus, COIN_SUBJECT_MODEL_EVENTS, on_event, NULL) !=
          0)
    return -1;
  if (coin_influx_new(&serving_ix, &o) != 0)
    return -1;
  struct coin_serving_opts so = {
      .bus = bus, .ix = serving_ix, .exchange = "binance"};
  return coin_serving_new(&serving, &so);
}

int main(int argc, char **argv) {
  coin_test_main_begin(argc, argv);
  if (coin_test_tmpdir(tmpdir, sizeof(tmpdir), "train") != 0 ||
      coin_test_bin(bin_train, sizeof(bin_train), "coin-train") != 0 ||
      coin_test_nats_start(&nats) != 0 ||
      coin_test_influx_start(&influx) != 0 || setup() != 0) {
    fprintf(stderr, "setup failed: %s\n", coin_error_last());
    return 1;
  }
  RUN_TEST(train_registers_a_challenger);
  RUN_TEST(first_promotion_needs_evidence_and_beats_persistence);
  RUN_TEST(serving_picks_up_the_champion);
  RUN_TEST(shuffled_label_challenger_is_refused);
  RUN_TEST(good_challenger_is_promoted_and_served);
  RUN_TEST(rollback_restores_the_previous_champion);
  RUN_TEST(evaluate_scores_any_model_and_changes_nothing);
  coin_serving_free(serving);
  coin_bus_tap_free(tap);
  coin_registry_free(reg);
  coin_bus_free(bus);
  coin_influx_free(ix);
  coin_influx_free(serving_ix);
  for (int i = 0; i < 2; i++)
    coin_candle_file_free(h1[i]);
  coin_bus_shutdown();
  coin_test_server_cleanup(&nats);
  coin_test_server_cleanup(&influx);
  int rc = coin_test_summary();
  if (rc == 0)
    coin_test_rmtree(tmpdir);
  return rc;
}
