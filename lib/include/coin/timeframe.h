/*
 * timeframe.h: candle timeframes 1m 1h 1d 1w 1M and their UTC calendar.
 * All times are epoch milliseconds UTC; a candle is keyed by its open time.
 * Weeks open Monday 00:00 UTC, months on the 1st 00:00 UTC (calendar
 * arithmetic, never a fixed duration). Pure functions, thread-safe.
 */
#ifndef COIN_TIMEFRAME_H
#define COIN_TIMEFRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum coin_tf {
  COIN_TF_1M = 0, /* one minute  ("1m") */
  COIN_TF_1H,     /* one hour    ("1h") */
  COIN_TF_1D,     /* one day     ("1d") */
  COIN_TF_1W,     /* one week    ("1w"), Monday 00:00 UTC */
  COIN_TF_1MO,    /* one month   ("1M"), the 1st 00:00 UTC */
  COIN_TF_COUNT
};

#define COIN_MINUTE_MS INT64_C(60000)
#define COIN_HOUR_MS INT64_C(3600000)
#define COIN_DAY_MS INT64_C(86400000)
#define COIN_WEEK_MS INT64_C(604800000)

/* "1m" "1h" "1d" "1w" "1M" (case-sensitive: "1M" is a month, "1m" a minute).
 * Returns 0 or COIN_EINVAL with a message naming the text and the valid set. */
int coin_tf_parse(enum coin_tf *out, const char *text);
/* Canonical name, e.g. "1M". */
const char *coin_tf_name(enum coin_tf tf);

/* Open time of the candle containing t. */
int64_t coin_tf_floor(enum coin_tf tf, int64_t t_ms);
/* Open time of the candle after the one containing t (the next boundary). */
int64_t coin_tf_next(enum coin_tf tf, int64_t t_ms);
/* Open time of the candle before the one containing t. */
int64_t coin_tf_prev(enum coin_tf tf, int64_t t_ms);
/* Length in ms of the candle containing t (months and only months vary). */
int64_t coin_tf_length_ms(enum coin_tf tf, int64_t t_ms);
/* True when t is a candle open time of tf. */
bool coin_tf_is_aligned(enum coin_tf tf, int64_t t_ms);
/* Open time of the last candle that is closed at now (open + length <= now). */
int64_t coin_tf_last_closed(enum coin_tf tf, int64_t now_ms);
/* Number of candle open times in [from, to] (both aligned or floored). */
int64_t coin_tf_count(enum coin_tf tf, int64_t from_ms, int64_t to_ms);
/* Nominal length (months = 30 days): for sizing and thresholds, never for
 * calendar arithmetic. */
int64_t coin_tf_nominal_ms(enum coin_tf tf);

/* Iterate expected open times in [from, to]:
 *   struct coin_tf_iter it; coin_tf_iter_init(&it, tf, from, to);
 *   int64_t t; while (coin_tf_iter_next(&it, &t)) ...
 * from is rounded up to the first aligned open time >= from. */
struct coin_tf_iter {
  enum coin_tf tf;
  int64_t next_ms;
  int64_t to_ms;
};
void coin_tf_iter_init(struct coin_tf_iter *it, enum coin_tf tf,
                       int64_t from_ms, int64_t to_ms);
bool coin_tf_iter_next(struct coin_tf_iter *it, int64_t *out_ms);

/* Supported time range: 0001-01-01T00:00:00.000Z .. 9999-12-31T23:59:59.999Z
 * (proleptic Gregorian calendar; negative epoch times are valid). Inputs
 * outside the range are clamped to it, so no function overflows or loops. */
#define COIN_TF_MIN_MS INT64_C(-62135596800000)
#define COIN_TF_MAX_MS INT64_C(253402300799999)

/* Formats t as "2026-11-26T22:20:57.123Z" (24 chars + NUL; out_cap >= 25),
 * without the C library's time zone or locale. Returns 0, or COIN_EINVAL when
 * out_cap is too small or t lies outside [COIN_TF_MIN_MS, COIN_TF_MAX_MS]. */
#define COIN_TF_UTC_TEXT_BYTES 25
int coin_tf_format_utc(char *out, size_t out_cap, int64_t t_ms);

/* Epoch ms of y-m-d 00:00:00 UTC (days-from-civil); m 1..12, d 1..31 with
 * no further check (d past the month end rolls over). */
int64_t coin_tf_from_civil(int64_t year, int month, int day);

#endif
