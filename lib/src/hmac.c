/* hmac.c: SHA-256 and HMAC-SHA256 over OpenSSL EVP (see hmac.h). */
#include "coin/hmac.h"

#include "coin/error.h"

#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
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

int coin_hex_digit(int c) {
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
    int hi = coin_hex_digit((unsigned char)signature[7 + 2 * i]);
    int lo = coin_hex_digit((unsigned char)signature[8 + 2 * i]);
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

/* ---- timestamped webhook signatures ------------------------------------- */

/* HMAC-SHA256(key, "<ts>.<body>") */
static int webhook_mac(uint8_t out[COIN_SHA256_BYTES], const void *key,
                       size_t key_len, int64_t ts, const void *body,
                       size_t len) {
  char prefix[24];
  int np = snprintf(prefix, sizeof(prefix), "%" PRId64 ".", ts);
  if (body == NULL && len > 0)
    return coin_error_set(COIN_EINVAL, "webhook signature: NULL body");
  if (len > SIZE_MAX - sizeof(prefix))
    return coin_error_set(COIN_ETOOBIG, "webhook signature: body of %zu bytes",
                          len);
  char *msg = malloc((size_t)np + len + 1);
  if (msg == NULL)
    return coin_error_set(COIN_ENOMEM, "webhook signature: out of memory");
  memcpy(msg, prefix, (size_t)np);
  if (len > 0)
    memcpy(msg + np, body, len);
  int rc = coin_hmac_sha256(out, key, key_len, msg, (size_t)np + len);
  free(msg);
  return rc;
}

int coin_hmac_webhook_sign(char out[COIN_WEBHOOK_SIGNATURE_BYTES],
                           const void *key, size_t key_len, int64_t ts_seconds,
                           const void *body, size_t len) {
  uint8_t md[COIN_SHA256_BYTES];
  char hex[COIN_SHA256_HEX_BYTES];
  if (ts_seconds < 0)
    return coin_error_set(COIN_EINVAL,
                          "webhook signature: timestamp %" PRId64
                          " (rule: unix seconds >= 0)",
                          ts_seconds);
  int rc = webhook_mac(md, key, key_len, ts_seconds, body, len);
  if (rc != 0)
    return rc;
  coin_hex_encode(hex, md, sizeof(md));
  snprintf(out, COIN_WEBHOOK_SIGNATURE_BYTES, "t=%" PRId64 ",v1=%s", ts_seconds,
           hex);
  return 0;
}

/* Parses 64 hex digits at p into out; false when they are not that. */
static bool parse_hex32(uint8_t out[COIN_SHA256_BYTES], const char *p,
                        size_t n) {
  if (n != 2 * COIN_SHA256_BYTES)
    return false;
  for (size_t i = 0; i < COIN_SHA256_BYTES; i++) {
    int hi = coin_hex_digit((unsigned char)p[2 * i]);
    int lo = coin_hex_digit((unsigned char)p[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return false;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return true;
}

#define WEBHOOK_RULE "rule: t=<unix seconds>,v1=<64 hex digits>"
#define WEBHOOK_MAX_V1 8 /* v1 entries looked at (secret rotation) */

int coin_hmac_webhook_verify(int64_t *out_ts, const char *header,
                             const void *key, size_t key_len, const void *body,
                             size_t len, int64_t now_seconds,
                             int64_t tolerance_seconds) {
  uint8_t got[WEBHOOK_MAX_V1][COIN_SHA256_BYTES], want[COIN_SHA256_BYTES];
  size_t n_v1 = 0;
  int64_t ts = -1;
  if (header == NULL)
    return coin_error_set(COIN_EINVAL, "signature missing (" WEBHOOK_RULE ")");
  for (const char *p = header; *p;) {
    const char *end = strchr(p, ',');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    if (n > 2 && p[0] == 't' && p[1] == '=') {
      int64_t v = 0;
      for (size_t i = 2; i < n; i++) {
        if (p[i] < '0' || p[i] > '9' || i > 20 ||
            v > (INT64_MAX - (p[i] - '0')) / 10)
          return coin_error_set(COIN_EINVAL,
                                "signature timestamp \"%.*s\" is not unix "
                                "seconds (" WEBHOOK_RULE ")",
                                (int)(n < 40 ? n : 40), p);
        v = v * 10 + (p[i] - '0');
      }
      if (ts >= 0)
        return coin_error_set(COIN_EINVAL, "signature has two timestamps "
                                           "(" WEBHOOK_RULE ")");
      ts = v;
    } else if (n > 3 && !strncmp(p, "v1=", 3)) {
      if (n_v1 < WEBHOOK_MAX_V1) {
        if (!parse_hex32(got[n_v1], p + 3, n - 3))
          return coin_error_set(COIN_EINVAL,
                                "signature v1 entry is not 64 hex digits "
                                "(" WEBHOOK_RULE ")");
        n_v1++;
      }
    }
    p = end ? end + 1 : p + n;
  }
  if (ts < 0 || n_v1 == 0)
    return coin_error_set(COIN_EINVAL, "signature \"%.60s\" lacks %s (%s)",
                          header, ts < 0 ? "t=" : "v1=", WEBHOOK_RULE);
  if (out_ts)
    *out_ts = ts;
  int rc = webhook_mac(want, key, key_len, ts, body, len);
  if (rc != 0)
    return rc;
  int match = 0;
  for (size_t i = 0; i < n_v1; i++)
    match |= CRYPTO_memcmp(want, got[i], sizeof(want)) == 0;
  if (!match)
    return coin_error_set(COIN_EREJECTED,
                          "signature does not match the timestamp and body "
                          "(HMAC-SHA256 of \"<t>.<body>\" with the shared "
                          "secret)");
  int64_t skew = now_seconds > ts ? now_seconds - ts : ts - now_seconds;
  if (skew > tolerance_seconds)
    return coin_error_set(
        COIN_ETIMEOUT,
        "signature timestamp %" PRId64 " is %" PRId64
        " s %s now (rule: within %" PRId64 " s; a replay or a wrong clock)",
        ts, skew, now_seconds > ts ? "before" : "after", tolerance_seconds);
  return 0;
}
