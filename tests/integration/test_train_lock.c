/* test_train_lock.c: one training at a time, and retention, with real
 * nats-server and influxd (real BTCUSDT 1h candles in the SoT):
 * - two concurrent jobs: one trains, the other exits cleanly (code 3, one
 *   clear line naming the holder), and so does a promote meanwhile;
 * - a crashed (SIGKILLed) holder's lock expires after its lease, then the
 *   next job trains;
 * - retention keeps MODEL_HISTORY_KEEP versions and never purges the
 *   champion, whose metadata and artifact stay;
 * - the retrain policy: not due without new data (exit 0, nothing
 *   registered), due once enough candles arrived after the champion's
 *   watermark. */
#include "coin/bus.h"
#include "coin/candle_file.h"
#include "coin/codec.h"
#include "coin/error.h"
#include "coin/influx.h"
#include "coin/registry.h"
#include "harness.h"
#include "test.h"

#include <jansson.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

static struct coin_test_server nats, influx;
static char tmpdir[256], bin_train[512];
static struct coin_bus *bus;
static struct coin_registry *reg;
static struct coin_influx *ix;
static struct coin_candle_file *btc;
#define HELD_BACK 100 /* newest candles written only by the policy test */

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Starts coin-train (ridge, fast) with args; log into log_out. */
static int start_train(struct coin_test_proc *p, const char *const *args,
                       const char *extra_env, char *log_out) {
  static int seq;
  char e[14][256];
  int k = COIN_TEST_NATS_ENV(e, 0, &nats, "train");
  snprintf(e[k++], 256, "INFLUX_URL=%s", influx.url);
  snprintf(e[k++], 256, "SYMBOLS=BTCUSDT");
  snprintf(e[k++], 256, "TRAIN_TIMEFRAMES=1h");
  snprintf(e[k++], 256, "TRAIN_MODEL_KIND=ridge");
  snprintf(e[k++], 256, "SERVICE_ID=lock-test");
  snprintf(e[k++], 256, "LOG_LEVEL=warn");
  for (const char *x = extra_env; x && *x && k < 13;) {
    const char *nl = strchr(x, '\n');
    int len = nl ? (int)(nl - x) : (int)strlen(x);
    snprintf(e[k++], 256, "%.*s", len, x);
    x = nl ? nl + 1 : x + len;
  }
  char *envp[15];
  for (int i = 0; i < k; i++)
    envp[i] = e[i];
  envp[k] = NULL;
  char *argv[12];
  int n = 0;
  argv[n++] = bin_train;
  for (; args[n - 1] && n < 11; n++)
    argv[n] = (char *)args[n - 1];
  argv[n] = NULL;
  snprintf(log_out, 512, "%s/train-%d.log", tmpdir, ++seq);
  return coin_test_proc_start(p, argv, envp, log_out);
}

static int run_train(const char *const *args, const char *env, char *log) {
  struct coin_test_proc p;
  if (start_train(&p, args, env, log) != 0)
    return -1;
  int st = coin_test_proc_wait(&p, 60000);
  if (st < 0)
    coin_test_proc_signal(&p, SIGKILL);
  return st;
}

static bool log_has(const char *path, const char *needle) {
  return coin_test_sh("grep -qF -- '%s' %s", needle, path) == 0;
}

/* Polls (deadline 10 s) until the lock key names a coin-train holder. */
static bool lock_taken(void) {
  struct coin_bus_kv *kv = NULL;
  bool ok = false;
  int64_t end = now_ms() + 10000;
  while (!ok && now_ms() < end) {
    if (!kv && coin_bus_kv_open(&kv, bus, COIN_KV_LOCKS) != 0)
      kv = NULL;
    struct coin_bus_kv_entry e = {0};
    if (kv && coin_bus_kv_get(&e, kv, "train") == 0)
      ok = strstr((const char *)e.value, "\"holder\":\"coin-train@") != NULL;
    coin_bus_kv_entry_clear(&e);
    if (!ok)
      usleep(20000);
  }
  coin_bus_kv_free(kv);
  return ok;
}

static size_t n_models(void) {
  struct coin_model_metadata *list = NULL;
  size_t n = 0;
  if (coin_registry_list(reg, &list, &n) != 0)
    return (size_t)-1;
  free(list);
  return n;
}

