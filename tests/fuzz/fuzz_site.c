/*
 * fuzz_site.c: libFuzzer target for the readers of site files. Byte 0
 * picks the reader, the rest is the document:
 *   0: coin_site_read_head (lib/include/coin/site.h), the shared members
 *      of every artifact (schema, ids, validity, instants);
 *   1: coin-monitor's history.json reader (services/monitor site_parse_file:
 *      the jscan pass over candles, then the head);
 *   2: coin-monitor's prediction.json reader;
 *   3: the jscan scanner alone (services/monitor/jscan.h): every token,
 *      strings decoded, arrays of numbers read as rows;
 *   4: coin-monitor's manifest.json reader (site_parse_manifest), merging
 *      items into the one watched series.
 * The monitor readers see series binance/BTCUSDT/1h. Properties: no crash;
 * a refused document has a one-line error (COIN_EDECODE for the head);
 * history accepted means ascending aligned candles and a last open time.
 */
#include <stdint.h>
#include <stdlib.h>

#include "coin/site.h"
#include "fuzz_check.h"
#include "jscan.h"
#include "monitor_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct monitor_config cfg;
static struct monitor mon;
static struct mon_series series;

static void head(const char *buf, size_t len) {
  static const int allowed[] = {COIN_EDECODE};
  struct coin_site_head h;
  int rc = coin_site_read_head(&h, buf, len);
  if (rc != 0) {
    fuzz_check_error("fuzz_site", rc, allowed, 1, coin_error_last());
    return;
  }
  FUZZ_CHECK_TEXT("fuzz_site", h.exchange);
  FUZZ_CHECK_TEXT("fuzz_site", h.symbol);
  FUZZ_CHECK_TEXT("fuzz_site", h.timeframe);
  if (h.schema_version < 1 || h.schema_version > COIN_SITE_SCHEMA_VERSION)
    fuzz_fail("fuzz_site", "head: schema_version out of range accepted");
}

static uint32_t index_slots[2];

static void monitor_init(void) {
  if (cfg.core.exchange != NULL)
    return;
  cfg.core.exchange = "binance";
  mon.cfg = &cfg;
  snprintf(series.symbol, sizeof series.symbol, "BTCUSDT");
  series.tf = COIN_TF_1H;
  mon.series = &series;
  mon.n_series = 1;
  mon.index = index_slots;
  mon.index_cap = 2;
  index_slots[0] = 1; /* the series' hash slot is 0 or 1: find out which */
  if (mon_series_find(&mon, "BTCUSDT", COIN_TF_1H) != 0) {
    index_slots[0] = 0;
    index_slots[1] = 1;
  }
  if (mon_series_find(&mon, "BTCUSDT", COIN_TF_1H) != 0)
    fuzz_fail("fuzz_site", "cannot index the series");
}

static bool one_line(const char *s) {
  return strchr(s, '\n') == NULL && strchr(s, '\r') == NULL;
}

static void manifest(const char *buf, size_t len) {
  static uint32_t gen;
  mon.manifest_err[0] = '\0';
  int rc = site_parse_manifest(&mon, buf, len, ++gen);
  if (rc != 0 && (mon.manifest_err[0] == '\0' || !one_line(mon.manifest_err)))
    fuzz_fail("fuzz_site", "manifest refused without a one-line error");
  struct mon_manifest_entry *e = &series.man;
  if (e->gen == gen) {
    if (e->bad != (e->err != NULL) || (e->err && !one_line(e->err)))
      fuzz_fail("fuzz_site", "manifest item error not one line");
    if (e->n_files > MON_MAX_FILES)
      fuzz_fail("fuzz_site", "manifest item has too many files");
  }
  site_entry_clear(e); /* no state between inputs: replays reproduce */
  memset(e, 0, sizeof(*e));
}

static void monitor_file(enum mon_file_kind kind, const char *buf, size_t len) {
  struct mon_file_cache c;
  memset(&c, 0, sizeof(c));
  site_parse_file(&c, &mon, &series, kind, buf, len);
  if (!c.parse_ok) {
    if (c.err == NULL || c.err[0] == '\0')
      fuzz_fail("fuzz_site", "refused file without an error");
    if (!one_line(c.err))
      fuzz_fail("fuzz_site", "file error is not one line");
  } else if (kind == MON_FILE_HISTORY) {
    if (c.n_candles < 0 || (c.n_candles == 0) != (c.last_open_ms == -1))
      fuzz_fail("fuzz_site", "history: candle count and last open disagree");
    if (c.n_candles > 0 && !coin_tf_is_aligned(COIN_TF_1H, c.last_open_ms))
      fuzz_fail("fuzz_site", "history: last open not aligned");
  }
  free(c.err);
}

static void scan(const char *buf, size_t len) {
  struct jscan js;
  char text[64];
  jscan_init(&js, buf, len);
  for (int guard = 0; guard < 1000000; guard++) {
    enum jtok t = jscan_next(&js);
    if (t == J_ERR) {
      char why[160];
      jscan_error(&js, why, sizeof why);
      if (strchr(why, '\n'))
        fuzz_fail("fuzz_site", "jscan error is not one line");
      return;
    }
    if (t == J_EOF)
      return;
    if (t == J_KEY || t == J_STR) {
      if (jscan_str(&js, text, sizeof text) && strlen(text) >= sizeof text)
        fuzz_fail("fuzz_site", "jscan_str overflowed");
      (void)jscan_is(&js, "candles");
    } else if (t == J_ARR && (guard & 3) == 1) {
      int64_t first = 0;
      if (jscan_number_row(&js, 6, &first) <= 0)
        return; /* the scanner is unusable after a refused row */
    } else if ((t == J_OBJ || t == J_ARR) && (guard & 7) == 2) {
      if (!jscan_skip(&js))
        return;
    }
  }
  fuzz_fail("fuzz_site", "jscan did not terminate");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  const char *buf = (const char *)data + 1;
  size_t len = size - 1;
  fuzz_begin();
  monitor_init();
  switch (data[0] % 5) {
  case 0: head(buf, len); break;
  case 1: monitor_file(MON_FILE_HISTORY, buf, len); break;
  case 2: monitor_file(MON_FILE_PREDICTION, buf, len); break;
  case 3: scan(buf, len); break;
  default: manifest(buf, len); break;
  }
  return 0;
}
