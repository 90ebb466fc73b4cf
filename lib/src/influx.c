/*
 * influx.c: the InfluxDB 1.x client: options, one keep-alive CURL handle,
 * the write batch, retries with exponential backoff + jitter, streaming
 * /query reads (decoded by influx_read.c) and the candle schema helpers.
 * A client is used by one thread at a time; it owns its handle, copies of
 * its option strings and its batch. Library code: errors are returned with a
 * one-line message (coin_error_set), never logged.
 */
#include "influx_int.h"

#include "coin/error.h"
#include "coin/fmt.h"
#include "coin/http.h"
#include "coin/redact.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define MAX_URL_BYTES 512
#define MAX_NAME_BYTES 64     /* db and retention policy names */
#define MAX_SECRET_BYTES 1024 /* user, password, token */
#define MAX_QUERY_BYTES ((size_t)16 << 10)
#define MAX_HEADER_BYTES ((size_t)64 << 10)
#define ERR_TEXT_BYTES 400

struct coin_influx {
  CURL *curl;
  struct coin_influx_options o; /* strings below are owned copies */
  char *url;
  char shown_url[512]; /* url with its user-info redacted: errors, logs */
  char *db;
  char *user;
  char *password;
  char *token;
  char *rp;
  char *rp_by_tf[COIN_TF_COUNT];
  struct curl_slist *hdr_write; /* line protocol body */
  struct curl_slist *hdr_query; /* msgpack answers */
  struct curl_slist *hdr_plain; /* ping */
  struct coin_buf batch;
  size_t batch_points;
  const char *batch_rp; /* one of the owned rp strings, or NULL */
  struct coin_buf line; /* scratch for one formatted point */
  struct coin_influx_stats stats;
  uint64_t rng;
  char version[64];
  char curl_err[CURL_ERROR_SIZE];
};

/* What one HTTP exchange saw. */
struct xfer {
  struct coin_influx *c;
  long status;
  char ctype[96];
  char influx_err[ERR_TEXT_BYTES];
  struct coin_buf errbody;  /* capped; truncated silently */
  struct influx_reader *rd; /* NULL: the body is ignored */
  int rd_rc;                /* why the body callback aborted */
  uint64_t body_bytes;
};

struct req {
  const char *what; /* "POST /write", for messages */
  const char *url;
  const char *body; /* NULL: GET */
  size_t body_len;
  struct curl_slist *headers;
  int64_t timeout_ms;
  bool retry;
  /* Streaming reads: a fresh reader per attempt. */
  bool read;
  coin_influx_row_cb cb;
  void *ud;
};

/* ---- options ---------------------------------------------------------- */

void coin_influx_options_init(struct coin_influx_options *o) {
  *o = (struct coin_influx_options){
      .url = "http://127.0.0.1:8086",
      .db = COIN_INFLUX_DB,
      .connect_timeout_ms = 3000,
      .timeout_ms = 30000,
      .query_timeout_ms = 600000,
      .max_retries = 3,
      .backoff_base_ms = 100,
      .backoff_max_ms = 5000,
      .batch_max_points = 5000,
      .batch_max_bytes = COIN_BUF_CAP_INFLUX_BATCH,
      .chunk_size = 10000,
      .max_chunk_bytes = (size_t)8 << 20,
      .max_columns = 256,
      .max_tags = 64,
      .max_error_body_bytes = COIN_BUF_CAP_INFLUX_ERROR_BODY,
  };
}

static int check_name(const char *s, const char *field) {
  size_t n = s ? strnlen(s, MAX_NAME_BYTES + 1) : 0;
  if (n == 0 || n > MAX_NAME_BYTES)
    return coin_error_set(COIN_EINVAL,
                          "influx: %s \"%.70s\" must be 1-%d characters", field,
                          s ? s : "(null)", MAX_NAME_BYTES);
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
          (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
      return coin_error_set(COIN_EINVAL,
                            "influx: %s \"%s\" has '%c' (allowed: "
                            "[A-Za-z0-9_-])",
                            field, s, ch);
  }
  return 0;
}

static int check_secret(const char *s, const char *field) {
  if (!s)
    return 0;
  size_t n = strnlen(s, MAX_SECRET_BYTES + 1);
  if (n == 0 || n > MAX_SECRET_BYTES)
    return coin_error_set(COIN_EINVAL,
                          "influx: %s must be 1-%d bytes (got %zu)", field,
                          MAX_SECRET_BYTES, n);
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
      return coin_error_set(
          COIN_EINVAL, "influx: %s has a control character at %zu", field, i);
  return 0;
}

static int check_url(const char *url) {
  if (!url)
    return coin_error_set(COIN_EINVAL, "influx: url is NULL");
  size_t n = strnlen(url, MAX_URL_BYTES + 1);
  if (n > MAX_URL_BYTES)
    return coin_error_set(COIN_EINVAL, "influx: url is longer than %d bytes",
                          MAX_URL_BYTES);
  const char *host;
  if (strncmp(url, "http://", 7) == 0)
    host = url + 7;
  else if (strncmp(url, "https://", 8) == 0)
    host = url + 8;
  else
    return coin_error_set(COIN_EINVAL,
                          "influx: url \"%s\" must start with http:// or "
                          "https://",
                          url);
  size_t hostlen = strcspn(host, "/?#");
  if (hostlen == 0)
    return coin_error_set(COIN_EINVAL, "influx: url \"%s\" has no host", url);
  /* Never echo credentials into error messages. */
  if (memchr(host, '@', hostlen))
    return coin_error_set(COIN_EINVAL,
                          "influx: url must not carry credentials (use "
                          "options user/password or token)");
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)url[i] <= 0x20 || url[i] == 0x7f)
      return coin_error_set(COIN_EINVAL,
                            "influx: url \"%s\" has a space or control "
                            "character at %zu",
                            url, i);
  if (host[hostlen] == '?' || host[hostlen] == '#')
    return coin_error_set(COIN_EINVAL,
                          "influx: url \"%s\" must not have a query or "
                          "fragment",
                          url);
  return 0;
}

static int check_range(int64_t v, int64_t lo, int64_t hi, const char *field) {
  if (v < lo || v > hi)
    return coin_error_set(COIN_EINVAL,
                          "influx: %s=%" PRId64 " must be in [%" PRId64
                          ", %" PRId64 "]",
                          field, v, lo, hi);
  return 0;
}

