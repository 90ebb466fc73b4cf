/*
 * evaluate.c: `coin-train evaluate`: scores any registered model (its
 * artifact verified like serving does) on any SoT data, beside
 * persistence, without touching the registry. Rows whose target the model
 * may have seen in training (target opened at or before its train_to_ms)
 * are reported apart from the out-of-sample ones. Single-threaded.
 */
#include "train_int.h"

#include "coin/error.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 4096

int train_cmd_evaluate(struct train_ctx *c, const struct train_args *a) {
  const struct train_config *cfg = c->cfg;
  struct train_series_list sl = {0};
  struct coin_model *m = NULL;
  struct coin_model_metadata meta;
  struct coin_dataset ds = {0};
  struct train_scores oos, ins;
  float *xb = NULL;
  double *zb = NULL;
  int rc, exit_code = TRAIN_EXIT_FAILED;
  char version[COIN_CODEC_ID_BYTES];
  memset(&oos, 0, sizeof(oos));
  memset(&ins, 0, sizeof(ins));

  if ((rc = train_series_from(&sl, cfg, a->symbols, a->timeframes)) != 0) {
    fprintf(stderr, "coin-train evaluate: %s\n", coin_error_last());
    return TRAIN_EXIT_USAGE;
  }
  const char *name = a->model ? a->model : "champion";
  if ((rc = coin_registry_resolve(c->reg, version, name)) != 0 ||
      (rc = coin_registry_load_model(c->reg, &m, &meta, version)) != 0)
    goto fail;
  if (!coin_model_servable(m)) {
    rc = coin_error_set(COIN_EINVAL,
                        "model %s: feature schema v%u is not this build's "
                        "v%u (rule: a servable schema)",
                        version, coin_model_schema_version(m),
                        COIN_FEATURES_SCHEMA_VERSION);
    goto fail;
  }
  size_t per_row = coin_dataset_bytes_per_row() + 2 * sizeof(double);
  size_t budget = (size_t)cfg->memory_budget_mb << 20;
  size_t max_rows = budget > TRAIN_FIXED_OVERHEAD_BYTES
                        ? (budget - TRAIN_FIXED_OVERHEAD_BYTES) / per_row
                        : 10000;
  struct train_load_info li;
  int64_t to = a->to_ms ? a->to_ms : INT64_MAX;
  if ((rc = train_load(&ds, &li, c, &sl, max_rows, a->from_ms, to)) != 0)
    goto fail;
  if ((rc = train_scores_init(&oos, &ds)) != 0 ||
      (rc = train_scores_init(&ins, &ds)) != 0)
    goto fail;
  xb = malloc(BATCH * COIN_FEATURES_COUNT * sizeof(float));
  zb = malloc(BATCH * sizeof(double));
  if (!xb || !zb) {
    rc = coin_error_set(COIN_ENOMEM, "out of memory");
    goto fail;
  }
  for (size_t i = 0; i < ds.n; i += BATCH) {
    size_t k = ds.n - i < BATCH ? ds.n - i : BATCH;
    if ((rc = coin_model_predict_z(m, zb, ds.x + i * COIN_FEATURES_COUNT, k)) !=
        0)
      goto fail;
    for (size_t j = 0; j < k; j++) {
      size_t r = i + j;
      enum coin_tf tf = (enum coin_tf)ds.tf[r];
      double p = coin_calibration_p_up(coin_model_calibration(m), tf, zb[j]);
      struct train_scores *s = ds.t_feat_ms[r] > meta.train_to_ms ? &oos : &ins;
      double zs = coin_calibration_shrink(coin_model_calibration(m), tf, zb[j]);
      train_scores_add(s, &ds, r, zs * ds.scale[r], p);
    }
  }
  if (a->json) {
    json_t *r = json_pack(
        "{s:s, s:s, s:s, s:I, s:o, s:o, s:{s:I, s:I, s:I, s:I, s:I}}",
        "command", "evaluate", "version", version, "kind", meta.kind,
        "train_to_ms", (json_int_t)meta.train_to_ms, "out_of_sample",
        train_scores_json(&oos), "in_sample", train_scores_json(&ins), "data",
        "rows", (json_int_t)ds.n, "rows_dropped_budget",
        (json_int_t)li.rows_dropped, "from_ms", (json_int_t)li.from_ms, "to_ms",
        (json_int_t)li.to_ms, "reads", (json_int_t)li.reads);
    train_emit_json(c, r);
    json_decref(r);
  } else {
    char t[COIN_TF_UTC_TEXT_BYTES];
    coin_tf_format_utc(t, sizeof(t), meta.train_to_ms);
    fprintf(c->report, "coin-train evaluate: %s (%s) on %zu rows%s\n", version,
            meta.kind, ds.n,
            li.rows_dropped ? " (oldest rows left out for the budget)" : "");
    fprintf(c->report, "out of sample (targets after its training data, %s):\n",
            t);
    if (oos.all.n)
      train_scores_print(c->report, &oos, meta.kind);
    else
      fprintf(c->report, "  (no rows)\n");
    if (ins.all.n) {
      fprintf(c->report, "in sample (targets it may have been trained on; "
                         "optimistic):\n");
      train_scores_print(c->report, &ins, meta.kind);
    }
  }
  exit_code = TRAIN_EXIT_OK;
  goto out;
fail:
  train_report_failure("evaluate", rc);
out:
  free(xb);
  free(zb);
  train_scores_free(&oos);
  train_scores_free(&ins);
  coin_dataset_free(&ds);
  coin_model_free(m);
  train_series_free(&sl);
  return exit_code;
}
