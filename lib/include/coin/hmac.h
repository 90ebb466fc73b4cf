/*
 * hmac.h: SHA-256 digests and HMAC-SHA256 signatures (over OpenSSL's EVP
 * API), for the static site's file hashes and the signed alert webhooks
 * (header "X-Coin-Signature: t=<unix s>,v1=<hex>", docs/monitor.md). Pure
 * functions over caller buffers; thread-safe; nothing is allocated that
 * outlives a call.
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
/* The body-only signature "sha256=<64 lower-case hex>" (the webhook's
 * scheme before timestamps; receivers migrating accept it beside
 * coin_hmac_webhook_verify, docs/monitor.md "Migration"). */
int coin_hmac_sha256_signature(char out[COIN_HMAC_SIGNATURE_BYTES],
                               const void *key, size_t key_len,
                               const void *data, size_t len);
/* Checks a signature header value ("sha256=<hex>", hex in either case)
 * against data and key, comparing in constant time. 0 when it matches,
 * COIN_EREJECTED when it does not, COIN_EINVAL when it is malformed (the
 * message names the rule). */
int coin_hmac_sha256_verify(const char *signature, const void *key,
                            size_t key_len, const void *data, size_t len);

/* ---- timestamped webhook signatures (docs/monitor.md, "Generic webhook") --
 * Header value "t=<unix seconds>,v1=<64 lower-case hex>" where the hex is
 * HMAC-SHA256(secret, "<t>.<body>"): the signature covers when it was made,
 * so a receiver rejects a captured request replayed outside its window. */
#define COIN_WEBHOOK_SIGNATURE_BYTES 96    /* "t=" 20 digits ",v1=" 64 + NUL */
#define COIN_WEBHOOK_TOLERANCE_SECONDS 300 /* the documented replay window */

/* The header value for body signed at unix time ts_seconds (>= 0). */
int coin_hmac_webhook_sign(char out[COIN_WEBHOOK_SIGNATURE_BYTES],
                           const void *key, size_t key_len, int64_t ts_seconds,
                           const void *body, size_t len);
/* Checks a header value against body and key at unix time now_seconds:
 * 0 when one v1 entry matches (constant-time compare; entries with other
 * names are ignored, so a later scheme can be added beside v1) and
 * |now_seconds - t| <= tolerance_seconds. COIN_EINVAL: malformed (no t, no
 * v1, bad digits; the message names the rule); COIN_EREJECTED: no v1 matches
 * (wrong secret or changed body); COIN_ETIMEOUT: t outside the window (a
 * replay or a clock off by more than the window). *out_ts (may be NULL) gets
 * t whenever it parsed. */
int coin_hmac_webhook_verify(int64_t *out_ts, const char *header,
                             const void *key, size_t key_len, const void *body,
                             size_t len, int64_t now_seconds,
                             int64_t tolerance_seconds);

/* Lower-case hex of n bytes into out (2n + 1 bytes with the NUL). */
void coin_hex_encode(char *out, const uint8_t *bytes, size_t n);
/* The value of one hex digit c (either case, as an unsigned char), or -1. */
int coin_hex_digit(int c);

#endif
