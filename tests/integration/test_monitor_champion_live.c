/* test_monitor_champion_live.c: the champion watch end to end, against a
 * real nats-server and influxd. The test plays coin-publish's serving chain:
 * it writes prediction records in the format coin_serving writes them (tags
 * exchange, symbol, timeframe, model_version, role; fields predicted_return,
 * p_up, input_close, input_open_ms at the target candle's time) and lets
 * coin_serving_realize write the realized part from real BTCUSDT and ETHUSDT
 * 1h candles (re-timed to end now), then runs coin-monitor with a webhook
 * receiver:
 * - a champion predicting the opposite of what happened is judged
 *   worse_than_persistence per series and pooled (MAE ratio 2), in /status
 *   and /metrics; records of other versions, of the challenger role and
 *   unrealized ones do not count; CoinChampionUnderperforming fires once per
 *   target; exactly one retraining request stands in KV for it, however
 *   many checks run; InfluxDB away: the checks fail, counted, the verdict
 *   stays marked stale and no alert resolves; a restarted monitor does not
 *   write another request, and with MONITOR_CHAMPION_MAX_ROWS judges the
 *   newest rows only (truncated);
 * - a new champion whose predictions are good is judged ok: the old
 *   champion's alerts resolve, no new request is written. */
#include "coin/candle_file.h"
#include "coin/influx.h"
#include "coin/registry.h"
#include "coin/serving.h"
#include "test_monitor_util.h"

#include <math.h>

#define N_ROWS 80 /* realized rows per series and version */
#define ALERT "CoinChampionUnderperforming"

static const char *const syms[2] = {"BTCUSDT", "ETHUSDT"};
static struct coin_candle *candles[2]; /* N_ROWS + 1, re-timed */
static struct coin_influx *ix;
static struct coin_registry *reg;
static struct fx_recv hook;
static struct fx_monitor mon;

/* The newest N_ROWS + 1 real 1h candles of symbol, the last one opening at
 * the last closed hour. */
static int load_candles(int i, const char *dir) {
  struct coin_candle_file *f = NULL;
  int rc = coin_candle_file_load_dir(&f, dir, syms[i], COIN_TF_1H, 0);
  if (rc != 0)
    return rc;
  candles[i] = calloc(N_ROWS + 1, sizeof(struct coin_candle));
  int64_t last = coin_tf_last_closed(COIN_TF_1H, fx_now_ms());
  for (size_t k = 0; k <= N_ROWS; k++) {
    candles[i][k] = f->rows[f->count - (N_ROWS + 1) + k];
    candles[i][k].open_ms = last - (int64_t)(N_ROWS - k) * 3600000;
  }
  coin_candle_file_free(f);
  return 0;
}

/* Prediction records of version/role as coin_serving writes them: target
 * candle k predicted from candle k-1 as factor x the realized log return,
 * plus one for the next (not yet closed) candle, never realized. */
static int write_records(const char *version, const char *role, double factor) {
  for (int i = 0; i < 2; i++) {
    for (size_t k = 1; k <= N_ROWS + 1; k++) {
      const struct coin_candle *in = &candles[i][k - 1];
      double r = k <= N_ROWS ? log(candles[i][k].close / in->close) : 0.001;
      struct coin_influx_tag tags[] = {
          {"exchange", "binance"},    {"symbol", syms[i]}, {"timeframe", "1h"},
          {"model_version", version}, {"role", role},
      };
      struct coin_influx_field fields[] = {
          {"predicted_return",
           {.type = COIN_INFLUX_FLOAT, .v.f64 = factor * r}},
          {"p_up", {.type = COIN_INFLUX_FLOAT, .v.f64 = 0.5}},
          {"input_close", {.type = COIN_INFLUX_FLOAT, .v.f64 = in->close}},
          {"input_open_ms", {.type = COIN_INFLUX_INT, .v.i64 = in->open_ms}},
      };
      struct coin_influx_point p = {.measurement = "prediction",
                                    .tags = tags,
                                    .n_tags = 5,
                                    .fields = fields,
                                    .n_fields = 4,
                                    .time_ms = in->open_ms + 3600000};
      int rc = coin_influx_add(ix, &p);
      if (rc != 0)
        return rc;
    }
  }
  return coin_influx_flush(ix);
}

