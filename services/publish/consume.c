/*
 * consume.c: what one CandleBatch does to the site, and the watermarks.
 * A message is checked (size, protobuf, subject, every candle), then its
 * candles are split at the publish watermark P and the ingest watermark I:
 * at or below P they only repair holes of the window (a difference from what
 * is published is settled by reading the SoT); above P they are published up
 * to I, never beyond; a first candle that leaves a hole after P makes the
 * missing range come from InfluxDB first. Ingest watermarks arrive through a
 * KV watch (and a direct read when a batch goes past the last value seen);
 * if I stays ahead of P without a batch, the range is reconciled from
 * InfluxDB. Runs on publish_run's thread only.
 */
#include "publish_int.h"

#include "coin/clock.h"
#include "coin/error.h"
#include "coin/log.h"
#include "coin/watermark.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK_AFTER_ERROR_MS 2000
#define WATCH_DRAIN_MAX 100000

/* ---- watermarks --------------------------------------------------------- */

/* The contract (key, value, CAS) is coin/watermark.h's. Reads key: *ms =
 * -1 and *rev = 0 when absent; COIN_EDECODE for a value that is not a
 * watermark, with *ms = -1 and *rev its revision (so that a CAS write can
 * replace it). */
static int kv_read_ms(struct publish *p, const char *key, int64_t *ms,
                      uint64_t *rev) {
  struct coin_watermark w;
  int rc = coin_watermark_read(&w, p->kv_wm, key);
  *ms = w.ms;
  if (rev)
    *rev = w.revision;
  return rc;
}

/* A watermark value that does not decode: counted each time, reported
 * once per series and key; the caller goes on without it (one bad record
 * never stops the others). */
static void bad_watermark(struct publish *p, struct pseries *s, bool ingest) {
  atomic_fetch_add(&p->c.wm_bad_values, 1);
  if (ingest)
    s->ingest_undecodable = true;
  bool *logged = ingest ? &s->bad_ingest_logged : &s->bad_publish_logged;
  if (*logged)
    return;
  *logged = true;
  COIN_LOG_ERROR(ingest ? "ingest watermark undecodable: ignored until "
                          "coin-ingest writes a good one"
                        : "publish watermark undecodable: rebuilt from the "
                          "SoT and overwritten",
                 COIN_LOG_STR("series", s->dir),
                 COIN_LOG_STR("key", ingest ? s->ingest_key : s->publish_key),
                 COIN_LOG_STR("error", coin_error_last()));
}

static void note_ahead(struct pseries *s) {
  if (s->loaded && s->ingest_ms > s->pub_ms) {
    if (s->ahead_since_mono_ms == 0)
      s->ahead_since_mono_ms = coin_mono_ms();
  } else {
    s->ahead_since_mono_ms = 0;
  }
}

/* Drops rows after t (the ingest watermark moved back: a reset SoT). */
static void truncate_after(struct pseries *s, int64_t t) {
  while (s->n > 0 && s->rows[s->n - 1].c.open_ms > t) {
    free(s->rows[s->n - 1].text);
    s->n--;
  }
}

/* A new ingest watermark value for s, read at KV revision rev. The watch
 * can deliver a revision older than one a direct read already returned, so
 * it only counts when newer; a direct read (latest) always counts, which
 * also covers a bucket that was re-created (revisions start again). */
