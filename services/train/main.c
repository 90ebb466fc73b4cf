/* main.c: coin-train: parse the command line, read the configuration, run
 * one command, exit with its code (train.h TRAIN_EXIT_*). */
#include "train.h"

#include "coin/bus.h"
#include "coin/clock.h"
#include "coin/error.h"
#include "coin/log.h"
#include "coin/parse.h"
#include "coin/timeframe.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: coin-train [COMMAND] [options]   (configured by environment "
    "variables: docs/models.md)\n"
    "  train     (default) walk-forward, fit and register a challenger\n"
    "            [--kind ridge|xgboost] [--symbols A,B] [--timeframes 1h,1d]\n"
    "            [--policy always|age|new_data|age_or_new_data]\n"
    "            [--window-days N] [--shuffle-labels] [--json]\n"
    "  evaluate  [--model VERSION|champion|challenger] [--symbols ...]\n"
    "            [--timeframes ...] [--from TIME] [--to TIME] [--json]\n"
    "  promote   [--version VERSION] [--dry-run] [--bootstrap] [--json]\n"
    "  rollback  [--json]\n"
    "  cycle     one scheduled run (hourly): roll back a champion on "
    "probation\n"
    "            that is worse than persistence, promote the challenger "
    "through\n"
    "            the gate (bootstrap for the first champion), train when due "
    "or\n"
    "            requested [--kind ...] [--symbols ...] [--timeframes ...]\n"
    "            [--policy ...] [--window-days N] [--json]\n"
    "  ls        [--json]\n"
    "  show      [VERSION|champion|challenger]\n"
    "TIME: now, epoch ms, YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][Z] (UTC)\n"
    "exit codes: 0 done, 1 failed, 2 usage or configuration, 3 another job "
    "holds the lock (nothing done), 4 refused by the promotion gate (promote;\n"
    "cycle exits 0 on a refusal: the event says it)\n";

/* The commands (the usage above lists them in this order). */
static const struct {
  const char *name;
  int (*run)(struct train_ctx *, const struct train_args *);
} cmds[] = {
    {"train", train_cmd_train},     {"evaluate", train_cmd_evaluate},
    {"promote", train_cmd_promote}, {"rollback", train_cmd_rollback},
    {"cycle", train_cmd_cycle},     {"ls", train_cmd_ls},
    {"show", train_cmd_show},
};

