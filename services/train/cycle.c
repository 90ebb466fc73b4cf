/*
 * cycle.c: `coin-train cycle`, one scheduled run of retraining that runs
 * itself (docs/models.md "cycle"). Under the training lock, in order:
 * (a) a champion on probation whose realized predictions are significantly
 * worse than persistence (coin_track_judge) is rolled back; (b) the
 * challenger goes through the gate (the bootstrap path only for a first
 * champion without any realized prediction); (c) with no challenger in
 * shadow, a new one is trained on the last TRAIN_WINDOW_DAYS when the
 * policy says so, the champion's retraining request asks for it, or the
 * champion is worse and nothing can be restored; a fresh registry's new
 * challenger is then promoted at once (bootstrap). Each step prints one
 * line (or one JSON line per cycle with --json); what changes the registry
 * is also an event. Single-threaded (plus the lock's keepalive).
 */
#include "train_int.h"

#include "coin/error.h"
#include "coin/log.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define CYCLE_MAX_STEPS 8

struct step {
  char name[16];
  char outcome[32];
  char detail[COIN_CODEC_TEXT_BYTES];
};

struct cycle {
  struct train_ctx *c;
  const struct train_args *a;
  struct step steps[CYCLE_MAX_STEPS];
  size_t n;
};

static void step(struct cycle *cy, const char *name, const char *outcome,
                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void step(struct cycle *cy, const char *name, const char *outcome,
                 const char *fmt, ...) {
  struct step tmp, *s = cy->n < CYCLE_MAX_STEPS ? &cy->steps[cy->n++] : &tmp;
  snprintf(s->name, sizeof(s->name), "%s", name);
  snprintf(s->outcome, sizeof(s->outcome), "%s", outcome);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->detail, sizeof(s->detail), fmt, ap);
  va_end(ap);
  if (!cy->a->json) {
    fprintf(cy->c->report, "coin-train cycle: %s: %s\n", s->name, s->detail);
    fflush(cy->c->report);
  }
  COIN_LOG_INFO("cycle step", COIN_LOG_STR("step", s->name),
                COIN_LOG_STR("outcome", s->outcome),
                COIN_LOG_STR("detail", s->detail));
}

static void alias_or_empty(struct train_ctx *c, char *out, const char *alias) {
  if (coin_registry_alias_get(c->reg, out, NULL, alias) != 0)
    out[0] = '\0';
}

/* The champion, "" when unset or dangling (train_champion says so once). */
static void champion_or_empty(struct train_ctx *c, char *out) {
  if (train_champion(c, out, NULL, NULL) != 0)
    out[0] = '\0';
}

/* ---- (a) the champion on probation --------------------------------------- */

/* 0 done (rolled back or not), < 0 error; *worse_out: significantly worse
 * and nothing to restore (a reason to train). */
