/*
 * replay_data.c: the replay's candles. Loads every `<SYMBOL>-<tf>.csv` (1m,
 * 1h, 1d) of a directory, shifts each symbol by whole weeks so that its data
 * runs into the near future (one shift for 1h+1d, one for 1m), aggregates 1w
 * and 1M from the shifted 1d rows, and answers kline range queries against
 * the wall clock. Built once, then read-only: safe to share between threads.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coin/error.h"
#include "coin/fmt.h"
#include "replay.h"

#define MAX_FILES 4096
#define MAX_DECIMALS 8

/* Quote assets recognised when splitting a symbol, longest first. */
static const char *const known_quotes[] = {
    "FDUSD", "USDT", "BUSD", "USDC", "TUSD", "BTC", "ETH",
    "BNB",   "EUR",  "TRY",  "GBP",  "DAI",  "KRW"};

static int64_t floordiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0)))
    q--;
  return q;
}

static int base_index(enum coin_tf tf) {
  switch (tf) {
  case COIN_TF_1M: return REPLAY_BASE_1M;
  case COIN_TF_1H: return REPLAY_BASE_1H;
  case COIN_TF_1D: return REPLAY_BASE_1D;
  default: return -1;
  }
}

/* ------------------------------------------------------------- building */

struct found_file {
  char symbol[REPLAY_SYMBOL_BYTES];
  enum coin_tf tf;
  char name[64];
};

static int cmp_found(const void *a, const void *b) {
  const struct found_file *x = a, *y = b;
  int c = strcmp(x->symbol, y->symbol);
  return c ? c : (int)x->tf - (int)y->tf;
}

static int cmp_symbol(const void *a, const void *b) {
  return strcmp(((const struct replay_symbol *)a)->name,
                ((const struct replay_symbol *)b)->name);
}

/* True when name is in the comma list (NULL list = everything). */
static bool in_list(const char *list, const char *name) {
  if (list == NULL)
    return true;
  size_t n = strlen(name);
  for (const char *p = list; *p;) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len == n && memcmp(p, name, n) == 0)
      return true;
    if (!e)
      break;
    p = e + 1;
  }
  return false;
}

static int list_files(struct found_file **out, size_t *n_out, const char *dir) {
  int rc = 0;
  struct found_file *files = NULL;
  size_t n = 0;
  DIR *h = opendir(dir);
  if (h == NULL)
    return coin_error_set(COIN_ENOTFOUND, "data directory %s: %s", dir,
                          strerror(errno));
  files = calloc(MAX_FILES, sizeof(*files));
  if (files == NULL) {
    rc = coin_error_set(COIN_ENOMEM, "data directory %s: out of memory", dir);
    goto out;
  }
  for (struct dirent *e; (e = readdir(h)) != NULL;) {
    struct found_file f;
    size_t len = strlen(e->d_name);
    if (len < 5 || strcmp(e->d_name + len - 4, ".csv") != 0 ||
        len >= sizeof(f.name))
      continue;
    /* Names that are not <SYMBOL>-<tf>.csv are other data, not ours. */
    if (coin_candle_file_name_parse(f.symbol, sizeof(f.symbol), &f.tf,
                                    e->d_name) < 0 ||
        base_index(f.tf) < 0)
      continue;
    if (n == MAX_FILES) {
      rc = coin_error_set(COIN_ETOOBIG,
                          "data directory %s: more than %d "
                          "candle files",
                          dir, MAX_FILES);
      goto out;
    }
    memcpy(f.name, e->d_name, len + 1);
    files[n++] = f;
  }
  qsort(files, n, sizeof(*files), cmp_found);
  *out = files;
  *n_out = n;
  files = NULL;
out:
  free(files);
  closedir(h);
  return rc;
}

/* Aggregates the shifted 1d rows into calendar weeks or months. */
static int aggregate(struct coin_candle **out, size_t *n_out,
                     const struct coin_candle_file *days, int64_t shift_ms,
                     enum coin_tf tf) {
  struct coin_candle *rows = NULL;
  size_t n = 0;
  if (days == NULL || days->count == 0) {
    *out = NULL;
    *n_out = 0;
    return 0;
  }
  rows = malloc(days->count * sizeof(*rows));
  if (rows == NULL)
    return coin_error_set(COIN_ENOMEM, "aggregate %s: out of memory",
                          coin_tf_name(tf));
  for (size_t i = 0; i < days->count; i++) {
    const struct coin_candle *d = &days->rows[i];
    int64_t period = coin_tf_floor(tf, d->open_ms + shift_ms);
    if (n > 0 && rows[n - 1].open_ms == period) {
      struct coin_candle *a = &rows[n - 1];
      if (d->high > a->high)
        a->high = d->high;
      if (d->low < a->low)
        a->low = d->low;
      a->close = d->close;
      a->volume += d->volume;
    } else {
      rows[n] = *d;
      rows[n].open_ms = period;
      n++;
    }
  }
  *out = rows;
  *n_out = n;
  return 0;
}

