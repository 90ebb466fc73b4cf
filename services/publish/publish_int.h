/*
 * publish_int.h: coin-publish's inside: the context, one state per series
 * (in-memory history window, watermarks, what the files on disk show) and
 * the counters. Private to services/publish.
 * Threads: everything but the counters, the histogram and the readiness flag
 * belongs to publish_run's thread; the HTTP threads read only atomics.
 */
#ifndef COIN_PUBLISH_INT_H
#define COIN_PUBLISH_INT_H

#include <limits.h>
#include <signal.h>
#include <stdatomic.h>

#include "coin/bus.h"
#include "coin/codec.h"
#include "coin/freshness.h"
#include "coin/hmac.h"
#include "coin/httpd.h"
#include "coin/influx.h"
#include "coin/jbuf.h"
#include "coin/leader.h"
#include "coin/registry.h"
#include "coin/serving.h"
#include "coin/site.h"
#include "coin/track.h"
#include "publish.h"

#define PUBLISH_SHA256_HEX COIN_SHA256_HEX_BYTES
#define PUBLISH_FILES COIN_SITE_FILE_COUNT /* history, prediction, track */
#define PUBLISH_DIR_BYTES 128
#define PUBLISH_CACHE_BYTES 96
#define PUBLISH_LATENCY_BUCKETS 14

/* One candle of the window and its rendered JSON row (cached: rows do not
 * change once written, so a history file is mostly a concatenation). */
struct prow {
  struct coin_candle c;
  char *text;
  size_t len;
};

/* One row of the track record: a champion prediction (and its truth). */
struct ptrack {
  struct coin_track_row r;
  char version[COIN_CODEC_ID_BYTES];
};

struct file_info {
  bool present;
  size_t bytes;
  char sha256[PUBLISH_SHA256_HEX];
  char cache_control[PUBLISH_CACHE_BYTES];
  enum coin_fresh_state state;
};

/* What the files on disk say, to decide whether a re-evaluation changes
 * anything. */
struct shown {
  bool valid;
  enum coin_fresh_state hist_state;
  enum coin_fresh_state pred_state;
  unsigned degraded;
  bool has_values;
  enum coin_site_pred_status pred_status;
  struct coin_site_validity hist_v; /* history's validity (manifest entry) */
  char model_version[COIN_CODEC_ID_BYTES];
};

struct pseries {
  char exchange[COIN_CODEC_NAME_BYTES];
  char symbol[COIN_CODEC_NAME_BYTES];
  enum coin_tf tf;
  bool configured;
  char ingest_key[COIN_CODEC_SUBJECT_BYTES];
  char publish_key[COIN_CODEC_SUBJECT_BYTES];
  char dir[PUBLISH_DIR_BYTES]; /* "v1/<exchange>/<symbol>/<tf>" */
  int64_t slots;               /* history window, in candle slots */

  struct prow *rows; /* ascending open times, within the window */
  size_t n, cap;

  int64_t pub_ms;      /* the site shows candles up to here; -1: nothing */
  int64_t ingest_ms;   /* last known ingest watermark; -1: unknown */
  uint64_t ingest_rev; /* its KV revision (the watch may replay older ones) */
  int64_t pub_kv_ms;   /* publish watermark in KV; -1: absent */
  uint64_t pub_kv_rev;
  bool pub_kv_loaded; /* read lazily before the first write */
  bool bad_ingest_logged, bad_publish_logged; /* undecodable, said once */
  bool ingest_undecodable;       /* the ingest value read last did not decode */
  bool loaded;                   /* window rebuilt from the SoT */
  int64_t ahead_since_mono_ms;   /* ingest ahead of us since; 0: not */
  int64_t blocked_until_mono_ms; /* after a failed SoT read */

