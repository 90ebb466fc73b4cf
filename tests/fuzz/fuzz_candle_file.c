/*
 * fuzz_candle_file.c: libFuzzer target for the candle CSV parser
 * (candle_file.h). Any input must parse or fail with a clean
 * COIN_EDECODE/COIN_EINVAL/COIN_ETOOBIG and a one-line message; a parsed
 * file must be ascending and unique. Replayed under gcc by fuzz_replay.c.
 */
#include "coin/candle_file.h"
#include "coin/error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct coin_candle_file *f = NULL;
  /* The first byte picks the timeframe and the validation flag. */
  enum coin_tf tf = size ? (enum coin_tf)(data[0] % COIN_TF_COUNT) : COIN_TF_1H;
  unsigned flags = size && (data[0] & 0x80) ? COIN_CANDLE_FILE_NO_VALIDATE : 0;
  const char *text = size ? (const char *)data + 1 : "";
  size_t len = size ? size - 1 : 0;
  int rc = coin_candle_file_parse(&f, text, len, "fuzz.csv", tf, flags);
  if (rc == 0) {
    for (size_t i = 1; i < f->count; i++)
      if (f->rows[i].open_ms <= f->rows[i - 1].open_ms)
        abort();
    coin_candle_file_free(f);
    return 0;
  }
  if (rc != COIN_EDECODE && rc != COIN_EINVAL && rc != COIN_ETOOBIG)
    abort();
  if (strchr(coin_error_last(), '\n'))
    abort();
  return 0;
}