static void set_ingest(struct publish *p, struct pseries *s, int64_t wm,
                       uint64_t rev, bool latest) {
  if (!latest && rev <= s->ingest_rev)
    return;
  s->ingest_rev = rev;
  s->ingest_undecodable = false;
  if (wm == s->ingest_ms)
    return;
  if (wm < s->ingest_ms)
    COIN_LOG_WARN("ingest watermark moved back", COIN_LOG_STR("series", s->dir),
                  COIN_LOG_TIME("was", s->ingest_ms), COIN_LOG_TIME("now", wm));
  s->ingest_ms = wm;
  if (s->loaded && s->pub_ms > wm) {
    /* Never show a candle beyond the ingest watermark, even one that was
     * below it before: drop them now (no SoT needed for that), then rebuild
     * the rest from what the SoT holds now. */
    truncate_after(s, wm);
    s->pub_ms = wm;
    s->pred_stale = s->dirty_files = s->dirty_wm = true;
    int rc = consume_rebuild(p, s);
    if (rc != 0)
      COIN_LOG_WARN("rebuild after watermark reset failed (window cut)",
                    COIN_LOG_STR("series", s->dir), COIN_LOG_RC(rc));
  }
  note_ahead(s);
}

int consume_load_watermarks(struct publish *p, struct pseries *s) {
  int64_t ing = -1, pub = -1;
  uint64_t rev = 0, irev = 0;
  int rc = kv_read_ms(p, s->ingest_key, &ing, &irev);
  if (rc == COIN_EDECODE) {
    bad_watermark(p, s, true);
    if (!s->loaded)
      return rc;        /* not loaded: its files stay as they are until a good
                           value comes (retried; said once) */
    ing = s->ingest_ms; /* the last good value stays */
    rc = 0;
  }
  if (rc == 0)
    rc = kv_read_ms(p, s->publish_key, &pub, &rev);
  if (rc == COIN_EDECODE) {
    bad_watermark(p, s, false); /* pub -1: rebuilt, rev: overwritten */
    rc = 0;
  }
  if (rc != 0)
    return rc;
  s->ingest_ms = ing; /* the latest value */
  s->ingest_rev = irev;
  s->pub_kv_ms = pub;
  s->pub_kv_rev = rev;
  s->pub_kv_loaded = true;
  return 0;
}

/* The publish watermark is written when it moves forward, or back when the
 * stored one is beyond the ingest watermark (a reset SoT). */
static bool need_write(int64_t want, const struct coin_watermark *cur,
                       void *ud) {
  const struct pseries *s = ud;
  return want >= 0 && want != cur->ms &&
         (want > cur->ms || cur->ms > s->ingest_ms);
}

int consume_write_watermark(struct publish *p, struct pseries *s) {
  if (!s->pub_kv_loaded) {
    int rc = kv_read_ms(p, s->publish_key, &s->pub_kv_ms, &s->pub_kv_rev);
    if (rc == COIN_EDECODE) {
      bad_watermark(p, s, false);
      rc = 0;
    }
    if (rc != 0) {
      atomic_fetch_add(&p->c.wm_errors, 1);
      return rc;
    }
    s->pub_kv_loaded = true;
  }
  struct coin_watermark w = {.ms = s->pub_kv_ms, .revision = s->pub_kv_rev};
  struct coin_watermark_write out;
  int rc = coin_watermark_advance(&w, p->kv_wm, s->publish_key, s->pub_ms,
                                  need_write, s, &out);
  atomic_fetch_add(&p->c.wm_conflicts, out.conflicts);
  if (out.bad_seen)
    bad_watermark(p, s, false);
  s->pub_kv_ms = w.ms;
  s->pub_kv_rev = w.revision;
  if (rc != 0) {
    atomic_fetch_add(&p->c.wm_errors, 1);
    return rc; /* the error names the key */
  }
  if (out.written)
    atomic_fetch_add(&p->c.wm_advances, 1);
  return 0;
}

/* ---- the window from the SoT -------------------------------------------- */

/* Newly published candles (open > after_ms) go to the serving object so it
 * can score earlier predictions: one InfluxDB query and maybe a write, so
 * it waits until the batch's files are written (consume_realize_pending). */
static void realize_later(struct pseries *s, int64_t after_ms) {
  if (!s->realize_pending || after_ms < s->realize_after_ms)
    s->realize_after_ms = after_ms;
  s->realize_pending = true;
}