/* The realized part, written by the serving chain's own code. */
static int realize_all(void) {
  struct coin_serving *s = NULL;
  struct coin_serving_opts o = {.ix = ix, .exchange = "binance"};
  int rc = coin_serving_new(&s, &o);
  for (int i = 0; rc == 0 && i < 2; i++)
    rc = coin_serving_realize(s, syms[i], COIN_TF_1H, candles[i], N_ROWS + 1);
  struct coin_serving_stats st;
  if (rc == 0) {
    coin_serving_stats(&st, s);
    /* 2 series x N_ROWS targets, for each of the 3 versions written */
    if (st.realized_written != 3 * 2 * N_ROWS)
      rc = coin_error_set(COIN_EINTERNAL, "realized %llu rows, want %d",
                          (unsigned long long)st.realized_written,
                          3 * 2 * N_ROWS);
  }
  coin_serving_free(s);
  return rc;
}

static int set_champion(const char *version) {
  char cur[COIN_CODEC_ID_BYTES];
  uint64_t rev = 0;
  if (coin_registry_alias_get(reg, cur, &rev, COIN_ALIAS_CHAMPION) != 0)
    rev = 0;
  return coin_registry_alias_set(reg, COIN_ALIAS_CHAMPION, version, rev);
}

/* /status's champion section once it judged version with at least
 * min_checks checks (a new reference), NULL after timeout_ms. */
static json_t *wait_judged(const char *version, int64_t min_checks,
                           int64_t timeout_ms) {
  char url[160];
  snprintf(url, sizeof(url), "%s/status", mon.base);
  int64_t end = fx_now_ms() + timeout_ms;
  while (fx_now_ms() < end) {
    json_t *j = fx_get_json(NULL, url);
    json_t *c = json_object_get(j, "champion");
    if (json_is_object(c) && !strcmp(fx_jstr(c, "version"), version) &&
        json_is_object(json_object_get(c, "pooled")) &&
        fx_jint(json_object_get(c, "errors"), "checks") >= min_checks) {
      json_incref(c);
      json_decref(j);
      return c;
    }
    json_decref(j);
    fx_sleep_ms(200);
  }
  return NULL;
}

static double metric(const char *sample) {
  char url[160], *body = NULL;
  snprintf(url, sizeof(url), "%s/metrics", mon.base);
  double v = NAN;
  if (fx_http(&body, "GET", url) == 200 && body) {
    size_t n = strlen(sample);
    for (const char *p = strstr(body, sample); p; p = strstr(p + 1, sample))
      if ((p == body || p[-1] == '\n') && p[n] == ' ') {
        v = strtod(p + n + 1, NULL);
        break;
      }
  }
  free(body);
  return v;
}

/* 2xx-answered webhooks of ALERT for target with status (firing/resolved);
 * the summary of the last one into summary (may be NULL). */
static size_t hooks(const char *target, const char *status, char *summary,
                    size_t n) {
  size_t count = 0;
  for (size_t i = 0; i < fx_recv_count(&hook); i++) {
    json_t *b = fx_recv_json(&hook, (long)i);
    if (!strcmp(fx_jstr(b, "alertname"), ALERT) &&
        !strcmp(fx_jstr(json_object_get(b, "labels"), "target"), target) &&
        !strcmp(fx_jstr(b, "status"), status)) {
      count++;
      if (summary)
        snprintf(summary, n, "%s", fx_jstr(b, "summary"));
    }
    json_decref(b);
  }
  return count;
}

static size_t wait_hooks(const char *target, const char *status,
                         int64_t timeout_ms) {
  int64_t end = fx_now_ms() + timeout_ms;
  size_t n = 0;
  while ((n = hooks(target, status, NULL, 0)) == 0 && fx_now_ms() < end)
    fx_sleep_ms(100);
  return n;
}

