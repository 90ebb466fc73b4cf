/*
 * serving.c: the serving chain before any model is registered: every
 * prediction is blocked as insufficient_data with degraded reason no_model.
 * The model registry and the champion/challenger logic replace this file
 * (see serving.h); the interface stays.
 */
#include "coin/serving.h"

#include "coin/error.h"
#include "coin/freshness.h"

#include <stdlib.h>
#include <string.h>

struct coin_serving {
  struct coin_serving_opts opts;
};

int coin_serving_new(struct coin_serving **out,
                     const struct coin_serving_opts *opts) {
  struct coin_serving *s = calloc(1, sizeof(*s));
  if (!s)
    return coin_error_set(COIN_ENOMEM, "serving: out of memory");
  s->opts = *opts;
  *out = s;
  return 0;
}

void coin_serving_free(struct coin_serving *s) {
  free(s);
}

int coin_serving_refresh(struct coin_serving *s) {
  (void)s;
  return 0;
}

size_t coin_serving_lookback(const struct coin_serving *s) {
  (void)s;
  return 0;
}

int coin_serving_predict(struct coin_serving *s, struct coin_prediction *out,
                         const char *symbol, enum coin_tf tf,
                         const struct coin_candle *candles, size_t n) {
  (void)s;
  (void)symbol;
  memset(out, 0, sizeof(*out));
  out->state = COIN_STATE_INSUFFICIENT_DATA;
  out->degraded = COIN_DEGRADED_NO_MODEL;
  if (n > 0) {
    out->input_last_open_ms = candles[n - 1].open_ms;
    out->target_open_ms = coin_tf_next(tf, candles[n - 1].open_ms);
  }
  return 0;
}

int coin_serving_realize(struct coin_serving *s, const char *symbol,
                         enum coin_tf tf, const struct coin_candle *candles,
                         size_t n) {
  (void)s;
  (void)symbol;
  (void)tf;
  (void)candles;
  (void)n;
  return 0;
}
