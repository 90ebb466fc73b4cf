/* metrics.c: coin-ingest's Prometheus text (/metrics). Reads atomics, the
 * workers' exchange counters (racy reads of monotonic counters: fine for
 * metrics) and, under the lock, the cycle window. */
#include "ingest_int.h"

#include "coin/error.h"
#include "coin/jbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ingest_metrics_text(char **out, struct ingest *in) {
  struct coin_jbuf t = {0};
  struct ingest_counters *c = &in->c;
  coin_jbuf_prom_counter(&t, "coin_ingest_candles_written_total",
                         "Closed valid candles written to InfluxDB.",
                         atomic_load(&c->candles_written));
  coin_jbuf_prom_counter(&t, "coin_ingest_candles_invalid_total",
                         "Candles rejected by validation (never stored).",
                         atomic_load(&c->candles_invalid));
  coin_jbuf_prom_counter(
      &t, "coin_ingest_open_candles_skipped_total",
      "Still-open candles returned by the exchange and skipped.",
      atomic_load(&c->open_candles_skipped));
  coin_jbuf_prom_counter(&t, "coin_ingest_batches_published_total",
                         "CandleBatch messages acknowledged by JetStream.",
                         atomic_load(&c->batches_published));
  coin_jbuf_prom_counter(
      &t, "coin_ingest_publish_errors_total",
      "Batches that could not be published (publish reconciles).",
      atomic_load(&c->publish_errors));
  coin_jbuf_prom_counter(&t, "coin_ingest_watermark_advances_total",
                         "Ingest watermark compare-and-set successes.",
                         atomic_load(&c->watermark_advances));
  coin_jbuf_prom_counter(
      &t, "coin_ingest_watermark_bad_values_total",
      "Own watermark values in KV that did not decode (the series is filled "
      "again and the value replaced).",
      atomic_load(&c->watermark_bad_values));
  coin_jbuf_prom_counter(
      &t, "coin_ingest_gaps_bad_values_total",
      "Known-gaps values in KV that did not decode, wholly or in part (the "
      "gaps are found again).",
      atomic_load(&c->gaps_bad_values));
  coin_jbuf_prom_counter(&t, "coin_ingest_watermark_conflicts_total",
                         "Ingest watermark compare-and-set conflicts.",
                         atomic_load(&c->watermark_conflicts));
  coin_jbuf_prom_counter(&t, "coin_ingest_watermark_errors_total",
                         "Watermark updates that failed (NATS unavailable).",
                         atomic_load(&c->watermark_errors));
  coin_jbuf_prom_counter(&t, "coin_ingest_influx_errors_total",
                         "Failed InfluxDB operations.",
                         atomic_load(&c->influx_errors));
  coin_jbuf_prom_counter(&t, "coin_ingest_exchange_errors_total",
                         "Series syncs that failed on the exchange side.",
                         atomic_load(&c->exchange_errors));
  coin_jbuf_prom_counter(&t, "coin_ingest_gaps_found_total",
                         "Gaps recorded as known (exchange had no valid data).",
                         atomic_load(&c->gaps_found));
  coin_jbuf_prom_counter(&t, "coin_ingest_gaps_filled_total",
                         "Gaps in the SoT that a backfill filled.",
                         atomic_load(&c->gaps_filled));
  coin_jbuf_prom_counter(&t, "coin_ingest_gap_rechecks_total",
                         "Known gaps asked again after their backoff.",
                         atomic_load(&c->gap_rechecks));
  coin_jbuf_prom_gauge(&t, "coin_ingest_gaps_known",
                       "Known gaps held (re-checked on backoff).",
                       (double)atomic_load(&c->gaps_known));
  coin_jbuf_prom_counter(&t, "coin_ingest_cycles_total", "Ingest cycles run.",
                         atomic_load(&c->cycles));
  coin_jbuf_prom_counter(&t, "coin_ingest_cycle_overruns_total",
                         "Cycles that ran longer than their budget.",
                         atomic_load(&c->overruns));
  /* the scheduler (sched.c): series on their own clocks */
  coin_jbuf_prom_counter(&t, "coin_ingest_series_deadlines_total",
                         "Series syncs that failed at their deadline "
                         "(INGEST_SERIES_DEADLINE_SECONDS).",
                         atomic_load(&c->series_deadlines));
  coin_jbuf_prom_counter(&t, "coin_ingest_series_slices_total",
                         "Long fills that reached the deadline and went on "
                         "as a next slice.",
                         atomic_load(&c->series_slices));
  coin_jbuf_prom_counter(&t, "coin_ingest_series_busy_skips_total",
                         "Times a series came due while its previous sync "
                         "still ran (dispatched when it ended).",
                         atomic_load(&c->series_busy_skips));

  struct coin_exchange_stats sum = {0};
  struct coin_exchange *all[66];
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
  coin_jbuf_printf(&t,
                   "# HELP coin_ingest_exchange_responses_total Exchange HTTP "
                   "responses by status class.\n"
                   "# TYPE coin_ingest_exchange_responses_total counter\n");
  const char *cls[] = {"2xx", "4xx", "429", "418", "5xx", "transport_error"};
  uint64_t vals[] = {sum.status_2xx, sum.status_4xx, sum.status_429,
                     sum.status_418, sum.status_5xx, sum.transport_errors};
  for (size_t i = 0; i < 6; i++)
    coin_jbuf_printf(
        &t, "coin_ingest_exchange_responses_total{status=\"%s\"} %llu\n",
        cls[i], (unsigned long long)vals[i]);
  coin_jbuf_prom_counter(&t, "coin_ingest_exchange_requests_total",
                         "Exchange HTTP requests.", sum.requests);
  coin_jbuf_prom_counter(
      &t, "coin_ingest_exchange_retries_total",
      "Exchange requests retried (5xx, timeouts, malformed, 429).",
      sum.retries);
  coin_jbuf_prom_counter(&t, "coin_ingest_exchange_malformed_total",
                         "Exchange responses rejected as malformed.",
                         sum.malformed);
  pthread_mutex_lock(&in->budget.lock);
  double weight = (double)in->budget.weight_used;
  double limit = (double)in->budget.weight_limit;
  double paused = (double)in->budget.paused_until_ms;
  pthread_mutex_unlock(&in->budget.lock);
  coin_jbuf_prom_gauge(
      &t, "coin_ingest_exchange_weight_used",
      "Request weight used in the current minute (X-MBX-USED-WEIGHT-1M).",
      weight);
  coin_jbuf_prom_gauge(&t, "coin_ingest_exchange_weight_limit",
                       "Request weight per minute.", limit);
  coin_jbuf_prom_gauge(&t, "coin_ingest_exchange_paused_until_seconds",
                       "Retry-After pause end (unix seconds; 0 = none).",
                       paused / 1000.0);

  struct cycle_summary cs;
  pthread_mutex_lock(&in->lock);
  cycle_stats_summary(&cs, &in->stats);
  pthread_mutex_unlock(&in->lock);
  coin_jbuf_prom_gauge(&t, "coin_ingest_cycle_p50_seconds",
                       "Median cycle duration over the runtime-metrics window.",
                       cs.p50_elapsed_seconds);
  coin_jbuf_prom_gauge(&t, "coin_ingest_cycle_p95_seconds",
                       "95th percentile cycle duration over the window.",
                       cs.p95_elapsed_seconds);
  coin_jbuf_prom_gauge(&t, "coin_ingest_cycle_max_seconds",
                       "Longest cycle in the window.", cs.max_elapsed_seconds);
  coin_jbuf_prom_gauge(&t, "coin_ingest_cycle_overrun_rate",
                       "Share of cycles in the window that overran.",
                       cs.overrun_rate);
  /* the durable runtime-metrics window (runtime_window.c) */
  coin_jbuf_prom_counter(&t, "coin_ingest_runtime_window_saves_total",
                         "Runtime-metrics window saves to KV.",
                         atomic_load(&in->rw.saves));
  coin_jbuf_prom_counter(
      &t, "coin_ingest_runtime_window_save_errors_total",
      "Runtime-metrics window saves that failed (NATS away or refusing).",
      atomic_load(&in->rw.save_errors));
  coin_jbuf_prom_counter(&t, "coin_ingest_runtime_window_load_errors_total",
                         "Reads of the stored window that failed (retried).",
                         atomic_load(&in->rw.load_errors));
  coin_jbuf_prom_counter(
      &t, "coin_ingest_runtime_window_rejected_total",
      "Stored windows ignored as undecodable or out of range.",
      atomic_load(&in->rw.rejected));
  /* replicas sharing the series (members.c) */
  coin_jbuf_prom_gauge(&t, "coin_ingest_members",
                       "Live ingest replicas sharing the series, this one "
                       "included.",
                       (double)atomic_load(&in->members.members));
  coin_jbuf_prom_gauge(&t, "coin_ingest_series_owned",
                       "Series this replica syncs (its share).",
                       (double)atomic_load(&in->members.owned));
  coin_jbuf_prom_counter(&t, "coin_ingest_series_taken_over_total",
                         "Series taken over from a replica that left or died.",
                         atomic_load(&in->members.gained));
  coin_jbuf_prom_counter(&t, "coin_ingest_series_handed_over_total",
                         "Series handed to another replica (a new one).",
                         atomic_load(&in->members.lost));
  coin_jbuf_prom_counter(&t, "coin_ingest_member_heartbeat_errors_total",
                         "Membership heartbeats that failed (NATS away).",
                         atomic_load(&in->members.beat_errors));
  coin_jbuf_prom_gauge(&t, "coin_ingest_nats_connected",
                       "1 when connected to NATS.",
                       coin_bus_connected(in->bus) ? 1 : 0);
  if (t.oom) {
    coin_jbuf_free(&t);
    return coin_error_set(COIN_ENOMEM, "metrics: out of memory");
  }
  *out = t.p;
  return 0;
}
