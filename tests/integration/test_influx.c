/*
 * test_influx.c: the influx client against a real influxd (harness) and a
 * tiny scripted HTTP server (for 5xx, hangs, auth headers, keep-alive).
 * One influxd serves every test (each uses its own database); the last test
 * stops it. The fake server runs on its own thread; assertions stay on the
 * main thread.
 */
#include "coin/error.h"
#include "coin/influx.h"
#include "harness.h"
#include "test.h"

#include <arpa/inet.h>
#include <float.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct coin_test_server g_srv;
static int g_up; /* 0 not tried, 1 up, -1 failed */

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *server_url(void) {
  if (g_up == 0)
    g_up = coin_test_influx_start(&g_srv) == 0 ? 1 : -1;
  return g_up == 1 ? g_srv.url : NULL;
}

static int client(struct coin_influx **out, const char *url, const char *db,
                  struct coin_influx_options *o) {
  struct coin_influx_options def;
  if (!o) {
    coin_influx_options_init(&def);
    o = &def;
  }
  o->url = url;
  o->db = db;
  return coin_influx_new(out, o);
}

/* Client on influxd with db created. */
static int client_db(struct coin_influx **out, const char *db,
                     struct coin_influx_options *o) {
  const char *url = server_url();
  if (!url)
    return coin_error_set(COIN_EUNAVAIL, "influxd did not start");
  struct coin_influx *c = NULL;
  int rc = client(&c, url, db, o);
  if (rc == 0)
    rc = coin_influx_create_db(c);
  if (rc == 0)
    *out = c;
  else
    coin_influx_free(c);
  return rc;
}

/* Deterministic doubles with full 53-bit mantissas (need 17 digits). */
static double val(uint64_t i, int k) {
  uint64_t s =
      (i + 1) * 0x9e3779b97f4a7c15u + (uint64_t)k * 0x632be59bd9b4e019u;
  s ^= s >> 29;
  s *= 0xbf58476d1ce4e5b9u;
  s ^= s >> 32;
  return 1000.0 + (double)(s >> 11) * 0x1p-53 * 50000.0;
}

static struct coin_candle gen(uint64_t i, int64_t t0, int64_t step) {
  struct coin_candle k = {t0 + (int64_t)i * step,
                          val(i, 0),
                          val(i, 1),
                          val(i, 2),
                          val(i, 3),
                          val(i, 4)};
  return k;
}

static bool same(const struct coin_candle *a, const struct coin_candle *b) {
  return memcmp(a, b, sizeof(*a)) == 0; /* bit-exact, -0.0 included */
}

struct collect {
  struct coin_candle *v;
  size_t n, cap;
};

static int collect_cb(void *ud, const struct coin_candle *c) {
  struct collect *k = ud;
  if (k->n == k->cap)
    return coin_error_set(COIN_ETOOBIG, "collect: more than %zu", k->cap);
  k->v[k->n++] = *c;
  return 0;
}

/* ---- real influxd ------------------------------------------------------ */

static void ping_and_create_db(void) {
  struct coin_influx *c = NULL;
  ASSERT_OK(client_db(&c, "t_ping", NULL));
  int rc = coin_influx_ping(c);
  int rc2 = coin_influx_create_db(c); /* idempotent */
  char version[64];
  snprintf(version, sizeof(version), "%s", coin_influx_server_version(c));
  coin_influx_free(c);
  ASSERT_OK(rc);
  ASSERT_OK(rc2);
  ASSERT_CONTAINS(version, "1.");
}

static void idempotent_overwrite(void) {
  struct coin_influx *c = NULL;
  ASSERT_OK(client_db(&c, "t_idem", NULL));
  struct coin_candle a = {1600000000000, 1, 2, 0.5, 1.5, 10};
  struct coin_candle b = {1600000000000, 1.25, 3, 0.25, 2.75, 99.5};
  struct coin_candle got[4];
  struct collect k = {got, 0, 4};
  int64_t n = -1, last = -1;
  int rc = coin_influx_write_candles(c, "binance", "BTCUSDT", "1h", &a, 1);
  if (rc == 0)
    rc = coin_influx_write_candles(c, "binance", "BTCUSDT", "1h", &b, 1);
  if (rc == 0)
    rc = coin_influx_count(&n, c, "binance", "BTCUSDT", "1h", 0,
                           INT64_C(4102444800000));
  if (rc == 0)
    rc = coin_influx_last_time(&last, c, "binance", "BTCUSDT", "1h");
  if (rc == 0)
    rc = coin_influx_read_candles(c, "binance", "BTCUSDT", "1h", 0,
                                  INT64_C(4102444800000), collect_cb, &k);
  int rc_none = coin_influx_last_time(&last, c, "binance", "ETHUSDT", "1h");
  coin_influx_free(c);
  ASSERT_OK(rc);
  ASSERT_EQ_INT(n, 1);
  ASSERT_EQ_INT(last, 1600000000000);
  ASSERT_EQ_INT(k.n, 1);
  ASSERT_TRUE(same(&got[0], &b));
  ASSERT_EQ_INT(rc_none, COIN_ENOTFOUND);
}