static int start_monitor(const char *tag, const char *extra) {
  fx_monitor_init(&mon, "BTCUSDT,ETHUSDT");
  fx_monitor_env(&mon, "MONITOR_EVAL_SECONDS=1");
  fx_monitor_env(&mon, "MONITOR_RETRY_BASE_MS=100");
  fx_monitor_env(&mon, "MONITOR_RETRY_MAX_SECONDS=1");
  fx_monitor_env(&mon, "MONITOR_WEBHOOK_URLS=%s", hook.url);
  fx_monitor_env(&mon, "MONITOR_WEBHOOK_SECRET=%s", FX_SECRET);
  fx_monitor_env(&mon, "MONITOR_CHAMPION_CHECK_SECONDS=1");
  fx_monitor_env(&mon, "MONITOR_CHAMPION_MIN_ROWS=100");
  fx_monitor_env(&mon, "MONITOR_CHAMPION_MIN_SERIES_ROWS=50");
  if (extra)
    fx_monitor_env(&mon, "%s", extra);
  return fx_monitor_start(&mon, tag);
}

static void worse_champion_alerts_once_and_requests_retraining(void) {
  ASSERT_OK(set_champion("champ-bad"));
  ASSERT_OK(start_monitor("bad", NULL));
  json_t *c = wait_judged("champ-bad", 1, 20000);
  ASSERT_TRUE(c != NULL);
  json_t *pooled = json_object_get(c, "pooled");
  ASSERT_EQ_STR(fx_jstr(pooled, "verdict"), "worse_than_persistence");
  ASSERT_EQ_INT(fx_jint(pooled, "n"), 2 * N_ROWS); /* nothing else counted */
  ASSERT_NEAR(json_number_value(json_object_get(pooled, "mae_ratio")), 2.0,
              1e-9);
  ASSERT_EQ_INT(fx_jint(pooled, "hits"), 0);
  ASSERT_TRUE(json_is_true(json_object_get(pooled, "alerted")));
  ASSERT_FALSE(json_is_true(json_object_get(c, "stale")));
  ASSERT_TRUE(fx_jint(c, "since_ms") > 0); /* alias.champion's write time */
  ASSERT_EQ_INT(fx_jint(json_object_get(c, "errors"), "failures"), 0);
  ASSERT_EQ_INT(fx_jint(json_object_get(c, "window"), "rows_ignored"), 0);
  json_t *series = json_object_get(c, "series");
  ASSERT_EQ_INT(json_array_size(series), 2);
  for (size_t i = 0; i < 2; i++) {
    json_t *s = json_array_get(series, i);
    ASSERT_EQ_STR(fx_jstr(s, "timeframe"), "1h");
    ASSERT_EQ_INT(fx_jint(s, "n"), N_ROWS);
    ASSERT_EQ_STR(fx_jstr(s, "verdict"), "worse_than_persistence");
    ASSERT_TRUE(json_is_true(json_object_get(s, "alerted")));
  }
  ASSERT_EQ_INT(fx_jint(c, "series_worse"), 2);
  json_t *rt = json_object_get(c, "retrain");
  ASSERT_TRUE(json_is_true(json_object_get(rt, "requested")));
  ASSERT_EQ_STR(fx_jstr(rt, "scope"), "pooled");
  json_decref(c);

  /* the alerts, delivered */
  ASSERT_EQ_INT(wait_hooks("pooled", "firing", 15000), 1);
  ASSERT_EQ_INT(wait_hooks("binance/BTCUSDT/1h", "firing", 15000), 1);
  ASSERT_EQ_INT(wait_hooks("binance/ETHUSDT/1h", "firing", 15000), 1);
  char summary[512];
  hooks("pooled", "firing", summary, sizeof(summary));
  ASSERT_CONTAINS(summary, "champion champ-bad worse than persistence");
  ASSERT_CONTAINS(summary, "n=160");

  /* the request in KV */
  struct coin_retrain_request req;
  uint64_t rev = 0;
  ASSERT_OK(coin_registry_retrain_request_get(reg, &req, &rev));
  ASSERT_EQ_STR(req.champion, "champ-bad");
  ASSERT_EQ_STR(req.scope, "pooled");
  ASSERT_EQ_STR(req.requested_by, "coin-monitor@test");
  ASSERT_EQ_INT(req.n, 2 * N_ROWS);
  ASSERT_NEAR(req.mae_ratio, 2.0, 1e-9);
  ASSERT_CONTAINS(req.reason, "champion champ-bad worse than persistence");
  ASSERT_TRUE(req.requested_at_ms > 0);

  /* more checks: nothing raised or written again */
  c = wait_judged("champ-bad", 5, 20000);
  ASSERT_TRUE(c != NULL);
  json_decref(c);
  fx_sleep_ms(1500); /* deliveries of the last checks, if any */
  ASSERT_EQ_INT(hooks("pooled", "firing", NULL, 0), 1);
  ASSERT_EQ_INT(hooks("binance/BTCUSDT/1h", "firing", NULL, 0), 1);
  ASSERT_EQ_INT(hooks("pooled", "resolved", NULL, 0), 0);
  uint64_t rev2 = 0;
  ASSERT_OK(coin_registry_retrain_request_get(reg, &req, &rev2));
  ASSERT_EQ_INT(rev2, rev);

  /* /metrics */
  ASSERT_EQ_DBL(metric("coin_monitor_champion_info{version=\"champ-bad\"}"), 1);
  ASSERT_EQ_DBL(metric("coin_monitor_champion_verdict"), 2);
  ASSERT_EQ_DBL(metric("coin_monitor_champion_n"), 2 * N_ROWS);
  ASSERT_NEAR(metric("coin_monitor_champion_mae_ratio"), 2.0, 1e-6);
  ASSERT_EQ_DBL(metric("coin_monitor_champion_hit_rate"), 0);
  ASSERT_EQ_DBL(metric("coin_monitor_champion_series_worse"), 2);
  ASSERT_EQ_DBL(metric("coin_monitor_champion_series_alerted"), 2);
  ASSERT_EQ_DBL(metric("coin_monitor_champion_stale"), 0);
  ASSERT_EQ_DBL(metric("coin_monitor_champion_retrain_requests_total"), 1);
  ASSERT_EQ_DBL(metric("coin_monitor_champion_check_failures_total"), 0);
  ASSERT_TRUE(metric("coin_monitor_champion_checks_total") >= 5);

  /* InfluxDB away: the checks fail, counted; the verdict stays (stale) and
   * so do the alerts; back: judged again */
  coin_test_server_stop(&fx_influx);
  int64_t end = fx_now_ms() + 20000;
  while (metric("coin_monitor_champion_stale") != 1 && fx_now_ms() < end)
    fx_sleep_ms(200);
  ASSERT_EQ_DBL(metric("coin_monitor_champion_stale"), 1);
  ASSERT_TRUE(metric("coin_monitor_champion_check_failures_total") >= 1);
  ASSERT_EQ_DBL(metric("coin_monitor_champion_verdict"), 2);
  c = wait_judged("champ-bad", 1, 1000);
  ASSERT_TRUE(c != NULL);
  ASSERT_TRUE(json_is_true(json_object_get(c, "stale")));
  ASSERT_CONTAINS(fx_jstr(json_object_get(c, "errors"), "last_error"),
                  "influxdb read");
  json_decref(c);
  ASSERT_OK(coin_test_influx_restart(&fx_influx));
  end = fx_now_ms() + 20000;
  while (metric("coin_monitor_champion_stale") != 0 && fx_now_ms() < end)
    fx_sleep_ms(200);
  ASSERT_EQ_DBL(metric("coin_monitor_champion_stale"), 0);
  ASSERT_EQ_INT(hooks("pooled", "resolved", NULL, 0), 0);
  ASSERT_EQ_INT(hooks("pooled", "firing", NULL, 0), 1);

  /* a restarted monitor finds the request standing: none written; read
   * with a row cap, it judges the newest rows only and says truncated */
  fx_monitor_stop(&mon);
  ASSERT_OK(start_monitor("bad-again", "MONITOR_CHAMPION_MAX_ROWS=120"));
  c = wait_judged("champ-bad", 2, 20000);
  ASSERT_TRUE(c != NULL);
  ASSERT_TRUE(json_is_true(
      json_object_get(json_object_get(c, "retrain"), "requested")));
  json_t *w = json_object_get(c, "window");
  ASSERT_TRUE(json_is_true(json_object_get(w, "truncated")));
  ASSERT_EQ_INT(fx_jint(json_object_get(c, "pooled"), "n"), 120);
  /* the newest 120 of 2 x 80: 60 per series */
  ASSERT_EQ_INT(fx_jint(json_array_get(json_object_get(c, "series"), 0), "n"),
                60);
  ASSERT_EQ_INT(fx_jint(json_array_get(json_object_get(c, "series"), 1), "n"),
                60);
  json_decref(c);
  ASSERT_EQ_DBL(metric("coin_monitor_champion_retrain_requests_total"), 0);
  ASSERT_OK(coin_registry_retrain_request_get(reg, &req, &rev2));
  ASSERT_EQ_INT(rev2, rev);
  ASSERT_EQ_INT(hooks("pooled", "firing", NULL, 0), 1);
  fx_monitor_stop(&mon);
  ASSERT_OK(start_monitor("good", NULL));
}

