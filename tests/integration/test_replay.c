/* test_replay.c: coin-replay-exchange, run as a child process from
 * $COIN_BIN_DIR over the real candles in $COIN_SHARED_DATA_DIR and observed
 * only through HTTP (libcurl): Binance semantics, exact prices after the
 * time shift, the open candle, 1w/1M aggregates, weight limits and every
 * injected fault kind, reproducible by seed. */
#include "coin/candle_file.h"
#include "coin/error.h"
#include "coin/timeframe.h"
#include "harness.h"
#include "test.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_ARGS 32
#define START_DEADLINE_MS 20000
#define MAX_BODY ((size_t)32 << 20)

static const char *bin_dir;
static const char *data_dir;
static char tmp[256];
static CURL *curl;

/* ------------------------------------------------------------ processes */

struct replay_proc {
  pid_t pid;
  int port;
  char err_path[512]; /* its stderr */
};

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static pid_t live[16];

static void kill_live(void) {
  for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++)
    if (live[i] > 0) {
      kill(live[i], SIGKILL);
      waitpid(live[i], NULL, 0);
      live[i] = 0;
    }
}

static void track(pid_t pid, bool add) {
  for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++)
    if (add ? live[i] == 0 : live[i] == pid) {
      live[i] = add ? pid : 0;
      return;
    }
}

/* Starts the replay with --data, --listen 127.0.0.1:0 and the given extra
 * arguments (NULL-terminated); reads the port from its first stdout line. */
static int replay_spawn(struct replay_proc *p, ...) {
  static int seq;
  char bin[512];
  char *argv[MAX_ARGS];
  int argc = 0;
  snprintf(bin, sizeof(bin), "%s/coin-replay-exchange", bin_dir);
  argv[argc++] = bin;
  argv[argc++] = "--data";
  argv[argc++] = (char *)data_dir;
  argv[argc++] = "--listen";
  argv[argc++] = "127.0.0.1:0";
  va_list ap;
  va_start(ap, p);
  for (char *a; (a = va_arg(ap, char *)) != NULL && argc < MAX_ARGS - 1;)
    argv[argc++] = a;
  va_end(ap);
  argv[argc] = NULL;
  snprintf(p->err_path, sizeof(p->err_path), "%s/replay-%d.err", tmp, ++seq);

  int out[2];
  if (pipe(out) < 0)
    return -1;
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
      _exit(127);
    int fd = open(p->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(out[1], 1);
    if (fd >= 0)
      dup2(fd, 2);
    close(out[0]);
    close(out[1]);
    execv(bin, argv);
    _exit(127);
  }
  close(out[1]);
  p->pid = pid;
  p->port = 0;
  track(pid, true);

  char line[512];
  size_t len = 0;
  int64_t deadline = mono_ms() + START_DEADLINE_MS;
  while (len < sizeof(line) - 1 && memchr(line, '\n', len) == NULL) {
    int left = (int)(deadline - mono_ms());
    struct pollfd pfd = {.fd = out[0], .events = POLLIN};
    if (left <= 0 || poll(&pfd, 1, left) <= 0)
      break;
    ssize_t n = read(out[0], line + len, sizeof(line) - 1 - len);
    if (n <= 0)
      break;
    len += (size_t)n;
  }
  close(out[0]);
  line[len] = '\0';
  json_t *j = json_loads(line, JSON_DISABLE_EOF_CHECK, NULL);
  if (j)
    p->port = (int)json_integer_value(json_object_get(j, "port"));
  json_decref(j);
  if (p->port <= 0) {
    fprintf(stderr, "  replay did not start; stdout \"%s\"\n", line);
    coin_test_sh("cat %s >&2", p->err_path);
    return -1;
  }
  return 0;
}

/* SIGTERM and reap; returns the exit status (0 = clean shutdown, which
 * under ASan also means no leak and no memory error). */
static int replay_stop(struct replay_proc *p) {
  if (p->pid <= 0)
    return -1;
  kill(p->pid, SIGTERM);
  int64_t deadline = mono_ms() + 10000;
  int st = 0;
  while (waitpid(p->pid, &st, WNOHANG) == 0) {
    if (mono_ms() > deadline) {
      kill(p->pid, SIGKILL);
      waitpid(p->pid, &st, 0);
      break;
    }
    usleep(10000);
  }
  track(p->pid, false);
  p->pid = 0;
  int rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  if (rc != 0) {
    fprintf(stderr, "  replay exited with %d; its stderr:\n", rc);
    coin_test_sh("tail -n 20 %s >&2", p->err_path);
  }
  return rc;
}

/* ----------------------------------------------------------------- HTTP */

struct http {
  long status;
  CURLcode cc;
  char *body;
  size_t len;
  char weight[32];
  char retry_after[32];
  double seconds;
};

static size_t on_body(char *data, size_t size, size_t n, void *ud) {
  struct http *h = ud;
  size_t add = size * n;
  if (h->len + add > MAX_BODY)
    return 0;
  char *nb = realloc(h->body, h->len + add + 1);
  if (!nb)
    return 0;
  h->body = nb;
  memcpy(h->body + h->len, data, add);
  h->len += add;
  h->body[h->len] = '\0';
  return add;
}

static void header_value(char *out, size_t cap, const char *line, size_t n,
                         const char *name) {
  size_t k = strlen(name);
  if (n <= k + 1 || strncasecmp(line, name, k) != 0 || line[k] != ':')
    return;
  const char *v = line + k + 1;
  while (v < line + n && *v == ' ')
    v++;
  size_t vl = (size_t)(line + n - v);
  while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
    vl--;
  if (vl >= cap)
    vl = cap - 1;
  memcpy(out, v, vl);
  out[vl] = '\0';
}

static size_t on_header(char *data, size_t size, size_t n, void *ud) {
  struct http *h = ud;
  header_value(h->weight, sizeof(h->weight), data, size * n,
               "X-MBX-USED-WEIGHT-1M");
  header_value(h->retry_after, sizeof(h->retry_after), data, size * n,
               "Retry-After");
  return size * n;
}

static void http_free(struct http *h) {
  free(h->body);
  memset(h, 0, sizeof(*h));
}

