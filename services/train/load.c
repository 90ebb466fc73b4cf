/*
 * load.c: the SoT into a training dataset, under a memory budget. Each
 * series is read in time windows of TRAIN_READ_CHUNK_CANDLES candles
 * (coin_influx_read_candles streams each window), never beyond its ingest
 * watermark, through the one feature builder. When the series hold more
 * rows than the budget allows, a time cutoff is chosen first (from counts
 * and the calendar, which can only over-estimate rows), so the oldest rows
 * are never read at all. Single-threaded.
 */
#include "train_int.h"

#include "coin/error.h"
#include "coin/features.h"
#include "coin/log.h"
#include "coin/watermark.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define L COIN_FEATURES_LOOKBACK

double train_now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t train_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

size_t train_peak_rss_bytes(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  size_t kb = 0;
  if (!f)
    return 0;
  while (fgets(line, sizeof(line), f))
    if (strncmp(line, "VmHWM:", 6) == 0) {
      kb = strtoull(line + 6, NULL, 10);
      break;
    }
  fclose(f);
  return kb * 1024;
}

/* ---- series -------------------------------------------------------------- */

void train_series_free(struct train_series_list *l) {
  if (!l)
    return;
  free(l->s);
  l->s = NULL;
  l->n = 0;
}

static int split_add(struct train_series_list *out, const char *symbol,
                     const struct coin_cfg_tf_list *tfs) {
  int rc;
  if ((rc = coin_symbol_validate(symbol)) != 0)
    return rc;
  struct train_series *s = realloc(out->s, (out->n + tfs->n) * sizeof(*out->s));
  if (!s)
    return coin_error_set(COIN_ENOMEM, "out of memory");
  out->s = s;
  for (size_t i = 0; i < tfs->n; i++) {
    snprintf(s[out->n].symbol, sizeof(s[0].symbol), "%s", symbol);
    s[out->n].tf = tfs->tfs[i];
    out->n++;
  }
  return 0;
}

int train_series_from(struct train_series_list *out,
                      const struct train_config *cfg, const char *symbols,
                      const char *timeframes) {
  struct train_series_list l = {0};
  struct coin_cfg_tf_list tfs =
      cfg->timeframes.n ? cfg->timeframes : cfg->core.ingest_timeframes;
  int rc = 0;
  if (timeframes) {
    char buf[256];
    memset(&tfs, 0, sizeof(tfs));
    snprintf(buf, sizeof(buf), "%s", timeframes);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t;
         t = strtok_r(NULL, ",", &save)) {
      enum coin_tf tf;
      if ((rc = coin_tf_parse(&tf, t)) != 0)
        return coin_error_wrap(rc, "--timeframes");
      for (size_t i = 0; i < tfs.n; i++)
        if (tfs.tfs[i] == tf)
          return coin_error_set(COIN_EINVAL, "--timeframes: %s listed twice",
                                t);
      if (tfs.n == COIN_TF_COUNT)
        return coin_error_set(COIN_EINVAL, "--timeframes: too many");
      tfs.tfs[tfs.n++] = tf;
    }
  }
  if (tfs.n == 0)
    return coin_error_set(COIN_EINVAL, "no timeframes to train on");
  if (symbols) {
    char *buf = strdup(symbols);
    if (!buf)
      return coin_error_set(COIN_ENOMEM, "out of memory");
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t && rc == 0;
         t = strtok_r(NULL, ",", &save))
      rc = split_add(&l, t, &tfs);
    free(buf);
    if (rc)
      rc = coin_error_wrap(rc, "--symbols");
  } else {
    const struct coin_cfg_str_list *syms =
        cfg->symbols.n ? &cfg->symbols : &cfg->core.symbols;
    for (size_t i = 0; i < syms->n && rc == 0; i++)
      rc = split_add(&l, syms->items[i], &tfs);
  }
  if (rc == 0 && l.n == 0)
    rc = coin_error_set(COIN_EINVAL, "no symbols to train on");
  if (rc) {
    train_series_free(&l);
    return rc;
  }
  *out = l;
  return 0;
}

