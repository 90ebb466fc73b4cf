/* test_publish.c: coin-publish end to end, as a child process against real
 * nats-server and influxd (and coin-ingest over the replay exchange),
 * observed only from outside (files, KV, the consumer, InfluxDB, HTTP):
 * - ingest + publish: a file pair for every series, equal to the SoT window,
 *   manifest hashes match, a restart produces the same candles;
 * - injected batches (duplicated, out of order, with holes, ahead of the
 *   ingest watermark, conflicting, malformed): nothing beyond the watermark
 *   ever appears, holes come from InfluxDB, poison messages are terminated,
 *   a deleted durable consumer is created again;
 * - freshness changes with time alone: fresh -> soft_stale -> hard_stale;
 * - series seen on the stream are published too (other exchanges are not);
 * - SIGKILL while writing, repeatedly: every file parses and matches the
 *   manifest (an update in progress lists the old and the new hash); after
 *   a restart the site converges;
 * - the track record equals a recomputation; a served champion whose own
 *   realized rows are worse than persistence marks the prediction degraded
 *   champion_underperforming, not below PUBLISH_CHAMPION_MIN_SERIES_ROWS. */
#include "coin/bus.h"
#include "coin/candle_file.h"
#include "coin/codec.h"
#include "coin/error.h"
#include "coin/features.h"
#include "coin/file.h"
#include "coin/http.h"
#include "coin/influx.h"
#include "coin/model.h"
#include "coin/registry.h"
#include "coin/serving.h"
#include "coin/site.h"
#include "coin/timeframe.h"
#include "harness.h"
#include "test.h"

#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static struct coin_test_server nats, influx;
static char tmpdir[256];
static char bin_publish[512], bin_ingest[512];
static struct coin_bus *bus;
static struct coin_bus_kv *kv;
static struct coin_influx *ix;

