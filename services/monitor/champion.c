/* champion.c: the champion watch. Its own thread, every
 * MONITOR_CHAMPION_CHECK_SECONDS: reads alias.champion (registry), then the
 * champion's realized records of InfluxDB measurement "prediction" (role
 * champion, its model_version, realized_return present, target candle within
 * MONITOR_CHAMPION_WINDOW_HOURS; newest MONITOR_CHAMPION_MAX_ROWS, streamed
 * in chunks), judges each series and the pool with lib/track.h (the same
 * figures and verdict as the public track record), raises or resolves the
 * global alert CoinChampionUnderperforming and writes one retraining request
 * per champion and episode (KV coin_models request.retrain).
 * A failed read is one warning line, counted; the last verdict stays, marked
 * stale, and its alerts stay as they are; a new champion resolves the old
 * one's alerts at once (a new judgement starts).
 * Threads: the watch thread owns the registry, the InfluxDB client and the
 * memory; c->lock (a leaf) guards the view that /status and /metrics read. */
#include "monitor_int.h"

#include "coin/buf.h"
#include "coin/clock.h"
#include "coin/error.h"
#include "coin/log.h"
#include "coin/redact.h"
#include "coin/registry.h"
#include "coin/service.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the rows of one check and their judgement ---------------------------
 */

void champ_eval_init(struct mon_champ_eval *e, const char *version,
                     int64_t from_ms, int64_t to_ms, size_t max_rows) {
  memset(e, 0, sizeof(*e));
  snprintf(e->version, sizeof(e->version), "%s", version ? version : "");
  e->from_ms = from_ms;
  e->to_ms = to_ms;
  e->max_rows = max_rows;
  coin_track_window(&e->pooled, NULL, 0, from_ms);
  e->pooled_verdict = COIN_TRACK_TOO_FEW;
}

void champ_eval_clear(struct mon_champ_eval *e) {
  free(e->rows);
  free(e->series);
  free(e->index);
  memset(e, 0, sizeof(*e));
}

static uint64_t series_hash(const char *symbol, enum coin_tf tf) {
  uint64_t h = 1469598103934665603ULL;
  for (const unsigned char *p = (const unsigned char *)symbol; *p; p++)
    h = (h ^ *p) * 1099511628211ULL;
  return (h ^ (uint64_t)tf) * 1099511628211ULL;
}

/* The series' index, added when new; -1 beyond the cap or out of memory. */
static long series_of(struct mon_champ_eval *e, const char *symbol,
                      enum coin_tf tf) {
  if (e->index == NULL) {
    e->index_cap = 2 * MON_CHAMP_MAX_SERIES;
    e->index = calloc(e->index_cap, sizeof(*e->index));
    e->series = calloc(MON_CHAMP_MAX_SERIES, sizeof(*e->series));
    if (e->index == NULL || e->series == NULL) {
      free(e->index);
      free(e->series);
      e->index = NULL;
      e->series = NULL;
      return -1;
    }
  }
  size_t mask = e->index_cap - 1;
  for (size_t i = series_hash(symbol, tf) & mask;; i = (i + 1) & mask) {
    uint32_t v = e->index[i];
    if (v == 0) {
      if (e->n_series >= MON_CHAMP_MAX_SERIES)
        return -1;
      struct mon_champ_series *s = &e->series[e->n_series];
      snprintf(s->symbol, sizeof(s->symbol), "%s", symbol);
      s->tf = tf;
      s->verdict = COIN_TRACK_TOO_FEW;
      e->index[i] = (uint32_t)++e->n_series;
      return (long)e->n_series - 1;
    }
    const struct mon_champ_series *s = &e->series[v - 1];
    if (s->tf == tf && strcmp(s->symbol, symbol) == 0)
      return (long)v - 1;
  }
}

bool champ_eval_add(struct mon_champ_eval *e, const char *symbol,
                    enum coin_tf tf, int64_t target_open_ms, double input_close,
                    double predicted_return, double realized_return) {
  if (e->n_rows >= e->max_rows) {
    e->truncated = true;
    return false;
  }
  if (symbol == NULL || symbol[0] == '\0' ||
      strlen(symbol) >= COIN_CODEC_NAME_BYTES ||
      (unsigned)tf >= COIN_TF_COUNT || !(input_close > 0) ||
      !isfinite(predicted_return) || !isfinite(realized_return)) {
    e->rows_ignored++;
    return false;
  }
  long s = series_of(e, symbol, tf);
  if (s < 0) {
    e->rows_ignored++;
    return false;
  }
  if (coin_grow(&e->rows, &e->cap_rows, e->n_rows + 1, sizeof(*e->rows),
                e->max_rows) != 0) {
    e->rows_ignored++;
    return false;
  }
  struct mon_champ_row *r = &e->rows[e->n_rows++];
  memset(r, 0, sizeof(*r));
  r->r.target_open_ms = target_open_ms;
  r->r.input_close = input_close;
  r->r.predicted_return = predicted_return;
  r->r.realized = true;
  r->r.realized_close = input_close * exp(realized_return);
  r->series = (uint32_t)s;
  return true;
}

