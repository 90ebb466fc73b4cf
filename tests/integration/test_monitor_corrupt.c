/* test_monitor_corrupt.c: what users see versus what the site claims, end to
 * end with coin-monitor as a child process and a real nats-server:
 * - no manifest yet: insufficient_data, said so, and no alert during the
 *   bootstrap grace; CoinInsufficientData when the grace ends, resolved by
 *   the first publish;
 * - truncated JSON (hash consistent), a wrong hash, a truncated manifest and
 *   a missing listed file are each corrupt within one evaluation period,
 *   raise CoinCorrupt and resolve when repaired; other series stay fresh;
 * - publish rewriting a file just before its manifest is not corrupt, nor is
 *   a file matching the previous_sha256 of a transition manifest;
 * - unchanged files are not hashed again on every pass;
 * - watermarks disagree with the site: publish lag and its cause, a site
 *   ahead of the ingest watermark;
 * - configuration errors: one line per variable, exit code 2. */
#include "test_monitor_util.h"

#define EVAL_MS 2000

static struct fx_monitor mon;
static struct fx_recv hook;
static struct fx_series site[3];

static const char *status_of(const char *symbol) {
  static char buf[64];
  json_t *s = fx_series_status(&mon, symbol, "1m");
  snprintf(buf, sizeof(buf), "%s", s ? fx_jstr(s, "status") : "?");
  json_decref(s);
  return buf;
}

/* Polls until symbol's status is want; returns the ms it took, -1 on
 * timeout. */
static int64_t wait_status(const char *symbol, const char *want,
                           int64_t timeout_ms) {
  int64_t t0 = fx_now_ms();
  while (fx_now_ms() - t0 < timeout_ms) {
    if (!strcmp(status_of(symbol), want))
      return fx_now_ms() - t0;
    fx_sleep_ms(40);
  }
  fprintf(stderr, "  %s still %s, want %s\n", symbol, status_of(symbol), want);
  return -1;
}

static void publish_all(void) {
  int64_t lc = coin_tf_last_closed(COIN_TF_1M, fx_now_ms());
  for (int i = 0; i < 3; i++) {
    site[i].last_open_ms = lc;
    site[i].hist_override = NULL;
  }
  fx_publish(site, 3);
}

/* The deployment every case works on, and what a new one shows before its
 * first manifest (setup: runs whatever the case filter). */
static void setup(void) {
  site[0] = (struct fx_series){
      .symbol = "BTCUSDT", .tf = COIN_TF_1M, .n_candles = 60, .listed = true};
  site[1] = site[0];
  site[1].symbol = "ETHUSDT";
  site[2] = site[0];
  site[2].symbol = "BNBUSDT";
  fx_recv_init(&hook);
  ASSERT_OK(fx_recv_start(&hook, 0));
  fx_monitor_init(&mon, "BTCUSDT,ETHUSDT,BNBUSDT");
  fx_monitor_env(&mon, "FRESHNESS_SOFT_AFTER_SECONDS_1m=240");
  fx_monitor_env(&mon, "FRESHNESS_HARD_AFTER_SECONDS_1m=480");
  fx_monitor_env(&mon, "MONITOR_EVAL_SECONDS=%d", EVAL_MS / 1000);
  fx_monitor_env(&mon, "MONITOR_CORRUPT_GRACE_MS=500");
  fx_monitor_env(&mon, "MONITOR_BOOTSTRAP_SECONDS=4");
  fx_monitor_env(&mon, "MONITOR_RETRY_BASE_MS=100");
  fx_monitor_env(&mon, "MONITOR_WEBHOOK_URLS=%s", hook.url);
  fx_monitor_env(&mon, "MONITOR_WEBHOOK_SECRET=%s", FX_SECRET);
  ASSERT_OK(fx_monitor_start(&mon, "corrupt"));

  ASSERT_TRUE(wait_status("BTCUSDT", "insufficient_data", 3000) >= 0);
  json_t *s = fx_series_status(&mon, "BTCUSDT", "1m");
  ASSERT_CONTAINS(fx_jstr(s, "detail"), "manifest.json not written yet");
  json_decref(s);
  char url[160];
  snprintf(url, sizeof(url), "%s/status", mon.base);
  s = fx_get_json(NULL, url);
  ASSERT_EQ_STR(fx_jstr(json_object_get(s, "overall"), "status"),
                "insufficient_data");
  ASSERT_EQ_STR(fx_jstr(json_object_get(s, "monitor"), "manifest"), "missing");
  json_decref(s);
  fx_sleep_ms(EVAL_MS + 500);
  ASSERT_EQ_INT(fx_recv_count(&hook), 0); /* bootstrap is not an alert */
  /* ... until the bootstrap grace (4 s) is over without any data */
  long i = fx_recv_wait(&hook, 0, "BTCUSDT", "CoinInsufficientData", "firing",
                        "insufficient_data", 4000, NULL);
  ASSERT_TRUE(i >= 0);
  json_t *j = fx_recv_json(&hook, i);
  ASSERT_EQ_STR(fx_jstr(j, "severity"), "warning");
  ASSERT_CONTAINS(fx_jstr(j, "summary"), "manifest.json not written yet");
  json_decref(j);

  publish_all();
  for (int k = 0; k < 3; k++) {
    ASSERT_TRUE(wait_status(site[k].symbol, "fresh", EVAL_MS + 1000) >= 0);
    ASSERT_TRUE(fx_recv_wait(&hook, 0, site[k].symbol, "CoinInsufficientData",
                             "resolved", NULL, 3000, NULL) >= 0);
  }
  pthread_mutex_lock(&hook.lock);
  for (size_t k = 0; k < hook.n; k++)
    free(hook.reqs[k].body);
  hook.n = 0;
  pthread_mutex_unlock(&hook.lock);
}

