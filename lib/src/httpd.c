/*
 * httpd.c: coin_httpd over libmicrohttpd 0.9.7x. MHD owns the sockets and the
 * threads (one per connection, or a pool); for each request we collect the
 * body (capped) in per-request state, call the user handler once the request
 * is complete, and turn its coin_httpd_response into an MHD response.
 * Per-request state is freed by MHD's completion callback.
 */
#include "coin/httpd.h"
#include "coin/clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "coin/error.h"

#define DEFAULT_MAX_CONNECTIONS 256
#define DEFAULT_IDLE_TIMEOUT_SECONDS 30
#define DEFAULT_PER_IP_CONNECTIONS 32
#define DEFAULT_HEADER_DEADLINE_MS 5000
#define DEFAULT_PROBE_RESERVE 16
#define RESERVE_PER_ADDRESS 2 /* a probe's last connection may linger */
#define REAPER_PERIOD_MS 250
#define DEFAULT_MAX_BODY_BYTES ((size_t)1 << 20)
#define CONTENT_TYPE_BYTES 128
#define HEADER_TEXT_BYTES 1024
#define ABORT_BLOCK_BYTES 4096

/* A connection waiting for a request's headers since waiting_ms (0: in a
 * request): past the header deadline the reaper shuts its socket, however
 * slowly bytes drip in (the idle timeout is reset by each byte). */
struct guard_slot {
  bool used;
  int fd;
  int64_t waiting_ms;
  unsigned char peer[16]; /* the client's address (IPv4: first 4 bytes) */
  bool have_peer;
};

struct coin_httpd {
  struct MHD_Daemon *mhd;
  int port;
  size_t max_body_bytes;
  coin_httpd_handler_fn handler;
  void *handler_ctx;
  /* the header deadline: slots indexed by the socket context (index+1) */
  pthread_mutex_t gmu; /* leaf */
  struct guard_slot *slots;
  size_t n_slots;
  size_t probe_reserve; /* the last slots: only for addresses holding none */
  int64_t header_deadline_ms;
  pthread_t reaper;
  bool reaper_started;
  atomic_bool stop;
  atomic_uint_fast64_t reaped;
  atomic_uint_fast64_t refused_reserve;
};

struct coin_httpd_request {
  struct MHD_Connection *conn;
  const char *method;
  const char *path;
  char *body;
  size_t body_len;
  size_t body_cap;
  bool too_big;
  char peer[INET6_ADDRSTRLEN];
};

struct header_kv {
  char *name;
  char *value;
};

struct coin_httpd_response {
  int status;
  char content_type[CONTENT_TYPE_BYTES];
  char *body;
  size_t len;
  struct header_kv headers[COIN_HTTPD_MAX_HEADERS];
  int nheaders;
  bool abort_set;
  size_t abort_after;
  struct stream_body *stream; /* coin_httpd_response_stream: owned */
};

/* A generated body (fault injection): head, then fill repeated, chunk_bytes
 * per write with pause_ms before each write after the first, total_bytes in
 * all (0 = never ends: chunked, until the peer goes away). */
struct stream_body {
  char *head, *fill;
  size_t head_len, fill_len, chunk_bytes;
  uint64_t total_bytes;
  int pause_ms;
};

/* State of a response that is cut short on purpose. */
struct abort_body {
  char *body;
  size_t len;
  size_t stop_at;
};

/* ---------------------------------------------------------------- request */

const char *coin_httpd_request_method(const struct coin_httpd_request *r) {
  return r->method;
}

const char *coin_httpd_request_path(const struct coin_httpd_request *r) {
  return r->path;
}

const char *coin_httpd_request_query(const struct coin_httpd_request *r,
                                     const char *key) {
  const char *value = NULL;
  size_t len = 0;
  if (MHD_lookup_connection_value_n(r->conn, MHD_GET_ARGUMENT_KIND, key,
                                    strlen(key), &value, &len) != MHD_YES)
    return NULL;
  return value ? value : "";
}