static int check_options(const struct coin_influx_options *o) {
  int rc;
  if ((rc = check_url(o->url)) || (rc = check_name(o->db, "db")) ||
      (rc = check_secret(o->user, "user")) ||
      (rc = check_secret(o->password, "password")) ||
      (rc = check_secret(o->token, "token")))
    return rc;
  if (o->password && !o->user)
    return coin_error_set(COIN_EINVAL, "influx: password given without user");
  if (o->user && o->token)
    return coin_error_set(COIN_EINVAL,
                          "influx: give either user/password or token, not "
                          "both");
  if (o->rp && (rc = check_name(o->rp, "rp")))
    return rc;
  for (int i = 0; i < COIN_TF_COUNT; i++)
    if (o->rp_by_tf[i] && (rc = check_name(o->rp_by_tf[i], "rp_by_tf")))
      return coin_error_wrap(rc, "influx: rp_by_tf[%s]",
                             coin_tf_name((enum coin_tf)i));
  if ((rc = check_range(o->connect_timeout_ms, 1, 600000,
                        "connect_timeout_ms")) ||
      (rc = check_range(o->timeout_ms, 1, 3600000, "timeout_ms")) ||
      (rc = check_range(o->query_timeout_ms, 1, INT64_C(86400000),
                        "query_timeout_ms")) ||
      (rc = check_range(o->max_retries, 0, 20, "max_retries")) ||
      (rc = check_range(o->backoff_base_ms, 1, 60000, "backoff_base_ms")) ||
      (rc = check_range(o->backoff_max_ms, o->backoff_base_ms, 600000,
                        "backoff_max_ms")) ||
      (rc = check_range((int64_t)o->batch_max_points, 1, 1000000,
                        "batch_max_points")) ||
      (rc = check_range((int64_t)o->batch_max_bytes, 1024, INT64_C(64) << 20,
                        "batch_max_bytes")) ||
      (rc = check_range((int64_t)o->chunk_size, 1, 1000000, "chunk_size")) ||
      (rc = check_range((int64_t)o->max_chunk_bytes, 4096, INT64_C(1) << 30,
                        "max_chunk_bytes")) ||
      (rc = check_range((int64_t)o->max_columns, 1, 65536, "max_columns")) ||
      (rc = check_range((int64_t)o->max_tags, 1, 65536, "max_tags")) ||
      (rc = check_range((int64_t)o->max_error_body_bytes, 64, INT64_C(1) << 20,
                        "max_error_body_bytes")))
    return rc;
  return 0;
}

static int dup_opt(char **out, const char *s) {
  if (!s) {
    *out = NULL;
    return 0;
  }
  *out = strdup(s);
  return *out ? 0 : coin_error_set(COIN_ENOMEM, "influx: out of memory");
}

static int add_header(struct curl_slist **list, const char *h) {
  struct curl_slist *n = curl_slist_append(*list, h);
  if (!n)
    return coin_error_set(COIN_ENOMEM, "influx: out of memory (headers)");
  *list = n;
  return 0;
}

/* Builds the three header lists; auth token goes into each. */
static int build_headers(struct coin_influx *c) {
  int rc = 0;
  char *auth = NULL;
  if (c->token) {
    if (asprintf(&auth, "Authorization: Token %s", c->token) < 0) {
      auth = NULL;
      return coin_error_set(COIN_ENOMEM, "influx: out of memory");
    }
  }
  /* "Expect:" stops curl from waiting for 100-continue on big POSTs. */
  if ((rc = add_header(&c->hdr_write,
                       "Content-Type: text/plain; charset=utf-8")) ||
      (rc = add_header(&c->hdr_write, "Expect:")) ||
      (rc = add_header(&c->hdr_query, "Accept: application/x-msgpack")) ||
      (rc = add_header(&c->hdr_query, "Expect:")) ||
      (rc = add_header(&c->hdr_plain, "Expect:")))
    goto out;
  if (auth && ((rc = add_header(&c->hdr_write, auth)) ||
               (rc = add_header(&c->hdr_query, auth)) ||
               (rc = add_header(&c->hdr_plain, auth))))
    goto out;
out:
  if (auth) {
    explicit_bzero(auth, strlen(auth));
    free(auth);
  }
  return rc;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int coin_influx_new(struct coin_influx **out,
                    const struct coin_influx_options *opts) {
  if (!opts)
    return coin_error_set(COIN_EINVAL, "influx: options are NULL");
  int rc = check_options(opts);
  if (rc)
    return rc;
  coin_http_global_init();
  struct coin_influx *c = calloc(1, sizeof(*c));
  if (!c)
    return coin_error_set(COIN_ENOMEM, "influx: out of memory");
  c->o = *opts;
  coin_buf_init(&c->batch, opts->batch_max_bytes);
  coin_buf_init(&c->line, COIN_BUF_CAP_INFLUX_LINE);
  if ((rc = dup_opt(&c->url, opts->url)) || (rc = dup_opt(&c->db, opts->db)) ||
      (rc = dup_opt(&c->user, opts->user)) ||
      (rc = dup_opt(&c->password, opts->password)) ||
      (rc = dup_opt(&c->token, opts->token)) ||
      (rc = dup_opt(&c->rp, opts->rp)))
    goto out;
  for (int i = 0; i < COIN_TF_COUNT; i++)
    if ((rc = dup_opt(&c->rp_by_tf[i], opts->rp_by_tf[i])))
      goto out;
  /* The copies replace the caller's pointers; nothing else reads them. */
  c->o.url = c->o.db = c->o.user = c->o.password = c->o.token = c->o.rp = NULL;
  memset(c->o.rp_by_tf, 0, sizeof(c->o.rp_by_tf));
  size_t ulen = strlen(c->url);
  while (ulen > 0 && c->url[ulen - 1] == '/')
    c->url[--ulen] = '\0';
  coin_redact_urls(c->shown_url, sizeof(c->shown_url), c->url);
  if ((rc = build_headers(c)))
    goto out;
  c->curl = curl_easy_init();
  if (!c->curl) {
    rc = coin_error_set(COIN_EINTERNAL, "influx: curl_easy_init failed");
    goto out;
  }
  CURL *h = c->curl;
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->curl_err);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                   (long)opts->connect_timeout_ms);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_USERAGENT, "coin-predict-influx/1");
  if (c->user) {
    curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    curl_easy_setopt(h, CURLOPT_USERNAME, c->user);
    curl_easy_setopt(h, CURLOPT_PASSWORD, c->password ? c->password : "");
  }
  c->rng = now_ns() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)c;
  if (c->rng == 0)
    c->rng = 0x9e3779b97f4a7c15u;
  *out = c;