/* Each corruption: detected within one period, alerted, repaired. */
static void expect_corrupt(const char *symbol, const char *detail_has,
                           int64_t written_at) {
  int64_t took = wait_status(symbol, "corrupt", EVAL_MS + 2000);
  ASSERT_TRUE(took >= 0);
  int64_t after_write = fx_now_ms() - written_at;
  if (after_write > EVAL_MS + 600)
    fprintf(stderr, "  %s corrupt after %lld ms\n", symbol,
            (long long)after_write);
  ASSERT_TRUE(after_write <= EVAL_MS + 600);
  json_t *s = fx_series_status(&mon, symbol, "1m");
  ASSERT_CONTAINS(fx_jstr(s, "detail"), detail_has);
  json_decref(s);
  long i = fx_recv_wait(&hook, 0, symbol, "CoinCorrupt", "firing", "corrupt",
                        3000, NULL);
  ASSERT_TRUE(i >= 0);
  json_t *j = fx_recv_json(&hook, i);
  ASSERT_EQ_STR(fx_jstr(j, "severity"), "critical");
  ASSERT_CONTAINS(fx_jstr(j, "summary"), detail_has);
  json_decref(j);
}

static void expect_repaired(const char *symbol) {
  publish_all();
  ASSERT_TRUE(wait_status(symbol, "fresh", EVAL_MS + 1500) >= 0);
  ASSERT_TRUE(fx_recv_wait(&hook, 0, symbol, "CoinCorrupt", "resolved", NULL,
                           3000, NULL) >= 0);
  pthread_mutex_lock(&hook.lock);
  for (size_t i = 0; i < hook.n; i++)
    free(hook.reqs[i].body);
  hook.n = 0;
  pthread_mutex_unlock(&hook.lock);
}

static void truncated_json(void) {
  /* a truncated history.json that the manifest lists with its own hash:
   * the bytes are what publish wrote, and they do not parse */
  char path[600], *full = NULL;
  size_t len = 0;
  snprintf(path, sizeof(path), "%s/v1/binance/BTCUSDT/1m/history.json",
           fx_site);
  ASSERT_OK(coin_file_read(&full, &len, path, 1 << 24));
  full[len / 2] = '\0';
  site[0].hist_override = full;
  int64_t t = fx_now_ms();
  ASSERT_OK(fx_write_site(site, 3));
  expect_corrupt("BTCUSDT", "JSON error", t);
  ASSERT_EQ_STR(status_of("ETHUSDT"), "fresh");
  ASSERT_EQ_STR(status_of("BNBUSDT"), "fresh");
  free(full);
  site[0].hist_override = NULL;
  expect_repaired("BTCUSDT");
}

