/*
 * global.c: alerts about no series (a sink that misses deliveries, the
 * site's availability budget burning): subject coin.alerts.global, the same
 * stream, sinks and Alertmanager resend as series alerts. Each is one
 * episode per (alertname, target): raising it again keeps the episode (only
 * a severity change starts a new one), resolving ends it. Episodes are kept
 * in KV coin_monitor (global.<exchange>.<alertname>.<target>) so a restart
 * neither forgets a firing alert nor fires it twice; an episode loaded at
 * start that its owner does not raise again within MON_GLOBAL_REASSERT_MS is
 * resolved ("not raised again after the restart").
 * Thread model: any thread may call mon_global_set; g_lock guards the table
 * and is never held while waiting for NATS (jobs go to the outbox).
 */
#include "monitor_int.h"

#include "coin/clock.h"
#include "coin/error.h"
#include "coin/log.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A KV key part: [A-Za-z0-9_-], anything else becomes '_'. */
static void key_part(char *out, size_t n, const char *in) {
  size_t i = 0;
  for (; in[i] && i + 1 < n; i++)
    out[i] =
        (char)(isalnum((unsigned char)in[i]) || in[i] == '_' || in[i] == '-'
                   ? in[i]
                   : '_');
  out[i] = '\0';
}

static void global_kv_key(char *out, size_t n, const struct monitor *m,
                          const struct mon_global *g) {
  char t[MON_GLOBAL_TARGET_BYTES];
  key_part(t, sizeof(t), g->target[0] ? g->target : "-");
  snprintf(out, n, "%s.%s.%s.%s", MON_KEY_GLOBAL_PREFIX, m->cfg->core.exchange,
           g->alertname, t);
}

void mon_global_alert_id(char out[COIN_CODEC_ALERT_ID_BYTES],
                         const struct mon_global *g) {
  char t[MON_GLOBAL_TARGET_BYTES];
  key_part(t, sizeof(t), g->target[0] ? g->target : "-");
  snprintf(out, COIN_CODEC_ALERT_ID_BYTES, "%s.global.%s.%lld", g->alertname, t,
           (long long)g->starts_at_ms);
}

void mon_global_fill(struct coin_alert *a, const struct monitor *m,
                     const struct mon_global *g, enum coin_alert_status status,
                     int64_t now_ms) {
  memset(a, 0, sizeof(*a));
  snprintf(a->producer_id, sizeof(a->producer_id), "%s", m->producer_id);
  mon_global_alert_id(a->alert_id, g);
  snprintf(a->alertname, sizeof(a->alertname), "%s", g->alertname);
  a->severity = g->severity;
  a->state = COIN_STATE_UNSPECIFIED;
  a->status = status;
  a->starts_at_ms = g->starts_at_ms;
  if (status == COIN_ALERT_RESOLVED) {
    a->has_ends_at_ms = true;
    a->ends_at_ms = now_ms < g->starts_at_ms ? g->starts_at_ms : now_ms;
  }
  snprintf(a->summary, sizeof(a->summary), "%s", g->summary);
  coin_codec_label_set(a, "alertname", g->alertname);
  coin_codec_label_set(a, "severity", coin_codec_severity_name(g->severity));
  coin_codec_label_set(a, "scope", "global");
  coin_codec_label_set(a, "exchange", m->cfg->core.exchange);
  if (g->target[0])
    coin_codec_label_set(a, "target", g->target);
}

/* The KV record of an episode: {"active":..,"severity":..,...}. */
static char *global_record(const struct mon_global *g, size_t *len) {
  struct coin_jbuf b = {0};
  char *out = NULL;
  coin_jbuf_putn(&b, "{", 1);
  coin_jbuf_kint(&b, "schema_version", 1);
  coin_jbuf_kbool(&b, "active", g->active);
  coin_jbuf_kstr(&b, "alertname", g->alertname);
  coin_jbuf_kstr(&b, "target", g->target);
  coin_jbuf_kstr(&b, "severity", coin_codec_severity_name(g->severity));
  coin_jbuf_kint(&b, "starts_at_ms", g->starts_at_ms);
  coin_jbuf_kstr(&b, "summary", g->summary);
  coin_jbuf_trim_comma(&b);
  coin_jbuf_putn(&b, "}", 1);
  if (coin_jbuf_finish(&out, len, &b) != 0)
    return NULL;
  return out;
}

