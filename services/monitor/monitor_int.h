/*
 * monitor_int.h: coin-monitor's inside: the context, per-series state, the
 * outbox queue and the sinks. Private to services/monitor.
 * Locks: m->lock guards every series' observation and state machine and the
 * manifest fields (the pass holds it while it evaluates; /status, per-series
 * status, /metrics and the Alertmanager resend read under it); m->wm_lock
 * guards the watermark cache fed by the KV watch; m->out_lock the outbox
 * queue; m->ix_lock the InfluxDB client of /readyz. A series' symbol and tf
 * never change after setup (the outbox reads them without a lock).
 * Counters are atomics.
 */
#ifndef COIN_MONITOR_INT_H
#define COIN_MONITOR_INT_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/types.h>

#include "coin/bus.h"
#include "coin/codec.h"
#include "coin/freshness.h"
#include "coin/hmac.h"
#include "coin/http.h"
#include "coin/httpd.h"
#include "coin/influx.h"
#include "coin/jbuf.h"
#include "coin/leader.h"
#include "coin/site.h"
#include "coin/track.h"
#include "monitor.h"

struct jscan;

#define MON_MAX_FILES 4        /* files per series in the manifest */
#define MON_FILE_NAME_BYTES 48 /* a file name in the series' directory */
#define MON_DETAIL_BYTES 256   /* why a series is in its state */
#define MON_ALERTNAME_BYTES 32 /* CoinSoftStale ... */
#define MON_MAX_SINKS 32       /* all kinds together */
#define MON_BUCKET_HISTORY 5   /* KV coin_monitor values kept per key */
#define MON_DEDUP_WINDOW_MS (3600 * 1000) /* COIN_ALERTS Nats-Msg-Id window */
#define MON_OUTBOX_MAX 65536    /* queued jobs before the oldest is dropped */
#define MON_MIN_PASS_GAP_MS 200 /* KV-triggered passes at most this often */

/* ---- the static site as read from STATIC_DATA_DIR ----------------------- */

enum mon_file_kind { MON_FILE_OTHER, MON_FILE_HISTORY, MON_FILE_PREDICTION };

/* One files[] element of manifest.json as read, before any rule is
 * checked: site.c and the probe each apply their own. */
#define MON_LISTED_PATH_BYTES 200
struct mon_listed_file {
  char path[MON_LISTED_PATH_BYTES]; /* "" not a string, "?" too long */
  int64_t bytes;                    /* -1 absent or not a size */
  char sha[72];                     /* "" absent, not a string or too long */
  int64_t prev_bytes;               /* -1 absent or null, -2 not a size */
  char prev_sha[72];                /* "" absent, null or malformed */
  bool has_prev_sha;                /* previous_sha256 there and not null */
};

/* A file listed for a series in manifest.json; it lives in the series'
 * directory v1/<exchange>/<symbol>/<tf>/. */
struct mon_file {
  char name[MON_FILE_NAME_BYTES];
  enum mon_file_kind kind;
  bool has_previous; /* a transition manifest: the file may still be old */
  int64_t bytes;
  int64_t previous_bytes;
  uint8_t sha256[COIN_SHA256_BYTES];
  uint8_t previous_sha256[COIN_SHA256_BYTES];
};

/* A file's identity as stat sees it: while it holds, so does what was
 * verified about the file. */
struct mon_file_ident {
  uint64_t dev, ino;
  int64_t size, mtime_ns, ctime_ns;
};

/* What was verified about one file, valid while its identity holds. */
struct mon_file_cache {
  bool valid;
  bool parse_ok;
  bool degraded; /* prediction: flag + reason bits */
  unsigned reasons;
  struct mon_file_ident id;
  int64_t verified_ms;
  uint8_t sha256[COIN_SHA256_BYTES]; /* digest of the content */
  char *err;                         /* malloc'd parse error (!parse_ok) */
  int64_t last_open_ms;              /* history: newest candle, -1 none */
  int64_t n_candles;
  int64_t announced_soft_ms; /* history: its soft_stale_at_ms, -1 none */
  int64_t announced_hard_ms;
};

/* The series' entry in manifest.json. */
struct mon_manifest_entry {
  uint32_t gen; /* the manifest load that listed it (m->man_gen) */
  bool bad;     /* the entry breaks the schema: err says how */
  char *err;    /* malloc'd */
  enum coin_fresh_state site_status; /* publish's status at generated_at */
  bool degraded;
  unsigned reasons;
  int64_t last_open_ms;  /* -1 when null */
  int64_t publish_wm_ms; /* -1 when absent */
  uint8_t n_files;
  struct mon_file files[MON_MAX_FILES];
  struct mon_file_cache cache[MON_MAX_FILES];
};

