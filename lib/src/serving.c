/*
 * serving.c: the champion / challenger serving chain (serving.h). It
 * follows the registry's alias keys with a KV watch, loads a new model only
 * after its artifact's sha256 matched the metadata and the artifact parsed,
 * keeps the old champion serving when a new one is bad (degraded
 * model_load_failed), predicts with the one shared feature pipeline,
 * records every champion and challenger prediction in InfluxDB measurement
 * "prediction" (the challenger's only there: shadow), and writes realized
 * returns when target candles arrive. Serving chain: champion ->
 * insufficient_data, never a fallback model and never an invented value;
 * a timeframe where the champion's walk-forward MAE is above persistence's
 * is not served (worse_than_persistence).
 * Threads: one thread at a time per serving object (serving.h).
 */
#include "coin/serving.h"
#include "coin/buf.h"
#include "coin/clock.h"

#include "coin/error.h"
#include "coin/features.h"
#include "coin/freshness.h"
#include "coin/model.h"
#include "coin/registry.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BAND_LEVEL 0.8
#define RELOAD_RETRY_MS 30000
#define RECENT_MAX 4096 /* series x role remembered for record dedup */
#define REALIZE_MAX_ROWS 100000

enum role { ROLE_CHAMPION = 0, ROLE_CHALLENGER = 1 };
static const char *const role_names[2] = {"champion", "challenger"};
static const char *const role_aliases[2] = {COIN_ALIAS_CHAMPION,
                                            COIN_ALIAS_CHALLENGER};

struct slot {
  struct coin_model *model; /* NULL: none loaded */
  struct coin_model_metadata meta;
  char wanted[COIN_CODEC_ID_BYTES]; /* what the alias says ("" = unset) */
  bool failed;                      /* wanted could not be loaded */
  int64_t failed_at_ms;
  char error[256];
};

/* Last target recorded per (series, role): predict may be called several
 * times for the same target; one record is enough. */
struct recent {
  char symbol[COIN_CODEC_NAME_BYTES];
  uint8_t tf, role;
  char version[COIN_CODEC_ID_BYTES];
  int64_t target_ms;
};

struct coin_serving {
  struct coin_serving_opts opts;
  char exchange[COIN_CODEC_NAME_BYTES];
  struct coin_registry *reg;
  struct coin_bus_kv *kv;
  struct coin_bus_kv_watch *watch;
  bool dirty;
  struct slot slot[2];
  bool challenger_inference_failed;
  struct recent *recent;
  size_t n_recent;
  struct coin_serving_stats stats;
};

/* ---- registry ----------------------------------------------------------- */

static int connect_registry(struct coin_serving *s) {
  int rc;
  if (s->reg || !s->opts.bus)
    return 0;
  if ((rc = coin_registry_open(&s->reg, s->opts.bus, "coin-serving")) != 0)
    return rc;
  /* the watch uses the KV handle: both live until coin_serving_free */
  if ((rc = coin_bus_kv_open(&s->kv, s->opts.bus, COIN_KV_MODELS)) == 0) {
    struct coin_bus_kv_watch_options wo = {.keys = "alias.>"};
    rc = coin_bus_kv_watch(&s->watch, s->kv, &wo);
  }
  if (rc) {
    coin_bus_kv_free(s->kv);
    s->kv = NULL;
    coin_registry_free(s->reg);
    s->reg = NULL;
    return coin_error_wrap(rc, "serving: watch %s", COIN_KV_MODELS);
  }
  s->dirty = true;
  return 0;
}

int coin_serving_new(struct coin_serving **out,
                     const struct coin_serving_opts *opts) {
  int rc;
  if (out == NULL || opts == NULL)
    return coin_error_set(COIN_EINVAL, "serving: NULL argument");
  const char *ex = opts->exchange ? opts->exchange : "binance";
  if ((rc = coin_exchange_validate(ex)) != 0)
    return rc;
  struct coin_serving *s = calloc(1, sizeof(*s));
  if (!s)
    return coin_error_set(COIN_ENOMEM, "serving: out of memory");
  s->opts = *opts;
  snprintf(s->exchange, sizeof(s->exchange), "%s", ex);
  s->opts.exchange = s->exchange;
  /* A registry that cannot be reached now is retried by refresh: serving
   * starts anyway (blocked as no_model until a champion loads). */
  if (connect_registry(s) == 0)
    (void)coin_serving_refresh(s);
  *out = s;
  return 0;
}

