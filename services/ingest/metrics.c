/* metrics.c: coin-ingest's metrics table (/metrics, --metrics-doc). Reads
 * atomics, the workers' exchange counters (racy reads of monotonic
 * counters: fine for metrics) and, under their locks, the request budget
 * and the cycle window. */
#include "ingest_int.h"

#include "coin/jbuf.h"
#include "coin/prom.h"

#include <stddef.h>
#include <stdint.h>

/* ---- the table --------------------------------------------------------- */

#define COUNTER(member, name, help)                                            \
  COIN_PROM_COUNTER_AT(struct ingest, member, name, help)
#define GAUGE(member, name, help)                                              \
  COIN_PROM_GAUGE_AT(struct ingest, member, name, help)
/* The exchange clients' counters summed: the main one, the control
 * thread's and the workers'. */
static void exchange_sum(struct coin_exchange_stats *out,
                         const struct ingest *in) {
  struct coin_exchange_stats sum = {0};
  const struct coin_exchange *all[66];
  size_t n = 0;
  all[n++] = in->ex_main;
  if (in->control.ex)
    all[n++] = in->control.ex;
  for (size_t i = 0; i < in->n_workers && n < 66; i++)
    all[n++] = in->workers[i].ex;
  for (size_t i = 0; i < n; i++) {
    const struct coin_exchange_stats *s = &all[i]->stats;
    sum.requests += s->requests;
    sum.status_2xx += s->status_2xx;
    sum.status_4xx += s->status_4xx;
    sum.status_429 += s->status_429;
    sum.status_418 += s->status_418;
    sum.status_5xx += s->status_5xx;
    sum.transport_errors += s->transport_errors;
    sum.retries += s->retries;
    sum.malformed += s->malformed;
  }
  *out = sum;
}

/* row->offset: a uint64_t of struct coin_exchange_stats */
static double exchange_stat(const struct coin_prom_metric *row, void *base) {
  struct coin_exchange_stats sum;
  exchange_sum(&sum, base);
  return (double)*(const uint64_t *)((const char *)&sum + row->offset);
}

static void responses_samples(struct coin_jbuf *b,
                              const struct coin_prom_metric *row, void *base) {
  struct coin_exchange_stats sum;
  exchange_sum(&sum, base);
  const char *cls[] = {"2xx", "4xx", "429", "418", "5xx", "transport_error"};
  uint64_t vals[] = {sum.status_2xx, sum.status_4xx, sum.status_429,
                     sum.status_418, sum.status_5xx, sum.transport_errors};
  for (size_t i = 0; i < COIN_ARRAY_LEN(cls); i++)
    coin_jbuf_printf(b, "%s{%s=\"%s\"} %llu\n", row->name, row->label, cls[i],
                     (unsigned long long)vals[i]);
}

/* row->offset: an int64_t of struct coin_exchange_budget, read under its
 * lock */
static double budget_value(const struct coin_prom_metric *row, void *base) {
  struct coin_exchange_budget *bu = &((struct ingest *)base)->budget;
  pthread_mutex_lock(&bu->lock);
  double v = (double)*(const int64_t *)((const char *)bu + row->offset);
  pthread_mutex_unlock(&bu->lock);
  return v;
}

/* row->offset: a double of struct cycle_summary (the cycle window, under
 * the lock) */
static double cycle_value(const struct coin_prom_metric *row, void *base) {
  struct ingest *in = base;
  struct cycle_summary cs;
  pthread_mutex_lock(&in->lock);
  cycle_stats_summary(&cs, &in->stats);
  pthread_mutex_unlock(&in->lock);
  return *(const double *)((const char *)&cs + row->offset);
}

static double nats_connected(const struct coin_prom_metric *row, void *base) {
  (void)row;
  return coin_bus_connected(((const struct ingest *)base)->bus) ? 1 : 0;
}

