/*
 * train.c: the context and `coin-train train`: lock, retrain policy, SoT
 * into rows under the memory budget, purged walk-forward against
 * persistence and (on rows it never saw) the champion, final fit with the
 * walk-forward's out-of-sample calibration, artifact + metadata, register
 * as challenger, events, retention. Single-threaded (plus the lock's
 * keepalive thread).
 */
#include "train_int.h"

#include "coin/error.h"
#include "coin/hmac.h"
#include "coin/log.h"
#include "coin/service.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BATCH 4096
/* InfluxDB's time range ends in 2262 (int64 nanoseconds) */
#define FAR_FUTURE_MS INT64_C(9214646400000) /* 2262-01-01 */

/* ---- context ------------------------------------------------------------- */

int train_ctx_open(struct train_ctx **out, const struct train_config *cfg,
                   FILE *report) {
  int rc;
  struct train_ctx *c = calloc(1, sizeof(*c));
  if (!c)
    return coin_error_set(COIN_ENOMEM, "out of memory");
  c->cfg = cfg;
  c->report = report ? report : stdout;
  snprintf(c->producer_id, sizeof(c->producer_id), "coin-train@%.40s:%ld",
           cfg->core.service_id ? cfg->core.service_id : "coin",
           (long)getpid());
  struct coin_bus_options bo;
  coin_service_bus_options(&bo, &cfg->core, "coin-train");
  if ((rc = coin_bus_connect(&c->bus, &bo)) != 0) {
    coin_error_wrap(rc, "NATS");
    goto fail;
  }
  if ((rc = coin_registry_open(&c->reg, c->bus, c->producer_id)) != 0)
    goto fail;
  rc = coin_bus_kv_open(&c->wm, c->bus, COIN_KV_WATERMARKS);
  if (rc == COIN_ENOTFOUND)
    c->wm = NULL; /* nothing ingested by coin-ingest (yet) */
  else if (rc) {
    coin_error_wrap(rc, "KV %s", COIN_KV_WATERMARKS);
    goto fail;
  }
  struct coin_influx_options io;
  coin_service_influx_options(&io, &cfg->core);
  io.chunk_size = 5000;
  if ((rc = coin_influx_new(&c->ix, &io)) != 0) {
    coin_error_wrap(rc, "InfluxDB");
    goto fail;
  }
  *out = c;
  return 0;
fail:
  train_ctx_free(c);
  return rc;
}

void train_ctx_free(struct train_ctx *c) {
  if (!c)
    return;
  coin_influx_free(c->ix);
  coin_bus_kv_free(c->wm);
  coin_registry_free(c->reg);
  coin_bus_free(c->bus);
  free(c);
}

/* ---- helpers ------------------------------------------------------------- */

static void metric(struct coin_model_metadata *m, const char *name, double v) {
  if (isfinite(v))
    (void)coin_codec_metric_set(m->metrics, &m->n_metrics, name, v);
}

/* The walk-forward MAE (of the served, shrunk prediction, as wf.mae) minus
 * persistence's on the same rows (paired), with
 * a 95% interval from batch means: the scored rows, in target-time order,
 * cut into WF_DIFF_BATCHES contiguous batches whose mean differences are
 * treated as independent (this absorbs the correlation between symbols at
 * one time and of errors close in time, which a per-row interval would
 * ignore). Student t with batches - 1 degrees of freedom. The bootstrap
 * gate reads it (gate.c). */
