/* test_buf.c: the capped buffer (coin_buf) and the JSON layer on it. */
#include "coin/buf.h"
#include "coin/error.h"
#include "coin/jbuf.h"
#include "test.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void cap_is_respected(void) {
  struct coin_buf b;
  coin_buf_init(&b, 8);
  ASSERT_OK(coin_buf_add(&b, "1234", 4));
  ASSERT_OK(coin_buf_add(&b, "5678", 4)); /* exactly the cap */
  ASSERT_EQ_INT(coin_buf_len(&b), 8);
  ASSERT_RC(coin_buf_add(&b, "9", 1), COIN_ETOOBIG);
  ASSERT_RC(coin_buf_addf(&b, "%d", 9), COIN_ETOOBIG);
  ASSERT_RC(coin_buf_adds(&b, "9"), COIN_ETOOBIG);
  ASSERT_CONTAINS(coin_error_last(), "cap is 8");
  ASSERT_EQ_STR(coin_buf_ptr(&b), "12345678"); /* unchanged */
  ASSERT_EQ_INT(coin_buf_len(&b), 8);
  ASSERT_TRUE(b.alloc_bytes <= 9); /* never more than cap + NUL */
  coin_buf_free(&b);

  /* One past in a single append is refused whole. */
  coin_buf_init(&b, 8);
  ASSERT_OK(coin_buf_add(&b, "abc", 3));
  ASSERT_RC(coin_buf_add(&b, "defghi", 6), COIN_ETOOBIG);
  ASSERT_EQ_STR(coin_buf_ptr(&b), "abc");
  ASSERT_OK(coin_buf_add(&b, "defgh", 5));
  ASSERT_EQ_STR(coin_buf_ptr(&b), "abcdefgh");
  coin_buf_free(&b);
}

static void grows(void) {
  struct coin_buf b;
  coin_buf_init(&b, (size_t)1 << 20);
  char want[10001];
  for (size_t i = 0; i < 10000; i++)
    want[i] = (char)('a' + i % 26);
  want[10000] = '\0';
  for (size_t i = 0; i < 10000; i += 7)
    ASSERT_OK(coin_buf_add(&b, want + i, i + 7 <= 10000 ? 7 : 10000 - i));
  ASSERT_EQ_INT(coin_buf_len(&b), 10000);
  ASSERT_EQ_STR(coin_buf_ptr(&b), want);
  ASSERT_TRUE(b.alloc_bytes >= 10001);
  coin_buf_free(&b);
  ASSERT_TRUE(b.p == NULL && b.len == 0);
  ASSERT_EQ_INT(b.cap_bytes, (size_t)1 << 20); /* usable again */
  ASSERT_OK(coin_buf_adds(&b, "again"));
  ASSERT_EQ_STR(coin_buf_ptr(&b), "again");
  coin_buf_free(&b);
  coin_buf_free(NULL);

  /* A cap of SIZE_MAX (no limit) must not overflow the growth bound. */
  coin_buf_init(&b, SIZE_MAX);
  ASSERT_OK(coin_buf_add(&b, want, 300));
  ASSERT_EQ_INT(coin_buf_len(&b), 300);
  coin_buf_free(&b);
}

static void take_hands_out_the_bytes(void) {
  struct coin_buf b;
  coin_buf_init(&b, 64);
  ASSERT_OK(coin_buf_adds(&b, "hello"));
  char *out = NULL;
  size_t len = 0;
  ASSERT_OK(coin_buf_take(&out, &len, &b));
  ASSERT_EQ_STR(out, "hello");
  ASSERT_EQ_INT(len, 5);
  free(out);
  ASSERT_TRUE(b.p == NULL);
  ASSERT_EQ_INT(coin_buf_len(&b), 0);
  ASSERT_EQ_STR(coin_buf_ptr(&b), "");
  ASSERT_EQ_INT(b.cap_bytes, 64);

  /* Empty: a "" the caller frees, never NULL. */
  ASSERT_OK(coin_buf_take(&out, NULL, &b));
  ASSERT_TRUE(out != NULL);
  ASSERT_EQ_STR(out, "");
  free(out);
  coin_buf_free(&b);
}

