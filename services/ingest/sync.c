/*
 * sync.c: bringing one symbol+timeframe up to date, in the order that makes
 * a crash at any instruction harmless: (1) write the page's closed, valid
 * candles to InfluxDB, (2) advance the ingest watermark by KV compare-and-set,
 * (3) publish the CandleBatch with its Nats-Msg-Id. Then gap detection over a
 * window behind the watermark, with known (unfillable) gaps re-checked on a
 * backoff instead of every cycle. Runs on a worker thread that has claimed
 * the series; touches only that series and atomics.
 */
#include "ingest_int.h"

#include "coin/buf.h"
#include "coin/clock.h"
#include "coin/error.h"
#include "coin/log.h"
#include "coin/watermark.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GAP_BACKOFF_MAX_MS (7 * COIN_DAY_MS)

static const char *tfn(const struct series *s) {
  return coin_tf_name(s->tf);
}

/* ---- watermark (KV coin_watermarks, value = decimal open time ms) ------- */

/* The contract (key, value, CAS) is coin/watermark.h's. */

/* A stored value that is not a watermark: counted, said once per load, and
 * rebuilt: the series is filled again from the start (the writes are
 * idempotent) and the value replaced by CAS on its revision. */
static void bad_watermark(struct ingest *in, const struct series *s) {
  atomic_fetch_add(&in->c.watermark_bad_values, 1);
  COIN_LOG_ERROR("ingest watermark undecodable: the series is filled again "
                 "and the value replaced",
                 COIN_LOG_STR("key", s->wm_key),
                 COIN_LOG_STR("error", coin_error_last()));
}

static int load_watermark(struct ingest *in, struct series *s) {
  struct coin_watermark w;
  int rc = coin_watermark_read(&w, in->kv_wm, s->wm_key);
  if (rc == COIN_EDECODE)
    bad_watermark(in, s); /* one bad record never stops the series */
  else if (rc != 0)
    return rc;
  /* A number after the current candle is as bad: the series would count as
   * synced far ahead and never advance again (no candle opens there). One
   * candle of slack for a wall clock behind the exchange's. */
  int64_t now = coin_now_ms();
  if (rc == 0 && w.ms > coin_tf_next(s->tf, coin_tf_floor(s->tf, now))) {
    atomic_fetch_add(&in->c.watermark_bad_values, 1);
    COIN_LOG_ERROR("ingest watermark after the current candle: the series is "
                   "filled again and the value replaced",
                   COIN_LOG_STR("key", s->wm_key), COIN_LOG_INT("value", w.ms),
                   COIN_LOG_INT("now_ms", now));
    w.ms = -1;
  }
  s->watermark_ms = w.ms;
  s->wm_revision = w.revision;
  s->wm_loaded = true;
  return 0;
}

/* CAS the watermark forward to wm; on a conflict, re-read: another writer
 * (a second replica) may already be further. */
static int advance_watermark(struct ingest *in, struct series *s, int64_t wm) {
  struct coin_watermark w = {.ms = s->watermark_ms, .revision = s->wm_revision};
  struct coin_watermark_write out;
  int64_t mine = s->watermark_ms;
  int rc =
      coin_watermark_advance(&w, in->kv_wm, s->wm_key, wm, NULL, NULL, &out);
  if (out.conflicts) {
    atomic_fetch_add(&in->c.watermark_conflicts, out.conflicts);
    COIN_LOG_WARN("watermark changed under us",
                  COIN_LOG_STR("symbol", s->symbol),
                  COIN_LOG_STR("timeframe", tfn(s)), COIN_LOG_INT("ours", mine),
                  COIN_LOG_INT("theirs", out.theirs));
  }
  if (out.bad_seen)
    bad_watermark(in, s);
  if (rc != 0)
    return rc;
  s->watermark_ms = w.ms; /* ours, or a further one someone else wrote */
  s->wm_revision = w.revision;
  if (out.written)
    atomic_fetch_add(&in->c.watermark_advances, 1);
  return 0;
}

/* ---- known gaps (KV coin_ingest, JSON) ---------------------------------- */