static int step_rollback(struct cycle *cy, const char *champ, bool *worse_out) {
  struct train_ctx *c = cy->c;
  const struct train_config *cfg = c->cfg;
  struct coin_model_metadata m;
  int rc = coin_registry_get(c->reg, &m, NULL, champ);
  if (rc)
    return rc;
  double since = coin_codec_model_metric(&m, "promotion.at_ms");
  bool automatic = coin_codec_model_metric(&m, "promotion.automatic") == 1.0;
  int64_t now = train_wall_ms();
  char t[COIN_TF_UTC_TEXT_BYTES];
  if (!isfinite(since) || since <= 0) {
    step(cy, "rollback", "not_on_probation",
         "champion %s: promotion time unknown (promoted before "
         "promotion.at_ms was recorded): not judged",
         champ);
    return 0;
  }
  int64_t since_ms = (int64_t)since;
  coin_tf_format_utc(t, sizeof(t), since_ms);
  bool on_probation = now - since_ms < cfg->probation_hours * COIN_HOUR_MS;
  if (!automatic && !on_probation) {
    step(cy, "rollback", "not_on_probation",
         "champion %s: promoted by hand at %s, past its %lld h probation: "
         "not judged (the champion watch asks for retraining)",
         champ, t, (long long)cfg->probation_hours);
    return 0;
  }
  struct coin_track_window w;
  if ((rc = train_judge_champion(&w, c, champ, since_ms)) != 0)
    return rc;
  enum coin_track_verdict v = coin_track_judge(&w, cfg->promote_min_shadow);
  const char *why = automatic ? "promoted automatically" : "on probation";
  if (v == COIN_TRACK_TOO_FEW) {
    step(cy, "rollback", "too_few",
         "champion %s (%s): %lld/%lld realized predictions since its "
         "promotion at %s, not judged yet",
         champ, why, (long long)w.n, (long long)cfg->promote_min_shadow, t);
    return 0;
  }
  if (v == COIN_TRACK_OK) {
    step(cy, "rollback", "ok",
         "champion %s (%s): not significantly worse than persistence on %lld "
         "realized candles since %s (MAE ratio %.4f, difference 95%% CI "
         "[%+.3g, %+.3g])",
         champ, why, (long long)w.n, t, w.mae_ratio, w.diff_lo, w.diff_hi);
    return 0;
  }
  char prev[COIN_CODEC_ID_BYTES];
  alias_or_empty(c, prev, COIN_ALIAS_PREVIOUS);
  char numbers[320];
  snprintf(numbers, sizeof(numbers),
           "worse than persistence on %lld realized candles since its "
           "promotion at %s: MAE %.6g vs persistence %.6g (ratio %.4f), "
           "error difference 95%% CI [%+.3g, %+.3g]",
           (long long)w.n, t, w.mae, w.persistence_mae, w.mae_ratio, w.diff_lo,
           w.diff_hi);
  if (!prev[0]) {
    *worse_out = true;
    step(cy, "rollback", "worse_no_previous",
         "champion %s (%s): %s; no previous champion to restore: retraining "
         "is due",
         champ, why, numbers);
    return 0;
  }
  struct coin_metric metrics[8];
  size_t nm = 0;
  (void)coin_codec_metric_set(metrics, &nm, "realized_candles", (double)w.n);
  if (isfinite(w.mae))
    (void)coin_codec_metric_set(metrics, &nm, "champion_mae", w.mae);
  if (isfinite(w.persistence_mae))
    (void)coin_codec_metric_set(metrics, &nm, "persistence_mae",
                                w.persistence_mae);
  if (isfinite(w.mae_ratio))
    (void)coin_codec_metric_set(metrics, &nm, "mae_ratio", w.mae_ratio);
  if (isfinite(w.diff_lo))
    (void)coin_codec_metric_set(metrics, &nm, "mae_diff_lo", w.diff_lo);
  if (isfinite(w.diff_hi))
    (void)coin_codec_metric_set(metrics, &nm, "mae_diff_hi", w.diff_hi);
  (void)coin_codec_metric_set(metrics, &nm, "since_ms", (double)since_ms);
  char reason[COIN_CODEC_TEXT_BYTES];
  snprintf(reason, sizeof(reason),
           "automatic rollback: champion %s (%s) %s; %s restored", champ, why,
           numbers, prev);
  struct train_rollback_opts o = {.reason = reason,
                                  .automatic = true,
                                  .metrics = metrics,
                                  .n_metrics = nm,
                                  .print = false};
  char restored[COIN_CODEC_ID_BYTES], retired[COIN_CODEC_ID_BYTES];
  if (train_rollback_locked(c, cy->a, &o, restored, retired) != TRAIN_EXIT_OK)
    return coin_error_wrap(COIN_EREJECTED, "automatic rollback of %s", champ);
  step(cy, "rollback", "rolled_back", "%s", reason);
  return 0;
}

/* ---- (b) the challenger through the gate --------------------------------- */

