/*
 * test_monitor_util.h: shared fixture of the coin-monitor end-to-end tests
 * (included by each test_monitor*.c, which is one executable each). The
 * test plays ingest and publish itself: it writes KV watermarks and the
 * static site files (manifest/history/prediction as docs/static-site.md
 * says), runs coin-monitor as a child process, receives webhooks with an
 * in-process coin_httpd, and can start a real Alertmanager.
 * Single test thread; the webhook receiver's handler runs on httpd threads
 * and records under its own lock.
 */
#ifndef COIN_TEST_MONITOR_UTIL_H
#define COIN_TEST_MONITOR_UTIL_H

#include "coin/bus.h"
#include "coin/codec.h"
#include "coin/error.h"
#include "coin/file.h"
#include "coin/hmac.h"
#include "coin/http.h"
#include "coin/httpd.h"
#include "coin/timeframe.h"
#include "harness.h"
#include "test.h"

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

#define FX_SECRET "webhook-test-secret"
/* each test file uses a different part of the fixture */
#define FX_FN static __attribute__((unused))

FX_FN struct coin_test_server fx_nats, fx_influx;
FX_FN char fx_dir[256];  /* the test's temporary directory */
FX_FN char fx_site[320]; /* STATIC_DATA_DIR */
FX_FN struct coin_bus *fx_bus;
FX_FN struct coin_bus_kv *fx_kv_wm;

FX_FN int64_t fx_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

