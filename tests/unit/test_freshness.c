/* test_freshness.c: the shared freshness evaluator, table-driven over every
 * timeframe, with 1w/1M calendar boundaries and clock edge cases. */
#include "coin/error.h"
#include "coin/file.h"
#include "coin/freshness.h"
#include "test.h"

#define MIN COIN_MINUTE_MS
#define HOUR COIN_HOUR_MS
#define DAY COIN_DAY_MS

static int64_t utc(int y, int m, int d, int h, int mi) {
  return coin_tf_from_civil(y, m, d) + h * HOUR + mi * MIN;
}

struct row {
  const char *name;
  enum coin_tf tf;
  int64_t last_open;
  int64_t now;
  enum coin_fresh_state want;
  int64_t want_missing;
};

static void table(void) {
  /* Defaults: soft = max(30 s, L/30), hard = max(3 min, L/12): 1m 30 s /
   * 3 min, 1h 2 / 5 min, 1d 48 min / 2 h, 1w 336 min / 14 h, 1M 24 / 60 h. */
  const struct row rows[] = {
      /* 1h: the 10:00 candle closes at 11:00; 11:00 is due at 12:00. */
      {"1h current", COIN_TF_1H, utc(2024, 3, 1, 10, 0), utc(2024, 3, 1, 11, 0),
       COIN_STATE_FRESH, 0},
      {"1h next not yet due", COIN_TF_1H, utc(2024, 3, 1, 10, 0),
       utc(2024, 3, 1, 11, 59), COIN_STATE_FRESH, 0},
      {"1h one missing, within soft", COIN_TF_1H, utc(2024, 3, 1, 10, 0),
       utc(2024, 3, 1, 12, 2), COIN_STATE_FRESH, 1},
      {"1h one missing, past soft", COIN_TF_1H, utc(2024, 3, 1, 10, 0),
       utc(2024, 3, 1, 12, 2) + 1, COIN_STATE_SOFT_STALE, 1},
      {"1h exactly at hard is still soft", COIN_TF_1H, utc(2024, 3, 1, 10, 0),
       utc(2024, 3, 1, 12, 5), COIN_STATE_SOFT_STALE, 1},
      {"1h hard", COIN_TF_1H, utc(2024, 3, 1, 10, 0),
       utc(2024, 3, 1, 12, 5) + 1, COIN_STATE_HARD_STALE, 1},
      {"1h long outage", COIN_TF_1H, utc(2024, 3, 1, 10, 0),
       utc(2024, 3, 2, 10, 0), COIN_STATE_HARD_STALE, 23},
      /* 1m: 10:00 closes 10:01; 10:01 is due at 10:02. */
      {"1m fresh", COIN_TF_1M, utc(2024, 3, 1, 10, 0), utc(2024, 3, 1, 10, 1),
       COIN_STATE_FRESH, 0},
      {"1m soft", COIN_TF_1M, utc(2024, 3, 1, 10, 0),
       utc(2024, 3, 1, 10, 2) + 30001, COIN_STATE_SOFT_STALE, 1},
      {"1m hard", COIN_TF_1M, utc(2024, 3, 1, 10, 0),
       utc(2024, 3, 1, 10, 5) + 1, COIN_STATE_HARD_STALE, 4},
      /* 1d across a year end and a leap day */
      {"1d year end fresh", COIN_TF_1D, utc(2023, 12, 31, 0, 0),
       utc(2024, 1, 1, 0, 30), COIN_STATE_FRESH, 0},
      {"1d year end, 47 min overdue", COIN_TF_1D, utc(2023, 12, 31, 0, 0),
       utc(2024, 1, 2, 0, 48), COIN_STATE_FRESH, 1},
      {"1d year end soft", COIN_TF_1D, utc(2023, 12, 31, 0, 0),
       utc(2024, 1, 2, 0, 48) + 1, COIN_STATE_SOFT_STALE, 1},
      {"1d leap day hard", COIN_TF_1D, utc(2024, 2, 28, 0, 0),
       utc(2024, 3, 1, 2, 0) + 1, COIN_STATE_HARD_STALE, 1},
      {"1d leap day counted", COIN_TF_1D, utc(2024, 2, 27, 0, 0),
       utc(2024, 3, 1, 12, 0), COIN_STATE_HARD_STALE, 2},
      /* 1w: Monday 2024-01-01 opens a week closing 01-08; 01-08 due 01-15. */
      {"1w fresh on Sunday", COIN_TF_1W, utc(2024, 1, 1, 0, 0),
       utc(2024, 1, 14, 23, 59), COIN_STATE_FRESH, 0},
      {"1w 10 min past Monday 00:00", COIN_TF_1W, utc(2024, 1, 1, 0, 0),
       utc(2024, 1, 15, 0, 10), COIN_STATE_FRESH, 1},
      {"1w soft", COIN_TF_1W, utc(2024, 1, 1, 0, 0),
       utc(2024, 1, 15, 5, 36) + 1, COIN_STATE_SOFT_STALE, 1},
      {"1w hard", COIN_TF_1W, utc(2024, 1, 1, 0, 0),
       utc(2024, 1, 15, 14, 0) + 1, COIN_STATE_HARD_STALE, 1},
      /* 1M: February 2024 (29 days) closes 03-01; March is due 04-01. */
      {"1M fresh through March", COIN_TF_1MO, utc(2024, 2, 1, 0, 0),
       utc(2024, 3, 31, 23, 59), COIN_STATE_FRESH, 0},
      {"1M March overdue, within soft", COIN_TF_1MO, utc(2024, 2, 1, 0, 0),
       utc(2024, 4, 1, 23, 59), COIN_STATE_FRESH, 1},
      {"1M soft", COIN_TF_1MO, utc(2024, 2, 1, 0, 0), utc(2024, 4, 2, 0, 0) + 1,
       COIN_STATE_SOFT_STALE, 1},
      {"1M hard", COIN_TF_1MO, utc(2024, 2, 1, 0, 0),
       utc(2024, 4, 3, 12, 0) + 1, COIN_STATE_HARD_STALE, 1},
      {"1M year end", COIN_TF_1MO, utc(2023, 11, 1, 0, 0),
       utc(2024, 1, 15, 0, 0), COIN_STATE_HARD_STALE, 1},
      /* Clock edges: a candle from the future (clock skew) is fresh. */
      {"future candle", COIN_TF_1H, utc(2024, 3, 1, 12, 0),
       utc(2024, 3, 1, 11, 30), COIN_STATE_FRESH, 0},
      {"no candle", COIN_TF_1H, -1, utc(2024, 3, 1, 11, 30),
       COIN_STATE_INSUFFICIENT_DATA, 0},
  };
  struct coin_freshness_policy p;
  coin_freshness_policy_default(&p);
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    struct coin_freshness f;
    struct coin_freshness_input in = {
        .tf = rows[i].tf, .last_open_ms = rows[i].last_open, .n_candles = 100};
    coin_freshness_eval(&f, &p, &in, rows[i].now);
    if (f.state != rows[i].want || f.missing_candles != rows[i].want_missing)
      fprintf(stderr, "  row \"%s\": state %s missing %lld\n", rows[i].name,
              coin_codec_state_name(f.state), (long long)f.missing_candles);
    ASSERT_EQ_STR(coin_codec_state_name(f.state),
                  coin_codec_state_name(rows[i].want));
    ASSERT_EQ_INT(f.missing_candles, rows[i].want_missing);
  }
}

