/*
 * receivers.c: what alert receivers get beyond the alert itself: links to
 * the series page and to the status document, and the Slack Block Kit
 * message of an incident wave (one message for the alerts that arrived
 * together; sinks.c collects the wave). Layout: docs/monitor.md, "Slack".
 * Pure functions over the configuration and caller buffers; thread-safe.
 */
#include "monitor_int.h"

#include "coin/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- links -------------------------------------------------------------- */

/* A base URL usable inside Slack's <url|text> and as a link prefix. */
static bool link_safe(const char *s) {
  return s != NULL && *s != '\0' && strpbrk(s, "|<> \t\r\n\"#") == NULL;
}

static bool link_put(char out[MON_LINK_BYTES], int n) {
  if (n < 0 || n >= MON_LINK_BYTES) {
    out[0] = '\0';
    return false;
  }
  return true;
}

bool mon_link_series(char out[MON_LINK_BYTES], const struct monitor_config *cfg,
                     const char *symbol, enum coin_tf tf) {
  out[0] = '\0';
  if (!link_safe(cfg->site_url) || symbol == NULL || symbol[0] == '\0')
    return false;
  /* site_url ends with '/' (monitor_config_load); the page routes on the
   * fragment "#SYMBOL/tf" (web/app.js) */
  return link_put(out, snprintf(out, MON_LINK_BYTES, "%s#%s/%s", cfg->site_url,
                                symbol, coin_tf_name(tf)));
}

bool mon_link_status(char out[MON_LINK_BYTES],
                     const struct monitor_config *cfg) {
  out[0] = '\0';
  if (link_safe(cfg->public_url))
    return link_put(out,
                    snprintf(out, MON_LINK_BYTES, "%sstatus", cfg->public_url));
  if (link_safe(cfg->site_url) && cfg->status_file)
    return link_put(
        out, snprintf(out, MON_LINK_BYTES, "%sstatus.json", cfg->site_url));
  return false;
}

static bool is_global(const struct coin_alert *a) {
  return a->exchange[0] == '\0';
}

bool mon_link_generator(char out[MON_LINK_BYTES],
                        const struct monitor_config *cfg,
                        const struct coin_alert *a) {
  if (!is_global(a) && mon_link_series(out, cfg, a->symbol, a->tf))
    return true;
  return mon_link_status(out, cfg);
}

/* ---- Slack Block Kit ---------------------------------------------------- */

/* Slack's mrkdwn needs &, < and > escaped; everything else is literal. */
static void mrkdwn(struct coin_jbuf *t, const char *s) {
  for (; *s; s++) {
    switch (*s) {
    case '&': coin_jbuf_puts(t, "&amp;"); break;
    case '<': coin_jbuf_puts(t, "&lt;"); break;
    case '>': coin_jbuf_puts(t, "&gt;"); break;
    default: coin_jbuf_putn(t, s, 1);
    }
  }
}

static void upper(char *out, size_t cap, const char *s) {
  size_t i = 0;
  for (; s[i] && i < cap - 1; i++)
    out[i] = (char)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 32 : s[i]);
  out[i] = '\0';
}

/* "[WARNING]", "[CRITICAL]", "[RESOLVED]" */
static void tag(char out[24], const struct coin_alert *a) {
  char up[16];
  upper(up, sizeof(up),
        a->status == COIN_ALERT_RESOLVED
            ? "resolved"
            : coin_codec_severity_name(a->severity));
  snprintf(out, 24, "[%s]", up);
}

/* "binance BTCUSDT 1m" as a link to its page when there is one. */
static void series_ref(struct coin_jbuf *t, const struct monitor_config *cfg,
                       const struct coin_alert *a) {
  char url[MON_LINK_BYTES];
  bool link = mon_link_series(url, cfg, a->symbol, a->tf);
  if (link)
    coin_jbuf_printf(t, "<%s|", url);
  mrkdwn(t, a->exchange);
  coin_jbuf_puts(t, " ");
  mrkdwn(t, a->symbol);
  coin_jbuf_printf(t, " %s", coin_tf_name(a->tf));
  if (link)
    coin_jbuf_puts(t, ">");
}

