/* test_monitor_receivers.c: what coin-monitor's receivers get
 * (services/monitor/receivers.c, sinks.c; linked with coin_monitor): the
 * timestamped webhook signature against a reference HMAC computed here with
 * OpenSSL directly and a fixed vector, its verification (window, tampering,
 * malformed values, rotation), the Slack Block Kit message of one alert and
 * of a wave (valid JSON, block limits, links, cap with "and N more",
 * escaping) and Alertmanager's generatorURL. */
#include "monitor_int.h"

#include "coin/error.h"
#include "test.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

/* ---- webhook signature ------------------------------------------------- */

static void reference_hex(char out[65], const char *key, const char *msg) {
  unsigned char md[32];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)msg,
       strlen(msg), md, &n);
  for (unsigned i = 0; i < n; i++)
    snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void webhook_sign(void) {
  const char *body = "{\"a\":1}";
  char sig[COIN_WEBHOOK_SIGNATURE_BYTES];
  ASSERT_OK(
      coin_hmac_webhook_sign(sig, "s3cret", 6, 1700000000, body, strlen(body)));
  /* fixed vector: python3 hmac.new(b"s3cret", b'1700000000.{"a":1}',
   * sha256) */
  ASSERT_EQ_STR(sig, "t=1700000000,v1=1698a50bc74d1ff1db85c4e0a5297c2ad9fdba2"
                     "45d5737cdb789e4cc6e098940");
  /* and the same as OpenSSL's HMAC over "<ts>.<body>" built here */
  char want[65], wantsig[128];
  reference_hex(want, "webhook-key", "1795735482.{\"alert\":\"x\"}");
  snprintf(wantsig, sizeof(wantsig), "X-Coin-Signature: t=1795735482,v1=%s",
           want);
  char tsh[64], sigh[COIN_WEBHOOK_SIGNATURE_BYTES + 32];
  const char *b2 = "{\"alert\":\"x\"}";
  ASSERT_OK(
      sink_webhook_sign(tsh, sigh, "webhook-key", 1795735482, b2, strlen(b2)));
  ASSERT_EQ_STR(tsh, "X-Coin-Timestamp: 1795735482");
  ASSERT_EQ_STR(sigh, wantsig);
  /* the body alone (the old scheme) is not what is signed */
  reference_hex(want, "webhook-key", b2);
  ASSERT_TRUE(strstr(sigh, want) == NULL);
  ASSERT_RC(coin_hmac_webhook_sign(sig, "k", 1, -1, "", 0), COIN_EINVAL);
}

static void webhook_verify(void) {
  const char *body = "{\"msg_id\":\"m1\"}";
  size_t len = strlen(body);
  char sig[COIN_WEBHOOK_SIGNATURE_BYTES];
  int64_t now = 1795735482, t = 0;
  ASSERT_OK(coin_hmac_webhook_sign(sig, "sec", 3, now, body, len));
  ASSERT_OK(coin_hmac_webhook_verify(&t, sig, "sec", 3, body, len, now, 300));
  ASSERT_EQ_INT(t, now);
  /* inside the window either way; outside it a replay */
  ASSERT_OK(
      coin_hmac_webhook_verify(NULL, sig, "sec", 3, body, len, now + 300, 300));
  ASSERT_OK(
      coin_hmac_webhook_verify(NULL, sig, "sec", 3, body, len, now - 300, 300));
  ASSERT_RC(
      coin_hmac_webhook_verify(NULL, sig, "sec", 3, body, len, now + 301, 300),
      COIN_ETIMEOUT);
  ASSERT_CONTAINS(coin_error_last(), "301 s before now");
  ASSERT_RC(
      coin_hmac_webhook_verify(NULL, sig, "sec", 3, body, len, now - 400, 300),
      COIN_ETIMEOUT);
  /* tampered body, other secret, timestamp rewritten to look fresh */
  ASSERT_RC(
      coin_hmac_webhook_verify(NULL, sig, "sec", 3, body, len - 1, now, 300),
      COIN_EREJECTED);
  ASSERT_RC(coin_hmac_webhook_verify(NULL, sig, "sex", 3, body, len, now, 300),
            COIN_EREJECTED);
  char forged[COIN_WEBHOOK_SIGNATURE_BYTES + 8];
  snprintf(forged, sizeof(forged), "t=%lld%s", (long long)now + 1000,
           strchr(sig, ','));
  ASSERT_RC(coin_hmac_webhook_verify(NULL, forged, "sec", 3, body, len,
                                     now + 1000, 300),
            COIN_EREJECTED);
  /* rotation: any v1 may match; unknown schemes are ignored */
  char two[300];
  snprintf(two, sizeof(two), "t=%lld,v0=zz,v1=%064d,%s", (long long)now, 0,
           strchr(sig, ',') + 1);
  ASSERT_OK(coin_hmac_webhook_verify(NULL, two, "sec", 3, body, len, now, 300));
  /* malformed: name the rule */
  ASSERT_RC(coin_hmac_webhook_verify(NULL, NULL, "k", 1, "", 0, now, 300),
            COIN_EINVAL);
  ASSERT_RC(
      coin_hmac_webhook_verify(NULL, "sha256=abcd", "k", 1, "", 0, now, 300),
      COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "t=<unix seconds>,v1=<64 hex digits>");
  ASSERT_RC(
      coin_hmac_webhook_verify(NULL, "t=12x,v1=00", "k", 1, "", 0, now, 300),
      COIN_EINVAL);
  ASSERT_RC(
      coin_hmac_webhook_verify(NULL, "t=12,v1=00", "k", 1, "", 0, now, 300),
      COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "64 hex digits");
}

