/*
 * site.c: the files of the static site (docs/static-site.md). A flush
 * renders each dirty series' history.json, prediction.json and
 * track_record.json in memory and hashes them (sha256); every file of the
 * flush, manifests included, is then written and fsynced under a temp name
 * and renamed in the order readers rely on: transition manifest, the
 * series' files, final manifest (one directory fsync per directory and
 * step); then the publish watermarks. So at any instant every file on disk
 * is either the one the manifest describes or a newer one that the next
 * manifest will describe. Runs on publish_run's thread only.
 */
#include "publish_int.h"

#include "coin/clock.h"
#include "coin/error.h"
#include "coin/file.h"
#include "coin/hmac.h"
#include "coin/log.h"
#include "coin/site.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SOFT_MAX_AGE_SECONDS 10
#define SOFT_SWR_SECONDS 30

static const char *file_name(int idx) {
  return coin_site_file_name((enum coin_site_file)idx);
}

/* ---- small helpers ------------------------------------------------------ */

/* The manifest's digest of a file; on a failure (OpenSSL) an empty one,
 * which matches nothing, so readers notice. */
static void sha256_hex(char out[PUBLISH_SHA256_HEX], const void *data,
                       size_t len) {
  if (coin_sha256_hex(out, data, len) != 0)
    out[0] = '\0';
}

static const char *state_name(enum coin_fresh_state s) {
  return coin_codec_state_name(s);
}

static void eval_series(struct publish *p, const struct pseries *s,
                        int64_t now_ms, struct coin_freshness *out) {
  struct coin_freshness_input in = {.tf = s->tf,
                                    .last_open_ms =
                                        s->n ? s->rows[s->n - 1].c.open_ms : -1,
                                    .n_candles = (int64_t)s->n,
                                    .corrupt = false};
  coin_freshness_eval(out, &p->policy, &in, now_ms);
}

/* The cache hint for a file of the given state (docs/publish.md): fresh
 * content stays until the next candle boundary; soft_stale may change any
 * moment; blocked states must always be revalidated. */
static void cache_control(char out[PUBLISH_CACHE_BYTES], struct publish *p,
                          const struct pseries *s,
                          const struct coin_site_validity *v, int64_t now_ms) {
  enum coin_fresh_state st = v->status;
  if (st == COIN_STATE_FRESH) {
    /* never held by a cache past the file's own soft instant */
    int64_t until = coin_tf_next(s->tf, now_ms);
    if (v->soft_at_ms >= 0 && v->soft_at_ms < until)
      until = v->soft_at_ms;
    int64_t secs = (until - now_ms) / 1000;
    if (secs < 1)
      secs = 0;
    if (secs > p->cfg->cache_max_age_seconds)
      secs = p->cfg->cache_max_age_seconds;
    if (secs == 0)
      snprintf(out, PUBLISH_CACHE_BYTES, "no-cache");
    else
      snprintf(out, PUBLISH_CACHE_BYTES, "public, max-age=%lld",
               (long long)secs);
  } else if (st == COIN_STATE_SOFT_STALE) {
    snprintf(out, PUBLISH_CACHE_BYTES,
             "public, max-age=%d, stale-while-revalidate=%d",
             SOFT_MAX_AGE_SECONDS, SOFT_SWR_SECONDS);
  } else {
    snprintf(out, PUBLISH_CACHE_BYTES, "no-cache");
  }
}

/* Members in this file's style: a leading comma, ,"key":value. */
static void put_key(struct coin_jbuf *b, const char *key) {
  coin_jbuf_printf(b, ",\"%s\":", key);
}

static void put_str(struct coin_jbuf *b, const char *key, const char *v) {
  put_key(b, key);
  coin_jbuf_str(b, v);
}

static void put_num(struct coin_jbuf *b, const char *key, double v) {
  put_key(b, key);
  coin_jbuf_num(b, v);
}

static void put_int(struct coin_jbuf *b, const char *key, int64_t v) {
  put_key(b, key);
  coin_jbuf_i64(b, v);
}

/* ms < 0 (no such instant) prints null. */
static void put_opt_ms(struct coin_jbuf *b, const char *key, int64_t ms) {
  if (ms >= 0)
    put_int(b, key, ms);
  else
    put_str(b, key, NULL);
}

static void put_opt_time(struct coin_jbuf *b, const char *key, int64_t ms) {
  put_key(b, key);
  if (ms >= 0)
    coin_jbuf_time(b, ms);
  else
    coin_jbuf_puts(b, "null");
}

/* The validity of an artifact in state `state` whose input the evaluator
 * judged fr at gen_ms: the input's instants, none for states time cannot
 * change (corrupt, insufficient_data). */
static void validity(struct coin_site_validity *v,
                     const struct coin_freshness *fr, int64_t gen_ms,
                     enum coin_fresh_state state) {
  coin_site_validity_of(v, fr, gen_ms);
  v->status = state;
  if (state == COIN_STATE_CORRUPT || state == COIN_STATE_INSUFFICIENT_DATA)
    v->soft_at_ms = v->hard_at_ms = -1;
}