struct each_ctx {
  int (*fn)(void *ctx, const char *key, const char *value);
  void *ctx;
  int rc;
};

static enum MHD_Result each_arg(void *cls, enum MHD_ValueKind kind,
                                const char *key, const char *value) {
  (void)kind;
  struct each_ctx *e = cls;
  e->rc = e->fn(e->ctx, key, value ? value : "");
  return e->rc == 0 ? MHD_YES : MHD_NO;
}

int coin_httpd_request_query_each(const struct coin_httpd_request *r,
                                  int (*fn)(void *ctx, const char *key,
                                            const char *value),
                                  void *ctx) {
  struct each_ctx e = {.fn = fn, .ctx = ctx, .rc = 0};
  MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, each_arg, &e);
  return e.rc;
}

const char *coin_httpd_request_header(const struct coin_httpd_request *r,
                                      const char *name) {
  /* MHD compares header names case-insensitively. */
  return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *coin_httpd_request_body(const struct coin_httpd_request *r,
                                    size_t *len_out) {
  if (len_out)
    *len_out = r->body_len;
  return r->body ? r->body : "";
}

const char *coin_httpd_request_peer(const struct coin_httpd_request *r) {
  return r->peer;
}

static void fill_peer(struct coin_httpd_request *r) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  r->peer[0] = '\0';
  if (ci == NULL || ci->client_addr == NULL)
    return;
  const struct sockaddr *sa = ci->client_addr;
  if (sa->sa_family == AF_INET)
    inet_ntop(AF_INET,
              &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
              r->peer, sizeof(r->peer));
  else if (sa->sa_family == AF_INET6)
    inet_ntop(AF_INET6,
              &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
              r->peer, sizeof(r->peer));
}

/* --------------------------------------------------------------- response */

static void stream_free(void *cls) {
  struct stream_body *sb = cls;
  if (sb == NULL)
    return;
  free(sb->head);
  free(sb->fill);
  free(sb);
}

static void response_clear(struct coin_httpd_response *resp) {
  free(resp->body);
  stream_free(resp->stream);
  for (int i = 0; i < resp->nheaders; i++) {
    free(resp->headers[i].name);
    free(resp->headers[i].value);
  }
  memset(resp, 0, sizeof(*resp));
}

int coin_httpd_respond_take(struct coin_httpd_response *resp, int status,
                            const char *content_type, char *body, size_t len) {
  if (status < 100 || status > 999) {
    free(body);
    return coin_error_set(COIN_EINVAL,
                          "httpd respond: status %d (rule: 100..999)", status);
  }
  if (content_type == NULL)
    content_type = "text/plain; charset=utf-8";
  if (strlen(content_type) >= CONTENT_TYPE_BYTES ||
      strpbrk(content_type, "\r\n") != NULL) {
    free(body);
    return coin_error_set(COIN_EINVAL,
                          "httpd respond: content type \"%.60s\" (rule: < %d "
                          "chars, no CR/LF)",
                          content_type, CONTENT_TYPE_BYTES);
  }
  free(resp->body);
  resp->body = body;
  resp->len = body ? len : 0;
  resp->status = status;
  strcpy(resp->content_type, content_type);
  return 0;
}

int coin_httpd_respond(struct coin_httpd_response *resp, int status,
                       const char *content_type, const void *body, size_t len) {
  char *copy = malloc(len + 1);
  if (copy == NULL)
    return coin_error_set(COIN_ENOMEM,
                          "httpd respond: out of memory for %zu "
                          "bytes",
                          len);
  if (len)
    memcpy(copy, body, len);
  copy[len] = '\0';
  return coin_httpd_respond_take(resp, status, content_type, copy, len);
}

int coin_httpd_respond_printf(struct coin_httpd_response *resp, int status,
                              const char *content_type, const char *fmt, ...) {
  char *text = NULL;
  va_list ap;
  va_start(ap, fmt);
  int n = vasprintf(&text, fmt, ap);
  va_end(ap);
  if (n < 0)
    return coin_error_set(COIN_ENOMEM, "httpd respond: out of memory");
  return coin_httpd_respond_take(resp, status, content_type, text, (size_t)n);
}

