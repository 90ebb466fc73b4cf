/* test_monitor.c: coin-monitor end to end, the full fault story, against a
 * real nats-server, influxd and Prometheus Alertmanager, with an in-process
 * webhook and Slack receiver. The test plays ingest and publish (KV
 * watermarks, site files), then "ingest stops" for BTCUSDT 1m while ETHUSDT
 * stays fresh: soft_stale -> soft_stale_escalated -> hard_stale ->
 * hard_stale_escalated (+ repeats) -> updates resume -> resolve; then the
 * prediction path degrades and recovers while the series stays fresh.
 * Every webhook is checked against the documented payload and signature,
 * Alertmanager shows and then resolves the alerts, coin.status.> carries
 * the transitions, and the endpoints answer as documented. Time is real:
 * thresholds are seconds, chosen from where in the minute the test starts. */
#include "coin/site.h"
#include "test_monitor_util.h"

static struct fx_series story[2];
static struct fx_recv hook, slack;
static struct fx_monitor mon;
static struct fx_am amx;
static int am_port;
static int64_t T0;     /* the minute the test started in */
static int64_t soft_s; /* FRESHNESS_SOFT_AFTER_SECONDS_1m */
static int64_t hard_s; /* FRESHNESS_HARD_AFTER_SECONDS_1m */

/* status transitions seen on coin.status.> */
static pthread_mutex_t tap_lock = PTHREAD_MUTEX_INITIALIZER;
static struct coin_status_transition taps[64];
static size_t n_taps;

static void on_status(const struct coin_bus_msg *msg, void *closure) {
  (void)closure;
  struct coin_status_transition st;
  if (coin_codec_unpack_status(&st, coin_bus_msg_data(msg),
                               coin_bus_msg_len(msg)) != 0)
    return;
  pthread_mutex_lock(&tap_lock);
  if (n_taps < 64)
    taps[n_taps++] = st;
  pthread_mutex_unlock(&tap_lock);
}

/* Keeps ETHUSDT fresh: "ingest and publish" of its newest closed candle. */
static void tick(void) {
  int64_t lc = coin_tf_last_closed(COIN_TF_1M, fx_now_ms());
  if (story[1].last_open_ms != lc) {
    story[1].last_open_ms = lc;
    fx_publish(story, 2);
  }
}

static void wait_ms(int64_t ms) {
  int64_t end = fx_now_ms() + ms;
  while (fx_now_ms() < end) {
    tick();
    fx_sleep_ms(50);
  }
}

/* ---- Alertmanager ------------------------------------------------------- */

static int am_start(void) {
  int rc = fx_am_start(&amx, "route:\n  receiver: blackhole\n  group_wait: 1s\n"
                             "receivers:\n  - name: blackhole\n");
  am_port = amx.port;
  return rc;
}

/* Active alerts in Alertmanager for BTCUSDT with this alertname and
 * severity (NULL: any); -1 when Alertmanager does not answer. */
static int am_count(const char *alertname, const char *severity) {
  json_t *arr = fx_am_alerts(&amx);
  if (arr == NULL)
    return -1;
  int n = 0;
  size_t i;
  json_t *a;
  json_array_foreach(arr, i, a) {
    json_t *l = json_object_get(a, "labels");
    const char *state = json_string_value(
        json_object_get(json_object_get(a, "status"), "state"));
    if (!strcmp(fx_jstr(l, "symbol"), "BTCUSDT") &&
        !strcmp(fx_jstr(l, "alertname"), alertname) &&
        (!severity || !strcmp(fx_jstr(l, "severity"), severity)) && state &&
        !strcmp(state, "active"))
      n++;
  }
  json_decref(arr);
  return n;
}

static bool am_wait(const char *alertname, const char *severity, int want,
                    int64_t timeout_ms) {
  int64_t end = fx_now_ms() + timeout_ms;
  while (fx_now_ms() < end) {
    if (am_count(alertname, severity) == want)
      return true;
    tick();
    fx_sleep_ms(100);
  }
  return false;
}

/* ---- webhook checks ----------------------------------------------------- */