/* {"schema_version":2,...,"freshness":{...}  (object left open) */
static void put_common(struct coin_jbuf *b, const struct pseries *s,
                       int64_t gen_ms, enum coin_fresh_state state,
                       unsigned degraded, const struct coin_freshness *fr) {
  int64_t last = s->n ? s->rows[s->n - 1].c.open_ms : -1;
  struct coin_site_validity v;
  validity(&v, fr, gen_ms, state);
  coin_jbuf_puts(b, "{");
  coin_site_put_head(b, gen_ms);
  coin_site_put_ids(b, s->exchange, s->symbol, s->tf);
  coin_site_put_validity(b, &v);
  coin_site_put_degraded(b, degraded);
  coin_site_put_last_candle(b, s->tf, last);
  coin_jbuf_trim_comma(b);
  coin_jbuf_puts(b, ",\"freshness\":{\"expected_open_ms\":");
  coin_jbuf_i64(b, fr->expected_open_ms);
  put_int(b, "missing_candles", fr->missing_candles);
  put_int(b, "overdue_ms", fr->overdue_ms);
  coin_jbuf_puts(b, "}");
}

/* ---- history.json and prediction.json ----------------------------------- */

static void render_history(struct coin_jbuf *b, const struct pseries *s,
                           int64_t gen_ms, enum coin_fresh_state state,
                           unsigned degraded, const struct coin_freshness *fr) {
  put_common(b, s, gen_ms, state, degraded, fr);
  put_opt_ms(b, "publish_watermark_ms", s->pub_ms);
  coin_jbuf_printf(b, ",\"window_candles\":%lld,\"candles\":[",
                   (long long)s->slots);
  for (size_t i = 0; i < s->n; i++) {
    if (i)
      coin_jbuf_putn(b, ",", 1);
    coin_jbuf_putn(b, s->rows[i].text, s->rows[i].len);
  }
  coin_jbuf_puts(b, "]}\n");
}

/* Why the prediction has values or not (docs/static-site.md): the input's
 * blocking state first, then the prediction path's named reason. */
static enum coin_site_pred_status
pred_status(enum coin_fresh_state input, const struct pseries *s, bool values) {
  const struct coin_prediction *pr = &s->pred;
  if (input == COIN_STATE_CORRUPT)
    return COIN_SITE_PRED_CORRUPT;
  if (input == COIN_STATE_INSUFFICIENT_DATA)
    return COIN_SITE_PRED_INSUFFICIENT_DATA;
  if (coin_freshness_blocked(input))
    return COIN_SITE_PRED_HARD_STALE;
  if (values)
    return COIN_SITE_PRED_SERVED;
  if (pr->degraded & COIN_DEGRADED_NO_MODEL)
    return COIN_SITE_PRED_NO_MODEL;
  if (s->pred_not_evaluated)
    return COIN_SITE_PRED_NOT_EVALUATED;
  if (pr->worse_than_persistence)
    return COIN_SITE_PRED_WORSE_THAN_PERSISTENCE;
  if (pr->degraded & COIN_DEGRADED_MODEL_LOAD_FAILED)
    return COIN_SITE_PRED_MODEL_LOAD_FAILED;
  if (pr->degraded & COIN_DEGRADED_INFERENCE_ERROR)
    return COIN_SITE_PRED_INFERENCE_ERROR;
  return COIN_SITE_PRED_INSUFFICIENT_DATA;
}

static void render_prediction(struct coin_jbuf *b, const struct pseries *s,
                              int64_t gen_ms, enum coin_fresh_state input,
                              enum coin_fresh_state state, bool values,
                              const struct coin_freshness *fr) {
  const struct coin_prediction *pr = &s->pred;
  put_common(b, s, gen_ms, state, pr->degraded, fr);
  int64_t last = s->n ? s->rows[s->n - 1].c.open_ms : -1;
  put_opt_ms(b, "input_last_candle_open_ms", last);
  put_str(b, "input_status", state_name(input));
  coin_jbuf_puts(b, ",\"model\":");
  if (pr->model_version[0]) {
    coin_jbuf_puts(b, "{\"version\":");
    coin_jbuf_str(b, pr->model_version);
    put_str(b, "kind", pr->model_kind[0] ? pr->model_kind : NULL);
    coin_jbuf_puts(b, "}");
  } else {
    coin_jbuf_puts(b, "null");
  }
  int64_t target = last >= 0 ? coin_tf_next(s->tf, last) : -1;
  put_opt_ms(b, "target_open_ms", target);
  put_opt_time(b, "target_open", target);
  if (values) {
    put_num(b, "predicted_close", pr->predicted_close);
    put_num(b, "predicted_return", pr->predicted_return);
    coin_jbuf_puts(b, ",\"band\":{\"low\":");
    coin_jbuf_num(b, pr->band_low);
    put_num(b, "high", pr->band_high);
    put_num(b, "level", pr->band_level);
    coin_jbuf_puts(b, "}");
    put_str(b, "direction", pr->direction > 0 ? "up" : "down");
    put_num(b, "direction_probability", pr->direction_probability);
  } else {
    coin_jbuf_puts(b, ",\"predicted_close\":null,\"predicted_return\":null,"
                      "\"band\":null,\"direction\":null,"
                      "\"direction_probability\":null");
  }
  coin_jbuf_printf(b, ",\"evaluated_on_timeframe\":%s,\"walk_forward\":",
                   pr->evaluated ? "true" : "false");
  if (pr->has_metrics) {
    coin_jbuf_puts(b, "{\"timeframe\":");
    coin_jbuf_str(b, coin_tf_name(s->tf));
    put_str(b, "units", "log_return");
    put_num(b, "mae", pr->wf_mae);
    put_num(b, "persistence_mae", pr->wf_persistence_mae);
    put_num(b, "directional_accuracy", pr->wf_directional_accuracy);
    put_int(b, "n", pr->wf_n);
    coin_jbuf_puts(b, "}");
  } else {
    coin_jbuf_puts(b, "null");
  }
  enum coin_site_pred_status ps = pred_status(input, s, values);
  put_str(b, "prediction_status", coin_site_pred_status_name(ps));
  put_str(b, "blocked_reason",
          ps == COIN_SITE_PRED_SERVED ? NULL : coin_site_pred_status_name(ps));
  coin_jbuf_puts(b, "}\n");
}

