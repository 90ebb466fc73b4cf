/*
 * test_bus.c: the bus module against a real nats-server -js: idempotent
 * ensure of streams, consumers and KV buckets, Msg-Id dedup, durable
 * consumers across server restarts and client reconnects, redelivery, KV CAS
 * and watches, taps. One server for the file; each test uses its own names.
 */
#include "coin/bus.h"
#include "coin/error.h"
#include "harness.h"
#include "test.h"

#include <pthread.h>
#include <time.h>

static struct coin_test_server srv;

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static int bus_open(struct coin_bus **out) {
  struct coin_bus_options o;
  coin_test_nats_options(&o, &srv, "admin");
  o.name = "test_bus";
  o.reconnect_wait_ms = 100;
  o.request_timeout_ms = 3000;
  return coin_bus_connect(out, &o);
}

static bool wait_connected(struct coin_bus *bus, int timeout_ms) {
  long long deadline = now_ms() + timeout_ms;
  while (!coin_bus_connected(bus)) {
    if (now_ms() > deadline)
      return false;
    sleep_ms(20);
  }
  return true;
}

static int make_stream(struct coin_bus *bus, const char *name,
                       const char *subject) {
  const char *subjects[] = {subject};
  struct coin_bus_stream_config sc = {
      .name = name, .subjects = subjects, .subjects_len = 1};
  return coin_bus_stream_ensure(NULL, bus, &sc);
}

static int make_consumer(struct coin_bus *bus, const char *stream,
                         const char *durable, int64_t ack_wait_ms) {
  struct coin_bus_consumer_config cc = {
      .stream = stream, .durable = durable, .ack_wait_ms = ack_wait_ms};
  return coin_bus_consumer_ensure(NULL, bus, &cc);
}

/* ---- streams and consumers --------------------------------------------- */

static void stream_ensure_is_idempotent(void) {
  struct coin_bus *bus = NULL;
  ASSERT_OK(bus_open(&bus));
  const char *subjects[] = {"ens.a.>", "ens.b.>"};
  struct coin_bus_stream_config sc = {
      .name = "ENS", .subjects = subjects, .subjects_len = 2};
  enum coin_bus_ensure action = -1;
  struct coin_bus_stream_info info;

  ASSERT_OK(coin_bus_stream_ensure(&action, bus, &sc));
  ASSERT_EQ_INT(action, COIN_BUS_CREATED);
  ASSERT_OK(coin_bus_stream_ensure(&action, bus, &sc));
  ASSERT_EQ_INT(action, COIN_BUS_UNCHANGED);
  ASSERT_OK(coin_bus_stream_info(&info, bus, "ENS"));
  ASSERT_EQ_INT(info.duplicate_window_ms, 120000);
  ASSERT_EQ_INT(info.max_age_ms, 0);
  ASSERT_EQ_INT(info.max_msg_bytes, -1);
  ASSERT_EQ_INT(info.subjects_len, 2);

  /* Same subjects in another order are the same config. */
  const char *swapped[] = {"ens.b.>", "ens.a.>"};
  sc.subjects = swapped;
  ASSERT_OK(coin_bus_stream_ensure(&action, bus, &sc));
  ASSERT_EQ_INT(action, COIN_BUS_UNCHANGED);

  sc.duplicate_window_ms = 300000;
  sc.max_msg_bytes = 65536;
  sc.max_age_ms = 86400000;
  ASSERT_OK(coin_bus_stream_ensure(&action, bus, &sc));
  ASSERT_EQ_INT(action, COIN_BUS_UPDATED);
  ASSERT_OK(coin_bus_stream_info(&info, bus, "ENS"));
  ASSERT_EQ_INT(info.duplicate_window_ms, 300000);
  ASSERT_EQ_INT(info.max_msg_bytes, 65536);
  ASSERT_EQ_INT(info.max_age_ms, 86400000);
  ASSERT_OK(coin_bus_stream_ensure(&action, bus, &sc));
  ASSERT_EQ_INT(action, COIN_BUS_UNCHANGED);

  const char *three[] = {"ens.a.>", "ens.b.>", "ens.c"};
  sc.subjects = three;
  sc.subjects_len = 3;
  ASSERT_OK(coin_bus_stream_ensure(&action, bus, &sc));
  ASSERT_EQ_INT(action, COIN_BUS_UPDATED);
  ASSERT_OK(coin_bus_stream_info(&info, bus, "ENS"));
  ASSERT_EQ_INT(info.subjects_len, 3);

  /* Bad input names the field. */
  sc.subjects_len = 0;
  ASSERT_RC(coin_bus_stream_ensure(&action, bus, &sc), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "subjects");
  sc.subjects_len = 1;
  sc.name = "bad.name";
  ASSERT_RC(coin_bus_stream_ensure(&action, bus, &sc), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "stream name");
  const char *spaced[] = {"has space"};
  sc.name = "ENS2";
  sc.subjects = spaced;
  ASSERT_RC(coin_bus_stream_ensure(&action, bus, &sc), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "whitespace");

  ASSERT_RC(coin_bus_stream_info(&info, bus, "NOPE"), COIN_ENOTFOUND);
  ASSERT_OK(coin_bus_stream_delete(bus, "ENS"));
  ASSERT_RC(coin_bus_stream_delete(bus, "ENS"), COIN_ENOTFOUND);
  coin_bus_free(bus);
}