static void reset_keeps_the_memory(void) {
  struct coin_buf b;
  coin_buf_init(&b, 64);
  ASSERT_OK(coin_buf_adds(&b, "first"));
  char *p = b.p;
  coin_buf_reset(&b);
  ASSERT_EQ_INT(coin_buf_len(&b), 0);
  ASSERT_EQ_STR(coin_buf_ptr(&b), "");
  ASSERT_TRUE(b.p == p);
  ASSERT_OK(coin_buf_adds(&b, "second"));
  ASSERT_EQ_STR(coin_buf_ptr(&b), "second");
  coin_buf_truncate(&b, 3);
  ASSERT_EQ_STR(coin_buf_ptr(&b), "sec");
  coin_buf_truncate(&b, 10); /* longer than held: no change */
  ASSERT_EQ_STR(coin_buf_ptr(&b), "sec");
  coin_buf_free(&b);

  struct coin_buf never;
  coin_buf_init(&never, 4);
  coin_buf_reset(&never); /* nothing allocated yet */
  ASSERT_TRUE(never.p == NULL);
  coin_buf_free(&never);
}

static void printf_formats(void) {
  struct coin_buf b;
  coin_buf_init(&b, 1024);
  ASSERT_OK(coin_buf_addf(&b, "%s=%d,%.2f", "x", 42, 1.5));
  ASSERT_EQ_STR(coin_buf_ptr(&b), "x=42,1.50");
  /* Longer than the stack scratch: formatted straight into the buffer. */
  ASSERT_OK(coin_buf_addf(&b, "|%0300d|", 7));
  ASSERT_EQ_INT(coin_buf_len(&b), 9 + 302);
  ASSERT_TRUE(b.p[9] == '|' && b.p[10] == '0' && b.p[309] == '7');
  ASSERT_EQ_INT(b.p[coin_buf_len(&b)], '\0');
  coin_buf_free(&b);

  /* Past the cap either way: refused, contents unchanged. */
  coin_buf_init(&b, 300);
  ASSERT_OK(coin_buf_adds(&b, "ab"));
  ASSERT_RC(coin_buf_addf(&b, "%0400d", 1), COIN_ETOOBIG);
  ASSERT_RC(coin_buf_addf(&b, "%0299d", 1), COIN_ETOOBIG);
  ASSERT_EQ_STR(coin_buf_ptr(&b), "ab");
  ASSERT_OK(coin_buf_addf(&b, "%0298d", 1)); /* exactly the cap */
  ASSERT_EQ_INT(coin_buf_len(&b), 300);
  coin_buf_free(&b);
}

static void zero_length_adds(void) {
  struct coin_buf b;
  coin_buf_init(&b, 0);
  ASSERT_OK(coin_buf_add(&b, NULL, 0)); /* allocates: ptr is a string */
  ASSERT_TRUE(b.p != NULL);
  ASSERT_EQ_STR(b.p, "");
  ASSERT_OK(coin_buf_adds(&b, ""));
  ASSERT_OK(coin_buf_addf(&b, "%s", ""));
  ASSERT_RC(coin_buf_add(&b, "x", 1), COIN_ETOOBIG);
  ASSERT_EQ_INT(coin_buf_len(&b), 0);
  coin_buf_free(&b);

  coin_buf_init(&b, 4);
  ASSERT_OK(coin_buf_adds(&b, "full"));
  ASSERT_OK(coin_buf_add(&b, "", 0)); /* at the cap, nothing added: fine */
  ASSERT_EQ_STR(coin_buf_ptr(&b), "full");
  coin_buf_free(&b);
}