static void good_champion_resolves_the_old_ones_alerts(void) {
  ASSERT_OK(set_champion("champ-good"));
  json_t *c = wait_judged("champ-good", 1, 20000);
  ASSERT_TRUE(c != NULL);
  json_t *pooled = json_object_get(c, "pooled");
  ASSERT_EQ_STR(fx_jstr(pooled, "verdict"), "ok");
  ASSERT_EQ_INT(fx_jint(pooled, "n"), 2 * N_ROWS);
  ASSERT_NEAR(json_number_value(json_object_get(pooled, "mae_ratio")), 0.5,
              1e-9);
  ASSERT_FALSE(json_is_true(json_object_get(pooled, "alerted")));
  ASSERT_EQ_INT(fx_jint(c, "series_worse"), 0);
  ASSERT_FALSE(json_is_true(
      json_object_get(json_object_get(c, "retrain"), "requested")));
  json_decref(c);
  char summary[512];
  ASSERT_EQ_INT(wait_hooks("pooled", "resolved", 15000), 1);
  hooks("pooled", "resolved", summary, sizeof(summary));
  ASSERT_CONTAINS(summary, "replaced by champ-good");
  ASSERT_EQ_INT(wait_hooks("binance/BTCUSDT/1h", "resolved", 15000), 1);
  ASSERT_EQ_INT(wait_hooks("binance/ETHUSDT/1h", "resolved", 15000), 1);
  /* still one firing each: the good champion raised nothing */
  ASSERT_EQ_INT(hooks("pooled", "firing", NULL, 0), 1);
  ASSERT_EQ_DBL(metric("coin_monitor_champion_verdict"), 1);
  ASSERT_EQ_DBL(metric("coin_monitor_champion_series_alerted"), 0);
  ASSERT_EQ_DBL(metric("coin_monitor_champion_retrain_requests_total"), 0);
  /* the old champion's request is still the one standing */
  struct coin_retrain_request req;
  ASSERT_OK(coin_registry_retrain_request_get(reg, &req, NULL));
  ASSERT_EQ_STR(req.champion, "champ-bad");
}