static void second_job_exits_cleanly_while_first_trains(void) {
  char log1[512], log2[512], log3[512];
  const char *hold[] = {"train", "--hold-lock-ms", "3000", NULL};
  const char *plain[] = {"train", NULL};
  const char *promote[] = {"promote", NULL};
  size_t before = n_models();
  struct coin_test_proc first;
  ASSERT_OK(start_train(&first, hold, NULL, log1));
  ASSERT_TRUE(lock_taken());
  int64_t t0 = now_ms();
  ASSERT_EQ_INT(run_train(plain, NULL, log2), 3);
  ASSERT_TRUE(now_ms() - t0 < 2500); /* it did not wait for the lock */
  ASSERT_TRUE(log_has(log2, "is held by coin-train@lock-test:"));
  ASSERT_TRUE(log_has(log2, "nothing done"));
  ASSERT_EQ_INT(run_train(promote, NULL, log3), 3);
  ASSERT_EQ_INT(coin_test_proc_wait(&first, 60000), 0);
  ASSERT_EQ_INT(n_models(), before + 1); /* exactly one trained */
  /* released: the next job gets the lock at once */
  ASSERT_EQ_INT(run_train(plain, NULL, log2), 0);
  ASSERT_EQ_INT(n_models(), before + 2);
}

static void crashed_holder_lock_expires(void) {
  char log1[512], log2[512];
  const char *hold[] = {"train", "--hold-lock-ms", "60000", NULL};
  const char *plain[] = {"train", NULL};
  struct coin_test_proc crashed;
  ASSERT_OK(start_train(&crashed, hold, "TRAIN_LOCK_TTL_SECONDS=6", log1));
  ASSERT_TRUE(lock_taken());
  int64_t taken = now_ms();
  coin_test_proc_signal(&crashed, SIGKILL); /* dies holding the lock */
  ASSERT_EQ_INT(run_train(plain, NULL, log2), 3);
  ASSERT_TRUE(log_has(log2, "is held by"));
  /* poll with a deadline: the lease (6 s) must run out first */
  int st = -1;
  while (st != 0 && now_ms() - taken < 20000) {
    st = run_train(plain, NULL, log2);
    if (st == 3)
      usleep(500000);
    else
      break;
  }
  ASSERT_EQ_INT(st, 0);
  ASSERT_TRUE(now_ms() - taken >= 5500);
}

/* A value in coin_locks/train that is not a lock (not JSON, no holder, an
 * expiry beyond any lease) stops no job: said with its key, taken over,
 * and the job trains. */
static void bad_lock_values_stop_nothing(void) {
  static const char *const bad[] = {"not json {",
                                    "{\"expires_at_ms\":9000000000000000000}",
                                    "{\"holder\":\"evil\",\"acquired_at_ms\":0,"
                                    "\"expires_at_ms\":9000000000000000000}"};
  const char *plain[] = {"train", NULL};
  struct coin_bus_kv *kv = NULL;
  struct coin_bus_kv_config kc = {.bucket = COIN_KV_LOCKS, .history = 1};
  ASSERT_OK(coin_bus_kv_ensure(&kv, NULL, bus, &kc));
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char log[512];
    size_t before = n_models();
    ASSERT_OK(coin_bus_kv_put(NULL, kv, "train", bad[i], strlen(bad[i])));
    ASSERT_EQ_INT(run_train(plain, NULL, log), 0);
    ASSERT_TRUE(log_has(log, "lock value is not a lock: taken over"));
    ASSERT_TRUE(log_has(log, "\"key\":\"train\""));
    ASSERT_EQ_INT(n_models(), before + 1);
  }
  coin_bus_kv_free(kv);
}