const struct coin_prom_metric ingest_metrics[] = {
    COUNTER(c.candles_written, "coin_ingest_candles_written_total",
            "Closed valid candles written to InfluxDB."),
    COUNTER(c.candles_invalid, "coin_ingest_candles_invalid_total",
            "Candles rejected by validation (never stored)."),
    COUNTER(c.open_candles_skipped, "coin_ingest_open_candles_skipped_total",
            "Still-open candles returned by the exchange and skipped."),
    COUNTER(c.batches_published, "coin_ingest_batches_published_total",
            "CandleBatch messages acknowledged by JetStream."),
    COUNTER(c.publish_errors, "coin_ingest_publish_errors_total",
            "Batches that could not be published (publish reconciles)."),
    COUNTER(c.watermark_advances, "coin_ingest_watermark_advances_total",
            "Ingest watermark compare-and-set successes."),
    COUNTER(c.watermark_bad_values, "coin_ingest_watermark_bad_values_total",
            "Own watermark values in KV that did not decode (the series is "
            "filled again and the value replaced)."),
    COUNTER(c.gaps_bad_values, "coin_ingest_gaps_bad_values_total",
            "Known-gaps values in KV that did not decode, wholly or in part "
            "(the gaps are found again)."),
    COUNTER(c.watermark_conflicts, "coin_ingest_watermark_conflicts_total",
            "Ingest watermark compare-and-set conflicts."),
    COUNTER(c.watermark_errors, "coin_ingest_watermark_errors_total",
            "Watermark updates that failed (NATS unavailable)."),
    COUNTER(c.influx_errors, "coin_ingest_influx_errors_total",
            "Failed InfluxDB operations."),
    COUNTER(c.exchange_errors, "coin_ingest_exchange_errors_total",
            "Series syncs that failed on the exchange side."),
    COUNTER(c.gaps_found, "coin_ingest_gaps_found_total",
            "Gaps recorded as known (exchange had no valid data)."),
    COUNTER(c.gaps_filled, "coin_ingest_gaps_filled_total",
            "Gaps in the SoT that a backfill filled."),
    COUNTER(c.gap_rechecks, "coin_ingest_gap_rechecks_total",
            "Known gaps asked again after their backoff."),
    GAUGE(c.gaps_known, "coin_ingest_gaps_known",
          "Known gaps held (re-checked on backoff)."),
    COUNTER(c.cycles, "coin_ingest_cycles_total", "Ingest cycles run."),
    COUNTER(c.overruns, "coin_ingest_cycle_overruns_total",
            "Cycles that ran longer than their budget."),
    /* the scheduler (sched.c): series on their own clocks */
    COUNTER(c.series_deadlines, "coin_ingest_series_deadlines_total",
            "Series syncs that failed at their deadline "
            "(INGEST_SERIES_DEADLINE_SECONDS)."),
    COUNTER(c.series_slices, "coin_ingest_series_slices_total",
            "Long fills that reached the deadline and went on as a next "
            "slice."),
    COUNTER(c.series_busy_skips, "coin_ingest_series_busy_skips_total",
            "Times a series came due while its previous sync still ran "
            "(dispatched when it ended)."),
    /* the exchange clients, summed */
    COIN_PROM_FAMILY(COIN_PROM_COUNTER, "status", responses_samples,
                     "coin_ingest_exchange_responses_total",
                     "Exchange HTTP responses by status class."),
    COIN_PROM_COMPUTED_AT(
        COIN_PROM_COUNTER, struct coin_exchange_stats, requests, exchange_stat,
        "coin_ingest_exchange_requests_total", "Exchange HTTP requests."),
    COIN_PROM_COMPUTED_AT(
        COIN_PROM_COUNTER, struct coin_exchange_stats, retries, exchange_stat,
        "coin_ingest_exchange_retries_total",
        "Exchange requests retried (5xx, timeouts, malformed, 429)."),
    COIN_PROM_COMPUTED_AT(COIN_PROM_COUNTER, struct coin_exchange_stats,
                          malformed, exchange_stat,
                          "coin_ingest_exchange_malformed_total",
                          "Exchange responses rejected as malformed."),
    COIN_PROM_COMPUTED_AT(COIN_PROM_GAUGE, struct coin_exchange_budget,
                          weight_used, budget_value,
                          "coin_ingest_exchange_weight_used",
                          "Request weight used in the current minute "
                          "(X-MBX-USED-WEIGHT-1M)."),
    COIN_PROM_COMPUTED_AT(COIN_PROM_GAUGE, struct coin_exchange_budget,
                          weight_limit, budget_value,
                          "coin_ingest_exchange_weight_limit",
                          "Request weight per minute."),
    {.name = "coin_ingest_exchange_paused_until_seconds",
     .help = "Retry-After pause end (unix seconds; 0 = none).",
     .type = COIN_PROM_GAUGE,
     .offset = offsetof(struct coin_exchange_budget, paused_until_ms),
     .divisor = 1000,
     .get = budget_value},
    /* the cycle window */
    COIN_PROM_COMPUTED_AT(
        COIN_PROM_GAUGE, struct cycle_summary, p50_elapsed_seconds, cycle_value,
        "coin_ingest_cycle_p50_seconds",
        "Median cycle duration over the runtime-metrics window."),
    COIN_PROM_COMPUTED_AT(COIN_PROM_GAUGE, struct cycle_summary,
                          p95_elapsed_seconds, cycle_value,
                          "coin_ingest_cycle_p95_seconds",
                          "95th percentile cycle duration over the window."),
    COIN_PROM_COMPUTED_AT(
        COIN_PROM_GAUGE, struct cycle_summary, max_elapsed_seconds, cycle_value,
        "coin_ingest_cycle_max_seconds", "Longest cycle in the window."),
    COIN_PROM_COMPUTED_AT(COIN_PROM_GAUGE, struct cycle_summary, overrun_rate,
                          cycle_value, "coin_ingest_cycle_overrun_rate",
                          "Share of cycles in the window that overran."),
    /* the durable runtime-metrics window (runtime_window.c) */
    COUNTER(rw.saves, "coin_ingest_runtime_window_saves_total",
            "Runtime-metrics window saves to KV."),
    COUNTER(rw.save_errors, "coin_ingest_runtime_window_save_errors_total",
            "Runtime-metrics window saves that failed (NATS away or "
            "refusing)."),
    COUNTER(rw.load_errors, "coin_ingest_runtime_window_load_errors_total",
            "Reads of the stored window that failed (retried)."),
    COUNTER(rw.rejected, "coin_ingest_runtime_window_rejected_total",
            "Stored windows ignored as undecodable or out of range."),
    /* replicas sharing the series (members.c) */
    GAUGE(members.members, "coin_ingest_members",
          "Live ingest replicas sharing the series, this one included."),
    GAUGE(members.owned, "coin_ingest_series_owned",
          "Series this replica syncs (its share)."),
    COUNTER(members.gained, "coin_ingest_series_taken_over_total",
            "Series taken over from a replica that left or died."),
    COUNTER(members.lost, "coin_ingest_series_handed_over_total",
            "Series handed to another replica (a new one)."),
    COUNTER(members.beat_errors, "coin_ingest_member_heartbeat_errors_total",
            "Membership heartbeats that failed (NATS away)."),
    COIN_PROM_COMPUTED(COIN_PROM_GAUGE, nats_connected,
                       "coin_ingest_nats_connected",
                       "1 when connected to NATS."),
};
const size_t ingest_metric_count = COIN_ARRAY_LEN(ingest_metrics);
