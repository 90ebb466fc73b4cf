/*
 * candle.h: one OHLCV candle and its validation rules.
 * Plain value type; no allocation. Thread-safe.
 */
#ifndef COIN_CANDLE_H
#define COIN_CANDLE_H

#include <stddef.h>
#include <stdint.h>

#include "coin/timeframe.h"

struct coin_candle {
  int64_t open_ms; /* open time, epoch ms UTC, aligned to the timeframe */
  double open;
  double high;
  double low;
  double close;
  double volume; /* base-asset volume */
};

/* Validates one candle of timeframe tf: open time aligned, all numbers finite,
 * low <= open,close <= high, low > 0... (see candle.c for the exact rules),
 * volume >= 0. close_ms, when >= 0, must equal open + length - 1 (Binance's
 * closeTime); pass -1 when the source has no close time.
 * Returns 0 or COIN_EINVAL with a message naming the rule broken and values. */
int coin_candle_validate(const struct coin_candle *c, enum coin_tf tf,
                         int64_t close_ms);

/* Symbols: 1-32 chars of [A-Z0-9_-] starting with [A-Z0-9] (Upbit uses
 * "KRW-BTC"), checked before a symbol enters a subject,
 * a KV key or a file path. Exchange names: 1-32 chars of [a-z0-9_]. */
int coin_symbol_validate(const char *symbol);
int coin_exchange_validate(const char *exchange);

/* Index of the first of rows[0..n) (ascending by open_ms) with
 * open_ms >= t_ms; n when none. */
size_t coin_candle_lower_bound(const struct coin_candle *rows, size_t n,
                               int64_t t_ms);

#endif
