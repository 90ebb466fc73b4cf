/* test_hostile.c: hostile inputs against a running stack on loopback (real
 * nats-server, influxd, the replay exchange, coin-ingest and coin-publish as
 * child processes, observed only from outside). The rule under test: a site
 * never shows what the SoT (InfluxDB) does not hold, and one bad input
 * degrades at most its own series, never the service. Each case checks that
 * the site equals the SoT, that another series keeps updating, and that the
 * service says so once in its log and counts it in /metrics:
 * - exchange answers that never fit (huge, endless, dripping) for some
 *   symbols while another is served normally: ingest's memory stays bounded,
 *   nothing of those answers is stored, the healthy symbol is stored and
 *   published;
 * - the site directory full, then read-only, under a running publish: every
 *   file present stays whole and equal to the SoT, /readyz says 503, and the
 *   site converges once the disk is back (a small tmpfs; skipped where mount
 *   is not permitted);
 * - hand-published batches the codec or the stream refuse, or that sit on the
 *   wrong subject: terminated once, counted, the site unchanged;
 * - KV values of the wrong shape: ingest watermarks while publish runs,
 *   coin_ingest known gaps and a far-future watermark before ingest runs,
 *   model registry aliases and records while publish runs. */
#include "coin/bus.h"
#include "coin/codec.h"
#include "coin/error.h"
#include "coin/http.h"
#include "coin/influx.h"
#include "coin/site.h"
#include "coin/timeframe.h"
#include "harness.h"
#include "test.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/mount.h>
#include <sys/time.h>
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

/* ---- the test's own writes to the bus -------------------------------------
 * Everything this test forges (stream messages, KV values) goes through these
 * two functions, so they can switch to an admin login in one place. */

static int forge_publish(const char *subject, const char *id, const void *data,
                         size_t len) {
  return coin_bus_js_publish(NULL, bus, subject, id, data, len);
}

static int forge_kv_put(const char *key, const void *value, size_t len) {
  return coin_bus_kv_put(NULL, kv, key, value, len);
}

/* ---- services ------------------------------------------------------------ */

struct svc {
  struct coin_test_proc proc;
  int port;
  char site[300];
};

static int svc_start(struct svc *out, const char *bin, const char *logtag,
                     const char *const *env) {
  static int seq;
  char logp[512];
  char *envp[40];
  int k = 0;
  for (int i = 0; env && env[i] && k < 39; i++)
    envp[k++] = (char *)env[i];
  envp[k] = NULL;
  snprintf(logp, sizeof(logp), "%s/%s-%d.log", tmpdir, logtag, ++seq);
  char *argv[] = {(char *)bin, NULL};
  return coin_test_proc_start(&out->proc, argv, envp, logp);
}

/* coin-publish of symbols (1h) writing into site; extra env wins. */
static int publish_start(struct svc *out, const char *site, const char *durable,
                         const char *symbols, const char *const *extra) {
  static char e[24][320];
  const char *env[25];
  int k = 0;
  for (int i = 0; extra && extra[i] && k < 12; i++)
    snprintf(e[k++], 320, "%s", extra[i]);
  out->port = coin_test_free_port();
  snprintf(out->site, sizeof(out->site), "%s", site);
  k = COIN_TEST_NATS_ENV(e, k, &nats, "publish");
  snprintf(e[k++], 320, "INFLUX_URL=%s", influx.url);
  snprintf(e[k++], 320, "SYMBOLS=%s", symbols);
  snprintf(e[k++], 320, "INGEST_TIMEFRAMES=1h");
  snprintf(e[k++], 320, "PRIMARY_TIMEFRAME=1h");
  snprintf(e[k++], 320, "STATIC_DATA_DIR=%s", site);
  snprintf(e[k++], 320, "PUBLISH_HTTP_ADDR=127.0.0.1:%d", out->port);
  snprintf(e[k++], 320, "PUBLISH_DURABLE=%s", durable);
  snprintf(e[k++], 320, "PUBLISH_UNCONFIGURED_SERIES=false");
  snprintf(e[k++], 320, "LOG_LEVEL=info");
  for (int i = 0; i < k; i++)
    env[i] = e[i];
  env[k] = NULL;
  return svc_start(out, bin_publish, durable, env);
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
    if (!coin_test_proc_alive(&s->proc)) {
      fprintf(stderr, "  service died, log %s\n", s->proc.log);
      coin_test_sh("tail -5 %s >&2", s->proc.log);
      return -1;
    }
    usleep(100000);
  }
  fprintf(stderr, "  %s did not answer %ld%s%s in %d ms (log %s)\n", path, want,
          body_has ? " with " : "", body_has ? body_has : "", ms, s->proc.log);
  return -1;
}

/* Sum of every sample of a metric: "name value" and "name{...} value". */
static double metric_sum(struct svc *s, const char *name) {
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
    if (strncmp(line, name, n) == 0 && (line[n] == ' ' || line[n] == '{')) {
      char *sp = strchr(line + n, ' ');
      if (sp && (!nl || sp < nl))
        v = (v < 0 ? 0 : v) + strtod(sp + 1, NULL);
    }
    line = nl ? nl + 1 : NULL;
  }
  free(body);
  return v < 0 ? 0 : v;
}

static void svc_stop(struct svc *s) {
  coin_test_proc_signal(&s->proc, SIGTERM);
  if (coin_test_proc_wait(&s->proc, 10000) < 0)
    coin_test_proc_signal(&s->proc, SIGKILL);
}