/* ---- predictions -------------------------------------------------------- */

static int predict(struct publish *p, struct pseries *s) {
  struct coin_prediction pr;
  struct coin_candle *c = NULL;
  int rc = 0;
  if (s->n) {
    c = malloc(s->n * sizeof(*c));
    if (!c)
      return coin_error_set(COIN_ENOMEM, "publish: out of memory");
    for (size_t i = 0; i < s->n; i++)
      c[i] = s->rows[i].c;
  }
  memset(&pr, 0, sizeof(pr));
  bool had_values = false;
  if (p->serving) {
    rc = coin_serving_predict(p->serving, &pr, s->symbol, s->tf, c, s->n);
  } else {
    pr.state = COIN_STATE_INSUFFICIENT_DATA;
    pr.degraded = COIN_DEGRADED_NO_MODEL;
  }
  free(c);
  if (rc != 0) {
    atomic_fetch_add(&p->c.serving_errors, 1);
    COIN_LOG_WARN("prediction failed", COIN_LOG_STR("series", s->dir),
                  COIN_LOG_RC(rc));
    /* the serving object filled pr with the reason bits; never values */
    pr.has_values = false;
    if (!pr.degraded)
      pr.degraded = COIN_DEGRADED_INFERENCE_ERROR;
  }
  if (pr.has_values &&
      (pr.state != COIN_STATE_FRESH || !(pr.predicted_close > 0) || s->n == 0))
    pr.has_values = false; /* never an invented or inconsistent value */
  had_values = pr.has_values;
  track_note_prediction(s, &pr, had_values);
  /* a timeframe the champion was never evaluated on is not served by
   * default: its figures would be someone else's */
  s->pred_not_evaluated = pr.has_values && !pr.evaluated;
  if (s->pred_not_evaluated && !p->cfg->serve_unevaluated)
    pr.has_values = false;
  else
    s->pred_not_evaluated = false;
  s->pred = pr;
  track_champion_mark(s); /* champion_underperforming (track.c) */
  s->pred_stale = false;
  return 0;
}

/* The prediction's status: never better than its input's. */
static enum coin_fresh_state
pred_state(const struct pseries *s, enum coin_fresh_state input, bool *values) {
  /* without values for a named path reason (no_model, not_evaluated, ...)
   * the file still shows the input's freshness; too little history is
   * insufficient_data */
  bool path_reason = (s->pred.degraded & (COIN_DEGRADED_NO_MODEL |
                                          COIN_DEGRADED_MODEL_LOAD_FAILED |
                                          COIN_DEGRADED_INFERENCE_ERROR)) ||
                     s->pred_not_evaluated || s->pred.worse_than_persistence;
  enum coin_fresh_state own = s->pred.has_values || path_reason
                                  ? COIN_STATE_FRESH
                                  : COIN_STATE_INSUFFICIENT_DATA;
  enum coin_fresh_state st = coin_freshness_worst(own, input);
  *values = s->pred.has_values && !coin_freshness_blocked(st);
  return st;
}

/* ---- staging a series ---------------------------------------------------- */

#define CHUNK_MAX_SERIES 256
#define CHUNK_MAX_BYTES (16u << 20)

/* One dirty series of a flush: its two files rendered in memory. */
struct staged {
  struct pseries *s;
  struct coin_jbuf doc[PUBLISH_FILES];
  struct file_info next[PUBLISH_FILES];
  struct shown shown;
  /* during the flush: the series as it was (restored if a rename fails) */
  struct file_info prev[PUBLISH_FILES];
  struct shown prev_shown;
  bool failed;  /* a file of it was not staged or not renamed */
  bool renamed; /* a file of it was renamed (its directory is fsynced) */
};

static void staged_clear(struct staged *st) {
  for (int i = 0; i < PUBLISH_FILES; i++)
    coin_jbuf_free(&st->doc[i]);
}

