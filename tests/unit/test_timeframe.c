/*
 * test_timeframe.c: the UTC candle calendar (floor/next/prev/count/iterate,
 * weeks on Monday, months on the 1st, leap years, negative times), checked
 * against literal dates and a naive day-by-day calendar walk.
 */
#include <time.h>

#include "coin/error.h"
#include "coin/timeframe.h"
#include "test.h"

#define D(y, m, d) coin_tf_from_civil((y), (m), (d))
#define DT(y, m, d, hh, mi)                                                    \
  (D(y, m, d) + (hh)*COIN_HOUR_MS + (mi)*COIN_MINUTE_MS)

static void parse_and_name(void) {
  const char *names[] = {"1m", "1h", "1d", "1w", "1M"};
  for (int i = 0; i < COIN_TF_COUNT; i++) {
    enum coin_tf tf = COIN_TF_COUNT;
    ASSERT_OK(coin_tf_parse(&tf, names[i]));
    ASSERT_EQ_INT(tf, i);
    ASSERT_EQ_STR(coin_tf_name(tf), names[i]);
  }
  enum coin_tf tf = COIN_TF_1H;
  ASSERT_RC(coin_tf_parse(&tf, "1H"), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "\"1H\"");
  ASSERT_CONTAINS(coin_error_last(), "1m 1h 1d 1w 1M");
  ASSERT_EQ_INT(tf, COIN_TF_1H); /* out untouched on failure */
  ASSERT_RC(coin_tf_parse(&tf, ""), COIN_EINVAL);
  ASSERT_RC(coin_tf_parse(&tf, "1h "), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "\"1h \"");
  ASSERT_RC(coin_tf_parse(&tf, "4h"), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "4h");
  ASSERT_RC(coin_tf_parse(&tf, NULL), COIN_EINVAL);
  ASSERT_EQ_STR(coin_tf_name((enum coin_tf)99), "?");
}

static void civil_anchors(void) {
  ASSERT_EQ_INT(D(1970, 1, 1), 0);
  ASSERT_EQ_INT(D(2017, 8, 17), INT64_C(1502928000000));
  ASSERT_EQ_INT(D(2000, 3, 1), INT64_C(951868800000));
  ASSERT_EQ_INT(D(1969, 12, 31), -COIN_DAY_MS);
  ASSERT_EQ_INT(D(1, 1, 1), COIN_TF_MIN_MS);
  ASSERT_EQ_INT(D(10000, 1, 1) - 1, COIN_TF_MAX_MS);
}

static void fixed_floor_next_prev(void) {
  int64_t t = INT64_C(1502942400000) + 1234; /* 2017-08-17T04:00:01.234Z */
  ASSERT_EQ_INT(coin_tf_floor(COIN_TF_1M, t), INT64_C(1502942400000));
  ASSERT_EQ_INT(coin_tf_floor(COIN_TF_1H, t), INT64_C(1502942400000));
  ASSERT_EQ_INT(coin_tf_floor(COIN_TF_1D, t), D(2017, 8, 17));
  ASSERT_EQ_INT(coin_tf_next(COIN_TF_1H, t), INT64_C(1502946000000));
  ASSERT_EQ_INT(coin_tf_prev(COIN_TF_1H, t), INT64_C(1502938800000));
  ASSERT_EQ_INT(coin_tf_next(COIN_TF_1M, t), INT64_C(1502942460000));
  ASSERT_EQ_INT(coin_tf_length_ms(COIN_TF_1D, t), COIN_DAY_MS);
  ASSERT_TRUE(coin_tf_is_aligned(COIN_TF_1H, INT64_C(1502942400000)));
  ASSERT_FALSE(coin_tf_is_aligned(COIN_TF_1H, t));
  ASSERT_FALSE(coin_tf_is_aligned(COIN_TF_1D, INT64_C(1502942400000)));
  /* Negative times floor downwards, not towards zero. */
  ASSERT_EQ_INT(coin_tf_floor(COIN_TF_1H, -1), -COIN_HOUR_MS);
  ASSERT_EQ_INT(coin_tf_floor(COIN_TF_1D, -1), -COIN_DAY_MS);
  ASSERT_EQ_INT(coin_tf_next(COIN_TF_1D, -1), 0);
  ASSERT_EQ_INT(coin_tf_floor(COIN_TF_1M, -60001), -120000);
}

