/*
 * http.c: libcurl easy-handle wrapper (see http.h). Each coin_http reuses one
 * handle so connections stay alive between requests; bodies and headers are
 * accumulated into capped buffers (buf.h).
 */
#include "coin/http.h"

#include "coin/buf.h"
#include "coin/error.h"
#include "coin/redact.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct coin_http {
  CURL *curl;
  struct coin_http_opts opts;
  char errbuf[CURL_ERROR_SIZE];
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void global_init_once(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
}

void coin_http_global_init(void) {
  pthread_once(&global_once, global_init_once);
}

/* The body's buffer; overflow tells a body past its cap from a failed
 * allocation, both of which stop the transfer. */
struct body {
  struct coin_buf buf;
  bool overflow;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud) {
  struct body *b = ud;
  size_t n = size * nmemb;
  int rc = coin_buf_add(&b->buf, ptr, n);
  if (rc == COIN_ETOOBIG)
    b->overflow = true;
  return rc == 0 ? n : 0;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud) {
  struct coin_buf *b = ud;
  size_t n = size * nmemb;
  /* A new status line (redirect, 100-continue) starts a new header block. */
  if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0)
    coin_buf_reset(b);
  return coin_buf_add(b, ptr, n) == 0 ? n : 0;
}

int coin_http_new(struct coin_http **out, const struct coin_http_opts *opts) {
  coin_http_global_init();
  struct coin_http *h = calloc(1, sizeof(*h));
  if (!h)
    return coin_error_set(COIN_ENOMEM, "http: out of memory");
  if (opts)
    h->opts = *opts;
  if (h->opts.connect_timeout_ms <= 0)
    h->opts.connect_timeout_ms = 5000;
  if (h->opts.timeout_ms <= 0)
    h->opts.timeout_ms = 30000;
  if (h->opts.max_body_bytes == 0)
    h->opts.max_body_bytes = COIN_BUF_CAP_HTTP_BODY;
  if (!h->opts.user_agent)
    h->opts.user_agent = "coin-predict";
  h->curl = curl_easy_init();
  if (!h->curl) {
    free(h);
    return coin_error_set(COIN_EINTERNAL, "http: curl_easy_init failed");
  }
  *out = h;
  return 0;
}

void coin_http_free(struct coin_http *h) {
  if (!h)
    return;
  if (h->curl)
    curl_easy_cleanup(h->curl);
  free(h);
}

void coin_http_set_timeout(struct coin_http *h, long timeout_ms) {
  if (timeout_ms > 0)
    h->opts.timeout_ms = timeout_ms;
}

int coin_http_request(struct coin_http *h, struct coin_http_response *out,
                      const char *method, const char *url,
                      const char *const *headers, const void *body,
                      size_t body_len) {
  struct body bb = {.overflow = false};
  struct coin_buf hb;
  coin_buf_init(&bb.buf, h->opts.max_body_bytes);
  coin_buf_init(&hb, COIN_BUF_CAP_HTTP_HEADERS);
  struct curl_slist *hl = NULL;
  int rc = 0;
  CURL *c = h->curl;

  curl_easy_reset(c);
  h->errbuf[0] = '\0';
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->opts.connect_timeout_ms);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, h->opts.timeout_ms);
  curl_easy_setopt(c, CURLOPT_USERAGENT, h->opts.user_agent);
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &bb);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &hb);
  if (strcmp(method, "GET") != 0) {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body || strcmp(method, "POST") == 0) {
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
  }
  for (size_t i = 0; headers && headers[i]; i++) {
    struct curl_slist *n = curl_slist_append(hl, headers[i]);
    if (!n) {
      rc = coin_error_set(COIN_ENOMEM, "http: out of memory");
      goto out;
    }
    hl = n;
  }
  if (hl)
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);

  CURLcode cc = curl_easy_perform(c);
  if (cc != CURLE_OK) {
    const char *why = h->errbuf[0] ? h->errbuf : curl_easy_strerror(cc);
    char shown[512], why_shown[CURL_ERROR_SIZE + 64];
    coin_redact_urls(shown, sizeof(shown), url); /* tokens stay out */
    coin_redact_text(why_shown, sizeof(why_shown), why);
    why = why_shown;
    if (bb.overflow)
      rc =
          coin_error_set(COIN_ETOOBIG, "%s %s: response body exceeds %zu bytes",
                         method, shown, h->opts.max_body_bytes);
    else if (cc == CURLE_OPERATION_TIMEDOUT)
      rc = coin_error_set(COIN_ETIMEOUT, "%s %s: %s", method, shown, why);
    else
      rc = coin_error_set(COIN_EUNAVAIL, "%s %s: %s", method, shown, why);
    goto out;
  }
  memset(out, 0, sizeof(*out));
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
  curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &out->elapsed_seconds);
  if (coin_buf_take(&out->body, &out->body_len, &bb.buf) != 0) {
    rc = coin_error_set(COIN_ENOMEM, "http: out of memory");
    goto out;
  }
  /* headers stay NULL when none came; take cannot fail on allocated bytes */
  if (hb.p)
    coin_buf_take(&out->headers, &out->headers_len, &hb);
out:
  curl_slist_free_all(hl);
  coin_buf_free(&bb.buf);
  coin_buf_free(&hb);
  return rc;
}

int coin_http_response_header(char *out, size_t out_bytes,
                              const struct coin_http_response *r,
                              const char *name) {
  size_t nlen = strlen(name);
  const char *p = r->headers;
  const char *end = p ? p + r->headers_len : NULL;
  while (p && p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol)
      eol = end;
    if ((size_t)(eol - p) > nlen && p[nlen] == ':' &&
        strncasecmp(p, name, nlen) == 0) {
      const char *v = p + nlen + 1;
      while (v < eol && (*v == ' ' || *v == '\t'))
        v++;
      const char *ve = eol;
      while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
        ve--;
      size_t vlen = (size_t)(ve - v);
      if (vlen + 1 > out_bytes)
        return coin_error_set(COIN_ETOOBIG, "http: header %s too long", name);
      memcpy(out, v, vlen);
      out[vlen] = '\0';
      return 0;
    }
    p = eol + 1;
  }
  return coin_error_set(COIN_ENOTFOUND, "http: no header %s", name);
}

void coin_http_response_clear(struct coin_http_response *r) {
  if (!r)
    return;
  free(r->body);
  free(r->headers);
  memset(r, 0, sizeof(*r));
}

int coin_http_escape(char *out, size_t out_bytes, const char *text) {
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;
  for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
    int plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
                *p == '.' || *p == '~';
    size_t need = plain ? 1 : 3;
    if (o + need + 1 > out_bytes)
      return coin_error_set(COIN_ETOOBIG, "http: escaped text too long");
    if (plain) {
      out[o++] = (char)*p;
    } else {
      out[o++] = '%';
      out[o++] = hex[*p >> 4];
      out[o++] = hex[*p & 15];
    }
  }
  out[o] = '\0';
  return 0;
}