static void candles_round_trip_bit_exact(void) {
  enum { N = 2000 };
  static struct coin_candle in[N], out[N];
  const int64_t t0 = INT64_C(1500000000000) / COIN_HOUR_MS * COIN_HOUR_MS;
  static const double odd[] = {
      0.1,     1.0 / 3.0,           5e-324,   DBL_MAX,           1e-300, -0.0,
      DBL_MIN, 0.30000000000000004, 29000.01, 9007199254740993.0};
  for (int i = 0; i < N; i++)
    in[i] = gen((uint64_t)i, t0, COIN_HOUR_MS);
  for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
    in[i].open = odd[i];
    in[i].volume = odd[(i + 3) % 10];
  }
  struct coin_influx_options o;
  coin_influx_options_init(&o);
  o.batch_max_points = 300; /* several requests */
  o.chunk_size = 128;       /* many chunks */
  struct coin_influx *c = NULL;
  ASSERT_OK(client_db(&c, "t_exact", &o));
  struct collect k = {out, 0, N};
  int rc = coin_influx_write_candles(c, "binance", "ETHUSDT", "1h", in, N);
  if (rc == 0)
    rc = coin_influx_read_candles(c, "binance", "ETHUSDT", "1h", t0,
                                  t0 + N * COIN_HOUR_MS, collect_cb, &k);
  struct coin_influx_stats st;
  coin_influx_stats_get(&st, c);
  coin_influx_free(c);
  ASSERT_OK(rc);
  ASSERT_EQ_INT(k.n, N);
  for (int i = 0; i < N; i++)
    if (!same(&in[i], &out[i]))
      COIN_TEST_FAIL_("candle %d differs: open %.17g vs %.17g, volume %.17g "
                      "vs %.17g",
                      i, in[i].open, out[i].open, in[i].volume, out[i].volume);
  ASSERT_EQ_INT(st.points_written, N);
  ASSERT_EQ_INT(st.rows_read, N);
  /* 7 write requests + create db + 1 read over one kept-alive connection. */
  ASSERT_EQ_INT(st.connects, 1);
}

struct check_big {
  int64_t t0;
  uint64_t n;
  uint64_t bad;
  uint64_t stop_after;
};

static int check_big_cb(void *ud, const struct coin_candle *c) {
  struct check_big *k = ud;
  struct coin_candle want = gen(k->n, k->t0, COIN_MINUTE_MS);
  if (!same(c, &want))
    k->bad++;
  k->n++;
  return k->stop_after && k->n == k->stop_after ? 1 : 0;
}

static void chunked_read_bounded_memory(void) {
  enum { N = 120000 };
  const int64_t t0 = INT64_C(1609459200000); /* 2021-01-01 */
  struct coin_candle *in = malloc(N * sizeof(*in));
  ASSERT_TRUE(in != NULL);
  for (int i = 0; i < N; i++)
    in[i] = gen((uint64_t)i, t0, COIN_MINUTE_MS);
  struct coin_influx_options o;
  coin_influx_options_init(&o);
  o.batch_max_points = 10000;
  o.chunk_size = 1000;
  struct coin_influx *c = NULL;
  int rc = client_db(&c, "t_big", &o);
  if (rc) {
    free(in);
    ASSERT_OK(rc);
  }
  int64_t t_write = now_ms();
  rc = coin_influx_write_candles(c, "binance", "BTCUSDT", "1m", in, N);
  free(in);
  t_write = now_ms() - t_write;
  struct coin_influx_stats w;
  coin_influx_stats_get(&w, c);
  int64_t t_read = now_ms();
  struct check_big k = {.t0 = t0};
  if (rc == 0)
    rc = coin_influx_read_candles(c, "binance", "BTCUSDT", "1m", t0,
                                  t0 + (int64_t)N * COIN_MINUTE_MS,
                                  check_big_cb, &k);
  t_read = now_ms() - t_read;
  struct coin_influx_stats r;
  coin_influx_stats_get(&r, c);
  /* Early stop: the transfer is aborted, the client stays usable. */
  struct check_big s = {.t0 = t0, .stop_after = 5000};
  int rc_stop = rc ? rc
                   : coin_influx_read_candles(c, "binance", "BTCUSDT", "1m", t0,
                                              t0 + (int64_t)N * COIN_MINUTE_MS,
                                              check_big_cb, &s);
  int64_t count = 0;
  int rc_count = coin_influx_count(&count, c, "binance", "BTCUSDT", "1m", t0,
                                   t0 + (int64_t)N * COIN_MINUTE_MS);
  coin_influx_free(c);
  fprintf(stderr,
          "  write %d candles: %lld ms (%llu requests, %llu connects); read: "
          "%lld ms, %llu body bytes, decoder high-water %zu bytes\n",
          N, (long long)t_write, (unsigned long long)w.requests,
          (unsigned long long)w.connects, (long long)t_read,
          (unsigned long long)r.read_bytes, r.max_buffered_bytes);
  ASSERT_OK(rc);
  ASSERT_EQ_INT(k.n, N);
  ASSERT_EQ_INT(k.bad, 0);
  ASSERT_EQ_INT(w.points_written, N);
  ASSERT_LE_INT(w.connects, 1); /* keep-alive across 12+ requests */
  ASSERT_EQ_INT(r.rows_read, N);
  ASSERT_TRUE(r.read_bytes > (uint64_t)N * 50);
  /* The decoder holds about one chunk (1000 rows), never the response. */
  ASSERT_LT_INT(r.max_buffered_bytes * 50, r.read_bytes);
  ASSERT_OK(rc_stop);
  ASSERT_EQ_INT(s.n, 5000);
  ASSERT_EQ_INT(s.bad, 0);
  ASSERT_OK(rc_count);
  ASSERT_EQ_INT(count, N);
}