int ingest_gaps_decode(struct known_gap **gaps, size_t *n, size_t *n_skipped,
                       const char *text, size_t len) {
  json_error_t je;
  json_t *j = json_loadb(text, len, 0, &je);
  json_t *arr = j ? json_object_get(j, "gaps") : NULL;
  int rc = 0;
  *n = 0;
  *n_skipped = 0;
  if (j == NULL) {
    rc = coin_error_set(COIN_EDECODE, "known gaps: not JSON (%s at byte %d)",
                        je.text, je.position);
    goto out;
  }
  if (!json_is_array(arr)) {
    rc = coin_error_set(COIN_EDECODE, "known gaps: \"gaps\" is not an array");
    goto out;
  }
  size_t m = json_array_size(arr);
  if (m > INGEST_MAX_KNOWN_GAPS) {
    *n_skipped = m - INGEST_MAX_KNOWN_GAPS;
    m = INGEST_MAX_KNOWN_GAPS;
  }
  struct known_gap *g = realloc(*gaps, (m ? m : 1) * sizeof(*g));
  if (g == NULL) {
    rc = coin_error_set(COIN_ENOMEM, "known gaps: out of memory");
    goto out;
  }
  *gaps = g;
  for (size_t i = 0; i < m; i++) {
    json_t *o = json_array_get(arr, i);
    struct known_gap k = {0};
    json_int_t from = 0, to = 0, checked = 0, next = 0;
    int attempts = 0, invalid = 0;
    if (json_unpack(o, "{s:I, s:I, s:I, s:I, s:i, s?b}", "from_ms", &from,
                    "to_ms", &to, "checked_ms", &checked, "next_check_ms",
                    &next, "attempts", &attempts, "invalid", &invalid) != 0 ||
        from < 0 || to < from || checked < 0 || next < 0 || attempts < 0) {
      (*n_skipped)++; /* not a range this service could have written */
      continue;
    }
    k.from_ms = from;
    k.to_ms = to;
    k.checked_ms = checked;
    k.next_check_ms = next;
    k.attempts = attempts;
    k.invalid = invalid;
    g[(*n)++] = k;
  }
out:
  json_decref(j);
  return rc;
}

static int load_gaps(struct ingest *in, struct series *s) {
  struct coin_bus_kv_entry e = {0};
  int rc = coin_bus_kv_get(&e, in->kv_state, s->gaps_key);
  s->n_gaps = 0;
  if (rc == COIN_ENOTFOUND) {
    s->gaps_revision = 0;
    s->gaps_loaded = true;
    return 0;
  }
  if (rc != 0)
    return rc;
  size_t n = 0, skipped = 0;
  if (ingest_gaps_decode(&s->gaps, &n, &skipped, (const char *)e.value,
                         e.value_len) == 0) {
    s->n_gaps = n;
    if (skipped > 0) {
      atomic_fetch_add(&in->c.gaps_bad_values, 1);
      COIN_LOG_WARN("known gaps: unreadable entries ignored",
                    COIN_LOG_STR("key", s->gaps_key),
                    COIN_LOG_UINT("ignored", skipped),
                    COIN_LOG_UINT("kept", n));
    }
  } else {
    atomic_fetch_add(&in->c.gaps_bad_values, 1);
    COIN_LOG_WARN("known gaps unreadable, starting afresh",
                  COIN_LOG_STR("key", s->gaps_key),
                  COIN_LOG_STR("why", coin_error_last()));
  }
  s->gaps_revision = e.revision;
  s->gaps_loaded = true;
  coin_bus_kv_entry_clear(&e);
  return 0;
}

static int save_gaps(struct ingest *in, struct series *s) {
  json_t *arr = json_array();
  for (size_t i = 0; i < s->n_gaps; i++) {
    const struct known_gap *g = &s->gaps[i];
    json_array_append_new(
        arr, json_pack("{s:I, s:I, s:I, s:I, s:i, s:b}", "from_ms",
                       (json_int_t)g->from_ms, "to_ms", (json_int_t)g->to_ms,
                       "checked_ms", (json_int_t)g->checked_ms, "next_check_ms",
                       (json_int_t)g->next_check_ms, "attempts", g->attempts,
                       "invalid", g->invalid));
  }
  json_t *j = json_pack("{s:o}", "gaps", arr);
  char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  if (!text)
    return coin_error_set(COIN_ENOMEM, "known gaps: out of memory");
  int rc = coin_bus_kv_put(&s->gaps_revision, in->kv_state, s->gaps_key, text,
                           strlen(text));
  free(text);
  if (rc == 0)
    s->gaps_dirty = false;
  return rc;
}

static struct known_gap *find_gap(struct series *s, int64_t from, int64_t to) {
  for (size_t i = 0; i < s->n_gaps; i++)
    if (s->gaps[i].from_ms == from && s->gaps[i].to_ms == to)
      return &s->gaps[i];
  return NULL;
}

