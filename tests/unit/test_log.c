/*
 * test_log.c: JSON-lines logger. Every line is parsed back with jansson:
 * typed fields, escaping and invalid UTF-8, level filtering that does not
 * evaluate arguments, the line cap, and lines from several threads.
 */
#include <jansson.h>
#include <pthread.h>

#include "coin/error.h"
#include "coin/log.h"
#include "test.h"

/* Reads everything written to f since the last rewind into lines[]. */
static int read_lines(FILE *f, char lines[][COIN_LOG_LINE_MAX_BYTES + 2],
                      int max) {
  int n = 0;
  fflush(f);
  rewind(f);
  while (n < max && fgets(lines[n], COIN_LOG_LINE_MAX_BYTES + 2, f))
    n++;
  return n;
}

static char (*lines)[COIN_LOG_LINE_MAX_BYTES + 2];

static json_t *parse(const char *line) {
  json_error_t err;
  json_t *j = json_loads(line, 0, &err);
  if (j == NULL)
    fprintf(stderr, "  json error: %s at col %d in: %.200s\n", err.text,
            err.column, line);
  return j;
}

static FILE *fresh_log(enum coin_log_level level) {
  FILE *f = tmpfile();
  coin_log_init("coin-test", level, f);
  return f;
}

static void line_shape_and_types(void) {
  FILE *f = fresh_log(COIN_LOG_LEVEL_INFO);
  ASSERT_TRUE(f != NULL);
  COIN_LOG_INFO("backfill progress", COIN_LOG_STR("symbol", "BTCUSDT"),
                COIN_LOG_INT("done", -42),
                COIN_LOG_UINT("big", UINT64_C(1) << 40),
                COIN_LOG_DBL("rate", 0.1), COIN_LOG_BOOL("ok", true),
                COIN_LOG_RAW("obj", "{\"a\":[1,2]}"),
                COIN_LOG_TIME("open", INT64_C(1502942400000)),
                COIN_LOG_TIME("absent", -1), COIN_LOG_DBL("nan", NAN),
                COIN_LOG_STR("none", NULL));
  COIN_LOG_WARN("plain");
  ASSERT_EQ_INT(read_lines(f, lines, 10), 2);
  fclose(f);
  json_t *j = parse(lines[0]);
  ASSERT_TRUE(j != NULL);
  const char *ts = json_string_value(json_object_get(j, "ts"));
  ASSERT_TRUE(ts != NULL);
  ASSERT_EQ_INT(strlen(ts), 24);
  ASSERT_TRUE(ts[4] == '-' && ts[10] == 'T' && ts[19] == '.' && ts[23] == 'Z');
  ASSERT_EQ_STR(json_string_value(json_object_get(j, "level")), "info");
  ASSERT_EQ_STR(json_string_value(json_object_get(j, "svc")), "coin-test");
  ASSERT_EQ_STR(json_string_value(json_object_get(j, "msg")),
                "backfill progress");
  ASSERT_EQ_STR(json_string_value(json_object_get(j, "symbol")), "BTCUSDT");
  ASSERT_EQ_INT(json_integer_value(json_object_get(j, "done")), -42);
  ASSERT_EQ_INT(json_integer_value(json_object_get(j, "big")), INT64_C(1)
                                                                   << 40);
  ASSERT_EQ_DBL(json_real_value(json_object_get(j, "rate")), 0.1);
  ASSERT_CONTAINS(lines[0], "\"rate\":0.1,");
  ASSERT_TRUE(json_is_true(json_object_get(j, "ok")));
  ASSERT_EQ_INT(json_integer_value(json_array_get(
                    json_object_get(json_object_get(j, "obj"), "a"), 1)),
                2);
  ASSERT_EQ_STR(json_string_value(json_object_get(j, "open")),
                "2017-08-17T04:00:00.000Z");
  /* an absent time (-1) is null, never 1969-12-31 */
  ASSERT_TRUE(json_is_null(json_object_get(j, "absent")));
  ASSERT_TRUE(json_is_null(json_object_get(j, "nan")));
  ASSERT_TRUE(json_is_null(json_object_get(j, "none")));
  /* Key order is the documented one: ts, level, svc, msg, fields. */
  ASSERT_TRUE(strncmp(lines[0], "{\"ts\":\"", 7) == 0);
  ASSERT_CONTAINS(lines[0], "\",\"level\":\"info\",\"svc\":\"coin-test\","
                            "\"msg\":\"backfill progress\",\"symbol\"");
  json_decref(j);
  j = parse(lines[1]);
  ASSERT_TRUE(j != NULL);
  ASSERT_EQ_STR(json_string_value(json_object_get(j, "level")), "warn");
  ASSERT_EQ_INT(json_object_size(j), 4);
  json_decref(j);
}

