/*
 * features.h: THE feature pipeline, shared by training (coin-train, the
 * benchmark) and serving (coin-publish through serving.c), so the two can
 * never disagree. A row is computed from the last COIN_FEATURES_LOOKBACK
 * closed candles of one series, and from nothing else: no symbol identity,
 * no future candle. The target of a row is the next candle's log return.
 * Definitions and reasoning: docs/models.md. Pure functions; thread-safe.
 * The builder is a plain value owned by its caller (one thread at a time).
 */
#ifndef COIN_FEATURES_H
#define COIN_FEATURES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coin/candle.h"
#include "coin/timeframe.h"

/* Bump the version whenever a definition changes; the hash covers the
 * version, every column name and every constant, so a model trained on
 * another schema is recognised as not servable. */
#define COIN_FEATURES_SCHEMA_VERSION 1u
#define COIN_FEATURES_COUNT 26
#define COIN_FEATURES_LOOKBACK 97 /* candles per row (96 returns) */
#define COIN_FEATURES_CLIP 10.0   /* |standardized feature| cap */

/* One row: the features of the moment the candle at open_ms has closed. */
struct coin_feature_row {
  double x[COIN_FEATURES_COUNT];
  /* Trailing volatility: RMS of the last 24 one-candle log returns,
   * floored at 1e-6. Features and the learners' target are expressed in
   * units of it, which makes one model fit every symbol and timeframe. */
  double scale;
  int64_t open_ms; /* the newest candle used */
  double close;    /* its close */
};

/* Column name i ("ret_1", ...); NULL outside [0, COIN_FEATURES_COUNT). */
const char *coin_features_name(size_t i);
/* Lower-case hex sha256 (64 chars) of the canonical schema text. */
const char *coin_features_schema_hash(void);
/* The canonical schema text the hash is computed from. */
const char *coin_features_schema_text(void);

/* Features of the row for candles[n-1], using candles[n-LOOKBACK..n-1].
 * candles: one series of timeframe tf, strictly ascending open times,
 * prices > 0, volume >= 0 (gaps between candles are allowed). COIN_EINVAL
 * when n < COIN_FEATURES_LOOKBACK (message says how many are missing) or a
 * candle breaks a rule (named with its index and value). out is written only
 * on success. */
int coin_features_compute(struct coin_feature_row *out, enum coin_tf tf,
                          const struct coin_candle *candles, size_t n);

/* Training's row builder: candles are pushed one at a time in ascending
 * order (e.g. as a chunked read streams them); whenever a candle directly
 * follows the previous one (open time == coin_tf_next of it) and the
 * builder holds a full lookback before it, a labelled row is emitted: the
 * features of the previous candle (coin_features_compute over the same
 * window serving would use) and the target log(close / previous close). */
struct coin_features_builder {
  enum coin_tf tf;
  size_t n; /* candles held (<= LOOKBACK) */
  size_t head;
  struct coin_candle ring[COIN_FEATURES_LOOKBACK];
};

void coin_features_builder_init(struct coin_features_builder *b,
                                enum coin_tf tf);

/* Pushes c. Returns 1 and fills *row, *target when a labelled row is ready,
 * 0 when not (not enough history yet, or c does not directly follow the
 * previous candle), or COIN_EINVAL for a candle that is out of order or
 * breaks a rule (the builder is left unchanged). */
int coin_features_builder_push(struct coin_features_builder *b,
                               struct coin_feature_row *row, double *target,
                               const struct coin_candle *c);

#endif
