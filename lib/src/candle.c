/*
 * candle.c: validation of OHLCV candles, symbols and exchange names.
 * Every rejection is one line naming the candle (open time, timeframe), the
 * values and the rule broken. Numbers print in their shortest round-trip form
 * so the text shows exactly the value that failed. Pure functions, thread-safe.
 */
#include "coin/candle.h"
#include "coin/fmt.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coin/error.h"

#define NAME_MAX_CHARS 32
#define NUM_TEXT_BYTES 32
#define SHOWN_TEXT_BYTES 48

/* Shortest %g text that reads back as the same double ("4261.3", not
 * "4261.3000000000002"). */
static const char *num_text(char buf[NUM_TEXT_BYTES], double v) {
  if (!isfinite(v)) {
    snprintf(buf, NUM_TEXT_BYTES, "%s",
             isnan(v) ? "nan"
             : v > 0  ? "inf"
                      : "-inf");
    return buf;
  }
  /* Plain decimals for the usual magnitudes ("4400", not "4.4e+03"). */
  double mag = fabs(v);
  if (mag == 0 || (mag >= 1e-6 && mag < 1e15)) {
    for (int decimals = 0; decimals <= 20; decimals++) {
      snprintf(buf, NUM_TEXT_BYTES, "%.*f", decimals, v);
      if (strtod(buf, NULL) == v)
        return buf;
    }
  }
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(buf, NUM_TEXT_BYTES, "%.*g", prec, v);
    if (strtod(buf, NULL) == v)
      break;
  }
  return buf;
}

#define CANDLE_FAIL(c, tf, fmt, ...)                                           \
  coin_error_set(COIN_EINVAL, "candle %" PRId64 " (%s): " fmt, (c)->open_ms,   \
                 coin_tf_name(tf), __VA_ARGS__)

int coin_candle_validate(const struct coin_candle *c, enum coin_tf tf,
                         int64_t close_ms) {
  char a[NUM_TEXT_BYTES], b[NUM_TEXT_BYTES], d[NUM_TEXT_BYTES];
  if (c == NULL)
    return coin_error_set(COIN_EINVAL, "candle: NULL (rule: candle required)");
  if ((unsigned)tf >= (unsigned)COIN_TF_COUNT)
    return coin_error_set(COIN_EINVAL,
                          "candle %" PRId64 ": timeframe %d unknown (rule: "
                          "timeframe in 1m 1h 1d 1w 1M)",
                          c->open_ms, (int)tf);
  if (!coin_tf_is_aligned(tf, c->open_ms))
    return CANDLE_FAIL(c, tf,
                       "open time not aligned, candle opens at %" PRId64
                       " (rule: open time aligned to %s)",
                       coin_tf_floor(tf, c->open_ms), coin_tf_name(tf));

  const struct {
    const char *name;
    double v;
  } nums[] = {{"open", c->open},
              {"high", c->high},
              {"low", c->low},
              {"close", c->close},
              {"volume", c->volume}};
  for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
    if (!isfinite(nums[i].v))
      return CANDLE_FAIL(c, tf, "%s %s (rule: finite numbers)", nums[i].name,
                         num_text(a, nums[i].v));
  /* Prices only; a zero-volume candle with o=h=l=c is a real quiet period. */
  for (size_t i = 0; i < 4; i++)
    if (!(nums[i].v > 0))
      return CANDLE_FAIL(c, tf, "%s %s <= 0 (rule: prices > 0)", nums[i].name,
                         num_text(a, nums[i].v));
  if (c->high < c->low)
    return CANDLE_FAIL(c, tf, "high %s < low %s (rule: low <= high)",
                       num_text(a, c->high), num_text(b, c->low));
  if (c->open < c->low || c->open > c->high)
    return CANDLE_FAIL(c, tf,
                       "open %s outside low %s .. high %s (rule: low <= open "
                       "<= high)",
                       num_text(a, c->open), num_text(b, c->low),
                       num_text(d, c->high));
  if (c->close < c->low || c->close > c->high)
    return CANDLE_FAIL(c, tf,
                       "close %s outside low %s .. high %s (rule: low <= "
                       "close <= high)",
                       num_text(a, c->close), num_text(b, c->low),
                       num_text(d, c->high));
  if (c->volume < 0)
    return CANDLE_FAIL(c, tf, "volume %s < 0 (rule: volume >= 0)",
                       num_text(a, c->volume));
  if (close_ms >= 0) {
    int64_t want = c->open_ms + coin_tf_length_ms(tf, c->open_ms) - 1;
    if (close_ms != want)
      return CANDLE_FAIL(c, tf,
                         "close time %" PRId64 " != %" PRId64
                         " (rule: close time = open + length - 1)",
                         close_ms, want);
  }
  return 0;
}

/* Shared check: 1..32 chars, first from first_ok, rest from rest_ok. */
static int name_validate(const char *what, const char *text,
                         bool (*first_ok)(char), bool (*rest_ok)(char),
                         const char *rule) {
  char buf[SHOWN_TEXT_BYTES];
  if (text == NULL)
    return coin_error_set(COIN_EINVAL, "%s (null) (rule: %s)", what, rule);
  size_t n = strnlen(text, NAME_MAX_CHARS + 1);
  if (n == 0)
    return coin_error_set(COIN_EINVAL, "%s \"\" is empty (rule: %s)", what,
                          rule);
  if (n > NAME_MAX_CHARS)
    return coin_error_set(
        COIN_EINVAL, "%s \"%s\" longer than %d chars (rule: %s)", what,
        coin_fmt_shown(buf, sizeof(buf), text), NAME_MAX_CHARS, rule);
  for (size_t i = 0; i < n; i++) {
    if (!(i == 0 ? first_ok(text[i]) : rest_ok(text[i])))
      return coin_error_set(COIN_EINVAL,
                            "%s \"%s\": character %zu (0x%02x) not allowed "
                            "(rule: %s)",
                            what, coin_fmt_shown(buf, sizeof(buf), text), i + 1,
                            (unsigned)(unsigned char)text[i], rule);
  }
  return 0;
}

static bool upper_digit(char ch) {
  return (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

static bool symbol_rest(char ch) {
  return upper_digit(ch) || ch == '_' || ch == '-';
}

static bool exchange_char(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_';
}

int coin_symbol_validate(const char *symbol) {
  return name_validate("symbol", symbol, upper_digit, symbol_rest,
                       "[A-Z0-9][A-Z0-9_-]{0,31}");
}

int coin_exchange_validate(const char *exchange) {
  return name_validate("exchange", exchange, exchange_char, exchange_char,
                       "[a-z0-9_]{1,32}");
}

size_t coin_candle_lower_bound(const struct coin_candle *rows, size_t n,
                               int64_t t_ms) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (rows[mid].open_ms < t_ms)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}
