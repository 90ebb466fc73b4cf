/*
 * cycle_stats.h: the runtime-metrics window of coin-ingest: elapsed seconds
 * and overrun flag of the last N cycles, summarised as p50/p95/max and the
 * overrun rate, rendered as runtime_metrics.json (format in DESIGN.md), and
 * serialised for KV so that the window survives restarts (docs/ingest.md).
 * Not locked: the owner (the ingest loop) serialises access.
 */
#ifndef COIN_INGEST_CYCLE_STATS_H
#define COIN_INGEST_CYCLE_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cycle_stats {
  double *elapsed_seconds; /* ring of window_size */
  bool *overrun;
  size_t window_size;
  size_t count; /* samples held, <= window_size */
  size_t next;  /* ring write position */
  uint64_t total_cycles;
  uint64_t total_overruns;
};

struct cycle_summary {
  size_t samples;
  double p50_elapsed_seconds;
  double p95_elapsed_seconds;
  double max_elapsed_seconds;
  double overrun_rate;
};

int cycle_stats_init(struct cycle_stats *s, size_t window_size);
void cycle_stats_destroy(struct cycle_stats *s);
void cycle_stats_add(struct cycle_stats *s, double elapsed_seconds,
                     bool overrun);
/* Nearest-rank percentiles over the samples held. */
void cycle_stats_summary(struct cycle_summary *out,
                         const struct cycle_stats *s);
/* {"schema_version":1,"updated_at":"...Z","window_size":N,"summary":{...}};
 * *out is malloc'd. */
int cycle_stats_json(char **out, const struct cycle_stats *s,
                     int64_t updated_at_ms);

/* ---- durable window (KV value, docs/ingest.md) ---------------------------
 * {"schema_version":1,"window_size":N,"total_cycles":T,"total_overruns":O,
 *  "saved_at_ms":MS,"elapsed_seconds":[oldest..newest],"overrun":"0010.."}
 * overrun holds one '0' or '1' per sample, in the same order. */
#define CYCLE_STATS_SCHEMA_VERSION 1
#define CYCLE_STATS_WINDOW_MAX 100000         /* RUNTIME_METRICS_WINDOW_SIZE */
#define CYCLE_STATS_VALUE_MAX_BYTES (4 << 20) /* a stored value's cap */

/* The i-th sample held, oldest first (i < s->count). */
double cycle_stats_elapsed_at(const struct cycle_stats *s, size_t i);
bool cycle_stats_overrun_at(const struct cycle_stats *s, size_t i);

/* The window as the KV value above; *out is malloc'd and NUL-terminated,
 * *out_len excludes the NUL. Never written on failure. */
int cycle_stats_serialize(char **out, size_t *out_len,
                          const struct cycle_stats *s, int64_t saved_at_ms);

/* Restores a stored window into s as its older part: the stored samples go
 * before those s already holds, the newest s->window_size of them are kept
 * (a window-size change between runs keeps the newest min(old, new)), and
 * the stored totals are added to s's. COIN_EDECODE (COIN_ETOOBIG over
 * CYCLE_STATS_VALUE_MAX_BYTES, COIN_ENOMEM) with a one-line text naming the
 * field, the value and the rule; s is unchanged on failure. */
int cycle_stats_restore(struct cycle_stats *s, const void *data, size_t len);

#endif
