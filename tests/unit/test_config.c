/*
 * test_config.c: environment configuration. Defaults, every kind of error
 * (reported together, one line each), *_FILE secrets, redaction in JSON and
 * in error lines, the multi-timeframe rule, symbol lists, a service's own
 * table on top of the core, and docs/configuration.md kept in sync.
 */
#include <jansson.h>
#include <stddef.h>
#include <unistd.h>

#include "coin/config.h"
#include "coin/error.h"
#include "test.h"

static int load(struct coin_config *out, const char *const *envp,
                struct coin_cfg_errors *errs) {
  struct coin_env env = coin_env_envp(envp);
  return coin_config_load(out, 0, &env, errs);
}

/* Writes text to a new temp file; returns its malloc'd path. */
static char *temp_file(const char *text) {
  char tmpl[] = "/tmp/coin-test-config-XXXXXX";
  int fd = mkstemp(tmpl);
  if (fd < 0)
    return NULL;
  size_t n = strlen(text);
  if (write(fd, text, n) != (ssize_t)n) {
    close(fd);
    return NULL;
  }
  close(fd);
  return strdup(tmpl);
}

static void defaults(void) {
  const char *envp[] = {NULL};
  struct coin_config c;
  struct coin_cfg_errors errs = {0};
  ASSERT_OK(load(&c, envp, &errs));
  ASSERT_EQ_INT(errs.count, 0);
  ASSERT_EQ_STR(c.nats_url, "nats://127.0.0.1:4222");
  ASSERT_TRUE(c.nats_user == NULL && c.nats_password == NULL &&
              c.nats_token == NULL && c.nats_creds_file == NULL &&
              c.nats_tls_ca == NULL);
  ASSERT_EQ_STR(c.influx_url, "http://127.0.0.1:8086");
  ASSERT_EQ_STR(c.influx_db, "coin");
  ASSERT_TRUE(c.influx_user == NULL && c.influx_password == NULL &&
              c.influx_token == NULL);
  ASSERT_EQ_STR(c.exchange, "binance");
  ASSERT_EQ_STR(c.exchange_base_url, "https://api.binance.com");
  ASSERT_EQ_INT(c.symbols.n, 2);
  ASSERT_EQ_STR(c.symbols.items[0], "BTCUSDT");
  ASSERT_EQ_STR(c.symbols.items[1], "ETHUSDT");
  ASSERT_EQ_INT(c.primary_timeframe, COIN_TF_1H);
  ASSERT_EQ_INT(c.ingest_timeframes.n, 1);
  ASSERT_EQ_INT(c.ingest_timeframes.tfs[0], COIN_TF_1H);
  ASSERT_FALSE(c.enable_multi_timeframes);
  ASSERT_EQ_INT(c.worker_scheduler_mode, COIN_SCHED_BOUNDARY);
  ASSERT_EQ_INT(c.worker_cycle_seconds, 60);
  ASSERT_EQ_INT(c.runtime_metrics_window_size, 240);
  ASSERT_EQ_STR(c.static_data_dir, "./site");
  ASSERT_EQ_INT(c.log_level, COIN_LOG_LEVEL_INFO);
  ASSERT_EQ_STR(c.ingest_http_addr, "127.0.0.1:9101");
  ASSERT_EQ_STR(c.publish_http_addr, "127.0.0.1:9102");
  ASSERT_EQ_STR(c.monitor_http_addr, "127.0.0.1:9103");
  ASSERT_TRUE(c.service_id != NULL);
  ASSERT_OK(coin_cfg_check_service_id(c.service_id));
  coin_config_free(&c);
  coin_config_free(&c); /* idempotent */
  coin_config_free(NULL);
}

