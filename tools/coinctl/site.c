/*
 * site.c: `coinctl site`: reads the static site the way any reader does
 * (manifest.json, every series' files, status.json), and judges each file
 * with its own validity instants at now (lib/site.h reader rule), so it
 * tells the truth even when every service is down. Exit 3 when a file is
 * hard_stale or corrupt now. Single-threaded.
 */
#include "coinctl.h"

#include "coin/buf.h"
#include "coin/clock.h"
#include "coin/error.h"
#include "coin/file.h"
#include "coin/site.h"

#include <jansson.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SITE_MAX_FILE_BYTES (64u << 20)

static const char site_usage[] =
    "usage: coinctl site [--dir DIR] [--now TIME]\n"
    "\n"
    "Judges every file of the static site with its own validity instants\n"
    "(soft_stale_at_ms, hard_stale_at_ms) at now, as the page does: one line\n"
    "per file with the status it was written with and its status now.\n"
    "  --dir DIR    the site (default $STATIC_DATA_DIR, else ./site)\n"
    "  --now TIME   judge at TIME (2026-01-01T00:00:00Z or epoch ms)\n"
    "Exit 0, 3 when a file is hard_stale or corrupt now, 1 when the\n"
    "manifest cannot be read.\n";

struct site_ctx {
  const struct coinctl *ctl;
  int64_t now_ms;
  bool bad; /* something hard_stale or corrupt now */
  struct coinctl_table t;
  size_t cap_rows, cap_colors; /* of t.rows, t.colors */
};

static char *dup_time(int64_t ms) {
  char buf[COIN_TF_UTC_TEXT_BYTES];
  if (ms < 0)
    return strdup("-");
  coin_tf_format_utc(buf, sizeof(buf), ms);
  return strdup(buf);
}

static int add_row(struct site_ctx *c, const char *series, const char *file,
                   const char *written, const char *now_state, int64_t soft_ms,
                   int64_t hard_ms, const char *detail) {
  if (coin_grow(&c->t.rows, &c->cap_rows, c->t.n_rows + 1, sizeof(*c->t.rows),
                SIZE_MAX) != 0 ||
      coin_grow(&c->t.colors, &c->cap_colors, c->t.n_rows + 1,
                sizeof(*c->t.colors), SIZE_MAX) != 0)
    return COIN_ENOMEM;
  char **r = calloc(7, sizeof(*r));
  if (!r)
    return COIN_ENOMEM;
  r[0] = strdup(series);
  r[1] = strdup(file);
  r[2] = strdup(written);
  r[3] = strdup(now_state);
  r[4] = dup_time(soft_ms);
  r[5] = dup_time(hard_ms);
  r[6] = strdup(detail ? detail : "");
  c->t.colors[c->t.n_rows] = coinctl_color(c->ctl, now_state);
  c->t.rows[c->t.n_rows++] = r;
  return 0;
}

/* One file: read, parse its head, judge now. */
static int judge(struct site_ctx *c, const char *dir, const char *series,
                 const char *rel) {
  char path[PATH_MAX + 256];
  char *buf = NULL;
  size_t len = 0;
  struct coin_site_head h;
  snprintf(path, sizeof(path), "%s/%s", dir, rel);
  int rc = coin_file_read(&buf, &len, path, SITE_MAX_FILE_BYTES);
  if (rc == 0)
    rc = coin_site_read_head(&h, buf, len);
  free(buf);
  if (rc != 0) {
    c->bad = true;
    return add_row(c, series, rel, "-", "corrupt", -1, -1, coin_error_last());
  }
  enum coin_fresh_state now_st = coin_site_validity_now(&h.v, c->now_ms);
  if (coin_freshness_blocked(now_st) && now_st != COIN_STATE_INSUFFICIENT_DATA)
    c->bad = true;
  return add_row(c, series, rel, coin_codec_state_name(h.v.status),
                 coin_codec_state_name(now_st), h.v.soft_at_ms, h.v.hard_at_ms,
                 h.has_instants ? NULL : "no validity instants (schema 1)");
}

