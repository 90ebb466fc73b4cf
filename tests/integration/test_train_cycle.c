/* test_train_cycle.c: `coin-train cycle`, retraining that runs itself, with
 * real nats-server and influxd on real candles ($COIN_SHARED_DATA_DIR,
 * BTCUSDT + ETHUSDT 1h and 1d up to 2022-06-01, their times shifted by whole
 * weeks so that they end 30 days ago: the cycle's window is measured from
 * the wall clock). coin-train runs as a child process; every event is
 * asserted on coin.models.events. Prediction records are written as
 * serving writes them (measurement "prediction"), synthetic, so that a good
 * and a bad model are deterministic:
 * - a fresh registry: one cycle trains and bootstraps the first champion;
 * - nothing new: not due; new candles: a challenger on the recent window;
 * - too few realized shadow predictions: it waits; enough: promoted;
 * - a champion promoted automatically and worse than persistence since its
 *   promotion: rolled back to the previous one;
 * - a retraining request for the champion trains although the policy says
 *   not due, and is cleared; a request for another model is cleared as
 *   stale; an undecodable one is reported in one line. */
#include "coin/bus.h"
#include "coin/candle_file.h"
#include "coin/codec.h"
#include "coin/error.h"
#include "coin/influx.h"
#include "coin/registry.h"
#include "harness.h"
#include "test.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

#define SPLIT_MS INT64_C(1654041600000) /* 2022-06-01T00:00Z */
#define WEEK_MS (7 * COIN_DAY_MS)
#define NEW_HOURS 200 /* post-split hours written for the second training */
#define MIN_SHADOW 50 /* PROMOTE_MIN_SHADOW_PREDICTIONS of the test */
#define WINDOW_DAYS 400

static struct coin_test_server nats, influx;
static char tmpdir[256], bin_train[512], last_log[512];
static const char *symbols[2] = {"BTCUSDT", "ETHUSDT"};
static struct coin_candle_file *h1[2];
static int64_t shift_ms; /* added to every candle time */

static struct coin_bus *bus;
static struct coin_registry *reg;
static struct coin_influx *ix;
static struct coin_bus_tap *tap;

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- model events seen on coin.models.events ----------------------------- */

static pthread_mutex_t ev_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
  enum coin_model_event_kind kind;
  char version[COIN_CODEC_ID_BYTES];
  char previous[COIN_CODEC_ID_BYTES];
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
    snprintf(events[n_events].previous, COIN_CODEC_ID_BYTES, "%s",
             ev.previous_version);
    snprintf(events[n_events].reason, COIN_CODEC_TEXT_BYTES, "%s", ev.reason);
    n_events++;
  }
  pthread_mutex_unlock(&ev_mu);
}

static size_t count_events(enum coin_model_event_kind kind,
                           const char *version) {
  size_t n = 0;
  pthread_mutex_lock(&ev_mu);
  for (size_t k = 0; k < n_events; k++)
    n += events[k].kind == kind && !strcmp(events[k].version, version);
  pthread_mutex_unlock(&ev_mu);
  return n;
}

/* Polls (deadline 5 s) for an event of kind about version. */
static bool saw_event(enum coin_model_event_kind kind, const char *version,
                      char *reason_out, char *previous_out) {
  for (int i = 0; i < 500; i++) {
    pthread_mutex_lock(&ev_mu);
    for (size_t k = n_events; k-- > 0;)
      if (events[k].kind == kind && !strcmp(events[k].version, version)) {
        if (reason_out)
          snprintf(reason_out, COIN_CODEC_TEXT_BYTES, "%s", events[k].reason);
        if (previous_out)
          snprintf(previous_out, COIN_CODEC_ID_BYTES, "%s", events[k].previous);
        pthread_mutex_unlock(&ev_mu);
        return true;
      }
    pthread_mutex_unlock(&ev_mu);
    usleep(10000);
  }
  return false;
}

/* ---- running coin-train cycle ---------------------------------------------
 */

/* Appends "NAME=value" unless NAME is already set: the first one set wins,
 * so that extra_env overrides the defaults. */
static void env_add(char e[][256], int *k, const char *var, int len) {
  const char *eq = memchr(var, '=', (size_t)len);
  size_t name = eq ? (size_t)(eq - var) + 1 : (size_t)len;
  for (int i = 0; i < *k; i++)
    if (!strncmp(e[i], var, name))
      return;
  if (*k < 26)
    snprintf(e[(*k)++], 256, "%.*s", len, var);
}