/* Every request: documented fields, valid signature, key = msg_id. */
static void check_payloads(void) {
  pthread_mutex_lock(&hook.lock);
  size_t n = hook.n;
  pthread_mutex_unlock(&hook.lock);
  ASSERT_TRUE(n > 0);
  for (size_t i = 0; i < n; i++) {
    const struct fx_req *q = &hook.reqs[i];
    ASSERT_EQ_STR(q->ctype, "application/json");
    ASSERT_OK(fx_req_verify(q));
    json_t *j = json_loads(q->body, 0, NULL);
    ASSERT_TRUE(j != NULL);
    ASSERT_EQ_INT(fx_jint(j, "schema_version"), 1);
    ASSERT_EQ_STR(fx_jstr(j, "msg_id"), q->idem);
    char want[300];
    snprintf(want, sizeof(want), "%s.%s.%lld", fx_jstr(j, "alert_id"),
             fx_jstr(j, "status"), (long long)fx_jint(j, "repeat_count"));
    ASSERT_EQ_STR(q->idem, want);
    snprintf(want, sizeof(want), "%s.binance.%s.1m.%lld",
             fx_jstr(j, "alertname"), fx_jstr(j, "symbol"),
             (long long)fx_jint(j, "starts_at_ms"));
    ASSERT_EQ_STR(fx_jstr(j, "alert_id"), want);
    ASSERT_EQ_STR(fx_jstr(j, "exchange"), "binance");
    ASSERT_EQ_STR(fx_jstr(j, "timeframe"), "1m");
    ASSERT_TRUE(strlen(fx_jstr(j, "summary")) > 10);
    ASSERT_TRUE(strlen(fx_jstr(j, "starts_at")) == 24);
    ASSERT_EQ_STR(fx_jstr(j, "producer_id"), "monitor@test");
    bool resolved = !strcmp(fx_jstr(j, "status"), "resolved");
    ASSERT_TRUE(resolved || !strcmp(fx_jstr(j, "status"), "firing"));
    ASSERT_TRUE(resolved
                    ? fx_jint(j, "ends_at_ms") >= fx_jint(j, "starts_at_ms")
                    : json_is_null(json_object_get(j, "ends_at_ms")));
    json_t *l = json_object_get(j, "labels");
    ASSERT_EQ_STR(fx_jstr(l, "alertname"), fx_jstr(j, "alertname"));
    ASSERT_EQ_STR(fx_jstr(l, "severity"), fx_jstr(j, "severity"));
    ASSERT_EQ_STR(fx_jstr(l, "state"), fx_jstr(j, "state"));
    ASSERT_EQ_STR(fx_jstr(l, "symbol"), fx_jstr(j, "symbol"));
    ASSERT_EQ_STR(fx_jstr(l, "exchange"), "binance");
    ASSERT_EQ_STR(fx_jstr(l, "timeframe"), "1m");
    ASSERT_EQ_INT(json_object_size(l), 6);
    /* the healthy series never alerted */
    ASSERT_EQ_STR(fx_jstr(j, "symbol"), "BTCUSDT");
    json_decref(j);
  }
  /* the signature really covers the body: a changed byte fails */
  char *copy = strdup(hook.reqs[0].body);
  copy[5] ^= 1;
  ASSERT_RC(coin_hmac_webhook_verify(NULL, hook.reqs[0].sig, FX_SECRET,
                                     strlen(FX_SECRET), copy, hook.reqs[0].len,
                                     hook.reqs[0].at_ms / 1000,
                                     COIN_WEBHOOK_TOLERANCE_SECONDS),
            COIN_EREJECTED);
  free(copy);
}

static json_t *req_json(long i) {
  return fx_recv_json(&hook, i);
}

/* ---- the story ---------------------------------------------------------- */