static int64_t now_ms(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static int64_t window_from(enum coin_tf tf, int64_t anchor, int64_t slots) {
  int64_t t = coin_tf_floor(tf, anchor);
  for (int64_t i = 1; i < slots; i++)
    t = coin_tf_prev(tf, t);
  return t;
}

/* ---- services ------------------------------------------------------------ */

struct svc {
  struct coin_test_proc proc;
  int port;
  char site[300];
};

/* env: NULL-terminated extra "NAME=value" strings (they win). */
static int publish_start(struct svc *out, const char *site_tag,
                         const char *durable, const char *symbols,
                         const char *tfs, const char *const *env) {
  static int seq;
  char e[40][320], logp[512];
  int k = 0;
  for (int i = 0; env && env[i] && k < 24; i++)
    snprintf(e[k++], 320, "%s", env[i]);
  out->port = coin_test_free_port();
  snprintf(out->site, sizeof(out->site), "%s/%s", tmpdir, site_tag);
  k = COIN_TEST_NATS_ENV(e, k, &nats, "publish");
  snprintf(e[k++], 320, "INFLUX_URL=%s", influx.url);
  snprintf(e[k++], 320, "SYMBOLS=%s", symbols);
  snprintf(e[k++], 320, "INGEST_TIMEFRAMES=%s", tfs);
  snprintf(e[k++], 320, "PRIMARY_TIMEFRAME=%.2s", tfs);
  snprintf(e[k++], 320, "ENABLE_MULTI_TIMEFRAMES=true");
  snprintf(e[k++], 320, "STATIC_DATA_DIR=%s", out->site);
  snprintf(e[k++], 320, "PUBLISH_HTTP_ADDR=127.0.0.1:%d", out->port);
  snprintf(e[k++], 320, "PUBLISH_DURABLE=%s", durable);
  snprintf(e[k++], 320, "LOG_LEVEL=info");
  char *envp[41];
  for (int i = 0; i < k; i++)
    envp[i] = e[i];
  envp[k] = NULL;
  snprintf(logp, sizeof(logp), "%s/publish-%s-%d.log", tmpdir, durable, ++seq);
  char *argv[] = {bin_publish, NULL};
  return coin_test_proc_start(&out->proc, argv, envp, logp);
}

static int http_get(long *status, char **body, int port, const char *path) {
  struct coin_http *h = NULL;
  struct coin_http_response r = {0};
  struct coin_http_opts o = {.connect_timeout_ms = 1000, .timeout_ms = 5000};
  char url[256];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
  int rc = coin_http_new(&h, &o);
  if (rc == 0)
    rc = coin_http_request(h, &r, "GET", url, NULL, NULL, 0);
  if (rc == 0) {
    *status = r.status;
    if (body) {
      *body = r.body;
      r.body = NULL;
    }
  }
  coin_http_response_clear(&r);
  coin_http_free(h);
  return rc;
}

static int wait_ready(struct svc *s, int timeout_ms) {
  int64_t end = now_ms() + timeout_ms;
  while (now_ms() < end) {
    long st = 0;
    if (http_get(&st, NULL, s->port, "/readyz") == 0 && st == 200)
      return 0;
    if (!coin_test_proc_alive(&s->proc)) {
      fprintf(stderr, "  coin-publish died, log %s\n", s->proc.log);
      coin_test_sh("tail -5 %s >&2", s->proc.log);
      return -1;
    }
    usleep(50000);
  }
  fprintf(stderr, "  coin-publish not ready, log %s\n", s->proc.log);
  coin_test_sh("tail -5 %s >&2", s->proc.log);
  return -1;
}

/* Value of a metric line "name value" (name may carry labels). */
static double metric(struct svc *s, const char *name) {
  long st = 0;
  char *body = NULL;
  double v = -1;
  if (http_get(&st, &body, s->port, "/metrics") != 0 || st != 200) {
    free(body);
    return -1;
  }
  size_t n = strlen(name);
  for (char *line = body; line && *line;) {
    char *nl = strchr(line, '\n');
    if (strncmp(line, name, n) == 0 && line[n] == ' ') {
      v = strtod(line + n + 1, NULL);
      break;
    }
    line = nl ? nl + 1 : NULL;
  }
  free(body);
  return v;
}

static void svc_stop(struct svc *s) {
  coin_test_proc_signal(&s->proc, SIGTERM);
  if (coin_test_proc_wait(&s->proc, 10000) < 0)
    coin_test_proc_signal(&s->proc, SIGKILL);
}

static int run_ingest(const char *replay_url, const char *symbols,
                      const char *tfs) {
  char e[16][320], logp[512];
  int k = COIN_TEST_NATS_ENV(e, 0, &nats, "ingest");
  snprintf(e[k++], 320, "INFLUX_URL=%s", influx.url);
  snprintf(e[k++], 320, "EXCHANGE_BASE_URL=%s", replay_url);
  snprintf(e[k++], 320, "SYMBOLS=%s", symbols);
  snprintf(e[k++], 320, "INGEST_TIMEFRAMES=%s", tfs);
  snprintf(e[k++], 320, "PRIMARY_TIMEFRAME=1h");
  snprintf(e[k++], 320, "ENABLE_MULTI_TIMEFRAMES=true");
  snprintf(e[k++], 320, "INGEST_FULL_FILL_TIMEFRAMES=1d,1w,1M");
  snprintf(e[k++], 320, "INGEST_LOOKBACK_DAYS=1");
  snprintf(e[k++], 320, "STATIC_DATA_DIR=%s/ingest-site", tmpdir);
  snprintf(e[k++], 320, "INGEST_HTTP_ADDR=127.0.0.1:%d", coin_test_free_port());
  snprintf(e[k++], 320, "INGEST_MAX_CYCLES=1");
  snprintf(e[k++], 320, "LOG_LEVEL=warn");
  char *envp[17];
  for (int i = 0; i < k; i++)
    envp[i] = e[i];
  envp[k] = NULL;
  snprintf(logp, sizeof(logp), "%s/ingest.log", tmpdir);
  char *argv[] = {bin_ingest, NULL};
  struct coin_test_proc p;
  if (coin_test_proc_start(&p, argv, envp, logp) != 0)
    return -1;
  int st = coin_test_proc_wait(&p, 60000);
  if (st != 0) {
    fprintf(stderr, "  coin-ingest exit %d, log %s\n", st, logp);
    coin_test_sh("tail -5 %s >&2", logp);
    coin_test_proc_signal(&p, SIGKILL);
  }
  return st;
}

/* ---- KV, stream, SoT ----------------------------------------------------- */

static int64_t kv_ms(const char *prefix, const char *symbol, enum coin_tf tf) {
  char key[128];
  struct coin_bus_kv_entry e = {0};
  int64_t v = -1;
  coin_codec_series_key(key, sizeof(key), prefix, "binance", symbol, tf);
  if (coin_bus_kv_get(&e, kv, key) == 0)
    v = strtoll((const char *)e.value, NULL, 10);
  coin_bus_kv_entry_clear(&e);
  return v;
}

static int set_ingest_wm(const char *symbol, enum coin_tf tf, int64_t wm) {
  char key[128], val[32];
  coin_codec_series_key(key, sizeof(key), "ingest", "binance", symbol, tf);
  int n = snprintf(val, sizeof(val), "%lld", (long long)wm);
  return coin_bus_kv_put(NULL, kv, key, val, (size_t)n);
}

static struct coin_candle synth(enum coin_tf tf, int64_t open_ms, double base) {
  (void)tf;
  double o = base + (double)(open_ms / 60000 % 1000) * 0.25;
  struct coin_candle c = {.open_ms = open_ms,
                          .open = o,
                          .high = o + 2.5,
                          .low = o - 1.25,
                          .close = o + 0.75,
                          .volume = 10.5 + (double)(open_ms / 60000 % 7)};
  return c;
}

/* Publishes a batch (subject may differ from the batch's series: tests). */
static int js_batch(const char *subject, const char *symbol, enum coin_tf tf,
                    enum coin_batch_kind kind, const struct coin_candle *c,
                    size_t n, int64_t wm) {
  static int seq;
  struct coin_candle_batch b = {
      .tf = tf,
      .kind = kind,
      .candles = (struct coin_candle *)c,
      .n_candles = n,
      .ingest_watermark_ms = wm >= c[n - 1].open_ms ? wm : c[n - 1].open_ms,
      .produced_at_ms = now_ms()};
  snprintf(b.exchange, sizeof(b.exchange), "binance");
  snprintf(b.symbol, sizeof(b.symbol), "%s", symbol);
  snprintf(b.producer_id, sizeof(b.producer_id), "test");
  char subj[128], id[64];
  if (!subject) {
    coin_codec_subject_candles(subj, sizeof(subj), "binance", symbol, tf);
    subject = subj;
  }
  uint8_t *data = NULL;
  size_t len = 0;
  int rc = coin_codec_pack_batch(&data, &len, &b);
  snprintf(id, sizeof(id), "test-%d-%lld", ++seq, (long long)now_ms());
  if (rc == 0)
    rc = coin_bus_js_publish(NULL, bus, subject, id, data, len);
  free(data);
  return rc;
}

/* Waits until the durable consumer has acknowledged everything in the
 * stream (so every message was handled and its files written). */
static int wait_consumed(const char *durable, int timeout_ms) {
  int64_t end = now_ms() + timeout_ms;
  while (now_ms() < end) {
    struct coin_bus_stream_info si;
    struct coin_bus_consumer_info ci;
    if (coin_bus_stream_info(&si, bus, COIN_STREAM_CANDLES) == 0 &&
        coin_bus_consumer_info(&ci, bus, COIN_STREAM_CANDLES, durable) == 0 &&
        ci.num_pending == 0 && ci.num_ack_pending == 0 &&
        ci.ack_floor_stream_seq >= si.last_seq)
      return 0;
    usleep(20000);
  }
  fprintf(stderr, "  consumer %s did not catch up\n", durable);
  return -1;
}

struct series_data {
  struct coin_candle *c;
  size_t n, cap;
};

static int collect(void *ud, const struct coin_candle *c) {
  struct series_data *d = ud;
  if (d->n == d->cap) {
    d->cap = d->cap ? d->cap * 2 : 1024;
    d->c = realloc(d->c, d->cap * sizeof(*d->c));
  }
  d->c[d->n++] = *c;
  return 0;
}

static int sot(struct series_data *out, const char *symbol, enum coin_tf tf,
               int64_t from, int64_t to) {
  memset(out, 0, sizeof(*out));
  return coin_influx_read_candles(ix, "binance", symbol, coin_tf_name(tf), from,
                                  to, collect, out);
}

/* ---- the site ------------------------------------------------------------ */

static json_t *load(const char *site, const char *rel) {
  char path[700];
  snprintf(path, sizeof(path), "%s/%s", site, rel);
  json_error_t je;
  json_t *j = json_load_file(path, 0, &je);
  if (!j)
    fprintf(stderr, "  %s: %s (line %d)\n", path, je.text, je.line);
  return j;
}

static json_t *history(const char *site, const char *symbol, enum coin_tf tf,
                       const char *file) {
  char rel[256];
  snprintf(rel, sizeof(rel), "v1/binance/%s/%s/%s", symbol, coin_tf_name(tf),
           file);
  return load(site, rel);
}

static int sha256_file(char out[65], const char *path) {
  char cmd[800];
  snprintf(cmd, sizeof(cmd), "sha256sum -- '%s' 2>/dev/null", path);
  FILE *f = popen(cmd, "r");
  if (!f)
    return -1;
  int ok = fscanf(f, "%64s", out) == 1;
  pclose(f);
  return ok && strlen(out) == 64 ? 0 : -1;
}

/* Every file the manifest lists exists and parses, and its size and sha256
 * are the manifest's, or (an update in progress: files are renamed between
 * the transition manifest and the final one) the previous ones it also
 * lists. *out_previous counts those. Returns 0 or -1 (and says why). */
static int check_site_once(const char *site, size_t *out_series,
                           size_t *out_previous, bool quiet) {
  json_t *m = load(site, "manifest.json");
  if (!m)
    return -1;
  int bad = 0;
  size_t previous = 0;
  if (json_integer_value(json_object_get(m, "schema_version")) !=
      COIN_SITE_SCHEMA_VERSION)
    bad = 1;
  json_t *series = json_object_get(m, "series");
  size_t i;
  json_t *s;
  json_array_foreach(series, i, s) {
    json_t *files = json_object_get(s, "files");
    if (json_array_size(files) != COIN_SITE_FILE_COUNT)
      bad = 1;
    size_t k;
    json_t *f;
    json_array_foreach(files, k, f) {
      const char *rel = json_string_value(json_object_get(f, "path"));
      const char *want = json_string_value(json_object_get(f, "sha256"));
      const char *prev =
          json_string_value(json_object_get(f, "previous_sha256"));
      char path[700], got[65] = "";
      snprintf(path, sizeof(path), "%s/%s", site, rel ? rel : "?");
      json_t *doc = load(site, rel ? rel : "?");
      if (!doc || sha256_file(got, path) != 0) {
        fprintf(stderr, "  %s: missing or unparsable\n", path);
        bad = 1;
        json_decref(doc);
        continue;
      }
      if (json_integer_value(json_object_get(doc, "schema_version")) !=
          COIN_SITE_SCHEMA_VERSION)
        bad = 1;
      /* every series file states its validity the contract's way */
      char *text = NULL;
      size_t text_len = 0;
      struct coin_site_head head;
      if (coin_file_read(&text, &text_len, path, 64u << 20) != 0 ||
          coin_site_read_head(&head, text, text_len) != 0 ||
          !head.has_instants) {
        fprintf(stderr, "  %s: validity: %s\n", path, coin_error_last());
        bad = 1;
      }
      free(text);
      if (prev)
        previous++;
      if ((!want || strcmp(want, got) != 0) &&
          (!prev || strcmp(prev, got) != 0)) {
        if (!quiet)
          fprintf(stderr, "  %s: sha256 %s, manifest %s (previous %s)\n", path,
                  got, want ? want : "-", prev ? prev : "-");
        if (!bad)
          bad = 2;
      }
      json_decref(doc);
    }
  }
  if (out_series)
    *out_series = json_array_size(series);
  if (out_previous)
    *out_previous = previous;
  json_decref(m);
  return bad == 2 ? -2 : bad ? -1 : 0;
}

/* A reader racing with a live writer: a hash mismatch can be a file that
 * was replaced after the manifest was read, so the manifest is read again
 * (the documented reader rule) before it counts. */
static int check_site(const char *site, size_t *out_series,
                      size_t *out_previous) {
  int rc = -2;
  for (int i = 0; i < 5 && rc == -2; i++) {
    if (i)
      usleep(20000);
    rc = check_site_once(site, out_series, out_previous, i < 4);
  }
  return rc;
}

/* history.json's candles == the SoT's window ending at the publish
 * watermark; none beyond the ingest watermark. */
static int check_history(const char *site, const char *symbol, enum coin_tf tf,
                         int64_t slots, size_t *out_n) {
  json_t *h = history(site, symbol, tf, "history.json");
  if (!h)
    return -1;
  int bad = 0;
  int64_t pub = json_integer_value(json_object_get(h, "publish_watermark_ms"));
  int64_t ing = kv_ms("ingest", symbol, tf);
  json_t *rows = json_object_get(h, "candles");
  struct series_data want = {0};
  if (pub > ing) {
    fprintf(stderr, "  %s %s: publish watermark %lld beyond ingest %lld\n",
            symbol, coin_tf_name(tf), (long long)pub, (long long)ing);
    bad = 1;
  }
  if (!bad && json_array_size(rows) > 0 &&
      sot(&want, symbol, tf, window_from(tf, pub, slots), pub) != 0)
    bad = 1;
  if (!bad && json_array_size(rows) != want.n) {
    fprintf(stderr, "  %s %s: %zu candles, SoT window %zu\n", symbol,
            coin_tf_name(tf), json_array_size(rows), want.n);
    bad = 1;
  }
  for (size_t i = 0; !bad && i < want.n; i++) {
    json_t *r = json_array_get(rows, i);
    const struct coin_candle *c = &want.c[i];
    int64_t open = json_integer_value(json_array_get(r, 0));
    double v[5];
    for (int k = 0; k < 5; k++)
      v[k] = json_number_value(json_array_get(r, (size_t)k + 1));
    if (open != c->open_ms || v[0] != c->open || v[1] != c->high ||
        v[2] != c->low || v[3] != c->close || v[4] != c->volume || open > ing) {
      fprintf(stderr, "  %s %s: row %zu (%lld) differs from the SoT\n", symbol,
              coin_tf_name(tf), i, (long long)open);
      bad = 1;
    }
  }
  if (out_n)
    *out_n = json_array_size(rows);
  free(want.c);
  json_decref(h);
  return bad ? -1 : 0;
}

static int64_t last_open(const char *site, const char *symbol,
                         enum coin_tf tf) {
  json_t *h = history(site, symbol, tf, "history.json");
  int64_t v = -2;
  if (h) {
    json_t *l = json_object_get(h, "last_candle_open_ms");
    v = json_is_integer(l) ? json_integer_value(l) : -1;
  }
  json_decref(h);
  return v;
}

static char *str_field(const char *site, const char *symbol, enum coin_tf tf,
                       const char *file, const char *key) {
  json_t *h = history(site, symbol, tf, file);
  const char *v = h ? json_string_value(json_object_get(h, key)) : NULL;
  char *out = v ? strdup(v) : NULL;
  json_decref(h);
  return out;
}

static bool has_candle(const char *site, const char *symbol, enum coin_tf tf,
                       int64_t open) {
  json_t *h = history(site, symbol, tf, "history.json");
  bool found = false;
  size_t i;
  json_t *r;
  json_array_foreach(json_object_get(h, "candles"), i, r) {
    if (json_integer_value(json_array_get(r, 0)) == open)
      found = true;
  }
  json_decref(h);
  return found;
}

static double close_of(const char *site, const char *symbol, enum coin_tf tf,
                       int64_t open) {
  json_t *h = history(site, symbol, tf, "history.json");
  double v = -1;
  size_t i;
  json_t *r;
  json_array_foreach(json_object_get(h, "candles"), i, r) {
    if (json_integer_value(json_array_get(r, 0)) == open)
      v = json_number_value(json_array_get(r, 4));
  }
  json_decref(h);
  return v;
}

/* Polls until the series' history shows last_candle_open_ms == want. */
static int wait_last(const char *site, const char *symbol, enum coin_tf tf,
                     int64_t want, int timeout_ms) {
  int64_t end = now_ms() + timeout_ms;
  int64_t got = -3;
  while (now_ms() < end) {
    got = last_open(site, symbol, tf);
    if (got == want)
      return 0;
    usleep(20000);
  }
  fprintf(stderr, "  %s %s: last candle %lld, want %lld\n", symbol,
          coin_tf_name(tf), (long long)got, (long long)want);
  return -1;
}

static int wait_status(const char *site, const char *symbol, enum coin_tf tf,
                       const char *want, int timeout_ms) {
  int64_t end = now_ms() + timeout_ms;
  char *got = NULL;
  while (now_ms() < end) {
    free(got);
    got = str_field(site, symbol, tf, "history.json", "status");
    if (got && !strcmp(got, want)) {
      free(got);
      return 0;
    }
    usleep(50000);
  }
  fprintf(stderr, "  %s %s: status %s, want %s\n", symbol, coin_tf_name(tf),
          got ? got : "-", want);
  free(got);
  return -1;
}

/* Polls until the final manifest (no update in progress) has this overall
 * status. */
static int wait_manifest(const char *site, const char *want, int timeout_ms) {
  int64_t end = now_ms() + timeout_ms;
  while (now_ms() < end) {
    json_t *m = load(site, "manifest.json");
    const char *st = json_string_value(
        json_object_get(json_object_get(m, "overall"), "status"));
    bool ok = m && st && !strcmp(st, want) &&
              json_is_false(json_object_get(m, "update_in_progress"));
    json_decref(m);
    if (ok)
      return 0;
    usleep(20000);
  }
  fprintf(stderr, "  manifest: overall status is not %s\n", want);
  return -1;
}

/* ---- tests --------------------------------------------------------------- */

static const enum coin_tf all_tfs[] = {COIN_TF_1M, COIN_TF_1H, COIN_TF_1D,
                                       COIN_TF_1W, COIN_TF_1MO};
static const int64_t default_slots[] = {1440, 500, 365, 260, 120};

static void ingest_then_publish_end_to_end(void) {
  struct coin_test_server rp;
  const char *rargs[] = {"--symbols", "BTCUSDT,ETHUSDT", NULL};
  const char *syms[] = {"BTCUSDT", "ETHUSDT"};
  ASSERT_OK(coin_test_replay_start(&rp, rargs));
  struct svc pub;
  ASSERT_OK(publish_start(&pub, "site-e2e", "e2e", "BTCUSDT,ETHUSDT",
                          "1h,1m,1d,1w,1M", NULL));
  ASSERT_OK(wait_ready(&pub, 15000));
  /* Before any ingest: every series is listed, with nothing to show (series
   * of earlier tests seen on the stream may be listed too). */
  size_t n_series = 0;
  ASSERT_OK(check_site(pub.site, &n_series, NULL));
  ASSERT_TRUE(n_series >= 10);
  char *st =
      str_field(pub.site, "BTCUSDT", COIN_TF_1H, "history.json", "status");
  ASSERT_EQ_STR(st, "insufficient_data");
  free(st);

  ASSERT_EQ_INT(run_ingest(rp.url, "BTCUSDT,ETHUSDT", "1h,1m,1d,1w,1M"), 0);
  ASSERT_OK(wait_consumed("e2e", 20000));
  for (size_t s = 0; s < 2; s++)
    for (size_t t = 0; t < 5; t++) {
      int64_t wm = kv_ms("ingest", syms[s], all_tfs[t]);
      ASSERT_TRUE(wm > 0);
      size_t n = 0;
      ASSERT_OK(
          check_history(pub.site, syms[s], all_tfs[t], default_slots[t], &n));
      ASSERT_TRUE(n > 10);
      ASSERT_EQ_INT(last_open(pub.site, syms[s], all_tfs[t]), wm);
      ASSERT_EQ_INT(kv_ms("publish", syms[s], all_tfs[t]), wm);
      if (all_tfs[t] != COIN_TF_1M) { /* 1m may turn soft_stale meanwhile */
        st = str_field(pub.site, syms[s], all_tfs[t], "history.json", "status");
        ASSERT_EQ_STR(st, "fresh");
        free(st);
      }
      /* no model registered: blocked, says why, carries no values */
      json_t *pr = history(pub.site, syms[s], all_tfs[t], "prediction.json");
      ASSERT_TRUE(pr != NULL);
      ASSERT_EQ_STR(json_string_value(json_object_get(pr, "blocked_reason")),
                    "no_model");
      ASSERT_EQ_STR(json_string_value(json_object_get(pr, "prediction_status")),
                    "no_model");
      /* no model is not a lack of data: the file keeps its input's status */
      ASSERT_TRUE(strcmp(json_string_value(json_object_get(pr, "status")),
                         "insufficient_data") != 0);
      ASSERT_TRUE(json_is_null(json_object_get(pr, "predicted_close")));
      ASSERT_TRUE(json_is_null(json_object_get(pr, "band")));
      ASSERT_EQ_INT(
          json_integer_value(json_object_get(pr, "input_last_candle_open_ms")),
          wm);
      json_decref(pr);
    }
  ASSERT_OK(check_site(pub.site, &n_series, NULL));
  json_t *m = load(pub.site, "manifest.json");
  ASSERT_TRUE(m != NULL);
  ASSERT_TRUE(json_integer_value(json_object_get(json_object_get(m, "overall"),
                                                 "series")) >= 10);
  json_decref(m);
  ASSERT_TRUE(metric(&pub, "coin_publish_batches_total") >= 10);
  ASSERT_TRUE(metric(&pub, "coin_publish_latency_seconds_count") > 0);
  long hs = 0;
  ASSERT_OK(http_get(&hs, NULL, pub.port, "/healthz"));
  ASSERT_EQ_INT(hs, 200);

  /* SIGTERM: a clean exit; a new instance rebuilds the same candles. */
  json_t *before = history(pub.site, "ETHUSDT", COIN_TF_1D, "history.json");
  coin_test_proc_signal(&pub.proc, SIGTERM);
  ASSERT_EQ_INT(coin_test_proc_wait(&pub.proc, 10000), 0);
  struct svc again;
  ASSERT_OK(publish_start(&again, "site-e2e", "e2e", "BTCUSDT,ETHUSDT",
                          "1h,1m,1d,1w,1M", NULL));
  ASSERT_OK(wait_ready(&again, 15000));
  json_t *after = history(again.site, "ETHUSDT", COIN_TF_1D, "history.json");
  ASSERT_TRUE(before && after);
  ASSERT_TRUE(json_equal(json_object_get(before, "candles"),
                         json_object_get(after, "candles")));
  ASSERT_TRUE(json_integer_value(json_object_get(after, "generated_at_ms")) >
              json_integer_value(json_object_get(before, "generated_at_ms")));
  json_decref(before);
  json_decref(after);
  ASSERT_OK(check_site(again.site, NULL, NULL));
  svc_stop(&again);
  coin_test_server_cleanup(&rp);
}

static void watermarks_holes_and_poison(void) {
  const char *S = "TESTAUSDT";
  const enum coin_tf tf = COIN_TF_1H;
  int64_t H[30];
  H[29] = coin_tf_last_closed(tf, now_ms());
  for (int i = 28; i >= 0; i--)
    H[i] = H[i + 1] - COIN_HOUR_MS;
  struct coin_candle c[30];
  for (int i = 0; i < 30; i++)
    c[i] = synth(tf, H[i], 100);
  /* The SoT lacks H3 (an exchange gap, for now). */
  ASSERT_OK(coin_influx_write_candles(ix, "binance", S, "1h", c, 3));
  ASSERT_OK(coin_influx_write_candles(ix, "binance", S, "1h", c + 4, 26));
  ASSERT_OK(set_ingest_wm(S, tf, H[9]));

  struct svc pub;
  const char *env[] = {"PUBLISH_RECONCILE_AFTER_SECONDS=2",
                       "PUBLISH_UNCONFIGURED_SERIES=false", NULL};
  ASSERT_OK(publish_start(&pub, "site-wm", "wm", S, "1h", env));
  ASSERT_OK(wait_ready(&pub, 15000));
  size_t n = 0;
  ASSERT_OK(check_history(pub.site, S, tf, 500, &n));
  ASSERT_EQ_INT(n, 9); /* H0..H9 without H3 */
  ASSERT_EQ_INT(last_open(pub.site, S, tf), H[9]);
  ASSERT_FALSE(has_candle(pub.site, S, tf, H[3]));

  /* A duplicate: nothing changes. */
  ASSERT_OK(js_batch(NULL, S, tf, COIN_BATCH_LIVE, c + 8, 2, H[9]));
  ASSERT_OK(wait_consumed("wm", 10000));
  ASSERT_EQ_INT(metric(&pub, "coin_publish_duplicate_batches_total"), 1);
  ASSERT_EQ_INT(last_open(pub.site, S, tf), H[9]);

  /* A hole after the watermark (H10 missing from the batch) and a candle
   * beyond the ingest watermark (H13): H10..H12 come from InfluxDB, H13
   * never appears. */
  ASSERT_OK(set_ingest_wm(S, tf, H[12]));
  ASSERT_OK(js_batch(NULL, S, tf, COIN_BATCH_LIVE, c + 11, 3, H[13]));
  ASSERT_OK(wait_consumed("wm", 10000));
  ASSERT_EQ_INT(last_open(pub.site, S, tf), H[12]);
  ASSERT_TRUE(has_candle(pub.site, S, tf, H[10]));
  ASSERT_FALSE(has_candle(pub.site, S, tf, H[13]));
  ASSERT_EQ_INT(metric(&pub, "coin_publish_reconciles_total{reason=\"hole\"}"),
                1);
  ASSERT_EQ_INT(metric(&pub, "coin_publish_beyond_watermark_candles_total"), 1);
  ASSERT_OK(check_history(pub.site, S, tf, 500, NULL));

  /* Out of order (an old candle again), then a backfill that repairs the
   * old hole H3 (ingest wrote it to the SoT first). */
  ASSERT_OK(js_batch(NULL, S, tf, COIN_BATCH_LIVE, c + 10, 1, H[12]));
  ASSERT_OK(coin_influx_write_candles(ix, "binance", S, "1h", c + 3, 1));
  ASSERT_OK(js_batch(NULL, S, tf, COIN_BATCH_BACKFILL, c + 3, 1, H[12]));
  ASSERT_OK(wait_consumed("wm", 10000));
  ASSERT_TRUE(has_candle(pub.site, S, tf, H[3]));
  ASSERT_EQ_INT(metric(&pub, "coin_publish_holes_repaired_total"), 1);
  ASSERT_EQ_INT(metric(&pub, "coin_publish_duplicate_batches_total"), 2);
  ASSERT_OK(check_history(pub.site, S, tf, 500, NULL));

  /* A batch that contradicts what is published: the SoT decides. */
  struct coin_candle wrong = c[5];
  wrong.close = wrong.close + 0.5;
  ASSERT_OK(js_batch(NULL, S, tf, COIN_BATCH_LIVE, &wrong, 1, H[12]));
  ASSERT_OK(wait_consumed("wm", 10000));
  ASSERT_EQ_DBL(close_of(pub.site, S, tf, H[5]), c[5].close);
  ASSERT_EQ_INT(
      metric(&pub, "coin_publish_reconciles_total{reason=\"conflict\"}"), 1);

  /* Ingest advanced but its batch never came: reconciled by the timer. */
  ASSERT_OK(set_ingest_wm(S, tf, H[16]));
  ASSERT_OK(wait_last(pub.site, S, tf, H[16], 8000));
  ASSERT_TRUE(
      metric(&pub, "coin_publish_reconciles_total{reason=\"no_batch\"}") >= 1);
  ASSERT_OK(check_history(pub.site, S, tf, 500, NULL));

  /* Ahead of the ingest watermark: held back. */
  ASSERT_OK(js_batch(NULL, S, tf, COIN_BATCH_LIVE, c + 17, 4, H[20]));
  ASSERT_OK(wait_consumed("wm", 10000));
  usleep(300000);
  ASSERT_EQ_INT(last_open(pub.site, S, tf), H[16]);
  ASSERT_EQ_INT(kv_ms("publish", S, tf), H[16]);

  /* Poison: garbage, a batch on another series' subject, an invalid candle.
   * Each is terminated; the next good batch is published. */
  char subj[128];
  coin_codec_subject_candles(subj, sizeof(subj), "binance", S, tf);
  ASSERT_OK(
      coin_bus_js_publish(NULL, bus, subj, "garbage-1", "\x0a\xff\x01", 3));
  char other[128];
  coin_codec_subject_candles(other, sizeof(other), "binance", "OTHERUSDT", tf);
  ASSERT_OK(js_batch(other, S, tf, COIN_BATCH_LIVE, c + 17, 1, H[17]));
  struct coin_candle bad = c[17];
  bad.high = bad.low - 1;
  ASSERT_OK(js_batch(NULL, S, tf, COIN_BATCH_LIVE, &bad, 1, H[17]));
  ASSERT_OK(set_ingest_wm(S, tf, H[17]));
  ASSERT_OK(js_batch(NULL, S, tf, COIN_BATCH_LIVE, c + 17, 1, H[17]));
  ASSERT_OK(wait_consumed("wm", 10000));
  ASSERT_EQ_INT(last_open(pub.site, S, tf), H[17]);
  ASSERT_EQ_INT(
      metric(&pub, "coin_publish_terminated_messages_total{reason=\"decode\"}"),
      1);
  ASSERT_EQ_INT(
      metric(&pub,
             "coin_publish_terminated_messages_total{reason=\"subject\"}"),
      1);
  ASSERT_EQ_INT(metric(&pub, "coin_publish_terminated_messages_total{reason="
                             "\"invalid_candle\"}"),
                1);
  ASSERT_OK(check_history(pub.site, S, tf, 500, NULL));
  ASSERT_OK(check_site(pub.site, NULL, NULL));

  /* An operator deletes the durable consumer: it is created again, the
   * stream replays (duplicates only) and new batches are published. */
  ASSERT_OK(coin_bus_consumer_delete(bus, COIN_STREAM_CANDLES, "wm"));
  ASSERT_OK(set_ingest_wm(S, tf, H[18]));
  ASSERT_OK(js_batch(NULL, S, tf, COIN_BATCH_LIVE, c + 18, 1, H[18]));
  ASSERT_OK(wait_last(pub.site, S, tf, H[18], 10000));
  ASSERT_OK(check_history(pub.site, S, tf, 500, NULL));
  ASSERT_TRUE(coin_test_proc_alive(&pub.proc));
  svc_stop(&pub);
}

/* Freshness moves with time alone: the files follow, and a prediction is
 * never better than its input. The thresholds are set so that the series
 * (one candle overdue) turns soft_stale ~3 s and hard_stale ~6 s after the
 * start. */
static void status_follows_time(void) {
  const char *S = "TESTBUSDT";
  const enum coin_tf tf = COIN_TF_1H;
  int64_t now = now_ms();
  if (coin_tf_next(tf, now) - now < 20000) {
    /* an hour boundary during the test would add a missing candle */
    usleep((useconds_t)(coin_tf_next(tf, now) - now + 1000) * 1000);
    now = now_ms();
  }
  int64_t last = coin_tf_prev(tf, coin_tf_last_closed(tf, now));
  struct coin_candle c[20];
  for (int i = 0; i < 20; i++)
    c[i] = synth(tf, last - (19 - i) * COIN_HOUR_MS, 50);
  ASSERT_OK(coin_influx_write_candles(ix, "binance", S, "1h", c, 20));
  ASSERT_OK(set_ingest_wm(S, tf, last));
  int64_t overdue_s = (now - coin_tf_floor(tf, now)) / 1000;
  char soft[96], hard[96];
  snprintf(soft, sizeof(soft), "FRESHNESS_SOFT_AFTER_SECONDS_1h=%lld",
           (long long)overdue_s + 4);
  snprintf(hard, sizeof(hard), "FRESHNESS_HARD_AFTER_SECONDS_1h=%lld",
           (long long)overdue_s + 7);
  const char *env[] = {soft, hard, "PUBLISH_REEVALUATE_SECONDS=1",
                       "PUBLISH_UNCONFIGURED_SERIES=false", NULL};
  struct svc pub;
  ASSERT_OK(publish_start(&pub, "site-fresh", "fresh", S, "1h", env));
  ASSERT_OK(wait_ready(&pub, 15000));
  ASSERT_OK(wait_status(pub.site, S, tf, "fresh", 2000));
  /* the fresh file announces its own instants: the candle after `last`
   * closes at next(next(last)), soft/hard thresholds after that */
  json_t *fresh = history(pub.site, S, tf, "history.json");
  ASSERT_TRUE(fresh != NULL);
  int64_t due = coin_tf_next(tf, coin_tf_next(tf, last));
  int64_t soft_at =
      json_integer_value(json_object_get(fresh, "soft_stale_at_ms"));
  int64_t hard_at =
      json_integer_value(json_object_get(fresh, "hard_stale_at_ms"));
  ASSERT_EQ_INT(soft_at, due + (overdue_s + 4) * 1000);
  ASSERT_EQ_INT(hard_at, due + (overdue_s + 7) * 1000);
  ASSERT_EQ_INT(
      json_integer_value(json_object_get(fresh, "last_candle_close_ms")),
      coin_tf_next(tf, last));
  json_decref(fresh);
  ASSERT_OK(wait_status(pub.site, S, tf, "soft_stale", 8000));
  /* the writer agrees with what the file said in advance (re-evaluation
   * every second, plus a poll) */
  ASSERT_TRUE(now_ms() >= soft_at);
  ASSERT_TRUE(now_ms() <= soft_at + 2500);
  ASSERT_OK(check_site(pub.site, NULL, NULL));
  ASSERT_OK(wait_status(pub.site, S, tf, "hard_stale", 8000));
  ASSERT_TRUE(now_ms() >= hard_at);
  ASSERT_TRUE(now_ms() <= hard_at + 2500);
  /* the final manifest comes after both files of that update */
  ASSERT_OK(wait_manifest(pub.site, "hard_stale", 3000));
  json_t *pr = history(pub.site, S, tf, "prediction.json");
  ASSERT_TRUE(pr != NULL);
  /* no model and hard_stale input: the input's state, named */
  ASSERT_EQ_STR(json_string_value(json_object_get(pr, "status")), "hard_stale");
  ASSERT_EQ_STR(json_string_value(json_object_get(pr, "prediction_status")),
                "hard_stale");
  ASSERT_EQ_STR(json_string_value(json_object_get(pr, "blocked_reason")),
                "hard_stale");
  ASSERT_TRUE(json_is_null(json_object_get(pr, "predicted_close")));
  json_decref(pr);
  json_t *m = load(pub.site, "manifest.json");
  ASSERT_EQ_STR(json_string_value(
                    json_object_get(json_object_get(m, "overall"), "status")),
                "hard_stale");
  json_t *f = json_array_get(
      json_object_get(json_array_get(json_object_get(m, "series"), 0), "files"),
      0);
  ASSERT_EQ_STR(json_string_value(json_object_get(f, "cache_control")),
                "no-cache");
  json_decref(m);
  ASSERT_TRUE(metric(&pub, "coin_publish_status_rewrites_total") >= 2);
  /* The missing candle arrives: fresh again. */
  struct coin_candle next = synth(tf, coin_tf_next(tf, last), 50);
  ASSERT_OK(coin_influx_write_candles(ix, "binance", S, "1h", &next, 1));
  ASSERT_OK(set_ingest_wm(S, tf, next.open_ms));
  ASSERT_OK(js_batch(NULL, S, tf, COIN_BATCH_LIVE, &next, 1, next.open_ms));
  ASSERT_OK(wait_status(pub.site, S, tf, "fresh", 5000));
  ASSERT_OK(check_site(pub.site, NULL, NULL));
  svc_stop(&pub);
}

#define KILL_SERIES 4

static void sigkill_while_writing_converges(void) {
  const enum coin_tf tf = COIN_TF_1M;
  char syms[KILL_SERIES][16];
  char symlist[128] = "";
  int64_t top = coin_tf_last_closed(tf, now_ms());
  int64_t wm0 = top - 400 * COIN_MINUTE_MS;
  ASSERT_OK(coin_influx_ensure_rp(ix, "rp_1m", 7 * COIN_DAY_MS, false));
  struct coin_influx_options o;
  coin_influx_options_init(&o);
  o.url = influx.url;
  o.rp_by_tf[COIN_TF_1M] = "rp_1m";
  struct coin_influx *ix1m = NULL;
  ASSERT_OK(coin_influx_new(&ix1m, &o));
  size_t nc = 1700;
  struct coin_candle *c = calloc(nc, sizeof(*c));
  for (size_t i = 0; i < nc; i++)
    c[i] = synth(tf, top - (int64_t)(nc - 1 - i) * COIN_MINUTE_MS, 20);
  for (int s = 0; s < KILL_SERIES; s++) {
    snprintf(syms[s], sizeof(syms[s]), "KILL%dUSDT", s);
    snprintf(symlist + strlen(symlist), sizeof(symlist) - strlen(symlist),
             "%s%s", s ? "," : "", syms[s]);
    ASSERT_OK(coin_influx_write_candles(ix1m, "binance", syms[s], "1m", c, nc));
    ASSERT_OK(set_ingest_wm(syms[s], tf, wm0));
  }
  const char *env[] = {"PUBLISH_UNCONFIGURED_SERIES=false",
                       "PUBLISH_ACK_WAIT_SECONDS=5", NULL};
  struct svc pub;
  unsigned seed = 4242;
  int64_t wm = wm0;
  size_t in_progress_seen = 0;
  for (int round = 0; round < 6; round++) {
    ASSERT_OK(publish_start(&pub, "site-kill", "kill", symlist, "1m", env));
    if (round == 0)
      ASSERT_OK(wait_ready(&pub, 15000));
    /* ingest's order per step: SoT (already there), watermark, batch */
    int64_t until = now_ms() + 150 + rand_r(&seed) % 500;
    while (now_ms() < until && wm < top) {
      wm += COIN_MINUTE_MS;
      size_t idx = (size_t)((wm - c[0].open_ms) / COIN_MINUTE_MS);
      for (int s = 0; s < KILL_SERIES; s++) {
        ASSERT_OK(set_ingest_wm(syms[s], tf, wm));
        ASSERT_OK(js_batch(NULL, syms[s], tf, COIN_BATCH_LIVE, c + idx, 1, wm));
      }
      usleep(2000);
    }
    coin_test_proc_signal(&pub.proc, SIGKILL);
    size_t prev = 0;
    ASSERT_OK(check_site(pub.site, NULL, &prev));
    in_progress_seen += prev;
    for (int s = 0; s < KILL_SERIES; s++)
      ASSERT_TRUE(last_open(pub.site, syms[s], tf) <= wm);
  }
  /* Restart: the site converges to the SoT. */
  ASSERT_OK(publish_start(&pub, "site-kill", "kill", symlist, "1m", env));
  ASSERT_OK(wait_ready(&pub, 15000));
  ASSERT_OK(wait_consumed("kill", 20000));
  for (int s = 0; s < KILL_SERIES; s++) {
    ASSERT_OK(wait_last(pub.site, syms[s], tf, wm, 10000));
    size_t n = 0;
    ASSERT_OK(check_history(pub.site, syms[s], tf, 1440, &n));
    ASSERT_EQ_INT(n, 1440);
    ASSERT_EQ_INT(kv_ms("publish", syms[s], tf), wm);
  }
  /* settled: no update in progress (poll: a status change may be writing) */
  size_t prev = 1;
  for (int i = 0; i < 100 && prev; i++) {
    ASSERT_OK(check_site(pub.site, NULL, &prev));
    if (prev)
      usleep(20000);
  }
  ASSERT_EQ_INT(prev, 0);
  /* leftovers of the killed writers are gone */
  ASSERT_EQ_INT(coin_test_sh("test -z \"$(find '%s' -name '*.tmp.*' ! -name "
                             "'*.tmp.%d.*')\"",
                             pub.site, (int)pub.proc.pid),
                0);
  fprintf(stderr, "  (kills that left an update in progress: %zu files)\n",
          in_progress_seen);
  svc_stop(&pub);
  free(c);
  coin_influx_free(ix1m);
}

/* A valid series of EXCHANGE seen on the stream is published too (built
 * from InfluxDB like a configured one); other exchanges are skipped. */
static void stream_discovers_series(void) {
  const char *S = "NEWUSDT";
  const enum coin_tf tf = COIN_TF_1D;
  int64_t last = coin_tf_last_closed(tf, now_ms());
  struct coin_candle c[6];
  for (int i = 0; i < 6; i++)
    c[i] = synth(tf, last - (5 - i) * COIN_DAY_MS, 70);
  ASSERT_OK(coin_influx_write_candles(ix, "binance", S, "1d", c, 6));
  ASSERT_OK(set_ingest_wm(S, tf, last));
  struct svc pub;
  ASSERT_OK(publish_start(&pub, "site-disc", "disc", "BTCUSDT", "1h", NULL));
  ASSERT_OK(wait_ready(&pub, 15000));
  ASSERT_OK(js_batch(NULL, S, tf, COIN_BATCH_LIVE, c + 5, 1, last));
  /* another exchange: valid, but not ours */
  struct coin_candle_batch b = {.tf = tf,
                                .kind = COIN_BATCH_LIVE,
                                .candles = c + 5,
                                .n_candles = 1,
                                .ingest_watermark_ms = last,
                                .produced_at_ms = now_ms()};
  snprintf(b.exchange, sizeof(b.exchange), "otherex");
  snprintf(b.symbol, sizeof(b.symbol), "%s", S);
  char subj[128];
  uint8_t *data = NULL;
  size_t len = 0;
  coin_codec_subject_candles(subj, sizeof(subj), "otherex", S, tf);
  ASSERT_OK(coin_codec_pack_batch(&data, &len, &b));
  ASSERT_OK(coin_bus_js_publish(NULL, bus, subj, "otherex-1", data, len));
  free(data);
  ASSERT_OK(wait_consumed("disc", 10000));
  size_t n = 0, n_series = 0;
  ASSERT_OK(check_history(pub.site, S, tf, 365, &n));
  ASSERT_EQ_INT(n, 6);
  ASSERT_OK(check_site(pub.site, &n_series, NULL));
  ASSERT_EQ_INT(n_series, 2); /* BTCUSDT 1h (configured, empty) + NEWUSDT */
  ASSERT_EQ_INT(metric(&pub, "coin_publish_unconfigured_batches_total"), 1);
  ASSERT_EQ_INT(coin_test_sh("test ! -e '%s/v1/otherex'", pub.site), 0);
  svc_stop(&pub);
}

static void config_error_exit_2(void) {
  char logp[512];
  snprintf(logp, sizeof(logp), "%s/cfg.log", tmpdir);
  char *envp[] = {"PUBLISH_HISTORY_CANDLES_1h=0", "LOG_LEVEL=error", NULL};
  char *argv[] = {bin_publish, NULL};
  struct coin_test_proc p;
  ASSERT_OK(coin_test_proc_start(&p, argv, envp, logp));
  ASSERT_EQ_INT(coin_test_proc_wait(&p, 10000), 2);
  ASSERT_EQ_INT(coin_test_sh("grep -q 'PUBLISH_HISTORY_CANDLES_1h' %s", logp),
                0);
}

/* The track record equals an independent recomputation from history.json
 * and the recorded predictions: champion records written to InfluxDB
 * measurement "prediction" exactly as coin_serving writes them (plus a
 * shadow record that must not appear), candles in the SoT; publish reads,
 * realizes from its window and renders; the test recomputes every row and
 * the 24 h window from the files and its own list of records. */
struct rec {
  int64_t target;
  double pred_ret, input_close;
};

static void track_record_matches_recomputation(void) {
  const char *S = "TESTTRUSDT";
  const enum coin_tf tf = COIN_TF_1H;
  int64_t last = coin_tf_last_closed(tf, now_ms());
  struct coin_candle c[40];
  for (int i = 0; i < 40; i++)
    c[i] = synth(tf, last - (39 - i) * COIN_HOUR_MS, 70);
  ASSERT_OK(coin_influx_write_candles(ix, "binance", S, "1h", c, 40));
  ASSERT_OK(set_ingest_wm(S, tf, last));
  /* 30 realized predictions (targets c[10..39]) and one pending (next) */
  struct rec recs[31];
  for (int i = 0; i < 31; i++) {
    recs[i].target = c[9].open_ms + (int64_t)(i + 1) * COIN_HOUR_MS;
    recs[i].input_close = c[9 + i].close;
    recs[i].pred_ret = 0.0004 * (double)((i % 5) - 2) + 0.0001;
  }
  for (int i = 0; i < 32; i++) {
    bool shadow = i == 31;
    const struct rec *r = &recs[shadow ? 5 : i];
    struct coin_influx_tag tags[] = {
        {"exchange", "binance"},
        {"symbol", S},
        {"timeframe", "1h"},
        {"model_version", shadow ? "m-shadow" : "m-test-1"},
        {"role", shadow ? "challenger" : "champion"},
    };
    struct coin_influx_field fields[] = {
        {"predicted_return",
         {.type = COIN_INFLUX_FLOAT, .v.f64 = shadow ? 0.5 : r->pred_ret}},
        {"p_up", {.type = COIN_INFLUX_FLOAT, .v.f64 = 0.5}},
        {"input_close", {.type = COIN_INFLUX_FLOAT, .v.f64 = r->input_close}},
        {"input_open_ms",
         {.type = COIN_INFLUX_INT, .v.i64 = r->target - COIN_HOUR_MS}},
    };
    struct coin_influx_point pt = {.measurement = "prediction",
                                   .tags = tags,
                                   .n_tags = 5,
                                   .fields = fields,
                                   .n_fields = 4,
                                   .time_ms = r->target};
    ASSERT_OK(coin_influx_add(ix, &pt));
  }
  ASSERT_OK(coin_influx_flush(ix));
  const char *env[] = {"PUBLISH_UNCONFIGURED_SERIES=false",
                       "PUBLISH_TRACK_RECORD_ROWS=24", NULL};
  struct svc pub;
  ASSERT_OK(publish_start(&pub, "site-track", "track", S, "1h", env));
  ASSERT_OK(wait_ready(&pub, 15000));
  ASSERT_OK(wait_status(pub.site, S, tf, "fresh", 5000));
  ASSERT_OK(check_site(pub.site, NULL, NULL));
  json_t *h = history(pub.site, S, tf, "history.json");
  json_t *t = history(pub.site, S, tf, "track_record.json");
  ASSERT_TRUE(h != NULL && t != NULL);
  ASSERT_EQ_STR(json_string_value(json_object_get(t, "status")),
                json_string_value(json_object_get(h, "status")));
  ASSERT_EQ_INT(json_integer_value(json_object_get(t, "hard_stale_at_ms")),
                json_integer_value(json_object_get(h, "hard_stale_at_ms")));
  json_t *rows = json_object_get(t, "rows");
  ASSERT_EQ_INT(json_array_size(rows), 24); /* the newest 24 of 31 */
  json_t *candles = json_object_get(h, "candles");
  int64_t gen = json_integer_value(json_object_get(t, "generated_at_ms"));
  double sum = 0, psum = 0;
  int64_t n = 0, hits = 0, dn = 0;
  for (size_t k = 0; k < 24; k++) {
    const struct rec *r = &recs[31 - 24 + k];
    json_t *row = json_array_get(rows, k);
    ASSERT_EQ_INT(json_integer_value(json_object_get(row, "target_open_ms")),
                  r->target);
    ASSERT_EQ_STR(json_string_value(json_object_get(row, "model_version")),
                  "m-test-1");
    ASSERT_NEAR(json_number_value(json_object_get(row, "predicted_close")),
                r->input_close * exp(r->pred_ret), 1e-9);
    double real = NAN;
    for (size_t j = 0; j < json_array_size(candles); j++) {
      json_t *cr = json_array_get(candles, j);
      if (json_integer_value(json_array_get(cr, 0)) == r->target)
        real = json_number_value(json_array_get(cr, 4));
    }
    if (isnan(real)) { /* the pending one: the next candle */
      ASSERT_EQ_INT(r->target, coin_tf_next(tf, last));
      ASSERT_TRUE(json_is_null(json_object_get(row, "realized_close")));
      ASSERT_TRUE(json_is_null(json_object_get(row, "hit")));
      continue;
    }
    double ret = log(real / r->input_close);
    ASSERT_EQ_DBL(json_number_value(json_object_get(row, "realized_close")),
                  real);
    ASSERT_NEAR(json_number_value(json_object_get(row, "abs_error")),
                fabs(r->pred_ret - ret), 1e-15);
    ASSERT_NEAR(
        json_number_value(json_object_get(row, "persistence_abs_error")),
        fabs(ret), 1e-15);
    ASSERT_TRUE(json_is_true(json_object_get(row, "hit")) ==
                ((r->pred_ret > 0) == (ret > 0)));
  }
  for (int i = 0; i < 31; i++) { /* the 24 h window over every record */
    const struct rec *r = &recs[i];
    if (r->target < gen - COIN_DAY_MS || r->target > last)
      continue;
    double real =
        c[r->target == last ? 39 : (r->target - c[0].open_ms) / COIN_HOUR_MS]
            .close;
    double ret = log(real / r->input_close);
    n++;
    sum += fabs(r->pred_ret - ret);
    psum += fabs(ret);
    if (ret != 0) {
      dn++;
      hits += (r->pred_ret > 0) == (ret > 0);
    }
  }
  json_t *w = json_array_get(json_object_get(t, "windows"), 0);
  ASSERT_EQ_STR(json_string_value(json_object_get(w, "window")), "24h");
  ASSERT_EQ_INT(json_integer_value(json_object_get(w, "n")), n);
  ASSERT_TRUE(n >= 20);
  ASSERT_NEAR(json_number_value(json_object_get(w, "mae")), sum / (double)n,
              1e-15);
  ASSERT_NEAR(json_number_value(json_object_get(w, "persistence_mae")),
              psum / (double)n, 1e-15);
  ASSERT_EQ_INT(json_integer_value(json_object_get(w, "hits")), hits);
  ASSERT_EQ_INT(json_integer_value(json_object_get(w, "directional_n")), dn);
  json_decref(h);
  json_decref(t);
  svc_stop(&pub);
}

/* ---- champion_underperforming: publish's own judgement of the champion --
 * A ridge champion (fitted here on real BTCUSDT 1h candles, registered as
 * coin-train does, walk-forward better than persistence so it is served)
 * and, for two series of the same real candles re-timed to end now, its
 * realized records in InfluxDB predicting the opposite of what happened:
 * 60 on one series, 30 on the other; PUBLISH_CHAMPION_MIN_SERIES_ROWS=50. */

#define CU_CANDLES 300
#define CU_VERSION "champ-under-1"

static int cu_register(struct coin_registry *reg,
                       const struct coin_candle_file *f) {
  struct coin_dataset ds = {0};
  size_t series;
  struct coin_features_builder b;
  coin_dataset_series_index(&series, &ds, "BTCUSDT", COIN_TF_1H);
  coin_features_builder_init(&b, COIN_TF_1H);
  for (size_t i = f->count - 4400; i < f->count - CU_CANDLES; i++) {
    struct coin_feature_row r;
    double y;
    if (coin_features_builder_push(&b, &r, &y, &f->rows[i]) == 1)
      coin_dataset_add(&ds, &r, y, series);
  }
  coin_dataset_sort(&ds);
  struct coin_model_params prm;
  coin_model_params_default(&prm);
  struct coin_model *m = NULL;
  double *z = malloc(1000 * sizeof(double));
  size_t o = ds.n - 1000;
  struct coin_calibration cal;
  uint8_t *art = NULL;
  size_t len = 0;
  int rc = coin_model_fit(&m, "ridge", &ds, 0, o, &prm);
  if (rc == 0)
    rc = coin_model_predict_z(m, z, ds.x + o * COIN_FEATURES_COUNT, 1000);
  if (rc == 0)
    rc = coin_calibration_fit(&cal, z, ds.y + o, ds.scale + o, ds.tf + o, 1000);
  if (rc == 0) {
    coin_model_set_calibration(m, &cal);
    rc = coin_model_save(m, &art, &len);
  }
  free(z);
  coin_model_free(m);
  coin_dataset_free(&ds);
  struct coin_model_metadata md;
  memset(&md, 0, sizeof(md));
  snprintf(md.version, sizeof(md.version), CU_VERSION);
  snprintf(md.kind, sizeof(md.kind), "ridge");
  md.role = COIN_ROLE_CHAMPION;
  md.feature_schema_version = COIN_FEATURES_SCHEMA_VERSION;
  snprintf(md.feature_schema_hash, sizeof(md.feature_schema_hash), "%s",
           coin_features_schema_hash());
  md.train_from_ms = f->rows[f->count - 4400].open_ms;
  md.train_to_ms = md.train_watermark_ms =
      f->rows[f->count - CU_CANDLES - 1].open_ms;
  md.created_at_ms = now_ms();
  snprintf(md.git_revision, sizeof(md.git_revision), "test");
  coin_codec_metric_set(md.metrics, &md.n_metrics, "wf.1h.mae", 0.0058);
  coin_codec_metric_set(md.metrics, &md.n_metrics, "wf.1h.persistence_mae",
                        0.0061);
  coin_codec_metric_set(md.metrics, &md.n_metrics, "wf.1h.dir_acc", 0.52);
  coin_codec_metric_set(md.metrics, &md.n_metrics, "wf.1h.n", 1234);
  if (rc == 0 && (rc = coin_registry_put_artifact(reg, &md, art, len)) == 0 &&
      (rc = coin_registry_create(reg, &md)) == 0)
    rc = coin_registry_alias_set(reg, COIN_ALIAS_CHAMPION, CU_VERSION, 0);
  free(art);
  return rc;
}

/* The candles into the SoT, and n_rec champion records whose prediction is
 * minus the realized return, realized by the serving chain's own code. */
static int cu_series(const char *symbol, const struct coin_candle *c,
                     size_t n_rec) {
  int rc =
      coin_influx_write_candles(ix, "binance", symbol, "1h", c, CU_CANDLES);
  for (size_t k = CU_CANDLES - n_rec; rc == 0 && k < CU_CANDLES; k++) {
    struct coin_influx_tag tags[] = {
        {"exchange", "binance"}, {"symbol", symbol},
        {"timeframe", "1h"},     {"model_version", CU_VERSION},
        {"role", "champion"},
    };
    struct coin_influx_field fields[] = {
        {"predicted_return",
         {.type = COIN_INFLUX_FLOAT,
          .v.f64 = -log(c[k].close / c[k - 1].close)}},
        {"p_up", {.type = COIN_INFLUX_FLOAT, .v.f64 = 0.5}},
        {"input_close", {.type = COIN_INFLUX_FLOAT, .v.f64 = c[k - 1].close}},
        {"input_open_ms", {.type = COIN_INFLUX_INT, .v.i64 = c[k - 1].open_ms}},
    };
    struct coin_influx_point pt = {.measurement = "prediction",
                                   .tags = tags,
                                   .n_tags = 5,
                                   .fields = fields,
                                   .n_fields = 4,
                                   .time_ms = c[k].open_ms};
    rc = coin_influx_add(ix, &pt);
  }
  if (rc == 0)
    rc = coin_influx_flush(ix);
  struct coin_serving *sv = NULL;
  struct coin_serving_opts so = {.ix = ix, .exchange = "binance"};
  if (rc == 0)
    rc = coin_serving_new(&sv, &so);
  if (rc == 0)
    rc = coin_serving_realize(sv, symbol, COIN_TF_1H, c, CU_CANDLES);
  coin_serving_free(sv);
  if (rc == 0)
    rc = set_ingest_wm(symbol, COIN_TF_1H, c[CU_CANDLES - 1].open_ms);
  return rc;
}

static bool has_reason(const json_t *doc, const char *reason) {
  size_t i;
  json_t *v;
  json_array_foreach(json_object_get(doc, "degraded_reasons"), i, v) {
    if (!strcmp(json_string_value(v), reason))
      return true;
  }
  return false;
}

static void champion_underperforming_degrades_the_prediction(void) {
  const char *dir = getenv("COIN_SHARED_DATA_DIR");
  struct coin_candle_file *f = NULL;
  struct coin_registry *reg = NULL;
  ASSERT_TRUE(dir != NULL);
  ASSERT_OK(coin_candle_file_load_dir(&f, dir, "BTCUSDT", COIN_TF_1H, 0));
  ASSERT_OK(coin_registry_open(&reg, bus, "test"));
  ASSERT_OK(cu_register(reg, f));
  coin_registry_free(reg);
  struct coin_candle c[CU_CANDLES];
  int64_t last = coin_tf_last_closed(COIN_TF_1H, now_ms());
  for (size_t k = 0; k < CU_CANDLES; k++) {
    c[k] = f->rows[f->count - CU_CANDLES + k];
    c[k].open_ms = last - (int64_t)(CU_CANDLES - 1 - k) * COIN_HOUR_MS;
  }
  coin_candle_file_free(f);
  ASSERT_OK(cu_series("CUWORSEUSDT", c, 60));
  ASSERT_OK(cu_series("CUFEWUSDT", c, 30));
  const char *env[] = {"PUBLISH_UNCONFIGURED_SERIES=false",
                       "PUBLISH_CHAMPION_MIN_SERIES_ROWS=50", NULL};
  struct svc pub;
  ASSERT_OK(publish_start(&pub, "site-champion", "champion",
                          "CUWORSEUSDT,CUFEWUSDT", "1h", env));
  ASSERT_OK(wait_ready(&pub, 15000));
  ASSERT_OK(wait_status(pub.site, "CUWORSEUSDT", COIN_TF_1H, "fresh", 10000));
  ASSERT_OK(wait_status(pub.site, "CUFEWUSDT", COIN_TF_1H, "fresh", 10000));
  json_t *w = history(pub.site, "CUWORSEUSDT", COIN_TF_1H, "prediction.json");
  json_t *few = history(pub.site, "CUFEWUSDT", COIN_TF_1H, "prediction.json");
  json_t *t = history(pub.site, "CUWORSEUSDT", COIN_TF_1H, "track_record.json");
  ASSERT_TRUE(w != NULL && few != NULL && t != NULL);
  /* both are served by the champion, whose records are judged */
  ASSERT_EQ_STR(json_string_value(
                    json_object_get(json_object_get(w, "model"), "version")),
                CU_VERSION);
  ASSERT_EQ_STR(json_string_value(
                    json_object_get(json_object_get(few, "model"), "version")),
                CU_VERSION);
  ASSERT_TRUE(has_reason(w, "champion_underperforming"));
  ASSERT_TRUE(json_is_true(json_object_get(w, "degraded")));
  /* a warning, not a block: the prediction is still served */
  ASSERT_EQ_STR(json_string_value(json_object_get(w, "prediction_status")),
                "served");
  ASSERT_FALSE(has_reason(few, "champion_underperforming"));
  /* the public track record shows what was judged: 60 rows, MAE ratio 2 */
  json_t *w7 = json_array_get(json_object_get(t, "windows"), 1);
  ASSERT_EQ_STR(json_string_value(json_object_get(w7, "window")), "7d");
  ASSERT_EQ_INT(json_integer_value(json_object_get(w7, "n")), 60);
  ASSERT_NEAR(json_number_value(json_object_get(w7, "mae_ratio")), 2.0, 1e-9);
  json_decref(w);
  json_decref(few);
  json_decref(t);
  svc_stop(&pub);
}

/* ---- hostile input: the site shows only what the SoT holds ------------- */

/* A batch published by hand is a notification, never the authority: a
 * candle InfluxDB does not hold (in an empty slot below the publish
 * watermark, or new and under the ingest watermark) or holds otherwise never
 * reaches a file; a stray batch of a series nobody ingests changes neither
 * the series list nor the overall status; an undecodable publish watermark
 * at start is reported once, rebuilt from the SoT and overwritten, and an
 * undecodable ingest watermark stops only its own series until a good one
 * comes. */
static const char *const hS = "TESTHUSDT", *const hT = "TESTIUSDT";
static int64_t hH[14];
static struct coin_candle hc[14];
static struct svc hpub;
static char hsyms[64];

static void forged_batches_never_reach_the_site(void) {
  const char *S = hS, *T = hT;
  const enum coin_tf tf = COIN_TF_1H;
  int64_t *H = hH;
  H[11] = coin_tf_last_closed(tf, now_ms());
  for (int i = 10; i >= 0; i--)
    H[i] = H[i + 1] - COIN_HOUR_MS;
  H[12] = H[11] + COIN_HOUR_MS;
  H[13] = H[12] + COIN_HOUR_MS;
  struct coin_candle *c = hc;
  for (int i = 0; i < 14; i++)
    c[i] = synth(tf, H[i], 300);
  /* the SoT: H0..H9 without H3 (a gap), T the same */
  ASSERT_OK(coin_influx_write_candles(ix, "binance", S, "1h", c, 3));
  ASSERT_OK(coin_influx_write_candles(ix, "binance", S, "1h", c + 4, 6));
  ASSERT_OK(coin_influx_write_candles(ix, "binance", T, "1h", c, 10));
  ASSERT_OK(set_ingest_wm(S, tf, H[9]));
  ASSERT_OK(set_ingest_wm(T, tf, H[9]));
  struct svc *pub = &hpub;
  char *syms = hsyms;
  snprintf(hsyms, sizeof(hsyms), "%s,%s", S, T);
  ASSERT_OK(publish_start(pub, "site-hostile", "hostile", syms, "1h", NULL));
  ASSERT_OK(wait_ready(pub, 15000));
  ASSERT_OK(wait_last(pub->site, S, tf, H[9], 10000));
  ASSERT_OK(check_history(pub->site, S, tf, 500, NULL));
  /* the stream's earlier batches (other tests' series, discovered) are
   * replayed first: counts are taken from here */
  ASSERT_OK(wait_consumed("hostile", 20000));
  double bad0 = metric(pub, "coin_publish_candles_not_in_sot_total");

  /* (1) a forged candle in the empty slot H3 (below the watermark) */
  ASSERT_OK(js_batch(NULL, S, tf, COIN_BATCH_BACKFILL, c + 3, 1, H[9]));
  ASSERT_OK(wait_consumed("hostile", 10000));
  ASSERT_FALSE(has_candle(pub->site, S, tf, H[3]));
  ASSERT_EQ_INT(metric(pub, "coin_publish_candles_not_in_sot_total"), bad0 + 1);
  /* (2) new candles under the ingest watermark: H10 forged (the SoT holds
   * another close), H11 not in the SoT at all */
  ASSERT_OK(coin_influx_write_candles(ix, "binance", S, "1h", c + 10, 1));
  ASSERT_OK(set_ingest_wm(S, tf, H[11]));
  struct coin_candle forged[2] = {c[10], c[11]};
  forged[0].close += 7.5;
  forged[0].high += 7.5;
  ASSERT_OK(js_batch(NULL, S, tf, COIN_BATCH_LIVE, forged, 2, H[11]));
  ASSERT_OK(wait_consumed("hostile", 10000));
  ASSERT_EQ_DBL(close_of(pub->site, S, tf, H[10]), c[10].close);
  ASSERT_FALSE(has_candle(pub->site, S, tf, H[11]));
  ASSERT_EQ_INT(metric(pub, "coin_publish_candles_not_in_sot_total"), bad0 + 3);
  ASSERT_OK(check_history(pub->site, S, tf, 500, NULL));
}

static void stray_batch_changes_nothing(void) {
  const int64_t *H = hH;
  const struct coin_candle *c = hc;
  const enum coin_tf tf = COIN_TF_1H;
  struct svc *pub = &hpub;
  ASSERT_TRUE(coin_test_proc_alive(&pub->proc));
  /* (3) a stray batch of a series nobody ingests (discovery is on by
   * default): ignored, counted, nothing on the site changes */
  json_t *m0 = load(pub->site, "manifest.json");
  ASSERT_TRUE(m0 != NULL);
  char *status0 = strdup(json_string_value(
      json_object_get(json_object_get(m0, "overall"), "status")));
  size_t series0 = json_array_size(json_object_get(m0, "series"));
  json_decref(m0);
  double unconf0 = metric(pub, "coin_publish_unconfigured_batches_total");
  ASSERT_OK(js_batch(NULL, "STRAYUSDT", tf, COIN_BATCH_LIVE, c + 9, 1, H[9]));
  ASSERT_OK(wait_consumed("hostile", 10000));
  usleep(300000);
  json_t *m1 = load(pub->site, "manifest.json");
  ASSERT_TRUE(m1 != NULL);
  ASSERT_EQ_STR(json_string_value(
                    json_object_get(json_object_get(m1, "overall"), "status")),
                status0);
  ASSERT_EQ_INT(json_array_size(json_object_get(m1, "series")), series0);
  json_decref(m1);
  free(status0);
  ASSERT_EQ_INT(coin_test_sh("test ! -e '%s/v1/binance/STRAYUSDT'", pub->site),
                0);
  ASSERT_EQ_INT(metric(pub, "coin_publish_unconfigured_batches_total"),
                unconf0 + 1);
}

static void bad_watermark_value_stops_nothing(void) {
  const char *S = hS, *T = hT, *syms = hsyms;
  const int64_t *H = hH;
  const struct coin_candle *c = hc;
  const enum coin_tf tf = COIN_TF_1H;
  svc_stop(&hpub);
  /* (4) undecodable watermarks at start: S's publish value, T's ingest
   * value */
  char key[128];
  coin_codec_series_key(key, sizeof(key), "publish", "binance", S, tf);
  ASSERT_OK(coin_bus_kv_put(NULL, kv, key, "not-a-number", 12));
  coin_codec_series_key(key, sizeof(key), "ingest", "binance", T, tf);
  ASSERT_OK(coin_bus_kv_put(NULL, kv, key, "\x01\x02", 2));
  struct svc again;
  ASSERT_OK(publish_start(&again, "site-hostile", "hostile", syms, "1h", NULL));
  ASSERT_OK(wait_ready(&again, 15000));
  /* S publishes again: new candle, and its watermark is a number again */
  ASSERT_OK(coin_influx_write_candles(ix, "binance", S, "1h", c + 12, 1));
  ASSERT_OK(set_ingest_wm(S, tf, H[12]));
  ASSERT_OK(js_batch(NULL, S, tf, COIN_BATCH_LIVE, c + 12, 1, H[12]));
  ASSERT_OK(wait_last(again.site, S, tf, H[12], 10000));
  ASSERT_OK(check_history(again.site, S, tf, 500, NULL));
  for (int i = 0; i < 100 && kv_ms("publish", S, tf) != H[12]; i++)
    usleep(50000);
  ASSERT_EQ_INT(kv_ms("publish", S, tf), H[12]);
  /* T: reported once, its last good window stays on the site; a good
   * value resumes it */
  ASSERT_TRUE(metric(&again, "coin_publish_watermark_bad_values_total") >= 2);
  ASSERT_EQ_INT(last_open(again.site, T, tf), H[9]);
  ASSERT_TRUE(has_candle(again.site, T, tf, H[0]));
  ASSERT_EQ_INT(coin_test_sh("test $(grep -c 'publish watermark undecodable' "
                             "'%s') -eq 1",
                             again.proc.log),
                0);
  ASSERT_EQ_INT(coin_test_sh("test $(grep -c 'ingest watermark undecodable' "
                             "'%s') -eq 1",
                             again.proc.log),
                0);
  ASSERT_OK(coin_influx_write_candles(ix, "binance", T, "1h", c + 10, 3));
  ASSERT_OK(set_ingest_wm(T, tf, H[12]));
  ASSERT_OK(wait_last(again.site, T, tf, H[12], 10000));
  ASSERT_OK(check_history(again.site, T, tf, 500, NULL));
  ASSERT_TRUE(coin_test_proc_alive(&again.proc));
  svc_stop(&again);
}

/* Truncated or garbage site files found at start (a crash of another
 * writer, a disk that lost a block): the restarted publish writes the site
 * from the SoT again, the manifest matches every file and the history
 * equals the SoT. */
static void truncated_site_files_are_rewritten(void) {
  const char *S = hS, *syms = hsyms;
  const enum coin_tf tf = COIN_TF_1H;
  char dir[700];
  snprintf(dir, sizeof(dir), "%s/site-hostile", tmpdir);
  ASSERT_EQ_INT(
      coin_test_sh("cd '%s' && head -c 37 manifest.json > m && mv m "
                   "manifest.json && printf '{\"schema_ver' > "
                   "v1/binance/%s/1h/history.json && printf '\\377\\0' > "
                   "v1/binance/%s/1h/prediction.json",
                   dir, S, S),
      0);
  struct svc again;
  ASSERT_OK(publish_start(&again, "site-hostile", "hostile", syms, "1h", NULL));
  ASSERT_OK(wait_ready(&again, 15000));
  ASSERT_OK(check_history(again.site, S, tf, 500, NULL));
  ASSERT_OK(check_site(again.site, NULL, NULL));
  json_t *p = history(again.site, S, tf, "prediction.json");
  ASSERT_TRUE(p != NULL);
  json_decref(p);
  svc_stop(&again);
}

/* /readyz tells whether publish can do its job now, /healthz stays a
 * liveness check: a paused nats-server (the socket stays up) and a site
 * file that cannot be written each make /readyz 503 while /healthz stays
 * 200; both recover by themselves. */
static int wait_http(struct svc *s, const char *path, long want, int ms,
                     const char *body_has) {
  int64_t end = now_ms() + ms;
  while (now_ms() < end) {
    long st = 0;
    char *body = NULL;
    if (http_get(&st, &body, s->port, path) == 0 && st == want &&
        (!body_has || (body && strstr(body, body_has)))) {
      free(body);
      return 0;
    }
    free(body);
    usleep(100000);
  }
  fprintf(stderr, "  %s did not answer %ld%s%s in %d ms\n", path, want,
          body_has ? " with " : "", body_has ? body_has : "", ms);
  return -1;
}

/* One replica of durable `durable` (site site-<durable>, 1h, a 3 s lease)
 * named id. */
static int ha_start(struct svc *s, const char *durable, const char *symbol,
                    const char *id) {
  char site[64], sid[64];
  snprintf(site, sizeof(site), "site-%s", durable);
  snprintf(sid, sizeof(sid), "SERVICE_ID=%s", id);
  const char *env[] = {"PUBLISH_UNCONFIGURED_SERIES=false",
                       "PUBLISH_LEASE_SECONDS=3", "PUBLISH_ACK_WAIT_SECONDS=5",
                       sid, NULL};
  return publish_start(s, site, durable, symbol, "1h", env);
}

/* Replica a active, then b standing by. */
static int ha_pair_start(struct svc *a, struct svc *b, const char *durable,
                         const char *symbol, const char *id_a,
                         const char *id_b) {
  if (ha_start(a, durable, symbol, id_a) != 0 ||
      wait_http(a, "/readyz", 200, 15000, "\"role\":\"active\"") != 0 ||
      ha_start(b, durable, symbol, id_b) != 0 ||
      wait_http(b, "/readyz", 200, 10000, "\"role\":\"standby\"") != 0)
    return -1;
  return 0;
}

/* Two replicas of one durable (PUBLISH_LEASE_SECONDS=3): the first holds
 * the lease and writes, the second stands by and writes nothing; the active
 * one SIGKILLed mid-stream, the standby takes over within the lease plus its
 * rebuild and the site converges to the SoT; a clean stop hands the lease
 * back at once. */
static void standby_takes_over_the_site(void) {
  const char *S = "HAUSDT";
  const enum coin_tf tf = COIN_TF_1H;
  const size_t nc = 60;
  int64_t top = coin_tf_last_closed(tf, now_ms());
  struct coin_candle c[60];
  for (size_t i = 0; i < nc; i++)
    c[i] = synth(tf, top - (int64_t)(nc - 1 - i) * COIN_HOUR_MS, 300);
  ASSERT_OK(coin_influx_write_candles(ix, "binance", S, "1h", c, nc));
  size_t at = 30; /* the SoT holds everything; ingest's watermark moves */
  ASSERT_OK(set_ingest_wm(S, tf, c[at].open_ms));
  struct svc a, b;
  ASSERT_OK(ha_pair_start(&a, &b, "ha", S, "pub-a", "pub-b"));
  ASSERT_TRUE(metric(&a, "coin_publish_leader_active") == 1);
  ASSERT_TRUE(metric(&b, "coin_publish_leader_active") == 0);
  ASSERT_OK(wait_last(a.site, S, tf, c[at].open_ms, 10000));
  /* ingest's order: SoT (there), watermark, batch; a few under A */
  for (; at < 40; at++) {
    ASSERT_OK(set_ingest_wm(S, tf, c[at + 1].open_ms));
    ASSERT_OK(js_batch(NULL, S, tf, COIN_BATCH_LIVE, c + at + 1, 1,
                       c[at + 1].open_ms));
  }
  ASSERT_OK(wait_last(a.site, S, tf, c[at].open_ms, 10000));
  ASSERT_TRUE(metric(&b, "coin_publish_files_written_total") == 0);
  coin_test_proc_signal(&a.proc, SIGKILL);
  int64_t killed = now_ms();
  /* the stream goes on while nobody is active */
  for (; at < nc - 1; at++) {
    ASSERT_OK(set_ingest_wm(S, tf, c[at + 1].open_ms));
    ASSERT_OK(js_batch(NULL, S, tf, COIN_BATCH_LIVE, c + at + 1, 1,
                       c[at + 1].open_ms));
    usleep(100000);
  }
  ASSERT_OK(wait_http(&b, "/readyz", 200, 15000, "\"site_ready\":true"));
  int64_t took = now_ms() - killed;
  fprintf(stderr,
          "  standby active and the site rebuilt %.1f s after the kill\n",
          (double)took / 1000.0);
  ASSERT_TRUE(took < 3000 + 5000); /* the lease, then the rebuild */
  ASSERT_OK(wait_consumed("ha", 20000));
  ASSERT_OK(wait_last(b.site, S, tf, c[nc - 1].open_ms, 10000));
  size_t n = 0;
  ASSERT_OK(check_history(b.site, S, tf, nc, &n));
  ASSERT_EQ_INT(n, nc);
  ASSERT_EQ_INT(kv_ms("publish", S, tf), c[nc - 1].open_ms);
  ASSERT_TRUE(metric(&b, "coin_publish_leader_acquired_total") == 1);
  /* a clean stop frees the lease: a new replica is active within a poll */
  ASSERT_OK(ha_start(&a, "ha", S, "pub-a"));
  ASSERT_OK(wait_http(&a, "/readyz", 200, 5000, "\"role\":\"standby\""));
  svc_stop(&b);
  int64_t stopped = now_ms();
  ASSERT_OK(wait_http(&a, "/readyz", 200, 10000, "\"role\":\"active\""));
  fprintf(stderr, "  after a clean stop: the other replica active in %.1f s\n",
          (double)(now_ms() - stopped) / 1000.0);
  ASSERT_TRUE(now_ms() - stopped < 2500);
  svc_stop(&a);
}

/* A standby that takes the lease over while what it needs is away (here:
 * the watermark bucket deleted while it waited, as when NATS is electing a
 * leader or a node is down) does not stop: it says so, tries again every
 * second, keeps the lease, and writes the site once the bucket is back.
 * Before, it exited 1 ("kv watch: Timeout" in the cluster test) and the
 * deployment had no site writer until a restart. */
static void standby_retries_its_start(void) {
  const char *S = "HAVUSDT";
  const enum coin_tf tf = COIN_TF_1H;
  enum { NC = 24 };
  int64_t top = coin_tf_last_closed(tf, now_ms());
  struct coin_candle c[NC];
  for (size_t i = 0; i < NC; i++)
    c[i] = synth(tf, top - (int64_t)(NC - 1 - i) * COIN_HOUR_MS, 310);
  ASSERT_OK(coin_influx_write_candles(ix, "binance", S, "1h", c, NC));
  ASSERT_OK(set_ingest_wm(S, tf, c[NC - 1].open_ms));
  struct svc a, b;
  ASSERT_OK(ha_pair_start(&a, &b, "hav", S, "pub-c", "pub-d"));
  ASSERT_OK(coin_bus_stream_delete(bus, "KV_" COIN_KV_WATERMARKS));
  coin_test_proc_signal(&a.proc, SIGKILL);
  coin_test_proc_wait(&a.proc, 5000);
  /* it holds the lease, cannot watch the watermarks, and tries again */
  double retries = 0;
  for (int i = 0; i < 150 && retries < 2; i++) {
    usleep(100000);
    retries = metric(&b, "coin_publish_activation_retries_total");
  }
  ASSERT_TRUE(retries >= 2);
  ASSERT_TRUE(coin_test_proc_alive(&b.proc));
  ASSERT_EQ_INT(metric(&b, "coin_publish_leader_active"), 1);
  ASSERT_OK(wait_http(&b, "/readyz", 503, 2000, "\"site_ready\":false"));
  /* the bucket back (as ingest would create it) with the watermark */
  coin_bus_kv_free(kv);
  kv = NULL;
  struct coin_bus_kv_config kc = {.bucket = COIN_KV_WATERMARKS, .history = 5};
  ASSERT_OK(coin_bus_kv_ensure(&kv, NULL, bus, &kc));
  ASSERT_OK(set_ingest_wm(S, tf, c[NC - 1].open_ms));
  ASSERT_OK(wait_http(&b, "/readyz", 200, 15000, "\"site_ready\":true"));
  ASSERT_OK(wait_last(b.site, S, tf, c[NC - 1].open_ms, 10000));
  size_t n = 0;
  ASSERT_OK(check_history(b.site, S, tf, NC, &n));
  ASSERT_EQ_INT(n, NC);
  svc_stop(&b);
}

static void readyz_tells_the_truth(void) {
  const char *S = "TESTRUSDT";
  const enum coin_tf tf = COIN_TF_1H;
  int64_t H[4];
  H[2] = coin_tf_last_closed(tf, now_ms());
  H[1] = H[2] - COIN_HOUR_MS;
  H[0] = H[1] - COIN_HOUR_MS;
  H[3] = H[2] + COIN_HOUR_MS;
  struct coin_candle c[4];
  for (int i = 0; i < 4; i++)
    c[i] = synth(tf, H[i], 500);
  ASSERT_OK(coin_influx_write_candles(ix, "binance", S, "1h", c, 2));
  ASSERT_OK(set_ingest_wm(S, tf, H[1]));
  const char *env[] = {"PUBLISH_UNCONFIGURED_SERIES=false", NULL};
  struct svc pub;
  ASSERT_OK(publish_start(&pub, "site-ready", "ready", S, "1h", env));
  ASSERT_OK(wait_ready(&pub, 15000));

  /* (1) nats-server paused: the socket stays up, nothing answers */
  ASSERT_EQ_INT(kill(nats.pid, SIGSTOP), 0);
  int rc1 = wait_http(&pub, "/readyz", 503, 8000, "\"nats\":false");
  int rc2 = wait_http(&pub, "/healthz", 200, 3000, NULL);
  ASSERT_EQ_INT(kill(nats.pid, SIGCONT), 0);
  ASSERT_OK(rc1);
  ASSERT_OK(rc2);
  ASSERT_OK(wait_http(&pub, "/readyz", 200, 10000, NULL));

  /* (2) the manifest cannot be replaced (a directory in its place: the
   * rename fails, as on a full or read-only disk) */
  ASSERT_EQ_INT(coin_test_sh("rm -f '%s/manifest.json' && mkdir -p "
                             "'%s/manifest.json/x'",
                             pub.site, pub.site),
                0);
  ASSERT_OK(coin_influx_write_candles(ix, "binance", S, "1h", c + 2, 1));
  ASSERT_OK(set_ingest_wm(S, tf, H[2]));
  ASSERT_OK(js_batch(NULL, S, tf, COIN_BATCH_LIVE, c + 2, 1, H[2]));
  ASSERT_OK(
      wait_http(&pub, "/readyz", 503, 10000, "\"site_writes\":\"failing\""));
  ASSERT_OK(wait_http(&pub, "/healthz", 200, 3000, NULL));
  ASSERT_TRUE(metric(&pub, "coin_publish_file_errors_total") >= 1);
  ASSERT_EQ_INT(coin_test_sh("rm -rf '%s/manifest.json'", pub.site), 0);
  ASSERT_OK(wait_http(&pub, "/readyz", 200, 15000, "\"site_writes\":\"ok\""));
  ASSERT_OK(wait_last(pub.site, S, tf, H[2], 10000));
  svc_stop(&pub);
}

int main(int argc, char **argv) {
  coin_test_main_begin(argc, argv);
  struct coin_bus_options bo;
  struct coin_influx_options io;
  if (coin_test_tmpdir(tmpdir, sizeof(tmpdir), "publish") != 0 ||
      coin_test_bin(bin_publish, sizeof(bin_publish), "coin-publish") != 0 ||
      coin_test_bin(bin_ingest, sizeof(bin_ingest), "coin-ingest") != 0 ||
      coin_test_nats_start(&nats) != 0 || coin_test_influx_start(&influx) != 0)
    return 1;
  coin_test_nats_options(&bo, &nats, "admin");
  coin_influx_options_init(&io);
  io.url = influx.url;
  io.rp_by_tf[COIN_TF_1M] = "rp_1m";
  struct coin_bus_kv_config kc = {.bucket = COIN_KV_WATERMARKS, .history = 5};
  const char *subjects[] = {"coin.candles.>"};
  struct coin_bus_stream_config sc = {.name = COIN_STREAM_CANDLES,
                                      .subjects = subjects,
                                      .subjects_len = 1,
                                      .duplicate_window_ms = 120000,
                                      .max_msg_bytes = 1 << 20};
  if (coin_bus_connect(&bus, &bo) != 0 ||
      coin_bus_stream_ensure(NULL, bus, &sc) != 0 ||
      coin_bus_kv_ensure(&kv, NULL, bus, &kc) != 0 ||
      coin_influx_new(&ix, &io) != 0 || coin_influx_create_db(ix) != 0) {
    fprintf(stderr, "set-up failed: %s\n", coin_error_last());
    return 1;
  }
  RUN_TEST(config_error_exit_2);
  RUN_TEST(stream_discovers_series);
  RUN_TEST(ingest_then_publish_end_to_end);
  RUN_TEST(watermarks_holes_and_poison);
  RUN_TEST(status_follows_time);
  RUN_TEST(sigkill_while_writing_converges);
  RUN_TEST(track_record_matches_recomputation);
  RUN_TEST(champion_underperforming_degrades_the_prediction);
  RUN_TEST(forged_batches_never_reach_the_site);
  RUN_TEST(stray_batch_changes_nothing);
  RUN_TEST(bad_watermark_value_stops_nothing);
  RUN_TEST(truncated_site_files_are_rewritten);
  RUN_TEST(readyz_tells_the_truth);
  RUN_TEST(standby_takes_over_the_site);
  RUN_TEST(standby_retries_its_start); /* deletes the watermark bucket */
  coin_bus_kv_free(kv);
  coin_bus_free(bus);
  coin_influx_free(ix);
  coin_bus_shutdown();
  coin_test_server_cleanup(&nats);
  coin_test_server_cleanup(&influx);
  int rc = coin_test_summary();
  if (rc == 0)
    coin_test_rmtree(tmpdir);
  return rc;
}
