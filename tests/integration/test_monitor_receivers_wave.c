/* test_monitor_receivers_wave.c: receivers as they expect it, end to end.
 * 5 symbols x 5 timeframes, all late at once (an incident wave), against a
 * real nats-server and Alertmanager:
 * - the signed webhook goes to an independent receiver written in Python
 *   from docs/monitor.md (tests/integration/webhook_receiver.py: stdlib
 *   hmac/hashlib/http.server), which verifies signature and replay window;
 *   it accepts the 25 alerts, refuses a tampered body and a captured request
 *   replayed after the window, and the test asserts on its record;
 * - Slack gets 1-2 Block Kit messages (not 25) that list every series with
 *   a link to its page, and the sink counts 25 deliveries;
 * - Alertmanager shows the 25 alerts with generatorURL = the series page. */
#include "test_monitor_util.h"

#define N_SYM 5
#define N_TF 5
#define N_SERIES (N_SYM * N_TF)
#define TOLERANCE_S 4 /* the Python receiver's replay window */
#define SITE_URL "http://127.0.0.1:9/coin/"

static const char *const syms[N_SYM] = {"BTCUSDT", "ETHUSDT", "SOLUSDT",
                                        "BNBUSDT", "XRPUSDT"};
static const enum coin_tf tfs[N_TF] = {COIN_TF_1M, COIN_TF_1H, COIN_TF_1D,
                                       COIN_TF_1W, COIN_TF_1MO};
static struct fx_series all[N_SERIES];
static struct coin_test_proc py;
static int py_port;
static char py_record[400];

/* ---- the Python receiver ------------------------------------------------ */

static int py_start(void) {
  char script[600], port[16], tol[16], logp[400], secret[80];
  snprintf(script, sizeof(script), "%s/webhook_receiver.py",
           COIN_TEST_INTEGRATION_DIR);
  py_port = coin_test_free_port();
  snprintf(port, sizeof(port), "%d", py_port);
  snprintf(tol, sizeof(tol), "%d", TOLERANCE_S);
  snprintf(py_record, sizeof(py_record), "%s/receiver-record.jsonl", fx_dir);
  snprintf(logp, sizeof(logp), "%s/receiver.log", fx_dir);
  snprintf(secret, sizeof(secret), "WEBHOOK_SECRET=%s", FX_SECRET);
  char *argv[] = {"/usr/bin/python3", script, port, py_record, tol, NULL};
  char *env[] = {secret, NULL};
  if (coin_test_proc_start(&py, argv, env, logp) != 0)
    return -1;
  char url[96];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/ready", py_port);
  for (int i = 0; i < 200; i++) {
    if (fx_http(NULL, "GET", url) == 200)
      return 0;
    fx_sleep_ms(50);
  }
  return -1;
}

/* The receiver's record: a JSON array of its lines (one per request). */
static json_t *py_records(void) {
  json_t *arr = json_array();
  FILE *f = fopen(py_record, "r");
  if (f == NULL)
    return arr;
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, f) > 0) {
    json_t *j = json_loads(line, 0, NULL);
    if (j)
      json_array_append_new(arr, j);
  }
  free(line);
  fclose(f);
  return arr;
}

static size_t py_accepted(json_t *arr) {
  size_t n = 0, i;
  json_t *r;
  json_array_foreach(arr, i, r) n +=
      json_is_true(json_object_get(r, "accepted"));
  return n;
}

/* POSTs body with the given signature headers; returns the HTTP status. */
static long py_post(const char *sig, const char *ts, const char *body) {
  char h1[200], h2[64], url[96];
  snprintf(h1, sizeof(h1), "X-Coin-Signature: %s", sig);
  snprintf(h2, sizeof(h2), "X-Coin-Timestamp: %s", ts);
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", py_port);
  const char *headers[] = {"Content-Type: application/json", h1, h2, NULL};
  struct coin_http *h = NULL;
  struct coin_http_response r = {0};
  struct coin_http_opts o = {.connect_timeout_ms = 2000, .timeout_ms = 5000};
  long st = -1;
  if (coin_http_new(&h, &o) == 0 &&
      coin_http_request(h, &r, "POST", url, headers, body, strlen(body)) == 0)
    st = r.status;
  coin_http_response_clear(&r);
  coin_http_free(h);
  return st;
}

/* ---- the wave ------------------------------------------------------------ */

static void series_link(char *out, size_t n, size_t i) {
  snprintf(out, n, "%s#%s/%s", SITE_URL, all[i].symbol,
           coin_tf_name(all[i].tf));
}

