/*
 * common.c: coinctl's shared helpers: option parsing with the common flags,
 * one-line errors, the NATS connection, strict number and date parsers, and
 * a plain text table. Single-threaded (called from main's thread only).
 */
#include "coinctl.h"

#include "coin/clock.h"
#include "coin/error.h"
#include "coin/fmt.h"
#include "coin/parse.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int coinctl_fail(const char *cmd, int code, const char *fmt, ...) {
  char text[1024];
  va_list ap;
  va_start(ap, fmt);
  coin_fmt_vline(text, sizeof(text), fmt, ap); /* one line, whatever it holds */
  va_end(ap);
  fprintf(stderr, "coinctl %s: %s\n", cmd, text);
  return code;
}

int coinctl_fail_last(const char *cmd, int code) {
  const char *text = coin_error_last();
  return coinctl_fail(cmd, code, "%s", text[0] ? text : "failed");
}

int coinctl_getopt(struct coinctl *ctl, bool *help, int argc, char **argv,
                   const struct option *opts) {
  for (;;) {
    int idx = 0;
    int c = getopt_long(argc, argv, "h", opts, &idx);
    switch (c) {
    case COINCTL_OPT_NATS: ctl->nats_url = optarg; continue;
    case COINCTL_OPT_EXCHANGE: ctl->exchange = optarg; continue;
    case COINCTL_OPT_HELP:
    case 'h': *help = true; continue;
    case '?':
      if (optopt != 0 && optopt < 256 && isprint(optopt) && optopt != 'h')
        coinctl_fail(argv[0], 0, "unknown option -%c (see coinctl %s --help)",
                     optopt, argv[0]);
      else if (optopt != 0)
        coinctl_fail(argv[0], 0,
                     "option %s needs a value (see coinctl %s "
                     "--help)",
                     argv[optind - 1], argv[0]);
      else
        coinctl_fail(argv[0], 0, "unknown option %s (see coinctl %s --help)",
                     argv[optind - 1], argv[0]);
      return '?';
    case -1: return -1;
    default: return c;
    }
  }
}

int coinctl_connect(struct coin_bus **out, const struct coinctl *ctl) {
  struct coin_bus_options o;
  coin_bus_options_init(&o);
  o.url = ctl->nats_url;
  o.user = ctl->core.nats_user;
  o.password = ctl->core.nats_password;
  o.token = ctl->core.nats_token;
  o.creds_file = ctl->core.nats_creds_file;
  o.tls_ca_file = ctl->core.nats_tls_ca;
  o.name = "coinctl";
  o.connect_timeout_ms = 2000;
  o.request_timeout_ms = 5000;
  return coin_bus_connect(out, &o); /* its error names the URL */
}

/* ---- parsers ------------------------------------------------------------- */

int coinctl_parse_i64(int64_t *out, const char *flag, const char *text,
                      int64_t min, int64_t max) {
  /* counts and sizes: digits only, no sign */
  if (text == NULL || !isdigit((unsigned char)text[0]) ||
      coin_parse_i64(out, text, min, max) != 0)
    return coin_error_set(COIN_EINVAL,
                          "%s \"%s\": not an integer in %lld..%lld", flag,
                          text ? text : "", (long long)min, (long long)max);
  return 0;
}

int coinctl_parse_seconds(double *out, const char *flag, const char *text) {
  if (text == NULL || !(isdigit((unsigned char)text[0]) || text[0] == '.') ||
      coin_parse_double(out, text, 0, 31536000.0) != 0)
    return coin_error_set(COIN_EINVAL,
                          "%s \"%s\": not a number of seconds in 0..31536000",
                          flag, text ? text : "");
  return 0;
}

int coinctl_parse_time(int64_t *out, const char *flag, const char *text) {
  const char *t = text ? text : "";
  if (coin_parse_time(out, t, coin_now_ms()) != 0)
    return coin_error_wrap(COIN_EINVAL, "%s \"%s\"", flag, t);
  return 0;
}

/* ---- output -------------------------------------------------------------- */

const char *coinctl_color(const struct coinctl *ctl, const char *state) {
  if (!ctl->color || state == NULL)
    return "";
  if (!strcmp(state, "fresh") || !strcmp(state, "ok"))
    return "\033[32m";
  if (!strncmp(state, "soft_stale", 10) || !strcmp(state, "warn"))
    return "\033[33m";
  if (!strncmp(state, "hard_stale", 10) || !strcmp(state, "corrupt") ||
      !strcmp(state, "bad"))
    return "\033[1;31m";
  if (!strcmp(state, "insufficient_data"))
    return "\033[35m";
  return "";
}

const char *coinctl_reset(const struct coinctl *ctl) {
  return ctl->color ? "\033[0m" : "";
}

void coinctl_pad(FILE *f, size_t n) {
  while (n-- > 0)
    fputc(' ', f);
}

void coinctl_table_print(FILE *f, const struct coinctl *ctl,
                         const struct coinctl_table *t) {
  size_t width[32] = {0};
  size_t nc = t->n_cols < 32 ? t->n_cols : 32;
  for (size_t c = 0; c < nc; c++)
    width[c] = strlen(t->header[c]);
  for (size_t r = 0; r < t->n_rows; r++)
    for (size_t c = 0; c < nc; c++) {
      size_t w = strlen(t->rows[r][c]);
      if (w > width[c])
        width[c] = w;
    }
  for (size_t c = 0; c < nc; c++) {
    fputs(t->header[c], f);
    if (c + 1 < nc)
      coinctl_pad(f, width[c] - strlen(t->header[c]) + 2);
  }
  fputc('\n', f);
  for (size_t r = 0; r < t->n_rows; r++) {
    for (size_t c = 0; c < nc; c++) {
      const char *cell = t->rows[r][c];
      bool colored = t->colors && c == t->color_col && t->colors[r] &&
                     t->colors[r][0] && ctl->color;
      if (colored)
        fputs(t->colors[r], f);
      fputs(cell, f);
      if (colored)
        fputs(coinctl_reset(ctl), f);
      if (c + 1 < nc)
        coinctl_pad(f, width[c] - strlen(cell) + 2);
    }
    fputc('\n', f);
  }
}