static void realize(struct publish *p, struct pseries *s, int64_t after_ms) {
  size_t i = s->n;
  while (i > 0 && s->rows[i - 1].c.open_ms > after_ms)
    i--;
  size_t n = s->n - i;
  if (n == 0 || !p->serving || strcmp(s->exchange, p->cfg->core.exchange))
    return;
  struct coin_candle *c = malloc(n * sizeof(*c));
  if (!c)
    return;
  for (size_t k = 0; k < n; k++)
    c[k] = s->rows[i + k].c;
  int rc = coin_serving_realize(p->serving, s->symbol, s->tf, c, n);
  if (rc != 0) {
    atomic_fetch_add(&p->c.serving_errors, 1);
    COIN_LOG_WARN("realize failed", COIN_LOG_STR("series", s->dir),
                  COIN_LOG_RC(rc));
  }
  free(c);
}

void consume_realize_pending(struct publish *p) {
  for (size_t i = 0; i < p->n_series; i++) {
    struct pseries *s = p->series[i];
    if (!s->realize_pending)
      continue;
    s->realize_pending = false;
    realize(p, s, s->realize_after_ms);
  }
}

/* The window is now the SoT's up to the ingest watermark. */
static void rebuilt(struct pseries *s) {
  s->pub_ms = s->ingest_ms;
  s->loaded = true;
  s->pred_stale = true;
  s->dirty_files = true;
  s->dirty_wm = true;
  note_ahead(s);
}

int consume_rebuild(struct publish *p, struct pseries *s) {
  struct merge_stats st;
  int64_t wm = s->ingest_ms;
  if (wm < 0 && s->ingest_undecodable)
    return COIN_EDECODE; /* unknown, not absent: the files stay as they are */
  if (wm >= 0) {
    int rc = series_read_sot(p, s, INT64_MIN, wm, wm, &st);
    if (rc != 0)
      return rc;
    truncate_after(s, wm);
  } else {
    /* no watermark: nothing may be shown */
    for (size_t i = 0; i < s->n; i++)
      free(s->rows[i].text);
    s->n = 0;
  }
  rebuilt(s);
  return 0;
}

/* One entry of the ingest watermark watch: a put for a series we publish
 * moves its ingest watermark, or marks it bad when the value is not a
 * watermark. True when a watermark was taken. */
static bool take_watch_entry(struct publish *p,
                             const struct coin_bus_kv_entry *e) {
  struct coin_series_id id;
  int64_t wm;
  if (e->op != COIN_BUS_KV_PUT ||
      coin_codec_series_parse(&id, COIN_KEY_INGEST_PREFIX, e->key) != 0)
    return false;
  struct pseries *s = series_find(p, id.exchange, id.symbol, id.tf);
  if (coin_codec_watermark_parse(&wm, e->value, e->value_len) != 0) {
    if (s) {
      coin_error_set(COIN_EDECODE,
                     "KV %s/%s: %zu bytes that are not a watermark (rule: "
                     "decimal open time in ms)",
                     COIN_KV_WATERMARKS, e->key, e->value_len);
      bad_watermark(p, s, true);
    }
    return false;
  }
  if (!s)
    return false;
  set_ingest(p, s, wm, e->revision, false);
  return true;
}

bool consume_watch_init(struct publish *p, int64_t timeout_ms) {
  int64_t deadline = coin_mono_ms() + timeout_ms;
  size_t seen = 0;
  bool done = false;
  while (!p->stop && coin_mono_ms() < deadline) {
    struct coin_bus_kv_entry e = {0};
    int rc = coin_bus_kv_watch_next(&e, p->wm_watch, 100);
    if (rc == COIN_ETIMEOUT)
      continue;
    if (rc != 0 || e.op == COIN_BUS_KV_INIT_DONE) {
      done = rc == 0;
      coin_bus_kv_entry_clear(&e);
      break;
    }
    if (take_watch_entry(p, &e))
      seen++;
    coin_bus_kv_entry_clear(&e);
  }
  COIN_LOG_INFO("ingest watermarks read", COIN_LOG_UINT("series", seen),
                COIN_LOG_BOOL("complete", done));
  return done;
}