#define WF_DIFF_BATCHES 20
static void mae_diff_metrics(struct coin_model_metadata *m,
                             const struct coin_dataset *ds,
                             const struct coin_wf_result *wf) {
  size_t n = 0;
  for (size_t i = 0; i < ds->n; i++)
    if (isfinite(wf->p_up[i]) && isfinite(wf->z_served[i]) &&
        isfinite(ds->y[i]))
      n++;
  if (n < 2 * WF_DIFF_BATCHES)
    return;
  double bsum[WF_DIFF_BATCHES] = {0}, total = 0;
  size_t bn[WF_DIFF_BATCHES] = {0}, k = 0;
  for (size_t i = 0; i < ds->n; i++) {
    if (!(isfinite(wf->p_up[i]) && isfinite(wf->z_served[i]) &&
          isfinite(ds->y[i])))
      continue;
    double y = ds->y[i], pred = wf->z_served[i] * ds->scale[i];
    double d = fabs(pred - y) - fabs(y);
    size_t b = k * WF_DIFF_BATCHES / n;
    bsum[b] += d;
    bn[b]++;
    total += d;
    k++;
  }
  double mean_b = 0, var = 0;
  for (int b = 0; b < WF_DIFF_BATCHES; b++)
    mean_b += bsum[b] / (double)bn[b] / WF_DIFF_BATCHES;
  for (int b = 0; b < WF_DIFF_BATCHES; b++) {
    double x = bsum[b] / (double)bn[b] - mean_b;
    var += x * x / (WF_DIFF_BATCHES - 1);
  }
  const double t95 = 2.093; /* t(0.975, 19) */
  metric(m, "wf.mae_diff", total / (double)n);
  metric(m, "wf.mae_diff_ci95", t95 * sqrt(var / WF_DIFF_BATCHES));
  metric(m, "wf.mae_diff_batches", WF_DIFF_BATCHES);
}

static void summary_metrics(struct coin_model_metadata *m, const char *prefix,
                            const struct coin_score *model,
                            const struct coin_score *base, bool full) {
  struct coin_score_summary s, b;
  char k[64];
  coin_score_summarize(&s, model);
  coin_score_summarize(&b, base);
#define PUT(suffix, v)                                                         \
  do {                                                                         \
    snprintf(k, sizeof(k), "%s.%s", prefix, suffix);                           \
    metric(m, k, v);                                                           \
  } while (0)
  PUT("n", (double)s.n);
  PUT("mae", s.mae);
  PUT("persistence_mae", b.mae);
  PUT("dir_acc", s.dir_acc);
  if (full) {
    PUT("dir_acc_lo", s.dir_lo);
    PUT("brier", s.brier);
  }
  if (full && strcmp(prefix, "wf") == 0) {
    PUT("rmse", s.rmse);
    PUT("dir_acc_hi", s.dir_hi);
    PUT("persistence_rmse", b.rmse);
    PUT("persistence_dir_acc", b.dir_acc);
    PUT("persistence_brier", b.brier);
  }
#undef PUT
}

/* <kind>-<UTC yyyymmddThhmmssZ>-<8 hex of sha256(artifact sha, created_at)>:
 * readable, sortable within a kind, and unique even when the same bytes
 * are trained twice within a second. */
static int version_name(char *out, size_t n, const char *kind,
                        const char *artifact_sha, int64_t created_ms) {
  char t[COIN_TF_UTC_TEXT_BYTES], seed[128], h[COIN_SHA256_HEX_BYTES];
  coin_tf_format_utc(t, sizeof(t), created_ms); /* 2026-11-26T22:20:57.123Z */
  snprintf(seed, sizeof(seed), "%s %lld", artifact_sha, (long long)created_ms);
  int rc = coin_sha256_hex(h, seed, strlen(seed));
  if (rc)
    return rc;
  snprintf(out, n, "%s-%.4s%.2s%.2sT%.2s%.2s%.2sZ-%.8s", kind, t, t + 5, t + 8,
           t + 11, t + 14, t + 17, h);
  return 0;
}

int train_policy_parse(const char *name) {
  static const char *const names[] = {"always", "age", "new_data",
                                      "age_or_new_data"};
  for (int i = 0; i < 4; i++)
    if (!strcmp(name, names[i]))
      return i;
  return -1;
}

int train_args_check_kind_policy(const struct train_args *a) {
  if (a->kind && !coin_model_kind_exists(a->kind)) {
    fprintf(stderr, "coin-train: --kind %s: unknown (rule: ridge|xgboost)\n",
            a->kind);
    return TRAIN_EXIT_USAGE;
  }
  if (a->policy && train_policy_parse(a->policy) < 0) {
    fprintf(stderr,
            "coin-train: --policy %s: unknown (rule: always|age|new_data|"
            "age_or_new_data)\n",
            a->policy);
    return TRAIN_EXIT_USAGE;
  }
  return 0;
}

