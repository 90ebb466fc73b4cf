/*
 * synthetic.h: seeded synthetic data for the model and feature unit tests
 * (no data files needed): a xorshift generator, Gaussian draws, and an
 * hourly dataset whose next return reverts 40% of the last one: a signal
 * every learner must find through the ret_1 feature. One copy, included by
 * tests/unit/test_model*.c and test_features.c; each test is one process,
 * so the generator state is per test binary.
 */
#ifndef COIN_TESTS_SYNTHETIC_H
#define COIN_TESTS_SYNTHETIC_H

#include "coin/features.h"
#include "coin/model.h"
#include "coin/timeframe.h"

#include <math.h>
#include <stdint.h>

#define T0 INT64_C(1609459200000) /* 2021-01-01T00:00Z */

static uint64_t rng_state;

static inline double uniform(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (double)(rng_state >> 11) / 9007199254740992.0;
}

static inline double gauss(void) {
  double u = uniform() + 1e-12, v = uniform();
  return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

/* n labelled rows of the mean-reverting hourly series, seeded. */
static inline struct coin_dataset make_dataset(size_t n, uint64_t seed) {
  struct coin_dataset ds = {0};
  size_t series = 0;
  coin_dataset_series_index(&series, &ds, "SYN", COIN_TF_1H);
  rng_state = seed * 2654435761u + 7;
  struct coin_features_builder b;
  coin_features_builder_init(&b, COIN_TF_1H);
  double price = 100, last_r = 0;
  int64_t t = T0;
  for (size_t i = 0; i < n + COIN_FEATURES_LOOKBACK; i++) {
    double r = -0.4 * last_r + 0.01 * gauss();
    double open = price, close = price * exp(r);
    struct coin_candle c = {.open_ms = t,
                            .open = open,
                            .high = fmax(open, close) * 1.002,
                            .low = fmin(open, close) * 0.998,
                            .close = close,
                            .volume = 10 + uniform()};
    struct coin_feature_row row;
    double y;
    if (coin_features_builder_push(&b, &row, &y, &c) == 1)
      coin_dataset_add(&ds, &row, y, series);
    price = close;
    last_r = r;
    t += COIN_HOUR_MS;
  }
  coin_dataset_sort(&ds);
  return ds;
}

#endif
