/* monitor_bench.c: coin-monitor evaluating 1000 symbol+timeframe pairs
 * (200 symbols x 1m 1h 1d 1w 1M) against a real nats-server, observed from
 * outside like the tests (its /metrics histogram and /proc/<pid>/status):
 *  - the cold pass (every history/prediction file read, hashed, parsed),
 *  - steady passes (nothing changed: a stat per file, the state machine,
 *    the /status document),
 *  - burst passes (a minute boundary: all 200 1m series rewritten by
 *    "publish" at once, then evaluated),
 *  - resident memory (VmRSS, VmHWM).
 * Built and run by bench/monitor_bench.sh (see bench/README.md). */
#include "../tests/integration/test_monitor_util.h"

#include <math.h>

#define N_SYMBOLS 200
#define N_TF 5

static struct fx_series all[N_SYMBOLS * N_TF];
static char names[N_SYMBOLS][16];
static struct fx_monitor mon;

static double metric(const char *name) {
  char url[160], *body = NULL;
  snprintf(url, sizeof(url), "%s/metrics", mon.base);
  if (fx_http(&body, "GET", url) != 200)
    return NAN;
  double v = NAN;
  for (char *p = strstr(body, name); p; p = strstr(p + 1, name))
    if ((p == body || p[-1] == '\n') && p[strlen(name)] == ' ') {
      v = strtod(p + strlen(name) + 1, NULL);
      break;
    }
  free(body);
  return v;
}

static long proc_kib(pid_t pid, const char *field) {
  char path[64], line[256];
  long v = -1;
  snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  while (fgets(line, sizeof(line), f))
    if (!strncmp(line, field, strlen(field)))
      v = strtol(line + strlen(field) + 1, NULL, 10);
  fclose(f);
  return v;
}

/* Waits for the next completed pass; returns its duration in seconds. */
static double next_pass(void) {
  double n0 = metric("coin_monitor_passes_total");
  for (int i = 0; i < 100; i++) {
    fx_sleep_ms(40);
    if (metric("coin_monitor_passes_total") > n0)
      return metric("coin_monitor_pass_last_seconds");
  }
  return NAN;
}

