/* test_cluster.c: the bus on a 3-node NATS JetStream cluster (nats-server
 * 2.9, routes on loopback, one store dir each), as coin-predict runs it
 * with NATS_REPLICAS=3 and NATS_URL listing the three servers:
 * - streams and KV buckets are created with 3 replicas; an existing R1
 *   stream is raised to 3 by ensure;
 * - the stream leader is SIGKILLed mid-stream: publishing goes on (after
 *   the new leader is elected), the durable pull consumer is fetched again
 *   through the same binding, and every message arrives: none lost;
 * - KV reads and CAS writes work with the leader gone; the killed node
 *   comes back on its store dir and the cluster has its 3 replicas again.
 * - the whole stack (coin-ingest, coin-publish, coin-monitor with a webhook)
 *   on the cluster: the COIN_CANDLES leader, and later another node,
 *   SIGKILLed mid-backfill and restarted: the SoT equals the exchange, no
 *   publish watermark is ever ahead of ingest's, the site converges, and no
 *   alert is delivered twice.
 * The servers run without users here: the role table is tested on one
 * server (test_nats_permissions.c); this file is about the cluster. */
#include "coin/bus.h"
#include "coin/codec.h"
#include "coin/error.h"
#include "coin/http.h"
#include "coin/httpd.h"
#include "coin/influx.h"
#include "coin/timeframe.h"
#include "harness.h"
#include "test.h"

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NODES 3

struct node {
  struct coin_test_proc proc;
  int port, cport, mport;
  char dir[300], name[8];
};

static struct node nodes[NODES];
static char tmp[256], urls[512];

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* GET http://127.0.0.1:port/path as JSON (NULL on failure). */
static json_t *monitor_json(int port, const char *path) {
  struct coin_http *h = NULL;
  struct coin_http_response r = {0};
  char u[256];
  json_t *j = NULL;
  snprintf(u, sizeof(u), "http://127.0.0.1:%d%s", port, path);
  json_error_t je = {0};
  int rc = coin_http_new(&h, NULL);
  if (rc == 0)
    rc = coin_http_request(h, &r, "GET", u, NULL, NULL, 0);
  if (rc == 0 && r.status == 200)
    j = json_loadb(r.body, r.body_len, JSON_DECODE_INT_AS_REAL,
                   &je); /* /jsz has uint64 maxima jansson cannot hold */
  if (!j)
    fprintf(stderr, "  GET %s: rc %d status %ld %zu bytes: %s %s\n", u, rc,
            r.status, r.body_len, rc ? coin_error_last() : "", je.text);
  coin_http_response_clear(&r);
  coin_http_free(h);
  return j;
}

static int node_start(int i) {
  struct node *n = &nodes[i];
  char p[16], cp[32], mp[16], store[320], routes[256], logp[320];
  snprintf(p, sizeof(p), "%d", n->port);
  snprintf(cp, sizeof(cp), "nats://127.0.0.1:%d", n->cport);
  snprintf(mp, sizeof(mp), "%d", n->mport);
  snprintf(store, sizeof(store), "%s/js", n->dir);
  snprintf(logp, sizeof(logp), "%s/server.log", n->dir);
  routes[0] = '\0';
  for (int k = 0; k < NODES; k++) {
    if (k == i)
      continue;
    size_t len = strlen(routes);
    snprintf(routes + len, sizeof(routes) - len, "%snats://127.0.0.1:%d",
             len ? "," : "", nodes[k].cport);
  }
  char *argv[] = {"/usr/sbin/nats-server",
                  "-a",
                  "127.0.0.1",
                  "-p",
                  p,
                  "-m",
                  mp,
                  "-js",
                  "-sd",
                  store,
                  "-n",
                  n->name,
                  "--cluster_name",
                  "coin",
                  "--cluster",
                  cp,
                  "--routes",
                  routes,
                  NULL};
  return coin_test_proc_start(&n->proc, argv, NULL, logp);
}

