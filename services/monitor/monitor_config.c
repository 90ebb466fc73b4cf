/* monitor_config.c: coin-monitor's own variables (core and freshness ones
 * are shared; see docs/configuration.md and docs/monitor.md). */
#include "monitor.h"

#include "coin/error.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define F(field) offsetof(struct monitor_config, field)

static const char *const http_schemes[] = {"http", "https", NULL};

const struct coin_cfg_var monitor_config_vars[] = {
    {.name = "MONITOR_EVAL_SECONDS",
     .type = COIN_CFG_INT,
     .def = "5",
     .offset = F(eval_seconds),
     .min = 1,
     .max = 3600,
     .doc = "Every series is evaluated this often, and also soon after any "
            "watermark change in KV coin_watermarks."},
    {.name = "MONITOR_LEASE_SECONDS",
     .type = COIN_CFG_INT,
     .def = "10",
     .offset = F(lease_seconds),
     .min = 2,
     .max = 300,
     .doc = "Leader lease (KV coin_locks/monitor.<EXCHANGE>): one replica "
            "evaluates and "
            "alerts, the others stand by; a standby takes over at most this "
            "long after the active one died (docs/scaling.md)."},
    {.name = "MONITOR_SOFT_ESCALATE_SECONDS",
     .type = COIN_CFG_INT,
     .def = "600",
     .offset = F(soft_escalate_seconds),
     .min = 1,
     .max = 30 * 86400,
     .doc = "soft_stale lasting longer than this becomes soft_stale_escalated "
            "(severity warning -> critical)."},
    {.name = "MONITOR_HARD_ESCALATE_SECONDS",
     .type = COIN_CFG_INT,
     .def = "1800",
     .offset = F(hard_escalate_seconds),
     .min = 1,
     .max = 30 * 86400,
     .doc = "A blocking state lasting longer than this escalates: hard_stale "
            "becomes hard_stale_escalated, corrupt and insufficient_data "
            "alerts escalate in place (severity critical, repeated)."},
    {.name = "MONITOR_REPEAT_SECONDS",
     .type = COIN_CFG_INT,
     .def = "3600",
     .offset = F(repeat_seconds),
     .min = 1,
     .max = 30 * 86400,
     .doc = "Escalated alerts are sent again this often until resolved."},
    {.name = "MONITOR_BOOTSTRAP_SECONDS",
     .type = COIN_CFG_INT,
     .def = "1800",
     .offset = F(bootstrap_seconds),
     .min = 0,
     .max = 30 * 86400,
     .doc = "A series first seen by the monitor (a new deployment or a newly "
            "added series) raises no staleness, insufficient_data or degraded "
            "alert while it fills (never fresh yet, or publish behind ingest; "
            "a lone no_model waits the whole time), at most this long; "
            "corrupt alerts at once; 0 = no grace."},
    {.name = "MONITOR_WEBHOOK_URLS",
     .type = COIN_CFG_URL,
     .offset = F(webhook_urls),
     .flags = COIN_CFG_MULTI,
     .choices = http_schemes,
     .doc = "Generic JSON webhooks (docs/monitor.md payload, signed with "
            "MONITOR_WEBHOOK_SECRET)."},
    {.name = "MONITOR_WEBHOOK_SECRET",
     .type = COIN_CFG_STRING,
     .offset = F(webhook_secret),
     .flags = COIN_CFG_SECRET | COIN_CFG_FILE_OK,
     .rule = "required when MONITOR_WEBHOOK_URLS is set",
     .doc = "Shared secret of the X-Coin-Signature header (HMAC-SHA256 of "
            "\"<unix seconds>.<body>\", docs/monitor.md)."},
    {.name = "MONITOR_SLACK_URLS",
     .type = COIN_CFG_URL,
     .offset = F(slack_urls),
     .flags = COIN_CFG_MULTI | COIN_CFG_SECRET | COIN_CFG_FILE_OK,
     .choices = http_schemes,
     .doc = "Slack-compatible incoming webhooks (Block Kit message with a "
            "fallback text, one per incident wave); the URLs hold a token, so "
            "they are secret."},
    {.name = "MONITOR_ALERTMANAGER_URLS",
     .type = COIN_CFG_URL,
     .offset = F(alertmanager_urls),
     .flags = COIN_CFG_MULTI,
     .choices = http_schemes,
     .doc = "Prometheus Alertmanager base URLs (alerts are POSTed to "
            "<url>/api/v2/alerts)."},
    {.name = "MONITOR_SINK_TIMEOUT_MS",
     .type = COIN_CFG_INT,
     .def = "5000",
     .offset = F(sink_timeout_ms),
     .min = 100,
     .max = 120000,
     .doc = "Timeout of one delivery attempt to a sink."},
    {.name = "MONITOR_RETRY_BASE_MS",
     .type = COIN_CFG_INT,
     .def = "500",
     .offset = F(retry_base_ms),
     .min = 10,
     .max = 600000,
     .doc = "First delay before a failed delivery is tried again; doubles per "
            "attempt (with jitter)."},
    {.name = "MONITOR_RETRY_MAX_SECONDS",
     .type = COIN_CFG_INT,
     .def = "60",
     .offset = F(retry_max_seconds),
     .min = 1,
     .max = 3600,
     .doc = "Longest delay between delivery attempts to a sink that is down."},
    {.name = "MONITOR_GIVE_UP_4XX_ATTEMPTS",
     .type = COIN_CFG_INT,
     .def = "10",
     .offset = F(give_up_4xx_attempts),
     .min = 1,
     .max = 1000000,
     .doc = "A sink that refuses one alert with a 4xx (other than 408, 425 and "
            "429) this many times gets no more tries for that alert (logged "
            "and counted as dropped); 5xx and network errors are retried "
            "forever."},
    {.name = "MONITOR_ALERTMANAGER_RESEND_SECONDS",
     .type = COIN_CFG_INT,
     .def = "60",
     .offset = F(am_resend_seconds),
     .min = 5,
     .max = 3600,
     .doc = "Active alerts are re-sent to Alertmanager this often (endsAt = "
            "now + 4 x this), as Prometheus does, so they stay active there."},
    {.name = "MONITOR_VERIFY_SECONDS",
     .type = COIN_CFG_INT,
     .def = "300",
     .offset = F(verify_seconds),
     .min = 1,
     .max = 86400,
     .doc = "Site files whose inode, size and times did not change are hashed "
            "again at least this often."},
    {.name = "MONITOR_CORRUPT_GRACE_MS",
     .type = COIN_CFG_INT,
     .def = "2000",
     .offset = F(corrupt_grace_ms),
     .min = 0,
     .max = 600000,
     .doc = "A hash or size mismatch on a file written less than this long "
            "ago is re-checked (publish may be between a file and the "
            "manifest) before it counts as corrupt."},
    {.name = "MONITOR_MAX_FILE_BYTES",
     .type = COIN_CFG_INT,
     .def = "67108864",
     .offset = F(max_file_bytes),
     .min = 4096,
     .max = INT64_C(1) << 34,
     .doc = "Largest site file (manifest, history, prediction) the monitor "
            "reads; a larger one counts as corrupt."},
    {.name = "MONITOR_ALERT_MAX_AGE_HOURS",
     .type = COIN_CFG_INT,
     .def = "168",
     .offset = F(alert_max_age_hours),
     .min = 1,
     .max = 24 * 3650,
     .doc = "Alerts are kept in stream COIN_ALERTS this long (a sink that is "
            "down longer loses the older ones)."},
    {.name = "MONITOR_STATUS_FILE",
     .type = COIN_CFG_BOOL,
     .def = "true",
     .offset = F(status_file),
     .doc = "Write STATIC_DATA_DIR/status.json (same content as GET /status) "
            "after every evaluation."},
    {.name = "MONITOR_SITE_URL",
     .type = COIN_CFG_URL,
     .offset = F(site_url),
     .choices = http_schemes,
     .doc = "The site's public base URL as users open it (e.g. "
            "https://coin.example.org/): alert links to a series page "
            "(<url>#SYMBOL/tf); unset = alerts carry no links."},
    /* receivers: links in alerts and the Slack incident wave */
    {.name = "MONITOR_PUBLIC_URL",
     .type = COIN_CFG_URL,
     .offset = F(public_url),
     .choices = http_schemes,
     .doc = "The monitor's own public base URL (e.g. "
            "https://monitor.example.org/): alerts link to <url>status; unset "
            "= they link to <MONITOR_SITE_URL>status.json (the same document) "
            "when that is set and written."},
    {.name = "MONITOR_SLACK_GROUP_MS",
     .type = COIN_CFG_INT,
     .def = "2000",
     .offset = F(slack_group_ms),
     .min = 0,
     .max = 60000,
     .doc = "Slack alerts arriving within this long of the first one of a "
            "wave are sent as one message (0 = only what is already "
            "queued)."},
    {.name = "MONITOR_DELIVERY_DEADLINE_SECONDS",
     .type = COIN_CFG_INT,
     .def = "60",
     .offset = F(delivery_deadline_seconds),
     .min = 1,
     .max = 86400,
     .doc = "An alert a sink has not received this long after the monitor "
            "raised it counts as missing (late once delivered) and raises "
            "CoinAlertDeliveryMissed for that sink."},
    /* availability probe (probe.c) */
    {.name = "MONITOR_PROBE_INTERVAL_SECONDS",
     .type = COIN_CFG_INT,
     .def = "30",
     .offset = F(probe_interval_seconds),
     .min = 1,
     .max = 3600,
     .doc = "Period of the availability probe of MONITOR_SITE_URL (GET "
            "manifest.json and 3 of its files, sizes, hashes, validity); "
            "no probe while MONITOR_SITE_URL is unset."},
    {.name = "MONITOR_PROBE_SLO",
     .type = COIN_CFG_DOUBLE,
     .def = "0.999",
     .offset = F(probe_slo),
     .dmin = 0.5,
     .dmax = 0.99999,
     .doc = "Availability objective (good probes / all) the burn-rate alerts "
            "CoinSiteAvailabilityBurn measure against."},
    /* champion watch (champion.c) */
    {.name = "MONITOR_CHAMPION_CHECK_SECONDS",
     .type = COIN_CFG_INT,
     .def = "300",
     .offset = F(champ_check_seconds),
     .min = 0,
     .max = 86400,
     .doc = "The champion watch judges the champion's realized predictions "
            "(InfluxDB measurement prediction) this often; 0 = no watch."},
    {.name = "MONITOR_CHAMPION_WINDOW_HOURS",
     .type = COIN_CFG_INT,
     .def = "168",
     .offset = F(champ_window_hours),
     .min = 1,
     .max = 8760,
     .doc = "The champion is judged on the realized predictions whose target "
            "candle opened within this many hours."},
    {.name = "MONITOR_CHAMPION_MIN_ROWS",
     .type = COIN_CFG_INT,
     .def = "200",
     .offset = F(champ_min_rows),
     .min = 2,
     .max = 100000000,
     .doc = "Realized rows of all series together needed for a pooled "
            "verdict (fewer: too_few, no alert)."},
    {.name = "MONITOR_CHAMPION_MIN_SERIES_ROWS",
     .type = COIN_CFG_INT,
     .def = "100",
     .offset = F(champ_min_series_rows),
     .min = 2,
     .max = 100000000,
     .doc = "Realized rows of one series needed for its verdict (fewer: "
            "too_few, no alert)."},
    {.name = "MONITOR_CHAMPION_MAX_ROWS",
     .type = COIN_CFG_INT,
     .def = "200000",
     .offset = F(champ_max_rows),
     .min = 100,
     .max = 10000000,
     .doc = "At most this many realized rows (the newest) are read per check; "
            "a longer window is judged on them and shown as truncated."},
    {.name = "MONITOR_CHAMPION_RETRAIN_SERIES",
     .type = COIN_CFG_INT,
     .def = "3",
     .offset = F(champ_retrain_series),
     .min = 1,
     .max = 100000,
     .doc = "Retraining is requested (KV coin_models request.retrain, once "
            "per champion and episode) when the pooled verdict is "
            "worse_than_persistence or at least this many series are."},
    {.name = "MONITOR_CHAMPION_MAX_SERIES_ALERTS",
     .type = COIN_CFG_INT,
     .def = "20",
     .offset = F(champ_max_series_alerts),
     .min = 0,
     .max = 40,
     .doc = "At most this many series raise their own "
            "CoinChampionUnderperforming alert; the others are counted in "
            "the pooled alert, status.json and /metrics."},
    {.name = "MONITOR_MAX_PASSES",
     .type = COIN_CFG_INT,
     .def = "0",
     .offset = F(max_passes),
     .min = 0,
     .max = INT64_MAX,
     .doc = "Stop after this many evaluation passes (0 = run until SIGTERM); "
            "for benchmarks and tests."},
};
const size_t monitor_config_var_count = COIN_ARRAY_LEN(monitor_config_vars);

