/*
 * main.c: coin-replay-exchange entry point. Parses the command line, starts
 * the replay (replay.c), prints one JSON line {"listening":"HOST:PORT",...}
 * on stdout, then waits for SIGINT/SIGTERM and shuts down. Errors: one line
 * on stderr, exit 2 for bad usage, 1 for start-up failures.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "coin/error.h"
#include "coin/httpd.h"
#include "coin/log.h"
#include "coin/parse.h"
#include "replay.h"

#define DEFAULT_DATA_DIR "../shared/data/candles"

static const char usage[] =
    "usage: coin-replay-exchange [--listen HOST:PORT] [--data DIR]\n"
    "         [--symbols SYM,...] [--symbols-alias ALIAS=SOURCE,...]\n"
    "         [--clone N] [--faults SPEC] [--seed N] [--weight-limit N]\n"
    "         [--ban-after N] [--ban-seconds N] [--horizon-days N]\n"
    "         [--shift-weeks N] [--threads N] [--log-level LEVEL]\n"
    "A fake Binance spot REST API (/api/v3/ping, time, exchangeInfo, klines)\n"
    "serving the candle CSVs of DIR shifted into the present. Port 0 picks a\n"
    "free port; the chosen one is printed as {\"listening\":\"HOST:PORT\"}.\n"
    "See docs/replay-exchange.md.\n";

static int fail_usage(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static int fail_usage(const char *fmt, ...) {
  va_list ap;
  fputs("coin-replay-exchange: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputs(" (see --help)\n", stderr);
  return 2;
}

static bool is_dir(const char *path) {
  struct stat st;
  return path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

enum {
  OPT_LISTEN = 256,
  OPT_DATA,
  OPT_SYMBOLS,
  OPT_ALIAS,
  OPT_CLONE,
  OPT_FAULTS,
  OPT_SEED,
  OPT_WEIGHT,
  OPT_BAN_AFTER,
  OPT_BAN_SECONDS,
  OPT_HORIZON,
  OPT_SHIFT,
  OPT_THREADS,
  OPT_LOG_LEVEL,
  OPT_HELP,
};

static const struct option long_opts[] = {
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"data", required_argument, NULL, OPT_DATA},
    {"symbols", required_argument, NULL, OPT_SYMBOLS},
    {"symbols-alias", required_argument, NULL, OPT_ALIAS},
    {"clone", required_argument, NULL, OPT_CLONE},
    {"faults", required_argument, NULL, OPT_FAULTS},
    {"seed", required_argument, NULL, OPT_SEED},
    {"weight-limit", required_argument, NULL, OPT_WEIGHT},
    {"ban-after", required_argument, NULL, OPT_BAN_AFTER},
    {"ban-seconds", required_argument, NULL, OPT_BAN_SECONDS},
    {"horizon-days", required_argument, NULL, OPT_HORIZON},
    {"shift-weeks", required_argument, NULL, OPT_SHIFT},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0}};

/* Fills o from argv; returns 0, 1 for --help, or an exit code. */
static int parse_args(struct replay_opts *o, char *host, size_t host_bytes,
                      int argc, char **argv) {
  const char *listen = "127.0.0.1:0";
  enum coin_log_level level = COIN_LOG_LEVEL_INFO;
  int64_t v;
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
    const char *name = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
    switch (c) {
    case OPT_LISTEN: listen = optarg; break;
    case OPT_DATA: o->data.dir = optarg; break;
    case OPT_SYMBOLS: o->data.only_symbols = optarg; break;
    case OPT_ALIAS: o->data.aliases = optarg; break;
    case OPT_FAULTS: o->faults_spec = optarg; break;
    case OPT_CLONE:
      if (coin_parse_i64(&v, optarg, 0, REPLAY_MAX_ALIASES) < 0)
        return fail_usage("--clone \"%s\": want 0..%d", optarg,
                          REPLAY_MAX_ALIASES);
      o->data.clone = (unsigned)v;
      break;
    case OPT_SEED:
      if (coin_parse_i64(&v, optarg, 0, INT64_MAX) < 0)
        return fail_usage("--seed \"%s\": want an integer >= 0", optarg);
      o->seed = (uint64_t)v;
      break;
    case OPT_WEIGHT:
      if (coin_parse_i64(&v, optarg, 1, 1000000000) < 0)
        return fail_usage("--weight-limit \"%s\": want 1..1000000000", optarg);
      o->weight_limit = (int)v;
      break;
    case OPT_BAN_AFTER:
      if (coin_parse_i64(&v, optarg, 0, 1000000) < 0)
        return fail_usage("--ban-after \"%s\": want 0..1000000", optarg);
      o->ban_after_429 = (int)v;
      break;
    case OPT_BAN_SECONDS:
      if (coin_parse_i64(&v, optarg, 1, 259200) < 0)
        return fail_usage("--ban-seconds \"%s\": want 1..259200", optarg);
      o->ban_seconds = (int)v;
      break;
    case OPT_HORIZON:
      if (coin_parse_i64(&v, optarg, 0, 3650) < 0)
        return fail_usage("--horizon-days \"%s\": want 0..3650", optarg);
      o->data.horizon_days = (int)v;
      break;
    case OPT_SHIFT:
      if (coin_parse_i64(&v, optarg, -100000, 100000) < 0)
        return fail_usage("--shift-weeks \"%s\": want -100000..100000", optarg);
      o->data.shift_fixed = true;
      o->data.shift_weeks = v;
      break;
    case OPT_THREADS:
      if (coin_parse_i64(&v, optarg, 0, 1024) < 0)
        return fail_usage("--threads \"%s\": want 0 (one per connection) "
                          "..1024",
                          optarg);
      o->threads = (unsigned)v;
      break;
    case OPT_LOG_LEVEL:
      if (coin_log_level_parse(&level, optarg) < 0)
        return fail_usage("--log-level: %s", coin_error_last());
      break;
    case OPT_HELP: fputs(usage, stdout); return 1;
    default: return fail_usage("unknown or incomplete option \"%s\"", name);
    }
  }
  if (optind < argc)
    return fail_usage("unexpected argument \"%s\"", argv[optind]);
  if (coin_httpd_listen_parse(host, host_bytes, &o->port, listen) < 0)
    return fail_usage("--listen: %s", coin_error_last());
  o->host = host;
  if (o->data.dir == NULL) {
    const char *env = getenv("COIN_SHARED_DATA_DIR");
    if (is_dir(DEFAULT_DATA_DIR))
      o->data.dir = DEFAULT_DATA_DIR;
    else if (is_dir(env))
      o->data.dir = env;
    else
      return fail_usage("no data directory: give --data DIR (tried %s and "
                        "$COIN_SHARED_DATA_DIR)",
                        DEFAULT_DATA_DIR);
  }
  coin_log_init(REPLAY_SVC, level, stderr);
  return 0;
}

