/*
 * test_candle.c: candle validation (each rule broken once, real Binance rows
 * accepted, messages naming rule and values) and symbol/exchange names.
 */
#include "coin/candle.h"
#include "coin/error.h"
#include "test.h"

/* Real BTCUSDT/ETHUSDT/XRPUSDT rows from the shared Binance data set. */
static const struct coin_candle real_1h[] = {
    {INT64_C(1502942400000), 4261.48, 4313.62, 4261.32, 4308.83, 47.181009},
    {INT64_C(1502946000000), 4308.83, 4328.69, 4291.37, 4315.32, 23.234916},
    /* Exchange maintenance: a flat zero-volume candle is real and valid. */
    {INT64_C(1559941200000), 7930.85, 7930.85, 7930.85, 7930.85, 0.0},
    {INT64_C(1559941200000), 0.42062, 0.42062, 0.42062, 0.42062, 0.0},
};
static const struct coin_candle real_1d = {
    INT64_C(1502928000000), 301.13, 312.18, 298.0, 302.0, 7030.71034};

static void real_rows_valid(void) {
  for (size_t i = 0; i < sizeof(real_1h) / sizeof(real_1h[0]); i++) {
    ASSERT_OK(coin_candle_validate(&real_1h[i], COIN_TF_1H, -1));
    ASSERT_OK(coin_candle_validate(&real_1h[i], COIN_TF_1H,
                                   real_1h[i].open_ms + COIN_HOUR_MS - 1));
  }
  ASSERT_OK(coin_candle_validate(&real_1d, COIN_TF_1D, -1));
  ASSERT_OK(coin_candle_validate(&real_1d, COIN_TF_1D,
                                 real_1d.open_ms + COIN_DAY_MS - 1));
  /* A 1M candle's close time follows the calendar (Feb 2020: 29 days). */
  struct coin_candle m = real_1d;
  m.open_ms = INT64_C(1580515200000); /* 2020-02-01 */
  ASSERT_OK(
      coin_candle_validate(&m, COIN_TF_1MO, m.open_ms + 29 * COIN_DAY_MS - 1));
  ASSERT_RC(
      coin_candle_validate(&m, COIN_TF_1MO, m.open_ms + 30 * COIN_DAY_MS - 1),
      COIN_EINVAL);
}

static void message_names_rule_and_values(void) {
  struct coin_candle c = real_1h[0];
  c.high = 4261.3;
  c.low = 4262;
  c.open = c.close = 4261.5;
  ASSERT_RC(coin_candle_validate(&c, COIN_TF_1H, -1), COIN_EINVAL);
  ASSERT_EQ_STR(coin_error_last(),
                "candle 1502942400000 (1h): high 4261.3 < low 4262 "
                "(rule: low <= high)");
}

static void each_rule_broken_once(void) {
  struct coin_candle c;

  c = real_1h[0];
  c.open_ms += 1000;
  ASSERT_RC(coin_candle_validate(&c, COIN_TF_1H, -1), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "rule: open time aligned to 1h");
  ASSERT_CONTAINS(coin_error_last(), "1502942401000");
  /* Aligned to 1h is not aligned to 1d. */
  ASSERT_RC(coin_candle_validate(&real_1h[0], COIN_TF_1D, -1), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "(1d)");

  c = real_1h[0];
  c.close = NAN;
  ASSERT_RC(coin_candle_validate(&c, COIN_TF_1H, -1), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "close nan (rule: finite numbers)");
  c = real_1h[0];
  c.volume = INFINITY;
  ASSERT_RC(coin_candle_validate(&c, COIN_TF_1H, -1), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "volume inf (rule: finite numbers)");
  c = real_1h[0];
  c.high = -INFINITY;
  ASSERT_RC(coin_candle_validate(&c, COIN_TF_1H, -1), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "high -inf");

  c = real_1h[2];
  c.open = c.high = c.low = c.close = 0; /* flat but zero price */
  ASSERT_RC(coin_candle_validate(&c, COIN_TF_1H, -1), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "open 0 <= 0 (rule: prices > 0)");
  c = real_1h[0];
  c.low = -1;
  ASSERT_RC(coin_candle_validate(&c, COIN_TF_1H, -1), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "low -1 <= 0 (rule: prices > 0)");

  c = real_1h[0];
  c.open = 4313.63; /* above high */
  ASSERT_RC(coin_candle_validate(&c, COIN_TF_1H, -1), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(),
                  "open 4313.63 outside low 4261.32 .. high 4313.62 "
                  "(rule: low <= open <= high)");
  c = real_1h[0];
  c.open = 4261.31; /* below low */
  ASSERT_RC(coin_candle_validate(&c, COIN_TF_1H, -1), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "rule: low <= open <= high");

  c = real_1h[0];
  c.close = 4400;
  ASSERT_RC(coin_candle_validate(&c, COIN_TF_1H, -1), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(),
                  "close 4400 outside low 4261.32 .. high 4313.62 "
                  "(rule: low <= close <= high)");
  c = real_1h[0];
  c.close = 1;
  ASSERT_RC(coin_candle_validate(&c, COIN_TF_1H, -1), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "rule: low <= close <= high");

  c = real_1h[0];
  c.volume = -0.5;
  ASSERT_RC(coin_candle_validate(&c, COIN_TF_1H, -1), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "volume -0.5 < 0 (rule: volume >= 0)");

  c = real_1h[0];
  ASSERT_RC(coin_candle_validate(&c, COIN_TF_1H, c.open_ms + COIN_HOUR_MS),
            COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "close time 1502946000000 != "
                                     "1502945999999 (rule: close time = open "
                                     "+ length - 1)");

  ASSERT_RC(coin_candle_validate(NULL, COIN_TF_1H, -1), COIN_EINVAL);
  ASSERT_RC(coin_candle_validate(&real_1h[0], COIN_TF_COUNT, -1), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "timeframe 5 unknown");
}

