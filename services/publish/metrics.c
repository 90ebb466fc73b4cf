/* metrics.c: coin-publish's metrics table (/metrics, --metrics-doc) and the
 * latency histogram (stream store time of a batch -> its files on disk and
 * the watermark written). Reads and updates atomics only: any thread. */
#include "publish_int.h"

#include "coin/prom.h"

#include <stddef.h>

static const double bucket_le[PUBLISH_LATENCY_BUCKETS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60};

void metrics_observe_latency(struct publish_counters *c, int64_t latency_ms) {
  if (latency_ms < 0)
    latency_ms = 0; /* clocks of NATS and us differ slightly */
  double secs = (double)latency_ms / 1000.0;
  for (int i = 0; i < PUBLISH_LATENCY_BUCKETS; i++)
    if (secs <= bucket_le[i])
      atomic_fetch_add(&c->lat_buckets[i], 1);
  atomic_fetch_add(&c->lat_count, 1);
  atomic_fetch_add(&c->lat_sum_us, (uint64_t)latency_ms * 1000);
}

/* ---- the table --------------------------------------------------------- */

#define COUNTER(field, name, help)                                             \
  COIN_PROM_COUNTER_AT(struct publish, c.field, name, help)
#define GAUGE(field, name, help)                                               \
  COIN_PROM_GAUGE_AT(struct publish, c.field, name, help)
#define REASON(value, field)                                                   \
  { value, offsetof(struct publish, c.field) }

static const struct coin_prom_label terminated[] = {
    REASON("decode", term_decode),
    REASON("subject", term_subject),
    REASON("invalid_candle", term_invalid),
    REASON("too_big", term_toobig),
    {NULL, 0},
};
static const struct coin_prom_label reconciles[] = {
    REASON("hole", reconcile_hole),
    REASON("no_batch", reconcile_timer),
    REASON("conflict", reconcile_conflict),
    {NULL, 0},
};

static void latency_samples(struct coin_jbuf *b,
                            const struct coin_prom_metric *row, void *base) {
  const struct publish_counters *c = &((const struct publish *)base)->c;
  for (int i = 0; i < PUBLISH_LATENCY_BUCKETS; i++)
    coin_jbuf_printf(b, "%s_bucket{le=\"%g\"} %llu\n", row->name, bucket_le[i],
                     (unsigned long long)atomic_load(&c->lat_buckets[i]));
  unsigned long long count = atomic_load(&c->lat_count);
  coin_jbuf_printf(b,
                   "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n",
                   row->name, count, row->name,
                   (double)atomic_load(&c->lat_sum_us) / 1e6, row->name, count);
}

static void status_samples(struct coin_jbuf *b,
                           const struct coin_prom_metric *row, void *base) {
  const struct publish_counters *c = &((const struct publish *)base)->c;
  static const enum coin_fresh_state states[] = {
      COIN_STATE_FRESH, COIN_STATE_SOFT_STALE, COIN_STATE_HARD_STALE,
      COIN_STATE_INSUFFICIENT_DATA, COIN_STATE_CORRUPT};
  for (size_t i = 0; i < COIN_ARRAY_LEN(states); i++)
    coin_jbuf_printf(b, "%s{%s=\"%s\"} %llu\n", row->name, row->label,
                     coin_codec_state_name(states[i]),
                     (unsigned long long)atomic_load(&c->by_state[states[i]]));
}

static double ready(const struct coin_prom_metric *row, void *base) {
  (void)row;
  return atomic_load(&((const struct publish *)base)->c.ready) ? 1 : 0;
}

static double nats_connected(const struct coin_prom_metric *row, void *base) {
  (void)row;
  return coin_bus_connected(((const struct publish *)base)->bus) ? 1 : 0;
}

static void leader_block(struct coin_jbuf *b,
                         const struct coin_prom_metric *row, void *base) {
  (void)row;
  coin_leader_metrics(b, "publish", ((struct publish *)base)->leader);
}