/* Every running node sees the others and JetStream is healthy. */
static int cluster_ready(int want_routes, int ms) {
  for (int64_t end = now_ms() + ms; now_ms() < end; usleep(200 * 1000)) {
    int ok = 0;
    for (int i = 0; i < NODES; i++) {
      if (!coin_test_proc_alive(&nodes[i].proc))
        continue;
      json_t *r = monitor_json(nodes[i].mport, "/routez");
      json_t *h = monitor_json(nodes[i].mport, "/healthz");
      ok +=
          r && h &&
          json_number_value(json_object_get(r, "num_routes")) >= want_routes &&
          !strcmp(json_string_value(json_object_get(h, "status")) ?: "", "ok");
      json_decref(r);
      json_decref(h);
    }
    if (ok == want_routes + 1)
      return 0;
  }
  fprintf(stderr,
          "  cluster not ready in %d ms (every node routed and /healthz ok)\n",
          ms);
  return -1;
}

/* Index of the node leading stream (per /jsz of any live node), or -1. */
static int stream_leader(const char *stream) {
  for (int i = 0; i < NODES; i++) {
    if (!coin_test_proc_alive(&nodes[i].proc))
      continue;
    json_t *j = monitor_json(nodes[i].mport, "/jsz?accounts=true&streams=true");
    json_t *acc = json_object_get(j, "account_details");
    const char *leader = NULL;
    for (size_t a = 0; a < json_array_size(acc); a++) {
      json_t *sd = json_object_get(json_array_get(acc, a), "stream_detail");
      for (size_t s = 0; s < json_array_size(sd); s++) {
        json_t *st = json_array_get(sd, s);
        if (!strcmp(json_string_value(json_object_get(st, "name")) ?: "",
                    stream))
          leader = json_string_value(
              json_object_get(json_object_get(st, "cluster"), "leader"));
      }
    }
    int found = -1;
    for (int k = 0; leader && k < NODES; k++)
      if (!strcmp(nodes[k].name, leader))
        found = k;
    json_decref(j);
    if (found >= 0)
      return found;
  }
  return -1;
}

static struct coin_bus *connect_cluster(int replicas) {
  struct coin_bus_options o;
  struct coin_bus *b = NULL;
  coin_bus_options_init(&o);
  o.url = urls;
  o.replicas = replicas;
  o.reconnect_wait_ms = 200;
  if (coin_bus_connect(&b, &o) != 0)
    fprintf(stderr, "  connect: %s\n", coin_error_last());
  return b;
}

/* JetStream API calls right after a start or a kill may meet an election:
 * retried for up to ms. */
static int ensure_stream(struct coin_bus *b, const char *name,
                         const char *subject, int ms) {
  const char *subjects[] = {subject};
  struct coin_bus_stream_config sc = {
      .name = name, .subjects = subjects, .subjects_len = 1};
  int rc = -1;
  for (int64_t end = now_ms() + ms; now_ms() < end; usleep(300 * 1000))
    if ((rc = coin_bus_stream_ensure(NULL, b, &sc)) == 0)
      return 0;
  fprintf(stderr, "  stream %s: %s\n", name, coin_error_last());
  return rc;
}

static int publish_retry(struct coin_bus *b, int i, int ms) {
  char subj[64], id[32], body[32];
  snprintf(subj, sizeof(subj), "tc.%d", i % 7);
  snprintf(id, sizeof(id), "m-%d", i);
  int len = snprintf(body, sizeof(body), "%d", i);
  int rc = -1;
  for (int64_t end = now_ms() + ms; now_ms() < end; usleep(200 * 1000))
    if ((rc = coin_bus_js_publish(NULL, b, subj, id, body, (size_t)len)) == 0)
      return 0;
  fprintf(stderr, "  publish %d: %s\n", i, coin_error_last());
  return rc;
}

