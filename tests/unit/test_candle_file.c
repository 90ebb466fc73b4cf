/* test_candle_file.c: the CSV candle loader accepts good files exactly and
 * rejects every kind of bad input with "file:line:column" and the rule. */
#include "coin/candle_file.h"
#include "coin/error.h"
#include "harness.h"
#include "test.h"

#include <stdio.h>

#define HDR COIN_CANDLE_FILE_HEADER "\n"

static char dir[256];

/* Parses text as 1h data; returns rc and leaves the message in errbuf. */
static int parse_1h(struct coin_candle_file **out, const char *text) {
  return coin_candle_file_parse(out, text, strlen(text), "t.csv", COIN_TF_1H,
                                0);
}

static void good_rows_parse_exactly(void) {
  struct coin_candle_file *f = NULL;
  ASSERT_OK(parse_1h(&f, HDR "1502942400000,4261.48,4313.62,4261.32,"
                             "4308.83,47.181009\n"
                             "1502946000000,4308.83,4328.69,4291.37,"
                             "4315.32,23.234916\n"
                             "1502953200000,0.0039153,0.0039284,0.003765,"
                             "0.0038353,159004267.0\n"));
  ASSERT_EQ_INT(f->count, 3);
  ASSERT_EQ_INT(f->tf, COIN_TF_1H);
  ASSERT_EQ_INT(f->rows[0].open_ms, 1502942400000);
  ASSERT_EQ_DBL(f->rows[0].open, 4261.48);
  ASSERT_EQ_DBL(f->rows[0].high, 4313.62);
  ASSERT_EQ_DBL(f->rows[0].low, 4261.32);
  ASSERT_EQ_DBL(f->rows[0].close, 4308.83);
  ASSERT_EQ_DBL(f->rows[0].volume, 47.181009);
  ASSERT_EQ_DBL(f->rows[2].low, 0.003765);
  ASSERT_EQ_DBL(f->rows[2].volume, 159004267.0);
  /* A gap (1502949600000 missing) stays a gap. */
  ASSERT_EQ_INT(coin_candle_file_lower_bound(f, 1502949600000), 2);
  ASSERT_EQ_INT(coin_candle_file_lower_bound(f, 0), 0);
  ASSERT_EQ_INT(coin_candle_file_lower_bound(f, 1502953200001), 3);
  coin_candle_file_free(f);
}

static void header_only_and_crlf_and_no_final_newline(void) {
  struct coin_candle_file *f = NULL;
  ASSERT_OK(parse_1h(&f, COIN_CANDLE_FILE_HEADER));
  ASSERT_EQ_INT(f->count, 0);
  coin_candle_file_free(f);
  f = NULL;
  ASSERT_OK(parse_1h(&f, COIN_CANDLE_FILE_HEADER "\r\n"
                                                 "3600000,1,2,0.5,1.5,0\r\n"
                                                 "7200000,1,1,1,1,0"));
  ASSERT_EQ_INT(f->count, 2);
  ASSERT_EQ_DBL(f->rows[1].close, 1);
  coin_candle_file_free(f);
}

static void bad_header(void) {
  struct coin_candle_file *f = NULL;
  ASSERT_RC(parse_1h(&f, "open_time,open,high,low,close,volume\n"),
            COIN_EDECODE);
  ASSERT_CONTAINS(coin_error_last(), "t.csv:1:10: header");
  ASSERT_CONTAINS(coin_error_last(), "open_time_ms,open,high,low,close,volume");
  ASSERT_RC(parse_1h(&f, ""), COIN_EDECODE);
  ASSERT_CONTAINS(coin_error_last(), "empty file");
  ASSERT_RC(parse_1h(&f, COIN_CANDLE_FILE_HEADER ",extra\n"), COIN_EDECODE);
  ASSERT_CONTAINS(coin_error_last(), "t.csv:1:40: header");
  ASSERT_TRUE(f == NULL);
}

