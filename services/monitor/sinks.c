/*
 * sinks.c: alert delivery. Every sink (generic webhook, Slack-compatible
 * webhook, Alertmanager v2) has its own durable pull consumer on stream
 * COIN_ALERTS and its own thread and HTTP client, so a dead sink holds back
 * only its own queue. A message is acked only after the sink answered 2xx;
 * failures are retried with exponential backoff (jitter, capped), in order,
 * while the message is kept alive with in-progress acks. Alertmanager also
 * gets the active alerts re-sent periodically (endsAt = now + 4 x period).
 * The webhook is signed over a fresh timestamp and the body per attempt;
 * Slack gets one Block Kit message per incident wave (receivers.c builds
 * it; every alert of the wave is acked only after that message's 2xx).
 * Payload formats: docs/monitor.md.
 * Thread model: one thread per sink; the sink struct's counters are atomics
 * read by /metrics.
 */
#include "monitor_int.h"

#include "coin/clock.h"
#include "coin/error.h"
#include "coin/log.h"
#include "coin/redact.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A message held by a sink that died is redelivered after the ack wait:
 * short enough that a restart resumes soon, longer than one attempt. While a
 * live sink retries, in-progress acks every third of it keep the message. */
static int64_t ack_wait_ms(const struct monitor_config *cfg) {
  return cfg->sink_timeout_ms + 5000 > 10000 ? cfg->sink_timeout_ms + 5000
                                             : 10000;
}
#define SINK_BODY_MAX_BYTES 65536 /* response bodies we read */

static const char *kind_name(enum mon_sink_kind k) {
  switch (k) {
  case MON_SINK_WEBHOOK: return "webhook";
  case MON_SINK_SLACK: return "slack";
  default: return "alertmanager";
  }
}

/* ---- payloads ----------------------------------------------------------- */

static bool is_series(const struct coin_alert *a) {
  return a->exchange[0] != '\0';
}

/* The webhook payload of one alert (docs/monitor.md, "Generic webhook"). */
static int sink_webhook_body(char **out, size_t *out_len,
                             const struct coin_alert *a, const char *msg_id) {
  struct coin_jbuf b = {0};
  coin_jbuf_putn(&b, "{", 1);
  coin_jbuf_kint(&b, "schema_version", 1);
  coin_jbuf_kstr(&b, "msg_id", msg_id);
  coin_jbuf_kstr(&b, "alert_id", a->alert_id);
  coin_jbuf_kstr(&b, "alertname", a->alertname);
  coin_jbuf_kstr(&b, "status", coin_codec_alert_status_name(a->status));
  coin_jbuf_kstr(&b, "severity", coin_codec_severity_name(a->severity));
  coin_jbuf_kstr(&b, "state",
                 a->state == COIN_STATE_UNSPECIFIED
                     ? NULL
                     : coin_codec_state_name(a->state));
  coin_jbuf_kstr(&b, "exchange", is_series(a) ? a->exchange : NULL);
  coin_jbuf_kstr(&b, "symbol", is_series(a) ? a->symbol : NULL);
  coin_jbuf_kstr(&b, "timeframe", is_series(a) ? coin_tf_name(a->tf) : NULL);
  coin_jbuf_ktime(&b, "starts_at", a->starts_at_ms);
  coin_jbuf_kint(&b, "starts_at_ms", a->starts_at_ms);
  coin_jbuf_ktime(&b, "ends_at", a->has_ends_at_ms ? a->ends_at_ms : -1);
  coin_jbuf_kint_or_null(&b, "ends_at_ms",
                         a->has_ends_at_ms ? a->ends_at_ms : -1);
  coin_jbuf_kint(&b, "repeat_count", a->repeat_count);
  coin_jbuf_kstr(&b, "summary", a->summary);
  coin_jbuf_key(&b, "labels");
  coin_jbuf_putn(&b, "{", 1);
  for (size_t i = 0; i < a->n_labels; i++)
    coin_jbuf_kstr(&b, a->labels[i].name, a->labels[i].value);
  coin_jbuf_trim_comma(&b);
  coin_jbuf_putn(&b, "},", 2);
  coin_jbuf_kstr(&b, "producer_id", a->producer_id);
  coin_jbuf_trim_comma(&b);
  coin_jbuf_putn(&b, "}", 1);
  return coin_jbuf_finish(out, out_len, &b);
}

/* One Alertmanager alert: labels from the message (alertname and severity
 * always present), severity/state overridable for the pre-escalation label
 * set; endsAt < 0 leaves it out. */
