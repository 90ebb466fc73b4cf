/*
 * exchange_binance.c: Binance spot REST adapter (/api/v3/klines, /time,
 * /exchangeInfo). Pages ascend with startTime and limit 1000; weight comes
 * from X-MBX-USED-WEIGHT-1M; 429 and 418 pause the shared budget for
 * Retry-After; 5xx, transport errors and malformed bodies are retried with
 * backoff a bounded number of times. One handle per thread.
 */
#include "exchange.h"

#include "coin/clock.h"
#include "coin/error.h"
#include "coin/fmt.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KLINES_LIMIT COIN_EXCHANGE_BINANCE_KLINES_LIMIT
#define KLINES_WEIGHT 2
#define MAX_RATE_WAITS 8

/* What a request is about, for error messages. */
struct req_ctx {
  const char *symbol;
  const char *tf;
  int64_t from_ms;
  int64_t to_ms;
};

static void describe(char *out, size_t n, const struct req_ctx *rc) {
  if (rc && rc->symbol)
    snprintf(out, n, "binance %s %s [%lld..%lld]", rc->symbol,
             rc->tf ? rc->tf : "-", (long long)rc->from_ms,
             (long long)rc->to_ms);
  else
    snprintf(out, n, "binance");
}

static int64_t retry_after_ms(const struct coin_http_response *r) {
  char v[32];
  if (coin_http_response_header(v, sizeof(v), r, "Retry-After") == 0) {
    char *end;
    errno = 0;
    long long s = strtoll(v, &end, 10);
    if (errno == 0 && end != v && *end == '\0' && s >= 0 && s < 86400)
      return s * 1000;
  }
  return 60000; /* Binance's window is a minute: wait it out */
}

/* Error body {"code":-1121,"msg":"Invalid symbol."} -> code and msg. */
static void api_error(const struct coin_http_response *r, int *code, char *msg,
                      size_t msg_bytes) {
  *code = 0;
  snprintf(msg, msg_bytes, "HTTP %ld", r->status);
  json_t *j = json_loadb(r->body, r->body_len, 0, NULL);
  if (j && json_is_object(j)) {
    json_t *c = json_object_get(j, "code");
    json_t *m = json_object_get(j, "msg");
    if (json_is_integer(c))
      *code = (int)json_integer_value(c);
    if (json_is_string(m))
      snprintf(msg, msg_bytes, "HTTP %ld code %d: %s", r->status, *code,
               json_string_value(m));
  }
  json_decref(j);
}

/* Parses the body as JSON; a non-JSON body is a decode error. */
static int parse_json(json_t **out, const struct coin_http_response *r,
                      const char *what) {
  json_error_t je;
  json_t *j = json_loadb(r->body, r->body_len, 0, &je);
  if (!j)
    return coin_error_set(COIN_EDECODE,
                          "%s: malformed body (%s at line %d column %d)", what,
                          je.text, je.line, je.column);
  *out = j;
  return 0;
}

typedef int (*parse_fn)(void *ud, const struct coin_http_response *r,
                        const char *what);

/* GET with budget, retries and error mapping; parse() runs on 200 and may
 * return COIN_EDECODE to have the response retried like a 5xx. */
