/*
 * fuzz_registry.c: libFuzzer target for the model registry's KV value
 * decoders (lib/include/coin/registry.h): byte 0 even -> the retrain
 * request (request.retrain), odd -> the recent-events log (events.recent);
 * the rest is the value. Properties: decoded or COIN_EDECODE with a
 * one-line error; decoded texts NUL-terminated, times > 0, the log at most
 * COIN_REGISTRY_RECENT_EVENTS long.
 */
#include <stdint.h>
#include <stdlib.h>

#include "coin/registry.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int allowed[] = {COIN_EDECODE};

static void retrain(const char *text, size_t len) {
  struct coin_retrain_request r;
  int rc = coin_registry_retrain_request_decode(&r, text, len);
  if (rc != 0) {
    fuzz_check_error("fuzz_registry", rc, allowed, 1, coin_error_last());
    return;
  }
  FUZZ_CHECK_TEXT("fuzz_registry", r.champion);
  FUZZ_CHECK_TEXT("fuzz_registry", r.scope);
  FUZZ_CHECK_TEXT("fuzz_registry", r.reason);
  FUZZ_CHECK_TEXT("fuzz_registry", r.requested_by);
  if (r.requested_at_ms <= 0 || r.n < 0)
    fuzz_fail("fuzz_registry", "retrain request: bad time or n accepted");
}

static void recent(const char *text, size_t len) {
  struct coin_registry_recent l;
  memset(&l, 0xa5, sizeof(l)); /* decode must not depend on *out */
  int rc = coin_registry_recent_decode(&l, text, len);
  if (rc != 0) {
    fuzz_check_error("fuzz_registry", rc, allowed, 1, coin_error_last());
    if (l.n != 0)
      fuzz_fail("fuzz_registry", "recent log: events kept on failure");
    return;
  }
  if (l.n > COIN_REGISTRY_RECENT_EVENTS)
    fuzz_fail("fuzz_registry", "recent log longer than its limit");
  for (size_t i = 0; i < l.n; i++) {
    FUZZ_CHECK_TEXT("fuzz_registry", l.e[i].version);
    FUZZ_CHECK_TEXT("fuzz_registry", l.e[i].previous);
    FUZZ_CHECK_TEXT("fuzz_registry", l.e[i].by);
    FUZZ_CHECK_TEXT("fuzz_registry", l.e[i].reason);
    if (l.e[i].at_ms <= 0)
      fuzz_fail("fuzz_registry", "recent log: at_ms <= 0 accepted");
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_begin();
  if (size == 0)
    return 0;
  if (data[0] & 1)
    recent((const char *)data + 1, size - 1);
  else
    retrain((const char *)data + 1, size - 1);
  return 0;
}
