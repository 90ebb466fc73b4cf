/*
 * gate.c: `coin-train promote` (the promotion gate) and `coin-train
 * rollback`. The gate compares the challenger with the champion on the same
 * realized candles recorded in shadow by serving (InfluxDB measurement
 * "prediction") and on the walk-forward report, within configurable
 * margins, and checks that its artifact verifies and its feature schema is
 * servable; the first champion must beat persistence instead. Every failed
 * check is listed. Aliases are switched with compare-and-set under the
 * training lock. Single-threaded.
 */
#include "train_int.h"

#include "coin/buf.h"
#include "coin/error.h"
#include "coin/log.h"
#include "coin/track.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CHECKS 16
#define SHADOW_MAX_RECORDS 5000000

struct check {
  char name[48];
  bool pass;
  bool performance; /* a failed performance check marks the model refused */
  char detail[240];
};

struct verdict {
  struct check c[MAX_CHECKS];
  size_t n;
  struct coin_metric metrics[COIN_CODEC_MAX_METRICS];
  size_t n_metrics;
  bool bootstrap;         /* first champion on walk-forward evidence */
  bool beats_persistence; /* ... and its MAE beat persistence's */
  uint64_t realized;      /* realized shadow candles (both models) */
};

static void add_check(struct verdict *v, const char *name, bool pass,
                      bool performance, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void add_check(struct verdict *v, const char *name, bool pass,
                      bool performance, const char *fmt, ...) {
  if (v->n == MAX_CHECKS)
    return;
  struct check *c = &v->c[v->n++];
  snprintf(c->name, sizeof(c->name), "%s", name);
  c->pass = pass;
  c->performance = performance;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
  va_end(ap);
}

static void add_metric(struct verdict *v, const char *name, double x) {
  if (isfinite(x))
    (void)coin_codec_metric_set(v->metrics, &v->n_metrics, name, x);
}

/* <role>_mae, <role>_dir_acc and <role>_brier: a model's realized shadow
 * predictions, as the verdict reports them. */
static void add_role_metrics(struct verdict *v, const char *role,
                             const struct coin_score_summary *s) {
  static const char *const suffix[] = {"mae", "dir_acc", "brier"};
  const double x[] = {s->mae, s->dir_acc, s->brier};
  for (int i = 0; i < 3; i++) {
    char name[COIN_CODEC_ID_BYTES];
    snprintf(name, sizeof(name), "%s_%s", role, suffix[i]);
    add_metric(v, name, x[i]);
  }
}

static bool passed(const struct verdict *v) {
  for (size_t i = 0; i < v->n; i++)
    if (!v->c[i].pass)
      return false;
  return true;
}

static bool performance_failed(const struct verdict *v) {
  for (size_t i = 0; i < v->n; i++)
    if (!v->c[i].pass && v->c[i].performance)
      return true;
  return false;
}

/* ---- shadow evidence ----------------------------------------------------- */

struct rec {
  uint32_t series; /* interned symbol x tf */
  int64_t t;
  double pred, p, realized, input_close;
};

struct evidence_ctx {
  const char *a, *b; /* versions (b may be NULL) */
  struct rec *ra, *rb;
  size_t na, nb, capa, capb;
  char (*series)[48];
  size_t n_series, cap_series;
};

static int intern(struct evidence_ctx *e, const char *sym, const char *tf,
                  uint32_t *out) {
  char key[48];
  snprintf(key, sizeof(key), "%s/%s", sym, tf);
  for (size_t i = 0; i < e->n_series; i++)
    if (!strcmp(e->series[i], key)) {
      *out = (uint32_t)i;
      return 0;
    }
  int rc = coin_grow(&e->series, &e->cap_series, e->n_series + 1,
                     sizeof(*e->series), SIZE_MAX);
  if (rc)
    return coin_error_wrap(rc, "shadow evidence: series");
  snprintf(e->series[e->n_series], 48, "%s", key);
  *out = (uint32_t)e->n_series++;
  return 0;
}

static int push(struct rec **arr, size_t *n, size_t *cap, const struct rec *r) {
  int rc = coin_grow(arr, cap, *n + 1, sizeof(**arr), SHADOW_MAX_RECORDS);
  if (rc)
    return coin_error_wrap(rc, "shadow evidence: records");
  (*arr)[(*n)++] = *r;
  return 0;
}

static double fget(const struct coin_influx_row *row, const char *col) {
  const struct coin_influx_value *v = coin_influx_row_get(row, col);
  if (!v)
    return NAN;
  if (v->type == COIN_INFLUX_FLOAT)
    return v->v.f64;
  if (v->type == COIN_INFLUX_INT)
    return (double)v->v.i64;
  return NAN;
}

static int on_record(void *ud, const struct coin_influx_row *row) {
  struct evidence_ctx *e = ud;
  const char *ver = coin_influx_row_tag(row, "model_version");
  const char *sym = coin_influx_row_tag(row, "symbol");
  const char *tf = coin_influx_row_tag(row, "timeframe");
  const struct coin_influx_value *t = coin_influx_row_get(row, "time");
  if (!ver || !sym || !tf || !t || t->type != COIN_INFLUX_INT)
    return 0;
  struct rec r = {.t = t->v.i64,
                  .pred = fget(row, "predicted_return"),
                  .p = fget(row, "p_up"),
                  .realized = fget(row, "realized_return"),
                  .input_close = fget(row, "input_close")};
  if (!isfinite(r.pred) || !isfinite(r.p) || !isfinite(r.realized))
    return 0; /* not realized yet */
  int rc = intern(e, sym, tf, &r.series);
  if (rc)
    return rc;
  if (!strcmp(ver, e->a))
    return push(&e->ra, &e->na, &e->capa, &r);
  if (e->b && !strcmp(ver, e->b))
    return push(&e->rb, &e->nb, &e->capb, &r);
  return 0;
}

static int rec_cmp(const void *x, const void *y) {
  const struct rec *a = x, *b = y;
  if (a->series != b->series)
    return a->series < b->series ? -1 : 1;
  return a->t < b->t ? -1 : a->t > b->t;
}

struct evidence {
  struct coin_score a, b, base; /* on the candles both have (a alone if no b) */
};

/* The realized records of version a (and b) in measurement prediction;
 * with role, only that role's, and with since_ms > 0 only targets opened at
 * or after it. */
static int read_records(struct evidence_ctx *e, struct train_ctx *c,
                        const char *role, int64_t since_ms) {
  char q[640], filter[160] = "";
  int rc;
  /* versions passed coin_registry_check_version and role is ours: no quote
   * can appear */
  if (role)
    snprintf(filter, sizeof(filter), " AND role='%s'", role);
  if (since_ms > 0)
    snprintf(filter + strlen(filter), sizeof(filter) - strlen(filter),
             " AND time >= %lldms", (long long)since_ms);
  if (e->b)
    snprintf(q, sizeof(q),
             "SELECT predicted_return, p_up, realized_return, input_close FROM "
             "prediction WHERE exchange='%s' AND (model_version='%s' OR "
             "model_version='%s')%s GROUP BY model_version, symbol, timeframe",
             c->cfg->core.exchange, e->a, e->b, filter);
  else
    snprintf(q, sizeof(q),
             "SELECT predicted_return, p_up, realized_return, input_close FROM "
             "prediction WHERE exchange='%s' AND model_version='%s'%s GROUP BY "
             "model_version, symbol, timeframe",
             c->cfg->core.exchange, e->a, filter);
  rc = coin_influx_query(c->ix, q, on_record, e);
  if (rc == COIN_ENOTFOUND)
    rc = 0;
  return rc;
}

/* Realized records of version a (and b) in measurement prediction, joined
 * on (symbol, timeframe, target time). */
static int read_evidence(struct evidence *out, struct train_ctx *c,
                         const char *a, const char *b) {
  struct evidence_ctx e = {.a = a, .b = b};
  int rc;
  memset(out, 0, sizeof(*out));
  rc = read_records(&e, c, NULL, 0);
  if (rc) {
    coin_error_wrap(rc, "shadow evidence");
    goto out;
  }
  if (e.na > 1)
    qsort(e.ra, e.na, sizeof(struct rec), rec_cmp);
  if (!b) {
    for (size_t i = 0; i < e.na; i++) {
      coin_score_add(&out->a, e.ra[i].pred, e.ra[i].p, e.ra[i].realized);
      coin_score_add(&out->base, 0, 0.5, e.ra[i].realized);
    }
    goto out;
  }
  if (e.nb > 1)
    qsort(e.rb, e.nb, sizeof(struct rec), rec_cmp);
  for (size_t i = 0, j = 0; i < e.na && j < e.nb;) {
    int k = rec_cmp(&e.ra[i], &e.rb[j]);
    if (k < 0)
      i++;
    else if (k > 0)
      j++;
    else {
      coin_score_add(&out->a, e.ra[i].pred, e.ra[i].p, e.ra[i].realized);
      coin_score_add(&out->b, e.rb[j].pred, e.rb[j].p, e.rb[j].realized);
      coin_score_add(&out->base, 0, 0.5, e.ra[i].realized);
      i++;
      j++;
    }
  }
out:
  free(e.ra);
  free(e.rb);
  free(e.series);
  return rc;
}

/* ---- the champion on probation (coin-train cycle) ------------------------ */

int train_judge_champion(struct coin_track_window *out, struct train_ctx *c,
                         const char *version, int64_t since_ms) {
  struct evidence_ctx e = {.a = version};
  struct coin_track_row *rows = NULL;
  int rc = read_records(&e, c, "champion", since_ms);
  if (rc) {
    coin_error_wrap(rc, "champion evidence");
    goto out;
  }
  rows = calloc(e.na ? e.na : 1, sizeof(*rows));
  if (!rows) {
    rc = coin_error_set(COIN_ENOMEM, "out of memory");
    goto out;
  }
  /* the shared rule (track.h): realized close from the recorded return */
  for (size_t i = 0; i < e.na; i++) {
    const struct rec *r = &e.ra[i];
    rows[i].target_open_ms = r->t;
    rows[i].input_close = r->input_close;
    rows[i].predicted_return = r->pred;
    rows[i].realized = isfinite(r->input_close);
    rows[i].realized_close = r->input_close * exp(r->realized);
  }
  coin_track_window(out, rows, e.na, since_ms);
out:
  free(rows);
  free(e.ra);
  free(e.rb);
  free(e.series);
  return rc;
}

/* ---- metadata metrics -----------------------------------------------------
 */

/* Metric into a model's metadata; when the 64-entry map is full a per-symbol
 * figure (sym.*) gives way. */
static int train_meta_metric_put(struct coin_model_metadata *m,
                                 const char *name, double v) {
  if (!isfinite(v))
    return 0;
  int rc = coin_codec_metric_set(m->metrics, &m->n_metrics, name, v);
  if (rc != COIN_ETOOBIG)
    return rc;
  /* the map is full: a per-symbol figure gives way (the report keeps them
   * all; lifecycle facts matter more) */
  for (size_t i = m->n_metrics; i-- > 0;)
    if (!strncmp(m->metrics[i].name, "sym.", 4)) {
      memmove(&m->metrics[i], &m->metrics[i + 1],
              (m->n_metrics - i - 1) * sizeof(m->metrics[0]));
      m->n_metrics--;
      return coin_codec_metric_set(m->metrics, &m->n_metrics, name, v);
    }
  return rc;
}

int train_champion(struct train_ctx *c, char *version, uint64_t *rev,
                   struct coin_model_metadata *meta) {
  uint64_t r = 0;
  struct coin_model_metadata m;
  version[0] = '\0';
  if (rev)
    *rev = 0;
  c->champion_dangling = false;
  int rc = coin_registry_alias_get(c->reg, version, &r, COIN_ALIAS_CHAMPION);
  if (rc == COIN_ENOTFOUND) {
    version[0] = '\0';
    return 0;
  }
  if (rc)
    return rc;
  if (rev)
    *rev = r;
  rc = coin_registry_get(c->reg, meta ? meta : &m, NULL, version);
  if (rc == COIN_ENOTFOUND || rc == COIN_EDECODE) {
    c->champion_dangling = true;
    if (!c->dangling_reported)
      COIN_LOG_WARN("alias.champion is dangling: treated as no champion (the "
                    "next promotion replaces it)",
                    COIN_LOG_STR("version", version),
                    COIN_LOG_STR("error", coin_error_last()));
    c->dangling_reported = true;
    version[0] = '\0';
    return 0;
  }
  return rc;
}

int train_meta_update(struct train_ctx *c, const char *version,
                      const char *const *names, const double *values,
                      size_t n) {
  int rc = 0;
  for (int attempt = 0; attempt < 5; attempt++) {
    struct coin_model_metadata m;
    uint64_t rev = 0;
    if ((rc = coin_registry_get(c->reg, &m, &rev, version)) != 0)
      return rc;
    for (size_t i = 0; i < n && rc == 0; i++)
      rc = train_meta_metric_put(&m, names[i], values[i]);
    if (rc)
      return rc;
    rc = coin_registry_update(c->reg, &m, rev);
    if (rc != COIN_ECONFLICT)
      return rc;
  }
  return rc;
}

/* ---- the checks ---------------------------------------------------------- */

static void check_vs_champion(struct verdict *v, const struct train_config *cfg,
                              const char *label, double ch_mae, double cp_mae,
                              double ch_dir, double cp_dir, double ch_brier,
                              double cp_brier) {
  char name[48];
  snprintf(name, sizeof(name), "%s_mae", label);
  add_check(v, name,
            isfinite(ch_mae) && ch_mae <= cp_mae * (1 + cfg->margin_mae), true,
            "challenger %.6g vs champion %.6g (allowed +%.1f%%)", ch_mae,
            cp_mae, 100 * cfg->margin_mae);
  snprintf(name, sizeof(name), "%s_directional_accuracy", label);
  add_check(v, name, isfinite(ch_dir) && ch_dir >= cp_dir - cfg->margin_dir,
            true, "challenger %.2f%% vs champion %.2f%% (allowed -%.1f pp)",
            100 * ch_dir, 100 * cp_dir, 100 * cfg->margin_dir);
  snprintf(name, sizeof(name), "%s_brier", label);
  add_check(v, name,
            isfinite(ch_brier) && ch_brier <= cp_brier + cfg->margin_brier,
            true, "challenger %.5f vs champion %.5f (allowed +%.4f)", ch_brier,
            cp_brier, cfg->margin_brier);
}

static void gate(struct verdict *v, struct train_ctx *c,
                 const struct coin_model_metadata *ch,
                 const struct coin_model_metadata *cp, int bootstrap) {
  const struct train_config *cfg = c->cfg;
  bool schema_ok =
      ch->feature_schema_version == COIN_FEATURES_SCHEMA_VERSION &&
      !strcmp(ch->feature_schema_hash, coin_features_schema_hash());
  add_check(v, "feature_schema_servable", schema_ok, false,
            "model v%u %.12s..., serving v%u %.12s...",
            ch->feature_schema_version, ch->feature_schema_hash,
            COIN_FEATURES_SCHEMA_VERSION, coin_features_schema_hash());
  struct coin_model *m = NULL;
  int rc = coin_registry_load_model(c->reg, &m, NULL, ch->version);
  add_check(v, "artifact_verified", rc == 0, false, "%s",
            rc == 0 ? "sha256 matches, artifact loads" : coin_error_last());
  coin_model_free(m);

  struct evidence ev;
  rc = read_evidence(&ev, c, ch->version, cp ? cp->version : NULL);
  if (rc) {
    add_check(v, "shadow_evidence", false, false, "%s", coin_error_last());
    return;
  }
  struct coin_score_summary a, b, base;
  coin_score_summarize(&a, &ev.a);
  coin_score_summarize(&b, &ev.b);
  coin_score_summarize(&base, &ev.base);
  add_metric(v, "realized_candles", (double)a.n);
  add_role_metrics(v, "challenger", &a);
  add_metric(v, "persistence_mae", base.mae);
  bool enough = a.n >= (uint64_t)cfg->promote_min_shadow;
  v->realized = a.n;

  if (cp) {
    add_role_metrics(v, "champion", &b);
    add_check(v, "shadow_evidence", enough, false,
              "%llu realized candles predicted by both (need %lld)",
              (unsigned long long)a.n, (long long)cfg->promote_min_shadow);
    if (enough)
      check_vs_champion(v, cfg, "shadow", a.mae, b.mae, a.dir_acc, b.dir_acc,
                        a.brier, b.brier);
    /* walk-forward: the head-to-head on rows the champion never saw, when
     * this challenger was trained against this champion; otherwise each
     * model's own walk-forward skill over persistence */
    double n = coin_codec_model_metric(ch, "cmp.n");
    if (!strcmp(ch->parent_version, cp->version) && isfinite(n) &&
        n >= (double)cfg->promote_min_compare) {
      add_metric(v, "wf_compare_rows", n);
      check_vs_champion(v, cfg, "walk_forward",
                        coin_codec_model_metric(ch, "cmp.mae"),
                        coin_codec_model_metric(ch, "cmp.champion_mae"),
                        coin_codec_model_metric(ch, "cmp.dir_acc"),
                        coin_codec_model_metric(ch, "cmp.champion_dir_acc"),
                        coin_codec_model_metric(ch, "cmp.brier"),
                        coin_codec_model_metric(ch, "cmp.champion_brier"));
    } else {
      double rch = coin_codec_model_metric(ch, "wf.mae") /
                   coin_codec_model_metric(ch, "wf.persistence_mae");
      double rcp = coin_codec_model_metric(cp, "wf.mae") /
                   coin_codec_model_metric(cp, "wf.persistence_mae");
      check_vs_champion(v, cfg, "walk_forward_skill", rch, rcp,
                        coin_codec_model_metric(ch, "wf.dir_acc"),
                        coin_codec_model_metric(cp, "wf.dir_acc"),
                        coin_codec_model_metric(ch, "wf.brier"),
                        coin_codec_model_metric(cp, "wf.brier"));
    }
    return;
  }
  /* the first champion, with shadow evidence or --bootstrap (below) */
  double mae = coin_codec_model_metric(ch, "wf.mae"),
         pmae = coin_codec_model_metric(ch, "wf.persistence_mae");
  double brier = coin_codec_model_metric(ch, "wf.brier"),
         pbrier = coin_codec_model_metric(ch, "wf.persistence_brier");
  /* TRAIN_GATE_AUTO (the cycle): only while the challenger has no
   * realized prediction at all; partial evidence is waited for */
  bool on_walk_forward =
      !enough && bootstrap && (bootstrap != TRAIN_GATE_AUTO || a.n == 0);
  if (on_walk_forward) {
    /* The bootstrap path: no champion and no realized predictions yet
     * (serving has nothing to shadow), so the walk-forward evidence
     * (out-of-sample, time-ordered folds) stands in for shadow evidence.
     * The MAE bar is persistence: the model passes when it beats it, or
     * when it is not significantly worse (the paired MAE difference's 95%
     * batch-means interval reaches 0): persistence is then no better
     * either, and the promotion records which case it was
     * (promotion.beats_persistence_mae). Brier must beat the 0.5
     * forecast. A later challenger needs shadow evidence as usual. */
    double diff = coin_codec_model_metric(ch, "wf.mae_diff"),
           ci = coin_codec_model_metric(ch, "wf.mae_diff_ci95");
    bool beats = isfinite(mae) && mae < pmae;
    bool within = isfinite(diff) && isfinite(ci) && diff - ci <= 0;
    v->bootstrap = true;
    v->beats_persistence = beats;
    add_metric(v, "wf_mae", mae);
    add_metric(v, "wf_persistence_mae", pmae);
    add_metric(v, "wf_mae_diff", diff);
    add_metric(v, "wf_mae_diff_ci95", ci);
    add_metric(v, "wf_rows", coin_codec_model_metric(ch, "wf.n"));
    if (beats || !within)
      add_check(v, "bootstrap_walk_forward_mae_vs_persistence", beats, true,
                "MAE %.6g vs persistence %.6g (difference %+.3g, 95%% CI "
                "+-%.3g, %.0f walk-forward rows)%s",
                mae, pmae, diff, ci, coin_codec_model_metric(ch, "wf.n"),
                beats ? ": beats persistence" : ": significantly worse");
    else
      add_check(v, "bootstrap_walk_forward_mae_vs_persistence", true, true,
                "MAE %.6g vs persistence %.6g (difference %+.3g within its "
                "95%% CI +-%.3g, %.0f walk-forward rows): not significantly "
                "worse than persistence, does not beat it",
                mae, pmae, diff, ci, coin_codec_model_metric(ch, "wf.n"));
  } else {
    /* without --bootstrap the first champion must beat persistence */
    add_check(v, "walk_forward_beats_persistence_mae",
              isfinite(mae) && mae < pmae, true, "MAE %.6g vs persistence %.6g",
              mae, pmae);
  }
  add_check(v,
            on_walk_forward ? "bootstrap_walk_forward_beats_persistence_brier"
                            : "walk_forward_beats_persistence_brier",
            isfinite(brier) && brier < pbrier, true,
            "Brier %.5f vs persistence %.5f", brier, pbrier);
  add_check(v, "shadow_evidence", enough || on_walk_forward, false,
            on_walk_forward
                ? "%llu realized predictions (need %lld): --bootstrap, no "
                  "champion yet: walk-forward evidence stands in"
                : "%llu realized predictions (need %lld; --bootstrap lets "
                  "walk-forward evidence stand in for the first champion)",
            (unsigned long long)a.n, (long long)cfg->promote_min_shadow);
  if (enough) {
    add_check(v, "shadow_beats_persistence_mae", a.mae < base.mae, true,
              "MAE %.6g vs persistence %.6g", a.mae, base.mae);
    add_check(v, "shadow_beats_persistence_brier", a.brier < base.brier, true,
              "Brier %.5f vs persistence %.5f", a.brier, base.brier);
  }
}

/* What a champion was promoted on, kept in its metadata:
 * promotion.at_ms (when the alias was switched: "champion since"),
 * promotion.automatic (1: by coin-train cycle), promotion.bootstrap 1
 * (walk-forward evidence in place of shadow), promotion.evidence_walk_forward
 * / _shadow, promotion.rollback 0 (1: champion again by a rollback), and
 * for a bootstrap whether it beat persistence. */
static void record_promotion(struct train_ctx *c, const char *version,
                             const struct verdict *v, bool automatic) {
  const char *names[7] = {"promotion.at_ms",
                          "promotion.automatic",
                          "promotion.bootstrap",
                          "promotion.evidence_walk_forward",
                          "promotion.evidence_shadow",
                          "promotion.rollback",
                          "promotion.beats_persistence_mae"};
  double values[7] = {(double)train_wall_ms(),         automatic ? 1.0 : 0.0,
                      v->bootstrap ? 1.0 : 0.0,        v->bootstrap ? 1.0 : 0.0,
                      v->bootstrap ? 0.0 : 1.0,        0.0,
                      v->beats_persistence ? 1.0 : 0.0};
  int rc = train_meta_update(c, version, names, values, v->bootstrap ? 7 : 6);
  if (rc)
    COIN_LOG_WARN("promotion evidence not recorded in the metadata",
                  COIN_LOG_STR("version", version), COIN_LOG_RC(rc));
}

static void print_verdict(struct train_ctx *c, const struct train_args *a,
                          const struct verdict *v, const char *ch,
                          const char *cp, const char *outcome) {
  if (a->json) {
    json_t *checks = json_array();
    for (size_t i = 0; i < v->n; i++)
      json_array_append_new(
          checks, json_pack("{s:s, s:b, s:s}", "check", v->c[i].name, "pass",
                            v->c[i].pass, "detail", v->c[i].detail));
    json_t *metrics = json_object();
    for (size_t i = 0; i < v->n_metrics; i++)
      json_object_set_new(metrics, v->metrics[i].name,
                          json_real(v->metrics[i].value));
    json_t *r =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "command", "promote",
                  "challenger", ch, "champion", cp, "outcome", outcome,
                  "promotion", v->bootstrap ? "bootstrap" : "shadow", "checks",
                  checks, "metrics", metrics);
    train_emit_json(c, r);
    json_decref(r);
    return;
  }
  fprintf(c->report, "coin-train promote: %s -> %s: %s\n", ch,
          cp[0] ? cp : "(no champion)", outcome);
  for (size_t i = 0; i < v->n; i++)
    fprintf(c->report, "  [%s] %s: %s\n", v->c[i].pass ? "pass" : "FAIL",
            v->c[i].name, v->c[i].detail);
}

