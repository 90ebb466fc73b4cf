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

#include <jansson.h>

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
json_t *train_scores_json(const struct train_scores *s);
/* Text table for the report. */
void train_scores_print(FILE *f, const struct train_scores *s,
                        const char *model_label);
json_t *train_summary_json(const struct coin_score *s);

/* ---- output -------------------------------------------------------------- */

void train_emit_json(struct train_ctx *c, json_t *report);
/* Lock for a registry mutation; TRAIN_EXIT_LOCKED (message printed) when
 * another job holds it, TRAIN_EXIT_FAILED on other errors, else 0. */
int train_lock(struct train_ctx *c, struct coin_lock **out, int64_t hold_ms);

/* Publishes an event; logs (never fails the command) when it cannot. */
void train_event(struct train_ctx *c, enum coin_model_event_kind kind,
                 const char *version, const char *previous, const char *reason,
                 const struct coin_model_metadata *m,
                 const struct coin_metric *metrics, size_t n_metrics);

#endif
