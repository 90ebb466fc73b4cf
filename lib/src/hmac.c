/* hmac.c: SHA-256 and HMAC-SHA256 over OpenSSL EVP (see hmac.h). */
#include "coin/hmac.h"

#include "coin/error.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

void coin_hex_encode(char *out, const uint8_t *bytes, size_t n) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[bytes[i] >> 4];
    out[2 * i + 1] = digits[bytes[i] & 15];
  }
  out[2 * n] = '\0';
}

int coin_sha256(uint8_t out[COIN_SHA256_BYTES], const void *data, size_t len) {
  unsigned int n = 0;
  uint8_t md[EVP_MAX_MD_SIZE];
  if (data == NULL && len > 0)
    return coin_error_set(COIN_EINVAL, "sha256: NULL data with length %zu",
                          len);
  if (EVP_Digest(data ? data : "", len, md, &n, EVP_sha256(), NULL) != 1 ||
      n != COIN_SHA256_BYTES)
    return coin_error_set(COIN_EINTERNAL, "sha256: OpenSSL EVP_Digest failed");
  memcpy(out, md, COIN_SHA256_BYTES);
  return 0;
}

int coin_sha256_hex(char out[COIN_SHA256_HEX_BYTES], const void *data,
                    size_t len) {
  uint8_t md[COIN_SHA256_BYTES];
  int rc = coin_sha256(md, data, len);
  if (rc == 0)
    coin_hex_encode(out, md, sizeof(md));
  return rc;
}

int coin_hmac_sha256(uint8_t out[COIN_SHA256_BYTES], const void *key,
                     size_t key_len, const void *data, size_t len) {
  uint8_t md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  static const uint8_t empty[1] = {0};
  if ((key == NULL && key_len > 0) || (data == NULL && len > 0))
    return coin_error_set(COIN_EINVAL, "hmac-sha256: NULL key or data");
  if (key_len > (size_t)INT32_MAX)
    return coin_error_set(COIN_ETOOBIG, "hmac-sha256: key of %zu bytes",
                          key_len);
  if (HMAC(EVP_sha256(), key ? key : empty, (int)key_len, data ? data : empty,
           len, md, &n) == NULL ||
      n != COIN_SHA256_BYTES)
    return coin_error_set(COIN_EINTERNAL, "hmac-sha256: OpenSSL HMAC failed");
  memcpy(out, md, COIN_SHA256_BYTES);
  return 0;
}

int coin_hmac_sha256_signature(char out[COIN_HMAC_SIGNATURE_BYTES],
                               const void *key, size_t key_len,
                               const void *data, size_t len) {
  uint8_t md[COIN_SHA256_BYTES];
  int rc = coin_hmac_sha256(md, key, key_len, data, len);
  if (rc != 0)
    return rc;
  memcpy(out, COIN_HMAC_SIGNATURE_PREFIX, 7);
  coin_hex_encode(out + 7, md, sizeof(md));
  return 0;
}

static int hex_value(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int coin_hmac_sha256_verify(const char *signature, const void *key,
                            size_t key_len, const void *data, size_t len) {
  uint8_t want[COIN_SHA256_BYTES], got[COIN_SHA256_BYTES];
  if (signature == NULL)
    return coin_error_set(COIN_EINVAL, "signature missing (rule: "
                                       "sha256=<64 hex digits>)");
  if (strncmp(signature, COIN_HMAC_SIGNATURE_PREFIX, 7) != 0 ||
      strlen(signature) != 7 + 2 * COIN_SHA256_BYTES)
    return coin_error_set(COIN_EINVAL,
                          "signature \"%.80s\": want sha256=<64 hex digits>",
                          signature);
  for (size_t i = 0; i < COIN_SHA256_BYTES; i++) {
    int hi = hex_value((unsigned char)signature[7 + 2 * i]);
    int lo = hex_value((unsigned char)signature[8 + 2 * i]);
    if (hi < 0 || lo < 0)
      return coin_error_set(COIN_EINVAL,
                            "signature: character %zu is not a hex digit "
                            "(rule: sha256=<64 hex digits>)",
                            7 + 2 * i + (hi < 0 ? 0 : 1));
    got[i] = (uint8_t)(hi << 4 | lo);
  }
  int rc = coin_hmac_sha256(want, key, key_len, data, len);
  if (rc != 0)
    return rc;
  if (CRYPTO_memcmp(want, got, sizeof(want)) != 0)
    return coin_error_set(COIN_EREJECTED,
                          "signature does not match the body (HMAC-SHA256 "
                          "with the shared secret)");
  return 0;
}