static void consumer_ensure_is_idempotent(void) {
  struct coin_bus *bus = NULL;
  ASSERT_OK(bus_open(&bus));
  ASSERT_OK(make_stream(bus, "CONS", "cons.>"));
  struct coin_bus_consumer_config cc = {.stream = "CONS",
                                        .durable = "worker",
                                        .filter_subject = "cons.x.>",
                                        .ack_wait_ms = 10000,
                                        .max_deliver = 5,
                                        .max_ack_pending = 100};
  enum coin_bus_ensure action = -1;
  struct coin_bus_consumer_info ci;

  ASSERT_OK(coin_bus_consumer_ensure(&action, bus, &cc));
  ASSERT_EQ_INT(action, COIN_BUS_CREATED);
  ASSERT_OK(coin_bus_consumer_ensure(&action, bus, &cc));
  ASSERT_EQ_INT(action, COIN_BUS_UNCHANGED);
  ASSERT_OK(coin_bus_consumer_info(&ci, bus, "CONS", "worker"));
  ASSERT_EQ_INT(ci.ack_wait_ms, 10000);
  ASSERT_EQ_INT(ci.max_deliver, 5);
  ASSERT_EQ_INT(ci.max_ack_pending, 100);

  cc.ack_wait_ms = 20000;
  cc.max_ack_pending = 50;
  ASSERT_OK(coin_bus_consumer_ensure(&action, bus, &cc));
  ASSERT_EQ_INT(action, COIN_BUS_UPDATED);
  ASSERT_OK(coin_bus_consumer_info(&ci, bus, "CONS", "worker"));
  ASSERT_EQ_INT(ci.ack_wait_ms, 20000);
  ASSERT_EQ_INT(ci.max_ack_pending, 50);
  ASSERT_OK(coin_bus_consumer_ensure(&action, bus, &cc));
  ASSERT_EQ_INT(action, COIN_BUS_UNCHANGED);

  /* Binding and unbinding never deletes the durable consumer. */
  struct coin_bus_sub *sub = NULL;
  ASSERT_OK(coin_bus_sub_bind(&sub, bus, "CONS", "worker"));
  coin_bus_sub_free(sub);
  ASSERT_OK(coin_bus_consumer_info(&ci, bus, "CONS", "worker"));

  ASSERT_RC(coin_bus_sub_bind(&sub, bus, "CONS", "ghost"), COIN_ENOTFOUND);
  ASSERT_RC(coin_bus_consumer_info(&ci, bus, "CONS", "ghost"), COIN_ENOTFOUND);
  cc.stream = "NOSTREAM";
  ASSERT_RC(coin_bus_consumer_ensure(&action, bus, &cc), COIN_ENOTFOUND);
  ASSERT_OK(coin_bus_consumer_delete(bus, "CONS", "worker"));
  ASSERT_RC(coin_bus_consumer_info(&ci, bus, "CONS", "worker"), COIN_ENOTFOUND);
  coin_bus_free(bus);
}

/* ---- publish and fetch -------------------------------------------------- */

static void publish_dedups_by_msg_id(void) {
  struct coin_bus *bus = NULL;
  ASSERT_OK(bus_open(&bus));
  ASSERT_OK(make_stream(bus, "DEDUP", "dedup.>"));
  struct coin_bus_pub_ack ack = {0};

  ASSERT_OK(coin_bus_js_publish(&ack, bus, "dedup.x", "id-1", "one", 3));
  ASSERT_EQ_INT(ack.stream_seq, 1);
  ASSERT_FALSE(ack.duplicate);
  ASSERT_OK(coin_bus_js_publish(&ack, bus, "dedup.x", "id-1", "one", 3));
  ASSERT_TRUE(ack.duplicate);
  ASSERT_EQ_INT(ack.stream_seq, 1);

  struct coin_bus_stream_info info;
  ASSERT_OK(coin_bus_stream_info(&info, bus, "DEDUP"));
  ASSERT_EQ_INT(info.msgs, 1);

  ASSERT_OK(coin_bus_js_publish(&ack, bus, "dedup.x", "id-2", "two", 3));
  ASSERT_EQ_INT(ack.stream_seq, 2);
  ASSERT_FALSE(ack.duplicate);
  ASSERT_OK(coin_bus_stream_info(&info, bus, "DEDUP"));
  ASSERT_EQ_INT(info.msgs, 2);

  /* No stream on the subject: a clear, bounded failure. */
  long long t0 = now_ms();
  ASSERT_RC(coin_bus_js_publish(&ack, bus, "nostream.x", "id-3", "x", 1),
            COIN_EUNAVAIL);
  ASSERT_LT_INT(now_ms() - t0, 3500);
  ASSERT_RC(coin_bus_js_publish(&ack, bus, "dedup.*", NULL, "x", 1),
            COIN_EINVAL);
  ASSERT_RC(coin_bus_js_publish(&ack, bus, "dedup.x", "bad\nid", "x", 1),
            COIN_EINVAL);
  coin_bus_free(bus);
}

struct header_seen {
  int count;
  int matched;
};

static void count_header(const char *key, const char *value, void *closure) {
  struct header_seen *hs = closure;
  hs->count++;
  if (strcmp(key, "X-Kind") == 0 && strcmp(value, "batch") == 0)
    hs->matched++;
}

static void fetch_returns_headers_and_metadata(void) {
  struct coin_bus *bus = NULL;
  struct coin_bus_sub *sub = NULL;
  ASSERT_OK(bus_open(&bus));
  ASSERT_OK(make_stream(bus, "HDR", "hdr.>"));
  ASSERT_OK(make_consumer(bus, "HDR", "reader", 0));
  ASSERT_OK(coin_bus_sub_bind(&sub, bus, "HDR", "reader"));

  struct coin_bus_header h[] = {{"X-Kind", "batch"}, {"X-Count", "2"}};
  struct coin_bus_pub_ack ack;
  ASSERT_OK(coin_bus_js_publish_msg(&ack, bus, "hdr.binance.BTCUSDT.1h", "m1",
                                    h, 2, "\x01\x02\x00\x03", 4));
  struct coin_bus_msg *msgs[8];
  size_t n = 0;
  ASSERT_OK(coin_bus_fetch(msgs, &n, sub, 8, 2000));
  ASSERT_EQ_INT(n, 1);
  struct coin_bus_msg *m = msgs[0];
  ASSERT_EQ_STR(coin_bus_msg_subject(m), "hdr.binance.BTCUSDT.1h");
  ASSERT_EQ_INT(coin_bus_msg_len(m), 4);
  ASSERT_TRUE(memcmp(coin_bus_msg_data(m), "\x01\x02\x00\x03", 4) == 0);
  ASSERT_EQ_STR(coin_bus_msg_header(m, "X-Kind"), "batch");
  ASSERT_EQ_STR(coin_bus_msg_header(m, "Nats-Msg-Id"), "m1");
  ASSERT_TRUE(coin_bus_msg_header(m, "X-Missing") == NULL);
  struct header_seen hs = {0};
  ASSERT_EQ_INT(coin_bus_msg_headers(m, count_header, &hs), 3);
  ASSERT_EQ_INT(hs.matched, 1);
  ASSERT_EQ_INT(coin_bus_msg_stream_seq(m), ack.stream_seq);
  ASSERT_EQ_INT(coin_bus_msg_num_delivered(m), 1);
  ASSERT_TRUE(coin_bus_msg_timestamp_ms(m) > 1600000000000LL);
  ASSERT_OK(coin_bus_msg_in_progress(m));
  ASSERT_OK(coin_bus_msg_ack(m));
  coin_bus_msg_free(m);

  ASSERT_RC(coin_bus_fetch(msgs, &n, sub, 0, 100), COIN_EINVAL);
  ASSERT_RC(coin_bus_fetch(msgs, &n, sub, COIN_BUS_FETCH_MAX + 1, 100),
            COIN_EINVAL);
  coin_bus_sub_free(sub);
  coin_bus_free(bus);
}