/* Is open time t inside a known gap that is not due for a re-check? */
static bool in_quiet_gap(const struct series *s, int64_t t, int64_t now) {
  for (size_t i = 0; i < s->n_gaps; i++)
    if (t >= s->gaps[i].from_ms && t <= s->gaps[i].to_ms &&
        s->gaps[i].next_check_ms > now)
      return true;
  return false;
}

static void remove_gap(struct series *s, struct known_gap *g) {
  size_t i = (size_t)(g - s->gaps);
  memmove(&s->gaps[i], &s->gaps[i + 1], (s->n_gaps - i - 1) * sizeof(*g));
  s->n_gaps--;
  s->gaps_dirty = true;
}

static void record_gap(struct ingest *in, struct series *s, int64_t from,
                       int64_t to, bool invalid, int64_t now) {
  struct known_gap *g = find_gap(s, from, to);
  if (!g) {
    if (s->n_gaps >= INGEST_MAX_KNOWN_GAPS)
      return; /* beyond the cap it is re-detected: safe, only costlier */
    struct known_gap *ng = realloc(s->gaps, (s->n_gaps + 1) * sizeof(*ng));
    if (!ng)
      return;
    s->gaps = ng;
    g = &s->gaps[s->n_gaps++];
    memset(g, 0, sizeof(*g));
    g->from_ms = from;
    g->to_ms = to;
    atomic_fetch_add(&in->c.gaps_found, 1);
    COIN_LOG_INFO("known gap recorded", COIN_LOG_STR("symbol", s->symbol),
                  COIN_LOG_STR("timeframe", tfn(s)),
                  COIN_LOG_TIME("from", from), COIN_LOG_TIME("to", to),
                  COIN_LOG_BOOL("invalid", invalid));
  }
  /* a hole left by an invalid row is usually transient: looked at again
   * within minutes (doubling up to the known-gap delay), the exchange's
   * own holes after INGEST_GAP_RECHECK_SECONDS */
  int64_t known = in->cfg->gap_recheck_seconds * 1000;
  int64_t delay = invalid ? in->cfg->invalid_recheck_seconds * 1000 : known;
  for (int i = 0; i < g->attempts && delay < GAP_BACKOFF_MAX_MS; i++) {
    int64_t next = delay * 2;
    if (invalid && delay < known && next > known)
      next = known; /* from the short retries to the known-gap schedule */
    delay = next;
  }
  if (delay > GAP_BACKOFF_MAX_MS)
    delay = GAP_BACKOFF_MAX_MS;
  g->attempts++;
  g->checked_ms = now;
  g->next_check_ms = now + delay;
  g->invalid = invalid;
  s->gaps_dirty = true;
}

/* ---- fetching a range: the page pipeline -------------------------------- */

struct fetch_ctx {
  struct worker *w;
  struct series *s;
  int64_t now_ms;
  int64_t last_closed_ms;
  int64_t range_from_ms;
  bool forward; /* advancing the watermark (not a gap repair) */
  enum coin_batch_kind kind;
  int64_t expect_ms;         /* next open time we expect to see in this range */
  int64_t stored;            /* valid candles written */
  struct coin_candle *valid; /* collected, not yet stored */
  size_t n_valid;
  size_t valid_cap;
  int64_t seen; /* rows of the range seen so far */
  void (*progress)(void *ud, int64_t seen);
  void *progress_ud;
};

/* Candles per store step (write, CAS, publish): pages are collected up to
 * this, so InfluxDB sees large writes and the bus fewer, larger batches. */
#define STORE_BATCH_CANDLES 5000

static void log_progress(struct ingest *in, struct series *s, bool final) {
  int64_t now = coin_now_ms();
  if (!final && now - s->bf_last_log_ms < in->cfg->backfill_log_seconds * 1000)
    return;
  s->bf_last_log_ms = now;
  double secs = (double)(now - s->bf_started_ms) / 1000.0;
  COIN_LOG_INFO(
      final ? "backfill done" : "backfill progress",
      COIN_LOG_STR("symbol", s->symbol), COIN_LOG_STR("timeframe", tfn(s)),
      COIN_LOG_INT("done", s->bf_done), COIN_LOG_INT("total", s->bf_total),
      COIN_LOG_INT("candles", s->bf_candles),
      COIN_LOG_DBL("candles_per_second",
                   secs > 0 ? (double)s->bf_candles / secs : 0.0));
}