static void am_entry(struct coin_jbuf *b, const struct coin_alert *a,
                     const char *severity, const char *state, int64_t starts,
                     int64_t ends, const char *generator) {
  coin_jbuf_putn(b, "{\"labels\":{", 11);
  bool has_name = false, has_sev = false;
  for (size_t i = 0; i < a->n_labels; i++) {
    const char *n = a->labels[i].name, *v = a->labels[i].value;
    if (!strcmp(n, "severity")) {
      v = severity;
      has_sev = true;
    } else if (!strcmp(n, "state") && state) {
      v = state;
    } else if (!strcmp(n, "alertname")) {
      has_name = true;
    }
    coin_jbuf_kstr(b, n, v);
  }
  if (!has_name)
    coin_jbuf_kstr(b, "alertname", a->alertname);
  if (!has_sev)
    coin_jbuf_kstr(b, "severity", severity);
  coin_jbuf_trim_comma(b);
  coin_jbuf_putn(b, "},\"annotations\":{", 17);
  coin_jbuf_kstr(b, "summary", a->summary);
  coin_jbuf_kstr(b, "alert_id", a->alert_id);
  coin_jbuf_printf(b, "\"repeat_count\":\"%u\"", (unsigned)a->repeat_count);
  coin_jbuf_putn(b, "},", 2);
  coin_jbuf_ktime(b, "startsAt", starts);
  if (ends >= 0)
    coin_jbuf_ktime(b, "endsAt", ends);
  if (generator && generator[0])
    coin_jbuf_kstr(b, "generatorURL", generator);
  coin_jbuf_trim_comma(b);
  coin_jbuf_putn(b, "},", 2);
}

/* Alertmanager identifies an alert by its labels, and escalation changes
 * severity and state: the escalated label set fires while the one it came
 * from is resolved, so Alertmanager never shows both. */
static void am_entries(struct coin_jbuf *b, const struct monitor_config *cfg,
                       const struct coin_alert *a, int64_t now_ms,
                       int64_t resend_ms) {
  /* generatorURL: the series page, else the status document, else none */
  char gen[MON_LINK_BYTES];
  mon_link_generator(gen, cfg, a);
  const char *sev = coin_codec_severity_name(a->severity);
  const char *st = a->state == COIN_STATE_UNSPECIFIED
                       ? NULL
                       : coin_codec_state_name(a->state);
  int64_t ends = a->status == COIN_ALERT_RESOLVED
                     ? (a->has_ends_at_ms ? a->ends_at_ms : now_ms)
                     : now_ms + 4 * resend_ms;
  if (ends < a->starts_at_ms)
    ends = a->starts_at_ms;
  am_entry(b, a, sev, st, a->starts_at_ms, ends, gen);
  enum coin_fresh_state base = eval_base(a->state);
  if (base != a->state && (!strcmp(a->alertname, "CoinSoftStale") ||
                           !strcmp(a->alertname, "CoinHardStale"))) {
    int64_t end = a->status == COIN_ALERT_RESOLVED ? ends : now_ms;
    am_entry(b, a, coin_codec_severity_name(eval_severity(base)),
             coin_codec_state_name(base), a->starts_at_ms,
             end < a->starts_at_ms ? a->starts_at_ms : end, gen);
  }
}

int sink_am_body(char **out, size_t *out_len, const struct monitor_config *cfg,
                 const struct coin_alert *a, int64_t now_ms,
                 int64_t resend_ms) {
  struct coin_jbuf b = {0};
  coin_jbuf_putn(&b, "[", 1);
  am_entries(&b, cfg, a, now_ms, resend_ms);
  coin_jbuf_trim_comma(&b);
  coin_jbuf_putn(&b, "]", 1);
  return coin_jbuf_finish(out, out_len, &b);
}

/* ---- setup -------------------------------------------------------------- */

static char *redacted(const char *url) {
  size_t cap = strlen(url) + 64;
  char *out = malloc(cap);
  if (out)
    coin_redact_urls(out, cap, url);
  return out;
}

static int add_sink(struct monitor *m, enum mon_sink_kind kind, const char *url,
                    size_t url_len, int ordinal) {
  if (m->n_sinks >= MON_MAX_SINKS)
    return coin_error_set(COIN_ETOOBIG,
                          "too many alert sinks (rule: at most %d in all)",
                          MON_MAX_SINKS);
  struct mon_sink *k = &m->sinks[m->n_sinks];
  memset(k, 0, sizeof(*k));
  k->m = m;
  k->kind = kind;
  if (ledger_init(&k->ledger) != 0)
    return coin_error_set(COIN_EINTERNAL, "sink ledger lock");
  snprintf(k->name, sizeof(k->name), "%s-%d", kind_name(kind), ordinal);
  char *u = strndup(url, url_len);
  if (u == NULL)
    return coin_error_set(COIN_ENOMEM, "out of memory");
  char hash[COIN_SHA256_HEX_BYTES];
  coin_sha256_hex(hash, u, strlen(u));
  snprintf(k->durable, sizeof(k->durable), "monitor_%s_%.12s", kind_name(kind),
           hash);
  if (kind == MON_SINK_ALERTMANAGER) {
    size_t n = strlen(u);
    while (n > 0 && u[n - 1] == '/')
      u[--n] = '\0';
    const char *suffix = "/api/v2/alerts";
    if (n < strlen(suffix) || strcmp(u + n - strlen(suffix), suffix) != 0) {
      char *full = malloc(n + strlen(suffix) + 1);
      if (full == NULL) {
        free(u);
        return coin_error_set(COIN_ENOMEM, "out of memory");
      }
      memcpy(full, u, n);
      memcpy(full + n, suffix, strlen(suffix) + 1);
      free(u);
      u = full;
    }
  }
  k->url = u;
  k->log_url = redacted(u); /* Slack: the token path becomes stars */
  if (k->log_url == NULL)
    return coin_error_set(COIN_ENOMEM, "out of memory");
  m->n_sinks++;
  return 0;
}