const struct coin_prom_metric publish_metrics[] = {
    COUNTER(msgs, "coin_publish_messages_total",
            "CandleBatch messages fetched from the stream."),
    COUNTER(batches, "coin_publish_batches_total",
            "Messages processed and acknowledged after their files were "
            "written."),
    COUNTER(redeliveries, "coin_publish_redeliveries_total",
            "Messages delivered more than once (NumDelivered > 1)."),
    COUNTER(dup_batches, "coin_publish_duplicate_batches_total",
            "Messages that changed nothing (duplicates, redeliveries)."),
    COUNTER(dup_candles, "coin_publish_duplicate_candles_total",
            "Candles skipped: already published with the same values, or "
            "older than the window."),
    COUNTER(candles, "coin_publish_candles_total",
            "Candles newly published (from batches and reconciles)."),
    COUNTER(repaired, "coin_publish_holes_repaired_total",
            "Candles below the publish watermark that filled a hole of the "
            "window (backfill)."),
    COUNTER(beyond_wm, "coin_publish_beyond_watermark_candles_total",
            "Candles held back because they were beyond the ingest "
            "watermark."),
    COUNTER(unconfigured, "coin_publish_unconfigured_batches_total",
            "Messages of series that are not published (other exchange, not "
            "configured and not ingested, or PUBLISH_MAX_SERIES reached)."),
    COUNTER(wm_bad_values, "coin_publish_watermark_bad_values_total",
            "Watermark values in KV coin_watermarks that did not decode "
            "(ingest: ignored, the last good one stays; publish: rebuilt from "
            "the SoT and overwritten)."),
    COUNTER(sot_reads, "coin_publish_sot_reads_total",
            "Reads of a batch's new candles from InfluxDB (what is published "
            "is what the SoT holds, never the batch itself)."),
    COUNTER(not_in_sot, "coin_publish_candles_not_in_sot_total",
            "Batch candles ignored because InfluxDB does not hold them as "
            "they are (a hand-published or corrupted batch)."),
    COIN_PROM_LABELLED(COIN_PROM_COUNTER, "reason", terminated,
                       "coin_publish_terminated_messages_total",
                       "Messages terminated (never redelivered), by reason."),
    COUNTER(naks, "coin_publish_naks_total",
            "Messages handed back for redelivery (SoT or disk unavailable)."),
    COIN_PROM_LABELLED(
        COIN_PROM_COUNTER, "reason", reconciles,
        "coin_publish_reconciles_total",
        "Ranges read from InfluxDB instead of a batch, by reason."),
    COUNTER(reconcile_errors, "coin_publish_reconcile_errors_total",
            "Reconcile reads that failed (retried)."),
    COUNTER(files_written, "coin_publish_files_written_total",
            "Files written atomically (history, prediction, manifest)."),
    COUNTER(manifests_written, "coin_publish_manifests_written_total",
            "manifest.json writes."),
    COUNTER(file_errors, "coin_publish_file_errors_total",
            "Failed file writes."),
    COUNTER(status_rewrites, "coin_publish_status_rewrites_total",
            "Series rewritten because their status or prediction changed "
            "without new candles."),
    COUNTER(wm_advances, "coin_publish_watermark_advances_total",
            "Publish watermark compare-and-set successes."),
    COUNTER(wm_conflicts, "coin_publish_watermark_conflicts_total",
            "Publish watermark compare-and-set conflicts."),
    COUNTER(wm_errors, "coin_publish_watermark_errors_total",
            "Publish watermark writes that failed."),
    COUNTER(influx_errors, "coin_publish_influx_errors_total",
            "Failed InfluxDB reads."),
    COUNTER(serving_errors, "coin_publish_serving_errors_total",
            "Prediction, realize or registry refresh failures."),
    COUNTER(fetch_errors, "coin_publish_fetch_errors_total",
            "Fetches from the consumer that failed."),
    COUNTER(activation_retries, "coin_publish_activation_retries_total",
            "Times starting as the active replica failed (NATS electing a "
            "leader, the watermark bucket away) and was tried again 1 s "
            "later."),
    COUNTER(tmp_removed, "coin_publish_tmp_files_removed_total",
            "Leftover temp files of killed writers removed."),
    COIN_PROM_FAMILY(
        COIN_PROM_HISTOGRAM, NULL, latency_samples,
        "coin_publish_latency_seconds",
        "From a batch's arrival in the stream to its files on disk (new "
        "candles only)."),
    GAUGE(series, "coin_publish_series", "Series held."),
    COIN_PROM_FAMILY(COIN_PROM_GAUGE, "status", status_samples,
                     "coin_publish_series_status",
                     "Series by the status their files show."),
    GAUGE(degraded, "coin_publish_series_degraded",
          "Series whose prediction path is degraded."),
    COIN_PROM_SCALED_AT(struct publish, c.rebuild_ms, 1000,
                        "coin_publish_rebuild_seconds",
                        "Duration of the start-up rebuild from InfluxDB."),
    GAUGE(rebuild_files, "coin_publish_rebuild_files",
          "Files written by the rebuild."),
    COIN_PROM_COMPUTED(COIN_PROM_GAUGE, ready, "coin_publish_ready",
                       "1 once the site was rebuilt."),
    COIN_PROM_BLOCK(leader_block), /* coin_publish_leader_* (leader.h) */
    COIN_PROM_COMPUTED(COIN_PROM_GAUGE, nats_connected,
                       "coin_publish_nats_connected",
                       "1 when connected to NATS."),
};
const size_t publish_metric_count = COIN_ARRAY_LEN(publish_metrics);
