/*
 * hmac.h: SHA-256 digests and HMAC-SHA256 signatures (over OpenSSL's EVP
 * API), for the static site's file hashes and the signed alert webhooks
 * (header "X-Coin-Signature: sha256=<hex>"). Pure functions over caller
 * buffers; thread-safe; nothing is allocated that outlives a call.
 */
#ifndef COIN_HMAC_H
#define COIN_HMAC_H

#include <stddef.h>
#include <stdint.h>

#define COIN_SHA256_BYTES 32
#define COIN_SHA256_HEX_BYTES 65 /* 64 lower-case hex digits + NUL */
#define COIN_HMAC_SIGNATURE_PREFIX "sha256="
/* "sha256=" + 64 hex digits + NUL */
#define COIN_HMAC_SIGNATURE_BYTES 72

/* SHA-256 of data[0..len). Returns 0 or COIN_EINTERNAL (OpenSSL failed). */
int coin_sha256(uint8_t out[COIN_SHA256_BYTES], const void *data, size_t len);
/* Same, as 64 lower-case hex digits. */
int coin_sha256_hex(char out[COIN_SHA256_HEX_BYTES], const void *data,
                    size_t len);

/* HMAC-SHA256 of data with key (any length, also 0). */
int coin_hmac_sha256(uint8_t out[COIN_SHA256_BYTES], const void *key,
                     size_t key_len, const void *data, size_t len);
/* The webhook signature header value: "sha256=<64 lower-case hex>". */
int coin_hmac_sha256_signature(char out[COIN_HMAC_SIGNATURE_BYTES],
                               const void *key, size_t key_len,
                               const void *data, size_t len);
/* Checks a signature header value ("sha256=<hex>", hex in either case)
 * against data and key, comparing in constant time. 0 when it matches,
 * COIN_EREJECTED when it does not, COIN_EINVAL when it is malformed (the
 * message names the rule). */
int coin_hmac_sha256_verify(const char *signature, const void *key,
                            size_t key_len, const void *data, size_t len);

/* Lower-case hex of n bytes into out (2n + 1 bytes with the NUL). */
void coin_hex_encode(char *out, const uint8_t *bytes, size_t n);

#endif