out:
  if (rc)
    coin_influx_free(c);
  return rc;
}

static void free_secret(char *s) {
  if (s) {
    explicit_bzero(s, strlen(s));
    free(s);
  }
}

void coin_influx_free(struct coin_influx *c) {
  if (!c)
    return;
  if (c->curl)
    curl_easy_cleanup(c->curl);
  curl_slist_free_all(c->hdr_write);
  curl_slist_free_all(c->hdr_query);
  curl_slist_free_all(c->hdr_plain);
  coin_buf_free(&c->batch);
  coin_buf_free(&c->line);
  free(c->url);
  free(c->db);
  free(c->user);
  free_secret(c->password);
  free_secret(c->token);
  free(c->rp);
  for (int i = 0; i < COIN_TF_COUNT; i++)
    free(c->rp_by_tf[i]);
  free(c);
}

void coin_influx_stats_get(struct coin_influx_stats *out,
                           const struct coin_influx *c) {
  *out = c->stats;
}

const char *coin_influx_server_version(const struct coin_influx *c) {
  return c->version;
}

/* ---- one HTTP exchange -------------------------------------------------- */

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud) {
  struct xfer *x = ud;
  size_t n = size * nitems;
  if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
    /* A new status line (e.g. after 100-continue) starts a new block. */
    const char *sp = memchr(buf, ' ', n);
    x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
    x->ctype[0] = '\0';
    x->influx_err[0] = '\0';
    return n;
  }
  const char *colon = memchr(buf, ':', n);
  if (!colon)
    return n;
  size_t klen = (size_t)(colon - buf);
  const char *v = colon + 1;
  const char *end = buf + n;
  while (v < end && (*v == ' ' || *v == '\t'))
    v++;
  while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
    end--;
  int vlen = (int)(end - v);
  if (klen == 12 && strncasecmp(buf, "Content-Type", 12) == 0)
    snprintf(x->ctype, sizeof(x->ctype), "%.*s", vlen, v);
  else if (klen == 16 && strncasecmp(buf, "X-Influxdb-Error", 16) == 0)
    snprintf(x->influx_err, sizeof(x->influx_err), "%.*s", vlen, v);
  else if (klen == 18 && strncasecmp(buf, "X-Influxdb-Version", 18) == 0)
    snprintf(x->c->version, sizeof(x->c->version), "%.*s", vlen, v);
  return n;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud) {
  struct xfer *x = ud;
  size_t n = size * nmemb;
  x->body_bytes += n;
  if (x->status < 200 || x->status > 299) {
    size_t room = x->errbody.cap_bytes - x->errbody.len;
    coin_buf_add(&x->errbody, ptr, n < room ? n : room);
    return n;
  }
  if (!x->rd)
    return n;
  if (strncasecmp(x->ctype, "application/x-msgpack", 21) != 0) {
    x->rd_rc = coin_error_set(COIN_EDECODE,
                              "influx: /query answered Content-Type \"%s\", "
                              "want application/x-msgpack",
                              x->ctype);
    return 0;
  }
  int rc = influx_reader_feed(x->rd, ptr, n);
  if (rc) {
    x->rd_rc = rc;
    return 0; /* aborts the transfer */
  }
  return n;
}

/* Copies the JSON string value of "error" from body into out. */
static bool json_error_text(char *out, size_t cap, const char *body,
                            size_t len) {
  const char *k = memmem(body, len, "\"error\"", 7);
  if (!k)
    return false;
  const char *p = k + 7, *end = body + len;
  while (p < end && (*p == ' ' || *p == ':'))
    p++;
  if (p >= end || *p != '"')
    return false;
  size_t o = 0;
  for (p++; p < end && *p != '"' && o + 1 < cap; p++) {
    if (*p == '\\' && p + 1 < end) {
      p++;
      out[o++] = (*p == 'n' || *p == 't' || *p == 'r') ? ' ' : *p;
    } else {
      out[o++] = *p;
    }
  }
  out[o] = '\0';
  return true;
}

/* Copies the msgpack string value of "error" from a map body into out. */
static bool msgpack_error_text(char *out, size_t cap, const char *body,
                               size_t len) {
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  bool found = false;
  size_t off = 0;
  if (msgpack_unpack_next(&u, body, len, &off) == MSGPACK_UNPACK_SUCCESS &&
      u.data.type == MSGPACK_OBJECT_MAP) {
    for (uint32_t i = 0; i < u.data.via.map.size && !found; i++) {
      const msgpack_object_kv *kv = &u.data.via.map.ptr[i];
      if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == 5 &&
          memcmp(kv->key.via.str.ptr, "error", 5) == 0 &&
          kv->val.type == MSGPACK_OBJECT_STR) {
        snprintf(out, cap, "%.*s", (int)kv->val.via.str.size,
                 kv->val.via.str.ptr);
        found = true;
      }
    }
  }
  msgpack_unpacked_destroy(&u);
  return found;
}

/* InfluxDB's own error text: the X-Influxdb-Error header, else the body's
 * {"error": ...} (JSON or msgpack), else the raw body. */
static void error_text(char *out, size_t cap, const struct xfer *x) {
  const char *body = coin_buf_ptr(&x->errbody);
  size_t len = x->errbody.len;
  if (x->influx_err[0])
    snprintf(out, cap, "%s", x->influx_err);
  else if (strncasecmp(x->ctype, "application/x-msgpack", 21) == 0 &&
           msgpack_error_text(out, cap, body, len))
    ;
  else if (json_error_text(out, cap, body, len))
    ;
  else
    snprintf(out, cap, "%.*s", (int)(len < 200 ? len : 200), body);
  for (char *p = out; *p; p++)
    if ((unsigned char)*p < 0x20)
      *p = ' ';
  if (!out[0])
    snprintf(out, cap, "(no error text)");
}