  bool dirty_files;         /* files must be (re)written */
  bool dirty_wm;            /* publish watermark must be written after them */
  bool realize_pending;     /* candles after realize_after_ms are new */
  int64_t realize_after_ms; /* (realized once the files are on disk) */
  bool dirs_made;
  bool pred_stale;         /* candles or model changed: predict again */
  bool pred_not_evaluated; /* values withheld: champion not evaluated on tf */
  struct ptrack *track;    /* ascending target times, last 30 days */
  size_t n_track, cap_track;
  bool track_loaded; /* rows read from InfluxDB once */
  /* champion_underperforming: the verdict on champ_version's 7d rows */
  enum coin_track_verdict champ_verdict;
  char champ_version[COIN_CODEC_ID_BYTES];
  struct coin_prediction pred;
  struct shown shown;
  struct file_info files[PUBLISH_FILES];
  char *entry; /* this series' manifest entry (JSON object) */
  size_t entry_len;
};

struct publish_counters {
  atomic_uint_fast64_t msgs;           /* fetched */
  atomic_uint_fast64_t batches;        /* processed and acknowledged */
  atomic_uint_fast64_t redeliveries;   /* NumDelivered > 1 */
  atomic_uint_fast64_t dup_batches;    /* nothing new in them */
  atomic_uint_fast64_t dup_candles;    /* identical or out of the window */
  atomic_uint_fast64_t candles;        /* newly published */
  atomic_uint_fast64_t repaired;       /* holes filled below the watermark */
  atomic_uint_fast64_t beyond_wm;      /* held back: beyond ingest wm */
  atomic_uint_fast64_t unconfigured;   /* skipped: series not accepted */
  atomic_uint_fast64_t sot_reads;      /* new candles read from the SoT */
  atomic_uint_fast64_t not_in_sot;     /* batch candles the SoT does not hold */
  atomic_uint_fast64_t term_decode;    /* terminated: undecodable */
  atomic_uint_fast64_t term_subject;   /* terminated: subject mismatch */
  atomic_uint_fast64_t term_invalid;   /* terminated: invalid candle */
  atomic_uint_fast64_t term_toobig;    /* terminated: over the size cap */
  atomic_uint_fast64_t naks;           /* redelivery requested */
  atomic_uint_fast64_t reconcile_hole; /* batch left a hole */
  atomic_uint_fast64_t reconcile_timer;    /* ingest ahead, no batch came */
  atomic_uint_fast64_t reconcile_conflict; /* batch differs from site */
  atomic_uint_fast64_t reconcile_errors;
  atomic_uint_fast64_t files_written;
  atomic_uint_fast64_t file_errors;
  atomic_bool writes_failing; /* the latest site file write failed */
  atomic_uint_fast64_t manifests_written;
  atomic_uint_fast64_t wm_advances;
  atomic_uint_fast64_t wm_conflicts;
  atomic_uint_fast64_t wm_errors;
  atomic_uint_fast64_t wm_bad_values; /* undecodable watermark values */
  atomic_uint_fast64_t influx_errors;
  atomic_uint_fast64_t status_rewrites; /* files rewritten: status changed */
  atomic_uint_fast64_t serving_errors;
  atomic_uint_fast64_t fetch_errors;
  atomic_uint_fast64_t tmp_removed;
  atomic_uint_fast64_t activation_retries; /* start as active retried */
  atomic_uint_fast64_t series;             /* gauge */
  atomic_uint_fast64_t by_state[8];        /* gauge per state */
  atomic_uint_fast64_t degraded;           /* gauge */
  atomic_uint_fast64_t rebuild_ms;         /* gauge */
  atomic_uint_fast64_t rebuild_files;      /* gauge */
  atomic_uint_fast64_t lat_buckets[PUBLISH_LATENCY_BUCKETS]; /* cumulative */
  atomic_uint_fast64_t lat_count;
  atomic_uint_fast64_t lat_sum_us;
  atomic_int_fast64_t last_loop_mono_ms;
  atomic_bool ready;
};

struct publish {
  const struct publish_config *cfg;
  struct coin_freshness_policy policy;
  struct coin_bus *bus;
  struct coin_bus_kv *kv_wm;
  struct coin_bus_kv_watch *wm_watch;
  struct coin_bus_sub *sub;
  struct coin_influx *ix;         /* SoT reads (run thread) */
  struct coin_influx *ix_serving; /* given to the serving object */
  struct coin_serving *serving;
  struct coin_httpd *httpd;
  struct coin_leader *leader; /* one writer of the site (publish_run) */
  char site[PATH_MAX];        /* STATIC_DATA_DIR */
  char producer_id[COIN_CODEC_ID_BYTES];