void consume_rebuild_all(struct publish *p) {
  struct series_read *v = calloc(p->n_series + 1, sizeof(*v));
  struct pseries **track = calloc(p->n_series + 1, sizeof(*track));
  if (!v || !track) {
    free(v);
    free(track);
    return; /* the per-series path below the caller retries */
  }
  size_t i = 0;
  while (i < p->n_series && !p->stop) {
    /* a run of series of one exchange and timeframe, sorted by symbol:
     * p->series is sorted by (exchange, symbol, tf), so collect by tf */
    struct pseries *first = p->series[i];
    size_t end = i;
    while (end < p->n_series &&
           !strcmp(p->series[end]->exchange, first->exchange))
      end++;
    for (int tf = 0; tf < COIN_TF_COUNT && !p->stop; tf++) {
      size_t n = 0;
      for (size_t k = i; k < end; k++) {
        struct pseries *s = p->series[k];
        if (s->loaded || (int)s->tf != tf || s->ingest_ms < 0)
          continue;
        v[n].s = s;
        v[n].from_ms = series_window_from(s, s->ingest_ms);
        v[n].to_ms = s->ingest_ms;
        v[n].c = NULL;
        v[n].n = v[n].cap = 0;
        n++;
      }
      if (n < 2)
        continue; /* one series: the per-series path */
      int64_t t0 = coin_mono_ms();
      int rc = series_read_sot_many(p, v, n);
      COIN_LOG_DEBUG("bulk read",
                     COIN_LOG_STR("timeframe", coin_tf_name((enum coin_tf)tf)),
                     COIN_LOG_UINT("series", n),
                     COIN_LOG_INT("elapsed_ms", coin_mono_ms() - t0));
      size_t nt = 0;
      for (size_t k = 0; k < n; k++) {
        struct merge_stats st;
        if (rc == 0 && series_apply_sot(v[k].s, v[k].from_ms, v[k].to_ms,
                                        v[k].c, v[k].n, v[k].to_ms, &st) == 0) {
          truncate_after(v[k].s, v[k].to_ms);
          rebuilt(v[k].s);
        }
        free(v[k].c);
        if (!v[k].s->track_loaded)
          track[nt++] = v[k].s;
      }
      if (rc != 0)
        COIN_LOG_WARN("bulk rebuild failed, reading series one by one",
                      COIN_LOG_STR("timeframe", coin_tf_name((enum coin_tf)tf)),
                      COIN_LOG_RC(rc));
      /* their track records too (else one query per series at its first
       * update); a failure leaves that to the series */
      if (track_load_many(p, track, nt, coin_now_ms()) != 0)
        COIN_LOG_WARN("bulk track record read failed",
                      COIN_LOG_STR("timeframe", coin_tf_name((enum coin_tf)tf)),
                      COIN_LOG_STR("error", coin_error_last()));
    }
    i = end;
  }
  free(v);
  free(track);
}

/* Reads (from, I] from the SoT and publishes up to I. */
static int reconcile(struct publish *p, struct pseries *s, int64_t from_ms,
                     atomic_uint_fast64_t *counter, const char *why) {
  struct merge_stats st;
  int64_t old = s->pub_ms, wm = s->ingest_ms;
  int rc = series_read_sot(p, s, from_ms, wm, wm, &st);
  if (rc != 0) {
    atomic_fetch_add(&p->c.reconcile_errors, 1);
    s->blocked_until_mono_ms = coin_mono_ms() + BLOCK_AFTER_ERROR_MS;
    return rc;
  }
  atomic_fetch_add(counter, 1);
  atomic_fetch_add(&p->c.candles, st.added);
  if (wm > s->pub_ms)
    s->pub_ms = wm;
  s->dirty_files = true;
  s->dirty_wm = true;
  COIN_LOG_INFO("reconciled from InfluxDB", COIN_LOG_STR("series", s->dir),
                COIN_LOG_STR("reason", why),
                COIN_LOG_TIME("from", from_ms > COIN_TF_MIN_MS
                                          ? from_ms
                                          : series_window_from(s, wm)),
                COIN_LOG_TIME("to", wm), COIN_LOG_UINT("added", st.added),
                COIN_LOG_UINT("replaced", st.replaced),
                COIN_LOG_UINT("removed", st.removed));
  realize_later(s, old);
  note_ahead(s);
  return 0;
}