/* ---- failure ------------------------------------------------------------- */

void train_report_failure(const char *command, int rc) {
  fprintf(stderr, "coin-train %s: %s\n", command, coin_error_last());
  if (coin_log_enabled(COIN_LOG_LEVEL_ERROR)) {
    char msg[64];
    snprintf(msg, sizeof(msg), "%s failed", command);
    COIN_LOG_ERROR(msg, COIN_LOG_RC(rc));
  }
}

/* ---- promote ---------------------------------------------------------------
 */

static int history_push(struct train_ctx *c, const char *version) {
  int rc = 0;
  for (int attempt = 0; attempt < 5; attempt++) {
    struct coin_registry_history h;
    if ((rc = coin_registry_history_get(c->reg, &h)) != 0)
      return rc;
    if (h.n == COIN_REGISTRY_HISTORY_MAX) {
      memmove(h.versions[0], h.versions[1], (h.n - 1) * sizeof(h.versions[0]));
      h.n--;
    }
    snprintf(h.versions[h.n++], COIN_CODEC_ID_BYTES, "%s", version);
    rc = coin_registry_history_put(c->reg, &h);
    if (rc != COIN_ECONFLICT)
      return rc;
  }
  return rc;
}

static int set_alias(struct train_ctx *c, const char *alias,
                     const char *version) {
  char cur[COIN_CODEC_ID_BYTES];
  uint64_t rev = 0;
  int rc = coin_registry_alias_get(c->reg, cur, &rev, alias);
  if (rc && rc != COIN_ENOTFOUND)
    return rc;
  return coin_registry_alias_set(c->reg, alias, version, rc ? 0 : rev);
}

