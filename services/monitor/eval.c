/*
 * eval.c: the evaluation pass and the per-series state machine.
 * fresh | soft_stale -> soft_stale_escalated | hard_stale ->
 * hard_stale_escalated | corrupt | insufficient_data, plus the separate
 * degraded flag. Alerts fire on transitions only: a new episode, an
 * escalation (same alert_id, higher severity, repeat_count + 1), a repeat of
 * an escalated alert every MONITOR_REPEAT_SECONDS, and a resolve. Every
 * step's NATS work goes to the outbox, so a pass never waits for NATS.
 * Thread model: the pass thread, under m->lock (see monitor_int.h).
 */
#include "monitor_int.h"

#include "coin/clock.h"
#include "coin/error.h"
#include "coin/file.h"
#include "coin/log.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum coin_fresh_state eval_base(enum coin_fresh_state s) {
  if (s == COIN_STATE_SOFT_STALE_ESCALATED)
    return COIN_STATE_SOFT_STALE;
  if (s == COIN_STATE_HARD_STALE_ESCALATED)
    return COIN_STATE_HARD_STALE;
  return s;
}

static bool escalated(enum coin_fresh_state s) {
  return s == COIN_STATE_SOFT_STALE_ESCALATED ||
         s == COIN_STATE_HARD_STALE_ESCALATED;
}

static const char *eval_alertname(enum coin_fresh_state base) {
  switch (base) {
  case COIN_STATE_SOFT_STALE: return "CoinSoftStale";
  case COIN_STATE_HARD_STALE: return "CoinHardStale";
  case COIN_STATE_CORRUPT: return "CoinCorrupt";
  case COIN_STATE_INSUFFICIENT_DATA: return "CoinInsufficientData";
  default: return NULL;
  }
}

enum coin_severity eval_severity(enum coin_fresh_state s) {
  switch (s) {
  case COIN_STATE_SOFT_STALE:
  case COIN_STATE_INSUFFICIENT_DATA: return COIN_SEVERITY_WARNING;
  case COIN_STATE_SOFT_STALE_ESCALATED:
  case COIN_STATE_HARD_STALE:
  case COIN_STATE_HARD_STALE_ESCALATED:
  case COIN_STATE_CORRUPT: return COIN_SEVERITY_CRITICAL;
  default: return COIN_SEVERITY_INFO;
  }
}

/* ---- building messages -------------------------------------------------- */

static void reasons_text(char *out, size_t n, unsigned bits) {
  size_t len = 0;
  out[0] = '\0';
  for (int i = 0; i < COIN_DEGRADED_REASON_COUNT; i++)
    if (bits & (1u << i)) {
      int w = snprintf(out + len, n - len, "%s%s", len ? ", " : "",
                       coin_degraded_reason_name(1u << i));
      if (w < 0 || (size_t)w >= n - len)
        break;
      len += (size_t)w;
    }
  if (len == 0)
    snprintf(out, n, "no reason given");
}

/* The series' alert as a codec struct (labels = Alertmanager's labels). */
void eval_alert_fill(struct coin_alert *a, const struct monitor *m,
                     const struct mon_series *s, const struct mon_alert *al,
                     enum coin_alert_status status, int64_t now_ms,
                     const char *summary) {
  memset(a, 0, sizeof(*a));
  snprintf(a->exchange, sizeof(a->exchange), "%s", m->cfg->core.exchange);
  snprintf(a->symbol, sizeof(a->symbol), "%s", s->symbol);
  a->tf = s->tf;
  snprintf(a->producer_id, sizeof(a->producer_id), "%s", m->producer_id);
  mon_alert_id(a->alert_id, m, s, al->alertname, al->starts_at_ms);
  snprintf(a->alertname, sizeof(a->alertname), "%s", al->alertname);
  a->severity = al->severity;
  a->state = al->state;
  a->status = status;
  a->starts_at_ms = al->starts_at_ms;
  if (status == COIN_ALERT_RESOLVED) {
    a->has_ends_at_ms = true;
    a->ends_at_ms = now_ms < al->starts_at_ms ? al->starts_at_ms : now_ms;
  }
  a->repeat_count = al->repeat_count;
  /* UTF-8 safe cut: summaries are ASCII except symbols, which are ASCII. */
  snprintf(a->summary, sizeof(a->summary), "%s", summary);
  coin_codec_label_set(a, "alertname", al->alertname);
  coin_codec_label_set(a, "severity", coin_codec_severity_name(al->severity));
  coin_codec_label_set(a, "exchange", a->exchange);
  coin_codec_label_set(a, "symbol", a->symbol);
  coin_codec_label_set(a, "timeframe", coin_tf_name(s->tf));
  coin_codec_label_set(a, "state", coin_codec_state_name(al->state));
}