void consume_reconcile_due(struct publish *p) {
  int64_t mono = coin_mono_ms();
  int64_t after = p->cfg->reconcile_after_seconds * 1000;
  for (size_t i = 0; i < p->n_series && !p->stop; i++) {
    struct pseries *s = p->series[i];
    if (s->blocked_until_mono_ms > mono)
      continue;
    if (!s->loaded) {
      int rc = consume_load_watermarks(p, s);
      if (rc == 0)
        rc = consume_rebuild(p, s);
      if (rc != 0) {
        s->blocked_until_mono_ms = mono + BLOCK_AFTER_ERROR_MS;
        if (rc != COIN_EDECODE) /* a bad value was said once already */
          COIN_LOG_WARN("series rebuild failed, retrying",
                        COIN_LOG_STR("series", s->dir), COIN_LOG_RC(rc));
      }
      continue;
    }
    note_ahead(s);
    if (s->ahead_since_mono_ms == 0 || mono - s->ahead_since_mono_ms < after)
      continue;
    int64_t from = s->pub_ms >= 0 ? coin_tf_next(s->tf, s->pub_ms) : INT64_MIN;
    int rc = reconcile(p, s, from, &p->c.reconcile_timer, "no_batch");
    if (rc != 0)
      COIN_LOG_WARN("reconcile failed", COIN_LOG_STR("series", s->dir),
                    COIN_LOG_RC(rc));
  }
}

/* ---- the KV watch -------------------------------------------------------- */

void consume_drain_watch(struct publish *p) {
  if (!p->wm_watch)
    return;
  for (int i = 0; i < WATCH_DRAIN_MAX; i++) {
    struct coin_bus_kv_entry e = {0};
    int rc = coin_bus_kv_watch_next(&e, p->wm_watch, 1);
    if (rc != 0)
      return; /* ETIMEOUT: drained; others: the watch resumes by itself */
    take_watch_entry(p, &e);
    coin_bus_kv_entry_clear(&e);
  }
}

/* ---- one message ------------------------------------------------------- */

static enum msg_verdict term(struct coin_bus_msg *m,
                             atomic_uint_fast64_t *counter, const char *reason,
                             const char *detail) {
  atomic_fetch_add(counter, 1);
  int rc = coin_bus_msg_term(m);
  COIN_LOG_ERROR("message terminated", COIN_LOG_STR("reason", reason),
                 COIN_LOG_STR("subject", coin_bus_msg_subject(m)),
                 COIN_LOG_UINT("stream_seq", coin_bus_msg_stream_seq(m)),
                 COIN_LOG_UINT("bytes", coin_bus_msg_len(m)),
                 COIN_LOG_STR("detail", detail),
                 COIN_LOG_BOOL("term_sent", rc == 0));
  return MSG_TERM;
}

/* Batch candles of [from, to] that the window (now the SoT's there) does
 * not hold as they are: a batch is a notification, never the authority. */
static size_t count_not_in_sot(const struct pseries *s,
                               const struct coin_candle *c, size_t n,
                               int64_t from, int64_t to) {
  size_t bad = 0;
  int64_t wfrom = series_window_from(s, s->pub_ms);
  if (from < wfrom)
    from = wfrom; /* older than the window: never shown, nothing to say */
  for (size_t i = 0; i < n; i++) {
    if (c[i].open_ms < from || c[i].open_ms > to)
      continue;
    long r = series_find_row(s, c[i].open_ms);
    bad += r < 0 || memcmp(&s->rows[r].c, &c[i], sizeof(c[i])) != 0;
  }
  return bad;
}

