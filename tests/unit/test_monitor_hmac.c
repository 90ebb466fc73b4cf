/* test_monitor_hmac.c: SHA-256 and HMAC-SHA256 (lib/src/hmac.c) against the
 * FIPS 180-2 and RFC 4231 vectors, and the webhook signature header check
 * that coin-monitor's receivers use. */
#include "coin/error.h"
#include "coin/hmac.h"
#include "test.h"

static void sha256_vectors(void) {
  char hex[COIN_SHA256_HEX_BYTES];
  ASSERT_OK(coin_sha256_hex(hex, "", 0));
  ASSERT_EQ_STR(
      hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  ASSERT_OK(coin_sha256_hex(hex, "abc", 3));
  ASSERT_EQ_STR(
      hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  ASSERT_OK(coin_sha256_hex(
      hex, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56));
  ASSERT_EQ_STR(
      hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  ASSERT_RC(coin_sha256_hex(hex, NULL, 3), COIN_EINVAL);
}

static void hmac_rfc4231(void) {
  char sig[COIN_HMAC_SIGNATURE_BYTES];
  unsigned char key1[20], key6[131];
  memset(key1, 0x0b, sizeof(key1));
  memset(key6, 0xaa, sizeof(key6));
  ASSERT_OK(coin_hmac_sha256_signature(sig, key1, sizeof(key1), "Hi There", 8));
  ASSERT_EQ_STR(sig, "sha256=b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da7"
                     "26e9376c2e32cff7");
  ASSERT_OK(coin_hmac_sha256_signature(sig, "Jefe", 4,
                                       "what do ya want for nothing?", 28));
  ASSERT_EQ_STR(sig, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d273983"
                     "9dec58b964ec3843");
  const char *d6 = "Test Using Larger Than Block-Size Key - Hash Key First";
  ASSERT_OK(
      coin_hmac_sha256_signature(sig, key6, sizeof(key6), d6, strlen(d6)));
  ASSERT_EQ_STR(sig, "sha256=60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c514"
                     "0546040f0ee37f54");
}

static void verify_header(void) {
  const char *body = "{\"alert_id\":\"x\"}";
  char sig[COIN_HMAC_SIGNATURE_BYTES];
  ASSERT_OK(coin_hmac_sha256_signature(sig, "s3cret", 6, body, strlen(body)));
  ASSERT_OK(coin_hmac_sha256_verify(sig, "s3cret", 6, body, strlen(body)));
  /* upper-case hex is the same signature */
  char upper[COIN_HMAC_SIGNATURE_BYTES];
  memcpy(upper, sig, sizeof(sig));
  for (char *p = upper + 7; *p; p++)
    if (*p >= 'a' && *p <= 'f')
      *p = (char)(*p - 'a' + 'A');
  ASSERT_OK(coin_hmac_sha256_verify(upper, "s3cret", 6, body, strlen(body)));
  /* another secret, another body, a flipped digit: rejected */
  ASSERT_RC(coin_hmac_sha256_verify(sig, "s3cret!", 7, body, strlen(body)),
            COIN_EREJECTED);
  ASSERT_RC(coin_hmac_sha256_verify(sig, "s3cret", 6, body, strlen(body) - 1),
            COIN_EREJECTED);
  sig[20] = sig[20] == '0' ? '1' : '0';
  ASSERT_RC(coin_hmac_sha256_verify(sig, "s3cret", 6, body, strlen(body)),
            COIN_EREJECTED);
  /* malformed values name the rule */
  ASSERT_RC(coin_hmac_sha256_verify(NULL, "k", 1, "", 0), COIN_EINVAL);
  ASSERT_RC(coin_hmac_sha256_verify("sha1=abcd", "k", 1, "", 0), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "sha256=<64 hex digits>");
  char bad[COIN_HMAC_SIGNATURE_BYTES];
  memcpy(bad, sig, sizeof(sig));
  bad[30] = 'g';
  ASSERT_RC(coin_hmac_sha256_verify(bad, "s3cret", 6, body, strlen(body)),
            COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "hex digit");
}

TEST_MAIN(RUN_TEST(sha256_vectors); RUN_TEST(hmac_rfc4231);
          RUN_TEST(verify_header))
