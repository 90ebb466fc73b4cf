/*
 * report.c: coin-train's output helpers: score tables (model beside
 * persistence, overall / per timeframe / per symbol) as text and JSON, the
 * JSON report line, the lock helper and lifecycle events. Single-threaded.
 */
#include "train_int.h"

#include "coin/error.h"
#include "coin/log.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int train_scores_init(struct train_scores *s, const struct coin_dataset *ds) {
  memset(s, 0, sizeof(*s));
  size_t cap = ds->n_series ? ds->n_series : 1;
  s->sym = calloc(cap, sizeof(*s->sym));
  s->sym_base = calloc(cap, sizeof(*s->sym_base));
  s->sym_name = calloc(cap, sizeof(*s->sym_name));
  if (!s->sym || !s->sym_base || !s->sym_name) {
    train_scores_free(s);
    return coin_error_set(COIN_ENOMEM, "scores: out of memory");
  }
  for (size_t i = 0; i < ds->n_series; i++) {
    size_t j = 0;
    while (j < s->n_sym && strcmp(s->sym_name[j], ds->series_tab[i].symbol))
      j++;
    if (j == s->n_sym)
      snprintf(s->sym_name[s->n_sym++], COIN_CODEC_NAME_BYTES, "%s",
               ds->series_tab[i].symbol);
  }
  return 0;
}

void train_scores_add(struct train_scores *s, const struct coin_dataset *ds,
                      size_t row, double pred_ret, double p_up) {
  double y = ds->y[row];
  enum coin_tf tf = (enum coin_tf)ds->tf[row];
  const char *sym = ds->series_tab[ds->series[row]].symbol;
  coin_score_add(&s->all, pred_ret, p_up, y);
  coin_score_add(&s->all_base, 0, 0.5, y);
  coin_score_add(&s->tf[tf], pred_ret, p_up, y);
  coin_score_add(&s->tf_base[tf], 0, 0.5, y);
  for (size_t j = 0; j < s->n_sym; j++)
    if (strcmp(s->sym_name[j], sym) == 0) {
      coin_score_add(&s->sym[j], pred_ret, p_up, y);
      coin_score_add(&s->sym_base[j], 0, 0.5, y);
      break;
    }
}

void train_scores_free(struct train_scores *s) {
  free(s->sym);
  free(s->sym_base);
  free(s->sym_name);
  memset(s, 0, sizeof(*s));
}

static json_t *num(double v) {
  return isfinite(v) ? json_real(v) : json_null();
}

json_t *train_summary_json(const struct coin_score *sc) {
  struct coin_score_summary m;
  coin_score_summarize(&m, sc);
  return json_pack("{s:I, s:I, s:o, s:o, s:o, s:[o,o], s:o}", "n",
                   (json_int_t)m.n, "n_direction", (json_int_t)m.n_dir, "mae",
                   num(m.mae), "rmse", num(m.rmse), "directional_accuracy",
                   num(m.dir_acc), "directional_accuracy_ci95", num(m.dir_lo),
                   num(m.dir_hi), "brier", num(m.brier));
}

static json_t *pair(const struct coin_score *m, const struct coin_score *b) {
  return json_pack("{s:o, s:o}", "model", train_summary_json(m), "persistence",
                   train_summary_json(b));
}

json_t *train_scores_json(const struct train_scores *s) {
  json_t *tfs = json_object(), *syms = json_object();
  for (int t = 0; t < COIN_TF_COUNT; t++)
    if (s->tf[t].n)
      json_object_set_new(tfs, coin_tf_name((enum coin_tf)t),
                          pair(&s->tf[t], &s->tf_base[t]));
  for (size_t j = 0; j < s->n_sym; j++)
    if (s->sym[j].n)
      json_object_set_new(syms, s->sym_name[j],
                          pair(&s->sym[j], &s->sym_base[j]));
  return json_pack("{s:o, s:o, s:o}", "all", pair(&s->all, &s->all_base),
                   "timeframes", tfs, "symbols", syms);
}

static void line(FILE *f, const char *group, const char *who,
                 const struct coin_score *sc) {
  struct coin_score_summary m;
  coin_score_summarize(&m, sc);
  if (m.n == 0)
    return;
  fprintf(f, "  %-10s %-12s %8llu  %.6f  %.6f  %6.2f%% [%6.2f, %6.2f]  %.5f\n",
          group, who, (unsigned long long)m.n, m.mae, m.rmse, 100 * m.dir_acc,
          100 * m.dir_lo, 100 * m.dir_hi, m.brier);
}