int train_retrain_due(struct train_ctx *c, int policy,
                      const struct coin_model_metadata *champ,
                      const char *label, const struct train_series_list *sl,
                      char *why, size_t why_bytes) {
  const struct train_config *cfg = c->cfg;
  if (policy == TRAIN_POLICY_ALWAYS) {
    snprintf(why, why_bytes, "policy always");
    return 1;
  }
  int64_t age_ms = train_wall_ms() - champ->created_at_ms;
  int64_t max_age_ms = cfg->retrain_max_age_hours * COIN_HOUR_MS;
  bool old = age_ms >= max_age_ms;
  int64_t fresh = 0;
  if (policy != TRAIN_POLICY_AGE) {
    for (size_t i = 0; i < sl->n; i++) {
      int64_t n = 0;
      int rc = coin_influx_count(&n, c->ix, cfg->core.exchange, sl->s[i].symbol,
                                 coin_tf_name(sl->s[i].tf),
                                 champ->train_to_ms + 1, FAR_FUTURE_MS);
      if (rc)
        return coin_error_wrap(rc, "retrain policy: count new candles");
      fresh += n;
    }
  }
  bool enough = fresh >= cfg->retrain_min_new_candles;
  bool due = policy == TRAIN_POLICY_AGE        ? old
             : policy == TRAIN_POLICY_NEW_DATA ? enough
                                               : old || enough;
  snprintf(why, why_bytes,
           "%s %s is %lld h old (limit %lld h); %lld new candles after "
           "its newest trained candle (need %lld)",
           label, champ->version, (long long)(age_ms / COIN_HOUR_MS),
           (long long)cfg->retrain_max_age_hours, (long long)fresh,
           (long long)cfg->retrain_min_new_candles);
  return due ? 1 : 0;
}

static void progress(void *ud, int fold, int folds, size_t train_rows,
                     size_t test_rows, double secs) {
  (void)ud;
  COIN_LOG_INFO(
      "walk-forward fold", COIN_LOG_INT("fold", fold),
      COIN_LOG_INT("folds", folds), COIN_LOG_UINT("train_rows", train_rows),
      COIN_LOG_UINT("test_rows", test_rows), COIN_LOG_DBL("fit_seconds", secs));
}

struct compare {
  struct coin_score challenger, champion;
  bool done;
  char note[160];
};

/* The champion and the challenger's walk-forward predictions on the scored
 * rows the champion never saw (target opened after its training data). */
static int compare_champion(struct compare *out, struct train_ctx *c,
                            const struct coin_dataset *ds,
                            const struct coin_wf_result *wf,
                            const char *champ_version) {
  struct coin_model *m = NULL;
  struct coin_model_metadata meta;
  memset(out, 0, sizeof(*out));
  int rc = coin_registry_load_model(c->reg, &m, &meta, champ_version);
  if (rc) {
    snprintf(out->note, sizeof(out->note), "champion not loadable: %.120s",
             coin_error_last());
    return 0;
  }
  if (!coin_model_servable(m)) {
    snprintf(out->note, sizeof(out->note),
             "champion uses another feature schema");
    coin_model_free(m);
    return 0;
  }
  float *xb = malloc(BATCH * COIN_FEATURES_COUNT * sizeof(float));
  size_t *idx = malloc(BATCH * sizeof(size_t));
  double *zb = malloc(BATCH * sizeof(double));
  if (!xb || !idx || !zb) {
    rc = coin_error_set(COIN_ENOMEM, "out of memory");
    goto done;
  }
  size_t k = 0;
  for (size_t i = 0; i <= ds->n; i++) {
    bool take = i < ds->n && isfinite(wf->p_up[i]) &&
                ds->t_feat_ms[i] > meta.train_to_ms;
    if (take) {
      memcpy(xb + k * COIN_FEATURES_COUNT, ds->x + i * COIN_FEATURES_COUNT,
             COIN_FEATURES_COUNT * sizeof(float));
      idx[k++] = i;
    }
    if (k == BATCH || (i == ds->n && k)) {
      if ((rc = coin_model_predict_z(m, zb, xb, k)) != 0)
        goto done;
      for (size_t j = 0; j < k; j++) {
        size_t r = idx[j];
        enum coin_tf tf = (enum coin_tf)ds->tf[r];
        double p = coin_calibration_p_up(coin_model_calibration(m), tf, zb[j]);
        double zc =
            coin_calibration_shrink(coin_model_calibration(m), tf, zb[j]);
        coin_score_add(&out->champion, zc * ds->scale[r], p, ds->y[r]);
        coin_score_add(&out->challenger, wf->z_served[r] * ds->scale[r],
                       wf->p_up[r], ds->y[r]);
      }
      k = 0;
    }
  }
  out->done = out->challenger.n > 0;
  if (out->done)
    snprintf(out->note, sizeof(out->note), "rows after %s's training data",
             champ_version);
  else
    snprintf(out->note, sizeof(out->note),
             "no scored rows after its training data (the gate compares "
             "skill over persistence instead)");
done:
  free(xb);
  free(idx);
  free(zb);
  coin_model_free(m);
  return rc;
}

