/*
 * replay.c: the HTTP side of coin-replay-exchange. Binance spot endpoints
 * (/api/v3/ping, time, exchangeInfo, klines, uiKlines) with request weight,
 * 429/418 rate limiting and injected faults, plus test-only /__replay/stats
 * and /__replay/reset. Handlers run on the httpd's threads: data and faults
 * are read-only, counters are atomics, the weight window and fault log sit
 * under one mutex. The struct replay owns everything it points to.
 */
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "coin/clock.h"
#include "coin/error.h"
#include "coin/httpd.h"
#include "coin/jbuf.h"
#include "coin/log.h"
#include "replay.h"

#define JSON_TYPE "application/json;charset=UTF-8"
#define MINUTE_MS INT64_C(60000)
#define MAX_BAN_SECONDS 259200 /* Binance bans last 2 minutes to 3 days */

enum endpoint {
  EP_PING,
  EP_TIME,
  EP_EXCHANGE_INFO,
  EP_KLINES,
  EP_OTHER,
  EP_COUNT
};

static const char *const endpoint_names[EP_COUNT] = {
    "ping", "time", "exchangeInfo", "klines", "other"};
static const int endpoint_weight[EP_COUNT] = {1, 1, 20, 2, 1};

enum status_class {
  SC_2XX,
  SC_400,
  SC_404,
  SC_405,
  SC_418,
  SC_429,
  SC_5XX,
  SC_OTHER,
  SC_COUNT
};
static const char *const status_names[SC_COUNT] = {
    "2xx", "400", "404", "405", "418", "429", "5xx", "other"};

struct fault_entry {
  uint64_t request;
  char fault[16];
  char detail[32];
};

struct replay {
  struct coin_httpd *httpd;
  struct replay_data *data;
  struct replay_faults faults;
  char **info_json; /* exchangeInfo object per served symbol, same order */
  int weight_limit;
  int ban_after_429;
  int ban_seconds;
  int horizon_days;
  int64_t started_ms;

  atomic_uint_fast64_t requests[EP_COUNT];
  atomic_uint_fast64_t test_requests;
  atomic_uint_fast64_t responses[SC_COUNT];
  atomic_uint_fast64_t klines_seq; /* numbers klines requests for faults */
  atomic_uint_fast64_t faults_by_rule[REPLAY_MAX_RULES];
  atomic_uint_fast64_t gap_requests;
  atomic_uint_fast64_t gap_rows;

  pthread_mutex_t mu; /* guards everything below */
  int64_t window_ms;
  int used;
  int over_in_window;
  int64_t banned_until_ms;
  int bans;
  struct fault_entry fault_log[REPLAY_FAULT_LOG];
  uint64_t fault_log_total;
};

/* ------------------------------------------------------------ responses */

static enum status_class classify_status(int status) {
  switch (status) {
  case 400: return SC_400;
  case 404: return SC_404;
  case 405: return SC_405;
  case 418: return SC_418;
  case 429: return SC_429;
  default:
    if (status >= 200 && status < 300)
      return SC_2XX;
    if (status >= 500 && status < 600)
      return SC_5XX;
    return SC_OTHER;
  }
}

/* Sends b (consumed) as JSON; a buffer that hit its cap becomes a 500. */
static void send_jbuf(struct replay *r, struct coin_httpd_response *resp,
                      int status, struct coin_jbuf *b) {
  char *text = NULL;
  size_t len = 0;
  if (b->p == NULL || coin_jbuf_finish(&text, &len, b) != 0) {
    coin_jbuf_free(b);
    coin_httpd_respond_printf(resp, 500, JSON_TYPE,
                              "{\"code\":-1001,\"msg\":\"Internal error; "
                              "response too large.\"}");
    status = 500;
  } else {
    coin_httpd_respond_take(resp, status, JSON_TYPE, text, len);
  }
  atomic_fetch_add(&r->responses[classify_status(status)], 1);
}

static void send_error(struct replay *r, struct coin_httpd_response *resp,
                       int status, int code, const char *msg) {
  struct coin_jbuf b;
  coin_jbuf_init(&b, COIN_BUF_CAP_REPLAY_ERROR);
  coin_jbuf_printf(&b, "{\"code\":%d,\"msg\":", code);
  coin_jbuf_str(&b, msg);
  coin_jbuf_puts(&b, "}");
  send_jbuf(r, resp, status, &b);
}

static void retry_after(struct coin_httpd_response *resp, int64_t seconds) {
  char text[24];
  snprintf(text, sizeof(text), "%" PRId64, seconds < 1 ? 1 : seconds);
  coin_httpd_response_header(resp, "Retry-After", text);
}

/* --------------------------------------------------------------- weight */

struct admission {
  int status; /* 0 = go on, 429, 418 */
  int used;
  int64_t retry_after_s;
  int64_t banned_until_ms;
};

static int64_t ceil_seconds(int64_t ms) {
  return (ms + 999) / 1000;
}

/* Binance counts weight per IP in fixed UTC minutes. Past the limit a
 * request gets 429 (weight still counted); a client that keeps sending after
 * ban_after_429 of them in one minute is banned with 418 for ban_seconds,
 * doubling with each further ban up to 3 days. The replay keeps one counter
 * for all clients (tests run on one host anyway). */
