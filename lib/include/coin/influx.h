/*
 * influx.h: InfluxDB 1.x client (HTTP over libcurl, msgpack reads).
 * A client object holds one CURL handle (HTTP keep-alive) and one write batch;
 * it must be used by ONE thread at a time (create one per thread). The client
 * owns copies of all option strings; row/candle views passed to callbacks are
 * valid only during the callback. See docs/influx.md for the schema, how reads
 * stream and the retry policy.
 */
#ifndef COIN_INFLUX_H
#define COIN_INFLUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coin/candle.h"
#include "coin/timeframe.h"

/* The project's schema (DESIGN.md, "InfluxDB (SoT)"). */
#define COIN_INFLUX_DB "coin"
#define COIN_INFLUX_MEASUREMENT "candle"
/* coin-ingest keeps 1m candles in this short retention policy. */
#define COIN_INFLUX_RP_1M "rp_1m"

struct coin_influx;

struct coin_influx_options {
  const char *url;      /* "http://127.0.0.1:8086" (no credentials in it) */
  const char *db;       /* database, default COIN_INFLUX_DB */
  const char *user;     /* basic auth user (NULL: none) */
  const char *password; /* basic auth password */
  const char *token;    /* "Authorization: Token <token>" (NULL: none) */
  /* Retention policy for generic writes and for every timeframe without an
   * entry in rp_by_tf (NULL: the database's default RP). */
  const char *rp;
  const char *rp_by_tf[COIN_TF_COUNT]; /* e.g. [COIN_TF_1M] = "rp_1m" */

  int64_t connect_timeout_ms; /* TCP connect, default 3000 */
  int64_t timeout_ms;         /* whole request: writes, exec, small queries;
                                 default 30000 */
  int64_t query_timeout_ms;   /* whole streaming read, default 600000 */
  int max_retries;            /* extra attempts on 5xx / connection errors /
                                 timeouts (never on 4xx), default 3 */
  int64_t backoff_base_ms;    /* first delay, doubled per retry, default 100 */
  int64_t backoff_max_ms;     /* delay cap, default 5000; jitter: [d/2, d] */

  size_t batch_max_points; /* send the write batch at this many points, 5000 */
  size_t batch_max_bytes;  /* ... or when it would exceed this, 1 MiB */

  size_t chunk_size;           /* rows per chunk in streaming reads, 10000 */
  size_t max_chunk_bytes;      /* cap on bytes one msgpack chunk may hold in
                                  the decoder, default 8 MiB (ETOOBIG) */
  size_t max_columns;          /* per series, default 256 */
  size_t max_tags;             /* per series, default 64 */
  size_t max_error_body_bytes; /* cap on a kept error body, default 4096 */
};

/* Fills o with the defaults above (url "http://127.0.0.1:8086"). */
void coin_influx_options_init(struct coin_influx_options *o);

/* Validates the options (each bad field named with its value and rule) and
 * creates a client. No network I/O. */
int coin_influx_new(struct coin_influx **out,
                    const struct coin_influx_options *opts);
/* Discards unsent batched points (call coin_influx_flush first). NULL-safe. */
void coin_influx_free(struct coin_influx *c);

/* Counters since coin_influx_new. */
struct coin_influx_stats {
  uint64_t requests;       /* HTTP attempts, retries included */
  uint64_t retries;        /* attempts after the first, summed over calls */
  uint64_t connects;       /* new TCP connections (keep-alive keeps it low) */
  uint64_t points_written; /* points acknowledged by the server */
  uint64_t write_bytes;    /* line-protocol bytes acknowledged */
  uint64_t rows_read;      /* rows delivered to callbacks */
  uint64_t read_bytes;     /* msgpack body bytes received by queries */
  /* High-water mark of bytes held by the msgpack decoder at once (the
   * unfinished chunk plus undecoded input): bounded by one chunk, not by the
   * response size. */
  size_t max_buffered_bytes;
};
void coin_influx_stats_get(struct coin_influx_stats *out,
                           const struct coin_influx *c);

