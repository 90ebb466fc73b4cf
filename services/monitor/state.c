/*
 * state.c: the persisted state of a series, KV coin_monitor key
 * state.<exchange>.<symbol>.<tf>, as one JSON object (format in
 * docs/monitor.md): state, since, degraded, the active alerts with their
 * repeat counts and last notification, and the last alert sent. Loaded
 * once at start, so a restart neither re-fires nor forgets an escalation.
 * An alert episode is written here in both of its forms: the record's and
 * the status document's (endpoints.c).
 * Thread model: encode on the pass thread (under m->lock); load before any
 * other thread runs.
 */
#include "monitor_int.h"

#include "coin/clock.h"
#include "coin/error.h"
#include "coin/log.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void state_alert_json(struct coin_jbuf *b, const char *key,
                      const struct monitor *m, const struct mon_series *s,
                      const struct mon_alert *a, enum mon_alert_view view) {
  char id[COIN_CODEC_ALERT_ID_BYTES];
  coin_jbuf_key(b, key);
  if (!a->active) {
    coin_jbuf_putn(b, "null,", 5);
    return;
  }
  mon_alert_id(id, m, s, a->alertname, a->starts_at_ms);
  coin_jbuf_putn(b, "{", 1);
  coin_jbuf_kstr(b, "alert_id", id);
  coin_jbuf_kstr(b, "alertname", a->alertname);
  coin_jbuf_kstr(b, "severity", coin_codec_severity_name(a->severity));
  coin_jbuf_kstr(b, "state", coin_codec_state_name(a->state));
  coin_jbuf_kint(b, "starts_at_ms", a->starts_at_ms);
  if (view == MON_ALERT_STATUS)
    coin_jbuf_ktime(b, "starts_at", a->starts_at_ms);
  coin_jbuf_kint(b, "repeat_count", a->repeat_count);
  coin_jbuf_kint(b, "last_notified_ms", a->last_notified_ms);
  if (view == MON_ALERT_STATUS) /* no repeat scheduled (0) reads as null */
    coin_jbuf_kint_or_null(b, "next_repeat_ms",
                           a->next_repeat_ms > 0 ? a->next_repeat_ms : -1);
  else /* the record keeps the value as it is, for state_decode */
    coin_jbuf_kint(b, "next_repeat_ms", a->next_repeat_ms);
  coin_jbuf_trim_comma(b);
  coin_jbuf_putn(b, "},", 2);
}

static void put_reasons(struct coin_jbuf *b, unsigned bits) {
  coin_jbuf_key(b, "degraded_reasons");
  coin_jbuf_putn(b, "[", 1);
  for (int i = 0; i < COIN_DEGRADED_REASON_COUNT; i++)
    if (bits & (1u << i)) {
      coin_jbuf_str(b, coin_degraded_reason_name(1u << i));
      coin_jbuf_putn(b, ",", 1);
    }
  coin_jbuf_trim_comma(b);
  coin_jbuf_putn(b, "],", 2);
}

int state_encode(char **out, size_t *out_len, const struct monitor *m,
                 const struct mon_series *s) {
  struct coin_jbuf b = {0};
  coin_jbuf_putn(&b, "{", 1);
  coin_jbuf_kint(&b, "v", 1);
  coin_jbuf_kstr(&b, "exchange", m->cfg->core.exchange);
  coin_jbuf_kstr(&b, "symbol", s->symbol);
  coin_jbuf_kstr(&b, "timeframe", coin_tf_name(s->tf));
  coin_jbuf_kstr(&b, "state", coin_codec_state_name(s->state));
  coin_jbuf_kint(&b, "since_ms", s->since_ms);
  coin_jbuf_kint(&b, "at_ms", s->at_ms);
  coin_jbuf_kbool(&b, "degraded", s->degraded);
  put_reasons(&b, s->reasons);
  coin_jbuf_kint_or_null(&b, "degraded_since_ms",
                         s->degraded ? s->degraded_since_ms : -1);
  coin_jbuf_kint(&b, "bootstrap_until_ms", s->bootstrap_until_ms);
  /* quiet deployments: the fill (fields absent in older records) */
  coin_jbuf_kint_or_null(&b, "first_seen_ms",
                         s->first_seen_ms > 0 ? s->first_seen_ms : -1);
  coin_jbuf_kbool(&b, "ever_fresh", s->ever_fresh);
  coin_jbuf_kint_or_null(
      &b, "first_fresh_ms",
      s->ever_fresh && s->first_fresh_ms > 0 ? s->first_fresh_ms : -1);
  state_alert_json(&b, "alert", m, s, &s->alert, MON_ALERT_RECORD);
  state_alert_json(&b, "degraded_alert", m, s, &s->dalert, MON_ALERT_RECORD);
  coin_jbuf_key(&b, "last_alert");
  if (s->last_alert.set) {
    const struct mon_last_alert *l = &s->last_alert;
    char msg_id[COIN_CODEC_MSG_ID_BYTES];
    mon_last_msg_id(msg_id, m, s);
    coin_jbuf_putn(&b, "{", 1);
    coin_jbuf_kstr(&b, "msg_id", msg_id);
    coin_jbuf_kstr(&b, "alertname", l->alertname);
    coin_jbuf_kint(&b, "starts_at_ms", l->starts_at_ms);
    coin_jbuf_kint(&b, "repeat_count", l->repeat_count);
    coin_jbuf_kstr(&b, "status", coin_codec_alert_status_name(l->status));
    coin_jbuf_kstr(&b, "severity", coin_codec_severity_name(l->severity));
    coin_jbuf_kstr(&b, "state", coin_codec_state_name(l->state));
    coin_jbuf_kint(&b, "at_ms", l->at_ms);
    coin_jbuf_trim_comma(&b);
    coin_jbuf_putn(&b, "},", 2);
  } else {
    coin_jbuf_putn(&b, "null,", 5);
  }
  coin_jbuf_kstr(&b, "producer_id", m->producer_id);
  coin_jbuf_trim_comma(&b);
  coin_jbuf_putn(&b, "}", 1);
  return coin_jbuf_finish(out, out_len, &b);
}

