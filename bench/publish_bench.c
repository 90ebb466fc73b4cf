/*
 * publish_bench.c: coin-publish figures (bench/README.md, "coin-publish").
 * Starts nats-server and influxd (tests/harness), loads a synthetic SoT and
 * ingest watermarks, runs build/bin/coin-publish as a child process and
 * measures from outside:
 *   1. rebuild: SYMBOLS x {1h,1d,1w,1M} series from InfluxDB to files
 *      (files per second, time to /readyz);
 *   2. latency: from a CandleBatch's publish on NATS (after its ingest
 *      watermark was set, as coin-ingest does) to manifest.json showing it
 *      with the update complete (inotify on the site directory): p50, p95,
 *      p99, max over BATCHES batches, round robin over 1m series with full
 *      1440-candle windows;
 *   3. peak RSS of coin-publish (VmHWM).
 * Single-threaded. Usage: publish_bench [--symbols N] [--batches N]
 * [--shard 7d] (the SoT's shard group duration, default: create_db's)
 */
#include "coin/bus.h"
#include "coin/codec.h"
#include "coin/error.h"
#include "coin/file.h"
#include "coin/http.h"
#include "coin/influx.h"
#include "coin/timeframe.h"
#include "harness.h"

#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#define LAT_SERIES 4
#define WARMUP 20

static struct coin_test_server nats, influx;
static struct coin_bus *bus;
static struct coin_bus_kv *kv;
static struct coin_influx *ix;

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double mono_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what) {
  fprintf(stderr, "publish_bench: %s: %s\n", what, coin_error_last());
  exit(1);
}

/* A random walk of n candles ending at last_open. */
static struct coin_candle *walk(enum coin_tf tf, int64_t last_open, size_t n,
                                unsigned *seed) {
  struct coin_candle *c = calloc(n, sizeof(*c));
  int64_t t = last_open;
  for (size_t i = n; i-- > 0;) {
    c[i].open_ms = t;
    t = coin_tf_prev(tf, t);
  }
  double price = 100 + rand_r(seed) % 1000;
  for (size_t i = 0; i < n; i++) {
    double o = price;
    double cl = o * (1 + ((double)(rand_r(seed) % 2001) - 1000) / 100000.0);
    c[i].open = o;
    c[i].close = cl;
    c[i].high = (o > cl ? o : cl) * 1.001;
    c[i].low = (o < cl ? o : cl) * 0.999;
    c[i].volume = (double)(rand_r(seed) % 100000) / 100.0;
    price = cl;
  }
  return c;
}

static void set_wm(const char *symbol, enum coin_tf tf, int64_t wm) {
  char key[128], val[32];
  coin_codec_series_key(key, sizeof(key), "ingest", "binance", symbol, tf);
  int n = snprintf(val, sizeof(val), "%lld", (long long)wm);
  if (coin_bus_kv_put(NULL, kv, key, val, (size_t)n) != 0)
    die("KV put");
}

static int readyz(int port) {
  struct coin_http *h = NULL;
  struct coin_http_response r = {0};
  char url[128];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/readyz", port);
  int ok = coin_http_new(&h, NULL) == 0 &&
           coin_http_request(h, &r, "GET", url, NULL, NULL, 0) == 0 &&
           r.status == 200;
  coin_http_response_clear(&r);
  coin_http_free(h);
  return ok;
}

static double metric(int port, const char *name) {
  struct coin_http *h = NULL;
  struct coin_http_response r = {0};
  char url[128];
  double v = -1;
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", port);
  if (coin_http_new(&h, NULL) == 0 &&
      coin_http_request(h, &r, "GET", url, NULL, NULL, 0) == 0) {
    size_t n = strlen(name);
    for (char *l = r.body; l && *l;) {
      if (!strncmp(l, name, n) && l[n] == ' ') {
        v = strtod(l + n + 1, NULL);
        break;
      }
      l = strchr(l, '\n');
      l = l ? l + 1 : NULL;
    }
  }
  coin_http_response_clear(&r);
  coin_http_free(h);
  return v;
}

