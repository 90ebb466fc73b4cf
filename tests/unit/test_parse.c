/* test_parse.c: the strict parsers of coin/parse.h (configuration,
 * coin-train's and coinctl's flags): whole text, decimal, in range, and the
 * reason as the error text. */
#include "coin/error.h"
#include "coin/parse.h"
#include "test.h"

#include <string.h>

#define DAY_MS INT64_C(86400000)

static void integers(void) {
  int64_t v = 7;
  ASSERT_OK(coin_parse_i64(&v, "42", 0, 100));
  ASSERT_EQ_INT(v, 42);
  ASSERT_OK(coin_parse_i64(&v, "-5", -10, 10));
  ASSERT_EQ_INT(v, -5);
  ASSERT_OK(coin_parse_i64(&v, "+5", -10, 10));
  ASSERT_EQ_INT(v, 5);
  ASSERT_OK(coin_parse_i64(&v, "9223372036854775807", 0, INT64_MAX));
  ASSERT_EQ_INT(v, INT64_MAX);
  static const char *const bad[] = {"",    " 1", "1 ", "abc", "0x10",
                                    "1.5", "-",  "+",  "1e3", "--1"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    v = 7;
    ASSERT_EQ_INT(coin_parse_i64(&v, bad[i], -100, 100), COIN_EINVAL);
    ASSERT_EQ_INT(v, 7); /* untouched */
    ASSERT_TRUE(strncmp(coin_error_last(), "not an integer", 14) == 0);
  }
  ASSERT_EQ_INT(coin_parse_i64(&v, "12abc", 0, 100), COIN_EINVAL);
  ASSERT_EQ_STR(coin_error_last(), "not an integer (trailing \"abc\")");
  ASSERT_EQ_INT(coin_parse_i64(&v, "101", 0, 100), COIN_EINVAL);
  ASSERT_EQ_STR(coin_error_last(), "out of range");
  ASSERT_EQ_INT(coin_parse_i64(&v, "-1", 0, 100), COIN_EINVAL);
  ASSERT_EQ_INT(coin_parse_i64(&v, "9223372036854775808", 0, INT64_MAX),
                COIN_EINVAL);
  ASSERT_EQ_STR(coin_error_last(), "out of range");
}

static void doubles(void) {
  double d = 7;
  ASSERT_OK(coin_parse_double(&d, "0.25", 0, 1));
  ASSERT_TRUE(d == 0.25);
  ASSERT_OK(coin_parse_double(&d, ".5", 0, 1));
  ASSERT_TRUE(d == 0.5);
  ASSERT_OK(coin_parse_double(&d, "-1e3", -1e4, 0));
  ASSERT_TRUE(d == -1000);
  static const char *const bad[] = {"",     " 1",    "1 ",   "abc",
                                    "0x10", "inf",   "-inf", "nan",
                                    "-nan", "1e999", "1,5"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    d = 7;
    ASSERT_EQ_INT(coin_parse_double(&d, bad[i], -1e300, 1e300), COIN_EINVAL);
    ASSERT_TRUE(d == 7);
  }
  ASSERT_EQ_INT(coin_parse_double(&d, "0x1p3", 0, 100), COIN_EINVAL);
  ASSERT_EQ_STR(coin_error_last(), "not a decimal number");
  ASSERT_EQ_INT(coin_parse_double(&d, "2", 0, 1), COIN_EINVAL);
  ASSERT_EQ_STR(coin_error_last(), "out of range");
}

static void times(void) {
  int64_t t = 0;
  ASSERT_OK(coin_parse_time(&t, "now", 1234));
  ASSERT_EQ_INT(t, 1234);
  ASSERT_OK(coin_parse_time(&t, "1700000000000", 0));
  ASSERT_EQ_INT(t, INT64_C(1700000000000));
  ASSERT_OK(coin_parse_time(&t, "1970-01-02", 0));
  ASSERT_EQ_INT(t, DAY_MS);
  ASSERT_OK(coin_parse_time(&t, "2024-02-29T12:30Z", 0));
  ASSERT_EQ_INT(t, INT64_C(1709209800000));
  ASSERT_OK(coin_parse_time(&t, "2024-02-29 12:30:15", 0));
  ASSERT_EQ_INT(t, INT64_C(1709209815000));
  static const char *const bad[] = {"",
                                    "yesterday",
                                    "2023-02-29",
                                    "2024-13-01",
                                    "1969-12-31",
                                    "2024-1-01",
                                    "2024-01-01T24:00",
                                    "2024-01-01T12",
                                    "2024-01-01Z1",
                                    "-5",
                                    "1234567890123456",
                                    "2024-01-01T12:00:60"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    t = 7;
    ASSERT_EQ_INT(coin_parse_time(&t, bad[i], 0), COIN_EINVAL);
    ASSERT_EQ_INT(t, 7);
    ASSERT_TRUE(strncmp(coin_error_last(), "not a time (rule: now,", 22) == 0);
  }
}

static void names(void) {
  static const char *const n[] = {"fresh", "soft_stale", "hard_stale"};
  ASSERT_EQ_INT(coin_parse_name("fresh", n, 3), 0);
  ASSERT_EQ_INT(coin_parse_name("hard_stale", n, 3), 2);
  ASSERT_EQ_INT(coin_parse_name("hard_stale", n, 2), -1); /* only n */
  ASSERT_EQ_INT(coin_parse_name("Fresh", n, 3), -1);
  ASSERT_EQ_INT(coin_parse_name("fresh ", n, 3), -1);
  ASSERT_EQ_INT(coin_parse_name("", n, 3), -1);
  ASSERT_EQ_INT(coin_parse_name(NULL, n, 3), -1);
  int i = 9;
  ASSERT_OK(coin_parse_enum(&i, "status", "soft_stale", n, 3, NULL));
  ASSERT_EQ_INT(i, 1);
  ASSERT_EQ_INT(coin_parse_enum(&i, "status", "stale", n, 3, "lower case"),
                COIN_EINVAL);
  ASSERT_EQ_STR(coin_error_last(), "status \"stale\": want one of fresh "
                                   "soft_stale hard_stale (lower case)");
  ASSERT_EQ_INT(coin_parse_enum(&i, "status", NULL, n, 3, NULL), COIN_EINVAL);
  ASSERT_EQ_STR(coin_error_last(),
                "status (null): want one of fresh soft_stale hard_stale");
  ASSERT_EQ_INT(i, 1);
}

TEST_MAIN(RUN_TEST(integers); RUN_TEST(doubles); RUN_TEST(times);
          RUN_TEST(names))