/* Lines of the service's log containing text. */
static int log_count(struct svc *s, const char *text) {
  char cmd[900];
  snprintf(cmd, sizeof(cmd), "grep -cF -- '%s' '%s' 2>/dev/null", text,
           s->proc.log);
  FILE *f = popen(cmd, "r");
  int n = -1;
  if (f) {
    if (fscanf(f, "%d", &n) != 1)
      n = -1;
    pclose(f);
  }
  return n;
}

/* A line "Name:  N kB" of /proc/<pid>/status (VmRSS, VmHWM), -1 when
 * unknown. */
static long status_kib(pid_t pid, const char *name) {
  char path[64], line[256];
  snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  long v = -1;
  if (!f)
    return -1;
  while (fgets(line, sizeof(line), f))
    if (strncmp(line, name, strlen(name)) == 0 && line[strlen(name)] == ':')
      v = strtol(line + strlen(name) + 1, NULL, 10);
  fclose(f);
  return v;
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
  return forge_kv_put(key, val, (size_t)n);
}

static struct coin_candle synth(int64_t open_ms, double base) {
  double o = base + (double)(open_ms / 60000 % 1000) * 0.25;
  struct coin_candle c = {.open_ms = open_ms,
                          .open = o,
                          .high = o + 2.5,
                          .low = o - 1.25,
                          .close = o + 0.75,
                          .volume = 10.5 + (double)(open_ms / 60000 % 7)};
  return c;
}

/* Encodes a batch of the binance series (the codec checks it). */
static int pack(uint8_t **data, size_t *len, const char *symbol,
                enum coin_tf tf, const struct coin_candle *c, size_t n,
                int64_t wm) {
  struct coin_candle_batch b = {
      .tf = tf,
      .kind = COIN_BATCH_LIVE,
      .candles = (struct coin_candle *)c,
      .n_candles = n,
      .ingest_watermark_ms = wm >= c[n - 1].open_ms ? wm : c[n - 1].open_ms,
      .produced_at_ms = now_ms()};
  snprintf(b.exchange, sizeof(b.exchange), "binance");
  snprintf(b.symbol, sizeof(b.symbol), "%s", symbol);
  snprintf(b.producer_id, sizeof(b.producer_id), "test");
  return coin_codec_pack_batch(data, len, &b);
}

static int js_raw(const char *subject, const void *data, size_t len) {
  static int seq;
  char id[64];
  snprintf(id, sizeof(id), "hostile-%d-%lld", ++seq, (long long)now_ms());
  return forge_publish(subject, id, data, len);
}

static int js_batch(const char *symbol, enum coin_tf tf,
                    const struct coin_candle *c, size_t n, int64_t wm) {
  uint8_t *data = NULL;
  size_t len = 0;
  char subj[128];
  coin_codec_subject_candles(subj, sizeof(subj), "binance", symbol, tf);
  int rc = pack(&data, &len, symbol, tf, c, n, wm);
  if (rc == 0)
    rc = js_raw(subj, data, len);
  free(data);
  return rc;
}

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

static size_t sot_count(const char *symbol, enum coin_tf tf) {
  struct series_data d;
  if (sot(&d, symbol, tf, 0, INT64_C(4102444800000)) != 0)
    return (size_t)-1;
  free(d.c);
  return d.n;
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

static json_t *history(const char *site, const char *symbol, enum coin_tf tf) {
  char rel[256];
  snprintf(rel, sizeof(rel), "v1/binance/%s/%s/history.json", symbol,
           coin_tf_name(tf));
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

/* Every file the manifest lists exists, parses, states its validity and has
 * the manifest's sha256 (or the previous one it also lists). */
static int check_site_once(const char *site, bool quiet) {
  json_t *m = load(site, "manifest.json");
  if (!m)
    return -1;
  int bad = 0;
  size_t i;
  json_t *s;
  json_array_foreach(json_object_get(m, "series"), i, s) {
    size_t k;
    json_t *f;
    json_array_foreach(json_object_get(s, "files"), k, f) {
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
      } else if ((!want || strcmp(want, got) != 0) &&
                 (!prev || strcmp(prev, got) != 0)) {
        if (!quiet)
          fprintf(stderr, "  %s: sha256 %s, manifest %s\n", path, got,
                  want ? want : "-");
        if (!bad)
          bad = 2;
      }
      json_decref(doc);
    }
  }
  json_decref(m);
  return bad == 2 ? -2 : bad ? -1 : 0;
}

static int check_site(const char *site) {
  int rc = -2;
  for (int i = 0; i < 5 && rc == -2; i++) {
    if (i)
      usleep(20000);
    rc = check_site_once(site, i < 4);
  }
  return rc;
}

/* history.json's candles == the SoT's window ending at its publish
 * watermark, none beyond the ingest watermark. */
/* The series whose ingest watermark a test has replaced with garbage, and
 * its last good value (what the site may show up to). */
static const char *forged_wm_symbol;
static int64_t forged_wm_good;

static int check_history(const char *site, const char *symbol, enum coin_tf tf,
                         int64_t slots) {
  json_t *h = history(site, symbol, tf);
  if (!h)
    return -1;
  int bad = 0;
  int64_t pub = json_integer_value(json_object_get(h, "publish_watermark_ms"));
  int64_t ing = kv_ms("ingest", symbol, tf);
  if (forged_wm_symbol && strcmp(symbol, forged_wm_symbol) == 0)
    ing = forged_wm_good;
  json_t *rows = json_object_get(h, "candles");
  struct series_data want = {0};
  if (pub > ing) {
    fprintf(stderr, "  %s: publish watermark %lld beyond ingest %lld\n", symbol,
            (long long)pub, (long long)ing);
    bad = 1;
  }
  if (!bad && json_array_size(rows) > 0 &&
      sot(&want, symbol, tf, window_from(tf, pub, slots), pub) != 0)
    bad = 1;
  if (!bad && json_array_size(rows) != want.n) {
    fprintf(stderr, "  %s: %zu candles, SoT window %zu\n", symbol,
            json_array_size(rows), want.n);
    bad = 1;
  }
  for (size_t i = 0; !bad && i < want.n; i++) {
    json_t *r = json_array_get(rows, i);
    const struct coin_candle *c = &want.c[i];
    double v[5];
    for (int k = 0; k < 5; k++)
      v[k] = json_number_value(json_array_get(r, (size_t)k + 1));
    if (json_integer_value(json_array_get(r, 0)) != c->open_ms ||
        v[0] != c->open || v[1] != c->high || v[2] != c->low ||
        v[3] != c->close || v[4] != c->volume) {
      fprintf(stderr, "  %s: row %zu differs from the SoT\n", symbol, i);
      bad = 1;
    }
  }
  free(want.c);
  json_decref(h);
  return bad ? -1 : 0;
}

static int64_t last_open(const char *site, const char *symbol,
                         enum coin_tf tf) {
  json_t *h = history(site, symbol, tf);
  int64_t v = -2;
  if (h) {
    json_t *l = json_object_get(h, "last_candle_open_ms");
    v = json_is_integer(l) ? json_integer_value(l) : -1;
  }
  json_decref(h);
  return v;
}

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
  fprintf(stderr, "  %s: last candle %lld, want %lld\n", symbol, (long long)got,
          (long long)want);
  return -1;
}

