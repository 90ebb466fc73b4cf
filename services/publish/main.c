/* main.c: coin-publish: the shared service life (coin_service_main) around
 * publish.h; all logic lives there. */
#include "publish.h"

#include "coin/service.h"

static struct publish_config cfg;

static int load(void *c, const struct coin_env *env,
                struct coin_cfg_errors *errs) {
  return publish_config_load(c, env, errs);
}
static int to_json(char **out, const void *c) {
  return publish_config_to_json(out, c);
}
static void free_cfg(void *c) {
  publish_config_free(c);
}
static int create(void **out, const void *c) {
  struct publish *s = NULL;
  int rc = publish_new(&s, c);
  if (rc == 0)
    *out = s;
  return rc;
}
static int run(void *s) {
  return publish_run(s);
}
static void stop(void *s) {
  publish_request_stop(s);
}
static void destroy(void *s) {
  publish_free(s);
}

int main(int argc, char **argv) {
  const struct coin_service_def def = {
      .name = "coin-publish",
      .usage =
          "usage: coin-publish [--config-doc]   (configured by environment "
          "variables: docs/configuration.md, docs/publish.md)\n",
      .reader = COIN_CFG_PUBLISH,
      .vars = publish_config_vars,
      .n_vars = publish_config_var_count,
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
