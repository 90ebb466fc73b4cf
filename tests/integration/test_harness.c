/* test_harness.c: the real-server harness starts, answers and stops; its
 * nats-server runs the role table, so the whole suite runs with auth. */
#include "coin/bus.h"
#include "coin/error.h"
#include "harness.h"
#include "test.h"

#include <signal.h>
#include <unistd.h>

static void nats_starts_and_restarts(void) {
  struct coin_test_server n;
  ASSERT_OK(coin_test_nats_start(&n));
  ASSERT_TRUE(n.pid > 0);
  ASSERT_TRUE(n.port > 0);
  int port = n.port;
  ASSERT_OK(coin_test_nats_restart(&n));
  ASSERT_EQ_INT(n.port, port);
  pid_t pid = n.pid;
  coin_test_server_cleanup(&n);
  ASSERT_EQ_INT(n.pid, 0);
  ASSERT_TRUE(kill(pid, 0) != 0); /* gone */
}

/* The suite's nats-server (the one every test gets) refuses a client
 * without a user, before and after a restart, and lets each role in with
 * what coin_test_nats_options and coin_test_nats_env hand out. */
static void nats_refuses_anonymous_clients(void) {
  struct coin_test_server n;
  ASSERT_OK(coin_test_nats_start(&n));
  for (int pass = 0; pass < 2; pass++) {
    struct coin_bus *bus = NULL;
    struct coin_bus_options o;
    coin_bus_options_init(&o);
    o.url = n.url;
    ASSERT_RC(coin_bus_connect(&bus, &o), COIN_EREJECTED);
    ASSERT_TRUE(bus == NULL);
    const char *roles[] = {"ingest", "publish", "monitor", "train", "admin"};
    for (int r = 0; r < 5; r++) {
      coin_test_nats_options(&o, &n, roles[r]);
      ASSERT_OK(coin_bus_connect(&bus, &o));
      coin_bus_free(bus);
      bus = NULL;
    }
    /* the service's environment: its user and a file with its password */
    char e[4][400];
    ASSERT_EQ_INT(COIN_TEST_NATS_ENV(e, 1, &n, "publish"), 4);
    ASSERT_EQ_STR(e[2], "NATS_USER=coin-publish");
    ASSERT_EQ_INT(strncmp(e[3], "NATS_PASSWORD_FILE=", 19), 0);
    ASSERT_EQ_INT(
        coin_test_sh("test \"$(cat '%s')\" = '%s'", e[3] + 19, n.password[1]),
        0);
    ASSERT_OK(coin_test_nats_restart(&n));
  }
  coin_test_server_cleanup(&n);
}

static void influx_starts_and_stops(void) {
  struct coin_test_server i;
  ASSERT_OK(coin_test_influx_start(&i));
  ASSERT_EQ_INT(coin_test_sh("curl -sf -o /dev/null %s/ping", i.url), 0);
  coin_test_server_cleanup(&i);
  ASSERT_EQ_INT(i.pid, 0);
}

TEST_MAIN(RUN_TEST(nats_starts_and_restarts);
          RUN_TEST(nats_refuses_anonymous_clients);
          RUN_TEST(influx_starts_and_stops))