static void values_parsed(void) {
  const char *envp[] = {"NATS_URL=tls://a.example:4443,nats://[::1]:4222",
                        "SYMBOLS= BTCUSDT , KRW-BTC,1INCHUSDT",
                        "PRIMARY_TIMEFRAME=1d",
                        "INGEST_TIMEFRAMES=1d,1h,1M",
                        "ENABLE_MULTI_TIMEFRAMES=YES",
                        "WORKER_SCHEDULER_MODE=poll_loop",
                        "WORKER_CYCLE_SECONDS=86400",
                        "RUNTIME_METRICS_WINDOW_SIZE=1",
                        "LOG_LEVEL=debug",
                        "INGEST_HTTP_ADDR=0.0.0.0:1",
                        "PUBLISH_HTTP_ADDR=[::1]:65535",
                        "SERVICE_ID=ingest-0",
                        "EXCHANGE=replay",
                        "EXCHANGE_BASE_URL=http://127.0.0.1:18080/api",
                        "INFLUX_URL=https://influx.internal",
                        "STATIC_DATA_DIR=",
                        NULL};
  struct coin_config c;
  struct coin_cfg_errors errs = {0};
  ASSERT_OK(load(&c, envp, &errs));
  ASSERT_EQ_INT(c.symbols.n, 3);
  ASSERT_EQ_STR(c.symbols.items[0], "BTCUSDT");
  ASSERT_EQ_STR(c.symbols.items[1], "KRW-BTC");
  ASSERT_EQ_INT(c.primary_timeframe, COIN_TF_1D);
  ASSERT_EQ_INT(c.ingest_timeframes.n, 3);
  ASSERT_EQ_INT(c.ingest_timeframes.tfs[2], COIN_TF_1MO);
  ASSERT_TRUE(c.enable_multi_timeframes);
  ASSERT_EQ_INT(c.worker_scheduler_mode, COIN_SCHED_POLL_LOOP);
  ASSERT_EQ_INT(c.worker_cycle_seconds, 86400);
  ASSERT_EQ_INT(c.runtime_metrics_window_size, 1);
  ASSERT_EQ_INT(c.log_level, COIN_LOG_LEVEL_DEBUG);
  ASSERT_EQ_STR(c.service_id, "ingest-0");
  ASSERT_EQ_STR(c.exchange, "replay");
  ASSERT_EQ_STR(c.static_data_dir, "./site"); /* empty counts as unset */
  coin_config_free(&c);
}

/* Loads envp expecting failure; returns the error text (owned by errs). */
static const char *load_bad(const char *const *envp,
                            struct coin_cfg_errors *errs) {
  struct coin_config c = {0};
  if (load(&c, envp, errs) != COIN_EINVAL)
    return "(load did not fail)";
  if (c.nats_url != NULL)
    return "(out written on failure)";
  return errs->text ? errs->text : "";
}

struct bad_case {
  const char *env;
  const char *want; /* substring of the single error line */
};