static int add_list(struct monitor *m, enum mon_sink_kind kind,
                    const char *list) {
  int ordinal = 0;
  for (const char *p = list; p && *p;) {
    const char *comma = strchr(p, ',');
    size_t n = comma ? (size_t)(comma - p) : strlen(p);
    int rc = add_sink(m, kind, p, n, ordinal++);
    if (rc != 0)
      return rc;
    p = comma ? comma + 1 : p + n;
  }
  return 0;
}

/* Creates the sink's durable consumer before any alert can be published by
 * this process. A consumer new to the server starts after the messages
 * already in the stream: a sink added later does not get old alerts. */
static int ensure_consumer(struct monitor *m, struct mon_sink *k,
                           uint64_t *skip_until) {
  struct coin_bus_consumer_info ci;
  struct coin_bus_stream_info si;
  *skip_until = 0;
  int rc = coin_bus_consumer_info(&ci, m->bus, COIN_STREAM_ALERTS, k->durable);
  bool fresh = rc == COIN_ENOTFOUND;
  if (rc != 0 && !fresh)
    return rc;
  if (fresh) {
    rc = coin_bus_stream_info(&si, m->bus, COIN_STREAM_ALERTS);
    if (rc != 0)
      return rc;
    *skip_until = si.last_seq;
  }
  struct coin_bus_consumer_config cc = {.stream = COIN_STREAM_ALERTS,
                                        .durable = k->durable,
                                        .filter_subject = "coin.alerts.>",
                                        .ack_wait_ms = ack_wait_ms(m->cfg),
                                        .max_deliver = 0,
                                        .max_ack_pending = 1};
  /* Slack holds a whole incident wave unacked until its message is sent */
  if (k->kind == MON_SINK_SLACK)
    cc.max_ack_pending = MON_SLACK_WAVE_MAX;
  return coin_bus_consumer_ensure(NULL, m->bus, &cc);
}

int sinks_setup(struct monitor *m) {
  const struct monitor_config *cfg = m->cfg;
  int rc = 0;
  if (!m->sinks_listed) { /* once: a retried setup only ensures consumers */
    if ((rc = add_list(m, MON_SINK_WEBHOOK, cfg->webhook_urls)) != 0 ||
        (rc = add_list(m, MON_SINK_SLACK, cfg->slack_urls)) != 0 ||
        (rc = add_list(m, MON_SINK_ALERTMANAGER, cfg->alertmanager_urls)) != 0)
      return rc;
    m->sinks_listed = true;
  }
  for (size_t i = 0; i < m->n_sinks; i++) {
    rc = ensure_consumer(m, &m->sinks[i], &m->sinks[i].skip_until);
    if (rc != 0)
      return coin_error_wrap(rc, "consumer %s of stream %s",
                             m->sinks[i].durable, COIN_STREAM_ALERTS);
    COIN_LOG_INFO("alert sink", COIN_LOG_STR("sink", m->sinks[i].name),
                  COIN_LOG_STR("url", m->sinks[i].log_url),
                  COIN_LOG_STR("consumer", m->sinks[i].durable),
                  COIN_LOG_UINT("skip_until_seq", m->sinks[i].skip_until));
  }
  return 0;
}

/* ---- delivery ----------------------------------------------------------- */

static uint64_t jitter_state(void) {
  static _Thread_local uint64_t x;
  if (x == 0) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    x = (uint64_t)ts.tv_nsec ^ ((uint64_t)(uintptr_t)&x << 7) ^ 0x9e3779b9;
  }
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return x;
}

static int64_t backoff_ms(const struct monitor_config *cfg, int attempt) {
  int64_t d = cfg->retry_base_ms;
  int64_t cap = cfg->retry_max_seconds * 1000;
  for (int i = 1; i < attempt && d < cap; i++)
    d *= 2;
  if (d > cap)
    d = cap;
  /* jitter in [d/2, d] */
  return d / 2 + (int64_t)(jitter_state() % (uint64_t)(d / 2 + 1));
}

static bool permanent_4xx(long status) {
  return status >= 400 && status < 500 && status != 408 && status != 425 &&
         status != 429;
}

/* Builds method-specific request body and headers. */
struct request {
  char *body;
  size_t len;
  const char *headers[7];
  char ts[64];
  char sig[COIN_WEBHOOK_SIGNATURE_BYTES + 32];
  char idem[COIN_CODEC_MSG_ID_BYTES + 32];
  char aid[COIN_CODEC_ALERT_ID_BYTES + 32];
};

/* The signature covers the timestamp and the body ("<ts>.<body>"), so a
 * receiver can refuse a captured request replayed later (docs/monitor.md:
 * window COIN_WEBHOOK_TOLERANCE_SECONDS). Each attempt is signed afresh:
 * a retry after minutes of outage still falls inside the window. */