/* ---- reading ------------------------------------------------------------- */

struct plan {
  int64_t upper_ms; /* newest open time read */
  int64_t rows;     /* labelled rows available (count - lookback) */
  bool skip;
};

struct read_ctx {
  struct coin_dataset *ds;
  struct coin_features_builder b;
  size_t series;
  int64_t cutoff_ms;
  struct train_load_info *info;
  int64_t last_open_ms;
};

static int on_candle(void *ud, const struct coin_candle *c) {
  struct read_ctx *r = ud;
  struct coin_feature_row row;
  double y;
  if (c->open_ms <= r->last_open_ms)
    return 0; /* windows do not overlap; be safe anyway */
  r->last_open_ms = c->open_ms;
  r->info->candles_read++;
  if (c->open_ms < r->info->from_ms)
    r->info->from_ms = c->open_ms;
  if (c->open_ms > r->info->to_ms)
    r->info->to_ms = c->open_ms;
  int rc = coin_features_builder_push(&r->b, &row, &y, c);
  if (rc < 0)
    return coin_error_wrap(rc, "SoT candle");
  if (rc == 0)
    return 0;
  if (coin_tf_next(r->b.tf, row.open_ms) < r->cutoff_ms)
    return 0;
  return coin_dataset_add(r->ds, &row, y, r->series);
}

static int64_t est_rows(const struct train_series_list *sl,
                        const struct plan *p, int64_t t) {
  int64_t sum = 0;
  for (size_t i = 0; i < sl->n; i++) {
    if (p[i].skip)
      continue;
    int64_t n =
        t > p[i].upper_ms ? 0 : coin_tf_count(sl->s[i].tf, t, p[i].upper_ms);
    sum += n < p[i].rows ? n : p[i].rows;
  }
  return sum;
}

static int watermark(int64_t *out, struct train_ctx *c, const char *symbol,
                     enum coin_tf tf) {
  char key[COIN_CODEC_SUBJECT_BYTES];
  struct coin_watermark w;
  int rc;
  if (!c->wm)
    return COIN_ENOTFOUND;
  if ((rc = coin_watermark_key(key, sizeof(key), COIN_WM_INGEST,
                               c->cfg->core.exchange, symbol, tf)) != 0)
    return rc;
  if ((rc = coin_watermark_read(&w, c->wm, key)) != 0)
    return rc; /* a bad value: the error names the key */
  if (w.revision == 0)
    return coin_error_set(COIN_ENOTFOUND, "KV %s/%s: no watermark yet",
                          COIN_KV_WATERMARKS, key);
  *out = w.ms;
  return 0;
}