struct rp_row {
  const char *name;
  const char *dur;
  bool is_default;
  bool found;
};

static bool str_is(const struct coin_influx_value *v, const char *s) {
  return v && v->type == COIN_INFLUX_STRING && v->v.str.len == strlen(s) &&
         memcmp(v->v.str.ptr, s, v->v.str.len) == 0;
}

static int rp_cb(void *ud, const struct coin_influx_row *row) {
  struct rp_row *w = ud;
  const struct coin_influx_value *def = coin_influx_row_get(row, "default");
  if (str_is(coin_influx_row_get(row, "name"), w->name) &&
      str_is(coin_influx_row_get(row, "duration"), w->dur) && def &&
      def->type == COIN_INFLUX_BOOL && def->v.b == w->is_default)
    w->found = true;
  return 0;
}

static bool has_rp(struct coin_influx *c, const char *name, const char *dur,
                   bool is_default) {
  char q[128];
  snprintf(q, sizeof(q), "SHOW RETENTION POLICIES ON \"%s\"", "t_rp");
  struct rp_row w = {name, dur, is_default, false};
  return coin_influx_query(c, q, rp_cb, &w) == 0 && w.found;
}

struct shard_row {
  char shard[32];
};

static int shard_cb(void *ud, const struct coin_influx_row *row) {
  struct shard_row *w = ud;
  const struct coin_influx_value *v =
      coin_influx_row_get(row, "shardGroupDuration");
  if (str_is(coin_influx_row_get(row, "name"), "autogen") && v &&
      v->type == COIN_INFLUX_STRING)
    snprintf(w->shard, sizeof(w->shard), "%.*s", (int)v->v.str.len,
             v->v.str.ptr);
  return 0;
}

static void autogen_shard(struct coin_influx *c, const char *db,
                          struct shard_row *out) {
  char q[128];
  snprintf(q, sizeof(q), "SHOW RETENTION POLICIES ON \"%s\"", db);
  out->shard[0] = '\0';
  (void)coin_influx_query(c, q, shard_cb, out);
}

/* A new database gets 52-week shard groups; an existing one keeps its own. */
static void create_db_shard_groups(void) {
  struct coin_influx *c = NULL, *old = NULL;
  struct shard_row fresh, kept, again;
  ASSERT_OK(client_db(&c, "t_shard", NULL));
  autogen_shard(c, "t_shard", &fresh);
  ASSERT_OK(client(&old, server_url(), "t_shard_old", NULL));
  int rc_plain = coin_influx_exec(old, "CREATE DATABASE t_shard_old");
  int rc_create = coin_influx_create_db(old);
  autogen_shard(old, "t_shard_old", &kept);
  int rc_again = coin_influx_create_db(c);
  autogen_shard(c, "t_shard", &again);
  coin_influx_free(c);
  coin_influx_free(old);
  ASSERT_EQ_STR(fresh.shard, "8736h0m0s");
  ASSERT_OK(rc_plain);
  ASSERT_OK(rc_create);
  ASSERT_EQ_STR(kept.shard, "168h0m0s");
  ASSERT_OK(rc_again);
  ASSERT_EQ_STR(again.shard, "8736h0m0s");
}