/* ---- alerts and config -------------------------------------------------- */

static struct monitor_config cfg_with(char *site, char *pub, bool file) {
  struct monitor_config c;
  memset(&c, 0, sizeof(c));
  c.core.exchange = "binance";
  c.site_url = site;
  c.public_url = pub;
  c.status_file = file;
  return c;
}

static void alert_of(struct coin_alert *a, const char *symbol,
                     const char *alertname, enum coin_severity sev,
                     enum coin_alert_status st) {
  memset(a, 0, sizeof(*a));
  snprintf(a->exchange, sizeof(a->exchange), "binance");
  snprintf(a->symbol, sizeof(a->symbol), "%s", symbol);
  a->tf = COIN_TF_1H;
  snprintf(a->producer_id, sizeof(a->producer_id), "monitor@test");
  snprintf(a->alertname, sizeof(a->alertname), "%s", alertname);
  snprintf(a->alert_id, sizeof(a->alert_id), "%s.binance.%s.1h.1795735482000",
           alertname, symbol);
  a->severity = sev;
  a->state = COIN_STATE_HARD_STALE;
  a->status = st;
  a->starts_at_ms = 1795735482000;
  snprintf(a->summary, sizeof(a->summary),
           "binance %s 1h is hard_stale: candle <overdue> & late", symbol);
}

/* Checks Slack's limits on a message and returns its blocks. */
static void slack_check(json_t **out, const char *body) {
  json_error_t err;
  json_t *j = json_loads(body, 0, &err);
  *out = j;
  ASSERT_TRUE(j != NULL);
  ASSERT_TRUE(strlen(json_string_value(json_object_get(j, "text"))) > 10);
  json_t *blocks = json_object_get(j, "blocks");
  ASSERT_TRUE(json_is_array(blocks));
  ASSERT_TRUE(json_array_size(blocks) >= 3 && json_array_size(blocks) <= 50);
  size_t i;
  json_t *bl;
  json_array_foreach(blocks, i, bl) {
    const char *type = json_string_value(json_object_get(bl, "type"));
    ASSERT_TRUE(type != NULL);
    json_t *text = json_object_get(bl, "text");
    if (!strcmp(type, "header")) {
      ASSERT_EQ_STR(json_string_value(json_object_get(text, "type")),
                    "plain_text");
      ASSERT_LE_INT(strlen(json_string_value(json_object_get(text, "text"))),
                    150);
    } else if (!strcmp(type, "section")) {
      if (text) {
        ASSERT_EQ_STR(json_string_value(json_object_get(text, "type")),
                      "mrkdwn");
        ASSERT_LE_INT(strlen(json_string_value(json_object_get(text, "text"))),
                      3000);
      }
      json_t *f = json_object_get(bl, "fields");
      ASSERT_TRUE(text != NULL || json_array_size(f) > 0);
      ASSERT_LE_INT(json_array_size(f), 10);
    } else {
      ASSERT_EQ_STR(type, "context");
      ASSERT_TRUE(json_array_size(json_object_get(bl, "elements")) >= 1);
    }
  }
  ASSERT_EQ_STR(
      json_string_value(json_object_get(json_array_get(blocks, 0), "type")),
      "header");
  ASSERT_EQ_STR(
      json_string_value(json_object_get(
          json_array_get(blocks, json_array_size(blocks) - 1), "type")),
      "context");
}