/* GET http://127.0.0.1:port<path>; a transfer error is kept in h->cc. */
static void http_do(struct http *h, const char *method, int port,
                    const char *fmt, ...) {
  char path[1024], url[1200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(path, sizeof(path), fmt, ap);
  va_end(ap);
  snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
  memset(h, 0, sizeof(*h));
  curl_easy_reset(curl);
  curl_easy_setopt(curl, CURLOPT_URL, url);
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
  if (strcmp(method, "POST") == 0)
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, h);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, h);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 30000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  h->cc = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &h->status);
  curl_easy_getinfo(curl, CURLINFO_TOTAL_TIME, &h->seconds);
  if (h->body == NULL) {
    h->body = calloc(1, 1);
  }
}

#define http_get(h, port, ...) http_do(h, "GET", port, __VA_ARGS__)

static json_t *get_json(int port, long want_status, const char *fmt, ...) {
  char path[1024];
  struct http h;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(path, sizeof(path), fmt, ap);
  va_end(ap);
  http_get(&h, port, "%s", path);
  json_t *j = NULL;
  if (h.cc == CURLE_OK && h.status == want_status)
    j = json_loads(h.body, 0, NULL);
  if (j == NULL)
    fprintf(stderr, "  GET %s: curl %d, status %ld (want %ld), body %.200s\n",
            path, (int)h.cc, h.status, want_status, h.body);
  http_free(&h);
  return j;
}

static int64_t stats_shift(int port, const char *symbol, const char *tf) {
  json_t *s = get_json(port, 200, "/__replay/stats");
  int64_t v = json_integer_value(json_object_get(
      json_object_get(json_object_get(s, "shifts"), symbol), tf));
  json_decref(s);
  return v;
}

/* ---------------------------------------------------------- kline rows */

struct row {
  int64_t open_ms, close_ms;
  double o, h, l, c, v;
};

static bool num_field(double *out, json_t *v) {
  if (!json_is_string(v))
    return false;
  const char *s = json_string_value(v);
  char *end = NULL;
  *out = strtod(s, &end);
  return s[0] != '\0' && *end == '\0';
}

/* Converts a klines answer; false when any row is not Binance-shaped. */
static bool rows_parse(struct row **out, size_t *n_out, json_t *arr) {
  *out = NULL;
  *n_out = 0;
  if (!json_is_array(arr))
    return false;
  size_t n = json_array_size(arr);
  struct row *rows = calloc(n + 1, sizeof(*rows));
  for (size_t i = 0; i < n; i++) {
    json_t *r = json_array_get(arr, i);
    if (!json_is_array(r) || json_array_size(r) != 12 ||
        !json_is_integer(json_array_get(r, 0)) ||
        !json_is_integer(json_array_get(r, 6)) ||
        !num_field(&rows[i].o, json_array_get(r, 1)) ||
        !num_field(&rows[i].h, json_array_get(r, 2)) ||
        !num_field(&rows[i].l, json_array_get(r, 3)) ||
        !num_field(&rows[i].c, json_array_get(r, 4)) ||
        !num_field(&rows[i].v, json_array_get(r, 5))) {
      free(rows);
      return false;
    }
    rows[i].open_ms = json_integer_value(json_array_get(r, 0));
    rows[i].close_ms = json_integer_value(json_array_get(r, 6));
  }
  *out = rows;
  *n_out = n;
  return true;
}