static void wrong_hash(void) {
  /* same size, one digit changed, manifest untouched */
  char rel[200], *data = NULL;
  size_t len = 0;
  snprintf(rel, sizeof(rel), "v1/binance/ETHUSDT/1m/history.json");
  char path[600];
  snprintf(path, sizeof(path), "%s/%s", fx_site, rel);
  ASSERT_OK(coin_file_read(&data, &len, path, 1 << 24));
  char *p = strstr(data, "100.00");
  ASSERT_TRUE(p != NULL);
  p[0] = '9';
  int64_t t = fx_now_ms();
  ASSERT_OK(fx_write_file(rel, data, len));
  free(data);
  expect_corrupt("ETHUSDT", "sha256", t);
  ASSERT_EQ_STR(status_of("BTCUSDT"), "fresh");
  expect_repaired("ETHUSDT");
}

static void truncated_manifest(void) {
  char path[600], *data = NULL;
  size_t len = 0;
  snprintf(path, sizeof(path), "%s/manifest.json", fx_site);
  ASSERT_OK(coin_file_read(&data, &len, path, 1 << 24));
  int64_t t = fx_now_ms();
  ASSERT_OK(fx_write_file("manifest.json", data, len / 3));
  free(data);
  for (int i = 0; i < 3; i++)
    expect_corrupt(site[i].symbol, "manifest.json: JSON error", t);
  char url[160];
  snprintf(url, sizeof(url), "%s/status", mon.base);
  json_t *s = fx_get_json(NULL, url);
  ASSERT_EQ_STR(fx_jstr(json_object_get(s, "overall"), "status"), "corrupt");
  ASSERT_EQ_STR(fx_jstr(json_object_get(s, "monitor"), "manifest"), "corrupt");
  json_decref(s);
  expect_repaired("BTCUSDT");
}

static void missing_file(void) {
  char path[600];
  snprintf(path, sizeof(path), "%s/v1/binance/BNBUSDT/1m/prediction.json",
           fx_site);
  int64_t t = fx_now_ms();
  ASSERT_EQ_INT(unlink(path), 0);
  expect_corrupt("BNBUSDT", "missing", t);
  expect_repaired("BNBUSDT");
}

static void rewrite_is_not_corrupt(void) {
  /* publish writes history.json, then (150 ms later) the manifest: the
   * monitor may see the new file with the old manifest, which is not
   * corruption */
  int64_t hashed0 = fx_metric(&mon, "coin_monitor_files_hashed_total");
  for (int round = 0; round < 3; round++) {
    fx_sleep_ms(1000); /* generated_at changes: new bytes, new hash */
    int64_t now = fx_now_ms();
    char *h = fx_history(&site[0], now);
    char rel[200];
    snprintf(rel, sizeof(rel), "v1/binance/BTCUSDT/1m/history.json");
    int64_t passes = fx_metric(&mon, "coin_monitor_passes_total");
    ASSERT_OK(fx_write_file(rel, h, strlen(h)));
    free(h);
    /* a watermark change makes the monitor look now, inside the grace
     * period (500 ms), while the manifest still describes the old file */
    ASSERT_OK(fx_set_wm("publish", "ETHUSDT", COIN_TF_1M,
                        site[1].last_open_ms - (round + 1) * COIN_MINUTE_MS));
    for (int i = 0; i < 8; i++) {
      ASSERT_EQ_STR(status_of("BTCUSDT"), "fresh");
      fx_sleep_ms(40);
    }
    ASSERT_TRUE(fx_now_ms() - now < 500);
    ASSERT_TRUE(fx_metric(&mon, "coin_monitor_passes_total") > passes);
    ASSERT_OK(fx_write_site(site, 3));
  }
  fx_sleep_ms(EVAL_MS + 500);
  ASSERT_EQ_STR(status_of("BTCUSDT"), "fresh");
  ASSERT_EQ_INT(fx_recv_find(&hook, 0, "BTCUSDT", "CoinCorrupt", NULL, NULL),
                -1);
  ASSERT_TRUE(fx_metric(&mon, "coin_monitor_files_hashed_total") > hashed0);
  /* nothing changes: nothing is hashed again */
  fx_sleep_ms(EVAL_MS);
  int64_t a = fx_metric(&mon, "coin_monitor_files_hashed_total");
  int64_t passes = fx_metric(&mon, "coin_monitor_passes_total");
  fx_sleep_ms(2 * EVAL_MS + 200);
  ASSERT_TRUE(fx_metric(&mon, "coin_monitor_passes_total") >= passes + 2);
  ASSERT_EQ_INT(fx_metric(&mon, "coin_monitor_files_hashed_total"), a);
}