static void every_error_kind(void) {
  static const struct bad_case cases[] = {
      {"WORKER_CYCLE_SECONDS=abc",
       "WORKER_CYCLE_SECONDS=\"abc\": not an integer (rule: integer 1..86400)"},
      {"WORKER_CYCLE_SECONDS=60s",
       "WORKER_CYCLE_SECONDS=\"60s\": not an integer (trailing \"s\")"},
      {"WORKER_CYCLE_SECONDS= 60", "not an integer"},
      {"WORKER_CYCLE_SECONDS=0", "WORKER_CYCLE_SECONDS=\"0\": out of range "
                                 "(rule: integer 1..86400)"},
      {"WORKER_CYCLE_SECONDS=86401", "out of range"},
      {"RUNTIME_METRICS_WINDOW_SIZE=99999999999999999999",
       "RUNTIME_METRICS_WINDOW_SIZE=\"99999999999999999999\": out of range "
       "(rule: integer 1..100000)"},
      {"RUNTIME_METRICS_WINDOW_SIZE=-5", "out of range"},
      {"ENABLE_MULTI_TIMEFRAMES=maybe",
       "ENABLE_MULTI_TIMEFRAMES=\"maybe\": not a boolean (rule: "
       "true|false|1|0|yes|no)"},
      {"WORKER_SCHEDULER_MODE=cron",
       "WORKER_SCHEDULER_MODE=\"cron\": not an allowed value (rule: one of "
       "boundary|poll_loop)"},
      {"LOG_LEVEL=trace", "rule: one of debug|info|warn|error"},
      {"NATS_URL=http://127.0.0.1:4222",
       "NATS_URL=\"http://127.0.0.1:4222\": scheme \"http\" not allowed "
       "(rule: comma list of URLs with scheme nats|tls and a host)"},
      {"NATS_URL=nats://a:4222,nats://:4222", "host missing"},
      {"NATS_URL=", "NATS_URL: set but empty (rule: unset it for the default "
                    "nats://127.0.0.1:4222, or comma list of URLs"},
      {"INFLUX_URL=", "INFLUX_URL: set but empty"},
      {"INFLUX_URL=http://reader:pw@127.0.0.1:8086",
       "credentials in the URL are not used (set INFLUX_USER + "
       "INFLUX_PASSWORD, or INFLUX_TOKEN)"},
      {"INFLUX_URL=127.0.0.1:8086", "INFLUX_URL=\"127.0.0.1:8086\": no "
                                    "scheme:// prefix"},
      {"INFLUX_URL=http://", "host missing"},
      {"INFLUX_URL=http://host:99999", "port 99999 outside 1..65535"},
      {"INFLUX_URL=http://host:0", "port 0 outside 1..65535"},
      {"INFLUX_URL=http://ho st", "whitespace or control character"},
      {"EXCHANGE_BASE_URL=ftp://x", "scheme \"ftp\" not allowed (rule: URL "
                                    "with scheme http|https and a host)"},
      {"INGEST_HTTP_ADDR=127.0.0.1", "INGEST_HTTP_ADDR=\"127.0.0.1\": port "
                                     "missing (rule: host:port, port "
                                     "1..65535)"},
      {"INGEST_HTTP_ADDR=:9101", "host missing"},
      {"INGEST_HTTP_ADDR=host:", "empty port"},
      {"MONITOR_HTTP_ADDR=host:70000", "port 70000 outside 1..65535"},
      {"MONITOR_HTTP_ADDR=host:9x", "port \"9x\" is not a number"},
      {"PUBLISH_HTTP_ADDR=h/x:80", "bad character 0x2f in host"},
      {"NATS_CREDS_FILE=/nonexistent/creds",
       "NATS_CREDS_FILE=\"/nonexistent/creds\": cannot read: No such file"},
      {"NATS_TLS_CA=/tmp", "NATS_TLS_CA=\"/tmp\": not a regular file"},
      {"PRIMARY_TIMEFRAME=4h",
       "PRIMARY_TIMEFRAME=\"4h\": timeframe \"4h\": want one of 1m 1h 1d 1w "
       "1M"},
      {"INGEST_TIMEFRAMES=1h,1h", "INGEST_TIMEFRAMES=\"1h,1h\": duplicate "
                                  "\"1h\""},
      {"INGEST_TIMEFRAMES=1h,,1d", "item 2 is empty"},
      {"SYMBOLS=BTCUSDT,btc", "SYMBOLS=\"BTCUSDT,btc\": symbol \"btc\": "
                              "character 1 (0x62) not allowed (rule: "
                              "[A-Z0-9][A-Z0-9_-]{0,31})"},
      {"SYMBOLS=BTCUSDT,ETHUSDT,BTCUSDT", "duplicate \"BTCUSDT\""},
      {"SYMBOLS=BTC.USDT", "character 4 (0x2e) not allowed"},
      {"EXCHANGE=Binance", "EXCHANGE=\"Binance\": exchange \"Binance\": "
                           "character 1 (0x42) not allowed (rule: "
                           "[a-z0-9_]{1,32})"},
      {"INFLUX_DB=co;in", "INFLUX_DB=\"co;in\": database name: character 3 "
                          "(0x3b) not allowed"},
      {"SERVICE_ID=a.b", "SERVICE_ID=\"a.b\": service id: character 2"},
      {"NATS_USER=bob", "NATS_USER is set but NATS_PASSWORD is not (rule: "
                        "NATS_USER and NATS_PASSWORD go together)"},
      {"INFLUX_PASSWORD=pw", "INFLUX_PASSWORD is set but INFLUX_USER is not"},
  };
  for (size_t i = 0; i < COIN_ARRAY_LEN(cases); i++) {
    const char *envp[] = {cases[i].env, NULL};
    struct coin_cfg_errors errs = {0};
    const char *text = load_bad(envp, &errs);
    if (errs.count != 1 || strstr(text, cases[i].want) == NULL) {
      fprintf(stderr, "  case %s: %d errors:\n%s  want: %s\n", cases[i].env,
              errs.count, text, cases[i].want);
      coin_cfg_errors_free(&errs);
      ASSERT_TRUE(false);
    }
    coin_cfg_errors_free(&errs);
  }
}

static void too_long_and_too_many(void) {
  struct coin_cfg_errors errs = {0};
  /* 1001 symbols. */
  size_t cap = 1001 * 8 + 16;
  char *env = malloc(cap);
  ASSERT_TRUE(env != NULL);
  size_t len = (size_t)snprintf(env, cap, "SYMBOLS=");
  for (int i = 0; i < 1001; i++)
    len += (size_t)snprintf(env + len, cap - len, "%sS%04d", i ? "," : "", i);
  const char *envp[] = {env, NULL};
  ASSERT_CONTAINS(load_bad(envp, &errs), "1001 items, more than 1000");
  coin_cfg_errors_free(&errs);
  /* 1000 is fine. */
  env[strlen(env) - 6] = '\0';
  struct coin_config c;
  ASSERT_OK(load(&c, envp, &errs));
  ASSERT_EQ_INT(c.symbols.n, 1000);
  ASSERT_EQ_STR(c.symbols.items[999], "S0999");
  coin_config_free(&c);
  free(env);
  /* A value over the cap is refused, and its echo is cut short. */
  char *big = malloc(COIN_CFG_VALUE_MAX_BYTES + 64);
  ASSERT_TRUE(big != NULL);
  strcpy(big, "STATIC_DATA_DIR=");
  memset(big + 16, 'd', COIN_CFG_VALUE_MAX_BYTES + 1);
  big[16 + COIN_CFG_VALUE_MAX_BYTES + 1] = '\0';
  const char *envp2[] = {big, NULL};
  const char *text = load_bad(envp2, &errs);
  ASSERT_CONTAINS(text, "longer than 4096 bytes");
  ASSERT_CONTAINS(text, "ddd...\"");
  ASSERT_TRUE(strlen(text) < 400);
  coin_cfg_errors_free(&errs);
  free(big);
}