int champ_eval_judge(struct mon_champ_eval *e, int64_t min_rows,
                     int64_t min_series_rows) {
  /* rows grouped by series (counting sort) into one contiguous array: each
   * series is a slice, the pool is all of it */
  struct coin_track_row *all =
      e->n_rows ? malloc(e->n_rows * sizeof(*all)) : NULL;
  size_t *at = calloc(e->n_series + 1, sizeof(*at));
  if ((e->n_rows && all == NULL) || at == NULL) {
    free(all);
    free(at);
    return coin_error_set(COIN_ENOMEM, "champion watch: out of memory");
  }
  for (size_t i = 0; i < e->n_rows; i++)
    at[e->rows[i].series + 1]++;
  for (size_t s = 0; s < e->n_series; s++)
    at[s + 1] += at[s];
  size_t *fill = calloc(e->n_series + 1, sizeof(*fill));
  if (fill == NULL) {
    free(all);
    free(at);
    return coin_error_set(COIN_ENOMEM, "champion watch: out of memory");
  }
  for (size_t i = 0; i < e->n_rows; i++) {
    uint32_t s = e->rows[i].series;
    all[at[s] + fill[s]++] = e->rows[i].r;
  }
  e->series_worse = 0;
  for (size_t s = 0; s < e->n_series; s++) {
    struct mon_champ_series *x = &e->series[s];
    coin_track_window(&x->w, all + at[s], at[s + 1] - at[s], e->from_ms);
    x->verdict = coin_track_judge(&x->w, min_series_rows);
    x->alerted = false;
    e->series_worse += x->verdict == COIN_TRACK_WORSE;
  }
  coin_track_window(&e->pooled, all, e->n_rows, e->from_ms);
  e->pooled_verdict = coin_track_judge(&e->pooled, min_rows);
  free(fill);
  free(at);
  free(all);
  return 0;
}

/* ---- alert texts --------------------------------------------------------- */

static void target_of(char out[MON_GLOBAL_TARGET_BYTES], const char *exchange,
                      const struct mon_champ_series *s) {
  snprintf(out, MON_GLOBAL_TARGET_BYTES, "%s/%s/%s", exchange, s->symbol,
           coin_tf_name(s->tf));
}

/* "champion v3 worse than persistence on pooled over 168h00m: n=240, ..." */
static void champ_summary(char *out, size_t n, const char *version,
                          const char *target, const struct coin_track_window *w,
                          int64_t window_ms, const char *extra) {
  char dur[32], ci[96], hit[96];
  mon_fmt_duration(dur, sizeof(dur), window_ms);
  if (isfinite(w->diff_lo))
    snprintf(ci, sizeof(ci), "MAE difference 95%% CI [%.3g, %.3g]", w->diff_lo,
             w->diff_hi);
  else
    snprintf(ci, sizeof(ci), "no CI");
  if (isfinite(w->hit_rate))
    snprintf(hit, sizeof(hit), "hit rate %.1f%% (95%% CI %.1f-%.1f%%)",
             100 * w->hit_rate, 100 * w->hit_lo, 100 * w->hit_hi);
  else
    snprintf(hit, sizeof(hit), "no hit rate");
  snprintf(out, n,
           "champion %s worse than persistence on %s over %s: n=%lld, MAE "
           "ratio %.3f (%s), %s%s%s",
           version, target, dur, (long long)w->n, w->mae_ratio, ci, hit,
           extra && extra[0] ? "; " : "", extra ? extra : "");
}

/* The version an alert summary names ("champion <v> ..."), "" if none. */
static void summary_version(char out[COIN_CODEC_ID_BYTES], const char *s) {
  out[0] = '\0';
  if (strncmp(s, "champion ", 9) != 0)
    return;
  s += 9;
  size_t i = 0;
  while (s[i] && s[i] != ' ' && i + 1 < COIN_CODEC_ID_BYTES) {
    out[i] = s[i];
    i++;
  }
  out[i] = '\0';
}

/* ---- alerts -------------------------------------------------------------- */