int main(int argc, char **argv) {
  coin_test_main_begin(argc, argv);
  const char *dir = getenv("COIN_SHARED_DATA_DIR");
  struct coin_influx_options o;
  coin_influx_options_init(&o);
  if (dir == NULL || fx_setup(true) != 0 ||
      (o.url = fx_influx.url, coin_influx_new(&ix, &o)) != 0 ||
      coin_influx_create_db(ix) != 0 || load_candles(0, dir) != 0 ||
      load_candles(1, dir) != 0 ||
      coin_registry_open(&reg, fx_bus, "test") != 0) {
    fprintf(stderr, "setup failed: %s\n", coin_error_last());
    return 1;
  }
  /* two champions and a challenger in shadow, at the same targets: only
   * the judged champion's records count */
  if (write_records("champ-bad", "champion", -1.0) != 0 ||
      write_records("champ-good", "champion", 0.5) != 0 ||
      write_records("chall-x", "challenger", 0.5) != 0 || realize_all() != 0) {
    fprintf(stderr, "records not written: %s\n", coin_error_last());
    return 1;
  }
  fx_recv_init(&hook);
  if (fx_recv_start(&hook, 0) != 0) {
    fprintf(stderr, "receiver did not start\n");
    return 1;
  }
  RUN_TEST(worse_champion_alerts_once_and_requests_retraining);
  RUN_TEST(good_champion_resolves_the_old_ones_alerts);
  fx_monitor_stop(&mon);
  fx_recv_free(&hook);
  coin_registry_free(reg);
  coin_influx_free(ix);
  free(candles[0]);
  free(candles[1]);
  fx_teardown();
  return coin_test_summary();
}
