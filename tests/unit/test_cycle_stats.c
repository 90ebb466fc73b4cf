/* test_cycle_stats.c: coin-ingest's runtime-metrics window
 * (services/ingest/cycle_stats.c): nearest-rank p50/p95/max on known
 * vectors, overrun rate, ring wrap and totals, the runtime_metrics.json
 * fields, the KV value's round trip, a window-size change between runs,
 * restore in front of this run's samples, and every bad stored value
 * rejected with its one-line reason (the window left as it was). */
#include "cycle_stats.h"

#include "coin/error.h"
#include "test.h"

#include <jansson.h>

static struct cycle_stats s;

static void fresh(size_t window) {
  static bool have;
  if (have)
    cycle_stats_destroy(&s);
  if (cycle_stats_init(&s, window) != 0)
    abort();
  have = true;
}

static struct cycle_summary summary(void) {
  struct cycle_summary out;
  cycle_stats_summary(&out, &s);
  return out;
}

/* ---- summary ------------------------------------------------------------ */

static void one_to_hundred(void) {
  fresh(240);
  /* added in a scrambled order: the summary must sort */
  for (int i = 0; i < 100; i++)
    cycle_stats_add(&s, (double)((i * 37) % 100 + 1), false);
  struct cycle_summary c = summary();
  ASSERT_EQ_INT(c.samples, 100);
  /* nearest rank: ceil(0.50 * 100) = 50th, ceil(0.95 * 100) = 95th */
  ASSERT_EQ_DBL(c.p50_elapsed_seconds, 50);
  ASSERT_EQ_DBL(c.p95_elapsed_seconds, 95);
  ASSERT_EQ_DBL(c.max_elapsed_seconds, 100);
  ASSERT_EQ_DBL(c.overrun_rate, 0);
}

static void one_to_twenty(void) {
  fresh(20);
  for (int i = 20; i >= 1; i--)
    cycle_stats_add(&s, i / 10.0, false);
  struct cycle_summary c = summary();
  /* ceil(10) = 10th = 1.0, ceil(19) = 19th = 1.9 */
  ASSERT_EQ_DBL(c.p50_elapsed_seconds, 1.0);
  ASSERT_EQ_DBL(c.p95_elapsed_seconds, 1.9);
  ASSERT_EQ_DBL(c.max_elapsed_seconds, 2.0);
}

static void empty_single_and_two(void) {
  fresh(10);
  struct cycle_summary c = summary();
  ASSERT_EQ_INT(c.samples, 0);
  ASSERT_EQ_DBL(c.p50_elapsed_seconds, 0);
  ASSERT_EQ_DBL(c.max_elapsed_seconds, 0);
  cycle_stats_add(&s, 0.7, true);
  c = summary();
  ASSERT_EQ_INT(c.samples, 1);
  ASSERT_EQ_DBL(c.p50_elapsed_seconds, 0.7);
  ASSERT_EQ_DBL(c.p95_elapsed_seconds, 0.7);
  ASSERT_EQ_DBL(c.max_elapsed_seconds, 0.7);
  ASSERT_EQ_DBL(c.overrun_rate, 1);
  fresh(10);
  cycle_stats_add(&s, 0.9, false);
  cycle_stats_add(&s, 0.2, false);
  c = summary();
  /* ceil(1.0) = 1st = 0.2; ceil(1.9) = 2nd = 0.9 */
  ASSERT_EQ_DBL(c.p50_elapsed_seconds, 0.2);
  ASSERT_EQ_DBL(c.p95_elapsed_seconds, 0.9);
  ASSERT_EQ_DBL(c.max_elapsed_seconds, 0.9);
}

static void all_equal(void) {
  fresh(8);
  for (int i = 0; i < 5; i++)
    cycle_stats_add(&s, 0.3, false);
  struct cycle_summary c = summary();
  ASSERT_EQ_INT(c.samples, 5);
  ASSERT_EQ_DBL(c.p50_elapsed_seconds, 0.3);
  ASSERT_EQ_DBL(c.p95_elapsed_seconds, 0.3);
  ASSERT_EQ_DBL(c.max_elapsed_seconds, 0.3);
}

