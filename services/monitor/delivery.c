/* delivery.c: alert-miss accounting. Every alert the outbox puts into
 * COIN_ALERTS is owed to every sink; each sink keeps a ledger of what it
 * owes and what it did with it:
 *   on_time  delivered (2xx) within MONITOR_DELIVERY_DEADLINE_SECONDS of the
 *            moment the monitor raised it (the outbox job was queued);
 *   late     delivered after the deadline;
 *   dropped  given up (refused with 4xx too often), or never delivered
 *            before the stream's MONITOR_ALERT_MAX_AGE_HOURS expired it;
 *   missing  not delivered and older than the deadline now (a gauge; it
 *            turns late or dropped when settled). missed_total counts the
 *            alerts that crossed the deadline undelivered.
 * An alert the sink settles without an entry (published by a previous
 * process, or delivered before the outbox saw its publish ack) is classified
 * from its stream timestamp. Every pass evaluates the ledgers
 * (delivery_evaluate): a sink with missing alerts, or one that dropped an
 * alert within MON_DELIVERY_DROP_HOLD_MS, raises the global alert
 * CoinAlertDeliveryMissed (target = the sink), which reaches the other sinks.
 * Thread model: the outbox thread expects, the sink's thread settles, the
 * pass evaluates, /metrics and /status read; each ledger has its own leaf
 * lock (nothing else is taken while it is held). */
#include "monitor_int.h"

#include "coin/buf.h"
#include "coin/clock.h"
#include "coin/jbuf.h"
#include "coin/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MON_DELIVERY_DROP_HOLD_MS (15 * 60 * 1000)
#define MON_LEDGER_MAX_ENTRIES 50000
#define MON_LEDGER_KEEP_MIN_MS (10 * 60 * 1000)

static const char *const outcome_names[MON_DELIVERY_OUTCOMES] = {
    "on_time", "late", "dropped"};

static uint64_t key_of(const char *msg_id) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a 64 */
  for (const unsigned char *p = (const unsigned char *)msg_id; *p; p++)
    h = (h ^ *p) * 1099511628211ULL;
  return h;
}

int ledger_init(struct mon_ledger *l) {
  memset(l, 0, sizeof(*l));
  l->view.oldest_missing_ms = -1;
  l->view.last_drop_ms = -1;
  l->last_drop_ms = -1;
  return pthread_mutex_init(&l->lock, NULL) == 0 ? 0 : -1;
}

void ledger_free(struct mon_ledger *l) {
  for (size_t i = 0; i < l->n; i++)
    free(l->e[i].msg_id);
  free(l->e);
  l->e = NULL;
  l->n = l->cap = 0;
  pthread_mutex_destroy(&l->lock);
}

/* The entry of msg_id or NULL; under the lock. Sinks settle in stream
 * order, so the oldest entries are searched first. */
static struct mon_ledger_entry *find(struct mon_ledger *l, const char *msg_id,
                                     uint64_t key) {
  for (size_t i = 0; i < l->n; i++)
    if (l->e[i].key == key && strcmp(l->e[i].msg_id, msg_id) == 0)
      return &l->e[i];
  return NULL;
}

/* A new entry (NULL when the ledger is full or memory is out: counted as
 * untracked); under the lock. */
static struct mon_ledger_entry *add(struct mon_ledger *l, const char *msg_id,
                                    uint64_t key, int64_t raised_ms) {
  if (coin_grow(&l->e, &l->cap, l->n + 1, sizeof(*l->e),
                MON_LEDGER_MAX_ENTRIES) != 0) {
    l->untracked++; /* full, or out of memory */
    return NULL;
  }
  char *id = strdup(msg_id);
  if (id == NULL) {
    l->untracked++;
    return NULL;
  }
  struct mon_ledger_entry *e = &l->e[l->n++];
  *e = (struct mon_ledger_entry){
      .key = key, .msg_id = id, .raised_ms = raised_ms, .settled_ms = -1};
  return e;
}

static void settle(struct mon_ledger *l, struct mon_ledger_entry *e,
                   bool delivered, int64_t now_ms, int64_t deadline_ms) {
  int64_t latency = now_ms - e->raised_ms;
  enum mon_delivery_outcome o = !delivered              ? MON_DELIVERY_DROPPED
                                : latency > deadline_ms ? MON_DELIVERY_LATE
                                                        : MON_DELIVERY_ON_TIME;
  e->settled_ms = now_ms;
  l->outcomes[o]++;
  if (o == MON_DELIVERY_DROPPED)
    l->last_drop_ms = now_ms;
  else if (latency > l->max_latency_ms)
    l->max_latency_ms = latency;
}

void ledger_expect(struct mon_ledger *l, const char *msg_id,
                   int64_t raised_ms) {
  uint64_t key = key_of(msg_id);
  pthread_mutex_lock(&l->lock);
  if (find(l, msg_id, key) == NULL) /* settled first: already counted */
    add(l, msg_id, key, raised_ms);
  pthread_mutex_unlock(&l->lock);
}

