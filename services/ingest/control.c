/*
 * control.c: operator requests to coin-ingest. `coinctl backfill` publishes a
 * BackfillRequest on coin.control.backfill with header Coin-Reply-To; the
 * request is checked on the NATS thread, queued, answered "accepted" (or
 * "rejected" with the reason), and run by the control thread (started here,
 * beside the scheduler's rounds), which claims the series from the
 * scheduler, answers "running" progress lines and finally "done" or
 * "failed" (JSON lines {"request_id","state","done","total"[,"error"]}; see
 * docs/protocol.md). Threads: on_request runs on a nats.c thread and only
 * touches the queue (locked); control_run runs on the control thread.
 */
#include "ingest_int.h"

#include "coin/clock.h"
#include "coin/error.h"
#include "coin/log.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define REPLY_PREFIX "coin.control.backfill.reply."

static bool reply_subject_ok(const char *s) {
  size_t plen = strlen(REPLY_PREFIX), n = s ? strlen(s) : 0;
  if (n <= plen || n >= sizeof(((struct control_req *)0)->reply) ||
      strncmp(s, REPLY_PREFIX, plen) != 0)
    return false;
  for (size_t i = plen; i < n; i++) {
    char c = s[i];
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-' || c == ':' ||
              (c == '.' && s[i - 1] != '.' && i + 1 < n);
    if (!ok)
      return false;
  }
  return true;
}

static void reply_note(struct ingest *in, const char *subject,
                       const char *request_id, const char *state, int64_t done,
                       int64_t total, const char *error, const char *note) {
  if (!subject || !subject[0])
    return;
  json_t *j =
      json_pack("{s:s, s:s, s:I, s:I}", "request_id", request_id, "state",
                state, "done", (json_int_t)done, "total", (json_int_t)total);
  if (j && error)
    json_object_set_new(j, "error", json_string(error));
  if (j && note && note[0])
    json_object_set_new(j, "note", json_string(note));
  char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  if (text && coin_bus_publish(in->bus, subject, text, strlen(text)) != 0)
    COIN_LOG_WARN("backfill reply not sent", COIN_LOG_STR("subject", subject),
                  COIN_LOG_RC(COIN_EUNAVAIL));
  free(text);
}

static void reply(struct ingest *in, const char *subject,
                  const char *request_id, const char *state, int64_t done,
                  int64_t total, const char *error) {
  reply_note(in, subject, request_id, state, done, total, error, NULL);
}

/* Cuts [*from, to] of tf to what the retention policy accepts at now; the
 * cut is said in note (empty when nothing was cut). false: nothing of the
 * range is inside it. */
static bool cut_to_retention(const struct ingest *in, enum coin_tf tf,
                             int64_t *from, int64_t to, int64_t now, char *note,
                             size_t note_bytes) {
  note[0] = '\0';
  int64_t floor = ingest_retention_floor(tf, now, in->cfg->retention_1m_days);
  if (*from >= floor)
    return true;
  char f[COIN_TF_UTC_TEXT_BYTES];
  coin_tf_format_utc(f, sizeof(f), floor);
  snprintf(note, note_bytes,
           "cut to the %s retention window: from %s "
           "(INGEST_1M_RETENTION_DAYS=%lld)",
           coin_tf_name(tf), f, (long long)in->cfg->retention_1m_days);
  *from = floor;
  return *from <= to;
}

static struct series *find_series(struct ingest *in, const char *symbol,
                                  enum coin_tf tf) {
  for (size_t i = 0; i < in->n_series; i++)
    if (in->series[i].tf == tf && strcmp(in->series[i].symbol, symbol) == 0)
      return &in->series[i];
  return NULL;
}

static void on_request(const struct coin_bus_msg *msg, void *closure) {
  struct ingest *in = closure;
  const char *reply_to = coin_bus_msg_header(msg, "Coin-Reply-To");
  if (reply_to && !reply_subject_ok(reply_to)) {
    COIN_LOG_WARN("backfill request with a bad Coin-Reply-To ignored",
                  COIN_LOG_STR("reply_to", reply_to));
    return;
  }
  struct coin_backfill_request rq;
  if (coin_codec_unpack_backfill(&rq, coin_bus_msg_data(msg),
                                 coin_bus_msg_len(msg)) != 0) {
    COIN_LOG_WARN("malformed backfill request",
                  COIN_LOG_STR("error", coin_error_last()));
    reply(in, reply_to, "", "rejected", 0, 0, coin_error_last());
    return;
  }
  const char *why = NULL;
  char buf[256];
  struct series *s = NULL;
  if (strcmp(rq.exchange, in->cfg->core.exchange) != 0) {
    snprintf(buf, sizeof(buf), "exchange %s is not this ingest's (%s)",
             rq.exchange, in->cfg->core.exchange);
    why = buf;
  } else if (!(s = find_series(in, rq.symbol, rq.tf))) {
    snprintf(buf, sizeof(buf),
             "%s %s is not configured (SYMBOLS x "
             "INGEST_TIMEFRAMES)",
             rq.symbol, coin_tf_name(rq.tf));
    why = buf;
  } else if (!members_owns(in, (size_t)(s - in->series))) {
    COIN_LOG_DEBUG("backfill request for another replica's series",
                   COIN_LOG_STR("symbol", rq.symbol));
    return; /* its owner answers */
  } else if (rq.from_ms > rq.to_ms) {
    why = "from is after to";
  }
  char note[160] = "";
  if (!why && !cut_to_retention(in, rq.tf, &rq.from_ms, rq.to_ms, coin_now_ms(),
                                note, sizeof(note))) {
    snprintf(buf, sizeof(buf),
             "the whole range is older than the %s "
             "retention window (%s)",
             coin_tf_name(rq.tf), note);
    why = buf;
  }
  int64_t total = why ? 0 : coin_tf_count(rq.tf, rq.from_ms, rq.to_ms);
  if (!why) {
    pthread_mutex_lock(&in->lock);
    if (in->n_requests >= INGEST_MAX_REQUESTS) {
      why = "too many backfill requests queued";
    } else {
      struct control_req *r = &in->requests[in->n_requests++];
      memset(r, 0, sizeof(*r));
      r->series = (size_t)(s - in->series);
      r->from_ms = rq.from_ms;
      r->to_ms = rq.to_ms;
      snprintf(r->note, sizeof(r->note), "%s", note);
      snprintf(r->request_id, sizeof(r->request_id), "%s", rq.request_id);
      snprintf(r->reply, sizeof(r->reply), "%s", reply_to ? reply_to : "");
    }
    pthread_mutex_unlock(&in->lock);
  }
  COIN_LOG_INFO(why ? "backfill request rejected" : "backfill request queued",
                COIN_LOG_STR("request_id", rq.request_id),
                COIN_LOG_STR("symbol", rq.symbol),
                COIN_LOG_STR("timeframe", coin_tf_name(rq.tf)),
                COIN_LOG_TIME("from", rq.from_ms),
                COIN_LOG_TIME("to", rq.to_ms), COIN_LOG_STR("reason", why),
                COIN_LOG_STR("note", note[0] ? note : NULL));
  reply_note(in, reply_to, rq.request_id, why ? "rejected" : "accepted", 0,
             total, why, why ? NULL : note);
}