static void note_not_in_sot(struct publish *p, const struct pseries *s,
                            size_t bad, size_t n) {
  if (bad == 0)
    return;
  atomic_fetch_add(&p->c.not_in_sot, bad);
  COIN_LOG_WARN("batch candles that InfluxDB does not hold: ignored",
                COIN_LOG_STR("series", s->dir), COIN_LOG_UINT("count", bad),
                COIN_LOG_UINT("batch_candles", n));
}

/* Old candles (<= P): a candle the window already holds as it is was read
 * from the SoT before; for the others (holes, differences) the range is
 * read from the SoT, which wins (a batch never writes the site). */
static int apply_old(struct publish *p, struct pseries *s,
                     const struct coin_candle *c, size_t n, bool *changed) {
  int64_t from = INT64_MAX, to = INT64_MIN;
  int64_t wfrom = series_window_from(s, s->pub_ms);
  size_t same = 0, differ = 0;
  for (size_t i = 0; i < n; i++) {
    if (c[i].open_ms < wfrom) {
      same++; /* older than the window: skipped, as duplicates are */
      continue;
    }
    long r = series_find_row(s, c[i].open_ms);
    if (r >= 0 && memcmp(&s->rows[r].c, &c[i], sizeof(c[i])) == 0) {
      same++;
      continue;
    }
    differ += r >= 0;
    if (from == INT64_MAX)
      from = c[i].open_ms;
    to = c[i].open_ms;
  }
  atomic_fetch_add(&p->c.dup_candles, same);
  if (from == INT64_MAX)
    return 0;
  struct merge_stats st;
  int rc = series_read_sot(p, s, from, to, s->pub_ms, &st);
  if (rc != 0) {
    atomic_fetch_add(&p->c.reconcile_errors, 1);
    return rc;
  }
  if (differ) {
    atomic_fetch_add(&p->c.reconcile_conflict, 1);
    COIN_LOG_INFO("published candles differ from a batch: SoT read",
                  COIN_LOG_STR("series", s->dir), COIN_LOG_TIME("from", from),
                  COIN_LOG_TIME("to", to),
                  COIN_LOG_UINT("replaced", st.replaced));
  }
  atomic_fetch_add(&p->c.repaired, st.added);
  note_not_in_sot(p, s, count_not_in_sot(s, c, n, from, to), n);
  if (st.added || st.replaced || st.removed)
    *changed = true;
  return 0;
}

