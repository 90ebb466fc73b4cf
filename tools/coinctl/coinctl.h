/*
 * coinctl.h: the operator tool's shared context and helpers. main.c picks a
 * command; each command group lives in its own file (tap.c, watermarks.c,
 * status.c, backfill.c, model.c) and returns a process exit code
 * (COINCTL_EXIT_*). Single-threaded except where a command says otherwise (tap
 * and backfill receive messages on bus threads). The context owns its loaded
 * config.
 */
#ifndef COINCTL_H
#define COINCTL_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "coin/bus.h"
#include "coin/config.h"
#include "coin/timeframe.h"

/* Exit codes (docs/operations.md). */
enum {
  COINCTL_EXIT_OK = 0,
  COINCTL_EXIT_ERROR = 1,     /* the command failed; one line on stderr */
  COINCTL_EXIT_USAGE = 2,     /* bad command line or configuration */
  COINCTL_EXIT_UNHEALTHY = 3, /* status: a series is hard_stale or corrupt */
};

struct coinctl {
  struct coin_config core; /* the NATS_* / EXCHANGE / MONITOR_HTTP_ADDR
                              subset of the shared configuration */
  const char *nats_url;    /* --nats, else core.nats_url */
  const char *exchange;    /* --exchange, else core.exchange */
  bool stdout_tty;
  bool stderr_tty;
  bool color; /* stdout is a TTY and NO_COLOR is unset */
};

/* Options every command accepts (besides its own): --nats, --exchange,
 * --help. Their getopt codes. */
enum {
  COINCTL_OPT_NATS = 1000,
  COINCTL_OPT_EXCHANGE,
  COINCTL_OPT_HELP,
  COINCTL_OPT_FIRST_OWN = 1100, /* commands number their options from here */
};
#define COINCTL_COMMON_OPTIONS                                                 \
  {"nats", required_argument, NULL, COINCTL_OPT_NATS},                         \
      {"exchange", required_argument, NULL, COINCTL_OPT_EXCHANGE}, {           \
    "help", no_argument, NULL, COINCTL_OPT_HELP                                \
  }

/* Runs getopt_long over argv (argv[0] = the command name) with opts; for
 * the common options it updates ctl (or sets *help). Returns the next
 * command-specific option code, -1 at the end, or '?' after printing a
 * one-line usage error. Options may come before or after operands. */
int coinctl_getopt(struct coinctl *ctl, bool *help, int argc, char **argv,
                   const struct option *opts);

/* Prints "coinctl <cmd>: <text>" on stderr (one line) and returns code. */
int coinctl_fail(const char *cmd, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same with coin_error_last() as the text. */
int coinctl_fail_last(const char *cmd, int code);

/* Connects to NATS as "coinctl" with the context's URL and credentials.
 * Fails fast (no background retry). */
int coinctl_connect(struct coin_bus **out, const struct coinctl *ctl);

/* Strict parsers; errors name the flag, the value and the rule. */
int coinctl_parse_i64(int64_t *out, const char *flag, const char *text,
                      int64_t min, int64_t max);
int coinctl_parse_seconds(double *out, const char *flag, const char *text);
/* "now", epoch ms ("1700000000000"), "YYYY-MM-DD", "YYYY-MM-DDTHH:MM[:SS]"
 * with an optional trailing Z (always UTC). */
int coinctl_parse_time(int64_t *out, const char *flag, const char *text);

/* ANSI colour around text when ctl->color; returns the escape or "". */
const char *coinctl_color(const struct coinctl *ctl, const char *state);
const char *coinctl_reset(const struct coinctl *ctl);

/* Writes n copies of ' ' (table padding). */
void coinctl_pad(FILE *f, size_t n);

/* Column widths of a text table: rows[r][c] strings. Prints header and rows
 * left-aligned with two spaces between columns; colors[r] (may be NULL)
 * wraps column color_col of row r. */
struct coinctl_table {
  const char *const *header;
  size_t n_cols;
  char ***rows; /* rows[r][c], owned by the caller */
  size_t n_rows;
  const char **colors; /* per row, or NULL */
  size_t color_col;
};
void coinctl_table_print(FILE *f, const struct coinctl *ctl,
                         const struct coinctl_table *t);

/* ---- commands (argv[0] is the command name) ---------------------------- */
int coinctl_tap(struct coinctl *ctl, int argc, char **argv);
int coinctl_watermarks(struct coinctl *ctl, int argc, char **argv);
/* wait-backfill (watermarks.c): until every series is backfilled */
int coinctl_wait_backfill(struct coinctl *ctl, int argc, char **argv);
int coinctl_status(struct coinctl *ctl, int argc, char **argv);
int coinctl_backfill(struct coinctl *ctl, int argc, char **argv);
int coinctl_model(struct coinctl *ctl, int argc, char **argv);
int coinctl_site(struct coinctl *ctl, int argc, char **argv);

#endif
