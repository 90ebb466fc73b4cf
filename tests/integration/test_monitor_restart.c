/* test_monitor_restart.c: coin-monitor's promises across crashes and dead
 * sinks, end to end against a real nats-server:
 * - SIGKILL mid-escalation, the monitor down for a while, then restarted:
 *   no alert fires twice (no new episode, no new key), the escalation comes
 *   when the condition's age says (not restart + escalation time), and the
 *   repeat count of an escalated alert continues after another SIGKILL;
 * - a webhook sink that is down (connection refused, then 503) while alerts
 *   happen: after it returns every alert in the stream is delivered, in
 *   order, none lost, duplicates only with the same Idempotency-Key. */
#include "test_monitor_util.h"

static struct fx_monitor mon;

/* Starts a "stopped ingest" for symbol: its last candle two minutes back,
 * so the next one is overdue since T0 (the current minute). Returns the
 * soft threshold (s) such that the series is fresh for ~3 s more. */
static int64_t stop_ingest(struct fx_series *s, const char *symbol,
                           int64_t *t0) {
  int64_t now = fx_now_ms();
  *t0 = coin_tf_floor(COIN_TF_1M, now);
  *s = (struct fx_series){.symbol = symbol,
                          .tf = COIN_TF_1M,
                          .last_open_ms = *t0 - 2 * COIN_MINUTE_MS,
                          .n_candles = 20,
                          .listed = true};
  return (now - *t0 + 999) / 1000 + 3;
}

static void expect_key(char keys[][200], size_t nk, size_t i,
                       const char *alert_id, const char *tail) {
  char want[260];
  snprintf(want, sizeof(want), "%s.%s", alert_id, tail);
  if (i >= nk || strcmp(keys[i], want) != 0) {
    for (size_t k = 0; k < nk; k++)
      fprintf(stderr, "  key %zu: %s\n", k, keys[k]);
    fprintf(stderr, "  wanted key %zu: %s\n", i, want);
    coin_test_failed_flag = 1;
  }
}

/* ---- SIGKILL mid-escalation -------------------------------------------- */

