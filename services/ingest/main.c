/* main.c: coin-ingest: the shared service life (coin_service_main) around
 * ingest.h; all logic lives there. */
#include "ingest.h"

#include "coin/service.h"

static struct ingest_config cfg;

COIN_SERVICE_HOOKS(ingest)

int main(int argc, char **argv) {
  const struct coin_service_def def = {
      .name = "coin-ingest",
      .usage = "usage: coin-ingest [--config-doc|--metrics-doc]   (configured "
               "by environment "
               "variables: docs/configuration.md, docs/ingest.md)\n",
      .reader = COIN_CFG_INGEST,
      .vars = ingest_config_vars,
      .n_vars = ingest_config_var_count,
      .metrics = ingest_metrics,
      .n_metrics = ingest_metric_count,
      .cfg = &cfg,
      COIN_SERVICE_DEF_HOOKS(ingest),
  };
  return coin_service_main(&def, argc, argv);
}
