/*
 * redact.h: the one place that decides what of a URL or an error text may be
 * shown (logs, error lines, metrics, status, --config-doc). Removed:
 * - URL user-info: "nats://bob:hunter2@h:4222" -> "nats://bob:***@h:4222",
 *   a token alone "nats://tok@h" -> "nats://" + "***@h";
 * - query values of secret-looking keys (token, key, secret, password, pass,
 *   pwd, sig, signature, auth, code, api_key/apikey, access_token, ...
 *   case-insensitive, also as a suffix "_token"/"-key"): "?token=abc" ->
 *   "?token=***";
 * - webhook paths that are tokens: Slack-style "/services/..." becomes
 *   "/services/" + "***", and any path segment that looks like a token (16 or
 *   more of [A-Za-z0-9_-] mixing letters and digits) becomes "***".
 * Scheme, host, port and the plain path stay, so a reader can still tell
 * which server is meant. Pure functions; thread-safe.
 */
#ifndef COIN_REDACT_H
#define COIN_REDACT_H

#include <stddef.h>

/* out (NUL-terminated, truncated to out_bytes) = the redacted form of a
 * comma-separated list of URLs (one URL is a list of one). */
void coin_redact_urls(char *out, size_t out_bytes, const char *urls);

/* out = text with every "<scheme>://..." inside it (up to whitespace, a
 * quote, '>' or ',') redacted as above; for error texts of libraries that
 * echo URLs. */
void coin_redact_text(char *out, size_t out_bytes, const char *text);

#endif
