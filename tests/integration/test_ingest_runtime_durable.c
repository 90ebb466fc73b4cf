/* test_ingest_runtime_durable.c: coin-ingest's runtime-metrics window
 * survives restarts (KV coin_ingest, key runtime.<SERVICE_ID>.cycles), as a
 * child process against real nats-server, influxd and the replay exchange,
 * observed from outside (runtime_metrics.json, KV, the log, exit codes):
 * - cycles, SIGTERM, start again: `samples` goes on from the earlier count;
 * - a smaller RUNTIME_METRICS_WINDOW_SIZE keeps the newest samples;
 * - a corrupted or out-of-range stored value: one error line naming the
 *   key, an empty window, ingest keeps working and the value is replaced. */
#include "coin/bus.h"
#include "coin/error.h"
#include "harness.h"
#include "test.h"

#include <jansson.h>
#include <signal.h>
#include <unistd.h>

#define SERVICE "rtmtest"
#define KEY "runtime." SERVICE ".cycles"
#define BUCKET "coin_ingest"

static struct coin_test_server nats, influx, rp;
static char tmpdir[256];
static char bin_ingest[512];
static char last_log[512];

/* Starts coin-ingest on BTCUSDT 1d, one cycle a second; max_cycles 0 runs
 * until signalled (p is set), otherwise waits for its exit code. */
static int run_ingest(int max_cycles, const char *extra_env,
                      struct coin_test_proc *p) {
  static int seq;
  char e[16][320];
  int k = COIN_TEST_NATS_ENV(e, 0, &nats, "ingest");
  snprintf(e[k++], 320, "INFLUX_URL=%s", influx.url);
  snprintf(e[k++], 320, "EXCHANGE_BASE_URL=%s", rp.url);
  snprintf(e[k++], 320, "SYMBOLS=BTCUSDT");
  snprintf(e[k++], 320, "INGEST_TIMEFRAMES=1d");
  snprintf(e[k++], 320, "PRIMARY_TIMEFRAME=1d");
  snprintf(e[k++], 320, "SERVICE_ID=" SERVICE);
  snprintf(e[k++], 320, "STATIC_DATA_DIR=%s/site", tmpdir);
  snprintf(e[k++], 320, "INGEST_HTTP_ADDR=127.0.0.1:%d", coin_test_free_port());
  snprintf(e[k++], 320, "INGEST_MAX_CYCLES=%d", max_cycles);
  snprintf(e[k++], 320, "WORKER_SCHEDULER_MODE=poll_loop");
  snprintf(e[k++], 320, "WORKER_CYCLE_SECONDS=1");
  snprintf(e[k++], 320, "LOG_LEVEL=info");
  if (extra_env)
    snprintf(e[k++], 320, "%s", extra_env);
  char *envp[17];
  for (int i = 0; i < k; i++)
    envp[i] = e[i];
  envp[k] = NULL;
  snprintf(last_log, sizeof(last_log), "%s/ingest-%d.log", tmpdir, ++seq);
  char *argv[] = {bin_ingest, NULL};
  if (coin_test_proc_start(p, argv, envp, last_log) != 0)
    return -1;
  if (max_cycles == 0)
    return 0;
  int st = coin_test_proc_wait(p, 20000);
  if (st != 0) {
    fprintf(stderr, "  coin-ingest exit %d, log %s\n", st, last_log);
    coin_test_sh("tail -5 %s >&2", last_log);
    coin_test_proc_signal(p, SIGKILL);
  }
  return st;
}

static int run_cycles(int n, const char *extra_env) {
  struct coin_test_proc p;
  return run_ingest(n, extra_env, &p);
}

/* runtime_metrics.json's summary.samples (-1 when absent or unreadable). */
static long long samples(void) {
  char path[512];
  snprintf(path, sizeof(path), "%s/site/runtime_metrics.json", tmpdir);
  json_t *j = json_load_file(path, 0, NULL);
  json_t *v = json_object_get(json_object_get(j, "summary"), "samples");
  long long n = json_is_integer(v) ? (long long)json_integer_value(v) : -1;
  json_decref(j);
  return n;
}

