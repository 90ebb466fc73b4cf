/* test_monitor_probe.c: the availability probe end to end. A real nginx
 * (own prefix, free port, stopped by PID) serves the fixture site (the
 * files publish writes: manifest, history, prediction); coin-monitor probes
 * it every second at MONITOR_SITE_URL (with user-info, which must never
 * show up):
 * - while nginx serves, every probe is good;
 * - nginx stopped for OUTAGE_S seconds: the bad probes match the outage
 *   duration within +-2 probes, no good probe is counted meanwhile, and the
 *   1h SLI is good/all of the counts; probes turn good after the restart;
 * - a tampered history.json (same size, one byte changed, manifest not
 *   updated) makes probes bad with a reason naming the file and sha256;
 * - the user-info is in no log line, status.json or /metrics. */
#include "test_monitor_util.h"

#include <sys/stat.h>

#define OUTAGE_S 20
#define INTERVAL_S 1

static struct fx_monitor mon;
static struct fx_series ser[1];
static struct coin_test_proc nginx;
static int nginx_port;
static char nginx_prefix[400];

static int nginx_start(void) {
  char conf[600], logp[600];
  snprintf(conf, sizeof(conf), "%s/nginx.conf", nginx_prefix);
  FILE *f = fopen(conf, "w");
  if (f == NULL)
    return -1;
  fprintf(f,
          "%sworker_processes 1;\npid %s/nginx.pid;\n"
          "error_log %s/error.log warn;\nevents { worker_connections 64; }\n"
          "http {\n  client_body_temp_path %s/body;\n"
          "  proxy_temp_path %s/proxy;\n  fastcgi_temp_path %s/fcgi;\n"
          "  uwsgi_temp_path %s/uwsgi;\n  scgi_temp_path %s/scgi;\n"
          "  access_log off;\n"
          "  server {\n    listen 127.0.0.1:%d;\n    root %s;\n"
          "    location / { try_files $uri =404; }\n  }\n}\n",
          geteuid() == 0 ? "user root;\n" : "", nginx_prefix, nginx_prefix,
          nginx_prefix, nginx_prefix, nginx_prefix, nginx_prefix, nginx_prefix,
          nginx_port, fx_site);
  fclose(f);
  snprintf(logp, sizeof(logp), "%s/stdout.log", nginx_prefix);
  char bin[] = "/usr/sbin/nginx";
  char p[] = "-p", c[] = "-c", g[] = "-g", daemon[] = "daemon off;";
  char *argv[] = {bin, p, nginx_prefix, c, conf, g, daemon, NULL};
  if (coin_test_proc_start(&nginx, argv, NULL, logp) != 0)
    return -1;
  char url[128];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/manifest.json", nginx_port);
  for (int i = 0; i < 200; i++) {
    if (fx_http(NULL, "GET", url) == 200)
      return 0;
    if (!coin_test_proc_alive(&nginx))
      break;
    fx_sleep_ms(50);
  }
  coin_test_sh("cat %s/error.log %s >&2", nginx_prefix, logp);
  return -1;
}

static void nginx_stop(void) {
  if (nginx.pid > 0 && coin_test_proc_alive(&nginx)) {
    coin_test_proc_signal(&nginx, SIGTERM);
    if (coin_test_proc_wait(&nginx, 10000) < 0)
      coin_test_proc_signal(&nginx, SIGKILL);
  }
  nginx.pid = 0;
}

/* The "probe" section of GET /status (a new reference) or NULL. */
static json_t *probe_status(void) {
  char url[128];
  long st = 0;
  snprintf(url, sizeof(url), "%s/status", mon.base);
  json_t *j = fx_get_json(&st, url);
  if (st != 200 || j == NULL) {
    json_decref(j);
    return NULL;
  }
  json_t *p = json_incref(json_object_get(j, "probe"));
  json_decref(j);
  return p;
}

