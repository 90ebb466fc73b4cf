/*
 * test_influx_lp.c: line-protocol formatting of the influx module (escaping,
 * identifier rules, exact float round-trip) and client option validation.
 * No server; single-threaded.
 */
#include "coin/error.h"
#include "coin/influx.h"
#include "coin/redact.h"
#include "test.h"

#include <float.h>
#include <stdint.h>

#define F64(k, x)                                                              \
  {                                                                            \
    k, {                                                                       \
      .type = COIN_INFLUX_FLOAT, .v.f64 = (x)                                  \
    }                                                                          \
  }

static int fmt(char **out, const char *m, const struct coin_influx_tag *t,
               size_t nt, const struct coin_influx_field *f, size_t nf,
               int64_t time_ms) {
  struct coin_influx_point p = {m, t, nt, f, nf, time_ms};
  return coin_influx_line_format(out, &p);
}

static void candle_line_is_exact(void) {
  struct coin_influx_tag t[] = {
      {"symbol", "BTCUSDT"}, {"exchange", "binance"}, {"timeframe", "1h"}};
  struct coin_influx_field f[] = {F64("open", 1.5), F64("close", 0.1),
                                  F64("volume", 100)};
  char *s = NULL;
  ASSERT_OK(fmt(&s, "candle", t, 3, f, 3, 1600000000000));
  /* Tags come out sorted by key; fields keep the caller's order. */
  ASSERT_EQ_STR(s, "candle,exchange=binance,symbol=BTCUSDT,timeframe=1h "
                   "open=1.5,close=0.1,volume=100 1600000000000");
  free(s);
}

static void escapes_identifiers(void) {
  struct coin_influx_tag t[] = {{"ta g,k=", "a,b=c d"}};
  struct coin_influx_field f[] = {F64("f ld,x=y", 2)};
  char *s = NULL;
  ASSERT_OK(fmt(&s, "cpu load,x=1", t, 1, f, 1, -5));
  /* Measurement: ',' and ' ' escaped, '=' literal. Tag and field keys and
   * tag values: ',' '=' ' ' escaped. Negative times are valid. */
  ASSERT_EQ_STR(s, "cpu\\ load\\,x=1,ta\\ g\\,k\\==a\\,b\\=c\\ d "
                   "f\\ ld\\,x\\=y=2 -5");
  free(s);
}

static void escapes_string_fields(void) {
  struct coin_influx_field f[] = {
      {"msg",
       {.type = COIN_INFLUX_STRING,
        .v.str.ptr = "he said \"hi\" \\ ok, a=b\nline2"}},
      {"n", {.type = COIN_INFLUX_INT, .v.i64 = -42}},
      {"big", {.type = COIN_INFLUX_INT, .v.i64 = INT64_MAX}},
      {"ok", {.type = COIN_INFLUX_BOOL, .v.b = true}},
      {"bad", {.type = COIN_INFLUX_BOOL, .v.b = false}},
      {"empty", {.type = COIN_INFLUX_STRING, .v.str.ptr = ""}},
  };
  char *s = NULL;
  ASSERT_OK(fmt(&s, "m", NULL, 0, f, 6, 7));
  /* Inside quotes only '"' and '\' are escaped; a newline is legal there. */
  ASSERT_EQ_STR(s, "m msg=\"he said \\\"hi\\\" \\\\ ok, a=b\nline2\","
                   "n=-42i,big=9223372036854775807i,ok=true,bad=false,"
                   "empty=\"\" 7");
  free(s);
}

/* Pulls the value of the single field "v" out of a formatted line. */
static double field_value(const char *line, char *text, size_t cap) {
  const char *p = strstr(line, " v=");
  const char *end = strrchr(line, ' ');
  size_t n = (size_t)(end - (p + 3));
  snprintf(text, cap, "%.*s", (int)n, p + 3);
  return strtod(text, NULL);
}

static int format_value(char *text, size_t cap, double v, double *back) {
  struct coin_influx_field f[] = {F64("v", v)};
  char *s = NULL;
  int rc = fmt(&s, "m", NULL, 0, f, 1, 0);
  if (rc)
    return rc;
  *back = field_value(s, text, cap);
  free(s);
  return 0;
}

