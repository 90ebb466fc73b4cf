/*
 * bus_int.h: the inside of the bus module (bus.c, bus_js.c, bus_kv.c):
 * struct layouts, natsStatus -> COIN_E* conversion and name checks.
 * Nothing here is visible to services; nats.c types stay behind this line.
 */
#ifndef COIN_BUS_INT_H
#define COIN_BUS_INT_H

#include "coin/bus.h"

#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>

#define NANOS_PER_MS INT64_C(1000000)
/* Largest ms value whose ns form fits in int64 (~292 years). */
#define MS_MAX (INT64_MAX / NANOS_PER_MS)

/* Shared between the bus and nats.c's connection callbacks. The closed
 * callback holds one reference, so the state outlives a late callback. */
struct bus_conn_state {
  atomic_int state; /* enum coin_bus_state */
  atomic_uint_fast64_t reconnects;
  atomic_int refs;
  pthread_mutex_t mu;
  pthread_cond_t cond;
  bool closed; /* under mu: the closed callback ran */
  coin_bus_state_fn on_state;
  void *on_state_closure;
};

struct coin_bus {
  natsConnection *nc;
  jsCtx *js;
  struct bus_conn_state *st;
  int64_t request_timeout_ms;
  int replicas; /* of the streams and buckets it ensures */
  /* coin_bus_responsive: one probe at a time, its last answer cached */
  pthread_mutex_t probe_mu;
  int64_t probe_mono_ms; /* when the last probe ended (0: never) */
  bool probe_ok;
  int64_t probe_rtt_us;
};

/* A bound pull subscription; fetched messages keep a reference so that they
 * can be acked (nats.c reaches the subscription through each message) even
 * after coin_bus_sub_free. */
struct coin_bus_sub {
  natsSubscription *ns;
  atomic_int refs;
  char stream[COIN_BUS_NAME_MAX + 1];
  char durable[COIN_BUS_NAME_MAX + 1];
};

struct coin_bus_msg {
  natsMsg *nm;
  struct coin_bus_sub *sub; /* NULL for callback messages */
  bool borrowed;            /* owned by a callback dispatcher */
  uint64_t stream_seq;
  uint64_t num_delivered;
  int64_t timestamp_ms;
};

/* Converts a failed natsStatus into a COIN_E* code, setting the error text
 * "<what>: <nats.c last error or status text>". jerr may be 0. */
int bus_nats_error(natsStatus s, int jerr, const char *what);

/* A publish to subject that failed with s (a timeout waiting for its ack)
 * because the server refused it (permissions): COIN_EREJECTED with
 * "<what> <subject>: refused by the NATS server (<its words>)"; 0 if not. */
int bus_refused(struct coin_bus *bus, natsStatus s, const char *subject,
                const char *what);

/* A stream or bucket that differs from what this service wants only in its
 * number of copies, whose update this user may not make: logs a warning
 * (its owner raises it, docs/scaling.md) and clears the error; the caller
 * goes on with it as it is. Copies are an operator's matter, not a
 * correctness one: one replica less is no reason to stop. */
void bus_copies_left_to_owner(const char *stream, int64_t have, int64_t want);

/* Fills JetStream metadata from the ack reply subject, if it is one. */
void bus_msg_load_meta(struct coin_bus_msg *m);

/* Validators: 0 or COIN_EINVAL with a message naming field, value, rule. */
int bus_check_name(const char *field, const char *name);
int bus_check_subject(const char *field, const char *subject, bool wildcards);
int bus_check_ms(const char *field, int64_t ms);

/* Builds a natsMsg to publish (validated subject, headers, size). */
int bus_build_msg(natsMsg **out, const char *subject,
                  const struct coin_bus_header *headers, size_t headers_len,
                  const void *data, size_t len);

/* Drops a fetched message's hold on its subscription (bus_js.c). */
void bus_sub_release(struct coin_bus_sub *sub);

/* Copies a string to a fresh heap buffer (NULL on ENOMEM). */
char *bus_strdup(const char *s);

#endif
