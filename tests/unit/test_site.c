/* test_site.c: the site contract owner (lib/site.h): paths and names,
 * validity instants from the evaluator, the reader rule at any now, the
 * overall merge, writing and reading back the shared members, and the
 * one-line errors for bad documents. */
#include "coin/error.h"
#include "coin/registry.h"
#include "coin/site.h"
#include "test.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN COIN_MINUTE_MS
#define HOUR COIN_HOUR_MS

static int64_t utc(int y, int m, int d, int h, int mi) {
  return coin_tf_from_civil(y, m, d) + h * HOUR + mi * MIN;
}

static void names_and_paths(void) {
  char dir[COIN_SITE_DIR_BYTES];
  enum coin_site_file f;
  ASSERT_OK(coin_site_series_dir(dir, sizeof(dir), "binance", "BTCUSDT",
                                 COIN_TF_1MO));
  ASSERT_EQ_STR(dir, "v1/binance/BTCUSDT/1M");
  ASSERT_RC(
      coin_site_series_dir(dir, sizeof(dir), "binance", "../etc", COIN_TF_1H),
      COIN_EINVAL);
  ASSERT_RC(coin_site_series_dir(dir, 8, "binance", "BTCUSDT", COIN_TF_1H),
            COIN_ETOOBIG);
  ASSERT_EQ_STR(coin_site_file_name(COIN_SITE_HISTORY), "history.json");
  ASSERT_OK(coin_site_file_parse(&f, "prediction.json"));
  ASSERT_EQ_INT(f, COIN_SITE_PREDICTION);
  ASSERT_RC(coin_site_file_parse(&f, "latest.json"), COIN_ENOTFOUND);
  for (int i = 0; i < COIN_SITE_PRED_COUNT; i++) {
    enum coin_site_pred_status p;
    ASSERT_OK(coin_site_pred_status_parse(
        &p, coin_site_pred_status_name((enum coin_site_pred_status)i)));
    ASSERT_EQ_INT(p, i);
  }
  enum coin_site_pred_status p;
  ASSERT_RC(coin_site_pred_status_parse(&p, "fallback"), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "not_evaluated");
}

/* The instants a file announces are exactly where the evaluator turns. */
static void instants_match_the_evaluator(void) {
  struct coin_freshness_policy pol;
  coin_freshness_policy_default(&pol);
  const enum coin_tf tfs[] = {COIN_TF_1M, COIN_TF_1H, COIN_TF_1D, COIN_TF_1W,
                              COIN_TF_1MO};
  for (size_t i = 0; i < 5; i++) {
    enum coin_tf tf = tfs[i];
    int64_t gen = utc(2024, 5, 6, 0, 0) + 1500; /* a Monday, just after */
    struct coin_freshness_input in = {
        .tf = tf, .last_open_ms = coin_tf_last_closed(tf, gen), .n_candles = 9};
    struct coin_freshness fr;
    struct coin_site_validity v;
    coin_freshness_eval(&fr, &pol, &in, gen);
    coin_site_validity_of(&v, &fr, gen);
    ASSERT_EQ_STR(coin_codec_state_name(v.status), "fresh");
    int64_t due = coin_tf_next(tf, coin_tf_next(tf, in.last_open_ms));
    ASSERT_EQ_INT(v.soft_at_ms, due + pol.soft_after_ms[tf]);
    ASSERT_EQ_INT(v.hard_at_ms, due + pol.hard_after_ms[tf]);
    /* a reader at any later now agrees with the evaluator at that now */
    const int64_t probes[] = {v.soft_at_ms - 1, v.soft_at_ms,
                              v.soft_at_ms + 1, v.hard_at_ms,
                              v.hard_at_ms + 1, v.hard_at_ms + 10 * HOUR};
    for (size_t k = 0; k < 6; k++) {
      struct coin_freshness later;
      coin_freshness_eval(&later, &pol, &in, probes[k]);
      ASSERT_EQ_STR(
          coin_codec_state_name(coin_site_validity_now(&v, probes[k])),
          coin_codec_state_name(later.state));
    }
  }
}

/* Ingest stopped across a Monday 00:00 for 10 minutes: the weekly series
 * is not hard_stale (not even soft), the hourly one is. */
static void monday_boundary(void) {
  struct coin_freshness_policy pol;
  coin_freshness_policy_default(&pol);
  int64_t stop = utc(2024, 5, 5, 23, 55); /* Sunday, before the boundary */
  int64_t now = utc(2024, 5, 6, 0, 10);
  struct coin_freshness fr;
  struct coin_site_validity v;
  struct coin_freshness_input w = {.tf = COIN_TF_1W,
                                   .last_open_ms =
                                       coin_tf_last_closed(COIN_TF_1W, stop),
                                   .n_candles = 50};
  coin_freshness_eval(&fr, &pol, &w, stop);
  coin_site_validity_of(&v, &fr, stop);
  ASSERT_EQ_STR(coin_codec_state_name(coin_site_validity_now(&v, now)),
                "fresh");
  ASSERT_TRUE(v.hard_at_ms > utc(2024, 5, 6, 13, 0));
  struct coin_freshness_input h = {.tf = COIN_TF_1H,
                                   .last_open_ms =
                                       coin_tf_last_closed(COIN_TF_1H, stop),
                                   .n_candles = 50};
  coin_freshness_eval(&fr, &pol, &h, stop);
  coin_site_validity_of(&v, &fr, stop);
  ASSERT_EQ_STR(coin_codec_state_name(coin_site_validity_now(&v, now)),
                "hard_stale");
}