static void kill_mid_escalation(void) {
  struct fx_series s;
  struct fx_recv hook;
  int64_t t0;
  int64_t soft = stop_ingest(&s, "BTCUSDT", &t0);
  int64_t hard = soft + 14;
  ASSERT_OK(fx_publish(&s, 1));
  fx_recv_init(&hook);
  ASSERT_OK(fx_recv_start(&hook, 0));
  fx_monitor_init(&mon, "BTCUSDT");
  fx_monitor_env(&mon, "FRESHNESS_SOFT_AFTER_SECONDS_1m=%lld", (long long)soft);
  fx_monitor_env(&mon, "FRESHNESS_HARD_AFTER_SECONDS_1m=%lld", (long long)hard);
  fx_monitor_env(&mon, "MONITOR_EVAL_SECONDS=1");
  fx_monitor_env(&mon, "MONITOR_SOFT_ESCALATE_SECONDS=6");
  fx_monitor_env(&mon, "MONITOR_HARD_ESCALATE_SECONDS=3");
  fx_monitor_env(&mon, "MONITOR_REPEAT_SECONDS=3");
  fx_monitor_env(&mon, "MONITOR_SINK_TIMEOUT_MS=1000");
  fx_monitor_env(&mon, "MONITOR_RETRY_BASE_MS=100");
  fx_monitor_env(&mon, "MONITOR_RETRY_MAX_SECONDS=1");
  fx_monitor_env(&mon, "MONITOR_WEBHOOK_URLS=%s", hook.url);
  fx_monitor_env(&mon, "MONITOR_WEBHOOK_SECRET=%s", FX_SECRET);
  ASSERT_OK(fx_monitor_start(&mon, "kill"));

  int64_t since = t0 + soft * 1000;
  char soft_id[160], hard_id[160];
  snprintf(soft_id, sizeof(soft_id), "CoinSoftStale.binance.BTCUSDT.1m.%lld",
           (long long)since);
  snprintf(hard_id, sizeof(hard_id), "CoinHardStale.binance.BTCUSDT.1m.%lld",
           (long long)(t0 + hard * 1000));

  long i0 = fx_recv_wait(&hook, 0, "BTCUSDT", "CoinSoftStale", "firing",
                         "soft_stale", (soft + 6) * 1000, NULL);
  ASSERT_TRUE(i0 >= 0);
  /* let the sink ack, then crash, and stay down past since + 4 s */
  fx_sleep_ms(300);
  coin_test_proc_signal(&mon.proc, SIGKILL);
  ASSERT_TRUE(fx_now_ms() < since + 4000);
  while (fx_now_ms() < since + 4000)
    fx_sleep_ms(50);
  ASSERT_OK(fx_monitor_start(&mon, "kill"));

  /* the same episode goes on: since kept, escalation at since + 6 s (a
   * timer restarted with the process would escalate after since + 10 s) */
  json_t *st = fx_series_status(&mon, "BTCUSDT", "1m");
  for (int i = 0;
       i < 40 && (!st || strcmp(fx_jstr(st, "status"), "soft_stale")); i++) {
    json_decref(st);
    fx_sleep_ms(50);
    st = fx_series_status(&mon, "BTCUSDT", "1m");
  }
  ASSERT_TRUE(st != NULL);
  ASSERT_EQ_STR(fx_jstr(st, "status"), "soft_stale");
  ASSERT_EQ_INT(fx_jint(st, "since_ms"), since);
  ASSERT_EQ_STR(fx_jstr(json_object_get(st, "alert"), "alert_id"), soft_id);
  json_decref(st);
  long i1 = fx_recv_wait(&hook, 0, "BTCUSDT", "CoinSoftStale", "firing",
                         "soft_stale_escalated", 8000, NULL);
  ASSERT_TRUE(i1 > i0);
  int64_t at = fx_recv_at(&hook, i1);
  ASSERT_TRUE(at >= since + 6000);
  ASSERT_TRUE(at < since + 9000);
  json_t *j = fx_recv_json(&hook, i1);
  ASSERT_EQ_INT(fx_jint(j, "repeat_count"), 1);
  ASSERT_EQ_STR(fx_jstr(j, "alert_id"), soft_id);
  json_decref(j);

  /* hard_stale_escalated repeats 1, 2; SIGKILL; the next one is 3 */
  long h1 = fx_recv_wait(&hook, 0, "BTCUSDT", "CoinHardStale", "firing",
                         "hard_stale_escalated", (hard + 8) * 1000, NULL);
  ASSERT_TRUE(h1 > i1);
  long h2 = fx_recv_wait(&hook, (size_t)h1 + 1, "BTCUSDT", "CoinHardStale",
                         "firing", "hard_stale_escalated", 6000, NULL);
  ASSERT_TRUE(h2 > h1);
  j = fx_recv_json(&hook, h2);
  ASSERT_EQ_INT(fx_jint(j, "repeat_count"), 2);
  json_decref(j);
  fx_sleep_ms(300);
  coin_test_proc_signal(&mon.proc, SIGKILL);
  int64_t killed = fx_now_ms();
  ASSERT_OK(fx_monitor_start(&mon, "kill"));
  long h3 = fx_recv_wait(&hook, (size_t)h2 + 1, "BTCUSDT", "CoinHardStale",
                         NULL, NULL, 8000, NULL);
  ASSERT_TRUE(h3 > h2);
  j = fx_recv_json(&hook, h3);
  ASSERT_EQ_STR(fx_jstr(j, "status"), "firing");
  ASSERT_EQ_INT(fx_jint(j, "repeat_count"), 3);
  json_decref(j);
  /* not re-sent at start: it came a repeat period after the last one */
  ASSERT_TRUE(fx_recv_at(&hook, h3) >= fx_recv_at(&hook, h2) + 2500);
  ASSERT_TRUE(fx_recv_at(&hook, h3) > killed);

  /* recovery */
  s.last_open_ms = coin_tf_last_closed(COIN_TF_1M, fx_now_ms());
  ASSERT_OK(fx_publish(&s, 1));
  long r = fx_recv_wait(&hook, 0, "BTCUSDT", "CoinHardStale", "resolved", NULL,
                        6000, NULL);
  ASSERT_TRUE(r > h3);
  fx_sleep_ms(1200);

  /* each key once, in order: nothing fired twice across two SIGKILLs */
  char keys[64][200];
  size_t nk = fx_recv_keys(&hook, keys, 64);
  j = fx_recv_json(&hook, r);
  int64_t last_rc = fx_jint(j, "repeat_count");
  json_decref(j);
  long sr =
      fx_recv_find(&hook, 0, "BTCUSDT", "CoinSoftStale", "resolved", NULL);
  ASSERT_TRUE(sr > 0);
  j = fx_recv_json(&hook, sr);
  int64_t soft_rc = fx_jint(j, "repeat_count");
  json_decref(j);
  size_t k = 0;
  char tail[64];
  for (int64_t i = 0; i <= soft_rc; i++) {
    snprintf(tail, sizeof(tail), "firing.%lld", (long long)i);
    expect_key(keys, nk, k++, soft_id, tail);
  }
  snprintf(tail, sizeof(tail), "resolved.%lld", (long long)soft_rc);
  expect_key(keys, nk, k++, soft_id, tail);
  for (int64_t i = 0; i <= last_rc; i++) {
    snprintf(tail, sizeof(tail), "firing.%lld", (long long)i);
    expect_key(keys, nk, k++, hard_id, tail);
  }
  snprintf(tail, sizeof(tail), "resolved.%lld", (long long)last_rc);
  expect_key(keys, nk, k++, hard_id, tail);
  ASSERT_EQ_INT(nk, k);
  /* every request verifies */
  for (size_t i = 0; i < hook.n; i++)
    ASSERT_OK(fx_req_verify(&hook.reqs[i]));
  fx_monitor_stop(&mon);
  fx_recv_free(&hook);
}