int sink_webhook_sign(char ts_header[64],
                      char sig_header[COIN_WEBHOOK_SIGNATURE_BYTES + 32],
                      const char *secret, int64_t ts_seconds, const char *body,
                      size_t len) {
  char sig[COIN_WEBHOOK_SIGNATURE_BYTES];
  int rc = coin_hmac_webhook_sign(sig, secret, strlen(secret), ts_seconds, body,
                                  len);
  if (rc != 0)
    return rc;
  snprintf(ts_header, 64, "X-Coin-Timestamp: %lld", (long long)ts_seconds);
  snprintf(sig_header, COIN_WEBHOOK_SIGNATURE_BYTES + 32,
           "X-Coin-Signature: %s", sig);
  return 0;
}

/* The request of one attempt: alert a (n alerts in one Slack message; the
 * other kinds send one) with msg_id, the first one's. */
static int build_request(struct request *r, const struct mon_sink *k,
                         const struct coin_alert *a, size_t n,
                         const char *msg_id, int64_t now_ms) {
  const struct monitor_config *cfg = k->m->cfg;
  int rc, h = 0;
  memset(r, 0, sizeof(*r));
  r->headers[h++] = "Content-Type: application/json";
  if (k->kind == MON_SINK_WEBHOOK) {
    rc = sink_webhook_body(&r->body, &r->len, a, msg_id);
    if (rc != 0)
      return rc;
    rc = sink_webhook_sign(r->ts, r->sig, cfg->webhook_secret, now_ms / 1000,
                           r->body, r->len);
    if (rc != 0)
      return rc;
    snprintf(r->idem, sizeof(r->idem), "Idempotency-Key: %s", msg_id);
    snprintf(r->aid, sizeof(r->aid), "X-Coin-Alert-Id: %s", a->alert_id);
    r->headers[h++] = r->ts;
    r->headers[h++] = r->sig;
    r->headers[h++] = r->idem;
    r->headers[h++] = r->aid;
  } else if (k->kind == MON_SINK_SLACK) {
    rc = sink_slack_body(&r->body, &r->len, cfg, a, n);
    if (rc != 0)
      return rc;
  } else {
    rc = sink_am_body(&r->body, &r->len, cfg, a, now_ms,
                      cfg->am_resend_seconds * 1000);
    if (rc != 0)
      return rc;
  }
  r->headers[h] = NULL;
  return 0;
}

static int post(struct mon_sink *k, struct coin_http *http, const char *body,
                size_t len, const char *const *headers, long *status) {
  struct coin_http_response resp = {0};
  int rc = coin_http_request(http, &resp, "POST", k->url, headers, body, len);
  *status = rc == 0 ? resp.status : 0;
  atomic_store(&k->last_status, (int)*status);
  coin_http_response_clear(&resp);
  if (rc == 0 && (*status < 200 || *status > 299))
    rc = coin_error_set(*status >= 500 ? COIN_EUNAVAIL : COIN_EREJECTED,
                        "%s answered HTTP %ld", k->name, *status);
  return rc;
}

/* Waits out the backoff after a failed attempt, keeping what the sink holds
 * alive with keep(ctx) every keepalive_ms; false when the monitor stops
 * meanwhile (the caller gives the message(s) back). */
static bool backoff_wait(struct mon_sink *k, int attempt, int64_t *keepalive_at,
                         int64_t keepalive_ms, void (*keep)(void *),
                         void *ctx) {
  struct monitor *m = k->m;
  int64_t wait_until = coin_mono_ms() + backoff_ms(m->cfg, attempt);
  while (coin_mono_ms() < wait_until) {
    if (atomic_load(&m->sinks_stop))
      return false;
    if (coin_mono_ms() >= *keepalive_at) {
      keep(ctx);
      *keepalive_at = coin_mono_ms() + keepalive_ms;
    }
    int64_t left = wait_until - coin_mono_ms();
    mon_sleep_unless(&m->sinks_stop, left > 100 ? 100 : left);
  }
  return true;
}

/* What one delivery sends and settles: one alert, or a Slack wave. */
struct batch {
  struct coin_bus_msg **msgs;
  const struct coin_alert *alerts;
  char (*msg_ids)[COIN_CODEC_MSG_ID_BYTES];
  size_t n;
};

static void keep_batch(void *ctx) {
  const struct batch *b = ctx;
  for (size_t i = 0; i < b->n; i++)
    coin_bus_msg_in_progress(b->msgs[i]);
}

/* One alert the sink accepted. */
static void settle_delivered(struct mon_sink *k, struct coin_bus_msg *msg,
                             const char *msg_id, int attempts) {
  int arc = coin_bus_msg_ack(msg);
  atomic_fetch_add(&k->delivered, 1);
  atomic_store(&k->last_success_ms, coin_now_ms());
  delivery_settle(k, msg_id, true, coin_bus_msg_timestamp_ms(msg));
  if (arc != 0)
    COIN_LOG_WARN("ack failed: the sink may get this alert again",
                  COIN_LOG_STR("sink", k->name), COIN_LOG_STR("msg_id", msg_id),
                  COIN_LOG_RC(arc));
  COIN_LOG_DEBUG("alert delivered", COIN_LOG_STR("sink", k->name),
                 COIN_LOG_STR("msg_id", msg_id),
                 COIN_LOG_INT("attempts", attempts));
}