/* ---- a publish with two synthetic series --------------------------------- */

/* S is the series hostile input aims at, T the bystander that must keep
 * updating; both have hours H[0..NH-1], H[NH-1] = the last closed hour. The
 * SoT holds H[0..9], more hours are written as a test goes. */
#define NH 40
struct pair {
  const char *S, *T;
  int64_t H[NH];
  struct coin_candle cs[NH], ct[NH];
  int next; /* next hour to add to both */
  struct svc pub;
  char durable[32];
};

static int pair_start(struct pair *p, const char *S, const char *T,
                      const char *site_tag, const char *site_dir) {
  memset(p, 0, sizeof(*p));
  p->S = S;
  p->T = T;
  p->H[NH - 1] = coin_tf_last_closed(COIN_TF_1H, now_ms());
  for (int i = NH - 2; i >= 0; i--)
    p->H[i] = p->H[i + 1] - COIN_HOUR_MS;
  for (int i = 0; i < NH; i++) {
    p->cs[i] = synth(p->H[i], 200);
    p->ct[i] = synth(p->H[i], 700);
  }
  if (coin_influx_write_candles(ix, "binance", S, "1h", p->cs, 10) != 0 ||
      coin_influx_write_candles(ix, "binance", T, "1h", p->ct, 10) != 0 ||
      set_ingest_wm(S, COIN_TF_1H, p->H[9]) != 0 ||
      set_ingest_wm(T, COIN_TF_1H, p->H[9]) != 0)
    return -1;
  p->next = 10;
  char syms[64], site[300];
  snprintf(syms, sizeof(syms), "%s,%s", S, T);
  if (site_dir)
    snprintf(site, sizeof(site), "%s", site_dir);
  else
    snprintf(site, sizeof(site), "%s/%s", tmpdir, site_tag);
  snprintf(p->durable, sizeof(p->durable), "%s", site_tag);
  const char *env[] = {"PUBLISH_RECONCILE_AFTER_SECONDS=2",
                       "PUBLISH_MODEL_CHECK_SECONDS=1", NULL};
  if (publish_start(&p->pub, site, p->durable, syms, env) != 0 ||
      wait_http(&p->pub, "/readyz", 200, 15000, NULL) != 0 ||
      wait_last(site, S, COIN_TF_1H, p->H[9], 10000) != 0 ||
      wait_last(site, T, COIN_TF_1H, p->H[9], 10000) != 0)
    return -1;
  return wait_consumed(p->durable, 20000);
}

/* The next hour for one series the way ingest does it: SoT first, then the
 * watermark, then the batch. */
static int advance(struct pair *p, bool s_too) {
  int i = p->next++;
  if (i >= NH)
    return coin_error_set(COIN_ETOOBIG, "test: out of hours");
  int rc = coin_influx_write_candles(ix, "binance", p->T, "1h", p->ct + i, 1);
  if (rc == 0)
    rc = set_ingest_wm(p->T, COIN_TF_1H, p->H[i]);
  if (rc == 0)
    rc = js_batch(p->T, COIN_TF_1H, p->ct + i, 1, p->H[i]);
  if (rc == 0 && s_too) {
    rc = coin_influx_write_candles(ix, "binance", p->S, "1h", p->cs + i, 1);
    if (rc == 0)
      rc = set_ingest_wm(p->S, COIN_TF_1H, p->H[i]);
    if (rc == 0)
      rc = js_batch(p->S, COIN_TF_1H, p->cs + i, 1, p->H[i]);
  }
  return rc;
}

/* Both series equal the SoT, the manifest matches its files, and T shows
 * its newest hour. */