static int get(struct coin_exchange *ex, const char *path_query, int64_t weight,
               const struct req_ctx *ctx, parse_fn parse, void *ud) {
  char url[1024], what[256];
  describe(what, sizeof(what), ctx);
  snprintf(url, sizeof(url), "%s%s", ex->opts.base_url, path_query);
  int attempt = 0, rate_waits = 0, rc = 0;

  for (;;) {
    struct coin_http_response resp = {0};
    rc = coin_exchange_budget_acquire(ex, weight);
    if (rc == 0)
      rc = coin_exchange_before_request(ex, what);
    if (rc != 0)
      return rc;
    ex->stats.requests++;
    rc = coin_http_request(ex->http, &resp, "GET", url, NULL, NULL, 0);
    if (rc == COIN_ETOOBIG) {
      ex->stats.malformed++;
      return coin_error_wrap(rc, "%s", what);
    }
    if (rc != 0) {
      ex->stats.transport_errors++;
      coin_error_wrap(rc, "%s", what);
      goto retry;
    }
    char wbuf[32];
    if (coin_http_response_header(wbuf, sizeof(wbuf), &resp,
                                  "X-MBX-USED-WEIGHT-1M") == 0)
      coin_exchange_budget_report(ex, strtoll(wbuf, NULL, 10));

    if (resp.status == 200) {
      ex->stats.status_2xx++;
      rc = parse(ud, &resp, what);
      coin_http_response_clear(&resp);
      if (rc == COIN_EDECODE) {
        ex->stats.malformed++;
        goto retry;
      }
      return rc;
    }
    if (resp.status == 429 || resp.status == 418) {
      bool ban = resp.status == 418;
      int64_t wait = retry_after_ms(&resp);
      if (ban)
        ex->stats.status_418++;
      else
        ex->stats.status_429++;
      coin_exchange_budget_pause(ex, coin_now_ms() + wait, ban);
      coin_http_response_clear(&resp);
      if (ban)
        return coin_error_set(COIN_ERATELIMIT,
                              "%s: HTTP 418 IP ban, exchange paused for %lld s",
                              what, (long long)(wait / 1000));
      if (++rate_waits > MAX_RATE_WAITS)
        return coin_error_set(COIN_ERATELIMIT, "%s: HTTP 429 %d times in a row",
                              what, rate_waits);
      ex->stats.retries++;
      continue; /* the budget holds us until Retry-After */
    }
    if (resp.status >= 500) {
      ex->stats.status_5xx++;
      coin_error_set(COIN_EUNAVAIL, "%s: HTTP %ld", what, resp.status);
      coin_http_response_clear(&resp);
      goto retry;
    }
    /* Other 4xx: the request is wrong; retrying will not help. */
    ex->stats.status_4xx++;
    {
      int code;
      char msg[256];
      api_error(&resp, &code, msg, sizeof(msg));
      coin_http_response_clear(&resp);
      if (code == -1121)
        return coin_error_set(COIN_ENOTFOUND, "%s: unknown symbol (%s)", what,
                              msg);
      return coin_error_set(COIN_EREJECTED, "%s: %s", what, msg);
    }
  retry:
    if (++attempt > ex->opts.max_retries)
      return coin_error_wrap(rc ? rc : COIN_EUNAVAIL, "gave up after %d tries",
                             attempt);
    ex->stats.retries++;
    int brc = coin_exchange_backoff(ex, attempt);
    if (brc != 0)
      return brc;
  }
}

/* --- /api/v3/time --- */

static int parse_time(void *ud, const struct coin_http_response *r,
                      const char *what) {
  json_t *j;
  int rc = parse_json(&j, r, what);
  if (rc != 0)
    return rc;
  json_t *t = json_object_get(j, "serverTime");
  if (!json_is_integer(t) || json_integer_value(t) <= 0) {
    json_decref(j);
    return coin_error_set(COIN_EDECODE, "%s: /api/v3/time without serverTime",
                          what);
  }
  *(int64_t *)ud = json_integer_value(t);
  json_decref(j);
  return 0;
}

static int binance_server_time(struct coin_exchange *ex, int64_t *out_ms) {
  int64_t t = 0;
  int rc = get(ex, "/api/v3/time", 1, NULL, parse_time, &t);
  if (rc == 0)
    *out_ms = t;
  return rc;
}

/* --- /api/v3/klines --- */

struct page {
  struct coin_candle rows[KLINES_LIMIT];
  int64_t close_ms[KLINES_LIMIT];
  size_t n;
};

static int num_field(double *out, json_t *v, size_t row, const char *name,
                     const char *what) {
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    if (coin_fmt_parse_decimal(out, s))
      return 0; /* the common "29000.01" form, exactly as strtod */
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (errno == 0 && end != s && *end == '\0' && isfinite(d)) {
      *out = d;
      return 0;
    }
    return coin_error_set(COIN_EDECODE,
                          "%s: malformed body: row %zu field %s \"%.32s\" is "
                          "not a number",
                          what, row, name, s);
  }
  if (json_is_number(v)) {
    *out = json_number_value(v);
    return 0;
  }
  return coin_error_set(COIN_EDECODE,
                        "%s: malformed body: row %zu field %s is not a number",
                        what, row, name);
}

