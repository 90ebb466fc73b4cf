/* test_monitor_delivery.c: alert-miss accounting end to end, against a real
 * nats-server. Three series go hard_stale at once; coin-monitor has three
 * webhook sinks: webhook-0 answers 200, webhook-1 points at a port nothing
 * listens on, webhook-2 refuses with 400 (given up after 2 attempts).
 * - webhook-0's ledger counts every alert on time and nothing missing, and
 *   its on_time + late + dropped + missing + pending equals what the
 *   monitor published (nothing owed is forgotten);
 * - webhook-1 has the series alerts missing after the 3 s deadline,
 *   webhook-2 has them dropped; both raise CoinAlertDeliveryMissed, which
 *   reaches webhook-0 with the sink as target;
 * - a receiver started on webhook-1's port gets the backlog: the ledger
 *   turns missing into late, and the alert for webhook-1 resolves while the
 *   one for webhook-2 stays (a drop holds it for 15 minutes);
 * - the same numbers are in status.json "delivery" and on /metrics. */
#include "test_monitor_util.h"

#define N 3
#define DEADLINE_S 3

static struct fx_monitor mon;
static struct fx_series ser[N];
static struct fx_recv good, dead, refusing;
static int dead_port;

/* The "delivery" row of sink name in GET /status (a new reference). */
static json_t *sink_row(const char *name) {
  char url[128];
  snprintf(url, sizeof(url), "%s/status", mon.base);
  json_t *j = fx_get_json(NULL, url);
  json_t *rows = json_object_get(json_object_get(j, "delivery"), "sinks");
  json_t *out = NULL;
  size_t i;
  json_t *r;
  json_array_foreach(rows, i, r) {
    if (!strcmp(fx_jstr(r, "sink"), name))
      out = json_incref(r);
  }
  json_decref(j);
  return out;
}

static int64_t row_int(const char *sink, const char *key) {
  json_t *r = sink_row(sink);
  int64_t v = r ? fx_jint(r, key) : -1;
  json_decref(r);
  return v;
}

/* Waits until the row's key is at least want; the last value read. */
static int64_t wait_row(const char *sink, const char *key, int64_t want,
                        int64_t timeout_ms) {
  int64_t v = -1;
  for (int64_t end = fx_now_ms() + timeout_ms; fx_now_ms() < end;) {
    v = row_int(sink, key);
    if (v >= want)
      break;
    fx_sleep_ms(200);
  }
  return v;
}

/* Index of the webhook request at r (from index from) for the global alert
 * CoinAlertDeliveryMissed about target with status, or -1. */
static long find_missed(struct fx_recv *r, size_t from, const char *target,
                        const char *status) {
  for (size_t i = from; i < fx_recv_count(r); i++) {
    json_t *b = fx_recv_json(r, (long)i);
    bool hit = b &&
               !strcmp(fx_jstr(b, "alertname"), "CoinAlertDeliveryMissed") &&
               !strcmp(fx_jstr(b, "status"), status) &&
               !strcmp(fx_jstr(json_object_get(b, "labels"), "target"), target);
    json_decref(b);
    if (hit)
      return (long)i;
  }
  return -1;
}

static long wait_missed(struct fx_recv *r, const char *target,
                        const char *status, int64_t timeout_ms) {
  long i = -1;
  for (int64_t end = fx_now_ms() + timeout_ms; fx_now_ms() < end && i < 0;) {
    i = find_missed(r, 0, target, status);
    if (i < 0)
      fx_sleep_ms(200);
  }
  return i;
}

static void ledgers(void) {
  /* webhook-0 gets the three series alerts on time */
  ASSERT_TRUE(wait_row("webhook-0", "on_time", N, 20000) >= N);
  ASSERT_EQ_INT(row_int("webhook-0", "missing"), 0);
  ASSERT_EQ_INT(row_int("webhook-0", "late"), 0);
  /* webhook-2 refuses them: dropped */
  ASSERT_TRUE(wait_row("webhook-2", "dropped", N, 20000) >= N);
  /* webhook-1 cannot be reached: missing after the deadline */
  ASSERT_TRUE(wait_row("webhook-1", "missing", N, 20000) >= N);
  json_t *r = sink_row("webhook-1");
  ASSERT_TRUE(r != NULL);
  ASSERT_TRUE(fx_jint(r, "missed_total") >= N);
  ASSERT_EQ_INT(fx_jint(r, "on_time") + fx_jint(r, "late"), 0);
  ASSERT_CONTAINS(fx_jstr(r, "oldest_missing_msg_id"), ".firing.");
  ASSERT_TRUE(fx_jstr(r, "oldest_missing_raised_at")[0] != '\0');
  json_decref(r);

  /* both raise CoinAlertDeliveryMissed, delivered by webhook-0 */
  long i1 = wait_missed(&good, "webhook-1", "firing", 15000);
  long i2 = wait_missed(&good, "webhook-2", "firing", 15000);
  ASSERT_TRUE(i1 >= 0);
  ASSERT_TRUE(i2 >= 0);
  json_t *b = fx_recv_json(&good, i1);
  ASSERT_CONTAINS(fx_jstr(b, "summary"), "not delivered within 3s");
  ASSERT_EQ_STR(fx_jstr(b, "severity"), "warning");
  json_decref(b);
  ASSERT_TRUE(find_missed(&good, 0, "webhook-0", "firing") < 0);

  /* metrics say the same */
  ASSERT_TRUE(
      fx_metric(&mon,
                "coin_monitor_alert_delivery_missing{sink=\"webhook-1\"}") >=
      N);
  ASSERT_TRUE(fx_metric(&mon,
                        "coin_monitor_alert_delivery_total{sink=\"webhook-2\","
                        "outcome=\"dropped\"}") >= N);
  ASSERT_TRUE(fx_metric(&mon,
                        "coin_monitor_alert_delivery_total{sink=\"webhook-0\","
                        "outcome=\"on_time\"}") >= N);
  ASSERT_EQ_INT(
      fx_metric(&mon,
                "coin_monitor_alert_delivery_missing{sink=\"webhook-0\"}"),
      0);
}

