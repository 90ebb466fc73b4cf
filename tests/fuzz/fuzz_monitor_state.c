/*
 * fuzz_monitor_state.c: libFuzzer target for coin-monitor's per-series
 * state record decoder (KV coin_monitor state.<exchange>.<symbol>.<tf>,
 * services/monitor/monitor_int.h state_decode). Byte 0 picks the series'
 * timeframe, the rest is the value. Properties: decoded, or COIN_EDECODE
 * with a one-line error and the series left as it was; a decoded record
 * has a real state and NUL-terminated alert names.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_check.h"
#include "monitor_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct mon_series s, before;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const int allowed[] = {COIN_EDECODE};
  if (size == 0)
    return 0;
  memset(&s, 0, sizeof(s));
  snprintf(s.symbol, sizeof s.symbol, "BTCUSDT");
  s.tf = (enum coin_tf)(data[0] % COIN_TF_COUNT);
  s.state = COIN_STATE_UNSPECIFIED;
  before = s;
  fuzz_begin();
  int rc = state_decode(&s, (const char *)data + 1, size - 1);
  if (rc != 0) {
    fuzz_check_error("fuzz_monitor_state", rc, allowed, 1, coin_error_last());
    if (memcmp(&s, &before, sizeof(s)) != 0)
      fuzz_fail("fuzz_monitor_state", "a refused record changed the series");
    return 0;
  }
  if (!s.known)
    fuzz_fail("fuzz_monitor_state", "decoded record not marked known");
  FUZZ_CHECK_TEXT("fuzz_monitor_state", s.alert.alertname);
  FUZZ_CHECK_TEXT("fuzz_monitor_state", s.dalert.alertname);
  FUZZ_CHECK_TEXT("fuzz_monitor_state", s.last_alert.alertname);
  if (strcmp(s.symbol, "BTCUSDT") != 0)
    fuzz_fail("fuzz_monitor_state", "the record renamed the series");
  return 0;
}
