/* test_watermark.c: the watermark contract (coin/watermark.h) against a
 * real nats-server:
 * - keys for both roles; an absent key reads as ms -1, revision 0;
 * - a value that is not a watermark is COIN_EDECODE naming the key (the
 *   bytes not quoted), with its revision, and the next write replaces it;
 * - the forward write creates, moves forward, and never moves back;
 * - a writer holding a stale revision loses the race, re-reads, counts the
 *   conflict and stops when the other writer is already further; if not,
 *   it writes over the newer revision;
 * - a need function can ask for a write backwards (publish after a reset
 *   SoT). */
#include "coin/bus.h"
#include "coin/codec.h"
#include "coin/error.h"
#include "coin/watermark.h"
#include "harness.h"
#include "test.h"

#include <string.h>

static struct coin_test_server nats;
static struct coin_bus *bus;
static struct coin_bus_kv *kv;

static void keys_and_absent_values(void) {
  char key[128];
  ASSERT_OK(coin_watermark_key(key, sizeof(key), COIN_WM_INGEST, "binance",
                               "BTCUSDT", COIN_TF_1H));
  ASSERT_EQ_STR(key, "ingest.binance.BTCUSDT.1h");
  ASSERT_OK(coin_watermark_key(key, sizeof(key), COIN_WM_PUBLISH, "binance",
                               "ETHUSDT", COIN_TF_1D));
  ASSERT_EQ_STR(key, "publish.binance.ETHUSDT.1d");
  struct coin_watermark w = {.ms = 5, .revision = 5, .bad = true};
  ASSERT_OK(coin_watermark_read(&w, kv, "ingest.binance.NONEUSDT.1h"));
  ASSERT_EQ_INT(w.ms, -1);
  ASSERT_EQ_INT(w.revision, 0);
  ASSERT_FALSE(w.bad);
}

static void bad_values_are_named_and_replaced(void) {
  const char *key = "ingest.binance.BADUSDT.1h";
  static const char *const bad[] = {
      "12x", "-5", "0012", "", "99999999999999999999", "1 2"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    ASSERT_OK(coin_bus_kv_put(NULL, kv, key, bad[i], strlen(bad[i])));
    struct coin_watermark w;
    ASSERT_RC(coin_watermark_read(&w, kv, key), COIN_EDECODE);
    ASSERT_CONTAINS(coin_error_last(), key);
    ASSERT_TRUE(!bad[i][0] || strstr(coin_error_last(), bad[i]) == NULL);
    ASSERT_TRUE(w.bad);
    ASSERT_EQ_INT(w.ms, -1);
    ASSERT_TRUE(w.revision > 0);
    /* the next write replaces it on its revision */
    struct coin_watermark_write out;
    ASSERT_OK(coin_watermark_advance(&w, kv, key, 1000 + (int64_t)i, NULL, NULL,
                                     &out));
    ASSERT_TRUE(out.written);
    ASSERT_OK(coin_watermark_read(&w, kv, key));
    ASSERT_EQ_INT(w.ms, 1000 + (int64_t)i);
    ASSERT_FALSE(w.bad);
  }
}

static void forward_only(void) {
  const char *key = "ingest.binance.FWDUSDT.1h";
  struct coin_watermark w;
  struct coin_watermark_write out;
  ASSERT_OK(coin_watermark_read(&w, kv, key));
  ASSERT_OK(coin_watermark_advance(&w, kv, key, 3600000, NULL, NULL, &out));
  ASSERT_TRUE(out.written);
  uint64_t rev = w.revision;
  ASSERT_OK(coin_watermark_advance(&w, kv, key, 0, NULL, NULL, &out));
  ASSERT_FALSE(out.written); /* never back */
  ASSERT_EQ_INT(w.revision, rev);
  ASSERT_OK(coin_watermark_advance(&w, kv, key, 7200000, NULL, NULL, &out));
  ASSERT_TRUE(out.written);
  ASSERT_EQ_INT(out.conflicts, 0);
  struct coin_watermark again;
  ASSERT_OK(coin_watermark_read(&again, kv, key));
  ASSERT_EQ_INT(again.ms, 7200000);
  ASSERT_EQ_INT(again.revision, w.revision);
}