/* Only missing shadow evidence failed: the candidate keeps collecting. */
static bool only_evidence_missing(const struct verdict *v) {
  bool any = false;
  for (size_t i = 0; i < v->n; i++)
    if (!v->c[i].pass) {
      if (strcmp(v->c[i].name, "shadow_evidence") != 0)
        return false;
      any = true;
    }
  return any;
}

int train_promote_locked(struct train_ctx *c, const struct train_args *a,
                         const struct train_promote_opts *o,
                         struct train_promote_result *res) {
  struct verdict *v = calloc(1, sizeof(*v));
  struct coin_model_metadata ch, cp;
  char ch_v[COIN_CODEC_ID_BYTES] = "", cp_v[COIN_CODEC_ID_BYTES] = "";
  uint64_t cp_rev = 0;
  int rc, exit_code = TRAIN_EXIT_FAILED;
  memset(res, 0, sizeof(*res));
  res->outcome = TRAIN_PROMOTE_FAILED;
  res->need = c->cfg->promote_min_shadow;
  if (!v)
    return TRAIN_EXIT_FAILED;
  rc = coin_registry_resolve(c->reg, ch_v,
                             o->version ? o->version : "challenger");
  if (rc == COIN_ENOTFOUND && !o->version) {
    res->outcome = TRAIN_PROMOTE_NO_CANDIDATE;
    snprintf(res->summary, sizeof(res->summary),
             "no challenger registered (train one first)");
    if (o->print)
      fprintf(stderr, "coin-train promote: %s\n", res->summary);
    goto out;
  }
  if (rc || (rc = coin_registry_get(c->reg, &ch, NULL, ch_v)) != 0)
    goto fail;
  snprintf(res->candidate, sizeof(res->candidate), "%s", ch_v);
  if ((rc = train_champion(c, cp_v, &cp_rev, &cp)) != 0)
    goto fail;
  snprintf(res->champion, sizeof(res->champion), "%s", cp_v);
  if (cp_v[0] && !strcmp(cp_v, ch_v)) {
    snprintf(res->summary, sizeof(res->summary), "%s is already the champion",
             ch_v);
    if (o->print)
      fprintf(stderr, "coin-train promote: %s\n", res->summary);
    goto out;
  }
  gate(v, c, &ch, cp_v[0] ? &cp : NULL, o->bootstrap);
  res->realized = v->realized;
  res->bootstrap = v->bootstrap;
  bool ok = passed(v);
  if (o->dry_run) {
    print_verdict(c, a, v, ch_v, cp_v, ok ? "would promote" : "would refuse");
    res->outcome = ok ? TRAIN_PROMOTE_PROMOTED : TRAIN_PROMOTE_REFUSED;
    exit_code = ok ? TRAIN_EXIT_OK : TRAIN_EXIT_REFUSED;
    goto out;
  }
  if (!ok && o->quiet_waiting && only_evidence_missing(v)) {
    /* the cycle: waiting for evidence is no event (it would repeat every
     * run); the caller prints the count */
    res->outcome = TRAIN_PROMOTE_WAITING;
    snprintf(res->summary, sizeof(res->summary),
             "challenger %s: %llu/%lld realized predictions, waiting", ch_v,
             (unsigned long long)v->realized,
             (long long)c->cfg->promote_min_shadow);
    exit_code = TRAIN_EXIT_OK;
    goto out;
  }
  if (!ok) {
    char reason[COIN_CODEC_TEXT_BYTES];
    size_t len = 0;
    len += (size_t)snprintf(reason, sizeof(reason), "refused:");
    for (size_t i = 0; i < v->n && len < sizeof(reason); i++)
      if (!v->c[i].pass)
        len += (size_t)snprintf(reason + len, sizeof(reason) - len, " %s (%s);",
                                v->c[i].name, v->c[i].detail);
    if (performance_failed(v)) {
      /* worse than the bar: out of shadow, marked refused */
      (void)coin_registry_set_role(c->reg, ch_v, COIN_ROLE_REFUSED);
      char cur[COIN_CODEC_ID_BYTES];
      if (coin_registry_alias_get(c->reg, cur, NULL, COIN_ALIAS_CHALLENGER) ==
              0 &&
          !strcmp(cur, ch_v))
        (void)coin_registry_alias_clear(c->reg, COIN_ALIAS_CHALLENGER);
      (void)coin_registry_get(c->reg, &ch, NULL, ch_v);
    }
    train_event(c, COIN_MODEL_EVENT_REFUSED, ch_v, cp_v, reason, &ch,
                v->metrics, v->n_metrics);
    if (o->print)
      print_verdict(c, a, v, ch_v, cp_v,
                    performance_failed(v)
                        ? "REFUSED (marked refused, out of shadow)"
                        : "REFUSED (stays challenger: evidence missing)");
    res->outcome = performance_failed(v) ? TRAIN_PROMOTE_REFUSED
                                         : TRAIN_PROMOTE_REFUSED_STAYS;
    snprintf(res->summary, sizeof(res->summary), "%s", reason);
    exit_code = TRAIN_EXIT_REFUSED;
    goto out;
  }
  /* the switch: the champion alias is the commit point (CAS) */
  if ((rc = coin_registry_alias_set(c->reg, COIN_ALIAS_CHAMPION, ch_v,
                                    cp_rev)) != 0)
    goto fail;
  if ((rc = history_push(c, ch_v)) != 0)
    COIN_LOG_WARN("champion history not updated", COIN_LOG_RC(rc));
  if (cp_v[0] && (rc = set_alias(c, COIN_ALIAS_PREVIOUS, cp_v)) != 0)
    COIN_LOG_WARN("previous alias not updated", COIN_LOG_RC(rc));
  char cur[COIN_CODEC_ID_BYTES];
  if (coin_registry_alias_get(c->reg, cur, NULL, COIN_ALIAS_CHALLENGER) == 0 &&
      !strcmp(cur, ch_v))
    (void)coin_registry_alias_clear(c->reg, COIN_ALIAS_CHALLENGER);
  (void)coin_registry_set_role(c->reg, ch_v, COIN_ROLE_CHAMPION);
  if (cp_v[0])
    (void)coin_registry_set_role(c->reg, cp_v, COIN_ROLE_RETIRED);
  record_promotion(c, ch_v, v, o->automatic);
  (void)coin_registry_get(c->reg, &ch, NULL, ch_v);
  const char *why =
      cp_v[0]         ? "gate passed: not worse than the champion on shadow "
                        "and walk-forward evidence"
      : !v->bootstrap ? "gate passed: first champion beats persistence on "
                        "shadow evidence"
      : v->beats_persistence
          ? "bootstrap: first champion on walk-forward evidence, beats "
            "persistence"
          : "bootstrap: first champion on walk-forward evidence, not "
            "significantly worse than persistence";
  char reason[COIN_CODEC_TEXT_BYTES];
  snprintf(reason, sizeof(reason), "%s%s", o->automatic ? "automatic: " : "",
           why);
  train_event(c, COIN_MODEL_EVENT_PROMOTED, ch_v, cp_v, reason, &ch, v->metrics,
              v->n_metrics);
  if (o->print)
    print_verdict(c, a, v, ch_v, cp_v,
                  v->bootstrap ? "PROMOTED (bootstrap: walk-forward evidence "
                                 "in place of shadow evidence)"
                               : "PROMOTED");
  res->outcome = TRAIN_PROMOTE_PROMOTED;
  snprintf(res->summary, sizeof(res->summary), "%s", reason);
  exit_code = TRAIN_EXIT_OK;
  goto out;
fail:
  snprintf(res->summary, sizeof(res->summary), "%s", coin_error_last());
  train_report_failure("promote", rc);
  exit_code = TRAIN_EXIT_FAILED;
out:
  free(v);
  return exit_code;
}