static void merge_and_blocked_states(void) {
  struct coin_site_validity acc, a = {COIN_STATE_FRESH, 1, 500, 900},
                                 b = {COIN_STATE_SOFT_STALE, 1, 300, 1200},
                                 c = {COIN_STATE_INSUFFICIENT_DATA, 1, -1, -1};
  coin_site_validity_none(&acc, 1);
  coin_site_validity_merge(&acc, &a);
  coin_site_validity_merge(&acc, &b);
  ASSERT_EQ_STR(coin_codec_state_name(acc.status), "soft_stale");
  ASSERT_EQ_INT(acc.soft_at_ms, 300);
  ASSERT_EQ_INT(acc.hard_at_ms, 900);
  coin_site_validity_merge(&acc, &c);
  ASSERT_EQ_STR(coin_codec_state_name(acc.status), "insufficient_data");
  ASSERT_EQ_INT(acc.hard_at_ms, 900);
  /* time never makes a blocked file better */
  ASSERT_EQ_STR(coin_codec_state_name(coin_site_validity_now(&c, 1 << 30)),
                "insufficient_data");
  struct coin_freshness fr = {
      .state = COIN_STATE_CORRUPT, .soft_since_ms = 5, .hard_since_ms = 9};
  coin_site_validity_of(&a, &fr, 1);
  ASSERT_EQ_INT(a.soft_at_ms, -1);
  ASSERT_EQ_INT(a.hard_at_ms, -1);
}

static void write_then_read(void) {
  struct coin_jbuf b = {0};
  struct coin_site_validity v = {COIN_STATE_FRESH, utc(2026, 1, 5, 10, 0),
                                 utc(2026, 1, 5, 11, 2),
                                 utc(2026, 1, 5, 11, 5)};
  coin_jbuf_putn(&b, "{", 1);
  coin_site_put_head(&b, v.generated_ms);
  coin_site_put_ids(&b, "binance", "ETHUSDT", COIN_TF_1H);
  coin_site_put_validity(&b, &v);
  coin_site_put_degraded(&b, COIN_DEGRADED_NO_MODEL);
  coin_site_put_last_candle(&b, COIN_TF_1H, utc(2026, 1, 5, 9, 0));
  coin_jbuf_trim_comma(&b);
  coin_jbuf_putn(&b, "}", 1);
  char *text = NULL;
  size_t len = 0;
  ASSERT_OK(coin_jbuf_finish(&text, &len, &b));
  ASSERT_CONTAINS(text, "\"soft_stale_at\":\"2026-01-05T11:02:00.000Z\"");
  ASSERT_CONTAINS(text, "\"last_candle_close\":\"2026-01-05T10:00:00.000Z\"");
  ASSERT_CONTAINS(text, "\"degraded_reasons\":[\"no_model\"]");
  struct coin_site_head h;
  ASSERT_OK(coin_site_read_head(&h, text, len));
  ASSERT_EQ_INT(h.schema_version, COIN_SITE_SCHEMA_VERSION);
  ASSERT_EQ_STR(h.symbol, "ETHUSDT");
  ASSERT_EQ_INT(h.v.generated_ms, v.generated_ms);
  ASSERT_EQ_INT(h.v.soft_at_ms, v.soft_at_ms);
  ASSERT_EQ_INT(h.v.hard_at_ms, v.hard_at_ms);
  ASSERT_TRUE(h.has_instants);
  ASSERT_EQ_INT(h.last_open_ms, utc(2026, 1, 5, 9, 0));
  free(text);
}

/* manifest.json "model": roles, since when and how, shadow progress, the
 * recent events newest first, null for what is unknown; valid JSON. */