void coin_serving_free(struct coin_serving *s) {
  if (s == NULL)
    return;
  coin_bus_kv_watch_free(s->watch);
  coin_bus_kv_free(s->kv);
  coin_registry_free(s->reg);
  for (int r = 0; r < 2; r++)
    coin_model_free(s->slot[r].model);
  free(s->recent);
  free(s);
}

/* Loads what the alias of role points to, if it is not loaded already. */
static int sync_slot(struct coin_serving *s, enum role r, bool retry) {
  struct slot *sl = &s->slot[r];
  char want[COIN_CODEC_ID_BYTES] = "";
  int rc = coin_registry_alias_get(s->reg, want, NULL, role_aliases[r]);
  if (rc == COIN_ENOTFOUND) {
    want[0] = '\0';
    rc = 0;
  }
  if (rc)
    return rc;
  if (strcmp(want, sl->wanted) != 0) {
    snprintf(sl->wanted, sizeof(sl->wanted), "%s", want);
    sl->failed = false;
    if (r == ROLE_CHALLENGER)
      s->challenger_inference_failed = false;
  } else if (!sl->failed || !retry) {
    return 0; /* nothing new */
  }
  if (want[0] == '\0') { /* alias removed: nothing serves in this role */
    coin_model_free(sl->model);
    sl->model = NULL;
    memset(&sl->meta, 0, sizeof(sl->meta));
    return 0;
  }
  if (sl->model && strcmp(sl->meta.version, want) == 0) {
    sl->failed = false;
    return 0;
  }
  struct coin_model *m = NULL;
  struct coin_model_metadata meta;
  s->stats.loads++;
  rc = coin_registry_load_model(s->reg, &m, &meta, want);
  if (rc == 0 && !coin_model_servable(m)) {
    rc = coin_error_set(COIN_EINVAL,
                        "model %s: feature schema v%u %.12s... is not this "
                        "build's v%u %.12s... (rule: servable schema)",
                        want, coin_model_schema_version(m),
                        coin_model_schema_hash(m), COIN_FEATURES_SCHEMA_VERSION,
                        coin_features_schema_hash());
    coin_model_free(m);
    m = NULL;
  }
  if (rc) {
    /* A champion that fails keeps the old one serving (and says so); a
     * challenger that fails is no challenger: its predecessor is not
     * shadowed under a role it no longer has. */
    if (r == ROLE_CHALLENGER) {
      coin_model_free(sl->model);
      sl->model = NULL;
      memset(&sl->meta, 0, sizeof(sl->meta));
    }
    s->stats.load_failures++;
    sl->failed = true;
    sl->failed_at_ms = coin_now_ms();
    snprintf(sl->error, sizeof(sl->error), "%s", coin_error_last());
    return coin_error_wrap(rc, "serving: %s %s", role_names[r], want);
  }
  coin_model_free(sl->model);
  sl->model = m;
  sl->meta = meta;
  sl->failed = false;
  sl->error[0] = '\0';
  return 0;
}