static int publish_batch(struct ingest *in, struct series *s,
                         const struct coin_candle *c, size_t n,
                         enum coin_batch_kind kind) {
  struct coin_candle_batch b = {.tf = s->tf,
                                .kind = kind,
                                .candles = (struct coin_candle *)c,
                                .n_candles = n,
                                .ingest_watermark_ms = s->watermark_ms,
                                .produced_at_ms = coin_now_ms()};
  snprintf(b.exchange, sizeof(b.exchange), "%s", in->cfg->core.exchange);
  snprintf(b.symbol, sizeof(b.symbol), "%s", s->symbol);
  snprintf(b.producer_id, sizeof(b.producer_id), "%s", in->producer_id);
  char msg_id[COIN_CODEC_MSG_ID_BYTES];
  uint8_t *data = NULL;
  size_t len = 0;
  int rc = coin_codec_msg_id(msg_id, sizeof(msg_id), &b);
  if (rc == 0)
    rc = coin_codec_pack_batch(&data, &len, &b);
  if (rc == 0)
    rc = coin_bus_js_publish(NULL, in->bus, s->subject, msg_id, data, len);
  free(data);
  if (rc == 0)
    atomic_fetch_add(&in->c.batches_published, 1);
  else
    atomic_fetch_add(&in->c.publish_errors, 1);
  return rc;
}

/* Stores the collected candles: (1) InfluxDB, (2) watermark CAS, (3) the
 * batch. If NATS is down the SoT keeps filling; the next successful CAS
 * covers it and publish reconciles from InfluxDB. */
static int store(struct fetch_ctx *f) {
  struct ingest *in = f->w->in;
  struct series *s = f->s;
  size_t nv = f->n_valid;
  if (nv == 0)
    return 0;
  f->n_valid = 0;
  int rc = coin_influx_write_candles(f->w->ix, in->cfg->core.exchange,
                                     s->symbol, tfn(s), f->valid, nv);
  atomic_store(&in->influx_failing, rc != 0);
  if (rc != 0) {
    atomic_fetch_add(&in->c.influx_errors, 1);
    return rc; /* nothing advances, nothing is published */
  }
  atomic_fetch_add(&in->c.candles_written, nv);
  f->stored += (int64_t)nv;

  int64_t last = f->valid[nv - 1].open_ms;
  if (f->forward)
    s->stored_ms = last;
  bool advanced = !f->forward;
  if (f->forward && last > s->watermark_ms) {
    /* Without a connection the KV request would only wait for its timeout:
     * keep filling the SoT and let a later cycle advance the watermark. */
    rc = coin_bus_connected(in->bus)
             ? advance_watermark(in, s, last)
             : coin_error_set(COIN_EUNAVAIL, "NATS disconnected");
    if (rc == 0) {
      advanced = true;
    } else {
      atomic_fetch_add(&in->c.watermark_errors, 1);
      COIN_LOG_WARN("watermark not advanced", COIN_LOG_STR("symbol", s->symbol),
                    COIN_LOG_STR("timeframe", tfn(s)), COIN_LOG_RC(rc));
      s->retry = true;
    }
  }
  if (advanced) {
    enum coin_batch_kind kind = f->kind;
    if (f->forward && last >= f->last_closed_ms)
      kind = COIN_BATCH_LIVE;
    rc = publish_batch(in, s, f->valid, nv, kind);
    if (rc != 0)
      COIN_LOG_WARN("batch not published (publish will reconcile)",
                    COIN_LOG_STR("symbol", s->symbol),
                    COIN_LOG_STR("timeframe", tfn(s)), COIN_LOG_RC(rc));
  }
  if (f->forward) {
    /* slots of the range covered (holes included), and candles stored */
    s->bf_done = coin_tf_count(s->tf, s->bf_from_ms, last);
    s->bf_candles += (int64_t)nv;
    if (s->bf_total > 1000)
      log_progress(in, s, false);
  }
  return 0;
}

/* Filters one page (page_filter_row): closed, in range, valid; holes become
 * known gaps. */