static void retention_rejection_is_clear(void) {
  struct coin_influx *c = NULL;
  ASSERT_OK(client_db(&c, "t_rp", NULL));
  int rc = coin_influx_ensure_rp(c, "short", COIN_HOUR_MS, true);
  struct coin_candle old = {INT64_C(1500000000000), 1, 2, 0.5, 1.5, 10};
  int rc_old =
      rc ? rc
         : coin_influx_write_candles(c, "binance", "BTCUSDT", "1h", &old, 1);
  char msg[1024];
  snprintf(msg, sizeof(msg), "%s", coin_error_last());
  struct coin_influx_stats st;
  coin_influx_stats_get(&st, c);
  bool created = has_rp(c, "short", "1h0m0s", true);
  int rc_alter = coin_influx_ensure_rp(c, "short", 2 * COIN_HOUR_MS, true);
  bool altered = has_rp(c, "short", "2h0m0s", true);
  int rc_again = coin_influx_ensure_rp(c, "short", 2 * COIN_HOUR_MS, true);
  int rc_small = coin_influx_ensure_rp(c, "tiny", 1000, false);
  char msg_small[1024];
  snprintf(msg_small, sizeof(msg_small), "%s", coin_error_last());
  /* Infinite -> 1h: the old 7-day shard group must not block the change. */
  int rc_inf = coin_influx_ensure_rp(c, "shrink", 0, false);
  int rc_shrink =
      rc_inf ? rc_inf : coin_influx_ensure_rp(c, "shrink", COIN_HOUR_MS, false);
  bool shrunk = has_rp(c, "shrink", "1h0m0s", false);
  coin_influx_free(c);
  ASSERT_OK(rc);
  ASSERT_EQ_INT(rc_old, COIN_EREJECTED);
  ASSERT_CONTAINS(msg, "beyond retention policy");
  ASSERT_CONTAINS(msg, "HTTP 400");
  ASSERT_TRUE(strchr(msg, '\n') == NULL);
  ASSERT_EQ_INT(st.retries, 0); /* never retried: 4xx */
  ASSERT_TRUE(created);
  ASSERT_OK(rc_alter);
  ASSERT_TRUE(altered);
  ASSERT_OK(rc_again);
  ASSERT_EQ_INT(rc_small, COIN_EINVAL);
  ASSERT_CONTAINS(msg_small, "duration_ms=1000");
  ASSERT_OK(rc_shrink);
  ASSERT_TRUE(shrunk);
}

static void timeframe_rp_routes_writes_and_reads(void) {
  struct coin_influx_options o;
  coin_influx_options_init(&o);
  o.rp_by_tf[COIN_TF_1M] = "rp_1m";
  struct coin_influx *c = NULL, *plain = NULL;
  ASSERT_OK(client_db(&c, "t_tfrp", &o));
  int rc = coin_influx_ensure_rp(c, "rp_1m", 7 * COIN_DAY_MS, false);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int64_t t =
      ((int64_t)ts.tv_sec * 1000 / COIN_MINUTE_MS - 30) * COIN_MINUTE_MS;
  struct coin_candle k[3] = {gen(0, t, COIN_MINUTE_MS),
                             gen(1, t, COIN_MINUTE_MS),
                             gen(2, t, COIN_MINUTE_MS)};
  if (rc == 0)
    rc = coin_influx_write_candles(c, "binance", "BTCUSDT", "1m", k, 3);
  int64_t n_rp = -1, n_default = -1;
  if (rc == 0)
    rc = coin_influx_count(&n_rp, c, "binance", "BTCUSDT", "1m", t,
                           t + COIN_HOUR_MS);
  if (rc == 0)
    rc = client(&plain, g_srv.url, "t_tfrp", NULL);
  if (rc == 0)
    rc = coin_influx_count(&n_default, plain, "binance", "BTCUSDT", "1m", t,
                           t + COIN_HOUR_MS);
  coin_influx_free(plain);
  coin_influx_free(c);
  ASSERT_OK(rc);
  ASSERT_EQ_INT(n_rp, 3);
  ASSERT_EQ_INT(n_default, 0); /* nothing went to the default RP */
}

static void generic_points_batch_and_query(void) {
  struct coin_influx_options o;
  coin_influx_options_init(&o);
  o.batch_max_points = 4;
  struct coin_influx *c = NULL;
  ASSERT_OK(client_db(&c, "t_generic", &o));
  int rc = 0;
  size_t pending_after_9 = 0;
  for (int i = 0; i < 9 && rc == 0; i++) {
    struct coin_influx_tag t[] = {{"host", i % 2 ? "a b" : "c,d=e"}};
    struct coin_influx_field f[] = {
        {"n", {.type = COIN_INFLUX_INT, .v.i64 = -i}},
        {"s", {.type = COIN_INFLUX_STRING, .v.str.ptr = "q\"uo\\te"}},
        {"ok", {.type = COIN_INFLUX_BOOL, .v.b = i % 2}},
    };
    struct coin_influx_point p = {"my m", t, 1, f, 3, 1000 + i};
    rc = coin_influx_add(c, &p);
  }
  pending_after_9 = coin_influx_pending(c);
  struct coin_influx_stats before;
  coin_influx_stats_get(&before, c);
  if (rc == 0)
    rc = coin_influx_flush(c);
  struct coin_influx_stats after;
  coin_influx_stats_get(&after, c);
  coin_influx_free(c);
  ASSERT_OK(rc);
  ASSERT_EQ_INT(pending_after_9, 1); /* sent at 4 and 8, one queued */
  ASSERT_EQ_INT(before.points_written, 8);
  ASSERT_EQ_INT(after.points_written, 9);
}

