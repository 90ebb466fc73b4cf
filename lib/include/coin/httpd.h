/*
 * httpd.h: a small embedded HTTP/1.1 server (over libmicrohttpd) for the
 * services' /metrics, /healthz and /status endpoints and for test fakes.
 * One handler callback per server; it runs on the server's threads (one per
 * connection, or a fixed pool), possibly concurrently, so it must be
 * thread-safe. Request data is valid only during the call; the response is
 * filled through the coin_httpd_respond* functions, which copy (or take) what
 * they are given. No libmicrohttpd type appears in this header.
 */
#ifndef COIN_HTTPD_H
#define COIN_HTTPD_H

#include <stddef.h>
#include <stdint.h>

struct coin_httpd;
struct coin_httpd_request;  /* read-only view, valid during the handler */
struct coin_httpd_response; /* filled by the handler */

typedef void (*coin_httpd_handler_fn)(void *ctx,
                                      const struct coin_httpd_request *req,
                                      struct coin_httpd_response *resp);

struct coin_httpd_opts {
  const char *host;         /* IPv4 or IPv6 literal; NULL = "127.0.0.1" */
  int port;                 /* 0 = pick a free port (see coin_httpd_port) */
  unsigned threads;         /* 0 = one thread per connection; N = pool of N */
  unsigned max_connections; /* 0 = 256 */
  unsigned idle_timeout_seconds;   /* keep-alive idle limit; 0 = 30 */
  unsigned max_connections_per_ip; /* 0 = 32: one address cannot take every
                                      slot (probes come from another) */
  int64_t header_deadline_ms;      /* a request's headers must be complete this
                                      long after the connection opened (or the
                                      last answer): bytes do not extend it;
                                      0 = 5000 */
  unsigned probe_reserve;          /* the last free slots go only to an
                                      address that holds at most one
                                      connection (a probe among many slow
                                      clients from a few addresses); 0 = 16,
                                      at most half */
  size_t max_body_bytes; /* request body cap (413 beyond); 0 = 1 MiB */
  coin_httpd_handler_fn handler;
  void *handler_ctx;
};

/* Binds and starts serving. Errors: COIN_EINVAL (bad options), COIN_EIO
 * (bind failed, e.g. port in use: the message names host:port). */
int coin_httpd_start(struct coin_httpd **out,
                     const struct coin_httpd_opts *opts);

/* The bound port (the chosen one when opts.port was 0). */
int coin_httpd_port(const struct coin_httpd *d);
/* Connections closed for missing the header deadline, since start. */
uint64_t coin_httpd_reaped(const struct coin_httpd *d);
/* Connections refused to keep the probe reserve, since start. */
uint64_t coin_httpd_refused_reserve(const struct coin_httpd *d);

/* Stops accepting, waits for running handlers, frees. NULL is fine. */
void coin_httpd_free(struct coin_httpd *d);

/* Splits "HOST:PORT" ("127.0.0.1:8080", "[::1]:8080", ":8080" = 127.0.0.1)
 * into host (out, out_bytes) and port 0..65535. Returns 0 or COIN_EINVAL. */
int coin_httpd_listen_parse(char *out, size_t out_bytes, int *port_out,
                            const char *text);

/* ---- request (valid only during the handler call) ---- */
const char *coin_httpd_request_method(const struct coin_httpd_request *r);
/* Decoded path without the query string, e.g. "/api/v3/klines". */
const char *coin_httpd_request_path(const struct coin_httpd_request *r);
/* Decoded query value: NULL when absent, "" when given without a value.
 * With a repeated key, the first one. */
const char *coin_httpd_request_query(const struct coin_httpd_request *r,
                                     const char *key);
/* Calls fn for each query argument in order (value "" when none); stops and
 * returns fn's value when it is non-zero. */
int coin_httpd_request_query_each(const struct coin_httpd_request *r,
                                  int (*fn)(void *ctx, const char *key,
                                            const char *value),
                                  void *ctx);
/* Case-insensitive request header lookup; NULL when absent. */
const char *coin_httpd_request_header(const struct coin_httpd_request *r,
                                      const char *name);
/* Request body (NUL-terminated; "" when none). */
const char *coin_httpd_request_body(const struct coin_httpd_request *r,
                                    size_t *len_out);
/* Peer address as text ("127.0.0.1"), "" when unknown. */
const char *coin_httpd_request_peer(const struct coin_httpd_request *r);

/* ---- response ---- */
/* Sets status, content type and a copy of the body. A later call replaces an
 * earlier one. content_type NULL = "text/plain; charset=utf-8".
 * A handler that sets nothing produces 500. */
int coin_httpd_respond(struct coin_httpd_response *resp, int status,
                       const char *content_type, const void *body, size_t len);
/* Same, but takes ownership of a malloc'd body (freed by the server, also
 * when this call fails). */
int coin_httpd_respond_take(struct coin_httpd_response *resp, int status,
                            const char *content_type, char *body, size_t len);
int coin_httpd_respond_printf(struct coin_httpd_response *resp, int status,
                              const char *content_type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Adds one header (copied; at most COIN_HTTPD_MAX_HEADERS, name and value
 * without CR/LF). Content-Length is always computed by the server. */
#define COIN_HTTPD_MAX_HEADERS 16
int coin_httpd_response_header(struct coin_httpd_response *resp,
                               const char *name, const char *value);
/* Fault injection for test servers: announce the full Content-Length but
 * send only the first bytes_sent bytes, then drop the connection. */
void coin_httpd_response_abort_after(struct coin_httpd_response *resp,
                                     size_t bytes_sent);
/* Fault injection for test servers: instead of the body, send head (copied)
 * then fill (copied, non-empty) repeated, chunk_bytes per write, sleeping
 * pause_ms before each write after the first, total_bytes in all with that
 * Content-Length; total_bytes 0 = a chunked body that never ends (until the
 * peer goes away). Needs one thread per connection when pause_ms > 0.
 * Errors: COIN_EINVAL, COIN_ENOMEM. */
int coin_httpd_response_stream(struct coin_httpd_response *resp,
                               const char *head, const char *fill,
                               uint64_t total_bytes, size_t chunk_bytes,
                               int pause_ms);

#endif
