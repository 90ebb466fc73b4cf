/* main.c: coin-publish: read config, build the context, run until SIGTERM. */
#include "publish.h"

#include "coin/bus.h"
#include "coin/error.h"
#include "coin/log.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct publish *running;

static void on_signal(int sig) {
  (void)sig;
  if (running)
    publish_request_stop(running);
}

int main(int argc, char **argv) {
  struct publish_config cfg = {0};
  struct coin_cfg_errors errs = {0};
  struct coin_env env = coin_env_process();
  int rc;

  if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
    fputs("usage: coin-publish [--config-doc]   (configured by environment "
          "variables; see docs/publish.md)\n",
          stdout);
    return 0;
  }
  if (argc > 1 && !strcmp(argv[1], "--config-doc")) {
    /* The Markdown rows of docs/publish.md's variable table. */
    return coin_cfg_doc_rows(stdout, publish_config_vars,
                             publish_config_var_count) == 0
               ? 0
               : 1;
  }
  if (publish_config_load(&cfg, &env, &errs) != 0) {
    fprintf(stderr, "coin-publish: invalid configuration:\n%s", errs.text);
    coin_cfg_errors_free(&errs);
    return 2;
  }
  coin_log_init("coin-publish", cfg.core.log_level, NULL);
  char *json = NULL;
  if (publish_config_to_json(&json, &cfg) == 0) {
    COIN_LOG_INFO("effective configuration", COIN_LOG_RAW("config", json));
    free(json);
  }

  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  struct publish *p = NULL;
  rc = publish_new(&p, &cfg);
  if (rc != 0) {
    fprintf(stderr, "coin-publish: %s\n", coin_error_last());
    COIN_LOG_ERROR("start-up failed", COIN_LOG_RC(rc));
    publish_config_free(&cfg);
    coin_bus_shutdown();
    return rc == COIN_EINVAL ? 2 : 1;
  }
  running = p;
  rc = publish_run(p);
  running = NULL;
  publish_free(p);
  publish_config_free(&cfg);
  coin_bus_shutdown();
  return rc == 0 ? 0 : 1;
}
