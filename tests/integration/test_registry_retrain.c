/* test_registry_retrain.c: the retraining request of the model registry
 * (KV coin_models request.retrain, registry.h) against a real nats-server:
 * - none: get says COIN_ENOTFOUND, clear is no error;
 * - put then get round-trips every field (mae_ratio exactly; NAN stays
 *   unknown); a second put replaces the first with a new revision;
 * - clear with an old revision keeps the newer request (COIN_ECONFLICT),
 *   with the current one removes it;
 * - a value that is not JSON, or JSON that is not a request, is
 *   COIN_EDECODE with one line naming the key, and its revision is given so
 *   it can be cleared;
 * - a bad champion version or requested_at_ms is refused before writing. */
#include "coin/bus.h"
#include "coin/codec.h"
#include "coin/error.h"
#include "coin/registry.h"
#include "harness.h"
#include "test.h"

#include <math.h>
#include <string.h>

static struct coin_test_server nats;
static struct coin_bus *bus;
static struct coin_registry *reg;
static struct coin_bus_kv *kv; /* coin_models, for raw values */

static struct coin_retrain_request sample(const char *champion, int64_t at) {
  struct coin_retrain_request q;
  memset(&q, 0, sizeof(q));
  snprintf(q.champion, sizeof(q.champion), "%s", champion);
  snprintf(q.scope, sizeof(q.scope), "binance/BTCUSDT/1h");
  snprintf(q.reason, sizeof(q.reason),
           "champion %s worse than persistence: n=240, MAE ratio 1.31",
           champion);
  snprintf(q.requested_by, sizeof(q.requested_by), "coin-monitor@test");
  q.requested_at_ms = at;
  q.n = 240;
  q.mae_ratio = 1.3125000000000002;
  return q;
}

static void none_is_not_found_and_clear_is_no_error(void) {
  struct coin_retrain_request got;
  uint64_t rev = 99;
  ASSERT_RC(coin_registry_retrain_request_get(reg, &got, &rev), COIN_ENOTFOUND);
  ASSERT_EQ_INT(rev, 0);
  ASSERT_OK(coin_registry_retrain_request_clear(reg, 0));
  ASSERT_OK(coin_registry_retrain_request_clear(reg, 12345));
}

static void put_get_round_trip_replace_and_clear(void) {
  struct coin_retrain_request a = sample("v20261201-a", 1796300000000);
  struct coin_retrain_request got;
  uint64_t rev1 = 0, rev2 = 0;
  ASSERT_OK(coin_registry_retrain_request_put(reg, &a));
  ASSERT_OK(coin_registry_retrain_request_get(reg, &got, &rev1));
  ASSERT_TRUE(rev1 > 0);
  ASSERT_EQ_STR(got.champion, a.champion);
  ASSERT_EQ_STR(got.scope, a.scope);
  ASSERT_EQ_STR(got.reason, a.reason);
  ASSERT_EQ_STR(got.requested_by, a.requested_by);
  ASSERT_EQ_INT(got.requested_at_ms, a.requested_at_ms);
  ASSERT_EQ_INT(got.n, a.n);
  ASSERT_EQ_DBL(got.mae_ratio, a.mae_ratio);

  /* a newer request (unknown ratio) replaces it */
  struct coin_retrain_request b = sample("v20261202-b", 1796300060000);
  b.mae_ratio = NAN;
  snprintf(b.scope, sizeof(b.scope), "pooled");
  ASSERT_OK(coin_registry_retrain_request_put(reg, &b));
  ASSERT_OK(coin_registry_retrain_request_get(reg, &got, &rev2));
  ASSERT_TRUE(rev2 > rev1);
  ASSERT_EQ_STR(got.champion, "v20261202-b");
  ASSERT_EQ_STR(got.scope, "pooled");
  ASSERT_TRUE(isnan(got.mae_ratio));

  /* clearing what one read before the newer request keeps the newer one */
  ASSERT_RC(coin_registry_retrain_request_clear(reg, rev1), COIN_ECONFLICT);
  ASSERT_CONTAINS(coin_error_last(), "newer retrain request");
  ASSERT_OK(coin_registry_retrain_request_get(reg, &got, NULL));
  ASSERT_EQ_STR(got.champion, "v20261202-b");
  ASSERT_OK(coin_registry_retrain_request_clear(reg, rev2));
  ASSERT_RC(coin_registry_retrain_request_get(reg, &got, NULL), COIN_ENOTFOUND);
  ASSERT_OK(coin_registry_retrain_request_clear(reg, rev2)); /* gone: ok */
}

