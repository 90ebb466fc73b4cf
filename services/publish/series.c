/*
 * series.c: the set of published series (sorted by exchange, symbol,
 * timeframe, so lookups are binary searches and the manifest is in a stable
 * order) and each series' history window: a sorted array of candles with
 * their rendered JSON rows, merged from batches or from InfluxDB reads.
 * Runs on publish_run's thread only.
 */
#include "publish_int.h"

#include "coin/buf.h"
#include "coin/error.h"
#include "coin/log.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the set ------------------------------------------------------------ */

static int cmp_key(const struct pseries *s, const char *exchange,
                   const char *symbol, enum coin_tf tf) {
  int c = strcmp(s->exchange, exchange);
  if (c == 0)
    c = strcmp(s->symbol, symbol);
  if (c == 0)
    c = (int)s->tf - (int)tf;
  return c;
}

/* Index of the first series >= key. */
static size_t lower_bound(const struct publish *p, const char *exchange,
                          const char *symbol, enum coin_tf tf) {
  size_t lo = 0, hi = p->n_series;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (cmp_key(p->series[mid], exchange, symbol, tf) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

struct pseries *series_find(struct publish *p, const char *exchange,
                            const char *symbol, enum coin_tf tf) {
  size_t i = lower_bound(p, exchange, symbol, tf);
  if (i < p->n_series && cmp_key(p->series[i], exchange, symbol, tf) == 0)
    return p->series[i];
  return NULL;
}

int series_add(struct pseries **out, struct publish *p, const char *exchange,
               const char *symbol, enum coin_tf tf, bool configured) {
  int rc = 0;
  struct pseries *s = NULL;
  if (p->n_series >= (size_t)p->cfg->max_series)
    return coin_error_set(
        COIN_ETOOBIG, "series %s.%s.%s: PUBLISH_MAX_SERIES=%lld reached",
        exchange, symbol, coin_tf_name(tf), (long long)p->cfg->max_series);
  if ((rc = coin_exchange_validate(exchange)) != 0 ||
      (rc = coin_symbol_validate(symbol)) != 0)
    return rc;
  if ((rc = coin_grow(&p->series, &p->cap_series, p->n_series + 1,
                      sizeof(*p->series), SIZE_MAX)) != 0)
    return coin_error_wrap(rc, "publish: series");
  s = calloc(1, sizeof(*s));
  if (!s)
    return coin_error_set(COIN_ENOMEM, "publish: out of memory");
  snprintf(s->exchange, sizeof(s->exchange), "%s", exchange);
  snprintf(s->symbol, sizeof(s->symbol), "%s", symbol);
  s->tf = tf;
  s->configured = configured;
  s->slots = p->cfg->history_candles[tf];
  s->pub_ms = s->ingest_ms = s->pub_kv_ms = -1;
  s->pred_stale = true;
  s->dirty_files = true;
  if ((rc = coin_codec_series_key(s->ingest_key, sizeof(s->ingest_key),
                                  COIN_KEY_INGEST_PREFIX, exchange, symbol,
                                  tf)) != 0 ||
      (rc = coin_codec_series_key(s->publish_key, sizeof(s->publish_key),
                                  COIN_KEY_PUBLISH_PREFIX, exchange, symbol,
                                  tf)) != 0)
    goto fail;
  snprintf(s->dir, sizeof(s->dir), "v1/%s/%s/%s", exchange, symbol,
           coin_tf_name(tf));
  size_t at = lower_bound(p, exchange, symbol, tf);
  if (at < p->n_series && cmp_key(p->series[at], exchange, symbol, tf) == 0) {
    rc = coin_error_set(COIN_EEXISTS, "series %s already held", s->dir);
    goto fail;
  }
  memmove(&p->series[at + 1], &p->series[at],
          (p->n_series - at) * sizeof(*p->series));
  p->series[at] = s;
  p->n_series++;
  p->manifest_dirty = true;
  atomic_store(&p->c.series, p->n_series);
  *out = s;
  return 0;
fail:
  series_free(s);
  return rc;
}

void series_free(struct pseries *s) {
  if (!s)
    return;
  for (size_t i = 0; i < s->n; i++)
    free(s->rows[i].text);
  free(s->rows);
  free(s->entry);
  free(s->track);
  free(s);
}

/* ---- the window --------------------------------------------------------- */

int64_t series_window_from(const struct pseries *s, int64_t anchor_ms) {
  if (anchor_ms < 0)
    return INT64_MIN;
  if (s->tf != COIN_TF_1MO) {
    int64_t len = coin_tf_nominal_ms(s->tf);
    int64_t from = coin_tf_floor(s->tf, anchor_ms) - (s->slots - 1) * len;
    return from > COIN_TF_MIN_MS ? from : COIN_TF_MIN_MS;
  }
  int64_t t = coin_tf_floor(s->tf, anchor_ms);
  for (int64_t i = 1; i < s->slots && t > COIN_TF_MIN_MS; i++)
    t = coin_tf_prev(s->tf, t);
  return t;
}

static int cmp_open_ms(const void *key, const void *row) {
  int64_t k = *(const int64_t *)key;
  int64_t t = ((const struct prow *)row)->c.open_ms;
  return (k > t) - (k < t);
}

long series_find_row(const struct pseries *s, int64_t open_ms) {
  if (s->n == 0)
    return -1;
  /* open times are strictly ascending: at most one row matches */
  const struct prow *r =
      bsearch(&open_ms, s->rows, s->n, sizeof(*s->rows), cmp_open_ms);
  return r ? (long)(r - s->rows) : -1;
}

/* "[open_ms,open,high,low,close,volume]" */
static int row_render(struct prow *r) {
  char buf[6 * 32 + 8];
  size_t n = 0;
  buf[n++] = '[';
  n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%lld",
                        (long long)r->c.open_ms);
  const double v[5] = {r->c.open, r->c.high, r->c.low, r->c.close, r->c.volume};
  for (int i = 0; i < 5; i++) {
    buf[n++] = ',';
    n += coin_jbuf_num_text(buf + n, v[i]);
  }
  buf[n++] = ']';
  char *t = malloc(n + 1);
  if (!t)
    return coin_error_set(COIN_ENOMEM, "publish: out of memory");
  memcpy(t, buf, n);
  t[n] = '\0';
  free(r->text);
  r->text = t;
  r->len = n;
  return 0;
}

static bool same_candle(const struct coin_candle *a,
                        const struct coin_candle *b) {
  return memcmp(a, b, sizeof(*a)) == 0;
}

static int reserve_rows(struct pseries *s, size_t more) {
  int rc =
      coin_grow(&s->rows, &s->cap, s->n + more, sizeof(*s->rows), SIZE_MAX);
  return rc ? coin_error_wrap(rc, "publish: rows") : 0;
}

static void stats_reset(struct merge_stats *st) {
  memset(st, 0, sizeof(*st));
  st->first_new_ms = INT64_MAX;
}

static void trim(struct pseries *s, int64_t from_ms) {
  size_t k = 0;
  while (k < s->n && s->rows[k].c.open_ms < from_ms)
    free(s->rows[k++].text);
  if (k) {
    memmove(s->rows, s->rows + k, (s->n - k) * sizeof(*s->rows));
    s->n -= k;
  }
}

int series_merge(struct pseries *s, const struct coin_candle *c, size_t n,
                 int64_t anchor_ms, struct merge_stats *st) {
  int64_t from = series_window_from(s, anchor_ms);
  stats_reset(st);
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    const struct coin_candle *x = &c[i];
    if (x->open_ms > anchor_ms)
      break; /* ascending: the rest is beyond too */
    if (x->open_ms < from) {
      st->outside++;
      continue;
    }
    struct prow r = {.c = *x};
    if (s->n == 0 || s->rows[s->n - 1].c.open_ms < x->open_ms) {
      /* the common case: appending after the newest row */
      if ((rc = reserve_rows(s, 1)) != 0 || (rc = row_render(&r)) != 0)
        break;
      s->rows[s->n++] = r;
      st->added++;
    } else {
      size_t lo = 0, hi = s->n;
      while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->rows[mid].c.open_ms < x->open_ms)
          lo = mid + 1;
        else
          hi = mid;
      }
      if (s->rows[lo].c.open_ms == x->open_ms) {
        if (same_candle(&s->rows[lo].c, x)) {
          st->identical++;
          continue;
        }
        if ((rc = row_render(&r)) != 0)
          break;
        free(s->rows[lo].text);
        s->rows[lo] = r;
        st->replaced++;
      } else {
        if ((rc = reserve_rows(s, 1)) != 0 || (rc = row_render(&r)) != 0)
          break;
        memmove(&s->rows[lo + 1], &s->rows[lo], (s->n - lo) * sizeof(*s->rows));
        s->rows[lo] = r;
        s->n++;
        st->added++;
      }
    }
    if (x->open_ms < st->first_new_ms)
      st->first_new_ms = x->open_ms;
  }
  trim(s, from);
  if (st->added || st->replaced)
    s->pred_stale = true;
  return rc;
}