enum mon_manifest_state {
  MON_MANIFEST_MISSING,
  MON_MANIFEST_BAD,
  MON_MANIFEST_OK
};

/* ---- alerts ------------------------------------------------------------- */

/* One alert episode (a staleness/corrupt/insufficient alert, or degraded).
 * Its alert_id is <alertname>.<exchange>.<symbol>.<tf>.<starts_at_ms>. */
struct mon_alert {
  bool active;
  char alertname[MON_ALERTNAME_BYTES];
  enum coin_severity severity;
  enum coin_fresh_state state;
  uint32_t repeat_count;
  int64_t starts_at_ms;
  int64_t last_notified_ms;
  int64_t next_repeat_ms; /* 0: not repeated */
};

/* The last alert message produced for the series (its msg_id follows). */
struct mon_last_alert {
  bool set;
  char alertname[MON_ALERTNAME_BYTES];
  enum coin_alert_status status;
  enum coin_severity severity;
  enum coin_fresh_state state;
  uint32_t repeat_count;
  int64_t starts_at_ms;
  int64_t at_ms;
};

/* ---- one symbol+timeframe ----------------------------------------------- */

struct mon_series {
  char symbol[COIN_CODEC_NAME_BYTES];
  enum coin_tf tf;

  /* inputs of the last pass */
  int64_t ingest_wm_ms; /* -1: unknown */
  int64_t publish_wm_ms;
  struct mon_manifest_entry man;

  /* observation of the last pass (what users see) */
  bool observed;
  struct coin_freshness fresh;
  int64_t last_open_ms; /* -1: none */
  int64_t n_candles;
  int64_t announced_soft_ms; /* what history.json says of itself; -1 */
  int64_t announced_hard_ms;
  bool degraded_known;
  bool obs_degraded;
  unsigned obs_reasons;
  int64_t publish_lag_candles; /* ingest watermark ahead of the site */
  int64_t site_lag_candles;    /* publish watermark ahead of the site */
  bool site_ahead;             /* site beyond the ingest watermark */
  const char *cause;           /* "ingest", "publish", "site" or NULL */
  char detail[MON_DETAIL_BYTES];
  bool pending;          /* a fresh mismatch awaits confirmation */
  int64_t recheck_at_ms; /* when to look again (0: none) */

  /* state machine (persisted in KV coin_monitor) */
  bool known; /* false: nothing persisted or seen yet (UNSPECIFIED) */
  enum coin_fresh_state state;
  int64_t since_ms; /* when the base condition began */
  int64_t at_ms;    /* when the monitor saw the last transition */
  bool degraded;
  unsigned reasons;
  int64_t degraded_since_ms;
  int64_t bootstrap_until_ms; /* alerts held back until (0: none) */
  struct mon_alert alert;     /* staleness / corrupt / insufficient_data */
  struct mon_alert dalert;    /* degraded */
  struct mon_last_alert last_alert;

  /* quiet deployments (persisted): the fill of a series new to the monitor
   * (eval.c; bootstrap_until_ms above is its bound) */
  int64_t first_seen_ms;  /* first evaluated without a record; -1 unknown */
  bool ever_fresh;        /* fresh at least once since first seen */
  int64_t first_fresh_ms; /* when it first was; -1 never or unknown */
};

/* ---- the outbox: NATS work queued by the pass, done by its own thread -- */

/* An alert to publish; its subject follows from the job's series. */
struct mon_msg {
  char msg_id[COIN_CODEC_MSG_ID_BYTES];
  uint8_t *data;
  size_t len;
};

#define MON_JOB_MAX_ALERTS 4

/* Everything one series' step produced, done in this order: alerts
 * (JetStream, Nats-Msg-Id), the status transition (core), then the state
 * record (KV put) - so a crash before the KV write re-derives the same
 * alerts (same ids, dropped by the stream's duplicate window). */
struct mon_job {
  struct mon_job *next;
  const struct mon_series *series; /* symbol, tf never change; NULL: global */
  struct mon_msg *alerts;          /* malloc'd, MON_JOB_MAX_ALERTS, or NULL */
  size_t n_alerts;
  size_t n_sent;
  uint8_t *status; /* packed StatusTransition or NULL */
  size_t status_len;
  bool status_sent;
  char *state_json; /* malloc'd; NULL: no KV write */
  size_t state_len;
  char *kv_key;      /* malloc'd KV key of state_json; NULL: the series' key */
  int64_t raised_ms; /* when the pass queued it (outbox_push) */
};