/* ---- the common case without a JSON tree ----------------------------------
 * A scanner for the shape every Binance klines page has: an array of arrays
 * whose fields 0 and 6 are integers, 1-5 strings holding plain decimals, the
 * rest strings or integers, no escapes, no nesting. It accepts a strict
 * subset of what the jansson path accepts and yields the same rows; it
 * declines (returns false) on anything else, and the jansson path then
 * decides and names the error. */

struct scan {
  const char *p, *end;
};

static void scan_ws(struct scan *sc) {
  while (sc->p < sc->end &&
         (*sc->p == ' ' || *sc->p == '\n' || *sc->p == '\r' || *sc->p == '\t'))
    sc->p++;
}

static bool scan_char(struct scan *sc, char c) {
  scan_ws(sc);
  if (sc->p < sc->end && *sc->p == c) {
    sc->p++;
    return true;
  }
  return false;
}

/* -?(0|[1-9][0-9]*), at most 18 digits (no overflow). */
static bool scan_int(struct scan *sc, int64_t *out) {
  scan_ws(sc);
  const char *p = sc->p;
  bool neg = p < sc->end && *p == '-';
  p += neg;
  int64_t v = 0;
  int digits = 0;
  while (p < sc->end && *p >= '0' && *p <= '9') {
    if (++digits > 18 || (digits == 2 && v == 0))
      return false; /* too long, or a leading zero */
    v = v * 10 + (*p++ - '0');
  }
  if (digits == 0 || (p < sc->end && (*p == '.' || *p == 'e' || *p == 'E')))
    return false; /* a real number: jansson's call */
  *out = neg ? -v : v;
  sc->p = p;
  return true;
}

/* A string without escapes or control characters; [*s, *e). */
static bool scan_str(struct scan *sc, const char **s, const char **e) {
  if (!scan_char(sc, '"'))
    return false;
  const char *p = sc->p;
  while (p < sc->end && *p != '"') {
    if (*p == '\\' || (unsigned char)*p < 0x20 || (unsigned char)*p >= 0x80)
      return false; /* escapes, controls, UTF-8: jansson checks those */
    p++;
  }
  if (p >= sc->end)
    return false;
  *s = sc->p;
  *e = p;
  sc->p = p + 1;
  return true;
}

static bool scan_price(struct scan *sc, double *out) {
  const char *s, *e;
  char buf[40];
  if (!scan_str(sc, &s, &e) || (size_t)(e - s) >= sizeof(buf))
    return false;
  memcpy(buf, s, (size_t)(e - s));
  buf[e - s] = '\0';
  return coin_fmt_parse_decimal(out, buf);
}

static bool scan_row(struct scan *sc, struct coin_candle *c, int64_t *close) {
  double *dst[] = {&c->open, &c->high, &c->low, &c->close, &c->volume};
  if (!scan_char(sc, '[') || !scan_int(sc, &c->open_ms))
    return false;
  for (int f = 0; f < 5; f++)
    if (!scan_char(sc, ',') || !scan_price(sc, dst[f]))
      return false;
  if (!scan_char(sc, ',') || !scan_int(sc, close))
    return false;
  while (scan_char(sc, ',')) { /* the fields nobody reads */
    const char *s, *e;
    int64_t i;
    scan_ws(sc);
    if (sc->p < sc->end && *sc->p == '"' ? !scan_str(sc, &s, &e)
                                         : !scan_int(sc, &i))
      return false;
  }
  return scan_char(sc, ']');
}

static bool klines_fast(struct page *pg, const char *body, size_t len) {
  struct scan sc = {body, body + len};
  size_t n = 0;
  if (!scan_char(&sc, '['))
    return false;
  if (!scan_char(&sc, ']')) {
    do {
      struct coin_candle c;
      int64_t close = 0;
      if (n == KLINES_LIMIT || !scan_row(&sc, &c, &close))
        return false;
      if (n > 0 && c.open_ms <= pg->rows[n - 1].open_ms)
        return false; /* out of order or repeated: the slow path says so */
      pg->rows[n] = c;
      pg->close_ms[n++] = close;
    } while (scan_char(&sc, ','));
    if (!scan_char(&sc, ']'))
      return false;
  }
  scan_ws(&sc);
  if (sc.p != sc.end)
    return false;
  pg->n = n;
  return true;
}