FX_FN void fx_sleep_ms(int64_t ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ---- servers ------------------------------------------------------------ */

FX_FN int fx_setup(bool with_influx) {
  if (coin_test_tmpdir(fx_dir, sizeof(fx_dir), "monitor") != 0)
    return -1;
  snprintf(fx_site, sizeof(fx_site), "%s/site", fx_dir);
  if (coin_test_nats_start(&fx_nats) != 0)
    return -1;
  if (with_influx && coin_test_influx_start(&fx_influx) != 0)
    return -1;
  struct coin_bus_options o;
  coin_test_nats_options(&o, &fx_nats, "admin");
  if (coin_bus_connect(&fx_bus, &o) != 0)
    return -1;
  struct coin_bus_kv_config kw = {.bucket = COIN_KV_WATERMARKS, .history = 5};
  return coin_bus_kv_ensure(&fx_kv_wm, NULL, fx_bus, &kw);
}

FX_FN void fx_teardown(void) {
  coin_bus_kv_free(fx_kv_wm);
  coin_bus_free(fx_bus);
  coin_bus_shutdown();
  coin_test_server_cleanup(&fx_nats);
  if (fx_influx.pid > 0)
    coin_test_server_cleanup(&fx_influx);
  if (getenv("COIN_TEST_KEEP") == NULL)
    coin_test_rmtree(fx_dir);
}

FX_FN int fx_set_wm(const char *prefix, const char *symbol, enum coin_tf tf,
                    int64_t v) {
  char key[128], val[32];
  coin_codec_series_key(key, sizeof(key), prefix, "binance", symbol, tf);
  snprintf(val, sizeof(val), "%lld", (long long)v);
  return coin_bus_kv_put(NULL, fx_kv_wm, key, val, strlen(val));
}

/* ---- the static site ---------------------------------------------------- */

struct fx_series {
  const char *symbol;
  enum coin_tf tf;
  int64_t last_open_ms; /* newest candle; < 0: none */
  int n_candles;
  bool degraded;
  const char *reason;        /* one degraded reason or NULL */
  bool listed;               /* in manifest.json */
  const char *hist_override; /* written as history.json instead, if set */
  /* what was written last (corruption tests; unchanged rewrites) */
  char hist_sha[COIN_SHA256_HEX_BYTES];
  size_t hist_bytes;
  char pred_sha[COIN_SHA256_HEX_BYTES];
  size_t pred_bytes;
  bool unchanged; /* fx_write_site lists the last files without rewriting */
};

struct jbuf_fx {
  char *s;
  size_t len, cap;
};

FX_FN void fx_put(struct jbuf_fx *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
FX_FN void fx_put(struct jbuf_fx *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (b->len + (size_t)n + 1 > b->cap) {
    b->cap = (b->len + (size_t)n + 1) * 2;
    b->s = realloc(b->s, b->cap);
  }
  va_start(ap, fmt);
  vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

FX_FN void fx_header(struct jbuf_fx *b, const struct fx_series *s,
                     int64_t now) {
  char t[32], lt[32];
  coin_tf_format_utc(t, sizeof(t), now);
  if (s->last_open_ms >= 0)
    coin_tf_format_utc(lt, sizeof(lt), s->last_open_ms);
  fx_put(b,
         "{\"schema_version\":1,\"generated_at\":\"%s\",\"generated_at_ms\":"
         "%lld,\"exchange\":\"binance\",\"symbol\":\"%s\",\"timeframe\":"
         "\"%s\",\"status\":\"fresh\",\"degraded\":%s,\"degraded_reasons\":"
         "[%s%s%s],",
         t, (long long)now, s->symbol, coin_tf_name(s->tf),
         s->degraded ? "true" : "false", s->degraded && s->reason ? "\"" : "",
         s->degraded && s->reason ? s->reason : "",
         s->degraded && s->reason ? "\"" : "");
  if (s->last_open_ms >= 0)
    fx_put(b, "\"last_candle_open_ms\":%lld,\"last_candle_open\":\"%s\",",
           (long long)s->last_open_ms, lt);
  else
    fx_put(b, "\"last_candle_open_ms\":null,\"last_candle_open\":null,");
}

FX_FN char *fx_history(const struct fx_series *s, int64_t now) {
  struct jbuf_fx b = {0};
  fx_header(&b, s, now);
  fx_put(&b, "\"candles\":[");
  int n = s->last_open_ms >= 0 ? s->n_candles : 0;
  int64_t t = s->last_open_ms;
  for (int i = 1; i < n; i++)
    t = coin_tf_prev(s->tf, t);
  for (int i = 0; i < n; i++) {
    double o = 100.0 + i;
    fx_put(&b, "%s[%lld,%.2f,%.2f,%.2f,%.2f,%.3f]", i ? "," : "", (long long)t,
           o, o + 2, o - 1, o + 1, 10.5 + i);
    t = coin_tf_next(s->tf, t);
  }
  fx_put(&b, "]}\n");
  return b.s;
}

FX_FN char *fx_prediction(const struct fx_series *s, int64_t now) {
  struct jbuf_fx b = {0};
  fx_header(&b, s, now);
  if (s->degraded)
    fx_put(&b,
           "\"input_last_candle_open_ms\":%lld,\"model\":null,"
           "\"predicted_close\":null,\"predicted_return\":null,\"band\":"
           "null,\"direction\":null,\"direction_probability\":null,"
           "\"walk_forward\":null,\"blocked_reason\":\"no_model\"}\n",
           (long long)s->last_open_ms);
  else
    fx_put(&b,
           "\"input_last_candle_open_ms\":%lld,\"model\":{\"version\":"
           "\"v1\",\"kind\":\"ridge\"},\"predicted_close\":101.5,"
           "\"predicted_return\":0.001,\"band\":{\"low\":100.0,\"high\":"
           "103.0,\"level\":0.8},\"direction\":\"up\","
           "\"direction_probability\":0.56,\"walk_forward\":null,"
           "\"blocked_reason\":null}\n",
           (long long)s->last_open_ms);
  return b.s;
}

FX_FN int fx_path(char *out, size_t n, const struct fx_series *s,
                  const char *file) {
  return snprintf(out, n, "v1/binance/%s/%s/%s", s->symbol, coin_tf_name(s->tf),
                  file) < (int)n
             ? 0
             : -1;
}

FX_FN int fx_write_file(const char *rel, const char *data, size_t len) {
  char path[640];
  snprintf(path, sizeof(path), "%s/%s", fx_site, rel);
  if (coin_file_mkdirs_for(path) != 0)
    return -1;
  return coin_file_write_atomic(path, data, len);
}

/* Writes every series' history.json and prediction.json, then manifest.json
 * (publish's order). */
FX_FN int fx_write_site(struct fx_series *all, size_t n) {
  int64_t now = fx_now_ms();
  struct jbuf_fx man = {0};
  char t[32];
  coin_tf_format_utc(t, sizeof(t), now);
  fx_put(&man,
         "{\"schema_version\":1,\"generated_at\":\"%s\",\"generated_at_ms\":"
         "%lld,\"overall\":{\"status\":\"fresh\",\"degraded\":false,"
         "\"series\":%zu,\"counts\":{\"fresh\":%zu}},\"series\":[",
         t, (long long)now, n, n);
  bool first = true;
  for (size_t i = 0; i < n; i++) {
    struct fx_series *s = &all[i];
    if (!s->listed)
      continue;
    char hp[160], pp[160];
    fx_path(hp, sizeof(hp), s, "history.json");
    fx_path(pp, sizeof(pp), s, "prediction.json");
    if (!s->unchanged || s->hist_bytes == 0) {
      char *h =
          s->hist_override ? strdup(s->hist_override) : fx_history(s, now);
      char *p = fx_prediction(s, now);
      coin_sha256_hex(s->hist_sha, h, strlen(h));
      coin_sha256_hex(s->pred_sha, p, strlen(p));
      s->hist_bytes = strlen(h);
      s->pred_bytes = strlen(p);
      int rc = fx_write_file(hp, h, strlen(h));
      if (rc == 0)
        rc = fx_write_file(pp, p, strlen(p));
      free(h);
      free(p);
      if (rc != 0)
        return rc;
    }
    const char *hs = s->hist_sha, *ps = s->pred_sha;
    size_t hl = s->hist_bytes, pl = s->pred_bytes;
    fx_put(&man,
           "%s{\"exchange\":\"binance\",\"symbol\":\"%s\",\"timeframe\":"
           "\"%s\",\"status\":\"fresh\",\"degraded\":%s,"
           "\"degraded_reasons\":[%s%s%s],",
           first ? "" : ",", s->symbol, coin_tf_name(s->tf),
           s->degraded ? "true" : "false", s->degraded && s->reason ? "\"" : "",
           s->degraded && s->reason ? s->reason : "",
           s->degraded && s->reason ? "\"" : "");
    if (s->last_open_ms >= 0)
      fx_put(&man,
             "\"last_candle_open_ms\":%lld,\"publish_watermark_ms\":%lld,",
             (long long)s->last_open_ms, (long long)s->last_open_ms);
    else
      fx_put(&man, "\"last_candle_open_ms\":null,");
    fx_put(&man,
           "\"files\":[{\"path\":\"%s\",\"bytes\":%zu,\"sha256\":\"%s\"},"
           "{\"path\":\"%s\",\"bytes\":%zu,\"sha256\":\"%s\"}]}",
           hp, hl, hs, pp, pl, ps);
    first = false;
  }
  fx_put(&man, "]}\n");
  int rc = fx_write_file("manifest.json", man.s, man.len);
  free(man.s);
  return rc;
}

/* "ingest and publish ran": watermarks + site for every series. */
FX_FN int fx_publish(struct fx_series *all, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (all[i].last_open_ms >= 0 &&
        (fx_set_wm("ingest", all[i].symbol, all[i].tf, all[i].last_open_ms) !=
             0 ||
         fx_set_wm("publish", all[i].symbol, all[i].tf, all[i].last_open_ms) !=
             0))
      return -1;
  return fx_write_site(all, n);
}

/* ---- HTTP client helpers ------------------------------------------------ */

FX_FN long fx_http(char **body, const char *method, const char *url) {
  struct coin_http *h = NULL;
  struct coin_http_response r = {0};
  long st = -1;
  struct coin_http_opts o = {.connect_timeout_ms = 2000, .timeout_ms = 5000};
  if (body)
    *body = NULL;
  if (coin_http_new(&h, &o) == 0 &&
      coin_http_request(h, &r, method, url, NULL, NULL, 0) == 0) {
    st = r.status;
    if (body)
      *body = strdup(r.body ? r.body : "");
  }
  coin_http_response_clear(&r);
  coin_http_free(h);
  return st;
}

FX_FN json_t *fx_get_json(long *status, const char *url) {
  char *body = NULL;
  long st = fx_http(&body, "GET", url);
  json_t *j = body ? json_loads(body, 0, NULL) : NULL;
  free(body);
  if (status)
    *status = st;
  return j;
}

/* ---- coin-monitor as a child process ------------------------------------ */

struct fx_monitor {
  struct coin_test_proc proc;
  int port;
  char base[64];      /* http://127.0.0.1:PORT */
  char env[40][2048]; /* SYMBOLS of the benchmark: 200 names */
  int n_env;
};

FX_FN void fx_monitor_env(struct fx_monitor *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
FX_FN void fx_monitor_env(struct fx_monitor *m, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(m->env[m->n_env++], sizeof(m->env[0]), fmt, ap);
  va_end(ap);
}

/* Fills the common environment; add more with fx_monitor_env. */
FX_FN void fx_monitor_init(struct fx_monitor *m, const char *symbols) {
  memset(m, 0, sizeof(*m));
  m->port = coin_test_free_port();
  snprintf(m->base, sizeof(m->base), "http://127.0.0.1:%d", m->port);
  m->n_env = COIN_TEST_NATS_ENV(m->env, m->n_env, &fx_nats, "monitor");
  if (fx_influx.pid > 0)
    fx_monitor_env(m, "INFLUX_URL=%s", fx_influx.url);
  else
    fx_monitor_env(m, "INFLUX_URL=http://127.0.0.1:%d", coin_test_free_port());
  fx_monitor_env(m, "STATIC_DATA_DIR=%s", fx_site);
  fx_monitor_env(m, "MONITOR_HTTP_ADDR=127.0.0.1:%d", m->port);
  fx_monitor_env(m, "SYMBOLS=%s", symbols);
  fx_monitor_env(m, "PRIMARY_TIMEFRAME=1m");
  fx_monitor_env(m, "INGEST_TIMEFRAMES=1m");
  fx_monitor_env(m, "LOG_LEVEL=info");
  fx_monitor_env(m, "SERVICE_ID=test");
}

FX_FN int fx_monitor_start(struct fx_monitor *m, const char *tag) {
  static int seq;
  char bin[512], logp[512];
  char *envp[41];
  if (coin_test_bin(bin, sizeof(bin), "coin-monitor") != 0)
    return -1;
  for (int i = 0; i < m->n_env; i++)
    envp[i] = m->env[i];
  envp[m->n_env] = NULL;
  snprintf(logp, sizeof(logp), "%s/monitor-%s-%d.log", fx_dir, tag, ++seq);
  char *argv[] = {bin, NULL};
  if (coin_test_proc_start(&m->proc, argv, envp, logp) != 0)
    return -1;
  char url[128];
  snprintf(url, sizeof(url), "%s/healthz", m->base);
  for (int i = 0; i < 200; i++) {
    if (fx_http(NULL, "GET", url) == 200)
      return 0;
    if (!coin_test_proc_alive(&m->proc)) {
      fprintf(stderr, "  coin-monitor exited at start, log %s\n", logp);
      coin_test_sh("tail -5 %s >&2", logp);
      return -1;
    }
    fx_sleep_ms(50);
  }
  return -1;
}

FX_FN void fx_monitor_stop(struct fx_monitor *m) {
  if (m->proc.pid > 0 && coin_test_proc_alive(&m->proc)) {
    coin_test_proc_signal(&m->proc, SIGTERM);
    if (coin_test_proc_wait(&m->proc, 10000) < 0)
      coin_test_proc_signal(&m->proc, SIGKILL);
  }
  m->proc.pid = 0;
}

/* The monitor's view of one series (NULL when unavailable). */
/* The value of the sample (a metric name with its labels, e.g.
 * coin_monitor_sink_delivered_total{sink="slack-0"}) on the monitor's
 * /metrics: the line that starts with it followed by a space; -1 when
 * /metrics does not answer or has no such line. */
FX_FN int64_t fx_metric(const struct fx_monitor *m, const char *sample) {
  char url[160], *body = NULL;
  snprintf(url, sizeof(url), "%s/metrics", m->base);
  if (fx_http(&body, "GET", url) != 200 || body == NULL) {
    free(body);
    return -1;
  }
  size_t n = strlen(sample);
  int64_t v = -1;
  for (const char *p = strstr(body, sample); p; p = strstr(p + 1, sample))
    if ((p == body || p[-1] == '\n') && p[n] == ' ') {
      v = strtoll(p + n + 1, NULL, 10);
      break;
    }
  free(body);
  return v;
}

FX_FN json_t *fx_series_status(const struct fx_monitor *m, const char *symbol,
                               const char *tf) {
  char url[256];
  snprintf(url, sizeof(url), "%s/status/binance/%s/%s", m->base, symbol, tf);
  long st = 0;
  json_t *j = fx_get_json(&st, url);
  if (st != 200) {
    json_decref(j);
    return NULL;
  }
  return j;
}

FX_FN const char *fx_jstr(const json_t *o, const char *key) {
  const char *s = json_string_value(json_object_get(o, key));
  return s ? s : "";
}

FX_FN int64_t fx_jint(const json_t *o, const char *key) {
  const json_t *v = json_object_get(o, key);
  return json_is_integer(v) ? json_integer_value(v) : -1;
}

/* ---- a real Prometheus Alertmanager -------------------------------------- */

struct fx_am {
  struct coin_test_proc proc;
  int port;
};

/* Starts Alertmanager on a free loopback port with this configuration. */
FX_FN int fx_am_start(struct fx_am *a, const char *yaml) {
  char conf[400], store[400], listen[64], cfgarg[460], storearg[460], logp[400],
      bin[] = "/usr/bin/prometheus-alertmanager";
  static int seq;
  seq++;
  snprintf(conf, sizeof(conf), "%s/alertmanager-%d.yml", fx_dir, seq);
  snprintf(store, sizeof(store), "%s/am-data-%d", fx_dir, seq);
  snprintf(logp, sizeof(logp), "%s/alertmanager-%d.log", fx_dir, seq);
  FILE *f = fopen(conf, "w");
  if (!f)
    return -1;
  fputs(yaml, f);
  fclose(f);
  memset(a, 0, sizeof(*a));
  a->port = coin_test_free_port();
  snprintf(listen, sizeof(listen), "--web.listen-address=127.0.0.1:%d",
           a->port);
  snprintf(cfgarg, sizeof(cfgarg), "--config.file=%s", conf);
  snprintf(storearg, sizeof(storearg), "--storage.path=%s", store);
  char *argv[] = {
      bin, cfgarg, storearg, listen, "--cluster.listen-address=", NULL};
  if (coin_test_proc_start(&a->proc, argv, NULL, logp) != 0)
    return -1;
  char url[128];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/-/ready", a->port);
  for (int i = 0; i < 200; i++) {
    if (fx_http(NULL, "GET", url) == 200)
      return 0;
    fx_sleep_ms(50);
  }
  return -1;
}

FX_FN void fx_am_stop(struct fx_am *a) {
  if (a->proc.pid > 0 && coin_test_proc_alive(&a->proc)) {
    coin_test_proc_signal(&a->proc, SIGTERM);
    if (coin_test_proc_wait(&a->proc, 5000) < 0)
      coin_test_proc_signal(&a->proc, SIGKILL);
  }
  a->proc.pid = 0;
}

/* GET /api/v2/alerts (the JSON array), NULL when it does not answer. */
FX_FN json_t *fx_am_alerts(const struct fx_am *a) {
  char url[128];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v2/alerts", a->port);
  long st = 0;
  json_t *arr = fx_get_json(&st, url);
  if (st != 200 || !json_is_array(arr)) {
    json_decref(arr);
    return NULL;
  }
  return arr;
}

/* ---- webhook receiver (in process) -------------------------------------- */

struct fx_req {
  char sig[128];
  char ts[32]; /* X-Coin-Timestamp */
  char idem[200];
  char ctype[64];
  char *body;
  size_t len;
  int64_t at_ms;
  int answered; /* status we answered */
};

struct fx_recv {
  struct coin_httpd *d;
  int port;
  char url[64];
  pthread_mutex_t lock;
  struct fx_req *reqs;
  size_t n, cap;
  int answer; /* status to answer (200, 503...) */
};

FX_FN void fx_recv_handler(void *ctx, const struct coin_httpd_request *req,
                           struct coin_httpd_response *resp) {
  struct fx_recv *r = ctx;
  size_t len = 0;
  const char *body = coin_httpd_request_body(req, &len);
  const char *sig = coin_httpd_request_header(req, "X-Coin-Signature");
  const char *ts = coin_httpd_request_header(req, "X-Coin-Timestamp");
  const char *idem = coin_httpd_request_header(req, "Idempotency-Key");
  const char *ct = coin_httpd_request_header(req, "Content-Type");
  pthread_mutex_lock(&r->lock);
  int answer = r->answer;
  if (r->n == r->cap) {
    r->cap = r->cap ? r->cap * 2 : 64;
    r->reqs = realloc(r->reqs, r->cap * sizeof(*r->reqs));
  }
  struct fx_req *q = &r->reqs[r->n++];
  memset(q, 0, sizeof(*q));
  snprintf(q->sig, sizeof(q->sig), "%s", sig ? sig : "");
  snprintf(q->ts, sizeof(q->ts), "%s", ts ? ts : "");
  snprintf(q->idem, sizeof(q->idem), "%s", idem ? idem : "");
  snprintf(q->ctype, sizeof(q->ctype), "%s", ct ? ct : "");
  q->body = malloc(len + 1);
  memcpy(q->body, body, len);
  q->body[len] = '\0';
  q->len = len;
  q->at_ms = fx_now_ms();
  q->answered = answer;
  pthread_mutex_unlock(&r->lock);
  coin_httpd_respond(resp, answer, "application/json", "{}", 2);
}

/* The request's webhook signature (docs/monitor.md): v1 over "<t>.<body>",
 * t within the replay window of when it arrived, X-Coin-Timestamp == t. */
FX_FN int fx_req_verify(const struct fx_req *q) {
  int64_t t = -1;
  int rc = coin_hmac_webhook_verify(&t, q->sig, FX_SECRET, strlen(FX_SECRET),
                                    q->body, q->len, q->at_ms / 1000,
                                    COIN_WEBHOOK_TOLERANCE_SECONDS);
  if (rc != 0)
    return rc;
  char want[32];
  snprintf(want, sizeof(want), "%lld", (long long)t);
  return strcmp(want, q->ts) == 0 ? 0 : COIN_EINVAL;
}

FX_FN void fx_recv_init(struct fx_recv *r) {
  memset(r, 0, sizeof(*r));
  pthread_mutex_init(&r->lock, NULL);
  r->answer = 200;
}

/* port 0: the port of the last start, or any free one the first time. */
FX_FN int fx_recv_start(struct fx_recv *r, int port) {
  struct coin_httpd_opts o = {.host = "127.0.0.1",
                              .port = port ? port : r->port,
                              .threads = 2,
                              .handler = fx_recv_handler,
                              .handler_ctx = r};
  int rc = -1;
  for (int i = 0; i < 50 && rc != 0; i++) {
    rc = coin_httpd_start(&r->d, &o);
    if (rc != 0)
      fx_sleep_ms(100); /* port still held by the last instance */
  }
  if (rc != 0)
    return rc;
  r->port = coin_httpd_port(r->d);
  snprintf(r->url, sizeof(r->url), "http://127.0.0.1:%d/hook", r->port);
  return 0;
}

FX_FN void fx_recv_stop(struct fx_recv *r) {
  coin_httpd_free(r->d);
  r->d = NULL;
}

FX_FN void fx_recv_answer(struct fx_recv *r, int status) {
  pthread_mutex_lock(&r->lock);
  r->answer = status;
  pthread_mutex_unlock(&r->lock);
}

FX_FN size_t fx_recv_count(struct fx_recv *r) {
  pthread_mutex_lock(&r->lock);
  size_t n = r->n;
  pthread_mutex_unlock(&r->lock);
  return n;
}

FX_FN void fx_recv_free(struct fx_recv *r) {
  fx_recv_stop(r);
  for (size_t i = 0; i < r->n; i++)
    free(r->reqs[i].body);
  free(r->reqs);
  r->reqs = NULL;
  r->n = r->cap = 0;
}

/* Index of the first request (from index from) accepted with 2xx whose body
 * has alertname/status/state (NULL = any) for symbol; -1 if none. */
FX_FN long fx_recv_find(struct fx_recv *r, size_t from, const char *symbol,
                        const char *alertname, const char *status,
                        const char *state) {
  long found = -1;
  pthread_mutex_lock(&r->lock);
  for (size_t i = from; i < r->n && found < 0; i++) {
    if (r->reqs[i].answered < 200 || r->reqs[i].answered > 299)
      continue;
    json_t *j = json_loads(r->reqs[i].body, 0, NULL);
    if (j && !strcmp(fx_jstr(j, "symbol"), symbol) &&
        (!alertname || !strcmp(fx_jstr(j, "alertname"), alertname)) &&
        (!status || !strcmp(fx_jstr(j, "status"), status)) &&
        (!state || !strcmp(fx_jstr(j, "state"), state)))
      found = (long)i;
    json_decref(j);
  }
  pthread_mutex_unlock(&r->lock);
  return found;
}

/* Polls fx_recv_find until deadline_ms (calling tick between polls). */
FX_FN long fx_recv_wait(struct fx_recv *r, size_t from, const char *symbol,
                        const char *alertname, const char *status,
                        const char *state, int64_t timeout_ms,
                        void (*tick)(void)) {
  int64_t end = fx_now_ms() + timeout_ms;
  for (;;) {
    long i = fx_recv_find(r, from, symbol, alertname, status, state);
    if (i >= 0 || fx_now_ms() >= end)
      return i;
    if (tick)
      tick();
    fx_sleep_ms(50);
  }
}

/* The distinct Idempotency-Keys of 2xx-answered requests, in order of
 * first receipt. */
FX_FN size_t fx_recv_keys(struct fx_recv *r, char keys[][200], size_t max) {
  size_t n = 0;
  pthread_mutex_lock(&r->lock);
  for (size_t i = 0; i < r->n && n < max; i++) {
    if (r->reqs[i].answered < 200 || r->reqs[i].answered > 299)
      continue;
    bool seen = false;
    for (size_t k = 0; k < n && !seen; k++)
      seen = !strcmp(keys[k], r->reqs[i].idem);
    if (!seen)
      snprintf(keys[n++], 200, "%s", r->reqs[i].idem);
  }
  pthread_mutex_unlock(&r->lock);
  return n;
}

FX_FN json_t *fx_recv_json(struct fx_recv *r, long i) {
  pthread_mutex_lock(&r->lock);
  json_t *j = json_loads(r->reqs[i].body, 0, NULL);
  pthread_mutex_unlock(&r->lock);
  return j;
}

FX_FN int64_t fx_recv_at(struct fx_recv *r, long i) {
  pthread_mutex_lock(&r->lock);
  int64_t t = r->reqs[i].at_ms;
  pthread_mutex_unlock(&r->lock);
  return t;
}

#endif