/* ---- global alerts (global.c) ------------------------------------------- */

#define MON_MAX_GLOBALS 64         /* (alertname, target) pairs at once */
#define MON_GLOBAL_TARGET_BYTES 72 /* "webhook-0", "<ex>/<sym>/<tf>" ... */
#define MON_GLOBAL_REASSERT_MS (10 * 60 * 1000) /* after a restart */
#define MON_KEY_GLOBAL_PREFIX "global" /* KV coin_monitor global.<ex>.<..> */

/* One global alert episode (an alert about no series). Its alert_id is
 * <alertname>.global.<target or ->.<starts_at_ms>. */
struct mon_global {
  bool used;
  bool active;
  bool asserted;     /* raised since start (false: loaded from KV only) */
  int64_t loaded_ms; /* when it was loaded from KV */
  char alertname[MON_ALERTNAME_BYTES];
  char target[MON_GLOBAL_TARGET_BYTES]; /* label "target"; "" none */
  enum coin_severity severity;
  int64_t starts_at_ms;
  char summary[COIN_CODEC_TEXT_BYTES];
};

/* ---- sinks ------------------------------------------------------------- */

enum mon_sink_kind { MON_SINK_WEBHOOK, MON_SINK_SLACK, MON_SINK_ALERTMANAGER };

/* ---- alert-miss accounting (delivery.c) ---------------------------------- */

enum mon_delivery_outcome {
  MON_DELIVERY_ON_TIME,
  MON_DELIVERY_LATE,
  MON_DELIVERY_DROPPED,
  MON_DELIVERY_OUTCOMES
};

/* One alert a sink owes: raised_ms is when the monitor raised it. */
struct mon_ledger_entry {
  uint64_t key;       /* FNV-1a of msg_id */
  char *msg_id;       /* malloc'd */
  int64_t raised_ms;  /* Unix ms */
  int64_t settled_ms; /* -1 while owed */
  bool missed;        /* crossed the deadline undelivered (counted once) */
};

/* What a ledger holds at one evaluation. */
struct mon_ledger_view {
  uint64_t outcomes[MON_DELIVERY_OUTCOMES];
  uint64_t missed_total, untracked;
  size_t missing, pending;
  int64_t oldest_missing_ms; /* -1: none */
  char oldest_missing_id[COIN_CODEC_MSG_ID_BYTES];
  int64_t last_drop_ms; /* -1: none */
  int64_t max_latency_ms;
  int64_t evaluated_ms;
};

/* A sink's ledger. Leaf lock: nothing else is taken while lock is held. */
struct mon_ledger {
  pthread_mutex_t lock;
  struct mon_ledger_entry *e; /* owed, then settled ones kept for a while */
  size_t n, cap;
  uint64_t outcomes[MON_DELIVERY_OUTCOMES];
  uint64_t missed_total, untracked;
  int64_t last_drop_ms, max_latency_ms;
  struct mon_ledger_view view; /* of the last evaluation */
};

int ledger_init(struct mon_ledger *l);
void ledger_free(struct mon_ledger *l);
/* msg_id is owed (idempotent; an alert settled first stays settled). */
void ledger_expect(struct mon_ledger *l, const char *msg_id, int64_t raised_ms);
/* The sink delivered (or gave up) msg_id; an unknown one is classified from
 * stream_ms (its stream timestamp; <= 0: now). */
void ledger_settle(struct mon_ledger *l, const char *msg_id, bool delivered,
                   int64_t stream_ms, int64_t now_ms, int64_t deadline_ms);
/* Marks what crossed the deadline, expires what is older than expire_ms
 * (dropped), forgets settled entries, and stores and returns the view. */
void ledger_evaluate(struct mon_ledger *l, int64_t now_ms, int64_t deadline_ms,
                     int64_t expire_ms, struct mon_ledger_view *out);