static long long window_size(void) {
  char path[512];
  snprintf(path, sizeof(path), "%s/site/runtime_metrics.json", tmpdir);
  json_t *j = json_load_file(path, 0, NULL);
  json_t *v = json_object_get(j, "window_size");
  long long n = json_is_integer(v) ? (long long)json_integer_value(v) : -1;
  json_decref(j);
  return n;
}

/* Lines of the last run's log that hold text. */
static int log_lines(const char *text) {
  char cmd[1024];
  snprintf(cmd, sizeof(cmd), "grep -c -F -- '%s' %s", text, last_log);
  FILE *f = popen(cmd, "r");
  int n = -1;
  if (f) {
    if (fscanf(f, "%d", &n) != 1)
      n = -1;
    pclose(f);
  }
  return n;
}

/* The stored value as JSON (NULL when absent), or puts raw bytes. */
static json_t *kv_value(void) {
  struct coin_bus_options bo;
  struct coin_bus *bus = NULL;
  struct coin_bus_kv *kv = NULL;
  struct coin_bus_kv_entry e = {0};
  json_t *j = NULL;
  coin_test_nats_options(&bo, &nats, "admin");
  if (coin_bus_connect(&bus, &bo) == 0 &&
      coin_bus_kv_open(&kv, bus, BUCKET) == 0 &&
      coin_bus_kv_get(&e, kv, KEY) == 0)
    j = json_loadb((const char *)e.value, e.value_len, 0, NULL);
  coin_bus_kv_entry_clear(&e);
  coin_bus_kv_free(kv);
  coin_bus_free(bus);
  return j;
}

static int kv_put(const char *value) {
  struct coin_bus_options bo;
  struct coin_bus *bus = NULL;
  struct coin_bus_kv *kv = NULL;
  coin_test_nats_options(&bo, &nats, "admin");
  int rc = coin_bus_connect(&bus, &bo);
  if (rc == 0)
    rc = coin_bus_kv_open(&kv, bus, BUCKET);
  if (rc == 0)
    rc = coin_bus_kv_put(NULL, kv, KEY, value, strlen(value));
  coin_bus_kv_free(kv);
  coin_bus_free(bus);
  return rc;
}