static int stage(struct publish *p, struct staged *st, struct pseries *s,
                 int64_t gen_ms) {
  struct coin_freshness fr;
  int rc = 0;
  memset(st, 0, sizeof(*st));
  st->s = s;
  if (s->pred_stale && (rc = predict(p, s)) != 0)
    return rc;
  eval_series(p, s, gen_ms, &fr);
  bool values = false;
  enum coin_fresh_state pst = pred_state(s, fr.state, &values);
  if (!s->track_loaded && track_load(p, s, gen_ms) != 0)
    COIN_LOG_WARN("track record not read (retried at the next update)",
                  COIN_LOG_STR("series", s->dir),
                  COIN_LOG_STR("error", coin_error_last()));
  /* champion_underperforming: the champion's own 7d rows, judged (track.c) */
  track_champion_judge(s, s->pred.model_version, gen_ms,
                       p->cfg->champion_min_series_rows);
  track_champion_mark(s);
  render_history(&st->doc[0], s, gen_ms, fr.state, s->pred.degraded, &fr);
  render_prediction(&st->doc[1], s, gen_ms, fr.state, pst, values, &fr);
  {
    struct coin_site_validity hv;
    validity(&hv, &fr, gen_ms, fr.state);
    track_render(&st->doc[2], p, s, gen_ms, &hv, values);
  }
  const enum coin_fresh_state states[PUBLISH_FILES] = {fr.state, pst, fr.state};
  for (int i = 0; i < PUBLISH_FILES; i++) {
    if (st->doc[i].oom) {
      staged_clear(st);
      return coin_error_set(COIN_ENOMEM, "publish: out of memory");
    }
    struct file_info *f = &st->next[i];
    f->present = true;
    f->bytes = st->doc[i].len;
    f->state = states[i];
    sha256_hex(f->sha256, st->doc[i].p, st->doc[i].len);
    struct coin_site_validity v;
    validity(&v, &fr, gen_ms, states[i]);
    cache_control(f->cache_control, p, s, &v, gen_ms);
  }
  st->shown.valid = true;
  st->shown.hist_state = fr.state;
  st->shown.pred_state = pst;
  st->shown.degraded = s->pred.degraded;
  st->shown.has_values = values;
  st->shown.pred_status = pred_status(fr.state, s, values);
  validity(&st->shown.hist_v, &fr, gen_ms, fr.state);
  snprintf(st->shown.model_version, sizeof(st->shown.model_version), "%s",
           s->pred.model_version);
  return 0;
}

/* ---- manifest entries -----------------------------------------------------
 */

static bool same_file(const struct file_info *a, const struct file_info *b) {
  return a->present == b->present && a->bytes == b->bytes &&
         !strcmp(a->sha256, b->sha256);
}

/* The series' manifest entry. files[] is what is on disk; with next (a
 * staged update about to be written) each changing file is listed with its
 * new size and hash plus "previous_bytes"/"previous_sha256" of the file
 * still on disk, so that the manifest holds for the file before and after
 * its rename. */
static void render_entry(struct coin_jbuf *b, const struct pseries *s,
                         const struct shown *sh,
                         const struct file_info files[PUBLISH_FILES],
                         const struct file_info *next) {
  int64_t last = s->n ? s->rows[s->n - 1].c.open_ms : -1;
  coin_jbuf_puts(b, "{\"exchange\":");
  coin_jbuf_str(b, s->exchange);
  put_str(b, "symbol", s->symbol);
  put_str(b, "timeframe", coin_tf_name(s->tf));
  coin_jbuf_puts(b, ",");
  coin_jbuf_kint(b, "generated_at_ms", sh->hist_v.generated_ms);
  coin_site_put_validity(b, &sh->hist_v);
  coin_site_put_degraded(b, sh->degraded);
  coin_site_put_last_candle(b, s->tf, last);
  coin_jbuf_trim_comma(b);
  put_opt_ms(b, "publish_watermark_ms", s->pub_ms);
  put_opt_ms(b, "ingest_watermark_ms", s->ingest_ms);
  coin_jbuf_printf(b, ",\"candles\":%zu,\"prediction_status\":", s->n);
  coin_jbuf_str(b, coin_site_pred_status_name(sh->pred_status));
  coin_jbuf_puts(b, ",\"files\":[");
  for (int i = 0; i < PUBLISH_FILES; i++) {
    const struct file_info *cur = &files[i];
    const struct file_info *f =
        next && !same_file(&next[i], cur) ? &next[i] : cur;
    if (i)
      coin_jbuf_puts(b, ",");
    coin_jbuf_printf(b, "{\"path\":\"%s/%s\",\"bytes\":%zu,\"sha256\":", s->dir,
                     file_name(i), f->bytes);
    coin_jbuf_str(b, f->sha256);
    if (f != cur) {
      coin_jbuf_printf(b, ",\"previous_bytes\":%zu", cur->bytes);
      put_str(b, "previous_sha256", cur->sha256);
    }
    put_str(b, "status", state_name(f->state));
    put_str(b, "cache_control", f->cache_control);
    coin_jbuf_puts(b, "}");
  }
  coin_jbuf_puts(b, "]}");
}

static void cache_entry(struct publish *p, struct pseries *s) {
  struct coin_jbuf *b = &p->out;
  for (int f = 0; f < PUBLISH_FILES; f++) {
    if (!s->files[f].present) {
      /* never list a file that is not on disk */
      free(s->entry);
      s->entry = NULL;
      s->entry_len = 0;
      return;
    }
  }
  coin_jbuf_reset(b);
  render_entry(b, s, &s->shown, s->files, NULL);
  if (b->oom)
    return; /* keep the previous entry */
  char *e = malloc(b->len + 1);
  if (!e)
    return;
  memcpy(e, b->p, b->len + 1);
  free(s->entry);
  s->entry = e;
  s->entry_len = b->len;
}

/* ---- manifest.json --------------------------------------------------------
 */

/* Renders the manifest into p->out: every series with an entry; the series
 * of chunk (may be NULL) as transition entries (old and new hashes). */