static void unsorted_ring_that_wrapped(void) {
  fresh(5);
  const double in[] = {9, 1, 8, 2, 7, 3, 6};
  for (size_t i = 0; i < 7; i++)
    cycle_stats_add(&s, in[i], false);
  /* held: 8 2 7 3 6 (9 and 1 fell out) -> sorted 2 3 6 7 8 */
  struct cycle_summary c = summary();
  ASSERT_EQ_INT(c.samples, 5);
  ASSERT_EQ_DBL(c.p50_elapsed_seconds, 6); /* ceil(2.5) = 3rd */
  ASSERT_EQ_DBL(c.p95_elapsed_seconds, 8); /* ceil(4.75) = 5th */
  ASSERT_EQ_DBL(c.max_elapsed_seconds, 8); /* not the dropped 9 */
  const double oldest_first[] = {8, 2, 7, 3, 6};
  for (size_t i = 0; i < 5; i++)
    ASSERT_EQ_DBL(cycle_stats_elapsed_at(&s, i), oldest_first[i]);
}

static void overrun_rate_wrap_and_totals(void) {
  fresh(4);
  const bool over[] = {true, false, false, true, true, false};
  for (size_t i = 0; i < 6; i++)
    cycle_stats_add(&s, 1.0 + (double)i, over[i]);
  /* held: cycles 3..6 = F T T F */
  struct cycle_summary c = summary();
  ASSERT_EQ_INT(c.samples, 4);
  ASSERT_EQ_DBL(c.overrun_rate, 0.5);
  ASSERT_EQ_INT(s.count, 4);
  ASSERT_EQ_INT(s.total_cycles, 6);
  ASSERT_EQ_INT(s.total_overruns, 3);
  for (size_t i = 0; i < 4; i++) {
    ASSERT_EQ_DBL(cycle_stats_elapsed_at(&s, i), 3.0 + (double)i);
    ASSERT_TRUE(cycle_stats_overrun_at(&s, i) == over[i + 2]);
  }
  /* wraps again and again */
  for (int i = 0; i < 1001; i++)
    cycle_stats_add(&s, 0.5, false);
  ASSERT_EQ_INT(s.count, 4);
  ASSERT_EQ_INT(s.total_cycles, 1007);
  ASSERT_EQ_INT(s.total_overruns, 3);
  ASSERT_EQ_DBL(summary().overrun_rate, 0);
}

static void json_rendering_fields(void) {
  fresh(4);
  cycle_stats_add(&s, 0.5, false);
  cycle_stats_add(&s, 1.5, true);
  cycle_stats_add(&s, 0.25, false);
  char *text = NULL;
  ASSERT_OK(cycle_stats_json(&text, &s, INT64_C(1767225600123)));
  json_error_t err;
  json_t *j = json_loads(text, 0, &err);
  free(text);
  ASSERT_TRUE(j != NULL);
  ASSERT_EQ_INT(json_integer_value(json_object_get(j, "schema_version")), 1);
  ASSERT_EQ_STR(json_string_value(json_object_get(j, "updated_at")),
                "2026-01-01T00:00:00.123Z");
  ASSERT_EQ_INT(json_integer_value(json_object_get(j, "updated_at_ms")),
                INT64_C(1767225600123));
  ASSERT_EQ_INT(json_integer_value(json_object_get(j, "window_size")), 4);
  json_t *sum = json_object_get(j, "summary");
  ASSERT_EQ_INT(json_integer_value(json_object_get(sum, "samples")), 3);
  /* sorted 0.25 0.5 1.5: ceil(1.5) = 2nd, ceil(2.85) = 3rd */
  ASSERT_EQ_DBL(json_number_value(json_object_get(sum, "p50_elapsed_seconds")),
                0.5);
  ASSERT_EQ_DBL(json_number_value(json_object_get(sum, "p95_elapsed_seconds")),
                1.5);
  ASSERT_EQ_DBL(json_number_value(json_object_get(sum, "max_elapsed_seconds")),
                1.5);
  ASSERT_NEAR(json_number_value(json_object_get(sum, "overrun_rate")),
              1.0 / 3.0, 1e-9);
  json_decref(j);
}