void champ_alerts(struct monitor *m, struct mon_champ_eval *e,
                  int64_t max_series_alerts, int64_t now_ms) {
  const char *ex = m->cfg->core.exchange;
  int64_t window_ms = m->cfg->champ_window_hours * 3600 * 1000;
  struct mon_global *act = calloc(MON_MAX_GLOBALS, sizeof(*act));
  if (act == NULL) {
    COIN_LOG_ERROR("champion watch: out of memory (alerts unchanged)");
    return;
  }
  size_t na = mon_global_active(m, act, MON_MAX_GLOBALS);
  char t[MON_GLOBAL_TARGET_BYTES], v[COIN_CODEC_ID_BYTES];
  /* which series alert: those already firing for this champion first (no
   * churn when the ranking moves), then the most significant */
  size_t slots = max_series_alerts > 0 ? (size_t)max_series_alerts : 0;
  for (size_t i = 0; e && i < e->n_series; i++) {
    struct mon_champ_series *s = &e->series[i];
    s->alerted = false;
    if (s->verdict != COIN_TRACK_WORSE || slots == 0)
      continue;
    target_of(t, ex, s);
    for (size_t k = 0; k < na; k++) {
      summary_version(v, act[k].summary);
      if (!strcmp(act[k].alertname, MON_CHAMP_ALERT) &&
          !strcmp(act[k].target, t) && !strcmp(v, e->version)) {
        s->alerted = true;
        slots--;
        break;
      }
    }
  }
  while (e && slots > 0) {
    struct mon_champ_series *best = NULL;
    for (size_t i = 0; i < e->n_series; i++) {
      struct mon_champ_series *s = &e->series[i];
      if (s->verdict == COIN_TRACK_WORSE && !s->alerted &&
          (best == NULL || s->w.diff_lo > best->w.diff_lo))
        best = s;
    }
    if (best == NULL)
      break;
    best->alerted = true;
    slots--;
  }
  bool pooled = e && e->pooled_verdict == COIN_TRACK_WORSE;
  /* resolve every episode this judgement does not keep */
  for (size_t k = 0; k < na; k++) {
    const struct mon_global *g = &act[k];
    if (strcmp(g->alertname, MON_CHAMP_ALERT) != 0)
      continue;
    summary_version(v, g->summary);
    bool keep = false;
    const struct mon_champ_series *s = NULL;
    if (e && !strcmp(v, e->version)) {
      if (!strcmp(g->target, MON_CHAMP_POOLED))
        keep = pooled;
      for (size_t i = 0; i < e->n_series && !keep; i++) {
        target_of(t, ex, &e->series[i]);
        if (!strcmp(g->target, t)) {
          s = &e->series[i];
          keep = s->alerted;
          break;
        }
      }
    }
    if (keep)
      continue;
    char why[COIN_CODEC_TEXT_BYTES];
    if (e == NULL)
      snprintf(why, sizeof(why),
               "champion %s: no champion any more (alias.champion unset), "
               "its judgement on %s ends",
               v, g->target);
    else if (strcmp(v, e->version) != 0)
      snprintf(why, sizeof(why),
               "champion %s: replaced by %s, a new judgement starts on %s", v,
               e->version, g->target);
    else if (s && s->verdict == COIN_TRACK_WORSE)
      snprintf(why, sizeof(why),
               "champion %s: still worse on %s but beyond "
               "MONITOR_CHAMPION_MAX_SERIES_ALERTS (counted in the pooled "
               "figures)",
               v, g->target);
    else
      snprintf(why, sizeof(why),
               "champion %s: no longer worse than persistence on %s (%s)", v,
               g->target,
               s ? coin_track_verdict_name(s->verdict)
                 : coin_track_verdict_name(strcmp(g->target, MON_CHAMP_POOLED)
                                               ? COIN_TRACK_TOO_FEW
                                               : e->pooled_verdict));
    mon_global_set(m, MON_CHAMP_ALERT, g->target, COIN_SEVERITY_WARNING, false,
                   now_ms, why);
  }
  free(act);
  if (e == NULL)
    return;
  char summary[COIN_CODEC_TEXT_BYTES];
  size_t alerted = 0;
  for (size_t i = 0; i < e->n_series; i++) {
    const struct mon_champ_series *s = &e->series[i];
    if (!s->alerted)
      continue;
    alerted++;
    target_of(t, ex, s);
    champ_summary(summary, sizeof(summary), e->version, t, &s->w, window_ms,
                  NULL);
    mon_global_set(m, MON_CHAMP_ALERT, t, COIN_SEVERITY_WARNING, true, now_ms,
                   summary);
  }
  if (pooled) {
    char extra[128];
    snprintf(extra, sizeof(extra), "%zu of %zu series worse (%zu alerted)",
             e->series_worse, e->n_series, alerted);
    champ_summary(summary, sizeof(summary), e->version, MON_CHAMP_POOLED,
                  &e->pooled, window_ms, extra);
    mon_global_set(m, MON_CHAMP_ALERT, MON_CHAMP_POOLED, COIN_SEVERITY_WARNING,
                   true, now_ms, summary);
  }
}

bool champ_retrain_due(struct mon_champ_memory *mem,
                       const struct mon_champ_eval *e, int64_t retrain_series) {
  if (strcmp(mem->judged, e->version) != 0) {
    snprintf(mem->judged, sizeof(mem->judged), "%s", e->version);
    mem->episode = false;
    mem->requested = false;
  }
  bool cond = e->pooled_verdict == COIN_TRACK_WORSE ||
              (int64_t)e->series_worse >= retrain_series;
  if (cond) {
    mem->episode = true;
    return !mem->requested;
  }
  if (e->pooled_verdict == COIN_TRACK_OK) { /* evidence that it recovered */
    mem->episode = false;
    mem->requested = false;
  }
  return false;
}

/* ---- the watch ----------------------------------------------------------- */

struct mon_champ {
  struct monitor *m;
  pthread_t thread;
  bool started;
  atomic_bool stop;
  /* watch thread only */
  struct coin_registry *reg;
  struct coin_bus_kv *kv_models; /* the alias entry's time (since) */
  struct coin_influx *ix;
  struct mon_champ_memory mem;
  uint64_t alias_rev;