static void races_re_read(void) {
  const char *key = "ingest.binance.RACEUSDT.1h";
  struct coin_watermark a, b;
  struct coin_watermark_write out;
  ASSERT_OK(coin_watermark_read(&a, kv, key));
  b = a; /* both saw the key absent */
  ASSERT_OK(coin_watermark_advance(&a, kv, key, 5000, NULL, NULL, &out));
  /* b creates too late: conflict, re-read 5000 >= 4000, nothing to do */
  ASSERT_OK(coin_watermark_advance(&b, kv, key, 4000, NULL, NULL, &out));
  ASSERT_FALSE(out.written);
  ASSERT_EQ_INT(out.conflicts, 1);
  ASSERT_EQ_INT(out.theirs, 5000);
  ASSERT_EQ_INT(b.ms, 5000);
  ASSERT_EQ_INT(b.revision, a.revision);
  /* a is now stale; b goes further: a's next write conflicts, re-reads
   * 6000 and still writes 9000 over it */
  ASSERT_OK(coin_watermark_advance(&b, kv, key, 6000, NULL, NULL, &out));
  ASSERT_OK(coin_watermark_advance(&a, kv, key, 9000, NULL, NULL, &out));
  ASSERT_TRUE(out.written);
  ASSERT_EQ_INT(out.conflicts, 1);
  ASSERT_EQ_INT(out.theirs, 6000);
  struct coin_watermark now;
  ASSERT_OK(coin_watermark_read(&now, kv, key));
  ASSERT_EQ_INT(now.ms, 9000);
  /* a bad value written meanwhile is seen and overwritten */
  ASSERT_OK(coin_bus_kv_put(NULL, kv, key, "zz", 2));
  ASSERT_OK(coin_watermark_advance(&a, kv, key, 9500, NULL, NULL, &out));
  ASSERT_TRUE(out.written);
  ASSERT_TRUE(out.bad_seen);
  ASSERT_OK(coin_watermark_read(&now, kv, key));
  ASSERT_EQ_INT(now.ms, 9500);
}

static bool back_when_beyond(int64_t want, const struct coin_watermark *cur,
                             void *ud) {
  const int64_t *limit = ud;
  return want != cur->ms && (want > cur->ms || cur->ms > *limit);
}

static void need_decides_backwards(void) {
  const char *key = "publish.binance.BACKUSDT.1h";
  struct coin_watermark w;
  struct coin_watermark_write out;
  int64_t limit = 2000;
  ASSERT_OK(coin_watermark_read(&w, kv, key));
  ASSERT_OK(coin_watermark_advance(&w, kv, key, 8000, back_when_beyond, &limit,
                                   &out));
  ASSERT_TRUE(out.written);
  ASSERT_OK(coin_watermark_advance(&w, kv, key, 2000, back_when_beyond, &limit,
                                   &out));
  ASSERT_TRUE(out.written); /* 8000 was beyond the limit: moved back */
  ASSERT_OK(coin_watermark_advance(&w, kv, key, 2000, back_when_beyond, &limit,
                                   &out));
  ASSERT_FALSE(out.written); /* already there */
}

int main(int argc, char **argv) {
  coin_test_main_begin(argc, argv);
  struct coin_bus_options o;
  struct coin_bus_kv_config kc = {.bucket = COIN_KV_WATERMARKS, .history = 5};
  if (coin_test_nats_start(&nats) != 0 ||
      (coin_test_nats_options(&o, &nats, "admin"),
       coin_bus_connect(&bus, &o)) != 0 ||
      coin_bus_kv_ensure(&kv, NULL, bus, &kc) != 0) {
    fprintf(stderr, "setup failed: %s\n", coin_error_last());
    return 1;
  }
  RUN_TEST(keys_and_absent_values);
  RUN_TEST(bad_values_are_named_and_replaced);
  RUN_TEST(forward_only);
  RUN_TEST(races_re_read);
  RUN_TEST(need_decides_backwards);
  coin_bus_kv_free(kv);
  coin_bus_free(bus);
  coin_bus_shutdown();
  coin_test_server_cleanup(&nats);
  return coin_test_summary();
}