static void decimals_of(const struct coin_candle_file *f, int *price,
                        int *qty) {
  if (f == NULL)
    return;
  for (size_t i = 0; i < f->count; i++) {
    const struct coin_candle *c = &f->rows[i];
    const double p[4] = {c->open, c->high, c->low, c->close};
    for (int j = 0; j < 4; j++) {
      int d = coin_fmt_decimal_places(p[j]);
      if (d > *price)
        *price = d;
    }
    int d = coin_fmt_decimal_places(c->volume);
    if (d > *qty)
      *qty = d;
  }
}

/* Shift by whole weeks so the data ends at least horizon days after now. */
static int64_t shift_for(int64_t end_ms, const struct replay_data_opts *o) {
  if (o->shift_fixed)
    return o->shift_weeks * COIN_WEEK_MS;
  int64_t target = o->now_ms + (int64_t)o->horizon_days * COIN_DAY_MS;
  int64_t weeks = -floordiv(end_ms - target, COIN_WEEK_MS); /* ceil */
  return weeks * COIN_WEEK_MS;
}

static int64_t file_end(const struct coin_candle_file *f) {
  if (f == NULL || f->count == 0)
    return INT64_MIN;
  int64_t open = f->rows[f->count - 1].open_ms;
  return open + coin_tf_length_ms(f->tf, open);
}

static int build_source(struct replay_source *s,
                        const struct replay_data_opts *o) {
  int64_t end_hd = file_end(s->file[REPLAY_BASE_1H]);
  int64_t end_d = file_end(s->file[REPLAY_BASE_1D]);
  if (end_d > end_hd)
    end_hd = end_d;
  if (end_hd != INT64_MIN) {
    s->shift_ms[REPLAY_BASE_1H] = shift_for(end_hd, o);
    s->shift_ms[REPLAY_BASE_1D] = s->shift_ms[REPLAY_BASE_1H];
  }
  int64_t end_m = file_end(s->file[REPLAY_BASE_1M]);
  if (end_m != INT64_MIN)
    s->shift_ms[REPLAY_BASE_1M] = shift_for(end_m, o);
  for (int i = 0; i < 2; i++) {
    int rc = aggregate(&s->agg[i], &s->agg_count[i], s->file[REPLAY_BASE_1D],
                       s->shift_ms[REPLAY_BASE_1D],
                       i == 0 ? COIN_TF_1W : COIN_TF_1MO);
    if (rc < 0)
      return rc;
  }
  for (int i = 0; i < REPLAY_BASE_N; i++)
    decimals_of(s->file[i], &s->price_decimals, &s->qty_decimals);
  if (s->price_decimals > MAX_DECIMALS)
    s->price_decimals = MAX_DECIMALS;
  if (s->qty_decimals > MAX_DECIMALS)
    s->qty_decimals = MAX_DECIMALS;
  return 0;
}

static int split_symbol(struct replay_symbol *sym) {
  size_t n = strlen(sym->name);
  for (size_t i = 0; i < sizeof(known_quotes) / sizeof(known_quotes[0]); i++) {
    size_t q = strlen(known_quotes[i]);
    if (n > q && strcmp(sym->name + n - q, known_quotes[i]) == 0) {
      memcpy(sym->base, sym->name, n - q);
      sym->base[n - q] = '\0';
      strcpy(sym->quote, known_quotes[i]);
      return 0;
    }
  }
  return coin_error_set(COIN_EINVAL,
                        "symbol %s: cannot split into base and quote asset "
                        "(rule: ends with a known quote such as USDT, BTC, "
                        "EUR)",
                        sym->name);
}

static const struct replay_source *find_source(const struct replay_data *d,
                                               const char *name) {
  for (size_t i = 0; i < d->nsources; i++)
    if (strcmp(d->sources[i].symbol, name) == 0)
      return &d->sources[i];
  return NULL;
}

