/*
 * timeframe.c: UTC candle calendar for 1m 1h 1d 1w 1M on epoch milliseconds.
 * Weeks and months use integer civil-date arithmetic (days-from-civil and its
 * inverse, proleptic Gregorian) with floor division, so negative times work and
 * nothing depends on timegm, TZ or the locale. Inputs are clamped to
 * [COIN_TF_MIN_MS, COIN_TF_MAX_MS]. Pure functions, thread-safe.
 */
#include "coin/timeframe.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "coin/error.h"
#include "coin/parse.h"

/* 1970-01-01 was a Thursday; the first Monday after it is 4 days later. */
#define MONDAY_OFFSET_MS (4 * COIN_DAY_MS)

static const char *const tf_names[COIN_TF_COUNT] = {"1m", "1h", "1d", "1w",
                                                    "1M"};

static int64_t floordiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0)))
    q--;
  return q;
}

static int64_t clamp_ms(int64_t t_ms) {
  if (t_ms < COIN_TF_MIN_MS)
    return COIN_TF_MIN_MS;
  if (t_ms > COIN_TF_MAX_MS)
    return COIN_TF_MAX_MS;
  return t_ms;
}

static bool valid_tf(enum coin_tf tf) {
  return (unsigned)tf < (unsigned)COIN_TF_COUNT;
}

/* Days since 1970-01-01 of the civil date y-m-d (m 1..12). The year is shifted
 * to start in March so that the leap day is the last day of the shifted year;
 * 400-year eras have exactly 146097 days. */
static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = floordiv(y, 400);
  int64_t yoe = y - era * 400;                         /* [0, 399] */
  int64_t mp = (m + 9) % 12;                           /* March = 0 */
  int64_t doy = (153 * mp + 2) / 5 + d - 1;            /* [0, 365] */
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; /* [0, 146096] */
  return era * 146097 + doe - 719468; /* 719468 = days 0000-03-01..1970 */
}

static void civil_from_days(int64_t z, int64_t *out_y, int *out_m, int *out_d) {
  z += 719468;
  int64_t era = floordiv(z, 146097);
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int d = (int)(doy - (153 * mp + 2) / 5 + 1);
  int m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *out_y = yoe + era * 400 + (m <= 2);
  *out_m = m;
  *out_d = d;
}

