/*
 * track.c: each series' public track record (track_record.json,
 * docs/static-site.md): the champion's predictions next to the realized
 * candles. Rows come from InfluxDB measurement "prediction" (role champion,
 * the records coin_serving writes) once per series, then from every new
 * prediction; a row is realized from the SoT candle in the series window,
 * else from the record's realized_return. The arithmetic is lib/track.h,
 * shared with the monitor. Runs on publish_run's thread only.
 */
#include "publish_int.h"

#include "coin/buf.h"
#include "coin/error.h"
#include "coin/log.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRACK_MAX_ROWS 8192
#define TRACK_KEEP_MS (30 * COIN_DAY_MS)

static long find(const struct pseries *s, int64_t target_ms) {
  size_t lo = 0, hi = s->n_track;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (s->track[mid].r.target_open_ms < target_ms)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < s->n_track && s->track[lo].r.target_open_ms == target_ms
             ? (long)lo
             : -(long)lo - 1;
}

/* Drops rows older than the newest minus 30 days, and beyond the cap. */
static void trim(struct pseries *s) {
  if (s->n_track == 0)
    return;
  int64_t keep_from = s->track[s->n_track - 1].r.target_open_ms - TRACK_KEEP_MS;
  size_t drop = 0;
  while (drop < s->n_track && s->track[drop].r.target_open_ms < keep_from)
    drop++;
  if (s->n_track - drop > TRACK_MAX_ROWS)
    drop = s->n_track - TRACK_MAX_ROWS;
  if (drop) {
    memmove(s->track, s->track + drop, (s->n_track - drop) * sizeof(*s->track));
    s->n_track -= drop;
  }
}

/* Adds or replaces the row of a prediction (champion values only). */
static int track_put(struct pseries *s, const struct ptrack *row) {
  long i = find(s, row->r.target_open_ms);
  if (i >= 0) {
    s->track[i] = *row; /* the newest prediction for that candle */
    return 0;
  }
  size_t at = (size_t)(-i - 1);
  int rc = coin_grow(&s->track, &s->cap_track, s->n_track + 1,
                     sizeof(*s->track), SIZE_MAX);
  if (rc)
    return coin_error_wrap(rc, "publish: track");
  memmove(s->track + at + 1, s->track + at,
          (s->n_track - at) * sizeof(*s->track));
  s->track[at] = *row;
  s->n_track++;
  trim(s);
  return 0;
}

static int load_into(struct pseries *s, const struct coin_influx_row *row) {
  const char *version = coin_influx_row_tag(row, "model_version");
  const struct coin_influx_value *t = coin_influx_row_get(row, "time");
  const struct coin_influx_value *pr =
      coin_influx_row_get(row, "predicted_return");
  const struct coin_influx_value *ic = coin_influx_row_get(row, "input_close");
  const struct coin_influx_value *rr =
      coin_influx_row_get(row, "realized_return");
  if (!t || !pr || !ic || t->type != COIN_INFLUX_INT ||
      pr->type != COIN_INFLUX_FLOAT || ic->type != COIN_INFLUX_FLOAT ||
      !(ic->v.f64 > 0))
    return 0; /* an incomplete record (e.g. only a realized part) */
  struct ptrack x;
  memset(&x, 0, sizeof(x));
  x.r.target_open_ms = t->v.i64;
  x.r.input_close = ic->v.f64;
  x.r.predicted_return = pr->v.f64;
  if (rr && rr->type == COIN_INFLUX_FLOAT && isfinite(rr->v.f64)) {
    x.r.realized = true;
    x.r.realized_close = ic->v.f64 * exp(rr->v.f64);
  }
  snprintf(x.version, sizeof(x.version), "%s", version ? version : "");
  return track_put(s, &x);
}

static int load_row(void *ud, const struct coin_influx_row *row) {
  return load_into(ud, row);
}

struct many_ctx {
  struct pseries **v; /* sorted by symbol */
  size_t n;
};

