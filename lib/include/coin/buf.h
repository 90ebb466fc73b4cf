/*
 * buf.h: the one growable byte buffer of the project, with a hard cap on its
 * length (after curl's curlx/dynbuf.h). Appends return 0 or an error code and
 * leave the contents unchanged on error: COIN_ETOOBIG past the cap,
 * COIN_ENOMEM when an allocation fails (message set). After any append the
 * bytes are NUL-terminated (the NUL is not counted in len or the cap). The
 * buffer owns its bytes until coin_buf_take hands them out. Not thread-safe;
 * one owner at a time. coin_grow, at the end, applies the same doubling and
 * cap to the caller's arrays of items.
 */
#ifndef COIN_BUF_H
#define COIN_BUF_H

#include <stdarg.h>
#include <stddef.h>

/*
 * Every cap in use, in bytes of content (the NUL not counted). Caps of a
 * buffer fed from the network or a user bound what a peer can make us hold;
 * the others are sanity bounds far above any real document.
 */
/* HTTP client (http.c): a response body, unless coin_http_opts.max_body_bytes
 * sets another, and a response's header block. */
#define COIN_BUF_CAP_HTTP_BODY ((size_t)8 << 20)
#define COIN_BUF_CAP_HTTP_HEADERS ((size_t)64 << 10)
/* InfluxDB client (influx*.c): a line-protocol batch, unless
 * coin_influx_options.batch_max_bytes sets another; one formatted point; one
 * point formatted by coin_influx_line_format; a non-2xx answer kept for the
 * error text (truncated, not refused), unless max_error_body_bytes sets
 * another. */
#define COIN_BUF_CAP_INFLUX_BATCH ((size_t)1 << 20)
#define COIN_BUF_CAP_INFLUX_LINE ((size_t)32 << 20)
#define COIN_BUF_CAP_INFLUX_LINE_FORMAT ((size_t)64 << 20)
#define COIN_BUF_CAP_INFLUX_ERROR_BODY ((size_t)4096)
/* InfluxDB URLs, built from a base URL of at most 512 bytes: /write and its
 * query parameters, /ping; /query and its parameters (with a statement of at
 * most 16 KiB, escaped); one InfluxQL statement. */
#define COIN_BUF_CAP_INFLUX_WRITE_URL ((size_t)2048)
#define COIN_BUF_CAP_INFLUX_WRITE_PARAMS ((size_t)1024)
#define COIN_BUF_CAP_INFLUX_PING_URL ((size_t)1024)
#define COIN_BUF_CAP_INFLUX_QUERY_URL ((size_t)64 << 10)
#define COIN_BUF_CAP_INFLUX_QUERY ((size_t)16 << 10)
/* JSON and Prometheus text (jbuf.h): a zero-initialized coin_jbuf (site
 * files, status, metrics, alert bodies: a few MiB at most); the JSON of one
 * decoded message (coin_codec_to_json: COIN_CODEC_MAX_JSON_BYTES, 16 MiB
 * including the NUL). */
#define COIN_BUF_CAP_TEXT ((size_t)256 << 20)
#define COIN_BUF_CAP_CODEC_JSON (((size_t)16 << 20) - 1)
/* The replay exchange (tools/replay), each including its NUL: a klines,
 * exchangeInfo or stats answer; one symbol's exchangeInfo entry; an error
 * answer; one kline row rendered for a malformed-answer fault; the time
 * answer. */
#define COIN_BUF_CAP_REPLAY_BODY (((size_t)16 << 20) - 1)
#define COIN_BUF_CAP_REPLAY_SYMBOL_INFO ((size_t)8192 - 1)
#define COIN_BUF_CAP_REPLAY_ERROR ((size_t)4096 - 1)
#define COIN_BUF_CAP_REPLAY_ROW ((size_t)4096 - 1)
#define COIN_BUF_CAP_REPLAY_TIME ((size_t)256 - 1)

/* Fields are read by the library's own modules; others use the functions. */
struct coin_buf {
  char *p;            /* NULL until the first append */
  size_t len;         /* bytes held, the NUL not counted */
  size_t alloc_bytes; /* allocated at p */
  size_t cap_bytes;   /* hard cap on len */
};

/* An empty buffer that will hold at most cap_bytes. No allocation. */
void coin_buf_init(struct coin_buf *b, size_t cap_bytes);
/* Frees the bytes; b stays usable with the same cap. NULL is accepted. */
void coin_buf_free(struct coin_buf *b);
/* len = 0, keeps the memory and the cap. */
void coin_buf_reset(struct coin_buf *b);
/* Appends len bytes (data may be NULL when len is 0; a zero-length append
 * still allocates, so coin_buf_ptr is a string after it). */
int coin_buf_add(struct coin_buf *b, const void *data, size_t len);
int coin_buf_adds(struct coin_buf *b, const char *s);
int coin_buf_addf(struct coin_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int coin_buf_vaddf(struct coin_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Drops the bytes from len on (len <= coin_buf_len(b)). */
void coin_buf_truncate(struct coin_buf *b, size_t len);
/* The NUL-terminated bytes ("" before the first append), valid until the
 * next append, reset or free. */
const char *coin_buf_ptr(const struct coin_buf *b);
size_t coin_buf_len(const struct coin_buf *b);
/* Hands out the NUL-terminated bytes (*out, caller frees; out_len may be
 * NULL; "" when empty) and leaves b empty with the same cap. COIN_ENOMEM:
 * nothing written to out, b unchanged. */
int coin_buf_take(char **out, size_t *out_len, struct coin_buf *b);

/*
 * Arrays that grow by doubling (the same rule for items as for bytes above).
 * items is the address of an array pointer (a T **; the array is NULL while
 * *cap is 0) with room for *cap items of item_size bytes (> 0). Makes room
 * for at least need items: nothing to do when need <= *cap, else *cap
 * doubles (from COIN_GROW_MIN_ITEMS) until it holds need, but never beyond
 * max_items (SIZE_MAX: no cap). Returns 0, COIN_ETOOBIG when need >
 * max_items, COIN_ENOMEM when the allocation fails or its size would
 * overflow; on error (message set) *items and *cap are unchanged. The items
 * held are kept, the new room is not initialized. The caller owns the array
 * and frees it with free().
 */
#define COIN_GROW_MIN_ITEMS 16
int coin_grow(void *items, size_t *cap, size_t need, size_t item_size,
              size_t max_items);

#endif