int monitor_config_load(struct monitor_config *out, const struct coin_env *env,
                        struct coin_cfg_errors *errs) {
  struct monitor_config cfg;
  memset(&cfg, 0, sizeof(cfg));
  int before = errs->count;
  coin_config_load(&cfg.core, COIN_CFG_MONITOR, env, errs);
  int frc = coin_cfg_load(&cfg.fresh, coin_freshness_vars,
                          coin_freshness_var_count, env, errs);
  coin_cfg_load(&cfg, monitor_config_vars, monitor_config_var_count, env, errs);
  if (frc == 0 && coin_freshness_policy_from(&cfg.policy, &cfg.fresh) != 0)
    coin_cfg_errors_add(errs, "%s", coin_error_last());
  if (cfg.webhook_urls && !cfg.webhook_secret)
    coin_cfg_errors_add(errs, "MONITOR_WEBHOOK_SECRET: unset (rule: required "
                              "when MONITOR_WEBHOOK_URLS is set; or "
                              "MONITOR_WEBHOOK_SECRET_FILE)");
  if (cfg.site_url && strchr(cfg.site_url, ',') != NULL)
    coin_cfg_errors_add(errs, "MONITOR_SITE_URL: one URL only (rule: the "
                              "site's public base URL)");
  size_t su = cfg.site_url ? strlen(cfg.site_url) : 0;
  if (su > 0 && cfg.site_url[su - 1] != '/') {
    /* links append "#SYMBOL/tf" and file paths: end the base with '/' */
    char *t = realloc(cfg.site_url, su + 2);
    if (t == NULL) {
      coin_cfg_errors_add(errs, "MONITOR_SITE_URL: out of memory");
    } else {
      t[su] = '/';
      t[su + 1] = '\0';
      cfg.site_url = t;
    }
  }
  /* receivers: the monitor's public base ends with '/' ("status" follows) */
  if (cfg.public_url && strpbrk(cfg.public_url, ",#?") != NULL)
    coin_cfg_errors_add(errs, "MONITOR_PUBLIC_URL: one base URL without "
                              "query or fragment (rule: links append "
                              "\"status\")");
  size_t pu = cfg.public_url ? strlen(cfg.public_url) : 0;
  if (pu > 0 && cfg.public_url[pu - 1] != '/') {
    char *t = realloc(cfg.public_url, pu + 2);
    if (t == NULL) {
      coin_cfg_errors_add(errs, "MONITOR_PUBLIC_URL: out of memory");
    } else {
      t[pu] = '/';
      t[pu + 1] = '\0';
      cfg.public_url = t;
    }
  }
  if (errs->count > before) {
    monitor_config_free(&cfg);
    return coin_error_set(COIN_EINVAL, "%d configuration problem(s)",
                          errs->count - before);
  }
  *out = cfg;
  return 0;
}

void monitor_config_free(struct monitor_config *cfg) {
  coin_config_free(&cfg->core);
  coin_cfg_free(&cfg->fresh, coin_freshness_vars, coin_freshness_var_count);
  coin_cfg_free(cfg, monitor_config_vars, monitor_config_var_count);
}

int monitor_config_to_json(char **out, const struct monitor_config *cfg) {
  struct coin_cfg_var core[COIN_CONFIG_MAX_VARS];
  struct coin_cfg_part parts[] = {
      {&cfg->core, core, coin_config_rows(core, COIN_CFG_MONITOR)},
      {&cfg->fresh, coin_freshness_vars, coin_freshness_var_count},
      {cfg, monitor_config_vars, monitor_config_var_count},
  };
  return coin_cfg_to_json(out, parts, 3);
}