static int add_symbol(struct replay_data *d, size_t cap, const char *name,
                      const struct replay_source *src, bool alias) {
  if (d->nsymbols == cap)
    return coin_error_set(COIN_ETOOBIG, "symbols: more than %zu", cap);
  if (coin_symbol_validate(name) < 0)
    return coin_error_wrap(COIN_EINVAL, "alias");
  struct replay_symbol *s = &d->symbols[d->nsymbols];
  memset(s, 0, sizeof(*s));
  snprintf(s->name, sizeof(s->name), "%s", name);
  s->src = src;
  s->alias = alias;
  int rc = split_symbol(s);
  if (rc < 0)
    return rc;
  d->nsymbols++;
  return 0;
}

/* "ALIAS=SOURCE,ALIAS2=SOURCE2". */
static int add_aliases(struct replay_data *d, size_t cap, const char *list) {
  for (const char *p = list; p && *p;) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    char item[80];
    if (len == 0 || len >= sizeof(item))
      return coin_error_set(COIN_EINVAL,
                            "--symbols-alias item \"%.*s\": want ALIAS=SOURCE",
                            (int)(len < 60 ? len : 60), p);
    memcpy(item, p, len);
    item[len] = '\0';
    char *eq = strchr(item, '=');
    if (eq == NULL)
      return coin_error_set(
          COIN_EINVAL, "--symbols-alias item \"%s\": want ALIAS=SOURCE", item);
    *eq = '\0';
    const struct replay_source *src = find_source(d, eq + 1);
    if (src == NULL)
      return coin_error_set(COIN_ENOTFOUND,
                            "--symbols-alias %s=%s: no data for %s (rule: "
                            "SOURCE is a loaded symbol)",
                            item, eq + 1, eq + 1);
    int rc = add_symbol(d, cap, item, src, true);
    if (rc < 0)
      return coin_error_wrap(rc, "--symbols-alias %s=%s", item, eq + 1);
    if (!e)
      break;
    p = e + 1;
  }
  return 0;
}

static int add_clones(struct replay_data *d, size_t cap, unsigned n) {
  int width = n >= 1000 ? 4 : n >= 100 ? 3 : 2;
  for (unsigned i = 1; i <= n; i++) {
    char name[REPLAY_SYMBOL_BYTES];
    snprintf(name, sizeof(name), "SYM%0*uUSDT", width, i);
    int rc = add_symbol(d, cap, name, &d->sources[(i - 1) % d->nsources], true);
    if (rc < 0)
      return coin_error_wrap(rc, "--clone %u", n);
  }
  return 0;
}

int replay_data_load(struct replay_data **out,
                     const struct replay_data_opts *o) {
  int rc = 0;
  struct found_file *files = NULL;
  size_t nfiles = 0;
  struct replay_data *d = calloc(1, sizeof(*d));
  if (d == NULL)
    return coin_error_set(COIN_ENOMEM, "replay data: out of memory");
  rc = list_files(&files, &nfiles, o->dir);
  if (rc < 0)
    goto out;
  d->sources = calloc(nfiles ? nfiles : 1, sizeof(*d->sources));
  if (d->sources == NULL) {
    rc = coin_error_set(COIN_ENOMEM, "replay data: out of memory");
    goto out;
  }
  for (size_t i = 0; i < nfiles; i++) {
    if (!in_list(o->only_symbols, files[i].symbol))
      continue;
    if (d->nsources == 0 ||
        strcmp(d->sources[d->nsources - 1].symbol, files[i].symbol) != 0) {
      snprintf(d->sources[d->nsources].symbol, REPLAY_SYMBOL_BYTES, "%s",
               files[i].symbol);
      d->nsources++;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", o->dir, files[i].name);
    struct replay_source *s = &d->sources[d->nsources - 1];
    rc = coin_candle_file_load(&s->file[base_index(files[i].tf)], path, 0);
    if (rc < 0)
      goto out;
  }
  /* Every symbol asked for by --symbols must exist. */
  for (const char *p = o->only_symbols; p && *p;) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    char name[REPLAY_SYMBOL_BYTES];
    snprintf(name, sizeof(name), "%.*s", (int)(len < 32 ? len : 32), p);
    if (find_source(d, name) == NULL) {
      rc = coin_error_set(COIN_ENOTFOUND,
                          "--symbols %s: no %s-<1m|1h|1d>.csv in %s", name,
                          name, o->dir);
      goto out;
    }
    if (!e)
      break;
    p = e + 1;
  }
  if (d->nsources == 0) {
    rc = coin_error_set(COIN_ENOTFOUND,
                        "data directory %s: no <SYMBOL>-<1m|1h|1d>.csv files",
                        o->dir);
    goto out;
  }
  for (size_t i = 0; i < d->nsources; i++) {
    rc = build_source(&d->sources[i], o);
    if (rc < 0)
      goto out;
  }

  size_t cap = d->nsources + REPLAY_MAX_ALIASES;
  d->symbols = calloc(cap, sizeof(*d->symbols));
  if (d->symbols == NULL) {
    rc = coin_error_set(COIN_ENOMEM, "replay data: out of memory");
    goto out;
  }
  for (size_t i = 0; i < d->nsources; i++) {
    rc = add_symbol(d, cap, d->sources[i].symbol, &d->sources[i], false);
    if (rc < 0)
      goto out;
  }
  rc = add_aliases(d, cap, o->aliases);
  if (rc < 0)
    goto out;
  if (o->clone > REPLAY_MAX_ALIASES) {
    rc = coin_error_set(COIN_EINVAL, "--clone %u (rule: at most %d)", o->clone,
                        REPLAY_MAX_ALIASES);
    goto out;
  }
  rc = add_clones(d, cap, o->clone);
  if (rc < 0)
    goto out;
  qsort(d->symbols, d->nsymbols, sizeof(*d->symbols), cmp_symbol);
  for (size_t i = 1; i < d->nsymbols; i++) {
    if (strcmp(d->symbols[i - 1].name, d->symbols[i].name) == 0) {
      rc = coin_error_set(COIN_EEXISTS,
                          "symbol %s defined twice (rule: aliases and clones "
                          "need new names)",
                          d->symbols[i].name);
      goto out;
    }
  }
  *out = d;
  d = NULL;
out:
  free(files);
  replay_data_free(d);
  return rc;
}