/* GET klines and parse; NULL rows with n = SIZE_MAX on failure. */
static struct row *klines(size_t *n, int port, const char *fmt, ...) {
  char q[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(q, sizeof(q), fmt, ap);
  va_end(ap);
  json_t *j = get_json(port, 200, "/api/v3/klines?%s", q);
  struct row *rows = NULL;
  if (!rows_parse(&rows, n, j))
    *n = SIZE_MAX;
  json_decref(j);
  return rows;
}

static struct coin_candle_file *load_csv(const char *symbol, enum coin_tf tf) {
  struct coin_candle_file *f = NULL;
  if (coin_candle_file_load_dir(&f, data_dir, symbol, tf, 0) < 0) {
    fprintf(stderr, "  load %s: %s\n", symbol, coin_error_last());
    return NULL;
  }
  return f;
}

/* Error answer check: status and Binance code. */
static bool error_is(int port, long status, int code, const char *path) {
  struct http h;
  http_get(&h, port, "%s", path);
  json_t *j = json_loads(h.body, 0, NULL);
  bool ok = h.status == status && j &&
            json_integer_value(json_object_get(j, "code")) == code &&
            json_is_string(json_object_get(j, "msg"));
  if (!ok)
    fprintf(stderr, "  %s: status %ld body %.200s (want %ld code %d)\n", path,
            h.status, h.body, status, code);
  json_decref(j);
  http_free(&h);
  return ok;
}

/* ================================================================ tests */

static struct replay_proc main_replay; /* all symbols, real clock shift */

/* the replay every case asks (setup: runs whatever the filter) */
static void setup(void) {
  ASSERT_OK(coin_test_tmpdir(tmp, sizeof(tmp), "replay"));
  bin_dir = getenv("COIN_BIN_DIR");
  data_dir = getenv("COIN_SHARED_DATA_DIR");
  ASSERT_TRUE(bin_dir != NULL && data_dir != NULL);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  curl = curl_easy_init();
  ASSERT_TRUE(curl != NULL);
  atexit(kill_live);
  ASSERT_OK(replay_spawn(&main_replay, NULL));
}

static void ping_time_exchange_info(void) {
  int port = main_replay.port;
  json_t *j = get_json(port, 200, "/api/v3/ping");
  ASSERT_TRUE(json_is_object(j) && json_object_size(j) == 0);
  json_decref(j);

  int64_t t0 = wall_ms();
  j = get_json(port, 200, "/api/v3/time");
  int64_t t1 = wall_ms();
  int64_t server = json_integer_value(json_object_get(j, "serverTime"));
  json_decref(j);
  ASSERT_LE_INT(t0, server);
  ASSERT_LE_INT(server, t1);

  j = get_json(port, 200, "/api/v3/exchangeInfo");
  ASSERT_TRUE(j != NULL);
  ASSERT_EQ_STR(json_string_value(json_object_get(j, "timezone")), "UTC");
  json_t *limits = json_object_get(j, "rateLimits");
  json_t *w = json_array_get(limits, 0);
  ASSERT_EQ_STR(json_string_value(json_object_get(w, "rateLimitType")),
                "REQUEST_WEIGHT");
  ASSERT_EQ_INT(json_integer_value(json_object_get(w, "limit")), 6000);
  json_t *syms = json_object_get(j, "symbols");
  ASSERT_EQ_INT(json_array_size(syms), 7);
  bool seen_btc = false;
  for (size_t i = 0; i < json_array_size(syms); i++) {
    json_t *s = json_array_get(syms, i);
    if (strcmp(json_string_value(json_object_get(s, "symbol")), "BTCUSDT"))
      continue;
    seen_btc = true;
    ASSERT_EQ_STR(json_string_value(json_object_get(s, "status")), "TRADING");
    ASSERT_EQ_STR(json_string_value(json_object_get(s, "baseAsset")), "BTC");
    ASSERT_EQ_STR(json_string_value(json_object_get(s, "quoteAsset")), "USDT");
    ASSERT_TRUE(json_is_true(json_object_get(s, "isSpotTradingAllowed")));
    json_t *f0 = json_array_get(json_object_get(s, "filters"), 0);
    ASSERT_EQ_STR(json_string_value(json_object_get(f0, "filterType")),
                  "PRICE_FILTER");
    ASSERT_EQ_STR(json_string_value(json_object_get(f0, "tickSize")),
                  "0.01000000");
  }
  ASSERT_TRUE(seen_btc);
  json_decref(j);

  j = get_json(port, 200, "/api/v3/exchangeInfo?symbol=ETHUSDT");
  ASSERT_EQ_INT(json_array_size(json_object_get(j, "symbols")), 1);
  json_decref(j);
  j = get_json(port, 200,
               "/api/v3/exchangeInfo?symbols=%%5B%%22ETHUSDT%%22,%%22SOLUSDT%%"
               "22%%5D");
  ASSERT_EQ_INT(json_array_size(json_object_get(j, "symbols")), 2);
  json_decref(j);
  ASSERT_TRUE(error_is(port, 400, -1121, "/api/v3/exchangeInfo?symbol=NOPE"));
  ASSERT_TRUE(error_is(port, 404, -1, "/api/v3/depth?symbol=BTCUSDT"));
}

static void klines_limits_and_errors(void) {
  int port = main_replay.port;
  size_t n;
  struct row *r = klines(&n, port, "symbol=BTCUSDT&interval=1h");
  ASSERT_EQ_INT(n, 500);
  free(r);
  r = klines(&n, port, "symbol=BTCUSDT&interval=1h&limit=1000");
  ASSERT_EQ_INT(n, 1000);
  free(r);
  r = klines(&n, port, "symbol=ETHUSDT&interval=1d&limit=1");
  ASSERT_EQ_INT(n, 1);
  free(r);
  ASSERT_TRUE(error_is(port, 400, -1130,
                       "/api/v3/klines?symbol=BTCUSDT&interval=1h&limit=1001"));
  ASSERT_TRUE(error_is(port, 400, -1130,
                       "/api/v3/klines?symbol=BTCUSDT&interval=1h&limit=0"));
  ASSERT_TRUE(error_is(port, 400, -1100,
                       "/api/v3/klines?symbol=BTCUSDT&interval=1h&limit=x"));
  ASSERT_TRUE(
      error_is(port, 400, -1121, "/api/v3/klines?symbol=BTCUSDX&interval=1h"));
  ASSERT_TRUE(error_is(port, 400, -1102, "/api/v3/klines?symbol=BTCUSDT"));
  ASSERT_TRUE(error_is(port, 400, -1102, "/api/v3/klines?interval=1h"));
  ASSERT_TRUE(
      error_is(port, 400, -1120, "/api/v3/klines?symbol=BTCUSDT&interval=5m"));
  ASSERT_TRUE(error_is(port, 400, -1100,
                       "/api/v3/klines?symbol=BTCUSDT&interval=1h&startTime="
                       "-5"));
  ASSERT_TRUE(error_is(port, 400, -1023,
                       "/api/v3/klines?symbol=BTCUSDT&interval=1h&startTime=5&"
                       "endTime=4"));
  /* A listed symbol without 1m data answers [] like an empty range. */
  r = klines(&n, port, "symbol=SOLUSDT&interval=1m");
  ASSERT_EQ_INT(n, 0);
  free(r);
}

/* Served rows [0, n) must be CSV rows [first, first+n) shifted by shift. */
static void expect_csv_rows(const struct row *rows, size_t n,
                            const struct coin_candle_file *f, size_t first,
                            int64_t shift, int64_t len_ms) {
  ASSERT_TRUE(first + n <= f->count);
  for (size_t i = 0; i < n; i++) {
    const struct coin_candle *c = &f->rows[first + i];
    ASSERT_EQ_INT(rows[i].open_ms, c->open_ms + shift);
    ASSERT_EQ_INT(rows[i].close_ms, rows[i].open_ms + len_ms - 1);
    ASSERT_EQ_DBL(rows[i].o, c->open);
    ASSERT_EQ_DBL(rows[i].h, c->high);
    ASSERT_EQ_DBL(rows[i].l, c->low);
    ASSERT_EQ_DBL(rows[i].c, c->close);
    ASSERT_EQ_DBL(rows[i].v, c->volume);
  }
}

static void klines_equal_shifted_csv(void) {
  int port = main_replay.port;
  struct coin_candle_file *h = load_csv("BTCUSDT", COIN_TF_1H);
  struct coin_candle_file *d = load_csv("BTCUSDT", COIN_TF_1D);
  struct coin_candle_file *m = load_csv("BTCUSDT", COIN_TF_1M);
  struct coin_candle_file *doge = load_csv("DOGEUSDT", COIN_TF_1H);
  ASSERT_TRUE(h && d && m && doge);
  int64_t shift_h = stats_shift(port, "BTCUSDT", "1h");
  int64_t shift_d = stats_shift(port, "BTCUSDT", "1d");
  int64_t shift_m = stats_shift(port, "BTCUSDT", "1m");
  ASSERT_EQ_INT(shift_h % COIN_WEEK_MS, 0);
  ASSERT_EQ_INT(shift_d, shift_h); /* one shift for 1h and 1d */
  ASSERT_EQ_INT(shift_m % COIN_WEEK_MS, 0);
  /* The data reaches into the future: about --horizon-days (7) past now. */
  int64_t now = wall_ms();
  int64_t end_h = h->rows[h->count - 1].open_ms + COIN_HOUR_MS + shift_h;
  ASSERT_TRUE(end_h >= now + 7 * COIN_DAY_MS);
  ASSERT_TRUE(end_h < now + 14 * COIN_DAY_MS + COIN_DAY_MS);

  /* 1h from a row in 2018 that spans the 33-hour outage of 2018-02-08:
   * the gap stays a gap. */
  size_t first = coin_candle_file_lower_bound(h, 1518000000000);
  size_t n;
  struct row *r = klines(
      &n, port, "symbol=BTCUSDT&interval=1h&startTime=%" PRId64 "&limit=1000",
      h->rows[first].open_ms + shift_h);
  ASSERT_EQ_INT(n, 1000);
  expect_csv_rows(r, n, h, first, shift_h, COIN_HOUR_MS);
  ASSERT_EQ_INT(r[n - 1].open_ms - r[0].open_ms,
                (1000 - 1 + 33) * COIN_HOUR_MS);
  free(r);

  /* startTime between rows: the first row at or after it. */
  r = klines(&n, port,
             "symbol=BTCUSDT&interval=1h&startTime=%" PRId64 "&limit=3",
             h->rows[first].open_ms + shift_h - 1);
  ASSERT_EQ_INT(n, 3);
  expect_csv_rows(r, n, h, first, shift_h, COIN_HOUR_MS);
  free(r);

  /* endTime only: the last `limit` rows with open <= endTime. */
  r = klines(&n, port, "symbol=BTCUSDT&interval=1h&endTime=%" PRId64 "&limit=5",
             h->rows[first].open_ms + shift_h + 30 * 60000);
  ASSERT_EQ_INT(n, 5);
  expect_csv_rows(r, n, h, first - 4, shift_h, COIN_HOUR_MS);
  free(r);

  /* start and end: ascending from start, bounded by end. */
  r = klines(
      &n, port,
      "symbol=BTCUSDT&interval=1h&startTime=%" PRId64 "&endTime=%" PRId64,
      h->rows[first].open_ms + shift_h, h->rows[first + 9].open_ms + shift_h);
  ASSERT_EQ_INT(n, 10);
  expect_csv_rows(r, n, h, first, shift_h, COIN_HOUR_MS);
  free(r);

  /* 1d and small-priced DOGE (7 decimals) and 1m with its own shift. */
  r = klines(&n, port, "symbol=BTCUSDT&interval=1d&startTime=%" PRId64,
             d->rows[0].open_ms + shift_d);
  ASSERT_EQ_INT(n, 500);
  expect_csv_rows(r, n, d, 0, shift_d, COIN_DAY_MS);
  free(r);
  first = doge->count / 2;
  r = klines(&n, port,
             "symbol=DOGEUSDT&interval=1h&startTime=%" PRId64 "&limit=1000",
             doge->rows[first].open_ms + stats_shift(port, "DOGEUSDT", "1h"));
  ASSERT_EQ_INT(n, 1000);
  expect_csv_rows(r, n, doge, first, stats_shift(port, "DOGEUSDT", "1h"),
                  COIN_HOUR_MS);
  free(r);
  r = klines(&n, port,
             "symbol=BTCUSDT&interval=1m&startTime=%" PRId64 "&limit=1000",
             m->rows[0].open_ms + shift_m);
  ASSERT_EQ_INT(n, 1000);
  expect_csv_rows(r, n, m, 0, shift_m, COIN_MINUTE_MS);
  free(r);
  coin_candle_file_free(h);
  coin_candle_file_free(d);
  coin_candle_file_free(m);
  coin_candle_file_free(doge);
}

/* The newest row is the open candle; all before it are closed. */
static void check_open_candle(int port, const char *symbol, const char *tf_name,
                              enum coin_tf tf) {
  struct coin_candle_file *f = load_csv(symbol, tf);
  ASSERT_TRUE(f != NULL);
  int64_t shift = stats_shift(port, symbol, tf_name);
  int64_t t0 = wall_ms();
  size_t n;
  struct row *r =
      klines(&n, port, "symbol=%s&interval=%s&limit=50", symbol, tf_name);
  int64_t t1 = wall_ms();
  ASSERT_EQ_INT(n, 50);
  const struct row *last = &r[n - 1];
  int64_t len = coin_tf_length_ms(tf, last->open_ms);
  ASSERT_LE_INT(last->open_ms, t1);
  ASSERT_LT_INT(t0, last->open_ms + len);
  ASSERT_EQ_INT(last->close_ms, last->open_ms + len - 1);
  for (size_t i = 0; i + 1 < n; i++)
    ASSERT_LE_INT(r[i].close_ms + 1, t0); /* closed: open + len <= now */
  /* Partial: it opened at the real open, its range and volume have only
   * grown part of the way. */
  size_t k = coin_candle_file_lower_bound(f, last->open_ms - shift);
  ASSERT_TRUE(k < f->count);
  const struct coin_candle *c = &f->rows[k];
  ASSERT_EQ_INT(c->open_ms + shift, last->open_ms);
  ASSERT_EQ_DBL(last->o, c->open);
  ASSERT_TRUE(last->h <= c->high && last->l >= c->low);
  ASSERT_TRUE(last->v <= c->volume);
  if (c->volume > 0) /* a client that stores it would store a wrong candle */
    ASSERT_TRUE(last->v < c->volume);
  ASSERT_TRUE(last->l <= last->o && last->o <= last->h);
  ASSERT_TRUE(last->l <= last->c && last->c <= last->h);
  /* The row before it is the full CSV row. */
  ASSERT_TRUE(k > 0);
  ASSERT_EQ_DBL(r[n - 2].v, f->rows[k - 1].volume);
  ASSERT_EQ_DBL(r[n - 2].c, f->rows[k - 1].close);
  free(r);
  coin_candle_file_free(f);
}

static void last_row_is_the_open_candle(void) {
  check_open_candle(main_replay.port, "BTCUSDT", "1h", COIN_TF_1H);
  check_open_candle(main_replay.port, "ETHUSDT", "1m", COIN_TF_1M);
  check_open_candle(main_replay.port, "XRPUSDT", "1d", COIN_TF_1D);
}

/* Aggregates of [open, open+len) from served 1d rows, summed in order. */
static void expect_aggregate(int port, const char *symbol, const struct row *a,
                             enum coin_tf tf) {
  size_t n;
  int64_t len = coin_tf_length_ms(tf, a->open_ms);
  struct row *d = klines(&n, port,
                         "symbol=%s&interval=1d&startTime=%" PRId64
                         "&endTime=%" PRId64 "&limit=1000",
                         symbol, a->open_ms, a->open_ms + len - 1);
  ASSERT_TRUE(n != SIZE_MAX && n > 0);
  ASSERT_EQ_INT(a->close_ms, a->open_ms + len - 1);
  double hi = d[0].h, lo = d[0].l, vol = 0;
  for (size_t i = 0; i < n; i++) {
    hi = d[i].h > hi ? d[i].h : hi;
    lo = d[i].l < lo ? d[i].l : lo;
    vol += d[i].v;
  }
  ASSERT_EQ_DBL(a->o, d[0].o);
  ASSERT_EQ_DBL(a->c, d[n - 1].c);
  ASSERT_EQ_DBL(a->h, hi);
  ASSERT_EQ_DBL(a->l, lo);
  ASSERT_EQ_DBL(a->v, vol);
  free(d);
}

static void weekly_and_monthly_aggregates(void) {
  int port = main_replay.port;
  int64_t shift = stats_shift(port, "BTCUSDT", "1d");
  size_t n;
  /* 2019-01-01 in data time: a stretch of closed weeks and months. */
  int64_t from = coin_tf_from_civil(2019, 1, 1) + shift;
  struct row *w =
      klines(&n, port,
             "symbol=BTCUSDT&interval=1w&startTime=%" PRId64 "&limit=30", from);
  ASSERT_EQ_INT(n, 30);
  for (size_t i = 0; i < n; i++) {
    ASSERT_EQ_INT(coin_tf_floor(COIN_TF_1W, w[i].open_ms), w[i].open_ms);
    /* Monday: 1970-01-01 was a Thursday, so day index + 3 is 0 mod 7. */
    ASSERT_EQ_INT((w[i].open_ms / COIN_DAY_MS + 3) % 7, 0);
    if (i)
      ASSERT_EQ_INT(w[i].open_ms - w[i - 1].open_ms, COIN_WEEK_MS);
    expect_aggregate(port, "BTCUSDT", &w[i], COIN_TF_1W);
  }
  free(w);
  struct row *m =
      klines(&n, port,
             "symbol=BTCUSDT&interval=1M&startTime=%" PRId64 "&limit=14", from);
  ASSERT_EQ_INT(n, 14);
  for (size_t i = 0; i < n; i++) {
    char text[COIN_TF_UTC_TEXT_BYTES];
    coin_tf_format_utc(text, sizeof(text), m[i].open_ms);
    ASSERT_EQ_STR(text + 8, "01T00:00:00.000Z");
    expect_aggregate(port, "BTCUSDT", &m[i], COIN_TF_1MO);
  }
  free(m);
  /* The newest weekly row is open and partial, like every timeframe. */
  int64_t t0 = wall_ms();
  w = klines(&n, port, "symbol=BTCUSDT&interval=1w&limit=3");
  ASSERT_EQ_INT(n, 3);
  ASSERT_LE_INT(w[2].open_ms, wall_ms());
  ASSERT_LT_INT(t0, w[2].close_ms + 1);
  free(w);
}

static void shift_weeks_zero_serves_history(void) {
  struct replay_proc p;
  ASSERT_OK(
      replay_spawn(&p, "--symbols", "BTCUSDT", "--shift-weeks", "0", NULL));
  struct coin_candle_file *h = load_csv("BTCUSDT", COIN_TF_1H);
  size_t n;
  struct row *r = klines(&n, p.port, "symbol=BTCUSDT&interval=1h&limit=10");
  ASSERT_EQ_INT(n, 10);
  /* Every candle is closed: exactly the last ten CSV rows, unshifted. */
  expect_csv_rows(r, n, h, h->count - 10, 0, COIN_HOUR_MS);
  ASSERT_EQ_INT(stats_shift(p.port, "BTCUSDT", "1h"), 0);
  free(r);
  coin_candle_file_free(h);
  ASSERT_EQ_INT(replay_stop(&p), 0);
}

static void weight_header_429_then_418(void) {
  struct replay_proc p;
  /* Avoid a minute boundary in the middle of the sequence. */
  if (wall_ms() % 60000 > 57000)
    usleep((useconds_t)(60000 - wall_ms() % 60000 + 100) * 1000);
  ASSERT_OK(replay_spawn(&p, "--symbols", "BTCUSDT", "--weight-limit", "10",
                         "--ban-after", "2", "--ban-seconds", "30", NULL));
  struct http h;
  int prev = 0;
  for (int i = 1; i <= 4; i++) { /* klines weigh 2 */
    http_get(&h, p.port, "/api/v3/klines?symbol=BTCUSDT&interval=1h&limit=1");
    ASSERT_EQ_INT(h.status, 200);
    ASSERT_EQ_INT(atoi(h.weight), prev + 2);
    prev = atoi(h.weight);
    http_free(&h);
  }
  http_get(&h, p.port, "/api/v3/ping"); /* weight 1 -> 9 */
  ASSERT_EQ_INT(atoi(h.weight), 9);
  http_free(&h);
  http_get(&h, p.port, "/api/v3/time"); /* 10: at the limit, still fine */
  ASSERT_EQ_INT(h.status, 200);
  http_free(&h);
  http_get(&h, p.port, "/api/v3/ping"); /* 11 > 10 */
  ASSERT_EQ_INT(h.status, 429);
  ASSERT_EQ_INT(atoi(h.weight), 11);
  ASSERT_TRUE(atoi(h.retry_after) >= 1 && atoi(h.retry_after) <= 60);
  ASSERT_CONTAINS(h.body, "\"code\":-1003");
  http_free(&h);
  http_get(&h, p.port, "/api/v3/ping"); /* second 429 */
  ASSERT_EQ_INT(h.status, 429);
  http_free(&h);
  http_get(&h, p.port, "/api/v3/ping"); /* kept hammering: banned */
  ASSERT_EQ_INT(h.status, 418);
  ASSERT_EQ_INT(atoi(h.retry_after), 30);
  ASSERT_CONTAINS(h.body, "banned until");
  http_free(&h);
  http_get(&h, p.port, "/api/v3/klines?symbol=BTCUSDT&interval=1h");
  ASSERT_EQ_INT(h.status, 418);
  ASSERT_TRUE(atoi(h.retry_after) >= 29 && atoi(h.retry_after) <= 30);
  http_free(&h);
  json_t *s = get_json(p.port, 200, "/__replay/stats");
  json_t *resp = json_object_get(s, "responses");
  ASSERT_EQ_INT(json_integer_value(json_object_get(resp, "429")), 2);
  ASSERT_EQ_INT(json_integer_value(json_object_get(resp, "418")), 2);
  json_decref(s);
  /* The test-only reset lifts the ban. */
  http_do(&h, "POST", p.port, "/__replay/reset");
  ASSERT_EQ_INT(h.status, 200);
  http_free(&h);
  http_get(&h, p.port, "/api/v3/ping");
  ASSERT_EQ_INT(h.status, 200);
  ASSERT_EQ_INT(atoi(h.weight), 1);
  http_free(&h);
  ASSERT_EQ_INT(replay_stop(&p), 0);
}

/* ---- faults: each kind with every=2, so request 1 is clean, 2 faulty ---- */

#define PAST_QUERY                                                             \
  "/api/v3/klines?symbol=BTCUSDT&interval=1h&startTime=1600000000000&limit=20"

static void start_fault(struct replay_proc *p, const char *spec) {
  /* --shift-weeks 0: answers about the past are byte-for-byte stable. */
  if (replay_spawn(p, "--symbols", "BTCUSDT", "--shift-weeks", "0", "--faults",
                   spec, "--seed", "7", NULL) < 0)
    p->port = 0;
}

/* Fault count from stats and the stderr JSON log line for it. */
static void expect_fault_logged(struct replay_proc *p, const char *fault) {
  json_t *s = get_json(p->port, 200, "/__replay/stats");
  json_t *f = json_object_get(s, "faults");
  ASSERT_EQ_INT(json_integer_value(json_object_get(f, "total")), 1);
  json_t *log0 = json_array_get(json_object_get(f, "log"), 0);
  ASSERT_EQ_INT(json_integer_value(json_object_get(log0, "request")), 2);
  ASSERT_EQ_STR(json_string_value(json_object_get(log0, "fault")), fault);
  json_decref(s);
  char cmd[1024];
  snprintf(cmd, sizeof(cmd),
           "grep -c '\"msg\":\"fault injected\",\"fault\":\"%s\"' %s "
           ">/dev/null",
           fault, p->err_path);
  ASSERT_EQ_INT(coin_test_sh("%s", cmd), 0);
}

static void fault_status_kinds(void) {
  static const struct {
    const char *spec, *name;
    long status;
    bool retry_after;
  } cases[] = {{"429:every=2", "429", 429, true},
               {"418:every=2", "418", 418, true},
               {"500:every=2", "500", 500, false},
               {"503:every=2", "503", 503, false}};
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct replay_proc p;
    struct http h;
    start_fault(&p, cases[i].spec);
    ASSERT_TRUE(p.port > 0);
    http_get(&h, p.port, PAST_QUERY);
    ASSERT_EQ_INT(h.status, 200);
    http_free(&h);
    http_get(&h, p.port, PAST_QUERY);
    ASSERT_EQ_INT(h.status, cases[i].status);
    ASSERT_EQ_INT(h.retry_after[0] != '\0', cases[i].retry_after);
    ASSERT_CONTAINS(h.body, "\"code\":-10");
    http_free(&h);
    http_get(&h, p.port, PAST_QUERY);
    ASSERT_EQ_INT(h.status, 200);
    http_free(&h);
    expect_fault_logged(&p, cases[i].name);
    ASSERT_EQ_INT(replay_stop(&p), 0);
  }
}

