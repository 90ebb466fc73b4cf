/* main.c: coin-ingest: the shared service life (coin_service_main) around
 * ingest.h; all logic lives there. */
#include "ingest.h"

#include "coin/service.h"

static struct ingest_config cfg;

static int load(void *c, const struct coin_env *env,
                struct coin_cfg_errors *errs) {
  return ingest_config_load(c, env, errs);
}
static int to_json(char **out, const void *c) {
  return ingest_config_to_json(out, c);
}
static void free_cfg(void *c) {
  ingest_config_free(c);
}
static int create(void **out, const void *c) {
  struct ingest *s = NULL;
  int rc = ingest_new(&s, c);
  if (rc == 0)
    *out = s;
  return rc;
}
static int run(void *s) {
  return ingest_run(s);
}
static void stop(void *s) {
  ingest_request_stop(s);
}
static void destroy(void *s) {
  ingest_free(s);
}

int main(int argc, char **argv) {
  const struct coin_service_def def = {
      .name = "coin-ingest",
      .usage = "usage: coin-ingest [--config-doc]   (configured by environment "
               "variables: docs/configuration.md, docs/ingest.md)\n",
      .reader = COIN_CFG_INGEST,
      .vars = ingest_config_vars,
      .n_vars = ingest_config_var_count,
      .cfg = &cfg,
      .config_load = load,
      .config_to_json = to_json,
      .config_free = free_cfg,
      .create = create,
      .run = run,
      .request_stop = stop,
      .destroy = destroy,
  };
  return coin_service_main(&def, argc, argv);
}