static int pair_check(struct pair *p) {
  int64_t t_last = p->H[p->next - 1];
  if (wait_last(p->pub.site, p->T, COIN_TF_1H, t_last, 10000) != 0 ||
      check_history(p->pub.site, p->S, COIN_TF_1H, 500) != 0 ||
      check_history(p->pub.site, p->T, COIN_TF_1H, 500) != 0 ||
      check_site(p->pub.site) != 0)
    return -1;
  return 0;
}

/* ---- 1. exchange answers that never fit ---------------------------------- */

/* HUGEUSDT, ENDLUSDT and DRIPUSDT are aliases of ETHUSDT whose every klines
 * answer is huge / endless / dripping; BTCUSDT is served normally. */
static void exchange_answers_that_never_fit(void) {
  struct coin_test_server rp;
  const char *rargs[] = {
      "--symbols",
      "BTCUSDT,ETHUSDT",
      "--symbols-alias",
      "HUGEUSDT=ETHUSDT,ENDLUSDT=ETHUSDT,DRIPUSDT=ETHUSDT",
      "--faults",
      "huge:1/HUGEUSDT,endless:1/ENDLUSDT,drip:1@500/DRIPUSDT",
      NULL};
  ASSERT_OK(coin_test_replay_start(&rp, rargs));
  const char *bad[] = {"HUGEUSDT", "ENDLUSDT", "DRIPUSDT"};
  static char e[20][320];
  const char *env[21];
  int k = 0;
  struct svc ing;
  ing.port = coin_test_free_port();
  k = COIN_TEST_NATS_ENV(e, k, &nats, "ingest");
  snprintf(e[k++], 320, "INFLUX_URL=%s", influx.url);
  snprintf(e[k++], 320, "EXCHANGE_BASE_URL=%s", rp.url);
  snprintf(e[k++], 320, "SYMBOLS=BTCUSDT,HUGEUSDT,ENDLUSDT,DRIPUSDT");
  snprintf(e[k++], 320, "INGEST_TIMEFRAMES=1h");
  snprintf(e[k++], 320, "PRIMARY_TIMEFRAME=1h");
  snprintf(e[k++], 320, "INGEST_LOOKBACK_DAYS=2");
  snprintf(e[k++], 320, "STATIC_DATA_DIR=%s/ingest-site", tmpdir);
  snprintf(e[k++], 320, "INGEST_HTTP_ADDR=127.0.0.1:%d", ing.port);
  snprintf(e[k++], 320, "INGEST_MAX_CYCLES=0");
  snprintf(e[k++], 320, "EXCHANGE_TIMEOUT_MS=4000");
  snprintf(e[k++], 320, "EXCHANGE_MAX_RETRIES=1");
  snprintf(e[k++], 320, "INGEST_RETRY_SECONDS=1");
  snprintf(e[k++], 320, "LOG_LEVEL=info");
  for (int i = 0; i < k; i++)
    env[i] = e[i];
  env[k] = NULL;
  int64_t t0 = now_ms();
  ASSERT_OK(svc_start(&ing, bin_ingest, "ingest", env));
  struct svc pub;
  char site[300];
  snprintf(site, sizeof(site), "%s/site-exchange", tmpdir);
  ASSERT_OK(publish_start(&pub, site, "exchange",
                          "BTCUSDT,HUGEUSDT,ENDLUSDT,DRIPUSDT", NULL));

  /* The healthy symbol is stored up to the last closed hour and published,
   * while the bad answers keep coming; RSS is sampled all along. */
  int64_t want = coin_tf_last_closed(COIN_TF_1H, now_ms());
  long rss0 = -1, rss_max = 0;
  int64_t stored_at = -1, deadline = now_ms() + 60000;
  int64_t watch_until = now_ms() + 20000; /* at least 20 s of bad answers */
  while (now_ms() < deadline && (stored_at < 0 || now_ms() < watch_until)) {
    long r = status_kib(ing.proc.pid, "VmRSS");
    if (r > 0 && rss0 < 0)
      rss0 = r;
    if (r > rss_max)
      rss_max = r;
    if (stored_at < 0 && kv_ms("ingest", "BTCUSDT", COIN_TF_1H) >= want)
      stored_at = now_ms();
    ASSERT_TRUE(coin_test_proc_alive(&ing.proc));
    if (!coin_test_proc_alive(&ing.proc))
      break;
    usleep(100000);
  }
  long hwm = status_kib(ing.proc.pid, "VmHWM"); /* the peak, never missed */
  fprintf(stderr,
          "  measured: BTCUSDT stored after %lld ms; coin-ingest VmRSS "
          "first %ld KiB, max sampled %ld KiB, VmHWM %ld KiB\n",
          (long long)(stored_at - t0), rss0, rss_max, hwm);
  if (hwm > rss_max)
    rss_max = hwm;
  ASSERT_TRUE(stored_at > 0);
  /* Bound: the 4 MiB body cap times INGEST_PARALLEL (4) transfers, each
   * buffer at most twice its cap while it grows, over the start-up RSS of
   * ~10-20 MiB: 64 MiB. The huge answer alone is 64 MiB and an endless one
   * unbounded, so an uncapped client fails this at once. */
  ASSERT_TRUE(rss_max > 0 && rss_max < 64 * 1024);
  ASSERT_OK(wait_last(site, "BTCUSDT", COIN_TF_1H, want, 20000));
  ASSERT_OK(check_history(site, "BTCUSDT", COIN_TF_1H, 500));
  ASSERT_OK(check_site(site));
  /* nothing of the bad answers reached the SoT or the site */
  for (int i = 0; i < 3; i++) {
    ASSERT_EQ_INT(sot_count(bad[i], COIN_TF_1H), 0);
    ASSERT_EQ_INT(kv_ms("ingest", bad[i], COIN_TF_1H), -1);
    ASSERT_TRUE(last_open(site, bad[i], COIN_TF_1H) < 0);
  }
  /* counted, and said in the log per symbol */
  double errs = metric_sum(&ing, "coin_ingest_exchange_errors_total");
  fprintf(stderr, "  coin_ingest_exchange_errors_total %.0f\n", errs);
  ASSERT_TRUE(errs >= 3);
  for (int i = 0; i < 3; i++) {
    char needle[64];
    snprintf(needle, sizeof(needle), "\"symbol\":\"%s\"", bad[i]);
    int n = log_count(&ing, needle);
    fprintf(stderr, "  %s: %d log lines\n", bad[i], n);
    ASSERT_TRUE(n >= 1);
  }
  ASSERT_TRUE(coin_test_proc_alive(&ing.proc));
  ASSERT_TRUE(coin_test_proc_alive(&pub.proc));
  svc_stop(&ing);
  svc_stop(&pub);
  coin_test_server_cleanup(&rp);
}

