/*
 * ingest_int.h: coin-ingest's inside: the ingest context, per-series state
 * and the shared counters. Private to services/ingest.
 * A series is synced by one thread at a time (its busy flag, sched.c);
 * counters are atomics; the bus and KV handles are thread-safe (bus.h).
 */
#ifndef COIN_INGEST_INT_H
#define COIN_INGEST_INT_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include "coin/bus.h"
#include "coin/codec.h"
#include "coin/httpd.h"
#include "coin/influx.h"
#include "cycle_stats.h"
#include "exchange.h"
#include "ingest.h"

#define INGEST_MAX_KNOWN_GAPS 4096
/* durable runtime-metrics window: key in COIN_KV_INGEST */
#define INGEST_KEY_RUNTIME_PREFIX "runtime" /* runtime.<SERVICE_ID>.cycles */

/* A range the exchange answered without (valid) candles. */
struct known_gap {
  int64_t from_ms; /* first missing open time */
  int64_t to_ms;   /* last missing open time */
  int64_t checked_ms;
  int64_t next_check_ms;
  int attempts;
  bool invalid; /* the exchange sent candles there, but invalid ones */
};

struct series {
  char symbol[COIN_CODEC_NAME_BYTES];
  enum coin_tf tf;
  char wm_key[COIN_CODEC_SUBJECT_BYTES];
  char gaps_key[COIN_CODEC_SUBJECT_BYTES];
  char subject[COIN_CODEC_SUBJECT_BYTES];
  bool full_fill;

  int64_t watermark_ms; /* -1: none yet */
  int64_t stored_ms;    /* SoT complete up to here (may lead the watermark
                           while NATS is away); -1: nothing this run */
  uint64_t wm_revision; /* 0: key absent */
  bool wm_loaded;
  int64_t first_open_ms; /* -1: not asked yet */
  int64_t start_ms;      /* first open time this series keeps */

  struct known_gap *gaps;
  size_t n_gaps;
  uint64_t gaps_revision;
  bool gaps_loaded;
  bool gaps_dirty;

  int64_t next_gap_scan_ms; /* 0: full scan due (start) */
  bool full_scan_done;
  bool retry; /* last sync left work undone */

  /* the scheduler's view (sched.c), under ingest.lock */
  bool owned;  /* this replica's to sync (members.c) */
  bool reload; /* owned again after another replica had it: state from KV */
  bool busy;   /* queued or being synced */
  bool missed; /* came due again while busy: dispatch when it ends */
  int fail_streak;
  size_t sched_gaps;           /* n_gaps when its last sync ended */
  int64_t sched_next_check_ms; /* earliest known-gap re-check then */

  /* backfill progress (for the log line): open-time slots of the range
   * covered, and candles stored */
  int64_t bf_from_ms; /* first slot of the fill under way; -1: none */
  int64_t bf_total;
  int64_t bf_done;
  int64_t bf_candles;
  int64_t bf_started_ms;
  int64_t bf_last_log_ms;
};

struct ingest_counters {
  atomic_uint_fast64_t candles_written;
  atomic_uint_fast64_t candles_invalid;
  atomic_uint_fast64_t open_candles_skipped;
  atomic_uint_fast64_t batches_published;
  atomic_uint_fast64_t publish_errors;
  atomic_uint_fast64_t watermark_advances;
  atomic_uint_fast64_t watermark_conflicts;
  atomic_uint_fast64_t watermark_bad_values; /* undecodable, rebuilt */
  atomic_uint_fast64_t gaps_bad_values;      /* known-gaps value unreadable */
  atomic_uint_fast64_t watermark_errors;
  atomic_uint_fast64_t influx_errors;
  atomic_uint_fast64_t exchange_errors;
  atomic_uint_fast64_t gaps_found;
  atomic_uint_fast64_t gaps_filled;
  atomic_uint_fast64_t gaps_known; /* gauge, recomputed each cycle */
  atomic_uint_fast64_t gap_rechecks;
  atomic_uint_fast64_t cycles;
  atomic_uint_fast64_t overruns;
  atomic_uint_fast64_t series_synced;
  atomic_uint_fast64_t series_deadlines; /* syncs that failed at the deadline */
  atomic_uint_fast64_t series_slices;    /* long fills continued later */
  atomic_uint_fast64_t series_busy_skips; /* due while still running */
};

/* The scheduler (sched.c): a round is the series found due at one wake
 * (a "cycle" in runtime_metrics.json); rounds overlap. */
#define INGEST_MAX_ROUNDS 32

struct sched_item {
  size_t series;
  int round;
  int64_t now_ms; /* the round's exchange time */
};

struct sched_round {
  bool active;
  int64_t start_mono_ms;
  size_t n;       /* series dispatched */
  size_t pending; /* not finished yet */
  bool undone;    /* one left work undone (or no exchange time) */
};

/* The runtime-metrics window kept in KV (runtime_window.c). A writer thread
 * saves it after each cycle so that a slow or absent NATS never holds a
 * cycle up; its own lock guards the flags below. */