/* A plain_text object member ("text":{"type":"plain_text","text":...}). */
static void plain(struct coin_jbuf *b, const char *key, const char *text) {
  coin_jbuf_key(b, key);
  coin_jbuf_puts(b, "{\"type\":\"plain_text\",");
  coin_jbuf_kstr(b, "text", text);
  coin_jbuf_trim_comma(b);
  coin_jbuf_puts(b, "},");
}

/* {"type":"mrkdwn","text":...}, as an array element */
static void mrk_obj(struct coin_jbuf *b, const char *text) {
  coin_jbuf_puts(b, "{\"type\":\"mrkdwn\",");
  coin_jbuf_kstr(b, "text", text);
  coin_jbuf_trim_comma(b);
  coin_jbuf_puts(b, "},");
}

/* The context line: the status link and who sent it. */
static void context_block(struct coin_jbuf *b, struct coin_jbuf *t,
                          const struct monitor_config *cfg,
                          const struct coin_alert *a, size_t n) {
  char url[MON_LINK_BYTES];
  coin_jbuf_reset(t);
  if (mon_link_status(url, cfg))
    coin_jbuf_printf(t, "<%s|Monitor status> | ", url);
  if (n == 1) {
    coin_jbuf_puts(t, "alert `");
    mrkdwn(t, a->alert_id);
    coin_jbuf_puts(t, "` | ");
  }
  coin_jbuf_puts(t, "coin-monitor ");
  mrkdwn(t, a->producer_id);
  coin_jbuf_puts(b, "{\"type\":\"context\",\"elements\":[");
  mrk_obj(b, t->p ? t->p : "");
  coin_jbuf_trim_comma(b);
  coin_jbuf_puts(b, "]},");
}

/* A field "*Name*\nvalue" of a section (value is mrkdwn already). */
static void field(struct coin_jbuf *b, struct coin_jbuf *t, const char *name,
                  const char *value) {
  coin_jbuf_reset(t);
  coin_jbuf_printf(t, "*%s*\n", name);
  mrkdwn(t, value);
  mrk_obj(b, t->p ? t->p : "");
}

/* One alert: header, the summary with its facts as fields, context. */
static void blocks_one(struct coin_jbuf *b, struct coin_jbuf *t,
                       const struct monitor_config *cfg,
                       const struct coin_alert *a) {
  char tg[24], head[151], when[32], notice[16]; /* header: <= 150 */
  tag(tg, a);
  if (is_global(a))
    snprintf(head, sizeof(head), "%s %s", tg, a->alertname);
  else
    snprintf(head, sizeof(head), "%s %s: %s %s", tg, a->alertname, a->symbol,
             coin_tf_name(a->tf));
  coin_jbuf_puts(b, "{\"type\":\"header\",");
  plain(b, "text", head);
  coin_jbuf_trim_comma(b);
  coin_jbuf_puts(b, "},");

  coin_jbuf_puts(b, "{\"type\":\"section\",");
  coin_jbuf_reset(t);
  mrkdwn(t, a->summary);
  coin_jbuf_key(b, "text");
  mrk_obj(b, t->p ? t->p : "");
  coin_jbuf_puts(b, "\"fields\":[");
  if (!is_global(a)) {
    coin_jbuf_reset(t);
    coin_jbuf_puts(t, "*Series*\n");
    series_ref(t, cfg, a);
    mrk_obj(b, t->p ? t->p : "");
  }
  field(b, t, "Status", coin_codec_alert_status_name(a->status));
  field(b, t, "Severity", coin_codec_severity_name(a->severity));
  if (a->state != COIN_STATE_UNSPECIFIED)
    field(b, t, "State", coin_codec_state_name(a->state));
  coin_tf_format_utc(when, sizeof(when), a->starts_at_ms);
  field(b, t, "Since", when);
  snprintf(notice, sizeof(notice), "%u", (unsigned)a->repeat_count + 1);
  field(b, t, "Notice", notice);
  coin_jbuf_trim_comma(b);
  coin_jbuf_puts(b, "]},");
  context_block(b, t, cfg, a, 1);
}