struct mon_sink {
  struct monitor *m;
  enum mon_sink_kind kind;
  char name[32];       /* "webhook-0": metrics label, log field */
  char durable[64];    /* consumer name: monitor_<kind>_<hash of url> */
  char *url;           /* POST target (Alertmanager: .../api/v2/alerts) */
  char *log_url;       /* url for logs (Slack: redacted) */
  uint64_t skip_until; /* stream seqs up to this predate the consumer */
  pthread_t thread;
  bool started;
  atomic_uint_fast64_t delivered;
  atomic_uint_fast64_t attempts_failed;
  atomic_uint_fast64_t dropped;
  atomic_uint_fast64_t skipped;   /* older than the sink (first start) */
  atomic_uint_fast64_t resends;   /* Alertmanager refreshes */
  atomic_uint_fast64_t watchdogs; /* refreshes that carried the Watchdog */
  atomic_int_fast64_t backlog;    /* consumer num_pending (+ held) */
  atomic_int_fast64_t last_success_ms;
  atomic_int_fast64_t last_failure_ms;
  atomic_int last_status;   /* HTTP status of the last attempt, 0: none */
  struct mon_ledger ledger; /* what it owes (delivery.c) */
};

/* ---- counters ----------------------------------------------------------- */

#define MON_PASS_BUCKETS 12
extern const double mon_pass_bucket_le[MON_PASS_BUCKETS]; /* series.c */

struct mon_counters {
  atomic_uint_fast64_t passes;
  atomic_uint_fast64_t pass_bucket[MON_PASS_BUCKETS + 1]; /* + +Inf */
  atomic_uint_fast64_t pass_us_sum;
  atomic_uint_fast64_t pass_us_last;
  atomic_uint_fast64_t pass_us_max;
  atomic_uint_fast64_t transitions[COIN_STATE_INSUFFICIENT_DATA + 1];
  atomic_uint_fast64_t degraded_transitions;
  atomic_uint_fast64_t alerts_queued;
  atomic_uint_fast64_t alerts_published;
  atomic_uint_fast64_t alerts_duplicate;
  atomic_uint_fast64_t publish_errors;
  atomic_uint_fast64_t status_published;
  atomic_uint_fast64_t kv_writes;
  atomic_uint_fast64_t kv_errors;
  atomic_uint_fast64_t outbox_dropped;
  atomic_uint_fast64_t outbox_depth;
  atomic_uint_fast64_t files_hashed;
  atomic_uint_fast64_t bytes_hashed;
  atomic_uint_fast64_t manifest_loads;
  atomic_uint_fast64_t watermark_updates;
  atomic_uint_fast64_t status_file_errors;
  atomic_uint_fast64_t state_bad_records;  /* KV state.* ignored at load */
  atomic_uint_fast64_t activation_retries; /* failed activations retried */
};

/* ---- the context -------------------------------------------------------- */

struct monitor {
  const struct monitor_config *cfg;
  char producer_id[COIN_CODEC_ID_BYTES];
  struct coin_bus *bus;
  struct coin_bus_kv *kv_wm;
  struct coin_bus_kv *kv_state;
  struct coin_bus_kv_watch *wm_watch;
  struct coin_httpd *httpd;
  struct coin_influx *ix; /* readyz ping, under ix_lock */
  pthread_mutex_t ix_lock;
  int64_t ix_checked_ms;
  bool ix_ok;

  struct mon_series *series;
  size_t n_series;
  uint32_t *index; /* open addressing: series index + 1, 0 = empty */
  size_t index_cap;

  pthread_mutex_t lock; /* series observation + state machine */

  /* watermark cache (the KV watch thread writes) */
  pthread_mutex_t wm_lock;
  int64_t *wm_ingest; /* per series, -1 unknown */
  int64_t *wm_publish;
  bool wm_ready; /* the watch delivered its initial values */

  /* pass scheduling */
  pthread_mutex_t wake_lock;
  pthread_cond_t wake_cond;
  bool triggered;
  atomic_bool stop;           /* set by the stop request (a signal handler) */
  struct coin_leader *leader; /* one active replica (monitor_run) */
  atomic_bool activated;      /* the active part started: state, sinks... */
  int64_t passes_done;
  atomic_int_fast64_t last_pass_wall_ms;
  atomic_int_fast64_t last_pass_mono_ms; /* monitor_new's time until then */
  int64_t started_ms;                    /* wall clock at monitor_new */
  atomic_bool evaluated;

  /* manifest (pass thread only) */
  enum mon_manifest_state manifest_state;
  char manifest_err[MON_DETAIL_BYTES];
  struct mon_file_ident man_id;
  int64_t man_loaded_ms;
  int64_t man_generated_ms;
  uint32_t man_gen;        /* manifest loads that parsed (entries carry it) */
  int site_fd;             /* STATIC_DATA_DIR opened for fstatat/openat, -1 */
  int64_t next_recheck_ms; /* earliest series recheck (0: none) */
  int64_t pass_now_ms;     /* the time the last pass evaluated at */
  int64_t pass_seq;        /* passes started */

