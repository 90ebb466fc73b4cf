/* main.c: coin-publish: the shared service life (coin_service_main) around
 * publish.h; all logic lives there. */
#include "publish.h"

#include "coin/service.h"

static struct publish_config cfg;

COIN_SERVICE_HOOKS(publish)

int main(int argc, char **argv) {
  const struct coin_service_def def = {
      .name = "coin-publish",
      .usage = "usage: coin-publish [--config-doc|--metrics-doc]   (configured "
               "by environment "
               "variables: docs/configuration.md, docs/publish.md)\n",
      .reader = COIN_CFG_PUBLISH,
      .vars = publish_config_vars,
      .n_vars = publish_config_var_count,
      .metrics = publish_metrics,
      .n_metrics = publish_metric_count,
      .cfg = &cfg,
      COIN_SERVICE_DEF_HOOKS(publish),
  };
  return coin_service_main(&def, argc, argv);
}