static int render_manifest(struct publish *p, int64_t gen_ms,
                           const struct staged *chunk, size_t n_chunk) {
  static const enum coin_fresh_state states[] = {
      COIN_STATE_FRESH, COIN_STATE_SOFT_STALE, COIN_STATE_HARD_STALE,
      COIN_STATE_INSUFFICIENT_DATA, COIN_STATE_CORRUPT};
  size_t counts[8] = {0}, n = 0, k = 0;
  bool degraded = false;
  struct coin_site_validity overall;
  coin_site_validity_none(&overall, gen_ms);
  /* chunk is in series order, like p->series: walk both together */
  const struct staged **in_chunk = calloc(p->n_series + 1, sizeof(*in_chunk));
  if (!in_chunk)
    return coin_error_set(COIN_ENOMEM, "publish: out of memory");
  for (size_t i = 0; i < p->n_series; i++) {
    const struct pseries *s = p->series[i];
    if (k < n_chunk && chunk[k].s == s) {
      /* only series whose files all exist can be listed mid-update */
      bool all = true;
      for (int f = 0; f < PUBLISH_FILES; f++)
        all &= s->files[f].present;
      if (all)
        in_chunk[i] = &chunk[k];
      k++;
    }
    const struct shown *sh = in_chunk[i] ? &in_chunk[i]->shown : &s->shown;
    if (!in_chunk[i] && !s->entry)
      continue;
    n++;
    counts[sh->hist_state & 7]++;
    degraded |= sh->degraded != 0;
    coin_site_validity_merge(&overall, &sh->hist_v);
  }
  if (n == 0)
    overall.status = COIN_STATE_INSUFFICIENT_DATA;
  struct coin_jbuf *b = &p->out;
  coin_jbuf_reset(b);
  coin_jbuf_puts(b, "{");
  coin_site_put_head(b, gen_ms);
  coin_jbuf_trim_comma(b);
  coin_jbuf_printf(b, ",\"data_source\":{\"kind\":\"%s\",\"note\":",
                   p->cfg->data_source ? "recorded" : "live");
  coin_jbuf_str(b, p->cfg->data_source
                       ? "recorded exchange candles replayed with their times "
                         "shifted to the present; not live market data"
                       : NULL);
  coin_jbuf_puts(b, "},\"producer\":");
  coin_jbuf_str(b, p->producer_id);
  coin_jbuf_puts(b, ",");
  coin_site_put_model(b, p->lifecycle_known ? &p->lifecycle : NULL);
  coin_jbuf_trim_comma(b);
  coin_jbuf_printf(b, ",\"update_in_progress\":%s", n_chunk ? "true" : "false");
  coin_jbuf_puts(b, ",\"overall\":{");
  coin_site_put_validity(b, &overall);
  coin_jbuf_printf(b, "\"degraded\":%s,\"series\":%zu,\"counts\":{",
                   degraded ? "true" : "false", n);
  bool first = true;
  for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
    if (!counts[states[i]])
      continue;
    coin_jbuf_printf(b, "%s\"%s\":%zu", first ? "" : ",", state_name(states[i]),
                     counts[states[i]]);
    first = false;
  }
  coin_jbuf_puts(b, "}},\"series\":[");
  first = true;
  for (size_t i = 0; i < p->n_series; i++) {
    const struct pseries *s = p->series[i];
    if (!in_chunk[i] && !s->entry)
      continue;
    if (!first)
      coin_jbuf_puts(b, ",\n");
    if (in_chunk[i])
      render_entry(b, s, &in_chunk[i]->shown, s->files, in_chunk[i]->next);
    else
      coin_jbuf_putn(b, s->entry, s->entry_len);
    first = false;
  }
  coin_jbuf_puts(b, "]}\n");
  free(in_chunk);
  if (b->oom)
    return coin_error_set(COIN_ENOMEM, "publish: out of memory");
  return 0;
}

static void manifest_path(char *out, size_t out_bytes,
                          const struct publish *p) {
  snprintf(out, out_bytes, "%s/%s", p->site, COIN_SITE_MANIFEST);
}

/* The latest write's outcome (readyz "site_writes") and the counters. */
static void note_write(struct publish *p, int rc, bool manifest) {
  atomic_store(&p->c.writes_failing, rc != 0);
  if (rc != 0) {
    atomic_fetch_add(&p->c.file_errors, 1);
    return;
  }
  atomic_fetch_add(&p->c.files_written, 1);
  if (manifest)
    atomic_fetch_add(&p->c.manifests_written, 1);
}

/* Renders and replaces the manifest on its own (temp, fsync, rename,
 * directory fsync). */
static int write_manifest(struct publish *p, int64_t gen_ms,
                          const struct staged *chunk, size_t n_chunk) {
  int rc = render_manifest(p, gen_ms, chunk, n_chunk);
  if (rc != 0)
    return rc;
  char path[2 * PATH_MAX];
  manifest_path(path, sizeof(path), p);
  rc = coin_file_write_atomic(path, p->out.p, p->out.len);
  note_write(p, rc, true);
  return rc;
}

/* Renders the manifest into a staged temp file (not yet in place). */
static int stage_manifest(struct publish *p, struct coin_file_staged *out,
                          int64_t gen_ms, const struct staged *chunk,
                          size_t n_chunk) {
  int rc = render_manifest(p, gen_ms, chunk, n_chunk);
  if (rc != 0)
    return rc;
  char path[2 * PATH_MAX];
  manifest_path(path, sizeof(path), p);
  rc = coin_file_stage(out, path, p->out.p, p->out.len);
  if (rc != 0)
    note_write(p, rc, true);
  return rc;
}