struct runtime_window {
  char key[COIN_BUS_KEY_MAX];
  pthread_t thread;
  bool started;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  bool dirty;   /* a cycle ended since the last save */
  bool stop;    /* save what is pending, then exit */
  bool loaded;  /* the stored window was read (or absent, or rejected) */
  bool failing; /* in a streak of failed saves (warned once) */
  atomic_uint_fast64_t saves;
  atomic_uint_fast64_t save_errors;
  atomic_uint_fast64_t load_errors;
  atomic_uint_fast64_t rejected;
};

/* Membership of the replicas (members.c): member.<id> in
 * COIN_KV_INGEST. Everything but the atomics belongs to ingest_run's
 * thread. */
#define INGEST_KEY_MEMBER_PREFIX "member"
#define INGEST_MAX_MEMBERS 64
#define INGEST_MEMBER_ID_BYTES 96

struct member_seen {
  char id[INGEST_MEMBER_ID_BYTES];
  uint64_t revision;
  int64_t changed_mono_ms; /* when its value last changed, as seen here */
  bool present;
};

struct membership {
  char self[INGEST_MEMBER_ID_BYTES];
  char key[COIN_BUS_KEY_MAX];
  int64_t ttl_ms;
  int64_t joined_mono_ms;
  int64_t next_beat_mono_ms;
  bool settled;    /* the others have seen us: we own a share */
  bool ever_owned; /* a share was computed once (later gains are takeovers) */
  bool failing;    /* in a streak of failed heartbeats (warned once) */
  struct member_seen seen[INGEST_MAX_MEMBERS];
  size_t n_seen;
  char live[INGEST_MAX_MEMBERS + 1][INGEST_MEMBER_ID_BYTES]; /* sorted */
  size_t n_live;
  atomic_uint_fast64_t members; /* gauge: live members, this one included */
  atomic_uint_fast64_t owned;   /* gauge: series this replica syncs */
  atomic_uint_fast64_t gained;  /* series taken over from another member */
  atomic_uint_fast64_t lost;    /* series handed to another member */
  atomic_uint_fast64_t beat_errors;
};

#define INGEST_MAX_REQUESTS 64

/* A queued operator refill (control.c). */
struct control_req {
  size_t series; /* index into ingest.series */
  int64_t from_ms;
  int64_t to_ms;
  char request_id[COIN_CODEC_ID_BYTES];
  char reply[COIN_CODEC_SUBJECT_BYTES];
  char note[160]; /* e.g. the cut to the retention window, for the reply */
};

struct worker {
  struct ingest *in;
  struct coin_exchange *ex;
  struct coin_influx *ix;
  pthread_t thread;
  bool started;
  /* one series' sync: no exchange call past deadline_ms (wall clock, 0 =
   * none); a fill that reaches it stops between pages and sets
   * deadline_hit (the rest is the next slice, dispatched at once) */
  int64_t deadline_ms;
  bool deadline_hit;
};

struct ingest {
  const struct ingest_config *cfg;
  struct coin_exchange_budget budget;
  struct worker *workers;
  size_t n_workers;
  struct coin_influx *ix_main; /* scheduler thread's client */
  struct coin_exchange *ex_main;
  struct coin_bus *bus;
  struct coin_bus_kv *kv_wm;
  struct coin_bus_kv *kv_state;
  struct coin_httpd *httpd;
  struct coin_bus_tap *control_tap;
  struct worker control; /* the control thread's clients (operator refills) */
  atomic_bool control_quit;
  struct control_req requests[INGEST_MAX_REQUESTS]; /* under lock */
  size_t n_requests;

  struct series *series;
  size_t n_series;

  /* the scheduler (sched.c): all under lock */
  pthread_mutex_t lock;
  pthread_cond_t work_cond; /* queue not empty, or quit */
  pthread_cond_t idle_cond; /* a series finished */
  struct sched_item *queue; /* ring of n_series */
  size_t q_head, q_len;
  size_t n_running;
  struct sched_round rounds[INGEST_MAX_ROUNDS];
  bool redispatch; /* a missed series is free again: dispatch now */
  bool retry_soon; /* a round left work undone */
  bool quit;       /* workers exit once the queue is empty */
  bool sched_started;

  /* readiness (/readyz): can ingest do its job now */
  struct coin_influx *ix_probe; /* under probe_lock */
  pthread_mutex_t probe_lock;
  int64_t probe_checked_mono_ms;
  bool probe_influx_ok;
  atomic_bool influx_failing;   /* the latest InfluxDB write failed */
  atomic_bool exchange_failing; /* the latest exchange time failed */

  struct cycle_stats stats; /* under lock */
  struct runtime_window rw;
  struct membership members;
  struct ingest_counters c;
  atomic_bool stop; /* set by the stop request (a signal handler) */
  char producer_id[COIN_CODEC_ID_BYTES];
};

