/*
 * status.c: `coinctl status`: GET <monitor>/status and show one row per
 * series (state coloured on a TTY, since, degraded + reasons, watermarks,
 * last alert), or pass the JSON through with --json. Exit 3 when any series
 * is hard_stale[_escalated] or corrupt, so scripts and probes can use it.
 * Single-threaded. The monitor's document is read tolerantly: a top-level
 * array or {"series":[...]}, times as *_ms numbers or ISO text.
 */
#include "coinctl.h"

#include "coin/error.h"
#include "coin/http.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define STATUS_MAX_BYTES (16u << 20)
#define CELL 192

static const char status_usage[] =
    "usage: coinctl status [--json] [--url URL] [--timeout S]\n"
    "\n"
    "Shows coin-monitor's view of every series: freshness state and since "
    "when,\n"
    "degraded flag and reasons, ingest/publish watermarks and the last "
    "alert.\n"
    "Exit status 3 when any series is hard_stale or corrupt (also with "
    "--json),\n"
    "1 when the monitor cannot be asked.\n"
    "\n"
    "  --json       print the monitor's /status document as it came\n"
    "  --url URL    the monitor (default http://$MONITOR_HTTP_ADDR, i.e.\n"
    "               http://127.0.0.1:9103); /status is appended unless the "
    "URL\n"
    "               already ends in /status\n"
    "  --timeout S  HTTP timeout (default 5)\n";

enum { OPT_JSON = COINCTL_OPT_FIRST_OWN, OPT_URL, OPT_TIMEOUT };

static const char *str_of(json_t *o, const char *const *keys) {
  for (; *keys; keys++) {
    json_t *v = json_object_get(o, *keys);
    if (json_is_string(v))
      return json_string_value(v);
  }
  return NULL;
}

/* A time field: "<key>_ms" number or "<key>" ISO text/number. */
static void time_of(char *out, size_t n, json_t *o, const char *key) {
  char k[64];
  snprintf(k, sizeof(k), "%s_ms", key);
  json_t *v = json_object_get(o, k);
  if (!json_is_integer(v))
    v = json_object_get(o, key);
  if (json_is_integer(v)) {
    if (coin_tf_format_utc(out, n, json_integer_value(v)) == 0)
      return;
  } else if (json_is_string(v)) {
    snprintf(out, n, "%s", json_string_value(v));
    return;
  }
  snprintf(out, n, "-");
}

static void watermark_of(char *out, size_t n, json_t *series, const char *w) {
  char k[64];
  snprintf(k, sizeof(k), "%s_watermark", w);
  if (json_object_get(series, k) ||
      json_object_get(series, "watermarks") == NULL) {
    time_of(out, n, series, k);
    return;
  }
  json_t *wm = json_object_get(series, "watermarks");
  json_t *v = json_object_get(wm, w);
  if (v == NULL) {
    snprintf(k, sizeof(k), "%s_ms", w);
    v = json_object_get(wm, k);
  }
  if (json_is_integer(v) &&
      coin_tf_format_utc(out, n, json_integer_value(v)) == 0)
    return;
  if (json_is_string(v)) {
    snprintf(out, n, "%s", json_string_value(v));
    return;
  }
  snprintf(out, n, "-");
}

static void last_alert_of(char *out, size_t n, json_t *series) {
  json_t *a = json_object_get(series, "last_alert");
  if (json_is_string(a)) {
    snprintf(out, n, "%s", json_string_value(a));
    return;
  }
  if (!json_is_object(a)) {
    snprintf(out, n, "-");
    return;
  }
  static const char *const name_keys[] = {"alertname", "name", NULL};
  static const char *const sev_keys[] = {"severity", NULL};
  static const char *const st_keys[] = {"status", NULL};
  const char *name = str_of(a, name_keys), *sev = str_of(a, sev_keys),
             *st = str_of(a, st_keys);
  char at[40];
  time_of(at, sizeof(at), a, "at");
  if (!strcmp(at, "-"))
    time_of(at, sizeof(at), a, "starts_at");
  snprintf(out, n, "%s%s%s%s%s %s", name ? name : "alert", sev ? "/" : "",
           sev ? sev : "", st ? "/" : "", st ? st : "", at);
}

static bool unhealthy(const char *state) {
  return state &&
         (!strncmp(state, "hard_stale", 10) || !strcmp(state, "corrupt"));
}