/* Recomputes the status gauges from what is shown. */
static void site_update_gauges(struct publish *p) {
  uint64_t counts[8] = {0}, degraded = 0;
  for (size_t i = 0; i < p->n_series; i++) {
    const struct pseries *s = p->series[i];
    if (!s->shown.valid)
      continue;
    counts[s->shown.hist_state & 7]++;
    degraded += s->shown.degraded != 0;
  }
  for (int i = 0; i < 8; i++)
    atomic_store(&p->c.by_state[i], counts[i]);
  atomic_store(&p->c.degraded, degraded);
  atomic_store(&p->c.series, p->n_series);
}

/* ---- the flush ------------------------------------------------------------
 */

/* A file of a flush, written and fsynced under its temp name. */
struct pending {
  struct coin_file_staged f;
  size_t k; /* its series in the chunk */
  int idx;  /* its file */
};

static int stage_doc(struct publish *p, struct pseries *s, int idx,
                     const struct coin_jbuf *doc,
                     struct coin_file_staged *out) {
  char path[2 * PATH_MAX];
  snprintf(path, sizeof(path), "%s/%s/%s", p->site, s->dir, file_name(idx));
  int rc = 0;
  if (!s->dirs_made && (rc = coin_file_mkdirs_for(path)) == 0)
    s->dirs_made = true;
  if (rc == 0)
    rc = coin_file_stage(out, path, doc->p, doc->len);
  if (rc != 0)
    note_write(p, rc, false);
  return rc;
}

static void log_file_error(const struct pseries *s, int idx, int rc) {
  COIN_LOG_ERROR("file not written", COIN_LOG_STR("series", s->dir),
                 COIN_LOG_STR("file", file_name(idx)), COIN_LOG_RC(rc));
}

/* The series as it will be once its staged files are renamed (the final
 * manifest is rendered from this); restore_series undoes it. */
static void apply_series(struct publish *p, struct staged *st) {
  struct pseries *s = st->s;
  memcpy(st->prev, s->files, sizeof(st->prev));
  st->prev_shown = s->shown;
  for (int f = 0; f < PUBLISH_FILES; f++)
    s->files[f] = st->next[f]; /* staged, or the same bytes */
  if (!st->failed) {
    s->shown = st->shown;
    s->dirty_files = false;
  }
  cache_entry(p, s);
}

static void restore_file(struct publish *p, struct staged *st, int idx) {
  struct pseries *s = st->s;
  s->files[idx] = st->prev[idx];
  s->shown = st->prev_shown;
  s->dirty_files = true; /* written again at the next flush */
  st->failed = true;
  cache_entry(p, s);
}

static void clear_pending(struct pending *pend, size_t n) {
  for (size_t i = 0; i < n; i++)
    coin_file_staged_clear(&pend[i].f);
}

/* Stages the chunk's changed files (history, prediction, track record),
 * marking series whose files could not be staged. */
static size_t stage_chunk(struct publish *p, struct staged *chunk, size_t n,
                          struct pending *pend, int *first_rc) {
  size_t np = 0;
  for (size_t k = 0; k < n; k++) {
    struct pseries *s = chunk[k].s;
    for (int f = 0; f < PUBLISH_FILES; f++) {
      if (same_file(&s->files[f], &chunk[k].next[f]))
        continue; /* same bytes: only state/cache hints change */
      int rc = stage_doc(p, s, f, &chunk[k].doc[f], &pend[np].f);
      if (rc != 0) {
        log_file_error(s, f, rc);
        if (!*first_rc)
          *first_rc = rc;
        chunk[k].next[f] = s->files[f]; /* stays as it is on disk */
        chunk[k].failed = true;
        continue;
      }
      pend[np].k = k;
      pend[np].idx = f;
      np++;
    }
  }
  return np;
}

/* Renames the staged files in chunk order, then fsyncs each series
 * directory once. A file that could not be renamed keeps its old state. */
static int commit_chunk(struct publish *p, struct staged *chunk,
                        struct pending *pend, size_t np) {
  int first_rc = 0;
  for (size_t i = 0; i < np; i++) {
    struct staged *st = &chunk[pend[i].k];
    int rc = coin_file_commit(&pend[i].f);
    note_write(p, rc, false);
    if (rc != 0) {
      log_file_error(st->s, pend[i].idx, rc);
      if (!first_rc)
        first_rc = rc;
      restore_file(p, st, pend[i].idx);
      continue;
    }
    st->renamed = true;
  }
  for (size_t i = 0; i < np; i++) {
    struct staged *st = &chunk[pend[i].k];
    if (!st->renamed || (i + 1 < np && pend[i + 1].k == pend[i].k))
      continue; /* once per series: after its last file */
    int rc = coin_file_sync_dir_of(pend[i].f.path);
    if (rc != 0) {
      note_write(p, rc, false);
      COIN_LOG_ERROR("directory not synced", COIN_LOG_STR("series", st->s->dir),
                     COIN_LOG_RC(rc));
      if (!first_rc)
        first_rc = rc;
      st->s->dirty_files = true; /* not durable yet: written again */
      st->failed = true;
    }
  }
  return first_rc;
}

