/*
 * common.c: coinctl's shared helpers: option parsing with the common flags,
 * one-line errors, the NATS connection, strict number and date parsers, and
 * a plain text table. Single-threaded (called from main's thread only).
 */
#include "coinctl.h"

#include "coin/clock.h"
#include "coin/error.h"

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
  vsnprintf(text, sizeof(text), fmt, ap);
  va_end(ap);
  /* One line, whatever the text holds. */
  for (char *p = text; *p; p++)
    if (*p == '\n' || *p == '\r')
      *p = ' ';
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
  char *end = NULL;
  errno = 0;
  if (text == NULL || !isdigit((unsigned char)text[0]))
    goto bad;
  long long v = strtoll(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < min || v > max)
    goto bad;
  *out = v;
  return 0;
bad:
  return coin_error_set(COIN_EINVAL, "%s \"%s\": not an integer in %lld..%lld",
                        flag, text ? text : "", (long long)min, (long long)max);
}

int coinctl_parse_seconds(double *out, const char *flag, const char *text) {
  char *end = NULL;
  errno = 0;
  if (text == NULL || !(isdigit((unsigned char)text[0]) || text[0] == '.'))
    goto bad;
  double v = strtod(text, &end);
  if (errno != 0 || end == text || *end != '\0' || !isfinite(v) || v < 0 ||
      v > 31536000.0)
    goto bad;
  *out = v;
  return 0;
bad:
  return coin_error_set(COIN_EINVAL,
                        "%s \"%s\": not a number of seconds in 0..31536000",
                        flag, text ? text : "");
}

/* Reads exactly n digits at *p into *v; advances *p. */
static bool digits(const char **p, int n, int *v) {
  int x = 0;
  for (int i = 0; i < n; i++) {
    if (!isdigit((unsigned char)(*p)[i]))
      return false;
    x = x * 10 + ((*p)[i] - '0');
  }
  *p += n;
  *v = x;
  return true;
}

static int days_in_month(int y, int m) {
  static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : d[m - 1];
}

int coinctl_parse_time(int64_t *out, const char *flag, const char *text) {
  const char *p = text;
  int y, mo, d, h = 0, mi = 0, s = 0;
  if (text == NULL || text[0] == '\0')
    goto bad;
  if (!strcmp(text, "now")) {
    *out = coin_now_ms();
    return 0;
  }
  size_t n = strspn(text, "0123456789");
  if (n == strlen(text)) {
    if (n > 15)
      goto bad;
    *out = strtoll(text, NULL, 10);
    return 0;
  }
  if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
      !digits(&p, 2, &d))
    goto bad;
  if (*p == 'T' || *p == ' ') {
    p++;
    if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi))
      goto bad;
    if (*p == ':') {
      p++;
      if (!digits(&p, 2, &s))
        goto bad;
    }
  }
  if (*p == 'Z')
    p++;
  if (*p != '\0' || y < 1970 || mo < 1 || mo > 12 || d < 1 ||
      d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 59)
    goto bad;
  *out = coin_tf_from_civil(y, mo, d) + h * COIN_HOUR_MS + mi * COIN_MINUTE_MS +
         s * INT64_C(1000);
  return 0;
bad:
  return coin_error_set(
      COIN_EINVAL,
      "%s \"%s\": not a time (rule: now, epoch milliseconds, YYYY-MM-DD or "
      "YYYY-MM-DDTHH:MM[:SS][Z], UTC)",
      flag, text ? text : "");
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
