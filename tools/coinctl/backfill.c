/*
 * backfill.c: `coinctl backfill`: publishes a protobuf BackfillRequest on
 * coin.control.backfill with a Coin-Reply-To header naming a per-request
 * subject, then follows coin-ingest's JSON progress lines on that subject
 * ({"request_id","done","total","state"}; docs/protocol.md) until done or
 * failed, with a progress bar on a TTY. Threads: replies arrive on the tap's
 * thread and are queued; main parses, prints and decides.
 */
#include "coinctl.h"

#include "coin/clock.h"
#include "coin/codec.h"
#include "coin/error.h"

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define REPLY_MAX_BYTES 4096  /* one progress line */
#define REPLY_QUEUE_MAX 10000 /* lines not yet handled by main */
#define BAR_WIDTH 30

static const char backfill_usage[] =
    "usage: coinctl backfill --symbol S --timeframe TF --from DATE [--to "
    "DATE]\n"
    "                        [--json] [--no-wait] [--reply-timeout S]\n"
    "                        [--idle-timeout S] [--timeout S]\n"
    "\n"
    "Asks coin-ingest to fetch the candles of one series in [from, to] "
    "again\n"
    "from the exchange and rewrite them in InfluxDB (idempotent), then to\n"
    "publish them as BACKFILL batches. DATE is now, epoch milliseconds,\n"
    "YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][Z] (UTC); from is floored to the\n"
    "timeframe, to defaults to the last closed candle. Progress comes back\n"
    "as JSON lines on coin.control.backfill.reply.<request_id>.\n"
    "\n"
    "  --symbol S          e.g. BTCUSDT\n"
    "  --timeframe TF      1m 1h 1d 1w 1M\n"
    "  --from DATE         first candle\n"
    "  --to DATE           last candle (default: the last closed one)\n"
    "  --json              print each progress line as it comes (default "
    "when\n"
    "                      stdout is not a terminal; a bar on a terminal)\n"
    "  --no-wait           send the request and exit (prints the "
    "request_id)\n"
    "  --reply-timeout S   fail when coin-ingest does not answer (default "
    "10)\n"
    "  --idle-timeout S    fail when no progress for S (default 120)\n"
    "  --timeout S         fail after S in all (default: none)\n"
    "  --exchange EX       default $EXCHANGE (binance)\n"
    "  --nats URL          NATS server(s) (default $NATS_URL)\n";

enum {
  OPT_SYMBOL = COINCTL_OPT_FIRST_OWN,
  OPT_TF,
  OPT_FROM,
  OPT_TO,
  OPT_JSON,
  OPT_NO_WAIT,
  OPT_REPLY_TIMEOUT,
  OPT_IDLE_TIMEOUT,
  OPT_TIMEOUT,
};

struct reply {
  struct reply *next;
  size_t len;
  char text[];
};

struct reply_queue {
  pthread_mutex_t mu;
  pthread_cond_t cond;
  struct reply *head, *tail;
  size_t n;
  size_t dropped;
};

static volatile sig_atomic_t bf_interrupted;

static void on_signal(int sig) {
  (void)sig;
  bf_interrupted = 1;
}

static void on_reply(const struct coin_bus_msg *msg, void *closure) {
  struct reply_queue *q = closure;
  size_t len = coin_bus_msg_len(msg);
  if (len > REPLY_MAX_BYTES)
    len = REPLY_MAX_BYTES; /* cut; it will fail to parse and be reported */
  struct reply *r = malloc(sizeof(*r) + len + 1);
  if (r == NULL)
    return;
  r->next = NULL;
  r->len = len;
  if (len)
    memcpy(r->text, coin_bus_msg_data(msg), len);
  r->text[len] = '\0';
  pthread_mutex_lock(&q->mu);
  if (q->n >= REPLY_QUEUE_MAX) {
    q->dropped++;
    free(r);
  } else {
    if (q->tail)
      q->tail->next = r;
    else
      q->head = r;
    q->tail = r;
    q->n++;
    pthread_cond_broadcast(&q->cond);
  }
  pthread_mutex_unlock(&q->mu);
}

/* Next queued reply or NULL after wait_ms. */
static struct reply *next_reply(struct reply_queue *q, int64_t wait_ms) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
  ts.tv_sec += wait_ms / 1000 + ts.tv_nsec / 1000000000L;
  ts.tv_nsec %= 1000000000L;
  pthread_mutex_lock(&q->mu);
  if (q->head == NULL)
    pthread_cond_timedwait(&q->cond, &q->mu, &ts);
  struct reply *r = q->head;
  if (r) {
    q->head = r->next;
    if (q->head == NULL)
      q->tail = NULL;
    q->n--;
  }
  pthread_mutex_unlock(&q->mu);
  return r;
}