static int cmp_dbl(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void report(const char *what, double *v, int n) {
  qsort(v, (size_t)n, sizeof(double), cmp_dbl);
  double sum = 0;
  for (int i = 0; i < n; i++)
    sum += v[i];
  printf("| %-34s | %3d | %8.2f | %8.2f | %8.2f |\n", what, n, 1000 * v[n / 2],
         1000 * sum / n, 1000 * v[n - 1]);
}

int main(int argc, char **argv) {
  int steady = argc > 1 ? atoi(argv[1]) : 20;
  int bursts = argc > 2 ? atoi(argv[2]) : 5;
  static const enum coin_tf tfs[N_TF] = {COIN_TF_1M, COIN_TF_1H, COIN_TF_1D,
                                         COIN_TF_1W, COIN_TF_1MO};
  static const int candles[N_TF] = {1440, 1000, 1000, 300, 72};
  if (fx_setup(false) != 0) {
    fprintf(stderr, "setup failed: %s\n", coin_error_last());
    return 1;
  }
  static char symbols[N_SYMBOLS * 16];
  size_t len = 0;
  int64_t now = fx_now_ms();
  for (int i = 0; i < N_SYMBOLS; i++) {
    snprintf(names[i], sizeof(names[i]), "S%03dUSDT", i);
    len += (size_t)snprintf(symbols + len, sizeof(symbols) - len, "%s%s",
                            i ? "," : "", names[i]);
    for (int k = 0; k < N_TF; k++)
      all[i * N_TF + k] =
          (struct fx_series){.symbol = names[i],
                             .tf = tfs[k],
                             .last_open_ms = coin_tf_last_closed(tfs[k], now),
                             .n_candles = candles[k],
                             .listed = true};
  }
  printf("writing %d series (site files + watermarks)...\n", N_SYMBOLS * N_TF);
  if (fx_publish(all, N_SYMBOLS * N_TF) != 0) {
    fprintf(stderr, "site not written\n");
    return 1;
  }
  char cmd[700];
  snprintf(cmd, sizeof(cmd), "du -sk %s | cut -f1", fx_site);
  printf("site size (KiB): ");
  fflush(stdout);
  coin_test_sh("%s", cmd);

  fx_monitor_init(&mon, symbols);
  /* replace the 1m-only defaults of the fixture */
  for (int i = 0; i < mon.n_env; i++) {
    if (!strncmp(mon.env[i], "INGEST_TIMEFRAMES=", 18))
      snprintf(mon.env[i], sizeof(mon.env[i]),
               "INGEST_TIMEFRAMES=1m,1h,1d,1w,1M");
    if (!strncmp(mon.env[i], "LOG_LEVEL=", 10))
      snprintf(mon.env[i], sizeof(mon.env[i]), "LOG_LEVEL=warn");
  }
  fx_monitor_env(&mon, "ENABLE_MULTI_TIMEFRAMES=true");
  fx_monitor_env(&mon, "MONITOR_EVAL_SECONDS=1");
  fx_monitor_env(&mon, "FRESHNESS_SOFT_AFTER_SECONDS_1m=3000");
  fx_monitor_env(&mon, "FRESHNESS_HARD_AFTER_SECONDS_1m=6000");
  if (fx_monitor_start(&mon, "bench") != 0) {
    fprintf(stderr, "coin-monitor did not start\n");
    return 1;
  }
  double cold = NAN;
  for (int i = 0; i < 500 && !(metric("coin_monitor_passes_total") >= 1); i++)
    fx_sleep_ms(10);
  cold = metric("coin_monitor_pass_seconds_sum");
  double hashed = metric("coin_monitor_files_hashed_total");
  double bytes = metric("coin_monitor_bytes_hashed_total");

  int64_t write_ms = 0;
  double *v =
      calloc((size_t)(steady > bursts ? steady : bursts) + 1, sizeof(double));
  next_pass(); /* settle (watermark-triggered passes) */
  for (int i = 0; i < steady; i++)
    v[i] = next_pass();
  double rehashed = metric("coin_monitor_files_hashed_total") - hashed;

  printf("\n| pass | n | p50 ms | mean ms | max ms |\n|---|---|---|---|---|\n");
  printf("| %-34s | %3d | %8.2f | %8.2f | %8.2f |\n",
         "cold (2000 files hashed+parsed)", 1, 1000 * cold, 1000 * cold,
         1000 * cold);
  report("steady (nothing changed)", v, steady);
  for (int b = 0; b < bursts; b++) {
    /* a minute boundary: publish rewrites every 1m series at once */
    int64_t t = fx_now_ms();
    for (int i = 0; i < N_SYMBOLS * N_TF; i++)
      all[i].unchanged = all[i].tf != COIN_TF_1M;
    for (int i = 0; i < N_SYMBOLS; i++)
      all[i * N_TF].last_open_ms = coin_tf_last_closed(COIN_TF_1M, t);
    int64_t w0 = fx_now_ms();
    fx_write_site(all, N_SYMBOLS * N_TF);
    write_ms += fx_now_ms() - w0;
    double worst = 0;
    for (int k = 0; k < 3; k++) { /* the rewrite lands in one or two passes */
      double p = next_pass();
      if (p > worst)
        worst = p;
    }
    v[b] = worst;
  }
  report("burst (200 1m series rewritten)", v, bursts);
  printf("\n(a burst rewrite of 400 files + manifest took the writer %lld ms "
         "on average)\n",
         (long long)(write_ms / (bursts ? bursts : 1)));
  printf("\nfiles hashed by %d steady passes: %.0f (cold pass: %.0f files, "
         "%.1f MiB)\n",
         steady, rehashed, hashed, bytes / 1048576.0);
  long rss = proc_kib(mon.proc.pid, "VmRSS:");
  long hwm = proc_kib(mon.proc.pid, "VmHWM:");
  long anon = proc_kib(mon.proc.pid, "RssAnon:");
  long file = proc_kib(mon.proc.pid, "RssFile:");
  printf("RSS: VmRSS %.1f MiB (anonymous %.1f MiB, file-backed %.1f MiB: "
         "shared libraries), VmHWM (peak) %.1f MiB\n",
         rss / 1024.0, anon / 1024.0, file / 1024.0, hwm / 1024.0);
  if (getenv("BENCH_HOLD"))
    coin_test_sh("awk '/^[0-9a-f]/{n=$6} /^Rss:/{r[n]+=$2} END{for(k in r) "
                 "if(r[k]>100) print r[k], k}' /proc/%d/smaps | sort -rn | "
                 "head -12",
                 (int)mon.proc.pid);
  free(v);
  fx_monitor_stop(&mon);
  fx_teardown();
  return 0;
}
