/*
 * tap.c: `coinctl tap`: subscribes to a subject (core, or an ordered
 * JetStream consumer for stored messages) and prints one JSON line per
 * message: subject, sequence, headers, payload decoded by coin_codec_to_json.
 * Threads: messages arrive on the subscription's thread, which formats and
 * writes the line; main waits on a condition variable for the count, the
 * timeout, a signal or a closed stdout.
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

#define TAP_LINE_MAX_BYTES (80u << 20) /* 64 MiB payload as base64 + JSON */

static const char tap_usage[] =
    "usage: coinctl tap [SUBJECT] [--raw] [--count N] [--timeout S]\n"
    "                   [--stream | --from-seq N | --all]\n"
    "\n"
    "Prints every message on SUBJECT (default coin.>, wildcards allowed) as\n"
    "one JSON line: {\"subject\",\"sequence\",\"timestamp\",\"headers\",\n"
    "\"bytes\",\"payload\"}. The payload is decoded by the subject's "
    "message type\n"
    "(CandleBatch, StatusTransition, Alert, ModelEvent, BackfillRequest, "
    "KV\n"
    "ModelMetadata); other payloads print as JSON when they are JSON, else "
    "as\n"
    "\"payload_text\" (UTF-8) or \"payload_base64\". sequence and timestamp "
    "are\n"
    "null for core messages.\n"
    "\n"
    "  --raw          do not decode: \"payload_base64\" only\n"
    "  --count N      exit 0 after N messages (exit 1 if the timeout comes "
    "first)\n"
    "  --timeout S    stop after S seconds (exit 0 without --count)\n"
    "  --stream       read through an ordered JetStream consumer (new "
    "messages;\n"
    "                 SUBJECT must belong to a stream, e.g. coin.candles.>)\n"
    "  --from-seq N   the same, starting at stream sequence N\n"
    "  --all          the same, from the first message the stream keeps\n"
    "  --nats URL     NATS server(s) (default $NATS_URL)\n";

enum {
  OPT_RAW = COINCTL_OPT_FIRST_OWN,
  OPT_COUNT,
  OPT_TIMEOUT,
  OPT_STREAM,
  OPT_FROM_SEQ,
  OPT_ALL,
};

struct tap_state {
  pthread_mutex_t mu;
  pthread_cond_t cond;
  bool raw;
  int64_t count_max; /* 0 = unlimited */
  int64_t seen;
  bool stdout_closed;
};

static volatile sig_atomic_t tap_interrupted;

static void on_signal(int sig) {
  (void)sig;
  tap_interrupted = 1;
}

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *base64(const unsigned char *data, size_t len) {
  char *out = malloc((len + 2) / 3 * 4 + 1), *p = out;
  if (out == NULL)
    return NULL;
  for (size_t i = 0; i < len; i += 3) {
    unsigned v = (unsigned)data[i] << 16;
    if (i + 1 < len)
      v |= (unsigned)data[i + 1] << 8;
    if (i + 2 < len)
      v |= data[i + 2];
    *p++ = b64[(v >> 18) & 63];
    *p++ = b64[(v >> 12) & 63];
    *p++ = i + 1 < len ? b64[(v >> 6) & 63] : '=';
    *p++ = i + 2 < len ? b64[v & 63] : '=';
  }
  *p = '\0';
  return out;
}

static void add_header(const char *key, const char *value, void *closure) {
  json_t *headers = closure;
  json_t *old = json_object_get(headers, key);
  if (old == NULL) {
    json_object_set_new(headers, key, json_string(value));
  } else if (json_is_array(old)) {
    json_array_append_new(old, json_string(value));
  } else {
    /* A repeated key becomes an array of its values, in order. */
    json_t *arr = json_array();
    json_array_append(arr, old);
    json_array_append_new(arr, json_string(value));
    json_object_set_new(headers, key, arr);
  }
}