static void retention_never_purges_the_champion(void) {
  char log[512];
  const char *plain[] = {"train", NULL};
  const char *env = "MODEL_HISTORY_KEEP=2";
  struct coin_model_metadata *list = NULL;
  size_t n = 0;
  ASSERT_OK(coin_registry_list(reg, &list, &n));
  ASSERT_TRUE(n >= 3);
  /* make the oldest model the champion (as a promotion would) */
  char champion[COIN_CODEC_ID_BYTES];
  snprintf(champion, sizeof(champion), "%s", list[0].version);
  free(list);
  ASSERT_OK(coin_registry_alias_set(reg, COIN_ALIAS_CHAMPION, champion, 0));
  for (int i = 0; i < 2; i++)
    ASSERT_EQ_INT(run_train(plain, env, log), 0);
  ASSERT_OK(coin_registry_list(reg, &list, &n));
  /* the champion + the 2 newest (one of them the challenger) */
  ASSERT_EQ_INT(n, 3);
  ASSERT_EQ_STR(list[0].version, champion);
  free(list);
  struct coin_model *m = NULL;
  ASSERT_OK(coin_registry_load_model(reg, &m, NULL, champion));
  coin_model_free(m);
  /* a purged version's artifact chunks are gone too */
  struct coin_bus_stream_info si;
  ASSERT_OK(coin_bus_stream_info(&si, bus, COIN_STREAM_MODELS));
  ASSERT_EQ_INT(si.msgs, 3); /* one chunk each: ridge is small */
}

static void retrain_policy_waits_for_new_data(void) {
  char log[512];
  const char *new_data[] = {"train", "--policy", "new_data", NULL};
  const char *age[] = {"train", "--policy", "age", NULL};
  const char *env = "TRAIN_RETRAIN_MIN_NEW_CANDLES=50\n"
                    "TRAIN_RETRAIN_MAX_AGE_HOURS=1";
  size_t before = n_models();
  ASSERT_EQ_INT(run_train(new_data, env, log), 0);
  ASSERT_TRUE(log_has(log, "retrain not due"));
  ASSERT_TRUE(log_has(log, "0 new candles after its newest trained candle"));
  ASSERT_EQ_INT(run_train(age, env, log), 0);
  ASSERT_TRUE(log_has(log, "retrain not due"));
  ASSERT_EQ_INT(n_models(), before);
  /* ingest catches up: 100 candles after the champion's watermark */
  ASSERT_OK(coin_influx_write_candles(ix, "binance", "BTCUSDT", "1h",
                                      btc->rows + btc->count - HELD_BACK,
                                      HELD_BACK));
  ASSERT_EQ_INT(run_train(new_data, env, log), 0);
  ASSERT_FALSE(log_has(log, "retrain not due"));
  ASSERT_EQ_INT(n_models(), before + 1);
}

static int setup(void) {
  const char *dir = getenv("COIN_SHARED_DATA_DIR");
  struct coin_influx_options o;
  coin_influx_options_init(&o);
  o.url = influx.url;
  if (!dir || coin_influx_new(&ix, &o) != 0 || coin_influx_create_db(ix) != 0 ||
      coin_candle_file_load_dir(&btc, dir, "BTCUSDT", COIN_TF_1H, 0) != 0)
    return -1;
  int rc = coin_influx_write_candles(ix, "binance", "BTCUSDT", "1h",
                                     btc->rows + btc->count - 4000,
                                     4000 - HELD_BACK);
  struct coin_bus_options bo;
  coin_test_nats_options(&bo, &nats, "admin");
  if (rc || coin_bus_connect(&bus, &bo) != 0 ||
      coin_registry_open(&reg, bus, "test") != 0)
    return -1;
  return 0;
}

int main(int argc, char **argv) {
  coin_test_main_begin(argc, argv);
  if (coin_test_tmpdir(tmpdir, sizeof(tmpdir), "trainlock") != 0 ||
      coin_test_bin(bin_train, sizeof(bin_train), "coin-train") != 0 ||
      coin_test_nats_start(&nats) != 0 ||
      coin_test_influx_start(&influx) != 0 || setup() != 0) {
    fprintf(stderr, "setup failed: %s\n", coin_error_last());
    return 1;
  }
  RUN_TEST(second_job_exits_cleanly_while_first_trains);
  RUN_TEST(crashed_holder_lock_expires);
  RUN_TEST(bad_lock_values_stop_nothing);
  RUN_TEST(retention_never_purges_the_champion);
  RUN_TEST(retrain_policy_waits_for_new_data);
  coin_registry_free(reg);
  coin_influx_free(ix);
  coin_candle_file_free(btc);
  coin_bus_free(bus);
  coin_bus_shutdown();
  coin_test_server_cleanup(&nats);
  coin_test_server_cleanup(&influx);
  int rc = coin_test_summary();
  if (rc == 0)
    coin_test_rmtree(tmpdir);
  return rc;
}