int main(int argc, char **argv) {
  struct replay_opts o;
  char host[64];
  struct replay *r = NULL;
  memset(&o, 0, sizeof(o));
  o.seed = 1;
  o.ban_after_429 = -1; /* default */
  o.data.horizon_days = 7;
  int rc = parse_args(&o, host, sizeof(host), argc, argv);
  if (rc != 0)
    return rc == 1 ? 0 : rc;

  /* Block the stop signals before any thread exists, so that every server
   * thread inherits the mask and only sigwait below sees them. */
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);
  signal(SIGPIPE, SIG_IGN);

  rc = replay_start(&r, &o);
  if (rc < 0) {
    fprintf(stderr, "coin-replay-exchange: %s\n", coin_error_last());
    return 1;
  }
  COIN_LOG_INFO(
      "listening", COIN_LOG_STR("host", host),
      COIN_LOG_INT("port", replay_port(r)), COIN_LOG_STR("data", o.data.dir),
      COIN_LOG_UINT("symbols", replay_symbol_count(r)),
      COIN_LOG_STR("faults", o.faults_spec ? o.faults_spec : ""),
      COIN_LOG_UINT("seed", o.seed),
      COIN_LOG_INT("weight_limit", o.weight_limit ? o.weight_limit : 6000));
  printf("{\"listening\":\"%s%s%s:%d\",\"port\":%d,\"symbols\":%zu}\n",
         strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "",
         replay_port(r), replay_port(r), replay_symbol_count(r));
  fflush(stdout);

  int sig = 0;
  sigwait(&stop, &sig);
  COIN_LOG_INFO("stopping", COIN_LOG_INT("signal", sig));
  replay_free(r);
  return 0;
}