/* 0 done, < 0 error. */
static int step_promote(struct cycle *cy, const char *name) {
  struct train_ctx *c = cy->c;
  char champ[COIN_CODEC_ID_BYTES], ch[COIN_CODEC_ID_BYTES];
  alias_or_empty(c, ch, COIN_ALIAS_CHALLENGER);
  if (!ch[0]) {
    step(cy, name, "no_challenger", "no challenger in shadow");
    return 0;
  }
  champion_or_empty(c, champ);
  struct train_promote_opts o = {.bootstrap = champ[0] ? TRAIN_GATE_SHADOW
                                                       : TRAIN_GATE_AUTO,
                                 .automatic = true,
                                 .quiet_waiting = true};
  struct train_promote_result r;
  int code = train_promote_locked(c, cy->a, &o, &r);
  switch (r.outcome) {
  case TRAIN_PROMOTE_PROMOTED:
    step(cy, name, "promoted", "challenger %s PROMOTED (%s evidence%s%s): %s",
         r.candidate, r.bootstrap ? "bootstrap, walk-forward" : "shadow",
         r.champion[0] ? "; previous champion " : "", r.champion, r.summary);
    return 0;
  case TRAIN_PROMOTE_WAITING: {
    step(cy, name, "waiting", "%s", r.summary);
    /* the count the site shows, as of this cycle */
    const char *names[3] = {"shadow.realized", "shadow.needed",
                            "shadow.checked_at_ms"};
    double values[3] = {(double)r.realized, (double)c->cfg->promote_min_shadow,
                        (double)train_wall_ms()};
    int rc = train_meta_update(c, r.candidate, names, values, 3);
    if (rc)
      COIN_LOG_WARN("shadow count not recorded", COIN_LOG_RC(rc));
    return 0;
  }
  case TRAIN_PROMOTE_REFUSED:
    step(cy, name, "refused",
         "challenger %s REFUSED (marked refused, out of shadow): %s",
         r.candidate, r.summary);
    return 0;
  case TRAIN_PROMOTE_REFUSED_STAYS:
    step(cy, name, "refused_stays",
         "challenger %s REFUSED (stays challenger): %s", r.candidate,
         r.summary);
    return 0;
  default: break;
  }
  (void)code;
  return coin_error_set(COIN_EREJECTED, "promotion of %s: %s", ch, r.summary);
}

/* ---- (c) retraining --------------------------------------------------------
 */

struct request {
  bool present; /* a valid request for the current champion */
  struct coin_retrain_request req;
  uint64_t revision;
};

/* Reads request.retrain: stale ones (another champion) are cleared, an
 * undecodable value is reported and left (nothing lost). Never fails the
 * cycle. */
static void read_request(struct cycle *cy, const char *champ,
                         struct request *out) {
  struct train_ctx *c = cy->c;
  memset(out, 0, sizeof(*out));
  int rc = coin_registry_retrain_request_get(c->reg, &out->req, &out->revision);
  if (rc == COIN_ENOTFOUND)
    return;
  if (rc) {
    step(cy, "request", rc == COIN_EDECODE ? "undecodable" : "unreadable",
         "retraining request ignored: %s", coin_error_last());
    return;
  }
  if (!champ[0] || strcmp(out->req.champion, champ) != 0) {
    rc = coin_registry_retrain_request_clear(c->reg, out->revision);
    step(cy, "request", rc == 0 ? "stale_cleared" : "stale_kept",
         "retraining request for %s (by %s) is stale: the champion is %s; "
         "%s",
         out->req.champion,
         out->req.requested_by[0] ? out->req.requested_by : "?",
         champ[0] ? champ : "none", rc == 0 ? "cleared" : coin_error_last());
    return;
  }
  out->present = true;
}

/* The newest registered model (any role): what the cycle's policy measures
 * against. 1 found, 0 none, < 0 error. */
static int newest_model(struct train_ctx *c, struct coin_model_metadata *out) {
  struct coin_model_metadata *list = NULL;
  size_t n = 0;
  int rc = coin_registry_list(c->reg, &list, &n);
  if (rc)
    return rc;
  if (n)
    *out = list[n - 1];
  free(list);
  return n ? 1 : 0;
}