static void model_lifecycle(void) {
  struct coin_model_lifecycle l;
  memset(&l, 0, sizeof(l));
  snprintf(l.champion.version, sizeof(l.champion.version), "ridge-a");
  snprintf(l.champion.kind, sizeof(l.champion.kind), "ridge");
  l.champion.registered_ms = utc(2026, 1, 5, 9, 0);
  l.champion.since_ms = utc(2026, 1, 5, 10, 0);
  l.champion.via = COIN_PROMOTION_BOOTSTRAP;
  snprintf(l.challenger.version, sizeof(l.challenger.version), "ridge-b");
  l.challenger.registered_ms = utc(2026, 1, 6, 9, 0);
  l.challenger.since_ms = -1;
  l.challenger.shadow_realized = 12;
  l.challenger.shadow_needed = -1;
  l.challenger.shadow_checked_ms = -1;
  l.recent.n = 2;
  l.recent.e[0].kind = COIN_MODEL_EVENT_PROMOTED;
  snprintf(l.recent.e[0].version, COIN_CODEC_ID_BYTES, "ridge-a");
  l.recent.e[0].at_ms = utc(2026, 1, 5, 10, 0);
  snprintf(l.recent.e[0].reason, COIN_CODEC_TEXT_BYTES, "bootstrap \"q\"");
  l.recent.e[1].kind = COIN_MODEL_EVENT_REGISTERED;
  snprintf(l.recent.e[1].version, COIN_CODEC_ID_BYTES, "ridge-b");
  l.recent.e[1].at_ms = utc(2026, 1, 6, 9, 0);
  struct coin_jbuf b = {0};
  coin_jbuf_putn(&b, "{", 1);
  coin_site_put_model(&b, &l);
  coin_jbuf_trim_comma(&b);
  coin_jbuf_putn(&b, "}", 1);
  char *text = NULL;
  size_t len = 0;
  ASSERT_OK(coin_jbuf_finish(&text, &len, &b));
  json_error_t err;
  json_t *o = json_loads(text, 0, &err);
  ASSERT_TRUE(o != NULL);
  json_t *m = json_object_get(o, "model");
  json_t *ch = json_object_get(m, "champion");
  ASSERT_EQ_STR(json_string_value(json_object_get(ch, "since")),
                "2026-01-05T10:00:00.000Z");
  ASSERT_EQ_STR(json_string_value(json_object_get(ch, "promoted_via")),
                "bootstrap");
  json_t *cl = json_object_get(m, "challenger");
  ASSERT_EQ_INT(json_integer_value(json_object_get(cl, "shadow_realized")), 12);
  ASSERT_TRUE(json_is_null(json_object_get(cl, "shadow_needed")));
  ASSERT_TRUE(json_is_null(json_object_get(m, "previous")));
  json_t *ev = json_object_get(m, "events");
  ASSERT_EQ_INT(json_array_size(ev), 2);
  ASSERT_EQ_STR(
      json_string_value(json_object_get(json_array_get(ev, 0), "kind")),
      "registered");
  ASSERT_EQ_STR(
      json_string_value(json_object_get(json_array_get(ev, 1), "reason")),
      "bootstrap \"q\"");
  json_decref(o);
  free(text);
  /* unknown (no registry): null */
  coin_jbuf_putn(&b, "{", 1);
  coin_site_put_model(&b, NULL);
  coin_jbuf_trim_comma(&b);
  coin_jbuf_putn(&b, "}", 1);
  ASSERT_OK(coin_jbuf_finish(&text, &len, &b));
  ASSERT_EQ_STR(text, "{\"model\":null}");
  free(text);
}

static void bad_documents(void) {
  struct coin_site_head h;
  const char *cases[][2] = {
      {"{", "not JSON"},
      {"[]", "not a JSON object"},
      {"{\"schema_version\":9,\"generated_at_ms\":1,\"status\":\"fresh\"}",
       "schema_version"},
      {"{\"schema_version\":2,\"status\":\"fresh\"}", "generated_at_ms"},
      {"{\"schema_version\":2,\"generated_at_ms\":1,\"status\":\"ok\"}",
       "status is not a freshness state"},
      {"{\"schema_version\":2,\"generated_at_ms\":1,\"status\":\"fresh\","
       "\"soft_stale_at_ms\":\"soon\"}",
       "soft_stale_at_ms"},
      {"{\"schema_version\":2,\"generated_at_ms\":1,\"status\":\"fresh\","
       "\"soft_stale_at_ms\":9,\"hard_stale_at_ms\":5}",
       "soft comes first"},
      {"{\"schema_version\":2,\"generated_at_ms\":1,\"overall\":{}}",
       "overall.status"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    ASSERT_RC(coin_site_read_head(&h, cases[i][0], strlen(cases[i][0])),
              COIN_EDECODE);
    ASSERT_CONTAINS(coin_error_last(), cases[i][1]);
  }
  /* schema 1 (no instants) still reads: judged by its status alone */
  const char *v1 = "{\"schema_version\":1,\"generated_at_ms\":1,"
                   "\"status\":\"soft_stale\"}";
  ASSERT_OK(coin_site_read_head(&h, v1, strlen(v1)));
  ASSERT_FALSE(h.has_instants);
  ASSERT_EQ_STR(coin_codec_state_name(coin_site_validity_now(&h.v, 1 << 30)),
                "soft_stale");
}

TEST_MAIN(RUN_TEST(names_and_paths); RUN_TEST(instants_match_the_evaluator);
          RUN_TEST(monday_boundary); RUN_TEST(merge_and_blocked_states);
          RUN_TEST(write_then_read); RUN_TEST(model_lifecycle);
          RUN_TEST(bad_documents);)
