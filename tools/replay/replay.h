/*
 * replay.h: private interfaces of coin-replay-exchange, a fake Binance spot
 * REST API that serves the real candle CSVs shifted into the present.
 *   replay_data.c   loading, time shifts, 1w/1M aggregation, kline selection
 *   replay_format.c klines in Binance's JSON (numbers as coin_fmt_decimal)
 *   replay_faults.c fault spec parsing and reproducible fault decisions
 *   replay.c        the HTTP endpoints, request weight, bans and stats
 * Data is built once at start and read-only afterwards, so request threads
 * share it without locks; only counters and the weight window change.
 */
#ifndef COIN_REPLAY_H
#define COIN_REPLAY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coin/candle.h"
#include "coin/candle_file.h"
#include "coin/jbuf.h"
#include "coin/timeframe.h"

#define REPLAY_SVC "coin-replay-exchange"
#define REPLAY_SYMBOL_BYTES 33
#define REPLAY_MAX_LIMIT 1000
#define REPLAY_DEFAULT_LIMIT 500
#define REPLAY_MAX_ALIASES 10000
#define REPLAY_MAX_RULES 32
#define REPLAY_MAX_GAPS 64
#define REPLAY_FAULT_LOG 256

/* Stored timeframes (files); 1w and 1M are aggregated from 1d. */
enum { REPLAY_BASE_1M = 0, REPLAY_BASE_1H, REPLAY_BASE_1D, REPLAY_BASE_N };

/* ------------------------------------------------------------------ data */

/* One real symbol's files. Rows are in data time; served time = data time +
 * shift_ms[]. agg[] hold 1w/1M candles already in served time. */
struct replay_source {
  char symbol[REPLAY_SYMBOL_BYTES];
  struct coin_candle_file *file[REPLAY_BASE_N]; /* NULL when absent */
  int64_t shift_ms[REPLAY_BASE_N];
  struct coin_candle *agg[2]; /* [0] = 1w, [1] = 1M */
  size_t agg_count[2];
  int price_decimals; /* most decimals seen in prices (tick size), <= 8 */
  int qty_decimals;   /* most decimals seen in volumes (step size), <= 8 */
};

/* A served symbol: a real one or an alias of one. */
struct replay_symbol {
  char name[REPLAY_SYMBOL_BYTES];
  char base[REPLAY_SYMBOL_BYTES];
  char quote[REPLAY_SYMBOL_BYTES];
  const struct replay_source *src;
  bool alias;
};

struct replay_data {
  struct replay_source *sources;
  size_t nsources;
  struct replay_symbol *symbols; /* sorted by name */
  size_t nsymbols;
};

struct replay_data_opts {
  const char *dir;
  const char *only_symbols; /* "BTCUSDT,ETHUSDT" or NULL = every file */
  const char *aliases;      /* "ALIAS=SOURCE,..." or NULL */
  unsigned clone;           /* N automatic aliases SYM01USDT.. */
  int horizon_days;         /* future data kept after now (default 7) */
  bool shift_fixed;         /* use shift_weeks for every file */
  int64_t shift_weeks;
  int64_t now_ms; /* the moment the shifts are computed for */
};

int replay_data_load(struct replay_data **out,
                     const struct replay_data_opts *opts);
void replay_data_free(struct replay_data *d);
const struct replay_symbol *replay_data_find(const struct replay_data *d,
                                             const char *name);

/* One kline as served (served time, maybe partial). */
struct replay_kline {
  int64_t open_ms;
  int64_t close_ms; /* open + length - 1 */
  double open, high, low, close, volume;
  bool partial; /* the still-open candle, values interpolated */
};

/* A range of candles never served (fault "gap"), in data time. */
struct replay_gap {
  char symbol[REPLAY_SYMBOL_BYTES];
  enum coin_tf tf;
  int64_t from_ms, to_ms;
};