static int parse_klines_json(void *ud, const struct coin_http_response *r,
                             const char *what);

static int parse_klines(void *ud, const struct coin_http_response *r,
                        const char *what) {
  if (klines_fast(ud, r->body, r->body_len))
    return 0;
  return parse_klines_json(ud, r, what);
}

/* The reference decoder: a jansson tree, every rule with its own error. */
static int parse_klines_json(void *ud, const struct coin_http_response *r,
                             const char *what) {
  static const char *const names[] = {"open", "high", "low", "close", "volume"};
  struct page *pg = ud;
  json_t *j;
  int rc = parse_json(&j, r, what);
  if (rc != 0)
    return rc;
  pg->n = 0;
  if (!json_is_array(j)) {
    rc = coin_error_set(COIN_EDECODE, "%s: malformed body: not an array", what);
    goto out;
  }
  if (json_array_size(j) > KLINES_LIMIT) {
    rc = coin_error_set(COIN_EDECODE, "%s: malformed body: %zu rows > %d", what,
                        json_array_size(j), KLINES_LIMIT);
    goto out;
  }
  for (size_t i = 0; i < json_array_size(j); i++) {
    json_t *row = json_array_get(j, i);
    if (!json_is_array(row) || json_array_size(row) < 7) {
      rc = coin_error_set(COIN_EDECODE,
                          "%s: malformed body: row %zu is not an array of >= 7 "
                          "fields",
                          what, i);
      goto out;
    }
    json_t *ot = json_array_get(row, 0), *ct = json_array_get(row, 6);
    if (!json_is_integer(ot) || !json_is_integer(ct)) {
      rc = coin_error_set(COIN_EDECODE,
                          "%s: malformed body: row %zu open/close time is not "
                          "an integer",
                          what, i);
      goto out;
    }
    struct coin_candle c = {.open_ms = json_integer_value(ot)};
    double *dst[] = {&c.open, &c.high, &c.low, &c.close, &c.volume};
    for (size_t f = 0; f < 5; f++) {
      rc = num_field(dst[f], json_array_get(row, f + 1), i, names[f], what);
      if (rc != 0)
        goto out;
    }
    if (pg->n > 0) {
      const struct coin_candle *p = &pg->rows[pg->n - 1];
      if (c.open_ms < p->open_ms) {
        rc = coin_error_set(COIN_EDECODE,
                            "%s: malformed body: row %zu open %lld before "
                            "previous %lld",
                            what, i, (long long)c.open_ms,
                            (long long)p->open_ms);
        goto out;
      }
      if (c.open_ms == p->open_ms) {
        if (memcmp(&c, p, sizeof(c)) != 0) {
          rc = coin_error_set(COIN_EDECODE,
                              "%s: malformed body: row %zu repeats open %lld "
                              "with other values",
                              what, i, (long long)c.open_ms);
          goto out;
        }
        continue; /* exact duplicate row: harmless, drop it */
      }
    }
    pg->close_ms[pg->n] = json_integer_value(ct);
    pg->rows[pg->n++] = c;
  }
out:
  json_decref(j);
  return rc;
}

static int decode_with(parse_fn parse, struct coin_candle *rows,
                       int64_t *close_ms, size_t *n, const char *body,
                       size_t len) {
  struct page *pg = malloc(sizeof(*pg));
  if (pg == NULL)
    return coin_error_set(COIN_ENOMEM, "binance klines: out of memory");
  struct coin_http_response r = {
      .status = 200, .body = (char *)body, .body_len = len};
  int rc = parse(pg, &r, "binance klines");
  *n = rc == 0 ? pg->n : 0;
  if (rc == 0) {
    memcpy(rows, pg->rows, pg->n * sizeof(rows[0]));
    memcpy(close_ms, pg->close_ms, pg->n * sizeof(close_ms[0]));
  }
  free(pg);
  return rc;
}

int coin_exchange_binance_decode_klines(struct coin_candle *rows,
                                        int64_t *close_ms, size_t *n,
                                        const char *body, size_t len) {
  return decode_with(parse_klines, rows, close_ms, n, body, len);
}

int coin_exchange_binance_decode_klines_json(struct coin_candle *rows,
                                             int64_t *close_ms, size_t *n,
                                             const char *body, size_t len) {
  return decode_with(parse_klines_json, rows, close_ms, n, body, len);
}