/* ---- decoding ----------------------------------------------------------- */

static int severity_parse(enum coin_severity *out, const char *t) {
  for (int v = COIN_SEVERITY_INFO; v <= COIN_SEVERITY_CRITICAL; v++)
    if (t && strcmp(t, coin_codec_severity_name((enum coin_severity)v)) == 0) {
      *out = (enum coin_severity)v;
      return 0;
    }
  return -1;
}

static int status_parse(enum coin_alert_status *out, const char *t) {
  for (int v = COIN_ALERT_FIRING; v <= COIN_ALERT_RESOLVED; v++)
    if (t && strcmp(t, coin_codec_alert_status_name(
                           (enum coin_alert_status)v)) == 0) {
      *out = (enum coin_alert_status)v;
      return 0;
    }
  return -1;
}

static bool get_int(int64_t *out, const json_t *o, const char *key) {
  const json_t *v = json_object_get(o, key);
  if (!json_is_integer(v))
    return false;
  *out = json_integer_value(v);
  return true;
}

static bool get_str(char *out, size_t n, const json_t *o, const char *key) {
  const char *v = json_string_value(json_object_get(o, key));
  if (v == NULL || strlen(v) >= n)
    return false;
  memcpy(out, v, strlen(v) + 1);
  return true;
}

static int decode_alert(struct mon_alert *a, const json_t *o) {
  int64_t rc = 0;
  memset(a, 0, sizeof(*a));
  if (o == NULL || json_is_null(o))
    return 0;
  if (!json_is_object(o) ||
      !get_str(a->alertname, sizeof(a->alertname), o, "alertname") ||
      severity_parse(&a->severity,
                     json_string_value(json_object_get(o, "severity"))) != 0 ||
      coin_codec_state_parse(
          &a->state, json_string_value(json_object_get(o, "state"))) != 0 ||
      !get_int(&a->starts_at_ms, o, "starts_at_ms") ||
      !get_int(&rc, o, "repeat_count") || rc < 0 || rc > UINT32_MAX ||
      !get_int(&a->last_notified_ms, o, "last_notified_ms") ||
      !get_int(&a->next_repeat_ms, o, "next_repeat_ms"))
    return -1;
  a->repeat_count = (uint32_t)rc;
  a->active = true;
  return 0;
}