void replay_data_free(struct replay_data *d) {
  if (d == NULL)
    return;
  for (size_t i = 0; d->sources && i < d->nsources; i++) {
    for (int j = 0; j < REPLAY_BASE_N; j++)
      coin_candle_file_free(d->sources[i].file[j]);
    free(d->sources[i].agg[0]);
    free(d->sources[i].agg[1]);
  }
  free(d->sources);
  free(d->symbols);
  free(d);
}

const struct replay_symbol *replay_data_find(const struct replay_data *d,
                                             const char *name) {
  struct replay_symbol key;
  if (strlen(name) >= sizeof(key.name))
    return NULL;
  strcpy(key.name, name);
  return bsearch(&key, d->symbols, d->nsymbols, sizeof(*d->symbols),
                 cmp_symbol);
}

/* -------------------------------------------------------------- queries */

/* The rows of one served timeframe: served open = rows[i].open_ms + shift. */
struct view {
  const struct coin_candle *rows;
  size_t count;
  int64_t shift_ms;     /* data time -> served time of rows[] */
  int64_t gap_shift_ms; /* served time -> data time, for gap rules */
  enum coin_tf tf;
  const struct replay_source *src;
  bool agg;
};

int64_t replay_shift_ms(const struct replay_symbol *sym, enum coin_tf tf) {
  int b = base_index(tf);
  if (b < 0)
    b = REPLAY_BASE_1D;
  return sym->src->shift_ms[b];
}

static bool make_view(struct view *v, const struct replay_source *src,
                      enum coin_tf tf) {
  memset(v, 0, sizeof(*v));
  v->tf = tf;
  v->src = src;
  int b = base_index(tf);
  if (b >= 0) {
    const struct coin_candle_file *f = src->file[b];
    if (f == NULL)
      return false;
    v->rows = f->rows;
    v->count = f->count;
    v->shift_ms = src->shift_ms[b];
    v->gap_shift_ms = src->shift_ms[b];
    return true;
  }
  int a = tf == COIN_TF_1W ? 0 : 1;
  if (src->agg[a] == NULL)
    return false;
  v->rows = src->agg[a];
  v->count = src->agg_count[a];
  v->shift_ms = 0;
  v->gap_shift_ms = src->shift_ms[REPLAY_BASE_1D];
  v->agg = true;
  return true;
}

/* First index whose served open time is >= t. */
static size_t lower_bound(const struct view *v, int64_t t) {
  return coin_candle_lower_bound(v->rows, v->count, t - v->shift_ms);
}