int coin_serving_refresh(struct coin_serving *s) {
  int rc = 0;
  if (s == NULL)
    return coin_error_set(COIN_EINVAL, "serving refresh: NULL");
  if (!s->opts.bus)
    return 0;
  if (!s->reg && (rc = connect_registry(s)) != 0)
    return rc;
  for (;;) { /* drain the watch: any alias change means "look again" */
    struct coin_bus_kv_entry e;
    int w = coin_bus_kv_watch_next(&e, s->watch, 1);
    if (w != 0)
      break;
    s->dirty = true;
    coin_bus_kv_entry_clear(&e);
  }
  int64_t now = coin_now_ms();
  bool retry = false;
  for (int r = 0; r < 2; r++)
    if (s->slot[r].failed && now - s->slot[r].failed_at_ms >= RELOAD_RETRY_MS)
      retry = true;
  if (!s->dirty && !retry)
    return 0;
  s->dirty = false;
  int rc_ch = sync_slot(s, ROLE_CHAMPION, retry);
  char first_error[512] = "";
  if (rc_ch)
    snprintf(first_error, sizeof(first_error), "%s", coin_error_last());
  int rc_cl = sync_slot(s, ROLE_CHALLENGER, retry);
  if (rc_ch && (rc_ch == COIN_EUNAVAIL || rc_ch == COIN_ETIMEOUT))
    s->dirty = true; /* the registry was unreachable: try again next time */
  if (rc_cl && (rc_cl == COIN_EUNAVAIL || rc_cl == COIN_ETIMEOUT))
    s->dirty = true;
  if (rc_ch) {
    coin_error_set(rc_ch, "%s", first_error);
    return rc_ch;
  }
  return rc_cl;
}

int coin_serving_lifecycle(struct coin_serving *s,
                           struct coin_model_lifecycle *out) {
  if (s == NULL || out == NULL)
    return coin_error_set(COIN_EINVAL, "serving lifecycle: NULL argument");
  if (!s->reg)
    return coin_error_set(COIN_EUNAVAIL, "serving lifecycle: no registry");
  return coin_registry_lifecycle(s->reg, out);
}

size_t coin_serving_lookback(const struct coin_serving *s) {
  (void)s;
  return COIN_FEATURES_LOOKBACK;
}

void coin_serving_stats(struct coin_serving_stats *out,
                        const struct coin_serving *s) {
  struct coin_serving_stats st = s->stats;
  snprintf(st.champion, sizeof(st.champion), "%s",
           s->slot[ROLE_CHAMPION].model ? s->slot[ROLE_CHAMPION].meta.version
                                        : "");
  snprintf(st.challenger, sizeof(st.challenger), "%s",
           s->slot[ROLE_CHALLENGER].model
               ? s->slot[ROLE_CHALLENGER].meta.version
               : "");
  *out = st;
}

/* ---- records ------------------------------------------------------------ */

static struct recent *recent_find(struct coin_serving *s, const char *symbol,
                                  enum coin_tf tf, enum role r) {
  for (size_t i = 0; i < s->n_recent; i++)
    if (s->recent[i].tf == tf && s->recent[i].role == r &&
        strcmp(s->recent[i].symbol, symbol) == 0)
      return &s->recent[i];
  if (!s->recent) {
    s->recent = calloc(RECENT_MAX, sizeof(*s->recent));
    if (!s->recent)
      return NULL;
  }
  if (s->n_recent == RECENT_MAX)
    s->n_recent = 0; /* forget all: at worst a record is written twice */
  struct recent *e = &s->recent[s->n_recent++];
  memset(e, 0, sizeof(*e));
  snprintf(e->symbol, sizeof(e->symbol), "%s", symbol);
  e->tf = (uint8_t)tf;
  e->role = (uint8_t)r;
  return e;
}

/* Writes one prediction record (idempotent: same tags + time overwrite). */
static int record(struct coin_serving *s, const char *symbol, enum coin_tf tf,
                  enum role r, const struct coin_model_metadata *meta,
                  const struct coin_model_output *o,
                  const struct coin_feature_row *row, int64_t target_ms) {
  if (!s->opts.ix)
    return 0;
  struct recent *rec = recent_find(s, symbol, tf, r);
  if (rec && rec->target_ms == target_ms &&
      strcmp(rec->version, meta->version) == 0)
    return 0;
  struct coin_influx_tag tags[] = {
      {"exchange", s->exchange},       {"symbol", symbol},
      {"timeframe", coin_tf_name(tf)}, {"model_version", meta->version},
      {"role", role_names[r]},
  };
  struct coin_influx_field fields[] = {
      {"predicted_return", {.type = COIN_INFLUX_FLOAT, .v.f64 = o->ret}},
      {"p_up", {.type = COIN_INFLUX_FLOAT, .v.f64 = o->p_up}},
      {"input_close", {.type = COIN_INFLUX_FLOAT, .v.f64 = row->close}},
      {"input_open_ms", {.type = COIN_INFLUX_INT, .v.i64 = row->open_ms}},
  };
  struct coin_influx_point p = {.measurement = "prediction",
                                .tags = tags,
                                .n_tags = 5,
                                .fields = fields,
                                .n_fields = 4,
                                .time_ms = target_ms};
  int rc = coin_influx_add(s->opts.ix, &p);
  if (rc == 0 && rec) {
    rec->target_ms = target_ms;
    snprintf(rec->version, sizeof(rec->version), "%s", meta->version);
  }
  return rc;
}