  /* outbox */
  pthread_mutex_t out_lock;
  pthread_cond_t out_cond;
  struct mon_job *out_head, *out_tail;
  size_t out_len;
  atomic_bool out_stop;
  pthread_t out_thread;
  bool out_started;

  /* global alerts (global.c), under g_lock */
  pthread_mutex_t g_lock;
  struct mon_global globals[MON_MAX_GLOBALS];

  struct mon_sink sinks[MON_MAX_SINKS];
  size_t n_sinks;
  atomic_bool sinks_stop;

  struct mon_counters c;

  struct mon_probe *probe; /* availability probe (probe.c) */
  int activation_step;     /* activate()'s steps done (monitor.c) */
  bool sinks_listed;       /* sinks_setup added the configured sinks */
  struct mon_champ *champ; /* champion watch (champion.c) */
};

/* series.c (calls into no other file) */
/* Builds the series table and its index from SYMBOLS x INGEST_TIMEFRAMES. */
int mon_series_setup(struct monitor *m);
/* Series index of symbol+tf, or -1. */
ssize_t mon_series_find(const struct monitor *m, const char *symbol,
                        enum coin_tf tf);
/* state.<ex>.<sym>.<tf> and the subjects of a series (buffers of
 * COIN_CODEC_SUBJECT_BYTES). */
void mon_state_key(char *out, const struct monitor *m,
                   const struct mon_series *s);
/* <alertname>.<exchange>.<symbol>.<tf>.<starts_at_ms> */
void mon_alert_id(char out[COIN_CODEC_ALERT_ID_BYTES], const struct monitor *m,
                  const struct mon_series *s, const char *alertname,
                  int64_t starts_at_ms);
/* The msg_id of the series' last alert. */
void mon_last_msg_id(char out[COIN_CODEC_MSG_ID_BYTES], const struct monitor *m,
                     const struct mon_series *s);
/* The evaluation loop finished a pass within 3 x MONITOR_EVAL_SECONDS +
 * 30 s (a pass blocked on a hung file system or lock is not); *age_ms: since
 * the last pass ended (or the start). */
bool mon_loop_healthy(const struct monitor *m, int64_t *age_ms);
/* Sleeps up to ms in short slices; returns true (early) once *stop is set. */
bool mon_sleep_unless(const atomic_bool *stop, int64_t ms);

/* site.c: reads manifest.json (when it changed) and each series' files. */
void site_load_manifest(struct monitor *m, int64_t now_ms);
/* Frees the heap parts of a manifest entry (errors). */
void site_entry_clear(struct mon_manifest_entry *e);
/* Reads a verified file's content into c (parse_ok, err, last_open_ms,
 * n_candles, announced_*_ms for history.json; degraded and reasons for
 * prediction.json); m is read for its configured exchange only. */
void site_parse_file(struct mon_file_cache *c, const struct monitor *m,
                     const struct mon_series *s, enum mon_file_kind kind,
                     const char *buf, size_t len);
/* Reads one files[] element of manifest.json (its '{' was read) into f;
 * 0, or -1 on a JSON error (jscan_error says where). */
int site_take_listed_file(struct jscan *js, struct mon_listed_file *f);
/* Scans manifest.json content, merging each item into its series' man
 * (load number gen); 0, or -1 with m->manifest_err set. Pass thread. */
int site_parse_manifest(struct monitor *m, const char *buf, size_t len,
                        uint32_t gen);
/* Observes series s (files, last candle, degraded); under m->lock. */
void site_observe(struct monitor *m, struct mon_series *s, int64_t now_ms);

/* "45s", "12m05s", "29759h29m": how long, in alert texts (series.c). */
void mon_fmt_duration(char *out, size_t n, int64_t ms);

/* eval.c: the state machine step of one series; queues outbox jobs. */
void eval_series(struct monitor *m, struct mon_series *s, int64_t now_ms);
/* One full pass over all series at now_ms. */
void eval_pass(struct monitor *m, int64_t now_ms);
/* The codec Alert of one of s's alert episodes (labels = Alertmanager's). */
void eval_alert_fill(struct coin_alert *a, const struct monitor *m,
                     const struct mon_series *s, const struct mon_alert *al,
                     enum coin_alert_status status, int64_t now_ms,
                     const char *summary);