static void floats_round_trip_exactly(void) {
  static const double fixed[] = {0.1,
                                 1.0 / 3.0,
                                 2.0 / 3.0,
                                 1e-300,
                                 5e-324,
                                 2.2250738585072014e-308,
                                 DBL_MAX,
                                 -DBL_MAX,
                                 -0.0,
                                 0.0,
                                 123456789.12345679,
                                 29000.01,
                                 0.30000000000000004,
                                 9007199254740993.0,
                                 1e21,
                                 1e22,
                                 4.35,
                                 57.49};
  char text[64];
  double back;
  for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
    ASSERT_OK(format_value(text, sizeof(text), fixed[i], &back));
    if (memcmp(&back, &fixed[i], sizeof(double)) != 0)
      COIN_TEST_FAIL_("%.17g printed as %s reads back %.17g", fixed[i], text,
                      back);
  }
  /* Random bit patterns cover every exponent and mantissa shape. */
  uint64_t s = 0x243f6a8885a308d3u;
  for (int i = 0; i < 20000; i++) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    double v;
    memcpy(&v, &s, sizeof(v));
    if (!isfinite(v))
      continue;
    ASSERT_OK(format_value(text, sizeof(text), v, &back));
    if (memcmp(&back, &v, sizeof(double)) != 0)
      COIN_TEST_FAIL_("%.17g printed as %s reads back %.17g", v, text, back);
  }
}

static void floats_print_short(void) {
  char text[64];
  double back;
  ASSERT_OK(format_value(text, sizeof(text), 0.1, &back));
  ASSERT_EQ_STR(text, "0.1");
  ASSERT_OK(format_value(text, sizeof(text), 100.0, &back));
  ASSERT_EQ_STR(text, "100");
  ASSERT_OK(format_value(text, sizeof(text), 29000.01, &back));
  ASSERT_EQ_STR(text, "29000.01");
  ASSERT_OK(format_value(text, sizeof(text), 0.30000000000000004, &back));
  ASSERT_EQ_STR(text, "0.30000000000000004"); /* needs all 17 digits */
  ASSERT_OK(format_value(text, sizeof(text), -0.0, &back));
  ASSERT_EQ_STR(text, "-0");
  ASSERT_OK(format_value(text, sizeof(text), 1e21, &back));
  ASSERT_EQ_STR(text, "1e+21");
}

static void rejects_bad_points(void) {
  char *s = NULL;
  struct coin_influx_field ok[] = {F64("v", 1)};
  struct coin_influx_field nan_f[] = {F64("v", NAN)};
  struct coin_influx_field inf_f[] = {F64("v", -INFINITY)};
  struct coin_influx_field time_f[] = {F64("time", 1)};
  struct coin_influx_field null_f[] = {{"v", {.type = COIN_INFLUX_NULL}}};
  struct coin_influx_field uint_f[] = {
      {"v", {.type = COIN_INFLUX_UINT, .v.u64 = 1}}};
  struct coin_influx_tag bs[] = {{"k", "a\\b"}};
  struct coin_influx_tag nl[] = {{"k", "a\nb"}};
  struct coin_influx_tag empty[] = {{"k", ""}};
  struct coin_influx_tag dup[] = {{"k", "1"}, {"j", "2"}, {"k", "3"}};
  struct coin_influx_tag tm[] = {{"time", "1"}};

  ASSERT_RC(fmt(&s, "m", NULL, 0, nan_f, 1, 0), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "not finite");
  ASSERT_RC(fmt(&s, "m", NULL, 0, inf_f, 1, 0), COIN_EINVAL);
  ASSERT_RC(fmt(&s, "m", NULL, 0, time_f, 1, 0), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "\"time\"");
  ASSERT_RC(fmt(&s, "m", NULL, 0, null_f, 1, 0), COIN_EINVAL);
  ASSERT_RC(fmt(&s, "m", NULL, 0, uint_f, 1, 0), COIN_EINVAL);
  ASSERT_RC(fmt(&s, "m", NULL, 0, ok, 0, 0), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "0 fields");
  ASSERT_RC(fmt(&s, "", NULL, 0, ok, 1, 0), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "measurement is empty");
  ASSERT_RC(fmt(&s, "#m", NULL, 0, ok, 1, 0), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "'#'");
  ASSERT_RC(fmt(&s, "m", bs, 1, ok, 1, 0), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "tag value \"a\\b\"");
  ASSERT_RC(fmt(&s, "m", nl, 1, ok, 1, 0), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "0x0a");
  ASSERT_RC(fmt(&s, "m", empty, 1, ok, 1, 0), COIN_EINVAL);
  ASSERT_RC(fmt(&s, "m", dup, 3, ok, 1, 0), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "\"k\" repeated");
  ASSERT_RC(fmt(&s, "m", tm, 1, ok, 1, 0), COIN_EINVAL);
  ASSERT_RC(fmt(&s, "m", NULL, 0, ok, 1, INT64_C(9223372036855)), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "time_ms=9223372036855");
  ASSERT_TRUE(s == NULL); /* out never written on failure */
}