static void bad_number_names_line_and_column(void) {
  struct coin_candle_file *f = NULL;
  /* Column of the 'x' inside the high field: 15 + 8 + 5 = 28. */
  ASSERT_RC(parse_1h(&f, HDR "3600000,1,2,0.5,1.5,0\n"
                             "7200000,4261.48,4313.6x2,4261.32,4308.83,1\n"),
            COIN_EDECODE);
  ASSERT_CONTAINS(coin_error_last(), "t.csv:3:23: field high \"4313.6x2\"");
  ASSERT_CONTAINS(coin_error_last(), "not a decimal number");
  ASSERT_RC(parse_1h(&f, HDR "3600000,1,2,0.5,nan,0\n"), COIN_EDECODE);
  ASSERT_CONTAINS(coin_error_last(), "t.csv:2:17: field close \"nan\"");
  ASSERT_RC(parse_1h(&f, HDR "3600000,1,2,0.5,,0\n"), COIN_EDECODE);
  ASSERT_CONTAINS(coin_error_last(), "t.csv:2:17: field close is empty");
  ASSERT_RC(parse_1h(&f, HDR "3600000,1,2,0.5,1,1e999\n"), COIN_EDECODE);
  ASSERT_CONTAINS(coin_error_last(), "field volume \"1e999\": out of double");
  ASSERT_RC(parse_1h(&f, HDR "36000x0,1,2,0.5,1,1\n"), COIN_EDECODE);
  ASSERT_CONTAINS(coin_error_last(), "t.csv:2:6: field open_time_ms");
  ASSERT_RC(parse_1h(&f, HDR "99999999999999999999,1,2,0.5,1,1\n"),
            COIN_EDECODE);
  ASSERT_CONTAINS(coin_error_last(), "out of range");
  ASSERT_TRUE(f == NULL);
}

static void wrong_field_count(void) {
  struct coin_candle_file *f = NULL;
  ASSERT_RC(parse_1h(&f, HDR "3600000,1,2,0.5,1\n"), COIN_EDECODE);
  ASSERT_CONTAINS(coin_error_last(), "t.csv:2:18: line has 5 fields, want 6");
  ASSERT_RC(parse_1h(&f, HDR "3600000,1,2,0.5,1,1,9\n"), COIN_EDECODE);
  ASSERT_CONTAINS(coin_error_last(), "t.csv:2:20: more than 6 fields");
  ASSERT_RC(parse_1h(&f, HDR "3600000,1,2,0.5,1,1\n\n7200000,1,2,0.5,1,1\n"),
            COIN_EDECODE);
  ASSERT_CONTAINS(coin_error_last(), "t.csv:3:1: empty line");
}

static void unsorted_duplicate_unaligned(void) {
  struct coin_candle_file *f = NULL;
  ASSERT_RC(parse_1h(&f, HDR "7200000,1,2,0.5,1,1\n"
                             "3600000,1,2,0.5,1,1\n"),
            COIN_EDECODE);
  ASSERT_CONTAINS(coin_error_last(),
                  "t.csv:3:1: open_time_ms 3600000 is before 7200000 on line "
                  "2 (rule: rows sorted ascending)");
  ASSERT_RC(parse_1h(&f, HDR "3600000,1,2,0.5,1,1\n"
                             "7200000,1,2,0.5,1,1\n"
                             "7200000,1,2,0.5,1,1\n"),
            COIN_EDECODE);
  ASSERT_CONTAINS(coin_error_last(),
                  "t.csv:4:1: duplicate open_time_ms 7200000 (also on line 3");
  ASSERT_RC(parse_1h(&f, HDR "3600001,1,2,0.5,1,1\n"), COIN_EDECODE);
  ASSERT_CONTAINS(coin_error_last(), "t.csv:2:1: open_time_ms 3600001 not "
                                     "aligned to 1h");
  ASSERT_TRUE(f == NULL);
}

static void inconsistent_candle_unless_no_validate(void) {
  struct coin_candle_file *f = NULL;
  static const char text[] = HDR "3600000,1,0.5,2,1,1\n";
  ASSERT_RC(parse_1h(&f, text), COIN_EDECODE);
  ASSERT_CONTAINS(coin_error_last(), "t.csv:2:1: ");
  ASSERT_CONTAINS(coin_error_last(), "low <= high");
  ASSERT_OK(coin_candle_file_parse(&f, text, strlen(text), "t.csv", COIN_TF_1H,
                                   COIN_CANDLE_FILE_NO_VALIDATE));
  ASSERT_EQ_INT(f->count, 1);
  ASSERT_EQ_DBL(f->rows[0].high, 0.5);
  coin_candle_file_free(f);
}