static int commit_manifest(struct publish *p, struct coin_file_staged *m) {
  int rc = coin_file_commit(m);
  if (rc == 0)
    rc = coin_file_sync_dir_of(m->path);
  note_write(p, rc, true);
  return rc;
}

/* One chunk (docs/publish.md "Writing"). All its files are written and
 * fsynced under temp names first: the transition manifest (if a listed file
 * changes), the series' files and, for the last chunk, the final manifest.
 * Then they are renamed in the order readers rely on, each group made
 * durable (directory fsync) before the next: transition manifest; the
 * series' files; final manifest. *final_done: the final manifest is on disk. */
static int flush_chunk(struct publish *p, struct staged *chunk, size_t n,
                       int64_t gen_ms, bool last, bool *final_done) {
  int first_rc = 0, rc = 0;
  bool listed_change = false;
  for (size_t k = 0; k < n && !listed_change; k++)
    for (int f = 0; f < PUBLISH_FILES; f++)
      if (chunk[k].s->files[f].present &&
          !same_file(&chunk[k].s->files[f], &chunk[k].next[f]))
        listed_change = true;
  struct coin_file_staged tm = {0}, fm = {0};
  struct pending *pend = calloc(n * PUBLISH_FILES + 1, sizeof(*pend));
  if (!pend)
    return coin_error_set(COIN_ENOMEM, "publish: out of memory");
  if (listed_change && (rc = stage_manifest(p, &tm, gen_ms, chunk, n)) != 0)
    goto out; /* nothing written: the old manifest still holds */
  size_t np = stage_chunk(p, chunk, n, pend, &first_rc);
  for (size_t k = 0; k < n; k++)
    apply_series(p, &chunk[k]);
  p->manifest_dirty = true;
  bool final = last && stage_manifest(p, &fm, gen_ms, NULL, 0) == 0;
  if (listed_change && (rc = commit_manifest(p, &tm)) != 0) {
    for (size_t k = 0; k < n; k++)
      for (int f = 0; f < PUBLISH_FILES; f++)
        restore_file(p, &chunk[k], f);
    goto out; /* no file of the chunk was renamed */
  }
  int crc = commit_chunk(p, chunk, pend, np);
  if (crc != 0 && !first_rc)
    first_rc = crc;
  /* the final manifest as staged holds only if every rename worked */
  if (final && crc == 0 && commit_manifest(p, &fm) == 0) {
    p->manifest_dirty = false;
    *final_done = true;
  }
out:
  clear_pending(pend, n * PUBLISH_FILES);
  free(pend);
  coin_file_staged_clear(&tm);
  coin_file_staged_clear(&fm);
  return rc ? rc : first_rc;
}

int site_flush(struct publish *p) {
  int64_t gen = coin_now_ms();
  if (gen <= p->last_generated_ms)
    gen = p->last_generated_ms + 1; /* strictly increasing */
  int first_rc = 0;
  bool any = false, final_done = false;
  struct staged *chunk = calloc(CHUNK_MAX_SERIES, sizeof(*chunk));
  if (!chunk)
    return coin_error_set(COIN_ENOMEM, "publish: out of memory");
  size_t i = 0;
  while (i < p->n_series) {
    size_t n = 0, bytes = 0;
    for (; i < p->n_series && n < CHUNK_MAX_SERIES && bytes < CHUNK_MAX_BYTES;
         i++) {
      struct pseries *s = p->series[i];
      if (!s->loaded || !s->dirty_files)
        continue;
      int rc = stage(p, &chunk[n], s, gen);
      if (rc != 0) {
        COIN_LOG_ERROR("series not rendered", COIN_LOG_STR("series", s->dir),
                       COIN_LOG_RC(rc));
        if (!first_rc)
          first_rc = rc;
        continue;
      }
      for (int f = 0; f < PUBLISH_FILES; f++)
        bytes += chunk[n].doc[f].len;
      n++;
    }
    if (n == 0)
      continue;
    any = true;
    p->last_generated_ms = gen;
    int rc = flush_chunk(p, chunk, n, gen, i >= p->n_series, &final_done);
    for (size_t k = 0; k < n; k++)
      staged_clear(&chunk[k]);
    if (rc != 0 && !first_rc)
      first_rc = rc;
  }
  free(chunk);
  if (!final_done && (any || p->manifest_dirty)) {
    p->last_generated_ms = gen;
    int rc = write_manifest(p, gen, NULL, 0);
    if (rc != 0) {
      COIN_LOG_ERROR("manifest not written", COIN_LOG_RC(rc));
      site_update_gauges(p);
      return first_rc ? first_rc : rc;
    }
    p->manifest_dirty = false;
  }
  site_update_gauges(p);
  /* The watermark says "on disk": only after the manifest. */
  for (size_t k = 0; k < p->n_series; k++) {
    struct pseries *s = p->series[k];
    if (!s->loaded || !s->dirty_wm || s->dirty_files)
      continue;
    int rc = consume_write_watermark(p, s);
    if (rc != 0) {
      COIN_LOG_WARN("publish watermark not written",
                    COIN_LOG_STR("series", s->dir), COIN_LOG_RC(rc));
      if (!first_rc)
        first_rc = rc;
      continue;
    }
    s->dirty_wm = false;
  }
  return first_rc;
}