static int load_many_row(void *ud, const struct coin_influx_row *row) {
  struct many_ctx *m = ud;
  const char *symbol = coin_influx_row_tag(row, "symbol");
  size_t lo = 0, hi = m->n;
  while (symbol && lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(m->v[mid]->symbol, symbol);
    if (c == 0)
      return load_into(m->v[mid], row);
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return 0; /* a symbol we do not publish */
}

static const char *series_symbol(const void *v, size_t i) {
  return ((struct pseries *const *)v)[i]->symbol;
}

int track_load_many(struct publish *p, struct pseries **v, size_t n,
                    int64_t now_ms) {
  struct coin_jbuf q = {0};
  if (n == 0)
    return 0;
  /* tokens were validated: nothing to escape */
  coin_jbuf_printf(&q,
                   "SELECT predicted_return, input_close, realized_return "
                   "FROM prediction WHERE exchange='%s' AND timeframe='%s' "
                   "AND role='champion'",
                   v[0]->exchange, coin_tf_name(v[0]->tf));
  series_put_symbols(&q, "symbol", series_symbol, v, n);
  coin_jbuf_printf(&q, " AND time >= %lldms GROUP BY symbol, model_version",
                   (long long)(now_ms - TRACK_KEEP_MS));
  struct many_ctx m = {.v = v, .n = n};
  int rc = series_query(p, &q, load_many_row, &m);
  /* on an error the rows read so far stay (track_put keeps one per
   * target); each series reads its own at its first update */
  if (rc != 0)
    return coin_error_wrap(rc, "track records of %zu %s series", n,
                           coin_tf_name(v[0]->tf));
  for (size_t i = 0; i < n; i++)
    v[i]->track_loaded = true;
  return 0;
}

int track_load(struct publish *p, struct pseries *s, int64_t now_ms) {
  char q[768];
  if (s->track_loaded)
    return 0;
  /* tokens were validated: nothing to escape */
  snprintf(q, sizeof(q),
           "SELECT predicted_return, input_close, realized_return FROM "
           "prediction WHERE exchange='%s' AND symbol='%s' AND "
           "timeframe='%s' AND role='champion' AND time >= %lldms GROUP BY "
           "model_version",
           s->exchange, s->symbol, coin_tf_name(s->tf),
           (long long)(now_ms - TRACK_KEEP_MS));
  int rc = coin_influx_query(p->ix, q, load_row, s);
  if (rc == COIN_ENOTFOUND)
    rc = 0; /* nothing recorded yet */
  if (rc != 0) {
    atomic_fetch_add(&p->c.influx_errors, 1);
    return coin_error_wrap(rc, "track record of %s", s->dir);
  }
  s->track_loaded = true;
  return 0;
}

void track_note_prediction(struct pseries *s, const struct coin_prediction *pr,
                           bool had_values) {
  if (!had_values || s->n == 0 || pr->target_open_ms <= 0)
    return;
  struct ptrack x;
  memset(&x, 0, sizeof(x));
  x.r.target_open_ms = pr->target_open_ms;
  x.r.input_close = s->rows[s->n - 1].c.close;
  x.r.predicted_return = pr->predicted_return;
  snprintf(x.version, sizeof(x.version), "%s", pr->model_version);
  if (track_put(s, &x) != 0)
    COIN_LOG_WARN("track record row dropped", COIN_LOG_STR("series", s->dir),
                  COIN_LOG_STR("error", coin_error_last()));
}

/* Realizes rows whose target candle is in the window (the SoT's). */
static void realize(struct pseries *s) {
  for (size_t i = 0; i < s->n_track; i++) {
    struct ptrack *t = &s->track[i];
    long k = series_find_row(s, t->r.target_open_ms);
    if (k >= 0) {
      t->r.realized = true;
      t->r.realized_close = s->rows[k].c.close;
    }
  }
}

/* ---- champion_underperforming: the champion judged on its own rows ---- */

enum coin_track_verdict track_champion_judge(struct pseries *s,
                                             const char *version,
                                             int64_t now_ms, int64_t min_rows) {
  enum coin_track_verdict v = COIN_TRACK_TOO_FEW;
  int64_t from_ms = now_ms - 7 * COIN_DAY_MS; /* the "7d" window */
  realize(s);
  struct coin_track_row *rows = version && version[0] && s->n_track
                                    ? malloc(s->n_track * sizeof(*rows))
                                    : NULL;
  size_t n = 0;
  for (size_t i = 0; rows && i < s->n_track; i++)
    if (s->track[i].r.target_open_ms >= from_ms &&
        strcmp(s->track[i].version, version) == 0)
      rows[n++] = s->track[i].r;
  if (rows) {
    struct coin_track_window w;
    coin_track_window(&w, rows, n, from_ms);
    v = coin_track_judge(&w, min_rows);
  }
  free(rows);
  s->champ_verdict = v;
  snprintf(s->champ_version, sizeof(s->champ_version), "%s",
           version ? version : "");
  return v;
}

void track_champion_mark(struct pseries *s) {
  bool worse = s->champ_verdict == COIN_TRACK_WORSE &&
               s->pred.model_version[0] &&
               strcmp(s->champ_version, s->pred.model_version) == 0;
  if (worse)
    s->pred.degraded |= COIN_DEGRADED_CHAMPION_UNDERPERFORMING;
  else
    s->pred.degraded &= ~(unsigned)COIN_DEGRADED_CHAMPION_UNDERPERFORMING;
}

static void put_window(struct coin_jbuf *b, const char *name,
                       const struct pseries *s, int64_t from_ms) {
  struct coin_track_window w;
  /* rows are ptrack, not contiguous coin_track_row: copy the window */
  size_t first = 0;
  while (first < s->n_track && s->track[first].r.target_open_ms < from_ms)
    first++;
  size_t n = s->n_track - first;
  struct coin_track_row *v = n ? malloc(n * sizeof(*v)) : NULL;
  if (n && !v) {
    b->oom = true;
    return;
  }
  for (size_t i = 0; i < n; i++)
    v[i] = s->track[first + i].r;
  coin_track_window(&w, v, n, from_ms);
  free(v);
  coin_jbuf_putn(b, "{", 1);
  coin_jbuf_kstr(b, "window", name);
  coin_jbuf_kint(b, "from_ms", from_ms);
  coin_jbuf_kint(b, "n", w.n);
  coin_jbuf_knum(b, "mae", w.mae);
  coin_jbuf_knum(b, "persistence_mae", w.persistence_mae);
  coin_jbuf_knum(b, "mae_ratio", w.mae_ratio);
  coin_jbuf_kinterval(b, "mae_diff_ci95", w.diff_lo, w.diff_hi);
  coin_jbuf_kint(b, "directional_n", w.directional_n);
  coin_jbuf_kint(b, "hits", w.hits);
  coin_jbuf_knum(b, "hit_rate", w.hit_rate);
  coin_jbuf_kinterval(b, "hit_rate_ci95", w.hit_lo, w.hit_hi);
  coin_jbuf_trim_comma(b);
  coin_jbuf_putn(b, "},", 2);
}

void track_render(struct coin_jbuf *b, struct publish *p, struct pseries *s,
                  int64_t gen_ms, const struct coin_site_validity *v,
                  bool served) {
  realize(s);
  coin_jbuf_putn(b, "{", 1);
  coin_site_put_head(b, gen_ms);
  coin_site_put_ids(b, s->exchange, s->symbol, s->tf);
  coin_site_put_validity(b, v);
  coin_jbuf_kbool(b, "served", served);
  coin_jbuf_kstr(b, "units", "log_return");
  coin_jbuf_key(b, "rows");
  coin_jbuf_putn(b, "[", 1);
  size_t n_rows = (size_t)p->cfg->track_record_rows;
  size_t first = s->n_track > n_rows ? s->n_track - n_rows : 0;
  for (size_t i = first; i < s->n_track; i++) {
    const struct ptrack *t = &s->track[i];
    double ret, err, perr;
    int hit;
    bool ok = coin_track_row_errors(&t->r, &ret, &err, &perr, &hit);
    coin_jbuf_putn(b, "{", 1);
    coin_jbuf_kint(b, "target_open_ms", t->r.target_open_ms);
    coin_jbuf_ktime(b, "target_open", t->r.target_open_ms);
    coin_jbuf_kstr(b, "model_version", t->version[0] ? t->version : NULL);
    coin_jbuf_knum(b, "input_close", t->r.input_close);
    coin_jbuf_knum(b, "predicted_return", t->r.predicted_return);
    coin_jbuf_knum(b, "predicted_close",
                   t->r.input_close * exp(t->r.predicted_return));
    coin_jbuf_kstr(b, "direction", t->r.predicted_return > 0 ? "up" : "down");
    coin_jbuf_knum(b, "realized_close", ok ? t->r.realized_close : NAN);
    coin_jbuf_knum(b, "realized_return", ok ? ret : NAN);
    coin_jbuf_knum(b, "abs_error", ok ? err : NAN);
    coin_jbuf_knum(b, "persistence_abs_error", ok ? perr : NAN);
    coin_jbuf_key(b, "hit");
    coin_jbuf_puts(b, !ok || hit < 0 ? "null," : hit ? "true," : "false,");
    coin_jbuf_trim_comma(b);
    coin_jbuf_putn(b, "},", 2);
  }
  coin_jbuf_trim_comma(b);
  coin_jbuf_putn(b, "],", 2);
  coin_jbuf_key(b, "windows");
  coin_jbuf_putn(b, "[", 1);
  put_window(b, "24h", s, gen_ms - COIN_DAY_MS);
  put_window(b, "7d", s, gen_ms - 7 * COIN_DAY_MS);
  put_window(b, "30d", s, gen_ms - 30 * COIN_DAY_MS);
  coin_jbuf_trim_comma(b);
  coin_jbuf_putn(b, "]}\n", 3);
}
