/* test_monitor_watchdog.c: the dead-man switch, end to end against a real
 * nats-server and Prometheus Alertmanager 0.25 (with a Watchdog route like
 * the shipped one, receivers going nowhere; tests/deploy checks the shipped
 * files route it to the dead-man receiver only):
 * - a healthy monitor keeps `Watchdog` active in Alertmanager, with endsAt
 *   4 refresh periods ahead, and /readyz says the evaluation loop is ok;
 * - a pass that hangs (manifest.json is a FIFO nobody writes: a read that
 *   never returns, as on a file system that stopped answering) makes /readyz
 *   and /healthz 503 "stuck"/"stalled" and lets the Watchdog expire in
 *   Alertmanager while the process is still up; once the read returns the
 *   loop recovers and the Watchdog fires again;
 * - SIGKILL: the Watchdog expires in Alertmanager at its last endsAt, so a
 *   dead monitor is noticed instead of its alerts turning "resolved". */
#include "test_monitor_util.h"

#include <fcntl.h>
#include <sys/stat.h>

#define RESEND_S 5 /* MONITOR_ALERTMANAGER_RESEND_SECONDS: endsAt now+20 s */

static struct fx_monitor mon;
static struct fx_am am;

/* The Watchdog alert Alertmanager holds (a new reference), NULL if none;
 * *active tells whether its state is "active". */
static json_t *am_watchdog(bool *active) {
  json_t *arr = fx_am_alerts(&am);
  json_t *found = NULL;
  size_t i;
  json_t *a;
  *active = false;
  json_array_foreach(arr, i, a) {
    json_t *l = json_object_get(a, "labels");
    if (strcmp(fx_jstr(l, "alertname"), "Watchdog") != 0)
      continue;
    found = json_incref(a);
    *active = !strcmp(fx_jstr(json_object_get(a, "status"), "state"), "active");
  }
  json_decref(arr);
  return found;
}

/* Waits until the Watchdog is (want) active in Alertmanager; ms waited or
 * -1 on timeout. Alertmanager's /api/v2/alerts lists only unexpired alerts,
 * so "not active" = absent or no longer active. */
static int64_t wait_watchdog(bool want, int64_t timeout_ms) {
  int64_t t0 = fx_now_ms();
  while (fx_now_ms() - t0 < timeout_ms) {
    bool active = false;
    json_t *w = am_watchdog(&active);
    json_decref(w);
    if (active == want)
      return fx_now_ms() - t0;
    fx_sleep_ms(250);
  }
  return -1;
}

static int64_t parse_rfc3339_ms(const char *s) {
  struct tm tm;
  memset(&tm, 0, sizeof(tm));
  int ms = 0;
  if (sscanf(s, "%d-%d-%dT%d:%d:%d.%3d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
             &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) < 6)
    return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return (int64_t)timegm(&tm) * 1000 + ms;
}

static long get_json_field(const char *path, const char *key, char *out,
                           size_t n) {
  char url[160];
  snprintf(url, sizeof(url), "%s%s", mon.base, path);
  long st = 0;
  json_t *j = fx_get_json(&st, url);
  const json_t *v = json_object_get(j, key);
  if (json_is_string(v))
    snprintf(out, n, "%s", json_string_value(v));
  else if (json_is_boolean(v))
    snprintf(out, n, "%s", json_is_true(v) ? "true" : "false");
  else
    snprintf(out, n, "?");
  json_decref(j);
  return st;
}

static void start_monitor(void) {
  fx_monitor_init(&mon, "BTCUSDT");
  fx_monitor_env(&mon, "MONITOR_EVAL_SECONDS=1");
  fx_monitor_env(&mon, "MONITOR_ALERTMANAGER_RESEND_SECONDS=%d", RESEND_S);
  fx_monitor_env(&mon, "MONITOR_ALERTMANAGER_URLS=http://127.0.0.1:%d",
                 am.port);
  ASSERT_OK(fx_monitor_start(&mon, "watchdog"));
}