static void fault_story(void) {
  char env_soft[64], env_hard[64];
  int64_t now0 = fx_now_ms();
  T0 = coin_tf_floor(COIN_TF_1M, now0);
  soft_s = (now0 - T0 + 999) / 1000 + 4;
  hard_s = soft_s + 10;
  /* BTCUSDT: its last candle is two minutes back, so the next candle is
   * overdue since T0 and overdue grows from now0 - T0 (< soft) on. */
  story[0] = (struct fx_series){.symbol = "BTCUSDT",
                                .tf = COIN_TF_1M,
                                .last_open_ms = T0 - 2 * COIN_MINUTE_MS,
                                .n_candles = 30,
                                .listed = true};
  story[1] = (struct fx_series){.symbol = "ETHUSDT",
                                .tf = COIN_TF_1M,
                                .last_open_ms = -1,
                                .n_candles = 30,
                                .listed = true};
  tick();
  ASSERT_OK(fx_publish(story, 2));
  ASSERT_OK(am_start());
  fx_recv_init(&hook);
  fx_recv_init(&slack);
  ASSERT_OK(fx_recv_start(&hook, 0));
  ASSERT_OK(fx_recv_start(&slack, 0));

  struct coin_bus_tap *tap = NULL;
  ASSERT_OK(coin_bus_tap_core(&tap, fx_bus, "coin.status.>", on_status, NULL));

  fx_monitor_init(&mon, "BTCUSDT,ETHUSDT");
  snprintf(env_soft, sizeof(env_soft), "FRESHNESS_SOFT_AFTER_SECONDS_1m=%lld",
           (long long)soft_s);
  snprintf(env_hard, sizeof(env_hard), "FRESHNESS_HARD_AFTER_SECONDS_1m=%lld",
           (long long)hard_s);
  fx_monitor_env(&mon, "%s", env_soft);
  fx_monitor_env(&mon, "%s", env_hard);
  fx_monitor_env(&mon, "MONITOR_EVAL_SECONDS=1");
  fx_monitor_env(&mon, "MONITOR_SOFT_ESCALATE_SECONDS=3");
  fx_monitor_env(&mon, "MONITOR_HARD_ESCALATE_SECONDS=3");
  fx_monitor_env(&mon, "MONITOR_REPEAT_SECONDS=3");
  fx_monitor_env(&mon, "MONITOR_CORRUPT_GRACE_MS=500");
  fx_monitor_env(&mon, "MONITOR_RETRY_BASE_MS=100");
  fx_monitor_env(&mon, "MONITOR_RETRY_MAX_SECONDS=1");
  fx_monitor_env(&mon, "MONITOR_ALERTMANAGER_RESEND_SECONDS=5");
  fx_monitor_env(&mon, "MONITOR_WEBHOOK_URLS=%s", hook.url);
  fx_monitor_env(&mon, "MONITOR_WEBHOOK_SECRET=%s", FX_SECRET);
  fx_monitor_env(&mon, "MONITOR_SLACK_URLS=%s", slack.url);
  fx_monitor_env(&mon, "MONITOR_ALERTMANAGER_URLS=http://127.0.0.1:%d",
                 am_port);
  ASSERT_OK(fx_monitor_start(&mon, "story"));

  /* both fresh at first, no alert */
  json_t *s = NULL;
  for (int i = 0; i < 40; i++) {
    json_decref(s);
    s = fx_series_status(&mon, "BTCUSDT", "1m");
    if (s && !strcmp(fx_jstr(s, "status"), "fresh"))
      break;
    wait_ms(50);
  }
  ASSERT_TRUE(s != NULL);
  ASSERT_EQ_STR(fx_jstr(s, "status"), "fresh");
  json_decref(s);
  ASSERT_EQ_INT(fx_recv_count(&hook), 0);

  /* ingest stopped: soft_stale (warning) when overdue passes soft_s */
  long i1 = fx_recv_wait(&hook, 0, "BTCUSDT", "CoinSoftStale", "firing",
                         "soft_stale", (soft_s + 8) * 1000, tick);
  ASSERT_TRUE(i1 >= 0);
  json_t *j = req_json(i1);
  int64_t soft_since = T0 + soft_s * 1000;
  ASSERT_EQ_INT(fx_jint(j, "starts_at_ms"), soft_since);
  ASSERT_EQ_STR(fx_jstr(j, "severity"), "warning");
  ASSERT_EQ_INT(fx_jint(j, "repeat_count"), 0);
  ASSERT_CONTAINS(fx_jstr(j, "summary"), "ingest has stored nothing newer");
  json_decref(j);
  ASSERT_TRUE(hook.reqs[i1].at_ms >= soft_since);
  ASSERT_TRUE(am_wait("CoinSoftStale", "warning", 1, 5000));

  /* soft_stale lasting > 3 s: escalated, critical, same alert id */
  long i2 = fx_recv_wait(&hook, 0, "BTCUSDT", "CoinSoftStale", "firing",
                         "soft_stale_escalated", 10000, tick);
  ASSERT_TRUE(i2 > i1);
  j = req_json(i2);
  ASSERT_EQ_STR(fx_jstr(j, "severity"), "critical");
  ASSERT_EQ_INT(fx_jint(j, "repeat_count"), 1);
  ASSERT_EQ_INT(fx_jint(j, "starts_at_ms"), soft_since);
  json_decref(j);
  ASSERT_TRUE(hook.reqs[i2].at_ms >= soft_since + 3000);
  ASSERT_TRUE(am_wait("CoinSoftStale", "critical", 1, 5000));
  ASSERT_EQ_INT(am_count("CoinSoftStale", "warning"), 0);

  /* hard_stale: the soft alert resolves, CoinHardStale fires */
  int64_t hard_since = T0 + hard_s * 1000;
  long i3 = fx_recv_wait(&hook, 0, "BTCUSDT", "CoinSoftStale", "resolved", NULL,
                         (hard_s + 6) * 1000, tick);
  long i4 = fx_recv_wait(&hook, 0, "BTCUSDT", "CoinHardStale", "firing",
                         "hard_stale", 5000, tick);
  ASSERT_TRUE(i3 > i2);
  ASSERT_TRUE(i4 > i2);
  j = req_json(i4);
  ASSERT_EQ_STR(fx_jstr(j, "severity"), "critical");
  ASSERT_EQ_INT(fx_jint(j, "starts_at_ms"), hard_since);
  ASSERT_EQ_INT(fx_jint(j, "repeat_count"), 0);
  json_decref(j);
  ASSERT_TRUE(am_wait("CoinHardStale", "critical", 1, 5000));
  ASSERT_TRUE(am_wait("CoinSoftStale", NULL, 0, 5000));

  /* hard_stale lasting > 3 s: escalated; then repeated every 3 s */
  long i5 = fx_recv_wait(&hook, 0, "BTCUSDT", "CoinHardStale", "firing",
                         "hard_stale_escalated", 8000, tick);
  ASSERT_TRUE(i5 > i4);
  long i6 = fx_recv_wait(&hook, (size_t)i5 + 1, "BTCUSDT", "CoinHardStale",
                         "firing", "hard_stale_escalated", 8000, tick);
  ASSERT_TRUE(i6 > i5);
  j = req_json(i5);
  json_t *j6 = req_json(i6);
  ASSERT_EQ_INT(fx_jint(j, "repeat_count"), 1);
  ASSERT_EQ_INT(fx_jint(j6, "repeat_count"), 2);
  ASSERT_EQ_STR(fx_jstr(j, "alert_id"), fx_jstr(j6, "alert_id"));
  json_decref(j);
  json_decref(j6);
  ASSERT_TRUE(hook.reqs[i6].at_ms - hook.reqs[i5].at_ms >= 2500);

  /* what the monitor says meanwhile */
  s = fx_series_status(&mon, "BTCUSDT", "1m");
  ASSERT_TRUE(s != NULL);
  ASSERT_EQ_STR(fx_jstr(s, "status"), "hard_stale_escalated");
  ASSERT_EQ_INT(fx_jint(s, "since_ms"), hard_since);
  ASSERT_EQ_STR(fx_jstr(s, "cause"), "ingest");
  ASSERT_EQ_INT(fx_jint(json_object_get(s, "watermarks"), "ingest_ms"),
                story[0].last_open_ms);
  ASSERT_EQ_INT(fx_jint(s, "last_candle_open_ms"), story[0].last_open_ms);
  ASSERT_EQ_STR(fx_jstr(json_object_get(s, "alert"), "alertname"),
                "CoinHardStale");
  ASSERT_TRUE(fx_jint(json_object_get(s, "alert"), "repeat_count") >= 2);
  ASSERT_TRUE(json_is_object(json_object_get(s, "last_alert")));
  json_decref(s);
  /* ... and what it persisted */
  struct coin_bus_kv *kvm = NULL;
  struct coin_bus_kv_entry e = {0};
  ASSERT_OK(coin_bus_kv_open(&kvm, fx_bus, COIN_KV_MONITOR));
  ASSERT_OK(coin_bus_kv_get(&e, kvm, "state.binance.BTCUSDT.1m"));
  j = json_loads((const char *)e.value, 0, NULL);
  coin_bus_kv_entry_clear(&e);
  coin_bus_kv_free(kvm);
  ASSERT_TRUE(j != NULL);
  ASSERT_EQ_STR(fx_jstr(j, "state"), "hard_stale_escalated");
  ASSERT_EQ_INT(fx_jint(j, "since_ms"), hard_since);
  ASSERT_TRUE(fx_jint(json_object_get(j, "alert"), "repeat_count") >= 1);
  json_decref(j);
  ASSERT_TRUE(am_wait("CoinHardStale", "critical", 1, 2000));
  ASSERT_EQ_INT(am_count("CoinHardStale", "warning"), 0);

  /* updates resume: recovery, resolve */
  story[0].last_open_ms = coin_tf_last_closed(COIN_TF_1M, fx_now_ms());
  ASSERT_OK(fx_publish(story, 2));
  long i7 = fx_recv_wait(&hook, 0, "BTCUSDT", "CoinHardStale", "resolved", NULL,
                         6000, tick);
  ASSERT_TRUE(i7 > i6);
  s = fx_series_status(&mon, "BTCUSDT", "1m");
  ASSERT_EQ_STR(fx_jstr(s, "status"), "fresh");
  ASSERT_TRUE(json_is_null(json_object_get(s, "alert")));
  json_decref(s);
  ASSERT_TRUE(am_wait("CoinHardStale", NULL, 0, 5000));

  /* the prediction path degrades while the data stays fresh */
  story[0].degraded = true;
  story[0].reason = "no_model";
  ASSERT_OK(fx_publish(story, 2));
  long i8 = fx_recv_wait(&hook, 0, "BTCUSDT", "CoinDegraded", "firing", NULL,
                         6000, tick);
  ASSERT_TRUE(i8 > i7);
  j = req_json(i8);
  ASSERT_EQ_STR(fx_jstr(j, "severity"), "warning");
  ASSERT_CONTAINS(fx_jstr(j, "summary"), "no_model");
  json_decref(j);
  s = fx_series_status(&mon, "BTCUSDT", "1m");
  ASSERT_EQ_STR(fx_jstr(s, "status"), "fresh");
  ASSERT_TRUE(json_is_true(json_object_get(s, "degraded")));
  ASSERT_EQ_STR(json_string_value(
                    json_array_get(json_object_get(s, "degraded_reasons"), 0)),
                "no_model");
  json_decref(s);
  ASSERT_TRUE(am_wait("CoinDegraded", "warning", 1, 5000));
  story[0].degraded = false;
  ASSERT_OK(fx_publish(story, 2));
  long i9 = fx_recv_wait(&hook, 0, "BTCUSDT", "CoinDegraded", "resolved", NULL,
                         6000, tick);
  ASSERT_TRUE(i9 > i8);
  ASSERT_TRUE(am_wait("CoinDegraded", NULL, 0, 5000));
  wait_ms(1500); /* nothing else may arrive */

  /* every webhook as documented; each alert once (by key), in order */
  check_payloads();
  if (coin_test_failed_flag)
    return;
  char keys[64][200];
  size_t nk = fx_recv_keys(&hook, keys, 64);
  char want[32][200];
  size_t nw = 0;
  char soft_id[160], hard_id[160];
  snprintf(soft_id, sizeof(soft_id), "CoinSoftStale.binance.BTCUSDT.1m.%lld",
           (long long)soft_since);
  snprintf(hard_id, sizeof(hard_id), "CoinHardStale.binance.BTCUSDT.1m.%lld",
           (long long)hard_since);
  /* soft_stale_escalated repeats too (every 3 s) until hard_stale */
  j = req_json(i3);
  int64_t soft_rc = fx_jint(j, "repeat_count");
  json_decref(j);
  ASSERT_TRUE(soft_rc >= 1);
  for (int64_t r = 0; r <= soft_rc; r++)
    snprintf(want[nw++], 200, "%s.firing.%lld", soft_id, (long long)r);
  snprintf(want[nw++], 200, "%s.resolved.%lld", soft_id, (long long)soft_rc);
  snprintf(want[nw++], 200, "%s.firing.0", hard_id);
  j = req_json(i7);
  int64_t last_rc = fx_jint(j, "repeat_count");
  json_decref(j);
  ASSERT_TRUE(last_rc >= 2);
  for (int64_t r = 1; r <= last_rc; r++)
    snprintf(want[nw++], 200, "%s.firing.%lld", hard_id, (long long)r);
  snprintf(want[nw++], 200, "%s.resolved.%lld", hard_id, (long long)last_rc);
  if (nk != nw + 2)
    for (size_t k = 0; k < nk; k++)
      fprintf(stderr, "  key %zu: %s\n", k, keys[k]);
  ASSERT_EQ_INT(nk, nw + 2);
  for (size_t k = 0; k < nw; k++)
    ASSERT_EQ_STR(keys[k], want[k]);
  ASSERT_CONTAINS(keys[nw], "CoinDegraded.binance.BTCUSDT.1m.");
  ASSERT_CONTAINS(keys[nw], ".firing.0");
  ASSERT_CONTAINS(keys[nw + 1], ".resolved.0");

  /* Slack got every alert in Block Kit messages (alerts of one pass share
   * one message: soft resolved + hard firing), each with a fallback text */
  pthread_mutex_lock(&slack.lock);
  size_t ns = slack.n;
  pthread_mutex_unlock(&slack.lock);
  ASSERT_TRUE(ns >= 1 && ns <= nk);
  for (size_t k = 0; k < ns; k++) {
    json_t *t = json_loads(slack.reqs[k].body, 0, NULL);
    ASSERT_TRUE(t != NULL);
    ASSERT_CONTAINS(fx_jstr(t, "text"), "BTCUSDT");
    ASSERT_TRUE(json_array_size(json_object_get(t, "blocks")) >= 3);
    ASSERT_EQ_STR(slack.reqs[k].sig, ""); /* Slack gets no signature */
    json_decref(t);
  }
  ASSERT_CONTAINS(slack.reqs[0].body, "[WARNING] CoinSoftStale");

  /* coin.status.> carried each transition */
  enum coin_fresh_state seq[] = {COIN_STATE_FRESH,
                                 COIN_STATE_SOFT_STALE,
                                 COIN_STATE_SOFT_STALE_ESCALATED,
                                 COIN_STATE_HARD_STALE,
                                 COIN_STATE_HARD_STALE_ESCALATED,
                                 COIN_STATE_FRESH,
                                 COIN_STATE_FRESH,
                                 COIN_STATE_FRESH};
  bool deg[] = {false, false, false, false, false, false, true, false};
  size_t got = 0;
  pthread_mutex_lock(&tap_lock);
  for (size_t k = 0; k < n_taps; k++) {
    if (strcmp(taps[k].symbol, "BTCUSDT") != 0)
      continue;
    if (got < 8 &&
        (taps[k].to_state != seq[got] || taps[k].degraded != deg[got])) {
      fprintf(stderr, "  transition %zu: to %s degraded %d\n", got,
              coin_codec_state_name(taps[k].to_state), taps[k].degraded);
      got = 100;
    }
    got++;
  }
  pthread_mutex_unlock(&tap_lock);
  coin_bus_tap_free(tap);
  ASSERT_EQ_INT(got, 8);
}