static void errors_reported_together(void) {
  const char *envp[] = {"WORKER_CYCLE_SECONDS=0",
                        "LOG_LEVEL=loud",
                        "SYMBOLS=btc",
                        "NATS_URL=http://x",
                        "INGEST_HTTP_ADDR=nohost",
                        "PRIMARY_TIMEFRAME=1H",
                        NULL};
  struct coin_cfg_errors errs = {0};
  const char *text = load_bad(envp, &errs);
  ASSERT_EQ_INT(errs.count, 6);
  ASSERT_CONTAINS(coin_error_last(), "6 configuration problems");
  /* One line each, in table order, each naming variable, value and rule. */
  const char *want[] = {
      "NATS_URL=\"http://x\"",    "SYMBOLS=\"btc\"",
      "PRIMARY_TIMEFRAME=\"1H\"", "WORKER_CYCLE_SECONDS=\"0\"",
      "LOG_LEVEL=\"loud\"",       "INGEST_HTTP_ADDR=\"nohost\""};
  const char *line = text;
  for (size_t i = 0; i < COIN_ARRAY_LEN(want); i++) {
    const char *eol = strchr(line, '\n');
    ASSERT_TRUE(eol != NULL);
    ASSERT_TRUE(strncmp(line, want[i], strlen(want[i])) == 0);
    const char *rule = strstr(line, "(rule: ");
    ASSERT_TRUE(rule != NULL && rule < eol);
    line = eol + 1;
  }
  ASSERT_EQ_STR(line, "");
  coin_cfg_errors_free(&errs);
}

static void multi_timeframe_rule(void) {
  struct coin_cfg_errors errs = {0};
  const char *off[] = {"INGEST_TIMEFRAMES=1h,1d", NULL};
  ASSERT_EQ_STR(load_bad(off, &errs),
                "INGEST_TIMEFRAMES=\"1h,1d\": 2 timeframes but "
                "ENABLE_MULTI_TIMEFRAMES is false (rule: more than one "
                "timeframe requires ENABLE_MULTI_TIMEFRAMES=true)\n");
  coin_cfg_errors_free(&errs);
  const char *off2[] = {"INGEST_TIMEFRAMES=1h,1d", "ENABLE_MULTI_TIMEFRAMES=0",
                        NULL};
  ASSERT_CONTAINS(load_bad(off2, &errs), "requires ENABLE_MULTI_TIMEFRAMES");
  coin_cfg_errors_free(&errs);
  /* A bad ENABLE_MULTI_TIMEFRAMES is reported once, not twice. */
  const char *bad_flag[] = {"INGEST_TIMEFRAMES=1h,1d",
                            "ENABLE_MULTI_TIMEFRAMES=on", NULL};
  load_bad(bad_flag, &errs);
  ASSERT_EQ_INT(errs.count, 1);
  coin_cfg_errors_free(&errs);
  const char *on[] = {"INGEST_TIMEFRAMES=1h,1d", "ENABLE_MULTI_TIMEFRAMES=true",
                      NULL};
  struct coin_config c;
  ASSERT_OK(load(&c, on, &errs));
  ASSERT_EQ_INT(c.ingest_timeframes.n, 2);
  coin_config_free(&c);
  /* One timeframe other than the primary: refused, says why. */
  const char *other[] = {"INGEST_TIMEFRAMES=1d", NULL};
  ASSERT_CONTAINS(load_bad(other, &errs),
                  "INGEST_TIMEFRAMES=\"1d\": lacks PRIMARY_TIMEFRAME \"1h\"");
  coin_cfg_errors_free(&errs);
  /* The default follows PRIMARY_TIMEFRAME. */
  const char *prim[] = {"PRIMARY_TIMEFRAME=1w", NULL};
  ASSERT_OK(load(&c, prim, &errs));
  ASSERT_EQ_INT(c.ingest_timeframes.n, 1);
  ASSERT_EQ_INT(c.ingest_timeframes.tfs[0], COIN_TF_1W);
  coin_config_free(&c);
}

