/* test_ingest_retention.c: ingest_retention_floor, the oldest 1m open time
 * InfluxDB's rp_1m accepts at a given now (first fill, gap checks and
 * operator refills are all cut to it); no floor for other timeframes. */
#include "ingest_int.h"
#include "test.h"

#include <stdint.h>

static void one_minute_floor_is_inside_the_window(void) {
  const int64_t now = INT64_C(1796302812345); /* 12.345 s past a minute */
  for (int64_t days = 1; days <= 30; days += 29) {
    int64_t f = ingest_retention_floor(COIN_TF_1M, now, days);
    ASSERT_EQ_INT(f % COIN_MINUTE_MS, 0);      /* a candle's open */
    ASSERT_TRUE(f > now - days * COIN_DAY_MS); /* inside rp_1m */
    ASSERT_TRUE(f <= now - days * COIN_DAY_MS + 2 * COIN_MINUTE_MS);
  }
}

static void other_timeframes_have_none(void) {
  const enum coin_tf tfs[] = {COIN_TF_1H, COIN_TF_1D, COIN_TF_1W, COIN_TF_1MO};
  for (size_t i = 0; i < 4; i++)
    ASSERT_EQ_INT(ingest_retention_floor(tfs[i], INT64_C(1796302812345), 7),
                  INT64_MIN);
}

TEST_MAIN(RUN_TEST(one_minute_floor_is_inside_the_window);
          RUN_TEST(other_timeframes_have_none);)