static void fault_body_kinds(void) {
  struct replay_proc p;
  struct http clean, bad;
  size_t n;
  struct row *rows;

  /* truncate: 200, body is a strict prefix of the clean answer. */
  start_fault(&p, "truncate:every=2");
  ASSERT_TRUE(p.port > 0);
  http_get(&clean, p.port, PAST_QUERY);
  http_get(&bad, p.port, PAST_QUERY);
  ASSERT_EQ_INT(bad.status, 200);
  ASSERT_TRUE(bad.len > 0 && bad.len < clean.len);
  ASSERT_TRUE(memcmp(bad.body, clean.body, bad.len) == 0);
  ASSERT_TRUE(json_loads(bad.body, 0, NULL) == NULL);
  http_free(&clean);
  http_free(&bad);
  expect_fault_logged(&p, "truncate");
  ASSERT_EQ_INT(replay_stop(&p), 0);

  /* malformed: valid JSON, but not Binance-shaped rows. */
  start_fault(&p, "malformed:every=2");
  ASSERT_TRUE(p.port > 0);
  http_get(&clean, p.port, PAST_QUERY);
  http_get(&bad, p.port, PAST_QUERY);
  ASSERT_EQ_INT(bad.status, 200);
  json_t *j = json_loads(bad.body, 0, NULL);
  ASSERT_TRUE(j != NULL);
  ASSERT_FALSE(rows_parse(&rows, &n, j));
  json_decref(j);
  j = json_loads(clean.body, 0, NULL);
  ASSERT_TRUE(rows_parse(&rows, &n, j));
  free(rows);
  json_decref(j);
  http_free(&clean);
  http_free(&bad);
  expect_fault_logged(&p, "malformed");
  ASSERT_EQ_INT(replay_stop(&p), 0);

  /* dup: one row twice in a row (limit + 1 rows). */
  start_fault(&p, "dup:every=2");
  ASSERT_TRUE(p.port > 0);
  free(klines(&n, p.port, "%s", strchr(PAST_QUERY, '?') + 1));
  rows = klines(&n, p.port, "%s", strchr(PAST_QUERY, '?') + 1);
  ASSERT_EQ_INT(n, 21);
  int dups = 0;
  for (size_t i = 1; i < n; i++)
    dups += rows[i].open_ms == rows[i - 1].open_ms;
  ASSERT_EQ_INT(dups, 1);
  free(rows);
  expect_fault_logged(&p, "dup");
  ASSERT_EQ_INT(replay_stop(&p), 0);

  /* invalid: one row with high < low. */
  start_fault(&p, "invalid:every=2");
  ASSERT_TRUE(p.port > 0);
  free(klines(&n, p.port, "%s", strchr(PAST_QUERY, '?') + 1));
  rows = klines(&n, p.port, "%s", strchr(PAST_QUERY, '?') + 1);
  ASSERT_EQ_INT(n, 20);
  int invalid = 0;
  for (size_t i = 0; i < n; i++)
    invalid += rows[i].h < rows[i].l;
  ASSERT_EQ_INT(invalid, 1);
  free(rows);
  expect_fault_logged(&p, "invalid");
  ASSERT_EQ_INT(replay_stop(&p), 0);

  /* reset: the connection drops mid-body. */
  start_fault(&p, "reset:every=2");
  ASSERT_TRUE(p.port > 0);
  http_get(&clean, p.port, PAST_QUERY);
  ASSERT_EQ_INT(clean.cc, CURLE_OK);
  http_get(&bad, p.port, PAST_QUERY);
  ASSERT_TRUE(bad.cc != CURLE_OK);
  ASSERT_TRUE(bad.len < clean.len);
  http_free(&clean);
  http_free(&bad);
  expect_fault_logged(&p, "reset");
  ASSERT_EQ_INT(replay_stop(&p), 0);

  /* slow: the answer is right, only late. */
  start_fault(&p, "slow:every=2@400");
  ASSERT_TRUE(p.port > 0);
  http_get(&clean, p.port, PAST_QUERY);
  http_get(&bad, p.port, PAST_QUERY);
  ASSERT_EQ_INT(bad.status, 200);
  ASSERT_TRUE(bad.seconds >= 0.4);
  ASSERT_EQ_STR(bad.body, clean.body);
  http_free(&clean);
  http_free(&bad);
  expect_fault_logged(&p, "slow");
  ASSERT_EQ_INT(replay_stop(&p), 0);
}