/* A wave: header with the counts, the counts as fields, the series (at most
 * MON_SLACK_LIST_LINES, packed into sections below Slack's 3000 characters),
 * "and N more", context. */
static void blocks_wave(struct coin_jbuf *b, struct coin_jbuf *t,
                        const struct monitor_config *cfg,
                        const struct coin_alert *alerts, size_t n,
                        size_t firing, enum coin_severity worst) {
  char head[151], up[16], num[32];
  upper(up, sizeof(up), firing ? coin_codec_severity_name(worst) : "resolved");
  snprintf(head, sizeof(head), "[%s] %zu alerts: %zu firing, %zu resolved", up,
           n, firing, n - firing);
  coin_jbuf_puts(b, "{\"type\":\"header\",");
  plain(b, "text", head);
  coin_jbuf_trim_comma(b);
  coin_jbuf_puts(b, "},");

  coin_jbuf_puts(b, "{\"type\":\"section\",\"fields\":[");
  field(b, t, "Exchange", cfg->core.exchange ? cfg->core.exchange : "");
  snprintf(num, sizeof(num), "%zu", firing);
  field(b, t, "Firing", num);
  snprintf(num, sizeof(num), "%zu", n - firing);
  field(b, t, "Resolved", num);
  field(b, t, "Worst severity",
        firing ? coin_codec_severity_name(worst) : "none");
  coin_jbuf_trim_comma(b);
  coin_jbuf_puts(b, "]},");

  size_t listed = n < MON_SLACK_LIST_LINES ? n : MON_SLACK_LIST_LINES;
  struct coin_jbuf line = {0};
  coin_jbuf_reset(t);
  size_t in_section = 0;
  for (size_t i = 0; i <= listed; i++) {
    if (i < listed) {
      const struct coin_alert *a = &alerts[i];
      char tg[24];
      tag(tg, a);
      coin_jbuf_reset(&line);
      coin_jbuf_printf(&line, "- *%s* ", tg);
      mrkdwn(&line, a->alertname);
      coin_jbuf_puts(&line, " ");
      if (is_global(a)) {
        coin_jbuf_puts(&line, ": ");
        mrkdwn(&line, a->summary);
      } else {
        series_ref(&line, cfg, a);
        if (a->state != COIN_STATE_UNSPECIFIED)
          coin_jbuf_printf(&line, " %s", coin_codec_state_name(a->state));
        if (a->repeat_count > 0)
          coin_jbuf_printf(&line, " (notice %u)",
                           (unsigned)a->repeat_count + 1);
      }
    }
    /* flush the section: at the end, every 10 lines, before 3000 chars */
    bool flush =
        in_section > 0 && (i == listed || in_section == 10 ||
                           t->len + 1 + (line.p ? line.len : 0) > 2900);
    if (flush) {
      coin_jbuf_puts(b, "{\"type\":\"section\",");
      coin_jbuf_key(b, "text");
      mrk_obj(b, t->p ? t->p : "");
      coin_jbuf_trim_comma(b);
      coin_jbuf_puts(b, "},");
      coin_jbuf_reset(t);
      in_section = 0;
    }
    if (i < listed) {
      if (in_section++ > 0)
        coin_jbuf_puts(t, "\n");
      /* one line never exceeds a section: cut it (ASCII ids and URLs;
       * the summary of a global alert is cut at a UTF-8 boundary) */
      size_t len = line.p ? line.len : 0;
      if (len > 2800) {
        len = 2800;
        while (len > 0 && ((unsigned char)line.p[len] & 0xC0) == 0x80)
          len--;
      }
      coin_jbuf_putn(t, line.p ? line.p : "", len);
    }
  }
  bool oom = line.oom;
  coin_jbuf_free(&line);
  if (oom)
    t->oom = true;
  if (n > listed) {
    coin_jbuf_reset(t);
    coin_jbuf_printf(t, "_and %zu more_", n - listed);
    coin_jbuf_puts(b, "{\"type\":\"section\",");
    coin_jbuf_key(b, "text");
    mrk_obj(b, t->p ? t->p : "");
    coin_jbuf_trim_comma(b);
    coin_jbuf_puts(b, "},");
  }
  context_block(b, t, cfg, &alerts[0], n);
}