/* ---- predict ------------------------------------------------------------ */

static void fill_metrics(struct coin_prediction *out,
                         const struct coin_model_metadata *m, enum coin_tf tf) {
  char k[4][64];
  double mae, pmae, acc, n;
  snprintf(k[0], sizeof(k[0]), "wf.%s.mae", coin_tf_name(tf));
  snprintf(k[1], sizeof(k[1]), "wf.%s.persistence_mae", coin_tf_name(tf));
  snprintf(k[2], sizeof(k[2]), "wf.%s.dir_acc", coin_tf_name(tf));
  snprintf(k[3], sizeof(k[3]), "wf.%s.n", coin_tf_name(tf));
  if (coin_codec_metric_get(&mae, m->metrics, m->n_metrics, k[0]) ||
      coin_codec_metric_get(&pmae, m->metrics, m->n_metrics, k[1]) ||
      coin_codec_metric_get(&acc, m->metrics, m->n_metrics, k[2]) ||
      coin_codec_metric_get(&n, m->metrics, m->n_metrics, k[3]) || !(n > 0))
    return; /* not evaluated on this timeframe: never the pooled figures */
  out->has_metrics = true;
  out->evaluated = true;
  out->wf_mae = mae;
  out->wf_persistence_mae = pmae;
  out->wf_directional_accuracy = acc;
  out->wf_n = (int64_t)n;
}