static long vm_hwm_kib(pid_t pid) {
  char path[64], line[256];
  long v = -1;
  snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  while (f && fgets(line, sizeof(line), f))
    if (!strncmp(line, "VmHWM:", 6))
      v = strtol(line + 6, NULL, 10);
  if (f)
    fclose(f);
  return v;
}

/* Does the manifest (complete, not mid-update) show symbol 1m at open?
 * A transition manifest is told apart by a substring search before any
 * parse, so that parsing it (milliseconds for 200 series) does not delay
 * noticing the final manifest's rename right behind it. */
static bool manifest_shows(const char *site, const char *symbol, int64_t open) {
  char path[600], *text = NULL;
  size_t len = 0;
  snprintf(path, sizeof(path), "%s/manifest.json", site);
  if (coin_file_read(&text, &len, path, 64u << 20) != 0)
    return false;
  json_t *m = strstr(text, "\"update_in_progress\":false")
                  ? json_loadb(text, len, 0, NULL)
                  : NULL;
  free(text);
  bool yes = false;
  if (m && !json_is_true(json_object_get(m, "update_in_progress"))) {
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(m, "series"), i, s) {
      if (!strcmp(json_string_value(json_object_get(s, "symbol")), symbol) &&
          !strcmp(json_string_value(json_object_get(s, "timeframe")), "1m") &&
          json_integer_value(json_object_get(s, "last_candle_open_ms")) >= open)
        yes = true;
    }
  }
  json_decref(m);
  return yes;
}