static void drain(struct reply_queue *q) {
  struct reply *r;
  while ((r = q->head) != NULL) {
    q->head = r->next;
    free(r);
  }
  q->tail = NULL;
  q->n = 0;
}

/* request_id / subject token: [A-Za-z0-9_:-] (no '.', it splits subjects). */
static void make_request_id(char *out, size_t n) {
  char host[64] = "host";
  gethostname(host, sizeof(host));
  host[sizeof(host) - 1] = '\0';
  snprintf(out, n, "coinctl-%.24s-%ld-%lld", host, (long)getpid(),
           (long long)coin_now_ms());
  for (char *p = out; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
          (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == ':'))
      *p = '-';
}

static void draw_bar(const char *label, int64_t done, int64_t total,
                     const char *state) {
  int filled = 0;
  double pct = 0;
  if (total > 0) {
    pct = 100.0 * (double)done / (double)total;
    if (pct > 100)
      pct = 100;
    filled = (int)(pct / 100.0 * BAR_WIDTH);
  }
  fprintf(stderr, "\r%s [", label);
  for (int i = 0; i < BAR_WIDTH; i++)
    fputc(i < filled ? '#' : '.', stderr);
  fprintf(stderr, "] %3.0f%% %lld/%lld %-10s", pct, (long long)done,
          (long long)total, state);
  fflush(stderr);
}