/* The publish contract (docs/static-site.md, "Consistency"): a transition
 * manifest lists a file about to change with its new bytes/sha256 and the
 * previous_bytes/previous_sha256 of the file still on disk. Either content is
 * fine, however long publish takes. */
static void transition_manifest(void) {
  char path[600], *man = NULL, *h0 = NULL;
  size_t man_len = 0, h0_len = 0;
  snprintf(path, sizeof(path), "%s/manifest.json", fx_site);
  ASSERT_OK(coin_file_read(&man, &man_len, path, 1 << 24));
  snprintf(path, sizeof(path), "%s/v1/binance/BTCUSDT/1m/history.json",
           fx_site);
  ASSERT_OK(coin_file_read(&h0, &h0_len, path, 1 << 24));
  fx_sleep_ms(5);
  char *h1 = fx_history(&site[0], fx_now_ms());
  char s0[COIN_SHA256_HEX_BYTES], s1[COIN_SHA256_HEX_BYTES];
  coin_sha256_hex(s0, h0, h0_len);
  coin_sha256_hex(s1, h1, strlen(h1));
  ASSERT_TRUE(strcmp(s0, s1) != 0);
  char old_entry[300], new_entry[500];
  snprintf(old_entry, sizeof(old_entry), "\"bytes\":%zu,\"sha256\":\"%s\"",
           h0_len, s0);
  snprintf(new_entry, sizeof(new_entry),
           "\"bytes\":%zu,\"sha256\":\"%s\",\"previous_bytes\":%zu,"
           "\"previous_sha256\":\"%s\"",
           strlen(h1), s1, h0_len, s0);
  char *at = strstr(man, old_entry);
  ASSERT_TRUE(at != NULL);
  size_t cap = man_len + strlen(new_entry) + 64;
  char *tm = malloc(cap);
  snprintf(tm, cap, "%.*s%s%s", (int)(at - man), man, new_entry,
           at + strlen(old_entry));
  free(man);
  ASSERT_OK(fx_write_file("manifest.json", tm, strlen(tm)));
  free(tm);
  /* the old file stays: fine, well past the grace period and a pass */
  int64_t until = fx_now_ms() + EVAL_MS + 1000;
  while (fx_now_ms() < until) {
    ASSERT_EQ_STR(status_of("BTCUSDT"), "fresh");
    fx_sleep_ms(100);
  }
  /* the new file lands: fine too */
  char rel[200];
  snprintf(rel, sizeof(rel), "v1/binance/BTCUSDT/1m/history.json");
  ASSERT_OK(fx_write_file(rel, h1, strlen(h1)));
  until = fx_now_ms() + EVAL_MS + 1000;
  while (fx_now_ms() < until) {
    ASSERT_EQ_STR(status_of("BTCUSDT"), "fresh");
    fx_sleep_ms(100);
  }
  /* the final manifest */
  site[0].hist_override = h1;
  ASSERT_OK(fx_write_site(site, 3));
  site[0].hist_override = NULL;
  free(h0);
  free(h1);
  fx_sleep_ms(EVAL_MS);
  ASSERT_EQ_STR(status_of("BTCUSDT"), "fresh");
  ASSERT_EQ_INT(fx_recv_find(&hook, 0, "BTCUSDT", "CoinCorrupt", NULL, NULL),
                -1);
}

