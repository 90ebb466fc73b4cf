/*
 * train_int.h: the inside of coin-train: the context, reading the SoT into a
 * dataset under a memory budget (load.c), score tables per timeframe and
 * symbol (report.c), the lock helper and the shadow evidence reader
 * (gate.c). Single-threaded.
 */
#ifndef COIN_TRAIN_TRAIN_INT_H
#define COIN_TRAIN_TRAIN_INT_H

#include "train.h"

#include "coin/bus.h"
#include "coin/codec.h"
#include "coin/influx.h"
#include "coin/metrics_eval.h"
#include "coin/model.h"
#include "coin/registry.h"
#include "coin/track.h"

/* The commands build their --json reports with jansson in their own .c
 * files (each includes <jansson.h>); this header names the type only. */
struct json_t;

#define TRAIN_LOCK_NAME "train"
/* Memory the process needs besides the rows (libraries, XGBoost's
 * runtime, buffers, heap slack), measured on x86-64 Debian 12. */
#define TRAIN_FIXED_OVERHEAD_BYTES ((size_t)48 << 20)

struct train_ctx {
  const struct train_config *cfg;
  struct coin_bus *bus;
  struct coin_influx *ix;
  struct coin_registry *reg;
  struct coin_bus_kv *wm; /* coin_watermarks (NULL when absent) */
  char producer_id[COIN_CODEC_ID_BYTES];
  FILE *report;
  bool dangling_reported; /* train_champion said it once */
  bool champion_dangling; /* the last train_champion found it dangling */
};

/* ---- the series to read (config + arguments) ----------------------------- */

struct train_series {
  char symbol[COIN_CODEC_NAME_BYTES];
  enum coin_tf tf;
};

struct train_series_list {
  struct train_series *s;
  size_t n;
};

/* Symbols x timeframes from the arguments, else the configuration. */
int train_series_from(struct train_series_list *out,
                      const struct train_config *cfg, const char *symbols,
                      const char *timeframes);
void train_series_free(struct train_series_list *l);

/* ---- loading ------------------------------------------------------------- */

struct train_load_info {
  size_t rows_available; /* labelled rows the SoT holds (estimate) */
  size_t rows_used;
  size_t rows_dropped; /* oldest rows left out for the budget */
  size_t max_rows;     /* the budget in rows */
  size_t candles_read;
  size_t reads; /* InfluxDB read calls */
  size_t series_with_data;
  int64_t from_ms, to_ms; /* open times of the first/last candle read */
  int64_t watermark_ms;   /* min over series of the ingest watermark */
  int64_t cutoff_ms;      /* rows with t_feat before this were left out */
};

/* Rows of every series, newest max_rows at most (oldest-first dropped),
 * sorted by target time. Each series is read up to its ingest watermark
 * (or its newest candle when no watermark exists) and within
 * [from_ms, to_ms]. */
int train_load(struct coin_dataset *out, struct train_load_info *info,
               struct train_ctx *c, const struct train_series_list *series,
               size_t max_rows, int64_t from_ms, int64_t to_ms);

/* Peak resident set size of this process (VmHWM), bytes. */
size_t train_peak_rss_bytes(void);
double train_now_seconds(void);
int64_t train_wall_ms(void);

/* ---- scores -------------------------------------------------------------- */

struct train_scores {
  struct coin_score all, all_base;
  struct coin_score tf[COIN_TF_COUNT], tf_base[COIN_TF_COUNT];
  struct coin_score *sym, *sym_base; /* per dataset series_tab symbol */
  size_t n_sym;
  char (*sym_name)[COIN_CODEC_NAME_BYTES];
};

int train_scores_init(struct train_scores *s, const struct coin_dataset *ds);
void train_scores_add(struct train_scores *s, const struct coin_dataset *ds,
                      size_t row, double pred_ret, double p_up);
void train_scores_free(struct train_scores *s);
/* {"all":{model..., persistence...}, "timeframes":{...}, "symbols":{...}} */
struct json_t *train_scores_json(const struct train_scores *s);
/* Text table for the report. */
void train_scores_print(FILE *f, const struct train_scores *s,
                        const char *model_label);
struct json_t *train_summary_json(const struct coin_score *s);

/* ---- output -------------------------------------------------------------- */

/* Writes report as one compact JSON line to c->report (the caller keeps
 * its reference). */
void train_emit_json(struct train_ctx *c, struct json_t *report);
/* A command's failure, once: "coin-train <command>: <last error>" on stderr
 * and the error log line "<command> failed" with rc (gate.c). */
void train_report_failure(const char *command, int rc);
/* Lock for a registry mutation; TRAIN_EXIT_LOCKED (message printed) when
 * another job holds it, TRAIN_EXIT_FAILED on other errors, else 0. */
int train_lock(struct train_ctx *c, struct coin_lock **out, int64_t hold_ms);

/* Publishes an event; logs (never fails the command) when it cannot. */
void train_event(struct train_ctx *c, enum coin_model_event_kind kind,
                 const char *version, const char *previous, const char *reason,
                 const struct coin_model_metadata *m,
                 const struct coin_metric *metrics, size_t n_metrics);