static void format_fixed_time(void) {
  char *s = NULL;
  coin_log_init("svc\"x", COIN_LOG_LEVEL_INFO, NULL);
  /* UINT64_MAX is valid JSON even if some parsers (jansson) refuse it. */
  struct coin_log_field fl[] = {COIN_LOG_INT("n", 1),
                                COIN_LOG_UINT("u", UINT64_MAX)};
  ASSERT_OK(coin_log_format(&s, COIN_LOG_LEVEL_ERROR, INT64_C(1795731657123),
                            "m", fl, 2));
  ASSERT_EQ_STR(s, "{\"ts\":\"2026-11-26T22:20:57.123Z\",\"level\":\"error\","
                   "\"svc\":\"svc\\\"x\",\"msg\":\"m\",\"n\":1,"
                   "\"u\":18446744073709551615}\n");
  free(s);
}

static void escaping_and_utf8(void) {
  FILE *f = fresh_log(COIN_LOG_LEVEL_DEBUG);
  const char *nasty = "q\"b\\n\nt\tc\x01\x1f del\x7f";
  const char *utf8 = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80";
  /* 0xff; overlong '/'; a UTF-16 surrogate; a cut 3-byte sequence. */
  const char *bad = "a\xff"
                    "b\xc0\xaf"
                    "c\xed\xa0\x80"
                    "d\xe2\x82";
  COIN_LOG_DEBUG(nasty, COIN_LOG_STR("k\"ey\n", nasty),
                 COIN_LOG_STR("utf8", utf8), COIN_LOG_STR("bad", bad));
  ASSERT_EQ_INT(read_lines(f, lines, 10), 1);
  fclose(f);
  ASSERT_CONTAINS(lines[0], "\\u0001\\u001f del\\u007f");
  ASSERT_CONTAINS(lines[0], "q\\\"b\\\\n\\nt\\t");
  json_t *j = parse(lines[0]);
  ASSERT_TRUE(j != NULL);
  ASSERT_EQ_STR(json_string_value(json_object_get(j, "msg")), nasty);
  ASSERT_EQ_STR(json_string_value(json_object_get(j, "k\"ey\n")), nasty);
  ASSERT_EQ_STR(json_string_value(json_object_get(j, "utf8")), utf8);
  const char *fffd = "\xef\xbf\xbd";
  char want[64];
  snprintf(want, sizeof(want), "a%sb%s%sc%s%s%sd%s%s", fffd, fffd, fffd, fffd,
           fffd, fffd, fffd, fffd);
  ASSERT_EQ_STR(json_string_value(json_object_get(j, "bad")), want);
  json_decref(j);
}

static int evaluated;

static int bump(void) {
  return ++evaluated;
}

static const char *msg_bump(void) {
  evaluated += 100;
  return "m";
}

static void level_filter_skips_evaluation(void) {
  FILE *f = fresh_log(COIN_LOG_LEVEL_WARN);
  evaluated = 0;
  COIN_LOG_DEBUG(msg_bump(), COIN_LOG_INT("n", bump()));
  COIN_LOG_INFO(msg_bump(), COIN_LOG_INT("n", bump()),
                COIN_LOG_INT("m", bump()));
  ASSERT_EQ_INT(evaluated, 0);
  COIN_LOG_WARN(msg_bump(), COIN_LOG_INT("n", bump()));
  ASSERT_EQ_INT(evaluated, 101);
  COIN_LOG_ERROR("e", COIN_LOG_INT("n", bump()));
  ASSERT_EQ_INT(evaluated, 102);
  coin_log_set_level(COIN_LOG_LEVEL_OFF);
  COIN_LOG_ERROR("e", COIN_LOG_INT("n", bump()));
  ASSERT_EQ_INT(evaluated, 102);
  ASSERT_EQ_INT(read_lines(f, lines, 10), 2);
  fclose(f);
  ASSERT_CONTAINS(lines[0], "\"level\":\"warn\"");
  ASSERT_CONTAINS(lines[0], "\"n\":1}");
  ASSERT_CONTAINS(lines[1], "\"level\":\"error\"");
  ASSERT_TRUE(coin_log_enabled(COIN_LOG_LEVEL_ERROR) == false);
}

static void level_parse(void) {
  enum coin_log_level lv = COIN_LOG_LEVEL_OFF;
  ASSERT_OK(coin_log_level_parse(&lv, "debug"));
  ASSERT_EQ_INT(lv, COIN_LOG_LEVEL_DEBUG);
  ASSERT_OK(coin_log_level_parse(&lv, "error"));
  ASSERT_EQ_INT(lv, COIN_LOG_LEVEL_ERROR);
  ASSERT_RC(coin_log_level_parse(&lv, "verbose"), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "\"verbose\"");
  ASSERT_CONTAINS(coin_error_last(), "debug info warn error");
  ASSERT_EQ_INT(lv, COIN_LOG_LEVEL_ERROR);
  ASSERT_RC(coin_log_level_parse(&lv, "INFO"), COIN_EINVAL);
  ASSERT_EQ_STR(coin_log_level_name(COIN_LOG_LEVEL_WARN), "warn");
}