enum coin_fresh_state eval_base(enum coin_fresh_state s);
enum coin_severity eval_severity(enum coin_fresh_state s);

/* state.c: the KV record (JSON) of a series. */
int state_encode(char **out, size_t *out_len, const struct monitor *m,
                 const struct mon_series *s);
int state_decode(struct mon_series *s, const char *json, size_t len);
/* One alert episode a of s as the member "key":{...}, (or "key":null, when
 * not active): the record's form, or the status document's, which adds
 * starts_at as text and writes a repeat not scheduled as null. */
enum mon_alert_view { MON_ALERT_RECORD, MON_ALERT_STATUS };
void state_alert_json(struct coin_jbuf *b, const char *key,
                      const struct monitor *m, const struct mon_series *s,
                      const struct mon_alert *a, enum mon_alert_view view);
/* Loads every persisted state of the configured series. */
int state_load_all(struct monitor *m);

/* outbox.c */
int outbox_start(struct monitor *m);
void outbox_push(struct monitor *m, struct mon_job *job);
/* Stops the thread after trying to drain for at most drain_ms. */
void outbox_stop(struct monitor *m, int64_t drain_ms);
void mon_job_free(struct mon_job *job);

/* global.c: alerts about no series (subject coin.alerts.global). */
/* Raises (firing) or resolves the global alert alertname about target (a
 * sink name, a probe window; "" or NULL for none). Idempotent: raising it
 * again keeps the episode (a new severity starts a new one) and updates the
 * summary; thread-safe; never waits for NATS. */
void mon_global_set(struct monitor *m, const char *alertname,
                    const char *target, enum coin_severity severity,
                    bool firing, int64_t now_ms, const char *summary);
/* Copies up to max active global alerts into out; returns how many. */
size_t mon_global_active(struct monitor *m, struct mon_global *out, size_t max);
/* The codec Alert of a global episode. */
void mon_global_fill(struct coin_alert *a, const struct monitor *m,
                     const struct mon_global *g, enum coin_alert_status status,
                     int64_t now_ms);
void mon_global_alert_id(char out[COIN_CODEC_ALERT_ID_BYTES],
                         const struct mon_global *g);
/* Loads the active episodes kept in KV coin_monitor (at start). */
int mon_global_load(struct monitor *m);
/* Resolves loaded episodes their owner did not raise again within
 * MON_GLOBAL_REASSERT_MS (called by every pass). */
void mon_global_sweep(struct monitor *m, int64_t now_ms);

/* delivery.c: per-sink ledgers of alerts owed vs delivered. */
struct coin_jbuf;
/* Every sink owes msg_id (the outbox, after JetStream stored it). */
void delivery_expect(struct monitor *m, const char *msg_id, int64_t raised_ms);
/* The sink's thread settles msg_id (delivered, or given up). */
void delivery_settle(struct mon_sink *k, const char *msg_id, bool delivered,
                     int64_t stream_ms);
/* Every pass: the ledgers' views, one verdict per sink (out has room for
 * m->n_sinks), from which the pass raises or resolves
 * CoinAlertDeliveryMissed. */
#define MON_DELIVERY_ALERT "CoinAlertDeliveryMissed"
struct mon_delivery_verdict {
  const char *sink; /* its name */
  bool firing;      /* alerts missing, or one dropped lately */
  char summary[COIN_CODEC_TEXT_BYTES];
};
void delivery_evaluate(struct mon_delivery_verdict *out, struct monitor *m,
                       int64_t now_ms);
void delivery_metrics(struct coin_jbuf *b, struct monitor *m);
/* "delivery":{...}, */
void delivery_status_json(struct coin_jbuf *b, struct monitor *m);

/* sinks.c */
int sinks_setup(struct monitor *m);
int sinks_start(struct monitor *m);
void sinks_stop(struct monitor *m);
int sink_am_body(char **out, size_t *out_len, const struct monitor_config *cfg,
                 const struct coin_alert *a, int64_t now_ms, int64_t resend_ms);
/* The signed webhook's headers for body at unix time ts_seconds (a fresh one
 * per attempt): "X-Coin-Timestamp: <ts>" and "X-Coin-Signature: t=<ts>,
 * v1=<hex>" (docs/monitor.md). */
int sink_webhook_sign(char ts_header[64],
                      char sig_header[COIN_WEBHOOK_SIGNATURE_BYTES + 32],
                      const char *secret, int64_t ts_seconds, const char *body,
                      size_t len);