/* One alert the sink refused for good. */
static void settle_dropped(struct mon_sink *k, struct coin_bus_msg *msg,
                           const char *msg_id, long status, int attempts) {
  atomic_fetch_add(&k->dropped, 1);
  delivery_settle(k, msg_id, false, coin_bus_msg_timestamp_ms(msg));
  COIN_LOG_ERROR("alert refused by sink: given up",
                 COIN_LOG_STR("sink", k->name), COIN_LOG_STR("msg_id", msg_id),
                 COIN_LOG_INT("status", status),
                 COIN_LOG_INT("attempts", attempts));
  coin_bus_msg_term(msg);
}

/* Sends b as one request until the sink takes it (backoff, in-progress
 * acks so that no attempt outlasts the ack wait, 4xx give-up), then
 * settles every alert of it: acked after the 2xx, terminated when refused
 * for good, nak'ed at shutdown. Each attempt builds its request afresh (a
 * webhook is signed per attempt). Returns the attempts when delivered,
 * else 0. */
static int send_batch(struct mon_sink *k, struct coin_http *http,
                      struct batch *b) {
  struct monitor *m = k->m;
  int64_t keepalive_ms = ack_wait_ms(m->cfg) / 3;
  int64_t keepalive_at = coin_mono_ms() + keepalive_ms;
  for (int attempt = 1;; attempt++) {
    struct request r;
    long status = 0;
    if (attempt > 1) {
      keep_batch(b);
      keepalive_at = coin_mono_ms() + keepalive_ms;
    }
    int rc =
        build_request(&r, k, b->alerts, b->n, b->msg_ids[0], coin_now_ms());
    if (rc == 0)
      rc = post(k, http, r.body, r.len, r.headers, &status);
    free(r.body);
    if (rc == 0) {
      for (size_t i = 0; i < b->n; i++)
        settle_delivered(k, b->msgs[i], b->msg_ids[i], attempt);
      return attempt;
    }
    atomic_fetch_add(&k->attempts_failed, 1);
    atomic_store(&k->last_failure_ms, coin_now_ms());
    if (attempt == 1 || attempt % 10 == 0)
      COIN_LOG_WARN(
          "alert delivery failed (will retry)", COIN_LOG_STR("sink", k->name),
          COIN_LOG_STR("url", k->log_url),
          COIN_LOG_STR("msg_id", b->msg_ids[0]), COIN_LOG_UINT("alerts", b->n),
          COIN_LOG_INT("attempt", attempt), COIN_LOG_RC(rc));
    if (permanent_4xx(status) && attempt >= m->cfg->give_up_4xx_attempts) {
      for (size_t i = 0; i < b->n; i++)
        settle_dropped(k, b->msgs[i], b->msg_ids[i], status, attempt);
      return 0;
    }
    if (!backoff_wait(k, attempt, &keepalive_at, keepalive_ms, keep_batch, b)) {
      for (size_t i = 0; i < b->n; i++)
        coin_bus_msg_nak(b->msgs[i], 0);
      return 0;
    }
  }
}

/* Decodes msg into a and msg_id, or settles it at once: older than the
 * sink (acked, skipped) or undecodable (terminated, dropped). True when it
 * is to be sent. */
static bool admit(struct mon_sink *k, struct coin_bus_msg *msg,
                  uint64_t skip_until, struct coin_alert *a,
                  char msg_id[COIN_CODEC_MSG_ID_BYTES]) {
  uint64_t seq = coin_bus_msg_stream_seq(msg);
  if (seq != 0 && seq <= skip_until) {
    coin_bus_msg_ack(msg);
    atomic_fetch_add(&k->skipped, 1);
    return false;
  }
  int rc =
      coin_codec_unpack_alert(a, coin_bus_msg_data(msg), coin_bus_msg_len(msg));
  if (rc == 0)
    rc = coin_codec_alert_msg_id(msg_id, COIN_CODEC_MSG_ID_BYTES, a);
  if (rc != 0) {
    atomic_fetch_add(&k->dropped, 1);
    COIN_LOG_ERROR("undecodable alert dropped", COIN_LOG_STR("sink", k->name),
                   COIN_LOG_STR("subject", coin_bus_msg_subject(msg)),
                   COIN_LOG_UINT("stream_seq", seq), COIN_LOG_RC(rc));
    coin_bus_msg_term(msg);
    return false;
  }
  return true;
}

static void deliver(struct mon_sink *k, struct coin_http *http,
                    struct coin_bus_msg *msg, uint64_t skip_until) {
  struct coin_alert a;
  char msg_id[COIN_CODEC_MSG_ID_BYTES];
  if (!admit(k, msg, skip_until, &a, msg_id))
    return;
  struct batch b = {.msgs = &msg, .alerts = &a, .msg_ids = &msg_id, .n = 1};
  send_batch(k, http, &b);
}

