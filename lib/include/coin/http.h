/*
 * http.h: a small HTTP client over libcurl for exchange adapters and webhook
 * sinks. One coin_http object owns one CURL easy handle and its keep-alive
 * connections; use it from one thread at a time (give each thread its own).
 * Response bodies and headers are capped; a response is owned by the caller
 * and released with coin_http_response_clear().
 */
#ifndef COIN_HTTP_H
#define COIN_HTTP_H

#include <stddef.h>

struct coin_http;

struct coin_http_opts {
  long connect_timeout_ms; /* default 5000 */
  long timeout_ms;         /* whole request; default 30000 */
  size_t max_body_bytes;   /* default 8 MiB; larger -> COIN_ETOOBIG */
  const char *user_agent;  /* default "coin-predict" */
};

struct coin_http_response {
  long status; /* HTTP status (also for 4xx/5xx, which are not errors here) */
  char *body;  /* NUL-terminated, body_len bytes (may contain NULs) */
  size_t body_len;
  char *headers; /* raw "Name: value\r\n" lines of the final response */
  size_t headers_len;
  double elapsed_seconds;
};

int coin_http_new(struct coin_http **out, const struct coin_http_opts *opts);
void coin_http_free(struct coin_http *h);
/* The whole-request timeout of the requests that follow (ms > 0; e.g. cut
 * to a caller's deadline). */
void coin_http_set_timeout(struct coin_http *h, long timeout_ms);

/* Performs one request. headers: NULL-terminated "Name: value" strings or
 * NULL; body may be NULL. Returns 0 whenever an HTTP response arrived
 * (whatever its status), COIN_EUNAVAIL when the server could not be reached,
 * COIN_ETIMEOUT on timeout, COIN_ETOOBIG past max_body_bytes. */
int coin_http_request(struct coin_http *h, struct coin_http_response *out,
                      const char *method, const char *url,
                      const char *const *headers, const void *body,
                      size_t body_len);

/* Case-insensitive lookup of a response header; copies the value (trimmed)
 * into out. Returns 0, or COIN_ENOTFOUND. */
int coin_http_response_header(char *out, size_t out_bytes,
                              const struct coin_http_response *r,
                              const char *name);

void coin_http_response_clear(struct coin_http_response *r);

/* Percent-encodes text for a URL query value into out (NUL-terminated).
 * Returns 0 or COIN_ETOOBIG. */
int coin_http_escape(char *out, size_t out_bytes, const char *text);

/* curl_global_init once per process (thread-safe to call repeatedly). */
void coin_http_global_init(void);

#endif