static void totals(int64_t *good, int64_t *bad) {
  json_t *p = probe_status();
  json_t *t = json_object_get(p, "totals");
  *good = fx_jint(t, "good");
  *bad = fx_jint(t, "bad");
  json_decref(p);
}

static bool last_result(char *reason, size_t n) {
  json_t *p = probe_status();
  json_t *l = json_object_get(p, "last");
  bool good = l && !strcmp(fx_jstr(l, "result"), "good");
  snprintf(reason, n, "%s", l ? fx_jstr(l, "reason") : "");
  json_decref(p);
  return good;
}

/* Waits until the last probe is (want) good; false on timeout. */
static bool wait_last(bool want, int64_t timeout_ms, char *reason, size_t n) {
  int64_t t0 = fx_now_ms();
  while (fx_now_ms() - t0 < timeout_ms) {
    json_t *p = probe_status();
    bool have = p && json_is_object(json_object_get(p, "last"));
    json_decref(p);
    if (have && last_result(reason, n) == want)
      return true;
    fx_sleep_ms(200);
  }
  return false;
}

static void good_then_outage(void) {
  char reason[400];
  ASSERT_TRUE(wait_last(true, 15000, reason, sizeof(reason)));
  ASSERT_CONTAINS(reason, "ok: manifest and 2 of 2 files");
  fx_sleep_ms(5000);
  int64_t g0, b0;
  totals(&g0, &b0);
  ASSERT_EQ_INT(b0, 0);
  ASSERT_TRUE(g0 >= 4);

  int64_t stop_at = fx_now_ms();
  nginx_stop();
  fx_sleep_ms(OUTAGE_S * 1000);
  int64_t g1, b1;
  totals(&g1, &b1);
  ASSERT_TRUE(!last_result(reason, sizeof(reason)));
  ASSERT_CONTAINS(reason, "manifest.json: unreachable");
  ASSERT_OK(nginx_start());
  int64_t start_at = fx_now_ms();
  ASSERT_TRUE(wait_last(true, 10000, reason, sizeof(reason)));
  int64_t g2, b2;
  totals(&g2, &b2);
  int64_t outage_probes = (start_at - stop_at) / (INTERVAL_S * 1000);
  fprintf(stderr,
          "  outage %lld ms: bad %lld (expected %lld), good %lld->%lld\n",
          (long long)(start_at - stop_at), (long long)(b2 - b0),
          (long long)outage_probes, (long long)g0, (long long)g2);
  /* the good probes stopped with nginx (at most the one in flight) */
  ASSERT_LE_INT(g1 - g0, 1);
  ASSERT_LE_INT(b2 - b0, outage_probes + 2);
  ASSERT_LE_INT(outage_probes - 2, b2 - b0);

  /* the SLI over 1h is good/all of what was counted */
  json_t *p = probe_status();
  json_t *w = json_object_get(json_object_get(p, "windows"), "1h");
  int64_t all = fx_jint(w, "all"), good = fx_jint(w, "good");
  int64_t tg, tb;
  totals(&tg, &tb);
  ASSERT_LE_INT(tg + tb - 2, all); /* a probe may land between the reads */
  ASSERT_LE_INT(all, tg + tb + 2);
  ASSERT_LE_INT(tb - 1, all - good);
  ASSERT_LE_INT(all - good, tb + 1);
  double sli = json_real_value(json_object_get(w, "sli"));
  ASSERT_NEAR(sli, (double)good / (double)all, 1e-9);
  ASSERT_NEAR(json_number_value(json_object_get(p, "slo")), 0.999, 1e-12);
  json_decref(p);
}