static void options_are_validated(void) {
  struct coin_influx_options o;
  struct coin_influx *c = NULL;
  coin_influx_options_init(&o);
  ASSERT_OK(coin_influx_new(&c, &o));
  ASSERT_TRUE(c != NULL);
  ASSERT_EQ_INT(coin_influx_pending(c), 0);
  coin_influx_free(c);
  coin_influx_free(NULL);

  c = NULL;
  o.url = "ftp://x";
  ASSERT_RC(coin_influx_new(&c, &o), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "http://");
  o.url = "http://admin:secret@127.0.0.1:8086";
  ASSERT_RC(coin_influx_new(&c, &o), COIN_EINVAL);
  ASSERT_TRUE(strstr(coin_error_last(), "secret") == NULL);
  coin_influx_options_init(&o);
  o.db = "co\"in";
  ASSERT_RC(coin_influx_new(&c, &o), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "db");
  coin_influx_options_init(&o);
  o.max_retries = 99;
  ASSERT_RC(coin_influx_new(&c, &o), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "max_retries=99");
  coin_influx_options_init(&o);
  o.backoff_max_ms = 10; /* below base (100) */
  ASSERT_RC(coin_influx_new(&c, &o), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "backoff_max_ms=10");
  coin_influx_options_init(&o);
  o.user = "u";
  o.token = "t";
  ASSERT_RC(coin_influx_new(&c, &o), COIN_EINVAL);
  coin_influx_options_init(&o);
  o.token = "bad\r\nX-Injected: 1";
  ASSERT_RC(coin_influx_new(&c, &o), COIN_EINVAL);
  coin_influx_options_init(&o);
  o.rp_by_tf[COIN_TF_1M] = "rp 1m";
  ASSERT_RC(coin_influx_new(&c, &o), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "rp_by_tf[1m]");
  ASSERT_TRUE(c == NULL);
}

static void candle_args_are_validated(void) {
  struct coin_influx_options o;
  struct coin_influx *c = NULL;
  coin_influx_options_init(&o);
  o.url = "http://127.0.0.1:1"; /* never contacted: arguments fail first */
  ASSERT_OK(coin_influx_new(&c, &o));
  struct coin_candle k = {1600000000000, 1, 2, 0.5, 1.5, 10};
  int64_t n = 0;
  int rc = coin_influx_write_candles(c, "binance", "btc usdt", "1h", &k, 1);
  if (rc != COIN_EINVAL) {
    coin_influx_free(c);
    COIN_TEST_FAIL_("write_candles with a bad symbol: rc=%d", rc);
  }
  rc = coin_influx_count(&n, c, "binance", "BTCUSDT", "2h", 0, 1);
  int rc2 = coin_influx_count(&n, c, "binance", "BTCUSDT", "1h", 5, 1);
  coin_influx_free(c);
  ASSERT_EQ_INT(rc, COIN_EINVAL);
  ASSERT_EQ_INT(rc2, COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "from_ms=5 > to_ms=1");
}

/* What curl echoes never carries credentials into an error text (a URL
 * with user-info inside curl's message is redacted; a refused connection on
 * a closed loopback port: no server needed, no retry). */
static void curl_errors_are_redacted(void) {
  struct coin_influx_options o;
  struct coin_influx *c = NULL;
  coin_influx_options_init(&o);
  o.url = "http://127.0.0.1:1";
  o.max_retries = 0;
  o.connect_timeout_ms = 500;
  ASSERT_OK(coin_influx_new(&c, &o));
  int rc = coin_influx_ping(c);
  coin_influx_free(c);
  ASSERT_TRUE(rc != 0);
  ASSERT_CONTAINS(coin_error_last(), "http://127.0.0.1:1");
  char out[256];
  coin_redact_text(out, sizeof(out),
                   "Failed to connect to http://u:s3cr3t@127.0.0.1:1/ping");
  ASSERT_TRUE(strstr(out, "s3cr3t") == NULL);
}

TEST_MAIN(RUN_TEST(candle_line_is_exact); RUN_TEST(escapes_identifiers);
          RUN_TEST(escapes_string_fields); RUN_TEST(floats_round_trip_exactly);
          RUN_TEST(floats_print_short); RUN_TEST(rejects_bad_points);
          RUN_TEST(options_are_validated); RUN_TEST(candle_args_are_validated);
          RUN_TEST(curl_errors_are_redacted))