/* ---- a webhook sink down for a while ----------------------------------- */

struct stream_ids {
  pthread_mutex_t lock;
  char ids[64][200];
  size_t n;
};

static void on_alert(const struct coin_bus_msg *msg, void *closure) {
  struct stream_ids *s = closure;
  const char *id = coin_bus_msg_header(msg, "Nats-Msg-Id");
  if (!id || !strstr(coin_bus_msg_subject(msg), ".ETHUSDT."))
    return;
  pthread_mutex_lock(&s->lock);
  if (s->n < 64)
    snprintf(s->ids[s->n++], 200, "%s", id);
  pthread_mutex_unlock(&s->lock);
}

static void sink_down(void) {
  struct fx_series s;
  struct fx_recv hook;
  int64_t t0;
  int64_t soft = stop_ingest(&s, "ETHUSDT", &t0);
  ASSERT_OK(fx_publish(&s, 1));
  fx_recv_init(&hook);
  int port = coin_test_free_port(); /* nobody listens there yet */
  snprintf(hook.url, sizeof(hook.url), "http://127.0.0.1:%d/hook", port);
  fx_monitor_init(&mon, "ETHUSDT");
  fx_monitor_env(&mon, "FRESHNESS_SOFT_AFTER_SECONDS_1m=%lld", (long long)soft);
  fx_monitor_env(&mon, "FRESHNESS_HARD_AFTER_SECONDS_1m=%lld",
                 (long long)(soft + 5));
  fx_monitor_env(&mon, "MONITOR_EVAL_SECONDS=1");
  fx_monitor_env(&mon, "MONITOR_SOFT_ESCALATE_SECONDS=2");
  fx_monitor_env(&mon, "MONITOR_HARD_ESCALATE_SECONDS=2");
  fx_monitor_env(&mon, "MONITOR_REPEAT_SECONDS=2");
  fx_monitor_env(&mon, "MONITOR_SINK_TIMEOUT_MS=1000");
  fx_monitor_env(&mon, "MONITOR_RETRY_BASE_MS=100");
  fx_monitor_env(&mon, "MONITOR_RETRY_MAX_SECONDS=1");
  fx_monitor_env(&mon, "MONITOR_WEBHOOK_URLS=%s", hook.url);
  fx_monitor_env(&mon, "MONITOR_WEBHOOK_SECRET=%s", FX_SECRET);
  ASSERT_OK(fx_monitor_start(&mon, "sinkdown"));

  /* alerts happen while the sink refuses connections */
  int64_t hard_esc_at = t0 + (soft + 5 + 2) * 1000;
  while (fx_now_ms() < hard_esc_at + 1500)
    fx_sleep_ms(50);
  ASSERT_EQ_INT(fx_recv_count(&hook), 0);
  char url[256], *body = NULL;
  snprintf(url, sizeof(url), "%s/metrics", mon.base);
  ASSERT_EQ_INT(fx_http(&body, "GET", url), 200);
  ASSERT_TRUE(strstr(body, "coin_monitor_sink_failures_total{sink=\"webhook-"
                           "0\"} 0\n") == NULL);
  free(body);
  /* then it answers 503 for a while */
  fx_recv_answer(&hook, 503);
  ASSERT_OK(fx_recv_start(&hook, port));
  int64_t until = fx_now_ms() + 2000;
  while (fx_now_ms() < until)
    fx_sleep_ms(50);
  ASSERT_TRUE(fx_recv_count(&hook) >= 1);
  /* it is back; the series recovers too */
  fx_recv_answer(&hook, 200);
  s.last_open_ms = coin_tf_last_closed(COIN_TF_1M, fx_now_ms());
  ASSERT_OK(fx_publish(&s, 1));
  long r = fx_recv_wait(&hook, 0, "ETHUSDT", "CoinHardStale", "resolved", NULL,
                        15000, NULL);
  ASSERT_TRUE(r >= 0);
  fx_sleep_ms(1500);

  /* what the stream holds for ETHUSDT */
  struct stream_ids ids = {.n = 0};
  pthread_mutex_init(&ids.lock, NULL);
  struct coin_bus_tap *tap = NULL;
  ASSERT_OK(
      coin_bus_tap_stream(&tap, fx_bus, "coin.alerts.>", 1, on_alert, &ids));
  int64_t end = fx_now_ms() + 3000;
  size_t last = (size_t)-1;
  while (fx_now_ms() < end) { /* until the replay settles */
    pthread_mutex_lock(&ids.lock);
    size_t n = ids.n;
    pthread_mutex_unlock(&ids.lock);
    if (n > 0 && n == last)
      break;
    last = n;
    fx_sleep_ms(300);
  }
  coin_bus_tap_free(tap);
  char keys[64][200];
  size_t nk = fx_recv_keys(&hook, keys, 64);
  ASSERT_TRUE(ids.n >= 5); /* fire, escalate, resolve, fire, escalate... */
  ASSERT_EQ_INT(nk, ids.n);
  for (size_t i = 0; i < ids.n && i < nk; i++)
    ASSERT_EQ_STR(keys[i], ids.ids[i]);
  /* failed attempts were retried with the same key and body */
  size_t refused = 0;
  for (size_t i = 0; i < hook.n; i++) {
    if (hook.reqs[i].answered == 503)
      refused++;
    ASSERT_OK(fx_req_verify(&hook.reqs[i]));
  }
  ASSERT_TRUE(refused >= 1);
  ASSERT_CONTAINS(keys[0], "CoinSoftStale.binance.ETHUSDT.1m.");
  ASSERT_CONTAINS(keys[0], ".firing.0");
  ASSERT_EQ_INT(hook.reqs[0].answered, 503);
  ASSERT_EQ_STR(hook.reqs[0].idem, keys[0]);
  fx_monitor_stop(&mon);
  fx_recv_free(&hook);
}