/* 0 done (trained or not), < 0 error; *trained_out. */
static int step_train(struct cycle *cy, struct coin_lock *lock,
                      const char *champ, const struct request *rq,
                      bool champion_worse, bool *trained_out) {
  struct train_ctx *c = cy->c;
  const struct train_config *cfg = c->cfg;
  const struct train_args *a = cy->a;
  char ch[COIN_CODEC_ID_BYTES];
  alias_or_empty(c, ch, COIN_ALIAS_CHALLENGER);
  if (ch[0]) {
    step(cy, "train", "challenger_in_shadow",
         "challenger %s is in shadow: no training%s", ch,
         rq->present ? " (the retraining request waits for its verdict)" : "");
    return 0;
  }
  char why[COIN_CODEC_TEXT_BYTES];
  int rc;
  if (rq->present) {
    snprintf(why, sizeof(why),
             "retraining: champion %s underperforming: %s (requested by %s, "
             "scope %s)",
             champ, rq->req.reason[0] ? rq->req.reason : "no reason given",
             rq->req.requested_by[0] ? rq->req.requested_by : "?",
             rq->req.scope[0] ? rq->req.scope : "?");
  } else if (c->champion_dangling) {
    snprintf(why, sizeof(why),
             "retraining: alias.champion names a model without usable "
             "metadata (treated as no champion)");
  } else if (champion_worse) {
    snprintf(why, sizeof(why),
             "retraining: champion %s worse than persistence on probation, "
             "nothing to restore",
             champ);
  } else {
    int policy = cfg->cycle_policy;
    if (a->policy)
      policy = train_policy_parse(a->policy);
    struct coin_model_metadata ref;
    rc = newest_model(c, &ref);
    if (rc < 0)
      return rc;
    if (rc == 0) {
      snprintf(why, sizeof(why), "retraining: no model registered yet");
    } else {
      struct train_series_list sl = {0};
      char pwhy[320];
      if ((rc = train_series_from(&sl, cfg, a->symbols, a->timeframes)) != 0)
        return rc;
      int due = train_retrain_due(c, policy, &ref, "newest model", &sl, pwhy,
                                  sizeof(pwhy));
      train_series_free(&sl);
      if (due < 0)
        return due;
      if (!due) {
        step(cy, "train", "not_due", "retrain not due: %s", pwhy);
        return 0;
      }
      snprintf(why, sizeof(why), "retraining due: %s", pwhy);
    }
  }
  int64_t days = a->window_days >= 0 ? a->window_days : cfg->window_days;
  struct train_run_opts o = {
      .skip_policy = true,
      .from_ms = days > 0 ? train_wall_ms() - days * COIN_DAY_MS : 0,
      .reason = why,
      .quiet = true};
  struct train_run_result r;
  int code = train_run_locked(c, a, lock, &o, &r);
  if (code != TRAIN_EXIT_OK || !r.trained)
    return coin_error_set(code == TRAIN_EXIT_USAGE ? COIN_EINVAL
                                                   : COIN_EREJECTED,
                          "training failed (see above)");
  *trained_out = true;
  char f[COIN_TF_UTC_TEXT_BYTES], t[COIN_TF_UTC_TEXT_BYTES];
  coin_tf_format_utc(f, sizeof(f), r.from_ms);
  coin_tf_format_utc(t, sizeof(t), r.to_ms);
  char window[48];
  if (days > 0)
    snprintf(window, sizeof(window), "last %lld days", (long long)days);
  else
    snprintf(window, sizeof(window), "all data");
  step(cy, "train", "registered",
       "registered challenger %s (%zu rows, candles %.10s..%.10s, %s, parent "
       "%s): %s",
       r.version, r.rows, f, t, window, r.parent[0] ? r.parent : "none", why);
  if (rq->present) {
    rc = coin_registry_retrain_request_clear(c->reg, rq->revision);
    step(cy, "request", rc == 0 ? "cleared" : "kept",
         "retraining request for %s (by %s): %s", rq->req.champion,
         rq->req.requested_by[0] ? rq->req.requested_by : "?",
         rc == 0 ? "acted on, cleared" : coin_error_last());
  }
  return 0;
}