static bool curl_retryable(CURLcode cc) {
  switch (cc) {
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_CONNECT:
  case CURLE_OPERATION_TIMEDOUT:
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
  case CURLE_GOT_NOTHING:
  case CURLE_PARTIAL_FILE:
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM: return true;
  default: return false;
  }
}

/* One attempt. Sets *retryable when another attempt may succeed. */
static int attempt(struct coin_influx *c, const struct req *rq, int n,
                   int total, bool *retryable, uint64_t *rows) {
  struct xfer x = {.c = c};
  coin_buf_init(&x.errbody, c->o.max_error_body_bytes);
  int rc = 0;
  *retryable = false;
  if (rq->read) {
    struct influx_reader_limits lim = {
        .max_chunk_bytes = c->o.max_chunk_bytes,
        .max_columns = c->o.max_columns,
        .max_tags = c->o.max_tags,
        .max_header_bytes = MAX_HEADER_BYTES,
    };
    if ((rc = influx_reader_new(&x.rd, &lim, rq->cb, rq->ud)))
      goto out;
  }
  CURL *h = c->curl;
  c->curl_err[0] = '\0';
  curl_easy_setopt(h, CURLOPT_URL, rq->url);
  if (rq->body) {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
  } else {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, rq->headers);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)rq->timeout_ms);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
  CURLcode cc = curl_easy_perform(h);
  long nconn = 0;
  curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &nconn);
  c->stats.connects += (uint64_t)(nconn > 0 ? nconn : 0);
  c->stats.requests++;
  if (rq->read)
    c->stats.read_bytes += x.body_bytes;
  if (x.rd_rc) {
    /* Our own body callback stopped the transfer: the reader or the user's
     * callback decided; the message is already set. */
    rc = x.rd_rc == INFLUX_STOPPED ? 0 : x.rd_rc;
    goto out;
  }
  if (cc != CURLE_OK) {
    *retryable = curl_retryable(cc);
    curl_off_t pre_us = 0;
    curl_easy_getinfo(h, CURLINFO_PRETRANSFER_TIME_T, &pre_us);
    /* A timeout before the request went out means unreachable. */
    int code = (cc == CURLE_OPERATION_TIMEDOUT && pre_us > 0) ? COIN_ETIMEOUT
               : *retryable                                   ? COIN_EUNAVAIL
                                                              : COIN_EINTERNAL;
    if (cc == CURLE_URL_MALFORMAT)
      code = COIN_EINVAL;
    char why[CURL_ERROR_SIZE + 64];
    coin_redact_text(why, sizeof(why),
                     c->curl_err[0] ? c->curl_err : curl_easy_strerror(cc));
    rc = coin_error_set(code, "influx: %s at %s (attempt %d/%d): %s", rq->what,
                        c->shown_url, n, total, why);
    goto out;
  }
  if (x.status >= 200 && x.status <= 299) {
    if (x.rd)
      rc = influx_reader_finish(x.rd);
    goto out;
  }
  char text[ERR_TEXT_BYTES];
  error_text(text, sizeof(text), &x);
  if (x.status >= 500) {
    *retryable = true;
    rc = coin_error_set(COIN_EUNAVAIL,
                        "influx: %s at %s (attempt %d/%d): HTTP %ld: %s",
                        rq->what, c->shown_url, n, total, x.status, text);
  } else {
    rc = coin_error_set(COIN_EREJECTED, "influx: %s: HTTP %ld: %s", rq->what,
                        x.status, text);
  }
out:
  if (x.rd) {
    *rows = influx_reader_rows(x.rd);
    c->stats.rows_read += *rows;
    size_t hw = influx_reader_max_buffered(x.rd);
    if (hw > c->stats.max_buffered_bytes)
      c->stats.max_buffered_bytes = hw;
  }
  influx_reader_free(x.rd);
  coin_buf_free(&x.errbody);
  return rc;
}

static uint64_t rng_next(struct coin_influx *c) {
  /* xorshift64*: per-client, so no shared state between threads. */
  uint64_t s = c->rng;
  s ^= s >> 12;
  s ^= s << 25;
  s ^= s >> 27;
  c->rng = s;
  return s * 0x2545f4914f6cdd1du;
}