/* Packs the alert into job->alerts and records it as the series' last. */
static void queue_alert(struct monitor *m, struct mon_series *s,
                        struct mon_job *job, const struct mon_alert *al,
                        enum coin_alert_status status, int64_t now_ms,
                        const char *summary) {
  struct coin_alert a;
  if (job->alerts == NULL)
    job->alerts = calloc(MON_JOB_MAX_ALERTS, sizeof(*job->alerts));
  if (job->alerts == NULL || job->n_alerts >= MON_JOB_MAX_ALERTS) {
    COIN_LOG_ERROR("alert not queued", COIN_LOG_STR("symbol", s->symbol),
                   COIN_LOG_STR("alertname", al->alertname));
    return;
  }
  struct mon_msg *msg = &job->alerts[job->n_alerts];
  eval_alert_fill(&a, m, s, al, status, now_ms, summary);
  int rc = coin_codec_alert_msg_id(msg->msg_id, sizeof(msg->msg_id), &a);
  if (rc == 0)
    rc = coin_codec_pack_alert(&msg->data, &msg->len, &a);
  if (rc != 0) {
    COIN_LOG_ERROR("alert not built", COIN_LOG_STR("symbol", s->symbol),
                   COIN_LOG_STR("timeframe", coin_tf_name(s->tf)),
                   COIN_LOG_STR("alert_id", a.alert_id), COIN_LOG_RC(rc));
    return;
  }
  job->n_alerts++;
  atomic_fetch_add(&m->c.alerts_queued, 1);
  struct mon_last_alert *la = &s->last_alert;
  la->set = true;
  snprintf(la->alertname, sizeof(la->alertname), "%s", al->alertname);
  la->starts_at_ms = al->starts_at_ms;
  la->repeat_count = al->repeat_count;
  la->status = status;
  la->severity = al->severity;
  la->state = al->state;
  la->at_ms = now_ms;
  COIN_LOG_INFO(
      "alert", COIN_LOG_STR("symbol", s->symbol),
      COIN_LOG_STR("timeframe", coin_tf_name(s->tf)),
      COIN_LOG_STR("alertname", al->alertname),
      COIN_LOG_STR("status", coin_codec_alert_status_name(status)),
      COIN_LOG_STR("severity", coin_codec_severity_name(al->severity)),
      COIN_LOG_STR("state", coin_codec_state_name(al->state)),
      COIN_LOG_UINT("repeat_count", al->repeat_count),
      COIN_LOG_STR("msg_id", msg->msg_id), COIN_LOG_STR("summary", summary));
}

static void queue_status(struct monitor *m, struct mon_series *s,
                         struct mon_job *job, enum coin_fresh_state from,
                         bool from_degraded, int64_t now_ms) {
  struct coin_status_transition st;
  memset(&st, 0, sizeof(st));
  snprintf(st.exchange, sizeof(st.exchange), "%s", m->cfg->core.exchange);
  snprintf(st.symbol, sizeof(st.symbol), "%s", s->symbol);
  st.tf = s->tf;
  snprintf(st.producer_id, sizeof(st.producer_id), "%s", m->producer_id);
  st.from_state = from;
  st.to_state = s->state;
  st.from_degraded = from_degraded;
  st.degraded = s->degraded;
  if (s->degraded)
    for (int i = 0; i < COIN_DEGRADED_REASON_COUNT; i++)
      if (s->reasons & (1u << i))
        snprintf(st.degraded_reasons[st.n_degraded_reasons++],
                 COIN_CODEC_ID_BYTES, "%s", coin_degraded_reason_name(1u << i));
  st.since_ms = s->since_ms;
  st.at_ms = now_ms;
  st.has_last_candle_open_ms = s->last_open_ms >= 0;
  st.last_candle_open_ms = s->last_open_ms;
  st.has_ingest_watermark_ms = s->ingest_wm_ms >= 0;
  st.ingest_watermark_ms = s->ingest_wm_ms;
  st.has_publish_watermark_ms = s->publish_wm_ms >= 0;
  st.publish_watermark_ms = s->publish_wm_ms;
  snprintf(st.detail, sizeof(st.detail), "%s", s->detail);
  int rc = coin_codec_pack_status(&job->status, &job->status_len, &st);
  if (rc != 0) {
    COIN_LOG_ERROR("status transition not built",
                   COIN_LOG_STR("symbol", s->symbol), COIN_LOG_RC(rc));
    return;
  }
}