/* ---- bad stored states ------------------------------------------------ */

/* Values in KV coin_monitor state.* that are not states (not JSON, JSON of
 * the wrong shape, an unknown state) are ignored at start, each said once
 * with its key and counted; the monitor runs and judges those series
 * afresh from the site. */
static void bad_state_records_are_ignored(void) {
  struct fx_series s[3];
  int64_t now = fx_now_ms();
  const char *syms[] = {"BTCUSDT", "ETHUSDT", "SOLUSDT"};
  for (int i = 0; i < 3; i++)
    s[i] =
        (struct fx_series){.symbol = syms[i],
                           .tf = COIN_TF_1M,
                           .last_open_ms = coin_tf_last_closed(COIN_TF_1M, now),
                           .n_candles = 20,
                           .listed = true};
  ASSERT_OK(fx_publish(s, 3));
  struct coin_bus_kv *st = NULL;
  struct coin_bus_kv_config kc = {.bucket = COIN_KV_MONITOR, .history = 1};
  ASSERT_OK(coin_bus_kv_open(&st, fx_bus, COIN_KV_MONITOR) == 0
                ? 0
                : coin_bus_kv_ensure(&st, NULL, fx_bus, &kc));
  static const char *const bad[][2] = {
      {"state.binance.BTCUSDT.1m", "not json {"},
      {"state.binance.ETHUSDT.1m", "{\"state\":\"on_fire\",\"at_ms\":1}"}};
  for (int i = 0; i < 2; i++)
    ASSERT_OK(
        coin_bus_kv_put(NULL, st, bad[i][0], bad[i][1], strlen(bad[i][1])));
  coin_bus_kv_free(st);
  fx_monitor_init(&mon, "BTCUSDT,ETHUSDT,SOLUSDT");
  fx_monitor_env(&mon, "MONITOR_EVAL_SECONDS=1");
  ASSERT_OK(fx_monitor_start(&mon, "badstate"));
  /* /healthz answers before the lease is taken and the states loaded: the
   * counter appears once the replica is active */
  int64_t bad_records = -1;
  for (int i = 0; i < 100 && bad_records < 0; i++) {
    bad_records = fx_metric(&mon, "coin_monitor_state_bad_records_total");
    if (bad_records < 0)
      fx_sleep_ms(100);
  }
  ASSERT_EQ_INT(bad_records, 2);
  for (int i = 0; i < 2; i++)
    ASSERT_EQ_INT(coin_test_sh("test $(grep -c 'state record ignored.*%s' "
                               "'%s') -eq 1",
                               bad[i][0], mon.proc.log),
                  0);
  /* every series is judged from the site: fresh */
  bool fresh = false;
  for (int i = 0; i < 50 && !fresh; i++) {
    json_t *j = fx_series_status(&mon, "ETHUSDT", "1m");
    const char *status = j ? fx_jstr(j, "status") : NULL;
    fresh = status && !strcmp(status, "fresh");
    json_decref(j);
    if (!fresh)
      fx_sleep_ms(100);
  }
  ASSERT_TRUE(fresh);
  fx_monitor_stop(&mon);
}