static void jbuf_on_the_capped_buffer(void) {
  struct coin_jbuf j = {0}; /* zero-initialized: the default text cap */
  coin_jbuf_puts(&j, "{");
  coin_jbuf_kstr(&j, "s", "t\tr\rn\nq\"\x01");
  coin_jbuf_knum(&j, "x", 29000.01);
  coin_jbuf_trim_comma(&j);
  coin_jbuf_puts(&j, "}");
  ASSERT_TRUE(j.p == j.buf.p && j.len == j.buf.len);
  ASSERT_EQ_INT(j.buf.cap_bytes, COIN_BUF_CAP_TEXT);
  char *out = NULL;
  size_t len = 0;
  ASSERT_OK(coin_jbuf_finish(&out, &len, &j));
  ASSERT_EQ_STR(out, "{\"s\":\"t\\tr\\rn\\nq\\\"\\u0001\",\"x\":29000.01}");
  ASSERT_EQ_INT(len, strlen(out));
  free(out);

  /* Past its cap: oom set, later appends ignored, finish says ETOOBIG. */
  coin_jbuf_init(&j, 4);
  coin_jbuf_puts(&j, "abcd");
  ASSERT_FALSE(j.oom);
  coin_jbuf_puts(&j, "e");
  ASSERT_TRUE(j.oom);
  ASSERT_EQ_INT(j.err, COIN_ETOOBIG);
  coin_jbuf_reset(&j);
  ASSERT_FALSE(j.oom);
  coin_jbuf_puts(&j, "ok");
  ASSERT_EQ_STR(j.p, "ok");
  coin_jbuf_puts(&j, "toolong");
  ASSERT_RC(coin_jbuf_finish(&out, NULL, &j), COIN_ETOOBIG);
  ASSERT_TRUE(j.p == NULL);

  /* A renderer's own failure (oom set by hand) is COIN_ENOMEM. */
  struct coin_jbuf k = {0};
  coin_jbuf_puts(&k, "x");
  k.oom = true;
  ASSERT_RC(coin_jbuf_finish(&out, NULL, &k), COIN_ENOMEM);

  /* Nothing written: "" */
  struct coin_jbuf e = {0};
  ASSERT_OK(coin_jbuf_finish(&out, NULL, &e));
  ASSERT_EQ_STR(out, "");
  free(out);
}

static void arrays_grow_by_doubling(void) {
  uint64_t *v = NULL;
  size_t cap = 0;
  ASSERT_OK(coin_grow(&v, &cap, 0, sizeof(*v), SIZE_MAX)); /* nothing to do */
  ASSERT_TRUE(v == NULL);
  ASSERT_EQ_INT(cap, 0);
  ASSERT_OK(coin_grow(&v, &cap, 1, sizeof(*v), SIZE_MAX));
  ASSERT_TRUE(v != NULL);
  ASSERT_EQ_INT(cap, COIN_GROW_MIN_ITEMS);
  for (size_t i = 0; i < 1000; i++) {
    ASSERT_OK(coin_grow(&v, &cap, i + 1, sizeof(*v), SIZE_MAX));
    v[i] = i * 7;
  }
  ASSERT_EQ_INT(cap, 1024); /* 16 doubled six times */
  for (size_t i = 0; i < 1000; i++)
    ASSERT_EQ_INT(v[i], i * 7); /* kept across the reallocations */
  uint64_t *same = v;
  ASSERT_OK(coin_grow(&v, &cap, 1024, sizeof(*v), SIZE_MAX)); /* fits */
  ASSERT_TRUE(v == same);
  ASSERT_OK(coin_grow(&v, &cap, 5000, sizeof(*v), SIZE_MAX)); /* one jump */
  ASSERT_EQ_INT(cap, 8192);
  free(v);
}

static void arrays_respect_their_cap(void) {
  int *v = NULL;
  size_t cap = 0;
  ASSERT_OK(coin_grow(&v, &cap, 10, sizeof(*v), 10));
  ASSERT_EQ_INT(cap, 10); /* the first allocation is clamped too */
  free(v);
  v = NULL;
  cap = 0;
  for (size_t i = 0; i < 100; i++)
    ASSERT_OK(coin_grow(&v, &cap, i + 1, sizeof(*v), 100));
  ASSERT_EQ_INT(cap, 100); /* 64 doubled would be 128: clamped */
  int *before = v;
  ASSERT_RC(coin_grow(&v, &cap, 101, sizeof(*v), 100), COIN_ETOOBIG);
  ASSERT_CONTAINS(coin_error_last(), "more than 100 items");
  ASSERT_TRUE(v == before); /* unchanged */
  ASSERT_EQ_INT(cap, 100);
  free(v);

  /* A size that does not fit in size_t is refused, nothing changed. */
  char *big = NULL;
  size_t big_cap = 0;
  ASSERT_RC(coin_grow(&big, &big_cap, SIZE_MAX / 2, 4, SIZE_MAX), COIN_ENOMEM);
  ASSERT_CONTAINS(coin_error_last(), "out of memory");
  ASSERT_TRUE(big == NULL);
  ASSERT_EQ_INT(big_cap, 0);
}

TEST_MAIN(RUN_TEST(cap_is_respected); RUN_TEST(grows);
          RUN_TEST(take_hands_out_the_bytes); RUN_TEST(reset_keeps_the_memory);
          RUN_TEST(printf_formats); RUN_TEST(zero_length_adds);
          RUN_TEST(jbuf_on_the_capped_buffer);
          RUN_TEST(arrays_grow_by_doubling); RUN_TEST(arrays_respect_their_cap))