int coin_httpd_response_header(struct coin_httpd_response *resp,
                               const char *name, const char *value) {
  if (resp->nheaders >= COIN_HTTPD_MAX_HEADERS)
    return coin_error_set(COIN_ETOOBIG,
                          "httpd header %.60s: more than %d headers", name,
                          COIN_HTTPD_MAX_HEADERS);
  if (name == NULL || value == NULL || name[0] == '\0' ||
      strpbrk(name, "\r\n: ") != NULL || strpbrk(value, "\r\n") != NULL ||
      strlen(name) + strlen(value) > HEADER_TEXT_BYTES)
    return coin_error_set(COIN_EINVAL,
                          "httpd header \"%.60s\": invalid (rule: token name, "
                          "value without CR/LF, < %d bytes)",
                          name ? name : "(null)", HEADER_TEXT_BYTES);
  char *n = strdup(name), *v = strdup(value);
  if (n == NULL || v == NULL) {
    free(n);
    free(v);
    return coin_error_set(COIN_ENOMEM, "httpd header: out of memory");
  }
  resp->headers[resp->nheaders].name = n;
  resp->headers[resp->nheaders].value = v;
  resp->nheaders++;
  return 0;
}

void coin_httpd_response_abort_after(struct coin_httpd_response *resp,
                                     size_t bytes_sent) {
  resp->abort_set = true;
  resp->abort_after = bytes_sent;
}

int coin_httpd_response_stream(struct coin_httpd_response *resp,
                               const char *head, const char *fill,
                               uint64_t total_bytes, size_t chunk_bytes,
                               int pause_ms) {
  if (fill == NULL || fill[0] == '\0' || chunk_bytes == 0 || pause_ms < 0)
    return coin_error_set(COIN_EINVAL,
                          "httpd stream: fill \"%.20s\", chunk %zu bytes, "
                          "pause %d ms (rule: non-empty fill, chunk >= 1, "
                          "pause >= 0)",
                          fill ? fill : "(null)", chunk_bytes, pause_ms);
  struct stream_body *sb = calloc(1, sizeof(*sb));
  if (sb == NULL || (sb->head = strdup(head ? head : "")) == NULL ||
      (sb->fill = strdup(fill)) == NULL) {
    stream_free(sb);
    return coin_error_set(COIN_ENOMEM, "httpd stream: out of memory");
  }
  sb->head_len = strlen(sb->head);
  sb->fill_len = strlen(sb->fill);
  sb->chunk_bytes = chunk_bytes;
  sb->total_bytes = total_bytes;
  sb->pause_ms = pause_ms;
  stream_free(resp->stream);
  resp->stream = sb;
  return 0;
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
  struct stream_body *sb = cls;
  if (sb->total_bytes && pos >= sb->total_bytes)
    return MHD_CONTENT_READER_END_OF_STREAM;
  size_t n = max < sb->chunk_bytes ? max : sb->chunk_bytes;
  if (sb->total_bytes && n > sb->total_bytes - pos)
    n = (size_t)(sb->total_bytes - pos);
  if (pos > 0 && sb->pause_ms > 0)
    usleep((useconds_t)sb->pause_ms * 1000);
  for (size_t i = 0; i < n; i++) {
    uint64_t at = pos + i;
    buf[i] = at < sb->head_len ? sb->head[at]
                               : sb->fill[(at - sb->head_len) % sb->fill_len];
  }
  return (ssize_t)n;
}

static ssize_t abort_reader(void *cls, uint64_t pos, char *buf, size_t max) {
  struct abort_body *a = cls;
  if (pos >= a->stop_at)
    return MHD_CONTENT_READER_END_WITH_ERROR;
  size_t n = a->stop_at - (size_t)pos;
  if (n > max)
    n = max;
  memcpy(buf, a->body + pos, n);
  return (ssize_t)n;
}

static void abort_free(void *cls) {
  struct abort_body *a = cls;
  free(a->body);
  free(a);
}