int coinctl_backfill(struct coinctl *ctl, int argc, char **argv) {
  static const struct option opts[] = {
      COINCTL_COMMON_OPTIONS,
      {"symbol", required_argument, NULL, OPT_SYMBOL},
      {"timeframe", required_argument, NULL, OPT_TF},
      {"from", required_argument, NULL, OPT_FROM},
      {"to", required_argument, NULL, OPT_TO},
      {"json", no_argument, NULL, OPT_JSON},
      {"no-wait", no_argument, NULL, OPT_NO_WAIT},
      {"reply-timeout", required_argument, NULL, OPT_REPLY_TIMEOUT},
      {"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
      {"timeout", required_argument, NULL, OPT_TIMEOUT},
      {NULL, 0, NULL, 0},
  };
  bool help = false, as_json = !ctl->stdout_tty, no_wait = false;
  bool has_tf = false, has_from = false, has_to = false;
  const char *symbol = NULL;
  enum coin_tf tf = COIN_TF_1H;
  int64_t from_ms = 0, to_ms = 0;
  double reply_timeout_s = 10, idle_timeout_s = 120, timeout_s = 0;
  struct coin_bus *bus = NULL;
  struct coin_bus_tap *tap = NULL;
  struct reply_queue q = {.mu = PTHREAD_MUTEX_INITIALIZER,
                          .cond = PTHREAD_COND_INITIALIZER};
  uint8_t *packed = NULL;
  size_t packed_len = 0;
  bool bar_drawn = false;
  int rc = COINCTL_EXIT_OK, c;

  while ((c = coinctl_getopt(ctl, &help, argc, argv, opts)) != -1) {
    switch (c) {
    case OPT_SYMBOL: symbol = optarg; break;
    case OPT_TF:
      if (coin_tf_parse(&tf, optarg) != 0)
        return coinctl_fail("backfill", COINCTL_EXIT_USAGE, "--timeframe: %s",
                            coin_error_last());
      has_tf = true;
      break;
    case OPT_FROM:
      if (coinctl_parse_time(&from_ms, "--from", optarg) != 0)
        return coinctl_fail_last("backfill", COINCTL_EXIT_USAGE);
      has_from = true;
      break;
    case OPT_TO:
      if (coinctl_parse_time(&to_ms, "--to", optarg) != 0)
        return coinctl_fail_last("backfill", COINCTL_EXIT_USAGE);
      has_to = true;
      break;
    case OPT_JSON: as_json = true; break;
    case OPT_NO_WAIT: no_wait = true; break;
    case OPT_REPLY_TIMEOUT:
    case OPT_IDLE_TIMEOUT:
    case OPT_TIMEOUT: {
      double *dst = c == OPT_REPLY_TIMEOUT  ? &reply_timeout_s
                    : c == OPT_IDLE_TIMEOUT ? &idle_timeout_s
                                            : &timeout_s;
      const char *name = c == OPT_REPLY_TIMEOUT  ? "--reply-timeout"
                         : c == OPT_IDLE_TIMEOUT ? "--idle-timeout"
                                                 : "--timeout";
      if (coinctl_parse_seconds(dst, name, optarg) != 0)
        return coinctl_fail_last("backfill", COINCTL_EXIT_USAGE);
      break;
    }
    default: return COINCTL_EXIT_USAGE;
    }
  }
  if (help) {
    fputs(backfill_usage, stdout);
    return COINCTL_EXIT_OK;
  }
  if (optind < argc)
    return coinctl_fail("backfill", COINCTL_EXIT_USAGE,
                        "unexpected argument \"%s\"", argv[optind]);
  if (symbol == NULL || !has_tf || !has_from)
    return coinctl_fail("backfill", COINCTL_EXIT_USAGE,
                        "--symbol, --timeframe and --from are required (see "
                        "coinctl backfill --help)");
  if (coin_symbol_validate(symbol) != 0)
    return coinctl_fail("backfill", COINCTL_EXIT_USAGE, "--symbol: %s",
                        coin_error_last());
  if (coin_exchange_validate(ctl->exchange) != 0)
    return coinctl_fail("backfill", COINCTL_EXIT_USAGE, "--exchange: %s",
                        coin_error_last());

  int64_t now = coin_now_ms();
  int64_t last_closed = coin_tf_last_closed(tf, now);
  from_ms = coin_tf_floor(tf, from_ms);
  to_ms = has_to ? coin_tf_floor(tf, to_ms) : last_closed;
  if (to_ms > last_closed)
    to_ms = last_closed; /* the open candle is never stored as closed */
  if (from_ms > to_ms) {
    char f[COIN_TF_UTC_TEXT_BYTES] = "?", t[COIN_TF_UTC_TEXT_BYTES] = "?";
    coin_tf_format_utc(f, sizeof(f), from_ms);
    coin_tf_format_utc(t, sizeof(t), to_ms);
    return coinctl_fail("backfill", COINCTL_EXIT_USAGE,
                        "--from %s is after --to %s (rule: from <= to <= the "
                        "last closed %s candle)",
                        f, t, coin_tf_name(tf));
  }

  struct coin_backfill_request req;
  memset(&req, 0, sizeof(req));
  snprintf(req.exchange, sizeof(req.exchange), "%s", ctl->exchange);
  snprintf(req.symbol, sizeof(req.symbol), "%s", symbol);
  req.tf = tf;
  char host[48] = "host";
  gethostname(host, sizeof(host));
  host[sizeof(host) - 1] = '\0';
  snprintf(req.producer_id, sizeof(req.producer_id), "coinctl@%.40s", host);
  for (char *p = req.producer_id; *p; p++)
    if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                "0123456789._:@/-",
                *p))
      *p = '-';
  make_request_id(req.request_id, sizeof(req.request_id));
  req.from_ms = from_ms;
  req.to_ms = to_ms;
  req.requested_at_ms = now;
  if (coin_codec_pack_backfill(&packed, &packed_len, &req) != 0) {
    rc = coinctl_fail_last("backfill", COINCTL_EXIT_USAGE);
    goto out;
  }
  char reply_subject[COIN_CODEC_SUBJECT_BYTES];
  snprintf(reply_subject, sizeof(reply_subject), "%s.reply.%s",
           COIN_SUBJECT_BACKFILL, req.request_id);

  if (coinctl_connect(&bus, ctl) != 0) {
    rc = coinctl_fail_last("backfill", COINCTL_EXIT_ERROR);
    goto out;
  }
  /* Subscribe before publishing: on one connection the server sees the
   * SUB before the request, so no early reply is lost. */
  if (!no_wait &&
      coin_bus_tap_core(&tap, bus, reply_subject, on_reply, &q) != 0) {
    rc = coinctl_fail("backfill", COINCTL_EXIT_ERROR, "subscribe %s: %s",
                      reply_subject, coin_error_last());
    goto out;
  }
  const struct coin_bus_header hdrs[] = {
      {"Coin-Reply-To", reply_subject},
      {"Coin-Request-Id", req.request_id},
  };
  if (coin_bus_publish_msg(bus, COIN_SUBJECT_BACKFILL, hdrs, 2, packed,
                           packed_len) != 0) {
    rc = coinctl_fail("backfill", COINCTL_EXIT_ERROR, "publish %s: %s",
                      COIN_SUBJECT_BACKFILL, coin_error_last());
    goto out;
  }
  char f[COIN_TF_UTC_TEXT_BYTES] = "?", t[COIN_TF_UTC_TEXT_BYTES] = "?";
  coin_tf_format_utc(f, sizeof(f), from_ms);
  coin_tf_format_utc(t, sizeof(t), to_ms);
  int64_t expected = coin_tf_count(tf, from_ms, to_ms);
  if (no_wait) {
    /* Core publishes are buffered: freeing the bus flushes them. */
    printf("%s\n", req.request_id);
    goto out;
  }
  if (!as_json || ctl->stderr_tty)
    fprintf(stderr, "backfill %s %s/%s/%s %s .. %s (%lld candles)\n",
            req.request_id, req.exchange, req.symbol, coin_tf_name(tf), f, t,
            (long long)expected);

  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);

  int64_t start = coin_mono_ms(), last_msg = start;
  bool answered = false, show_bar = ctl->stderr_tty && !as_json;
  char label[80];
  snprintf(label, sizeof(label), "%s %s", req.symbol, coin_tf_name(tf));
  for (;;) {
    if (bf_interrupted) {
      rc = coinctl_fail("backfill", COINCTL_EXIT_ERROR,
                        "interrupted; request %s may still run in coin-ingest",
                        req.request_id);
      break;
    }
    int64_t mono = coin_mono_ms();
    if (!answered && mono - start >= (int64_t)(reply_timeout_s * 1000)) {
      rc = coinctl_fail("backfill", COINCTL_EXIT_ERROR,
                        "no reply on %s within %g s (is coin-ingest running "
                        "at %s?)",
                        reply_subject, reply_timeout_s, ctl->nats_url);
      break;
    }
    if (answered && idle_timeout_s > 0 &&
        mono - last_msg >= (int64_t)(idle_timeout_s * 1000)) {
      rc = coinctl_fail("backfill", COINCTL_EXIT_ERROR,
                        "no progress for %g s on request %s", idle_timeout_s,
                        req.request_id);
      break;
    }
    if (timeout_s > 0 && mono - start >= (int64_t)(timeout_s * 1000)) {
      rc = coinctl_fail("backfill", COINCTL_EXIT_ERROR,
                        "timeout after %g s; request %s may still run",
                        timeout_s, req.request_id);
      break;
    }
    struct reply *r = next_reply(&q, 100);
    if (r == NULL)
      continue;
    json_error_t err;
    json_t *j = json_loadb(r->text, r->len, 0, &err);
    if (j == NULL || !json_is_object(j)) {
      rc = coinctl_fail("backfill", COINCTL_EXIT_ERROR,
                        "bad reply on %s: %s (want a JSON object with "
                        "request_id, done, total, state)",
                        reply_subject, j ? "not an object" : err.text);
      json_decref(j);
      free(r);
      break;
    }
    const char *rid = json_string_value(json_object_get(j, "request_id"));
    const char *state = json_string_value(json_object_get(j, "state"));
    json_t *jd = json_object_get(j, "done"), *jt = json_object_get(j, "total");
    if (rid != NULL && strcmp(rid, req.request_id) != 0) {
      json_decref(j); /* someone else's request on our subject: ignore */
      free(r);
      continue;
    }
    answered = true;
    last_msg = coin_mono_ms();
    if (as_json) {
      fwrite(r->text, 1, r->len, stdout);
      fputc('\n', stdout);
      fflush(stdout);
    }
    int64_t done = json_is_integer(jd) ? json_integer_value(jd) : 0;
    int64_t total = json_is_integer(jt) ? json_integer_value(jt) : expected;
    if (state == NULL) {
      rc = coinctl_fail("backfill", COINCTL_EXIT_ERROR,
                        "bad reply on %s: no \"state\"", reply_subject);
      json_decref(j);
      free(r);
      break;
    }
    if (show_bar) {
      draw_bar(label, done, total, state);
      bar_drawn = true;
    }
    bool finished = false;
    if (!strcmp(state, "done")) {
      if (bar_drawn)
        fputc('\n', stderr);
      bar_drawn = false;
      const char *note = json_string_value(json_object_get(j, "note"));
      if (!as_json)
        printf("backfill %s done: %lld of %lld candles%s%s%s\n", req.request_id,
               (long long)done, (long long)total, note ? " (" : "",
               note ? note : "", note ? ")" : "");
      finished = true;
    } else if (!strcmp(state, "failed") || !strcmp(state, "rejected")) {
      if (bar_drawn)
        fputc('\n', stderr);
      bar_drawn = false;
      const char *e = json_string_value(json_object_get(j, "error"));
      rc = coinctl_fail("backfill", COINCTL_EXIT_ERROR,
                        "request %s %s after %lld of %lld candles: %s",
                        req.request_id, state, (long long)done,
                        (long long)total, e ? e : "(no reason given)");
      finished = true;
    }
    json_decref(j);
    free(r);
    if (finished)
      break;
  }
  if (bar_drawn)
    fputc('\n', stderr);
out:
  coin_bus_tap_free(tap);
  coin_bus_free(bus);
  drain(&q);
  free(packed);
  return rc;
}