struct tagged {
  int rows;
  int good;
};

static int tagged_cb(void *ud, const struct coin_influx_row *row) {
  struct tagged *w = ud;
  const char *host = coin_influx_row_tag(row, "host");
  const struct coin_influx_value *n = coin_influx_row_get(row, "n");
  const struct coin_influx_value *t = coin_influx_row_get(row, "time");
  const struct coin_influx_value *ok = coin_influx_row_get(row, "ok");
  w->rows++;
  if (!host || !n || !t || !ok || n->type != COIN_INFLUX_INT ||
      t->type != COIN_INFLUX_INT || ok->type != COIN_INFLUX_BOOL ||
      !str_is(coin_influx_row_get(row, "s"), "q\"uo\\te") ||
      strcmp(row->name, "my m") != 0)
    return 0;
  int64_t i = t->v.i64 - 1000;
  if (n->v.i64 == -i && ok->v.b == (i % 2 == 1) &&
      strcmp(host, i % 2 ? "a b" : "c,d=e") == 0)
    w->good++;
  return 0;
}

static void escaped_values_read_back(void) {
  /* Reads what generic_points_batch_and_query wrote. */
  struct coin_influx *c = NULL;
  ASSERT_OK(client_db(&c, "t_generic", NULL));
  struct tagged w = {0, 0};
  int rc = coin_influx_query(c, "SELECT n, s, ok FROM \"my m\" GROUP BY *",
                             tagged_cb, &w);
  coin_influx_free(c);
  ASSERT_OK(rc);
  ASSERT_EQ_INT(w.rows, 9);
  ASSERT_EQ_INT(w.good, 9);
}

static void errors_4xx_carry_influx_text(void) {
  struct coin_influx *c = NULL;
  ASSERT_OK(client_db(&c, "t_err", NULL));
  int rc_q = coin_influx_query(c, "SELEC * FROM candle", NULL, NULL);
  char msg_q[1024];
  snprintf(msg_q, sizeof(msg_q), "%s", coin_error_last());
  static const char bad[] = "candle,a=b x=";
  int rc_w = coin_influx_write_lines(c, NULL, bad, sizeof(bad) - 1);
  char msg_w[1024];
  snprintf(msg_w, sizeof(msg_w), "%s", coin_error_last());
  int rc_db =
      coin_influx_query(c, "SELECT * FROM nope.autogen.candle", NULL, NULL);
  char msg_db[1024];
  snprintf(msg_db, sizeof(msg_db), "%s", coin_error_last());
  struct coin_influx_stats st;
  coin_influx_stats_get(&st, c);
  coin_influx_free(c);
  ASSERT_EQ_INT(rc_q, COIN_EREJECTED);
  ASSERT_CONTAINS(msg_q, "GET /query: HTTP 400: error parsing query");
  ASSERT_EQ_INT(rc_w, COIN_EREJECTED);
  ASSERT_CONTAINS(msg_w, "POST /write: HTTP 400: unable to parse");
  ASSERT_EQ_INT(rc_db, COIN_ENOTFOUND);
  ASSERT_CONTAINS(msg_db, "database not found");
  ASSERT_EQ_INT(st.retries, 0);
}

/* ---- scripted HTTP server ---------------------------------------------- */

struct fake {
  int lfd;
  int port;
  pthread_t th;
  int script[8]; /* statuses in order; the last one repeats */
  int nscript;
  const char *error_body;
  bool hang; /* read the request, never answer */
  atomic_int requests;
  atomic_int conns;
  atomic_int stop;
  pthread_mutex_t mu;
  char last_headers[2048];
};

/* Reads one request (headers + Content-Length body); false on EOF/stop. */
static bool fake_read_request(struct fake *f, int fd) {
  char buf[1 << 16];
  size_t len = 0;
  while (!atomic_load(&f->stop)) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0)
      continue;
    ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
    if (n <= 0)
      return false;
    len += (size_t)n;
    buf[len] = '\0';
    char *end = strstr(buf, "\r\n\r\n");
    if (!end)
      continue;
    size_t head = (size_t)(end + 4 - buf);
    size_t body = 0;
    const char *cl = strcasestr(buf, "Content-Length:");
    if (cl && cl < end)
      body = strtoul(cl + 15, NULL, 10);
    while (len < head + body && len < sizeof(buf) - 1) {
      n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
      if (n <= 0)
        return false;
      len += (size_t)n;
    }
    pthread_mutex_lock(&f->mu);
    snprintf(f->last_headers, sizeof(f->last_headers), "%.*s", (int)head, buf);
    pthread_mutex_unlock(&f->mu);
    return true;
  }
  return false;
}