static int klines(struct coin_exchange *ex, struct page *pg, const char *symbol,
                  enum coin_tf tf, int64_t start_ms, int64_t end_ms, int limit,
                  const struct req_ctx *ctx) {
  char esc[96], pq[512];
  int rc = coin_http_escape(esc, sizeof(esc), symbol);
  if (rc != 0)
    return rc;
  if (end_ms >= 0)
    snprintf(pq, sizeof(pq),
             "/api/v3/klines?symbol=%s&interval=%s&startTime=%lld&endTime=%lld"
             "&limit=%d",
             esc, coin_tf_name(tf), (long long)start_ms, (long long)end_ms,
             limit);
  else
    snprintf(pq, sizeof(pq),
             "/api/v3/klines?symbol=%s&interval=%s&startTime=%lld&limit=%d",
             esc, coin_tf_name(tf), (long long)start_ms, limit);
  return get(ex, pq, KLINES_WEIGHT, ctx, parse_klines, pg);
}

static int binance_fetch_range(struct coin_exchange *ex, const char *symbol,
                               enum coin_tf tf, int64_t from_ms, int64_t to_ms,
                               coin_exchange_page_fn fn, void *ud) {
  struct page *pg = malloc(sizeof(*pg));
  if (!pg)
    return coin_error_set(COIN_ENOMEM, "binance: out of memory");
  struct req_ctx ctx = {symbol, coin_tf_name(tf), from_ms, to_ms};
  int64_t start = from_ms;
  int rc = 0;
  while (start <= to_ms) {
    ctx.from_ms = start;
    rc = klines(ex, pg, symbol, tf, start, to_ms, KLINES_LIMIT, &ctx);
    if (rc != 0)
      break;
    /* Keep only what was asked for; a server that strays is not trusted
     * beyond the range. */
    size_t lo = 0, hi = pg->n;
    while (lo < hi && pg->rows[lo].open_ms < start)
      lo++;
    while (hi > lo && pg->rows[hi - 1].open_ms > to_ms)
      hi--;
    if (hi > lo) {
      rc = fn(ud, pg->rows + lo, pg->close_ms + lo, hi - lo);
      if (rc != 0)
        break;
    }
    if (pg->n < KLINES_LIMIT || hi == lo)
      break; /* the exchange has nothing more in range */
    start = pg->rows[hi - 1].open_ms + 1;
  }
  free(pg);
  return rc;
}

static int binance_first_open(struct coin_exchange *ex, const char *symbol,
                              enum coin_tf tf, int64_t *out_ms) {
  struct page *pg = malloc(sizeof(*pg));
  if (!pg)
    return coin_error_set(COIN_ENOMEM, "binance: out of memory");
  struct req_ctx ctx = {symbol, coin_tf_name(tf), 0, -1};
  int rc = klines(ex, pg, symbol, tf, 0, -1, 1, &ctx);
  if (rc == 0 && pg->n == 0)
    rc = coin_error_set(COIN_ENOTFOUND, "binance %s %s: no candles at all",
                        symbol, coin_tf_name(tf));
  if (rc == 0)
    *out_ms = pg->rows[0].open_ms;
  free(pg);
  return rc;
}

static int parse_any(void *ud, const struct coin_http_response *r,
                     const char *what) {
  json_t *j;
  (void)ud;
  int rc = parse_json(&j, r, what);
  json_decref(j);
  return rc;
}

static int binance_check_symbol(struct coin_exchange *ex, const char *symbol) {
  char esc[96], pq[256];
  int rc = coin_http_escape(esc, sizeof(esc), symbol);
  if (rc != 0)
    return rc;
  snprintf(pq, sizeof(pq), "/api/v3/exchangeInfo?symbol=%s", esc);
  struct req_ctx ctx = {symbol, NULL, 0, 0};
  return get(ex, pq, 2, &ctx, parse_any, NULL);
}

static void binance_free(struct coin_exchange *ex) {
  (void)ex;
}

const struct coin_exchange_ops coin_exchange_binance_ops = {
    .name = "binance",
    .server_time = binance_server_time,
    .fetch_range = binance_fetch_range,
    .first_open = binance_first_open,
    .check_symbol = binance_check_symbol,
    .free = binance_free,
};