static int on_page(void *ud, const struct coin_candle *rows,
                   const int64_t *close_ms, size_t n) {
  struct fetch_ctx *f = ud;
  struct ingest *in = f->w->in;
  struct series *s = f->s;

  if (f->n_valid + n > f->valid_cap) {
    size_t cap = f->n_valid + n > STORE_BATCH_CANDLES ? f->n_valid + n
                                                      : STORE_BATCH_CANDLES;
    struct coin_candle *v = realloc(f->valid, cap * sizeof(*v));
    if (!v)
      return coin_error_set(COIN_ENOMEM, "ingest: out of memory");
    f->valid = v;
    f->valid_cap = cap;
  }
  for (size_t i = 0; i < n; i++) {
    struct page_hole hole;
    switch (page_filter_row(&hole, &f->expect_ms, rows, close_ms, i, s->tf,
                            f->last_closed_ms)) {
    case PAGE_OPEN: /* never stored */
      atomic_fetch_add(&in->c.open_candles_skipped, 1);
      continue;
    case PAGE_BEFORE: continue;
    case PAGE_INVALID:
      atomic_fetch_add(&in->c.candles_invalid, 1);
      COIN_LOG_WARN("invalid candle rejected",
                    COIN_LOG_STR("symbol", s->symbol),
                    COIN_LOG_STR("timeframe", tfn(s)),
                    COIN_LOG_TIME("open", rows[i].open_ms),
                    COIN_LOG_STR("rule", coin_error_last()));
      continue;
    case PAGE_KEEP: break;
    }
    /* Remember a hole so it is not re-fetched every cycle. */
    if (hole.found)
      record_gap(in, s, hole.from_ms, hole.to_ms, hole.invalid, f->now_ms);
    f->valid[f->n_valid++] = rows[i];
  }
  f->seen += (int64_t)n;
  if (f->n_valid >= STORE_BATCH_CANDLES) {
    int rc = store(f);
    if (rc != 0)
      return rc;
  }
  if (f->progress)
    f->progress(f->progress_ud, f->seen);
  if (f->w->deadline_ms && coin_now_ms() >= f->w->deadline_ms)
    f->w->deadline_hit = true; /* the rest in the next slice */
  /* stop between pages, never inside one */
  return in->stop || f->w->deadline_hit ? 1 : 0;
}

static int fetch_with(struct fetch_ctx *fc, int64_t from, int64_t to,
                      int64_t *out_stored);

/* progress (may be NULL) hears the rows of the range seen so far. */
static int fetch_reporting(struct worker *w, struct series *s, int64_t from,
                           int64_t to, int64_t now, int64_t last_closed,
                           bool forward, enum coin_batch_kind kind,
                           void (*progress)(void *ud, int64_t seen),
                           void *progress_ud, int64_t *out_stored) {
  struct fetch_ctx f = {.w = w,
                        .s = s,
                        .now_ms = now,
                        .last_closed_ms = last_closed,
                        .range_from_ms = from,
                        .forward = forward,
                        .kind = kind,
                        .progress = progress,
                        .progress_ud = progress_ud};
  return fetch_with(&f, from, to, out_stored);
}

static int fetch(struct worker *w, struct series *s, int64_t from, int64_t to,
                 int64_t now, int64_t last_closed, bool forward,
                 enum coin_batch_kind kind, int64_t *out_stored) {
  return fetch_reporting(w, s, from, to, now, last_closed, forward, kind, NULL,
                         NULL, out_stored);
}

/* Fetches [from, to] through the page pipeline set up in fc. */
static int fetch_with(struct fetch_ctx *fc, int64_t from, int64_t to,
                      int64_t *out_stored) {
  struct fetch_ctx f = *fc;
  struct worker *w = f.w;
  struct series *s = f.s;
  int64_t now = f.now_ms, last_closed = f.last_closed_ms;
  bool forward = f.forward;
  f.expect_ms = from;
  int rc =
      coin_exchange_fetch_range(w->ex, s->symbol, s->tf, from, to, on_page, &f);
  if (rc > 0) /* stopped between pages: by the deadline, the rest is left */
    rc = w->deadline_hit ? coin_error_set(COIN_ETIMEOUT, "sync sliced") : 0;
  /* What was collected is closed and valid: store it even when the
   * exchange failed later in the range. */
  int src = store(&f);
  if (rc == 0)
    rc = src;
  if (rc == 0 && !w->in->stop && f.expect_ms <= to && to <= last_closed &&
      !forward) {
    /* Nothing (valid) at the end of a repair range: a known gap. */
    record_gap(w->in, s, f.expect_ms, to, false, now);
  }
  free(f.valid);
  if (out_stored)
    *out_stored = f.stored;
  return rc;
}

/* ---- the series' start and the detection gate -------------------------- */