/* ---- 2. the site's disk full, then read-only ----------------------------- */

static void site_disk_full_then_read_only(void) {
  char mnt[300];
  snprintf(mnt, sizeof(mnt), "%s/disk", tmpdir);
  ASSERT_EQ_INT(coin_test_sh("mkdir -p '%s'", mnt), 0);
  /* 2 MiB: room for the two series' files (~200 KiB) and their temp
   * copies, small enough to fill in an instant */
  if (mount("tmpfs", mnt, "tmpfs", 0, "size=2m,mode=0755") != 0) {
    fprintf(stderr,
            "  SKIP site_disk_full_then_read_only: mount tmpfs on %s: %s "
            "(needs root with CAP_SYS_ADMIN)\n",
            mnt, strerror(errno));
    return;
  }
  char site[400];
  snprintf(site, sizeof(site), "%s/site", mnt);
  struct pair p;
  ASSERT_OK(pair_start(&p, "TESTDUSDT", "TESTEUSDT", "disk", site));
  ASSERT_OK(pair_check(&p));
  struct svc *pub = &p.pub;

  /* (a) full: a filler takes every free block */
  coin_test_sh("dd if=/dev/zero of='%s/filler' bs=64k 2>/dev/null", mnt);
  double ferr0 = metric_sum(pub, "coin_publish_file_errors_total");
  ASSERT_OK(advance(&p, true));
  ASSERT_OK(
      wait_http(pub, "/readyz", 503, 15000, "\"site_writes\":\"failing\""));
  ASSERT_TRUE(metric_sum(pub, "coin_publish_file_errors_total") > ferr0);
  ASSERT_OK(check_site(site));
  ASSERT_OK(check_history(site, p.S, COIN_TF_1H, 500));
  ASSERT_OK(check_history(site, p.T, COIN_TF_1H, 500));
  ASSERT_EQ_INT(coin_test_sh("rm -f '%s/filler'", mnt), 0);
  ASSERT_OK(wait_http(pub, "/readyz", 200, 20000, "\"site_writes\":\"ok\""));
  ASSERT_OK(wait_last(site, p.S, COIN_TF_1H, p.H[p.next - 1], 15000));
  ASSERT_OK(pair_check(&p));
  ASSERT_EQ_INT(
      coin_test_sh("ls -a '%s' | grep -q '\\.tmp' && exit 1; exit 0", site), 0);

  /* (b) read-only */
  ASSERT_EQ_INT(mount(NULL, mnt, NULL, MS_REMOUNT | MS_RDONLY, "size=2m"), 0);
  ferr0 = metric_sum(pub, "coin_publish_file_errors_total");
  ASSERT_OK(advance(&p, true));
  int rc1 =
      wait_http(pub, "/readyz", 503, 15000, "\"site_writes\":\"failing\"");
  bool counted = metric_sum(pub, "coin_publish_file_errors_total") > ferr0;
  int rc2 = check_site(site);
  int rc3 = check_history(site, p.S, COIN_TF_1H, 500);
  ASSERT_EQ_INT(mount(NULL, mnt, NULL, MS_REMOUNT, "size=2m"), 0);
  ASSERT_OK(rc1);
  ASSERT_TRUE(counted);
  ASSERT_OK(rc2);
  ASSERT_OK(rc3);
  ASSERT_OK(wait_http(pub, "/readyz", 200, 20000, "\"site_writes\":\"ok\""));
  ASSERT_OK(wait_last(site, p.S, COIN_TF_1H, p.H[p.next - 1], 15000));
  ASSERT_OK(pair_check(&p));
  ASSERT_TRUE(coin_test_proc_alive(&pub->proc));
  svc_stop(pub);
  umount2(mnt, MNT_DETACH);
}

/* ---- 3. hand-published batches ------------------------------------------- */