static int run_cycle(const char *extra_env) {
  static int seq;
  char e[26][256], v[256], login[3][256];
  int k = 0;
  for (const char *x = extra_env; x && *x;) {
    const char *nl = strchr(x, '\n');
    int len = nl ? (int)(nl - x) : (int)strlen(x);
    env_add(e, &k, x, len);
    x = nl ? nl + 1 : x + len;
  }
#define DEFAULT(...)                                                           \
  do {                                                                         \
    snprintf(v, sizeof(v), __VA_ARGS__);                                       \
    env_add(e, &k, v, (int)strlen(v));                                         \
  } while (0)
  COIN_TEST_NATS_ENV(login, 0, &nats, "train");
  for (int i = 0; i < 3; i++)
    env_add(e, &k, login[i], (int)strlen(login[i]));
  DEFAULT("INFLUX_URL=%s", influx.url);
  DEFAULT("SYMBOLS=BTCUSDT,ETHUSDT");
  DEFAULT("TRAIN_TIMEFRAMES=1h,1d");
  DEFAULT("TRAIN_XGB_ROUNDS=60");
  DEFAULT("TRAIN_LOCK_TTL_SECONDS=30");
  DEFAULT("PROMOTE_MIN_SHADOW_PREDICTIONS=%d", MIN_SHADOW);
  DEFAULT("TRAIN_WINDOW_DAYS=%d", WINDOW_DAYS);
  DEFAULT("SERVICE_ID=cycle-test");
  DEFAULT("LOG_LEVEL=warn");
#undef DEFAULT
  char *envp[27];
  for (int i = 0; i < k; i++)
    envp[i] = e[i];
  envp[k] = NULL;
  char *argv[] = {bin_train, "cycle", NULL};
  snprintf(last_log, sizeof(last_log), "%s/cycle-%d.log", tmpdir, ++seq);
  struct coin_test_proc p;
  if (coin_test_proc_start(&p, argv, envp, last_log) != 0)
    return -1;
  int st = coin_test_proc_wait(&p, 180000);
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

/* Runs a cycle, prints its lines, returns the exit code; *log_out (caller
 * frees) holds its output. */
static int cycle(char **log_out, const char *env) {
  int st = run_cycle(env);
  char *log = slurp(last_log);
  for (char *l = log; l && *l;) {
    char *nl = strchr(l, '\n');
    if (!strncmp(l, "coin-train cycle:", 17))
      fprintf(stderr, "  %.*s\n", nl ? (int)(nl - l) : (int)strlen(l), l);
    l = nl ? nl + 1 : l + strlen(l);
  }
  if (st != 0)
    coin_test_sh("tail -25 %s >&2", last_log);
  *log_out = log;
  return st;
}

static void alias(char *out, const char *name) {
  if (coin_registry_alias_get(reg, out, NULL, name) != 0)
    out[0] = '\0';
}

static double metric(const char *version, const char *name) {
  struct coin_model_metadata m;
  double v = NAN;
  if (coin_registry_get(reg, &m, NULL, version) == 0)
    (void)coin_codec_metric_get(&v, m.metrics, m.n_metrics, name);
  return v;
}

/* ---- synthetic prediction records (as serving writes them) --------------- */

static int write_record(const char *version, const char *role, int64_t t,
                        double pred, double realized) {
  struct coin_influx_tag tags[] = {
      {"exchange", "binance"},    {"symbol", "BTCUSDT"}, {"timeframe", "1h"},
      {"model_version", version}, {"role", role},
  };
  struct coin_influx_field fields[] = {
      {"predicted_return", {.type = COIN_INFLUX_FLOAT, .v.f64 = pred}},
      {"p_up", {.type = COIN_INFLUX_FLOAT, .v.f64 = pred > 0 ? 0.6 : 0.4}},
      {"input_close", {.type = COIN_INFLUX_FLOAT, .v.f64 = 100.0}},
      {"input_open_ms", {.type = COIN_INFLUX_INT, .v.i64 = t - COIN_HOUR_MS}},
      {"realized_return", {.type = COIN_INFLUX_FLOAT, .v.f64 = realized}},
      {"abs_error",
       {.type = COIN_INFLUX_FLOAT, .v.f64 = fabs(pred - realized)}},
  };
  struct coin_influx_point p = {.measurement = "prediction",
                                .tags = tags,
                                .n_tags = 5,
                                .fields = fields,
                                .n_fields = 6,
                                .time_ms = t};
  return coin_influx_add(ix, &p);
}

/* A deterministic realized return for record k. */
static double realized_of(int k) {
  return 0.004 * sin(1.7 * k + 0.3);
}

/* Shadow records k in [from, to): the challenger halves the error of
 * persistence, the champion doubles it (same candles). */
static int write_shadow(const char *challenger, const char *champion, int from,
                        int to) {
  int64_t t0 = SPLIT_MS + shift_ms;
  for (int k = from; k < to; k++) {
    double r = realized_of(k);
    int64_t t = t0 + (int64_t)k * COIN_HOUR_MS;
    if (write_record(challenger, "challenger", t, 0.5 * r, r) != 0 ||
        write_record(champion, "champion", t, -r, r) != 0)
      return -1;
  }
  return coin_influx_flush(ix);
}

/* ---- tests ----------------------------------------------------------------
 */

static char model_a[COIN_CODEC_ID_BYTES], model_b[COIN_CODEC_ID_BYTES];
/* Wide gate margins for the cycles that judge a real challenger (see
 * challenger_waits_for_evidence_then_is_promoted). */
static const char *wide = "PROMOTE_MARGIN_MAE=1\n"
                          "PROMOTE_MARGIN_DIRECTIONAL_ACCURACY=1\n"
                          "PROMOTE_MARGIN_BRIER=1";

static void fresh_registry_cycle_bootstraps_a_champion(void) {
  char *log = NULL, a[COIN_CODEC_ID_BYTES];
  int64_t t0 = wall_ms();
  ASSERT_EQ_INT(cycle(&log, "TRAIN_WINDOW_DAYS=0"), 0);
  int64_t t1 = wall_ms();
  ASSERT_CONTAINS(log, "coin-train cycle: rollback: no champion yet");
  ASSERT_CONTAINS(log, "coin-train cycle: promotion: no challenger in shadow");
  ASSERT_CONTAINS(log, "retraining: no model registered yet");
  ASSERT_CONTAINS(log, "coin-train cycle: bootstrap: challenger");
  ASSERT_CONTAINS(log, "PROMOTED (bootstrap, walk-forward evidence");
  free(log);
  alias(model_a, COIN_ALIAS_CHAMPION);
  ASSERT_CONTAINS(model_a, "xgboost-");
  alias(a, COIN_ALIAS_CHALLENGER);
  ASSERT_EQ_STR(a, "");
  ASSERT_NEAR(metric(model_a, "promotion.bootstrap"), 1, 0);
  ASSERT_NEAR(metric(model_a, "promotion.evidence_walk_forward"), 1, 0);
  ASSERT_NEAR(metric(model_a, "promotion.automatic"), 1, 0);
  double at = metric(model_a, "promotion.at_ms");
  ASSERT_TRUE(at >= (double)t0 && at <= (double)t1);
  char reason[COIN_CODEC_TEXT_BYTES];
  ASSERT_TRUE(saw_event(COIN_MODEL_EVENT_REGISTERED, model_a, reason, NULL));
  ASSERT_CONTAINS(reason, "no model registered yet");
  ASSERT_TRUE(saw_event(COIN_MODEL_EVENT_PROMOTED, model_a, reason, NULL));
  ASSERT_CONTAINS(reason, "automatic: bootstrap: first champion");
}

static void new_data_trains_a_challenger_on_the_window(void) {
  char *log = NULL;
  /* nothing new since the champion's training: not due */
  ASSERT_EQ_INT(cycle(&log, NULL), 0);
  ASSERT_CONTAINS(log, "coin-train cycle: train: retrain not due: newest "
                       "model");
  /* promoted automatically, nothing realized yet: on watch, not judged */
  ASSERT_CONTAINS(log, "realized predictions since its promotion");
  free(log);
  char a[COIN_CODEC_ID_BYTES];
  alias(a, COIN_ALIAS_CHALLENGER);
  ASSERT_EQ_STR(a, "");
  /* new candles (all training series together >= 168): due */
  for (int i = 0; i < 2; i++) {
    size_t k = coin_candle_file_lower_bound(h1[i], SPLIT_MS);
    struct coin_candle *rows = malloc(NEW_HOURS * sizeof(*rows));
    ASSERT_TRUE(rows != NULL);
    for (size_t j = 0; j < NEW_HOURS; j++) {
      rows[j] = h1[i]->rows[k + j];
      rows[j].open_ms += shift_ms;
    }
    int rc = coin_influx_write_candles(ix, "binance", symbols[i], "1h", rows,
                                       NEW_HOURS);
    free(rows);
    ASSERT_OK(rc);
  }
  int64_t before = wall_ms();
  ASSERT_EQ_INT(cycle(&log, NULL), 0);
  ASSERT_CONTAINS(log, "coin-train cycle: train: registered challenger");
  ASSERT_CONTAINS(log, "last 400 days");
  ASSERT_CONTAINS(log, "retraining due: newest model");
  free(log);
  alias(model_b, COIN_ALIAS_CHALLENGER);
  ASSERT_CONTAINS(model_b, "xgboost-");
  struct coin_model_metadata m;
  ASSERT_OK(coin_registry_get(reg, &m, NULL, model_b));
  ASSERT_EQ_STR(m.parent_version, model_a);
  ASSERT_TRUE(m.train_from_ms >= before - WINDOW_DAYS * COIN_DAY_MS);
  ASSERT_TRUE(m.train_from_ms < before - (WINDOW_DAYS - 8) * COIN_DAY_MS);
  struct coin_model_metadata ma;
  ASSERT_OK(coin_registry_get(reg, &ma, NULL, model_a));
  ASSERT_TRUE(ma.train_from_ms < m.train_from_ms - 365 * COIN_DAY_MS);
  ASSERT_TRUE(m.train_to_ms > ma.train_to_ms);
  ASSERT_TRUE(saw_event(COIN_MODEL_EVENT_REGISTERED, model_b, NULL, NULL));
}

static void challenger_waits_for_evidence_then_is_promoted(void) {
  char *log = NULL, a[COIN_CODEC_ID_BYTES];
  /* The walk-forward figures of two real models differ by noise, and a
   * challenger that fails on them is refused at once (more shadow evidence
   * cannot change them): the margins are wide here (integration_train tests
   * them); the cycle's decision on the gate's verdict is under test. */
  ASSERT_OK(write_shadow(model_b, model_a, 0, 20));
  ASSERT_EQ_INT(cycle(&log, wide), 0);
  char want[320];
  snprintf(want, sizeof(want),
           "coin-train cycle: promotion: challenger %s: 20/%d realized "
           "predictions, waiting",
           model_b, MIN_SHADOW);
  ASSERT_CONTAINS(log, want);
  /* a challenger in shadow: no training */
  ASSERT_CONTAINS(log, "is in shadow: no training");
  free(log);
  alias(a, COIN_ALIAS_CHALLENGER);
  ASSERT_EQ_STR(a, model_b);
  alias(a, COIN_ALIAS_CHAMPION);
  ASSERT_EQ_STR(a, model_a);
  ASSERT_NEAR(metric(model_b, "shadow.realized"), 20, 0);
  /* enough evidence */
  ASSERT_OK(write_shadow(model_b, model_a, 20, 20 + MIN_SHADOW + 10));
  ASSERT_EQ_INT(cycle(&log, wide), 0);
  snprintf(want, sizeof(want),
           "coin-train cycle: promotion: challenger %s PROMOTED (shadow "
           "evidence; previous champion %s)",
           model_b, model_a);
  ASSERT_CONTAINS(log, want);
  free(log);
  alias(a, COIN_ALIAS_CHAMPION);
  ASSERT_EQ_STR(a, model_b);
  alias(a, COIN_ALIAS_PREVIOUS);
  ASSERT_EQ_STR(a, model_a);
  alias(a, COIN_ALIAS_CHALLENGER);
  ASSERT_EQ_STR(a, "");
  ASSERT_NEAR(metric(model_b, "promotion.automatic"), 1, 0);
  ASSERT_NEAR(metric(model_b, "promotion.bootstrap"), 0, 0);
  char reason[COIN_CODEC_TEXT_BYTES], prev[COIN_CODEC_ID_BYTES];
  ASSERT_TRUE(saw_event(COIN_MODEL_EVENT_PROMOTED, model_b, reason, prev));
  ASSERT_CONTAINS(reason, "automatic: gate passed");
  ASSERT_EQ_STR(prev, model_a);
  ASSERT_EQ_INT(count_events(COIN_MODEL_EVENT_PROMOTED, model_b), 1);
  ASSERT_EQ_INT(count_events(COIN_MODEL_EVENT_REFUSED, model_b), 0);
}

static void worse_champion_is_rolled_back(void) {
  char *log = NULL, a[COIN_CODEC_ID_BYTES];
  double at = metric(model_b, "promotion.at_ms");
  ASSERT_TRUE(isfinite(at));
  /* its realized predictions since the promotion: far worse than
   * persistence; older records (before the promotion) are not its own */
  int64_t t0 = (int64_t)at + COIN_HOUR_MS;
  for (int k = 0; k < MIN_SHADOW + 10; k++)
    ASSERT_OK(write_record(model_b, "champion", t0 + k * COIN_HOUR_MS, 0.01,
                           0.5 * realized_of(k)));
  ASSERT_OK(coin_influx_flush(ix));
  ASSERT_EQ_INT(cycle(&log, NULL), 0);
  ASSERT_CONTAINS(log, "coin-train cycle: rollback: automatic rollback: "
                       "champion");
  ASSERT_CONTAINS(log, "worse than persistence on 60 realized candles");
  free(log);
  alias(a, COIN_ALIAS_CHAMPION);
  ASSERT_EQ_STR(a, model_a);
  alias(a, COIN_ALIAS_PREVIOUS);
  ASSERT_EQ_STR(a, "");
  struct coin_model_metadata m;
  ASSERT_OK(coin_registry_get(reg, &m, NULL, model_b));
  ASSERT_EQ_INT(m.role, COIN_ROLE_RETIRED);
  ASSERT_TRUE(metric(model_a, "promotion.at_ms") > at); /* champion again */
  char reason[COIN_CODEC_TEXT_BYTES], prev[COIN_CODEC_ID_BYTES];
  ASSERT_TRUE(saw_event(COIN_MODEL_EVENT_ROLLED_BACK, model_a, reason, prev));
  ASSERT_EQ_STR(prev, model_b);
  ASSERT_CONTAINS(reason, "automatic rollback");
  ASSERT_CONTAINS(reason, "MAE 0.0");
  ASSERT_CONTAINS(reason, "95% CI");
  /* nothing changed since: the next cycle keeps it (A's own records since
   * its restoration: none) and trains nothing */
  ASSERT_EQ_INT(cycle(&log, NULL), 0);
  ASSERT_CONTAINS(log, "retrain not due");
  free(log);
  alias(a, COIN_ALIAS_CHAMPION);
  ASSERT_EQ_STR(a, model_a);
}

static void retraining_requests(void) {
  char *log = NULL, a[COIN_CODEC_ID_BYTES];
  struct coin_retrain_request rq;
  memset(&rq, 0, sizeof(rq));
  snprintf(rq.champion, sizeof(rq.champion), "%s", model_a);
  snprintf(rq.scope, sizeof(rq.scope), "pooled");
  snprintf(rq.reason, sizeof(rq.reason),
           "MAE 1.31x persistence on 400 realized candles");
  snprintf(rq.requested_by, sizeof(rq.requested_by), "coin-monitor@test");
  rq.requested_at_ms = wall_ms();
  rq.n = 400;
  rq.mae_ratio = 1.31;
  ASSERT_OK(coin_registry_retrain_request_put(reg, &rq));
  /* the policy says not due (see above); the request trains */
  ASSERT_EQ_INT(cycle(&log, NULL), 0);
  ASSERT_CONTAINS(log, "coin-train cycle: train: registered challenger");
  ASSERT_CONTAINS(log, "retraining: champion");
  ASSERT_CONTAINS(log, "acted on, cleared");
  free(log);
  char model_c[COIN_CODEC_ID_BYTES];
  alias(model_c, COIN_ALIAS_CHALLENGER);
  ASSERT_CONTAINS(model_c, "xgboost-");
  char reason[COIN_CODEC_TEXT_BYTES];
  ASSERT_TRUE(saw_event(COIN_MODEL_EVENT_REGISTERED, model_c, reason, NULL));
  ASSERT_CONTAINS(reason, "underperforming: MAE 1.31x persistence");
  ASSERT_CONTAINS(reason, "coin-monitor@test");
  struct coin_retrain_request got;
  ASSERT_RC(coin_registry_retrain_request_get(reg, &got, NULL), COIN_ENOTFOUND);

  /* a request about another model: stale, cleared; nothing trained */
  snprintf(rq.champion, sizeof(rq.champion), "xgboost-20200101T000000Z-0");
  ASSERT_OK(coin_registry_retrain_request_put(reg, &rq));
  ASSERT_EQ_INT(cycle(&log, wide), 0);
  ASSERT_CONTAINS(log, "coin-train cycle: request: retraining request for "
                       "xgboost-20200101T000000Z-0 (by coin-monitor@test) is "
                       "stale");
  ASSERT_CONTAINS(log, "cleared");
  ASSERT_CONTAINS(log, "0/50 realized predictions, waiting");
  free(log);
  ASSERT_RC(coin_registry_retrain_request_get(reg, &got, NULL), COIN_ENOTFOUND);
  alias(a, COIN_ALIAS_CHALLENGER);
  ASSERT_EQ_STR(a, model_c);

  /* an undecodable value: one line, the cycle goes on, nothing lost */
  struct coin_bus_kv *kv = NULL;
  ASSERT_OK(coin_bus_kv_open(&kv, bus, COIN_KV_MODELS));
  ASSERT_OK(coin_bus_kv_put(NULL, kv, COIN_KEY_RETRAIN_REQUEST, "not json", 8));
  ASSERT_EQ_INT(cycle(&log, wide), 0);
  char *line = strstr(log, "coin-train cycle: request:");
  ASSERT_TRUE(line != NULL);
  ASSERT_CONTAINS(line, "retraining request ignored: registry: "
                        "request.retrain is not JSON");
  ASSERT_TRUE(strstr(line + 1, "coin-train cycle: request:") == NULL);
  ASSERT_CONTAINS(log, "realized predictions, waiting");
  ASSERT_CONTAINS(log, "coin-train cycle: done");
  free(log);
  struct coin_bus_kv_entry e = {0};
  ASSERT_OK(coin_bus_kv_get(&e, kv, COIN_KEY_RETRAIN_REQUEST));
  ASSERT_EQ_INT(e.value_len, 8);
  coin_bus_kv_entry_clear(&e);
  coin_bus_kv_free(kv);
}

/* What the site is told (manifest.json "model", coin_registry_lifecycle):
 * the roles with since when and how, the challenger's shadow progress, and
 * every step of the tests above in the recent-events log, in order. */
static void lifecycle_and_recent_events(void) {
  struct coin_model_lifecycle l;
  ASSERT_OK(coin_registry_lifecycle(reg, &l));
  ASSERT_EQ_STR(l.champion.version, model_a);
  ASSERT_EQ_STR(coin_promotion_via_name(l.champion.via), "rollback");
  ASSERT_NEAR((double)l.champion.since_ms, metric(model_a, "promotion.at_ms"),
              0);
  ASSERT_TRUE(l.champion.since_ms > l.champion.registered_ms);
  ASSERT_CONTAINS(l.challenger.version, "xgboost-");
  ASSERT_EQ_INT(l.challenger.shadow_realized, 0);
  ASSERT_EQ_INT(l.challenger.shadow_needed, MIN_SHADOW);
  ASSERT_TRUE(l.challenger.shadow_checked_ms > 0);
  ASSERT_FALSE(l.recent_undecodable);
  /* the lifecycle in order: a registered and bootstrapped, b registered
   * and promoted, rolled back to a, c registered */
  const struct {
    enum coin_model_event_kind kind;
    const char *version;
  } want[] = {{COIN_MODEL_EVENT_REGISTERED, model_a},
              {COIN_MODEL_EVENT_PROMOTED, model_a},
              {COIN_MODEL_EVENT_REGISTERED, model_b},
              {COIN_MODEL_EVENT_PROMOTED, model_b},
              {COIN_MODEL_EVENT_ROLLED_BACK, model_a},
              {COIN_MODEL_EVENT_REGISTERED, l.challenger.version}};
  size_t k = 0;
  for (size_t i = 0; i < l.recent.n && k < 6; i++)
    if (l.recent.e[i].kind == want[k].kind &&
        !strcmp(l.recent.e[i].version, want[k].version))
      k++;
  ASSERT_EQ_INT(k, 6);
  const struct coin_registry_event_note *last = &l.recent.e[l.recent.n - 1];
  ASSERT_EQ_INT(last->kind, COIN_MODEL_EVENT_REGISTERED);
  ASSERT_CONTAINS(last->reason, "underperforming");
  ASSERT_CONTAINS(last->by, "coin-train@cycle-test");
  for (size_t i = 0; i < l.recent.n; i++)
    if (l.recent.e[i].kind == COIN_MODEL_EVENT_ROLLED_BACK)
      ASSERT_EQ_STR(l.recent.e[i].previous, model_b);
  for (size_t i = 1; i < l.recent.n; i++)
    ASSERT_TRUE(l.recent.e[i].at_ms >= l.recent.e[i - 1].at_ms);

  /* an undecodable log: reported, shown empty, replaced by the next event */
  struct coin_bus_kv *kv = NULL;
  ASSERT_OK(coin_bus_kv_open(&kv, bus, COIN_KV_MODELS));
  ASSERT_OK(coin_bus_kv_put(NULL, kv, COIN_KEY_RECENT_EVENTS, "[1,", 3));
  struct coin_registry_recent r;
  ASSERT_RC(coin_registry_recent_get(reg, &r), COIN_EDECODE);
  ASSERT_CONTAINS(coin_error_last(), "events.recent is not a recent-events");
  ASSERT_OK(coin_registry_lifecycle(reg, &l));
  ASSERT_TRUE(l.recent_undecodable);
  ASSERT_EQ_INT(l.recent.n, 0);
  ASSERT_EQ_STR(l.champion.version, model_a);
  struct coin_model_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.kind = COIN_MODEL_EVENT_RETIRED;
  snprintf(ev.version, sizeof(ev.version), "%s", model_b);
  snprintf(ev.reason, sizeof(ev.reason), "test: retired");
  /* the same event live in `coinctl tap` (decoded ModelEvent): published
   * until the tap has seen one, bounded */
  char bin_ctl[512], tap_log[600], nats_env[3][300];
  ASSERT_OK(coin_test_bin(bin_ctl, sizeof(bin_ctl), "coinctl"));
  snprintf(tap_log, sizeof(tap_log), "%s/tap.log", tmpdir);
  COIN_TEST_NATS_ENV(nats_env, 0, &nats, "admin");
  char *tap_argv[] = {bin_ctl,   "tap", COIN_SUBJECT_MODEL_EVENTS,
                      "--count", "1",   "--timeout",
                      "20",      NULL};
  char *tap_env[] = {nats_env[0], nats_env[1], nats_env[2], NULL};
  struct coin_test_proc tp;
  ASSERT_OK(coin_test_proc_start(&tp, tap_argv, tap_env, tap_log));
  int tap_rc = -1;
  for (int i = 0; i < 50 && tap_rc == -1; i++) {
    ev.at_ms = 0;
    ASSERT_OK(coin_registry_event(reg, &ev));
    tap_rc = coin_test_proc_wait(&tp, 200);
  }
  if (tap_rc == -1)
    coin_test_proc_signal(&tp, SIGKILL);
  ASSERT_EQ_INT(tap_rc, 0);
  char *tapped = slurp(tap_log);
  ASSERT_TRUE(tapped != NULL);
  ASSERT_CONTAINS(tapped, "\"subject\":\"coin.models.events\"");
  ASSERT_CONTAINS(tapped, "\"kind\":\"retired\"");
  ASSERT_CONTAINS(tapped, model_b);
  free(tapped);
  ASSERT_OK(coin_registry_recent_get(reg, &r));
  ASSERT_TRUE(r.n >= 1);
  ASSERT_EQ_INT(r.e[0].kind, COIN_MODEL_EVENT_RETIRED);
  /* bounded: the newest COIN_REGISTRY_RECENT_EVENTS */
  for (int i = 0; i < COIN_REGISTRY_RECENT_EVENTS + 5; i++) {
    snprintf(ev.reason, sizeof(ev.reason), "test: %d", i);
    ev.at_ms = 0;
    ASSERT_OK(coin_registry_event(reg, &ev));
  }
  ASSERT_OK(coin_registry_recent_get(reg, &r));
  ASSERT_EQ_INT(r.n, COIN_REGISTRY_RECENT_EVENTS);
  char want_last[32];
  snprintf(want_last, sizeof(want_last), "test: %d",
           COIN_REGISTRY_RECENT_EVENTS + 4);
  ASSERT_EQ_STR(r.e[r.n - 1].reason, want_last);
  coin_bus_kv_free(kv);
}

static void json_line_per_cycle(void) {
  /* --json: one line per cycle */
  char e[5][256];
  COIN_TEST_NATS_ENV(e, 0, &nats, "train");
  snprintf(e[3], 256, "INFLUX_URL=%s", influx.url);
  snprintf(e[4], 256, "SYMBOLS=BTCUSDT,ETHUSDT");
  char *envp[] = {
      e[0], e[1], e[2], e[3], e[4], "TRAIN_TIMEFRAMES=1h,1d", "LOG_LEVEL=warn",
      NULL};
  char *argv[] = {bin_train, "cycle", "--json", NULL};
  snprintf(last_log, sizeof(last_log), "%s/cycle-json.log", tmpdir);
  struct coin_test_proc p;
  ASSERT_OK(coin_test_proc_start(&p, argv, envp, last_log));
  ASSERT_EQ_INT(coin_test_proc_wait(&p, 60000), 0);
  char *log = slurp(last_log);
  char *l = strstr(log, "{\"command\":\"cycle\"");
  ASSERT_TRUE(l != NULL);
  char *nl = strchr(l, '\n');
  if (nl)
    *nl = '\0';
  json_t *j = json_loads(l, 0, NULL);
  ASSERT_TRUE(j != NULL);
  ASSERT_EQ_STR(json_string_value(json_object_get(j, "champion")), model_a);
  json_t *steps = json_object_get(j, "steps");
  ASSERT_TRUE(json_array_size(steps) >= 3);
  ASSERT_EQ_STR(
      json_string_value(json_object_get(json_array_get(steps, 0), "step")),
      "rollback");
  ASSERT_EQ_INT(json_integer_value(json_object_get(j, "exit_code")), 0);
  json_decref(j);
  ASSERT_TRUE(strstr(log, "coin-train cycle: ") == NULL); /* no text lines */
  free(log);
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
  /* whole weeks: hours and weekdays (features) stay what they were */
  shift_ms = (wall_ms() - 30 * COIN_DAY_MS - SPLIT_MS) / WEEK_MS * WEEK_MS;
  for (int i = 0; i < 2; i++) {
    struct coin_candle_file *d = NULL;
    if (coin_candle_file_load_dir(&h1[i], dir, symbols[i], COIN_TF_1H, 0) ||
        coin_candle_file_load_dir(&d, dir, symbols[i], COIN_TF_1D, 0))
      return -1;
    struct coin_candle_file *f[2] = {h1[i], d};
    const char *tf[2] = {"1h", "1d"};
    for (int k = 0; k < 2; k++) {
      size_t b = coin_candle_file_lower_bound(f[k], SPLIT_MS);
      struct coin_candle *rows = malloc(b * sizeof(*rows));
      if (!rows)
        return -1;
      for (size_t j = 0; j < b; j++) {
        rows[j] = f[k]->rows[j];
        rows[j].open_ms += shift_ms;
      }
      int rc =
          coin_influx_write_candles(ix, "binance", symbols[i], tf[k], rows, b);
      free(rows);
      if (rc != 0)
        return -1;
    }
    coin_candle_file_free(d);
  }
  struct coin_bus_options bo;
  coin_test_nats_options(&bo, &nats, "admin");
  if (coin_bus_connect(&bus, &bo) != 0 ||
      coin_registry_open(&reg, bus, "test") != 0 ||
      coin_bus_tap_core(&tap, bus, COIN_SUBJECT_MODEL_EVENTS, on_event, NULL) !=
          0)
    return -1;
  return 0;
}

/* A dangling alias.champion (its model's metadata is gone): said once, the
 * cycle goes on as with no champion and the alias is replaced by the next
 * promotion, instead of every run failing on it. */
static void dangling_champion_alias_is_replaced(void) {
  const char *ghost = "xgboost-20200101T000000Z-dead";
  uint64_t rev = 0;
  char cur[COIN_CODEC_ID_BYTES];
  /* no challenger left in shadow by the cases before (whether one is
   * depends on their timing): the cycle then trains, as it must with no
   * usable champion */
  int crc = coin_registry_alias_clear(reg, COIN_ALIAS_CHALLENGER);
  ASSERT_TRUE(crc == 0 || crc == COIN_ENOTFOUND);
  ASSERT_OK(coin_registry_alias_get(reg, cur, &rev, COIN_ALIAS_CHAMPION));
  ASSERT_OK(coin_registry_alias_set(reg, COIN_ALIAS_CHAMPION, ghost, rev));
  char *log = NULL;
  ASSERT_EQ_INT(cycle(&log, wide), 0);
  /* one line, naming the version */
  char *line = strstr(log, "alias.champion is dangling");
  ASSERT_TRUE(line != NULL);
  ASSERT_TRUE(strstr(line + 1, "alias.champion is dangling") == NULL);
  ASSERT_CONTAINS(line, ghost);
  ASSERT_CONTAINS(log, "retraining: alias.champion names a model without");
  ASSERT_CONTAINS(log, "coin-train cycle: bootstrap: challenger");
  ASSERT_CONTAINS(log, "coin-train cycle: done");
  free(log);
  alias(cur, COIN_ALIAS_CHAMPION);
  ASSERT_TRUE(strcmp(cur, ghost) != 0);
  ASSERT_CONTAINS(cur, "xgboost-");
}

int main(int argc, char **argv) {
  coin_test_main_begin(argc, argv);
  if (coin_test_tmpdir(tmpdir, sizeof(tmpdir), "train-cycle") != 0 ||
      coin_test_bin(bin_train, sizeof(bin_train), "coin-train") != 0 ||
      coin_test_nats_start(&nats) != 0 ||
      coin_test_influx_start(&influx) != 0 || setup() != 0) {
    fprintf(stderr, "setup failed: %s\n", coin_error_last());
    return 1;
  }
  RUN_TEST(fresh_registry_cycle_bootstraps_a_champion);
  RUN_TEST(new_data_trains_a_challenger_on_the_window);
  RUN_TEST(challenger_waits_for_evidence_then_is_promoted);
  RUN_TEST(worse_champion_is_rolled_back);
  RUN_TEST(retraining_requests);
  RUN_TEST(lifecycle_and_recent_events);
  RUN_TEST(json_line_per_cycle);
  RUN_TEST(dangling_champion_alias_is_replaced);
  coin_bus_tap_free(tap);
  coin_registry_free(reg);
  coin_bus_free(bus);
  coin_influx_free(ix);
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