/* Builds and queues the MHD response; consumes resp. */
static enum MHD_Result queue(struct MHD_Connection *conn,
                             struct coin_httpd_response *resp) {
  struct MHD_Response *m = NULL;
  enum MHD_Result ok = MHD_NO;
  if (resp->status == 0) {
    static const char msg[] = "handler set no response\n";
    response_clear(resp);
    if (coin_httpd_respond(resp, 500, NULL, msg, sizeof(msg) - 1) < 0)
      goto out;
  }
  if (resp->stream) {
    struct stream_body *sb = resp->stream;
    m = MHD_create_response_from_callback(
        sb->total_bytes ? sb->total_bytes : MHD_SIZE_UNKNOWN,
        sb->chunk_bytes < ABORT_BLOCK_BYTES ? ABORT_BLOCK_BYTES
                                            : sb->chunk_bytes,
        stream_reader, sb, stream_free);
    if (m == NULL)
      goto out;
    resp->stream = NULL; /* now owned by m */
  } else if (resp->abort_set && resp->abort_after < resp->len) {
    struct abort_body *a = malloc(sizeof(*a));
    if (a == NULL)
      goto out;
    a->body = resp->body;
    a->len = resp->len;
    a->stop_at = resp->abort_after;
    m = MHD_create_response_from_callback(resp->len, ABORT_BLOCK_BYTES,
                                          abort_reader, a, abort_free);
    if (m == NULL) {
      free(a);
      goto out;
    }
    resp->body = NULL; /* now owned by a */
  } else {
    m = MHD_create_response_from_buffer_with_free_callback(
        resp->len, resp->body ? resp->body : (void *)"",
        resp->body ? free : NULL);
    if (m == NULL)
      goto out;
    resp->body = NULL; /* now owned by m */
  }
  if (MHD_add_response_header(m, MHD_HTTP_HEADER_CONTENT_TYPE,
                              resp->content_type) != MHD_YES)
    goto out;
  for (int i = 0; i < resp->nheaders; i++)
    if (MHD_add_response_header(m, resp->headers[i].name,
                                resp->headers[i].value) != MHD_YES)
      goto out;
  ok = MHD_queue_response(conn, (unsigned)resp->status, m);
out:
  if (m)
    MHD_destroy_response(m);
  response_clear(resp);
  return ok;
}

/* ----------------------------------------------------------------- server */

static struct guard_slot *slot_of(struct coin_httpd *d,
                                  struct MHD_Connection *conn) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  uintptr_t k = ci ? (uintptr_t)ci->socket_context : 0;
  return k > 0 && k <= d->n_slots ? &d->slots[k - 1] : NULL;
}

/* Sets the slot's waiting time (0: a request is being handled). */
static void slot_wait(struct coin_httpd *d, struct MHD_Connection *conn,
                      int64_t since) {
  pthread_mutex_lock(&d->gmu);
  struct guard_slot *g = slot_of(d, conn);
  if (g && g->used)
    g->waiting_ms = since;
  pthread_mutex_unlock(&d->gmu);
}

/* The address bytes of a socket address into key (16 bytes); false when
 * it is neither IPv4 nor IPv6. */
static bool peer_key(unsigned char key[16], const struct sockaddr *sa) {
  memset(key, 0, 16);
  if (sa && sa->sa_family == AF_INET) {
    memcpy(key, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    return true;
  }
  if (sa && sa->sa_family == AF_INET6) {
    memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    return true;
  }
  return false;
}

/* Accept policy: when only the reserve is left, a new connection is taken
 * only from an address that holds fewer than RESERVE_PER_ADDRESS, so that
 * many slow clients from a few addresses cannot crowd out a probe from
 * another (whose previous connection may still be closing). */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr,
                                 socklen_t addrlen) {
  (void)addrlen;
  struct coin_httpd *d = cls;
  unsigned char key[16];
  if (!peer_key(key, addr))
    return MHD_YES;
  size_t used = 0, same = 0;
  pthread_mutex_lock(&d->gmu);
  for (size_t i = 0; i < d->n_slots; i++) {
    const struct guard_slot *g = &d->slots[i];
    if (!g->used)
      continue;
    used++;
    same += g->have_peer && memcmp(g->peer, key, 16) == 0;
  }
  pthread_mutex_unlock(&d->gmu);
  if (same >= RESERVE_PER_ADDRESS && used + d->probe_reserve >= d->n_slots) {
    atomic_fetch_add(&d->refused_reserve, 1);
    return MHD_NO;
  }
  return MHD_YES;
}