static void hostile_batches_are_terminated(void) {
  struct pair p;
  ASSERT_OK(pair_start(&p, "TESTFUSDT", "TESTGUSDT", "batches", NULL));
  struct svc *pub = &p.pub;
  const char *S = p.S;
  char subj[128];
  coin_codec_subject_candles(subj, sizeof(subj), "binance", S, COIN_TF_1H);
  int64_t s_last = p.H[p.next - 1];

  /* forged bytes: empty, 64 KiB of noise, a valid batch cut in half, a
   * valid batch with a flipped length byte */
  uint8_t *good = NULL;
  size_t good_len = 0;
  struct coin_candle next_s = p.cs[p.next];
  ASSERT_OK(pack(&good, &good_len, S, COIN_TF_1H, &next_s, 1, p.H[p.next]));
  uint8_t noise[65536];
  uint64_t x = 88172645463325252ull;
  for (size_t i = 0; i < sizeof(noise); i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    noise[i] = (uint8_t)x;
  }
  uint8_t *flipped = malloc(good_len);
  memcpy(flipped, good, good_len);
  flipped[1] = 0x7f; /* the first field's length now runs past the end */
  struct {
    const char *what;
    const void *data;
    size_t len;
  } bytes[] = {{"empty", "", 0},
               {"noise", noise, sizeof(noise)},
               {"half", good, good_len / 2},
               {"bad length", flipped, good_len}};
  /* a batch over the codec's limit: two encodings concatenated are one
   * message (protobuf merges repeated fields), 2 x 6000 ascending minutes
   * = 12000 candles > COIN_CODEC_MAX_CANDLES, < 1 MiB */
  size_t nbig = 6000;
  struct coin_candle *big = calloc(2 * nbig, sizeof(*big));
  int64_t m0 = coin_tf_floor(COIN_TF_1M, p.H[0]) - (int64_t)(2 * nbig) * 60000;
  for (size_t i = 0; i < 2 * nbig; i++)
    big[i] = synth(m0 + (int64_t)i * 60000, 200);
  uint8_t *b1 = NULL, *b2 = NULL;
  size_t l1 = 0, l2 = 0;
  ASSERT_OK(pack(&b1, &l1, S, COIN_TF_1M, big, nbig, 0));
  ASSERT_OK(pack(&b2, &l2, S, COIN_TF_1M, big + nbig, nbig, 0));
  uint8_t *over = malloc(l1 + l2);
  memcpy(over, b1, l1);
  memcpy(over + l1, b2, l2);
  /* out of order inside one batch: [H_k, H_k-1] the same way */
  uint8_t *o1 = NULL, *o2 = NULL;
  size_t ol1 = 0, ol2 = 0;
  ASSERT_OK(pack(&o1, &ol1, S, COIN_TF_1H, p.cs + 9, 1, p.H[9]));
  ASSERT_OK(pack(&o2, &ol2, S, COIN_TF_1H, p.cs + 8, 1, p.H[9]));
  uint8_t *ooo = malloc(ol1 + ol2);
  memcpy(ooo, o1, ol1);
  memcpy(ooo + ol1, o2, ol2);
  char sub1m[128];
  coin_codec_subject_candles(sub1m, sizeof(sub1m), "binance", S, COIN_TF_1M);

  double term0 = metric_sum(pub, "coin_publish_terminated_messages_total");
  int sent = 0;
  for (size_t i = 0; i < sizeof(bytes) / sizeof(bytes[0]); i++) {
    ASSERT_OK(js_raw(subj, bytes[i].data, bytes[i].len));
    sent++;
    ASSERT_OK(advance(&p, false));
    ASSERT_OK(wait_consumed(p.durable, 10000));
    ASSERT_EQ_INT(metric_sum(pub, "coin_publish_terminated_messages_total"),
                  term0 + sent);
    ASSERT_EQ_INT(last_open(pub->site, S, COIN_TF_1H), s_last);
    ASSERT_OK(pair_check(&p));
  }
  ASSERT_EQ_INT(l1 + l2 < (1u << 20), 1);
  ASSERT_OK(js_raw(sub1m, over, l1 + l2));
  sent++;
  ASSERT_OK(js_raw(subj, ooo, ol1 + ol2));
  sent++;
  /* a configured symbol's batch on another exchange's subject, and on
   * another timeframe's subject */
  char kraken[128], sub1d[128];
  snprintf(kraken, sizeof(kraken), "coin.candles.kraken.%s.1h", S);
  coin_codec_subject_candles(sub1d, sizeof(sub1d), "binance", S, COIN_TF_1D);
  ASSERT_OK(js_raw(kraken, good, good_len));
  ASSERT_OK(js_raw(sub1d, good, good_len));
  ASSERT_OK(advance(&p, false));
  ASSERT_OK(wait_consumed(p.durable, 10000));
  double term = metric_sum(pub, "coin_publish_terminated_messages_total");
  double unconf = metric_sum(pub, "coin_publish_unconfigured_batches_total");
  fprintf(stderr,
          "  terminated %.0f (of %d forged + 2 on foreign subjects), "
          "unconfigured %.0f\n",
          term - term0, sent, unconf);
  /* each is terminated (never redelivered) or ignored as unconfigured, and
   * counted exactly once */
  ASSERT_EQ_INT(term - term0 + unconf, sent + 2);
  ASSERT_TRUE(term - term0 >= sent);
  ASSERT_EQ_INT(last_open(pub->site, S, COIN_TF_1H), s_last);
  ASSERT_OK(pair_check(&p));
  ASSERT_EQ_INT(metric_sum(pub, "coin_publish_redeliveries_total"), 0);
  /* the over-size message: the stream itself refuses it */
  size_t huge_len = (size_t)1 << 21;
  uint8_t *huge = calloc(1, huge_len);
  ASSERT_TRUE(js_raw(subj, huge, huge_len) != 0);
  fprintf(stderr, "  2 MiB publish: %s\n", coin_error_last());
  free(huge);
  /* S itself resumes with its next good batch */
  ASSERT_OK(advance(&p, true));
  ASSERT_OK(wait_last(pub->site, S, COIN_TF_1H, p.H[p.next - 1], 10000));
  ASSERT_OK(pair_check(&p));
  /* one log line per terminated message */
  int lines = log_count(pub, "terminated");
  fprintf(stderr, "  'terminated' log lines: %d\n", lines);
  ASSERT_TRUE(lines >= sent);
  ASSERT_TRUE(coin_test_proc_alive(&pub->proc));
  svc_stop(pub);
  free(good);
  free(flipped);
  free(big);
  free(b1);
  free(b2);
  free(over);
  free(o1);
  free(o2);
  free(ooo);
}