/* Fetches and acks until total distinct bodies are seen or ms pass. */
static int drain(struct coin_bus *b, struct coin_bus_sub **sub, bool *seen,
                 int total, int want, int *n_seen, int ms) {
  for (int64_t end = now_ms() + ms; now_ms() < end && *n_seen < want;) {
    struct coin_bus_msg *m[64];
    size_t n = 0;
    if (!*sub && coin_bus_sub_bind(sub, b, "TESTC", "reader") != 0) {
      usleep(200 * 1000);
      continue;
    }
    int rc = coin_bus_fetch(m, &n, *sub, 64, 1000);
    if (rc != 0 && rc != COIN_ETIMEOUT) {
      usleep(200 * 1000); /* an election: fetch again, same binding */
      continue;
    }
    for (size_t k = 0; k < n; k++) {
      int v = atoi((const char *)coin_bus_msg_data(m[k]));
      if (v >= 0 && v < total && !seen[v]) {
        seen[v] = true;
        (*n_seen)++;
      }
      coin_bus_msg_ack(m[k]);
      coin_bus_msg_free(m[k]);
    }
  }
  return *n_seen >= want ? 0 : -1;
}

static void replicas_and_a_killed_leader(void) {
  struct coin_bus *b1 = connect_cluster(1);
  ASSERT_TRUE(b1 != NULL);
  /* a stream made with one replica, then ensured by a 3-replica client */
  ASSERT_OK(ensure_stream(b1, "TESTC", "tc.>", 20000));
  struct coin_bus_stream_info si;
  ASSERT_OK(coin_bus_stream_info(&si, b1, "TESTC"));
  ASSERT_EQ_INT(si.replicas, 1);
  coin_bus_free(b1);
  struct coin_bus *b = connect_cluster(3);
  ASSERT_TRUE(b != NULL);
  ASSERT_OK(ensure_stream(b, "TESTC", "tc.>", 20000));
  ASSERT_OK(coin_bus_stream_info(&si, b, "TESTC"));
  ASSERT_EQ_INT(si.replicas, 3);
  struct coin_bus_kv *kv = NULL;
  struct coin_bus_kv_config kc = {.bucket = "testc_kv", .history = 3};
  ASSERT_OK(coin_bus_kv_ensure(&kv, NULL, b, &kc));
  ASSERT_OK(coin_bus_stream_info(&si, b, "KV_testc_kv"));
  ASSERT_EQ_INT(si.replicas, 3);
  uint64_t rev = 0;
  ASSERT_OK(coin_bus_kv_create(&rev, kv, "wm", "100", 3));

  struct coin_bus_consumer_config cc = {.stream = "TESTC", .durable = "reader"};
  ASSERT_OK(coin_bus_consumer_ensure(NULL, b, &cc));
  enum { TOTAL = 300 };
  static bool seen[TOTAL];
  int n_seen = 0;
  for (int i = 0; i < 150; i++)
    ASSERT_OK(publish_retry(b, i, 10000));
  struct coin_bus_sub *sub = NULL;
  drain(b, &sub, seen, TOTAL, 100, &n_seen, 10000);
  ASSERT_TRUE(n_seen >= 100);

  int leader = stream_leader("TESTC");
  ASSERT_TRUE(leader >= 0);
  fprintf(stderr, "  stream leader %s: SIGKILL\n",
          leader >= 0 ? nodes[leader].name : "?");
  if (leader < 0)
    return;
  coin_test_proc_signal(&nodes[leader].proc, SIGKILL);
  int64_t t0 = now_ms();
  for (int i = 150; i < TOTAL; i++)
    ASSERT_OK(publish_retry(b, i, 20000));
  fprintf(stderr, "  publishing went on %.1f s after the kill\n",
          (double)(now_ms() - t0) / 1000.0);
  ASSERT_OK(drain(b, &sub, seen, TOTAL, TOTAL, &n_seen, 30000));
  ASSERT_EQ_INT(n_seen, TOTAL); /* none lost */
  int next = stream_leader("TESTC");
  ASSERT_TRUE(next >= 0 && next != leader);

  /* KV: read, CAS on the old revision refused, on the current one taken */
  struct coin_bus_kv_entry e = {0};
  int rc = -1;
  for (int64_t end = now_ms() + 10000; now_ms() < end && rc != 0;
       usleep(200 * 1000))
    rc = coin_bus_kv_get(&e, kv, "wm");
  ASSERT_OK(rc);
  ASSERT_EQ_STR((const char *)e.value, "100");
  uint64_t rev2 = 0;
  ASSERT_OK(coin_bus_kv_update(&rev2, kv, "wm", "200", 3, e.revision));
  ASSERT_RC(coin_bus_kv_update(NULL, kv, "wm", "300", 3, e.revision),
            COIN_ECONFLICT);
  coin_bus_kv_entry_clear(&e);

  /* the node comes back on its store and catches up */
  ASSERT_OK(node_start(leader));
  ASSERT_OK(cluster_ready(NODES - 1, 30000));
  struct coin_bus_stream_info back;
  rc = -1;
  for (int64_t end = now_ms() + 15000; now_ms() < end; usleep(300 * 1000))
    if ((rc = coin_bus_stream_info(&back, b, "TESTC")) == 0 &&
        back.last_seq == TOTAL)
      break;
  ASSERT_OK(rc);
  ASSERT_EQ_INT(back.last_seq, TOTAL);
  ASSERT_EQ_INT(back.replicas, 3);
  coin_bus_sub_free(sub);
  coin_bus_kv_free(kv);
  coin_bus_free(b);
}