static int apply_batch(struct publish *p, struct pseries *s,
                       const struct coin_candle_batch *b, bool *published) {
  const struct coin_candle *c = b->candles;
  size_t n = b->n_candles;
  int64_t last = c[n - 1].open_ms;
  int rc = 0;
  bool changed = false;

  if (last > s->pub_ms && last > s->ingest_ms) {
    /* The watch may lag behind ingest's CAS: ask KV itself. */
    int64_t wm;
    uint64_t rev = 0;
    rc = kv_read_ms(p, s->ingest_key, &wm, &rev);
    if (rc == COIN_EDECODE) {
      bad_watermark(p, s, true); /* the last good value stays */
      wm = s->ingest_ms;
      rc = 0;
    }
    if (rc != 0)
      return rc;
    set_ingest(p, s, wm, rev, true);
    if (!s->loaded)
      return coin_error_set(COIN_EUNAVAIL, "%s: rebuild pending", s->dir);
  }
  int64_t P = s->pub_ms, I = s->ingest_ms;

  size_t k = 0; /* c[0..k): at or below P */
  while (k < n && c[k].open_ms <= P)
    k++;
  if (k > 0 && (rc = apply_old(p, s, c, k, &changed)) != 0)
    return rc;

  size_t m = k; /* c[k..m): above P, at or below I */
  while (m < n && c[m].open_ms <= I)
    m++;
  if (m < n) {
    atomic_fetch_add(&p->c.beyond_wm, n - m);
    COIN_LOG_WARN(
        "candles beyond the ingest watermark held back",
        COIN_LOG_STR("series", s->dir), COIN_LOG_TIME("ingest_watermark", I),
        COIN_LOG_TIME("first", c[m].open_ms), COIN_LOG_UINT("count", n - m));
  }
  if (m > k) {
    if (P < 0 || c[k].open_ms > coin_tf_next(s->tf, P)) {
      int64_t from = P < 0 ? INT64_MIN : coin_tf_next(s->tf, P);
      rc = reconcile(p, s, from, &p->c.reconcile_hole, "hole");
      if (rc != 0)
        return rc;
    } else {
      /* the new candles as InfluxDB holds them (the batch only says which
       * range to read; ingest wrote them before publishing the batch) */
      struct merge_stats st;
      int64_t anchor = c[m - 1].open_ms;
      rc = series_read_sot(p, s, c[k].open_ms, anchor, anchor, &st);
      if (rc != 0) {
        atomic_fetch_add(&p->c.reconcile_errors, 1);
        return rc;
      }
      atomic_fetch_add(&p->c.sot_reads, 1);
      atomic_fetch_add(&p->c.candles, st.added + st.replaced);
      note_not_in_sot(
          p, s, count_not_in_sot(s, c + k, m - k, c[k].open_ms, anchor), n);
      s->pub_ms = anchor;
      s->dirty_wm = true;
      realize_later(s, P);
    }
    changed = true;
  }
  if (changed) {
    s->dirty_files = true;
    *published = true;
  }
  note_ahead(s);
  return 0;
}

/* *out: the batch's series has an ingest watermark. */
static int ingest_watermark_exists(struct publish *p,
                                   const struct coin_candle_batch *b,
                                   bool *out) {
  char key[COIN_CODEC_SUBJECT_BYTES];
  int rc = coin_codec_series_key(key, sizeof(key), COIN_KEY_INGEST_PREFIX,
                                 b->exchange, b->symbol, b->tf);
  if (rc != 0)
    return rc;
  struct coin_bus_kv_entry e = {0};
  rc = coin_bus_kv_get(&e, p->kv_wm, key);
  *out = rc == 0;
  coin_bus_kv_entry_clear(&e);
  return rc == COIN_ENOTFOUND ? 0 : rc;
}

static enum msg_verdict nak(struct publish *p) {
  atomic_fetch_add(&p->c.naks, 1);
  return MSG_NAK;
}