/* ---- Slack: one message per incident wave -------------------------------
 * A pass that finds 25 series late produces 25 alerts within milliseconds;
 * a person wants one message. The Slack sink takes the first alert, keeps
 * fetching for MONITOR_SLACK_GROUP_MS (its consumer allows
 * MON_SLACK_WAVE_MAX unacked), then sends one Block Kit message for all of
 * them (receivers.c) and settles each alert on that message's outcome: all
 * acked (delivered) after the 2xx, all terminated (dropped) when the sink
 * refuses it for good, all nak'ed at shutdown. Never acked before. */

struct wave {
  struct coin_bus_msg *msgs[MON_SLACK_WAVE_MAX];
  struct coin_alert *alerts; /* MON_SLACK_WAVE_MAX, malloc'd once */
  char (*msg_ids)[COIN_CODEC_MSG_ID_BYTES];
  size_t n;
};

static int wave_init(struct wave *w) {
  memset(w, 0, sizeof(*w));
  w->alerts = calloc(MON_SLACK_WAVE_MAX, sizeof(*w->alerts));
  w->msg_ids = calloc(MON_SLACK_WAVE_MAX, sizeof(*w->msg_ids));
  if (w->alerts == NULL || w->msg_ids == NULL)
    return coin_error_set(COIN_ENOMEM, "Slack wave: out of memory");
  return 0;
}

static void wave_free(struct wave *w) {
  free(w->alerts);
  free(w->msg_ids);
  w->alerts = NULL;
  w->msg_ids = NULL;
}

/* Takes msg into the wave, or settles it at once: older than the sink
 * (acked, skipped) or undecodable (terminated, dropped). */
static void wave_admit(struct mon_sink *k, struct wave *w,
                       struct coin_bus_msg *msg, uint64_t skip_until) {
  if (admit(k, msg, skip_until, &w->alerts[w->n], w->msg_ids[w->n]))
    w->msgs[w->n++] = msg;
  else
    coin_bus_msg_free(msg);
}

static void wave_keepalive(struct wave *w) {
  for (size_t i = 0; i < w->n; i++)
    coin_bus_msg_in_progress(w->msgs[i]);
}

/* Collects the wave that first opened: until MONITOR_SLACK_GROUP_MS after
 * it, or MON_SLACK_WAVE_MAX alerts, or shutdown. */
static void wave_collect(struct mon_sink *k, struct coin_bus_sub *sub,
                         struct wave *w, struct coin_bus_msg *first,
                         uint64_t skip_until) {
  struct monitor *m = k->m;
  int64_t end = coin_mono_ms() + m->cfg->slack_group_ms;
  int64_t keepalive_ms = ack_wait_ms(m->cfg) / 3;
  int64_t keepalive_at = coin_mono_ms() + keepalive_ms;
  wave_admit(k, w, first, skip_until);
  /* window 0 still takes what is queued already (1 ms fetches) */
  bool queued_only = m->cfg->slack_group_ms == 0;
  while (w->n < MON_SLACK_WAVE_MAX && !atomic_load(&m->sinks_stop)) {
    int64_t left = end - coin_mono_ms();
    if (left <= 0 && !queued_only)
      break;
    if (coin_mono_ms() >= keepalive_at) {
      wave_keepalive(w);
      keepalive_at = coin_mono_ms() + keepalive_ms;
    }
    struct coin_bus_msg *got[64];
    size_t room = MON_SLACK_WAVE_MAX - w->n, n = 0;
    int max = room < 64 ? (int)room : 64;
    int rc = coin_bus_fetch(got, &n, sub, max,
                            queued_only ? 1 : (left < 250 ? left : 250));
    if (rc != 0 || n == 0) {
      if (queued_only || (rc != 0 && rc != COIN_ETIMEOUT))
        break; /* a broken subscription: send what we have */
      continue;
    }
    for (size_t i = 0; i < n; i++)
      wave_admit(k, w, got[i], skip_until);
  }
}

/* Sends the wave as one message, retried like a single alert, then
 * settles every alert in it (send_batch). */
static void wave_deliver(struct mon_sink *k, struct coin_http *http,
                         struct wave *w) {
  struct batch b = {
      .msgs = w->msgs, .alerts = w->alerts, .msg_ids = w->msg_ids, .n = w->n};
  int attempts = send_batch(k, http, &b);
  if (attempts > 0)
    COIN_LOG_DEBUG("Slack wave delivered", COIN_LOG_STR("sink", k->name),
                   COIN_LOG_UINT("alerts", w->n),
                   COIN_LOG_INT("attempts", attempts));
}

/* The Slack sink's step for a fetched message: its wave, collected, sent
 * and settled; every message of it freed. */
static void slack_wave(struct mon_sink *k, struct coin_http *http,
                       struct coin_bus_sub *sub, struct wave *w,
                       struct coin_bus_msg *first, uint64_t skip_until) {
  w->n = 0;
  wave_collect(k, sub, w, first, skip_until);
  if (w->n > 0) {
    if (atomic_load(&k->m->sinks_stop)) {
      for (size_t i = 0; i < w->n; i++)
        coin_bus_msg_nak(w->msgs[i], 0);
    } else {
      wave_deliver(k, http, w);
    }
  }
  for (size_t i = 0; i < w->n; i++)
    coin_bus_msg_free(w->msgs[i]);
  w->n = 0;
}