int coin_serving_predict(struct coin_serving *s, struct coin_prediction *out,
                         const char *symbol, enum coin_tf tf,
                         const struct coin_candle *candles, size_t n) {
  int rc = 0;
  struct coin_prediction p;
  memset(&p, 0, sizeof(p));
  p.state = COIN_STATE_INSUFFICIENT_DATA;
  p.input_last_open_ms = -1;
  if (s == NULL || out == NULL || symbol == NULL || (candles == NULL && n) ||
      (unsigned)tf >= COIN_TF_COUNT) {
    if (out) {
      p.degraded = COIN_DEGRADED_INFERENCE_ERROR;
      *out = p;
    }
    return coin_error_set(COIN_EINVAL, "serving predict: bad argument");
  }
  if (n > 0) {
    p.input_last_open_ms = candles[n - 1].open_ms;
    p.target_open_ms = coin_tf_next(tf, candles[n - 1].open_ms);
  }
  struct slot *ch = &s->slot[ROLE_CHAMPION], *cl = &s->slot[ROLE_CHALLENGER];
  if (ch->failed)
    p.degraded |= COIN_DEGRADED_MODEL_LOAD_FAILED;
  if (cl->failed || s->challenger_inference_failed)
    p.degraded |= COIN_DEGRADED_CHALLENGER_FAILING;
  if (!ch->model)
    p.degraded |= COIN_DEGRADED_NO_MODEL;
  else {
    snprintf(p.model_version, sizeof(p.model_version), "%s", ch->meta.version);
    snprintf(p.model_kind, sizeof(p.model_kind), "%s", ch->meta.kind);
    if (s->opts.model_max_age_ms > 0 &&
        coin_now_ms() - ch->meta.created_at_ms > s->opts.model_max_age_ms)
      p.degraded |= COIN_DEGRADED_MODEL_TOO_OLD;
    fill_metrics(&p, &ch->meta, tf);
  }
  if ((coin_symbol_validate(symbol)) != 0) {
    p.degraded |= COIN_DEGRADED_INFERENCE_ERROR;
    *out = p;
    return coin_error_wrap(COIN_EINVAL, "serving predict");
  }
  if (n < COIN_FEATURES_LOOKBACK || (!ch->model && !cl->model)) {
    *out = p; /* too little history, or no model at all: blocked */
    return 0;
  }
  struct coin_feature_row row;
  if ((rc = coin_features_compute(&row, tf, candles, n)) != 0) {
    p.degraded |= COIN_DEGRADED_INFERENCE_ERROR;
    *out = p;
    return coin_error_wrap(rc, "serving predict %s %s", symbol,
                           coin_tf_name(tf));
  }
  int rc_rec = 0;
  if (cl->model) { /* shadow: recorded, never returned */
    struct coin_model_output o;
    if (coin_model_predict_row(cl->model, &o, &row, tf, BAND_LEVEL) == 0) {
      s->challenger_inference_failed = false;
      rc_rec = record(s, symbol, tf, ROLE_CHALLENGER, &cl->meta, &o, &row,
                      p.target_open_ms);
    } else {
      s->challenger_inference_failed = true;
      p.degraded |= COIN_DEGRADED_CHALLENGER_FAILING;
    }
  }
  if (ch->model) {
    struct coin_model_output o;
    if ((rc = coin_model_predict_row(ch->model, &o, &row, tf, BAND_LEVEL)) !=
        0) {
      p.degraded |= COIN_DEGRADED_INFERENCE_ERROR;
      *out = p;
      return coin_error_wrap(rc, "serving predict %s %s with %s", symbol,
                             coin_tf_name(tf), ch->meta.version);
    }
    p.has_values = true;
    p.state = COIN_STATE_FRESH;
    p.predicted_return = o.ret;
    p.predicted_close = row.close * exp(o.ret);
    p.band_low = row.close * exp(o.band_low_ret);
    p.band_high = row.close * exp(o.band_high_ret);
    p.band_level = BAND_LEVEL;
    p.direction = o.p_up >= 0.5 ? 1 : -1;
    p.direction_probability = o.p_up >= 0.5 ? o.p_up : 1 - o.p_up;
    if (!isfinite(p.predicted_close) || !isfinite(p.band_low) ||
        !isfinite(p.band_high)) {
      p.has_values = false;
      p.state = COIN_STATE_INSUFFICIENT_DATA;
      p.degraded |= COIN_DEGRADED_INFERENCE_ERROR;
      *out = p;
      return coin_error_set(COIN_EINTERNAL,
                            "serving predict %s %s: non-finite output", symbol,
                            coin_tf_name(tf));
    }
    int r2 = record(s, symbol, tf, ROLE_CHAMPION, &ch->meta, &o, &row,
                    p.target_open_ms);
    if (!rc_rec)
      rc_rec = r2;
    /* not served where it loses to persistence (recorded all the same) */
    if (p.evaluated && p.wf_mae > p.wf_persistence_mae) {
      p.worse_than_persistence = true;
      p.has_values = false;
      p.predicted_return = p.predicted_close = 0;
      p.band_low = p.band_high = p.band_level = 0;
      p.direction = 0;
      p.direction_probability = 0;
    }
  }
  if (rc_rec == 0 && s->opts.ix)
    rc_rec = coin_influx_flush(s->opts.ix);
  if (rc_rec) {
    /* the prediction is fine; the evidence for the gate is not: counted
     * (coin_serving_stats), never blocking the site */
    s->stats.record_failures++;
    coin_influx_discard(s->opts.ix);
  } else if (s->opts.ix) {
    s->stats.records_written++;
  }
  *out = p;
  return 0;
}

/* ---- realize ------------------------------------------------------------ */

struct pending {
  char version[COIN_CODEC_ID_BYTES];
  char role[16];
  int64_t target_ms;
  double predicted_return;
  double input_close;
};

struct realize_ctx {
  struct pending *rows;
  size_t n, cap;
};