static struct admission admit(struct replay *r, int weight, int64_t now_ms) {
  struct admission a = {0};
  pthread_mutex_lock(&r->mu);
  int64_t window = now_ms - now_ms % MINUTE_MS;
  if (window != r->window_ms) {
    r->window_ms = window;
    r->used = 0;
    r->over_in_window = 0;
  }
  if (now_ms < r->banned_until_ms) {
    a.status = 418;
    a.retry_after_s = ceil_seconds(r->banned_until_ms - now_ms);
    a.banned_until_ms = r->banned_until_ms;
  } else {
    r->used += weight;
    if (r->used > r->weight_limit) {
      r->over_in_window++;
      if (r->over_in_window > r->ban_after_429) {
        int shift = r->bans < 20 ? r->bans : 20;
        int64_t ban_s = (int64_t)r->ban_seconds << shift;
        if (ban_s > MAX_BAN_SECONDS)
          ban_s = MAX_BAN_SECONDS;
        r->bans++;
        r->banned_until_ms = now_ms + ban_s * 1000;
        r->over_in_window = 0;
        a.status = 418;
        a.retry_after_s = ban_s;
        a.banned_until_ms = r->banned_until_ms;
      } else {
        a.status = 429;
        a.retry_after_s = ceil_seconds(window + MINUTE_MS - now_ms);
      }
    }
  }
  a.used = r->used;
  pthread_mutex_unlock(&r->mu);
  return a;
}

static void reset_weight(struct replay *r) {
  pthread_mutex_lock(&r->mu);
  r->window_ms = 0;
  r->used = 0;
  r->over_in_window = 0;
  r->banned_until_ms = 0;
  r->bans = 0;
  pthread_mutex_unlock(&r->mu);
}

/* ---------------------------------------------------------- exchangeInfo */

static void decimals_text(char *out, size_t cap, int decimals) {
  /* 10^-decimals with Binance's 8 decimals: 2 -> "0.01000000". */
  if (decimals > 8)
    decimals = 8;
  snprintf(out, cap, "%s", decimals == 0 ? "1.00000000" : "0.");
  if (decimals > 0) {
    size_t n = strlen(out);
    for (int i = 1; i < decimals; i++)
      out[n++] = '0';
    out[n++] = '1';
    for (int i = decimals; i < 8; i++)
      out[n++] = '0';
    out[n] = '\0';
  }
}

static char *symbol_info_json(const struct replay_symbol *s) {
  char tick[16], step[16];
  struct coin_jbuf b;
  decimals_text(tick, sizeof(tick), s->src->price_decimals);
  decimals_text(step, sizeof(step), s->src->qty_decimals);
  coin_jbuf_init(&b, COIN_BUF_CAP_REPLAY_SYMBOL_INFO);
  coin_jbuf_puts(&b, "{\"symbol\":");
  coin_jbuf_str(&b, s->name);
  coin_jbuf_puts(&b, ",\"status\":\"TRADING\",\"baseAsset\":");
  coin_jbuf_str(&b, s->base);
  coin_jbuf_puts(&b, ",\"baseAssetPrecision\":8,\"quoteAsset\":");
  coin_jbuf_str(&b, s->quote);
  coin_jbuf_puts(
      &b, ",\"quotePrecision\":8,\"quoteAssetPrecision\":8,"
          "\"baseCommissionPrecision\":8,\"quoteCommissionPrecision\":8,"
          "\"orderTypes\":[\"LIMIT\",\"LIMIT_MAKER\",\"MARKET\","
          "\"STOP_LOSS_LIMIT\",\"TAKE_PROFIT_LIMIT\"],"
          "\"icebergAllowed\":true,\"ocoAllowed\":true,\"otoAllowed\":true,"
          "\"quoteOrderQtyMarketAllowed\":true,\"allowTrailingStop\":true,"
          "\"cancelReplaceAllowed\":true,\"isSpotTradingAllowed\":true,"
          "\"isMarginTradingAllowed\":false,\"filters\":[");
  coin_jbuf_printf(&b,
                   "{\"filterType\":\"PRICE_FILTER\",\"minPrice\":\"%s\","
                   "\"maxPrice\":\"1000000.00000000\",\"tickSize\":\"%s\"},",
                   tick, tick);
  coin_jbuf_printf(&b,
                   "{\"filterType\":\"LOT_SIZE\",\"minQty\":\"%s\","
                   "\"maxQty\":\"9000000.00000000\",\"stepSize\":\"%s\"},",
                   step, step);
  coin_jbuf_puts(&b, "{\"filterType\":\"ICEBERG_PARTS\",\"limit\":10},");
  coin_jbuf_printf(
      &b, "{\"filterType\":\"MARKET_LOT_SIZE\",\"minQty\":\"0.00000000\","
          "\"maxQty\":\"9000000.00000000\",\"stepSize\":\"0.00000000\"},");
  coin_jbuf_puts(&b,
                 "{\"filterType\":\"MIN_NOTIONAL\",\"minNotional\":"
                 "\"5.00000000\",\"applyToMarket\":true,\"avgPriceMins\":5},");
  coin_jbuf_puts(&b,
                 "{\"filterType\":\"NOTIONAL\",\"minNotional\":\"5.00000000\","
                 "\"applyMinToMarket\":true,\"maxNotional\":"
                 "\"9000000.00000000\",\"applyMaxToMarket\":false,"
                 "\"avgPriceMins\":5},");
  coin_jbuf_puts(&b,
                 "{\"filterType\":\"MAX_NUM_ORDERS\",\"maxNumOrders\":200},");
  coin_jbuf_puts(&b,
                 "{\"filterType\":\"MAX_NUM_ALGO_ORDERS\",\"maxNumAlgoOrders\":"
                 "5}],");
  coin_jbuf_puts(&b,
                 "\"permissions\":[\"SPOT\"],\"permissionSets\":[[\"SPOT\"]],"
                 "\"defaultSelfTradePreventionMode\":\"EXPIRE_MAKER\","
                 "\"allowedSelfTradePreventionModes\":[\"EXPIRE_TAKER\","
                 "\"EXPIRE_MAKER\",\"EXPIRE_BOTH\"]}");
  char *text = NULL;
  if (coin_jbuf_finish(&text, NULL, &b) != 0)
    return NULL;
  return text;
}

