/* main.c: coin-monitor: the shared service life (coin_service_main) around
 * monitor.h; all logic lives there. */
#include "monitor.h"

#include "coin/service.h"

#include <malloc.h>

static struct monitor_config cfg;

COIN_SERVICE_HOOKS(monitor)

int main(int argc, char **argv) {
  /* A small resident set: few malloc arenas for our dozen threads, and big
   * transient buffers (site files, the status document) mapped and returned
   * to the system when freed instead of kept in the heap. */
  mallopt(M_ARENA_MAX, 2);
  mallopt(M_MMAP_THRESHOLD, 64 * 1024);
  mallopt(M_TRIM_THRESHOLD, 256 * 1024);
  const struct coin_service_def def = {
      .name = "coin-monitor",
      .usage = "usage: coin-monitor [--config-doc|--metrics-doc]   (configured "
               "by environment "
               "variables: docs/configuration.md, docs/monitor.md)\n",
      .reader = COIN_CFG_MONITOR,
      .vars = monitor_config_vars,
      .n_vars = monitor_config_var_count,
      .metrics = monitor_metrics,
      .n_metrics = monitor_metric_count,
      .cfg = &cfg,
      COIN_SERVICE_DEF_HOOKS(monitor),
  };
  return coin_service_main(&def, argc, argv);
}