static int realize_row(void *ud, const struct coin_influx_row *row) {
  struct realize_ctx *c = ud;
  const char *version = coin_influx_row_tag(row, "model_version");
  const char *role = coin_influx_row_tag(row, "role");
  const struct coin_influx_value *t = coin_influx_row_get(row, "time");
  const struct coin_influx_value *pr =
      coin_influx_row_get(row, "predicted_return");
  const struct coin_influx_value *ic = coin_influx_row_get(row, "input_close");
  if (!version || !role || !t || !pr || !ic || t->type != COIN_INFLUX_INT ||
      pr->type != COIN_INFLUX_FLOAT || ic->type != COIN_INFLUX_FLOAT)
    return 0; /* not a complete record: skip */
  int rc = coin_grow(&c->rows, &c->cap, c->n + 1, sizeof(*c->rows),
                     REALIZE_MAX_ROWS);
  if (rc)
    return coin_error_wrap(rc, "realize: prediction records");
  struct pending *p = &c->rows[c->n++];
  snprintf(p->version, sizeof(p->version), "%s", version);
  snprintf(p->role, sizeof(p->role), "%s", role);
  p->target_ms = t->v.i64;
  p->predicted_return = pr->v.f64;
  p->input_close = ic->v.f64;
  return 0;
}

int coin_serving_realize(struct coin_serving *s, const char *symbol,
                         enum coin_tf tf, const struct coin_candle *candles,
                         size_t n) {
  int rc;
  if (s == NULL || symbol == NULL || (candles == NULL && n))
    return coin_error_set(COIN_EINVAL, "serving realize: NULL argument");
  if (!s->opts.ix || n == 0)
    return 0;
  if ((rc = coin_symbol_validate(symbol)) != 0)
    return rc;
  if ((unsigned)tf >= COIN_TF_COUNT)
    return coin_error_set(COIN_EINVAL, "serving realize: timeframe %d",
                          (int)tf);
  char q[1024];
  /* exchange and symbol passed their token rules: no quote can appear */
  snprintf(q, sizeof(q),
           "SELECT predicted_return, input_close FROM prediction WHERE "
           "exchange='%s' AND symbol='%s' AND timeframe='%s' AND time >= "
           "%lldms AND time <= %lldms GROUP BY model_version, role",
           s->exchange, symbol, coin_tf_name(tf), (long long)candles[0].open_ms,
           (long long)candles[n - 1].open_ms);
  struct realize_ctx ctx = {0};
  rc = coin_influx_query(s->opts.ix, q, realize_row, &ctx);
  if (rc == COIN_ENOTFOUND)
    rc = 0; /* no database / measurement yet: nothing to realize */
  for (size_t i = 0; rc == 0 && i < ctx.n; i++) {
    const struct pending *p = &ctx.rows[i];
    /* candles are ascending: binary search for the target */
    size_t lo = 0, hi = n;
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      if (candles[mid].open_ms < p->target_ms)
        lo = mid + 1;
      else
        hi = mid;
    }
    if (lo == n || candles[lo].open_ms != p->target_ms ||
        !(candles[lo].close > 0) || !(p->input_close > 0))
      continue;
    double realized = log(candles[lo].close / p->input_close);
    if (!isfinite(realized))
      continue;
    struct coin_influx_tag tags[] = {
        {"exchange", s->exchange},
        {"symbol", symbol},
        {"timeframe", coin_tf_name(tf)},
        {"model_version", p->version},
        {"role", p->role},
    };
    struct coin_influx_field fields[] = {
        {"realized_return", {.type = COIN_INFLUX_FLOAT, .v.f64 = realized}},
        {"abs_error",
         {.type = COIN_INFLUX_FLOAT,
          .v.f64 = fabs(p->predicted_return - realized)}},
    };
    struct coin_influx_point pt = {.measurement = "prediction",
                                   .tags = tags,
                                   .n_tags = 5,
                                   .fields = fields,
                                   .n_fields = 2,
                                   .time_ms = p->target_ms};
    rc = coin_influx_add(s->opts.ix, &pt);
    if (rc == 0)
      s->stats.realized_written++;
  }
  if (rc == 0)
    rc = coin_influx_flush(s->opts.ix);
  if (rc) {
    coin_influx_discard(s->opts.ix);
    s->stats.realize_failures++;
    coin_error_wrap(rc, "serving realize %s %s", symbol, coin_tf_name(tf));
  }
  free(ctx.rows);
  return rc;
}