/* sync.c: the known-gaps KV value {"gaps":[{from_ms, to_ms, checked_ms,
 * next_check_ms, attempts, invalid?}, ...]} -> *gaps (realloc'd, at most
 * INGEST_MAX_KNOWN_GAPS entries), *n; entries that are unreadable or not
 * a range 0 <= from_ms <= to_ms with times and attempts >= 0, and those over
 * the limit, are skipped and counted in *n_skipped. COIN_EDECODE with a
 * one-line error when the value is not a gaps record. */
int ingest_gaps_decode(struct known_gap **gaps, size_t *n, size_t *n_skipped,
                       const char *text, size_t len);
/* sync.c: one series, one cycle (forward fill, then gaps). */
int sync_series(struct worker *w, struct series *s, int64_t now_ms);
bool sync_due(const struct ingest *in, const struct series *s, int64_t now_ms);
/* The oldest open time InfluxDB accepts for tf at now: for 1m the first
 * candle inside rp_1m (retention_days), with one minute to spare so that
 * a write a moment later is still inside; INT64_MIN for the others (no
 * retention). Every 1m range (first fill, gap checks, refills) is cut to
 * it. */
int64_t ingest_retention_floor(enum coin_tf tf, int64_t now_ms,
                               int64_t retention_days);
/* An operator's refill of [from, to] (coinctl backfill): fetched again,
 * rewritten (idempotent) and published as BACKFILL batches; the watermark
 * does not move. progress is called after each page with rows seen. */
int sync_refill(struct worker *w, struct series *s, int64_t from, int64_t to,
                int64_t now, void (*progress)(void *ud, int64_t seen),
                void *progress_ud, int64_t *out_stored);

/* page.c: the verdict on one row of an exchange page. */
enum page_verdict {
  PAGE_KEEP = 0, /* closed, in range, valid: to be stored */
  PAGE_OPEN,     /* open time past last_closed_ms: the still-open candle */
  PAGE_BEFORE,   /* before *expect_ms: outside the range or a repeat */
  PAGE_INVALID,  /* coin_candle_validate failed (coin_error_last says why) */
};
/* What a kept row skipped: [from_ms, to_ms] has no (valid) candle. */
struct page_hole {
  bool found;
  int64_t from_ms, to_ms;
  bool invalid; /* an earlier row of the page lay there (rejected) */
};
/* Judges rows[i] of a page (ascending; close_ms[i] the exchange's close time
 * or -1) of timeframe tf, *expect_ms being the next open time the range
 * expects. PAGE_KEEP moves *expect_ms past the row and fills *hole; the
 * other verdicts leave *expect_ms and set hole->found false. */
enum page_verdict page_filter_row(struct page_hole *hole, int64_t *expect_ms,
                                  const struct coin_candle *rows,
                                  const int64_t *close_ms, size_t i,
                                  enum coin_tf tf, int64_t last_closed_ms);

/* members.c: the heartbeat and the share of the series (docs/scaling.md).
 * start: the first heartbeat and share, before the first round; tick: a
 * heartbeat every third of the TTL (force: now); leave: the key deleted on
 * a clean stop; owner: the live member a series key belongs to. */
void members_start(struct ingest *in);
void members_tick(struct ingest *in, bool force);
void members_leave(struct ingest *in);
bool members_owns(struct ingest *in, size_t series);

/* sched.c: the worker pool and the control thread; the round dispatch
 * (series that are due and not busy, healthy ones first); waiting. */
int sched_start(struct ingest *in);
/* Dispatches a round at exchange time now_ms; have_time false: no exchange
 * time, an empty round that counts as undone. Returns the series queued. */
size_t sched_dispatch(struct ingest *in, int64_t now_ms, bool have_time);
/* Until nothing is queued or running (or stop). */
void sched_wait_idle(struct ingest *in);
/* Takes and clears the flags set when series end (redispatch, retry_soon). */
void sched_take_flags(struct ingest *in, bool *redispatch, bool *retry_soon);
/* The earliest known-gap re-check of the series (INT64_MAX: none). */
int64_t sched_next_check_ms(struct ingest *in);
/* Waits until the series is free and claims it (control.c); false on stop. */
bool sched_claim(struct ingest *in, size_t series);
void sched_release(struct ingest *in, size_t series);
/* Lets workers and the control thread finish and joins them (idempotent). */
void sched_stop(struct ingest *in);

/* control.c: coinctl backfill requests */
int control_start(struct ingest *in);
/* The control thread runs the queued requests on in->control, claiming each
 * series from the scheduler (sched_claim); from ingest_run to its end. */
int control_thread_start(struct ingest *in);
void control_thread_stop(struct ingest *in); /* joins it (idempotent) */

/* runtime_window.c: load before the first cycle (never fails ingest: a bad
 * value is logged once, counted and ignored), then one save per cycle. */
void runtime_window_init(struct ingest *in);
void runtime_window_load(struct ingest *in);
int runtime_window_start(struct ingest *in);
void runtime_window_touch(struct ingest *in);   /* after a cycle: save soon */
void runtime_window_destroy(struct ingest *in); /* last save, join, free */

#endif