static int series_start(struct worker *w, struct series *s, int64_t now) {
  const struct ingest_config *cfg = w->in->cfg;
  if (s->start_ms != INT64_MIN)
    return 0;
  int64_t start;
  if (s->full_fill) {
    if (s->first_open_ms < 0) {
      int rc =
          coin_exchange_first_open(w->ex, s->symbol, s->tf, &s->first_open_ms);
      if (rc != 0)
        return rc;
    }
    start = s->first_open_ms;
  } else {
    int64_t days = cfg->lookback_days;
    if (s->tf == COIN_TF_1M && days > cfg->retention_1m_days)
      days = cfg->retention_1m_days;
    /* One candle inside the retention window, or InfluxDB rejects it. */
    start = coin_tf_next(s->tf, now - days * COIN_DAY_MS);
    int64_t floor = ingest_retention_floor(s->tf, now, cfg->retention_1m_days);
    if (start < floor)
      start = floor;
  }
  s->start_ms = start;
  return 0;
}

bool sync_due(const struct ingest *in, const struct series *s, int64_t now) {
  (void)in;
  if (s->retry || !s->wm_loaded || !s->gaps_loaded)
    return true;
  if (s->watermark_ms < coin_tf_last_closed(s->tf, now))
    return true;
  if (s->next_gap_scan_ms <= now)
    return true;
  for (size_t i = 0; i < s->n_gaps; i++)
    if (s->gaps[i].next_check_ms <= now)
      return true;
  return false;
}

static int sync_load_state(struct ingest *in, struct series *s) {
  int rc = 0;
  if (!s->wm_loaded && (rc = load_watermark(in, s)) != 0)
    return rc;
  if (!s->gaps_loaded && (rc = load_gaps(in, s)) != 0)
    return rc;
  return 0;
}

/* ---- gap detection over the SoT ---------------------------------------- */

struct scan_ctx {
  const struct series *s;
  struct coin_tf_iter it;
  int64_t expect; /* next expected open time, INT64_MAX when done */
  int64_t now;
  /* missing ranges found */
  int64_t (*ranges)[2];
  size_t n_ranges;
  size_t cap_ranges;
  int64_t run_from; /* current run of missing times, -1 = none */
  int64_t run_to;
};

static void scan_flush_run(struct scan_ctx *sc) {
  if (sc->run_from < 0)
    return;
  if (coin_grow(&sc->ranges, &sc->cap_ranges, sc->n_ranges + 1,
                sizeof(*sc->ranges), SIZE_MAX) != 0) {
    sc->run_from = -1;
    return;
  }
  sc->ranges[sc->n_ranges][0] = sc->run_from;
  sc->ranges[sc->n_ranges][1] = sc->run_to;
  sc->n_ranges++;
  sc->run_from = -1;
}

/* Expected times before `upto` (exclusive) are missing. */
static void scan_missing_until(struct scan_ctx *sc, int64_t upto) {
  while (sc->expect != INT64_MAX && sc->expect < upto) {
    if (in_quiet_gap(sc->s, sc->expect, sc->now)) {
      scan_flush_run(sc);
    } else {
      if (sc->run_from < 0)
        sc->run_from = sc->expect;
      sc->run_to = sc->expect;
    }
    int64_t t;
    sc->expect = coin_tf_iter_next(&sc->it, &t) ? t : INT64_MAX;
  }
}

static int scan_cb(void *ud, const struct coin_candle *c) {
  struct scan_ctx *sc = ud;
  scan_missing_until(sc, c->open_ms);
  if (sc->expect == c->open_ms) {
    scan_flush_run(sc);
    int64_t t;
    sc->expect = coin_tf_iter_next(&sc->it, &t) ? t : INT64_MAX;
  }
  return 0;
}