static void *fake_main(void *arg) {
  struct fake *f = arg;
  while (!atomic_load(&f->stop)) {
    struct pollfd p = {f->lfd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0)
      continue;
    int fd = accept(f->lfd, NULL, NULL);
    if (fd < 0)
      continue;
    atomic_fetch_add(&f->conns, 1);
    while (fake_read_request(f, fd)) {
      int i = atomic_fetch_add(&f->requests, 1);
      if (f->hang) {
        while (!atomic_load(&f->stop)) {
          struct pollfd q = {fd, POLLIN, 0};
          char tmp[256];
          if (poll(&q, 1, 50) > 0 && recv(fd, tmp, sizeof(tmp), 0) <= 0)
            break; /* client gave up */
        }
        break;
      }
      int status = f->script[i < f->nscript ? i : f->nscript - 1];
      char resp[1024];
      if (status == 204)
        snprintf(resp, sizeof(resp),
                 "HTTP/1.1 204 No Content\r\nX-Influxdb-Version: fake\r\n\r\n");
      else
        snprintf(resp, sizeof(resp),
                 "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\n\r\n%s",
                 status, strlen(f->error_body), f->error_body);
      if (send(fd, resp, strlen(resp), MSG_NOSIGNAL) < 0)
        break;
    }
    close(fd);
  }
  return NULL;
}