static void file_secrets(void) {
  char *pw = temp_file("s3cret-pw\r\n\n");
  char *tok = temp_file("tok-123");
  char *empty = temp_file("\n");
  ASSERT_TRUE(pw && tok && empty);
  char e1[256], e2[256], e3[256];
  snprintf(e1, sizeof(e1), "INFLUX_PASSWORD_FILE=%s", pw);
  snprintf(e2, sizeof(e2), "NATS_TOKEN_FILE=%s", tok);
  snprintf(e3, sizeof(e3), "NATS_PASSWORD_FILE=%s", empty);
  const char *ok_env[] = {"INFLUX_USER=coin", e1, e2, NULL};
  struct coin_config c;
  struct coin_cfg_errors errs = {0};
  ASSERT_OK(load(&c, ok_env, &errs));
  ASSERT_EQ_STR(c.influx_password, "s3cret-pw");
  ASSERT_EQ_STR(c.nats_token, "tok-123");
  char *json = NULL;
  ASSERT_OK(coin_config_to_json(&json, &c, 0));
  ASSERT_CONTAINS(json, "\"INFLUX_PASSWORD\":\"***\"");
  ASSERT_CONTAINS(json, "\"NATS_TOKEN\":\"***\"");
  ASSERT_CONTAINS(json, "\"NATS_PASSWORD\":null");
  ASSERT_TRUE(strstr(json, "s3cret") == NULL &&
              strstr(json, "tok-123") == NULL);
  free(json);
  coin_config_free(&c);

  /* Both set; an unreadable file; an empty file: three lines. */
  const char *bad_env[] = {"INFLUX_USER=coin",
                           "INFLUX_PASSWORD=xyzzy-pw",
                           e1,
                           "NATS_TOKEN_FILE=/nonexistent/token",
                           e3,
                           "NATS_USER=u",
                           NULL};
  const char *text = load_bad(bad_env, &errs);
  ASSERT_EQ_INT(errs.count, 3);
  ASSERT_CONTAINS(text, "INFLUX_PASSWORD and INFLUX_PASSWORD_FILE are both "
                        "set (rule: set at most one of them)");
  ASSERT_CONTAINS(text, "NATS_TOKEN_FILE=\"/nonexistent/token\": cannot read: "
                        "No such file or directory (rule: readable file "
                        "holding the value of NATS_TOKEN)");
  ASSERT_CONTAINS(text, "NATS_PASSWORD_FILE=\"");
  ASSERT_CONTAINS(text, "\": file is empty");
  ASSERT_TRUE(strstr(text, "xyzzy") == NULL);
  coin_cfg_errors_free(&errs);
  unlink(pw);
  unlink(tok);
  unlink(empty);
  free(pw);
  free(tok);
  free(empty);
}