/* ---- registering -------------------------------------------------------- */

static int register_challenger(struct train_ctx *c,
                               struct coin_model_metadata *meta,
                               const uint8_t *art, size_t art_len,
                               const char *reason) {
  int rc;
  const struct train_config *cfg = c->cfg;
  if ((rc = coin_registry_put_artifact(c->reg, meta, art, art_len)) != 0)
    return rc;
  if ((rc = coin_registry_create(c->reg, meta)) != 0)
    return rc;
  char old[COIN_CODEC_ID_BYTES] = "";
  uint64_t rev = 0;
  rc = coin_registry_alias_get(c->reg, old, &rev, COIN_ALIAS_CHALLENGER);
  if (rc == COIN_ENOTFOUND)
    old[0] = '\0';
  else if (rc)
    return rc;
  if ((rc = coin_registry_alias_set(c->reg, COIN_ALIAS_CHALLENGER,
                                    meta->version, rev)) != 0)
    return rc;
  train_event(c, COIN_MODEL_EVENT_REGISTERED, meta->version, "",
              reason ? reason : "registered as challenger (shadow)", meta,
              meta->metrics, meta->n_metrics);
  if (old[0] && strcmp(old, meta->version) != 0) {
    struct coin_model_metadata om;
    if (coin_registry_set_role(c->reg, old, COIN_ROLE_RETIRED) == 0 &&
        coin_registry_get(c->reg, &om, NULL, old) == 0)
      train_event(c, COIN_MODEL_EVENT_RETIRED, old, "",
                  "replaced as challenger by a newer training", &om, NULL, 0);
  }
  size_t removed = 0;
  if (coin_registry_prune(c->reg, (size_t)cfg->history_keep, &removed) == 0 &&
      removed)
    COIN_LOG_INFO("retention: versions purged",
                  COIN_LOG_UINT("removed", removed),
                  COIN_LOG_INT("keep", cfg->history_keep));
  return 0;
}

/* ---- the command -------------------------------------------------------- */

