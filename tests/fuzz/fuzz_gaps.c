/*
 * fuzz_gaps.c: libFuzzer target for coin-ingest's known-gaps KV value
 * decoder (services/ingest/ingest_int.h ingest_gaps_decode), value
 * {"gaps":[{from_ms, to_ms, checked_ms, next_check_ms, attempts,
 * invalid?}, ...]}. Properties: decoded or COIN_EDECODE with a one-line
 * error; at most INGEST_MAX_KNOWN_GAPS entries, each a range from_ms <= to_ms
 * of non-negative times with attempts >= 0 (others skipped and counted).
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_check.h"
#include "ingest_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const int allowed[] = {COIN_EDECODE};
  struct known_gap *g = NULL;
  size_t n = 0, skipped = 0;
  fuzz_begin();
  int rc = ingest_gaps_decode(&g, &n, &skipped, (const char *)data, size);
  if (rc != 0) {
    fuzz_check_error("fuzz_gaps", rc, allowed, 1, coin_error_last());
    if (n != 0)
      fuzz_fail("fuzz_gaps", "entries reported on failure");
  } else {
    if (n > INGEST_MAX_KNOWN_GAPS)
      fuzz_fail("fuzz_gaps", "more entries than the limit");
    for (size_t i = 0; i < n; i++)
      if (g[i].from_ms < 0 || g[i].to_ms < g[i].from_ms ||
          g[i].checked_ms < 0 || g[i].next_check_ms < 0 || g[i].attempts < 0)
        fuzz_fail("fuzz_gaps", "an impossible gap entry was accepted");
  }
  free(g);
  return 0;
}