/* corrupt and insufficient_data have no escalated state of their own: their
 * episode escalates in place (severity critical, reminders) once the state
 * lasted longer than MONITOR_HARD_ESCALATE_SECONDS, like hard_stale - the
 * three states that block the data users see. */
static bool escalates_in_place(enum coin_fresh_state base) {
  return base == COIN_STATE_CORRUPT || base == COIN_STATE_INSUFFICIENT_DATA;
}

static bool lasted_beyond_escalation(const struct monitor *m, int64_t since,
                                     int64_t now_ms) {
  return now_ms - since > m->cfg->hard_escalate_seconds * 1000;
}

static void new_episode(struct mon_alert *al, const struct monitor *m,
                        const char *alertname, enum coin_fresh_state state,
                        int64_t starts_at_ms, int64_t now_ms) {
  memset(al, 0, sizeof(*al));
  al->active = true;
  snprintf(al->alertname, sizeof(al->alertname), "%s", alertname);
  al->severity = eval_severity(state);
  al->state = state;
  al->starts_at_ms = starts_at_ms;
  al->last_notified_ms = now_ms;
  bool esc = escalated(state);
  if (escalates_in_place(state) &&
      lasted_beyond_escalation(m, starts_at_ms, now_ms)) {
    esc = true; /* first alert after a held fill: already escalated */
    al->severity = COIN_SEVERITY_CRITICAL;
  }
  al->next_repeat_ms = esc ? now_ms + m->cfg->repeat_seconds * 1000 : 0;
}

/* A duration for a summary: from a sane start only (never from the epoch
 * or an unset -1), never negative. */
static void fmt_since(char *out, size_t n, int64_t since, int64_t now_ms) {
  mon_fmt_duration(out, n, since > 0 && since <= now_ms ? now_ms - since : 0);
}

/* When the condition behind base began, as the data says (so a restart or a
 * second monitor derives the same alert ids). */
static int64_t base_since(const struct mon_series *s,
                          enum coin_fresh_state base, int64_t now_ms) {
  int64_t t = now_ms;
  if (base == COIN_STATE_SOFT_STALE)
    t = s->fresh.soft_since_ms;
  else if (base == COIN_STATE_HARD_STALE)
    t = s->fresh.hard_since_ms;
  if (t <= 0 || t > now_ms)
    return now_ms;
  /* A series that was never fresh since the monitor first saw it (a
   * deployment backfilling from years back) is stale since it was first
   * seen, not since a candle of its history closed. */
  if (!s->ever_fresh && s->first_seen_ms > 0 && t < s->first_seen_ms)
    t = s->first_seen_ms <= now_ms ? s->first_seen_ms : now_ms;
  return t;
}

/* ---- quiet deployments -------------------------------------------------- */

/* Publish has not caught up with ingest (a backfill being published). */
static bool publish_behind(const struct mon_series *s) {
  return s->ingest_wm_ms >= 0 && s->publish_wm_ms >= 0 &&
         s->publish_wm_ms < s->ingest_wm_ms;
}

/* The fill of a series new to the monitor (first seen without a KV record:
 * a new deployment, or a series added to SYMBOLS/INGEST_TIMEFRAMES), bounded
 * by bootstrap_until_ms = first sight + MONITOR_BOOTSTRAP_SECONDS. It is
 * filling while it has never been fresh, or while publish is behind ingest;
 * staleness, insufficient_data and degraded alerts wait (corrupt does not). */
static bool filling(const struct mon_series *s, int64_t now_ms) {
  return s->bootstrap_until_ms > now_ms &&
         (!s->ever_fresh || publish_behind(s));
}

/* A new deployment has no model until its first training, which needs the
 * backfilled data: a degraded flag whose only reason is no_model waits for
 * the whole bound, even after the data is fresh. */
static bool model_awaited(const struct mon_series *s, bool degraded,
                          unsigned reasons, int64_t now_ms) {
  return s->bootstrap_until_ms > now_ms && degraded &&
         reasons == COIN_DEGRADED_NO_MODEL;
}