/* A fault scoped to one symbol (KIND:P/SYMBOL) spares every other one. */
static void fault_scoped_to_one_symbol(void) {
  struct replay_proc p;
  if (replay_spawn(&p, "--symbols", "BTCUSDT,ETHUSDT", "--shift-weeks", "0",
                   "--faults", "503:1/ETHUSDT", NULL) < 0)
    p.port = 0;
  ASSERT_TRUE(p.port > 0);
  struct http btc, eth;
  http_get(&btc, p.port, PAST_QUERY);
  http_get(&eth, p.port,
           "/api/v3/klines?symbol=ETHUSDT&interval=1h&startTime=1600000000000"
           "&limit=20");
  ASSERT_EQ_INT(btc.status, 200);
  ASSERT_EQ_INT(eth.status, 503);
  http_free(&btc);
  http_free(&eth);
  ASSERT_EQ_INT(replay_stop(&p), 0);
}

/* ---- answers a client must cut short: huge, endless, drip ---- */

struct counted {
  size_t bytes, cap;
  char first[64];
};

static size_t on_count(char *data, size_t size, size_t n, void *ud) {
  struct counted *c = ud;
  size_t add = size * n;
  if (c->bytes < sizeof(c->first) - 1) {
    size_t k = sizeof(c->first) - 1 - c->bytes;
    memcpy(c->first + c->bytes, data, add < k ? add : k);
  }
  c->bytes += add;
  return c->cap && c->bytes >= c->cap ? 0 : add;
}