/* ---- reads from the source of truth ------------------------------------ */

struct read_ctx {
  struct coin_candle *v;
  size_t n, cap, max;
  enum coin_tf tf;
};

static int collect(void *ud, const struct coin_candle *c) {
  struct read_ctx *r = ud;
  int rc = coin_grow(&r->v, &r->cap, r->n + 1, sizeof(*r->v), r->max);
  if (rc)
    return coin_error_wrap(rc, "InfluxDB read: candles in the window");
  /* The SoT holds what ingest validated; a row that is not a candle of this
   * timeframe (a hand-written point) is not published. */
  if (coin_candle_validate(c, r->tf, -1) != 0)
    return 0;
  r->v[r->n++] = *c;
  return 0;
}

/* Makes [from_ms, to_ms] of the window exactly c[0..n) (the SoT's view):
 * rows that match are kept with their rendered text, others re-rendered,
 * rows the SoT does not hold are dropped. All allocations happen before the
 * window is touched, so a failure leaves it as it was. */
int series_apply_sot(struct pseries *s, int64_t from_ms, int64_t to_ms,
                     const struct coin_candle *c, size_t n, int64_t anchor_ms,
                     struct merge_stats *st) {
  stats_reset(st);
  size_t lo = 0;
  while (lo < s->n && s->rows[lo].c.open_ms < from_ms)
    lo++;
  size_t hi = lo;
  while (hi < s->n && s->rows[hi].c.open_ms <= to_ms)
    hi++;
  size_t cap = lo + n + (s->n - hi);
  struct prow *v = calloc(cap ? cap : 1, sizeof(*v));
  long *match = calloc(n ? n : 1, sizeof(*match));
  if (!v || !match)
    goto oom;
  /* pass 1: match against the old rows, render what is new */
  size_t j = lo;
  for (size_t i = 0; i < n; i++) {
    while (j < hi && s->rows[j].c.open_ms < c[i].open_ms)
      j++;
    match[i] = j < hi && s->rows[j].c.open_ms == c[i].open_ms ? (long)j : -1;
    if (match[i] >= 0 && same_candle(&s->rows[j].c, &c[i]))
      continue;
    v[lo + i].c = c[i];
    if (row_render(&v[lo + i]) != 0)
      goto oom;
  }
  /* pass 2: assemble (no failure from here on) */
  unsigned char *kept = calloc(hi - lo + 1, 1); /* 1 moved, 2 replaced */
  if (!kept)
    goto oom;
  if (lo)
    memcpy(v, s->rows, lo * sizeof(*v));
  for (size_t i = 0; i < n; i++) {
    long m = match[i];
    if (v[lo + i].text == NULL) { /* identical: move the old row */
      v[lo + i] = s->rows[m];
      kept[(size_t)m - lo] = 1;
      st->identical++;
      continue;
    }
    if (m >= 0) {
      kept[(size_t)m - lo] = 2;
      st->replaced++;
    } else
      st->added++;
    if (c[i].open_ms < st->first_new_ms)
      st->first_new_ms = c[i].open_ms;
  }
  for (size_t x = lo; x < hi; x++) {
    if (kept[x - lo] == 1)
      continue;
    free(s->rows[x].text);
    if (kept[x - lo] == 0)
      st->removed++;
  }
  if (s->n > hi)
    memcpy(v + lo + n, s->rows + hi, (s->n - hi) * sizeof(*v));
  free(kept);
  free(match);
  free(s->rows);
  s->rows = v;
  s->n = cap;
  s->cap = cap ? cap : 1;
  trim(s, series_window_from(s, anchor_ms));
  if (st->added || st->replaced || st->removed)
    s->pred_stale = true;
  return 0;
oom:
  for (size_t i = 0; v && i < n; i++)
    free(v[lo + i].text);
  free(v);
  free(match);
  return coin_error_set(COIN_ENOMEM, "publish: out of memory");
}