/* ---- an active and a standby monitor ----------------------------------- */

static struct fx_monitor standby;

/* The common environment of both replicas; only SERVICE_ID differs. */
static void ha_init(struct fx_monitor *m, const char *id, int64_t soft,
                    const char *hook_url) {
  fx_monitor_init(m, "SOLUSDT");
  for (int i = 0; i < m->n_env; i++)
    if (!strncmp(m->env[i], "SERVICE_ID=", 11))
      snprintf(m->env[i], sizeof(m->env[i]), "SERVICE_ID=%s", id);
  fx_monitor_env(m, "FRESHNESS_SOFT_AFTER_SECONDS_1m=%lld", (long long)soft);
  fx_monitor_env(m, "FRESHNESS_HARD_AFTER_SECONDS_1m=%lld",
                 (long long)soft + 60);
  fx_monitor_env(m, "MONITOR_EVAL_SECONDS=1");
  fx_monitor_env(m, "MONITOR_SOFT_ESCALATE_SECONDS=8");
  fx_monitor_env(m, "MONITOR_REPEAT_SECONDS=3");
  fx_monitor_env(m, "MONITOR_SINK_TIMEOUT_MS=1000");
  fx_monitor_env(m, "MONITOR_RETRY_BASE_MS=100");
  fx_monitor_env(m, "MONITOR_RETRY_MAX_SECONDS=1");
  fx_monitor_env(m, "MONITOR_LEASE_SECONDS=3");
  fx_monitor_env(m, "MONITOR_WEBHOOK_URLS=%s", hook_url);
  fx_monitor_env(m, "MONITOR_WEBHOOK_SECRET=%s", FX_SECRET);
}