int train_load(struct coin_dataset *out, struct train_load_info *info,
               struct train_ctx *c, const struct train_series_list *sl,
               size_t max_rows, int64_t from_ms, int64_t to_ms) {
  int rc = 0;
  struct coin_dataset ds = {0};
  struct train_load_info in;
  memset(&in, 0, sizeof(in));
  in.from_ms = INT64_MAX;
  in.to_ms = INT64_MIN;
  in.watermark_ms = INT64_MAX;
  in.max_rows = max_rows;
  const char *ex = c->cfg->core.exchange;
  struct plan *p = calloc(sl->n ? sl->n : 1, sizeof(*p));
  if (!p)
    return coin_error_set(COIN_ENOMEM, "out of memory");
  int64_t lo = INT64_MAX, hi = INT64_MIN;
  for (size_t i = 0; i < sl->n; i++) {
    const char *sym = sl->s[i].symbol, *tfn = coin_tf_name(sl->s[i].tf);
    int64_t upper;
    rc = watermark(&upper, c, sym, sl->s[i].tf);
    if (rc == COIN_ENOTFOUND) /* not ingested by coin-ingest: newest held */
      rc = coin_influx_last_time(&upper, c->ix, ex, sym, tfn);
    if (rc == COIN_ENOTFOUND) {
      p[i].skip = true;
      rc = 0;
      continue;
    }
    if (rc)
      goto out;
    if (upper > to_ms)
      upper = to_ms;
    int64_t count = 0;
    if ((rc = coin_influx_count(&count, c->ix, ex, sym, tfn, from_ms, upper)) !=
        0)
      goto out;
    if (count <= L) {
      p[i].skip = true;
      continue;
    }
    p[i].upper_ms = upper;
    p[i].rows = count - L;
    in.rows_available += (size_t)p[i].rows;
    in.series_with_data++;
    if (upper < in.watermark_ms)
      in.watermark_ms = upper;
    if (upper > hi)
      hi = upper;
    int64_t first = from_ms > COIN_TF_MIN_MS ? from_ms : COIN_TF_MIN_MS;
    if (first < lo)
      lo = first;
  }
  if (in.series_with_data == 0) {
    rc = coin_error_set(COIN_ENOTFOUND,
                        "no series has more than %d candles in the SoT "
                        "(rule: the lookback plus one target)",
                        L);
    goto out;
  }
  /* the budget: a cutoff so that at most max_rows rows are read */
  int64_t cutoff = from_ms;
  if (in.rows_available > max_rows) {
    int64_t a = lo, b = hi;
    /* smallest t with est_rows(t) <= max_rows */
    for (int it = 0; it < 80 && a < b; it++) {
      int64_t mid = a + (b - a) / 2;
      if (est_rows(sl, p, mid) <= (int64_t)max_rows)
        b = mid;
      else
        a = mid + 1;
    }
    cutoff = b;
  }
  in.cutoff_ms = cutoff;
  size_t want = in.rows_available < max_rows ? in.rows_available : max_rows;
  if ((rc = coin_dataset_reserve(&ds, want + want / 50 + 1024)) != 0)
    goto out;
  int64_t chunk = c->cfg->read_chunk_candles;
  for (size_t i = 0; i < sl->n; i++) {
    if (p[i].skip)
      continue;
    enum coin_tf tf = sl->s[i].tf;
    struct read_ctx r = {
        .ds = &ds, .cutoff_ms = cutoff, .info = &in, .last_open_ms = INT64_MIN};
    coin_features_builder_init(&r.b, tf);
    if ((rc = coin_dataset_series_index(&r.series, &ds, sl->s[i].symbol, tf)) !=
        0)
      goto out;
    /* start a lookback before the cutoff so the first row is complete */
    int64_t start = cutoff > from_ms ? coin_tf_floor(tf, cutoff) : from_ms;
    if (cutoff > from_ms)
      for (int k = 0; k < L + 1; k++)
        start = coin_tf_prev(tf, start);
    if (start < from_ms)
      start = from_ms;
    int64_t span = chunk * coin_tf_nominal_ms(tf);
    for (int64_t a = start; a <= p[i].upper_ms;) {
      int64_t b = a > p[i].upper_ms - span ? p[i].upper_ms : a + span - 1;
      in.reads++;
      rc = coin_influx_read_candles(c->ix, ex, sl->s[i].symbol,
                                    coin_tf_name(tf), a, b, on_candle, &r);
      if (rc) {
        coin_error_wrap(rc, "read %s %s", sl->s[i].symbol, coin_tf_name(tf));
        goto out;
      }
      if (b == p[i].upper_ms)
        break;
      a = b + 1;
    }
  }
  if ((rc = coin_dataset_sort(&ds)) != 0)
    goto out;
  if (ds.n > max_rows)
    coin_dataset_keep_newest(&ds, max_rows);
  in.rows_used = ds.n;
  in.rows_dropped = in.rows_available > ds.n && cutoff > from_ms
                        ? in.rows_available - ds.n
                        : 0;
  if (ds.n == 0) {
    rc = coin_error_set(COIN_ENOTFOUND, "no labelled rows in the SoT");
    goto out;
  }
  *out = ds;
  memset(&ds, 0, sizeof(ds));
  *info = in;
out:
  free(p);
  coin_dataset_free(&ds);
  return rc;
}
