/* test_monitor_jscan.c: coin-monitor's JSON pull scanner (services/monitor/
 * jscan.c, linked from coin_monitor): tokens, strict rejection of invalid
 * JSON, string decoding, integers, and a differential test against jansson
 * over seeded random mutations of site-like documents: both must accept and
 * reject exactly the same inputs. */
#include "jscan.h"
#include "test.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

static bool jscan_valid(const char *doc, size_t len) {
  struct jscan s;
  jscan_init(&s, doc, len);
  for (int i = 0; i < 1000000; i++) {
    enum jtok t = jscan_next(&s);
    if (t == J_EOF)
      return true;
    if (t == J_ERR)
      return false;
  }
  return false;
}

static void tokens(void) {
  const char *doc = " {\"a\": [1, -2.5e3, \"x\"], \"b\": {\"c\": null}, "
                    "\"d\": true, \"e\": false} ";
  enum jtok want[] = {J_OBJ,     J_KEY,  J_ARR, J_NUM,   J_NUM,     J_STR,
                      J_ARR_END, J_KEY,  J_OBJ, J_KEY,   J_NULL,    J_OBJ_END,
                      J_KEY,     J_TRUE, J_KEY, J_FALSE, J_OBJ_END, J_EOF};
  struct jscan s;
  jscan_init(&s, doc, strlen(doc));
  for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
    ASSERT_EQ_INT(jscan_next(&s), want[i]);
  /* skip a container as a whole */
  const char *d2 = "{\"skip\": {\"x\": [1, [2, {\"y\": 3}]]}, \"k\": 7}";
  jscan_init(&s, d2, strlen(d2));
  ASSERT_EQ_INT(jscan_next(&s), J_OBJ);
  ASSERT_EQ_INT(jscan_next(&s), J_KEY);
  ASSERT_TRUE(jscan_is(&s, "skip"));
  ASSERT_EQ_INT(jscan_next(&s), J_OBJ);
  ASSERT_TRUE(jscan_skip(&s));
  ASSERT_EQ_INT(jscan_next(&s), J_KEY);
  ASSERT_TRUE(jscan_is(&s, "k"));
  ASSERT_EQ_INT(jscan_next(&s), J_NUM);
  ASSERT_TRUE(s.is_int);
  ASSERT_EQ_INT(s.int_val, 7);
  ASSERT_EQ_INT(jscan_next(&s), J_OBJ_END);
  ASSERT_EQ_INT(jscan_next(&s), J_EOF);
}

static void rejects(void) {
  static const char *bad[] = {"",
                              "{",
                              "[1,]",
                              "{\"a\":1,}",
                              "01",
                              "1.",
                              ".5",
                              "-",
                              "1e",
                              "+1",
                              "\"\\x\"",
                              "\"a\x01\"",
                              "tru",
                              "nul",
                              "[1 2]",
                              "{\"a\" 1}",
                              "{1:2}",
                              "\"\\ud800\"",
                              "\"\\udc00\"",
                              "\"\xc0\x80\"",
                              "\"\xed\xa0\x80\"",
                              "\"\xf4\x90\x80\x80\"",
                              "[]]",
                              "{} {}",
                              "\"abc",
                              "[\"\\u12\"]",
                              "NaN",
                              "[-]",
                              "{\"a\":}",
                              "[,1]",
                              "\"\\\"",
                              "1 2",
                              "{\"a\"}"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    if (jscan_valid(bad[i], strlen(bad[i])))
      fprintf(stderr, "  accepted: %s\n", bad[i]);
    ASSERT_FALSE(jscan_valid(bad[i], strlen(bad[i])));
  }
  /* a NUL byte inside a string is a control character */
  ASSERT_FALSE(jscan_valid("\"a\0b\"", 5));
  /* nesting cap */
  char deep[2 * JSCAN_MAX_DEPTH + 4];
  size_t n = 0;
  for (int i = 0; i <= JSCAN_MAX_DEPTH; i++)
    deep[n++] = '[';
  for (int i = 0; i <= JSCAN_MAX_DEPTH; i++)
    deep[n++] = ']';
  ASSERT_FALSE(jscan_valid(deep, n));
  ASSERT_TRUE(jscan_valid(deep + 1, n - 2));
  /* errors say where */
  struct jscan s;
  const char *doc = "{\n  \"a\": [1,\n  2,,]}";
  jscan_init(&s, doc, strlen(doc));
  while (jscan_next(&s) != J_ERR)
    ;
  char why[160];
  jscan_error(&s, why, sizeof(why));
  ASSERT_CONTAINS(why, "line 3 col 5");
}