/* ---- 4. watermark values of the wrong shape while publish runs ----------- */

static void bad_watermarks_while_running(void) {
  struct pair p;
  ASSERT_OK(pair_start(&p, "TESTJUSDT", "TESTKUSDT", "kv", NULL));
  struct svc *pub = &p.pub;
  const char *S = p.S;
  /* each value goes to S's ingest watermark while T keeps updating */
  static const char *const values[] = {"{\"watermark_ms\":1}",
                                       "[]",
                                       "-5",
                                       "99999999999999999999",
                                       "1e3",
                                       " 12",
                                       "",
                                       "4102444800000000"};
  int64_t s_last = p.H[p.next - 1];
  double bad0 = metric_sum(pub, "coin_publish_watermark_bad_values_total");
  char key[128];
  coin_codec_series_key(key, sizeof(key), "ingest", "binance", S, COIN_TF_1H);
  size_t n = sizeof(values) / sizeof(values[0]);
  forged_wm_symbol = S;
  forged_wm_good = s_last;
  for (size_t i = 0; i < n; i++) {
    ASSERT_OK(forge_kv_put(key, values[i], strlen(values[i])));
    ASSERT_OK(advance(&p, false));
    ASSERT_OK(pair_check(&p));
    ASSERT_EQ_INT(last_open(pub->site, S, COIN_TF_1H), s_last);
  }
  double bad = metric_sum(pub, "coin_publish_watermark_bad_values_total");
  fprintf(stderr, "  coin_publish_watermark_bad_values_total +%.0f for %zu\n",
          bad - bad0, n);
  ASSERT_TRUE(bad - bad0 >= 1);
  forged_wm_symbol = NULL;
  /* a good value resumes S */
  ASSERT_OK(advance(&p, true));
  ASSERT_OK(wait_last(pub->site, S, COIN_TF_1H, p.H[p.next - 1], 10000));
  ASSERT_OK(pair_check(&p));
  ASSERT_TRUE(coin_test_proc_alive(&pub->proc));
  svc_stop(pub);
}

/* ---- 4b. ingest's own KV values, bad before a run ------------------------ */

static int forge_kv_put_bucket(const char *bucket, const char *key,
                               const char *value) {
  struct coin_bus_kv *b = NULL;
  struct coin_bus_kv_config kc = {.bucket = bucket, .history = 1};
  int rc = coin_bus_kv_ensure(&b, NULL, bus, &kc);
  if (rc == 0)
    rc = coin_bus_kv_put(NULL, b, key, value, strlen(value));
  coin_bus_kv_free(b);
  return rc;
}

/* coin-ingest (1h, running) over the replay. */
static int ingest_run(struct svc *out, const char *replay_url,
                      const char *symbols) {
  static char e[16][320];
  const char *env[17];
  int k = 0;
  out->port = coin_test_free_port();
  k = COIN_TEST_NATS_ENV(e, k, &nats, "ingest");
  snprintf(e[k++], 320, "INFLUX_URL=%s", influx.url);
  snprintf(e[k++], 320, "EXCHANGE_BASE_URL=%s", replay_url);
  snprintf(e[k++], 320, "SYMBOLS=%s", symbols);
  snprintf(e[k++], 320, "INGEST_TIMEFRAMES=1h");
  snprintf(e[k++], 320, "PRIMARY_TIMEFRAME=1h");
  snprintf(e[k++], 320, "INGEST_LOOKBACK_DAYS=2");
  snprintf(e[k++], 320, "STATIC_DATA_DIR=%s/ingest-site", tmpdir);
  snprintf(e[k++], 320, "INGEST_HTTP_ADDR=127.0.0.1:%d", out->port);
  snprintf(e[k++], 320, "INGEST_FULL_FILL_TIMEFRAMES=1d");
  snprintf(e[k++], 320, "INGEST_MAX_CYCLES=0");
  snprintf(e[k++], 320, "LOG_LEVEL=info");
  for (int i = 0; i < k; i++)
    env[i] = e[i];
  env[k] = NULL;
  if (svc_start(out, bin_ingest, "ingest-kv", env) != 0)
    return -1;
  return 0;
}