/* GET that only counts the body (stops after cap bytes when cap > 0). */
static CURLcode get_counted(struct counted *c, long *status, curl_off_t *clen,
                            int port, long timeout_ms, size_t cap) {
  char url[300];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, PAST_QUERY);
  memset(c, 0, sizeof(*c));
  c->cap = cap;
  curl_easy_reset(curl);
  curl_easy_setopt(curl, CURLOPT_URL, url);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_count);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, c);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  CURLcode cc = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
  curl_easy_getinfo(curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, clen);
  return cc;
}

static void fault_unbounded_answers(void) {
  struct replay_proc p;
  struct counted c;
  long st = 0;
  curl_off_t clen = 0;

  /* huge: 200 with a 64 MiB Content-Length, all of it sent; a klines
   * array that starts well-formed and never closes */
  start_fault(&p, "huge:every=2");
  ASSERT_TRUE(p.port > 0);
  ASSERT_EQ_INT(get_counted(&c, &st, &clen, p.port, 30000, 0), CURLE_OK);
  ASSERT_TRUE(c.bytes < 100000);
  ASSERT_EQ_INT(get_counted(&c, &st, &clen, p.port, 30000, 0), CURLE_OK);
  ASSERT_EQ_INT(st, 200);
  ASSERT_EQ_INT(clen, (curl_off_t)64 << 20);
  ASSERT_EQ_INT(c.bytes, (size_t)64 << 20);
  ASSERT_TRUE(strncmp(c.first, "[[946684800000,", 15) == 0);
  expect_fault_logged(&p, "huge");
  ASSERT_EQ_INT(replay_stop(&p), 0);

  /* endless: chunked (no Content-Length), still sending after 8 MiB */
  start_fault(&p, "endless:every=2");
  ASSERT_TRUE(p.port > 0);
  ASSERT_EQ_INT(get_counted(&c, &st, &clen, p.port, 30000, 0), CURLE_OK);
  ASSERT_EQ_INT(get_counted(&c, &st, &clen, p.port, 30000, (size_t)8 << 20),
                CURLE_WRITE_ERROR);
  ASSERT_EQ_INT(st, 200);
  ASSERT_EQ_INT(clen, -1);
  ASSERT_TRUE(c.bytes >= (size_t)8 << 20);
  ASSERT_TRUE(strncmp(c.first, "[[946684800000,", 15) == 0);
  expect_fault_logged(&p, "endless");
  ASSERT_EQ_INT(replay_stop(&p), 0);

  /* drip: headers at once, then one byte per 200 ms: a 1.5 s client
   * timeout sees "[" and a handful of spaces */
  start_fault(&p, "drip:every=2@200");
  ASSERT_TRUE(p.port > 0);
  ASSERT_EQ_INT(get_counted(&c, &st, &clen, p.port, 30000, 0), CURLE_OK);
  int64_t t0 = mono_ms();
  ASSERT_EQ_INT(get_counted(&c, &st, &clen, p.port, 1500, 0),
                CURLE_OPERATION_TIMEDOUT);
  int64_t took = mono_ms() - t0;
  ASSERT_EQ_INT(st, 200);
  ASSERT_TRUE(took >= 1400 && took < 5000);
  ASSERT_TRUE(c.bytes >= 3 && c.bytes <= 9);
  ASSERT_EQ_INT(c.first[0], '[');
  ASSERT_EQ_INT(c.first[1], ' ');
  expect_fault_logged(&p, "drip");
  ASSERT_EQ_INT(replay_stop(&p), 0);
}