/* ---- the stack on the cluster ------------------------------------------ */

#define ENV_BYTES 600

static struct coin_test_server influx;

/* The webhook sink: Idempotency-Keys answered 2xx, in order. */
struct hook {
  struct coin_httpd *d;
  pthread_mutex_t lock;
  char keys[512][200];
  size_t n;
};

static void on_hook(void *ctx, const struct coin_httpd_request *req,
                    struct coin_httpd_response *resp) {
  struct hook *h = ctx;
  const char *k = coin_httpd_request_header(req, "Idempotency-Key");
  pthread_mutex_lock(&h->lock);
  if (k && h->n < 512)
    snprintf(h->keys[h->n++], sizeof(h->keys[0]), "%s", k);
  pthread_mutex_unlock(&h->lock);
  coin_httpd_respond(resp, 200, "text/plain", "ok\n", 3);
}

static int svc_start(struct coin_test_proc *p, const char *name,
                     char env[][ENV_BYTES], int k) {
  static int seq;
  char bin[512], logp[400];
  char *envp[32];
  for (int i = 0; i < k; i++)
    envp[i] = env[i];
  envp[k] = NULL;
  if (coin_test_bin(bin, sizeof(bin), name) != 0)
    return -1;
  snprintf(logp, sizeof(logp), "%s/%s-%d.log", tmp, name, ++seq);
  char *argv[] = {bin, NULL};
  return coin_test_proc_start(p, argv, envp, logp);
}

/* The environment every service shares: the three servers, 3 replicas. */
static int common_env(char env[][ENV_BYTES], const char *symbols) {
  int k = 0;
  snprintf(env[k++], ENV_BYTES, "NATS_URL=%s", urls);
  snprintf(env[k++], ENV_BYTES, "NATS_REPLICAS=3");
  snprintf(env[k++], ENV_BYTES, "INFLUX_URL=%s", influx.url);
  snprintf(env[k++], ENV_BYTES, "SYMBOLS=%s", symbols);
  snprintf(env[k++], ENV_BYTES, "INGEST_TIMEFRAMES=1h,1d");
  snprintf(env[k++], ENV_BYTES, "PRIMARY_TIMEFRAME=1h");
  snprintf(env[k++], ENV_BYTES, "ENABLE_MULTI_TIMEFRAMES=true");
  snprintf(env[k++], ENV_BYTES, "STATIC_DATA_DIR=%s/site", tmp);
  snprintf(env[k++], ENV_BYTES, "LOG_LEVEL=info");
  return k;
}