static void error_fields(void) {
  FILE *f = fresh_log(COIN_LOG_LEVEL_INFO);
  int rc = coin_error_set(COIN_ECONFLICT, "kv put \"x\": wrong last sequence");
  COIN_LOG_ERROR("watermark", COIN_LOG_RC(rc), COIN_LOG_STR("key", "x"));
  ASSERT_EQ_INT(read_lines(f, lines, 10), 1);
  fclose(f);
  json_t *j = parse(lines[0]);
  ASSERT_TRUE(j != NULL);
  ASSERT_EQ_STR(json_string_value(json_object_get(j, "err")), "ECONFLICT");
  ASSERT_EQ_STR(json_string_value(json_object_get(j, "error")),
                "kv put \"x\": wrong last sequence");
  ASSERT_EQ_STR(json_string_value(json_object_get(j, "key")), "x");
  json_decref(j);
}

static void long_lines_are_capped(void) {
  FILE *f = fresh_log(COIN_LOG_LEVEL_INFO);
  size_t big = 3 * COIN_LOG_LINE_MAX_BYTES;
  char *s = malloc(big + 1);
  ASSERT_TRUE(s != NULL);
  memset(s, 'x', big);
  s[big] = '\0';
  /* Quotes escape to 2 bytes: fill with them to hit the cap mid-escape. */
  for (size_t i = 0; i < big; i += 3)
    s[i] = '"';
  COIN_LOG_INFO("long", COIN_LOG_STR("a", "first"), COIN_LOG_STR("s", s),
                COIN_LOG_INT("after", 1));
  COIN_LOG_INFO(s, COIN_LOG_INT("after", 1));
  /* Many small fields: the cap is reached between fields. */
  struct coin_log_field *many = calloc(20000, sizeof(*many));
  ASSERT_TRUE(many != NULL);
  for (int i = 0; i < 20000; i++)
    many[i] = COIN_LOG_DBL("field_with_a_long_name", i * 1.5);
  coin_log_write(COIN_LOG_LEVEL_INFO, "many", many, 20000);
  free(many);
  free(s);
  ASSERT_EQ_INT(read_lines(f, lines, 10), 3);
  fclose(f);
  for (int i = 0; i < 3; i++) {
    size_t n = strlen(lines[i]);
    ASSERT_TRUE(n <= COIN_LOG_LINE_MAX_BYTES);
    ASSERT_TRUE(n > COIN_LOG_LINE_MAX_BYTES - 100);
    ASSERT_EQ_INT(lines[i][n - 1], '\n');
    json_t *j = parse(lines[i]);
    ASSERT_TRUE(j != NULL);
    ASSERT_TRUE(json_is_true(json_object_get(j, "truncated")));
    ASSERT_TRUE(json_object_get(j, "after") == NULL);
    json_decref(j);
  }
  ASSERT_CONTAINS(lines[0], "\"a\":\"first\",\"s\":\"\\\"xx\\\"xx");
}

#define THREADS 4
#define LINES_PER_THREAD 500

static void *log_thread(void *arg) {
  intptr_t id = (intptr_t)arg;
  for (int i = 0; i < LINES_PER_THREAD; i++)
    COIN_LOG_INFO("concurrent", COIN_LOG_INT("thread", id),
                  COIN_LOG_INT("i", i), COIN_LOG_STR("pad", "0123456789"));
  return NULL;
}

static void threads_do_not_interleave(void) {
  FILE *f = fresh_log(COIN_LOG_LEVEL_INFO);
  pthread_t th[THREADS];
  for (intptr_t t = 0; t < THREADS; t++)
    ASSERT_EQ_INT(pthread_create(&th[t], NULL, log_thread, (void *)t), 0);
  for (int t = 0; t < THREADS; t++)
    pthread_join(th[t], NULL);
  fflush(f);
  rewind(f);
  char line[512];
  int n = 0, next[THREADS] = {0};
  while (fgets(line, sizeof(line), f)) {
    json_t *j = parse(line);
    ASSERT_TRUE(j != NULL);
    int t = (int)json_integer_value(json_object_get(j, "thread"));
    ASSERT_TRUE(t >= 0 && t < THREADS);
    /* Each thread's lines appear whole and in its own order. */
    ASSERT_EQ_INT(json_integer_value(json_object_get(j, "i")), next[t]);
    next[t]++;
    json_decref(j);
    n++;
  }
  fclose(f);
  ASSERT_EQ_INT(n, THREADS * LINES_PER_THREAD);
}

static void setup(void) {
  lines = malloc(10 * sizeof(*lines));
}

TEST_MAIN(setup(); RUN_TEST(line_shape_and_types); RUN_TEST(format_fixed_time);
          RUN_TEST(escaping_and_utf8); RUN_TEST(level_filter_skips_evaluation);
          RUN_TEST(level_parse); RUN_TEST(error_fields);
          RUN_TEST(long_lines_are_capped); RUN_TEST(threads_do_not_interleave);
          coin_log_init("coin", COIN_LOG_LEVEL_INFO, NULL); free(lines))
