/* main.c: coin-monitor: the shared service life (coin_service_main) around
 * monitor.h; all logic lives there. */
#include "monitor.h"

#include "coin/service.h"

#include <malloc.h>

static struct monitor_config cfg;

static int load(void *c, const struct coin_env *env,
                struct coin_cfg_errors *errs) {
  return monitor_config_load(c, env, errs);
}
static int to_json(char **out, const void *c) {
  return monitor_config_to_json(out, c);
}
static void free_cfg(void *c) {
  monitor_config_free(c);
}
static int create(void **out, const void *c) {
  struct monitor *s = NULL;
  int rc = monitor_new(&s, c);
  if (rc == 0)
    *out = s;
  return rc;
}
static int run(void *s) {
  return monitor_run(s);
}
static void stop(void *s) {
  monitor_request_stop(s);
}
static void destroy(void *s) {
  monitor_free(s);
}

int main(int argc, char **argv) {
  /* A small resident set: few malloc arenas for our dozen threads, and big
   * transient buffers (site files, the status document) mapped and returned
   * to the system when freed instead of kept in the heap. */
  mallopt(M_ARENA_MAX, 2);
  mallopt(M_MMAP_THRESHOLD, 64 * 1024);
  mallopt(M_TRIM_THRESHOLD, 256 * 1024);
  const struct coin_service_def def = {
      .name = "coin-monitor",
      .usage =
          "usage: coin-monitor [--config-doc]   (configured by environment "
          "variables: docs/configuration.md, docs/monitor.md)\n",
      .reader = COIN_CFG_MONITOR,
      .vars = monitor_config_vars,
      .n_vars = monitor_config_var_count,
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