  pthread_mutex_t lock; /* leaf: everything below */
  bool checked;         /* a check ran */
  bool has_champion;
  char version[COIN_CODEC_ID_BYTES];
  int64_t since_ms; /* alias.champion written (-1 unknown) */
  bool have_eval;
  bool stale; /* the last check failed: eval is an older judgement's */
  struct mon_champ_eval eval;
  int64_t judged_ms;     /* when eval was judged */
  int64_t last_check_ms; /* the last check, good or not */
  uint64_t checks, failures;
  char last_error[400];
  int64_t last_error_ms;
  bool requested; /* a retraining request stands for this episode */
  char request_scope[96];
  int64_t request_ms;
  uint64_t requests_written, request_failures;
};

static void champ_fail(struct mon_champ *c, int64_t now_ms, const char *what) {
  char err[320];
  coin_redact_text(err, sizeof(err), coin_error_last());
  COIN_LOG_WARN("champion watch: check failed (last verdict kept, stale)",
                COIN_LOG_STR("step", what), COIN_LOG_STR("error", err));
  pthread_mutex_lock(&c->lock);
  c->checked = true;
  c->stale = true;
  c->failures++;
  c->last_check_ms = now_ms;
  snprintf(c->last_error, sizeof(c->last_error), "%s: %s", what, err);
  c->last_error_ms = now_ms;
  pthread_mutex_unlock(&c->lock);
}

static int on_row(void *ud, const struct coin_influx_row *row) {
  struct mon_champ_eval *e = ud;
  const struct coin_influx_value *t = coin_influx_row_get(row, "time");
  const struct coin_influx_value *sy = coin_influx_row_get(row, "symbol");
  const struct coin_influx_value *tf = coin_influx_row_get(row, "timeframe");
  const struct coin_influx_value *pr =
      coin_influx_row_get(row, "predicted_return");
  const struct coin_influx_value *ic = coin_influx_row_get(row, "input_close");
  const struct coin_influx_value *rr =
      coin_influx_row_get(row, "realized_return");
  char sym[COIN_CODEC_NAME_BYTES], tfn[8];
  enum coin_tf tfv;
  if (!t || !sy || !tf || !pr || !ic || !rr || t->type != COIN_INFLUX_INT ||
      sy->type != COIN_INFLUX_STRING || tf->type != COIN_INFLUX_STRING ||
      pr->type != COIN_INFLUX_FLOAT || ic->type != COIN_INFLUX_FLOAT ||
      rr->type != COIN_INFLUX_FLOAT || sy->v.str.len >= sizeof(sym) ||
      tf->v.str.len >= sizeof(tfn)) {
    e->rows_ignored++;
    return 0;
  }
  snprintf(sym, sizeof(sym), "%.*s", (int)sy->v.str.len, sy->v.str.ptr);
  snprintf(tfn, sizeof(tfn), "%.*s", (int)tf->v.str.len, tf->v.str.ptr);
  if (coin_tf_parse(&tfv, tfn) != 0) {
    e->rows_ignored++;
    return 0;
  }
  champ_eval_add(e, sym, tfv, t->v.i64, ic->v.f64, pr->v.f64, rr->v.f64);
  return e->truncated ? 1 : 0; /* the newest max_rows are in: stop */
}

/* The champion's realized rows of the window, newest first, bounded. */
static int champ_read(struct mon_champ *c, struct mon_champ_eval *e) {
  char q[1024];
  /* exchange and version passed their token rules: nothing to escape */
  snprintf(q, sizeof(q),
           "SELECT \"symbol\", \"timeframe\", predicted_return, input_close, "
           "realized_return FROM prediction WHERE exchange='%s' AND "
           "role='champion' AND model_version='%s' AND time >= %lldms AND "
           "time <= %lldms AND (realized_return >= 0 OR realized_return < 0) "
           "ORDER BY time DESC LIMIT %zu",
           c->m->cfg->core.exchange, e->version, (long long)e->from_ms,
           (long long)e->to_ms, e->max_rows + 1);
  int rc = coin_influx_query(c->ix, q, on_row, e);
  if (rc == COIN_ENOTFOUND)
    rc = 0; /* no database or measurement yet: nothing realized */
  return rc;
}

