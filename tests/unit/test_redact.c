/* test_redact.c: what of a URL or an error text may be shown
 * (coin/redact.h), and the placeholder secrets refused by the config. */
#include "coin/config.h"
#include "coin/redact.h"
#include "test.h"

#include <string.h>

static const char *urls(const char *in) {
  static char out[512];
  coin_redact_urls(out, sizeof(out), in);
  return out;
}

static const char *text(const char *in) {
  static char out[512];
  coin_redact_text(out, sizeof(out), in);
  return out;
}

static void user_info(void) {
  ASSERT_EQ_STR(urls("nats://bob:hunter2@n1:4222"), "nats://bob:***@n1:4222");
  ASSERT_EQ_STR(urls("nats://tok123@n2"), "nats://***@n2");
  ASSERT_EQ_STR(urls("nats://a:p1@h:1,nats://h2:2,nats://b:p2@h3:3"),
                "nats://a:***@h:1,nats://h2:2,nats://b:***@h3:3");
  /* an '@' in the path is not user-info; one in the password is */
  ASSERT_EQ_STR(urls("http://h/a@b"), "http://h/a@b");
  ASSERT_EQ_STR(urls("http://u:p@ss@h:9093/"), "http://u:***@h:9093/");
  ASSERT_EQ_STR(urls("http://127.0.0.1:9093"), "http://127.0.0.1:9093");
  ASSERT_EQ_STR(urls(""), "");
}

static void query_and_paths(void) {
  ASSERT_EQ_STR(urls("https://h/hook?token=abc&team=ops"),
                "https://h/hook?token=***&team=ops");
  ASSERT_EQ_STR(
      urls("https://h/x?api_key=1&X-Api-Key=2&webhookSecret=3&sig=4"),
      "https://h/x?api_key=***&X-Api-Key=***&webhookSecret=***&sig=***");
  ASSERT_EQ_STR(urls("https://hooks.slack.com/services/T0001/B0002/XyZ"),
                "https://hooks.slack.com/services/***");
  ASSERT_EQ_STR(
      urls("https://discord.example/api/webhooks/1234/Ab3dEf6hIj9kLm2n"),
      "https://discord.example/api/webhooks/1234/***");
  ASSERT_EQ_STR(urls("http://nginx:8080/v1/binance/BTCUSDT/1h/history.json"),
                "http://nginx:8080/v1/binance/BTCUSDT/1h/history.json");
  ASSERT_EQ_STR(urls("https://h/cb#access_token=zz"), "https://h/cb#***");
}

static void free_text(void) {
  ASSERT_EQ_STR(text("connect nats://a:pw@h:1,nats://b:q@h:2: no server"),
                "connect nats://a:***@h:1,nats://b:***@h:2: no server");
  ASSERT_EQ_STR(text("POST \"https://u:p@h/x?token=t\" failed"),
                "POST \"https://u:***@h/x?token=***\" failed");
  ASSERT_EQ_STR(text("no url here"), "no url here");
  /* truncation keeps the output terminated and never ends mid-secret */
  char small[16];
  coin_redact_text(small, sizeof(small), "x nats://user:secretpw@host");
  ASSERT_TRUE(strlen(small) == 15);
  ASSERT_TRUE(strstr(small, "secretpw") == NULL);
}

static void placeholders(void) {
  ASSERT_TRUE(
      coin_cfg_is_placeholder_secret("change-me-to-a-long-random-string"));
  ASSERT_TRUE(
      coin_cfg_is_placeholder_secret("change-me-to-a-long-random-string\n"));
  ASSERT_TRUE(coin_cfg_is_placeholder_secret("replace-me"));
  ASSERT_TRUE(coin_cfg_is_placeholder_secret("CHANGEME"));
  ASSERT_FALSE(
      coin_cfg_is_placeholder_secret("9f86d081884c7d659a2feaa0c55ad015"));
  ASSERT_FALSE(coin_cfg_is_placeholder_secret(NULL));
}

TEST_MAIN(RUN_TEST(user_info); RUN_TEST(query_and_paths); RUN_TEST(free_text);
          RUN_TEST(placeholders))