void ledger_settle(struct mon_ledger *l, const char *msg_id, bool delivered,
                   int64_t stream_ms, int64_t now_ms, int64_t deadline_ms) {
  uint64_t key = key_of(msg_id);
  pthread_mutex_lock(&l->lock);
  struct mon_ledger_entry *e = find(l, msg_id, key);
  if (e == NULL)
    e = add(l, msg_id, key, stream_ms > 0 ? stream_ms : now_ms);
  if (e != NULL && e->settled_ms < 0)
    settle(l, e, delivered, now_ms, deadline_ms);
  pthread_mutex_unlock(&l->lock);
}

/* The live counters into a view; under the lock. */
static void copy_counters(struct mon_ledger_view *v,
                          const struct mon_ledger *l) {
  memcpy(v->outcomes, l->outcomes, sizeof(v->outcomes));
  v->missed_total = l->missed_total;
  v->untracked = l->untracked;
  v->last_drop_ms = l->last_drop_ms;
  v->max_latency_ms = l->max_latency_ms;
}

void ledger_evaluate(struct mon_ledger *l, int64_t now_ms, int64_t deadline_ms,
                     int64_t expire_ms, struct mon_ledger_view *out) {
  int64_t keep = 3 * deadline_ms > MON_LEDGER_KEEP_MIN_MS
                     ? 3 * deadline_ms
                     : MON_LEDGER_KEEP_MIN_MS;
  struct mon_ledger_view v = {.oldest_missing_ms = -1};
  pthread_mutex_lock(&l->lock);
  size_t w = 0;
  for (size_t i = 0; i < l->n; i++) {
    struct mon_ledger_entry *e = &l->e[i];
    if (e->settled_ms < 0 && now_ms - e->raised_ms > expire_ms)
      settle(l, e, false, now_ms, deadline_ms); /* the stream let it go */
    if (e->settled_ms >= 0 && now_ms - e->settled_ms > keep) {
      free(e->msg_id);
      continue;
    }
    if (e->settled_ms < 0) {
      if (now_ms - e->raised_ms > deadline_ms) {
        if (!e->missed) {
          e->missed = true;
          l->missed_total++;
        }
        v.missing++;
        if (v.oldest_missing_ms < 0 || e->raised_ms < v.oldest_missing_ms) {
          v.oldest_missing_ms = e->raised_ms;
          snprintf(v.oldest_missing_id, sizeof(v.oldest_missing_id), "%s",
                   e->msg_id);
        }
      } else {
        v.pending++;
      }
    }
    l->e[w++] = *e;
  }
  l->n = w;
  copy_counters(&v, l);
  v.evaluated_ms = now_ms;
  l->view = v;
  pthread_mutex_unlock(&l->lock);
  if (out)
    *out = v;
}

/* The last evaluation's view, with the outcome counters as of now. */
static struct mon_ledger_view view_of(struct mon_ledger *l) {
  pthread_mutex_lock(&l->lock);
  struct mon_ledger_view v = l->view;
  copy_counters(&v, l);
  pthread_mutex_unlock(&l->lock);
  return v;
}

static int64_t delivery_deadline_ms(const struct monitor *m) {
  return m->cfg->delivery_deadline_seconds * 1000;
}

void delivery_expect(struct monitor *m, const char *msg_id, int64_t raised_ms) {
  for (size_t i = 0; i < m->n_sinks; i++)
    ledger_expect(&m->sinks[i].ledger, msg_id, raised_ms);
}

void delivery_settle(struct mon_sink *k, const char *msg_id, bool delivered,
                     int64_t stream_ms) {
  ledger_settle(&k->ledger, msg_id, delivered, stream_ms, coin_now_ms(),
                delivery_deadline_ms(k->m));
}

void delivery_evaluate(struct mon_delivery_verdict *out, struct monitor *m,
                       int64_t now_ms) {
  int64_t deadline = delivery_deadline_ms(m);
  int64_t expire = m->cfg->alert_max_age_hours * 3600 * 1000;
  for (size_t i = 0; i < m->n_sinks; i++) {
    struct mon_sink *k = &m->sinks[i];
    struct mon_ledger_view v;
    ledger_evaluate(&k->ledger, now_ms, deadline, expire, &v);
    bool dropped_recently = v.last_drop_ms >= 0 &&
                            now_ms - v.last_drop_ms < MON_DELIVERY_DROP_HOLD_MS;
    bool firing = v.missing > 0 || dropped_recently;
    char *summary = out[i].summary;
    summary[0] = '\0';
    out[i].sink = k->name;
    out[i].firing = firing;
    if (firing) {
      char age[32] = "";
      if (v.missing > 0)
        mon_fmt_duration(age, sizeof(age), now_ms - v.oldest_missing_ms);
      snprintf(summary, sizeof(out[i].summary),
               "%s: %zu alert(s) not delivered within %llds%s%s%s; "
               "%llu dropped in all%s",
               k->name, v.missing, (long long)(deadline / 1000),
               v.missing > 0 ? ", the oldest raised " : "", age,
               v.missing > 0 ? " ago" : "",
               (unsigned long long)v.outcomes[MON_DELIVERY_DROPPED],
               dropped_recently ? ", one in the last 15 min" : "");
    }
  }
}

