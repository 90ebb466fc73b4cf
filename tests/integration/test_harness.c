/* test_harness.c: the real-server harness starts, answers and stops. */
#include "coin/error.h"
#include "harness.h"
#include "test.h"

#include <signal.h>

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

static void influx_starts_and_stops(void) {
  struct coin_test_server i;
  ASSERT_OK(coin_test_influx_start(&i));
  ASSERT_EQ_INT(coin_test_sh("curl -sf -o /dev/null %s/ping", i.url), 0);
  coin_test_server_cleanup(&i);
  ASSERT_EQ_INT(i.pid, 0);
}

TEST_MAIN(RUN_TEST(nats_starts_and_restarts); RUN_TEST(influx_starts_and_stops))