struct replay_query {
  const struct replay_symbol *sym;
  enum coin_tf tf;
  bool has_start, has_end;
  int64_t start_ms, end_ms;
  int limit;
  int64_t now_ms;
  const struct replay_gap *gaps; /* may be NULL */
  size_t ngaps;
};

/* Selects candles like Binance /api/v3/klines: only candles whose served open
 * time has started (open <= now) exist; the still-open one is partial.
 * out has room for q->limit rows. *gapped_out counts rows skipped by gaps. */
size_t replay_klines(struct replay_kline *out, const struct replay_query *q,
                     size_t *gapped_out);

/* Shift of a served symbol's timeframe (1w/1M: that of 1d), 0 if none. */
int64_t replay_shift_ms(const struct replay_symbol *sym, enum coin_tf tf);

/* ---------------------------------------------------------------- format */

/* v as an unquoted plain decimal (coin_fmt_decimal). */
void replay_put_decimal(struct coin_jbuf *b, double v);

/* Renders one kline as Binance's 12-field array. */
void replay_render_kline(struct coin_jbuf *b, const struct replay_kline *k);

/* ---------------------------------------------------------------- faults */

enum replay_fault_kind {
  FAULT_NONE = 0,
  FAULT_STATUS, /* 429, 418 or 5xx */
  FAULT_SLOW,
  FAULT_TRUNCATE,
  FAULT_MALFORMED,
  FAULT_DUP,
  FAULT_INVALID,
  FAULT_RESET,
  FAULT_HUGE,    /* a 200 body of REPLAY_HUGE_BYTES (over any client cap) */
  FAULT_ENDLESS, /* a chunked 200 whose bytes never stop */
  FAULT_DRIP,    /* headers, then one byte every delay_ms, forever */
};

#define REPLAY_HUGE_BYTES ((uint64_t)64 << 20)

struct replay_fault_rule {
  enum replay_fault_kind kind;
  int status;         /* FAULT_STATUS */
  double probability; /* used when every == 0 */
  uint64_t every;     /* fires on request numbers divisible by every */
  int delay_ms;       /* FAULT_SLOW; FAULT_DRIP: between bytes */
  char name[16];      /* "500", "slow", ... as written in the spec */
  char symbol[REPLAY_SYMBOL_BYTES]; /* "" = every symbol, else only this */
};

struct replay_faults {
  struct replay_fault_rule rules[REPLAY_MAX_RULES];
  size_t nrules;
  struct replay_gap gaps[REPLAY_MAX_GAPS];
  size_t ngaps;
  uint64_t seed;
};

/* Parses "429:0.05,500:every=7,slow:0.1@2000,gap:BTCUSDT/1h/A-B,...".
 * NULL or "" = no faults. */
int replay_faults_parse(struct replay_faults *out, const char *spec,
                        uint64_t seed);

/* The rule (or NULL) that fires for klines request number n (1-based) of
 * symbol (rules scoped to another symbol are skipped). Depends only on the
 * spec, the seed, n and symbol. */
const struct replay_fault_rule *
replay_faults_decide(const struct replay_faults *f, uint64_t n,
                     const char *symbol);

/* A reproducible number in [0, 1) for request n and purpose salt. */
double replay_faults_uniform(uint64_t seed, uint64_t n, uint64_t salt);

/* ---------------------------------------------------------------- server */

struct replay_opts {
  const char *host;
  int port;
  struct replay_data_opts data;
  const char *faults_spec;
  uint64_t seed;
  int weight_limit;  /* per minute (default 6000) */
  int ban_after_429; /* 429s in one window before a 418 ban (default 5) */
  int ban_seconds;   /* first ban length (default 120), doubles */
  unsigned threads;  /* 0 = thread per connection */
  unsigned max_connections;
};

struct replay;

/* Loads the data, parses the faults and starts listening. */
int replay_start(struct replay **out, const struct replay_opts *opts);
int replay_port(const struct replay *r);
/* Number of served symbols, for the start-up line. */
size_t replay_symbol_count(const struct replay *r);
void replay_free(struct replay *r);

#endif