/* ---- the KV value ------------------------------------------------------- */

static void serialise_parse_round_trip(void) {
  fresh(5);
  const double in[] = {0.001, 12.345, 0.1 + 0.2, 1e-9, 86400.5, 0, 3};
  const bool over[] = {false, true, false, false, true, false, true};
  for (size_t i = 0; i < 7; i++)
    cycle_stats_add(&s, in[i], over[i]);
  char *v = NULL;
  size_t len = 0;
  ASSERT_OK(cycle_stats_serialize(&v, &len, &s, 42));
  ASSERT_EQ_INT(len, strlen(v));
  ASSERT_CONTAINS(v, "\"schema_version\":1");
  ASSERT_CONTAINS(v, "\"window_size\":5");
  ASSERT_CONTAINS(v, "\"total_cycles\":7");
  ASSERT_CONTAINS(v, "\"total_overruns\":3");
  ASSERT_CONTAINS(v, "\"saved_at_ms\":42");
  ASSERT_CONTAINS(v, "\"overrun\":\"00101\""); /* cycles 3..7, oldest first */
  ASSERT_CONTAINS(v, "[0.30000000000000004,1e-09,86400.5,0,3]");

  struct cycle_stats back;
  ASSERT_OK(cycle_stats_init(&back, 5));
  int rc = cycle_stats_restore(&back, v, len);
  free(v);
  if (rc != 0)
    cycle_stats_destroy(&back);
  ASSERT_OK(rc);
  int same =
      back.count == 5 && back.total_cycles == 7 && back.total_overruns == 3;
  for (size_t i = 0; same && i < 5; i++)
    same = cycle_stats_elapsed_at(&back, i) == in[i + 2] &&
           cycle_stats_overrun_at(&back, i) == over[i + 2];
  struct cycle_summary a = summary(), b;
  cycle_stats_summary(&b, &back);
  cycle_stats_destroy(&back);
  ASSERT_TRUE(same);
  ASSERT_EQ_DBL(a.p50_elapsed_seconds, b.p50_elapsed_seconds);
  ASSERT_EQ_DBL(a.p95_elapsed_seconds, b.p95_elapsed_seconds);
  ASSERT_EQ_DBL(a.overrun_rate, b.overrun_rate);

  /* an empty window round-trips too */
  fresh(3);
  ASSERT_OK(cycle_stats_serialize(&v, &len, &s, 0));
  ASSERT_CONTAINS(v, "\"elapsed_seconds\":[],\"overrun\":\"\"");
  fresh(3);
  ASSERT_OK(cycle_stats_restore(&s, v, len));
  free(v);
  ASSERT_EQ_INT(s.count, 0);
  ASSERT_EQ_INT(s.total_cycles, 0);
}

#define VALUE(ws, tc, to, el, ov)                                              \
  "{\"schema_version\":1,\"window_size\":" ws ",\"total_cycles\":" tc          \
  ",\"total_overruns\":" to ",\"saved_at_ms\":1,\"elapsed_seconds\":[" el      \
  "],\"overrun\":\"" ov "\"}"