static void healthy_then_stuck(void) {
  char probe[400];
  snprintf(probe, sizeof(probe), "%s/x", fx_site);
  ASSERT_OK(coin_file_mkdirs_for(probe));
  start_monitor();
  /* the first Watchdog follows the first evaluation */
  int64_t waited = wait_watchdog(true, 15000);
  ASSERT_TRUE(waited >= 0);
  bool active = false;
  json_t *w = am_watchdog(&active);
  ASSERT_TRUE(w != NULL);
  json_t *l = json_object_get(w, "labels");
  ASSERT_EQ_STR(fx_jstr(l, "severity"), "none");
  ASSERT_EQ_STR(fx_jstr(l, "exchange"), "binance");
  int64_t ends = parse_rfc3339_ms(fx_jstr(w, "endsAt"));
  int64_t ahead = ends - fx_now_ms();
  /* endsAt = sent + 4 x RESEND_S, sent at most one period ago */
  ASSERT_TRUE(ahead > 2 * RESEND_S * 1000 &&
              ahead <= 4 * RESEND_S * 1000 + 2000);
  json_decref(w);
  char v[32];
  ASSERT_EQ_INT(get_json_field("/readyz", "evaluation_loop", v, sizeof(v)),
                503); /* no InfluxDB in this test: not ready, loop ok */
  ASSERT_EQ_STR(v, "ok");
  /* still refreshed two periods later */
  fx_sleep_ms(2 * RESEND_S * 1000 + 1000);
  ASSERT_TRUE(wait_watchdog(true, 1000) >= 0);

  /* the pass hangs on manifest.json */
  char fifo[400];
  snprintf(fifo, sizeof(fifo), "%s/manifest.json", fx_site);
  ASSERT_OK(mkfifo(fifo, 0644) == 0 ? 0 : -1);
  int64_t hung_at = fx_now_ms();
  /* /healthz and /readyz answer (they never wait for the pass) and say so
   * after 3 x 1 s + 30 s */
  int64_t stuck_after = -1;
  while (fx_now_ms() - hung_at < 45000) {
    long st = get_json_field("/readyz", "evaluation_loop", v, sizeof(v));
    if (st == 503 && !strcmp(v, "stuck")) {
      stuck_after = fx_now_ms() - hung_at;
      break;
    }
    ASSERT_EQ_STR(v, "ok");
    fx_sleep_ms(500);
  }
  ASSERT_TRUE(stuck_after >= 30000 && stuck_after <= 40000);
  ASSERT_EQ_INT(get_json_field("/healthz", "status", v, sizeof(v)), 503);
  ASSERT_EQ_STR(v, "stalled");
  ASSERT_TRUE(coin_test_proc_alive(&mon.proc));
  /* no refresh carries it any more: Alertmanager ends it by its endsAt,
   * at most 4 periods after the last refresh before the hang */
  int64_t gone = wait_watchdog(false, 4 * RESEND_S * 1000 + 10000);
  ASSERT_TRUE(gone >= 0);
  ASSERT_TRUE(fx_now_ms() - hung_at <= 33000 + 4 * RESEND_S * 1000 + 10000);

  /* the read returns (a writer opens and closes the FIFO): the manifest is
   * unreadable, the loop goes on, the Watchdog fires again */
  int fd = open(fifo, O_WRONLY | O_NONBLOCK);
  ASSERT_TRUE(fd >= 0);
  close(fd);
  unlink(fifo);
  ASSERT_TRUE(wait_watchdog(true, 3 * RESEND_S * 1000 + 5000) >= 0);
  ASSERT_EQ_INT(get_json_field("/healthz", "status", v, sizeof(v)), 200);
  get_json_field("/readyz", "evaluation_loop", v, sizeof(v));
  ASSERT_EQ_STR(v, "ok");
}

static void killed(void) {
  ASSERT_TRUE(wait_watchdog(true, 15000) >= 0);
  bool active = false;
  json_t *w = am_watchdog(&active);
  int64_t ends = w ? parse_rfc3339_ms(fx_jstr(w, "endsAt")) : -1;
  json_decref(w);
  coin_test_proc_signal(&mon.proc, SIGKILL);
  coin_test_proc_wait(&mon.proc, 5000);
  mon.proc.pid = 0;
  int64_t killed_at = fx_now_ms();
  ASSERT_TRUE(wait_watchdog(false, 4 * RESEND_S * 1000 + 10000) >= 0);
  int64_t gone_at = fx_now_ms();
  /* it ends at the endsAt of the last refresh (which may have followed the
   * one read above), never before the one read above */
  ASSERT_TRUE(gone_at >= ends - 1000);
  ASSERT_TRUE(gone_at - killed_at <= 4 * RESEND_S * 1000 + 5000);
}

int main(int argc, char **argv) {
  coin_test_main_begin(argc, argv);
  if (fx_setup(false) != 0) {
    fprintf(stderr, "setup failed: %s\n", coin_error_last());
    return 1;
  }
  const char *yaml =
      "route:\n  receiver: blackhole\n  group_wait: 1s\n  routes:\n"
      "    - matchers: ['alertname=\"Watchdog\"']\n"
      "      receiver: deadman\n      group_wait: 0s\n"
      "receivers:\n  - name: blackhole\n  - name: deadman\n";
  if (fx_am_start(&am, yaml) != 0) {
    fprintf(stderr, "Alertmanager did not start\n");
    return 1;
  }
  RUN_TEST(healthy_then_stuck);
  RUN_TEST(killed);
  fx_monitor_stop(&mon);
  fx_am_stop(&am);
  fx_teardown();
  return coin_test_summary();
}