static void weeks_open_monday(void) {
  /* 1970-01-01 was a Thursday: its week opened Monday 1969-12-29. */
  ASSERT_EQ_INT(coin_tf_floor(COIN_TF_1W, 0), D(1969, 12, 29));
  ASSERT_EQ_INT(coin_tf_next(COIN_TF_1W, 0), D(1970, 1, 5));
  /* 2017-08-17 (Thu) -> Mon 2017-08-14 (Binance's first BTCUSDT 1w). */
  ASSERT_EQ_INT(coin_tf_floor(COIN_TF_1W, D(2017, 8, 17) + 5), D(2017, 8, 14));
  /* Sunday 23:59:59.999 still belongs to the week that opened on Monday. */
  ASSERT_EQ_INT(coin_tf_floor(COIN_TF_1W, D(2017, 8, 21) - 1), D(2017, 8, 14));
  ASSERT_EQ_INT(coin_tf_floor(COIN_TF_1W, D(2017, 8, 21)), D(2017, 8, 21));
  /* Week crossing the year boundary: Mon 2019-12-30 .. Sun 2020-01-05. */
  ASSERT_EQ_INT(coin_tf_floor(COIN_TF_1W, DT(2020, 1, 1, 12, 0)),
                D(2019, 12, 30));
  ASSERT_EQ_INT(coin_tf_next(COIN_TF_1W, D(2019, 12, 31)), D(2020, 1, 6));
  ASSERT_EQ_INT(coin_tf_prev(COIN_TF_1W, D(2020, 1, 1)), D(2019, 12, 23));
  /* Leap day inside a week: Mon 2020-02-24 .. Sun 2020-03-01. */
  ASSERT_EQ_INT(coin_tf_floor(COIN_TF_1W, D(2020, 2, 29)), D(2020, 2, 24));
  ASSERT_EQ_INT(coin_tf_next(COIN_TF_1W, D(2020, 2, 29)), D(2020, 3, 2));
  ASSERT_TRUE(coin_tf_is_aligned(COIN_TF_1W, D(2021, 1, 4)));
  ASSERT_FALSE(coin_tf_is_aligned(COIN_TF_1W, D(2021, 1, 3)));
  ASSERT_EQ_INT(coin_tf_length_ms(COIN_TF_1W, D(2021, 1, 3)), COIN_WEEK_MS);
}

static void months_open_on_first(void) {
  ASSERT_EQ_INT(coin_tf_floor(COIN_TF_1MO, D(2020, 2, 29) + 5), D(2020, 2, 1));
  ASSERT_EQ_INT(coin_tf_length_ms(COIN_TF_1MO, D(2020, 2, 10)),
                29 * COIN_DAY_MS);
  ASSERT_EQ_INT(coin_tf_length_ms(COIN_TF_1MO, D(2021, 2, 10)),
                28 * COIN_DAY_MS);
  ASSERT_EQ_INT(coin_tf_length_ms(COIN_TF_1MO, D(2000, 2, 10)),
                29 * COIN_DAY_MS);
  ASSERT_EQ_INT(coin_tf_length_ms(COIN_TF_1MO, D(2100, 2, 10)),
                28 * COIN_DAY_MS);
  ASSERT_EQ_INT(coin_tf_length_ms(COIN_TF_1MO, D(1900, 2, 10)),
                28 * COIN_DAY_MS);
  ASSERT_EQ_INT(coin_tf_length_ms(COIN_TF_1MO, D(2021, 4, 30)),
                30 * COIN_DAY_MS);
  ASSERT_EQ_INT(coin_tf_length_ms(COIN_TF_1MO, D(2021, 12, 31)),
                31 * COIN_DAY_MS);
  ASSERT_EQ_INT(coin_tf_next(COIN_TF_1MO, D(2020, 2, 1)), D(2020, 3, 1));
  ASSERT_EQ_INT(coin_tf_next(COIN_TF_1MO, D(2100, 2, 28)), D(2100, 3, 1));
  /* Month and year ends. */
  ASSERT_EQ_INT(coin_tf_floor(COIN_TF_1MO, D(2021, 1, 1) - 1), D(2020, 12, 1));
  ASSERT_EQ_INT(coin_tf_next(COIN_TF_1MO, D(2020, 12, 31)), D(2021, 1, 1));
  ASSERT_EQ_INT(coin_tf_prev(COIN_TF_1MO, D(2021, 1, 15)), D(2020, 12, 1));
  ASSERT_EQ_INT(coin_tf_prev(COIN_TF_1MO, D(2021, 3, 1)), D(2021, 2, 1));
  ASSERT_EQ_INT(coin_tf_floor(COIN_TF_1MO, D(2021, 3, 31) + COIN_DAY_MS - 1),
                D(2021, 3, 1));
  /* Negative: 1969-12-31T23:59:59.999 is in December 1969. */
  ASSERT_EQ_INT(coin_tf_floor(COIN_TF_1MO, -1), D(1969, 12, 1));
  ASSERT_EQ_INT(coin_tf_next(COIN_TF_1MO, -1), 0);
  ASSERT_TRUE(coin_tf_is_aligned(COIN_TF_1MO, D(1900, 3, 1)));
  ASSERT_FALSE(coin_tf_is_aligned(COIN_TF_1MO, D(2000, 3, 2)));
  ASSERT_EQ_INT(coin_tf_nominal_ms(COIN_TF_1MO), 30 * COIN_DAY_MS);
  ASSERT_EQ_INT(coin_tf_nominal_ms(COIN_TF_1H), COIN_HOUR_MS);
}