/* ---- the steps coin-train cycle chains (each under a lock the caller
 * holds; gate.c, train.c, cycle.c) ----------------------------------------- */

/* Reads model.<version>, sets the metrics, writes back (CAS, retried). */
/* The champion: *version "" when alias.champion is unset, or dangling (it
 * names a model whose metadata is missing or undecodable: reported in one
 * warning line with the version, then treated as no champion, so that the
 * next promotion replaces the alias instead of every run failing on it).
 * rev (may be NULL) is the alias' revision (0: unset), for the CAS switch;
 * meta (may be NULL) gets the metadata. < 0 only when the registry fails. */
int train_champion(struct train_ctx *c, char *version, uint64_t *rev,
                   struct coin_model_metadata *meta);
int train_meta_update(struct train_ctx *c, const char *version,
                      const char *const *names, const double *values, size_t n);

/* The champion's realized predictions (role champion) whose target opened
 * at or after since_ms, as a track window (coin/track.h). */
int train_judge_champion(struct coin_track_window *out, struct train_ctx *c,
                         const char *version, int64_t since_ms);

enum train_gate_mode {
  TRAIN_GATE_SHADOW = 0,    /* shadow evidence */
  TRAIN_GATE_BOOTSTRAP = 1, /* --bootstrap: first champion on walk-forward */
  TRAIN_GATE_AUTO = 2,      /* bootstrap only while the candidate has no
                               realized prediction at all (the cycle) */
};

enum train_promote_outcome {
  TRAIN_PROMOTE_FAILED = 0,
  TRAIN_PROMOTE_NO_CANDIDATE,
  TRAIN_PROMOTE_PROMOTED,
  TRAIN_PROMOTE_REFUSED,       /* performance: marked refused, out of shadow */
  TRAIN_PROMOTE_REFUSED_STAYS, /* other failures: stays challenger */
  TRAIN_PROMOTE_WAITING,       /* only evidence missing (quiet_waiting) */
};

struct train_promote_opts {
  const char *version; /* NULL: the challenger */
  int bootstrap;       /* enum train_gate_mode */
  bool dry_run;
  bool automatic;     /* recorded as promotion.automatic 1 */
  bool quiet_waiting; /* missing evidence alone: no event, no verdict */
  bool print;         /* print the verdict (promote command) */
};

struct train_promote_result {
  int outcome; /* enum train_promote_outcome */
  char candidate[COIN_CODEC_ID_BYTES];
  char champion[COIN_CODEC_ID_BYTES]; /* before the promotion */
  uint64_t realized;                  /* realized shadow candles */
  int64_t need;
  bool bootstrap;
  char summary[COIN_CODEC_TEXT_BYTES];
};

/* The gate on the candidate and, when it passes, the switch. A TRAIN_EXIT_*
 * code (4: refused; 0 also for WAITING). */
int train_promote_locked(struct train_ctx *c, const struct train_args *a,
                         const struct train_promote_opts *o,
                         struct train_promote_result *res);

struct train_rollback_opts {
  const char *reason; /* the ROLLED_BACK event's reason (NULL: default) */
  bool automatic;     /* recorded on the restored champion */
  const struct coin_metric *metrics;
  size_t n_metrics;
  bool print;
};
/* alias.previous back as champion. o may be NULL (the rollback command);
 * restored / retired (COIN_CODEC_ID_BYTES, may be NULL) receive the
 * versions. */
int train_rollback_locked(struct train_ctx *c, const struct train_args *a,
                          const struct train_rollback_opts *o, char *restored,
                          char *retired);

struct train_run_opts {
  bool skip_policy;   /* the caller decided that a training is due */
  int64_t from_ms;    /* the window's start (0: all data) */
  const char *reason; /* REGISTERED's reason (NULL: the default) */
  bool quiet;         /* no report: the caller prints one line */
};
struct train_run_result {
  bool trained; /* false: not due (why says) */
  char version[COIN_CODEC_ID_BYTES];
  char parent[COIN_CODEC_ID_BYTES];
  size_t rows;
  int64_t from_ms, to_ms;
  char why[320];
};
/* train's work under a held lock: TRAIN_EXIT_*. */
int train_run_locked(struct train_ctx *c, const struct train_args *a,
                     struct coin_lock *lock, const struct train_run_opts *o,
                     struct train_run_result *res);

/* 1 due, 0 not due (why says), < 0 error. ref is the model the policy
 * measures against: its age (created_at_ms) and the candles of each series
 * opened after its newest trained candle (train_to_ms; not the watermark,
 * the minimum over series, which would count a day of 1m candles as new
 * right after training on a 1d series); label names it in why
 * ("champion", "newest model"). */
int train_retrain_due(struct train_ctx *c, int policy,
                      const struct coin_model_metadata *ref, const char *label,
                      const struct train_series_list *sl, char *why,
                      size_t why_bytes);
/* "always" .. "age_or_new_data" -> enum train_policy; -1 unknown. */
int train_policy_parse(const char *name);
/* --kind and --policy, when given, name a known kind and policy; else
 * TRAIN_EXIT_USAGE with the one-line error printed. */
int train_args_check_kind_policy(const struct train_args *a);

#endif