/* The "role" of the replica's /readyz ("" when it does not answer). */
static bool has_role(const struct fx_monitor *m, const char *role) {
  char url[128];
  snprintf(url, sizeof(url), "%s/readyz", m->base);
  long st = 0;
  json_t *j = fx_get_json(&st, url);
  bool ok = j && !strcmp(fx_jstr(j, "role"), role);
  json_decref(j);
  return ok;
}

static bool wait_role(const struct fx_monitor *m, const char *role, int ms) {
  for (int waited = 0; waited <= ms; waited += 50) {
    if (has_role(m, role))
      return true;
    fx_sleep_ms(50);
  }
  return false;
}

/* SOLUSDT made stale, a webhook receiver, replica a active and b standby
 * (lease 3 s), named a and b, homes ha and hb. */
static void ha_pair_start(struct fx_recv *hook, int64_t *soft, int64_t *t0,
                          const char *a, const char *b, const char *ha,
                          const char *hb) {
  struct fx_series s;
  *soft = stop_ingest(&s, "SOLUSDT", t0);
  ASSERT_OK(fx_publish(&s, 1));
  fx_recv_init(hook);
  ASSERT_OK(fx_recv_start(hook, 0));
  ha_init(&mon, a, *soft, hook->url);
  ha_init(&standby, b, *soft, hook->url);
  ASSERT_OK(fx_monitor_start(&mon, ha));
  ASSERT_TRUE(wait_role(&mon, "active", 10000));
  ASSERT_OK(fx_monitor_start(&standby, hb));
  ASSERT_TRUE(wait_role(&standby, "standby", 5000));
}

/* Two replicas, MONITOR_LEASE_SECONDS=3: the active one alerts, the standby
 * evaluates nothing; the active one SIGKILLed right after its first alert:
 * the standby takes over within the lease, carries the same episode on
 * (the escalation on time, from the stored state) and re-sends nothing. */
static void standby_takes_over_the_alerts(void) {
  struct fx_recv hook;
  int64_t t0, soft = 0;
  ha_pair_start(&hook, &soft, &t0, "mon-a", "mon-b", "ha-a", "ha-b");
  if (coin_test_failed_flag)
    return;
  ASSERT_EQ_INT(fx_metric(&standby, "coin_monitor_leader_active"), 0);

  int64_t since = t0 + soft * 1000;
  char soft_id[160];
  snprintf(soft_id, sizeof(soft_id), "CoinSoftStale.binance.SOLUSDT.1m.%lld",
           (long long)since);
  long i0 = fx_recv_wait(&hook, 0, "SOLUSDT", "CoinSoftStale", "firing",
                         "soft_stale", (soft + 6) * 1000, NULL);
  ASSERT_TRUE(i0 >= 0);
  fx_sleep_ms(300); /* the sink's ack */
  coin_test_proc_signal(&mon.proc, SIGKILL);
  int64_t killed = fx_now_ms();
  ASSERT_TRUE(wait_role(&standby, "active", 8000));
  int64_t took = fx_now_ms() - killed;
  fprintf(stderr, "  standby active %.1f s after the kill\n",
          (double)took / 1000.0);
  ASSERT_TRUE(took < 3000 + 1500); /* the lease, then one poll */
  ASSERT_EQ_INT(fx_metric(&standby, "coin_monitor_leader_active"), 1);

  /* the same episode, escalated on time by the new active replica */
  long i1 = fx_recv_wait(&hook, (size_t)i0 + 1, "SOLUSDT", "CoinSoftStale",
                         "firing", "soft_stale_escalated", 12000, NULL);
  ASSERT_TRUE(i1 > i0);
  int64_t at = fx_recv_at(&hook, i1);
  ASSERT_TRUE(at >= since + 8000);
  ASSERT_TRUE(at < since + 11000);
  json_t *j = fx_recv_json(&hook, i1);
  ASSERT_EQ_STR(fx_jstr(j, "alert_id"), soft_id);
  ASSERT_EQ_INT(fx_jint(j, "repeat_count"), 1);
  json_decref(j);
  /* the first alert was not sent again by the new replica */
  ASSERT_TRUE(fx_recv_find(&hook, (size_t)i0 + 1, "SOLUSDT", "CoinSoftStale",
                           "firing", "soft_stale") < 0);
  char keys[64][200];
  size_t nk = fx_recv_keys(&hook, keys, 64);
  expect_key(keys, nk, 0, soft_id, "firing.0");
  expect_key(keys, nk, 1, soft_id, "firing.1");
  for (size_t i = 0; i < hook.n; i++)
    ASSERT_OK(fx_req_verify(&hook.reqs[i]));
  fx_monitor_stop(&standby);
  fx_recv_free(&hook);
}