void eval_series(struct monitor *m, struct mon_series *s, int64_t now_ms) {
  if (!s->observed || s->pending)
    return;
  const struct monitor_config *cfg = m->cfg;
  const char *ex = cfg->core.exchange, *tfn = coin_tf_name(s->tf);
  enum coin_fresh_state prev = s->known ? s->state : COIN_STATE_UNSPECIFIED;
  enum coin_fresh_state base = s->fresh.state;
  enum coin_fresh_state next = prev;
  int64_t since = s->since_ms;
  bool from_degraded = s->known && s->degraded;

  if (!s->known) {
    /* first sight without a record: a new deployment or a new series */
    s->first_seen_ms = now_ms;
    s->ever_fresh = false;
    s->first_fresh_ms = -1;
    s->bootstrap_until_ms =
        cfg->bootstrap_seconds > 0 ? now_ms + cfg->bootstrap_seconds * 1000 : 0;
  }
  if (!s->known || base != eval_base(prev)) {
    next = base;
    since = base_since(s, base, now_ms);
  }
  if (next == COIN_STATE_SOFT_STALE &&
      now_ms - since > cfg->soft_escalate_seconds * 1000)
    next = COIN_STATE_SOFT_STALE_ESCALATED;
  if (next == COIN_STATE_HARD_STALE &&
      now_ms - since > cfg->hard_escalate_seconds * 1000)
    next = COIN_STATE_HARD_STALE_ESCALATED;
  bool state_changed = !s->known || next != prev;

  bool degraded = s->known ? s->degraded : false;
  unsigned reasons = s->known ? s->reasons : 0;
  if (s->degraded_known) {
    degraded = s->obs_degraded;
    reasons = degraded ? s->obs_reasons : 0;
  }
  bool degraded_changed = degraded != from_degraded;
  bool reasons_changed = reasons != (s->known ? s->reasons : 0);

  struct mon_job *job = calloc(1, sizeof(*job));
  if (job == NULL) {
    COIN_LOG_ERROR("out of memory", COIN_LOG_STR("symbol", s->symbol));
    return;
  }
  job->series = s;
  /* Commit the new state first: summaries and records describe it. */
  bool fill_changed = false;
  if (next == COIN_STATE_FRESH && !s->ever_fresh) {
    s->ever_fresh = true;
    s->first_fresh_ms = now_ms;
    fill_changed = true;
  }
  bool held = filling(s, now_ms);
  bool dheld = held || model_awaited(s, degraded, reasons, now_ms);
  if (s->bootstrap_until_ms > 0 && !held && !dheld) {
    /* the fill is over (fresh and caught up, or its bound passed) */
    COIN_LOG_INFO(
        "series fill over", COIN_LOG_STR("symbol", s->symbol),
        COIN_LOG_STR("timeframe", tfn),
        COIN_LOG_BOOL("fresh_once", s->ever_fresh),
        COIN_LOG_BOOL("bound_passed", s->bootstrap_until_ms <= now_ms));
    s->bootstrap_until_ms = 0;
    fill_changed = true;
  }
  s->known = true;
  s->state = next;
  s->since_ms = since;
  if (state_changed)
    s->at_ms = now_ms;
  s->degraded = degraded;
  s->reasons = reasons;
  if (degraded_changed)
    s->degraded_since_ms = degraded ? now_ms : -1;

  char summary[COIN_CODEC_TEXT_BYTES], dur[32], rs[160];
  const char *sn = coin_codec_state_name(next);
  enum coin_fresh_state nbase = eval_base(next);
  const char *name = eval_alertname(nbase);
  /* A series new to the monitor gets up to MONITOR_BOOTSTRAP_SECONDS to
   * fill (see filling()) before a staleness, missing data or degraded alert;
   * corruption alerts at once. An alert held back fires when the fill ends,
   * if its condition still holds, with the episode's real start. */
  bool alertable = name != NULL && !(held && nbase != COIN_STATE_CORRUPT);

  if (s->alert.active && eval_base(s->alert.state) != nbase) {
    snprintf(summary, sizeof(summary), "%s %s %s is no longer %s: now %s", ex,
             s->symbol, tfn, coin_codec_state_name(s->alert.state), sn);
    queue_alert(m, s, job, &s->alert, COIN_ALERT_RESOLVED, now_ms, summary);
    s->alert.active = false;
  }
  if (alertable && !s->alert.active) {
    new_episode(&s->alert, m, name, next, since, now_ms);
    bool esc = escalated(next) || s->alert.next_repeat_ms > 0;
    fmt_since(dur, sizeof(dur), since, now_ms);
    snprintf(summary, sizeof(summary), "%s %s %s is %s%s%s%s: %s", ex,
             s->symbol, tfn, sn, esc && !escalated(next) ? " (escalated)" : "",
             esc ? " for " : "", esc ? dur : "", s->detail);
    queue_alert(m, s, job, &s->alert, COIN_ALERT_FIRING, now_ms, summary);
  } else if (s->alert.active && s->alert.state != next) {
    /* escalation within the same episode */
    s->alert.state = next;
    s->alert.severity = eval_severity(next);
    s->alert.repeat_count++;
    s->alert.last_notified_ms = now_ms;
    s->alert.next_repeat_ms =
        escalated(next) ? now_ms + cfg->repeat_seconds * 1000 : 0;
    fmt_since(dur, sizeof(dur), since, now_ms);
    snprintf(summary, sizeof(summary), "%s %s %s escalated: %s for %s: %s", ex,
             s->symbol, tfn, coin_codec_state_name(nbase), dur, s->detail);
    queue_alert(m, s, job, &s->alert, COIN_ALERT_FIRING, now_ms, summary);
  } else if (s->alert.active && escalates_in_place(nbase) &&
             s->alert.next_repeat_ms == 0 &&
             lasted_beyond_escalation(m, since, now_ms)) {
    /* corrupt / insufficient_data lasted: escalation in place */
    s->alert.severity = COIN_SEVERITY_CRITICAL;
    s->alert.repeat_count++;
    s->alert.last_notified_ms = now_ms;
    s->alert.next_repeat_ms = now_ms + cfg->repeat_seconds * 1000;
    fmt_since(dur, sizeof(dur), since, now_ms);
    snprintf(summary, sizeof(summary), "%s %s %s escalated: %s for %s: %s", ex,
             s->symbol, tfn, coin_codec_state_name(nbase), dur, s->detail);
    queue_alert(m, s, job, &s->alert, COIN_ALERT_FIRING, now_ms, summary);
  } else if (s->alert.active && s->alert.next_repeat_ms > 0 &&
             now_ms >= s->alert.next_repeat_ms) {
    s->alert.repeat_count++;
    s->alert.last_notified_ms = now_ms;
    s->alert.next_repeat_ms = now_ms + cfg->repeat_seconds * 1000;
    fmt_since(dur, sizeof(dur), since, now_ms);
    snprintf(summary, sizeof(summary),
             "%s %s %s still %s after %s (reminder %u): %s", ex, s->symbol, tfn,
             coin_codec_state_name(nbase), dur, (unsigned)s->alert.repeat_count,
             s->detail);
    queue_alert(m, s, job, &s->alert, COIN_ALERT_FIRING, now_ms, summary);
  }

  if (degraded && !dheld && !s->dalert.active) {
    new_episode(&s->dalert, m, "CoinDegraded", next,
                s->degraded_since_ms > 0 ? s->degraded_since_ms : now_ms,
                now_ms);
    s->dalert.severity = COIN_SEVERITY_WARNING;
    reasons_text(rs, sizeof(rs), reasons);
    snprintf(summary, sizeof(summary),
             "%s %s %s prediction path degraded (%s); freshness %s", ex,
             s->symbol, tfn, rs, sn);
    queue_alert(m, s, job, &s->dalert, COIN_ALERT_FIRING, now_ms, summary);
  } else if (!degraded && s->dalert.active) {
    snprintf(summary, sizeof(summary),
             "%s %s %s prediction path no longer degraded", ex, s->symbol, tfn);
    queue_alert(m, s, job, &s->dalert, COIN_ALERT_RESOLVED, now_ms, summary);
    s->dalert.active = false;
  }

  if (state_changed || degraded_changed) {
    queue_status(m, s, job, prev, from_degraded, now_ms);
    if (state_changed)
      atomic_fetch_add(&m->c.transitions[next], 1);
    if (degraded_changed)
      atomic_fetch_add(&m->c.degraded_transitions, 1);
    COIN_LOG_INFO("series state changed", COIN_LOG_STR("symbol", s->symbol),
                  COIN_LOG_STR("timeframe", tfn),
                  COIN_LOG_STR("from", coin_codec_state_name(prev)),
                  COIN_LOG_STR("to", sn), COIN_LOG_TIME("since", since),
                  COIN_LOG_BOOL("degraded", degraded),
                  COIN_LOG_STR("cause", s->cause),
                  COIN_LOG_STR("detail", s->detail));
  }
  if (state_changed || degraded_changed || reasons_changed || fill_changed ||
      job->n_alerts > 0) {
    if (state_encode(&job->state_json, &job->state_len, m, s) != 0)
      COIN_LOG_ERROR("state record not built",
                     COIN_LOG_STR("symbol", s->symbol),
                     COIN_LOG_STR("error", coin_error_last()));
  }
  if (job->n_alerts == 0 && job->status == NULL && job->state_json == NULL) {
    mon_job_free(job);
    return;
  }
  outbox_push(m, job);
}