/* symbols=["A","B"] as Binance accepts it. Returns the count, -1 when the
 * text is not such a list, -2 when a symbol is unknown. */
static int parse_symbols_param(const struct replay_data *d, const char *text,
                               const struct replay_symbol **out, int cap) {
  json_error_t err;
  json_t *arr = json_loads(text, 0, &err);
  int n = -1;
  if (arr == NULL || !json_is_array(arr) || json_array_size(arr) == 0 ||
      json_array_size(arr) > (size_t)cap)
    goto out;
  n = 0;
  for (size_t i = 0; i < json_array_size(arr); i++) {
    json_t *v = json_array_get(arr, i);
    if (!json_is_string(v)) {
      n = -1;
      goto out;
    }
    const struct replay_symbol *s = replay_data_find(d, json_string_value(v));
    if (s == NULL) {
      n = -2;
      goto out;
    }
    out[n++] = s;
  }
out:
  json_decref(arr);
  return n;
}

static void serve_exchange_info(struct replay *r,
                                const struct coin_httpd_request *req,
                                struct coin_httpd_response *resp,
                                int64_t now_ms) {
  const char *one = coin_httpd_request_query(req, "symbol");
  const char *many = coin_httpd_request_query(req, "symbols");
  const struct replay_symbol **pick = NULL;
  size_t npick = r->data->nsymbols;
  if (one && many) {
    send_error(r, resp, 400, -1101,
               "Combination of optional parameters invalid.");
    return;
  }
  if (one || many) {
    pick = calloc(r->data->nsymbols, sizeof(*pick));
    if (pick == NULL) {
      send_error(r, resp, 500, -1001, "Internal error; out of memory.");
      return;
    }
    if (one) {
      pick[0] = replay_data_find(r->data, one);
      npick = 1;
      if (pick[0] == NULL) {
        free(pick);
        send_error(r, resp, 400, -1121, "Invalid symbol.");
        return;
      }
    } else {
      int n = parse_symbols_param(r->data, many, pick, (int)r->data->nsymbols);
      if (n <= 0) {
        free(pick);
        if (n == -2)
          send_error(r, resp, 400, -1121, "Invalid symbol.");
        else
          send_error(r, resp, 400, -1100,
                     "Illegal characters found in parameter 'symbols'; "
                     "legal range is '^\\[(\"[A-Z0-9-_.]{1,20}\"(,\"[A-Z0-9-_"
                     ".]{1,20}\"){0,}){0,1}\\]$'.");
        return;
      }
      npick = (size_t)n;
    }
  }
  struct coin_jbuf b;
  coin_jbuf_init(&b, COIN_BUF_CAP_REPLAY_BODY);
  coin_jbuf_printf(
      &b,
      "{\"timezone\":\"UTC\",\"serverTime\":%" PRId64
      ",\"rateLimits\":[{\"rateLimitType\":\"REQUEST_WEIGHT\","
      "\"interval\":\"MINUTE\",\"intervalNum\":1,\"limit\":%d},"
      "{\"rateLimitType\":\"ORDERS\",\"interval\":\"SECOND\","
      "\"intervalNum\":10,\"limit\":100},{\"rateLimitType\":\"ORDERS\","
      "\"interval\":\"DAY\",\"intervalNum\":1,\"limit\":200000},"
      "{\"rateLimitType\":\"RAW_REQUESTS\",\"interval\":\"MINUTE\","
      "\"intervalNum\":5,\"limit\":61000}],\"exchangeFilters\":[],"
      "\"symbols\":[",
      now_ms, r->weight_limit);
  for (size_t i = 0; i < npick; i++) {
    size_t idx = pick ? (size_t)(pick[i] - r->data->symbols) : i;
    if (i)
      coin_jbuf_putn(&b, ",", 1);
    coin_jbuf_puts(&b, r->info_json[idx]);
  }
  coin_jbuf_puts(&b, "]}");
  free(pick);
  send_jbuf(r, resp, 200, &b);
}