static void watermarks_disagree(void) {
  /* ETHUSDT: the site is 6 candles behind the ingest watermark, enough to
   * be soft_stale: the cause is publish, not ingest */
  int64_t lc = coin_tf_last_closed(COIN_TF_1M, fx_now_ms());
  site[1].last_open_ms = lc - 6 * COIN_MINUTE_MS;
  ASSERT_OK(fx_set_wm("ingest", "ETHUSDT", COIN_TF_1M, lc));
  ASSERT_OK(fx_set_wm("publish", "ETHUSDT", COIN_TF_1M, site[1].last_open_ms));
  ASSERT_OK(fx_write_site(site, 3));
  /* BNBUSDT: the site shows a candle the ingest watermark does not cover */
  ASSERT_OK(fx_set_wm("ingest", "BNBUSDT", COIN_TF_1M,
                      site[2].last_open_ms - 2 * COIN_MINUTE_MS));
  ASSERT_TRUE(wait_status("ETHUSDT", "soft_stale", EVAL_MS + 1500) >= 0);
  json_t *s = fx_series_status(&mon, "ETHUSDT", "1m");
  json_t *w = json_object_get(s, "watermarks");
  ASSERT_EQ_STR(fx_jstr(s, "cause"), "publish");
  ASSERT_EQ_INT(fx_jint(w, "ingest_ms"), lc);
  ASSERT_EQ_INT(fx_jint(w, "site_ms"), site[1].last_open_ms);
  ASSERT_EQ_INT(fx_jint(w, "publish_lag_candles"), 6);
  ASSERT_CONTAINS(fx_jstr(s, "detail"), "publish has not written it");
  json_decref(s);
  long i = fx_recv_wait(&hook, 0, "ETHUSDT", "CoinSoftStale", "firing", NULL,
                        3000, NULL);
  ASSERT_TRUE(i >= 0);
  json_t *j = fx_recv_json(&hook, i);
  ASSERT_CONTAINS(fx_jstr(j, "summary"), "publish has not written it");
  json_decref(j);
  /* the watermark change alone triggers a pass (sooner than the period) */
  s = fx_series_status(&mon, "BNBUSDT", "1m");
  for (int k = 0;
       k < 40 && !json_is_true(json_object_get(json_object_get(s, "watermarks"),
                                               "site_ahead_of_ingest"));
       k++) {
    json_decref(s);
    fx_sleep_ms(100);
    s = fx_series_status(&mon, "BNBUSDT", "1m");
  }
  ASSERT_TRUE(json_is_true(json_object_get(json_object_get(s, "watermarks"),
                                           "site_ahead_of_ingest")));
  ASSERT_CONTAINS(fx_jstr(s, "detail"), "beyond the ingest watermark");
  json_decref(s);
  ASSERT_TRUE(fx_metric(&mon, "coin_monitor_series_site_ahead_of_ingest") == 1);
  ASSERT_TRUE(fx_metric(&mon, "coin_monitor_series_publish_lagging") >= 1);
  fx_monitor_stop(&mon);
}

static void config_errors(void) {
  char bin[512], logp[600], *out = NULL;
  size_t len = 0;
  ASSERT_OK(coin_test_bin(bin, sizeof(bin), "coin-monitor"));
  snprintf(logp, sizeof(logp), "%s/config.log", fx_dir);
  char *argv[] = {bin, NULL};
  char *env[] = {"MONITOR_EVAL_SECONDS=0",
                 "MONITOR_WEBHOOK_URLS=http://127.0.0.1:1/x",
                 "MONITOR_SLACK_URLS=ftp://hooks.example/T0/B0/secret",
                 "FRESHNESS_SOFT_AFTER_SECONDS_1m=500",
                 "FRESHNESS_HARD_AFTER_SECONDS_1m=400",
                 NULL};
  struct coin_test_proc p;
  ASSERT_OK(coin_test_proc_start(&p, argv, env, logp));
  ASSERT_EQ_INT(coin_test_proc_wait(&p, 10000), 2);
  ASSERT_OK(coin_file_read(&out, &len, logp, 1 << 20));
  ASSERT_CONTAINS(out, "MONITOR_EVAL_SECONDS=\"0\"");
  ASSERT_CONTAINS(out, "MONITOR_WEBHOOK_SECRET: unset");
  ASSERT_CONTAINS(out, "MONITOR_SLACK_URLS");
  ASSERT_CONTAINS(out, "FRESHNESS_SOFT_AFTER_SECONDS_1m=500 must be below");
  ASSERT_TRUE(strstr(out, "secret") == NULL ||
              strstr(out, "B0/secret") == NULL); /* Slack URL redacted */
  free(out);
}

int main(int argc, char **argv) {
  coin_test_main_begin(argc, argv);
  if (fx_setup(false) != 0) {
    fprintf(stderr, "setup failed: %s\n", coin_error_last());
    return 1;
  }
  RUN_TEST(setup);
  RUN_TEST(truncated_json);
  RUN_TEST(wrong_hash);
  RUN_TEST(truncated_manifest);
  RUN_TEST(missing_file);
  RUN_TEST(rewrite_is_not_corrupt);
  RUN_TEST(transition_manifest);
  RUN_TEST(watermarks_disagree);
  RUN_TEST(config_errors);
  fx_monitor_stop(&mon);
  fx_recv_free(&hook);
  fx_teardown();
  return coin_test_summary();
}