static void fault_gap_never_served(void) {
  struct replay_proc p;
  /* BTCUSDT 1h rows 2020-09-13 12:26:40 .. +10000 s: opens 13:00, 14:00,
   * 15:00 (1600002000000 .. 1600009200000) are withheld. */
  start_fault(&p, "gap:BTCUSDT/1h/1600000000001-1600010000000");
  ASSERT_TRUE(p.port > 0);
  size_t n;
  struct row *r = klines(&n, p.port, "%s", strchr(PAST_QUERY, '?') + 1);
  ASSERT_EQ_INT(n, 20);
  ASSERT_EQ_INT(r[0].open_ms, 1600012800000); /* 16:00 */
  for (size_t i = 0; i < n; i++)
    ASSERT_TRUE(r[i].open_ms < 1600000000001 || r[i].open_ms > 1600010000000);
  free(r);
  /* Other timeframes and symbols are untouched. */
  r = klines(&n, p.port,
             "symbol=BTCUSDT&interval=1d&startTime=1599955200000&limit=2");
  ASSERT_EQ_INT(n, 2);
  ASSERT_EQ_INT(r[0].open_ms, 1599955200000);
  free(r);
  json_t *s = get_json(p.port, 200, "/__replay/stats");
  ASSERT_EQ_INT(json_integer_value(
                    json_object_get(json_object_get(s, "faults"), "gap_rows")),
                3);
  json_decref(s);
  ASSERT_EQ_INT(replay_stop(&p), 0);
}