int series_read_sot(struct publish *p, struct pseries *s, int64_t from_ms,
                    int64_t to_ms, int64_t anchor_ms, struct merge_stats *st) {
  int64_t wfrom = series_window_from(s, anchor_ms);
  if (from_ms < wfrom)
    from_ms = wfrom;
  if (to_ms > anchor_ms)
    to_ms = anchor_ms;
  stats_reset(st);
  if (from_ms > to_ms) {
    trim(s, wfrom);
    return 0;
  }
  struct read_ctx r = {.max = (size_t)s->slots + 1, .tf = s->tf};
  int rc = coin_influx_read_candles(p->ix, s->exchange, s->symbol,
                                    coin_tf_name(s->tf), from_ms, to_ms,
                                    collect, &r);
  if (rc == COIN_ENOTFOUND) {
    /* no database or retention policy yet: nothing stored */
    rc = 0;
  }
  if (rc != 0) {
    atomic_fetch_add(&p->c.influx_errors, 1);
    coin_error_wrap(rc, "InfluxDB read %s", s->dir);
  } else {
    rc = series_apply_sot(s, from_ms, to_ms, r.v, r.n, anchor_ms, st);
  }
  free(r.v);
  return rc;
}

/* ---- many series of one timeframe in one query -------------------------- */