static void fetch_on_empty_times_out_quickly(void) {
  struct coin_bus *bus = NULL;
  struct coin_bus_sub *sub = NULL;
  ASSERT_OK(bus_open(&bus));
  ASSERT_OK(make_stream(bus, "EMPTY", "empty.>"));
  ASSERT_OK(make_consumer(bus, "EMPTY", "idle", 0));
  ASSERT_OK(coin_bus_sub_bind(&sub, bus, "EMPTY", "idle"));
  struct coin_bus_msg *msgs[4];
  size_t n = 77;
  long long t0 = now_ms();
  ASSERT_RC(coin_bus_fetch(msgs, &n, sub, 4, 300), COIN_ETIMEOUT);
  long long took = now_ms() - t0;
  ASSERT_EQ_INT(n, 77); /* not written on failure */
  ASSERT_TRUE(took >= 250);
  ASSERT_LT_INT(took, 1500);
  ASSERT_CONTAINS(coin_error_last(), "EMPTY/idle");
  coin_bus_sub_free(sub);
  coin_bus_free(bus);
}

/* Fetches until want messages arrived (or the deadline), acking each. */
static int fetch_acked(struct coin_bus_sub *sub, uint64_t *seqs, int want,
                       int timeout_ms) {
  int got = 0;
  long long deadline = now_ms() + timeout_ms;
  while (got < want && now_ms() < deadline) {
    struct coin_bus_msg *msgs[16];
    size_t n = 0;
    int rc =
        coin_bus_fetch(msgs, &n, sub, want - got < 16 ? want - got : 16, 500);
    if (rc == COIN_ETIMEOUT)
      continue;
    if (rc != 0)
      return rc;
    for (size_t i = 0; i < n; i++) {
      seqs[got++] = coin_bus_msg_stream_seq(msgs[i]);
      if (coin_bus_msg_num_delivered(msgs[i]) != 1)
        seqs[got - 1] += 1000000; /* mark a redelivery */
      int ack = coin_bus_msg_ack(msgs[i]);
      coin_bus_msg_free(msgs[i]);
      if (ack != 0)
        return ack;
    }
  }
  return got;
}

/* JetStream publish, retried while the server comes back. */
static int publish_retry(struct coin_bus *bus, const char *subject,
                         const char *id) {
  long long deadline = now_ms() + 10000;
  int rc;
  do {
    rc = coin_bus_js_publish(NULL, bus, subject, id, id, strlen(id));
    if (rc == 0)
      return 0;
    sleep_ms(50);
  } while (now_ms() < deadline);
  return rc;
}

static void durable_consumer_survives_server_restart(void) {
  struct coin_bus *bus = NULL;
  struct coin_bus_sub *sub = NULL;
  char id[32];
  ASSERT_OK(bus_open(&bus));
  ASSERT_OK(make_stream(bus, "RST", "rst.>"));
  ASSERT_OK(make_consumer(bus, "RST", "pub", 0));
  ASSERT_OK(coin_bus_sub_bind(&sub, bus, "RST", "pub"));
  for (int i = 1; i <= 5; i++) {
    snprintf(id, sizeof(id), "rst-%d", i);
    ASSERT_OK(coin_bus_js_publish(NULL, bus, "rst.a", id, id, strlen(id)));
  }
  uint64_t seqs[16] = {0};
  ASSERT_EQ_INT(fetch_acked(sub, seqs, 2, 5000), 2);
  ASSERT_EQ_INT(seqs[0], 1);
  ASSERT_EQ_INT(seqs[1], 2);

  uint64_t reconnects = coin_bus_reconnects(bus);
  coin_test_server_stop(&srv);
  ASSERT_OK(coin_test_nats_restart(&srv));
  ASSERT_TRUE(wait_connected(bus, 10000));
  ASSERT_TRUE(coin_bus_reconnects(bus) > reconnects);

  for (int i = 6; i <= 8; i++) {
    snprintf(id, sizeof(id), "rst-%d", i);
    ASSERT_OK(publish_retry(bus, "rst.a", id));
  }
  ASSERT_EQ_INT(fetch_acked(sub, seqs, 6, 10000), 6);
  for (int i = 0; i < 6; i++)
    ASSERT_EQ_INT(seqs[i], (uint64_t)(i + 3)); /* in order, no redelivery */

  struct coin_bus_msg *msgs[4];
  size_t n = 0;
  ASSERT_RC(coin_bus_fetch(msgs, &n, sub, 4, 300), COIN_ETIMEOUT);
  struct coin_bus_consumer_info ci;
  ASSERT_OK(coin_bus_consumer_info(&ci, bus, "RST", "pub"));
  ASSERT_EQ_INT(ci.ack_floor_stream_seq, 8);
  ASSERT_EQ_INT(ci.num_pending, 0);
  ASSERT_EQ_INT(ci.num_ack_pending, 0);
  coin_bus_sub_free(sub);
  coin_bus_free(bus);
}