int control_start(struct ingest *in) {
  return coin_bus_tap_core(&in->control_tap, in->bus, COIN_SUBJECT_BACKFILL,
                           on_request, in);
}

struct progress {
  struct ingest *in;
  const struct control_req *r;
  int64_t total;
  int64_t last_ms;
};

static void on_progress(void *ud, int64_t seen) {
  struct progress *p = ud;
  int64_t now = coin_now_ms();
  if (now - p->last_ms < 500)
    return;
  p->last_ms = now;
  reply(p->in, p->r->reply, p->r->request_id, "running",
        seen < p->total ? seen : p->total, p->total, NULL);
}

static bool control_pending(struct ingest *in) {
  pthread_mutex_lock(&in->lock);
  bool any = in->n_requests > 0;
  pthread_mutex_unlock(&in->lock);
  return any;
}

static void control_run(struct ingest *in) {
  for (;;) {
    struct control_req r;
    pthread_mutex_lock(&in->lock);
    bool any = in->n_requests > 0;
    if (any) {
      r = in->requests[0];
      memmove(&in->requests[0], &in->requests[1],
              (in->n_requests - 1) * sizeof(r));
      in->n_requests--;
    }
    pthread_mutex_unlock(&in->lock);
    if (!any || in->stop)
      return;
    struct series *s = &in->series[r.series];
    int64_t now = 0, stored = 0;
    if (!sched_claim(in, r.series))
      return; /* stopping */
    int rc = coin_exchange_server_time(in->control.ex, &now);
    char note[160] = "";
    if (rc == 0 && !cut_to_retention(in, s->tf, &r.from_ms, r.to_ms, now, note,
                                     sizeof(note)))
      r.from_ms = r.to_ms + 1; /* it aged out while queued: nothing left */
    if (!r.note[0])
      snprintf(r.note, sizeof(r.note), "%s", note);
    int64_t total =
        r.from_ms <= r.to_ms ? coin_tf_count(s->tf, r.from_ms, r.to_ms) : 0;
    struct progress p = {in, &r, total, 0};
    if (rc == 0 && total > 0)
      rc = sync_refill(&in->control, s, r.from_ms, r.to_ms, now, on_progress,
                       &p, &stored);
    sched_release(in, r.series);
    COIN_LOG_INFO(rc == 0 ? "backfill request done" : "backfill request failed",
                  COIN_LOG_STR("request_id", r.request_id),
                  COIN_LOG_STR("symbol", s->symbol),
                  COIN_LOG_STR("timeframe", coin_tf_name(s->tf)),
                  COIN_LOG_INT("stored", stored), COIN_LOG_INT("total", total),
                  COIN_LOG_STR("error", rc ? coin_error_last() : NULL));
    reply_note(in, r.reply, r.request_id, rc == 0 ? "done" : "failed",
               rc == 0 ? total : stored, total, rc ? coin_error_last() : NULL,
               r.note);
  }
}

/* The control thread: operator refills, beside the rounds. */
static void *control_main(void *arg) {
  struct ingest *in = arg;
  while (!in->stop && !atomic_load(&in->control_quit)) {
    if (control_pending(in)) {
      control_run(in);
      continue;
    }
    struct timespec ts = {0, 200 * 1000000L};
    nanosleep(&ts, NULL);
  }
  return NULL;
}

int control_thread_start(struct ingest *in) {
  atomic_store(&in->control_quit, false);
  if (pthread_create(&in->control.thread, NULL, control_main, in) != 0)
    return coin_error_set(COIN_EINTERNAL,
                          "ingest: cannot start the control thread (%s)",
                          strerror(errno ? errno : EAGAIN));
  in->control.started = true;
  return 0;
}

void control_thread_stop(struct ingest *in) {
  if (!in->control.started)
    return;
  atomic_store(&in->control_quit, true);
  pthread_join(in->control.thread, NULL);
  in->control.started = false;
}
