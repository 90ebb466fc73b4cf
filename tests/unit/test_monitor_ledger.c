/* test_monitor_ledger.c: the alert-miss ledger of a sink
 * (services/monitor/delivery.c) on a fake clock: on time, late, dropped,
 * missing and missed once, expiry by the stream's age, settled before
 * expected (the race with the outbox), unknown alerts classified by their
 * stream timestamp, idempotent expectations, forgetting settled entries. */
#include "monitor_int.h"

#include "test.h"

#define SEC INT64_C(1000)
#define MIN (60 * SEC)
#define DEADLINE (60 * SEC)
#define EXPIRE (168 * 60 * MIN)
#define T0 INT64_C(1795735440000)

static struct mon_ledger l;

static struct mon_ledger_view eval_at(int64_t now) {
  struct mon_ledger_view v;
  ledger_evaluate(&l, now, DEADLINE, EXPIRE, &v);
  return v;
}

static void fresh(void) {
  static bool have;
  if (have)
    ledger_free(&l);
  ASSERT_OK(ledger_init(&l));
  have = true;
}

static void on_time_and_late(void) {
  fresh();
  ledger_expect(&l, "a.firing.0", T0);
  ledger_expect(&l, "b.firing.0", T0);
  ledger_settle(&l, "a.firing.0", true, T0, T0 + 2 * SEC, DEADLINE);
  struct mon_ledger_view v = eval_at(T0 + 30 * SEC);
  ASSERT_EQ_INT(v.outcomes[MON_DELIVERY_ON_TIME], 1);
  ASSERT_EQ_INT(v.pending, 1);
  ASSERT_EQ_INT(v.missing, 0);
  ledger_settle(&l, "b.firing.0", true, T0, T0 + 90 * SEC, DEADLINE);
  v = eval_at(T0 + 91 * SEC);
  ASSERT_EQ_INT(v.outcomes[MON_DELIVERY_LATE], 1);
  ASSERT_EQ_INT(v.pending, 0);
  ASSERT_EQ_INT(v.max_latency_ms, 90 * SEC);
}

static void missing_then_late_missed_once(void) {
  fresh();
  ledger_expect(&l, "a.firing.0", T0);
  struct mon_ledger_view v = eval_at(T0 + DEADLINE);
  ASSERT_EQ_INT(v.missing, 0); /* exactly at the deadline: still in time */
  ASSERT_EQ_INT(v.pending, 1);
  v = eval_at(T0 + DEADLINE + 1);
  ASSERT_EQ_INT(v.missing, 1);
  ASSERT_EQ_INT(v.missed_total, 1);
  ASSERT_EQ_INT(v.oldest_missing_ms, T0);
  ASSERT_EQ_STR(v.oldest_missing_id, "a.firing.0");
  v = eval_at(T0 + 5 * MIN);
  ASSERT_EQ_INT(v.missing, 1);
  ASSERT_EQ_INT(v.missed_total, 1); /* counted once */
  ledger_settle(&l, "a.firing.0", true, T0, T0 + 6 * MIN, DEADLINE);
  v = eval_at(T0 + 6 * MIN);
  ASSERT_EQ_INT(v.missing, 0);
  ASSERT_EQ_INT(v.oldest_missing_ms, -1);
  ASSERT_EQ_INT(v.outcomes[MON_DELIVERY_LATE], 1);
  ASSERT_EQ_INT(v.outcomes[MON_DELIVERY_ON_TIME], 0);
}

static void dropped_and_expired(void) {
  fresh();
  ledger_expect(&l, "a.firing.0", T0);
  ledger_expect(&l, "b.firing.0", T0);
  ledger_settle(&l, "a.firing.0", false, T0, T0 + SEC, DEADLINE);
  struct mon_ledger_view v = eval_at(T0 + 2 * SEC);
  ASSERT_EQ_INT(v.outcomes[MON_DELIVERY_DROPPED], 1);
  ASSERT_EQ_INT(v.last_drop_ms, T0 + SEC);
  /* b is never delivered: missing until the stream expires it */
  v = eval_at(T0 + EXPIRE);
  ASSERT_EQ_INT(v.missing, 1);
  v = eval_at(T0 + EXPIRE + 1);
  ASSERT_EQ_INT(v.missing, 0);
  ASSERT_EQ_INT(v.outcomes[MON_DELIVERY_DROPPED], 2);
  ASSERT_EQ_INT(v.missed_total, 1);
}