static void recovery(void) {
  /* the receiver comes up on webhook-1's port: the backlog arrives late */
  ASSERT_OK(fx_recv_start(&dead, dead_port));
  ASSERT_TRUE(wait_row("webhook-1", "late", N, 30000) >= N);
  int64_t missing = -1;
  for (int64_t end = fx_now_ms() + 15000; fx_now_ms() < end;) {
    missing = row_int("webhook-1", "missing");
    if (missing == 0)
      break;
    fx_sleep_ms(200);
  }
  ASSERT_EQ_INT(missing, 0);
  ASSERT_TRUE(fx_recv_count(&dead) >= N);
  /* its alert resolves; webhook-2's stays firing */
  ASSERT_TRUE(wait_missed(&good, "webhook-1", "resolved", 15000) >= 0);
  ASSERT_TRUE(find_missed(&good, 0, "webhook-2", "resolved") < 0);
  char url[128];
  snprintf(url, sizeof(url), "%s/status", mon.base);
  json_t *st = fx_get_json(NULL, url);
  bool w1 = false, w2 = false;
  size_t i;
  json_t *g;
  json_array_foreach(json_object_get(st, "global_alerts"), i, g) {
    if (!strcmp(fx_jstr(g, "alertname"), "CoinAlertDeliveryMissed")) {
      w1 |= !strcmp(fx_jstr(g, "target"), "webhook-1");
      w2 |= !strcmp(fx_jstr(g, "target"), "webhook-2");
    }
  }
  json_decref(st);
  ASSERT_FALSE(w1);
  ASSERT_TRUE(w2);
}

/* Nothing owed is forgotten: webhook-0's ledger accounts for every alert
 * the monitor published (no restart, no duplicates in this test). */
static void every_published_alert_is_accounted(void) {
  int64_t published = -1, accounted = -2;
  for (int64_t end = fx_now_ms() + 15000; fx_now_ms() < end;) {
    published = fx_metric(&mon, "coin_monitor_alerts_published_total");
    json_t *r = sink_row("webhook-0");
    accounted = fx_jint(r, "on_time") + fx_jint(r, "late") +
                fx_jint(r, "dropped") + fx_jint(r, "missing") +
                fx_jint(r, "pending");
    json_decref(r);
    if (published == accounted &&
        published == fx_metric(&mon, "coin_monitor_alerts_published_total"))
      break;
    fx_sleep_ms(300);
  }
  fprintf(stderr, "  published %lld, accounted by webhook-0 %lld\n",
          (long long)published, (long long)accounted);
  ASSERT_TRUE(published >= N + 3); /* series + missed firing + resolved */
  ASSERT_EQ_INT(accounted, published);
}

int main(int argc, char **argv) {
  coin_test_main_begin(argc, argv);
  if (fx_setup(false) != 0) {
    fprintf(stderr, "setup failed: %s\n", coin_error_last());
    return 1;
  }
  int64_t now = fx_now_ms();
  static const char *const syms[N] = {"BTCUSDT", "ETHUSDT", "SOLUSDT"};
  for (int i = 0; i < N; i++) {
    int64_t t = coin_tf_last_closed(COIN_TF_1M, now);
    for (int k = 0; k < 10; k++) /* ten candles missing: hard_stale */
      t = coin_tf_prev(COIN_TF_1M, t);
    ser[i] = (struct fx_series){.symbol = syms[i],
                                .tf = COIN_TF_1M,
                                .last_open_ms = t,
                                .n_candles = 30,
                                .listed = true};
  }
  fx_recv_init(&good);
  fx_recv_init(&dead);
  fx_recv_init(&refusing);
  dead_port = coin_test_free_port();
  if (fx_publish(ser, N) != 0 || fx_recv_start(&good, 0) != 0 ||
      fx_recv_start(&refusing, 0) != 0) {
    fprintf(stderr, "site or receivers did not start\n");
    return 1;
  }
  fx_recv_answer(&refusing, 400);
  fx_monitor_init(&mon, "BTCUSDT,ETHUSDT,SOLUSDT");
  fx_monitor_env(&mon, "MONITOR_EVAL_SECONDS=1");
  fx_monitor_env(&mon, "MONITOR_BOOTSTRAP_SECONDS=0");
  fx_monitor_env(&mon, "MONITOR_RETRY_BASE_MS=100");
  fx_monitor_env(&mon, "MONITOR_RETRY_MAX_SECONDS=1");
  fx_monitor_env(&mon, "MONITOR_GIVE_UP_4XX_ATTEMPTS=2");
  fx_monitor_env(&mon, "MONITOR_DELIVERY_DEADLINE_SECONDS=%d", DEADLINE_S);
  fx_monitor_env(&mon, "MONITOR_WEBHOOK_URLS=%s,http://127.0.0.1:%d/hook,%s",
                 good.url, dead_port, refusing.url);
  fx_monitor_env(&mon, "MONITOR_WEBHOOK_SECRET=%s", FX_SECRET);
  if (fx_monitor_start(&mon, "delivery") != 0) {
    fprintf(stderr, "coin-monitor did not start\n");
    return 1;
  }
  RUN_TEST(ledgers);
  RUN_TEST(recovery);
  RUN_TEST(every_published_alert_is_accounted);
  fx_monitor_stop(&mon);
  fx_recv_free(&good);
  fx_recv_free(&dead);
  fx_recv_free(&refusing);
  fx_teardown();
  return coin_test_summary();
}