int train_cmd_promote(struct train_ctx *c, const struct train_args *a) {
  struct coin_lock *lock = NULL;
  struct train_promote_result res;
  int exit_code = train_lock(c, &lock, a->hold_lock_ms);
  if (exit_code != 0)
    return exit_code;
  struct train_promote_opts o = {
      .version = a->version,
      .bootstrap = a->bootstrap ? TRAIN_GATE_BOOTSTRAP : TRAIN_GATE_SHADOW,
      .dry_run = a->dry_run,
      .print = true};
  exit_code = train_promote_locked(c, a, &o, &res);
  coin_lock_release(lock);
  return exit_code;
}

/* ---- rollback --------------------------------------------------------------
 */

int train_rollback_locked(struct train_ctx *c, const struct train_args *a,
                          const struct train_rollback_opts *o, char *restored,
                          char *retired) {
  char cur[COIN_CODEC_ID_BYTES], prev[COIN_CODEC_ID_BYTES];
  uint64_t cur_rev = 0;
  struct coin_model *m = NULL;
  struct coin_model_metadata pm;
  int rc, exit_code = TRAIN_EXIT_FAILED;
  if ((rc = coin_registry_alias_get(c->reg, cur, &cur_rev,
                                    COIN_ALIAS_CHAMPION)) != 0) {
    if (rc == COIN_ENOTFOUND)
      coin_error_set(rc, "no champion to roll back");
    goto fail;
  }
  if ((rc = coin_registry_alias_get(c->reg, prev, NULL, COIN_ALIAS_PREVIOUS)) !=
      0) {
    if (rc == COIN_ENOTFOUND)
      coin_error_set(rc, "no previous champion to restore (champion %s)", cur);
    goto fail;
  }
  /* never roll back onto something that would not serve */
  if ((rc = coin_registry_load_model(c->reg, &m, &pm, prev)) != 0)
    goto fail;
  if (!coin_model_servable(m)) {
    rc = coin_error_set(COIN_EINVAL,
                        "previous champion %s uses another feature schema: "
                        "not servable",
                        prev);
    goto fail;
  }
  if ((rc = coin_registry_alias_set(c->reg, COIN_ALIAS_CHAMPION, prev,
                                    cur_rev)) != 0)
    goto fail;
  /* history: drop the rolled-back champion; the one before prev becomes
   * the new previous */
  struct coin_registry_history h;
  char before[COIN_CODEC_ID_BYTES] = "";
  for (int attempt = 0; attempt < 5; attempt++) {
    if ((rc = coin_registry_history_get(c->reg, &h)) != 0)
      break;
    if (h.n && !strcmp(h.versions[h.n - 1], cur))
      h.n--;
    size_t i = h.n;
    while (i > 0 && strcmp(h.versions[i - 1], prev))
      i--;
    before[0] = '\0';
    if (i > 1)
      snprintf(before, sizeof(before), "%s", h.versions[i - 2]);
    if (i > 0)
      h.n = i; /* prev is the newest champion again */
    rc = coin_registry_history_put(c->reg, &h);
    if (rc != COIN_ECONFLICT)
      break;
  }
  if (rc)
    COIN_LOG_WARN("champion history not updated", COIN_LOG_RC(rc));
  if (before[0])
    rc = set_alias(c, COIN_ALIAS_PREVIOUS, before);
  else
    rc = coin_registry_alias_clear(c->reg, COIN_ALIAS_PREVIOUS);
  if (rc)
    COIN_LOG_WARN("previous alias not updated", COIN_LOG_RC(rc));
  (void)coin_registry_set_role(c->reg, prev, COIN_ROLE_CHAMPION);
  (void)coin_registry_set_role(c->reg, cur, COIN_ROLE_RETIRED);
  /* champion again since now (its probation starts over), by a rollback */
  const char *names[4] = {"promotion.at_ms", "promotion.automatic",
                          "promotion.rollback", "promotion.bootstrap"};
  double values[4] = {(double)train_wall_ms(), o && o->automatic ? 1.0 : 0.0,
                      1.0, 0.0};
  if ((rc = train_meta_update(c, prev, names, values, 4)) != 0)
    COIN_LOG_WARN("promotion time not recorded", COIN_LOG_RC(rc));
  (void)coin_registry_get(c->reg, &pm, NULL, prev);
  char reason[COIN_CODEC_TEXT_BYTES];
  if (o && o->reason)
    snprintf(reason, sizeof(reason), "%s", o->reason);
  else
    snprintf(reason, sizeof(reason), "rollback: %s restored, %s retired", prev,
             cur);
  train_event(c, COIN_MODEL_EVENT_ROLLED_BACK, prev, cur, reason, &pm,
              o ? o->metrics : NULL, o ? o->n_metrics : 0);
  if (restored)
    snprintf(restored, COIN_CODEC_ID_BYTES, "%s", prev);
  if (retired)
    snprintf(retired, COIN_CODEC_ID_BYTES, "%s", cur);
  if (o && !o->print) {
    /* the caller prints */
  } else if (a->json) {
    json_t *r = json_pack("{s:s, s:s, s:s, s:s}", "command", "rollback",
                          "champion", prev, "retired", cur, "previous", before);
    train_emit_json(c, r);
    json_decref(r);
  } else {
    fprintf(c->report,
            "coin-train rollback: champion %s restored (%s "
            "retired); previous now %s\n",
            prev, cur, before[0] ? before : "(none)");
  }
  exit_code = TRAIN_EXIT_OK;
  goto out;
fail:
  train_report_failure("rollback", rc);
out:
  coin_model_free(m);
  return exit_code;
}

int train_cmd_rollback(struct train_ctx *c, const struct train_args *a) {
  struct coin_lock *lock = NULL;
  int exit_code = train_lock(c, &lock, a->hold_lock_ms);
  if (exit_code != 0)
    return exit_code;
  exit_code = train_rollback_locked(c, a, NULL, NULL, NULL);
  coin_lock_release(lock);
  return exit_code;
}