static void window_size_change_keeps_the_newest(void) {
  const char *v = VALUE("5", "9", "2", "1,2,3,4,5", "10001");
  fresh(3); /* smaller: the newest 3 */
  ASSERT_OK(cycle_stats_restore(&s, v, strlen(v)));
  ASSERT_EQ_INT(s.count, 3);
  ASSERT_EQ_DBL(cycle_stats_elapsed_at(&s, 0), 3);
  ASSERT_EQ_DBL(cycle_stats_elapsed_at(&s, 2), 5);
  ASSERT_FALSE(cycle_stats_overrun_at(&s, 1));
  ASSERT_TRUE(cycle_stats_overrun_at(&s, 2));
  ASSERT_EQ_INT(s.total_cycles, 9);
  ASSERT_EQ_INT(s.total_overruns, 2);
  ASSERT_EQ_DBL(summary().max_elapsed_seconds, 5);
  ASSERT_EQ_DBL(summary().p50_elapsed_seconds, 4);
  fresh(10); /* larger: all 5, room for 5 more */
  ASSERT_OK(cycle_stats_restore(&s, v, strlen(v)));
  ASSERT_EQ_INT(s.count, 5);
  ASSERT_EQ_DBL(cycle_stats_elapsed_at(&s, 0), 1);
  ASSERT_TRUE(cycle_stats_overrun_at(&s, 0));
  cycle_stats_add(&s, 6, false);
  ASSERT_EQ_INT(s.count, 6);
  ASSERT_EQ_DBL(cycle_stats_elapsed_at(&s, 5), 6);
  ASSERT_EQ_INT(s.total_cycles, 10);
}

/* A window restored late (NATS was away at start) goes before this run's. */
static void restore_goes_before_this_runs_samples(void) {
  fresh(4);
  cycle_stats_add(&s, 10, true);
  cycle_stats_add(&s, 11, false);
  const char *v = VALUE("4", "100", "7", "1,2,3", "010");
  ASSERT_OK(cycle_stats_restore(&s, v, strlen(v)));
  /* 1 2 3 10 11 -> the newest 4: 2 3 10 11 */
  ASSERT_EQ_INT(s.count, 4);
  const double want[] = {2, 3, 10, 11};
  for (size_t i = 0; i < 4; i++)
    ASSERT_EQ_DBL(cycle_stats_elapsed_at(&s, i), want[i]);
  ASSERT_TRUE(cycle_stats_overrun_at(&s, 0));
  ASSERT_TRUE(cycle_stats_overrun_at(&s, 2));
  ASSERT_EQ_INT(s.total_cycles, 102);
  ASSERT_EQ_INT(s.total_overruns, 8);
  cycle_stats_add(&s, 12, false); /* the ring goes on from there */
  ASSERT_EQ_DBL(cycle_stats_elapsed_at(&s, 0), 3);
  ASSERT_EQ_DBL(cycle_stats_elapsed_at(&s, 3), 12);
}

/* Rejected with the code and a text holding want; s is left as it was. */
static int rejected(const char *value, size_t len, int code, const char *want) {
  fresh(4);
  cycle_stats_add(&s, 0.75, true);
  coin_error_clear();
  int rc = cycle_stats_restore(&s, value, len);
  const char *text = coin_error_last();
  int ok = rc == code && strstr(text, want) != NULL &&
           strstr(text, "runtime window: ") == text && !strchr(text, '\n') &&
           s.count == 1 && s.total_cycles == 1 && s.total_overruns == 1 &&
           cycle_stats_elapsed_at(&s, 0) == 0.75;
  if (!ok)
    fprintf(stderr, "  value %.80s: rc %d (want %d), \"%s\" (want \"%s\")\n",
            value, rc, code, text, want);
  return ok ? 0 : -1;
}

#define REJECTED(v, want)                                                      \
  ASSERT_OK(rejected((v), strlen(v), COIN_EDECODE, (want)))