static void durable_consumer_survives_client_reconnect(void) {
  struct coin_bus *bus = NULL;
  struct coin_bus_sub *sub = NULL;
  char id[32];
  ASSERT_OK(bus_open(&bus));
  ASSERT_OK(make_stream(bus, "RCN", "rcn.>"));
  ASSERT_OK(make_consumer(bus, "RCN", "pub", 0));
  ASSERT_OK(coin_bus_sub_bind(&sub, bus, "RCN", "pub"));
  for (int i = 1; i <= 4; i++) {
    snprintf(id, sizeof(id), "rcn-%d", i);
    ASSERT_OK(coin_bus_js_publish(NULL, bus, "rcn.a", id, id, strlen(id)));
  }
  uint64_t seqs[8] = {0};
  ASSERT_EQ_INT(fetch_acked(sub, seqs, 1, 5000), 1);
  ASSERT_EQ_INT(seqs[0], 1);
  coin_bus_sub_free(sub);
  coin_bus_free(bus);

  /* A new process: connect, bind the same durable, continue. */
  bus = NULL;
  sub = NULL;
  ASSERT_OK(bus_open(&bus));
  ASSERT_OK(make_consumer(bus, "RCN", "pub", 0)); /* unchanged */
  ASSERT_OK(coin_bus_sub_bind(&sub, bus, "RCN", "pub"));
  ASSERT_EQ_INT(fetch_acked(sub, seqs, 3, 5000), 3);
  ASSERT_EQ_INT(seqs[0], 2);
  ASSERT_EQ_INT(seqs[1], 3);
  ASSERT_EQ_INT(seqs[2], 4);
  coin_bus_sub_free(sub);
  coin_bus_free(bus);
}

static void nak_and_unacked_messages_are_redelivered(void) {
  struct coin_bus *bus = NULL;
  struct coin_bus_sub *sub = NULL;
  ASSERT_OK(bus_open(&bus));
  ASSERT_OK(make_stream(bus, "NAK", "nak.>"));
  ASSERT_OK(make_consumer(bus, "NAK", "w", 600));
  ASSERT_OK(coin_bus_sub_bind(&sub, bus, "NAK", "w"));
  ASSERT_OK(coin_bus_js_publish(NULL, bus, "nak.a", "n1", "x", 1));

  struct coin_bus_msg *msgs[4];
  size_t n = 0;
  ASSERT_OK(coin_bus_fetch(msgs, &n, sub, 4, 2000));
  ASSERT_EQ_INT(n, 1);
  ASSERT_EQ_INT(coin_bus_msg_num_delivered(msgs[0]), 1);
  ASSERT_OK(coin_bus_msg_nak(msgs[0], 0));
  coin_bus_msg_free(msgs[0]);

  ASSERT_OK(coin_bus_fetch(msgs, &n, sub, 4, 2000));
  ASSERT_EQ_INT(n, 1);
  ASSERT_EQ_INT(coin_bus_msg_stream_seq(msgs[0]), 1);
  ASSERT_EQ_INT(coin_bus_msg_num_delivered(msgs[0]), 2);
  /* Not acked: the server redelivers after ack_wait (600 ms). */
  coin_bus_msg_free(msgs[0]);
  long long t0 = now_ms();
  ASSERT_OK(coin_bus_fetch(msgs, &n, sub, 4, 3000));
  ASSERT_EQ_INT(n, 1);
  ASSERT_EQ_INT(coin_bus_msg_num_delivered(msgs[0]), 3);
  ASSERT_TRUE(now_ms() - t0 >= 300);
  ASSERT_OK(coin_bus_msg_ack(msgs[0]));
  coin_bus_msg_free(msgs[0]);
  ASSERT_RC(coin_bus_fetch(msgs, &n, sub, 4, 900), COIN_ETIMEOUT);

  /* nak with delay: not before the delay. */
  ASSERT_OK(coin_bus_js_publish(NULL, bus, "nak.a", "n2", "y", 1));
  ASSERT_OK(coin_bus_fetch(msgs, &n, sub, 4, 2000));
  ASSERT_EQ_INT(n, 1);
  ASSERT_OK(coin_bus_msg_nak(msgs[0], 400));
  coin_bus_msg_free(msgs[0]);
  t0 = now_ms();
  ASSERT_OK(coin_bus_fetch(msgs, &n, sub, 4, 3000));
  ASSERT_TRUE(now_ms() - t0 >= 250);
  ASSERT_EQ_INT(coin_bus_msg_num_delivered(msgs[0]), 2);
  ASSERT_OK(coin_bus_msg_ack(msgs[0]));
  coin_bus_msg_free(msgs[0]);
  coin_bus_sub_free(sub);
  coin_bus_free(bus);
}

static void term_stops_redelivery(void) {
  struct coin_bus *bus = NULL;
  struct coin_bus_sub *sub = NULL;
  ASSERT_OK(bus_open(&bus));
  ASSERT_OK(make_stream(bus, "TERM", "term.>"));
  ASSERT_OK(make_consumer(bus, "TERM", "w", 300));
  ASSERT_OK(coin_bus_sub_bind(&sub, bus, "TERM", "w"));
  ASSERT_OK(coin_bus_js_publish(NULL, bus, "term.a", "t1", "poison", 6));
  struct coin_bus_msg *msgs[4];
  size_t n = 0;
  ASSERT_OK(coin_bus_fetch(msgs, &n, sub, 4, 2000));
  ASSERT_EQ_INT(n, 1);
  ASSERT_OK(coin_bus_msg_term(msgs[0]));
  coin_bus_msg_free(msgs[0]);
  /* Well past ack_wait: nothing comes back. */
  ASSERT_RC(coin_bus_fetch(msgs, &n, sub, 4, 1000), COIN_ETIMEOUT);
  struct coin_bus_consumer_info ci;
  ASSERT_OK(coin_bus_consumer_info(&ci, bus, "TERM", "w"));
  ASSERT_EQ_INT(ci.num_ack_pending, 0);
  coin_bus_sub_free(sub);
  coin_bus_free(bus);
}