/* What is on disk from an earlier run: the "previous" of the first update. */
void site_load_disk(struct publish *p) {
  for (size_t i = 0; i < p->n_series; i++) {
    struct pseries *s = p->series[i];
    for (int f = 0; f < PUBLISH_FILES; f++) {
      char path[2 * PATH_MAX], *data = NULL;
      size_t len = 0;
      snprintf(path, sizeof(path), "%s/%s/%s", p->site, s->dir, file_name(f));
      if (coin_file_read(&data, &len, path, 256u << 20) != 0)
        continue;
      struct file_info *fi = &s->files[f];
      fi->present = true;
      fi->bytes = len;
      fi->state = COIN_STATE_UNSPECIFIED;
      sha256_hex(fi->sha256, data, len);
      free(data);
    }
  }
}

/* ---- re-evaluation --------------------------------------------------------
 */

/* Reads the model lifecycle; a change rewrites the manifest. A failed
 * read keeps the last one shown (counted with the registry errors). */
static void lifecycle_check(struct publish *p) {
  struct coin_model_lifecycle *l = malloc(sizeof(*l));
  if (!l)
    return;
  int rc = coin_serving_lifecycle(p->serving, l);
  if (rc == 0 &&
      (!p->lifecycle_known || memcmp(l, &p->lifecycle, sizeof(*l)) != 0)) {
    if (l->recent_undecodable && !p->lifecycle.recent_undecodable)
      COIN_LOG_WARN("model events log undecodable: shown empty",
                    COIN_LOG_STR("key", COIN_KEY_RECENT_EVENTS));
    p->lifecycle = *l;
    p->lifecycle_known = true;
    p->manifest_dirty = true;
  } else if (rc != 0 && rc != COIN_EUNAVAIL) {
    atomic_fetch_add(&p->c.serving_errors, 1);
    COIN_LOG_WARN("model lifecycle not read", COIN_LOG_RC(rc));
  }
  free(l);
}

void site_reevaluate(struct publish *p, bool model_check) {
  int64_t now = coin_now_ms();
  if (model_check && p->serving) {
    int rc = coin_serving_refresh(p->serving);
    if (rc != 0) {
      atomic_fetch_add(&p->c.serving_errors, 1);
      COIN_LOG_WARN("model registry refresh failed", COIN_LOG_RC(rc));
    }
    lifecycle_check(p);
  }
  for (size_t i = 0; i < p->n_series; i++) {
    struct pseries *s = p->series[i];
    if (!s->loaded || s->dirty_files || !s->shown.valid)
      continue;
    if (model_check)
      predict(p, s);
    struct coin_freshness fr;
    eval_series(p, s, now, &fr);
    bool values = false;
    enum coin_fresh_state pst = pred_state(s, fr.state, &values);
    bool changed = fr.state != s->shown.hist_state ||
                   pst != s->shown.pred_state ||
                   s->pred.degraded != s->shown.degraded ||
                   values != s->shown.has_values ||
                   strcmp(s->pred.model_version, s->shown.model_version) != 0;
    if (changed) {
      COIN_LOG_INFO("status changed", COIN_LOG_STR("series", s->dir),
                    COIN_LOG_STR("from", state_name(s->shown.hist_state)),
                    COIN_LOG_STR("to", state_name(fr.state)),
                    COIN_LOG_STR("prediction", state_name(pst)),
                    COIN_LOG_INT("overdue_ms", fr.overdue_ms));
      s->dirty_files = true;
      atomic_fetch_add(&p->c.status_rewrites, 1);
    }
  }
}

/* ---- leftovers of killed writers ------------------------------------------
 */

/* "<name>.tmp.<pid>.<n>" of one of our files: returns the pid, else 0. */
static long tmp_owner(const char *fname) {
  static const char *const ours[] = {"history.json", "prediction.json",
                                     "track_record.json", COIN_SITE_MANIFEST};
  for (size_t i = 0; i < COIN_ARRAY_LEN(ours); i++) {
    size_t l = strlen(ours[i]);
    if (strncmp(fname, ours[i], l) != 0 || strncmp(fname + l, ".tmp.", 5))
      continue;
    char *end;
    long pid = strtol(fname + l + 5, &end, 10);
    return pid > 0 && *end == '.' ? pid : 0;
  }
  return 0;
}

static void clean_dir(struct publish *p, const char *dir, int64_t max_age_ms) {
  DIR *d = opendir(dir);
  if (!d)
    return;
  struct dirent *e;
  int64_t now = coin_now_ms();
  while ((e = readdir(d)) != NULL) {
    long pid = tmp_owner(e->d_name);
    if (pid == 0 || pid == (long)getpid())
      continue;
    char path[2 * PATH_MAX];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
    if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
      continue;
    int64_t age = now - ((int64_t)st.st_mtim.tv_sec * 1000 +
                         st.st_mtim.tv_nsec / 1000000);
    bool dead = kill((pid_t)pid, 0) != 0 && errno == ESRCH;
    if ((dead || age > max_age_ms) && unlink(path) == 0)
      atomic_fetch_add(&p->c.tmp_removed, 1);
  }
  closedir(d);
}

void site_clean_tmp(struct publish *p, int64_t max_age_ms) {
  clean_dir(p, p->site, max_age_ms);
  for (size_t i = 0; i < p->n_series; i++) {
    char dir[2 * PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/%s", p->site, p->series[i]->dir);
    clean_dir(p, dir, max_age_ms);
  }
}