int train_run_locked(struct train_ctx *c, const struct train_args *a,
                     struct coin_lock *lock, const struct train_run_opts *o,
                     struct train_run_result *res) {
  const struct train_config *cfg = c->cfg;
  struct train_series_list sl = {0};
  struct coin_dataset ds = {0};
  struct coin_wf_result wf;
  struct train_scores sc;
  struct compare cmp;
  struct coin_model *final = NULL;
  struct coin_model_metadata *meta = NULL;
  uint8_t *art = NULL;
  size_t art_len = 0;
  int rc = 0, exit_code = TRAIN_EXIT_FAILED;
  bool locked = false;
  double t_start = train_now_seconds();
  memset(res, 0, sizeof(*res));
  memset(&wf, 0, sizeof(wf));
  memset(&sc, 0, sizeof(sc));
  memset(&cmp, 0, sizeof(cmp));

  const char *kind = a->kind ? a->kind : coin_model_kinds()[cfg->kind];
  if (!coin_model_kind_exists(kind)) {
    fprintf(stderr, "coin-train: --kind %s: unknown (rule: ridge|xgboost)\n",
            kind);
    return TRAIN_EXIT_USAGE;
  }
  int policy = cfg->retrain_policy;
  if (a->policy) {
    policy = train_policy_parse(a->policy);
    if (policy < 0) {
      fprintf(stderr,
              "coin-train: --policy %s: unknown (rule: always|age|new_data|"
              "age_or_new_data)\n",
              a->policy);
      return TRAIN_EXIT_USAGE;
    }
  }
  if ((rc = train_series_from(&sl, cfg, a->symbols, a->timeframes)) != 0) {
    fprintf(stderr, "coin-train: %s\n", coin_error_last());
    return TRAIN_EXIT_USAGE;
  }
  size_t per_row = coin_dataset_bytes_per_row() + coin_wf_bytes_per_row() +
                   coin_model_fit_bytes_per_row(kind) +
                   (a->shuffle_labels ? sizeof(double) : 0);
  size_t budget = (size_t)cfg->memory_budget_mb << 20;
  if (budget < TRAIN_FIXED_OVERHEAD_BYTES + 10000 * per_row) {
    fprintf(stderr,
            "coin-train: TRAIN_MEMORY_BUDGET_MB=%lld leaves room for fewer "
            "than 10000 rows of %s (rule: >= %zu MB)\n",
            (long long)cfg->memory_budget_mb, kind,
            (TRAIN_FIXED_OVERHEAD_BYTES + 10000 * per_row) / (1 << 20) + 1);
    train_series_free(&sl);
    return TRAIN_EXIT_USAGE;
  }
  size_t max_rows = (budget - TRAIN_FIXED_OVERHEAD_BYTES) / per_row;

  locked = true;
  exit_code = TRAIN_EXIT_FAILED;

  /* the champion, for the retrain policy, the parent and the comparison */
  char champ[COIN_CODEC_ID_BYTES] = "";
  struct coin_model_metadata champ_meta;
  if ((rc = train_champion(c, champ, NULL, &champ_meta)) != 0)
    goto fail;
  if (champ[0] && !o->skip_policy) {
    char why[320];
    int due = train_retrain_due(c, policy, &champ_meta, "champion", &sl, why,
                                sizeof(why));
    if (due < 0) {
      rc = due;
      goto fail;
    }
    if (!due) {
      fprintf(c->report, "coin-train: retrain not due: %s\n", why);
      COIN_LOG_INFO("retrain not due", COIN_LOG_STR("why", why));
      snprintf(res->why, sizeof(res->why), "%s", why);
      exit_code = TRAIN_EXIT_OK;
      goto out;
    }
    COIN_LOG_INFO("retrain due", COIN_LOG_STR("why", why));
  }

  struct train_load_info li;
  double t0 = train_now_seconds();
  if ((rc = train_load(&ds, &li, c, &sl, max_rows, o->from_ms, INT64_MAX)) != 0)
    goto fail;
  double load_seconds = train_now_seconds() - t0;
  COIN_LOG_INFO(
      "rows loaded", COIN_LOG_UINT("rows", li.rows_used),
      COIN_LOG_UINT("rows_available", li.rows_available),
      COIN_LOG_UINT("rows_dropped_budget", li.rows_dropped),
      COIN_LOG_UINT("max_rows", li.max_rows), COIN_LOG_UINT("reads", li.reads),
      COIN_LOG_TIME("from", li.from_ms), COIN_LOG_TIME("to", li.to_ms),
      COIN_LOG_DBL("seconds", load_seconds));
  if (a->shuffle_labels &&
      (rc = coin_dataset_shuffle_labels(&ds, (uint64_t)cfg->seed)) != 0)
    goto fail;

  struct coin_model_params params;
  coin_model_params_default(&params);
  params.ridge_alpha = cfg->ridge_alpha;
  params.xgb_rounds = (int)cfg->xgb_rounds;
  params.xgb_max_depth = (int)cfg->xgb_max_depth;
  params.xgb_eta = cfg->xgb_eta;
  params.seed = (uint64_t)cfg->seed;
  struct coin_wf_options wo = {.kind = kind,
                               .params = &params,
                               .folds = (int)cfg->wf_folds,
                               .test_fraction = cfg->wf_test_fraction,
                               .rolling = cfg->wf_window == 1,
                               .progress = progress};
  t0 = train_now_seconds();
  if ((rc = coin_wf_run(&wf, &ds, &wo)) != 0)
    goto fail;
  double wf_seconds = train_now_seconds() - t0;
  if ((rc = train_scores_init(&sc, &ds)) != 0)
    goto fail;
  for (size_t i = 0; i < ds.n; i++)
    if (isfinite(wf.p_up[i]))
      train_scores_add(&sc, &ds, i, wf.z_served[i] * ds.scale[i], wf.p_up[i]);
  if (champ[0] && (rc = compare_champion(&cmp, c, &ds, &wf, champ)) != 0)
    goto fail;

  /* the metadata */
  meta = calloc(1, sizeof(*meta));
  if (!meta) {
    rc = coin_error_set(COIN_ENOMEM, "out of memory");
    goto fail;
  }
  snprintf(meta->kind, sizeof(meta->kind), "%s", kind);
  meta->role = COIN_ROLE_CHALLENGER;
  meta->feature_schema_version = COIN_FEATURES_SCHEMA_VERSION;
  snprintf(meta->feature_schema_hash, sizeof(meta->feature_schema_hash), "%s",
           coin_features_schema_hash());
  meta->train_from_ms = li.from_ms;
  meta->train_to_ms = li.to_ms;
  meta->train_watermark_ms = li.watermark_ms;
  meta->train_rows = ds.n;
  meta->eval_rows = wf.rows_scored;
  snprintf(meta->parent_version, sizeof(meta->parent_version), "%s", champ);
  snprintf(meta->git_revision, sizeof(meta->git_revision), "%s",
           cfg->git_revision ? cfg->git_revision : "unknown");
  summary_metrics(meta, "wf", &sc.all, &sc.all_base, true);
  { /* the names docs/protocol.md gives as examples, for generic readers */
    struct coin_score_summary s1, s2;
    coin_score_summarize(&s1, &sc.all);
    coin_score_summarize(&s2, &sc.all_base);
    metric(meta, "mae", s1.mae);
    metric(meta, "rmse", s1.rmse);
    metric(meta, "baseline_mae", s2.mae);
  }
  mae_diff_metrics(meta, &ds, &wf);
  metric(meta, "wf.folds", (double)cfg->wf_folds);
  metric(meta, "wf.rows_warmup", (double)wf.rows_warmup);
  metric(meta, "wf.rolling", cfg->wf_window == 1);
  for (int t = 0; t < COIN_TF_COUNT; t++)
    if (sc.tf[t].n) {
      char p[16];
      snprintf(p, sizeof(p), "wf.%s", coin_tf_name((enum coin_tf)t));
      summary_metrics(meta, p, &sc.tf[t], &sc.tf_base[t], true);
    }
  if (cmp.done) {
    struct coin_score_summary x, y;
    coin_score_summarize(&x, &cmp.challenger);
    coin_score_summarize(&y, &cmp.champion);
    metric(meta, "cmp.n", (double)x.n);
    metric(meta, "cmp.mae", x.mae);
    metric(meta, "cmp.champion_mae", y.mae);
    metric(meta, "cmp.dir_acc", x.dir_acc);
    metric(meta, "cmp.champion_dir_acc", y.dir_acc);
    metric(meta, "cmp.brier", x.brier);
    metric(meta, "cmp.champion_brier", y.brier);
  }
  metric(meta, "data.rows_available", (double)li.rows_available);
  metric(meta, "data.rows_dropped_budget", (double)li.rows_dropped);
  metric(meta, "data.budget_mb", (double)cfg->memory_budget_mb);
  metric(meta, "data.series", (double)li.series_with_data);
  metric(meta, "data.shuffled_labels", a->shuffle_labels ? 1 : 0);
  json_t *scores_json = train_scores_json(&sc);
  struct coin_calibration cal = wf.cal;
  coin_wf_result_free(&wf); /* the final fit does not need them */

  t0 = train_now_seconds();
  if ((rc = coin_model_fit(&final, kind, &ds, 0, ds.n, &params)) != 0) {
    json_decref(scores_json);
    goto fail;
  }
  double fit_seconds = train_now_seconds() - t0;
  coin_model_set_calibration(final, &cal);
  rc = coin_model_save(final, &art, &art_len);
  if (rc == 0 && coin_lock_lost(lock))
    rc = coin_error_set(COIN_ECONFLICT,
                        "lost the lock during training (lease of %lld s "
                        "expired); not registering",
                        (long long)cfg->lock_ttl_seconds);
  if (rc) {
    json_decref(scores_json);
    goto fail;
  }
  char sha[65];
  if ((rc = coin_sha256_hex(sha, art, art_len)) != 0) {
    json_decref(scores_json);
    goto fail;
  }
  meta->created_at_ms = train_wall_ms();
  if ((rc = version_name(meta->version, sizeof(meta->version), kind, sha,
                         meta->created_at_ms)) != 0) {
    json_decref(scores_json);
    goto fail;
  }
  size_t peak = train_peak_rss_bytes();
  metric(meta, "train.seconds", train_now_seconds() - t_start);
  metric(meta, "train.peak_rss_mb", (double)peak / (1 << 20));
  /* per-symbol figures last: they are the first to go if the map is full */
  for (size_t j = 0; j < sc.n_sym; j++) {
    char p[64];
    snprintf(p, sizeof(p), "sym.%s", sc.sym_name[j]);
    summary_metrics(meta, p, &sc.sym[j], &sc.sym_base[j], false);
  }
  if ((rc = register_challenger(c, meta, art, art_len, o->reason)) != 0) {
    json_decref(scores_json);
    goto fail;
  }
  double total = train_now_seconds() - t_start;
  COIN_LOG_INFO("challenger registered", COIN_LOG_STR("version", meta->version),
                COIN_LOG_STR("kind", kind), COIN_LOG_UINT("rows", ds.n),
                COIN_LOG_UINT("artifact_bytes", art_len),
                COIN_LOG_DBL("seconds", total),
                COIN_LOG_DBL("peak_rss_mb", (double)peak / (1 << 20)));

  res->trained = true;
  snprintf(res->version, sizeof(res->version), "%s", meta->version);
  snprintf(res->parent, sizeof(res->parent), "%s", champ);
  res->rows = ds.n;
  res->from_ms = li.from_ms;
  res->to_ms = li.to_ms;

  /* the report */
  if (o->quiet) {
    json_decref(scores_json);
  } else if (a->json) {
    json_t *cj = json_null();
    if (cmp.done)
      cj = json_pack("{s:s, s:o, s:o}", "rows", cmp.note, "challenger",
                     train_summary_json(&cmp.challenger), "champion",
                     train_summary_json(&cmp.champion));
    else if (champ[0])
      cj = json_pack("{s:s}", "note", cmp.note);
    json_t *r = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:{s:I, s:I, s:I, s:I, s:I, "
        "s:I, s:I, s:I}, s:{s:f, s:f, s:f, s:f, s:f, s:I}, s:I}",
        "command", "train", "version", meta->version, "kind", kind, "role",
        "challenger", "parent_version", champ, "walk_forward", scores_json,
        "versus_champion", cj, "data", "rows_used", (json_int_t)li.rows_used,
        "rows_available", (json_int_t)li.rows_available, "rows_dropped_budget",
        (json_int_t)li.rows_dropped, "max_rows", (json_int_t)li.max_rows,
        "from_ms", (json_int_t)li.from_ms, "to_ms", (json_int_t)li.to_ms,
        "watermark_ms", (json_int_t)li.watermark_ms, "reads",
        (json_int_t)li.reads, "timing", "load_seconds", load_seconds,
        "walk_forward_seconds", wf_seconds, "final_fit_seconds", fit_seconds,
        "total_seconds", total, "peak_rss_mb", (double)peak / (1 << 20),
        "budget_mb", (json_int_t)cfg->memory_budget_mb, "artifact_bytes",
        (json_int_t)art_len);
    train_emit_json(c, r);
    json_decref(r);
  } else {
    json_decref(scores_json);
    char f[COIN_TF_UTC_TEXT_BYTES], t[COIN_TF_UTC_TEXT_BYTES];
    coin_tf_format_utc(f, sizeof(f), li.from_ms);
    coin_tf_format_utc(t, sizeof(t), li.to_ms);
    fprintf(c->report,
            "coin-train: registered challenger %s (%s, %zu rows, candles "
            "%.10s..%.10s, parent %s)\n",
            meta->version, kind, ds.n, f, t, champ[0] ? champ : "none");
    fprintf(c->report,
            "walk-forward: %lld scored folds after a warm-up, %s window, "
            "%zu scored rows:\n",
            (long long)cfg->wf_folds,
            cfg->wf_window == 1 ? "rolling" : "expanding", meta->eval_rows);
    train_scores_print(c->report, &sc, kind);
    if (cmp.done) {
      struct coin_score_summary x, y;
      coin_score_summarize(&x, &cmp.challenger);
      coin_score_summarize(&y, &cmp.champion);
      fprintf(c->report,
              "versus champion %s on %llu %s: MAE %.6f vs %.6f, "
              "directional %.2f%% vs %.2f%%, Brier %.5f vs %.5f\n",
              champ, (unsigned long long)x.n, cmp.note, x.mae, y.mae,
              100 * x.dir_acc, 100 * y.dir_acc, x.brier, y.brier);
    } else if (champ[0]) {
      fprintf(c->report, "versus champion %s: %s\n", champ, cmp.note);
    }
    fprintf(c->report,
            "memory: budget %lld MB (%zu rows), peak RSS %.0f MB; rows left "
            "out for the budget: %zu of %zu\n",
            (long long)cfg->memory_budget_mb, li.max_rows,
            (double)peak / (1 << 20), li.rows_dropped, li.rows_available);
    fprintf(c->report,
            "time: load %.1f s, walk-forward %.1f s, final fit %.1f s, total "
            "%.1f s; artifact %zu bytes\n",
            load_seconds, wf_seconds, fit_seconds, total, art_len);
  }
  exit_code = TRAIN_EXIT_OK;
  goto out;

fail:
  fprintf(stderr, "coin-train: training failed: %s\n", coin_error_last());
  COIN_LOG_ERROR("training failed", COIN_LOG_RC(rc));
  if (locked)
    train_event(c, COIN_MODEL_EVENT_TRAINING_FAILED, "", "", coin_error_last(),
                NULL, NULL, 0);
  exit_code = TRAIN_EXIT_FAILED;
out:
  free(art);
  free(meta);
  coin_model_free(final);
  coin_wf_result_free(&wf);
  train_scores_free(&sc);
  coin_dataset_free(&ds);
  train_series_free(&sl);
  return exit_code;
}

int train_cmd_train(struct train_ctx *c, const struct train_args *a) {
  struct coin_lock *lock = NULL;
  struct train_run_result res;
  struct train_run_opts o = {.from_ms = 0};
  int exit_code = train_args_check_kind_policy(a);
  if (exit_code != 0)
    return exit_code;
  if (a->window_days > 0)
    o.from_ms = train_wall_ms() - a->window_days * COIN_DAY_MS;
  exit_code = train_lock(c, &lock, a->hold_lock_ms);
  if (exit_code != 0)
    return exit_code;
  exit_code = train_run_locked(c, a, lock, &o, &res);
  coin_lock_release(lock);
  return exit_code;
}