static int scan_gaps(struct worker *w, struct series *s, int64_t now) {
  struct ingest *in = w->in;
  if (s->watermark_ms < 0)
    return 0;
  int64_t to = s->watermark_ms;
  int64_t from = s->start_ms;
  if (s->full_scan_done) {
    /* The window: INGEST_GAP_WINDOW_CANDLES back from the watermark. */
    int64_t back = to;
    for (int64_t i = 1; i < in->cfg->gap_window_candles && back > from; i++)
      back = coin_tf_prev(s->tf, back);
    from = back > from ? back : from;
  }
  /* Never look before the 1m retention window. */
  int64_t oldest =
      ingest_retention_floor(s->tf, now, in->cfg->retention_1m_days);
  if (from < oldest)
    from = oldest;
  if (from > to)
    return 0;

  /* Cheap check first: is the count what the calendar expects? */
  int64_t have = 0;
  int rc = coin_influx_count(&have, w->ix, in->cfg->core.exchange, s->symbol,
                             tfn(s), from, to);
  if (rc != 0) {
    atomic_fetch_add(&in->c.influx_errors, 1);
    return rc;
  }
  int64_t expected = coin_tf_count(s->tf, from, to);
  int64_t known = 0;
  for (size_t i = 0; i < s->n_gaps; i++) {
    int64_t a = s->gaps[i].from_ms > from ? s->gaps[i].from_ms : from;
    int64_t b = s->gaps[i].to_ms < to ? s->gaps[i].to_ms : to;
    if (a <= b && s->gaps[i].next_check_ms > now)
      known += coin_tf_count(s->tf, a, b);
  }
  if (have + known >= expected)
    return 0;

  struct scan_ctx sc = {.s = s, .now = now, .run_from = -1};
  coin_tf_iter_init(&sc.it, s->tf, from, to);
  int64_t t;
  sc.expect = coin_tf_iter_next(&sc.it, &t) ? t : INT64_MAX;
  rc = coin_influx_read_candles(w->ix, in->cfg->core.exchange, s->symbol,
                                tfn(s), from, to, scan_cb, &sc);
  if (rc != 0) {
    atomic_fetch_add(&in->c.influx_errors, 1);
    free(sc.ranges);
    return rc;
  }
  scan_missing_until(&sc, INT64_MAX);
  scan_flush_run(&sc);

  for (size_t i = 0; i < sc.n_ranges && !in->stop; i++) {
    int64_t a = sc.ranges[i][0], b = sc.ranges[i][1];
    int64_t stored = 0;
    COIN_LOG_INFO("gap detected, backfilling",
                  COIN_LOG_STR("symbol", s->symbol),
                  COIN_LOG_STR("timeframe", tfn(s)), COIN_LOG_TIME("from", a),
                  COIN_LOG_TIME("to", b));
    rc = fetch(w, s, a, b, now, coin_tf_last_closed(s->tf, now), false,
               COIN_BATCH_BACKFILL, &stored);
    if (rc != 0)
      break;
    if (stored > 0)
      atomic_fetch_add(&in->c.gaps_filled, 1);
  }
  free(sc.ranges);
  return rc;
}

/* Known gaps whose re-check time has come: ask the exchange once more. A
 * range that still has nothing is re-recorded by fetch() with a longer
 * backoff; one that got candles is replaced by what is still missing. */
static int recheck_gaps(struct worker *w, struct series *s, int64_t now) {
  size_t n_due = 0;
  for (size_t i = 0; i < s->n_gaps; i++)
    n_due += s->gaps[i].next_check_ms <= now;
  if (n_due == 0)
    return 0;
  struct known_gap *due = malloc(n_due * sizeof(*due));
  if (!due)
    return coin_error_set(COIN_ENOMEM, "ingest: out of memory");
  n_due = 0;
  for (size_t i = 0; i < s->n_gaps; i++)
    if (s->gaps[i].next_check_ms <= now)
      due[n_due++] = s->gaps[i];
  int rc = 0;
  for (size_t i = 0; i < n_due && !w->in->stop; i++) {
    atomic_fetch_add(&w->in->c.gap_rechecks, 1);
    int64_t stored = 0;
    rc = fetch(w, s, due[i].from_ms, due[i].to_ms, now,
               coin_tf_last_closed(s->tf, now), false, COIN_BATCH_BACKFILL,
               &stored);
    if (rc != 0)
      break;
    struct known_gap *same = find_gap(s, due[i].from_ms, due[i].to_ms);
    if (stored > 0) {
      if (same)
        remove_gap(s, same);
      atomic_fetch_add(&w->in->c.gaps_filled, 1);
    } else if (same && same->checked_ms != now) {
      record_gap(w->in, s, due[i].from_ms, due[i].to_ms, due[i].invalid, now);
    }
  }
  free(due);
  return rc;
}

/* ---- one series, one cycle --------------------------------------------- */