/* ---- line protocol ---------------------------------------------------- */

struct coin_influx_tag {
  const char *key;
  const char *value;
};

enum coin_influx_type {
  COIN_INFLUX_NULL = 0,
  COIN_INFLUX_BOOL,
  COIN_INFLUX_INT,   /* int64 */
  COIN_INFLUX_UINT,  /* uint64 above INT64_MAX (reads only) */
  COIN_INFLUX_FLOAT, /* double */
  COIN_INFLUX_STRING,
};

/* A typed value: a point's field (writes) or a row cell (reads). Strings are
 * ptr + len and NOT NUL-terminated in reads; in writes ptr must be
 * NUL-terminated (len is ignored). */
struct coin_influx_value {
  enum coin_influx_type type;
  union {
    bool b;
    int64_t i64;
    uint64_t u64;
    double f64;
    struct {
      const char *ptr;
      size_t len;
    } str;
  } v;
};

struct coin_influx_field {
  const char *key;
  struct coin_influx_value value; /* NULL and UINT are rejected */
};

/* One point. Tags are sorted by key when formatted (InfluxDB's preferred
 * order); duplicate tag keys are rejected. time_ms is epoch ms (precision=ms).
 * Identifier rules: measurement, tag keys/values and field keys are non-empty
 * UTF-8 without control characters or backslashes; the measurement does not
 * start with '#'; no key is "time". Floats must be finite. */
struct coin_influx_point {
  const char *measurement;
  const struct coin_influx_tag *tags;
  size_t n_tags;
  const struct coin_influx_field *fields;
  size_t n_fields;
  int64_t time_ms;
};

/* Formats p as one line-protocol line (no trailing newline) into a malloc'ed
 * NUL-terminated string the caller frees. Escapes ',' and ' ' in the
 * measurement, ',' '=' ' ' in tag keys/values and field keys, '"' and '\' in
 * string fields; floats print in the shortest form that parses back to the
 * same double ("%.15g", "%.16g" or "%.17g"). */
int coin_influx_line_format(char **out, const struct coin_influx_point *p);

/* ---- writes (all synchronous; retried as in docs/influx.md) ------------ */

/* Queues p for options.rp. If the batch already holds batch_max_points points
 * or p would push it past batch_max_bytes, the batch is sent first; if that
 * send fails its error is returned and p is NOT queued. A batch the server
 * rejects (4xx) is dropped (valid points of a partial write are stored); after
 * any other failure it stays queued for coin_influx_flush. */
int coin_influx_add(struct coin_influx *c, const struct coin_influx_point *p);
/* Sends the queued points (no-op when empty). */
int coin_influx_flush(struct coin_influx *c);
/* Points queued and not yet sent. */
size_t coin_influx_pending(const struct coin_influx *c);
/* Drops the queued points. */
void coin_influx_discard(struct coin_influx *c);

/* Writes raw line protocol (lines separated by '\n', ms timestamps) to rp
 * (NULL: options.rp) now, bypassing the batch. */
int coin_influx_write_lines(struct coin_influx *c, const char *rp,
                            const char *lines, size_t len);

/* Writes n candles as points of measurement "candle" with tags
 * exchange,symbol,timeframe and float fields open,high,low,close,volume at
 * time = open_ms, into the RP of that timeframe (rp_by_tf / rp). Sends any
 * queued points first, then batches the candles and returns when all are
 * acknowledged. Idempotent: on failure some may be stored; retry the call.
 * Nothing stays queued afterwards. Validates exchange, symbol and tf_name;
 * OHLC consistency is the caller's business (coin_candle_validate). */
int coin_influx_write_candles(struct coin_influx *c, const char *exchange,
                              const char *symbol, const char *tf_name,
                              const struct coin_candle *candles, size_t n);