static bool gapped(const struct replay_query *q, const struct view *v,
                   int64_t served_open) {
  int64_t data_t = served_open - v->gap_shift_ms;
  for (size_t i = 0; i < q->ngaps; i++) {
    const struct replay_gap *g = &q->gaps[i];
    if (g->tf == q->tf && data_t >= g->from_ms && data_t <= g->to_ms &&
        strcmp(g->symbol, q->sym->name) == 0)
      return true;
  }
  return false;
}

/* The still-open candle as seen at fraction f of its life: open is known,
 * close/high/low move from open towards their final values and the volume
 * grows, so a client that stores it differs from the final candle. */
static void interpolate(struct coin_candle *c, double f) {
  double o = c->open;
  c->high = o + (c->high - o) * f;
  c->low = o - (o - c->low) * f;
  c->close = o + (c->close - o) * f;
  c->volume = c->volume * f;
}

/* The open 1w/1M candle: aggregate of the days that have started. */
static bool agg_partial(struct coin_candle *out, const struct view *v,
                        int64_t open_ms, int64_t len_ms, int64_t now_ms) {
  struct view days;
  if (!make_view(&days, v->src, COIN_TF_1D))
    return false;
  bool any = false;
  for (size_t i = lower_bound(&days, open_ms); i < days.count; i++) {
    struct coin_candle d = days.rows[i];
    int64_t d_open = d.open_ms + days.shift_ms;
    if (d_open > now_ms || d_open >= open_ms + len_ms)
      break;
    if (d_open + COIN_DAY_MS > now_ms)
      interpolate(&d, (double)(now_ms - d_open) / (double)COIN_DAY_MS);
    if (!any) {
      *out = d;
      out->open_ms = open_ms;
      any = true;
      continue;
    }
    if (d.high > out->high)
      out->high = d.high;
    if (d.low < out->low)
      out->low = d.low;
    out->close = d.close;
    out->volume += d.volume;
  }
  return any;
}

static bool make_kline(struct replay_kline *k, const struct view *v, size_t i,
                       int64_t now_ms) {
  struct coin_candle c = v->rows[i];
  int64_t open = c.open_ms + v->shift_ms;
  int64_t len = coin_tf_length_ms(v->tf, open);
  k->partial = open + len > now_ms;
  if (k->partial) {
    if (v->agg) {
      if (!agg_partial(&c, v, open, len, now_ms))
        return false;
    } else {
      interpolate(&c, (double)(now_ms - open) / (double)len);
    }
  }
  k->open_ms = open;
  k->close_ms = open + len - 1;
  k->open = c.open;
  k->high = c.high;
  k->low = c.low;
  k->close = c.close;
  k->volume = c.volume;
  return true;
}

size_t replay_klines(struct replay_kline *out, const struct replay_query *q,
                     size_t *gapped_out) {
  struct view v;
  size_t n = 0, skipped = 0;
  size_t limit = q->limit > 0 ? (size_t)q->limit : 0;
  *gapped_out = 0;
  if (!make_view(&v, q->sym->src, q->tf) || limit == 0)
    return 0;
  if (q->has_start && q->has_end && q->start_ms > q->end_ms)
    return 0;
  /* Only candles whose served open time has come exist. */
  size_t visible = lower_bound(&v, q->now_ms + 1);
  if (q->has_start) {
    for (size_t i = lower_bound(&v, q->start_ms); i < visible && n < limit;
         i++) {
      int64_t open = v.rows[i].open_ms + v.shift_ms;
      if (q->has_end && open > q->end_ms)
        break;
      if (q->ngaps && gapped(q, &v, open)) {
        skipped++;
        continue;
      }
      if (make_kline(&out[n], &v, i, q->now_ms))
        n++;
    }
  } else {
    size_t hi = visible;
    if (q->has_end) {
      size_t e = lower_bound(&v, q->end_ms + 1);
      if (e < hi)
        hi = e;
    }
    while (hi > 0 && n < limit) {
      size_t i = --hi;
      int64_t open = v.rows[i].open_ms + v.shift_ms;
      if (q->ngaps && gapped(q, &v, open)) {
        skipped++;
        continue;
      }
      if (make_kline(&out[n], &v, i, q->now_ms))
        n++;
    }
    for (size_t a = 0, b = n ? n - 1 : 0; a < b; a++, b--) {
      struct replay_kline t = out[a];
      out[a] = out[b];
      out[b] = t;
    }
  }
  *gapped_out = skipped;
  return n;
}