/* --------------------------------------------------------------- klines */

/* Binance's text for a parameter that is not ^[0-9]{1,20}$. */
static int parse_param_ms(struct replay *r, struct coin_httpd_response *resp,
                          const char *name, const char *text, int64_t *out) {
  size_t n = strlen(text);
  if (n == 0 || n > 20 || strspn(text, "0123456789") != n) {
    char msg[160];
    snprintf(msg, sizeof(msg),
             "Illegal characters found in parameter '%s'; legal range is "
             "'^[0-9]{1,20}$'.",
             name);
    send_error(r, resp, 400, -1100, msg);
    return -1;
  }
  /* Values past year 9999 mean "no bound" in practice; clamp them. */
  uint64_t v = n > 19 ? UINT64_MAX : strtoull(text, NULL, 10);
  *out = v > (uint64_t)COIN_TF_MAX_MS ? COIN_TF_MAX_MS : (int64_t)v;
  return 0;
}

static void log_fault(struct replay *r, uint64_t n, const char *fault,
                      const char *detail, const char *symbol,
                      const char *interval) {
  pthread_mutex_lock(&r->mu);
  struct fault_entry *e = &r->fault_log[r->fault_log_total % REPLAY_FAULT_LOG];
  e->request = n;
  snprintf(e->fault, sizeof(e->fault), "%s", fault);
  snprintf(e->detail, sizeof(e->detail), "%s", detail ? detail : "");
  r->fault_log_total++;
  pthread_mutex_unlock(&r->mu);
  COIN_LOG_WARN("fault injected", COIN_LOG_STR("fault", fault),
                COIN_LOG_UINT("request", n), COIN_LOG_STR("detail", detail),
                COIN_LOG_STR("symbol", symbol),
                COIN_LOG_STR("interval", interval));
}

static void send_status_fault(struct replay *r,
                              struct coin_httpd_response *resp, int status) {
  switch (status) {
  case 429:
    retry_after(resp, 1);
    send_error(r, resp, 429, -1003,
               "Too many requests; current limit is exceeded (injected "
               "fault). Please use the websocket for live updates to avoid "
               "polling the API.");
    break;
  case 418:
    retry_after(resp, 2);
    send_error(r, resp, 418, -1003,
               "Way too many requests; IP banned (injected fault). Please "
               "use the websocket for live updates to avoid bans.");
    break;
  case 503:
    send_error(r, resp, 503, -1008,
               "Server is currently overloaded with other requests. Please "
               "try again in a few minutes.");
    break;
  default:
    send_error(r, resp, status, -1001,
               "Internal error; unable to process your request. Please try "
               "again.");
    break;
  }
}

/* Renders rows; applies the body faults that change what is rendered. */
static void render_rows(struct coin_jbuf *b, const struct replay_kline *rows,
                        size_t n, int malformed_variant) {
  if (malformed_variant == 2) { /* an object where an array belongs */
    coin_jbuf_puts(b, "{\"code\":0,\"rows\":");
  }
  coin_jbuf_putn(b, "[", 1);
  for (size_t i = 0; i < n; i++) {
    if (i)
      coin_jbuf_putn(b, ",", 1);
    if (i == n / 2 && malformed_variant == 0) { /* a row of 5 fields */
      coin_jbuf_putn(b, "[", 1);
      coin_jbuf_i64(b, rows[i].open_ms);
      coin_jbuf_putn(b, ",\"", 2);
      replay_put_decimal(b, rows[i].open);
      coin_jbuf_putn(b, "\",\"", 3);
      replay_put_decimal(b, rows[i].high);
      coin_jbuf_putn(b, "\",\"", 3);
      replay_put_decimal(b, rows[i].low);
      coin_jbuf_putn(b, "\",\"", 3);
      replay_put_decimal(b, rows[i].close);
      coin_jbuf_putn(b, "\"]", 2);
    } else if (i == n / 2 && malformed_variant == 1) { /* non-numeric price */
      struct coin_jbuf row;
      coin_jbuf_init(&row, COIN_BUF_CAP_REPLAY_ROW);
      replay_render_kline(&row, &rows[i]);
      /* Replace the open price string (2nd field) with garbage. */
      const char *q1 = row.p ? strchr(row.p, '"') : NULL;
      const char *q2 = q1 ? strchr(q1 + 1, '"') : NULL;
      if (q1 && q2) {
        coin_jbuf_putn(b, row.p, (size_t)(q1 - row.p) + 1);
        coin_jbuf_puts(b, "not-a-number");
        coin_jbuf_puts(b, q2);
      }
      coin_jbuf_free(&row);
    } else if (i == n / 2 && malformed_variant == 3) { /* time as a string */
      coin_jbuf_putn(b, "[\"", 2);
      coin_jbuf_i64(b, rows[i].open_ms);
      coin_jbuf_putn(b, "\"", 1);
      struct coin_jbuf row;
      coin_jbuf_init(&row, COIN_BUF_CAP_REPLAY_ROW);
      replay_render_kline(&row, &rows[i]);
      const char *comma = row.p ? strchr(row.p, ',') : NULL;
      if (comma)
        coin_jbuf_puts(b, comma);
      coin_jbuf_free(&row);
    } else {
      replay_render_kline(b, &rows[i]);
    }
  }
  coin_jbuf_putn(b, "]", 1);
  if (malformed_variant == 2)
    coin_jbuf_putn(b, "}", 1);
}