/* Writes the retraining request unless one for this champion stands. */
static void champ_request(struct mon_champ *c, const struct mon_champ_eval *e,
                          int64_t now_ms) {
  struct monitor *m = c->m;
  struct coin_retrain_request req, old;
  memset(&req, 0, sizeof(req));
  int rc = coin_registry_retrain_request_get(c->reg, &old, NULL);
  if (rc == 0 && strcmp(old.champion, e->version) == 0) {
    c->mem.requested = true; /* e.g. written before a restart */
    COIN_LOG_INFO("champion watch: retraining already requested",
                  COIN_LOG_STR("champion", e->version),
                  COIN_LOG_STR("requested_by", old.requested_by));
    pthread_mutex_lock(&c->lock);
    c->requested = true;
    snprintf(c->request_scope, sizeof(c->request_scope), "%s", old.scope);
    c->request_ms = old.requested_at_ms;
    pthread_mutex_unlock(&c->lock);
    return;
  }
  if (rc != 0 && rc != COIN_ENOTFOUND && rc != COIN_EDECODE) {
    champ_fail(c, now_ms, "retrain request read");
    pthread_mutex_lock(&c->lock);
    c->request_failures++;
    pthread_mutex_unlock(&c->lock);
    return;
  }
  /* the scope: the pool, else the most significant worse series */
  const struct coin_track_window *w = &e->pooled;
  snprintf(req.scope, sizeof(req.scope), "%s", MON_CHAMP_POOLED);
  if (e->pooled_verdict != COIN_TRACK_WORSE) {
    const struct mon_champ_series *best = NULL;
    for (size_t i = 0; i < e->n_series; i++)
      if (e->series[i].verdict == COIN_TRACK_WORSE &&
          (best == NULL || e->series[i].w.diff_lo > best->w.diff_lo))
        best = &e->series[i];
    if (best) {
      char t[MON_GLOBAL_TARGET_BYTES];
      target_of(t, m->cfg->core.exchange, best);
      snprintf(req.scope, sizeof(req.scope), "%s", t);
      w = &best->w;
    }
  }
  char extra[96];
  snprintf(extra, sizeof(extra), "%zu of %zu series worse", e->series_worse,
           e->n_series);
  snprintf(req.champion, sizeof(req.champion), "%s", e->version);
  champ_summary(req.reason, sizeof(req.reason), e->version, req.scope, w,
                m->cfg->champ_window_hours * 3600 * 1000, extra);
  snprintf(req.requested_by, sizeof(req.requested_by), "coin-monitor@%s",
           m->cfg->core.service_id);
  req.requested_at_ms = now_ms;
  req.n = w->n;
  req.mae_ratio = w->mae_ratio;
  rc = coin_registry_retrain_request_put(c->reg, &req);
  if (rc != 0) {
    champ_fail(c, now_ms, "retrain request write");
    pthread_mutex_lock(&c->lock);
    c->request_failures++;
    pthread_mutex_unlock(&c->lock);
    return;
  }
  c->mem.requested = true;
  COIN_LOG_WARN("champion watch: retraining requested",
                COIN_LOG_STR("champion", req.champion),
                COIN_LOG_STR("scope", req.scope),
                COIN_LOG_STR("reason", req.reason));
  pthread_mutex_lock(&c->lock);
  c->requested = true;
  snprintf(c->request_scope, sizeof(c->request_scope), "%s", req.scope);
  c->request_ms = now_ms;
  c->requests_written++;
  pthread_mutex_unlock(&c->lock);
}

/* alias.champion's write time, when its revision is rev; -1 otherwise. */
static int64_t alias_since(struct mon_champ *c, uint64_t rev) {
  struct coin_bus_kv_entry en = {0};
  int64_t since = -1;
  if (c->kv_models == NULL &&
      coin_bus_kv_open(&c->kv_models, c->m->bus, COIN_KV_MODELS) != 0)
    return -1;
  if (coin_bus_kv_get(&en, c->kv_models, COIN_ALIAS_CHAMPION) == 0 &&
      en.revision == rev)
    since = en.created_ms;
  coin_bus_kv_entry_clear(&en);
  return since;
}

