/*
 * watermarks.c: `coinctl watermarks`: reads KV coin_watermarks
 * (ingest.<exchange>.<symbol>.<tf> and publish.<...>, decimal ms) and shows,
 * per series, both watermarks, how many candles publish is behind ingest,
 * and how many closed candles ingest is behind the clock. Table or --json.
 * Single-threaded; every string here is owned by the series array.
 */
#include "coinctl.h"

#include "coin/buf.h"
#include "coin/clock.h"
#include "coin/codec.h"
#include "coin/error.h"

#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WM_SERIES_MAX 100000

static const char wm_usage[] =
    "usage: coinctl watermarks [--json] [--symbol S] [--timeframe TF]\n"
    "\n"
    "Shows, per series, the ingest watermark (the last closed candle that is\n"
    "complete in InfluxDB) and the publish watermark (the last candle on the\n"
    "site) from KV bucket coin_watermarks, and:\n"
    "  LAG     candles the site is behind InfluxDB (publish vs ingest)\n"
    "  BEHIND  closed candles InfluxDB is behind the clock (ingest vs now)\n"
    "A watermark that is missing prints as \"-\" (null in JSON).\n"
    "\n"
    "  --json          one JSON array instead of the table\n"
    "  --symbol S      only this symbol\n"
    "  --timeframe TF  only this timeframe (1m 1h 1d 1w 1M)\n"
    "  --nats URL      NATS server(s) (default $NATS_URL)\n";

enum { OPT_JSON = COINCTL_OPT_FIRST_OWN, OPT_SYMBOL, OPT_TF };

struct wm_series {
  struct coin_series_id id;
  bool has_ingest, has_publish;
  int64_t ingest_ms, publish_ms;
  char bad[2][128]; /* unparsable values, shown instead of a time */
};

struct wm_list {
  struct wm_series *items;
  size_t n, cap;
};

static struct wm_series *find_or_add(struct wm_list *l,
                                     const struct coin_series_id *id) {
  for (size_t i = 0; i < l->n; i++)
    if (!strcmp(l->items[i].id.exchange, id->exchange) &&
        !strcmp(l->items[i].id.symbol, id->symbol) &&
        l->items[i].id.tf == id->tf)
      return &l->items[i];
  if (coin_grow(&l->items, &l->cap, l->n + 1, sizeof(*l->items), SIZE_MAX) != 0)
    return NULL;
  struct wm_series *s = &l->items[l->n++];
  memset(s, 0, sizeof(*s));
  s->id = *id;
  return s;
}

static int cmp_series(const void *a, const void *b) {
  const struct wm_series *x = a, *y = b;
  int c = strcmp(x->id.exchange, y->id.exchange);
  if (c == 0)
    c = strcmp(x->id.symbol, y->id.symbol);
  if (c == 0)
    c = (int)x->id.tf - (int)y->id.tf;
  return c;
}

/* Reads every key under prefix into the list (which = 0 ingest, 1 publish). */
static int load_prefix(struct wm_list *l, struct coin_bus_kv *kv,
                       const char *prefix, int which) {
  struct coin_bus_kv_keys keys = {0};
  char dotted[32];
  snprintf(dotted, sizeof(dotted), "%s.", prefix);
  int rc = coin_bus_kv_keys(&keys, kv, dotted);
  if (rc != 0)
    return rc;
  for (size_t i = 0; i < keys.len && rc == 0; i++) {
    struct coin_series_id id;
    if (coin_codec_series_parse(&id, prefix, keys.keys[i]) != 0)
      continue; /* not a series key (someone else's key): not ours to show */
    struct coin_bus_kv_entry e = {0};
    int grc = coin_bus_kv_get(&e, kv, keys.keys[i]);
    if (grc == COIN_ENOTFOUND)
      continue; /* deleted between listing and reading */
    if (grc != 0) {
      rc = coin_error_wrap(grc, "read %s", keys.keys[i]);
      break;
    }
    struct wm_series *s = find_or_add(l, &id);
    if (s == NULL) {
      coin_bus_kv_entry_clear(&e);
      rc = coin_error_set(COIN_ENOMEM, "out of memory");
      break;
    }
    const char *v = (const char *)e.value;
    int64_t ms = -1;
    if (coin_codec_watermark_parse(&ms, e.value, e.value_len) == 0) {
      if (which == 0) {
        s->has_ingest = true;
        s->ingest_ms = ms;
      } else {
        s->has_publish = true;
        s->publish_ms = ms;
      }
    } else {
      snprintf(s->bad[which], sizeof(s->bad[which]), "invalid:%.60s", v);
    }
    coin_bus_kv_entry_clear(&e);
    if (l->n > WM_SERIES_MAX)
      rc = coin_error_set(COIN_ETOOBIG, "more than %d series", WM_SERIES_MAX);
  }
  coin_bus_kv_keys_clear(&keys);
  return rc;
}