/* ---- reads (streamed: chunked msgpack, decoded as it arrives) ---------- */

/* One row of a series. All pointers are valid during the callback only. */
struct coin_influx_row {
  int statement_id;
  const char *name; /* series (measurement) name, "" when absent */
  size_t n_tags;    /* GROUP BY tags */
  const char *const *tag_keys;
  const char *const *tag_values;
  size_t n_columns; /* columns[0] is "time" for SELECTs */
  const char *const *columns;
  const struct coin_influx_value *values; /* n_columns cells */
};

/* Returns 0 to continue, > 0 to stop the read early (the read then returns
 * 0), or a negative COIN_E* code to stop it with that code (set the message
 * with coin_error_set). */
typedef int (*coin_influx_row_cb)(void *ud, const struct coin_influx_row *row);

/* The cell of column name (NULL when absent) / the tag value (NULL). */
const struct coin_influx_value *
coin_influx_row_get(const struct coin_influx_row *row, const char *column);
const char *coin_influx_row_tag(const struct coin_influx_row *row,
                                const char *key);

/* GET /query (read-only statements: SELECT, SHOW) with epoch=ms,
 * chunked=true, chunk_size; rows are delivered as each chunk is decoded.
 * A statement error from the server returns COIN_EREJECTED (COIN_ENOTFOUND
 * for a missing database / retention policy) with InfluxDB's text. Retried
 * only while no row has been delivered. influxql is at most 16 KiB. */
int coin_influx_query(struct coin_influx *c, const char *influxql,
                      coin_influx_row_cb cb, void *ud);

/* POST /query for statements that change state (CREATE, ALTER, DROP...);
 * rows in the answer are ignored. */
int coin_influx_exec(struct coin_influx *c, const char *influxql);

/* GET /ping; 0 when the server answers 204. One attempt, no retries. */
int coin_influx_ping(struct coin_influx *c);
/* X-Influxdb-Version of the last answer ("" before any). */
const char *coin_influx_server_version(const struct coin_influx *c);

/* ---- schema helpers -------------------------------------------------- */

/* Shard group duration of a new database's default RP (52 weeks). */
#define COIN_INFLUX_DEFAULT_SHARD_MS (INT64_C(364) * 24 * 3600 * 1000)

/* CREATE DATABASE options.db (idempotent). A new database's default RP
 * (autogen, infinite) gets COIN_INFLUX_DEFAULT_SHARD_MS shard groups; an
 * existing database keeps its RPs as they are. */
int coin_influx_create_db(struct coin_influx *c);

/* Creates retention policy rp on options.db, or alters it when it exists
 * with other settings. duration_ms = 0 means infinite, otherwise >= 1 h.
 * make_default makes it the database's default RP (never unsets one). */
int coin_influx_ensure_rp(struct coin_influx *c, const char *rp,
                          int64_t duration_ms, bool make_default);

typedef int (*coin_influx_candle_cb)(void *ud, const struct coin_candle *c);

/* Calls cb for each candle with from_ms <= open_ms <= to_ms in time order,
 * streamed. A row with a missing (null) field is COIN_EDECODE. cb returns as
 * coin_influx_row_cb. */
int coin_influx_read_candles(struct coin_influx *c, const char *exchange,
                             const char *symbol, const char *tf_name,
                             int64_t from_ms, int64_t to_ms,
                             coin_influx_candle_cb cb, void *ud);

/* Open time of the newest stored candle; COIN_ENOTFOUND when none. */
int coin_influx_last_time(int64_t *out, struct coin_influx *c,
                          const char *exchange, const char *symbol,
                          const char *tf_name);

/* Number of stored candles with from_ms <= open_ms <= to_ms (0 when none). */
int coin_influx_count(int64_t *out, struct coin_influx *c, const char *exchange,
                      const char *symbol, const char *tf_name, int64_t from_ms,
                      int64_t to_ms);

#endif