static void bad_values_rejected_with_reason(void) {
  /* the good value the cases below break one rule of */
  const char *good = VALUE("4", "3", "1", "0.5,1,2", "010");
  fresh(4);
  ASSERT_OK(cycle_stats_restore(&s, good, strlen(good)));
  ASSERT_EQ_INT(s.count, 3);

  REJECTED("garbage", "not JSON: ");
  REJECTED("", "not JSON: ");
  REJECTED("{\"schema_version\":1,\"window_size\":4,", "not JSON: ");
  REJECTED("[1,2]", "not a JSON object");
  REJECTED("{\"schema_version\":1,\"schema_version\":1}", "not JSON: ");
  REJECTED("{\"window_size\":4}", "schema_version missing, want 1");
  REJECTED("{\"schema_version\":2}", "schema_version 2, want 1");
  REJECTED("{\"schema_version\":\"1\"}", "schema_version \"1\", want 1");
  REJECTED(VALUE("0", "3", "1", "0.5,1,2", "010"),
           "window_size 0, want an integer 1..100000");
  REJECTED(VALUE("100001", "3", "1", "0.5,1,2", "010"),
           "window_size 100001, want an integer 1..100000");
  REJECTED(VALUE("-4", "3", "1", "0.5,1,2", "010"), "window_size -4");
  REJECTED("{\"schema_version\":1,\"window_size\":4,\"total_cycles\":0,"
           "\"total_overruns\":0,\"overrun\":\"\"}",
           "elapsed_seconds missing, want an array");
  /* out of range: negative, NaN and infinity (not valid JSON) */
  REJECTED(VALUE("4", "3", "1", "0.5,-1,2", "010"),
           "elapsed_seconds[1] -1, want a finite number >= 0");
  REJECTED(VALUE("4", "3", "1", "0.5,1,-0.25", "010"),
           "elapsed_seconds[2] -0.25");
  REJECTED(VALUE("4", "3", "1", "\"0.5\",1,2", "010"),
           "elapsed_seconds[0] \"0.5\", want a finite number >= 0");
  REJECTED(VALUE("4", "3", "1", "NaN,1,2", "010"), "not JSON: ");
  REJECTED(VALUE("4", "3", "1", "1e999,1,2", "010"), "not JSON: ");
  REJECTED(VALUE("2", "3", "1", "0.5,1,2", "010"),
           "3 samples, more than window_size 2");
  REJECTED(VALUE("4", "3", "1", "0.5,1,2", "01"),
           "overrun holds 2 flags for 3 samples");
  REJECTED(VALUE("4", "3", "1", "0.5,1,2", "0x0"),
           "overrun[1] 0x78, want '0' or '1'");
  REJECTED("{\"schema_version\":1,\"window_size\":4,\"total_cycles\":0,"
           "\"total_overruns\":0,\"elapsed_seconds\":[],\"overrun\":[]}",
           "overrun [], want a string of 0 and 1");
  REJECTED(VALUE("4", "2", "1", "0.5,1,2", "010"),
           "total_cycles 2, want an integer >= 3 (the samples)");
  REJECTED(VALUE("4", "-1", "1", "0.5,1,2", "010"), "total_cycles -1");
  REJECTED(VALUE("4", "3.5", "1", "0.5,1,2", "010"), "total_cycles 3.5");
  REJECTED(VALUE("4", "3", "0", "0.5,1,2", "010"),
           "total_overruns 0, want an integer 1..3 (overruns held..");
  REJECTED(VALUE("4", "3", "4", "0.5,1,2", "010"),
           "total_overruns 4, want an integer 1..3");

  /* a value over the cap is refused before it is parsed */
  size_t big = (size_t)CYCLE_STATS_VALUE_MAX_BYTES + 1;
  char *huge = malloc(big);
  ASSERT_TRUE(huge != NULL);
  memset(huge, ' ', big);
  int rc = rejected(huge, big, COIN_ETOOBIG, "bytes, cap 4194304");
  free(huge);
  ASSERT_OK(rc);
}

int main(int argc, char **argv) {
  coin_test_main_begin(argc, argv);
  RUN_TEST(one_to_hundred);
  RUN_TEST(one_to_twenty);
  RUN_TEST(empty_single_and_two);
  RUN_TEST(all_equal);
  RUN_TEST(unsorted_ring_that_wrapped);
  RUN_TEST(overrun_rate_wrap_and_totals);
  RUN_TEST(json_rendering_fields);
  RUN_TEST(serialise_parse_round_trip);
  RUN_TEST(window_size_change_keeps_the_newest);
  RUN_TEST(restore_goes_before_this_runs_samples);
  RUN_TEST(bad_values_rejected_with_reason);
  cycle_stats_destroy(&s);
  return coin_test_summary();
}
