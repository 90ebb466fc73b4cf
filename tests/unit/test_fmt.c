/* test_fmt.c: the shortest round-trip double formats (%g style and an
 * exchange's plain decimals) and Binance's fixed 8 decimals. */
#include "coin/error.h"
#include "coin/fmt.h"
#include "test.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static uint64_t next(uint64_t *x) {
  *x ^= *x << 13;
  *x ^= *x >> 7;
  *x ^= *x << 17;
  return *x;
}

static void same_as_printf(double v) {
  char fast[COIN_FMT_DOUBLE_BYTES], slow[COIN_FMT_DOUBLE_BYTES];
  size_t nf = coin_fmt_double(fast, v), ns = coin_fmt_double_slow(slow, v);
  if (nf != ns || strcmp(fast, slow) != 0)
    fprintf(stderr, "value %.17g: fast \"%s\" slow \"%s\"\n", v, fast, slow);
  ASSERT_EQ_STR(fast, slow);
  ASSERT_EQ_INT(nf, ns);
}

/* The integer fast path prints exactly what "%.Ng" + strtod print. */
static void fast_path_equals_printf(void) {
  static const double edge[] = {1e-4,
                                0.00010000000000000001,
                                9.9999999999999991e-05,
                                999999999999999.9,
                                999999999999999.0,
                                99999999999999.98,
                                123456789012345.0,
                                1234567890123456.0,
                                0.1 + 0.2,
                                29000.01,
                                -4261.48,
                                0.5,
                                1.0,
                                -1.0,
                                100.0,
                                1e14,
                                0.0001234,
                                1.0000000000000002,
                                12345.678901234567};
  for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]); i++)
    same_as_printf(edge[i]);
  uint64_t x = 0x2545f4914f6cdd1du;
  for (int i = 0; i < 100000; i++) {
    /* exchange-like decimals: up to 15 digits, 0..10 of them decimals */
    uint64_t digits = next(&x) % 15 + 1, dec = next(&x) % 11;
    uint64_t m = next(&x) % (uint64_t)pow(10, (double)digits);
    char txt[64];
    int n = snprintf(txt, sizeof(txt), "%llu", (unsigned long long)m);
    if ((int)dec < n) {
      memmove(txt + n - dec + 1, txt + n - dec, dec + 1);
      txt[n - dec] = '.';
    }
    double v = strtod(txt, NULL) * (next(&x) & 1 ? -1 : 1);
    same_as_printf(v);
    /* and arbitrary doubles of ordinary magnitudes */
    double r = (double)(next(&x) >> 11) * 0x1p-53 *
               pow(10, (double)(next(&x) % 24) - 6);
    same_as_printf(r);
  }
}

/* The decimal reader agrees with strtod bit for bit, and declines the rest. */
static void parse_decimal_equals_strtod(void) {
  static const char *const yes[] = {"0",
                                    "-0",
                                    "29000.01",
                                    "0.1",
                                    "1.50",
                                    "007.250",
                                    "-4261.48",
                                    "1",
                                    "99999999999999.9",
                                    "0.00000000000001",
                                    "123456789012345"};
  static const char *const no[] = {"",
                                   "-",
                                   ".5",
                                   "1.",
                                   "1e5",
                                   " 1",
                                   "1 ",
                                   "+1",
                                   "0x10",
                                   "inf",
                                   "nan",
                                   "1.2.3",
                                   "--1",
                                   "1234567890123456",
                                   "0.1234567890123456"};
  double d = 0;
  for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
    double want = strtod(yes[i], NULL);
    ASSERT_TRUE(coin_fmt_parse_decimal(&d, yes[i]));
    ASSERT_TRUE(memcmp(&d, &want, sizeof(d)) == 0);
  }
  for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
    d = 42;
    ASSERT_TRUE(!coin_fmt_parse_decimal(&d, no[i]));
    ASSERT_EQ_DBL(d, 42);
  }
  uint64_t x = 0x9e3779b97f4a7c15u;
  for (int i = 0; i < 200000; i++) {
    char txt[40];
    int n = 0, digits = (int)(next(&x) % 15) + 1, dot = (int)(next(&x) % 16);
    if (next(&x) & 1)
      txt[n++] = '-';
    for (int k = 0; k < digits; k++) {
      if (k == dot && k > 0)
        txt[n++] = '.';
      txt[n++] = (char)('0' + next(&x) % 10);
    }
    txt[n] = '\0';
    double want = strtod(txt, NULL);
    ASSERT_TRUE(coin_fmt_parse_decimal(&d, txt));
    if (memcmp(&d, &want, sizeof(d)) != 0)
      fprintf(stderr, "text %s: %.17g, strtod %.17g\n", txt, d, want);
    ASSERT_TRUE(memcmp(&d, &want, sizeof(d)) == 0);
  }
}

