/*
 * watermark.h: the one owner of the watermark contract (KV bucket
 * coin_watermarks, docs/bus.md): the keys, the value (a decimal open time
 * in ms; coin_codec_watermark_parse is its one strict reader), the read,
 * and the compare-and-set write that re-reads on a conflict. coin-ingest
 * (ingest.*) and coin-publish (publish.*) write through it; coin-monitor,
 * coin-train and coinctl read values with coin_codec_watermark_parse.
 * Threads: the KV handle is thread-safe; a struct coin_watermark belongs to
 * its caller.
 */
#ifndef COIN_WATERMARK_H
#define COIN_WATERMARK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coin/bus.h"
#include "coin/timeframe.h"

/* A key's value as last read or written. */
struct coin_watermark {
  int64_t ms;        /* -1: absent, or not a watermark */
  uint64_t revision; /* 0: the key is absent (a write creates it) */
  bool bad;          /* the stored value is not a watermark (ms is -1) */
};

enum coin_watermark_role { COIN_WM_INGEST, COIN_WM_PUBLISH };

/* ingest.<exchange>.<symbol>.<tf> or publish.<...> into out. */
int coin_watermark_key(char *out, size_t out_bytes,
                       enum coin_watermark_role role, const char *exchange,
                       const char *symbol, enum coin_tf tf);

/* Reads key into *w. 0 also when the key is absent (ms -1, revision 0).
 * COIN_EDECODE with a one-line error naming the key (the bytes are not
 * quoted) when the value is not a watermark: w->bad, ms -1 and the
 * revision kept, so that a write can replace it. Bus errors are wrapped
 * with the key. */
int coin_watermark_read(struct coin_watermark *w, struct coin_bus_kv *kv,
                        const char *key);

/* Whether want must still be written over the value now stored (cur). */
typedef bool (*coin_watermark_need_fn)(int64_t want,
                                       const struct coin_watermark *cur,
                                       void *ud);

struct coin_watermark_write {
  bool written;       /* want is stored now (else: no longer needed) */
  unsigned conflicts; /* races lost to another writer (each re-read) */
  int64_t theirs;     /* after a conflict: the value another writer left */
  bool bad_seen;      /* a re-read found a value that is not a watermark */
};

/* Writes want by CAS on w->revision (a create when 0), if need(want, w) (NULL:
 * only forward, w->ms < want). On a conflict, w is read again and need
 * asked again, up to 3 writes. A re-read value that is not a watermark
 * (out->bad_seen) counts as absent and is overwritten. Returns 0 (see
 * out->written), the bus error, or COIN_ECONFLICT after 3 lost races; w is what
 * is stored as far as we know. */
int coin_watermark_advance(struct coin_watermark *w, struct coin_bus_kv *kv,
                           const char *key, int64_t want,
                           coin_watermark_need_fn need, void *ud,
                           struct coin_watermark_write *out);

#endif