/* The dead-man switch (the Prometheus Watchdog convention): an alert that
 * always fires while the evaluation loop is healthy, re-sent with the
 * others. If the monitor dies or its loop is stuck it stops being
 * refreshed and Alertmanager ends it at endsAt; the Watchdog route
 * (deploy/alertmanager/alertmanager.yml) sends it to a dead-man receiver
 * that pages when the heartbeats stop. */
static void am_watchdog(struct coin_jbuf *b, const struct monitor *m,
                        int64_t now_ms, int64_t resend_ms) {
  coin_jbuf_putn(b, "{\"labels\":{", 11);
  coin_jbuf_kstr(b, "alertname", "Watchdog");
  coin_jbuf_kstr(b, "severity", "none");
  coin_jbuf_kstr(b, "exchange", m->cfg->core.exchange);
  coin_jbuf_kstr(b, "producer_id", m->producer_id);
  coin_jbuf_trim_comma(b);
  coin_jbuf_putn(b, "},\"annotations\":{", 17);
  coin_jbuf_kstr(b, "summary",
                 "coin-monitor is alive and evaluating; this alert always "
                 "fires, its absence means the monitor is dead or stuck");
  coin_jbuf_trim_comma(b);
  coin_jbuf_putn(b, "},", 2);
  coin_jbuf_ktime(b, "startsAt", m->started_ms);
  coin_jbuf_ktime(b, "endsAt", now_ms + 4 * resend_ms);
  coin_jbuf_trim_comma(b);
  coin_jbuf_putn(b, "},", 2);
}

/* Re-sends every active alert (series and global) to Alertmanager, and the
 * Watchdog while the evaluation loop is healthy. A pass stuck holding
 * m->lock costs the series alerts of this round, not the sink thread. */
static int am_resend(struct mon_sink *k, struct coin_http *http) {
  struct monitor *m = k->m;
  struct coin_jbuf b = {0};
  struct coin_alert a;
  int64_t now = coin_now_ms();
  int64_t resend_ms = m->cfg->am_resend_seconds * 1000;
  size_t n = 0;
  bool watchdog = atomic_load(&m->evaluated) && mon_loop_healthy(m, NULL);
  coin_jbuf_putn(&b, "[", 1);
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 2;
  if (pthread_mutex_timedlock(&m->lock, &until) == 0) {
    for (size_t i = 0; i < m->n_series; i++) {
      const struct mon_series *s = &m->series[i];
      const struct mon_alert *al[2] = {&s->alert, &s->dalert};
      for (int j = 0; j < 2; j++) {
        if (!al[j]->active)
          continue;
        char summary[COIN_CODEC_TEXT_BYTES];
        if (j == 0)
          snprintf(summary, sizeof(summary), "%s %s %s is %s: %s",
                   m->cfg->core.exchange, s->symbol, coin_tf_name(s->tf),
                   coin_codec_state_name(s->state), s->detail);
        else
          snprintf(summary, sizeof(summary),
                   "%s %s %s prediction path degraded", m->cfg->core.exchange,
                   s->symbol, coin_tf_name(s->tf));
        eval_alert_fill(&a, m, s, al[j], COIN_ALERT_FIRING, now, summary);
        am_entries(&b, m->cfg, &a, now, resend_ms);
        n++;
      }
    }
    pthread_mutex_unlock(&m->lock);
  } else {
    watchdog = false;
  }
  struct mon_global g[MON_MAX_GLOBALS];
  size_t ng = mon_global_active(m, g, MON_MAX_GLOBALS);
  for (size_t i = 0; i < ng; i++) {
    mon_global_fill(&a, m, &g[i], COIN_ALERT_FIRING, now);
    am_entries(&b, m->cfg, &a, now, resend_ms);
    n++;
  }
  if (watchdog) {
    am_watchdog(&b, m, now, resend_ms);
    n++;
  }
  coin_jbuf_trim_comma(&b);
  coin_jbuf_putn(&b, "]", 1);
  char *body = NULL;
  size_t len = 0;
  if (coin_jbuf_finish(&body, &len, &b) != 0 || n == 0) {
    free(body);
    return n == 0 ? 0 : COIN_ENOMEM;
  }
  const char *headers[] = {"Content-Type: application/json", NULL};
  long status = 0;
  int rc = post(k, http, body, len, headers, &status);
  free(body);
  if (rc == 0) {
    atomic_fetch_add(&k->resends, 1);
    if (watchdog)
      atomic_fetch_add(&k->watchdogs, 1);
  } else {
    COIN_LOG_WARN("Alertmanager resend failed", COIN_LOG_STR("sink", k->name),
                  COIN_LOG_UINT("alerts", n), COIN_LOG_RC(rc));
  }
  return watchdog && rc == 0 ? 1 : 0;
}