static const char *const malformed_names[4] = {"row_5_fields", "bad_price",
                                               "object", "time_string"};

static void serve_klines(struct replay *r, const struct coin_httpd_request *req,
                         struct coin_httpd_response *resp, int64_t now_ms) {
  struct replay_query q;
  memset(&q, 0, sizeof(q));
  const char *symbol = coin_httpd_request_query(req, "symbol");
  const char *interval = coin_httpd_request_query(req, "interval");
  const char *limit = coin_httpd_request_query(req, "limit");
  const char *start = coin_httpd_request_query(req, "startTime");
  const char *end = coin_httpd_request_query(req, "endTime");
  struct replay_kline *rows = NULL;
  struct coin_jbuf b;
  coin_jbuf_init(&b, COIN_BUF_CAP_REPLAY_BODY);

  if (symbol == NULL || symbol[0] == '\0') {
    send_error(r, resp, 400, -1102,
               "Mandatory parameter 'symbol' was not sent, was empty/null, or "
               "malformed.");
    goto out;
  }
  if (interval == NULL || interval[0] == '\0') {
    send_error(r, resp, 400, -1102,
               "Mandatory parameter 'interval' was not sent, was empty/null, "
               "or malformed.");
    goto out;
  }
  q.sym = replay_data_find(r->data, symbol);
  if (q.sym == NULL) {
    send_error(r, resp, 400, -1121, "Invalid symbol.");
    goto out;
  }
  /* Only the project's timeframes exist here; Binance's others (5m, 4h...)
   * are refused loudly rather than answered with a misleading []. */
  if (coin_tf_parse(&q.tf, interval) < 0) {
    send_error(r, resp, 400, -1120, "Invalid interval.");
    goto out;
  }
  q.limit = REPLAY_DEFAULT_LIMIT;
  if (limit) {
    int64_t v;
    if (parse_param_ms(r, resp, "limit", limit, &v) < 0)
      goto out;
    if (v < 1 || v > REPLAY_MAX_LIMIT) {
      send_error(r, resp, 400, -1130,
                 "Data sent for paramter 'limit' is not valid.");
      goto out;
    }
    q.limit = (int)v;
  }
  if (start) {
    if (parse_param_ms(r, resp, "startTime", start, &q.start_ms) < 0)
      goto out;
    q.has_start = true;
  }
  if (end) {
    if (parse_param_ms(r, resp, "endTime", end, &q.end_ms) < 0)
      goto out;
    q.has_end = true;
  }
  if (q.has_start && q.has_end && q.start_ms > q.end_ms) {
    send_error(r, resp, 400, -1023, "Start time is greater than end time.");
    goto out;
  }

  uint64_t n = atomic_fetch_add(&r->klines_seq, 1) + 1;
  const struct replay_fault_rule *fault =
      replay_faults_decide(&r->faults, n, symbol);
  enum replay_fault_kind kind = fault ? fault->kind : FAULT_NONE;
  char detail[32] = "";
  if (kind == FAULT_STATUS) {
    atomic_fetch_add(&r->faults_by_rule[fault - r->faults.rules], 1);
    log_fault(r, n, fault->name, "", symbol, interval);
    send_status_fault(r, resp, fault->status);
    goto out;
  }
  /* Answers that never fit a client's cap or never end: a well-formed
   * start of a klines array, then filler, generated as it is sent. */
  if (kind == FAULT_HUGE || kind == FAULT_ENDLESS || kind == FAULT_DRIP) {
    static const char row[] =
        "[946684800000,\"1.0\",\"1.0\",\"1.0\",\"1.0\",\"1.0\","
        "946688399999,\"1.0\",1,\"1.0\",\"1.0\",\"0\"],";
    uint64_t total = kind == FAULT_HUGE ? REPLAY_HUGE_BYTES : 0;
    if (kind == FAULT_HUGE)
      snprintf(detail, sizeof(detail), "%" PRIu64 " bytes", total);
    else if (kind == FAULT_DRIP)
      snprintf(detail, sizeof(detail), "1 byte / %d ms", fault->delay_ms);
    atomic_fetch_add(&r->faults_by_rule[fault - r->faults.rules], 1);
    log_fault(r, n, fault->name, detail, symbol, interval);
    coin_httpd_respond(resp, 200, JSON_TYPE, "", 0);
    atomic_fetch_add(&r->responses[classify_status(200)], 1);
    if (kind == FAULT_DRIP)
      coin_httpd_response_stream(resp, "[", " ", 0, 1, fault->delay_ms);
    else
      coin_httpd_response_stream(resp, "[", row, total, 64 * 1024, 0);
    goto out;
  }
  if (kind == FAULT_SLOW) {
    snprintf(detail, sizeof(detail), "%d ms", fault->delay_ms);
    atomic_fetch_add(&r->faults_by_rule[fault - r->faults.rules], 1);
    log_fault(r, n, fault->name, detail, symbol, interval);
    usleep((useconds_t)fault->delay_ms * 1000);
    now_ms = coin_now_ms(); /* answer as of when the answer leaves */
  }

  rows = malloc(((size_t)q.limit + 1) * sizeof(*rows));
  if (rows == NULL) {
    send_error(r, resp, 500, -1001, "Internal error; out of memory.");
    goto out;
  }
  q.now_ms = now_ms;
  q.gaps = r->faults.gaps;
  q.ngaps = r->faults.ngaps;
  size_t gapped = 0;
  size_t count = replay_klines(rows, &q, &gapped);
  if (gapped) {
    atomic_fetch_add(&r->gap_requests, 1);
    atomic_fetch_add(&r->gap_rows, gapped);
    snprintf(detail, sizeof(detail), "%zu rows", gapped);
    log_fault(r, n, "gap", detail, symbol, interval);
  }

  /* Body faults need rows to work on (truncate/malformed/reset do not). */
  double u = replay_faults_uniform(r->faults.seed, n, 0xB0D1);
  int malformed = -1;
  bool applied = true;
  switch (kind) {
  case FAULT_DUP:
    if (count == 0) {
      applied = false;
      break;
    }
    {
      size_t i = (size_t)(u * (double)count);
      memmove(&rows[i + 1], &rows[i], (count - i) * sizeof(*rows));
      count++;
      snprintf(detail, sizeof(detail), "row %zu", i);
    }
    break;
  case FAULT_INVALID:
    if (count == 0) {
      applied = false;
      break;
    }
    {
      size_t i = (size_t)(u * (double)count);
      double hi = rows[i].high, lo = rows[i].low;
      rows[i].high = lo < hi ? lo : hi;
      rows[i].low = lo < hi ? hi : lo;
      if (rows[i].high == rows[i].low)
        rows[i].low = rows[i].high * 2 + 1;
      snprintf(detail, sizeof(detail), "row %zu high<low", i);
    }
    break;
  case FAULT_MALFORMED:
    malformed = count == 0 ? 2 : (int)(u * 4);
    snprintf(detail, sizeof(detail), "%s", malformed_names[malformed]);
    break;
  default: break;
  }
  render_rows(&b, rows, count, malformed);
  if (b.oom) {
    send_jbuf(r, resp, 200, &b);
    goto out;
  }
  if (kind == FAULT_TRUNCATE) {
    size_t cut = 1 + (size_t)(u * (double)(b.len - 1));
    if (cut >= b.len)
      cut = b.len - 1;
    snprintf(detail, sizeof(detail), "%zu of %zu bytes", cut, b.len);
    coin_buf_truncate(&b.buf, cut);
  }
  if (kind == FAULT_RESET) {
    coin_httpd_response_abort_after(resp, b.len / 2);
    coin_httpd_response_header(resp, "Connection", "close");
    snprintf(detail, sizeof(detail), "%zu of %zu bytes", b.len / 2, b.len);
  }
  if (kind != FAULT_NONE && kind != FAULT_SLOW && applied) {
    atomic_fetch_add(&r->faults_by_rule[fault - r->faults.rules], 1);
    log_fault(r, n, fault->name, detail, symbol, interval);
  }
  send_jbuf(r, resp, 200, &b);
out:
  free(rows);
  coin_jbuf_free(&b);
}