/* Independent reference: walk the calendar day by day with a naive
 * year/month/day counter and compare every day's month floor, week floor and
 * month length (1600-03-01 .. 2500-12-31, crossing 1700/1800/1900/2100 (not
 * leap) and 2000/2400 (leap)). */
static void naive_calendar_walk(void) {
  int y = 1600, m = 3, d = 1, dow = 2; /* 1600-03-01 was a Wednesday */
  int64_t day_ms = D(1600, 3, 1);
  int64_t month_open = day_ms, week_open = day_ms - 2 * COIN_DAY_MS;
  long days = 0;
  while (y <= 2500) {
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    int dim = m == 2                                    ? (leap ? 29 : 28)
              : (m == 4 || m == 6 || m == 9 || m == 11) ? 30
                                                        : 31;
    int64_t noon = day_ms + 12 * COIN_HOUR_MS;
    if (coin_tf_floor(COIN_TF_1MO, noon) != month_open ||
        coin_tf_floor(COIN_TF_1W, noon) != week_open ||
        coin_tf_floor(COIN_TF_1D, noon) != day_ms ||
        coin_tf_length_ms(COIN_TF_1MO, noon) != dim * COIN_DAY_MS ||
        coin_tf_next(COIN_TF_1MO, noon) != month_open + dim * COIN_DAY_MS)
      COIN_TEST_FAIL_("calendar mismatch at %04d-%02d-%02d", y, m, d);
    if (d == 1 && !coin_tf_is_aligned(COIN_TF_1MO, day_ms))
      COIN_TEST_FAIL_("%04d-%02d-01 not month-aligned", y, m);
    days++;
    day_ms += COIN_DAY_MS;
    if (++dow == 7)
      dow = 0;
    if (dow == 0)
      week_open = day_ms;
    if (++d > dim) {
      d = 1;
      month_open = day_ms;
      if (++m > 12) {
        m = 1;
        y++;
      }
    }
  }
  ASSERT_TRUE(days > 300000);
}

static void last_closed_at_boundaries(void) {
  int64_t open = INT64_C(1502942400000);
  /* open + len == now: closed. One ms earlier: still open. */
  ASSERT_EQ_INT(coin_tf_last_closed(COIN_TF_1H, open + COIN_HOUR_MS), open);
  ASSERT_EQ_INT(coin_tf_last_closed(COIN_TF_1H, open + COIN_HOUR_MS - 1),
                open - COIN_HOUR_MS);
  ASSERT_EQ_INT(coin_tf_last_closed(COIN_TF_1M, open + 59999), open - 60000);
  ASSERT_EQ_INT(coin_tf_last_closed(COIN_TF_1MO, D(2020, 3, 1)), D(2020, 2, 1));
  ASSERT_EQ_INT(coin_tf_last_closed(COIN_TF_1MO, D(2020, 3, 1) - 1),
                D(2020, 1, 1));
  ASSERT_EQ_INT(coin_tf_last_closed(COIN_TF_1W, D(2020, 1, 6)),
                D(2019, 12, 30));
  ASSERT_EQ_INT(coin_tf_last_closed(COIN_TF_1W, D(2020, 1, 6) - 1),
                D(2019, 12, 23));
  ASSERT_EQ_INT(coin_tf_last_closed(COIN_TF_1D, D(2021, 1, 1)),
                D(2020, 12, 31));
  /* The invariant for all tfs at many instants. */
  for (int tf = 0; tf < COIN_TF_COUNT; tf++) {
    for (int64_t now = D(2019, 12, 25); now < D(2020, 3, 5);
         now += 7 * COIN_HOUR_MS + 13 * COIN_MINUTE_MS + 17) {
      int64_t lc = coin_tf_last_closed((enum coin_tf)tf, now);
      int64_t end = lc + coin_tf_length_ms((enum coin_tf)tf, lc);
      ASSERT_TRUE(end <= now);
      ASSERT_TRUE(coin_tf_next((enum coin_tf)tf, end) > now);
    }
  }
}