  struct pseries **series; /* sorted by exchange, symbol, tf */
  size_t n_series, cap_series;

  bool manifest_dirty;
  /* the model lifecycle shown in manifest.json "model" (site_reevaluate
   * reads it with each model check; known: read once at least) */
  struct coin_model_lifecycle lifecycle;
  bool lifecycle_known;
  int64_t last_generated_ms; /* strictly increasing generated_at_ms */
  int64_t next_tick_mono_ms;
  int64_t next_reeval_mono_ms;
  int64_t next_model_mono_ms;
  int64_t next_tmp_clean_mono_ms;
  int64_t flush_retry_mono_ms; /* a failed flush is retried from here */
  struct coin_jbuf out;        /* render buffer (run thread) */
  struct publish_counters c;
  atomic_bool stop; /* set by the stop request (a signal handler) */
};

/* ---- series.c: the set of series and their windows ---------------------- */
struct pseries *series_find(struct publish *p, const char *exchange,
                            const char *symbol, enum coin_tf tf);
/* Adds a series (validated tokens); COIN_ETOOBIG beyond PUBLISH_MAX_SERIES. */
int series_add(struct pseries **out, struct publish *p, const char *exchange,
               const char *symbol, enum coin_tf tf, bool configured);
void series_free(struct pseries *s);
/* Open time of the first slot of a window of s->slots ending at anchor. */
int64_t series_window_from(const struct pseries *s, int64_t anchor_ms);

struct merge_stats {
  size_t added;         /* new open times */
  size_t replaced;      /* same open time, other values */
  size_t identical;     /* already there, same values */
  size_t outside;       /* before the window */
  size_t removed;       /* rows the SoT does not hold (reads only) */
  int64_t first_new_ms; /* first added/replaced open time, INT64_MAX: none */
};
/* Merges ascending candles; the window then ends at anchor_ms (older rows
 * are dropped). Rows with open > anchor_ms are never taken. */
int series_merge(struct pseries *s, const struct coin_candle *c, size_t n,
                 int64_t anchor_ms, struct merge_stats *st);
/* Index of the row with open_ms, or -1. */
long series_find_row(const struct pseries *s, int64_t open_ms);
/* Makes [from_ms, to_ms] of the window exactly c[0..n) (the SoT's view). */
int series_apply_sot(struct pseries *s, int64_t from_ms, int64_t to_ms,
                     const struct coin_candle *c, size_t n, int64_t anchor_ms,
                     struct merge_stats *st);
/* One series' share of a bulk read. */
struct series_read {
  struct pseries *s;
  int64_t from_ms, to_ms;
  struct coin_candle *c; /* malloc'd by the read; the caller frees */
  size_t n, cap;
};
/* Reads many series of one exchange and timeframe (v sorted by symbol) with
 * one streamed query: v[i].c gets the candles in [from_ms, to_ms]. */
int series_read_sot_many(struct publish *p, struct series_read *v, size_t n);
/* For a query over many series of one exchange and timeframe (v sorted by
 * symbol; symbol_of(v, i) names the i-th): appends
 * " AND <field> =~ /^(A|B|...)$/", or nothing when the list would make the
 * query too long (every symbol is then read; the caller skips the others).
 * Symbols were validated ([A-Z0-9_-]): nothing to escape. */
void series_put_symbols(struct coin_jbuf *q, const char *field,
                        const char *(*symbol_of)(const void *v, size_t i),
                        const void *v, size_t n);
/* Runs the query q (freed here), rows to fn. No database or retention
 * policy yet reads as nothing stored; a failed query counts in
 * influx_errors. */
int series_query(struct publish *p, struct coin_jbuf *q, coin_influx_row_cb fn,
                 void *ud);