/* ----------------------------------------------------------- test-only */

static void serve_stats(struct replay *r, struct coin_httpd_response *resp) {
  struct coin_jbuf b;
  int64_t now = coin_now_ms();
  coin_jbuf_init(&b, COIN_BUF_CAP_REPLAY_BODY);
  coin_jbuf_printf(&b, "{\"now_ms\":%" PRId64 ",\"started_ms\":%" PRId64, now,
                   r->started_ms);
  uint64_t total = 0;
  for (int i = 0; i < EP_COUNT; i++)
    total += atomic_load(&r->requests[i]);
  coin_jbuf_printf(&b, ",\"requests\":{\"total\":%" PRIu64, total);
  for (int i = 0; i < EP_COUNT; i++)
    coin_jbuf_printf(&b, ",\"%s\":%" PRIu64, endpoint_names[i],
                     (uint64_t)atomic_load(&r->requests[i]));
  coin_jbuf_printf(&b, ",\"test\":%" PRIu64 "},\"responses\":{",
                   (uint64_t)atomic_load(&r->test_requests));
  for (int i = 0; i < SC_COUNT; i++)
    coin_jbuf_printf(&b, "%s\"%s\":%" PRIu64, i ? "," : "", status_names[i],
                     (uint64_t)atomic_load(&r->responses[i]));
  uint64_t faults_total = 0;
  coin_jbuf_puts(&b, "},\"faults\":{\"by_rule\":[");
  for (size_t i = 0; i < r->faults.nrules; i++) {
    uint64_t c = atomic_load(&r->faults_by_rule[i]);
    faults_total += c;
    coin_jbuf_printf(&b, "%s{\"fault\":", i ? "," : "");
    coin_jbuf_str(&b, r->faults.rules[i].name);
    coin_jbuf_printf(&b, ",\"count\":%" PRIu64 "}", c);
  }
  coin_jbuf_printf(&b,
                   "],\"total\":%" PRIu64 ",\"gap_requests\":%" PRIu64
                   ",\"gap_rows\":%" PRIu64 ",\"klines_requests\":%" PRIu64,
                   faults_total, (uint64_t)atomic_load(&r->gap_requests),
                   (uint64_t)atomic_load(&r->gap_rows),
                   (uint64_t)atomic_load(&r->klines_seq));

  pthread_mutex_lock(&r->mu);
  uint64_t logged = r->fault_log_total;
  uint64_t first = logged > REPLAY_FAULT_LOG ? logged - REPLAY_FAULT_LOG : 0;
  coin_jbuf_puts(&b, ",\"log\":[");
  for (uint64_t i = first; i < logged; i++) {
    const struct fault_entry *e = &r->fault_log[i % REPLAY_FAULT_LOG];
    coin_jbuf_printf(&b, "%s{\"request\":%" PRIu64 ",\"fault\":",
                     i > first ? "," : "", e->request);
    coin_jbuf_str(&b, e->fault);
    coin_jbuf_puts(&b, ",\"detail\":");
    coin_jbuf_str(&b, e->detail);
    coin_jbuf_puts(&b, "}");
  }
  int64_t window = now - now % MINUTE_MS;
  coin_jbuf_printf(
      &b,
      "]},\"weight\":{\"used_1m\":%d,\"limit\":%d,\"window_start_ms\":%" PRId64
      ",\"banned_until_ms\":%" PRId64 ",\"bans\":%d}",
      r->window_ms == window ? r->used : 0, r->weight_limit, window,
      r->banned_until_ms, r->bans);
  pthread_mutex_unlock(&r->mu);

  coin_jbuf_printf(&b, ",\"seed\":%" PRIu64 ",\"horizon_days\":%d,\"shifts\":{",
                   r->faults.seed, r->horizon_days);
  for (size_t i = 0; i < r->data->nsymbols; i++) {
    const struct replay_symbol *s = &r->data->symbols[i];
    coin_jbuf_puts(&b, i ? "," : "");
    coin_jbuf_str(&b, s->name);
    coin_jbuf_puts(&b, ":{\"source\":");
    coin_jbuf_str(&b, s->src->symbol);
    static const char *const names[REPLAY_BASE_N] = {"1m", "1h", "1d"};
    for (int t = 0; t < REPLAY_BASE_N; t++) {
      if (s->src->file[t] == NULL)
        continue;
      coin_jbuf_printf(&b, ",\"%s\":%" PRId64 ",\"%s_weeks\":%" PRId64,
                       names[t], s->src->shift_ms[t], names[t],
                       s->src->shift_ms[t] / COIN_WEEK_MS);
    }
    coin_jbuf_puts(&b, "}");
  }
  coin_jbuf_puts(&b, "}}");
  send_jbuf(r, resp, 200, &b);
}