static void message_outlives_its_subscription(void) {
  struct coin_bus *bus = NULL;
  struct coin_bus_sub *sub = NULL;
  ASSERT_OK(bus_open(&bus));
  ASSERT_OK(make_stream(bus, "HOLD", "hold.>"));
  ASSERT_OK(make_consumer(bus, "HOLD", "w", 0));
  ASSERT_OK(coin_bus_sub_bind(&sub, bus, "HOLD", "w"));
  ASSERT_OK(coin_bus_js_publish(NULL, bus, "hold.a", "h1", "x", 1));
  struct coin_bus_msg *msgs[1];
  size_t n = 0;
  ASSERT_OK(coin_bus_fetch(msgs, &n, sub, 1, 2000));
  coin_bus_sub_free(sub); /* message keeps what it needs to ack */
  ASSERT_OK(coin_bus_msg_ack(msgs[0]));
  coin_bus_msg_free(msgs[0]);
  struct coin_bus_consumer_info ci;
  ASSERT_OK(coin_bus_consumer_info(&ci, bus, "HOLD", "w"));
  ASSERT_EQ_INT(ci.ack_floor_stream_seq, 1);
  coin_bus_free(bus);
}

/* ---- KV ----------------------------------------------------------------- */

static void kv_ensure_crud_and_cas(void) {
  struct coin_bus *bus = NULL;
  struct coin_bus_kv *kv = NULL, *kv2 = NULL;
  ASSERT_OK(bus_open(&bus));
  struct coin_bus_kv_config kc = {.bucket = "wm", .history = 1};
  enum coin_bus_ensure action = -1;
  ASSERT_OK(coin_bus_kv_ensure(&kv, &action, bus, &kc));
  ASSERT_EQ_INT(action, COIN_BUS_CREATED);
  ASSERT_OK(coin_bus_kv_ensure(&kv2, &action, bus, &kc));
  ASSERT_EQ_INT(action, COIN_BUS_UNCHANGED);
  coin_bus_kv_free(kv2);
  kc.history = 5;
  kc.max_value_bytes = 1024;
  ASSERT_OK(coin_bus_kv_ensure(&kv2, &action, bus, &kc));
  ASSERT_EQ_INT(action, COIN_BUS_UPDATED);
  coin_bus_kv_free(kv2);
  ASSERT_OK(coin_bus_kv_ensure(&kv2, &action, bus, &kc));
  ASSERT_EQ_INT(action, COIN_BUS_UNCHANGED);
  coin_bus_kv_free(kv2);
  ASSERT_OK(coin_bus_kv_open(&kv2, bus, "wm"));
  coin_bus_kv_free(kv2);
  ASSERT_RC(coin_bus_kv_open(&kv2, bus, "nobucket"), COIN_ENOTFOUND);

  struct coin_bus_kv_entry e = {0};
  const char *key = "ingest.binance.BTCUSDT.1h";
  ASSERT_RC(coin_bus_kv_get(&e, kv, key), COIN_ENOTFOUND);
  uint64_t r1 = 0, r2 = 0, r3 = 0;
  ASSERT_OK(coin_bus_kv_put(&r1, kv, key, "1700000000000", 13));
  ASSERT_TRUE(r1 > 0);
  ASSERT_OK(coin_bus_kv_get(&e, kv, key));
  ASSERT_EQ_STR((const char *)e.value, "1700000000000");
  ASSERT_EQ_INT(e.value_len, 13);
  ASSERT_EQ_INT(e.revision, r1);
  ASSERT_EQ_STR(e.key, key);
  ASSERT_EQ_INT(e.op, COIN_BUS_KV_PUT);
  coin_bus_kv_entry_clear(&e);

  ASSERT_RC(coin_bus_kv_create(&r2, kv, key, "x", 1), COIN_EEXISTS);
  ASSERT_CONTAINS(coin_error_last(), "already exists");

  ASSERT_OK(coin_bus_kv_update(&r2, kv, key, "1700003600000", 13, r1));
  ASSERT_TRUE(r2 > r1);
  /* A writer holding the old revision loses. */
  ASSERT_RC(coin_bus_kv_update(&r3, kv, key, "1699999999999", 13, r1),
            COIN_ECONFLICT);
  ASSERT_CONTAINS(coin_error_last(), "wrong last sequence");
  ASSERT_OK(coin_bus_kv_get(&e, kv, key));
  ASSERT_EQ_STR((const char *)e.value, "1700003600000");
  coin_bus_kv_entry_clear(&e);

  ASSERT_OK(coin_bus_kv_delete(kv, key));
  ASSERT_RC(coin_bus_kv_get(&e, kv, key), COIN_ENOTFOUND);
  /* create works over a delete marker */
  ASSERT_OK(coin_bus_kv_create(&r3, kv, key, "again", 5));
  ASSERT_OK(coin_bus_kv_get(&e, kv, key));
  ASSERT_EQ_STR((const char *)e.value, "again");
  coin_bus_kv_entry_clear(&e);

  /* Empty values and the max value size. */
  ASSERT_OK(coin_bus_kv_put(NULL, kv, "empty", NULL, 0));
  ASSERT_OK(coin_bus_kv_get(&e, kv, "empty"));
  ASSERT_EQ_INT(e.value_len, 0);
  ASSERT_EQ_STR((const char *)e.value, "");
  coin_bus_kv_entry_clear(&e);
  static char big[2048];
  memset(big, 'b', sizeof(big));
  ASSERT_RC(coin_bus_kv_put(NULL, kv, "big", big, sizeof(big)), COIN_ETOOBIG);

  ASSERT_RC(coin_bus_kv_put(NULL, kv, "bad key", "x", 1), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "bad key");
  ASSERT_RC(coin_bus_kv_put(NULL, kv, ".lead", "x", 1), COIN_EINVAL);
  ASSERT_OK(coin_bus_kv_purge(kv, "empty"));
  ASSERT_RC(coin_bus_kv_get(&e, kv, "empty"), COIN_ENOTFOUND);

  coin_bus_kv_free(kv);
  coin_bus_free(bus);
}