static int walk_manifest(struct site_ctx *c, const char *dir) {
  char path[PATH_MAX + 32];
  char *buf = NULL;
  size_t len = 0;
  json_error_t jerr;
  snprintf(path, sizeof(path), "%s/%s", dir, COIN_SITE_MANIFEST);
  int rc = coin_file_read(&buf, &len, path, SITE_MAX_FILE_BYTES);
  if (rc != 0)
    return coinctl_fail("site", COINCTL_EXIT_ERROR, "%s: %s", path,
                        coin_error_last());
  json_t *doc = json_loadb(buf, len, 0, &jerr);
  free(buf);
  json_t *series = json_object_get(doc, "series");
  if (!json_is_array(series)) {
    json_decref(doc);
    return coinctl_fail("site", COINCTL_EXIT_ERROR,
                        "%s: no series array (rule: docs/static-site.md)",
                        path);
  }
  rc = judge(c, dir, "(site)", COIN_SITE_MANIFEST);
  for (size_t i = 0; rc == 0 && i < json_array_size(series); i++) {
    json_t *e = json_array_get(series, i);
    const char *ex = json_string_value(json_object_get(e, "exchange"));
    const char *sym = json_string_value(json_object_get(e, "symbol"));
    const char *tfn = json_string_value(json_object_get(e, "timeframe"));
    char sdir[COIN_SITE_DIR_BYTES], name[96];
    enum coin_tf tf;
    if (!ex || !sym || !tfn || coin_tf_parse(&tf, tfn) != 0 ||
        coin_site_series_dir(sdir, sizeof(sdir), ex, sym, tf) != 0) {
      c->bad = true;
      snprintf(name, sizeof(name), "series[%zu]", i);
      rc = add_row(c, name, COIN_SITE_MANIFEST, "-", "corrupt", -1, -1,
                   "lacks a valid exchange, symbol or timeframe");
      continue;
    }
    snprintf(name, sizeof(name), "%s/%s", sym, tfn);
    /* the files the manifest lists (each must be one of the series' own) */
    json_t *files = json_object_get(e, "files");
    size_t sl = strlen(sdir);
    for (size_t k = 0; rc == 0 && k < json_array_size(files); k++) {
      const char *rel =
          json_string_value(json_object_get(json_array_get(files, k), "path"));
      enum coin_site_file f;
      if (!rel || strncmp(rel, sdir, sl) != 0 || rel[sl] != '/' ||
          coin_site_file_parse(&f, rel + sl + 1) != 0) {
        c->bad = true;
        rc = add_row(c, name, COIN_SITE_MANIFEST, "-", "corrupt", -1, -1,
                     "files[].path is not one of the series' files");
        continue;
      }
      rc = judge(c, dir, name, rel);
    }
  }
  json_decref(doc);
  if (rc == 0) {
    snprintf(path, sizeof(path), "%s/%s", dir, COIN_SITE_STATUS);
    if (access(path, F_OK) == 0)
      rc = judge(c, dir, "(monitor)", COIN_SITE_STATUS);
  }
  return rc;
}

int coinctl_site(struct coinctl *ctl, int argc, char **argv) {
  enum { OPT_DIR = 0x300, OPT_NOW };
  static const struct option opts[] = {
      COINCTL_COMMON_OPTIONS,
      {"dir", required_argument, NULL, OPT_DIR},
      {"now", required_argument, NULL, OPT_NOW},
      {NULL, 0, NULL, 0}};
  const char *dir = getenv("STATIC_DATA_DIR");
  bool help = false;
  struct site_ctx c;
  memset(&c, 0, sizeof(c));
  c.ctl = ctl;
  c.now_ms = coin_now_ms();
  if (!dir || !dir[0])
    dir = "site";
  for (;;) {
    int o = coinctl_getopt(ctl, &help, argc, argv, opts);
    if (o == -1)
      break;
    if (o == '?')
      return COINCTL_EXIT_USAGE;
    if (o == OPT_DIR)
      dir = optarg;
    else if (o == OPT_NOW &&
             coinctl_parse_time(&c.now_ms, "--now", optarg) != 0)
      return COINCTL_EXIT_USAGE;
  }
  if (help) {
    fputs(site_usage, stdout);
    return COINCTL_EXIT_OK;
  }
  if (optind < argc)
    return coinctl_fail("site", COINCTL_EXIT_USAGE,
                        "unexpected argument \"%s\" (see coinctl site --help)",
                        argv[optind]);
  static const char *const header[] = {"SERIES",  "FILE",    "WRITTEN", "NOW",
                                       "SOFT_AT", "HARD_AT", "DETAIL"};
  c.t.header = header;
  c.t.n_cols = 7;
  c.t.color_col = 3;
  int rc = walk_manifest(&c, dir);
  if (rc == 0)
    coinctl_table_print(stdout, ctl, &c.t);
  for (size_t r = 0; r < c.t.n_rows; r++) {
    for (int k = 0; k < 7; k++)
      free(c.t.rows[r][k]);
    free(c.t.rows[r]);
  }
  free(c.t.rows);
  free(c.t.colors);
  if (rc == COIN_ENOMEM)
    return coinctl_fail("site", COINCTL_EXIT_ERROR, "out of memory");
  if (rc != 0)
    return rc;
  return c.bad ? COINCTL_EXIT_UNHEALTHY : COINCTL_EXIT_OK;
}