void train_scores_print(FILE *f, const struct train_scores *s,
                        const char *label) {
  fprintf(f, "  %-10s %-12s %8s  %-8s  %-8s  %-25s  %s\n", "rows", "model", "n",
          "MAE", "RMSE", "directional acc [95% CI]", "Brier");
  line(f, "all", label, &s->all);
  line(f, "all", "persistence", &s->all_base);
  for (int t = 0; t < COIN_TF_COUNT; t++) {
    line(f, coin_tf_name((enum coin_tf)t), label, &s->tf[t]);
    line(f, coin_tf_name((enum coin_tf)t), "persistence", &s->tf_base[t]);
  }
  for (size_t j = 0; j < s->n_sym; j++) {
    line(f, s->sym_name[j], label, &s->sym[j]);
    line(f, s->sym_name[j], "persistence", &s->sym_base[j]);
  }
}

void train_emit_json(struct train_ctx *c, json_t *report) {
  char *text = json_dumps(report, JSON_COMPACT | JSON_REAL_PRECISION(10));
  if (text) {
    fprintf(c->report, "%s\n", text);
    fflush(c->report);
    free(text);
  }
}

int train_lock(struct train_ctx *c, struct coin_lock **out, int64_t hold_ms) {
  char holder[COIN_CODEC_ID_BYTES];
  snprintf(holder, sizeof(holder), "%s", c->producer_id);
  int rc = coin_lock_acquire(out, c->bus, TRAIN_LOCK_NAME, holder,
                             c->cfg->lock_ttl_seconds * 1000);
  if (rc == COIN_EEXISTS) {
    fprintf(stderr, "coin-train: %s; nothing done\n", coin_error_last());
    COIN_LOG_WARN("lock held by another job; exiting", COIN_LOG_RC(rc));
    return TRAIN_EXIT_LOCKED;
  }
  if (rc) {
    fprintf(stderr, "coin-train: lock: %s\n", coin_error_last());
    COIN_LOG_ERROR("lock failed", COIN_LOG_RC(rc));
    return TRAIN_EXIT_FAILED;
  }
  if ((rc = coin_lock_keepalive_start(*out)) != 0) {
    coin_lock_release(*out);
    *out = NULL;
    fprintf(stderr, "coin-train: lock keepalive: %s\n", coin_error_last());
    return TRAIN_EXIT_FAILED;
  }
  COIN_LOG_INFO("lock acquired", COIN_LOG_STR("holder", holder),
                COIN_LOG_INT("ttl_seconds", c->cfg->lock_ttl_seconds));
  if (hold_ms > 0) /* tests: make the critical section observable */
    usleep((useconds_t)(hold_ms * 1000));
  return 0;
}

void train_event(struct train_ctx *c, enum coin_model_event_kind kind,
                 const char *version, const char *previous, const char *reason,
                 const struct coin_model_metadata *m,
                 const struct coin_metric *metrics, size_t n_metrics) {
  struct coin_model_event *ev = calloc(1, sizeof(*ev));
  if (!ev)
    return;
  ev->kind = kind;
  snprintf(ev->version, sizeof(ev->version), "%s", version ? version : "");
  snprintf(ev->previous_version, sizeof(ev->previous_version), "%s",
           previous ? previous : "");
  /* reason is free text: cut at a UTF-8 boundary */
  size_t n = reason ? strlen(reason) : 0;
  if (n > sizeof(ev->reason) - 1) {
    n = sizeof(ev->reason) - 1;
    while (n > 0 && ((unsigned char)reason[n] & 0xc0) == 0x80)
      n--;
  }
  if (n)
    memcpy(ev->reason, reason, n);
  ev->reason[n] = '\0';
  if (m) {
    ev->has_model = true;
    ev->model = *m;
  }
  for (size_t i = 0; i < n_metrics && i < COIN_CODEC_MAX_METRICS; i++)
    ev->metrics[ev->n_metrics++] = metrics[i];
  int rc = coin_registry_event(c->reg, ev);
  if (rc)
    COIN_LOG_WARN("model event not published",
                  COIN_LOG_STR("kind", coin_codec_model_event_kind_name(kind)),
                  COIN_LOG_STR("version", ev->version), COIN_LOG_RC(rc));
  else
    COIN_LOG_INFO("model event",
                  COIN_LOG_STR("kind", coin_codec_model_event_kind_name(kind)),
                  COIN_LOG_STR("version", ev->version),
                  COIN_LOG_STR("previous_version", ev->previous_version),
                  COIN_LOG_STR("reason", ev->reason));
  free(ev);
}