int sync_series(struct worker *w, struct series *s, int64_t now) {
  struct ingest *in = w->in;
  int rc = sync_load_state(in, s);
  if (rc != 0)
    goto out;
  s->retry = false;
  rc = series_start(w, s, now);
  if (rc != 0)
    goto out;

  int64_t last_closed = coin_tf_last_closed(s->tf, now);
  if (s->stored_ms > s->watermark_ms && coin_bus_connected(in->bus)) {
    /* The SoT was filled while NATS was away: cover it now. Its batches
     * were never published; coin-publish reconciles them from InfluxDB. */
    rc = advance_watermark(in, s, s->stored_ms);
    if (rc != 0)
      goto out;
  }
  if (s->watermark_ms < last_closed) {
    int64_t done =
        s->stored_ms > s->watermark_ms ? s->stored_ms : s->watermark_ms;
    int64_t from = done >= 0 ? coin_tf_next(s->tf, done) : s->start_ms;
    if (from < s->start_ms)
      from = s->start_ms;
    if (s->bf_from_ms < 0 || s->bf_from_ms > from) { /* else: a next slice */
      s->bf_from_ms = from;
      s->bf_candles = 0;
      s->bf_started_ms = s->bf_last_log_ms = coin_now_ms();
    }
    s->bf_total = coin_tf_count(s->tf, s->bf_from_ms, last_closed);
    s->bf_done = coin_tf_count(s->tf, s->bf_from_ms, coin_tf_prev(s->tf, from));
    enum coin_batch_kind kind =
        s->bf_total > 2 ? COIN_BATCH_BACKFILL : COIN_BATCH_LIVE;
    rc = fetch(w, s, from, last_closed, now, last_closed, true, kind, NULL);
    bool ended = rc == 0 && !w->deadline_hit;
    if (ended)
      s->bf_done = s->bf_total; /* the rest of the range had no candles */
    if (s->bf_total > 1000)
      log_progress(in, s, ended);
    if (ended)
      s->bf_from_ms = -1;
    if (rc != 0)
      goto out;
  }
  if (!in->stop && s->next_gap_scan_ms <= now) {
    rc = scan_gaps(w, s, now);
    if (rc != 0)
      goto out;
    s->full_scan_done = true;
    s->next_gap_scan_ms = coin_tf_next(s->tf, now);
  }
  if (!in->stop)
    rc = recheck_gaps(w, s, now);
out:
  if (s->gaps_dirty) {
    int src = save_gaps(in, s);
    if (src != 0)
      COIN_LOG_WARN("known gaps not saved", COIN_LOG_STR("symbol", s->symbol),
                    COIN_LOG_STR("timeframe", tfn(s)), COIN_LOG_RC(src));
  }
  if (rc == COIN_ETIMEOUT && w->deadline_hit)
    rc = 0; /* a slice of a long fill, not an error: retry is set below */
  if (rc != 0 || in->stop || w->deadline_hit || s->stored_ms > s->watermark_ms)
    s->retry = true;
  if (rc != 0) {
    if (rc == COIN_EREJECTED || rc == COIN_EUNAVAIL || rc == COIN_ETIMEOUT ||
        rc == COIN_ERATELIMIT || rc == COIN_EDECODE || rc == COIN_ENOTFOUND ||
        rc == COIN_ETOOBIG) /* an answer over the body cap */
      atomic_fetch_add(&in->c.exchange_errors, 1);
  }
  return rc;
}

int64_t ingest_retention_floor(enum coin_tf tf, int64_t now_ms,
                               int64_t retention_days) {
  if (tf != COIN_TF_1M)
    return INT64_MIN;
  return coin_tf_next(tf,
                      now_ms - retention_days * COIN_DAY_MS + COIN_MINUTE_MS);
}

int sync_refill(struct worker *w, struct series *s, int64_t from, int64_t to,
                int64_t now, void (*progress)(void *ud, int64_t seen),
                void *progress_ud, int64_t *out_stored) {
  int rc = sync_load_state(w->in, s);
  if (rc != 0)
    return rc;
  int64_t last_closed = coin_tf_last_closed(s->tf, now);
  if (to > last_closed)
    to = last_closed;
  rc = fetch_reporting(w, s, from, to, now, last_closed, false,
                       COIN_BATCH_BACKFILL, progress, progress_ud, out_stored);
  if (s->gaps_dirty) {
    int src = save_gaps(w->in, s);
    if (src != 0)
      COIN_LOG_WARN("known gaps not saved", COIN_LOG_STR("symbol", s->symbol),
                    COIN_LOG_STR("timeframe", tfn(s)), COIN_LOG_RC(src));
  }
  return rc;
}