static void check_once(struct mon_champ *c) {
  struct monitor *m = c->m;
  const struct monitor_config *cfg = m->cfg;
  int64_t now = coin_now_ms();
  if (c->reg == NULL &&
      coin_registry_open(&c->reg, m->bus, m->producer_id) != 0) {
    c->reg = NULL;
    champ_fail(c, now, "registry");
    return;
  }
  char version[COIN_CODEC_ID_BYTES];
  uint64_t rev = 0;
  int rc = coin_registry_alias_get(c->reg, version, &rev, COIN_ALIAS_CHAMPION);
  if (rc == COIN_ENOTFOUND) {
    champ_alerts(m, NULL, 0, now); /* nothing to judge: nothing fires */
    c->mem.judged[0] = '\0';
    c->mem.episode = c->mem.requested = false;
    pthread_mutex_lock(&c->lock);
    c->checked = true;
    c->has_champion = false;
    c->version[0] = '\0';
    c->since_ms = -1;
    c->have_eval = c->stale = c->requested = false;
    champ_eval_clear(&c->eval);
    c->judged_ms = c->last_check_ms = now;
    c->checks++;
    pthread_mutex_unlock(&c->lock);
    return;
  }
  if (rc != 0) {
    champ_fail(c, now, "alias.champion");
    return;
  }
  int64_t since = -2; /* unchanged */
  if (rev != c->alias_rev) {
    since = alias_since(c, rev);
    c->alias_rev = rev;
  }
  bool changed = strcmp(version, c->version) != 0;
  struct mon_champ_eval e;
  champ_eval_init(&e, version, now - cfg->champ_window_hours * 3600 * 1000, now,
                  (size_t)cfg->champ_max_rows);
  rc = champ_read(c, &e);
  if (rc != 0) {
    char err[320];
    snprintf(err, sizeof(err), "%s", coin_error_last());
    champ_eval_clear(&e);
    if (changed) {
      /* a new champion: the old one's alerts end whatever InfluxDB says */
      struct mon_champ_eval empty;
      champ_eval_init(&empty, version, now, now, 0);
      champ_alerts(m, &empty, 0, now);
      champ_eval_clear(&empty);
      pthread_mutex_lock(&c->lock);
      snprintf(c->version, sizeof(c->version), "%s", version);
      c->has_champion = true;
      c->have_eval = false;
      c->requested = false;
      champ_eval_clear(&c->eval);
      if (since != -2)
        c->since_ms = since;
      pthread_mutex_unlock(&c->lock);
    }
    coin_error_set(rc, "%s", err);
    champ_fail(c, now, "influxdb read");
    return;
  }
  if (champ_eval_judge(&e, cfg->champ_min_rows, cfg->champ_min_series_rows) !=
      0) {
    champ_eval_clear(&e);
    champ_fail(c, now, "judgement");
    return;
  }
  free(e.rows); /* the view keeps the figures, not the rows */
  e.rows = NULL;
  e.n_rows = e.cap_rows = 0;
  champ_alerts(m, &e, cfg->champ_max_series_alerts, now);
  bool had_request = c->mem.requested && !strcmp(c->mem.judged, version);
  bool due = champ_retrain_due(&c->mem, &e, cfg->champ_retrain_series);
  if (changed || (had_request && !c->mem.requested)) {
    pthread_mutex_lock(&c->lock);
    c->requested = false; /* a new episode */
    pthread_mutex_unlock(&c->lock);
  }
  if (due)
    champ_request(c, &e, now);
  if (changed || e.pooled_verdict != c->eval.pooled_verdict ||
      e.series_worse != c->eval.series_worse)
    COIN_LOG_INFO(
        "champion watch: judged", COIN_LOG_STR("champion", version),
        COIN_LOG_STR("pooled", coin_track_verdict_name(e.pooled_verdict)),
        COIN_LOG_INT("n", e.pooled.n),
        COIN_LOG_DBL("mae_ratio", e.pooled.mae_ratio),
        COIN_LOG_UINT("series", e.n_series),
        COIN_LOG_UINT("series_worse", e.series_worse),
        COIN_LOG_BOOL("truncated", e.truncated));
  struct mon_champ_eval old;
  pthread_mutex_lock(&c->lock);
  old = c->eval;
  c->eval = e;
  c->have_eval = true;
  c->stale = false;
  c->checked = true;
  c->has_champion = true;
  snprintf(c->version, sizeof(c->version), "%s", version);
  if (since != -2)
    c->since_ms = since;
  c->judged_ms = c->last_check_ms = now;
  c->checks++;
  pthread_mutex_unlock(&c->lock);
  champ_eval_clear(&old);
}

static void *champ_main(void *arg) {
  struct mon_champ *c = arg;
  int64_t period = c->m->cfg->champ_check_seconds * 1000;
  int64_t next = coin_mono_ms();
  while (!atomic_load(&c->stop) && !c->m->stop) {
    int64_t now = coin_mono_ms();
    if (now < next) {
      if (mon_sleep_unless(&c->stop, next - now < 200 ? next - now : 200))
        break;
      continue;
    }
    next += period;
    if (next < now)
      next = now + period; /* fell behind: no burst */
    check_once(c);
  }
  return NULL;
}

int champ_new(struct mon_champ **out, struct monitor *m) {
  *out = NULL;
  struct mon_champ *c = calloc(1, sizeof(*c));
  if (c == NULL)
    return coin_error_set(COIN_ENOMEM, "champion watch: out of memory");
  c->m = m;
  c->since_ms = -1;
  c->last_error_ms = -1;
  atomic_init(&c->stop, false);
  pthread_mutex_init(&c->lock, NULL);
  if (m->cfg->champ_check_seconds > 0) {
    struct coin_influx_options o;
    coin_service_influx_options(&o, &m->cfg->core);
    o.connect_timeout_ms = 3000;
    o.timeout_ms = 10000;
    o.query_timeout_ms = 120000;
    o.max_retries = 1;
    int rc = coin_influx_new(&c->ix, &o);
    if (rc != 0) {
      champ_free(c);
      return coin_error_wrap(rc, "champion watch: InfluxDB client");
    }
  }
  *out = c;
  return 0;
}

int champ_start(struct mon_champ *c) {
  if (c == NULL || c->m->cfg->champ_check_seconds <= 0)
    return 0;
  if (pthread_create(&c->thread, NULL, champ_main, c) != 0)
    return coin_error_set(COIN_EINTERNAL,
                          "champion watch: thread start failed");
  c->started = true;
  COIN_LOG_INFO(
      "champion watch",
      COIN_LOG_INT("check_seconds", c->m->cfg->champ_check_seconds),
      COIN_LOG_INT("window_hours", c->m->cfg->champ_window_hours),
      COIN_LOG_INT("min_rows", c->m->cfg->champ_min_rows),
      COIN_LOG_INT("min_series_rows", c->m->cfg->champ_min_series_rows));
  return 0;
}