/* A raw value in the key; get must say COIN_EDECODE in one line naming the
 * key and containing want, and give the revision to clear it with. */
static void bad_value(const char *value, const char *want) {
  uint64_t put_rev = 0, rev = 0;
  struct coin_retrain_request got;
  ASSERT_OK(coin_bus_kv_put(&put_rev, kv, COIN_KEY_RETRAIN_REQUEST, value,
                            strlen(value)));
  ASSERT_RC(coin_registry_retrain_request_get(reg, &got, &rev), COIN_EDECODE);
  const char *e = coin_error_last();
  ASSERT_CONTAINS(e, COIN_KEY_RETRAIN_REQUEST);
  ASSERT_CONTAINS(e, want);
  ASSERT_TRUE(strchr(e, '\n') == NULL);
  ASSERT_EQ_INT(rev, put_rev);
  ASSERT_OK(coin_registry_retrain_request_clear(reg, rev));
  ASSERT_RC(coin_registry_retrain_request_get(reg, &got, NULL), COIN_ENOTFOUND);
}

static void bad_values_are_reported_clearly(void) {
  bad_value("retrain please", "is not JSON");
  bad_value("{\"schema_version\":1,\"champion\":\"v1\"", "is not JSON");
  bad_value("{\"schema_version\":2,\"champion\":\"v1\",\"requested_at_ms\":1}",
            "is not a retrain request");
  bad_value("{\"schema_version\":1,\"requested_at_ms\":1}",
            "is not a retrain request");
  bad_value("{\"schema_version\":1,\"champion\":\"v.1\",\"requested_at_ms\":1}",
            "is not a retrain request");
  bad_value("{\"schema_version\":1,\"champion\":\"v1\",\"requested_at_ms\":1,"
            "\"mae_ratio\":\"high\"}",
            "is not a retrain request");
  bad_value("[1,2]", "is not a retrain request");
}

static void bad_requests_are_refused(void) {
  struct coin_retrain_request q = sample("v1.bad", 1796300000000);
  struct coin_retrain_request got;
  ASSERT_TRUE(coin_registry_retrain_request_put(reg, &q) != 0);
  ASSERT_CONTAINS(coin_error_last(), "champion");
  q = sample("", 1796300000000);
  ASSERT_TRUE(coin_registry_retrain_request_put(reg, &q) != 0);
  q = sample("v1", 0);
  ASSERT_RC(coin_registry_retrain_request_put(reg, &q), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "requested_at_ms");
  q = sample("v1", 1796300000000);
  snprintf(q.reason, sizeof(q.reason), "bad \xff byte");
  ASSERT_RC(coin_registry_retrain_request_put(reg, &q), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "UTF-8");
  /* nothing was written */
  ASSERT_RC(coin_registry_retrain_request_get(reg, &got, NULL), COIN_ENOTFOUND);
}

int main(int argc, char **argv) {
  coin_test_main_begin(argc, argv);
  struct coin_bus_options o;
  if (coin_test_nats_start(&nats) != 0 ||
      (coin_test_nats_options(&o, &nats, "admin"),
       coin_bus_connect(&bus, &o)) != 0 ||
      coin_registry_open(&reg, bus, "test") != 0 ||
      coin_bus_kv_open(&kv, bus, COIN_KV_MODELS) != 0) {
    fprintf(stderr, "setup failed: %s\n", coin_error_last());
    return 1;
  }
  RUN_TEST(none_is_not_found_and_clear_is_no_error);
  RUN_TEST(put_get_round_trip_replace_and_clear);
  RUN_TEST(bad_values_are_reported_clearly);
  RUN_TEST(bad_requests_are_refused);
  coin_bus_kv_free(kv);
  coin_registry_free(reg);
  coin_bus_free(bus);
  coin_bus_shutdown();
  coin_test_server_cleanup(&nats);
  return coin_test_summary();
}