static void strings_and_numbers(void) {
  struct jscan s;
  char out[64];
  const char *doc = "[\"caf\\u00e9 \\ud83d\\ude00\\n\\\"q\\\"\", \"plain\", "
                    "\"sym\\u0062ol\", -9223372036854775808, "
                    "9223372036854775808, 1.0, 1e2, 0, -0]";
  jscan_init(&s, doc, strlen(doc));
  ASSERT_EQ_INT(jscan_next(&s), J_ARR);
  ASSERT_EQ_INT(jscan_next(&s), J_STR);
  ASSERT_TRUE(jscan_str(&s, out, sizeof(out)));
  ASSERT_EQ_STR(out, "caf\xc3\xa9 \xf0\x9f\x98\x80\n\"q\"");
  ASSERT_FALSE(jscan_str(&s, out, 5)); /* does not fit */
  ASSERT_EQ_INT(jscan_next(&s), J_STR);
  ASSERT_TRUE(jscan_is(&s, "plain"));
  ASSERT_FALSE(jscan_is(&s, "plai"));
  ASSERT_EQ_INT(jscan_next(&s), J_STR);
  ASSERT_TRUE(jscan_is(&s, "symbol")); /* escapes decoded */
  ASSERT_EQ_INT(jscan_next(&s), J_NUM);
  ASSERT_TRUE(s.is_int);
  ASSERT_TRUE(s.int_val == INT64_MIN);
  ASSERT_EQ_INT(jscan_next(&s), J_NUM);
  ASSERT_FALSE(s.is_int); /* beyond int64 */
  ASSERT_EQ_INT(jscan_next(&s), J_NUM);
  ASSERT_FALSE(s.is_int);
  ASSERT_EQ_INT(jscan_next(&s), J_NUM);
  ASSERT_FALSE(s.is_int);
  ASSERT_EQ_INT(jscan_next(&s), J_NUM);
  ASSERT_TRUE(s.is_int);
  ASSERT_EQ_INT(s.int_val, 0);
  ASSERT_EQ_INT(jscan_next(&s), J_NUM);
  ASSERT_TRUE(s.is_int);
  ASSERT_EQ_INT(jscan_next(&s), J_ARR_END);
  ASSERT_EQ_INT(jscan_next(&s), J_EOF);
  /* a decoded NUL cannot hide inside a C string */
  const char *nul = "\"a\\u0000b\"";
  jscan_init(&s, nul, strlen(nul));
  ASSERT_EQ_INT(jscan_next(&s), J_STR);
  ASSERT_FALSE(jscan_str(&s, out, sizeof(out)));
}

/* ---- differential test against jansson ---------------------------------- */

static uint64_t rng = 0x2545F4914F6CDD1DULL;
static uint64_t next_rand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static const char seed_doc[] =
    "{\"schema_version\":1,\"exchange\":\"binance\",\"symbol\":\"BTC-USD_T\","
    "\"timeframe\":\"1m\",\"status\":\"fresh\",\"degraded\":false,"
    "\"degraded_reasons\":[\"no_model\"],\"note\":\"caf\\u00e9 \xc3\xa9 "
    "\\ud83d\\ude00 \\\"q\\\" \\/ \\t\",\"last_candle_open_ms\":null,"
    "\"candles\":[[1700000000000,100.5,101.25e0,99,-0.0,12.5E-3],"
    "[1700000060000,1,2,3,4,5]],\"nested\":{\"a\":[true,false,null,{}],"
    "\"b\":[]}}";

