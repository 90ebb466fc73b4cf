/*
 * fuzz_kline.c: libFuzzer target for coin-ingest's Binance /api/v3/klines
 * body decoder (services/ingest/exchange.h
 * coin_exchange_binance_decode_klines). The input is the HTTP body.
 * Properties: it decodes, or fails with COIN_EDECODE and a one-line error;
 * decoded rows are at most the page limit, strictly ascending by open time,
 * with finite prices and volume; coin_candle_validate (what ingest does
 * next with each row) accepts or refuses each with a one-line error; the
 * decoder with its fast scanner and the jansson-only decoder agree on the
 * outcome and on every row, bit for bit.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exchange.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct coin_candle rows[COIN_EXCHANGE_BINANCE_KLINES_LIMIT];
static int64_t close_ms[COIN_EXCHANGE_BINANCE_KLINES_LIMIT];
static struct coin_candle ref_rows[COIN_EXCHANGE_BINANCE_KLINES_LIMIT];
static int64_t ref_close_ms[COIN_EXCHANGE_BINANCE_KLINES_LIMIT];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_begin();
  static const int allowed[] = {COIN_EDECODE};
  static const int allowed_row[] = {COIN_EDECODE, COIN_EINVAL};
  size_t n = 0;
  size_t ref_n = 0;
  int ref_rc = coin_exchange_binance_decode_klines_json(
      ref_rows, ref_close_ms, &ref_n, (const char *)data, size);
  int rc = coin_exchange_binance_decode_klines(rows, close_ms, &n,
                                               (const char *)data, size);
  if (rc != ref_rc || n != ref_n ||
      (n && (memcmp(rows, ref_rows, n * sizeof(rows[0])) != 0 ||
             memcmp(close_ms, ref_close_ms, n * sizeof(close_ms[0])) != 0)))
    fuzz_fail("fuzz_kline", "fast decoder and jansson decoder disagree");
  if (rc != 0) {
    fuzz_check_error("fuzz_kline", rc, allowed, 1, coin_error_last());
    if (n != 0)
      fuzz_fail("fuzz_kline", "rows reported on failure");
    return 0;
  }
  if (n > COIN_EXCHANGE_BINANCE_KLINES_LIMIT)
    fuzz_fail("fuzz_kline", "more rows than the page limit");
  for (size_t i = 0; i < n; i++) {
    const struct coin_candle *c = &rows[i];
    if (i > 0 && c->open_ms <= rows[i - 1].open_ms)
      fuzz_fail("fuzz_kline", "rows not strictly ascending");
    if (!isfinite(c->open) || !isfinite(c->high) || !isfinite(c->low) ||
        !isfinite(c->close) || !isfinite(c->volume))
      fuzz_fail("fuzz_kline", "a non-finite value was accepted");
    /* what coin-ingest does next with each row: validate it */
    fuzz_begin();
    int vrc = coin_candle_validate(c, COIN_TF_1H, close_ms[i]);
    if (vrc != 0)
      fuzz_check_error("fuzz_kline", vrc, allowed_row, 2, coin_error_last());
  }
  return 0;
}