/* ---- the command -----------------------------------------------------------
 */

static void emit(struct cycle *cy, int exit_code) {
  struct train_ctx *c = cy->c;
  if (!cy->a->json) {
    if (exit_code == TRAIN_EXIT_OK)
      fprintf(c->report, "coin-train cycle: done\n");
    return;
  }
  char champ[COIN_CODEC_ID_BYTES], ch[COIN_CODEC_ID_BYTES],
      prev[COIN_CODEC_ID_BYTES];
  champion_or_empty(c, champ);
  alias_or_empty(c, ch, COIN_ALIAS_CHALLENGER);
  alias_or_empty(c, prev, COIN_ALIAS_PREVIOUS);
  json_t *steps = json_array();
  for (size_t i = 0; i < cy->n; i++)
    json_array_append_new(steps, json_pack("{s:s, s:s, s:s}", "step",
                                           cy->steps[i].name, "outcome",
                                           cy->steps[i].outcome, "detail",
                                           cy->steps[i].detail));
  json_t *r = json_pack("{s:s, s:i, s:s, s:s, s:s, s:o}", "command", "cycle",
                        "exit_code", exit_code, "champion", champ, "challenger",
                        ch, "previous", prev, "steps", steps);
  train_emit_json(c, r);
  json_decref(r);
}

int train_cmd_cycle(struct train_ctx *c, const struct train_args *a) {
  struct cycle cy = {.c = c, .a = a};
  struct coin_lock *lock = NULL;
  struct train_series_list sl = {0};
  int rc = 0, exit_code;
  /* the arguments first: a usage error takes no lock */
  if ((exit_code = train_args_check_kind_policy(a)) != 0)
    return exit_code;
  if (train_series_from(&sl, c->cfg, a->symbols, a->timeframes) != 0) {
    fprintf(stderr, "coin-train: %s\n", coin_error_last());
    return TRAIN_EXIT_USAGE;
  }
  train_series_free(&sl);
  if ((exit_code = train_lock(c, &lock, a->hold_lock_ms)) != 0)
    return exit_code;

  char champ[COIN_CODEC_ID_BYTES];
  bool worse = false, trained = false;
  struct request rq;
  /* (a) */
  champion_or_empty(c, champ);
  if (champ[0]) {
    if ((rc = step_rollback(&cy, champ, &worse)) != 0)
      goto fail;
  } else {
    step(&cy, "rollback", "no_champion", "no champion yet");
  }
  /* the request, against the champion after (a) */
  champion_or_empty(c, champ);
  read_request(&cy, champ, &rq);
  /* (b) */
  if ((rc = step_promote(&cy, "promotion")) != 0)
    goto fail;
  /* (c) */
  champion_or_empty(c, champ);
  if (rq.present && strcmp(rq.req.champion, champ) != 0) {
    /* (b) promoted another champion: the request is answered */
    rc = coin_registry_retrain_request_clear(c->reg, rq.revision);
    step(&cy, "request", rc == 0 ? "stale_cleared" : "stale_kept",
         "retraining request for %s: the champion is now %s; %s",
         rq.req.champion, champ, rc == 0 ? "cleared" : coin_error_last());
    rq.present = false;
  }
  if ((rc = step_train(&cy, lock, champ, &rq, worse, &trained)) != 0)
    goto fail;
  /* a fresh registry: its first challenger becomes the first champion in
   * the same run (no realized prediction can exist yet: bootstrap) */
  if (trained && !champ[0] && (rc = step_promote(&cy, "bootstrap")) != 0)
    goto fail;
  exit_code = TRAIN_EXIT_OK;
  goto out;
fail:
  step(&cy, "failed", "failed", "%s", coin_error_last());
  fprintf(stderr, "coin-train cycle: %s\n", coin_error_last());
  COIN_LOG_ERROR("cycle failed", COIN_LOG_RC(rc));
  exit_code = TRAIN_EXIT_FAILED;
out:
  emit(&cy, exit_code);
  coin_lock_release(lock);
  return exit_code;
}