/* Non-decoded payload: JSON when it parses, else text or base64. */
static void add_undecoded(json_t *line, const unsigned char *data, size_t len) {
  if (len == 0) {
    json_object_set_new(line, "payload", json_null());
    return;
  }
  json_error_t err;
  json_t *j = json_loadb((const char *)data, len,
                         JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);
  if (j != NULL) {
    json_object_set_new(line, "payload", j);
    return;
  }
  json_t *text = json_stringn((const char *)data, len); /* NULL if not UTF-8 */
  if (text != NULL && memchr(data, '\0', len) == NULL) {
    json_object_set_new(line, "payload_text", text);
    return;
  }
  json_decref(text);
  char *enc = base64(data, len);
  json_object_set_new(line, "payload_base64", json_string(enc ? enc : ""));
  free(enc);
}

static void on_msg(const struct coin_bus_msg *msg, void *closure) {
  struct tap_state *st = closure;
  const char *subject = coin_bus_msg_subject(msg);
  const unsigned char *data = coin_bus_msg_data(msg);
  size_t len = coin_bus_msg_len(msg);
  uint64_t seq = coin_bus_msg_stream_seq(msg);
  char *decoded = NULL, *head = NULL;

  pthread_mutex_lock(&st->mu);
  bool done =
      st->stdout_closed || (st->count_max > 0 && st->seen >= st->count_max);
  pthread_mutex_unlock(&st->mu);
  if (done)
    return;

  json_t *line = json_object();
  json_object_set_new(line, "subject", json_string(subject));
  json_object_set_new(line, "sequence",
                      seq ? json_integer((json_int_t)seq) : json_null());
  if (seq) {
    char ts[COIN_TF_UTC_TEXT_BYTES];
    if (coin_tf_format_utc(ts, sizeof(ts), coin_bus_msg_timestamp_ms(msg)) == 0)
      json_object_set_new(line, "timestamp", json_string(ts));
  } else {
    json_object_set_new(line, "timestamp", json_null());
  }
  json_t *headers = json_object();
  coin_bus_msg_headers(msg, add_header, headers);
  json_object_set_new(line, "headers", headers);
  json_object_set_new(line, "bytes", json_integer((json_int_t)len));

  if (st->raw) {
    char *enc = base64(data ? data : (const unsigned char *)"", len);
    json_object_set_new(line, "payload_base64", json_string(enc ? enc : ""));
    free(enc);
  } else {
    int rc = coin_codec_to_json(&decoded, subject, data, len);
    if (rc == COIN_ENOTFOUND) {
      add_undecoded(line, data, len);
    } else if (rc != 0) {
      /* Shown, not hidden: the bytes and why they did not decode. */
      json_object_set_new(line, "payload", json_null());
      json_object_set_new(line, "decode_error", json_string(coin_error_last()));
      char *enc = base64(data ? data : (const unsigned char *)"", len);
      json_object_set_new(line, "payload_base64", json_string(enc ? enc : ""));
      free(enc);
    }
  }
  /* The decoded payload is already JSON text: splice it in last instead of
   * parsing it again. */
  head = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(line);
  if (head == NULL)
    goto out;

  pthread_mutex_lock(&st->mu);
  if (!st->stdout_closed && (st->count_max == 0 || st->seen < st->count_max)) {
    int werr;
    if (decoded != NULL) {
      size_t hl = strlen(head); /* ends with '}' */
      fwrite(head, 1, hl - 1, stdout);
      fputs(hl > 2 ? ",\"payload\":" : "\"payload\":", stdout);
      fputs(decoded, stdout);
      werr = fputs("}\n", stdout);
    } else {
      fputs(head, stdout);
      werr = fputc('\n', stdout);
    }
    if (werr == EOF || fflush(stdout) != 0)
      st->stdout_closed = true; /* e.g. `coinctl tap | head -3` */
    else
      st->seen++;
    pthread_cond_broadcast(&st->cond);
  }
  pthread_mutex_unlock(&st->mu);
out:
  free(head);
  free(decoded);
}