static void at_least_as_strict_as_freqtrade(void) {
  /* freqtrade: outdated when the newest candle is older than 2 x tf + 5 min
   * (measured from its open time). Just past that, the intraday timeframes
   * (1m, 1h) must be hard_stale; 1d and longer get room proportional to
   * their length (docs/freshness.md). */
  struct coin_freshness_policy p;
  coin_freshness_policy_default(&p);
  const enum coin_tf tfs[] = {COIN_TF_1M, COIN_TF_1H};
  for (size_t i = 0; i < 2; i++) {
    int64_t last = coin_tf_floor(tfs[i], utc(2024, 5, 6, 0, 0));
    int64_t now = last + 2 * coin_tf_nominal_ms(tfs[i]) + 5 * MIN + 1;
    struct coin_freshness f;
    struct coin_freshness_input in = {
        .tf = tfs[i], .last_open_ms = last, .n_candles = 10};
    coin_freshness_eval(&f, &p, &in, now);
    ASSERT_EQ_STR(coin_codec_state_name(f.state), "hard_stale");
  }
}

static void corrupt_and_min_candles_take_precedence(void) {
  struct coin_freshness_policy p;
  coin_freshness_policy_default(&p);
  p.min_candles = 50;
  struct coin_freshness f;
  struct coin_freshness_input in = {
      .tf = COIN_TF_1H, .last_open_ms = utc(2024, 1, 1, 0, 0), .n_candles = 10};
  coin_freshness_eval(&f, &p, &in, utc(2024, 1, 1, 1, 0));
  ASSERT_EQ_INT(f.state, COIN_STATE_INSUFFICIENT_DATA);
  in.corrupt = true;
  coin_freshness_eval(&f, &p, &in, utc(2024, 1, 1, 1, 0));
  ASSERT_EQ_INT(f.state, COIN_STATE_CORRUPT);
}

