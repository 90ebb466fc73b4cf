/*
 * influx_int.h: the inside of the influx module, shared by influx.c (client,
 * HTTP, retries), influx_lp.c (line protocol and InfluxQL quoting) and
 * influx_read.c (streaming msgpack decoder). Single-threaded per object.
 */
#ifndef COIN_INFLUX_INT_H
#define COIN_INFLUX_INT_H

#include "coin/buf.h"
#include "coin/influx.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Appends one line of p to b (no newline). On error b is left unchanged. */
int influx_lp_append(struct coin_buf *b, const struct coin_influx_point *p);
/* Shortest of %.15g/%.16g/%.17g that parses back to v; out >= 32 bytes. */
void influx_lp_format_double(char *out, size_t out_bytes, double v);

/* InfluxQL quoting: "ident" and 'string' with \ escapes. */
int influx_ql_ident(struct coin_buf *b, const char *ident);
int influx_ql_string(struct coin_buf *b, const char *s);

/* Streaming decoder of InfluxDB's msgpack /query answers. Bytes are fed as
 * they arrive; each complete top-level object (one chunk) is decoded and its
 * rows delivered to cb, then freed. */
struct influx_reader;

struct influx_reader_limits {
  size_t max_chunk_bytes;
  size_t max_columns;
  size_t max_tags;
  size_t max_header_bytes; /* series name + tags + column names */
};

/* INFLUX_STOPPED: the callback asked to stop (not an error). */
#define INFLUX_STOPPED 1

int influx_reader_new(struct influx_reader **out,
                      const struct influx_reader_limits *lim,
                      coin_influx_row_cb cb, void *ud);
void influx_reader_free(struct influx_reader *r);
/* Returns 0, INFLUX_STOPPED, or a negative COIN_E* (message set). After a
 * non-zero return the reader accepts no more input. */
int influx_reader_feed(struct influx_reader *r, const char *data, size_t len);
/* End of input: COIN_EDECODE when it stopped inside an object. */
int influx_reader_finish(struct influx_reader *r);
uint64_t influx_reader_rows(const struct influx_reader *r);
size_t influx_reader_max_buffered(const struct influx_reader *r);

#endif