static int64_t kv_wm(struct coin_bus_kv *kv, const char *role,
                     const char *symbol, enum coin_tf tf) {
  char key[128];
  struct coin_bus_kv_entry e = {0};
  int64_t v = -1;
  coin_codec_series_key(key, sizeof(key), role, "binance", symbol, tf);
  if (coin_bus_kv_get(&e, kv, key) == 0)
    v = strtoll((const char *)e.value, NULL, 10);
  coin_bus_kv_entry_clear(&e);
  return v;
}

struct rows {
  struct coin_candle *c;
  size_t n, cap;
};

static int rows_push(void *ud, const struct coin_candle *c) {
  struct rows *r = ud;
  if (r->n == r->cap) {
    r->cap = r->cap ? r->cap * 2 : 4096;
    r->c = realloc(r->c, r->cap * sizeof(*r->c));
  }
  r->c[r->n++] = *c;
  return 0;
}

/* The exchange's candles with open <= upto (klines pages of 1000). */
static int exchange_rows(struct rows *out, const char *url, const char *symbol,
                         enum coin_tf tf, int64_t upto) {
  struct coin_http *h = NULL;
  int rc = coin_http_new(&h, NULL);
  for (int64_t start = 0; rc == 0;) {
    struct coin_http_response r = {0};
    char u[512];
    snprintf(u, sizeof(u),
             "%s/api/v3/klines?symbol=%s&interval=%s&startTime=%lld&endTime=%"
             "lld&limit=1000",
             url, symbol, coin_tf_name(tf), (long long)start, (long long)upto);
    if ((rc = coin_http_request(h, &r, "GET", u, NULL, NULL, 0)) != 0)
      break;
    json_t *j = json_loads(r.body, 0, NULL);
    size_t n = json_array_size(j);
    for (size_t i = 0; i < n; i++) {
      json_t *row = json_array_get(j, i);
      struct coin_candle c = {.open_ms =
                                  json_integer_value(json_array_get(row, 0))};
      double *v[] = {&c.open, &c.high, &c.low, &c.close, &c.volume};
      for (int f = 0; f < 5; f++)
        *v[f] = strtod(json_string_value(json_array_get(row, f + 1)), NULL);
      rows_push(out, &c);
      start = c.open_ms + 1;
    }
    json_decref(j);
    coin_http_response_clear(&r);
    if (n < 1000)
      break;
  }
  coin_http_free(h);
  return rc;
}

static int64_t exchange_now(const char *url) {
  struct coin_http *h = NULL;
  struct coin_http_response r = {0};
  char u[256];
  int64_t t = -1;
  snprintf(u, sizeof(u), "%s/api/v3/time", url);
  if (coin_http_new(&h, NULL) == 0 &&
      coin_http_request(h, &r, "GET", u, NULL, NULL, 0) == 0) {
    json_t *j = json_loads(r.body, 0, NULL);
    t = json_integer_value(json_object_get(j, "serverTime"));
    json_decref(j);
  }
  coin_http_response_clear(&r);
  coin_http_free(h);
  return t;
}

/* The last candle history.json shows (-1: no file). */
static int64_t site_last(const char *symbol, enum coin_tf tf) {
  char path[600];
  snprintf(path, sizeof(path), "%s/site/v1/binance/%s/%s/history.json", tmp,
           symbol, coin_tf_name(tf));
  json_t *j = json_load_file(path, 0, NULL);
  json_t *c = json_object_get(j, "candles");
  size_t n = json_array_size(c);
  int64_t v =
      n ? json_integer_value(json_array_get(json_array_get(c, n - 1), 0)) : -1;
  json_decref(j);
  return v;
}

