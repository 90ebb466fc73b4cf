/* metrics.c: coin-publish's Prometheus text (/metrics) and the latency
 * histogram (stream store time of a batch -> its files on disk and the
 * watermark written). Reads and updates atomics only: any thread. */
#include "publish_int.h"

#include "coin/error.h"

#include <stdlib.h>
#include <string.h>

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

#define L(x) atomic_load(&c->x)

int metrics_text(char **out, struct publish *p) {
  struct coin_jbuf t = {0};
  struct publish_counters *c = &p->c;
  coin_jbuf_prom_counter(&t, "coin_publish_messages_total",
                         "CandleBatch messages fetched from the stream.",
                         L(msgs));
  coin_jbuf_prom_counter(
      &t, "coin_publish_batches_total",
      "Messages processed and acknowledged after their files were "
      "written.",
      L(batches));
  coin_jbuf_prom_counter(
      &t, "coin_publish_redeliveries_total",
      "Messages delivered more than once (NumDelivered > 1).", L(redeliveries));
  coin_jbuf_prom_counter(
      &t, "coin_publish_duplicate_batches_total",
      "Messages that changed nothing (duplicates, redeliveries).",
      L(dup_batches));
  coin_jbuf_prom_counter(
      &t, "coin_publish_duplicate_candles_total",
      "Candles skipped: already published with the same values, or "
      "older than the window.",
      L(dup_candles));
  coin_jbuf_prom_counter(
      &t, "coin_publish_candles_total",
      "Candles newly published (from batches and reconciles).", L(candles));
  coin_jbuf_prom_counter(
      &t, "coin_publish_holes_repaired_total",
      "Candles below the publish watermark that filled a hole of the "
      "window (backfill).",
      L(repaired));
  coin_jbuf_prom_counter(
      &t, "coin_publish_beyond_watermark_candles_total",
      "Candles held back because they were beyond the ingest watermark.",
      L(beyond_wm));
  coin_jbuf_prom_counter(
      &t, "coin_publish_unconfigured_batches_total",
      "Messages of series that are not published (other exchange, not "
      "configured and not ingested, or PUBLISH_MAX_SERIES reached).",
      L(unconfigured));
  coin_jbuf_prom_counter(
      &t, "coin_publish_watermark_bad_values_total",
      "Watermark values in KV coin_watermarks that did not decode (ingest: "
      "ignored, the last good one stays; publish: rebuilt from the SoT and "
      "overwritten).",
      L(wm_bad_values));
  coin_jbuf_prom_counter(
      &t, "coin_publish_sot_reads_total",
      "Reads of a batch's new candles from InfluxDB (what is published is "
      "what the SoT holds, never the batch itself).",
      L(sot_reads));
  coin_jbuf_prom_counter(
      &t, "coin_publish_candles_not_in_sot_total",
      "Batch candles ignored because InfluxDB does not hold them as they "
      "are (a hand-published or corrupted batch).",
      L(not_in_sot));
  coin_jbuf_puts(&t, "# HELP coin_publish_terminated_messages_total Messages "
                     "terminated (never redelivered), by reason.\n"
                     "# TYPE coin_publish_terminated_messages_total counter\n");
  const char *reasons[] = {"decode", "subject", "invalid_candle", "too_big"};
  uint64_t tv[] = {L(term_decode), L(term_subject), L(term_invalid),
                   L(term_toobig)};
  for (int i = 0; i < 4; i++)
    coin_jbuf_printf(
        &t, "coin_publish_terminated_messages_total{reason=\"%s\"} %llu\n",
        reasons[i], (unsigned long long)tv[i]);
  coin_jbuf_prom_counter(
      &t, "coin_publish_naks_total",
      "Messages handed back for redelivery (SoT or disk unavailable).",
      L(naks));
  coin_jbuf_puts(&t, "# HELP coin_publish_reconciles_total Ranges read from "
                     "InfluxDB instead of a batch, by reason.\n"
                     "# TYPE coin_publish_reconciles_total counter\n");
  const char *why[] = {"hole", "no_batch", "conflict"};
  uint64_t rv[] = {L(reconcile_hole), L(reconcile_timer),
                   L(reconcile_conflict)};
  for (int i = 0; i < 3; i++)
    coin_jbuf_printf(&t, "coin_publish_reconciles_total{reason=\"%s\"} %llu\n",
                     why[i], (unsigned long long)rv[i]);
  coin_jbuf_prom_counter(&t, "coin_publish_reconcile_errors_total",
                         "Reconcile reads that failed (retried).",
                         L(reconcile_errors));
  coin_jbuf_prom_counter(
      &t, "coin_publish_files_written_total",
      "Files written atomically (history, prediction, manifest).",
      L(files_written));
  coin_jbuf_prom_counter(&t, "coin_publish_manifests_written_total",
                         "manifest.json writes.", L(manifests_written));
  coin_jbuf_prom_counter(&t, "coin_publish_file_errors_total",
                         "Failed file writes.", L(file_errors));
  coin_jbuf_prom_counter(
      &t, "coin_publish_status_rewrites_total",
      "Series rewritten because their status or prediction changed "
      "without new candles.",
      L(status_rewrites));
  coin_jbuf_prom_counter(&t, "coin_publish_watermark_advances_total",
                         "Publish watermark compare-and-set successes.",
                         L(wm_advances));
  coin_jbuf_prom_counter(&t, "coin_publish_watermark_conflicts_total",
                         "Publish watermark compare-and-set conflicts.",
                         L(wm_conflicts));
  coin_jbuf_prom_counter(&t, "coin_publish_watermark_errors_total",
                         "Publish watermark writes that failed.", L(wm_errors));
  coin_jbuf_prom_counter(&t, "coin_publish_influx_errors_total",
                         "Failed InfluxDB reads.", L(influx_errors));
  coin_jbuf_prom_counter(&t, "coin_publish_serving_errors_total",
                         "Prediction, realize or registry refresh failures.",
                         L(serving_errors));
  coin_jbuf_prom_counter(&t, "coin_publish_fetch_errors_total",
                         "Fetches from the consumer that failed.",
                         L(fetch_errors));
  coin_jbuf_prom_counter(
      &t, "coin_publish_activation_retries_total",
      "Times starting as the active replica failed (NATS electing a "
      "leader, the watermark bucket away) and was tried again 1 s later.",
      L(activation_retries));
  coin_jbuf_prom_counter(&t, "coin_publish_tmp_files_removed_total",
                         "Leftover temp files of killed writers removed.",
                         L(tmp_removed));

  coin_jbuf_puts(&t,
                 "# HELP coin_publish_latency_seconds From a batch's arrival "
                 "in the stream to its files on disk (new candles only).\n"
                 "# TYPE coin_publish_latency_seconds histogram\n");
  for (int i = 0; i < PUBLISH_LATENCY_BUCKETS; i++)
    coin_jbuf_printf(&t,
                     "coin_publish_latency_seconds_bucket{le=\"%g\"} %llu\n",
                     bucket_le[i], (unsigned long long)L(lat_buckets[i]));
  coin_jbuf_printf(&t,
                   "coin_publish_latency_seconds_bucket{le=\"+Inf\"} %llu\n"
                   "coin_publish_latency_seconds_sum %.6f\n"
                   "coin_publish_latency_seconds_count %llu\n",
                   (unsigned long long)L(lat_count),
                   (double)L(lat_sum_us) / 1e6,
                   (unsigned long long)L(lat_count));

  coin_jbuf_prom_gauge(&t, "coin_publish_series", "Series held.",
                       (double)L(series));
  coin_jbuf_puts(&t,
                 "# HELP coin_publish_series_status Series by the status their "
                 "files show.\n# TYPE coin_publish_series_status gauge\n");
  static const enum coin_fresh_state states[] = {
      COIN_STATE_FRESH, COIN_STATE_SOFT_STALE, COIN_STATE_HARD_STALE,
      COIN_STATE_INSUFFICIENT_DATA, COIN_STATE_CORRUPT};
  for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
    coin_jbuf_printf(&t, "coin_publish_series_status{status=\"%s\"} %llu\n",
                     coin_codec_state_name(states[i]),
                     (unsigned long long)L(by_state[states[i]]));
  coin_jbuf_prom_gauge(&t, "coin_publish_series_degraded",
                       "Series whose prediction path is degraded.",
                       (double)L(degraded));
  coin_jbuf_prom_gauge(&t, "coin_publish_rebuild_seconds",
                       "Duration of the start-up rebuild from InfluxDB.",
                       (double)L(rebuild_ms) / 1000.0);
  coin_jbuf_prom_gauge(&t, "coin_publish_rebuild_files",
                       "Files written by the rebuild.",
                       (double)L(rebuild_files));
  coin_jbuf_prom_gauge(&t, "coin_publish_ready", "1 once the site was rebuilt.",
                       atomic_load(&c->ready) ? 1 : 0);
  coin_leader_metrics(&t, "publish", p->leader);
  coin_jbuf_prom_gauge(&t, "coin_publish_nats_connected",
                       "1 when connected to NATS.",
                       coin_bus_connected(p->bus) ? 1 : 0);
  if (t.oom) {
    coin_jbuf_free(&t);
    return coin_error_set(COIN_ENOMEM, "metrics: out of memory");
  }
  *out = t.p;
  return 0;
}