static void refresh_backlog(struct mon_sink *k) {
  struct coin_bus_consumer_info ci;
  if (coin_bus_consumer_info(&ci, k->m->bus, COIN_STREAM_ALERTS, k->durable) ==
      0)
    atomic_store(&k->backlog,
                 (int64_t)ci.num_pending + (int64_t)ci.num_ack_pending);
}

static void *sink_main(void *arg) {
  struct mon_sink *k = arg;
  struct monitor *m = k->m;
  uint64_t skip_until = k->skip_until;
  struct coin_http *http = NULL;
  struct coin_bus_sub *sub = NULL;
  struct coin_http_opts ho = {
      .connect_timeout_ms =
          m->cfg->sink_timeout_ms < 5000 ? m->cfg->sink_timeout_ms : 5000,
      .timeout_ms = m->cfg->sink_timeout_ms,
      .max_body_bytes = SINK_BODY_MAX_BYTES,
      .user_agent = "coin-monitor"};
  int64_t next_resend = coin_mono_ms() + m->cfg->am_resend_seconds * 1000;
  int64_t next_backlog = 0;
  bool watchdog_sent = false;
  int64_t next_first = 0;
  int fails = 0;
  struct wave wave = {0};
  if (coin_http_new(&http, &ho) != 0 ||
      (k->kind == MON_SINK_SLACK && wave_init(&wave) != 0)) {
    COIN_LOG_ERROR("sink without HTTP client", COIN_LOG_STR("sink", k->name),
                   COIN_LOG_STR("error", coin_error_last()));
    wave_free(&wave);
    coin_http_free(http);
    return NULL;
  }
  while (!atomic_load(&m->sinks_stop)) {
    if (sub == NULL) {
      int rc = coin_bus_sub_bind(&sub, m->bus, COIN_STREAM_ALERTS, k->durable);
      if (rc == COIN_ENOTFOUND) /* deleted by an operator: create again */
        rc = ensure_consumer(m, k, &skip_until);
      if (rc != 0) {
        sub = NULL;
        if (fails++ % 10 == 0)
          COIN_LOG_WARN("sink cannot bind its consumer",
                        COIN_LOG_STR("sink", k->name),
                        COIN_LOG_STR("consumer", k->durable), COIN_LOG_RC(rc));
        mon_sleep_unless(&m->sinks_stop, 1000);
        continue;
      }
      fails = 0;
    }
    if (coin_mono_ms() >= next_backlog) {
      refresh_backlog(k);
      next_backlog = coin_mono_ms() + 5000;
    }
    struct coin_bus_msg *msg = NULL;
    size_t n = 0;
    int rc = coin_bus_fetch(&msg, &n, sub, 1, 500);
    if (rc == COIN_ETIMEOUT || (rc == 0 && n == 0)) {
      atomic_store(&k->backlog, 0);
      /* the first Watchdog goes out right after the first evaluation */
      if (k->kind == MON_SINK_ALERTMANAGER &&
          (coin_mono_ms() >= next_resend ||
           (!watchdog_sent && atomic_load(&m->evaluated) &&
            coin_mono_ms() >= next_first))) {
        if (am_resend(k, http) == 1)
          watchdog_sent = true;
        next_resend = coin_mono_ms() + m->cfg->am_resend_seconds * 1000;
        next_first = coin_mono_ms() + 5000;
      }
      continue;
    }
    if (rc != 0) {
      if (fails++ % 10 == 0)
        COIN_LOG_WARN("sink fetch failed", COIN_LOG_STR("sink", k->name),
                      COIN_LOG_RC(rc));
      if (rc == COIN_ECLOSED || rc == COIN_ENOTFOUND) {
        coin_bus_sub_free(sub);
        sub = NULL;
      }
      mon_sleep_unless(&m->sinks_stop, 500);
      continue;
    }
    fails = 0;
    if (wave.alerts != NULL) { /* Slack: the whole incident wave */
      slack_wave(k, http, sub, &wave, msg, skip_until);
      continue;
    }
    deliver(k, http, msg, skip_until);
    coin_bus_msg_free(msg);
  }
  wave_free(&wave);
  coin_bus_sub_free(sub);
  coin_http_free(http);
  return NULL;
}

int sinks_start(struct monitor *m) {
  for (size_t i = 0; i < m->n_sinks; i++) {
    int err =
        pthread_create(&m->sinks[i].thread, NULL, sink_main, &m->sinks[i]);
    if (err != 0)
      return coin_error_set(COIN_EINTERNAL, "sink thread %s: %s",
                            m->sinks[i].name, strerror(err));
    m->sinks[i].started = true;
  }
  return 0;
}

void sinks_stop(struct monitor *m) {
  atomic_store(&m->sinks_stop, true);
  for (size_t i = 0; i < m->n_sinks; i++) {
    if (m->sinks[i].started)
      pthread_join(m->sinks[i].thread, NULL);
    m->sinks[i].started = false;
    free(m->sinks[i].url);
    free(m->sinks[i].log_url);
    ledger_free(&m->sinks[i].ledger);
    m->sinks[i].url = m->sinks[i].log_url = NULL;
  }
  m->n_sinks = 0;
}