static void ingest_bad_kv_values(void) {
  struct coin_test_server rp;
  const char *rargs[] = {"--symbols", "BTCUSDT,ETHUSDT", "--symbols-alias",
                         "KVAUSDT=ETHUSDT,KVBUSDT=ETHUSDT,KVCUSDT=ETHUSDT",
                         NULL};
  ASSERT_OK(coin_test_replay_start(&rp, rargs));
  const char *syms = "KVAUSDT,KVBUSDT,KVCUSDT";
  /* KVA: known gaps not JSON; KVB: known gaps of the wrong shape; KVC: a
   * watermark far in the future (a number, but no candle opens there) */
  ASSERT_OK(forge_kv_put_bucket("coin_ingest", "gaps.binance.KVAUSDT.1h",
                                "\x01not json"));
  ASSERT_OK(forge_kv_put_bucket("coin_ingest", "gaps.binance.KVBUSDT.1h",
                                "{\"gaps\":{\"from_ms\":\"x\"}}"));
  char key[128];
  coin_codec_series_key(key, sizeof(key), "ingest", "binance", "KVCUSDT",
                        COIN_TF_1H);
  ASSERT_OK(forge_kv_put(key, "4102444800000000", 16));
  struct svc ing;
  ASSERT_OK(ingest_run(&ing, rp.url, syms));
  int64_t want = coin_tf_last_closed(COIN_TF_1H, now_ms());
  const char *each[] = {"KVAUSDT", "KVBUSDT", "KVCUSDT"};
  int64_t end = now_ms() + 60000;
  for (int i = 0; i < 3 && now_ms() < end;)
    if (kv_ms("ingest", each[i], COIN_TF_1H) == want)
      i++;
    else
      usleep(100000);
  for (int i = 0; i < 3; i++) {
    int64_t wm = kv_ms("ingest", each[i], COIN_TF_1H);
    size_t n = sot_count(each[i], COIN_TF_1H);
    fprintf(stderr, "  %s: watermark %lld (want %lld), %zu rows in the SoT\n",
            each[i], (long long)wm, (long long)want, n);
    ASSERT_EQ_INT(wm, want);
    ASSERT_TRUE(n >= 40 && n != (size_t)-1); /* 2 days of hours */
  }
  /* each key said once and counted */
  ASSERT_EQ_INT(log_count(&ing, "gaps.binance.KVAUSDT.1h"), 1);
  ASSERT_EQ_INT(log_count(&ing, "gaps.binance.KVBUSDT.1h"), 1);
  ASSERT_EQ_INT(log_count(&ing, "ingest.binance.KVCUSDT.1h"), 1);
  ASSERT_EQ_INT(metric_sum(&ing, "coin_ingest_gaps_bad_values_total"), 2);
  ASSERT_EQ_INT(metric_sum(&ing, "coin_ingest_watermark_bad_values_total"), 1);
  ASSERT_TRUE(coin_test_proc_alive(&ing.proc));
  svc_stop(&ing);
  coin_test_server_cleanup(&rp);
}

/* ---- 4c. model registry values of the wrong shape while publish runs ---- */

static void bad_model_values_while_running(void) {
  struct coin_bus_kv *models = NULL;
  struct coin_bus_kv_config kc = {
      .bucket = COIN_KV_MODELS, .history = 16, .max_value_bytes = 1 << 20};
  ASSERT_OK(coin_bus_kv_ensure(&models, NULL, bus, &kc));
  struct pair p;
  ASSERT_OK(pair_start(&p, "TESTMUSDT", "TESTNUSDT", "models", NULL));
  struct svc *pub = &p.pub;
  static const struct {
    const char *key, *value;
  } bad[] = {{"alias.champion", "\x01\x02 not json"},
             {"alias.champion", "{\"version\":[1,2]}"},
             {"model.v-forged", "{\"version\":\"v-forged\",\"kind\":7}"},
             {"alias.champion", "{\"version\":\"v-forged\"}"},
             {"events.recent", "[1,"},
             {"history.champions", "{\"champions\":-1}"}};
  double err0 = metric_sum(pub, "coin_publish_serving_errors_total");
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    ASSERT_OK(coin_bus_kv_put(NULL, models, bad[i].key, bad[i].value,
                              strlen(bad[i].value)));
    usleep(1500000); /* a model check (every second) sees it */
    ASSERT_OK(advance(&p, true));
    ASSERT_OK(wait_last(pub->site, p.S, COIN_TF_1H, p.H[p.next - 1], 10000));
    ASSERT_OK(pair_check(&p));
  }
  double errs = metric_sum(pub, "coin_publish_serving_errors_total") - err0;
  int lines = log_count(pub, "\"level\":\"warn\"") +
              log_count(pub, "\"level\":\"error\"");
  fprintf(stderr, "  serving errors +%.0f, warn/error log lines %d\n", errs,
          lines);
  coin_test_sh("grep -h '\"level\":\"\\(warn\\|error\\)\"' '%s' | cut -c1-260 "
               "| sort | uniq -c | sort -rn | head -8 >&2",
               pub->proc.log);
  /* counted, and the bad alias named in the log */
  ASSERT_TRUE(errs >= 2);
  ASSERT_TRUE(log_count(pub, "alias.champion") >= 1);
  ASSERT_TRUE(coin_test_proc_alive(&pub->proc));
  svc_stop(pub);
  coin_bus_kv_free(models);
}

int main(int argc, char **argv) {
  coin_test_main_begin(argc, argv);
  struct coin_bus_options bo;
  struct coin_influx_options io;
  if (coin_test_tmpdir(tmpdir, sizeof(tmpdir), "hostile") != 0 ||
      coin_test_bin(bin_publish, sizeof(bin_publish), "coin-publish") != 0 ||
      coin_test_bin(bin_ingest, sizeof(bin_ingest), "coin-ingest") != 0 ||
      coin_test_nats_start(&nats) != 0 || coin_test_influx_start(&influx) != 0)
    return 1;
  coin_test_nats_options(&bo, &nats, "admin"); /* the test forges as admin */
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
  RUN_TEST(hostile_batches_are_terminated);
  RUN_TEST(bad_watermarks_while_running);
  RUN_TEST(bad_model_values_while_running);
  RUN_TEST(site_disk_full_then_read_only);
  RUN_TEST(exchange_answers_that_never_fit);
  RUN_TEST(ingest_bad_kv_values);
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