/* Statuses of 40 klines requests against a replay with a random spec. */
static int status_sequence(char *out, size_t cap, const char *seed) {
  struct replay_proc p;
  if (replay_spawn(&p, "--symbols", "BTCUSDT", "--shift-weeks", "0", "--faults",
                   "500:0.2,503:0.1,429:0.1,dup:0.2", "--seed", seed, NULL) < 0)
    return -1;
  size_t len = 0;
  for (int i = 0; i < 40; i++) {
    struct http h;
    http_get(&h, p.port, PAST_QUERY);
    /* "d" marks a duplicated row inside a 200. */
    json_t *j = json_loads(h.body, 0, NULL);
    bool dup = json_is_array(j) && json_array_size(j) == 21;
    json_decref(j);
    len += (size_t)snprintf(out + len, cap - len, "%ld%s ", h.status,
                            dup ? "d" : "");
    http_free(&h);
  }
  return replay_stop(&p);
}

static void same_seed_same_faults(void) {
  char a[1024], b[1024], c[1024];
  ASSERT_OK(status_sequence(a, sizeof(a), "42"));
  ASSERT_OK(status_sequence(b, sizeof(b), "42"));
  ASSERT_OK(status_sequence(c, sizeof(c), "43"));
  ASSERT_EQ_STR(a, b);
  ASSERT_TRUE(strcmp(a, c) != 0);
  ASSERT_CONTAINS(a, "200 ");
  ASSERT_CONTAINS(a, "500 ");
  ASSERT_CONTAINS(a, "200d ");
}

static void aliases_and_clones(void) {
  struct replay_proc p;
  ASSERT_OK(replay_spawn(&p, "--symbols", "BTCUSDT,ETHUSDT", "--shift-weeks",
                         "0", "--symbols-alias", "XBTUSDT=BTCUSDT", "--clone",
                         "3", NULL));
  json_t *j = get_json(p.port, 200, "/api/v3/exchangeInfo");
  ASSERT_EQ_INT(json_array_size(json_object_get(j, "symbols")), 6);
  json_decref(j);
  j = get_json(p.port, 200, "/api/v3/exchangeInfo?symbol=SYM02USDT");
  json_t *s = json_array_get(json_object_get(j, "symbols"), 0);
  ASSERT_EQ_STR(json_string_value(json_object_get(s, "baseAsset")), "SYM02");
  json_decref(j);
  size_t n1, n2, n3;
  struct row *a = klines(&n1, p.port, "%s", strchr(PAST_QUERY, '?') + 1);
  struct row *b = klines(&n2, p.port,
                         "symbol=XBTUSDT&interval=1h&startTime=1600000000000&"
                         "limit=20");
  struct row *c = klines(&n3, p.port,
                         "symbol=SYM02USDT&interval=1h&startTime=1600000000000"
                         "&limit=20"); /* clones cycle BTC, ETH, BTC */
  ASSERT_EQ_INT(n1, 20);
  ASSERT_EQ_INT(n2, 20);
  ASSERT_EQ_INT(n3, 20);
  ASSERT_TRUE(memcmp(a, b, 20 * sizeof(*a)) == 0);
  ASSERT_TRUE(memcmp(a, c, 20 * sizeof(*a)) != 0); /* SYM02 = ETHUSDT */
  free(a);
  free(b);
  free(c);
  ASSERT_EQ_INT(replay_stop(&p), 0);
}

static void bad_command_lines_fail_with_one_line(void) {
  static const char *const bad[] = {"--faults 700:0.1",
                                    "--faults 500:2",
                                    "--faults gap:BTCUSDT/1h/5-1",
                                    "--faults 500:1/not-a-symbol",
                                    "--faults huge:1@5",
                                    "--faults drip:1@0",
                                    "--listen 127.0.0.1:99999",
                                    "--weight-limit 0",
                                    "--symbols NOPEUSDT",
                                    "--symbols-alias X=BTCUSDT",
                                    "--data /nonexistent",
                                    "--bogus"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char out[512];
    snprintf(out, sizeof(out), "%s/bad.txt", tmp);
    int rc = coin_test_sh("%s/coin-replay-exchange --data %s %s >%s 2>&1",
                          bin_dir, data_dir, bad[i], out);
    ASSERT_TRUE(rc != 0 && rc != 127);
    /* exactly one line, naming the program */
    ASSERT_EQ_INT(coin_test_sh("test $(wc -l <%s) -eq 1 && grep -q "
                               "'^coin-replay-exchange: ' %s",
                               out, out),
                  0);
  }
}

static void teardown(void) {
  ASSERT_EQ_INT(replay_stop(&main_replay), 0);
  curl_easy_cleanup(curl);
  curl_global_cleanup();
  coin_test_rmtree(tmp);
}

TEST_MAIN(RUN_TEST(setup); RUN_TEST(ping_time_exchange_info);
          RUN_TEST(klines_limits_and_errors);
          RUN_TEST(klines_equal_shifted_csv);
          RUN_TEST(last_row_is_the_open_candle);
          RUN_TEST(weekly_and_monthly_aggregates);
          RUN_TEST(shift_weeks_zero_serves_history);
          RUN_TEST(weight_header_429_then_418); RUN_TEST(fault_status_kinds);
          RUN_TEST(fault_body_kinds); RUN_TEST(fault_unbounded_answers);
          RUN_TEST(fault_gap_never_served); RUN_TEST(same_seed_same_faults);
          RUN_TEST(fault_scoped_to_one_symbol); RUN_TEST(aliases_and_clones);
          RUN_TEST(bad_command_lines_fail_with_one_line); RUN_TEST(teardown))