static void kv_keys_with_prefix(void) {
  struct coin_bus *bus = NULL;
  struct coin_bus_kv *kv = NULL;
  ASSERT_OK(bus_open(&bus));
  struct coin_bus_kv_config kc = {.bucket = "keys"};
  ASSERT_OK(coin_bus_kv_ensure(&kv, NULL, bus, &kc));
  struct coin_bus_kv_keys keys = {0};
  ASSERT_OK(coin_bus_kv_keys(&keys, kv, NULL));
  ASSERT_EQ_INT(keys.len, 0);
  coin_bus_kv_keys_clear(&keys);

  const char *names[] = {"publish.b.ETHUSDT.1h",
                         "ingest.b.ETHUSDT.1h",
                         "ingest.b.BTCUSDT.1h",
                         "ingest.b.BTCUSDT.1d",
                         "ingestx",
                         "other"};
  for (int i = 0; i < 6; i++)
    ASSERT_OK(coin_bus_kv_put(NULL, kv, names[i], "1", 1));
  ASSERT_OK(coin_bus_kv_delete(kv, "other"));

  ASSERT_OK(coin_bus_kv_keys(&keys, kv, NULL));
  ASSERT_EQ_INT(keys.len, 5); /* deleted key not listed */
  ASSERT_EQ_STR(keys.keys[0], "ingest.b.BTCUSDT.1d");
  ASSERT_EQ_STR(keys.keys[4], "publish.b.ETHUSDT.1h");
  coin_bus_kv_keys_clear(&keys);

  ASSERT_OK(coin_bus_kv_keys(&keys, kv, "ingest."));
  ASSERT_EQ_INT(keys.len, 3);
  ASSERT_EQ_STR(keys.keys[0], "ingest.b.BTCUSDT.1d");
  ASSERT_EQ_STR(keys.keys[1], "ingest.b.BTCUSDT.1h");
  ASSERT_EQ_STR(keys.keys[2], "ingest.b.ETHUSDT.1h");
  coin_bus_kv_keys_clear(&keys);

  ASSERT_OK(coin_bus_kv_keys(&keys, kv, "ingest.b.BTC"));
  ASSERT_EQ_INT(keys.len, 2);
  coin_bus_kv_keys_clear(&keys);

  ASSERT_OK(coin_bus_kv_keys(&keys, kv, "ingest"));
  ASSERT_EQ_INT(keys.len, 4); /* "ingestx" too: a plain prefix */
  coin_bus_kv_keys_clear(&keys);

  ASSERT_OK(coin_bus_kv_keys(&keys, kv, "nothing."));
  ASSERT_EQ_INT(keys.len, 0);
  coin_bus_kv_keys_clear(&keys);
  coin_bus_kv_free(kv);
  coin_bus_free(bus);
}

static void kv_watch_poll_sees_changes(void) {
  struct coin_bus *bus = NULL;
  struct coin_bus_kv *kv = NULL;
  struct coin_bus_kv_watch *w = NULL, *wu = NULL;
  ASSERT_OK(bus_open(&bus));
  struct coin_bus_kv_config kc = {.bucket = "watch", .history = 3};
  ASSERT_OK(coin_bus_kv_ensure(&kv, NULL, bus, &kc));
  ASSERT_OK(coin_bus_kv_put(NULL, kv, "ingest.a", "1", 1));
  ASSERT_OK(coin_bus_kv_put(NULL, kv, "publish.a", "1", 1));

  struct coin_bus_kv_watch_options wo = {.keys = "ingest.>"};
  ASSERT_OK(coin_bus_kv_watch(&w, kv, &wo));
  wo.updates_only = true;
  ASSERT_OK(coin_bus_kv_watch(&wu, kv, &wo));

  struct coin_bus_kv_entry e = {0};
  ASSERT_OK(coin_bus_kv_watch_next(&e, w, 2000));
  ASSERT_EQ_STR(e.key, "ingest.a");
  ASSERT_EQ_STR((const char *)e.value, "1");
  coin_bus_kv_entry_clear(&e);
  ASSERT_OK(coin_bus_kv_watch_next(&e, w, 2000));
  ASSERT_EQ_INT(e.op, COIN_BUS_KV_INIT_DONE);
  coin_bus_kv_entry_clear(&e);
  long long t0 = now_ms();
  ASSERT_RC(coin_bus_kv_watch_next(&e, w, 200), COIN_ETIMEOUT);
  ASSERT_LT_INT(now_ms() - t0, 1000);

  uint64_t rev = 0;
  ASSERT_OK(coin_bus_kv_put(&rev, kv, "ingest.a", "2", 1));
  ASSERT_OK(coin_bus_kv_put(NULL, kv, "publish.a", "2", 1)); /* filtered */
  ASSERT_OK(coin_bus_kv_delete(kv, "ingest.a"));
  ASSERT_OK(coin_bus_kv_watch_next(&e, w, 2000));
  ASSERT_EQ_STR(e.key, "ingest.a");
  ASSERT_EQ_STR((const char *)e.value, "2");
  ASSERT_EQ_INT(e.revision, rev);
  ASSERT_EQ_INT(e.op, COIN_BUS_KV_PUT);
  coin_bus_kv_entry_clear(&e);
  ASSERT_OK(coin_bus_kv_watch_next(&e, w, 2000));
  ASSERT_EQ_INT(e.op, COIN_BUS_KV_DELETE);
  coin_bus_kv_entry_clear(&e);

  /* updates_only skipped "1" and the init marker. */
  ASSERT_OK(coin_bus_kv_watch_next(&e, wu, 2000));
  ASSERT_EQ_STR((const char *)e.value, "2");
  coin_bus_kv_entry_clear(&e);

  coin_bus_kv_watch_free(w);
  coin_bus_kv_watch_free(wu);
  coin_bus_kv_free(kv);
  coin_bus_free(bus);
}

struct watch_log {
  pthread_mutex_t mu;
  int puts;
  int init_done;
  char last_value[32];
};

static void on_kv(const struct coin_bus_kv_entry *e, void *closure) {
  struct watch_log *log = closure;
  pthread_mutex_lock(&log->mu);
  if (e->op == COIN_BUS_KV_INIT_DONE) {
    log->init_done++;
  } else if (e->op == COIN_BUS_KV_PUT) {
    log->puts++;
    snprintf(log->last_value, sizeof(log->last_value), "%s",
             (const char *)e->value);
  }
  pthread_mutex_unlock(&log->mu);
}

static bool wait_puts(struct watch_log *log, int want, int timeout_ms) {
  long long deadline = now_ms() + timeout_ms;
  for (;;) {
    pthread_mutex_lock(&log->mu);
    int puts = log->puts;
    pthread_mutex_unlock(&log->mu);
    if (puts >= want)
      return true;
    if (now_ms() > deadline)
      return false;
    sleep_ms(10);
  }
}

