/* test_fmt.c: the one shortest round-trip double format. */
#include "coin/error.h"
#include "coin/fmt.h"
#include "test.h"

#include <float.h>
#include <stdint.h>

static void shortest_and_exact(void) {
  char t[COIN_FMT_DOUBLE_BYTES];
  coin_fmt_double(t, 0.1);
  ASSERT_EQ_STR(t, "0.1");
  coin_fmt_double(t, 29000.01);
  ASSERT_EQ_STR(t, "29000.01");
  coin_fmt_double(t, 0.1 + 0.2);
  ASSERT_EQ_STR(t, "0.30000000000000004");
  coin_fmt_double(t, 4261.48);
  ASSERT_EQ_STR(t, "4261.48");
  coin_fmt_double(t, 1e-05);
  ASSERT_EQ_STR(t, "1e-05");
  coin_fmt_double(t, -0.0);
  ASSERT_EQ_STR(t, "-0");
  coin_fmt_double(t, 1.0 / 0.0);
  ASSERT_EQ_STR(t, "inf");
}

static void random_bits_round_trip(void) {
  uint64_t x = 0x9e3779b97f4a7c15u;
  char t[COIN_FMT_DOUBLE_BYTES];
  for (int i = 0; i < 100000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    double v;
    memcpy(&v, &x, sizeof(v));
    if (!isfinite(v))
      continue;
    size_t n = coin_fmt_double(t, v);
    ASSERT_TRUE(n > 0 && n < COIN_FMT_DOUBLE_BYTES);
    double back = strtod(t, NULL);
    ASSERT_TRUE(memcmp(&back, &v, sizeof(v)) == 0);
  }
  coin_fmt_double(t, DBL_MAX);
  ASSERT_EQ_DBL(strtod(t, NULL), DBL_MAX);
}

TEST_MAIN(RUN_TEST(shortest_and_exact); RUN_TEST(random_bits_round_trip))
