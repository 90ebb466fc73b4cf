/* main.c: coin-monitor: read config, build the context, run until SIGTERM. */
#include "monitor.h"

#include "coin/bus.h"
#include "coin/error.h"
#include "coin/log.h"

#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static struct monitor *running;

static void on_signal(int sig) {
  (void)sig;
  if (running)
    monitor_request_stop(running);
}

int main(int argc, char **argv) {
  struct monitor_config cfg;
  struct coin_cfg_errors errs = {0};
  struct coin_env env = coin_env_process();
  int rc;

  memset(&cfg, 0, sizeof(cfg));
  /* A small resident set: few malloc arenas for our dozen threads, and big
   * transient buffers (site files, the status document) mapped and returned
   * to the system when freed instead of kept in the heap. */
  mallopt(M_ARENA_MAX, 2);
  mallopt(M_MMAP_THRESHOLD, 64 * 1024);
  mallopt(M_TRIM_THRESHOLD, 256 * 1024);
  if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
    fputs("usage: coin-monitor   (configured by environment variables; see "
          "docs/monitor.md and docs/configuration.md)\n",
          stdout);
    return 0;
  }
  if (argc > 1 && !strcmp(argv[1], "--config-doc")) {
    /* The Markdown rows of coin-monitor's own variables. */
    return coin_cfg_doc_rows(stdout, monitor_config_vars,
                             monitor_config_var_count) == 0
               ? 0
               : 1;
  }
  if (monitor_config_load(&cfg, &env, &errs) != 0) {
    fprintf(stderr, "coin-monitor: invalid configuration:\n%s", errs.text);
    coin_cfg_errors_free(&errs);
    return 2;
  }
  coin_log_init("coin-monitor", cfg.core.log_level, NULL);
  char *json = NULL;
  if (monitor_config_to_json(&json, &cfg) == 0) {
    COIN_LOG_INFO("effective configuration", COIN_LOG_RAW("config", json));
    free(json);
  }

  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  struct monitor *m = NULL;
  rc = monitor_new(&m, &cfg);
  if (rc != 0) {
    fprintf(stderr, "coin-monitor: %s\n", coin_error_last());
    COIN_LOG_ERROR("start-up failed", COIN_LOG_RC(rc));
    monitor_config_free(&cfg);
    coin_bus_shutdown();
    return rc == COIN_EINVAL ? 2 : 1;
  }
  running = m;
  rc = monitor_run(m);
  running = NULL;
  monitor_free(m);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  COIN_LOG_INFO("exit", COIN_LOG_INT("max_rss_kib", ru.ru_maxrss));
  monitor_config_free(&cfg);
  coin_bus_shutdown();
  return rc == 0 ? 0 : 1;
}