static int fake_start(struct fake *f) {
  f->lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof(a);
  if (f->lfd < 0 || bind(f->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
      listen(f->lfd, 16) != 0 ||
      getsockname(f->lfd, (struct sockaddr *)&a, &alen) != 0)
    return -1;
  f->port = ntohs(a.sin_port);
  pthread_mutex_init(&f->mu, NULL);
  return pthread_create(&f->th, NULL, fake_main, f) == 0 ? 0 : -1;
}

static void fake_stop(struct fake *f) {
  atomic_store(&f->stop, 1);
  pthread_join(f->th, NULL);
  close(f->lfd);
  pthread_mutex_destroy(&f->mu);
}

static int fake_client(struct coin_influx **out, struct fake *f,
                       struct coin_influx_options *o) {
  char url[64];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d", f->port);
  return client(out, url, "coin", o);
}

static void fast_retries(struct coin_influx_options *o) {
  coin_influx_options_init(o);
  o->max_retries = 2;
  o->backoff_base_ms = 20;
  o->backoff_max_ms = 40;
}

static const char LINE[] = "candle,exchange=x,symbol=Y,timeframe=1h open=1 1";

static void retries_5xx_then_succeeds(void) {
  struct fake f = {.script = {503, 502, 204},
                   .nscript = 3,
                   .error_body = "{\"error\":\"busy\"}"};
  ASSERT_EQ_INT(fake_start(&f), 0);
  struct coin_influx_options o;
  fast_retries(&o);
  struct coin_influx *c = NULL;
  int rc = fake_client(&c, &f, &o);
  int64_t t = now_ms();
  if (rc == 0)
    rc = coin_influx_write_lines(c, NULL, LINE, sizeof(LINE) - 1);
  t = now_ms() - t;
  struct coin_influx_stats st = {0};
  if (c)
    coin_influx_stats_get(&st, c);
  coin_influx_free(c);
  fake_stop(&f);
  ASSERT_OK(rc);
  ASSERT_EQ_INT(st.requests, 3);
  ASSERT_EQ_INT(st.retries, 2);
  ASSERT_EQ_INT(st.points_written, 1);
  /* Backoff waited [10,20] + [20,40] ms: at least 30 ms, well under 1 s. */
  ASSERT_TRUE(t >= 30 && t < 1000);
  ASSERT_EQ_INT(atomic_load(&f.conns), 1); /* keep-alive through errors */
}

static void gives_up_after_bounded_5xx(void) {
  struct fake f = {.script = {503},
                   .nscript = 1,
                   .error_body = "{\"error\":\"engine overloaded\"}"};
  ASSERT_EQ_INT(fake_start(&f), 0);
  struct coin_influx_options o;
  fast_retries(&o);
  struct coin_influx *c = NULL;
  int rc = fake_client(&c, &f, &o);
  if (rc == 0)
    rc = coin_influx_write_lines(c, NULL, LINE, sizeof(LINE) - 1);
  char msg[1024];
  snprintf(msg, sizeof(msg), "%s", coin_error_last());
  coin_influx_free(c);
  fake_stop(&f);
  ASSERT_EQ_INT(rc, COIN_EUNAVAIL);
  ASSERT_CONTAINS(msg, "attempt 3/3");
  ASSERT_CONTAINS(msg, "HTTP 503: engine overloaded");
  ASSERT_EQ_INT(atomic_load(&f.requests), 3);
}

static void no_retry_on_4xx_and_batch_dropped(void) {
  struct fake f = {.script = {400},
                   .nscript = 1,
                   .error_body = "{\"error\":\"partial write: points beyond "
                                 "retention policy dropped=1\"}"};
  ASSERT_EQ_INT(fake_start(&f), 0);
  struct coin_influx_options o;
  fast_retries(&o);
  struct coin_influx *c = NULL;
  int rc = fake_client(&c, &f, &o);
  struct coin_influx_field fl[] = {{"v", {.type = COIN_INFLUX_FLOAT}}};
  struct coin_influx_point p = {"m", NULL, 0, fl, 1, 1};
  if (rc == 0)
    rc = coin_influx_add(c, &p);
  if (rc == 0)
    rc = coin_influx_flush(c);
  char msg[1024];
  snprintf(msg, sizeof(msg), "%s", coin_error_last());
  size_t pending = c ? coin_influx_pending(c) : 99;
  coin_influx_free(c);
  fake_stop(&f);
  ASSERT_EQ_INT(rc, COIN_EREJECTED);
  ASSERT_EQ_INT(atomic_load(&f.requests), 1);
  ASSERT_CONTAINS(msg, "HTTP 400: partial write: points beyond retention");
  ASSERT_EQ_INT(pending, 0);
}

static void unavailable_batch_is_kept(void) {
  struct fake f = {
      .script = {503, 503, 503, 204}, .nscript = 4, .error_body = "{}"};
  ASSERT_EQ_INT(fake_start(&f), 0);
  struct coin_influx_options o;
  fast_retries(&o);
  o.max_retries = 0;
  struct coin_influx *c = NULL;
  int rc = fake_client(&c, &f, &o);
  struct coin_influx_field fl[] = {{"v", {.type = COIN_INFLUX_FLOAT}}};
  struct coin_influx_point p = {"m", NULL, 0, fl, 1, 1};
  int rc1 = -100, rc2 = -100, rc3 = -100;
  size_t pending = 99;
  if (rc == 0 && (rc = coin_influx_add(c, &p)) == 0) {
    rc1 = coin_influx_flush(c); /* 503 */
    rc2 = coin_influx_flush(c); /* 503 */
    rc3 = coin_influx_flush(c); /* 503 */
    pending = coin_influx_pending(c);
    rc = coin_influx_flush(c); /* 204 */
  }
  char msg[1024];
  snprintf(msg, sizeof(msg), "%s", coin_error_last());
  size_t after = c ? coin_influx_pending(c) : 99;
  coin_influx_free(c);
  fake_stop(&f);
  ASSERT_EQ_INT(rc1, COIN_EUNAVAIL);
  ASSERT_EQ_INT(rc2, COIN_EUNAVAIL);
  ASSERT_EQ_INT(rc3, COIN_EUNAVAIL);
  ASSERT_CONTAINS(msg, "{}"); /* raw body when no "error" key */
  ASSERT_EQ_INT(pending, 1);
  ASSERT_OK(rc);
  ASSERT_EQ_INT(after, 0);
}

static void timeout_is_bounded(void) {
  struct fake f = {.hang = true, .nscript = 1, .error_body = ""};
  ASSERT_EQ_INT(fake_start(&f), 0);
  struct coin_influx_options o;
  fast_retries(&o);
  o.max_retries = 1;
  o.timeout_ms = 200;
  struct coin_influx *c = NULL;
  int rc = fake_client(&c, &f, &o);
  int64_t t = now_ms();
  if (rc == 0)
    rc = coin_influx_write_lines(c, NULL, LINE, sizeof(LINE) - 1);
  t = now_ms() - t;
  char msg[1024];
  snprintf(msg, sizeof(msg), "%s", coin_error_last());
  coin_influx_free(c);
  fake_stop(&f);
  ASSERT_EQ_INT(rc, COIN_ETIMEOUT);
  ASSERT_CONTAINS(msg, "attempt 2/2");
  ASSERT_TRUE(t >= 400 && t < 2000);
}

static void auth_headers_are_sent(void) {
  struct fake f = {.script = {204}, .nscript = 1, .error_body = ""};
  ASSERT_EQ_INT(fake_start(&f), 0);
  struct coin_influx_options o;
  coin_influx_options_init(&o);
  o.user = "u";
  o.password = "p";
  struct coin_influx *c = NULL;
  int rc = fake_client(&c, &f, &o);
  if (rc == 0)
    rc = coin_influx_write_lines(c, NULL, LINE, sizeof(LINE) - 1);
  char basic[2048];
  pthread_mutex_lock(&f.mu);
  snprintf(basic, sizeof(basic), "%s", f.last_headers);
  pthread_mutex_unlock(&f.mu);
  coin_influx_free(c);
  c = NULL;
  coin_influx_options_init(&o);
  o.token = "s3cr3t";
  if (rc == 0)
    rc = fake_client(&c, &f, &o);
  if (rc == 0)
    rc = coin_influx_ping(c);
  char token[2048];
  pthread_mutex_lock(&f.mu);
  snprintf(token, sizeof(token), "%s", f.last_headers);
  pthread_mutex_unlock(&f.mu);
  char version[64];
  snprintf(version, sizeof(version), "%s",
           c ? coin_influx_server_version(c) : "");
  coin_influx_free(c);
  fake_stop(&f);
  ASSERT_OK(rc);
  ASSERT_CONTAINS(basic, "Authorization: Basic dTpw"); /* base64("u:p") */
  ASSERT_CONTAINS(basic, "POST /write?db=coin&precision=ms HTTP/1.1");
  ASSERT_CONTAINS(basic, "Content-Type: text/plain; charset=utf-8");
  ASSERT_CONTAINS(token, "GET /ping HTTP/1.1");
  ASSERT_CONTAINS(token, "Authorization: Token s3cr3t");
  ASSERT_EQ_STR(version, "fake");
}

/* Last: stops the shared influxd. */
static void server_down_is_unavailable(void) {
  struct coin_influx_options o;
  coin_influx_options_init(&o);
  o.max_retries = 2;
  o.backoff_base_ms = 50;
  o.backoff_max_ms = 200;
  struct coin_influx *c = NULL;
  ASSERT_OK(client_db(&c, "t_down", &o));
  struct coin_candle k = {1600000000000, 1, 2, 0.5, 1.5, 10};
  int rc_up = coin_influx_write_candles(c, "binance", "BTCUSDT", "1h", &k, 1);
  coin_test_server_stop(&g_srv); /* the kept-alive connection dies too */
  struct coin_influx_stats before;
  coin_influx_stats_get(&before, c);
  int64_t t = now_ms();
  int rc_w = coin_influx_write_candles(c, "binance", "BTCUSDT", "1h", &k, 1);
  int64_t t_w = now_ms() - t;
  char msg[1024];
  snprintf(msg, sizeof(msg), "%s", coin_error_last());
  int64_t n = 0;
  t = now_ms();
  int rc_r = coin_influx_count(&n, c, "binance", "BTCUSDT", "1h", 0, 1);
  int64_t t_r = now_ms() - t;
  int rc_p = coin_influx_ping(c);
  struct coin_influx_stats after;
  coin_influx_stats_get(&after, c);
  coin_influx_free(c);
  ASSERT_OK(rc_up);
  ASSERT_EQ_INT(rc_w, COIN_EUNAVAIL);
  ASSERT_CONTAINS(msg, "attempt 3/3");
  ASSERT_CONTAINS(msg, g_srv.url);
  ASSERT_EQ_INT(rc_r, COIN_EUNAVAIL);
  ASSERT_EQ_INT(rc_p, COIN_EUNAVAIL);
  /* 2 retries each for the write and the count, none for ping. */
  ASSERT_EQ_INT(after.retries - before.retries, 4);
  /* Backoff total <= 100 + 200 ms per call: far from hanging. */
  ASSERT_LT_INT(t_w, 2000);
  ASSERT_LT_INT(t_r, 2000);
}

static void cleanup(void) {
  if (g_up == 1)
    coin_test_server_cleanup(&g_srv);
}

TEST_MAIN(RUN_TEST(ping_and_create_db); RUN_TEST(create_db_shard_groups);
          RUN_TEST(idempotent_overwrite);
          RUN_TEST(candles_round_trip_bit_exact);
          RUN_TEST(chunked_read_bounded_memory);
          RUN_TEST(retention_rejection_is_clear);
          RUN_TEST(timeframe_rp_routes_writes_and_reads);
          RUN_TEST(generic_points_batch_and_query);
          RUN_TEST(escaped_values_read_back);
          RUN_TEST(errors_4xx_carry_influx_text);
          RUN_TEST(retries_5xx_then_succeeds);
          RUN_TEST(gives_up_after_bounded_5xx);
          RUN_TEST(no_retry_on_4xx_and_batch_dropped);
          RUN_TEST(unavailable_batch_is_kept); RUN_TEST(timeout_is_bounded);
          RUN_TEST(auth_headers_are_sent); RUN_TEST(server_down_is_unavailable);
          cleanup())