/* receivers.c: what receivers see beyond the alert itself - links and the
 * Slack Block Kit message of an incident wave. Pure functions. */
#define MON_LINK_BYTES 1024
#define MON_SLACK_LIST_LINES 30 /* series listed in a wave message */
#define MON_SLACK_WAVE_MAX 500  /* alerts in one wave message at most */
/* The series page "<MONITOR_SITE_URL>#<SYMBOL>/<tf>" (web/app.js route);
 * false (out "") without a site URL or for a global alert (symbol ""). */
bool mon_link_series(char out[MON_LINK_BYTES], const struct monitor_config *cfg,
                     const char *symbol, enum coin_tf tf);
/* The status document: "<MONITOR_PUBLIC_URL>status", else
 * "<MONITOR_SITE_URL>status.json" when MONITOR_STATUS_FILE; false when
 * neither. */
bool mon_link_status(char out[MON_LINK_BYTES],
                     const struct monitor_config *cfg);
/* Alertmanager's generatorURL: the series page, else the status link. */
bool mon_link_generator(char out[MON_LINK_BYTES],
                        const struct monitor_config *cfg,
                        const struct coin_alert *a);
/* One Slack message (Block Kit blocks + fallback text) for alerts[0..n),
 * n >= 1, in arrival order; at most MON_SLACK_LIST_LINES are listed, then
 * "and N more". */
int sink_slack_body(char **out, size_t *out_len,
                    const struct monitor_config *cfg,
                    const struct coin_alert *alerts, size_t n);

/* endpoints.c: /status, /metrics, /healthz, /readyz and status.json. */
void endpoints_handle(void *ctx, const struct coin_httpd_request *req,
                      struct coin_httpd_response *resp);
/* Builds the /status text from the series as of the last pass (under
 * m->lock). */
int status_build(char **out, size_t *out_len, struct monitor *m);
/* The series' validity instants as status.json states them (the monitor's
 * own evaluation; none while unknown, corrupt or insufficient_data). */
void status_series_validity(struct coin_site_validity *out,
                            const struct mon_series *s, int64_t now_ms);
int metrics_text(char **out, struct monitor *m);

/* ---- availability probe: SLI arithmetic (probe_sli.c) ----
 * Per-minute ring of (good, all) probe counts over 30 days, windows summed
 * from it, burn rates against the SLO and the multi-window burn rules. In
 * memory only: a restart starts the SLI empty. */
#define PROBE_SLI_MINUTES 43200 /* 30 d */
struct probe_sli {
  bool started;
  int64_t newest_min; /* minute index (ms / 60000) of the newest bucket */
  uint32_t good[PROBE_SLI_MINUTES];
  uint32_t all[PROBE_SLI_MINUTES];
};
struct probe_burn_rule {
  const char *name; /* e.g. "1h_5m" */
  int long_minutes;
  int short_minutes;
  double rate; /* fires when both windows burn above it */
  enum coin_severity severity;
};
#define PROBE_BURN_RULES 3
extern const struct probe_burn_rule probe_burn_rules[PROBE_BURN_RULES];
void probe_sli_init(struct probe_sli *s);
/* Counts one probe at now_ms (a clock going back counts in the newest minute).
 */
void probe_sli_record(struct probe_sli *s, int64_t now_ms, bool good);
/* Sums the newest `minutes` minutes ending at the minute of now_ms. */
void probe_sli_window(const struct probe_sli *s, int64_t now_ms, int minutes,
                      uint64_t *good, uint64_t *all);
/* (bad/all) / (1 - slo); 0 with no probes. */
double probe_burn_rate(uint64_t good, uint64_t all, double slo);
bool probe_burn_firing(const struct probe_sli *s, int64_t now_ms, double slo,
                       const struct probe_burn_rule *r, double *long_rate,
                       double *short_rate);

/* ---- availability probe: the probe thread (probe.c) ---- */
struct mon_probe;
struct coin_jbuf;
/* url NULL (MONITOR_SITE_URL unset): a probe that never runs and reports
 * nothing. */
int probe_new(struct mon_probe **out, struct monitor *m, const char *url,
              int64_t interval_seconds, double slo);
int probe_start(struct mon_probe *p); /* the thread; 0 without a URL */
void probe_free(struct mon_probe *p); /* stops and joins the thread */
void probe_metrics(struct coin_jbuf *b, struct mon_probe *p, int64_t now_ms);
/* "probe":{...}, (or null without a URL) */
void probe_status_json(struct coin_jbuf *b, struct mon_probe *p,
                       int64_t now_ms);

