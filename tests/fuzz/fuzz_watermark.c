/*
 * fuzz_watermark.c: libFuzzer target for the watermark value parser
 * (lib/include/coin/codec.h coin_codec_watermark_parse), the one reader of
 * KV coin_watermarks values in coin-ingest, coin-publish and coin-monitor.
 * Properties: an accepted value is non-negative and is exactly what
 * "%" PRId64 writes for it (so no sign, space, leading zero, overflow or
 * trailing byte is accepted); a refused one is COIN_EDECODE, one line.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "coin/codec.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_begin();
  static const int allowed[] = {COIN_EDECODE};
  int64_t v = -1;
  int rc = coin_codec_watermark_parse(&v, data, size);
  if (rc != 0) {
    fuzz_check_error("fuzz_watermark", rc, allowed, 1, coin_error_last());
    return 0;
  }
  char again[32];
  int n = snprintf(again, sizeof again, "%" PRId64, v);
  if (v < 0 || n < 0 || (size_t)n != size || memcmp(again, data, size) != 0)
    fuzz_fail("fuzz_watermark", "accepted a value that is not canonical");
  return 0;
}
