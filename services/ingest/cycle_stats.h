/*
 * cycle_stats.h: the runtime-metrics window of coin-ingest: elapsed seconds
 * and overrun flag of the last N cycles, summarised as p50/p95/max and the
 * overrun rate, rendered as runtime_metrics.json (format in DESIGN.md).
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

#endif