static void settled_before_expected(void) {
  fresh();
  /* the sink got it before the outbox saw its publish ack */
  ledger_settle(&l, "a.firing.0", true, T0, T0 + 100, DEADLINE);
  ledger_expect(&l, "a.firing.0", T0);
  struct mon_ledger_view v = eval_at(T0 + 10 * MIN - 1);
  ASSERT_EQ_INT(v.outcomes[MON_DELIVERY_ON_TIME], 1);
  ASSERT_EQ_INT(v.pending + v.missing, 0);
  ASSERT_EQ_INT(l.n, 1);
  ledger_expect(&l, "a.firing.0", T0); /* again: still settled */
  ledger_settle(&l, "a.firing.0", true, T0, T0 + 200, DEADLINE);
  v = eval_at(T0 + 10 * MIN - 1);
  ASSERT_EQ_INT(v.outcomes[MON_DELIVERY_ON_TIME], 1); /* counted once */
}

static void unknown_alert_uses_stream_time(void) {
  fresh();
  /* published by a previous process 5 min ago, delivered now */
  ledger_settle(&l, "old.firing.0", true, T0 - 5 * MIN, T0, DEADLINE);
  ledger_settle(&l, "new.firing.0", true, T0 - 5 * SEC, T0, DEADLINE);
  ledger_settle(&l, "nots.firing.0", true, 0, T0, DEADLINE);
  struct mon_ledger_view v = eval_at(T0);
  ASSERT_EQ_INT(v.outcomes[MON_DELIVERY_LATE], 1);
  ASSERT_EQ_INT(v.outcomes[MON_DELIVERY_ON_TIME], 2);
}

static void settled_entries_are_forgotten(void) {
  fresh();
  char id[32];
  for (int i = 0; i < 1000; i++) {
    snprintf(id, sizeof(id), "a%d.firing.0", i);
    ledger_expect(&l, id, T0);
    ledger_settle(&l, id, true, T0, T0 + SEC, DEADLINE);
  }
  ledger_expect(&l, "owed.firing.0", T0);
  struct mon_ledger_view v = eval_at(T0 + 10 * MIN);
  ASSERT_EQ_INT(l.n, 1001);
  v = eval_at(T0 + 10 * MIN + SEC + 1);
  ASSERT_EQ_INT(l.n, 1); /* the owed one stays */
  ASSERT_EQ_INT(v.missing, 1);
  ASSERT_EQ_INT(v.outcomes[MON_DELIVERY_ON_TIME], 1000);
  ASSERT_EQ_STR(v.oldest_missing_id, "owed.firing.0");
}

static void oldest_missing_is_the_oldest(void) {
  fresh();
  ledger_expect(&l, "b.firing.0", T0 + SEC);
  ledger_expect(&l, "a.firing.0", T0);
  ledger_expect(&l, "c.firing.0", T0 + 2 * SEC);
  struct mon_ledger_view v = eval_at(T0 + 10 * MIN);
  ASSERT_EQ_INT(v.missing, 3);
  ASSERT_EQ_STR(v.oldest_missing_id, "a.firing.0");
  ASSERT_EQ_INT(v.oldest_missing_ms, T0);
}

int main(int argc, char **argv) {
  coin_test_main_begin(argc, argv);
  RUN_TEST(on_time_and_late);
  RUN_TEST(missing_then_late_missed_once);
  RUN_TEST(dropped_and_expired);
  RUN_TEST(settled_before_expected);
  RUN_TEST(unknown_alert_uses_stream_time);
  RUN_TEST(settled_entries_are_forgotten);
  RUN_TEST(oldest_missing_is_the_oldest);
  ledger_free(&l);
  return coin_test_summary();
}