/* ---- endpoints ---------------------------------------------------------- */

static void endpoints(void) {
  char url[256], *body = NULL;
  ASSERT_TRUE(mon.proc.pid > 0);
  snprintf(url, sizeof(url), "%s/healthz", mon.base);
  ASSERT_EQ_INT(fx_http(NULL, "GET", url), 200);
  snprintf(url, sizeof(url), "%s/readyz", mon.base);
  ASSERT_EQ_INT(fx_http(&body, "GET", url), 200);
  ASSERT_CONTAINS(body, "\"influx\":true");
  free(body);
  /* a paused nats-server keeps the socket up: /readyz asks for a round
   * trip and says 503 "nats":false, /healthz stays 200; both recover */
  ASSERT_EQ_INT(kill(fx_nats.pid, SIGSTOP), 0);
  int paused = 0, live = 0;
  for (int i = 0; i < 80 && !paused; i++) {
    char *b = NULL;
    paused = fx_http(&b, "GET", url) == 503 && b && strstr(b, "\"nats\":false");
    free(b);
    if (!paused)
      fx_sleep_ms(100);
  }
  char hurl[256];
  snprintf(hurl, sizeof(hurl), "%s/healthz", mon.base);
  live = fx_http(NULL, "GET", hurl) == 200;
  ASSERT_EQ_INT(kill(fx_nats.pid, SIGCONT), 0);
  ASSERT_TRUE(paused);
  ASSERT_TRUE(live);
  int back = 0;
  for (int i = 0; i < 100 && !back; i++) {
    back = fx_http(NULL, "GET", url) == 200;
    if (!back)
      fx_sleep_ms(100);
  }
  ASSERT_TRUE(back);
  snprintf(url, sizeof(url), "%s/metrics", mon.base);
  ASSERT_EQ_INT(fx_http(&body, "GET", url), 200);
  ASSERT_CONTAINS(body, "coin_monitor_passes_total");
  ASSERT_CONTAINS(body, "coin_monitor_pass_seconds_bucket{le=\"+Inf\"}");
  ASSERT_CONTAINS(body, "coin_monitor_series{state=\"fresh\"} 2");
  ASSERT_CONTAINS(body,
                  "coin_monitor_sink_delivered_total{sink=\"webhook-0\"}");
  ASSERT_CONTAINS(body, "coin_monitor_sink_backlog{sink=\"alertmanager-0\"} 0");
  free(body);
  snprintf(url, sizeof(url), "%s/nope", mon.base);
  ASSERT_EQ_INT(fx_http(NULL, "GET", url), 404);
  snprintf(url, sizeof(url), "%s/status", mon.base);
  ASSERT_EQ_INT(fx_http(NULL, "POST", url), 405);
  snprintf(url, sizeof(url), "%s/metrics", mon.base);
  ASSERT_EQ_INT(fx_http(NULL, "DELETE", url), 405);
  snprintf(url, sizeof(url), "%s/status/binance/btcusdt/1m", mon.base);
  ASSERT_EQ_INT(fx_http(&body, "GET", url), 400);
  ASSERT_CONTAINS(body, "btcusdt");
  free(body);
  snprintf(url, sizeof(url), "%s/status/binance/BTCUSDT/2m", mon.base);
  ASSERT_EQ_INT(fx_http(NULL, "GET", url), 400);
  snprintf(url, sizeof(url), "%s/status/binance/DOGEUSDT/1m", mon.base);
  ASSERT_EQ_INT(fx_http(NULL, "GET", url), 404);
  snprintf(url, sizeof(url), "%s/status/kraken/BTCUSDT/1m", mon.base);
  ASSERT_EQ_INT(fx_http(NULL, "GET", url), 404);
  snprintf(url, sizeof(url), "%s/status/binance/BTCUSDT/1h", mon.base);
  ASSERT_EQ_INT(fx_http(NULL, "GET", url), 404);
  snprintf(url, sizeof(url), "%s/status/binance/BTCUSDT", mon.base);
  ASSERT_EQ_INT(fx_http(NULL, "GET", url), 404);

  /* status.json holds the same document as GET /status */
  char path[512];
  snprintf(path, sizeof(path), "%s/status.json", fx_site);
  snprintf(url, sizeof(url), "%s/status", mon.base);
  bool same = false;
  for (int i = 0; i < 50 && !same; i++) {
    char *file = NULL;
    size_t len = 0;
    ASSERT_EQ_INT(fx_http(&body, "GET", url), 200);
    if (coin_file_read(&file, &len, path, 1 << 24) == 0)
      same = !strcmp(file, body);
    if (!same && i == 0) {
      json_t *j = json_loads(body, 0, NULL);
      ASSERT_EQ_INT(fx_jint(j, "schema_version"), COIN_SITE_SCHEMA_VERSION);
      ASSERT_EQ_STR(fx_jstr(json_object_get(j, "overall"), "status"), "fresh");
      ASSERT_EQ_INT(json_array_size(json_object_get(j, "series")), 2);
      json_decref(j);
    }
    free(file);
    free(body);
    fx_sleep_ms(30);
  }
  ASSERT_TRUE(same);

  /* SIGTERM: clean exit */
  coin_test_proc_signal(&mon.proc, SIGTERM);
  ASSERT_EQ_INT(coin_test_proc_wait(&mon.proc, 10000), 0);
  mon.proc.pid = 0;
}

int main(int argc, char **argv) {
  coin_test_main_begin(argc, argv);
  if (fx_setup(true) != 0) {
    fprintf(stderr, "setup failed: %s\n", coin_error_last());
    return 1;
  }
  RUN_TEST(fault_story);
  RUN_TEST(endpoints);
  fx_monitor_stop(&mon);
  fx_am_stop(&amx);
  fx_recv_free(&hook);
  fx_recv_free(&slack);
  fx_teardown();
  return coin_test_summary();
}