int main(int argc, char **argv) {
  struct train_args a;
  memset(&a, 0, sizeof(a));
  a.window_days = -1;
  const char *cmd = "train";
  int i = 1;
  if (argc > 1 && (argv[1][0] != '-' || !strcmp(argv[1], "--config-doc")))
    cmd = argv[i++];
  if (!strcmp(cmd, "help")) {
    fputs(usage, stdout);
    return TRAIN_EXIT_OK;
  }
  if (!strcmp(cmd, "--config-doc")) {
    /* The Markdown rows of the shared variables it reads, then its own. */
    struct coin_cfg_var core[COIN_CONFIG_MAX_VARS];
    size_t n = coin_config_rows(core, COIN_CFG_TRAIN);
    return coin_cfg_doc_rows(stdout, core, n) == 0 &&
                   coin_cfg_doc_rows(stdout, train_config_vars,
                                     train_config_var_count) == 0
               ? TRAIN_EXIT_OK
               : TRAIN_EXIT_FAILED;
  }
  for (; i < argc; i++) {
    const char *o = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define VALUE()                                                                \
  do {                                                                         \
    if (!v) {                                                                  \
      fprintf(stderr, "coin-train: %s needs a value\n%s", o, usage);           \
      return TRAIN_EXIT_USAGE;                                                 \
    }                                                                          \
    i++;                                                                       \
  } while (0)
    if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
      fputs(usage, stdout);
      return TRAIN_EXIT_OK;
    } else if (!strcmp(o, "--json")) {
      a.json = true;
    } else if (!strcmp(o, "--shuffle-labels")) {
      a.shuffle_labels = true;
    } else if (!strcmp(o, "--dry-run")) {
      a.dry_run = true;
    } else if (!strcmp(o, "--bootstrap")) {
      a.bootstrap = true;
    } else if (!strcmp(o, "--kind")) {
      VALUE();
      a.kind = v;
    } else if (!strcmp(o, "--symbols")) {
      VALUE();
      a.symbols = v;
    } else if (!strcmp(o, "--timeframes")) {
      VALUE();
      a.timeframes = v;
    } else if (!strcmp(o, "--policy")) {
      VALUE();
      a.policy = v;
    } else if (!strcmp(o, "--model")) {
      VALUE();
      a.model = v;
    } else if (!strcmp(o, "--version")) {
      VALUE();
      a.version = v;
    } else if (!strcmp(o, "--from") || !strcmp(o, "--to")) {
      VALUE();
      if (coin_parse_time(o[2] == 'f' ? &a.from_ms : &a.to_ms, v,
                          coin_now_ms()) != 0) {
        fprintf(stderr, "coin-train: %s \"%s\": %s\n", o, v, coin_error_last());
        return TRAIN_EXIT_USAGE;
      }
    } else if (!strcmp(o, "--window-days")) {
      VALUE();
      int64_t d;
      if (coin_parse_i64(&d, v, 0, 36500) != 0) {
        fprintf(stderr,
                "coin-train: --window-days \"%s\": want days 0..36500 (0: "
                "all data)\n",
                v);
        return TRAIN_EXIT_USAGE;
      }
      a.window_days = d;
    } else if (!strcmp(o, "--hold-lock-ms")) { /* tests */
      VALUE();
      int64_t ms;
      if (coin_parse_i64(&ms, v, 0, 3600000) != 0) {
        fprintf(stderr, "coin-train: --hold-lock-ms \"%s\": want 0..3600000\n",
                v);
        return TRAIN_EXIT_USAGE;
      }
      a.hold_lock_ms = ms;
    } else if (!strcmp(cmd, "show") && !a.model && o[0] != '-') {
      a.model = o;
    } else {
      fprintf(stderr, "coin-train: unknown argument \"%s\"\n%s", o, usage);
      return TRAIN_EXIT_USAGE;
    }
#undef VALUE
  }
  int (*run)(struct train_ctx *, const struct train_args *) = NULL;
  for (size_t k = 0; k < sizeof(cmds) / sizeof(cmds[0]) && !run; k++)
    if (!strcmp(cmd, cmds[k].name))
      run = cmds[k].run;
  if (!run) {
    fprintf(stderr, "coin-train: unknown command \"%s\"\n%s", cmd, usage);
    return TRAIN_EXIT_USAGE;
  }

  struct train_config cfg;
  struct coin_cfg_errors errs = {0};
  struct coin_env env = coin_env_process();
  if (train_config_load(&cfg, &env, &errs) != 0) {
    fprintf(stderr, "coin-train: invalid configuration:\n%s", errs.text);
    coin_cfg_errors_free(&errs);
    return TRAIN_EXIT_USAGE;
  }
  coin_log_init("coin-train", cfg.core.log_level, NULL);
  char *json = NULL;
  if (train_config_to_json(&json, &cfg) == 0) {
    COIN_LOG_INFO("effective configuration", COIN_LOG_STR("command", cmd),
                  COIN_LOG_RAW("config", json));
    free(json);
  }
  signal(SIGPIPE, SIG_IGN);
  struct train_ctx *ctx = NULL;
  int code;
  int rc = train_ctx_open(&ctx, &cfg, stdout);
  if (rc != 0) {
    fprintf(stderr, "coin-train: %s\n", coin_error_last());
    COIN_LOG_ERROR("start-up failed", COIN_LOG_RC(rc));
    code = TRAIN_EXIT_FAILED;
  } else {
    code = run(ctx, &a);
  }
  train_ctx_free(ctx);
  train_config_free(&cfg);
  coin_bus_shutdown();
  return code;
}