static int64_t iter_count(enum coin_tf tf, int64_t from, int64_t to,
                          int64_t *first, int64_t *last) {
  struct coin_tf_iter it;
  int64_t t, n = 0, prev = INT64_MIN;
  coin_tf_iter_init(&it, tf, from, to);
  while (coin_tf_iter_next(&it, &t)) {
    if (n == 0)
      *first = t;
    if (t <= prev || !coin_tf_is_aligned(tf, t))
      return -1;
    prev = t;
    *last = t;
    n++;
  }
  return n;
}

static void iteration_and_count(void) {
  int64_t first = 0, last = 0;
  /* 1M over 2019-01 .. 2021-12 = 36 months. */
  ASSERT_EQ_INT(
      iter_count(COIN_TF_1MO, D(2019, 1, 1), D(2021, 12, 1), &first, &last),
      36);
  ASSERT_EQ_INT(first, D(2019, 1, 1));
  ASSERT_EQ_INT(last, D(2021, 12, 1));
  ASSERT_EQ_INT(coin_tf_count(COIN_TF_1MO, D(2019, 1, 1), D(2021, 12, 1)), 36);
  /* from is rounded up: mid-January starts at February. */
  ASSERT_EQ_INT(
      iter_count(COIN_TF_1MO, D(2019, 1, 15), D(2021, 12, 31), &first, &last),
      35);
  ASSERT_EQ_INT(first, D(2019, 2, 1));
  /* Leap year 2020 has 366 daily candles and 8784 hourly ones. */
  ASSERT_EQ_INT(
      iter_count(COIN_TF_1D, D(2020, 1, 1), D(2021, 1, 1) - 1, &first, &last),
      366);
  ASSERT_EQ_INT(coin_tf_count(COIN_TF_1D, D(2020, 1, 1), D(2020, 12, 31)), 366);
  ASSERT_EQ_INT(coin_tf_count(COIN_TF_1D, D(2100, 1, 1), D(2100, 12, 31)), 365);
  ASSERT_EQ_INT(coin_tf_count(COIN_TF_1H, D(2020, 1, 1), D(2021, 1, 1) - 1),
                8784);
  ASSERT_EQ_INT(
      iter_count(COIN_TF_1H, D(2020, 1, 1), D(2021, 1, 1) - 1, &first, &last),
      8784);
  /* Weeks of 2020 opening in [2020-01-01, 2020-12-31]: Jan 6 .. Dec 28. */
  ASSERT_EQ_INT(
      iter_count(COIN_TF_1W, D(2020, 1, 1), D(2020, 12, 31), &first, &last),
      52);
  ASSERT_EQ_INT(first, D(2020, 1, 6));
  ASSERT_EQ_INT(last, D(2020, 12, 28));
  /* count floors both ends: 2020-01-01 lies in the week of 2019-12-30. */
  ASSERT_EQ_INT(coin_tf_count(COIN_TF_1W, D(2020, 1, 1), D(2020, 12, 31)), 53);
  /* Empty and single ranges. */
  ASSERT_EQ_INT(iter_count(COIN_TF_1H, 3600001, 7199999, &first, &last), 0);
  ASSERT_EQ_INT(iter_count(COIN_TF_1H, 3600000, 3600000, &first, &last), 1);
  ASSERT_EQ_INT(iter_count(COIN_TF_1H, 10, 5, &first, &last), 0);
  ASSERT_EQ_INT(coin_tf_count(COIN_TF_1H, 7200000, 3600000), 0);
  ASSERT_EQ_INT(coin_tf_count(COIN_TF_1H, 3600000, 3600000), 1);
  /* Across the epoch. */
  ASSERT_EQ_INT(coin_tf_count(COIN_TF_1MO, D(1969, 11, 1), D(1970, 2, 1)), 4);
  ASSERT_EQ_INT(
      iter_count(COIN_TF_1MO, D(1969, 11, 2), D(1970, 2, 1), &first, &last), 3);
  ASSERT_EQ_INT(first, D(1969, 12, 1));
  /* The count and the iterator agree for every tf on aligned bounds. */
  for (int tf = 0; tf < COIN_TF_COUNT; tf++) {
    int64_t a = coin_tf_floor((enum coin_tf)tf, D(2019, 12, 20));
    int64_t b = coin_tf_floor((enum coin_tf)tf, D(2020, 3, 3));
    ASSERT_EQ_INT(iter_count((enum coin_tf)tf, a, b, &first, &last),
                  coin_tf_count((enum coin_tf)tf, a, b));
  }
}