/* The fallback text (notifications, clients without blocks): one line per
 * alert as before Block Kit, for a wave the counts and the first series. */
static void fallback(struct coin_jbuf *t, const struct coin_alert *alerts,
                     size_t n, size_t firing, enum coin_severity worst) {
  coin_jbuf_reset(t);
  if (n == 1) {
    const struct coin_alert *a = &alerts[0];
    char tg[24];
    tag(tg, a);
    if (a->status != COIN_ALERT_RESOLVED && a->repeat_count > 0)
      coin_jbuf_printf(t, "%s %s (notice %u): %s (alert %s)", tg, a->alertname,
                       (unsigned)a->repeat_count + 1, a->summary, a->alert_id);
    else
      coin_jbuf_printf(t, "%s %s: %s (alert %s)", tg, a->alertname, a->summary,
                       a->alert_id);
    return;
  }
  char up[16];
  upper(up, sizeof(up), firing ? coin_codec_severity_name(worst) : "resolved");
  coin_jbuf_printf(t, "[%s] %zu alerts (%zu firing, %zu resolved):", up, n,
                   firing, n - firing);
  size_t listed = n < MON_SLACK_LIST_LINES ? n : MON_SLACK_LIST_LINES;
  for (size_t i = 0; i < listed; i++) {
    const struct coin_alert *a = &alerts[i];
    if (is_global(a))
      coin_jbuf_printf(t, "%s %s", i ? "," : "", a->alertname);
    else
      coin_jbuf_printf(t, "%s %s %s %s", i ? "," : "", a->alertname, a->symbol,
                       coin_tf_name(a->tf));
  }
  if (n > listed)
    coin_jbuf_printf(t, " and %zu more", n - listed);
}

int sink_slack_body(char **out, size_t *out_len,
                    const struct monitor_config *cfg,
                    const struct coin_alert *alerts, size_t n) {
  if (n == 0)
    return coin_error_set(COIN_EINVAL, "Slack message without alerts");
  size_t firing = 0;
  enum coin_severity worst = COIN_SEVERITY_INFO;
  for (size_t i = 0; i < n; i++)
    if (alerts[i].status != COIN_ALERT_RESOLVED) {
      firing++;
      if (alerts[i].severity > worst)
        worst = alerts[i].severity;
    }
  struct coin_jbuf b = {0}, t = {0};
  coin_jbuf_puts(&b, "{");
  fallback(&t, alerts, n, firing, worst);
  coin_jbuf_kstr(&b, "text", t.p ? t.p : "");
  coin_jbuf_puts(&b, "\"blocks\":[");
  if (n == 1)
    blocks_one(&b, &t, cfg, &alerts[0]);
  else
    blocks_wave(&b, &t, cfg, alerts, n, firing, worst);
  coin_jbuf_trim_comma(&b);
  coin_jbuf_puts(&b, "]}");
  bool oom = t.oom;
  coin_jbuf_free(&t);
  if (oom) {
    coin_jbuf_free(&b);
    return coin_error_set(COIN_ENOMEM, "Slack message: out of memory");
  }
  return coin_jbuf_finish(out, out_len, &b);
}
