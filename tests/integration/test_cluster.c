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
 * The servers run without users here: the role table is tested on one
 * server (test_nats_permissions.c); this file is about the cluster. */
#include "coin/bus.h"
#include "coin/error.h"
#include "coin/http.h"
#include "harness.h"
#include "test.h"

#include <jansson.h>
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
  fprintf(stderr, "  cluster not ready in %d ms\n", ms);
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