static void redaction(void) {
  const char *envp[] = {
      "NATS_URL=nats://bob:hunter2@n1:4222,tls://n2:4443,nats://"
      "tok3n@n3",
      "EXCHANGE_BASE_URL=https://reader:pa:ss@api.example:8443/x",
      "INFLUX_USER=reader",
      "INFLUX_PASSWORD=hunter3",
      "SYMBOLS=BTCUSDT",
      NULL};
  struct coin_config c;
  struct coin_cfg_errors errs = {0};
  ASSERT_OK(load(&c, envp, &errs));
  char *json = NULL;
  ASSERT_OK(coin_config_to_json(&json, &c, 0));
  ASSERT_TRUE(strstr(json, "hunter") == NULL);
  ASSERT_TRUE(strstr(json, "pa:ss") == NULL);
  ASSERT_TRUE(strstr(json, "tok3n") == NULL);
  json_error_t jerr;
  json_t *j = json_loads(json, 0, &jerr);
  ASSERT_TRUE(j != NULL);
  ASSERT_EQ_STR(json_string_value(json_object_get(j, "NATS_URL")),
                "nats://bob:***@n1:4222,tls://n2:4443,nats://***@n3");
  ASSERT_EQ_STR(json_string_value(json_object_get(j, "EXCHANGE_BASE_URL")),
                "https://reader:***@api.example:8443/x");
  ASSERT_EQ_STR(json_string_value(json_object_get(j, "INFLUX_PASSWORD")),
                "***");
  ASSERT_EQ_STR(json_string_value(json_object_get(j, "INFLUX_USER")), "reader");
  ASSERT_TRUE(json_is_null(json_object_get(j, "INFLUX_TOKEN")));
  ASSERT_EQ_INT(json_integer_value(json_object_get(j, "WORKER_CYCLE_SECONDS")),
                60);
  ASSERT_TRUE(json_is_false(json_object_get(j, "ENABLE_MULTI_TIMEFRAMES")));
  ASSERT_EQ_STR(json_string_value(json_object_get(j, "LOG_LEVEL")), "info");
  ASSERT_EQ_STR(json_string_value(json_object_get(j, "PRIMARY_TIMEFRAME")),
                "1h");
  ASSERT_EQ_STR(json_string_value(
                    json_array_get(json_object_get(j, "INGEST_TIMEFRAMES"), 0)),
                "1h");
  ASSERT_EQ_INT(json_array_size(json_object_get(j, "SYMBOLS")), 1);
  ASSERT_EQ_INT(json_object_size(j), coin_config_var_count);
  json_decref(j);
  free(json);
  coin_config_free(&c);

  /* A secret's bad value is not echoed in the error line either. */
  static const struct coin_cfg_var pin_var[] = {{.name = "PIN",
                                                 .type = COIN_CFG_INT,
                                                 .offset = 0,
                                                 .flags = COIN_CFG_SECRET,
                                                 .min = 0,
                                                 .max = 9999,
                                                 .doc = "pin"}};
  int64_t pin = 0;
  const char *pin_env[] = {"PIN=12345678", NULL};
  struct coin_env env = coin_env_envp(pin_env);
  ASSERT_RC(coin_cfg_load(&pin, pin_var, 1, &env, &errs), COIN_EINVAL);
  ASSERT_CONTAINS(errs.text, "PIN=***: out of range (rule: integer 0..9999)");
  ASSERT_TRUE(strstr(errs.text, "12345678") == NULL);
  coin_cfg_errors_free(&errs);
}

/* A service's own variables on top of the core ones. */
struct svc_config {
  struct coin_config core;
  int64_t backfill_days;
  double threshold;
  char *webhook;
  char *label;
};

static int check_label(const char *text) {
  if (strcmp(text, "bad") == 0)
    return coin_error_set(COIN_EINVAL, "label \"bad\" (rule: not bad)");
  return 0;
}

static const char *const hook_schemes[] = {"https", NULL};
static const struct coin_cfg_var svc_vars[] = {
    {.name = "BACKFILL_DAYS",
     .type = COIN_CFG_INT,
     .def = "30",
     .offset = offsetof(struct svc_config, backfill_days),
     .min = 1,
     .max = 3650,
     .doc = "Days fetched on first start."},
    {.name = "ALERT_THRESHOLD",
     .type = COIN_CFG_DOUBLE,
     .def = "0.5",
     .offset = offsetof(struct svc_config, threshold),
     .dmin = 0,
     .dmax = 1,
     .doc = "Threshold."},
    {.name = "ALERT_WEBHOOK_URL",
     .type = COIN_CFG_URL,
     .offset = offsetof(struct svc_config, webhook),
     .flags = COIN_CFG_REQUIRED,
     .choices = hook_schemes,
     .doc = "Where alerts go."},
    {.name = "LABEL",
     .type = COIN_CFG_STRING,
     .offset = offsetof(struct svc_config, label),
     .check = check_label,
     .doc = "A label."},
};