static void differential(void) {
  const char alphabet[] = "{}[]\":,\\0123456789-+.eEtrufalsn \x80\xc3\xff";
  size_t n0 = strlen(seed_doc);
  char buf[1024];
  int agree_valid = 0, agree_invalid = 0, skipped = 0;
  ASSERT_TRUE(jscan_valid(seed_doc, n0));
  for (int iter = 0; iter < 30000; iter++) {
    size_t n = n0;
    memcpy(buf, seed_doc, n0);
    int edits = 1 + (int)(next_rand() % 3);
    for (int e = 0; e < edits; e++) {
      size_t at = (size_t)(next_rand() % (n ? n : 1));
      switch (next_rand() % 4) {
      case 0: /* replace a byte */
        buf[at] = alphabet[next_rand() % (sizeof(alphabet) - 1)];
        break;
      case 1: /* delete a byte */
        if (n > 1) {
          memmove(buf + at, buf + at + 1, n - at - 1);
          n--;
        }
        break;
      case 2: /* insert a byte */
        if (n + 1 < sizeof(buf)) {
          memmove(buf + at + 1, buf + at, n - at);
          buf[at] = alphabet[next_rand() % (sizeof(alphabet) - 1)];
          n++;
        }
        break;
      default: /* truncate */ n = at; break;
      }
    }
    json_error_t err;
    json_t *j = json_loadb(buf, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    bool jansson_ok = j != NULL;
    json_decref(j);
    if (!jansson_ok &&
        (strstr(err.text, "too big") || strstr(err.text, "overflow") ||
         strstr(err.text, "NUL"))) { /* jansson's own limits, not JSON's */
      skipped++;
      continue;
    }
    bool ours = jscan_valid(buf, n);
    if (ours != jansson_ok) {
      fprintf(stderr, "  disagree (jscan %d, jansson %d: %s) on:\n  %.*s\n",
              ours, jansson_ok, jansson_ok ? "" : err.text, (int)n, buf);
      ASSERT_EQ_INT(ours, jansson_ok);
    }
    if (ours)
      agree_valid++;
    else
      agree_invalid++;
  }
  printf("  agreed on %d valid and %d invalid mutations (%d skipped)\n",
         agree_valid, agree_invalid, skipped);
  ASSERT_TRUE(agree_valid > 100);
  ASSERT_TRUE(agree_invalid > 10000);
}

/* Rows of numbers through the fast path: 1 = all rows read and the document
 * valid, 0 = some row is not 6 numbers (schema), -1 = invalid JSON. */
static int rows_verdict(const char *doc, size_t len, int64_t *last) {
  struct jscan s;
  jscan_init(&s, doc, len);
  if (jscan_next(&s) != J_ARR)
    return s.tok == J_ERR ? -1 : 0;
  for (;;) {
    enum jtok t = jscan_next(&s);
    if (t == J_ARR_END)
      break;
    if (t == J_ERR)
      return -1;
    if (t != J_ARR)
      return 0;
    int r = jscan_number_row(&s, 6, last);
    if (r <= 0)
      return r;
  }
  return jscan_next(&s) == J_EOF ? 1 : -1;
}

static void number_rows(void) {
  int64_t last = 0;
  const char *ok = " [ [1,2,3,4,5,6] , [7 , 8.5,-9e2,10,11,12] ] ";
  ASSERT_EQ_INT(rows_verdict(ok, strlen(ok), &last), 1);
  ASSERT_EQ_INT(last, 7);
  ASSERT_EQ_INT(rows_verdict("[]", 2, &last), 1);
  const char *schema[] = {"[[1,2,3]]",
                          "[[1.5,2,3,4,5,6]]",
                          "[[1,2,3,4,5,6,7]]",
                          "[[1,2,\"x\",4,5,6]]",
                          "[[]]",
                          "[7]"};
  for (size_t i = 0; i < sizeof(schema) / sizeof(schema[0]); i++)
    ASSERT_EQ_INT(rows_verdict(schema[i], strlen(schema[i]), &last), 0);
  const char *bad[] = {"[[1,2,3,4,5,6 7]]", "[[1,2,3,4,5,6]",   "[[1,2,3,4,5,",
                       "[[1,2,3,4,5,06]]",  "[[1,2,3,4,5,6]]]", "[[-,2]]"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    ASSERT_EQ_INT(rows_verdict(bad[i], strlen(bad[i]), &last), -1);
  /* differential: wherever the fast path decides, jansson agrees */
  const char seed[] = "[[1700000000000,100.5,101.25e0,99,-0.0,12.5E-3],"
                      "[1700000060000,1,2,3,4,5],[1700000120000,0,0,0,0,0]]";
  char buf[512];
  int decided = 0;
  for (int iter = 0; iter < 20000; iter++) {
    size_t n = sizeof(seed) - 1;
    memcpy(buf, seed, n);
    for (int e = 0; e < 2; e++) {
      size_t at = (size_t)(next_rand() % n);
      const char alphabet[] = "[],0123456789-+.eE \"x";
      if (next_rand() % 2)
        buf[at] = alphabet[next_rand() % (sizeof(alphabet) - 1)];
      else if (n > 1) {
        memmove(buf + at, buf + at + 1, n - at - 1);
        n--;
      }
    }
    int v = rows_verdict(buf, n, &last);
    if (v == 0)
      continue;
    json_error_t err;
    json_t *j = json_loadb(buf, n, JSON_DECODE_ANY, &err);
    bool jansson_ok = j != NULL;
    json_decref(j);
    if (!jansson_ok &&
        (strstr(err.text, "too big") || strstr(err.text, "overflow")))
      continue;
    if ((v == 1) != jansson_ok)
      fprintf(stderr, "  disagree (rows %d, jansson %d) on %.*s\n", v,
              jansson_ok, (int)n, buf);
    ASSERT_EQ_INT(v == 1, jansson_ok);
    decided++;
  }
  ASSERT_TRUE(decided > 5000);
}

TEST_MAIN(RUN_TEST(tokens); RUN_TEST(rejects); RUN_TEST(strings_and_numbers);
          RUN_TEST(differential); RUN_TEST(number_rows))