static void stack_survives_node_kills(void) {
  static const char *syms[] = {"BTCUSDT", "ETHUSDT"};
  static const enum coin_tf tfs[] = {COIN_TF_1H, COIN_TF_1D};
  ASSERT_OK(coin_test_influx_start(&influx));
  struct coin_test_server rp;
  /* every klines answer 150 ms late: a backfill of several seconds */
  const char *args[] = {"--shift-weeks", "230", "--faults", "slow:every=1@150",
                        NULL};
  ASSERT_OK(coin_test_replay_start(&rp, args));
  static struct hook hook;
  pthread_mutex_init(&hook.lock, NULL);
  struct coin_httpd_opts ho = {.handler = on_hook, .handler_ctx = &hook};
  ASSERT_OK(coin_httpd_start(&hook.d, &ho));
  char env[32][ENV_BYTES];
  struct coin_test_proc ing, pub, mon;
  int k = common_env(env, "BTCUSDT,ETHUSDT");
  snprintf(env[k++], ENV_BYTES, "EXCHANGE_BASE_URL=%s", rp.url);
  snprintf(env[k++], ENV_BYTES, "EXCHANGE_MAX_RETRIES=8");
  snprintf(env[k++], ENV_BYTES, "INGEST_HTTP_ADDR=127.0.0.1:%d",
           coin_test_free_port());
  snprintf(env[k++], ENV_BYTES, "SERVICE_ID=ing-1");
  ASSERT_OK(svc_start(&ing, "coin-ingest", env, k));
  k = common_env(env, "BTCUSDT,ETHUSDT");
  snprintf(env[k++], ENV_BYTES, "PUBLISH_HTTP_ADDR=127.0.0.1:%d",
           coin_test_free_port());
  snprintf(env[k++], ENV_BYTES, "PUBLISH_ACK_WAIT_SECONDS=5");
  snprintf(env[k++], ENV_BYTES, "SERVICE_ID=pub-1");
  ASSERT_OK(svc_start(&pub, "coin-publish", env, k));
  k = common_env(env, "BTCUSDT,ETHUSDT");
  snprintf(env[k++], ENV_BYTES, "MONITOR_HTTP_ADDR=127.0.0.1:%d",
           coin_test_free_port());
  snprintf(env[k++], ENV_BYTES, "MONITOR_WEBHOOK_URLS=http://127.0.0.1:%d/hook",
           coin_httpd_port(hook.d));
  snprintf(env[k++], ENV_BYTES, "MONITOR_WEBHOOK_SECRET=cluster-test-secret");
  snprintf(env[k++], ENV_BYTES, "MONITOR_BOOTSTRAP_SECONDS=0"); /* alerts now */
  snprintf(env[k++], ENV_BYTES, "MONITOR_EVAL_SECONDS=1");
  snprintf(env[k++], ENV_BYTES, "SERVICE_ID=mon-1");
  ASSERT_OK(svc_start(&mon, "coin-monitor", env, k));

  struct coin_bus *b = connect_cluster(3);
  ASSERT_TRUE(b != NULL);
  struct coin_bus_kv *kv = NULL;
  int rc = -1;
  for (int64_t end = now_ms() + 20000; now_ms() < end && rc != 0;
       usleep(200 * 1000))
    rc = coin_bus_kv_open(&kv, b, COIN_KV_WATERMARKS);
  ASSERT_OK(rc);

  /* mid-backfill: candles flow, BTCUSDT 1h not complete yet */
  struct coin_bus_stream_info si = {0};
  for (int64_t end = now_ms() + 30000; now_ms() < end; usleep(100 * 1000))
    if (coin_bus_stream_info(&si, b, COIN_STREAM_CANDLES) == 0 && si.msgs > 0)
      break;
  ASSERT_TRUE(si.msgs > 0);
  int64_t last_closed = coin_tf_last_closed(COIN_TF_1H, exchange_now(rp.url));
  ASSERT_TRUE(kv_wm(kv, "ingest", "BTCUSDT", COIN_TF_1H) < last_closed);
  ASSERT_EQ_INT(si.replicas, 3);
  int victims[2] = {stream_leader(COIN_STREAM_CANDLES), -1};
  ASSERT_TRUE(victims[0] >= 0);
  if (victims[0] < 0)
    return;
  victims[1] = (victims[0] + 1) % NODES;
  size_t ahead = 0, samples = 0;
  for (int v = 0; v < 2; v++) {
    fprintf(stderr, "  SIGKILL %s (%s), restarted 3 s later\n",
            nodes[victims[v]].name,
            v == 0 ? "the COIN_CANDLES leader" : "another node");
    coin_test_proc_signal(&nodes[victims[v]].proc, SIGKILL);
    for (int64_t end = now_ms() + 3000; now_ms() < end; usleep(100 * 1000))
      for (int s = 0; s < 2; s++)
        for (int t = 0; t < 2; t++) {
          int64_t p = kv_wm(kv, "publish", syms[s], tfs[t]);
          int64_t i = kv_wm(kv, "ingest", syms[s], tfs[t]);
          samples++;
          ahead += p >= 0 && i >= 0 && p > i;
        }
    ASSERT_OK(node_start(victims[v]));
    /* every node healthy (the restarted one caught up on every stream)
     * before the next kill; catching up mid-backfill takes longer than a
     * quiet restart on a loaded machine */
    ASSERT_OK(cluster_ready(NODES - 1, 120000));
  }
  /* convergence: every series complete, published, on the site */
  bool done = false;
  for (int64_t end = now_ms() + 180000; now_ms() < end && !done;
       usleep(500 * 1000)) {
    int64_t now = exchange_now(rp.url);
    done = true;
    for (int s = 0; s < 2; s++)
      for (int t = 0; t < 2; t++) {
        int64_t want = coin_tf_last_closed(tfs[t], now);
        int64_t i = kv_wm(kv, "ingest", syms[s], tfs[t]);
        int64_t p = kv_wm(kv, "publish", syms[s], tfs[t]);
        samples++;
        ahead += p >= 0 && i >= 0 && p > i;
        done = done && i == want && p == want &&
               site_last(syms[s], tfs[t]) == want;
      }
  }
  if (!done) { /* what did not converge, and what the services said */
    int64_t now = exchange_now(rp.url);
    for (int s = 0; s < 2; s++)
      for (int t = 0; t < 2; t++)
        fprintf(stderr,
                "  %s %s: want %lld ingest %lld publish %lld site %lld\n",
                syms[s], coin_tf_name(tfs[t]),
                (long long)coin_tf_last_closed(tfs[t], now),
                (long long)kv_wm(kv, "ingest", syms[s], tfs[t]),
                (long long)kv_wm(kv, "publish", syms[s], tfs[t]),
                (long long)site_last(syms[s], tfs[t]));
    const struct coin_test_proc *procs[] = {&ing, &pub, &mon};
    for (int q = 0; q < 3; q++)
      coin_test_sh("echo '  --- %s'; grep -E '\"level\":\"(warn|error)\"' "
                   "'%s' | tail -6 | cut -c1-300",
                   procs[q]->log, procs[q]->log);
  }
  ASSERT_TRUE(done);
  fprintf(stderr, "  publish ahead of ingest in %zu of %zu samples\n", ahead,
          samples);
  ASSERT_EQ_INT(ahead, 0);
  /* the SoT equals the exchange, candle for candle */
  struct coin_influx_options io;
  struct coin_influx *ix = NULL;
  coin_influx_options_init(&io);
  io.url = influx.url;
  ASSERT_OK(coin_influx_new(&ix, &io));
  size_t total = 0;
  for (int s = 0; s < 2; s++)
    for (int t = 0; t < 2; t++) {
      int64_t wm = kv_wm(kv, "ingest", syms[s], tfs[t]);
      struct rows want = {0}, got = {0};
      ASSERT_OK(exchange_rows(&want, rp.url, syms[s], tfs[t], wm));
      ASSERT_OK(coin_influx_read_candles(ix, "binance", syms[s],
                                         coin_tf_name(tfs[t]), 0, wm, rows_push,
                                         &got));
      ASSERT_EQ_INT(got.n, want.n);
      ASSERT_TRUE(got.n > 0 &&
                  memcmp(got.c, want.c, got.n * sizeof(*got.c)) == 0);
      total += got.n;
      free(want.c);
      free(got.c);
    }
  fprintf(stderr, "  SoT equals the exchange: %zu candles\n", total);
  /* alerts: some were delivered (the series were stale while they filled),
   * none twice */
  usleep(2000 * 1000);
  pthread_mutex_lock(&hook.lock);
  size_t n = hook.n, twice = 0;
  for (size_t i = 0; i < n; i++)
    for (size_t j = i + 1; j < n; j++)
      twice += !strcmp(hook.keys[i], hook.keys[j]);
  pthread_mutex_unlock(&hook.lock);
  fprintf(stderr, "  webhook: %zu deliveries, %zu repeated\n", n, twice);
  ASSERT_TRUE(n > 0);
  ASSERT_EQ_INT(twice, 0);
  coin_test_proc_signal(&ing, SIGTERM);
  coin_test_proc_signal(&pub, SIGTERM);
  coin_test_proc_signal(&mon, SIGTERM);
  ASSERT_EQ_INT(coin_test_proc_wait(&ing, 30000), 0);
  ASSERT_EQ_INT(coin_test_proc_wait(&pub, 30000), 0);
  ASSERT_EQ_INT(coin_test_proc_wait(&mon, 30000), 0);
  coin_influx_free(ix);
  coin_bus_kv_free(kv);
  coin_bus_free(b);
  coin_httpd_free(hook.d);
  coin_test_server_cleanup(&rp);
  coin_test_server_cleanup(&influx);
}