void series_put_symbols(struct coin_jbuf *q, const char *field,
                        const char *(*symbol_of)(const void *v, size_t i),
                        const void *v, size_t n) {
  size_t names = 0;
  for (size_t i = 0; i < n; i++)
    names += strlen(symbol_of(v, i)) + 1;
  if (names >= 12000)
    return;
  coin_jbuf_printf(q, " AND %s =~ /^(", field);
  for (size_t i = 0; i < n; i++)
    coin_jbuf_printf(q, "%s%s", i ? "|" : "", symbol_of(v, i));
  coin_jbuf_puts(q, ")$/");
}

int series_query(struct publish *p, struct coin_jbuf *q, coin_influx_row_cb fn,
                 void *ud) {
  if (q->oom) {
    coin_jbuf_free(q);
    return coin_error_set(COIN_ENOMEM, "publish: out of memory");
  }
  int rc = coin_influx_query(p->ix, q->p, fn, ud);
  coin_jbuf_free(q);
  if (rc == COIN_ENOTFOUND)
    rc = 0; /* no database or retention policy yet: nothing stored */
  if (rc != 0)
    atomic_fetch_add(&p->c.influx_errors, 1);
  return rc;
}

static const char *read_symbol(const void *v, size_t i) {
  return ((const struct series_read *)v)[i].s->symbol;
}

struct bulk_ctx {
  struct series_read *v;
  size_t n;
  int rc;
};