/* Slack bodies so far that list series i (by its page link). */
static bool slack_has(struct fx_recv *s, size_t i) {
  char link[160];
  series_link(link, sizeof(link), i);
  bool seen = false;
  pthread_mutex_lock(&s->lock);
  for (size_t q = 0; q < s->n && !seen; q++)
    seen = strstr(s->reqs[q].body, link) != NULL;
  pthread_mutex_unlock(&s->lock);
  return seen;
}

static void wave(void) {
  int64_t now = fx_now_ms();
  for (size_t i = 0; i < N_SERIES; i++) {
    enum coin_tf tf = tfs[i % N_TF];
    int64_t t = coin_tf_last_closed(tf, now);
    for (int k = 0; k < 10; k++) /* ten candles missing: hard_stale */
      t = coin_tf_prev(tf, t);
    all[i] = (struct fx_series){.symbol = syms[i / N_TF],
                                .tf = tf,
                                .last_open_ms = t,
                                .n_candles = 30,
                                .listed = true};
  }
  ASSERT_OK(fx_publish(all, N_SERIES));

  struct fx_am am;
  ASSERT_OK(fx_am_start(&am, "route:\n  receiver: blackhole\n  group_wait: "
                             "1s\nreceivers:\n  - name: blackhole\n"));
  ASSERT_OK(py_start());
  struct fx_recv slack;
  fx_recv_init(&slack);
  ASSERT_OK(fx_recv_start(&slack, 0));

  struct fx_monitor mon;
  fx_monitor_init(&mon, "BTCUSDT,ETHUSDT,SOLUSDT,BNBUSDT,XRPUSDT");
  for (int i = 0; i < mon.n_env; i++) /* the first entry of a name wins */
    if (!strncmp(mon.env[i], "INGEST_TIMEFRAMES=", 18))
      snprintf(mon.env[i], sizeof(mon.env[i]),
               "INGEST_TIMEFRAMES=1m,1h,1d,1w,1M");
  fx_monitor_env(&mon, "ENABLE_MULTI_TIMEFRAMES=true");
  fx_monitor_env(&mon, "MONITOR_EVAL_SECONDS=1");
  fx_monitor_env(&mon, "MONITOR_BOOTSTRAP_SECONDS=0"); /* alerts at once */
  fx_monitor_env(&mon, "MONITOR_RETRY_BASE_MS=100");
  fx_monitor_env(&mon, "MONITOR_RETRY_MAX_SECONDS=1");
  fx_monitor_env(&mon, "MONITOR_ALERTMANAGER_RESEND_SECONDS=5");
  fx_monitor_env(&mon, "MONITOR_SITE_URL=%s", SITE_URL);
  fx_monitor_env(&mon, "MONITOR_WEBHOOK_URLS=http://127.0.0.1:%d/hook",
                 py_port);
  fx_monitor_env(&mon, "MONITOR_WEBHOOK_SECRET=%s", FX_SECRET);
  fx_monitor_env(&mon, "MONITOR_SLACK_URLS=%s", slack.url);
  fx_monitor_env(&mon, "MONITOR_ALERTMANAGER_URLS=http://127.0.0.1:%d",
                 am.port);
  ASSERT_OK(fx_monitor_start(&mon, "wave"));

  /* the Python receiver accepts one signed alert per series */
  json_t *rec = NULL;
  for (int64_t end = fx_now_ms() + 30000; fx_now_ms() < end;) {
    json_decref(rec);
    rec = py_records();
    if (py_accepted(rec) >= N_SERIES)
      break;
    fx_sleep_ms(100);
  }
  ASSERT_EQ_INT(py_accepted(rec), N_SERIES);
  bool covered[N_SERIES] = {false};
  json_t *first = NULL;
  size_t i;
  json_t *r;
  json_array_foreach(rec, i, r) {
    ASSERT_TRUE(json_is_true(json_object_get(r, "accepted")));
    json_t *b = json_loads(fx_jstr(r, "body"), 0, NULL);
    ASSERT_TRUE(b != NULL);
    ASSERT_EQ_STR(fx_jstr(b, "msg_id"), fx_jstr(r, "idempotency_key"));
    ASSERT_EQ_STR(fx_jstr(b, "status"), "firing");
    for (size_t s = 0; s < N_SERIES; s++)
      if (!strcmp(fx_jstr(b, "symbol"), all[s].symbol) &&
          !strcmp(fx_jstr(b, "timeframe"), coin_tf_name(all[s].tf))) {
        ASSERT_FALSE(covered[s]); /* one alert per series */
        covered[s] = true;
      }
    json_decref(b);
    /* signed when sent: t is within seconds of now */
    int64_t t = fx_jint(r, "t");
    ASSERT_TRUE(t >= now / 1000 - 1 && t <= fx_now_ms() / 1000 + 1);
    if (first == NULL)
      first = r;
  }
  for (size_t s = 0; s < N_SERIES; s++)
    ASSERT_TRUE(covered[s]);

  /* a tampered body with the captured headers: refused */
  char sig[200], ts[32];
  snprintf(sig, sizeof(sig), "%s", fx_jstr(first, "signature"));
  snprintf(ts, sizeof(ts), "%s", fx_jstr(first, "timestamp_header"));
  char *body = strdup(fx_jstr(first, "body"));
  int64_t t0 = fx_jint(first, "t");
  char *fire = strstr(body, "\"firing\"");
  ASSERT_TRUE(fire != NULL);
  memcpy(fire, "\"FIRING\"", 8);
  ASSERT_EQ_INT(py_post(sig, ts, body), 401);
  memcpy(fire, "\"firing\"", 8);
  /* the exact captured request replayed after the window: refused */
  while (fx_now_ms() / 1000 <= t0 + TOLERANCE_S)
    fx_sleep_ms(100);
  ASSERT_EQ_INT(py_post(sig, ts, body), 401);
  free(body);
  json_decref(rec);
  rec = py_records();
  size_t nr = json_array_size(rec);
  ASSERT_EQ_INT(nr, N_SERIES + 2);
  ASSERT_EQ_INT(py_accepted(rec), N_SERIES);
  ASSERT_EQ_STR(fx_jstr(json_array_get(rec, nr - 2), "reason"),
                "signature mismatch");
  ASSERT_EQ_STR(fx_jstr(json_array_get(rec, nr - 1), "reason"),
                "timestamp outside the replay window");
  json_decref(rec);

  /* Slack: every series listed, in one or two messages, all delivered */
  bool all_in = false;
  for (int64_t end = fx_now_ms() + 20000; !all_in && fx_now_ms() < end;) {
    all_in = true;
    for (size_t s = 0; s < N_SERIES && all_in; s++)
      all_in = slack_has(&slack, s);
    if (!all_in)
      fx_sleep_ms(100);
  }
  ASSERT_TRUE(all_in);
  size_t ns = fx_recv_count(&slack);
  ASSERT_TRUE(ns >= 1 && ns <= 2);
  for (size_t q = 0; q < ns; q++) {
    json_t *m = json_loads(slack.reqs[q].body, 0, NULL);
    ASSERT_TRUE(m != NULL);
    ASSERT_TRUE(json_array_size(json_object_get(m, "blocks")) >= 3);
    ASSERT_CONTAINS(fx_jstr(m, "text"), "alerts");
    json_decref(m);
  }
  ASSERT_CONTAINS(slack.reqs[0].body, SITE_URL "status.json|Monitor status>");
  int64_t delivered = -1;
  for (int k = 0; k < 50 && delivered != N_SERIES; k++) {
    delivered =
        fx_metric(&mon, "coin_monitor_sink_delivered_total{sink=\"slack-0\"}");
    if (delivered != N_SERIES)
      fx_sleep_ms(100);
  }
  ASSERT_EQ_INT(delivered, N_SERIES);

  /* Alertmanager: the 25 alerts, each linking to its series page */
  size_t linked = 0;
  for (int64_t end = fx_now_ms() + 20000; fx_now_ms() < end;) {
    json_t *arr = fx_am_alerts(&am);
    linked = 0;
    size_t k;
    json_t *a;
    json_array_foreach(arr, k, a) {
      json_t *l = json_object_get(a, "labels");
      for (size_t s = 0; s < N_SERIES; s++) {
        char link[160];
        series_link(link, sizeof(link), s);
        if (!strcmp(fx_jstr(l, "symbol"), all[s].symbol) &&
            !strcmp(fx_jstr(l, "timeframe"), coin_tf_name(all[s].tf)) &&
            !strcmp(fx_jstr(a, "generatorURL"), link))
          linked++;
      }
    }
    json_decref(arr);
    if (linked >= N_SERIES)
      break;
    fx_sleep_ms(200);
  }
  ASSERT_TRUE(linked >= N_SERIES);

  fx_monitor_stop(&mon);
  fx_am_stop(&am);
  fx_recv_free(&slack);
}

int main(int argc, char **argv) {
  coin_test_main_begin(argc, argv);
  if (fx_setup(false) != 0) {
    fprintf(stderr, "cannot start nats-server\n");
    return 1;
  }
  RUN_TEST(wave);
  if (py.pid > 0 && coin_test_proc_alive(&py)) {
    coin_test_proc_signal(&py, SIGTERM);
    if (coin_test_proc_wait(&py, 5000) < 0)
      coin_test_proc_signal(&py, SIGKILL);
  }
  fx_teardown();
  return coin_test_summary();
}