static void kv_watch_callback_sees_put(void) {
  struct coin_bus *bus = NULL;
  struct coin_bus_kv *kv = NULL;
  struct coin_bus_kv_watch *w = NULL;
  struct watch_log log = {.mu = PTHREAD_MUTEX_INITIALIZER};
  ASSERT_OK(bus_open(&bus));
  struct coin_bus_kv_config kc = {.bucket = "watchcb"};
  ASSERT_OK(coin_bus_kv_ensure(&kv, NULL, bus, &kc));
  ASSERT_OK(coin_bus_kv_watch_start(&w, kv, NULL, on_kv, &log));
  ASSERT_OK(coin_bus_kv_put(NULL, kv, "models.champion", "v7", 2));
  ASSERT_TRUE(wait_puts(&log, 1, 3000));
  pthread_mutex_lock(&log.mu);
  ASSERT_EQ_STR(log.last_value, "v7");
  ASSERT_EQ_INT(log.init_done, 1);
  pthread_mutex_unlock(&log.mu);
  struct coin_bus_kv_entry e;
  ASSERT_RC(coin_bus_kv_watch_next(&e, w, 10), COIN_EINVAL);
  long long t0 = now_ms();
  coin_bus_kv_watch_free(w); /* joins promptly */
  ASSERT_LT_INT(now_ms() - t0, 1500);
  coin_bus_kv_free(kv);
  coin_bus_free(bus);
}

static void kv_watch_survives_server_restart(void) {
  struct coin_bus *bus = NULL;
  struct coin_bus_kv *kv = NULL;
  struct coin_bus_kv_watch *w = NULL;
  struct watch_log log = {.mu = PTHREAD_MUTEX_INITIALIZER};
  ASSERT_OK(bus_open(&bus));
  struct coin_bus_kv_config kc = {.bucket = "watchrst"};
  ASSERT_OK(coin_bus_kv_ensure(&kv, NULL, bus, &kc));
  ASSERT_OK(coin_bus_kv_watch_start(&w, kv, NULL, on_kv, &log));
  ASSERT_OK(coin_bus_kv_put(NULL, kv, "k", "before", 6));
  ASSERT_TRUE(wait_puts(&log, 1, 3000));

  coin_test_server_stop(&srv);
  ASSERT_OK(coin_test_nats_restart(&srv));
  ASSERT_TRUE(wait_connected(bus, 10000));
  long long t0 = now_ms();
  long long deadline = now_ms() + 10000;
  int rc;
  while ((rc = coin_bus_kv_put(NULL, kv, "k", "after", 5)) != 0 &&
         now_ms() < deadline)
    sleep_ms(50);
  ASSERT_OK(rc);
  ASSERT_TRUE(wait_puts(&log, 2, 15000));
  printf("  watch resumed %lld ms after restart\n", now_ms() - t0);
  pthread_mutex_lock(&log.mu);
  ASSERT_EQ_STR(log.last_value, "after");
  pthread_mutex_unlock(&log.mu);
  coin_bus_kv_watch_free(w);
  coin_bus_kv_free(kv);
  coin_bus_free(bus);
}

/* ---- taps --------------------------------------------------------------- */

struct tap_log {
  pthread_mutex_t mu;
  int count;
  char subject[64];
  char kind[32];
  uint64_t seq;
  uint64_t seqs[8];
};

static void on_tap(const struct coin_bus_msg *m, void *closure) {
  struct tap_log *log = closure;
  pthread_mutex_lock(&log->mu);
  if (log->count < 8)
    log->seqs[log->count] = coin_bus_msg_stream_seq(m);
  log->count++;
  snprintf(log->subject, sizeof(log->subject), "%s", coin_bus_msg_subject(m));
  const char *k = coin_bus_msg_header(m, "X-Kind");
  snprintf(log->kind, sizeof(log->kind), "%s", k ? k : "");
  log->seq = coin_bus_msg_stream_seq(m);
  pthread_mutex_unlock(&log->mu);
}

static bool wait_count(struct tap_log *log, int want, int timeout_ms) {
  long long deadline = now_ms() + timeout_ms;
  for (;;) {
    pthread_mutex_lock(&log->mu);
    int c = log->count;
    pthread_mutex_unlock(&log->mu);
    if (c >= want)
      return true;
    if (now_ms() > deadline)
      return false;
    sleep_ms(10);
  }
}

static void taps_see_core_and_stream_messages(void) {
  struct coin_bus *bus = NULL;
  struct coin_bus_tap *core = NULL, *js = NULL;
  struct tap_log clog = {.mu = PTHREAD_MUTEX_INITIALIZER};
  struct tap_log jlog = {.mu = PTHREAD_MUTEX_INITIALIZER};
  ASSERT_OK(bus_open(&bus));
  ASSERT_OK(make_stream(bus, "TAP", "tap.js.>"));
  ASSERT_OK(coin_bus_js_publish(NULL, bus, "tap.js.a", "t1", "1", 1));
  ASSERT_OK(coin_bus_js_publish(NULL, bus, "tap.js.a", "t2", "2", 1));

  ASSERT_OK(coin_bus_tap_core(&core, bus, "tap.>", on_tap, &clog));
  ASSERT_OK(coin_bus_tap_stream(&js, bus, "tap.js.>", 1, on_tap, &jlog));
  ASSERT_TRUE(wait_count(&jlog, 2, 3000)); /* kept messages replayed */

  struct coin_bus_header h[] = {{"X-Kind", "status"}};
  ASSERT_OK(coin_bus_publish_msg(bus, "tap.status.x", h, 1, "up", 2));
  ASSERT_TRUE(wait_count(&clog, 1, 3000));
  pthread_mutex_lock(&clog.mu);
  ASSERT_EQ_STR(clog.subject, "tap.status.x");
  ASSERT_EQ_STR(clog.kind, "status");
  ASSERT_EQ_INT(clog.seq, 0);
  pthread_mutex_unlock(&clog.mu);

  ASSERT_OK(coin_bus_js_publish(NULL, bus, "tap.js.b", "t3", "3", 1));
  ASSERT_TRUE(wait_count(&jlog, 3, 3000));
  ASSERT_TRUE(wait_count(&clog, 2, 3000)); /* the core tap sees it too */
  pthread_mutex_lock(&jlog.mu);
  ASSERT_EQ_INT(jlog.seqs[0], 1);
  ASSERT_EQ_INT(jlog.seqs[1], 2);
  ASSERT_EQ_INT(jlog.seqs[2], 3);
  ASSERT_EQ_STR(jlog.subject, "tap.js.b");
  pthread_mutex_unlock(&jlog.mu);

  coin_bus_tap_free(core);
  coin_bus_tap_free(js);
  /* After free no callback runs: publishing changes nothing. */
  ASSERT_OK(coin_bus_publish(bus, "tap.status.y", "x", 1));
  sleep_ms(100); /* a negative check: give a stray delivery a chance */
  pthread_mutex_lock(&clog.mu);
  int after = clog.count;
  pthread_mutex_unlock(&clog.mu);
  ASSERT_EQ_INT(after, 2);
  ASSERT_RC(coin_bus_tap_core(&core, bus, "bad subject", on_tap, &clog),
            COIN_EINVAL);
  coin_bus_free(bus);
}