static void serve_test(struct replay *r, const struct coin_httpd_request *req,
                       struct coin_httpd_response *resp, const char *path) {
  const char *method = coin_httpd_request_method(req);
  atomic_fetch_add(&r->test_requests, 1);
  if (strcmp(path, "/__replay/stats") == 0) {
    serve_stats(r, resp);
  } else if (strcmp(path, "/__replay/reset") == 0) {
    if (strcmp(method, "POST") != 0) {
      send_error(r, resp, 405, -1, "Use POST /__replay/reset.");
      return;
    }
    reset_weight(r);
    coin_httpd_respond_printf(resp, 200, JSON_TYPE, "{\"reset\":true}");
  } else {
    send_error(r, resp, 404, -1, "Unknown test endpoint.");
  }
}

/* -------------------------------------------------------------- routing */

static enum endpoint classify_path(const char *path) {
  if (strcmp(path, "/api/v3/ping") == 0)
    return EP_PING;
  if (strcmp(path, "/api/v3/time") == 0)
    return EP_TIME;
  if (strcmp(path, "/api/v3/exchangeInfo") == 0)
    return EP_EXCHANGE_INFO;
  if (strcmp(path, "/api/v3/klines") == 0 ||
      strcmp(path, "/api/v3/uiKlines") == 0)
    return EP_KLINES;
  return EP_OTHER;
}