void champ_free(struct mon_champ *c) {
  if (c == NULL)
    return;
  if (c->started) {
    atomic_store(&c->stop, true);
    pthread_join(c->thread, NULL);
  }
  coin_registry_free(c->reg);
  coin_bus_kv_free(c->kv_models);
  coin_influx_free(c->ix);
  champ_eval_clear(&c->eval);
  pthread_mutex_destroy(&c->lock);
  free(c);
}

/* ---- reporting ----------------------------------------------------------- */

/* The figures of a window, named as in track_record.json. */
static void put_figures(struct coin_jbuf *b, const struct coin_track_window *w,
                        enum coin_track_verdict v) {
  coin_jbuf_kint(b, "n", w->n);
  coin_jbuf_knum(b, "mae", w->mae);
  coin_jbuf_knum(b, "persistence_mae", w->persistence_mae);
  coin_jbuf_knum(b, "mae_ratio", w->mae_ratio);
  coin_jbuf_kinterval(b, "mae_diff_ci95", w->diff_lo, w->diff_hi);
  coin_jbuf_kint(b, "directional_n", w->directional_n);
  coin_jbuf_kint(b, "hits", w->hits);
  coin_jbuf_knum(b, "hit_rate", w->hit_rate);
  coin_jbuf_kinterval(b, "hit_rate_ci95", w->hit_lo, w->hit_hi);
  coin_jbuf_kstr(b, "verdict", coin_track_verdict_name(v));
}

void champ_status_json(struct coin_jbuf *b, struct mon_champ *c) {
  coin_jbuf_key(b, "champion");
  if (c == NULL || c->m->cfg->champ_check_seconds <= 0) {
    coin_jbuf_puts(b, "null,");
    return;
  }
  const struct monitor_config *cfg = c->m->cfg;
  pthread_mutex_lock(&c->lock);
  const struct mon_champ_eval *e = c->have_eval ? &c->eval : NULL;
  coin_jbuf_putn(b, "{", 1);
  coin_jbuf_kstr(b, "version", c->has_champion ? c->version : NULL);
  coin_jbuf_ktime(b, "since", c->since_ms);
  coin_jbuf_kint_or_null(b, "since_ms", c->since_ms);
  coin_jbuf_kint(b, "check_seconds", cfg->champ_check_seconds);
  coin_jbuf_kint(b, "min_rows", cfg->champ_min_rows);
  coin_jbuf_kint(b, "min_series_rows", cfg->champ_min_series_rows);
  coin_jbuf_ktime(b, "last_check", c->checked ? c->last_check_ms : -1);
  coin_jbuf_kint_or_null(b, "last_check_ms",
                         c->checked ? c->last_check_ms : -1);
  coin_jbuf_ktime(b, "judged_at", e ? c->judged_ms : -1);
  coin_jbuf_kint_or_null(b, "judged_at_ms", e ? c->judged_ms : -1);
  coin_jbuf_kbool(b, "stale", c->stale);
  coin_jbuf_key(b, "window");
  coin_jbuf_putn(b, "{", 1);
  coin_jbuf_kint(b, "hours", cfg->champ_window_hours);
  coin_jbuf_kint_or_null(b, "from_ms", e ? e->from_ms : -1);
  coin_jbuf_kint_or_null(b, "to_ms", e ? e->to_ms : -1);
  coin_jbuf_kint(b, "max_rows", cfg->champ_max_rows);
  coin_jbuf_kbool(b, "truncated", e && e->truncated);
  coin_jbuf_kint(b, "rows_ignored", e ? (int64_t)e->rows_ignored : 0);
  coin_jbuf_trim_comma(b);
  coin_jbuf_putn(b, "},", 2);
  coin_jbuf_key(b, "pooled");
  if (e) {
    coin_jbuf_putn(b, "{", 1);
    put_figures(b, &e->pooled, e->pooled_verdict);
    coin_jbuf_kbool(b, "alerted", e->pooled_verdict == COIN_TRACK_WORSE);
    coin_jbuf_trim_comma(b);
    coin_jbuf_putn(b, "},", 2);
  } else {
    coin_jbuf_puts(b, "null,");
  }
  size_t alerted = 0;
  coin_jbuf_key(b, "series");
  coin_jbuf_putn(b, "[", 1);
  for (size_t i = 0; e && i < e->n_series; i++) {
    const struct mon_champ_series *s = &e->series[i];
    alerted += s->alerted;
    coin_jbuf_putn(b, "{", 1);
    coin_jbuf_kstr(b, "exchange", cfg->core.exchange);
    coin_jbuf_kstr(b, "symbol", s->symbol);
    coin_jbuf_kstr(b, "timeframe", coin_tf_name(s->tf));
    put_figures(b, &s->w, s->verdict);
    coin_jbuf_kbool(b, "alerted", s->alerted);
    coin_jbuf_trim_comma(b);
    coin_jbuf_putn(b, "},", 2);
  }
  coin_jbuf_trim_comma(b);
  coin_jbuf_putn(b, "],", 2);
  coin_jbuf_kint(b, "series_worse", e ? (int64_t)e->series_worse : 0);
  coin_jbuf_kint(b, "series_alerted", (int64_t)alerted);
  coin_jbuf_key(b, "retrain");
  coin_jbuf_putn(b, "{", 1);
  coin_jbuf_kbool(b, "requested", c->requested);
  coin_jbuf_kstr(b, "scope", c->requested ? c->request_scope : NULL);
  coin_jbuf_kint_or_null(b, "requested_at_ms",
                         c->requested ? c->request_ms : -1);
  coin_jbuf_kint(b, "written", (int64_t)c->requests_written);
  coin_jbuf_kint(b, "failures", (int64_t)c->request_failures);
  coin_jbuf_trim_comma(b);
  coin_jbuf_putn(b, "},", 2);
  coin_jbuf_key(b, "errors");
  coin_jbuf_putn(b, "{", 1);
  coin_jbuf_kint(b, "checks", (int64_t)c->checks);
  coin_jbuf_kint(b, "failures", (int64_t)c->failures);
  coin_jbuf_kstr(b, "last_error", c->last_error[0] ? c->last_error : NULL);
  coin_jbuf_kint_or_null(b, "last_error_ms", c->last_error_ms);
  coin_jbuf_trim_comma(b);
  coin_jbuf_putn(b, "}", 1);
  coin_jbuf_putn(b, "},", 2);
  pthread_mutex_unlock(&c->lock);
}