/* COIN_ALERTS as coin-monitor makes it. */
static int alerts_stream(void) {
  const char *subjects[] = {"coin.alerts.>"};
  struct coin_bus_stream_config sc = {.name = COIN_STREAM_ALERTS,
                                      .subjects = subjects,
                                      .subjects_len = 1,
                                      .duplicate_window_ms = 3600 * 1000,
                                      .max_msg_bytes = 1 << 20,
                                      .max_age_ms = 168LL * 3600 * 1000,
                                      .max_bytes = INT64_C(256) << 20};
  return coin_bus_stream_ensure(NULL, fx_bus, &sc);
}

/* A standby that takes the lease over while what it needs is away (here:
 * stream COIN_ALERTS deleted while it waited, as when NATS is electing a
 * leader) does not stop: it says so, tries again every second, keeps the
 * lease, and becomes active once the stream is back. Before, it exited 1
 * and the deployment had no monitor until a restart. */
static void standby_retries_its_activation(void) {
  struct fx_recv hook;
  int64_t t0, soft = 0;
  ha_pair_start(&hook, &soft, &t0, "mon-c", "mon-d", "ha-c", "ha-d");
  if (coin_test_failed_flag)
    return;
  ASSERT_OK(coin_bus_stream_delete(fx_bus, COIN_STREAM_ALERTS));
  coin_test_proc_signal(&mon.proc, SIGKILL);
  coin_test_proc_wait(&mon.proc, 5000);
  /* it holds the lease, cannot start its sinks, and tries again */
  int64_t retries = 0;
  for (int i = 0; i < 100 && retries < 2; i++) {
    fx_sleep_ms(100);
    retries = fx_metric(&standby, "coin_monitor_activation_retries_total");
  }
  ASSERT_TRUE(retries >= 2);
  ASSERT_TRUE(coin_test_proc_alive(&standby.proc));
  ASSERT_EQ_INT(fx_metric(&standby, "coin_monitor_leader_active"), 1);
  ASSERT_OK(alerts_stream());
  ASSERT_TRUE(wait_role(&standby, "active", 5000));
  /* and it alerts */
  long i0 = fx_recv_wait(&hook, 0, "SOLUSDT", "CoinSoftStale", "firing", NULL,
                         (soft + 10) * 1000, NULL);
  ASSERT_TRUE(i0 >= 0);
  fx_monitor_stop(&standby);
  fx_recv_free(&hook);
}

int main(int argc, char **argv) {
  coin_test_main_begin(argc, argv);
  if (fx_setup(false) != 0) {
    fprintf(stderr, "setup failed: %s\n", coin_error_last());
    return 1;
  }
  RUN_TEST(kill_mid_escalation);
  fx_monitor_stop(&mon);
  RUN_TEST(sink_down);
  fx_monitor_stop(&mon);
  RUN_TEST(bad_state_records_are_ignored);
  fx_monitor_stop(&mon);
  RUN_TEST(standby_takes_over_the_alerts);
  RUN_TEST(standby_retries_its_activation);
  fx_teardown();
  return coin_test_summary();
}