/* Reads [from_ms, to_ms] from InfluxDB and merges it (the SoT wins);
 * anchor as series_merge. */
int series_read_sot(struct publish *p, struct pseries *s, int64_t from_ms,
                    int64_t to_ms, int64_t anchor_ms, struct merge_stats *st);

/* ---- consume.c: messages, watermarks, reconciles ------------------------ */
enum msg_verdict {
  MSG_ACK = 0,  /* done (after the flush) */
  MSG_TERM = 1, /* already terminated */
  MSG_NAK = 2,  /* redeliver later */
};
/* Handles one fetched message; *published is set when it changed the site,
 * *series to the series it belongs to (NULL: none of ours). */
enum msg_verdict consume_msg(struct publish *p, struct coin_bus_msg *m,
                             bool *published, struct pseries **series);
int consume_load_watermarks(struct publish *p, struct pseries *s);
/* Drains the ingest watermark watch (non-blocking-ish, bounded). */
void consume_drain_watch(struct publish *p);
/* Reconciles series whose ingest watermark is ahead for too long. */
void consume_reconcile_due(struct publish *p);
/* Rebuilds s's window from the SoT up to its ingest watermark. */
int consume_rebuild(struct publish *p, struct pseries *s);
/* Start-up: the watch's initial values become the ingest watermarks (until
 * its INIT_DONE, at most timeout_ms). False when INIT_DONE did not come. */
bool consume_watch_init(struct publish *p, int64_t timeout_ms);
/* Start-up: rebuilds every series not loaded yet, one query per exchange
 * and timeframe; series whose bulk read failed stay unloaded. */
void consume_rebuild_all(struct publish *p);
/* Writes the publish watermark of s (CAS); 0 when KV holds >= s->pub_ms. */
int consume_write_watermark(struct publish *p, struct pseries *s);
/* Realized errors of earlier predictions (coin_serving_realize) for the
 * candles published since the last call: run after the files are on disk,
 * off the path from a batch to its files. */
void consume_realize_pending(struct publish *p);

/* ---- site.c: rendering and writing ----------------------------------------
 */
/* Writes every dirty series' files, then the manifest, then the publish
 * watermarks. Returns the first error; what failed stays dirty. */
int site_flush(struct publish *p);
/* Hashes the files an earlier run left on disk (before the first flush). */
void site_load_disk(struct publish *p);
/* Re-evaluates freshness (and, when model_check, predictions) of every
 * series; marks those whose visible state changed. */
void site_reevaluate(struct publish *p, bool model_check);
/* Removes leftover temp files of our artifacts older than max_age_ms. */
void site_clean_tmp(struct publish *p, int64_t max_age_ms);

/* ---- track.c: the public track record ------------------------------------ */
/* Reads the champion's recorded predictions of s (once). */
int track_load(struct publish *p, struct pseries *s, int64_t now_ms);
/* track_load for many series of one exchange and timeframe (v sorted by
 * symbol) in one query; on failure none is marked loaded. */
int track_load_many(struct publish *p, struct pseries **v, size_t n,
                    int64_t now_ms);
void track_note_prediction(struct pseries *s, const struct coin_prediction *pr,
                           bool had_values);
/* champion_underperforming: judges the realized rows of version (the
 * current champion's) in the 7d window ending at now_ms with
 * coin_track_judge(min_rows), remembers the verdict in s, and returns it. */
enum coin_track_verdict track_champion_judge(struct pseries *s,
                                             const char *version,
                                             int64_t now_ms, int64_t min_rows);
/* Sets (WORSE verdict on the prediction's model) or clears the reason bit
 * in s->pred.degraded. */
void track_champion_mark(struct pseries *s);
/* Renders track_record.json (validity v: the history's). */
void track_render(struct coin_jbuf *b, struct publish *p, struct pseries *s,
                  int64_t gen_ms, const struct coin_site_validity *v,
                  bool served);

/* ---- metrics.c ------------------------------------------------------------
 */
void metrics_observe_latency(struct publish_counters *c, int64_t latency_ms);

#endif