/* ---- champion watch (champion.c) ----
 * Every MONITOR_CHAMPION_CHECK_SECONDS its own thread reads the champion
 * alias and the champion's realized records of InfluxDB measurement
 * "prediction" over MONITOR_CHAMPION_WINDOW_HOURS, judges them per series
 * and pooled with lib/track.h (the public track record's arithmetic and
 * verdict), raises or resolves the global alert CoinChampionUnderperforming
 * (target "pooled" or "<exchange>/<symbol>/<tf>") and writes one retraining
 * request per champion and episode (KV coin_models request.retrain).
 * Locks: the watch's own lock is a leaf (status and /metrics take it under
 * m->lock; the thread never holds it while raising alerts). */
#define MON_CHAMP_ALERT "CoinChampionUnderperforming"
#define MON_CHAMP_POOLED "pooled"
#define MON_CHAMP_MAX_SERIES 1024 /* distinct series judged per check */

/* One realized record as read (or fed by a test). */
struct mon_champ_row {
  struct coin_track_row r;
  uint32_t series; /* index into the check's series table */
};

struct mon_champ_series {
  char symbol[COIN_CODEC_NAME_BYTES];
  enum coin_tf tf;
  struct coin_track_window w;
  enum coin_track_verdict verdict;
  bool alerted; /* raised CoinChampionUnderperforming (within the cap) */
};

/* The rows of one check and what was judged on them. */
struct mon_champ_eval {
  char version[COIN_CODEC_ID_BYTES];
  int64_t from_ms, to_ms; /* the window of target candles */
  struct mon_champ_row *rows;
  size_t n_rows, cap_rows;
  size_t max_rows;       /* MONITOR_CHAMPION_MAX_ROWS */
  bool truncated;        /* more rows in the window than max_rows */
  uint64_t rows_ignored; /* incomplete records, or beyond the series cap */
  struct mon_champ_series *series;
  size_t n_series;
  uint32_t *index; /* open addressing over series: index + 1 */
  size_t index_cap;
  struct coin_track_window pooled;
  enum coin_track_verdict pooled_verdict;
  size_t series_worse;
};

void champ_eval_init(struct mon_champ_eval *e, const char *version,
                     int64_t from_ms, int64_t to_ms, size_t max_rows);
void champ_eval_clear(struct mon_champ_eval *e);
/* Adds one realized record (realized_close = input_close *
 * exp(realized_return)); false when it was not taken (unusable, a series
 * beyond the cap, or max_rows reached: then truncated is set). */
bool champ_eval_add(struct mon_champ_eval *e, const char *symbol,
                    enum coin_tf tf, int64_t target_open_ms, double input_close,
                    double predicted_return, double realized_return);
/* Judges every series (min_series_rows) and the pool (min_rows) with
 * coin_track_window / coin_track_judge. */
int champ_eval_judge(struct mon_champ_eval *e, int64_t min_rows,
                     int64_t min_series_rows);

/* What the watch remembers between checks (its thread only). */
struct mon_champ_memory {
  char judged[COIN_CODEC_ID_BYTES]; /* champion of the last judgement */
  bool episode;                     /* the retrain condition holds */
  bool requested;                   /* request written (or found) for it */
};
/* The alerts of one judgement e of the champion (e == NULL: no champion):
 * per-series alerts for at most max_series_alerts WORSE series (those
 * already firing first, then the most significant), the pooled alert, and
 * every other CoinChampionUnderperforming episode resolved (another
 * champion's, or one no longer worse). Sets e->series[].alerted. */
void champ_alerts(struct monitor *m, struct mon_champ_eval *e,
                  int64_t max_series_alerts, int64_t now_ms);
/* True when a retraining request is due for e: pooled WORSE or at least
 * retrain_series series WORSE, and none written in this episode yet. A new
 * champion starts a new episode; an OK pooled verdict ends it. */
bool champ_retrain_due(struct mon_champ_memory *mem,
                       const struct mon_champ_eval *e, int64_t retrain_series);

struct mon_champ;
int champ_new(struct mon_champ **out, struct monitor *m);
int champ_start(struct mon_champ *c); /* the thread; 0 when disabled */
void champ_free(struct mon_champ *c); /* stops and joins the thread */
void champ_metrics(struct coin_jbuf *b, struct mon_champ *c);
/* "champion":{...}, (null when disabled) */
void champ_status_json(struct coin_jbuf *b, struct mon_champ *c);

#endif