static void slack_ok(const char *body) {
  json_t *j = NULL;
  slack_check(&j, body);
  json_decref(j);
}

static void slack_one(void) {
  struct monitor_config c = cfg_with("http://site.example/", NULL, true);
  struct coin_alert a;
  alert_of(&a, "BTCUSDT", "CoinHardStale", COIN_SEVERITY_CRITICAL,
           COIN_ALERT_FIRING);
  char *body = NULL;
  size_t len = 0;
  ASSERT_OK(sink_slack_body(&body, &len, &c, &a, 1));
  ASSERT_EQ_INT(len, strlen(body));
  json_t *j = NULL;
  slack_check(&j, body);
  ASSERT_CONTAINS(json_string_value(json_object_get(j, "text")),
                  "[CRITICAL] CoinHardStale: binance BTCUSDT 1h is hard_stale");
  /* the series page and the status document (site fallback) linked */
  ASSERT_CONTAINS(body, "<http://site.example/#BTCUSDT/1h|binance BTCUSDT 1h>");
  ASSERT_CONTAINS(body, "<http://site.example/status.json|Monitor status>");
  /* mrkdwn escapes the summary; the header names the alert */
  ASSERT_CONTAINS(body, "candle &lt;overdue&gt; &amp; late");
  ASSERT_CONTAINS(body, "\"[CRITICAL] CoinHardStale: BTCUSDT 1h\"");
  json_decref(j);
  free(body);
  /* resolved, MONITOR_PUBLIC_URL preferred for the status link */
  c = cfg_with("http://site.example/", "https://mon.example/", true);
  a.status = COIN_ALERT_RESOLVED;
  ASSERT_OK(sink_slack_body(&body, &len, &c, &a, 1));
  slack_ok(body);
  ASSERT_CONTAINS(body, "[RESOLVED] CoinHardStale");
  ASSERT_CONTAINS(body, "<https://mon.example/status|Monitor status>");
  free(body);
  /* no URLs: no links, still a valid message */
  c = cfg_with(NULL, NULL, true);
  ASSERT_OK(sink_slack_body(&body, &len, &c, &a, 1));
  slack_ok(body);
  ASSERT_TRUE(strstr(body, "http") == NULL);
  free(body);
  ASSERT_RC(sink_slack_body(&body, &len, &c, &a, 0), COIN_EINVAL);
}