/* The replay exchange's text: plain decimals as Binance sends them, the
 * values that moved from tools/replay with it. */
static void plain_decimal_like_an_exchange(void) {
  static const struct {
    double v;
    const char *want;
    int places;
  } cases[] = {
      {29000.01, "29000.01", 2},
      {0.1, "0.1", 1},
      {1e-05, "0.00001", 5}, /* %g would say 1e-05 */
      {0.00000123, "0.00000123", 8},
      {12.0, "12", 0},
      {-4261.48, "-4261.48", 2},
      {1e15, "1000000000000000", 0}, /* %g would say 1e+15 */
      {0.0, "0", 0},
      {-0.0, "0", 0}, /* %g would say -0 */
      {0.1 + 0.2, "0.30000000000000004", 17},
      {1e20, "1e+20", 17},
      {1.0 / 3.0, "0.3333333333333333", 16}, /* 16 digits, < 2^53 */
  };
  char t[COIN_FMT_DOUBLE_BYTES];
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    size_t n = coin_fmt_decimal(t, cases[i].v);
    ASSERT_EQ_STR(t, cases[i].want);
    ASSERT_EQ_INT(n, strlen(cases[i].want));
    ASSERT_EQ_INT(coin_fmt_decimal_places(cases[i].v), cases[i].places);
  }
  coin_fmt_decimal(t, NAN); /* keeps the JSON valid */
  ASSERT_EQ_STR(t, "0");
  coin_fmt_decimal(t, -1.0 / 0.0);
  ASSERT_EQ_STR(t, "0");
  ASSERT_EQ_INT(coin_fmt_decimal_places(NAN), 0);
  /* Any double reads back exactly and fits. */
  uint64_t x = 0x9e3779b97f4a7c15u;
  for (int i = 0; i < 100000; i++) {
    double v;
    uint64_t bits = next(&x);
    memcpy(&v, &bits, sizeof(v));
    if (!isfinite(v) || v == 0)
      continue;
    size_t n = coin_fmt_decimal(t, v);
    ASSERT_TRUE(n > 0 && n < COIN_FMT_DOUBLE_BYTES);
    ASSERT_EQ_DBL(strtod(t, NULL), v);
  }
}

static void fixed8_like_binance(void) {
  char t[COIN_FMT_FIXED8_BYTES];
  coin_fmt_fixed8(t, 1234.5);
  ASSERT_EQ_STR(t, "1234.50000000");
  coin_fmt_fixed8(t, 0.0);
  ASSERT_EQ_STR(t, "0.00000000");
  coin_fmt_fixed8(t, 0.123456789);
  ASSERT_EQ_STR(t, "0.12345679");
  coin_fmt_fixed8(t, 0.999999999); /* the fraction carries */
  ASSERT_EQ_STR(t, "1.00000000");
  coin_fmt_fixed8(t, -2.5); /* printf's path */
  ASSERT_EQ_STR(t, "-2.50000000");
  coin_fmt_fixed8(t, NAN);
  ASSERT_EQ_STR(t, "0.00000000");
  size_t n = coin_fmt_fixed8(t, -DBL_MAX);
  ASSERT_TRUE(n < COIN_FMT_FIXED8_BYTES);
  ASSERT_EQ_INT(n, strlen(t));
  /* The integer path agrees with printf away from rounding ties. */
  uint64_t x = 0x2545f4914f6cdd1du;
  char want[COIN_FMT_FIXED8_BYTES];
  for (int i = 0; i < 100000; i++) {
    double v = (double)(next(&x) % 100000000000u) / 1e6;
    coin_fmt_fixed8(t, v);
    snprintf(want, sizeof(want), "%.8f", v);
    ASSERT_EQ_STR(t, want);
  }
}

static void vline_of(char *out, size_t n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  coin_fmt_vline(out, n, fmt, ap);
  va_end(ap);
}

static void one_line_always(void) {
  char t[32];
  vline_of(t, sizeof(t), "a\nb\r\nc %s", "d\ne");
  ASSERT_EQ_STR(t, "a b  c d e");
  vline_of(t, 8, "%s", "0123456789\n");
  ASSERT_EQ_STR(t, "0123456"); /* cut like vsnprintf */
}

TEST_MAIN(RUN_TEST(shortest_and_exact); RUN_TEST(random_bits_round_trip);
          RUN_TEST(fast_path_equals_printf);
          RUN_TEST(parse_decimal_equals_strtod); RUN_TEST(one_line_always);
          RUN_TEST(plain_decimal_like_an_exchange);
          RUN_TEST(fixed8_like_binance))