static void on_connection(void *cls, struct MHD_Connection *conn,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
  struct coin_httpd *d = cls;
  pthread_mutex_lock(&d->gmu);
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    const union MHD_ConnectionInfo *ca =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    for (size_t i = 0; ci && i < d->n_slots; i++)
      if (!d->slots[i].used) {
        struct guard_slot *g = &d->slots[i];
        *g = (struct guard_slot){
            .used = true, .fd = ci->connect_fd, .waiting_ms = coin_mono_ms()};
        g->have_peer = ca && peer_key(g->peer, ca->client_addr);
        *socket_context = (void *)(uintptr_t)(i + 1);
        break;
      }
  } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
    uintptr_t k = (uintptr_t)*socket_context;
    if (k > 0 && k <= d->n_slots)
      d->slots[k - 1].used = false;
    *socket_context = NULL;
  }
  pthread_mutex_unlock(&d->gmu);
}

/* Shuts the sockets of connections past the header deadline (MHD then
 * reads EOF and closes them): slow or endless headers cannot hold a
 * connection slot for longer than the deadline. */
static void *reaper_main(void *arg) {
  struct coin_httpd *d = arg;
  while (!atomic_load(&d->stop)) {
    struct timespec ts = {0, REAPER_PERIOD_MS * 1000000L};
    nanosleep(&ts, NULL);
    int64_t now = coin_mono_ms();
    pthread_mutex_lock(&d->gmu);
    for (size_t i = 0; i < d->n_slots; i++) {
      struct guard_slot *g = &d->slots[i];
      if (g->used && g->waiting_ms > 0 &&
          now - g->waiting_ms > d->header_deadline_ms) {
        shutdown(g->fd, SHUT_RDWR);
        g->waiting_ms = 0;
        atomic_fetch_add(&d->reaped, 1);
      }
    }
    pthread_mutex_unlock(&d->gmu);
  }
  return NULL;
}

uint64_t coin_httpd_reaped(const struct coin_httpd *d) {
  return d ? (uint64_t)atomic_load(&d->reaped) : 0;
}

uint64_t coin_httpd_refused_reserve(const struct coin_httpd *d) {
  return d ? (uint64_t)atomic_load(&d->refused_reserve) : 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
  (void)version;
  struct coin_httpd *d = cls;
  struct coin_httpd_request *r = *con_cls;
  if (r == NULL) { /* headers are in: set up per-request state */
    slot_wait(d, conn, 0);
    r = calloc(1, sizeof(*r));
    if (r == NULL)
      return MHD_NO;
    *con_cls = r;
    return MHD_YES;
  }
  if (*upload_data_size > 0) {
    size_t n = *upload_data_size;
    *upload_data_size = 0;
    if (r->too_big || r->body_len + n > d->max_body_bytes) {
      r->too_big = true;
      return MHD_YES; /* keep reading, answer 413 at the end */
    }
    if (r->body_len + n + 1 > r->body_cap) {
      size_t cap = r->body_cap ? r->body_cap : 1024;
      while (cap < r->body_len + n + 1)
        cap *= 2;
      char *nb = realloc(r->body, cap);
      if (nb == NULL)
        return MHD_NO;
      r->body = nb;
      r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, upload_data, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return MHD_YES;
  }
  r->conn = conn;
  r->method = method;
  r->path = url;
  fill_peer(r);
  struct coin_httpd_response resp;
  memset(&resp, 0, sizeof(resp));
  if (r->too_big)
    coin_httpd_respond_printf(&resp, 413, NULL,
                              "request body larger than %zu bytes\n",
                              d->max_body_bytes);
  else
    d->handler(d->handler_ctx, r, &resp);
  return queue(conn, &resp);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)toe;
  /* keep-alive: the next request's headers have the same deadline */
  slot_wait(cls, conn, coin_mono_ms());
  struct coin_httpd_request *r = *con_cls;
  if (r) {
    free(r->body);
    free(r);
    *con_cls = NULL;
  }
}