/* ---- connection --------------------------------------------------------- */

static void connect_errors_are_clear_and_bounded(void) {
  struct coin_bus *bus = NULL;
  struct coin_bus_options o;
  coin_bus_options_init(&o);
  ASSERT_RC(coin_bus_connect(&bus, &o), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "url");

  char url[128];
  int port = coin_test_free_port();
  snprintf(url, sizeof(url), "nats://127.0.0.1:%d", port);
  o.url = url;
  o.connect_timeout_ms = 500;
  long long t0 = now_ms();
  ASSERT_RC(coin_bus_connect(&bus, &o), COIN_EUNAVAIL);
  ASSERT_LT_INT(now_ms() - t0, 3000);
  ASSERT_CONTAINS(coin_error_last(), url);
  ASSERT_TRUE(bus == NULL);

  /* Credentials in the url never reach the error text. */
  char secret_url[300];
  snprintf(secret_url, sizeof(secret_url),
           "nats://bob:hunter2@127.0.0.1:%d, nats://127.0.0.1:%d", port, port);
  o.url = secret_url;
  ASSERT_RC(coin_bus_connect(&bus, &o), COIN_EUNAVAIL);
  ASSERT_CONTAINS(coin_error_last(), "nats://bob:***@127.0.0.1");
  ASSERT_TRUE(strstr(coin_error_last(), "hunter2") == NULL);

  o.url = "nats://127.0.0.1:1, ,x";
  ASSERT_RC(coin_bus_connect(&bus, &o), COIN_EINVAL);
  o.url = url;
  o.user = "u";
  ASSERT_RC(coin_bus_connect(&bus, &o), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "password");
  o.user = NULL;

  /* retry_on_failed_connect: returns at once, reports disconnected. */
  o.retry_on_failed_connect = true;
  o.reconnect_wait_ms = 100;
  ASSERT_OK(coin_bus_connect(&bus, &o));
  ASSERT_FALSE(coin_bus_connected(bus));
  ASSERT_EQ_INT(coin_bus_state(bus), COIN_BUS_DISCONNECTED);
  t0 = now_ms();
  coin_bus_free(bus);
  ASSERT_LT_INT(now_ms() - t0, 3000);

  /* A list with a dead server first still connects. */
  char list[300];
  snprintf(list, sizeof(list), "%s, %s", url, srv.url);
  coin_test_nats_options(&o, &srv, "admin");
  o.url = list;
  bus = NULL;
  ASSERT_OK(coin_bus_connect(&bus, &o));
  ASSERT_TRUE(coin_bus_connected(bus));
  coin_bus_free(bus);
  coin_bus_free(NULL);
}

/* Credentials in the url (nats://user:password@host) log in as that user
 * and take replies on _INBOX.<user>.>, the only inbox the role table lets
 * a role other than admin subscribe to: coin-publish's KV get answers. */
static void url_credentials_take_the_users_inbox(void) {
  char url[300];
  snprintf(url, sizeof(url), "nats://coin-publish:%s@127.0.0.1:%d",
           srv.password[1], srv.port);
  struct coin_bus_options o;
  coin_bus_options_init(&o);
  o.url = url;
  o.request_timeout_ms = 3000;
  struct coin_bus *bus = NULL;
  ASSERT_OK(coin_bus_connect(&bus, &o));
  struct coin_bus_kv *kv = NULL;
  struct coin_bus_kv_config kc = {.bucket = "coin_watermarks", .history = 5};
  ASSERT_OK(coin_bus_kv_ensure(&kv, NULL, bus, &kc));
  struct coin_bus_kv_entry e = {0};
  ASSERT_RC(coin_bus_kv_get(&e, kv, "ingest.binance.NOSUCH.1h"),
            COIN_ENOTFOUND);
  coin_bus_kv_free(kv);
  coin_bus_free(bus);
}

int main(int argc, char **argv) {
  coin_test_main_begin(argc, argv);
  if (coin_test_nats_start(&srv) != 0) {
    fprintf(stderr, "cannot start nats-server\n");
    return 1;
  }
  RUN_TEST(stream_ensure_is_idempotent);
  RUN_TEST(consumer_ensure_is_idempotent);
  RUN_TEST(publish_dedups_by_msg_id);
  RUN_TEST(fetch_returns_headers_and_metadata);
  RUN_TEST(fetch_on_empty_times_out_quickly);
  RUN_TEST(durable_consumer_survives_server_restart);
  RUN_TEST(durable_consumer_survives_client_reconnect);
  RUN_TEST(nak_and_unacked_messages_are_redelivered);
  RUN_TEST(term_stops_redelivery);
  RUN_TEST(message_outlives_its_subscription);
  RUN_TEST(kv_ensure_crud_and_cas);
  RUN_TEST(kv_keys_with_prefix);
  RUN_TEST(kv_watch_poll_sees_changes);
  RUN_TEST(kv_watch_callback_sees_put);
  RUN_TEST(kv_watch_survives_server_restart);
  RUN_TEST(taps_see_core_and_stream_messages);
  RUN_TEST(connect_errors_are_clear_and_bounded);
  RUN_TEST(url_credentials_take_the_users_inbox);
  coin_test_server_cleanup(&srv);
  coin_bus_shutdown();
  return coin_test_summary();
}