static struct series_read *bulk_find(struct bulk_ctx *b, const char *symbol) {
  size_t lo = 0, hi = b->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(b->v[mid].s->symbol, symbol);
    if (c == 0)
      return &b->v[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

static int bulk_row(void *ud, const struct coin_influx_row *row) {
  struct bulk_ctx *b = ud;
  const char *symbol = coin_influx_row_tag(row, "symbol");
  struct series_read *r = symbol ? bulk_find(b, symbol) : NULL;
  if (!r)
    return 0; /* a symbol we do not publish */
  static const char *const names[] = {"time", "open",  "high",
                                      "low",  "close", "volume"};
  double f[5] = {0};
  int64_t t = 0;
  for (int k = 0; k < 6; k++) {
    const struct coin_influx_value *v = coin_influx_row_get(row, names[k]);
    if (!v)
      return 0;
    if (k == 0 && v->type == COIN_INFLUX_INT)
      t = v->v.i64;
    else if (k > 0 && v->type == COIN_INFLUX_FLOAT)
      f[k - 1] = v->v.f64;
    else if (k > 0 && v->type == COIN_INFLUX_INT)
      f[k - 1] = (double)v->v.i64;
    else
      return 0; /* a hand-written point that is not a candle */
  }
  if (t < r->from_ms || t > r->to_ms)
    return 0;
  struct coin_candle c = {.open_ms = t,
                          .open = f[0],
                          .high = f[1],
                          .low = f[2],
                          .close = f[3],
                          .volume = f[4]};
  struct read_ctx rc = {.v = r->c,
                        .n = r->n,
                        .cap = r->cap,
                        .max = (size_t)r->s->slots + 1,
                        .tf = r->s->tf};
  int e = collect(&rc, &c);
  r->c = rc.v;
  r->n = rc.n;
  r->cap = rc.cap;
  return e;
}

int series_read_sot_many(struct publish *p, struct series_read *v, size_t n) {
  if (n == 0)
    return 0;
  const struct pseries *s0 = v[0].s;
  int64_t from = INT64_MAX, to = INT64_MIN;
  for (size_t i = 0; i < n; i++) {
    if (strcmp(v[i].s->exchange, s0->exchange) || v[i].s->tf != s0->tf ||
        (i && strcmp(v[i - 1].s->symbol, v[i].s->symbol) >= 0))
      return coin_error_set(COIN_EINVAL,
                            "bulk read: series must share exchange and "
                            "timeframe, sorted by symbol");
    if (v[i].from_ms < from)
      from = v[i].from_ms;
    if (v[i].to_ms > to)
      to = v[i].to_ms;
  }
  struct coin_jbuf q = {0};
  coin_jbuf_puts(&q,
                 "SELECT \"open\",\"high\",\"low\",\"close\",\"volume\" FROM ");
  if (s0->tf == COIN_TF_1M)
    coin_jbuf_puts(&q, "\"" COIN_INFLUX_RP_1M "\".");
  /* Tokens were validated ([a-z0-9_], [A-Z0-9_-]): nothing to escape. */
  coin_jbuf_printf(
      &q, "\"candle\" WHERE \"exchange\" = '%s' AND \"timeframe\" = '%s'",
      s0->exchange, coin_tf_name(s0->tf));
  series_put_symbols(&q, "\"symbol\"", read_symbol, v, n);
  coin_jbuf_printf(&q,
                   " AND time >= %lldms AND time <= %lldms GROUP BY \"symbol\"",
                   (long long)from, (long long)to);
  struct bulk_ctx b = {.v = v, .n = n};
  int rc = series_query(p, &q, bulk_row, &b);
  if (rc != 0)
    return coin_error_wrap(rc, "InfluxDB read of %zu %s series", n,
                           coin_tf_name(s0->tf));
  /* InfluxDB sends each series in time order; keep it strict anyway. */
  for (size_t i = 0; i < n; i++)
    for (size_t k = 1; k < v[i].n; k++)
      if (v[i].c[k].open_ms <= v[i].c[k - 1].open_ms)
        return coin_error_set(
            COIN_EDECODE, "InfluxDB read %s: rows out of order", v[i].s->dir);
  return 0;
}