/* Fills addr for host:port; returns its length or 0 when host is no IP. */
static socklen_t make_addr(struct sockaddr_storage *addr, const char *host,
                           int port) {
  memset(addr, 0, sizeof(*addr));
  struct sockaddr_in *a4 = (struct sockaddr_in *)addr;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)addr;
  if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    return sizeof(*a4);
  }
  if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)port);
    return sizeof(*a6);
  }
  return 0;
}

/* After MHD refused to start: find out why by binding the address once. */
static const char *bind_problem(const struct sockaddr_storage *addr,
                                socklen_t len) {
  int fd = socket(addr->ss_family, SOCK_STREAM, 0);
  if (fd < 0)
    return strerror(errno);
  int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  const char *why = "the HTTP library refused to start";
  if (bind(fd, (const struct sockaddr *)addr, len) < 0)
    why = strerror(errno);
  close(fd);
  return why;
}

int coin_httpd_start(struct coin_httpd **out,
                     const struct coin_httpd_opts *opts) {
  int rc = 0;
  struct coin_httpd *d = NULL;
  struct sockaddr_storage addr;
  const char *host = opts && opts->host ? opts->host : "127.0.0.1";
  if (opts == NULL || opts->handler == NULL)
    return coin_error_set(COIN_EINVAL, "httpd: handler required");
  if (opts->port < 0 || opts->port > 65535)
    return coin_error_set(COIN_EINVAL, "httpd: port %d (rule: 0..65535)",
                          opts->port);
  socklen_t alen = make_addr(&addr, host, opts->port);
  if (alen == 0)
    return coin_error_set(COIN_EINVAL,
                          "httpd: host \"%.60s\" (rule: IPv4 or IPv6 literal)",
                          host);
  d = calloc(1, sizeof(*d));
  if (d == NULL)
    return coin_error_set(COIN_ENOMEM, "httpd: out of memory");
  d->handler = opts->handler;
  d->handler_ctx = opts->handler_ctx;
  d->max_body_bytes =
      opts->max_body_bytes ? opts->max_body_bytes : DEFAULT_MAX_BODY_BYTES;

  unsigned flags = MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD;
  if (opts->threads == 0)
    flags |= MHD_USE_THREAD_PER_CONNECTION;
  if (addr.ss_family == AF_INET6)
    flags |= MHD_USE_IPv6;
  unsigned max_conn =
      opts->max_connections ? opts->max_connections : DEFAULT_MAX_CONNECTIONS;
  unsigned idle = opts->idle_timeout_seconds ? opts->idle_timeout_seconds
                                             : DEFAULT_IDLE_TIMEOUT_SECONDS;
  unsigned per_ip = opts->max_connections_per_ip ? opts->max_connections_per_ip
                                                 : DEFAULT_PER_IP_CONNECTIONS;
  if (per_ip > max_conn)
    per_ip = max_conn;
  d->header_deadline_ms = opts->header_deadline_ms ? opts->header_deadline_ms
                                                   : DEFAULT_HEADER_DEADLINE_MS;
  pthread_mutex_init(&d->gmu, NULL);
  d->n_slots = max_conn;
  d->probe_reserve =
      opts->probe_reserve ? opts->probe_reserve : DEFAULT_PROBE_RESERVE;
  if (d->probe_reserve > max_conn / 2)
    d->probe_reserve = max_conn / 2;
  d->slots = calloc(max_conn, sizeof(*d->slots));
  if (d->slots == NULL) {
    rc = coin_error_set(COIN_ENOMEM, "httpd: out of memory");
    goto out;
  }
  /* The pool option is only given when a pool is asked for (a pool size of
   * 0 or 1 together with thread-per-connection is refused by MHD). */
  d->mhd = MHD_start_daemon(
      flags, (uint16_t)opts->port, on_accept, d, on_request, d,
      MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
      MHD_OPTION_CONNECTION_LIMIT, max_conn, MHD_OPTION_CONNECTION_TIMEOUT,
      idle, MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip,
      MHD_OPTION_NOTIFY_CONNECTION, on_connection, (void *)d,
      MHD_OPTION_NOTIFY_COMPLETED, on_completed, (void *)d,
      opts->threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END,
      opts->threads, MHD_OPTION_END);
  if (d->mhd == NULL) {
    rc = coin_error_set(COIN_EIO, "httpd: cannot listen on %s:%d: %s", host,
                        opts->port, bind_problem(&addr, alen));
    goto out;
  }
  const union MHD_DaemonInfo *info =
      MHD_get_daemon_info(d->mhd, MHD_DAEMON_INFO_BIND_PORT);
  d->port = info ? (int)info->port : opts->port;
  if (d->port <= 0) {
    rc = coin_error_set(COIN_EINTERNAL,
                        "httpd: listening on %s but the port is unknown", host);
    goto out;
  }
  if (pthread_create(&d->reaper, NULL, reaper_main, d) != 0) {
    rc = coin_error_set(COIN_EINTERNAL, "httpd: cannot start its reaper");
    goto out;
  }
  d->reaper_started = true;
  *out = d;
  d = NULL;
out:
  coin_httpd_free(d);
  return rc;
}