static void symbols(void) {
  ASSERT_OK(coin_symbol_validate("BTCUSDT"));
  ASSERT_OK(coin_symbol_validate("KRW-BTC"));
  ASSERT_OK(coin_symbol_validate("1INCHUSDT"));
  ASSERT_OK(coin_symbol_validate("A_B"));
  ASSERT_OK(coin_symbol_validate("X"));
  ASSERT_OK(coin_symbol_validate("ABCDEFGHIJKLMNOPQRSTUVWXYZ012345")); /* 32 */
  ASSERT_RC(coin_symbol_validate("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456"),
            COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "longer than 32");
  ASSERT_RC(coin_symbol_validate(""), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "empty");
  ASSERT_RC(coin_symbol_validate(NULL), COIN_EINVAL);
  ASSERT_RC(coin_symbol_validate("btcusdt"), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "symbol \"btcusdt\": character 1");
  ASSERT_CONTAINS(coin_error_last(), "[A-Z0-9][A-Z0-9_-]{0,31}");
  ASSERT_RC(coin_symbol_validate("-BTC"), COIN_EINVAL);
  /* Subject/path hazards. */
  ASSERT_RC(coin_symbol_validate("BTC.USDT"), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "character 4 (0x2e)");
  ASSERT_RC(coin_symbol_validate("BTC*"), COIN_EINVAL);
  ASSERT_RC(coin_symbol_validate("BTC>"), COIN_EINVAL);
  ASSERT_RC(coin_symbol_validate("../ETC"), COIN_EINVAL);
  ASSERT_RC(coin_symbol_validate("BTC USDT"), COIN_EINVAL);
  ASSERT_RC(coin_symbol_validate("BTC\nX"), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "\"BTC?X\""); /* shown sanitised */
}

static void exchanges(void) {
  ASSERT_OK(coin_exchange_validate("binance"));
  ASSERT_OK(coin_exchange_validate("replay_1"));
  ASSERT_OK(coin_exchange_validate("upbit"));
  ASSERT_RC(coin_exchange_validate("Binance"), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "[a-z0-9_]{1,32}");
  ASSERT_RC(coin_exchange_validate("bin-ance"), COIN_EINVAL);
  ASSERT_RC(coin_exchange_validate("bin.ance"), COIN_EINVAL);
  ASSERT_RC(coin_exchange_validate(""), COIN_EINVAL);
  ASSERT_RC(coin_exchange_validate("abcdefghijklmnopqrstuvwxyz0123456"),
            COIN_EINVAL);
  ASSERT_OK(coin_exchange_validate("abcdefghijklmnopqrstuvwxyz012345"));
}

TEST_MAIN(RUN_TEST(real_rows_valid); RUN_TEST(message_names_rule_and_values);
          RUN_TEST(each_rule_broken_once); RUN_TEST(symbols);
          RUN_TEST(exchanges))