static void slack_wave(void) {
  /* 7 symbols x 5 timeframes: 35 distinct series */
  static const char *const syms[] = {"BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT",
                                     "XRPUSDT", "ADAUSDT", "DOGEUSDT"};
  static const enum coin_tf tfs[] = {COIN_TF_1M, COIN_TF_1H, COIN_TF_1D,
                                     COIN_TF_1W, COIN_TF_1MO};
  struct monitor_config c = cfg_with("http://site.example/", NULL, true);
  struct coin_alert a[35];
  for (int i = 0; i < 35; i++) {
    alert_of(&a[i], syms[i / 5], i == 7 ? "CoinCorrupt" : "CoinSoftStale",
             i == 7 ? COIN_SEVERITY_CRITICAL : COIN_SEVERITY_WARNING,
             i == 3 ? COIN_ALERT_RESOLVED : COIN_ALERT_FIRING);
    a[i].tf = tfs[i % 5];
  }
  char *body = NULL;
  size_t len = 0;
  ASSERT_OK(sink_slack_body(&body, &len, &c, a, 35));
  json_t *j = NULL;
  slack_check(&j, body);
  ASSERT_CONTAINS(json_string_value(json_object_get(j, "text")),
                  "[CRITICAL] 35 alerts (34 firing, 1 resolved):");
  ASSERT_CONTAINS(json_string_value(json_object_get(j, "text")), "and 5 more");
  ASSERT_CONTAINS(body, "\"[CRITICAL] 35 alerts: 34 firing, 1 resolved\"");
  /* the first 30 are listed with links, the rest counted */
  for (int i = 0; i < 35; i++) {
    char link[128];
    snprintf(link, sizeof(link), "<http://site.example/#%s/%s|", syms[i / 5],
             coin_tf_name(tfs[i % 5]));
    if (i < MON_SLACK_LIST_LINES)
      ASSERT_CONTAINS(body, link);
    else
      ASSERT_TRUE(strstr(body, link) == NULL);
  }
  ASSERT_CONTAINS(body, "_and 5 more_");
  ASSERT_CONTAINS(body, "*[RESOLVED]* CoinSoftStale");
  ASSERT_CONTAINS(body, "*[CRITICAL]* CoinCorrupt");
  json_decref(j);
  free(body);
  /* two alerts: listed both, no "more" */
  ASSERT_OK(sink_slack_body(&body, &len, &c, a, 2));
  slack_ok(body);
  ASSERT_TRUE(strstr(body, "more") == NULL);
  ASSERT_CONTAINS(body, "[WARNING] 2 alerts: 2 firing, 0 resolved");
  free(body);
  /* a global alert has no series link; its summary is shown */
  struct coin_alert g;
  alert_of(&g, "", "CoinAlertDeliveryMissed", COIN_SEVERITY_WARNING,
           COIN_ALERT_FIRING);
  g.exchange[0] = '\0';
  g.state = COIN_STATE_UNSPECIFIED;
  ASSERT_OK(sink_slack_body(&body, &len, &c, &g, 1));
  slack_ok(body);
  ASSERT_TRUE(strstr(body, "#/") == NULL);
  ASSERT_CONTAINS(body, "[WARNING] CoinAlertDeliveryMissed");
  free(body);
}

/* ---- Alertmanager generatorURL ----------------------------------------- */

static const char *am_generator(json_t *arr) {
  return json_string_value(
      json_object_get(json_array_get(arr, 0), "generatorURL"));
}

static void am_generator_url(void) {
  struct coin_alert a;
  alert_of(&a, "ETHUSDT", "CoinHardStale", COIN_SEVERITY_CRITICAL,
           COIN_ALERT_FIRING);
  char *body = NULL;
  size_t len = 0;
  struct monitor_config c =
      cfg_with("http://site.example/", "http://mon.example/", true);
  ASSERT_OK(sink_am_body(&body, &len, &c, &a, 1795735490000, 60000));
  json_t *arr = json_loads(body, 0, NULL);
  ASSERT_EQ_STR(am_generator(arr), "http://site.example/#ETHUSDT/1h");
  json_decref(arr);
  free(body);
  /* no site: the monitor's /status */
  c = cfg_with(NULL, "http://mon.example/", true);
  ASSERT_OK(sink_am_body(&body, &len, &c, &a, 1795735490000, 60000));
  arr = json_loads(body, 0, NULL);
  ASSERT_EQ_STR(am_generator(arr), "http://mon.example/status");
  json_decref(arr);
  free(body);
  /* neither: omitted */
  c = cfg_with(NULL, NULL, true);
  ASSERT_OK(sink_am_body(&body, &len, &c, &a, 1795735490000, 60000));
  arr = json_loads(body, 0, NULL);
  ASSERT_TRUE(arr != NULL);
  ASSERT_TRUE(json_object_get(json_array_get(arr, 0), "generatorURL") == NULL);
  json_decref(arr);
  free(body);
  /* links: status.json only when the monitor writes it */
  char out[MON_LINK_BYTES];
  c = cfg_with("http://site.example/", NULL, false);
  ASSERT_FALSE(mon_link_status(out, &c));
  ASSERT_EQ_STR(out, "");
  ASSERT_FALSE(mon_link_series(out, &c, "", COIN_TF_1M));
  ASSERT_TRUE(mon_link_series(out, &c, "BTCUSDT", COIN_TF_1MO));
  ASSERT_EQ_STR(out, "http://site.example/#BTCUSDT/1M");
}

TEST_MAIN(RUN_TEST(webhook_sign); RUN_TEST(webhook_verify); RUN_TEST(slack_one);
          RUN_TEST(slack_wave); RUN_TEST(am_generator_url))