/* Candles after a up to and including b (0 when b <= a). */
static int64_t candles_between(enum coin_tf tf, int64_t a, int64_t b) {
  if (b <= a)
    return 0;
  return coin_tf_count(tf, coin_tf_next(tf, a), b);
}

static void fmt_time(char *out, size_t n, bool has, int64_t ms,
                     const char *bad) {
  if (bad[0])
    snprintf(out, n, "%s", bad);
  else if (!has || coin_tf_format_utc(out, n, ms) != 0)
    snprintf(out, n, "-");
}

int coinctl_watermarks(struct coinctl *ctl, int argc, char **argv) {
  static const struct option opts[] = {
      COINCTL_COMMON_OPTIONS,
      {"json", no_argument, NULL, OPT_JSON},
      {"symbol", required_argument, NULL, OPT_SYMBOL},
      {"timeframe", required_argument, NULL, OPT_TF},
      {NULL, 0, NULL, 0},
  };
  bool help = false, as_json = false, has_tf = false;
  const char *symbol = NULL;
  enum coin_tf tf_filter = COIN_TF_1H;
  struct coin_bus *bus = NULL;
  struct coin_bus_kv *kv = NULL;
  struct wm_list l = {0};
  char ***rows = NULL;
  int rc = COINCTL_EXIT_OK, c;

  while ((c = coinctl_getopt(ctl, &help, argc, argv, opts)) != -1) {
    switch (c) {
    case OPT_JSON: as_json = true; break;
    case OPT_SYMBOL:
      if (coin_symbol_validate(optarg) != 0)
        return coinctl_fail("watermarks", COINCTL_EXIT_USAGE, "--symbol: %s",
                            coin_error_last());
      symbol = optarg;
      break;
    case OPT_TF:
      if (coin_tf_parse(&tf_filter, optarg) != 0)
        return coinctl_fail("watermarks", COINCTL_EXIT_USAGE, "--timeframe: %s",
                            coin_error_last());
      has_tf = true;
      break;
    default: return COINCTL_EXIT_USAGE;
    }
  }
  if (help) {
    fputs(wm_usage, stdout);
    return COINCTL_EXIT_OK;
  }
  if (optind < argc)
    return coinctl_fail("watermarks", COINCTL_EXIT_USAGE,
                        "unexpected argument \"%s\"", argv[optind]);

  if (coinctl_connect(&bus, ctl) != 0) {
    rc = coinctl_fail_last("watermarks", COINCTL_EXIT_ERROR);
    goto out;
  }
  int brc = coin_bus_kv_open(&kv, bus, COIN_KV_WATERMARKS);
  if (brc == COIN_ENOTFOUND) {
    rc = coinctl_fail("watermarks", COINCTL_EXIT_ERROR,
                      "KV bucket %s does not exist at %s (has coin-ingest "
                      "ever run against this NATS?)",
                      COIN_KV_WATERMARKS, ctl->nats_url);
    goto out;
  }
  if (brc != 0 || (brc = load_prefix(&l, kv, COIN_KEY_INGEST_PREFIX, 0)) != 0 ||
      (brc = load_prefix(&l, kv, COIN_KEY_PUBLISH_PREFIX, 1)) != 0) {
    rc = coinctl_fail("watermarks", COINCTL_EXIT_ERROR, "KV %s: %s",
                      COIN_KV_WATERMARKS, coin_error_last());
    goto out;
  }
  /* Filters, then a stable order. */
  size_t kept = 0;
  for (size_t i = 0; i < l.n; i++) {
    if ((symbol && strcmp(l.items[i].id.symbol, symbol) != 0) ||
        (has_tf && l.items[i].id.tf != tf_filter) ||
        strcmp(l.items[i].id.exchange, ctl->exchange) != 0)
      continue;
    l.items[kept++] = l.items[i];
  }
  l.n = kept;
  if (l.n > 1)
    qsort(l.items, l.n, sizeof(*l.items), cmp_series);

  int64_t now = coin_now_ms();
  if (as_json) {
    json_t *arr = json_array();
    for (size_t i = 0; i < l.n; i++) {
      const struct wm_series *s = &l.items[i];
      enum coin_tf tf = s->id.tf;
      json_t *o = json_object();
      char t[COIN_TF_UTC_TEXT_BYTES];
      json_object_set_new(o, "exchange", json_string(s->id.exchange));
      json_object_set_new(o, "symbol", json_string(s->id.symbol));
      json_object_set_new(o, "timeframe", json_string(coin_tf_name(tf)));
      json_object_set_new(o, "ingest_watermark_ms",
                          s->has_ingest ? json_integer(s->ingest_ms)
                                        : json_null());
      json_object_set_new(
          o, "ingest_watermark",
          s->has_ingest && coin_tf_format_utc(t, sizeof(t), s->ingest_ms) == 0
              ? json_string(t)
              : json_null());
      json_object_set_new(o, "publish_watermark_ms",
                          s->has_publish ? json_integer(s->publish_ms)
                                         : json_null());
      json_object_set_new(
          o, "publish_watermark",
          s->has_publish && coin_tf_format_utc(t, sizeof(t), s->publish_ms) == 0
              ? json_string(t)
              : json_null());
      json_object_set_new(
          o, "lag_candles",
          s->has_ingest && s->has_publish
              ? json_integer(candles_between(tf, s->publish_ms, s->ingest_ms))
              : json_null());
      json_object_set_new(
          o, "ingest_behind_candles",
          s->has_ingest ? json_integer(candles_between(
                              tf, s->ingest_ms, coin_tf_last_closed(tf, now)))
                        : json_null());
      for (int w = 0; w < 2; w++)
        if (s->bad[w][0])
          json_object_set_new(o, w == 0 ? "ingest_error" : "publish_error",
                              json_string(s->bad[w]));
      json_array_append_new(arr, o);
    }
    char *text = json_dumps(arr, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(arr);
    if (text == NULL) {
      rc = coinctl_fail("watermarks", COINCTL_EXIT_ERROR, "out of memory");
      goto out;
    }
    puts(text);
    free(text);
    goto out;
  }

  if (l.n == 0) {
    printf("no watermarks in %s%s%s\n", COIN_KV_WATERMARKS,
           symbol || has_tf ? " for this filter" : "",
           symbol || has_tf ? "" : " (nothing ingested yet)");
    goto out;
  }
  static const char *const header[] = {"SERIES", "INGEST", "PUBLISH", "LAG",
                                       "BEHIND"};
  const char **colors = calloc(l.n, sizeof(*colors));
  rows = calloc(l.n, sizeof(*rows));
  if (rows == NULL || colors == NULL) {
    free(colors);
    rc = coinctl_fail("watermarks", COINCTL_EXIT_ERROR, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < l.n; i++) {
    const struct wm_series *s = &l.items[i];
    rows[i] = calloc(5, sizeof(char *));
    if (rows[i] == NULL)
      continue;
    for (int k = 0; k < 5; k++)
      rows[i][k] = calloc(1, 160);
    snprintf(rows[i][0], 160, "%s/%s/%s", s->id.exchange, s->id.symbol,
             coin_tf_name(s->id.tf));
    fmt_time(rows[i][1], 160, s->has_ingest, s->ingest_ms, s->bad[0]);
    fmt_time(rows[i][2], 160, s->has_publish, s->publish_ms, s->bad[1]);
    int64_t lag = -1, behind = -1;
    if (s->has_ingest && s->has_publish)
      lag = candles_between(s->id.tf, s->publish_ms, s->ingest_ms);
    if (s->has_ingest)
      behind = candles_between(s->id.tf, s->ingest_ms,
                               coin_tf_last_closed(s->id.tf, now));
    if (lag >= 0)
      snprintf(rows[i][3], 160, "%lld", (long long)lag);
    else
      snprintf(rows[i][3], 160, "-");
    if (behind >= 0)
      snprintf(rows[i][4], 160, "%lld", (long long)behind);
    else
      snprintf(rows[i][4], 160, "-");
    colors[i] = coinctl_color(ctl, lag == 0 ? "ok" : lag > 0 ? "warn" : NULL);
  }
  struct coinctl_table t = {.header = header,
                            .n_cols = 5,
                            .rows = rows,
                            .n_rows = l.n,
                            .colors = colors,
                            .color_col = 3};
  bool complete = true;
  for (size_t i = 0; i < l.n; i++)
    if (rows[i] == NULL || !rows[i][0] || !rows[i][1] || !rows[i][2] ||
        !rows[i][3] || !rows[i][4])
      complete = false;
  if (complete)
    coinctl_table_print(stdout, ctl, &t);
  else
    rc = coinctl_fail("watermarks", COINCTL_EXIT_ERROR, "out of memory");
  free(colors);
out:
  if (rows) {
    for (size_t i = 0; i < l.n; i++) {
      if (rows[i])
        for (int k = 0; k < 5; k++)
          free(rows[i][k]);
      free(rows[i]);
    }
    free(rows);
  }
  free(l.items);
  coin_bus_kv_free(kv);
  coin_bus_free(bus);
  return rc;
}

/* ---- wait-backfill ---------------------------------------------------------
 * Polls the ingest watermarks until every wanted series (symbols x
 * timeframes) has one at most --max-behind closed candles behind the clock:
 * the first fill is done and training may read the whole history. */

static const char wait_usage[] =
    "usage: coinctl wait-backfill [--timeout S] [--symbols A,B] "
    "[--timeframes 1h,1d]\n"
    "                             [--max-behind N]\n"
    "\n"
    "Waits until every series (symbols x timeframes) has an ingest watermark\n"
    "in KV coin_watermarks at most N closed candles behind the clock (the\n"
    "first fill is done). Prints progress on stderr; exit 0 when all are\n"
    "backfilled, 1 at the timeout (naming the series still missing).\n"
    "\n"
    "  --timeout S       give up after S seconds (default 600)\n"
    "  --symbols A,B     default $SYMBOLS\n"
    "  --timeframes LIST default $INGEST_TIMEFRAMES, else $PRIMARY_TIMEFRAME, "
    "else 1h\n"
    "  --max-behind N    closed candles a watermark may lag (default 1)\n"
    "  --nats URL        NATS server(s) (default $NATS_URL)\n";

enum { OPT_TIMEOUT = COINCTL_OPT_FIRST_OWN, OPT_SYMBOLS, OPT_TFS, OPT_BEHIND };

#define WAIT_MAX_SYMBOLS 256

static int split_list(char *text, char **items, size_t max, size_t *n) {
  *n = 0;
  for (char *save = NULL, *t = strtok_r(text, ",", &save); t;
       t = strtok_r(NULL, ",", &save)) {
    while (*t == ' ')
      t++;
    if (!*t)
      continue;
    if (*n == max)
      return -1;
    items[(*n)++] = t;
  }
  return 0;
}

int coinctl_wait_backfill(struct coinctl *ctl, int argc, char **argv) {
  static const struct option opts[] = {
      COINCTL_COMMON_OPTIONS,
      {"timeout", required_argument, NULL, OPT_TIMEOUT},
      {"symbols", required_argument, NULL, OPT_SYMBOLS},
      {"timeframes", required_argument, NULL, OPT_TFS},
      {"max-behind", required_argument, NULL, OPT_BEHIND},
      {NULL, 0, NULL, 0},
  };
  static const char *const cmd = "wait-backfill";
  bool help = false;
  double timeout_s = 600;
  int64_t max_behind = 1;
  const char *symbols_arg = getenv("SYMBOLS");
  const char *tfs_arg = getenv("INGEST_TIMEFRAMES");
  if (!tfs_arg || !*tfs_arg)
    tfs_arg = getenv("PRIMARY_TIMEFRAME");
  if (!tfs_arg || !*tfs_arg)
    tfs_arg = "1h";
  int c;
  while ((c = coinctl_getopt(ctl, &help, argc, argv, opts)) != -1) {
    switch (c) {
    case OPT_TIMEOUT:
      if (coinctl_parse_seconds(&timeout_s, "--timeout", optarg) != 0)
        return coinctl_fail_last(cmd, COINCTL_EXIT_USAGE);
      break;
    case OPT_SYMBOLS: symbols_arg = optarg; break;
    case OPT_TFS: tfs_arg = optarg; break;
    case OPT_BEHIND:
      if (coinctl_parse_i64(&max_behind, "--max-behind", optarg, 0, 1000000) !=
          0)
        return coinctl_fail_last(cmd, COINCTL_EXIT_USAGE);
      break;
    default: return COINCTL_EXIT_USAGE;
    }
  }
  if (help) {
    fputs(wait_usage, stdout);
    return COINCTL_EXIT_OK;
  }
  if (optind < argc)
    return coinctl_fail(cmd, COINCTL_EXIT_USAGE, "unexpected argument \"%s\"",
                        argv[optind]);
  if (!symbols_arg || !*symbols_arg)
    return coinctl_fail(cmd, COINCTL_EXIT_USAGE,
                        "no symbols (give --symbols or set SYMBOLS)");

  char sym_buf[4096], tf_buf[256];
  char *syms[WAIT_MAX_SYMBOLS], *tfn[COIN_TF_COUNT * 2];
  size_t n_sym, n_tf;
  enum coin_tf tfs[COIN_TF_COUNT * 2];
  if (strlen(symbols_arg) >= sizeof(sym_buf) ||
      strlen(tfs_arg) >= sizeof(tf_buf))
    return coinctl_fail(cmd, COINCTL_EXIT_USAGE,
                        "symbol or timeframe list "
                        "too long");
  snprintf(sym_buf, sizeof(sym_buf), "%s", symbols_arg);
  snprintf(tf_buf, sizeof(tf_buf), "%s", tfs_arg);
  if (split_list(sym_buf, syms, WAIT_MAX_SYMBOLS, &n_sym) != 0 || n_sym == 0)
    return coinctl_fail(cmd, COINCTL_EXIT_USAGE,
                        "symbols: 1 to %d comma-separated names",
                        WAIT_MAX_SYMBOLS);
  if (split_list(tf_buf, tfn, COIN_ARRAY_LEN(tfn), &n_tf) != 0 || n_tf == 0)
    return coinctl_fail(cmd, COINCTL_EXIT_USAGE,
                        "timeframes: a comma-separated list of 1m 1h 1d 1w "
                        "1M");
  for (size_t i = 0; i < n_sym; i++)
    if (coin_symbol_validate(syms[i]) != 0)
      return coinctl_fail(cmd, COINCTL_EXIT_USAGE, "symbol \"%s\": %s", syms[i],
                          coin_error_last());
  for (size_t i = 0; i < n_tf; i++)
    if (coin_tf_parse(&tfs[i], tfn[i]) != 0)
      return coinctl_fail(cmd, COINCTL_EXIT_USAGE, "timeframe \"%s\": %s",
                          tfn[i], coin_error_last());

  struct coin_bus *bus = NULL;
  struct coin_bus_kv *kv = NULL;
  int rc = COINCTL_EXIT_ERROR;
  int64_t t0 = coin_mono_ms();
  int64_t deadline = t0 + (int64_t)(timeout_s * 1000);
  size_t want = n_sym * n_tf, last_done = (size_t)-1;
  char missing[512] = "";
  if (coinctl_connect(&bus, ctl) != 0) {
    rc = coinctl_fail_last(cmd, COINCTL_EXIT_ERROR);
    goto out;
  }
  for (;;) {
    struct wm_list l = {0};
    int brc = 0;
    if (!kv)
      brc = coin_bus_kv_open(&kv, bus, COIN_KV_WATERMARKS);
    if (brc == 0)
      brc = load_prefix(&l, kv, COIN_KEY_INGEST_PREFIX, 0);
    if (brc != 0 && brc != COIN_ENOTFOUND) {
      free(l.items);
      rc = coinctl_fail(cmd, COINCTL_EXIT_ERROR, "KV %s: %s",
                        COIN_KV_WATERMARKS, coin_error_last());
      goto out;
    }
    int64_t now = coin_now_ms();
    size_t done = 0, len = 0;
    missing[0] = '\0';
    for (size_t i = 0; i < n_sym; i++)
      for (size_t k = 0; k < n_tf; k++) {
        bool ok = false;
        for (size_t j = 0; j < l.n; j++) {
          const struct wm_series *s = &l.items[j];
          if (s->has_ingest && s->id.tf == tfs[k] &&
              !strcmp(s->id.symbol, syms[i]) &&
              !strcmp(s->id.exchange, ctl->exchange)) {
            ok =
                candles_between(tfs[k], s->ingest_ms,
                                coin_tf_last_closed(tfs[k], now)) <= max_behind;
            break;
          }
        }
        if (ok)
          done++;
        else if (len < sizeof(missing) - 1)
          len +=
              (size_t)snprintf(missing + len, sizeof(missing) - len, "%s%s/%s",
                               len ? " " : "", syms[i], coin_tf_name(tfs[k]));
      }
    free(l.items);
    int64_t elapsed = coin_mono_ms() - t0;
    if (done != last_done) {
      fprintf(stderr,
              "coinctl wait-backfill: %zu/%zu series backfilled (%.1f s)\n",
              done, want, (double)elapsed / 1000);
      last_done = done;
    }
    if (done == want) {
      printf("all %zu series backfilled in %.1f s\n", want,
             (double)elapsed / 1000);
      rc = COINCTL_EXIT_OK;
      goto out;
    }
    if (coin_mono_ms() >= deadline) {
      rc = coinctl_fail(cmd, COINCTL_EXIT_ERROR,
                        "timeout after %.0f s: %zu/%zu series backfilled; "
                        "still missing: %s",
                        timeout_s, done, want, missing);
      goto out;
    }
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 500 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
out:
  coin_bus_kv_free(kv);
  coin_bus_free(bus);
  return rc;
}