int coin_httpd_port(const struct coin_httpd *d) {
  return d->port;
}

void coin_httpd_free(struct coin_httpd *d) {
  if (d == NULL)
    return;
  atomic_store(&d->stop, true);
  if (d->reaper_started)
    pthread_join(d->reaper, NULL);
  if (d->mhd)
    MHD_stop_daemon(d->mhd);
  if (d->slots)
    pthread_mutex_destroy(&d->gmu);
  free(d->slots);
  free(d);
}

int coin_httpd_listen_parse(char *out, size_t out_bytes, int *port_out,
                            const char *text) {
  char host[INET6_ADDRSTRLEN];
  const char *port_text;
  if (text == NULL)
    return coin_error_set(COIN_EINVAL, "listen address (null): want HOST:PORT");
  if (text[0] == '[') { /* [v6]:port */
    const char *close = strchr(text, ']');
    if (close == NULL || close[1] != ':' ||
        (size_t)(close - text - 1) >= sizeof(host))
      goto bad;
    memcpy(host, text + 1, (size_t)(close - text - 1));
    host[close - text - 1] = '\0';
    port_text = close + 2;
  } else {
    const char *colon = strrchr(text, ':');
    if (colon == NULL || (size_t)(colon - text) >= sizeof(host) ||
        memchr(text, ':', (size_t)(colon - text)) != NULL)
      goto bad;
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    if (host[0] == '\0')
      strcpy(host, "127.0.0.1");
    port_text = colon + 1;
  }
  if (port_text[0] == '\0' || strlen(port_text) > 5 ||
      strspn(port_text, "0123456789") != strlen(port_text))
    goto bad;
  long port = strtol(port_text, NULL, 10);
  if (port > 65535)
    goto bad;
  struct sockaddr_storage probe;
  if (make_addr(&probe, host, 0) == 0)
    goto bad;
  if (strlen(host) + 1 > out_bytes)
    return coin_error_set(COIN_EINVAL,
                          "listen address \"%.80s\": host buffer "
                          "too small",
                          text);
  strcpy(out, host);
  *port_out = (int)port;
  return 0;
bad:
  return coin_error_set(COIN_EINVAL,
                        "listen address \"%.80s\": want HOST:PORT with an IP "
                        "literal host and port 0..65535 (e.g. 127.0.0.1:8080, "
                        "[::1]:8080)",
                        text);
}