enum msg_verdict consume_msg(struct publish *p, struct coin_bus_msg *m,
                             bool *published, struct pseries **series) {
  struct coin_candle_batch b;
  struct coin_series_id id;
  const char *subject = coin_bus_msg_subject(m);
  enum msg_verdict v = MSG_ACK;
  char detail[256];

  *published = false;
  *series = NULL;
  atomic_fetch_add(&p->c.msgs, 1);
  if (coin_bus_msg_num_delivered(m) > 1)
    atomic_fetch_add(&p->c.redeliveries, 1);
  size_t len = coin_bus_msg_len(m);
  if (len > coin_codec_max_bytes()) {
    snprintf(detail, sizeof(detail), "%zu bytes > cap %zu", len,
             coin_codec_max_bytes());
    return term(m, &p->c.term_toobig, "too_big", detail);
  }
  int rc = coin_codec_unpack_batch(&b, coin_bus_msg_data(m), len);
  if (rc != 0)
    return term(m, rc == COIN_ETOOBIG ? &p->c.term_toobig : &p->c.term_decode,
                rc == COIN_ETOOBIG ? "too_big" : "decode", coin_error_last());
  if (coin_codec_series_parse(&id, COIN_SUBJECT_CANDLES_PREFIX, subject) != 0) {
    v = term(m, &p->c.term_subject, "subject", coin_error_last());
    goto out;
  }
  if (strcmp(id.exchange, b.exchange) || strcmp(id.symbol, b.symbol) ||
      id.tf != b.tf) {
    snprintf(detail, sizeof(detail), "batch names %s.%s.%s", b.exchange,
             b.symbol, coin_tf_name(b.tf));
    v = term(m, &p->c.term_subject, "subject_mismatch", detail);
    goto out;
  }
  for (size_t i = 0; i < b.n_candles; i++) {
    if (coin_candle_validate(&b.candles[i], b.tf, -1) != 0) {
      v = term(m, &p->c.term_invalid, "invalid_candle", coin_error_last());
      goto out;
    }
  }

  struct pseries *s = series_find(p, b.exchange, b.symbol, b.tf);
  if (!s) {
    if (!p->cfg->unconfigured_series ||
        strcmp(b.exchange, p->cfg->core.exchange) != 0) {
      atomic_fetch_add(&p->c.unconfigured, 1);
      goto out; /* not ours: acknowledged, nothing to do */
    }
    /* a series seen on the stream is published only when coin-ingest
     * ingests it (its ingest watermark exists): a stray batch never adds a
     * series to the site */
    bool ingested = false;
    rc = ingest_watermark_exists(p, &b, &ingested);
    if (rc != 0) {
      COIN_LOG_WARN("ingest watermark not read",
                    COIN_LOG_STR("subject", subject), COIN_LOG_RC(rc));
      v = nak(p);
      goto out;
    }
    if (!ingested) {
      atomic_fetch_add(&p->c.unconfigured, 1);
      COIN_LOG_WARN("batch of a series nobody ingests: ignored",
                    COIN_LOG_STR("subject", subject));
      goto out;
    }
    rc = series_add(&s, p, b.exchange, b.symbol, b.tf, false);
    if (rc == COIN_ETOOBIG) {
      atomic_fetch_add(&p->c.unconfigured, 1);
      COIN_LOG_WARN("series not published", COIN_LOG_STR("subject", subject),
                    COIN_LOG_RC(rc));
      goto out;
    }
    if (rc != 0) {
      COIN_LOG_ERROR("series not added", COIN_LOG_STR("subject", subject),
                     COIN_LOG_RC(rc));
      v = nak(p);
      goto out;
    }
    COIN_LOG_INFO("new series seen on the stream",
                  COIN_LOG_STR("series", s->dir));
  }
  if (s->blocked_until_mono_ms > coin_mono_ms()) {
    v = nak(p);
    goto out;
  }
  if (!s->loaded) {
    rc = consume_load_watermarks(p, s);
    if (rc == 0)
      rc = consume_rebuild(p, s);
    if (rc != 0) {
      s->blocked_until_mono_ms = coin_mono_ms() + BLOCK_AFTER_ERROR_MS;
      if (rc != COIN_EDECODE)
        COIN_LOG_WARN("series rebuild failed", COIN_LOG_STR("series", s->dir),
                      COIN_LOG_RC(rc));
      v = nak(p);
      goto out;
    }
  }
  *series = s;
  rc = apply_batch(p, s, &b, published);
  if (rc != 0) {
    s->blocked_until_mono_ms = coin_mono_ms() + BLOCK_AFTER_ERROR_MS;
    COIN_LOG_WARN("batch not applied, will be redelivered",
                  COIN_LOG_STR("series", s->dir),
                  COIN_LOG_UINT("stream_seq", coin_bus_msg_stream_seq(m)),
                  COIN_LOG_RC(rc));
    v = nak(p);
    goto out;
  }
  if (!*published)
    atomic_fetch_add(&p->c.dup_batches, 1);
out:
  coin_candle_batch_clear(&b);
  return v;
}