static void load_from_disk_uses_the_name(void) {
  char path[512];
  struct coin_candle_file *f = NULL;
  snprintf(path, sizeof(path), "%s/KRW-BTC-1d.csv", dir);
  FILE *fp = fopen(path, "w");
  ASSERT_TRUE(fp != NULL);
  fputs(HDR "86400000,1,2,0.5,1.5,10\n172800000,1.5,2,1,1,0\n", fp);
  fclose(fp);
  ASSERT_OK(coin_candle_file_load(&f, path, 0));
  ASSERT_EQ_STR(f->symbol, "KRW-BTC");
  ASSERT_EQ_INT(f->tf, COIN_TF_1D);
  ASSERT_EQ_INT(f->count, 2);
  coin_candle_file_free(f);
  f = NULL;
  ASSERT_OK(coin_candle_file_load_dir(&f, dir, "KRW-BTC", COIN_TF_1D, 0));
  ASSERT_EQ_INT(f->rows[1].open_ms, 172800000);
  coin_candle_file_free(f);
  f = NULL;

  ASSERT_RC(coin_candle_file_load_dir(&f, dir, "BTCUSDT", COIN_TF_1H, 0),
            COIN_ENOTFOUND);
  ASSERT_CONTAINS(coin_error_last(), "BTCUSDT-1h.csv");
  snprintf(path, sizeof(path), "%s/BTCUSDT-5m.csv", dir);
  ASSERT_RC(coin_candle_file_load(&f, path, 0), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "BTCUSDT-5m.csv");
  snprintf(path, sizeof(path), "%s/btc.txt", dir);
  ASSERT_RC(coin_candle_file_load(&f, path, 0), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "<SYMBOL>-<tf>.csv");

  /* Content errors name the path. */
  snprintf(path, sizeof(path), "%s/ETHUSDT-1h.csv", dir);
  fp = fopen(path, "w");
  ASSERT_TRUE(fp != NULL);
  fputs(HDR "3600000,1,2,0.5,1,1\n3600000,1,2,0.5,1,1\n", fp);
  fclose(fp);
  ASSERT_RC(coin_candle_file_load(&f, path, 0), COIN_EDECODE);
  ASSERT_CONTAINS(coin_error_last(), "ETHUSDT-1h.csv:3:1: duplicate");
  ASSERT_TRUE(f == NULL);
}

static void name_parse(void) {
  char sym[33];
  enum coin_tf tf;
  ASSERT_OK(
      coin_candle_file_name_parse(sym, sizeof(sym), &tf, "BTCUSDT-1M.csv"));
  ASSERT_EQ_STR(sym, "BTCUSDT");
  ASSERT_EQ_INT(tf, COIN_TF_1MO);
  ASSERT_OK(
      coin_candle_file_name_parse(sym, sizeof(sym), &tf, "BTCUSDT-1m.csv"));
  ASSERT_EQ_INT(tf, COIN_TF_1M);
  ASSERT_RC(
      coin_candle_file_name_parse(sym, sizeof(sym), &tf, "btcusdt-1h.csv"),
      COIN_EINVAL);
  ASSERT_RC(coin_candle_file_name_parse(sym, sizeof(sym), &tf, "-1h.csv"),
            COIN_EINVAL);
  ASSERT_RC(coin_candle_file_name_parse(sym, sizeof(sym), &tf, "BTCUSDT.csv"),
            COIN_EINVAL);
}

static void setup(void) {
  ASSERT_OK(coin_test_tmpdir(dir, sizeof(dir), "candle_file"));
}

static void teardown(void) {
  coin_test_rmtree(dir);
}

TEST_MAIN(RUN_TEST(setup); RUN_TEST(good_rows_parse_exactly);
          RUN_TEST(header_only_and_crlf_and_no_final_newline);
          RUN_TEST(bad_header); RUN_TEST(bad_number_names_line_and_column);
          RUN_TEST(wrong_field_count); RUN_TEST(unsorted_duplicate_unaligned);
          RUN_TEST(inconsistent_candle_unless_no_validate);
          RUN_TEST(load_from_disk_uses_the_name); RUN_TEST(name_parse);
          RUN_TEST(teardown))