static int print_table(const struct coinctl *ctl, json_t *list) {
  static const char *const header[] = {"SERIES",    "STATE",  "SINCE",
                                       "DEGRADED",  "INGEST", "PUBLISH",
                                       "LAST ALERT"};
  enum { NC = 7 };
  size_t n = json_array_size(list);
  char ***rows = calloc(n ? n : 1, sizeof(*rows));
  const char **colors = calloc(n ? n : 1, sizeof(*colors));
  int rc = 0;
  if (rows == NULL || colors == NULL) {
    rc = coin_error_set(COIN_ENOMEM, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    json_t *s = json_array_get(list, i);
    rows[i] = calloc(NC, sizeof(char *));
    if (rows[i] == NULL) {
      rc = coin_error_set(COIN_ENOMEM, "out of memory");
      goto out;
    }
    for (int k = 0; k < NC; k++)
      if ((rows[i][k] = calloc(1, CELL)) == NULL) {
        rc = coin_error_set(COIN_ENOMEM, "out of memory");
        goto out;
      }
    static const char *const ex_keys[] = {"exchange", NULL};
    static const char *const sym_keys[] = {"symbol", NULL};
    static const char *const tf_keys[] = {"timeframe", "tf", NULL};
    static const char *const state_keys[] = {"state", "status", NULL};
    const char *ex = str_of(s, ex_keys), *sym = str_of(s, sym_keys),
               *tf = str_of(s, tf_keys), *state = str_of(s, state_keys);
    snprintf(rows[i][0], CELL, "%s/%s/%s", ex ? ex : "?", sym ? sym : "?",
             tf ? tf : "?");
    snprintf(rows[i][1], CELL, "%s", state ? state : "unknown");
    colors[i] = coinctl_color(ctl, state);
    time_of(rows[i][2], CELL, s, "since");
    json_t *deg = json_object_get(s, "degraded");
    if (json_is_true(deg)) {
      json_t *reasons = json_object_get(s, "degraded_reasons");
      size_t used = (size_t)snprintf(rows[i][3], CELL, "yes");
      for (size_t r = 0; r < json_array_size(reasons) && used < CELL; r++) {
        const char *t = json_string_value(json_array_get(reasons, r));
        used += (size_t)snprintf(rows[i][3] + used, CELL - used, "%s%s",
                                 r ? "," : " (", t ? t : "?");
      }
      if (json_array_size(reasons) > 0 && used < CELL)
        snprintf(rows[i][3] + used, CELL - used, ")");
    } else {
      snprintf(rows[i][3], CELL, json_is_false(deg) ? "no" : "-");
    }
    watermark_of(rows[i][4], CELL, s, "ingest");
    watermark_of(rows[i][5], CELL, s, "publish");
    last_alert_of(rows[i][6], CELL, s);
  }
  if (n == 0) {
    puts("the monitor reports no series yet");
  } else {
    struct coinctl_table t = {.header = header,
                              .n_cols = NC,
                              .rows = rows,
                              .n_rows = n,
                              .colors = colors,
                              .color_col = 1};
    coinctl_table_print(stdout, ctl, &t);
  }
out:
  for (size_t i = 0; rows && i < n; i++) {
    if (rows[i])
      for (int k = 0; k < NC; k++)
        free(rows[i][k]);
    free(rows[i]);
  }
  free(rows);
  free(colors);
  return rc;
}

static void default_url(char *out, size_t n, const struct coinctl *ctl) {
  const char *addr = ctl->core.monitor_http_addr ? ctl->core.monitor_http_addr
                                                 : "127.0.0.1:9103";
  /* A wildcard listen address is reached on the loopback. */
  if (!strncmp(addr, "0.0.0.0:", 8))
    snprintf(out, n, "http://127.0.0.1:%s", addr + 8);
  else if (!strncmp(addr, "[::]:", 5))
    snprintf(out, n, "http://[::1]:%s", addr + 5);
  else if (addr[0] == ':')
    snprintf(out, n, "http://127.0.0.1%s", addr);
  else
    snprintf(out, n, "http://%s", addr);
}

int coinctl_status(struct coinctl *ctl, int argc, char **argv) {
  static const struct option opts[] = {
      COINCTL_COMMON_OPTIONS,
      {"json", no_argument, NULL, OPT_JSON},
      {"url", required_argument, NULL, OPT_URL},
      {"timeout", required_argument, NULL, OPT_TIMEOUT},
      {NULL, 0, NULL, 0},
  };
  bool help = false, as_json = false;
  const char *url_opt = NULL;
  double timeout_s = 5;
  char base[512], url[600];
  struct coin_http *h = NULL;
  struct coin_http_response resp = {0};
  json_t *doc = NULL;
  int rc = COINCTL_EXIT_OK, c;

  while ((c = coinctl_getopt(ctl, &help, argc, argv, opts)) != -1) {
    switch (c) {
    case OPT_JSON: as_json = true; break;
    case OPT_URL: url_opt = optarg; break;
    case OPT_TIMEOUT:
      if (coinctl_parse_seconds(&timeout_s, "--timeout", optarg) != 0 ||
          timeout_s <= 0)
        return coinctl_fail("status", COINCTL_EXIT_USAGE,
                            "--timeout \"%s\": want seconds > 0", optarg);
      break;
    default: return COINCTL_EXIT_USAGE;
    }
  }
  if (help) {
    fputs(status_usage, stdout);
    return COINCTL_EXIT_OK;
  }
  if (optind < argc)
    return coinctl_fail("status", COINCTL_EXIT_USAGE,
                        "unexpected argument \"%s\"", argv[optind]);
  if (url_opt) {
    if (strncmp(url_opt, "http://", 7) != 0 &&
        strncmp(url_opt, "https://", 8) != 0)
      return coinctl_fail("status", COINCTL_EXIT_USAGE,
                          "--url \"%s\": want an http:// or https:// URL",
                          url_opt);
    snprintf(base, sizeof(base), "%s", url_opt);
  } else {
    default_url(base, sizeof(base), ctl);
  }
  size_t bl = strlen(base);
  while (bl > 0 && base[bl - 1] == '/')
    base[--bl] = '\0';
  if (bl >= 7 && !strcmp(base + bl - 7, "/status"))
    snprintf(url, sizeof(url), "%s", base);
  else
    snprintf(url, sizeof(url), "%s/status", base);

  coin_http_global_init();
  struct coin_http_opts ho = {.connect_timeout_ms = (long)(timeout_s * 1000),
                              .timeout_ms = (long)(timeout_s * 1000),
                              .max_body_bytes = STATUS_MAX_BYTES,
                              .user_agent = "coinctl"};
  static const char *const headers[] = {"Accept: application/json", NULL};
  if (coin_http_new(&h, &ho) != 0 ||
      coin_http_request(h, &resp, "GET", url, headers, NULL, 0) != 0) {
    rc = coinctl_fail("status", COINCTL_EXIT_ERROR,
                      "%s (is coin-monitor running?)", coin_error_last());
    goto out;
  }
  if (resp.status != 200) {
    rc = coinctl_fail("status", COINCTL_EXIT_ERROR,
                      "GET %s: HTTP %ld (want 200)", url, resp.status);
    goto out;
  }
  json_error_t err;
  doc = json_loadb(resp.body, resp.body_len, 0, &err);
  if (doc == NULL) {
    rc = coinctl_fail("status", COINCTL_EXIT_ERROR,
                      "GET %s: not JSON at line %d column %d: %s", url,
                      err.line, err.column, err.text);
    goto out;
  }
  json_t *list = json_is_array(doc) ? doc : json_object_get(doc, "series");
  if (!json_is_array(list)) {
    rc = coinctl_fail("status", COINCTL_EXIT_ERROR,
                      "GET %s: no series list (want an array or "
                      "{\"series\":[...]})",
                      url);
    goto out;
  }
  bool bad = false;
  for (size_t i = 0; i < json_array_size(list); i++) {
    static const char *const state_keys[] = {"state", "status", NULL};
    if (unhealthy(str_of(json_array_get(list, i), state_keys)))
      bad = true;
  }
  if (as_json) {
    fwrite(resp.body, 1, resp.body_len, stdout);
    if (resp.body_len == 0 || resp.body[resp.body_len - 1] != '\n')
      fputc('\n', stdout);
  } else if (print_table(ctl, list) != 0) {
    rc = coinctl_fail_last("status", COINCTL_EXIT_ERROR);
    goto out;
  }
  if (bad)
    rc = COINCTL_EXIT_UNHEALTHY;
out:
  json_decref(doc);
  coin_http_response_clear(&resp);
  coin_http_free(h);
  return rc;
}