/* ---- the pass ----------------------------------------------------------- */

static void write_status_file(struct monitor *m, const char *text, size_t len) {
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/status.json", m->cfg->core.static_data_dir);
  int rc = coin_file_mkdirs_for(path);
  if (rc == 0)
    rc = coin_file_write_atomic(path, text, len);
  if (rc != 0) {
    atomic_fetch_add(&m->c.status_file_errors, 1);
    COIN_LOG_WARN("status.json not written", COIN_LOG_STR("path", path),
                  COIN_LOG_RC(rc));
  }
}

void eval_pass(struct monitor *m, int64_t now_ms) {
  struct timespec ts0;
  clock_gettime(CLOCK_MONOTONIC, &ts0);
  pthread_mutex_lock(&m->wm_lock);
  for (size_t i = 0; i < m->n_series; i++) {
    m->series[i].ingest_wm_ms = m->wm_ingest[i];
    m->series[i].publish_wm_ms = m->wm_publish[i];
  }
  pthread_mutex_unlock(&m->wm_lock);

  int64_t recheck = 0;
  pthread_mutex_lock(&m->lock);
  m->pass_now_ms = now_ms;
  m->pass_seq++;
  site_load_manifest(m, now_ms);
  for (size_t i = 0; i < m->n_series; i++) {
    struct mon_series *s = &m->series[i];
    site_observe(m, s, now_ms);
    eval_series(m, s, now_ms);
    if (s->recheck_at_ms > 0 && (recheck == 0 || s->recheck_at_ms < recheck))
      recheck = s->recheck_at_ms;
  }
  m->next_recheck_ms = recheck;
  mon_global_sweep(m, now_ms);
  /* alert-miss accounting */
  struct mon_delivery_verdict verdicts[MON_MAX_SINKS];
  delivery_evaluate(verdicts, m, now_ms);
  for (size_t i = 0; i < m->n_sinks; i++)
    mon_global_set(m, MON_DELIVERY_ALERT, verdicts[i].sink,
                   COIN_SEVERITY_WARNING, verdicts[i].firing, now_ms,
                   verdicts[i].summary);
  atomic_store(&m->evaluated, true);
  char *status = NULL;
  size_t status_len = 0;
  int rc = m->cfg->status_file ? status_build(&status, &status_len, m) : 0;
  pthread_mutex_unlock(&m->lock);

  struct timespec ts1;
  clock_gettime(CLOCK_MONOTONIC, &ts1);
  int64_t us = (int64_t)(ts1.tv_sec - ts0.tv_sec) * 1000000 +
               (ts1.tv_nsec - ts0.tv_nsec) / 1000;
  double sec = (double)us / 1e6;
  size_t b = 0;
  while (b < MON_PASS_BUCKETS && sec > mon_pass_bucket_le[b])
    b++;
  atomic_fetch_add(&m->c.pass_bucket[b], 1);
  atomic_fetch_add(&m->c.pass_us_sum, (uint64_t)us);
  atomic_store(&m->c.pass_us_last, (uint64_t)us);
  if ((uint64_t)us > atomic_load(&m->c.pass_us_max))
    atomic_store(&m->c.pass_us_max, (uint64_t)us);
  atomic_fetch_add(&m->c.passes, 1);
  atomic_store(&m->last_pass_wall_ms, now_ms);
  atomic_store(&m->last_pass_mono_ms, coin_mono_ms());
  COIN_LOG_DEBUG("pass done", COIN_LOG_INT("elapsed_us", us));

  if (rc == 0 && status != NULL)
    write_status_file(m, status, status_len);
  free(status);
}