static void service_extension(void) {
  const char *good[] = {"BACKFILL_DAYS=7", "ALERT_THRESHOLD=.25",
                        "ALERT_WEBHOOK_URL=https://hooks.example/x", NULL};
  struct coin_env env = coin_env_envp(good);
  struct svc_config s = {0};
  struct coin_cfg_errors errs = {0};
  ASSERT_OK(coin_config_load(&s.core, 0, &env, &errs));
  ASSERT_OK(coin_cfg_load(&s, svc_vars, COIN_ARRAY_LEN(svc_vars), &env, &errs));
  ASSERT_EQ_INT(s.backfill_days, 7);
  ASSERT_EQ_DBL(s.threshold, 0.25);
  ASSERT_EQ_STR(s.webhook, "https://hooks.example/x");
  ASSERT_TRUE(s.label == NULL);
  struct coin_cfg_part parts[] = {
      {&s.core, coin_config_vars, coin_config_var_count},
      {&s, svc_vars, COIN_ARRAY_LEN(svc_vars)}};
  char *json = NULL;
  ASSERT_OK(coin_cfg_to_json(&json, parts, 2));
  ASSERT_CONTAINS(json, "\"SERVICE_ID\":");
  ASSERT_CONTAINS(json, ",\"BACKFILL_DAYS\":7,\"ALERT_THRESHOLD\":0.25,"
                        "\"ALERT_WEBHOOK_URL\":\"https://hooks.example/x\","
                        "\"LABEL\":null}");
  free(json);
  coin_cfg_free(&s, svc_vars, COIN_ARRAY_LEN(svc_vars));
  coin_config_free(&s.core);

  /* Hexadecimal is not a decimal number (strtod would take 0x0.8). */
  const char *hex[] = {"ALERT_THRESHOLD=0x0.8",
                       "ALERT_WEBHOOK_URL=https://hooks.example/x", NULL};
  env = coin_env_envp(hex);
  s = (struct svc_config){0};
  coin_cfg_errors_free(&errs);
  ASSERT_RC(coin_cfg_load(&s, svc_vars, COIN_ARRAY_LEN(svc_vars), &env, &errs),
            COIN_EINVAL);
  ASSERT_CONTAINS(errs.text,
                  "ALERT_THRESHOLD=\"0x0.8\": not a decimal number (rule: "
                  "number 0..1)");
  coin_cfg_free(&s, svc_vars, COIN_ARRAY_LEN(svc_vars));
  coin_cfg_errors_free(&errs);

  /* Core and service problems land in the same report. */
  const char *bad[] = {"LOG_LEVEL=x", "BACKFILL_DAYS=1e3",
                       "ALERT_THRESHOLD=nan", "LABEL=bad", NULL};
  env = coin_env_envp(bad);
  s = (struct svc_config){0};
  ASSERT_RC(coin_config_load(&s.core, 0, &env, &errs), COIN_EINVAL);
  ASSERT_RC(coin_cfg_load(&s, svc_vars, COIN_ARRAY_LEN(svc_vars), &env, &errs),
            COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "4 invalid configuration variables");
  ASSERT_EQ_INT(errs.count, 5);
  ASSERT_CONTAINS(errs.text, "LOG_LEVEL=\"x\"");
  ASSERT_CONTAINS(errs.text, "BACKFILL_DAYS=\"1e3\": not an integer");
  ASSERT_CONTAINS(errs.text, "ALERT_THRESHOLD=\"nan\": not a number (rule: "
                             "number 0..1)");
  ASSERT_CONTAINS(errs.text, "ALERT_WEBHOOK_URL: unset (rule: required; URL "
                             "with scheme https and a host)");
  ASSERT_CONTAINS(errs.text, "LABEL=\"bad\": label \"bad\" (rule: not bad)");
  coin_cfg_free(&s, svc_vars, COIN_ARRAY_LEN(svc_vars));
  coin_cfg_errors_free(&errs);
  const char *range[] = {"ALERT_THRESHOLD=1.5",
                         "ALERT_WEBHOOK_URL=http://insecure", NULL};
  env = coin_env_envp(range);
  ASSERT_RC(coin_cfg_load(&s, svc_vars, COIN_ARRAY_LEN(svc_vars), &env, &errs),
            COIN_EINVAL);
  ASSERT_CONTAINS(errs.text, "ALERT_THRESHOLD=\"1.5\": out of range");
  ASSERT_CONTAINS(errs.text, "scheme \"http\" not allowed");
  coin_cfg_free(&s, svc_vars, COIN_ARRAY_LEN(svc_vars));
  coin_cfg_errors_free(&errs);
}

static void process_environment(void) {
  setenv("WORKER_CYCLE_SECONDS", "15", 1);
  setenv("SYMBOLS", "SOLUSDT", 1);
  struct coin_env env = coin_env_process();
  struct coin_config c;
  struct coin_cfg_errors errs = {0};
  ASSERT_OK(coin_config_load(&c, 0, &env, &errs));
  ASSERT_EQ_INT(c.worker_cycle_seconds, 15);
  ASSERT_EQ_STR(c.symbols.items[0], "SOLUSDT");
  coin_config_free(&c);
  unsetenv("WORKER_CYCLE_SECONDS");
  unsetenv("SYMBOLS");
}