/* Queues the alert message and the KV record of g; under g_lock. */
static void global_queue(struct monitor *m, struct mon_global *g,
                         enum coin_alert_status status, int64_t now_ms) {
  struct coin_alert a;
  struct mon_job *job = calloc(1, sizeof(*job));
  if (job)
    job->alerts = calloc(1, sizeof(*job->alerts));
  if (job == NULL || job->alerts == NULL) {
    mon_job_free(job);
    COIN_LOG_ERROR("global alert not queued: out of memory",
                   COIN_LOG_STR("alertname", g->alertname));
    return;
  }
  mon_global_fill(&a, m, g, status, now_ms);
  struct mon_msg *msg = &job->alerts[0];
  int rc = coin_codec_alert_msg_id(msg->msg_id, sizeof(msg->msg_id), &a);
  if (rc == 0)
    rc = coin_codec_pack_alert(&msg->data, &msg->len, &a);
  char key[COIN_CODEC_SUBJECT_BYTES];
  global_kv_key(key, sizeof(key), m, g);
  job->kv_key = strdup(key);
  job->state_json = global_record(g, &job->state_len);
  if (rc != 0 || job->kv_key == NULL || job->state_json == NULL) {
    COIN_LOG_ERROR("global alert not built",
                   COIN_LOG_STR("alert_id", a.alert_id), COIN_LOG_RC(rc));
    mon_job_free(job);
    return;
  }
  job->n_alerts = 1;
  atomic_fetch_add(&m->c.alerts_queued, 1);
  COIN_LOG_INFO("alert", COIN_LOG_STR("scope", "global"),
                COIN_LOG_STR("alertname", g->alertname),
                COIN_LOG_STR("target", g->target),
                COIN_LOG_STR("status", coin_codec_alert_status_name(status)),
                COIN_LOG_STR("severity", coin_codec_severity_name(g->severity)),
                COIN_LOG_STR("msg_id", msg->msg_id),
                COIN_LOG_STR("summary", g->summary));
  outbox_push(m, job);
}

static struct mon_global *global_find(struct monitor *m, const char *alertname,
                                      const char *target, bool create) {
  struct mon_global *free_slot = NULL;
  for (size_t i = 0; i < MON_MAX_GLOBALS; i++) {
    struct mon_global *g = &m->globals[i];
    if (!g->used) {
      if (free_slot == NULL)
        free_slot = g;
      continue;
    }
    if (!strcmp(g->alertname, alertname) && !strcmp(g->target, target))
      return g;
  }
  if (!create || free_slot == NULL)
    return NULL;
  memset(free_slot, 0, sizeof(*free_slot));
  free_slot->used = true;
  snprintf(free_slot->alertname, sizeof(free_slot->alertname), "%s", alertname);
  snprintf(free_slot->target, sizeof(free_slot->target), "%s", target);
  return free_slot;
}

void mon_global_set(struct monitor *m, const char *alertname,
                    const char *target, enum coin_severity severity,
                    bool firing, int64_t now_ms, const char *summary) {
  if (target == NULL)
    target = "";
  pthread_mutex_lock(&m->g_lock);
  struct mon_global *g = global_find(m, alertname, target, firing);
  if (g == NULL) {
    if (firing)
      COIN_LOG_ERROR("global alert dropped: table full",
                     COIN_LOG_STR("alertname", alertname),
                     COIN_LOG_UINT("max", MON_MAX_GLOBALS));
    pthread_mutex_unlock(&m->g_lock);
    return;
  }
  if (firing) {
    g->asserted = true;
    if (g->active && g->severity != severity) {
      /* a new label set for Alertmanager: end the old episode first */
      global_queue(m, g, COIN_ALERT_RESOLVED, now_ms);
      g->active = false;
    }
    snprintf(g->summary, sizeof(g->summary), "%s", summary ? summary : "");
    if (!g->active) {
      g->active = true;
      g->severity = severity;
      g->starts_at_ms = now_ms;
      global_queue(m, g, COIN_ALERT_FIRING, now_ms);
    }
  } else if (g->active) {
    if (summary && summary[0])
      snprintf(g->summary, sizeof(g->summary), "%s", summary);
    g->active = false;
    global_queue(m, g, COIN_ALERT_RESOLVED, now_ms);
    g->used = false;
  }
  pthread_mutex_unlock(&m->g_lock);
}

size_t mon_global_active(struct monitor *m, struct mon_global *out,
                         size_t max) {
  size_t n = 0;
  pthread_mutex_lock(&m->g_lock);
  for (size_t i = 0; i < MON_MAX_GLOBALS && n < max; i++)
    if (m->globals[i].used && m->globals[i].active)
      out[n++] = m->globals[i];
  pthread_mutex_unlock(&m->g_lock);
  return n;
}