static long long jint(const json_t *j, const char *key) {
  const json_t *v = json_object_get(j, key);
  return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

/* ---- tests ------------------------------------------------------------- */

static void samples_continue_after_sigterm(void) {
  struct coin_test_proc p;
  ASSERT_OK(run_ingest(0, NULL, &p));
  for (int i = 0; i < 200 && samples() < 3; i++)
    usleep(50000);
  ASSERT_TRUE(samples() >= 3);
  coin_test_proc_signal(&p, SIGTERM);
  ASSERT_EQ_INT(coin_test_proc_wait(&p, 15000), 0);
  ASSERT_EQ_INT(log_lines("runtime window: none stored"), 1);
  long long first = samples(); /* read after exit: the final count */
  ASSERT_TRUE(first >= 3);
  /* the last cycle's window was saved before exit */
  json_t *v = kv_value();
  ASSERT_TRUE(v != NULL);
  long long stored_total = jint(v, "total_cycles");
  long long stored_n =
      (long long)json_array_size(json_object_get(v, "elapsed_seconds"));
  long long version = jint(v, "schema_version");
  json_decref(v);
  ASSERT_EQ_INT(version, 1);
  ASSERT_EQ_INT(stored_total, first);
  ASSERT_EQ_INT(stored_n, first);

  /* a second run continues from there instead of starting at 0 */
  ASSERT_EQ_INT(run_cycles(2, NULL), 0);
  ASSERT_EQ_INT(log_lines("runtime window restored"), 1);
  ASSERT_EQ_INT(samples(), first + 2);
  v = kv_value();
  ASSERT_TRUE(v != NULL);
  stored_total = jint(v, "total_cycles");
  json_decref(v);
  ASSERT_EQ_INT(stored_total, first + 2);

  /* a smaller window keeps the newest samples; the totals go on */
  ASSERT_EQ_INT(run_cycles(1, "RUNTIME_METRICS_WINDOW_SIZE=3"), 0);
  ASSERT_EQ_INT(window_size(), 3);
  ASSERT_EQ_INT(samples(), 3);
  v = kv_value();
  ASSERT_TRUE(v != NULL);
  stored_total = jint(v, "total_cycles");
  long long ws = jint(v, "window_size");
  json_decref(v);
  ASSERT_EQ_INT(stored_total, first + 3);
  ASSERT_EQ_INT(ws, 3);
}

/* A bad stored value: one error line with the key and the reason, an empty
 * window, the cycles go on and the next save replaces the value. */
static int bad_value_is_ignored(const char *value, const char *reason) {
  if (kv_put(value) != 0)
    return -1;
  if (run_cycles(2, NULL) != 0)
    return -1;
  int rejected = log_lines("runtime window in KV rejected");
  int with_key = log_lines("\"key\":\"" KEY "\"");
  int with_reason = log_lines(reason);
  int cycles = log_lines("\"msg\":\"cycle done\"");
  long long n = samples();
  json_t *v = kv_value();
  long long total = jint(v, "total_cycles"),
            version = jint(v, "schema_version");
  json_decref(v);
  if (rejected != 1 || with_reason != 1 || with_key < 1 || cycles != 2 ||
      n != 2 || total != 2 || version != 1) {
    fprintf(stderr,
            "  %s: %d rejected lines, %d with the reason \"%s\", %d with the "
            "key, %d cycles, samples %lld, stored total %lld, version %lld\n",
            value, rejected, with_reason, reason, with_key, cycles, n, total,
            version);
    coin_test_sh("grep -F 'runtime window' %s >&2", last_log);
    return -1;
  }
  return 0;
}

static void corrupted_value_gives_one_line_and_an_empty_window(void) {
  ASSERT_OK(bad_value_is_ignored("{\"schema_version\":1,\"window_size\"",
                                 "runtime window: not JSON: "));
  ASSERT_OK(bad_value_is_ignored(
      "{\"schema_version\":1,\"window_size\":240,\"total_cycles\":2,"
      "\"total_overruns\":0,\"elapsed_seconds\":[0.5,-3],\"overrun\":\"00\"}",
      "elapsed_seconds[1] -3, want a finite number >= 0"));
  ASSERT_OK(bad_value_is_ignored(
      "{\"schema_version\":7,\"window_size\":240,\"total_cycles\":0,"
      "\"total_overruns\":0,\"elapsed_seconds\":[],\"overrun\":\"\"}",
      "schema_version 7, want 1"));
  ASSERT_OK(bad_value_is_ignored(
      "{\"schema_version\":1,\"window_size\":1,\"total_cycles\":2,"
      "\"total_overruns\":0,\"elapsed_seconds\":[1,2],\"overrun\":\"00\"}",
      "2 samples, more than window_size 1"));
}

int main(int argc, char **argv) {
  coin_test_main_begin(argc, argv);
  const char *args[] = {"--symbols", "BTCUSDT", "--shift-weeks", "230", NULL};
  if (coin_test_tmpdir(tmpdir, sizeof(tmpdir), "ingest-rtm") != 0 ||
      coin_test_bin(bin_ingest, sizeof(bin_ingest), "coin-ingest") != 0 ||
      coin_test_nats_start(&nats) != 0 ||
      coin_test_influx_start(&influx) != 0 ||
      coin_test_replay_start(&rp, args) != 0)
    return 1;
  RUN_TEST(samples_continue_after_sigterm);
  RUN_TEST(corrupted_value_gives_one_line_and_an_empty_window);
  coin_test_server_cleanup(&rp);
  coin_test_server_cleanup(&nats);
  coin_test_server_cleanup(&influx);
  int rc = coin_test_summary();
  if (rc == 0)
    coin_test_rmtree(tmpdir);
  return rc;
}