static void worst_and_blocked(void) {
  ASSERT_EQ_INT(coin_freshness_worst(COIN_STATE_FRESH, COIN_STATE_SOFT_STALE),
                COIN_STATE_SOFT_STALE);
  ASSERT_EQ_INT(
      coin_freshness_worst(COIN_STATE_HARD_STALE, COIN_STATE_SOFT_STALE),
      COIN_STATE_HARD_STALE);
  ASSERT_EQ_INT(coin_freshness_worst(COIN_STATE_CORRUPT, COIN_STATE_FRESH),
                COIN_STATE_CORRUPT);
  ASSERT_FALSE(coin_freshness_blocked(COIN_STATE_SOFT_STALE_ESCALATED));
  ASSERT_TRUE(coin_freshness_blocked(COIN_STATE_HARD_STALE));
  ASSERT_TRUE(coin_freshness_blocked(COIN_STATE_CORRUPT));
  ASSERT_TRUE(coin_freshness_blocked(COIN_STATE_INSUFFICIENT_DATA));
  ASSERT_FALSE(coin_freshness_blocked(COIN_STATE_FRESH));
}

static void settings_from_env(void) {
  const char *envp[] = {"FRESHNESS_SOFT_AFTER_SECONDS_1h=30",
                        "FRESHNESS_HARD_AFTER_SECONDS_1h=90", NULL};
  struct coin_env env = coin_env_envp(envp);
  struct coin_freshness_settings s = {0};
  struct coin_cfg_errors errs = {0};
  ASSERT_OK(coin_cfg_load(&s, coin_freshness_vars, coin_freshness_var_count,
                          &env, &errs));
  struct coin_freshness_policy p;
  ASSERT_OK(coin_freshness_policy_from(&p, &s));
  ASSERT_EQ_INT(p.soft_after_ms[COIN_TF_1H], 30000);
  ASSERT_EQ_INT(p.hard_after_ms[COIN_TF_1D], 120 * MIN);
  s.soft_seconds[COIN_TF_1W] = s.hard_seconds[COIN_TF_1W];
  ASSERT_RC(coin_freshness_policy_from(&p, &s), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "FRESHNESS_SOFT_AFTER_SECONDS_1w");
  coin_cfg_errors_free(&errs);
}

static void reasons(void) {
  unsigned r = 0;
  ASSERT_OK(coin_degraded_reason_parse(&r, "model_too_old"));
  ASSERT_EQ_INT(r, COIN_DEGRADED_MODEL_TOO_OLD);
  ASSERT_EQ_STR(coin_degraded_reason_name(COIN_DEGRADED_NO_MODEL), "no_model");
  ASSERT_RC(coin_degraded_reason_parse(&r, "bad"), COIN_EINVAL);
  /* the champion watch's reason: a name and a parse, named in the error */
  ASSERT_OK(coin_degraded_reason_parse(&r, "champion_underperforming"));
  ASSERT_EQ_INT(r, COIN_DEGRADED_CHAMPION_UNDERPERFORMING);
  ASSERT_EQ_STR(
      coin_degraded_reason_name(COIN_DEGRADED_CHAMPION_UNDERPERFORMING),
      "champion_underperforming");
  ASSERT_RC(coin_degraded_reason_parse(&r, "champion"), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "champion_underperforming");
}

/* docs/configuration.md holds exactly the rows the freshness table prints
 * (COIN_PRINT_DOC_ROWS=1 prints them, to regenerate). */
static void docs_in_sync(void) {
  char path[1024], *rows = NULL, *doc = NULL;
  size_t rows_len = 0, doc_len = 0;
  snprintf(path, sizeof(path), "%s", __FILE__);
  char *cut = strstr(path, "tests/unit/test_freshness.c");
  ASSERT_TRUE(cut != NULL);
  strcpy(cut, "docs/configuration.md");
  FILE *m = open_memstream(&rows, &rows_len);
  ASSERT_TRUE(m != NULL);
  ASSERT_OK(
      coin_cfg_doc_rows(m, coin_freshness_vars, coin_freshness_var_count));
  fclose(m);
  if (getenv("COIN_PRINT_DOC_ROWS"))
    fputs(rows, stdout);
  ASSERT_OK(coin_file_read(&doc, &doc_len, path, 1 << 20));
  for (char *line = rows; *line;) {
    char *eol = strchr(line, '\n');
    *eol = '\0';
    if (strstr(doc, line) == NULL)
      fprintf(stderr, "  %s lacks the row (regenerate it):\n%s\n", path, line);
    ASSERT_TRUE(strstr(doc, line) != NULL);
    line = eol + 1;
  }
  free(rows);
  free(doc);
}

TEST_MAIN(RUN_TEST(table); RUN_TEST(at_least_as_strict_as_freqtrade);
          RUN_TEST(corrupt_and_min_candles_take_precedence);
          RUN_TEST(worst_and_blocked); RUN_TEST(settings_from_env);
          RUN_TEST(reasons); RUN_TEST(docs_in_sync))