/* docs/configuration.md must contain exactly the rows the table prints. */
static void docs_in_sync(void) {
  char path[1024];
  snprintf(path, sizeof(path), "%s", __FILE__);
  char *cut = strstr(path, "tests/unit/test_config.c");
  ASSERT_TRUE(cut != NULL);
  strcpy(cut, "docs/configuration.md");
  FILE *f = fopen(path, "r");
  ASSERT_TRUE(f != NULL);
  static char doc[65536];
  size_t n = fread(doc, 1, sizeof(doc) - 1, f);
  doc[n] = '\0';
  fclose(f);
  char *rows = NULL;
  size_t rows_len = 0;
  FILE *m = open_memstream(&rows, &rows_len);
  ASSERT_TRUE(m != NULL);
  ASSERT_OK(coin_cfg_doc_rows(m, coin_config_vars, coin_config_var_count));
  fclose(m);
  for (char *line = rows; *line;) {
    char *eol = strchr(line, '\n');
    *eol = '\0';
    if (strstr(doc, line) == NULL) {
      fprintf(stderr, "  %s lacks the row (regenerate it):\n%s\n", path, line);
      free(rows);
      ASSERT_TRUE(false);
    }
    line = eol + 1;
  }
  free(rows);
}

/* Each program validates only the shared rows it reads: an ingest-only
 * variable with a bad value stops coin-ingest, not coin-monitor (which keeps
 * the default), and the JSON of the effective config lists only its rows;
 * a secret given as a file is hidden the same way. */
static void each_reader_checks_its_rows(void) {
  const char *envp[] = {
      "WORKER_CYCLE_SECONDS=abc", "EXCHANGE_BASE_URL=not a url",
      "INGEST_HTTP_ADDR=nowhere", "NATS_URL=nats://127.0.0.1:4222", NULL};
  struct coin_env env = coin_env_envp(envp);
  struct coin_config c = {0};
  struct coin_cfg_errors errs = {0};
  ASSERT_OK(coin_config_load(&c, COIN_CFG_MONITOR, &env, &errs));
  ASSERT_EQ_INT(errs.count, 0);
  ASSERT_EQ_INT((int)c.worker_cycle_seconds, 60);
  ASSERT_EQ_STR(c.nats_url, "nats://127.0.0.1:4222");
  char *json = NULL;
  ASSERT_OK(coin_config_to_json(&json, &c, COIN_CFG_MONITOR));
  ASSERT_TRUE(strstr(json, "\"MONITOR_HTTP_ADDR\"") != NULL);
  ASSERT_TRUE(strstr(json, "WORKER_CYCLE_SECONDS") == NULL);
  ASSERT_TRUE(strstr(json, "PUBLISH_HTTP_ADDR") == NULL);
  free(json);
  coin_config_free(&c);
  /* the reader that owns them sees all three problems */
  ASSERT_RC(coin_config_load(&c, COIN_CFG_INGEST, &env, &errs), COIN_EINVAL);
  ASSERT_EQ_INT(errs.count, 3);
  ASSERT_CONTAINS(errs.text, "WORKER_CYCLE_SECONDS=\"abc\"");
  coin_cfg_errors_free(&errs);
  /* coinctl reads NATS_* but not SYMBOLS; a secret file it does not read
   * is not opened */
  const char *envp2[] = {"SYMBOLS=btc", "INFLUX_PASSWORD_FILE=/nonexistent",
                         "NATS_TOKEN=x", "NATS_USER=u", NULL};
  env = coin_env_envp(envp2);
  ASSERT_RC(coin_config_load(&c, COIN_CFG_COINCTL, &env, &errs), COIN_EINVAL);
  ASSERT_EQ_INT(errs.count, 2); /* NATS_USER without a password; two methods */
  ASSERT_TRUE(strstr(errs.text, "SYMBOLS") == NULL);
  ASSERT_TRUE(strstr(errs.text, "INFLUX_PASSWORD") == NULL);
  coin_cfg_errors_free(&errs);
  /* the doc rows say who reads a shared row */
  struct coin_cfg_var rows[COIN_CONFIG_MAX_VARS];
  size_t n = coin_config_rows(rows, COIN_CFG_TRAIN);
  ASSERT_TRUE(n > 0 && n < coin_config_var_count);
  char *text = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&text, &len);
  ASSERT_OK(coin_cfg_doc_rows(m, rows, n));
  fclose(m);
  ASSERT_CONTAINS(text, "read by coin-ingest, coin-publish, coin-monitor, "
                        "coin-train, coinctl |");
  ASSERT_TRUE(strstr(text, "`WORKER_CYCLE_SECONDS`") == NULL);
  free(text);
}

TEST_MAIN(RUN_TEST(defaults); RUN_TEST(values_parsed);
          RUN_TEST(every_error_kind); RUN_TEST(too_long_and_too_many);
          RUN_TEST(errors_reported_together); RUN_TEST(multi_timeframe_rule);
          RUN_TEST(file_secrets); RUN_TEST(redaction);
          RUN_TEST(service_extension); RUN_TEST(process_environment);
          RUN_TEST(docs_in_sync); RUN_TEST(each_reader_checks_its_rows))