static void gauge_or_nan(struct coin_jbuf *b, const char *name,
                         const char *help, double v) {
  coin_jbuf_printf(b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
  if (isfinite(v))
    coin_jbuf_printf(b, "%s %.9g\n", name, v);
  else
    coin_jbuf_printf(b, "%s NaN\n", name);
}

void champ_metrics(struct coin_jbuf *b, struct mon_champ *c) {
  if (c == NULL || c->m->cfg->champ_check_seconds <= 0)
    return;
  pthread_mutex_lock(&c->lock);
  const struct mon_champ_eval *e = c->have_eval ? &c->eval : NULL;
  size_t alerted = 0;
  for (size_t i = 0; e && i < e->n_series; i++)
    alerted += e->series[i].alerted;
  coin_jbuf_printf(b,
                   "# HELP coin_monitor_champion_checks_total Champion watch "
                   "checks that judged (or found no champion).\n"
                   "# TYPE coin_monitor_champion_checks_total counter\n"
                   "coin_monitor_champion_checks_total %llu\n"
                   "# HELP coin_monitor_champion_check_failures_total "
                   "Champion watch checks that failed (registry, InfluxDB).\n"
                   "# TYPE coin_monitor_champion_check_failures_total "
                   "counter\n"
                   "coin_monitor_champion_check_failures_total %llu\n",
                   (unsigned long long)c->checks,
                   (unsigned long long)c->failures);
  if (c->has_champion)
    coin_jbuf_printf(b,
                     "# HELP coin_monitor_champion_info The champion judged "
                     "(label version).\n"
                     "# TYPE coin_monitor_champion_info gauge\n"
                     "coin_monitor_champion_info{version=\"%s\"} 1\n",
                     c->version);
  gauge_or_nan(b, "coin_monitor_champion_stale",
               "1 while the last check failed and the verdict is older.",
               c->stale ? 1 : 0);
  gauge_or_nan(b, "coin_monitor_champion_n",
               "Realized rows of the pooled judgement.",
               e ? (double)e->pooled.n : 0);
  gauge_or_nan(b, "coin_monitor_champion_mae_ratio",
               "Pooled champion MAE / persistence MAE over the window.",
               e ? e->pooled.mae_ratio : NAN);
  gauge_or_nan(b, "coin_monitor_champion_hit_rate",
               "Pooled direction hit rate over the window.",
               e ? e->pooled.hit_rate : NAN);
  gauge_or_nan(b, "coin_monitor_champion_verdict",
               "Pooled verdict: 0 too_few, 1 ok, 2 worse_than_persistence.",
               e ? (double)e->pooled_verdict : 0);
  gauge_or_nan(b, "coin_monitor_champion_series_worse",
               "Series judged worse_than_persistence.",
               e ? (double)e->series_worse : 0);
  gauge_or_nan(b, "coin_monitor_champion_series_alerted",
               "Series with their own CoinChampionUnderperforming alert.",
               (double)alerted);
  coin_jbuf_printf(b,
                   "# HELP coin_monitor_champion_retrain_requests_total "
                   "Retraining requests written (KV coin_models "
                   "request.retrain).\n"
                   "# TYPE coin_monitor_champion_retrain_requests_total "
                   "counter\n"
                   "coin_monitor_champion_retrain_requests_total %llu\n",
                   (unsigned long long)c->requests_written);
  pthread_mutex_unlock(&c->lock);
}