int main(int argc, char **argv) {
  coin_test_main_begin(argc, argv);
  if (access("/usr/sbin/nats-server", X_OK) != 0 ||
      coin_test_tmpdir(tmp, sizeof(tmp), "cluster") != 0)
    return 1;
  urls[0] = '\0';
  for (int i = 0; i < NODES; i++) {
    struct node *n = &nodes[i];
    n->port = coin_test_free_port();
    n->cport = coin_test_free_port();
    n->mport = coin_test_free_port();
    snprintf(n->name, sizeof(n->name), "n%d", i + 1);
    snprintf(n->dir, sizeof(n->dir), "%s/n%d", tmp, i + 1);
    size_t len = strlen(urls);
    snprintf(urls + len, sizeof(urls) - len, "%snats://127.0.0.1:%d",
             len ? "," : "", n->port);
  }
  for (int i = 0; i < NODES; i++)
    if (coin_test_sh("mkdir -p '%s'", nodes[i].dir) != 0 || node_start(i) != 0)
      return 1;
  if (cluster_ready(NODES - 1, 30000) != 0)
    return 1;
  RUN_TEST(replicas_and_a_killed_leader);
  RUN_TEST(stack_survives_node_kills);
  for (int i = 0; i < NODES; i++)
    if (coin_test_proc_alive(&nodes[i].proc)) {
      coin_test_proc_signal(&nodes[i].proc, SIGTERM);
      if (coin_test_proc_wait(&nodes[i].proc, 10000) < 0)
        coin_test_proc_signal(&nodes[i].proc, SIGKILL);
    }
  coin_bus_shutdown();
  int rc = coin_test_summary();
  if (rc == 0)
    coin_test_rmtree(tmp);
  return rc;
}