int coinctl_tap(struct coinctl *ctl, int argc, char **argv) {
  static const struct option opts[] = {
      COINCTL_COMMON_OPTIONS,
      {"raw", no_argument, NULL, OPT_RAW},
      {"count", required_argument, NULL, OPT_COUNT},
      {"timeout", required_argument, NULL, OPT_TIMEOUT},
      {"stream", no_argument, NULL, OPT_STREAM},
      {"from-seq", required_argument, NULL, OPT_FROM_SEQ},
      {"all", no_argument, NULL, OPT_ALL},
      {NULL, 0, NULL, 0},
  };
  struct tap_state st = {.mu = PTHREAD_MUTEX_INITIALIZER,
                         .cond = PTHREAD_COND_INITIALIZER};
  bool help = false, use_stream = false;
  int64_t start_seq = 0;
  double timeout_s = 0;
  struct coin_bus *bus = NULL;
  struct coin_bus_tap *tap = NULL;
  int rc = COINCTL_EXIT_OK, c;

  while ((c = coinctl_getopt(ctl, &help, argc, argv, opts)) != -1) {
    switch (c) {
    case OPT_RAW: st.raw = true; break;
    case OPT_COUNT:
      if (coinctl_parse_i64(&st.count_max, "--count", optarg, 1,
                            INT64_C(1000000000)) != 0)
        return coinctl_fail_last("tap", COINCTL_EXIT_USAGE);
      break;
    case OPT_TIMEOUT:
      if (coinctl_parse_seconds(&timeout_s, "--timeout", optarg) != 0)
        return coinctl_fail_last("tap", COINCTL_EXIT_USAGE);
      break;
    case OPT_STREAM: use_stream = true; break;
    case OPT_FROM_SEQ:
      if (coinctl_parse_i64(&start_seq, "--from-seq", optarg, 1, INT64_MAX) !=
          0)
        return coinctl_fail_last("tap", COINCTL_EXIT_USAGE);
      use_stream = true;
      break;
    case OPT_ALL:
      start_seq = 1;
      use_stream = true;
      break;
    default: return COINCTL_EXIT_USAGE;
    }
  }
  if (help) {
    fputs(tap_usage, stdout);
    return COINCTL_EXIT_OK;
  }
  if (argc - optind > 1)
    return coinctl_fail("tap", COINCTL_EXIT_USAGE,
                        "one SUBJECT at most, got \"%s\" and \"%s\"",
                        argv[optind], argv[optind + 1]);
  const char *subject = optind < argc ? argv[optind] : "coin.>";

  if (coinctl_connect(&bus, ctl) != 0) {
    rc = coinctl_fail_last("tap", COINCTL_EXIT_ERROR);
    goto out;
  }
  int brc = use_stream ? coin_bus_tap_stream(&tap, bus, subject,
                                             (uint64_t)start_seq, on_msg, &st)
                       : coin_bus_tap_core(&tap, bus, subject, on_msg, &st);
  if (brc != 0) {
    rc = coinctl_fail("tap", COINCTL_EXIT_ERROR, "subscribe %s%s: %s", subject,
                      use_stream ? " (JetStream)" : "", coin_error_last());
    goto out;
  }

  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);

  int64_t deadline = timeout_s > 0
                         ? coin_mono_ms() + (int64_t)(timeout_s * 1000.0)
                         : INT64_MAX;
  bool timed_out = false;
  pthread_mutex_lock(&st.mu);
  for (;;) {
    if (st.stdout_closed || tap_interrupted ||
        (st.count_max > 0 && st.seen >= st.count_max))
      break;
    int64_t now = coin_mono_ms();
    if (now >= deadline) {
      timed_out = true;
      break;
    }
    /* Wake at least every 100 ms to notice signals. */
    int64_t wait_ms = deadline - now < 100 ? deadline - now : 100;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    ts.tv_sec += wait_ms / 1000 + ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(&st.cond, &st.mu, &ts);
  }
  int64_t seen = st.seen;
  pthread_mutex_unlock(&st.mu);

  if (timed_out && st.count_max > 0)
    rc = coinctl_fail("tap", COINCTL_EXIT_ERROR,
                      "timeout after %g s with %lld of %lld messages on %s",
                      timeout_s, (long long)seen, (long long)st.count_max,
                      subject);
out:
  coin_bus_tap_free(tap);
  coin_bus_free(bus);
  return rc;
}