static void sleep_ms(int64_t ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

/* Delay before retry number k (0-based): base * 2^k capped, then a random
 * point in [d/2, d] so that many clients do not retry in lockstep. */
static int64_t backoff_ms(struct coin_influx *c, int k) {
  int64_t d = c->o.backoff_base_ms;
  for (int i = 0; i < k && d < c->o.backoff_max_ms; i++)
    d *= 2;
  if (d > c->o.backoff_max_ms)
    d = c->o.backoff_max_ms;
  int64_t half = d / 2;
  return half + (int64_t)(rng_next(c) % (uint64_t)(d - half + 1));
}

static int run(struct coin_influx *c, const struct req *rq) {
  int total = rq->retry ? c->o.max_retries + 1 : 1;
  int rc = 0;
  for (int n = 1;; n++) {
    bool retryable = false;
    uint64_t rows = 0;
    rc = attempt(c, rq, n, total, &retryable, &rows);
    /* Rows already handed to the caller cannot be taken back. */
    if (rc == 0 || !retryable || n >= total || rows > 0)
      break;
    sleep_ms(backoff_ms(c, n - 1));
    c->stats.retries++;
  }
  return rc;
}

/* ---- URLs ------------------------------------------------------------- */

static int add_param(struct coin_buf *u, CURL *h, const char *key,
                     const char *value, size_t value_len) {
  char *esc = curl_easy_escape(h, value, (int)value_len);
  if (!esc)
    return coin_error_set(COIN_ENOMEM, "influx: out of memory (escape)");
  int rc = coin_buf_addf(u, "%s%s=%s", u->len ? "&" : "", key, esc);
  curl_free(esc);
  return rc;
}

/* ---- writes ----------------------------------------------------------- */

static size_t count_lines(const char *s, size_t len) {
  size_t n = 0;
  bool in_line = false;
  for (size_t i = 0; i < len; i++) {
    if (s[i] == '\n') {
      n += in_line;
      in_line = false;
    } else {
      in_line = true;
    }
  }
  return n + in_line;
}

static int write_body(struct coin_influx *c, const char *rp, const char *body,
                      size_t len, size_t points) {
  struct coin_buf url, params;
  coin_buf_init(&url, COIN_BUF_CAP_INFLUX_WRITE_URL);
  coin_buf_init(&params, COIN_BUF_CAP_INFLUX_WRITE_PARAMS);
  int rc;
  if ((rc = add_param(&params, c->curl, "db", c->db, strlen(c->db))) ||
      (rc = add_param(&params, c->curl, "precision", "ms", 2)) ||
      (rp && (rc = add_param(&params, c->curl, "rp", rp, strlen(rp)))) ||
      (rc = coin_buf_addf(&url, "%s/write?%s", c->url, params.p)))
    goto out;
  struct req rq = {
      .what = "POST /write",
      .url = url.p,
      .body = body,
      .body_len = len,
      .headers = c->hdr_write,
      .timeout_ms = c->o.timeout_ms,
      .retry = true,
  };
  rc = run(c, &rq);
  if (rc == 0) {
    c->stats.points_written += points;
    c->stats.write_bytes += len;
  }
out:
  coin_buf_free(&url);
  coin_buf_free(&params);
  return rc;
}

int coin_influx_write_lines(struct coin_influx *c, const char *rp,
                            const char *lines, size_t len) {
  if (!c || (!lines && len))
    return coin_error_set(COIN_EINVAL, "influx: write_lines: NULL argument");
  int rc;
  if (rp && (rc = check_name(rp, "rp")))
    return rc;
  if (len > (size_t)64 << 20)
    return coin_error_set(COIN_ETOOBIG,
                          "influx: write_lines: %zu bytes, cap is 64 MiB", len);
  size_t points = count_lines(lines, len);
  if (points == 0)
    return 0;
  return write_body(c, rp ? rp : c->rp, lines, len, points);
}

size_t coin_influx_pending(const struct coin_influx *c) {
  return c->batch_points;
}

void coin_influx_discard(struct coin_influx *c) {
  coin_buf_reset(&c->batch);
  c->batch_points = 0;
}

int coin_influx_flush(struct coin_influx *c) {
  if (c->batch_points == 0)
    return 0;
  int rc =
      write_body(c, c->batch_rp, c->batch.p, c->batch.len, c->batch_points);
  /* A 4xx will not succeed on resend; InfluxDB stored the valid points of a
   * partial write already. Anything else stays queued for another flush. */
  if (rc == 0 || rc == COIN_EREJECTED)
    coin_influx_discard(c);
  return rc;
}

/* Queues one point for rp, sending the batch first when it is full or holds
 * another RP. Error: p not queued. */
/* Queues the line in c->line into the batch (sent first when full). */
#define CANDLE_PREFIX_BYTES 320

static int queue_line(struct coin_influx *c, const char *rp) {
  int rc = 0;
  size_t need = c->line.len + (c->batch.len ? 1 : 0);
  if (c->line.len > c->o.batch_max_bytes)
    return coin_error_set(COIN_ETOOBIG,
                          "influx: one point is %zu bytes, batch_max_bytes=%zu",
                          c->line.len, c->o.batch_max_bytes);
  bool other_rp = c->batch_points > 0 &&
                  (rp != c->batch_rp &&
                   (!rp || !c->batch_rp || strcmp(rp, c->batch_rp) != 0));
  if (c->batch_points >= c->o.batch_max_points ||
      need > c->o.batch_max_bytes - c->batch.len || other_rp) {
    if ((rc = coin_influx_flush(c)))
      return rc;
  }
  if (c->batch.len && (rc = coin_buf_add(&c->batch, "\n", 1)))
    return rc;
  if ((rc = coin_buf_add(&c->batch, c->line.p, c->line.len)))
    return rc;
  c->batch_rp = rp;
  c->batch_points++;
  return 0;
}

static int add_point(struct coin_influx *c, const char *rp,
                     const struct coin_influx_point *p) {
  coin_buf_reset(&c->line);
  int rc = influx_lp_append(&c->line, p);
  return rc ? rc : queue_line(c, rp);
}

/* A candle's line from its series' prefix ("candle,exchange=...,symbol=...,
 * timeframe=..."), built without the per-point identifier checks and
 * escaping (the prefix had them): the text influx_lp_append makes. 1 when
 * a value needs the general path (which names the error). */
static int candle_line(struct coin_buf *b, const char *prefix, size_t plen,
                       const struct coin_candle *k) {
  static const char *const keys[] = {
      " open=", ",high=", ",low=", ",close=", ",volume="};
  const double v[] = {k->open, k->high, k->low, k->close, k->volume};
  char line[CANDLE_PREFIX_BYTES + 5 * (8 + COIN_FMT_DOUBLE_BYTES) + 24];
  size_t n = plen;
  memcpy(line, prefix, plen);
  for (int f = 0; f < 5; f++) {
    if (!isfinite(v[f]))
      return 1;
    size_t kl = strlen(keys[f]);
    memcpy(line + n, keys[f], kl);
    n += kl;
    n += coin_fmt_double(line + n, v[f]);
  }
  if (k->open_ms > INT64_C(9223372036854) ||
      k->open_ms < -INT64_C(9223372036854))
    return 1;
  n += (size_t)snprintf(line + n, 24, " %" PRId64, k->open_ms);
  coin_buf_reset(b);
  return coin_buf_add(b, line, n);
}

int coin_influx_add(struct coin_influx *c, const struct coin_influx_point *p) {
  if (!c || !p)
    return coin_error_set(COIN_EINVAL, "influx: add: NULL argument");
  return add_point(c, c->rp, p);
}

static const char *rp_for_tf(const struct coin_influx *c, enum coin_tf tf) {
  return c->rp_by_tf[tf] ? c->rp_by_tf[tf] : c->rp;
}

static int check_series(const char *exchange, const char *symbol,
                        const char *tf_name, enum coin_tf *tf) {
  int rc;
  if ((rc = coin_exchange_validate(exchange)) ||
      (rc = coin_symbol_validate(symbol)) || (rc = coin_tf_parse(tf, tf_name)))
    return coin_error_wrap(rc, "influx");
  return 0;
}

int coin_influx_write_candles(struct coin_influx *c, const char *exchange,
                              const char *symbol, const char *tf_name,
                              const struct coin_candle *candles, size_t n) {
  enum coin_tf tf;
  int rc;
  if (!c || (n && !candles))
    return coin_error_set(COIN_EINVAL, "influx: write_candles: NULL argument");
  if ((rc = check_series(exchange, symbol, tf_name, &tf)))
    return rc;
  if ((rc = coin_influx_flush(c)))
    return rc;
  const char *rp = rp_for_tf(c, tf);
  const struct coin_influx_tag tags[] = {
      {"exchange", exchange}, {"symbol", symbol}, {"timeframe", tf_name}};
  char prefix[CANDLE_PREFIX_BYTES];
  size_t plen = 0;
  bool fast = false; /* the first line made both ways: the same text */
  for (size_t i = 0; i < n; i++) {
    if (fast && candle_line(&c->line, prefix, plen, &candles[i]) == 0) {
      if ((rc = queue_line(c, rp)))
        goto out;
      continue;
    }
    const struct coin_candle *k = &candles[i];
    struct coin_influx_field f[] = {
        {"open", {.type = COIN_INFLUX_FLOAT, .v.f64 = k->open}},
        {"high", {.type = COIN_INFLUX_FLOAT, .v.f64 = k->high}},
        {"low", {.type = COIN_INFLUX_FLOAT, .v.f64 = k->low}},
        {"close", {.type = COIN_INFLUX_FLOAT, .v.f64 = k->close}},
        {"volume", {.type = COIN_INFLUX_FLOAT, .v.f64 = k->volume}},
    };
    struct coin_influx_point p = {
        .measurement = COIN_INFLUX_MEASUREMENT,
        .tags = tags,
        .n_tags = 3,
        .fields = f,
        .n_fields = 5,
        .time_ms = k->open_ms,
    };
    if (i == 0) {
      coin_buf_reset(&c->line);
      if (influx_lp_append(&c->line, &p) == 0) {
        const char *sp = memchr(c->line.p, ' ', c->line.len);
        plen = sp ? (size_t)(sp - c->line.p) : 0;
        if (plen > 0 && plen < sizeof(prefix)) {
          memcpy(prefix, c->line.p, plen);
          char *generic = strndup(c->line.p, c->line.len);
          fast = generic && candle_line(&c->line, prefix, plen, k) == 0 &&
                 strcmp(generic, c->line.p) == 0;
          free(generic);
        }
      }
    }
    if ((rc = add_point(c, rp, &p))) {
      coin_error_wrap(rc, "influx: candle %zu (open_ms=%" PRId64 ")", i,
                      k->open_ms);
      goto out;
    }
  }
  rc = coin_influx_flush(c);
out:
  if (rc)
    coin_influx_discard(c); /* only candles are queued: flushed first */
  return rc;
}

/* ---- queries ---------------------------------------------------------- */

static int query_common(struct coin_influx *c, const char *influxql,
                        coin_influx_row_cb cb, void *ud, bool post,
                        int64_t timeout_ms) {
  if (!c || !influxql)
    return coin_error_set(COIN_EINVAL, "influx: query: NULL argument");
  size_t qlen = strnlen(influxql, MAX_QUERY_BYTES + 1);
  if (qlen == 0 || qlen > MAX_QUERY_BYTES)
    return coin_error_set(COIN_EINVAL,
                          "influx: query is %zu bytes (must be 1-%zu)", qlen,
                          MAX_QUERY_BYTES);
  struct coin_buf url, params;
  coin_buf_init(&url, COIN_BUF_CAP_INFLUX_QUERY_URL);
  coin_buf_init(&params, COIN_BUF_CAP_INFLUX_QUERY_URL);
  int rc;
  if ((rc = add_param(&params, c->curl, "db", c->db, strlen(c->db))) ||
      (rc = add_param(&params, c->curl, "epoch", "ms", 2)))
    goto out;
  if (!post) {
    char n[24];
    snprintf(n, sizeof(n), "%zu", c->o.chunk_size);
    if ((rc = add_param(&params, c->curl, "chunked", "true", 4)) ||
        (rc = add_param(&params, c->curl, "chunk_size", n, strlen(n))))
      goto out;
  }
  if ((rc = add_param(&params, c->curl, "q", influxql, qlen)))
    goto out;
  if (post)
    rc = coin_buf_addf(&url, "%s/query", c->url);
  else
    rc = coin_buf_addf(&url, "%s/query?%s", c->url, params.p);
  if (rc)
    goto out;
  struct req rq = {
      .what = post ? "POST /query" : "GET /query",
      .url = url.p,
      .body = post ? params.p : NULL,
      .body_len = post ? params.len : 0,
      .headers = c->hdr_query,
      .timeout_ms = timeout_ms,
      .retry = true,
      .read = true,
      .cb = cb,
      .ud = ud,
  };
  rc = run(c, &rq);
out:
  coin_buf_free(&url);
  coin_buf_free(&params);
  return rc;
}

int coin_influx_query(struct coin_influx *c, const char *influxql,
                      coin_influx_row_cb cb, void *ud) {
  if (!c)
    return coin_error_set(COIN_EINVAL, "influx: query: NULL client");
  return query_common(c, influxql, cb, ud, false, c->o.query_timeout_ms);
}

int coin_influx_exec(struct coin_influx *c, const char *influxql) {
  if (!c)
    return coin_error_set(COIN_EINVAL, "influx: exec: NULL client");
  return query_common(c, influxql, NULL, NULL, true, c->o.timeout_ms);
}

int coin_influx_ping(struct coin_influx *c) {
  if (!c)
    return coin_error_set(COIN_EINVAL, "influx: ping: NULL client");
  struct coin_buf url;
  coin_buf_init(&url, COIN_BUF_CAP_INFLUX_PING_URL);
  int rc = coin_buf_addf(&url, "%s/ping", c->url);
  if (rc == 0) {
    struct req rq = {
        .what = "GET /ping",
        .url = url.p,
        .headers = c->hdr_plain,
        .timeout_ms = c->o.timeout_ms,
    };
    rc = run(c, &rq);
  }
  coin_buf_free(&url);
  return rc;
}

const struct coin_influx_value *
coin_influx_row_get(const struct coin_influx_row *row, const char *column) {
  for (size_t i = 0; i < row->n_columns; i++)
    if (strcmp(row->columns[i], column) == 0)
      return &row->values[i];
  return NULL;
}

const char *coin_influx_row_tag(const struct coin_influx_row *row,
                                const char *key) {
  for (size_t i = 0; i < row->n_tags; i++)
    if (strcmp(row->tag_keys[i], key) == 0)
      return row->tag_values[i];
  return NULL;
}

/* ---- schema helpers --------------------------------------------------- */

int coin_influx_create_db(struct coin_influx *c) {
  if (!c)
    return coin_error_set(COIN_EINVAL, "influx: create_db: NULL client");
  struct coin_buf q;
  coin_buf_init(&q, COIN_BUF_CAP_INFLUX_QUERY);
  int rc;
  /* A new database's default RP (autogen, INF) gets 52-week shard groups
   * instead of InfluxDB's 7 days: candles are sparse (a 1w series has 52
   * points a year), and a read of a 1w or 1M window would otherwise open a
   * shard per week of it (docs/influx.md). */
  if ((rc = coin_buf_addf(&q, "CREATE DATABASE ")) ||
      (rc = influx_ql_ident(&q, c->db)) ||
      (rc = coin_buf_addf(&q, " WITH SHARD DURATION %" PRId64 "ms",
                          COIN_INFLUX_DEFAULT_SHARD_MS)))
    goto out;
  rc = coin_influx_exec(c, q.p);
  if (rc == COIN_EREJECTED && strstr(coin_error_last(), "conflicts")) {
    /* it exists with other settings: an operator's, kept as they are */
    coin_buf_reset(&q);
    if ((rc = coin_buf_addf(&q, "CREATE DATABASE ")) ||
        (rc = influx_ql_ident(&q, c->db)))
      goto out;
    rc = coin_influx_exec(c, q.p);
  }
out:
  coin_buf_free(&q);
  return rc;
}

static int rp_statement(struct coin_buf *q, const struct coin_influx *c,
                        const char *verb, const char *rp, int64_t duration_ms,
                        bool make_default) {
  int rc;
  coin_buf_reset(q);
  if ((rc = coin_buf_addf(q, "%s RETENTION POLICY ", verb)) ||
      (rc = influx_ql_ident(q, rp)) || (rc = coin_buf_addf(q, " ON ")) ||
      (rc = influx_ql_ident(q, c->db)))
    return rc;
  /* InfluxDB's own shard group defaults, stated explicitly so that ALTER
   * to a shorter duration is not refused for an old, longer shard group. */
  int64_t shard_ms = duration_ms == 0 || duration_ms > 183 * COIN_DAY_MS
                         ? 7 * COIN_DAY_MS
                     : duration_ms >= 2 * COIN_DAY_MS ? COIN_DAY_MS
                                                      : COIN_HOUR_MS;
  if (duration_ms == 0)
    rc = coin_buf_addf(q, " DURATION INF");
  else
    rc = coin_buf_addf(q, " DURATION %" PRId64 "ms", duration_ms);
  /* CREATE's grammar wants REPLICATION before SHARD DURATION. */
  if (rc == 0 && strcmp(verb, "CREATE") == 0)
    rc = coin_buf_addf(q, " REPLICATION 1");
  if (rc == 0)
    rc = coin_buf_addf(q, " SHARD DURATION %" PRId64 "ms", shard_ms);
  if (rc == 0 && make_default)
    rc = coin_buf_addf(q, " DEFAULT");
  return rc;
}

int coin_influx_ensure_rp(struct coin_influx *c, const char *rp,
                          int64_t duration_ms, bool make_default) {
  if (!c)
    return coin_error_set(COIN_EINVAL, "influx: ensure_rp: NULL client");
  int rc = check_name(rp, "rp");
  if (rc)
    return rc;
  if (duration_ms != 0 &&
      (duration_ms < COIN_HOUR_MS || duration_ms > INT64_C(9223372036854)))
    return coin_error_set(COIN_EINVAL,
                          "influx: rp \"%s\" duration_ms=%" PRId64
                          " must be 0 (infinite) or >= 3600000 (InfluxDB's "
                          "minimum of 1h)",
                          rp, duration_ms);
  struct coin_buf q;
  coin_buf_init(&q, COIN_BUF_CAP_INFLUX_QUERY);
  if ((rc = rp_statement(&q, c, "CREATE", rp, duration_ms, make_default)))
    goto out;
  rc = coin_influx_exec(c, q.p);
  if (rc == COIN_EREJECTED && (strstr(coin_error_last(), "already exists") ||
                               strstr(coin_error_last(), "conflicts"))) {
    if ((rc = rp_statement(&q, c, "ALTER", rp, duration_ms, make_default)))
      goto out;
    rc = coin_influx_exec(c, q.p);
  }
out:
  coin_buf_free(&q);
  return rc;
}

/* FROM "rp"."candle" WHERE exchange, symbol, timeframe match. */
static int candle_from_where(struct coin_buf *q, const struct coin_influx *c,
                             const char *exchange, const char *symbol,
                             const char *tf_name, enum coin_tf tf) {
  int rc;
  const char *rp = rp_for_tf(c, tf);
  if ((rc = coin_buf_addf(q, " FROM ")))
    return rc;
  if (rp && ((rc = influx_ql_ident(q, rp)) || (rc = coin_buf_add(q, ".", 1))))
    return rc;
  if ((rc = influx_ql_ident(q, COIN_INFLUX_MEASUREMENT)) ||
      (rc = coin_buf_addf(q, " WHERE \"exchange\" = ")) ||
      (rc = influx_ql_string(q, exchange)) ||
      (rc = coin_buf_addf(q, " AND \"symbol\" = ")) ||
      (rc = influx_ql_string(q, symbol)) ||
      (rc = coin_buf_addf(q, " AND \"timeframe\" = ")) ||
      (rc = influx_ql_string(q, tf_name)))
    return rc;
  return 0;
}

struct candle_ctx {
  coin_influx_candle_cb cb;
  void *ud;
};

static int candle_row(void *ud, const struct coin_influx_row *row) {
  struct candle_ctx *k = ud;
  struct coin_candle cd = {0};
  double *dst[] = {&cd.open, &cd.high, &cd.low, &cd.close, &cd.volume};
  static const char *const names[] = {"open", "high", "low", "close", "volume"};
  bool have_time = false;
  unsigned have = 0;
  for (size_t i = 0; i < row->n_columns; i++) {
    const struct coin_influx_value *v = &row->values[i];
    const char *col = row->columns[i];
    if (strcmp(col, "time") == 0) {
      if (v->type != COIN_INFLUX_INT)
        return coin_error_set(COIN_EDECODE,
                              "influx: candle time has type %d, want int "
                              "epoch ms",
                              (int)v->type);
      cd.open_ms = v->v.i64;
      have_time = true;
      continue;
    }
    for (size_t f = 0; f < 5; f++) {
      if (strcmp(col, names[f]) != 0)
        continue;
      if (v->type == COIN_INFLUX_FLOAT)
        *dst[f] = v->v.f64;
      else if (v->type == COIN_INFLUX_INT)
        *dst[f] = (double)v->v.i64;
      else
        return coin_error_set(
            COIN_EDECODE,
            "influx: candle at open_ms=%" PRId64
            " has %s field \"%s\" (want float)",
            cd.open_ms,
            v->type == COIN_INFLUX_NULL ? "a missing" : "a non-numeric", col);
      have |= 1u << f;
    }
  }
  if (!have_time || have != 0x1f)
    return coin_error_set(COIN_EDECODE,
                          "influx: candle row lacks columns (time: %s, "
                          "fields mask 0x%x of 0x1f)",
                          have_time ? "yes" : "no", have);
  return k->cb(k->ud, &cd);
}

int coin_influx_read_candles(struct coin_influx *c, const char *exchange,
                             const char *symbol, const char *tf_name,
                             int64_t from_ms, int64_t to_ms,
                             coin_influx_candle_cb cb, void *ud) {
  enum coin_tf tf;
  int rc;
  if (!c || !cb)
    return coin_error_set(COIN_EINVAL, "influx: read_candles: NULL argument");
  if ((rc = check_series(exchange, symbol, tf_name, &tf)))
    return rc;
  if (from_ms > to_ms)
    return coin_error_set(COIN_EINVAL,
                          "influx: read_candles from_ms=%" PRId64
                          " > to_ms=%" PRId64,
                          from_ms, to_ms);
  struct coin_buf q;
  coin_buf_init(&q, COIN_BUF_CAP_INFLUX_QUERY);
  if ((rc = coin_buf_addf(
           &q, "SELECT \"open\",\"high\",\"low\",\"close\",\"volume\"")) ||
      (rc = candle_from_where(&q, c, exchange, symbol, tf_name, tf)) ||
      (rc = coin_buf_addf(
           &q, " AND time >= %" PRId64 "ms AND time <= %" PRId64 "ms", from_ms,
           to_ms)))
    goto out;
  struct candle_ctx k = {cb, ud};
  rc = coin_influx_query(c, q.p, candle_row, &k);
out:
  coin_buf_free(&q);
  return rc;
}

struct scalar_ctx {
  const char *column;
  bool found;
  int64_t value;
};

static int scalar_row(void *ud, const struct coin_influx_row *row) {
  struct scalar_ctx *s = ud;
  const struct coin_influx_value *v = coin_influx_row_get(row, s->column);
  if (!v || v->type != COIN_INFLUX_INT)
    return coin_error_set(COIN_EDECODE,
                          "influx: answer column \"%s\" is %s, want int",
                          s->column, v ? "not an int" : "missing");
  s->value = v->v.i64;
  s->found = true;
  return 1; /* one row is all we need */
}

int coin_influx_last_time(int64_t *out, struct coin_influx *c,
                          const char *exchange, const char *symbol,
                          const char *tf_name) {
  enum coin_tf tf;
  int rc;
  if (!out || !c)
    return coin_error_set(COIN_EINVAL, "influx: last_time: NULL argument");
  if ((rc = check_series(exchange, symbol, tf_name, &tf)))
    return rc;
  struct coin_buf q;
  coin_buf_init(&q, COIN_BUF_CAP_INFLUX_QUERY);
  if ((rc = coin_buf_addf(&q, "SELECT last(\"close\")")) ||
      (rc = candle_from_where(&q, c, exchange, symbol, tf_name, tf)))
    goto out;
  struct scalar_ctx s = {.column = "time"};
  if ((rc = query_common(c, q.p, scalar_row, &s, false, c->o.timeout_ms)))
    goto out;
  if (!s.found) {
    rc =
        coin_error_set(COIN_ENOTFOUND, "influx: no candles stored for %s %s %s",
                       exchange, symbol, tf_name);
    goto out;
  }
  *out = s.value;
out:
  coin_buf_free(&q);
  return rc;
}

int coin_influx_count(int64_t *out, struct coin_influx *c, const char *exchange,
                      const char *symbol, const char *tf_name, int64_t from_ms,
                      int64_t to_ms) {
  enum coin_tf tf;
  int rc;
  if (!out || !c)
    return coin_error_set(COIN_EINVAL, "influx: count: NULL argument");
  if ((rc = check_series(exchange, symbol, tf_name, &tf)))
    return rc;
  if (from_ms > to_ms)
    return coin_error_set(COIN_EINVAL,
                          "influx: count from_ms=%" PRId64 " > to_ms=%" PRId64,
                          from_ms, to_ms);
  struct coin_buf q;
  coin_buf_init(&q, COIN_BUF_CAP_INFLUX_QUERY);
  if ((rc = coin_buf_addf(&q, "SELECT count(\"close\")")) ||
      (rc = candle_from_where(&q, c, exchange, symbol, tf_name, tf)) ||
      (rc = coin_buf_addf(
           &q, " AND time >= %" PRId64 "ms AND time <= %" PRId64 "ms", from_ms,
           to_ms)))
    goto out;
  struct scalar_ctx s = {.column = "count"};
  if ((rc = query_common(c, q.p, scalar_row, &s, false, c->o.timeout_ms)))
    goto out;
  *out = s.found ? s.value : 0;
out:
  coin_buf_free(&q);
  return rc;
}