static void handle(void *ctx, const struct coin_httpd_request *req,
                   struct coin_httpd_response *resp) {
  struct replay *r = ctx;
  const char *path = coin_httpd_request_path(req);
  const char *method = coin_httpd_request_method(req);
  if (strncmp(path, "/__replay/", 10) == 0) {
    serve_test(r, req, resp, path);
    return;
  }
  enum endpoint ep = classify_path(path);
  atomic_fetch_add(&r->requests[ep], 1);
  int64_t now = coin_now_ms();
  struct admission a = admit(r, endpoint_weight[ep], now);
  char used[24];
  snprintf(used, sizeof(used), "%d", a.used);
  coin_httpd_response_header(resp, "X-MBX-USED-WEIGHT-1M", used);
  coin_httpd_response_header(resp, "X-MBX-USED-WEIGHT", used);
  if (a.status == 429) {
    char msg[200];
    retry_after(resp, a.retry_after_s);
    snprintf(msg, sizeof(msg),
             "Too many requests; current limit of IP(%s) is %d requests per "
             "minute. Please use the websocket for live updates to avoid "
             "polling the API.",
             coin_httpd_request_peer(req), r->weight_limit);
    send_error(r, resp, 429, -1003, msg);
    return;
  }
  if (a.status == 418) {
    char msg[200];
    retry_after(resp, a.retry_after_s);
    snprintf(msg, sizeof(msg),
             "Way too many requests; IP(%s) banned until %" PRId64
             ". Please use the websocket for live updates to avoid bans.",
             coin_httpd_request_peer(req), a.banned_until_ms);
    send_error(r, resp, 418, -1003, msg);
    return;
  }
  if (ep != EP_OTHER && strcmp(method, "GET") != 0 &&
      strcmp(method, "HEAD") != 0) {
    send_error(r, resp, 405, -1, "Method not allowed; use GET.");
    return;
  }
  switch (ep) {
  case EP_PING:
    coin_httpd_respond(resp, 200, JSON_TYPE, "{}", 2);
    atomic_fetch_add(&r->responses[SC_2XX], 1);
    break;
  case EP_TIME: {
    struct coin_jbuf b;
    coin_jbuf_init(&b, COIN_BUF_CAP_REPLAY_TIME);
    coin_jbuf_printf(&b, "{\"serverTime\":%" PRId64 "}", now);
    send_jbuf(r, resp, 200, &b);
    break;
  }
  case EP_EXCHANGE_INFO: serve_exchange_info(r, req, resp, now); break;
  case EP_KLINES: serve_klines(r, req, resp, now); break;
  default:
    send_error(r, resp, 404, -1,
               "Unknown endpoint; the replay serves /api/v3/ping, time, "
               "exchangeInfo, klines and uiKlines.");
    break;
  }
}

/* ------------------------------------------------------------ lifecycle */

int replay_start(struct replay **out, const struct replay_opts *o) {
  int rc = 0;
  struct replay *r = calloc(1, sizeof(*r));
  if (r == NULL)
    return coin_error_set(COIN_ENOMEM, "replay: out of memory");
  pthread_mutex_init(&r->mu, NULL);
  r->started_ms = coin_now_ms();
  r->weight_limit = o->weight_limit > 0 ? o->weight_limit : 6000;
  r->ban_after_429 = o->ban_after_429 >= 0 ? o->ban_after_429 : 5;
  r->ban_seconds = o->ban_seconds > 0 ? o->ban_seconds : 120;
  r->horizon_days = o->data.horizon_days;

  rc = replay_faults_parse(&r->faults, o->faults_spec, o->seed);
  if (rc < 0)
    goto out;
  struct replay_data_opts dopts = o->data;
  if (dopts.now_ms == 0)
    dopts.now_ms = r->started_ms;
  rc = replay_data_load(&r->data, &dopts);
  if (rc < 0)
    goto out;
  for (size_t i = 0; i < r->faults.ngaps; i++) {
    if (replay_data_find(r->data, r->faults.gaps[i].symbol) == NULL) {
      rc = coin_error_set(COIN_ENOTFOUND,
                          "--faults gap:%s/...: unknown symbol (rule: a "
                          "served symbol)",
                          r->faults.gaps[i].symbol);
      goto out;
    }
  }
  r->info_json = calloc(r->data->nsymbols, sizeof(*r->info_json));
  if (r->info_json == NULL) {
    rc = coin_error_set(COIN_ENOMEM, "replay: out of memory");
    goto out;
  }
  for (size_t i = 0; i < r->data->nsymbols; i++) {
    r->info_json[i] = symbol_info_json(&r->data->symbols[i]);
    if (r->info_json[i] == NULL) {
      rc = coin_error_set(COIN_ENOMEM, "replay: out of memory");
      goto out;
    }
  }
  struct coin_httpd_opts hopts = {
      .host = o->host,
      .port = o->port,
      .threads = o->threads,
      .max_connections = o->max_connections ? o->max_connections : 1024,
      .handler = handle,
      .handler_ctx = r,
  };
  rc = coin_httpd_start(&r->httpd, &hopts);
  if (rc < 0)
    goto out;
  *out = r;
  r = NULL;
out:
  replay_free(r);
  return rc;
}

int replay_port(const struct replay *r) {
  return coin_httpd_port(r->httpd);
}

size_t replay_symbol_count(const struct replay *r) {
  return r->data->nsymbols;
}

void replay_free(struct replay *r) {
  if (r == NULL)
    return;
  coin_httpd_free(r->httpd); /* first: no handler runs after this */
  if (r->info_json && r->data)
    for (size_t i = 0; i < r->data->nsymbols; i++)
      free(r->info_json[i]);
  free(r->info_json);
  replay_data_free(r->data);
  pthread_mutex_destroy(&r->mu);
  free(r);
}
