/*
 * serving.h: predictions for coin-publish from the shared champion model.
 * The serving object follows the model registry (KV coin_models, artifacts
 * in JetStream), verifies an artifact's sha256 before using it, keeps the
 * old champion when a new one is bad (and says degraded), runs the
 * challenger in shadow (its predictions are recorded in InfluxDB measurement
 * "prediction", never returned), and records realized errors when target
 * candles close, so the promotion gate has evidence.
 * Serving chain: champion -> insufficient_data (blocked). Never a silent
 * fallback, never an invented value.
 * Threads: one serving object is used by one thread at a time.
 */
#ifndef COIN_SERVING_H
#define COIN_SERVING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coin/bus.h"
#include "coin/candle.h"
#include "coin/codec.h"
#include "coin/influx.h"
#include "coin/timeframe.h"

struct coin_serving;

struct coin_serving_opts {
  struct coin_bus *bus;     /* registry access; NULL: no registry (no_model) */
  struct coin_influx *ix;   /* shadow / realized records; NULL: not recorded */
  const char *exchange;     /* e.g. "binance" */
  int64_t model_max_age_ms; /* champion older than this: degraded
                               model_too_old (0 = no limit) */
};

int coin_serving_new(struct coin_serving **out,
                     const struct coin_serving_opts *opts);
void coin_serving_free(struct coin_serving *s);

/* Applies registry changes seen since the last call (champion promoted or
 * rolled back, challenger registered). Cheap when nothing changed. */
int coin_serving_refresh(struct coin_serving *s);

/* Candles the model needs before its first prediction (the lookback). */
size_t coin_serving_lookback(const struct coin_serving *s);

struct coin_prediction {
  bool has_values; /* false: blocked (no model, too little history, error) */
  enum coin_fresh_state state; /* the prediction's own state before input
                                  freshness: FRESH, or INSUFFICIENT_DATA */
  unsigned degraded;           /* COIN_DEGRADED_* bits (freshness.h) */
  char model_version[COIN_CODEC_ID_BYTES]; /* "" without a champion */
  char model_kind[COIN_CODEC_NAME_BYTES];
  int64_t input_last_open_ms; /* the newest candle used */
  int64_t target_open_ms;     /* the candle predicted */
  double predicted_return;    /* log return of the target candle's close */
  double predicted_close;
  double band_low;              /* close at the lower residual quantile */
  double band_high;             /* close at the upper residual quantile */
  double band_level;            /* e.g. 0.8 for a 10%..90% band */
  int direction;                /* +1 up, -1 down */
  double direction_probability; /* P(direction) in [0.5, 1] */
  /* The champion's walk-forward figures measured on THIS timeframe (never
   * pooled ones); evaluated is false when it has none for it. */
  bool evaluated;
  bool has_metrics;
  double wf_mae;
  double wf_persistence_mae;
  double wf_directional_accuracy;
  int64_t wf_n;
  /* A model that cannot beat persistence on a timeframe is not served
   * there: the champion's walk-forward MAE on this timeframe is above
   * persistence's (wf_mae > wf_persistence_mae), so has_values is false
   * (prediction_status worse_than_persistence). The champion still
   * predicts and is recorded, so the evidence keeps accumulating. */
  bool worse_than_persistence;
};

/* Predicts the candle after candles[n-1] (ascending, closed, one series).
 * Writes out always (blocked predictions say why); returns 0, or an error
 * code for failures the caller should log (out then has the reason bits). */
int coin_serving_predict(struct coin_serving *s, struct coin_prediction *out,
                         const char *symbol, enum coin_tf tf,
                         const struct coin_candle *candles, size_t n);

/* New closed candles of a series: realized errors of earlier predictions
 * (champion and shadow) whose target is among them are recorded. */
int coin_serving_realize(struct coin_serving *s, const char *symbol,
                         enum coin_tf tf, const struct coin_candle *candles,
                         size_t n);

/* ---- additions (model lifecycle) ----------------------------------------- */

/* Counters since coin_serving_new, for /metrics. Failed prediction records
 * never block a prediction (the site is served); they only starve the
 * promotion gate of evidence, so watch record_failures. */
struct coin_serving_stats {
  uint64_t records_written;  /* predict calls whose records were stored */
  uint64_t record_failures;  /* ... whose records could not be stored */
  uint64_t realized_written; /* realized returns written */
  uint64_t realize_failures;
  uint64_t loads;         /* model loads attempted (champion + challenger) */
  uint64_t load_failures; /* ... that failed (bad artifact, schema, ...) */
  char champion[COIN_CODEC_ID_BYTES];   /* serving now; "" = none */
  char challenger[COIN_CODEC_ID_BYTES]; /* in shadow now; "" = none */
};
void coin_serving_stats(struct coin_serving_stats *out,
                        const struct coin_serving *s);

#endif