static int cmp_dbl(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  int n_symbols = 50, n_batches = 1000;
  const char *shard = NULL;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--symbols"))
      n_symbols = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--batches"))
      n_batches = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--shard"))
      shard = argv[i + 1];
  }
  if (n_symbols < 1 || n_symbols > 1000 || n_batches < 1 ||
      (shard && strspn(shard, "0123456789hdw") != strlen(shard))) {
    fprintf(stderr, "usage: publish_bench [--symbols 1..1000] [--batches N] "
                    "[--shard 7d|52w|...]\n");
    return 2;
  }
  char tmp[256], bin[512], site[512], logp[512];
  if (coin_test_tmpdir(tmp, sizeof(tmp), "publish-bench") != 0 ||
      coin_test_bin(bin, sizeof(bin), "coin-publish") != 0 ||
      coin_test_nats_start(&nats) != 0 || coin_test_influx_start(&influx) != 0)
    die("servers");
  struct coin_bus_options bo;
  coin_test_nats_options(&bo, &nats, "admin");
  struct coin_influx_options io;
  coin_influx_options_init(&io);
  io.url = influx.url;
  io.rp_by_tf[COIN_TF_1M] = "rp_1m";
  struct coin_bus_kv_config kc = {.bucket = COIN_KV_WATERMARKS, .history = 5};
  if (coin_bus_connect(&bus, &bo) != 0 ||
      coin_bus_kv_ensure(&kv, NULL, bus, &kc) != 0 ||
      coin_influx_new(&ix, &io) != 0 || coin_influx_create_db(ix) != 0 ||
      coin_influx_ensure_rp(ix, "rp_1m", 7 * COIN_DAY_MS, false) != 0)
    die("set-up");
  if (shard) {
    /* another shard group duration than coin_influx_create_db's (the SoT
     * below is written after it, so its groups have that duration) */
    char q[128];
    snprintf(q, sizeof(q),
             "ALTER RETENTION POLICY autogen ON coin SHARD DURATION %s", shard);
    if (coin_influx_exec(ix, q) != 0)
      die("shard duration");
  }

  /* ---- the SoT ---- */
  const enum coin_tf tfs[] = {COIN_TF_1H, COIN_TF_1D, COIN_TF_1W, COIN_TF_1MO};
  const size_t win[] = {500, 365, 260, 120};
  unsigned seed = 7;
  int64_t now = wall_ms();
  char *symlist = calloc((size_t)n_symbols, 16);
  double t0 = mono_s();
  size_t points = 0;
  for (int s = 0; s < n_symbols; s++) {
    char sym[16];
    snprintf(sym, sizeof(sym), "BENCH%03dUSDT", s);
    sprintf(symlist + strlen(symlist), "%s%s", s ? "," : "", sym);
    for (int t = 0; t < 4; t++) {
      int64_t last = coin_tf_last_closed(tfs[t], now);
      struct coin_candle *c = walk(tfs[t], last, win[t], &seed);
      if (coin_influx_write_candles(ix, "binance", sym, coin_tf_name(tfs[t]), c,
                                    win[t]) != 0)
        die("InfluxDB write");
      points += win[t];
      free(c);
      set_wm(sym, tfs[t], last);
    }
  }
  const int64_t top = coin_tf_last_closed(COIN_TF_1M, now);
  const size_t lat_n = 1440 + (size_t)n_batches / LAT_SERIES + WARMUP + 10;
  struct coin_candle *lat[LAT_SERIES];
  int64_t lat_wm[LAT_SERIES];
  const int64_t lat_first = top - (int64_t)(lat_n - 1) * COIN_MINUTE_MS;
  for (int k = 0; k < LAT_SERIES; k++) {
    char sym[16];
    snprintf(sym, sizeof(sym), "LAT%dUSDT", k);
    lat[k] = walk(COIN_TF_1M, top, lat_n, &seed);
    if (coin_influx_write_candles(ix, "binance", sym, "1m", lat[k], lat_n))
      die("InfluxDB write 1m");
    points += lat_n;
    lat_wm[k] = lat_first + 1439 * COIN_MINUTE_MS;
    set_wm(sym, COIN_TF_1M, lat_wm[k]);
  }
  printf("SoT loaded: %zu candles in %.1f s\n", points, mono_s() - t0);

  /* ---- rebuild ---- */
  int port = coin_test_free_port();
  snprintf(site, sizeof(site), "%s/site", tmp);
  snprintf(logp, sizeof(logp), "%s/publish.log", tmp);
  char e[14][1024 * 16];
  int k = COIN_TEST_NATS_ENV(e, 0, &nats, "publish");
  snprintf(e[k++], sizeof(e[0]), "INFLUX_URL=%s", influx.url);
  snprintf(e[k++], sizeof(e[0]), "SYMBOLS=%s", symlist);
  snprintf(e[k++], sizeof(e[0]), "INGEST_TIMEFRAMES=1h,1d,1w,1M");
  snprintf(e[k++], sizeof(e[0]), "ENABLE_MULTI_TIMEFRAMES=true");
  snprintf(e[k++], sizeof(e[0]), "STATIC_DATA_DIR=%s", site);
  snprintf(e[k++], sizeof(e[0]), "PUBLISH_HTTP_ADDR=127.0.0.1:%d", port);
  snprintf(e[k++], sizeof(e[0]), "LOG_LEVEL=info");
  char *envp[15];
  for (int i = 0; i < k; i++)
    envp[i] = e[i];
  envp[k] = NULL;
  char *args[] = {bin, NULL};
  struct coin_test_proc proc;
  t0 = mono_s();
  if (coin_test_proc_start(&proc, args, envp, logp) != 0)
    die("start coin-publish");
  while (!readyz(port)) {
    if (!coin_test_proc_alive(&proc) || mono_s() - t0 > 120) {
      fprintf(stderr, "coin-publish did not get ready; log %s\n", logp);
      return 1;
    }
    usleep(5000);
  }
  double ready_s = mono_s() - t0;
  coin_test_sh("grep -h 'site rebuilt' %s | cut -c1-400", logp);
  double rb_s = metric(port, "coin_publish_rebuild_seconds");
  double rb_files = metric(port, "coin_publish_rebuild_files");
  printf("rebuild: %d series, %.0f files in %.3f s = %.0f files/s "
         "(start to ready %.3f s)\n",
         n_symbols * 4, rb_files, rb_s, rb_s > 0 ? rb_files / rb_s : 0,
         ready_s);

  /* ---- latency ---- */
  int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (in < 0 || inotify_add_watch(in, site, IN_MOVED_TO) < 0)
    die("inotify");
  double *lat_s = calloc((size_t)n_batches, sizeof(double));
  int measured = 0;
  for (int i = 0; i < n_batches + WARMUP; i++) {
    int s = i % LAT_SERIES;
    char sym[16], subj[128], id[96];
    snprintf(sym, sizeof(sym), "LAT%dUSDT", s);
    lat_wm[s] += COIN_MINUTE_MS;
    size_t idx = (size_t)((lat_wm[s] - lat_first) / COIN_MINUTE_MS);
    set_wm(sym, COIN_TF_1M, lat_wm[s]);
    struct coin_candle_batch b = {.tf = COIN_TF_1M,
                                  .kind = COIN_BATCH_LIVE,
                                  .candles = &lat[s][idx],
                                  .n_candles = 1,
                                  .ingest_watermark_ms = lat_wm[s],
                                  .produced_at_ms = wall_ms()};
    snprintf(b.exchange, sizeof(b.exchange), "binance");
    snprintf(b.symbol, sizeof(b.symbol), "%s", sym);
    snprintf(b.producer_id, sizeof(b.producer_id), "bench");
    uint8_t *data = NULL;
    size_t len = 0;
    coin_codec_subject_candles(subj, sizeof(subj), "binance", sym, COIN_TF_1M);
    coin_codec_msg_id(id, sizeof(id), &b);
    if (coin_codec_pack_batch(&data, &len, &b) != 0)
      die("pack");
    char ev[4096];
    while (read(in, ev, sizeof(ev)) > 0) {
    } /* drain older events */
    double start = mono_s();
    if (coin_bus_js_publish(NULL, bus, subj, id, data, len) != 0)
      die("publish");
    free(data);
    double done = 0;
    while (done == 0) {
      struct pollfd pfd = {.fd = in, .events = POLLIN};
      if (poll(&pfd, 1, 10000) <= 0) {
        fprintf(stderr, "no manifest update for batch %d; log %s\n", i, logp);
        return 1;
      }
      double at = mono_s();
      while (read(in, ev, sizeof(ev)) > 0) {
      }
      if (manifest_shows(site, sym, lat_wm[s]))
        done = at;
    }
    if (i >= WARMUP)
      lat_s[measured++] = done - start;
  }
  qsort(lat_s, (size_t)measured, sizeof(double), cmp_dbl);
  double p50 = lat_s[measured / 2], p95 = lat_s[measured * 95 / 100];
  double p99 = lat_s[measured * 99 / 100], mx = lat_s[measured - 1];
  printf("latency NATS publish -> files on disk (%d batches, 1m series of "
         "1440 candles, %d series in the manifest): p50 %.1f ms, p95 %.1f ms, "
         "p99 %.1f ms, max %.1f ms\n",
         measured, n_symbols * 4 + LAT_SERIES, p50 * 1e3, p95 * 1e3, p99 * 1e3,
         mx * 1e3);
  printf("service histogram: %.0f batches, mean %.1f ms\n",
         metric(port, "coin_publish_latency_seconds_count"),
         1e3 * metric(port, "coin_publish_latency_seconds_sum") /
             metric(port, "coin_publish_latency_seconds_count"));
  long hwm = vm_hwm_kib(proc.pid);
  printf("peak RSS of coin-publish: %.1f MiB\n", (double)hwm / 1024.0);

  coin_test_proc_signal(&proc, SIGTERM);
  int st = coin_test_proc_wait(&proc, 10000);
  close(in);
  for (int s = 0; s < LAT_SERIES; s++)
    free(lat[s]);
  free(lat_s);
  free(symlist);
  coin_bus_kv_free(kv);
  coin_bus_free(bus);
  coin_influx_free(ix);
  coin_bus_shutdown();
  coin_test_server_cleanup(&nats);
  coin_test_server_cleanup(&influx);
  if (st == 0)
    coin_test_rmtree(tmp);
  return st == 0 ? 0 : 1;
}
