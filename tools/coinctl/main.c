/*
 * main.c: coinctl, the operator tool: reads the NATS / exchange / monitor
 * part of the shared configuration from the environment, applies the global
 * flags, and runs one command (tap, watermarks, status, backfill, model).
 * Exit codes: 0 ok, 1 failed (one line on stderr), 2 usage, 3 unhealthy.
 */
#include "coinctl.h"

#include "coin/error.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: coinctl [--nats URL] [--exchange EX] COMMAND [ARGS...]\n"
    "\n"
    "Operator tool for coin-predict. Commands:\n"
    "  tap [SUBJECT]    print the messages on SUBJECT (default coin.>), one\n"
    "                   JSON line each, payload decoded\n"
    "  watermarks       ingest vs publish watermarks per series, lag in "
    "candles\n"
    "  wait-backfill    wait until every series' first fill is done\n"
    "  status           the monitor's /status as a table (exit 3 when a "
    "series\n"
    "                   is hard_stale or corrupt)\n"
    "  backfill         ask coin-ingest to fetch a range of candles again\n"
    "  model            the model registry: ls, show, promote, rollback\n"
    "  site             judge the static site's files with their own\n"
    "                   validity at now (exit 3 when hard_stale or corrupt)\n"
    "\n"
    "Global options (also accepted after the command):\n"
    "  --nats URL       NATS server(s) (default $NATS_URL, "
    "nats://127.0.0.1:4222)\n"
    "  --exchange EX    exchange name in subjects and keys (default "
    "$EXCHANGE, binance)\n"
    "  -h, --help       this text; `coinctl COMMAND --help` for a command\n"
    "\n"
    "Environment: NATS_URL, NATS_USER, NATS_PASSWORD[_FILE], "
    "NATS_TOKEN[_FILE],\n"
    "NATS_CREDS_FILE, NATS_TLS_CA, EXCHANGE, MONITOR_HTTP_ADDR, NO_COLOR "
    "(docs/configuration.md).\n"
    "Exit codes: 0 ok, 1 failed (one line on stderr), 2 usage or "
    "configuration,\n"
    "3 unhealthy (status).\n";

/* The commands, in the order the usage lists them. */
struct coinctl_cmd {
  const char *name;
  int (*run)(struct coinctl *ctl, int argc, char **argv);
};

static const struct coinctl_cmd cmds[] = {
    {"tap", coinctl_tap},
    {"watermarks", coinctl_watermarks},
    {"wait-backfill", coinctl_wait_backfill},
    {"status", coinctl_status},
    {"backfill", coinctl_backfill},
    {"model", coinctl_model},
    {"site", coinctl_site},
};

static const struct coinctl_cmd *find_cmd(const char *name) {
  for (size_t i = 0; i < COIN_ARRAY_LEN(cmds); i++)
    if (!strcmp(cmds[i].name, name))
      return &cmds[i];
  return NULL;
}

/* Only the rows of the shared configuration that coinctl reads (the table's
 * COIN_CFG_COINCTL): everything else (SYMBOLS, INGEST_TIMEFRAMES...)
 * belongs to the services, and a problem there must not keep an operator
 * from looking at the system. */
static int load_config(struct coinctl *ctl) {
  struct coin_cfg_var vars[COIN_CONFIG_MAX_VARS];
  size_t n = coin_config_rows(vars, COIN_CFG_COINCTL);
  struct coin_env env = coin_env_process();
  struct coin_cfg_errors errs = {0};
  int rc = coin_cfg_load(&ctl->core, vars, n, &env, &errs);
  if (rc != 0 || errs.count > 0) {
    /* One line per problem, each naming the variable. */
    char *line = errs.text, *next;
    while (line && *line) {
      next = strchr(line, '\n');
      if (next)
        *next++ = '\0';
      fprintf(stderr, "coinctl: invalid configuration: %s\n", line);
      line = next;
    }
    coin_cfg_errors_free(&errs);
    coin_cfg_free(&ctl->core, vars, n); /* the rows that did load */
    return COINCTL_EXIT_USAGE;
  }
  coin_cfg_errors_free(&errs);
  return 0;
}

int main(int argc, char **argv) {
  struct coinctl ctl;
  int rc;
  bool help = false;
  memset(&ctl, 0, sizeof(ctl));
  signal(SIGPIPE, SIG_IGN);
  opterr = 0;

  if ((rc = load_config(&ctl)) != 0)
    return rc;
  ctl.nats_url = ctl.core.nats_url;
  ctl.exchange = ctl.core.exchange;
  ctl.stdout_tty = isatty(STDOUT_FILENO) == 1;
  ctl.stderr_tty = isatty(STDERR_FILENO) == 1;
  const char *no_color = getenv("NO_COLOR");
  ctl.color = ctl.stdout_tty && (no_color == NULL || no_color[0] == '\0');

  static const struct option global_opts[] = {COINCTL_COMMON_OPTIONS,
                                              {NULL, 0, NULL, 0}};
  /* Global options stop at the command name ("+"). */
  for (;;) {
    int idx = 0;
    int c = getopt_long(argc, argv, "+h", global_opts, &idx);
    if (c == -1)
      break;
    if (c == COINCTL_OPT_NATS)
      ctl.nats_url = optarg;
    else if (c == COINCTL_OPT_EXCHANGE)
      ctl.exchange = optarg;
    else if (c == COINCTL_OPT_HELP || c == 'h')
      help = true;
    else {
      fprintf(stderr, "coinctl: unknown option %s (see coinctl --help)\n",
              argv[optind - 1]);
      rc = COINCTL_EXIT_USAGE;
      goto out;
    }
  }
  if (optind >= argc) {
    fputs(usage, help ? stdout : stderr);
    rc = help ? COINCTL_EXIT_OK : COINCTL_EXIT_USAGE;
    goto out;
  }
  const char *cmd = argv[optind];
  int cargc = argc - optind;
  char **cargv = argv + optind;
  optind = 0; /* glibc: full re-initialisation for the command's options */
  const struct coinctl_cmd *c = find_cmd(cmd);
  if (help && strcmp(cmd, "help") != 0) {
    /* "coinctl --help tap" = "coinctl tap --help" */
    static char help_flag[] = "--help";
    char *hv[] = {cargv[0], help_flag, NULL};
    if (c)
      rc = c->run(&ctl, 2, hv);
    else {
      fputs(usage, stdout);
      rc = COINCTL_EXIT_OK;
    }
    goto out;
  }
  if (!strcmp(cmd, "help")) {
    fputs(usage, stdout);
    rc = COINCTL_EXIT_OK;
  } else if (c) {
    rc = c->run(&ctl, cargc, cargv);
  } else {
    char names[256] = "";
    for (size_t i = 0; i < COIN_ARRAY_LEN(cmds); i++)
      snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
               i ? ", " : "", cmds[i].name);
    fprintf(stderr,
            "coinctl: unknown command \"%s\" (rule: one of %s; see coinctl "
            "--help)\n",
            cmd, names);
    rc = COINCTL_EXIT_USAGE;
  }
out:
  coin_cfg_free(&ctl.core, coin_config_vars, coin_config_var_count);
  coin_bus_shutdown();
  return rc;
}