static void tampered_file(void) {
  char rel[160], path[640], reason[400];
  fx_path(rel, sizeof(rel), &ser[0], "history.json");
  snprintf(path, sizeof(path), "%s/%s", fx_site, rel);
  char *h = NULL;
  size_t len = 0;
  ASSERT_OK(coin_file_read(&h, &len, path, 1 << 24));
  ASSERT_TRUE(len > 10);
  /* one digit of a price changes: same size, other hash */
  char *d = strstr(h, "100.00");
  ASSERT_TRUE(d != NULL);
  d[0] = '9';
  ASSERT_OK(coin_file_write_atomic(path, h, len));
  free(h);
  ASSERT_TRUE(wait_last(false, 10000, reason, sizeof(reason)));
  ASSERT_CONTAINS(reason, rel);
  ASSERT_CONTAINS(reason, "sha256");
  ASSERT_CONTAINS(reason, "does not match the manifest");
  /* and the metrics count bad probes */
  char url[128], *body = NULL;
  snprintf(url, sizeof(url), "%s/metrics", mon.base);
  ASSERT_EQ_INT(fx_http(&body, "GET", url), 200);
  ASSERT_CONTAINS(body, "coin_monitor_probe_total{result=\"bad\"}");
  ASSERT_CONTAINS(body, "coin_monitor_probe_sli{window=\"1h\"}");
  ASSERT_CONTAINS(body, "coin_monitor_probe_burn_rate{window=\"5m\"}");
  ASSERT_CONTAINS(body, "coin_monitor_probe_last_duration_seconds");
  ASSERT_TRUE(strstr(body, "probe-secret") == NULL);
  free(body);
  /* a republished site is good again */
  ASSERT_OK(fx_write_site(ser, 1));
  ASSERT_TRUE(wait_last(true, 10000, reason, sizeof(reason)));
}

static void no_user_info_anywhere(void) {
  char url[128], *body = NULL;
  snprintf(url, sizeof(url), "%s/status", mon.base);
  ASSERT_EQ_INT(fx_http(&body, "GET", url), 200);
  ASSERT_TRUE(strstr(body, "probe-secret") == NULL);
  ASSERT_CONTAINS(body, "\"probe\":{\"url\":");
  free(body);
  ASSERT_EQ_INT(coin_test_sh("! grep -q probe-secret %s", mon.proc.log), 0);
  ASSERT_EQ_INT(coin_test_sh("grep -q 'site probe bad' %s", mon.proc.log), 0);
}

int main(int argc, char **argv) {
  coin_test_main_begin(argc, argv);
  if (access("/usr/sbin/nginx", X_OK) != 0) {
    fprintf(stderr, "SKIP: /usr/sbin/nginx not installed\n");
    return 0;
  }
  if (fx_setup(false) != 0) {
    fprintf(stderr, "setup failed: %s\n", coin_error_last());
    return 1;
  }
  chmod(fx_dir, 0755); /* nginx workers may run as another user */
  snprintf(nginx_prefix, sizeof(nginx_prefix), "%s/nginx", fx_dir);
  mkdir(nginx_prefix, 0755);
  nginx_port = coin_test_free_port();
  int64_t now = fx_now_ms();
  ser[0] = (struct fx_series){.symbol = "BTCUSDT",
                              .tf = COIN_TF_1M,
                              .last_open_ms = coin_tf_floor(COIN_TF_1M, now) -
                                              COIN_MINUTE_MS,
                              .n_candles = 30,
                              .listed = true};
  if (fx_publish(ser, 1) != 0 || nginx_start() != 0) {
    fprintf(stderr, "site or nginx did not start\n");
    return 1;
  }
  fx_monitor_init(&mon, "BTCUSDT");
  fx_monitor_env(&mon,
                 "MONITOR_SITE_URL=http://probe:probe-secret@127.0.0.1:%d/",
                 nginx_port);
  fx_monitor_env(&mon, "MONITOR_PROBE_INTERVAL_SECONDS=%d", INTERVAL_S);
  if (fx_monitor_start(&mon, "probe") != 0) {
    fprintf(stderr, "coin-monitor did not start\n");
    return 1;
  }
  RUN_TEST(good_then_outage);
  RUN_TEST(tampered_file);
  RUN_TEST(no_user_info_anywhere);
  fx_monitor_stop(&mon);
  nginx_stop();
  fx_teardown();
  return coin_test_summary();
}