int state_decode(struct mon_series *s, const char *json, size_t len) {
  json_error_t je;
  json_t *root = json_loadb(json, len, 0, &je);
  struct mon_series t = *s;
  int rc = COIN_EDECODE;
  if (root == NULL)
    return coin_error_set(COIN_EDECODE,
                          "state record: JSON error line %d col "
                          "%d: %s",
                          je.line, je.column, je.text);
  int64_t v = 0;
  const char *sym = json_string_value(json_object_get(root, "symbol"));
  const char *tf = json_string_value(json_object_get(root, "timeframe"));
  if (!get_int(&v, root, "v") || v != 1) {
    coin_error_set(COIN_EDECODE, "state record: v is not 1");
    goto out;
  }
  if (!sym || !tf || strcmp(sym, s->symbol) != 0 ||
      strcmp(tf, coin_tf_name(s->tf)) != 0) {
    coin_error_set(COIN_EDECODE, "state record: symbol/timeframe do not match "
                                 "its key");
    goto out;
  }
  if (coin_codec_state_parse(
          &t.state, json_string_value(json_object_get(root, "state"))) != 0 ||
      !get_int(&t.since_ms, root, "since_ms") ||
      !get_int(&t.at_ms, root, "at_ms") ||
      !json_is_boolean(json_object_get(root, "degraded"))) {
    coin_error_set(COIN_EDECODE, "state record: state, since_ms, at_ms or "
                                 "degraded missing");
    goto out;
  }
  t.degraded = json_is_true(json_object_get(root, "degraded"));
  t.reasons = 0;
  const json_t *arr = json_object_get(root, "degraded_reasons");
  size_t i;
  const json_t *item;
  json_array_foreach(arr, i, item) {
    unsigned bit;
    if (json_is_string(item) &&
        coin_degraded_reason_parse(&bit, json_string_value(item)) == 0)
      t.reasons |= bit;
  }
  if (!get_int(&t.degraded_since_ms, root, "degraded_since_ms"))
    t.degraded_since_ms = t.degraded ? t.at_ms : -1;
  if (!get_int(&t.bootstrap_until_ms, root, "bootstrap_until_ms"))
    t.bootstrap_until_ms = 0;
  /* quiet deployments. A record written before these fields existed was in
   * its fill only while the old grace held it (bootstrap_until_ms set and
   * not fresh); every other such series counts as fresh once. */
  if (!get_int(&t.first_seen_ms, root, "first_seen_ms") || t.first_seen_ms <= 0)
    t.first_seen_ms = -1;
  const json_t *ef = json_object_get(root, "ever_fresh");
  if (json_is_boolean(ef))
    t.ever_fresh = json_is_true(ef);
  else
    t.ever_fresh = !(t.bootstrap_until_ms > 0 && t.state != COIN_STATE_FRESH);
  if (!t.ever_fresh || !get_int(&t.first_fresh_ms, root, "first_fresh_ms") ||
      t.first_fresh_ms <= 0)
    t.first_fresh_ms = -1;
  if (decode_alert(&t.alert, json_object_get(root, "alert")) != 0 ||
      decode_alert(&t.dalert, json_object_get(root, "degraded_alert")) != 0) {
    coin_error_set(COIN_EDECODE, "state record: malformed alert");
    goto out;
  }
  memset(&t.last_alert, 0, sizeof(t.last_alert));
  const json_t *la = json_object_get(root, "last_alert");
  if (json_is_object(la)) {
    struct mon_last_alert *l = &t.last_alert;
    int64_t lrc = -1;
    if (get_str(l->alertname, sizeof(l->alertname), la, "alertname") &&
        get_int(&l->starts_at_ms, la, "starts_at_ms") &&
        get_int(&lrc, la, "repeat_count") && lrc >= 0 && lrc <= UINT32_MAX &&
        status_parse(&l->status,
                     json_string_value(json_object_get(la, "status"))) == 0 &&
        severity_parse(&l->severity, json_string_value(json_object_get(
                                         la, "severity"))) == 0 &&
        coin_codec_state_parse(
            &l->state, json_string_value(json_object_get(la, "state"))) == 0 &&
        get_int(&l->at_ms, la, "at_ms")) {
      l->repeat_count = (uint32_t)lrc;
      l->set = true;
    }
  }
  t.known = true;
  *s = t;
  rc = 0;
out:
  json_decref(root);
  return rc;
}

struct state_scan {
  struct monitor *m;
  size_t loaded, bad;
};

static void state_scanned(const struct coin_bus_kv_entry *e, void *ctx) {
  struct state_scan *st = ctx;
  struct monitor *m = st->m;
  struct coin_series_id id;
  if (coin_codec_series_parse(&id, COIN_KEY_STATE_PREFIX, e->key) != 0 ||
      strcmp(id.exchange, m->cfg->core.exchange) != 0)
    return;
  ssize_t k = mon_series_find(m, id.symbol, id.tf);
  if (k < 0)
    return;
  if (state_decode(&m->series[k], (const char *)e->value, e->value_len) == 0) {
    st->loaded++;
  } else {
    st->bad++;
    atomic_fetch_add(&m->c.state_bad_records, 1);
    COIN_LOG_WARN("state record ignored", COIN_LOG_STR("key", e->key),
                  COIN_LOG_STR("error", coin_error_last()));
  }
}

int state_load_all(struct monitor *m) {
  char pattern[COIN_CODEC_SUBJECT_BYTES];
  struct state_scan st = {m, 0, 0};
  snprintf(pattern, sizeof(pattern), "%s.%s.>", COIN_KEY_STATE_PREFIX,
           m->cfg->core.exchange);
  int rc = coin_bus_kv_scan(m->kv_state, pattern, 30000, "initial states",
                            state_scanned, &st);
  if (rc == 0)
    COIN_LOG_INFO("states loaded", COIN_LOG_UINT("loaded", st.loaded),
                  COIN_LOG_UINT("ignored", st.bad),
                  COIN_LOG_UINT("series", m->n_series));
  return rc;
}