void delivery_metrics(struct coin_jbuf *b, struct monitor *m) {
  struct mon_ledger_view v[MON_MAX_SINKS];
  for (size_t i = 0; i < m->n_sinks; i++)
    v[i] = view_of(&m->sinks[i].ledger);
  coin_jbuf_prom_gauge(b, "coin_monitor_alert_delivery_deadline_seconds",
                       "MONITOR_DELIVERY_DEADLINE_SECONDS.",
                       (double)m->cfg->delivery_deadline_seconds);
  coin_jbuf_printf(b, "# HELP coin_monitor_alert_delivery_total Alerts a sink "
                      "owed, settled: on_time, late (after the deadline), "
                      "dropped (given up or expired).\n"
                      "# TYPE coin_monitor_alert_delivery_total counter\n");
  for (size_t i = 0; i < m->n_sinks; i++)
    for (int o = 0; o < MON_DELIVERY_OUTCOMES; o++)
      coin_jbuf_printf(b,
                       "coin_monitor_alert_delivery_total{sink=\"%s\","
                       "outcome=\"%s\"} %llu\n",
                       m->sinks[i].name, outcome_names[o],
                       (unsigned long long)v[i].outcomes[o]);
  static const struct {
    const char *name, *help, *type;
  } rows[] = {
      {"coin_monitor_alert_delivery_missing",
       "Alerts owed and not delivered past the deadline (at the last pass).",
       "gauge"},
      {"coin_monitor_alert_delivery_pending",
       "Alerts owed within the deadline (at the last pass).", "gauge"},
      {"coin_monitor_alert_delivery_missed_total",
       "Alerts that crossed the deadline undelivered.", "counter"},
      {"coin_monitor_alert_delivery_untracked_total",
       "Alerts the ledger could not track (full).", "counter"},
      {"coin_monitor_alert_delivery_latency_max_seconds",
       "Longest time from raised to delivered since start.", "gauge"},
  };
  for (size_t r = 0; r < COIN_ARRAY_LEN(rows); r++) {
    coin_jbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", rows[r].name,
                     rows[r].help, rows[r].name, rows[r].type);
    for (size_t i = 0; i < m->n_sinks; i++) {
      double x = r == 0   ? (double)v[i].missing
                 : r == 1 ? (double)v[i].pending
                 : r == 2 ? (double)v[i].missed_total
                 : r == 3 ? (double)v[i].untracked
                          : (double)v[i].max_latency_ms / 1000.0;
      coin_jbuf_printf(b, "%s{sink=\"%s\"} ", rows[r].name, m->sinks[i].name);
      coin_jbuf_num(b, x);
      coin_jbuf_putn(b, "\n", 1);
    }
  }
}

void delivery_status_json(struct coin_jbuf *b, struct monitor *m) {
  coin_jbuf_key(b, "delivery");
  coin_jbuf_putn(b, "{", 1);
  coin_jbuf_kint(b, "deadline_seconds", m->cfg->delivery_deadline_seconds);
  coin_jbuf_key(b, "sinks");
  coin_jbuf_putn(b, "[", 1);
  for (size_t i = 0; i < m->n_sinks; i++) {
    struct mon_sink *k = &m->sinks[i];
    struct mon_ledger_view v = view_of(&k->ledger);
    coin_jbuf_putn(b, "{", 1);
    coin_jbuf_kstr(b, "sink", k->name);
    for (int o = 0; o < MON_DELIVERY_OUTCOMES; o++)
      coin_jbuf_kint(b, outcome_names[o], (int64_t)v.outcomes[o]);
    coin_jbuf_kint(b, "missing", (int64_t)v.missing);
    coin_jbuf_kint(b, "pending", (int64_t)v.pending);
    coin_jbuf_kint(b, "missed_total", (int64_t)v.missed_total);
    coin_jbuf_kint(b, "untracked", (int64_t)v.untracked);
    coin_jbuf_key(b, "latency_max_seconds");
    coin_jbuf_num(b, (double)v.max_latency_ms / 1000.0);
    coin_jbuf_putn(b, ",", 1);
    coin_jbuf_kstr(b, "oldest_missing_msg_id",
                   v.missing > 0 ? v.oldest_missing_id : NULL);
    coin_jbuf_ktime(b, "oldest_missing_raised_at",
                    v.missing > 0 ? v.oldest_missing_ms : -1);
    coin_jbuf_ktime(b, "last_dropped_at", v.last_drop_ms);
    coin_jbuf_trim_comma(b);
    coin_jbuf_putn(b, "},", 2);
  }
  coin_jbuf_trim_comma(b);
  coin_jbuf_putn(b, "]},", 3);
}