void mon_global_sweep(struct monitor *m, int64_t now_ms) {
  pthread_mutex_lock(&m->g_lock);
  for (size_t i = 0; i < MON_MAX_GLOBALS; i++) {
    struct mon_global *g = &m->globals[i];
    if (!g->used || !g->active || g->asserted)
      continue;
    if (now_ms - g->loaded_ms < MON_GLOBAL_REASSERT_MS)
      continue;
    char name[sizeof(g->alertname)];
    snprintf(name, sizeof(name), "%s", g->alertname);
    snprintf(g->summary, sizeof(g->summary),
             "%s: not raised again after the monitor restarted", name);
    g->active = false;
    global_queue(m, g, COIN_ALERT_RESOLVED, now_ms);
    g->used = false;
  }
  pthread_mutex_unlock(&m->g_lock);
}

static bool severity_from(enum coin_severity *out, const char *name) {
  for (int v = COIN_SEVERITY_INFO; v <= COIN_SEVERITY_CRITICAL; v++)
    if (name &&
        !strcmp(name, coin_codec_severity_name((enum coin_severity)v))) {
      *out = (enum coin_severity)v;
      return true;
    }
  return false;
}

/* Reads one KV record into a table slot (active episodes only); under
 * g_lock. */
static int global_decode(struct monitor *m, const char *json, size_t len,
                         int64_t now_ms) {
  json_error_t je;
  json_t *root = json_loadb(json, len, 0, &je);
  if (root == NULL)
    return coin_error_set(COIN_EDECODE, "JSON error line %d col %d: %s",
                          je.line, je.column, je.text);
  int rc = 0;
  const json_t *active = json_object_get(root, "active");
  const char *name = json_string_value(json_object_get(root, "alertname"));
  const char *target = json_string_value(json_object_get(root, "target"));
  const char *summary = json_string_value(json_object_get(root, "summary"));
  const json_t *starts = json_object_get(root, "starts_at_ms");
  enum coin_severity sev = COIN_SEVERITY_UNSPECIFIED;
  if (!json_is_boolean(active) || !name || !target || !summary ||
      !json_is_integer(starts) ||
      !severity_from(&sev,
                     json_string_value(json_object_get(root, "severity"))))
    rc = coin_error_set(COIN_EDECODE, "active, alertname, target, severity, "
                                      "starts_at_ms or summary missing");
  if (rc == 0 && json_is_true(active)) {
    struct mon_global *g = global_find(m, name, target, true);
    if (g == NULL) {
      rc = coin_error_set(COIN_ETOOBIG, "more than %d global alerts",
                          MON_MAX_GLOBALS);
    } else {
      g->active = true;
      g->asserted = false;
      g->loaded_ms = now_ms;
      g->severity = sev;
      g->starts_at_ms = json_integer_value(starts);
      snprintf(g->summary, sizeof(g->summary), "%s", summary);
    }
  }
  json_decref(root);
  return rc;
}

struct global_scan {
  struct monitor *m;
  int64_t now;
  size_t loaded, bad;
};

static void global_scanned(const struct coin_bus_kv_entry *e, void *ctx) {
  struct global_scan *g = ctx;
  pthread_mutex_lock(&g->m->g_lock);
  int drc = global_decode(g->m, (const char *)e->value, e->value_len, g->now);
  pthread_mutex_unlock(&g->m->g_lock);
  if (drc == 0) {
    g->loaded++;
  } else {
    g->bad++;
    COIN_LOG_WARN("global alert record ignored", COIN_LOG_STR("key", e->key),
                  COIN_LOG_STR("error", coin_error_last()));
  }
}

int mon_global_load(struct monitor *m) {
  char pattern[COIN_CODEC_SUBJECT_BYTES];
  struct global_scan g = {m, coin_now_ms(), 0, 0};
  snprintf(pattern, sizeof(pattern), "%s.%s.>", MON_KEY_GLOBAL_PREFIX,
           m->cfg->core.exchange);
  int rc = coin_bus_kv_scan(m->kv_state, pattern, 30000, "global alerts",
                            global_scanned, &g);
  if (rc == 0 && (g.loaded || g.bad))
    COIN_LOG_INFO("global alerts loaded", COIN_LOG_UINT("records", g.loaded),
                  COIN_LOG_UINT("ignored", g.bad));
  return rc;
}