static void prev_next_round_trip(void) {
  for (int tf = 0; tf < COIN_TF_COUNT; tf++) {
    int64_t t = coin_tf_floor((enum coin_tf)tf, D(1999, 11, 7));
    for (int i = 0; i < 400; i++) {
      int64_t n = coin_tf_next((enum coin_tf)tf, t);
      ASSERT_TRUE(n > t);
      ASSERT_EQ_INT(coin_tf_prev((enum coin_tf)tf, n), t);
      ASSERT_EQ_INT(n - t, coin_tf_length_ms((enum coin_tf)tf, t));
      ASSERT_EQ_INT(coin_tf_floor((enum coin_tf)tf, n - 1), t);
      t = n;
    }
  }
}

static void range_is_clamped(void) {
  /* Extreme inputs neither overflow nor loop forever. */
  ASSERT_EQ_INT(coin_tf_floor(COIN_TF_1MO, INT64_MAX), D(9999, 12, 1));
  ASSERT_EQ_INT(coin_tf_floor(COIN_TF_1H, INT64_MIN), COIN_TF_MIN_MS);
  ASSERT_FALSE(coin_tf_is_aligned(COIN_TF_1H, INT64_MIN));
  int64_t first = 0, last = 0;
  ASSERT_EQ_INT(
      iter_count(COIN_TF_1MO, D(9999, 10, 1), INT64_MAX, &first, &last), 3);
  ASSERT_EQ_INT(last, D(9999, 12, 1));
  ASSERT_EQ_INT(coin_tf_count(COIN_TF_1MO, INT64_MIN, INT64_MAX),
                9999 * INT64_C(12));
}

static void format_utc(void) {
  char buf[COIN_TF_UTC_TEXT_BYTES];
  ASSERT_OK(coin_tf_format_utc(buf, sizeof(buf), INT64_C(1795731657123)));
  ASSERT_EQ_STR(buf, "2026-11-26T22:20:57.123Z");
  ASSERT_OK(coin_tf_format_utc(buf, sizeof(buf), -1));
  ASSERT_EQ_STR(buf, "1969-12-31T23:59:59.999Z");
  ASSERT_OK(coin_tf_format_utc(buf, sizeof(buf), D(2020, 2, 29)));
  ASSERT_EQ_STR(buf, "2020-02-29T00:00:00.000Z");
  ASSERT_RC(coin_tf_format_utc(buf, 24, 0), COIN_EINVAL);
  ASSERT_RC(coin_tf_format_utc(buf, sizeof(buf), INT64_MAX), COIN_EINVAL);
  /* Against glibc's gmtime_r (UTC, no TZ involved) at scattered instants. */
  for (int64_t t = -INT64_C(2000000000000); t < INT64_C(4000000000000);
       t += INT64_C(7777777777) + 123) {
    char want[64];
    time_t s = (time_t)(t >= 0 ? t / 1000 : -((-t + 999) / 1000));
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(want + n, sizeof(want) - n, ".%03dZ",
             (int)(t - (int64_t)s * 1000));
    ASSERT_OK(coin_tf_format_utc(buf, sizeof(buf), t));
    ASSERT_EQ_STR(buf, want);
  }
}

TEST_MAIN(RUN_TEST(parse_and_name); RUN_TEST(civil_anchors);
          RUN_TEST(fixed_floor_next_prev); RUN_TEST(weeks_open_monday);
          RUN_TEST(months_open_on_first); RUN_TEST(naive_calendar_walk);
          RUN_TEST(last_closed_at_boundaries); RUN_TEST(iteration_and_count);
          RUN_TEST(prev_next_round_trip); RUN_TEST(range_is_clamped);
          RUN_TEST(format_utc))
