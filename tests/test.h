/*
 * test.h: the in-house test header. Typed assertions print both sides and the
 * location, then return from the current test function; the runner counts
 * results and ends with the plain "N passed, N failed" line.
 * Single-threaded: assertions must be called from the test's own thread.
 */
#ifndef COIN_TEST_H
#define COIN_TEST_H

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern int coin_test_failed_flag;
extern int coin_test_passed;
extern int coin_test_failed;

#define COIN_TEST_FAIL_(...)                                                   \
  do {                                                                         \
    fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                          \
    fprintf(stderr, __VA_ARGS__);                                              \
    fputc('\n', stderr);                                                       \
    coin_test_failed_flag = 1;                                                 \
    return;                                                                    \
  } while (0)

#define ASSERT_TRUE(c)                                                         \
  do {                                                                         \
    if (!(c))                                                                  \
      COIN_TEST_FAIL_("ASSERT_TRUE(%s) failed", #c);                           \
  } while (0)

#define ASSERT_FALSE(c)                                                        \
  do {                                                                         \
    if (c)                                                                     \
      COIN_TEST_FAIL_("ASSERT_FALSE(%s) failed", #c);                          \
  } while (0)

#define ASSERT_EQ_INT(a, b)                                                    \
  do {                                                                         \
    long long a_ = (long long)(a), b_ = (long long)(b);                        \
    if (a_ != b_)                                                              \
      COIN_TEST_FAIL_("ASSERT_EQ_INT(%s, %s): %lld != %lld", #a, #b, a_, b_);  \
  } while (0)

#define ASSERT_NE_INT(a, b)                                                    \
  do {                                                                         \
    long long a_ = (long long)(a), b_ = (long long)(b);                        \
    if (a_ == b_)                                                              \
      COIN_TEST_FAIL_("ASSERT_NE_INT(%s, %s): both %lld", #a, #b, a_);         \
  } while (0)

#define ASSERT_LE_INT(a, b)                                                    \
  do {                                                                         \
    long long a_ = (long long)(a), b_ = (long long)(b);                        \
    if (!(a_ <= b_))                                                           \
      COIN_TEST_FAIL_("ASSERT_LE_INT(%s, %s): %lld > %lld", #a, #b, a_, b_);   \
  } while (0)

#define ASSERT_LT_INT(a, b)                                                    \
  do {                                                                         \
    long long a_ = (long long)(a), b_ = (long long)(b);                        \
    if (!(a_ < b_))                                                            \
      COIN_TEST_FAIL_("ASSERT_LT_INT(%s, %s): %lld >= %lld", #a, #b, a_, b_);  \
  } while (0)

/* Exact double equality (we compare values that must round-trip bit for bit).
 */
#define ASSERT_EQ_DBL(a, b)                                                    \
  do {                                                                         \
    double a_ = (double)(a), b_ = (double)(b);                                 \
    if (!(a_ == b_))                                                           \
      COIN_TEST_FAIL_("ASSERT_EQ_DBL(%s, %s): %.17g != %.17g", #a, #b, a_,     \
                      b_);                                                     \
  } while (0)

#define ASSERT_NEAR(a, b, eps)                                                 \
  do {                                                                         \
    double a_ = (double)(a), b_ = (double)(b);                                 \
    if (!(fabs(a_ - b_) <= (eps)))                                             \
      COIN_TEST_FAIL_("ASSERT_NEAR(%s, %s): %.17g vs %.17g", #a, #b, a_, b_);  \
  } while (0)

#define ASSERT_EQ_STR(a, b)                                                    \
  do {                                                                         \
    const char *a_ = (a), *b_ = (b);                                           \
    if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)                       \
      COIN_TEST_FAIL_("ASSERT_EQ_STR(%s, %s): \"%s\" != \"%s\"", #a, #b,       \
                      a_ ? a_ : "(null)", b_ ? b_ : "(null)");                 \
  } while (0)

/* Substring check, for error texts that must name a field or a rule. */
#define ASSERT_CONTAINS(hay, needle)                                           \
  do {                                                                         \
    const char *h_ = (hay), *n_ = (needle);                                    \
    if (h_ == NULL || strstr(h_, n_) == NULL)                                  \
      COIN_TEST_FAIL_("ASSERT_CONTAINS(%s, %s): \"%s\" lacks \"%s\"", #hay,    \
                      #needle, h_ ? h_ : "(null)", n_);                        \
  } while (0)

/* 0 = success in this project; on failure print the library's last error. */
#define ASSERT_OK(expr)                                                        \
  do {                                                                         \
    int rc_ = (expr);                                                          \
    if (rc_ != 0)                                                              \
      COIN_TEST_FAIL_("ASSERT_OK(%s): rc=%d (%s)", #expr, rc_,                 \
                      coin_error_last());                                      \
  } while (0)

#define ASSERT_RC(expr, want)                                                  \
  do {                                                                         \
    int rc_ = (expr);                                                          \
    if (rc_ != (want))                                                         \
      COIN_TEST_FAIL_("ASSERT_RC(%s): rc=%d, want %d (%s)", #expr, rc_,        \
                      (int)(want), coin_error_last());                         \
  } while (0)

typedef void (*coin_test_fn)(void);
void coin_test_run(const char *name, coin_test_fn fn);
int coin_test_main_begin(int argc, char **argv);
int coin_test_summary(void);

#define RUN_TEST(fn) coin_test_run(#fn, fn)

/* Declares main(): list the tests in the block. Filter by name: argv[1]
 * (a substring, "=name" for one case, "..name" for the cases up to name;
 * setup and teardown always run). CTest has each case as <exe>.<case> too
 * (label "case"): ctest -R name runs "=name" for a unit test and "..name"
 * for an integration test, whose cases build on the ones before. */
#define TEST_MAIN(...)                                                         \
  int main(int argc, char **argv) {                                            \
    coin_test_main_begin(argc, argv);                                          \
    __VA_ARGS__;                                                               \
    return coin_test_summary();                                                \
  }

const char *coin_error_last(void);

#endif
