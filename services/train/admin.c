/*
 * admin.c: `coin-train ls` (every registered version with its role, aliases
 * and walk-forward figures) and `coin-train show` (one version's metadata,
 * plus its verified artifact's description). Read-only; single-threaded.
 */
#include "train_int.h"

#include "coin/error.h"
#include "coin/log.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void alias_of(struct train_ctx *c, char out[3][COIN_CODEC_ID_BYTES]) {
  const char *names[3] = {COIN_ALIAS_CHAMPION, COIN_ALIAS_CHALLENGER,
                          COIN_ALIAS_PREVIOUS};
  for (int i = 0; i < 3; i++)
    if (coin_registry_alias_get(c->reg, out[i], NULL, names[i]) != 0)
      out[i][0] = '\0';
}

int train_cmd_ls(struct train_ctx *c, const struct train_args *a) {
  struct coin_model_metadata *list = NULL;
  size_t n = 0;
  char al[3][COIN_CODEC_ID_BYTES];
  int rc = coin_registry_list(c->reg, &list, &n);
  if (rc) {
    fprintf(stderr, "coin-train ls: %s\n", coin_error_last());
    return TRAIN_EXIT_FAILED;
  }
  alias_of(c, al);
  json_t *arr = a->json ? json_array() : NULL;
  if (!a->json)
    fprintf(c->report, "%-44s %-8s %-10s %-11s %-24s %9s %9s %8s %8s\n",
            "version", "kind", "role", "alias", "created", "wf_mae", "pers_mae",
            "dir_acc", "brier");
  for (size_t i = 0; i < n; i++) {
    const struct coin_model_metadata *m = &list[i];
    const char *alias = !strcmp(m->version, al[0])   ? "champion"
                        : !strcmp(m->version, al[1]) ? "challenger"
                        : !strcmp(m->version, al[2]) ? "previous"
                                                     : "";
    char t[COIN_TF_UTC_TEXT_BYTES];
    coin_tf_format_utc(t, sizeof(t), m->created_at_ms);
    if (a->json) {
      json_t *o = json_pack(
          "{s:s, s:s, s:s, s:s, s:I, s:I, s:s}", "version", m->version, "kind",
          m->kind, "role", coin_codec_model_role_name(m->role), "alias", alias,
          "created_at_ms", (json_int_t)m->created_at_ms, "train_rows",
          (json_int_t)m->train_rows, "parent_version", m->parent_version);
      double v[4] = {coin_codec_model_metric(m, "wf.mae"),
                     coin_codec_model_metric(m, "wf.persistence_mae"),
                     coin_codec_model_metric(m, "wf.dir_acc"),
                     coin_codec_model_metric(m, "wf.brier")};
      const char *k[4] = {"wf_mae", "wf_persistence_mae", "wf_dir_acc",
                          "wf_brier"};
      for (int j = 0; j < 4; j++)
        json_object_set_new(o, k[j],
                            isfinite(v[j]) ? json_real(v[j]) : json_null());
      json_array_append_new(arr, o);
    } else {
      fprintf(c->report,
              "%-44s %-8s %-10s %-11s %-24s %9.6f %9.6f %7.2f%% "
              "%8.5f\n",
              m->version, m->kind, coin_codec_model_role_name(m->role), alias,
              t, coin_codec_model_metric(m, "wf.mae"),
              coin_codec_model_metric(m, "wf.persistence_mae"),
              100 * coin_codec_model_metric(m, "wf.dir_acc"),
              coin_codec_model_metric(m, "wf.brier"));
    }
  }
  if (a->json) {
    json_t *r = json_pack("{s:s, s:o}", "command", "ls", "models", arr);
    train_emit_json(c, r);
    json_decref(r);
  }
  free(list);
  return TRAIN_EXIT_OK;
}

int train_cmd_show(struct train_ctx *c, const struct train_args *a) {
  char version[COIN_CODEC_ID_BYTES];
  struct coin_model_metadata m;
  uint8_t *packed = NULL;
  size_t len = 0;
  char *meta_json = NULL, *desc = NULL;
  struct coin_model *model = NULL;
  int exit_code = TRAIN_EXIT_FAILED;
  int rc =
      coin_registry_resolve(c->reg, version, a->model ? a->model : "champion");
  if (rc || (rc = coin_registry_get(c->reg, &m, NULL, version)) != 0 ||
      (rc = coin_codec_pack_model(&packed, &len, &m)) != 0 ||
      (rc = coin_codec_to_json_type(&meta_json, COIN_MSG_MODEL_METADATA, packed,
                                    len)) != 0) {
    fprintf(stderr, "coin-train show: %s\n", coin_error_last());
    goto out;
  }
  rc = coin_registry_load_model(c->reg, &model, NULL, version);
  char artifact_error[512] = "";
  if (rc == 0)
    rc = coin_model_describe(&desc, model);
  if (rc)
    snprintf(artifact_error, sizeof(artifact_error), "%s", coin_error_last());
  json_t *meta = json_loads(meta_json, 0, NULL);
  json_t *art = desc ? json_loads(desc, 0, NULL) : NULL;
  json_t *r = json_pack(
      "{s:s, s:o, s:b, s:o, s:s}", "command", "show", "metadata",
      meta ? meta : json_null(), "artifact_verified", desc != NULL, "artifact",
      art ? art : json_null(), "artifact_error", artifact_error);
  train_emit_json(c, r);
  json_decref(r);
  exit_code = desc ? TRAIN_EXIT_OK : TRAIN_EXIT_FAILED;
out:
  free(packed);
  free(meta_json);
  free(desc);
  coin_model_free(model);
  return exit_code;
}