static bool is_leap(int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m) {
  static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

int64_t coin_tf_from_civil(int64_t year, int month, int day) {
  return days_from_civil(year, month, day) * COIN_DAY_MS;
}

int coin_tf_parse(enum coin_tf *out, const char *text) {
  int i;
  int rc = coin_parse_enum(&i, "timeframe", text, tf_names, COIN_TF_COUNT,
                           text ? "case-sensitive: 1M is a month" : NULL);
  if (rc == 0)
    *out = (enum coin_tf)i;
  return rc;
}

const char *coin_tf_name(enum coin_tf tf) {
  return valid_tf(tf) ? tf_names[tf] : "?";
}

/* Fixed-length timeframes: length and the offset of their grid from 0. */
static bool fixed_grid(enum coin_tf tf, int64_t *len, int64_t *offset) {
  *offset = 0;
  switch (tf) {
  case COIN_TF_1M: *len = COIN_MINUTE_MS; return true;
  case COIN_TF_1H: *len = COIN_HOUR_MS; return true;
  case COIN_TF_1D: *len = COIN_DAY_MS; return true;
  case COIN_TF_1W:
    *len = COIN_WEEK_MS;
    *offset = MONDAY_OFFSET_MS;
    return true;
  default: return false;
  }
}

/* Months since 0000-01 of the month containing t, and that month's start. */
static int64_t month_index(int64_t t_ms) {
  int64_t y;
  int m, d;
  civil_from_days(floordiv(t_ms, COIN_DAY_MS), &y, &m, &d);
  return y * 12 + (m - 1);
}

static int64_t month_start(int64_t index) {
  int64_t y = floordiv(index, 12);
  int m = (int)(index - y * 12) + 1;
  return coin_tf_from_civil(y, m, 1);
}

int64_t coin_tf_floor(enum coin_tf tf, int64_t t_ms) {
  int64_t len, off;
  t_ms = clamp_ms(t_ms);
  if (fixed_grid(tf, &len, &off))
    return floordiv(t_ms - off, len) * len + off;
  return month_start(month_index(t_ms));
}

int64_t coin_tf_length_ms(enum coin_tf tf, int64_t t_ms) {
  int64_t len, off;
  if (fixed_grid(tf, &len, &off))
    return len;
  int64_t y;
  int m, d;
  civil_from_days(floordiv(clamp_ms(t_ms), COIN_DAY_MS), &y, &m, &d);
  return days_in_month(y, m) * COIN_DAY_MS;
}

int64_t coin_tf_next(enum coin_tf tf, int64_t t_ms) {
  int64_t open = coin_tf_floor(tf, t_ms);
  return open + coin_tf_length_ms(tf, open);
}

int64_t coin_tf_prev(enum coin_tf tf, int64_t t_ms) {
  return coin_tf_floor(tf, coin_tf_floor(tf, t_ms) - 1);
}

bool coin_tf_is_aligned(enum coin_tf tf, int64_t t_ms) {
  if (t_ms < COIN_TF_MIN_MS || t_ms > COIN_TF_MAX_MS)
    return false;
  return coin_tf_floor(tf, t_ms) == t_ms;
}

/* The candle containing now is still open (it ends after now), so the last
 * closed one is the candle before it; at an exact boundary now == open + len
 * of that previous candle, which therefore counts as closed. */
int64_t coin_tf_last_closed(enum coin_tf tf, int64_t now_ms) {
  return coin_tf_prev(tf, now_ms);
}

int64_t coin_tf_count(enum coin_tf tf, int64_t from_ms, int64_t to_ms) {
  int64_t a = coin_tf_floor(tf, from_ms);
  int64_t b = coin_tf_floor(tf, to_ms);
  if (b < a)
    return 0;
  int64_t len, off;
  if (fixed_grid(tf, &len, &off))
    return (b - a) / len + 1;
  return month_index(b) - month_index(a) + 1;
}

int64_t coin_tf_nominal_ms(enum coin_tf tf) {
  int64_t len, off;
  if (fixed_grid(tf, &len, &off))
    return len;
  return 30 * COIN_DAY_MS;
}

void coin_tf_iter_init(struct coin_tf_iter *it, enum coin_tf tf,
                       int64_t from_ms, int64_t to_ms) {
  it->tf = tf;
  from_ms = clamp_ms(from_ms);
  it->next_ms =
      coin_tf_is_aligned(tf, from_ms) ? from_ms : coin_tf_next(tf, from_ms);
  /* Clamping to_ms ends the walk before any step could leave the range. */
  it->to_ms = to_ms > COIN_TF_MAX_MS ? COIN_TF_MAX_MS : to_ms;
}

bool coin_tf_iter_next(struct coin_tf_iter *it, int64_t *out_ms) {
  if (it->next_ms > it->to_ms)
    return false;
  *out_ms = it->next_ms;
  it->next_ms = coin_tf_next(it->tf, it->next_ms);
  return true;
}

int coin_tf_format_utc(char *out, size_t out_cap, int64_t t_ms) {
  if (out_cap < COIN_TF_UTC_TEXT_BYTES)
    return coin_error_set(COIN_EINVAL,
                          "format_utc: out_cap %zu < %d (rule: buffer size)",
                          out_cap, COIN_TF_UTC_TEXT_BYTES);
  if (t_ms < COIN_TF_MIN_MS || t_ms > COIN_TF_MAX_MS)
    return coin_error_set(
        COIN_EINVAL, "format_utc: time %" PRId64 " ms outside years 0001..9999",
        t_ms);
  int64_t days = floordiv(t_ms, COIN_DAY_MS);
  int64_t rem = t_ms - days * COIN_DAY_MS; /* [0, day) */
  int64_t y;
  int m, d;
  civil_from_days(days, &y, &m, &d);
  int hh = (int)(rem / COIN_HOUR_MS);
  int mi = (int)(rem % COIN_HOUR_MS / COIN_MINUTE_MS);
  int ss = (int)(rem % COIN_MINUTE_MS / 1000);
  int ms = (int)(rem % 1000);
  snprintf(out, out_cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (int)y, m, d,
           hh, mi, ss, ms);
  return 0;
}
