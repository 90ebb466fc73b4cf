/*
 * bus.h: the project's only door to NATS (wraps nats.c 3.4.1): connection
 * with endless reconnect, JetStream streams, durable pull consumers, publish
 * with Nats-Msg-Id dedup, KV buckets with CAS, KV watches and core taps.
 * Thread model: a struct coin_bus may be shared by threads; each
 * coin_bus_sub, coin_bus_kv_watch and message is used by one thread at a time.
 * Callbacks (taps, KV watch callbacks, state changes) run on nats.c or bus
 * threads. Ownership: every *_free accepts NULL; free subscriptions, taps,
 * watches and KV handles before their bus; call coin_bus_shutdown() once at
 * process exit (after the last coin_bus_free) so valgrind sees no leaks.
 * Durations in this API are milliseconds; the bus converts to nanoseconds
 * where JetStream configs want them.
 */
#ifndef COIN_BUS_H
#define COIN_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Hard caps (bytes unless named otherwise). */
#define COIN_BUS_SUBJECT_MAX 512     /* subject length */
#define COIN_BUS_NAME_MAX 64         /* stream, consumer and bucket names */
#define COIN_BUS_KEY_MAX 256         /* KV key length */
#define COIN_BUS_URLS_MAX 16         /* servers in the comma-separated url */
#define COIN_BUS_FETCH_MAX 1024      /* messages per fetch */
#define COIN_BUS_HEADERS_MAX 32      /* headers per published message */
#define COIN_BUS_KEYS_MAX 100000     /* keys returned by one listing */
#define COIN_BUS_DATA_MAX (64 << 20) /* payload or KV value */

struct coin_bus;
struct coin_bus_sub;      /* a bound durable pull consumer */
struct coin_bus_msg;      /* a received message */
struct coin_bus_tap;      /* an async subscription (core or ordered JS) */
struct coin_bus_kv;       /* a KV bucket handle */
struct coin_bus_kv_watch; /* a KV watcher (poll or callback) */

/* ---- connection ---------------------------------------------------------- */

enum coin_bus_state {
  COIN_BUS_DISCONNECTED = 0, /* reconnecting in the background */
  COIN_BUS_CONNECTED = 1,
  COIN_BUS_CLOSED = 2, /* closed for good (coin_bus_free) */
};

/* Called on a nats.c thread on every state change; must not block. */
typedef void (*coin_bus_state_fn)(enum coin_bus_state state, void *closure);

struct coin_bus_options {
  const char *url;  /* "nats://h1:4222,nats://h2:4222" (required) */
  const char *user; /* with password; NULL = none */
  const char *password;
  const char *token;          /* NULL = none */
  const char *creds_file;     /* NATS .creds (JWT + seed); NULL = none */
  const char *tls_ca_file;    /* PEM CA bundle; set => TLS required */
  const char *name;           /* connection name shown by the server */
  int64_t connect_timeout_ms; /* per attempt; default 2000 */
  int64_t reconnect_wait_ms;  /* between attempts; default 2000 */
  int reconnect_buffer_bytes; /* publishes kept while away; default 8 MiB */
  int64_t request_timeout_ms; /* JetStream API / publish ack / KV ops;
                                 default 5000 */
  int replicas; /* copies of each stream and KV bucket this connection
                   creates or updates (a clustered JetStream: 3); 1..5,
                   0 = 1 */
  bool retry_on_failed_connect; /* true: connect returns 0 even if no server
                                   is up yet and keeps trying (state
                                   DISCONNECTED until it succeeds) */
  coin_bus_state_fn on_state;   /* optional */
  void *on_state_closure;
};

/* Fills defaults (all strings NULL, numbers as documented above). */
void coin_bus_options_init(struct coin_bus_options *opts);

/* Connects (reconnect forever afterwards). COIN_EUNAVAIL if no server
 * answers, COIN_EREJECTED on auth/TLS refusal, COIN_EINVAL on bad options. */
int coin_bus_connect(struct coin_bus **out,
                     const struct coin_bus_options *opts);

/* Cheap (one atomic load), safe from any thread. Says only that the socket
 * is up: a server that is stopped or stuck keeps it up (see below). */
bool coin_bus_connected(const struct coin_bus *bus);
/* Whether the server answers now: a PING/PONG round trip within
 * timeout_ms (false when not connected). The answer is cached for
 * cache_ms, and one probe runs at a time (others wait for it and share
 * its answer), so readiness checks cost at most one round trip per
 * cache_ms. *rtt_us (may be NULL) gets the last round trip, -1 when it
 * failed. Safe from any thread. */
bool coin_bus_responsive(struct coin_bus *bus, int64_t timeout_ms,
                         int64_t cache_ms, int64_t *rtt_us);
/* What every service's /readyz uses. */
#define COIN_BUS_READY_TIMEOUT_MS 1000
#define COIN_BUS_READY_CACHE_MS 2000
enum coin_bus_state coin_bus_state(const struct coin_bus *bus);
/* Successful reconnects since connect (for metrics and tests). */
uint64_t coin_bus_reconnects(const struct coin_bus *bus);

/* Flushes pending publishes (bounded), drains, closes and frees. */
void coin_bus_free(struct coin_bus *bus);

/* Releases nats.c's global threads and memory (nats_Close). Call once at
 * process exit after every coin_bus_free. */
void coin_bus_shutdown(void);

/* ---- messages ------------------------------------------------------------ */

/* Subject of the message (never NULL). */
const char *coin_bus_msg_subject(const struct coin_bus_msg *msg);
/* Payload; not NUL-terminated; may be NULL when the length is 0. */
const unsigned char *coin_bus_msg_data(const struct coin_bus_msg *msg);
size_t coin_bus_msg_len(const struct coin_bus_msg *msg);
/* First value of header key, or NULL when absent. */
const char *coin_bus_msg_header(const struct coin_bus_msg *msg,
                                const char *key);
/* Calls fn for every header value (in order); returns the count visited. */
int coin_bus_msg_headers(const struct coin_bus_msg *msg,
                         void (*fn)(const char *key, const char *value,
                                    void *closure),
                         void *closure);
/* JetStream metadata; 0 for core messages. */
uint64_t coin_bus_msg_stream_seq(const struct coin_bus_msg *msg);
uint64_t coin_bus_msg_num_delivered(const struct coin_bus_msg *msg);
int64_t coin_bus_msg_timestamp_ms(const struct coin_bus_msg *msg);

/* Acknowledgement of a fetched message. ack waits for the server's
 * confirmation (so an ack that returned 0 survives a server restart). */
int coin_bus_msg_ack(struct coin_bus_msg *msg);
/* Redeliver after delay_ms (0 = as soon as possible). */
int coin_bus_msg_nak(struct coin_bus_msg *msg, int64_t delay_ms);
/* Never redeliver (poison message). */
int coin_bus_msg_term(struct coin_bus_msg *msg);
/* Still working: resets the server's ack-wait timer. */
int coin_bus_msg_in_progress(struct coin_bus_msg *msg);

/* Frees a fetched message (without acking it). Messages handed to
 * callbacks belong to the bus: free is a no-op for them. */
void coin_bus_msg_free(struct coin_bus_msg *msg);

/* ---- publish ------------------------------------------------------------- */

struct coin_bus_header {
  const char *key;
  const char *value;
};

/* Core publish (fire and forget, buffered while reconnecting). */
int coin_bus_publish(struct coin_bus *bus, const char *subject,
                     const void *data, size_t len);
int coin_bus_publish_msg(struct coin_bus *bus, const char *subject,
                         const struct coin_bus_header *headers,
                         size_t headers_len, const void *data, size_t len);

struct coin_bus_pub_ack {
  uint64_t stream_seq; /* the stored (or, for a duplicate, original) seq */
  bool duplicate;      /* the stream already had this Nats-Msg-Id */
};

/* JetStream publish, waits for the stream's ack. msg_id (may be NULL) goes
 * into Nats-Msg-Id; a repeat inside the duplicate window is not stored
 * again and reports duplicate=true. out may be NULL. COIN_ETIMEOUT or
 * COIN_EUNAVAIL when no stream answered in request_timeout_ms. */
int coin_bus_js_publish(struct coin_bus_pub_ack *out, struct coin_bus *bus,
                        const char *subject, const char *msg_id,
                        const void *data, size_t len);
int coin_bus_js_publish_msg(struct coin_bus_pub_ack *out, struct coin_bus *bus,
                            const char *subject, const char *msg_id,
                            const struct coin_bus_header *headers,
                            size_t headers_len, const void *data, size_t len);

/* ---- streams and consumers ----------------------------------------------- */

enum coin_bus_ensure {
  COIN_BUS_UNCHANGED = 0,
  COIN_BUS_CREATED = 1,
  COIN_BUS_UPDATED = 2,
};

struct coin_bus_stream_config {
  const char *name;            /* [A-Za-z0-9_-]{1,64} */
  const char *const *subjects; /* at least one */
  size_t subjects_len;
  int64_t duplicate_window_ms; /* 0 => 120000 (2 min) */
  int32_t max_msg_bytes;       /* 0 => unlimited */
  int64_t max_age_ms;          /* 0 => forever */
  int64_t max_bytes;           /* 0 => unlimited */
};

/* Creates the stream (file storage, the connection's replicas, limits
 * retention) or updates
 * it when any configured field differs; out (may be NULL) says which. A
 * stream that exists with memory storage is COIN_EREJECTED (not changeable
 * in place). */
int coin_bus_stream_ensure(enum coin_bus_ensure *out, struct coin_bus *bus,
                           const struct coin_bus_stream_config *cfg);

struct coin_bus_stream_info {
  uint64_t msgs;
  uint64_t bytes;
  uint64_t first_seq;
  uint64_t last_seq;
  int64_t consumers;
  int64_t duplicate_window_ms;
  int64_t max_age_ms;
  int32_t max_msg_bytes; /* -1 = unlimited */
  int64_t max_bytes;     /* -1 = unlimited */
  int subjects_len;
  int replicas;
};

/* COIN_ENOTFOUND when the stream does not exist. */
int coin_bus_stream_info(struct coin_bus_stream_info *out, struct coin_bus *bus,
                         const char *stream);
int coin_bus_stream_delete(struct coin_bus *bus, const char *stream);

struct coin_bus_consumer_config {
  const char *stream;         /* required */
  const char *durable;        /* [A-Za-z0-9_-]{1,64} */
  const char *filter_subject; /* NULL = whole stream */
  int64_t ack_wait_ms;        /* 0 => 30000 */
  int64_t max_deliver;        /* 0 => unlimited */
  int64_t max_ack_pending;    /* 0 => 1000 */
};

/* Creates a durable pull consumer (deliver all, explicit ack) with
 * js_AddConsumer, or updates it when a field differs. Such a consumer is
 * never deleted by unsubscribing: it lives until coin_bus_consumer_delete. */
int coin_bus_consumer_ensure(enum coin_bus_ensure *out, struct coin_bus *bus,
                             const struct coin_bus_consumer_config *cfg);

struct coin_bus_consumer_info {
  uint64_t num_pending;    /* in the stream, not yet delivered */
  int64_t num_ack_pending; /* delivered, not yet acked */
  int64_t num_redelivered;
  uint64_t delivered_stream_seq;
  uint64_t ack_floor_stream_seq;
  int64_t ack_wait_ms;
  int64_t max_deliver;
  int64_t max_ack_pending;
};

int coin_bus_consumer_info(struct coin_bus_consumer_info *out,
                           struct coin_bus *bus, const char *stream,
                           const char *durable);
int coin_bus_consumer_delete(struct coin_bus *bus, const char *stream,
                             const char *durable);

/* Binds to an existing durable pull consumer (COIN_ENOTFOUND otherwise). */
int coin_bus_sub_bind(struct coin_bus_sub **out, struct coin_bus *bus,
                      const char *stream, const char *durable);

/* Fetches up to max_msgs (1..COIN_BUS_FETCH_MAX) messages into out[0..n),
 * waiting at most timeout_ms for the first one; returns as soon as some
 * are available. COIN_ETIMEOUT when none arrived (nothing written). The
 * caller frees each message with coin_bus_msg_free (after ack/nak/term). */
int coin_bus_fetch(struct coin_bus_msg **out, size_t *out_len,
                   struct coin_bus_sub *sub, int max_msgs, int64_t timeout_ms);

/* Stops fetching; the consumer stays on the server. Messages still held
 * by the caller stay valid (and ackable) until freed. */
void coin_bus_sub_free(struct coin_bus_sub *sub);

/* ---- taps (async subscriptions) ------------------------------------------ */

/* msg is valid only during the call (do not free or keep it). */
typedef void (*coin_bus_msg_fn)(const struct coin_bus_msg *msg, void *closure);

/* Core subscription (wildcards allowed, e.g. "coin.>"); sees every message
 * published on matching subjects from now on; stream_seq is 0. */
int coin_bus_tap_core(struct coin_bus_tap **out, struct coin_bus *bus,
                      const char *subject, coin_bus_msg_fn fn, void *closure);

/* Ordered (ephemeral, in-order, no ack) JetStream consumer on the stream
 * that holds subject: stream_seq and timestamp are set. start_seq 0 =
 * only new messages, 1 = everything kept, n = from sequence n. */
int coin_bus_tap_stream(struct coin_bus_tap **out, struct coin_bus *bus,
                        const char *subject, uint64_t start_seq,
                        coin_bus_msg_fn fn, void *closure);

/* Unsubscribes and waits (bounded) until no callback runs any more. */
void coin_bus_tap_free(struct coin_bus_tap *tap);

/* ---- KV ------------------------------------------------------------------ */

struct coin_bus_kv_config {
  const char *bucket;      /* [A-Za-z0-9_-]{1,64} */
  int history;             /* values kept per key, 1..64; 0 => 1 */
  int64_t ttl_ms;          /* 0 => forever */
  int32_t max_value_bytes; /* 0 => unlimited */
};

/* Creates the bucket (file storage) or updates history/ttl/max value when
 * they differ, then opens it. */
int coin_bus_kv_ensure(struct coin_bus_kv **out,
                       enum coin_bus_ensure *out_action, struct coin_bus *bus,
                       const struct coin_bus_kv_config *cfg);
/* Opens an existing bucket (COIN_ENOTFOUND otherwise). */
int coin_bus_kv_open(struct coin_bus_kv **out, struct coin_bus *bus,
                     const char *bucket);
void coin_bus_kv_free(struct coin_bus_kv *kv);

enum coin_bus_kv_op {
  COIN_BUS_KV_PUT = 1,
  COIN_BUS_KV_DELETE = 2,
  COIN_BUS_KV_PURGE = 3,
  COIN_BUS_KV_INIT_DONE = 4, /* watch only: initial values delivered */
};

struct coin_bus_kv_entry {
  char *key;            /* owned; "" for INIT_DONE */
  unsigned char *value; /* owned; NUL-terminated copy (len excludes it) */
  size_t value_len;
  uint64_t revision;
  int64_t created_ms;
  enum coin_bus_kv_op op;
};

/* Frees key and value and zeroes the entry (NULL safe). */
void coin_bus_kv_entry_clear(struct coin_bus_kv_entry *e);

/* Latest value; COIN_ENOTFOUND when the key is missing or deleted. */
int coin_bus_kv_get(struct coin_bus_kv_entry *out, struct coin_bus_kv *kv,
                    const char *key);
/* Unconditional put; out_revision may be NULL. */
int coin_bus_kv_put(uint64_t *out_revision, struct coin_bus_kv *kv,
                    const char *key, const void *value, size_t len);
/* Put only if the key is absent (or deleted): COIN_EEXISTS otherwise. */
int coin_bus_kv_create(uint64_t *out_revision, struct coin_bus_kv *kv,
                       const char *key, const void *value, size_t len);
/* Compare-and-set: succeeds only if the key's latest revision is
 * expected_revision; COIN_ECONFLICT otherwise (someone else wrote).
 * expected_revision 0 means "the key has no revision at all" (not even a
 * delete marker); prefer coin_bus_kv_create for first writes. */
int coin_bus_kv_update(uint64_t *out_revision, struct coin_bus_kv *kv,
                       const char *key, const void *value, size_t len,
                       uint64_t expected_revision);
/* Delete marker (history kept); purge also drops older revisions. */
int coin_bus_kv_delete(struct coin_bus_kv *kv, const char *key);
int coin_bus_kv_purge(struct coin_bus_kv *kv, const char *key);

struct coin_bus_kv_keys {
  char **keys; /* owned, sorted */
  size_t len;
};
void coin_bus_kv_keys_clear(struct coin_bus_kv_keys *keys);

/* Live keys starting with prefix (NULL or "" = all), sorted. */
int coin_bus_kv_keys(struct coin_bus_kv_keys *out, struct coin_bus_kv *kv,
                     const char *prefix);

struct coin_bus_kv_watch_options {
  const char *keys;  /* key or wildcard pattern ("ingest.>"); NULL = all */
  bool updates_only; /* skip the current values (and INIT_DONE) */
  bool ignore_deletes;
};

/* Poll-style watcher: first the current value of each matching key, then
 * INIT_DONE, then every change as it happens. */
int coin_bus_kv_watch(struct coin_bus_kv_watch **out, struct coin_bus_kv *kv,
                      const struct coin_bus_kv_watch_options *opts);
/* The current values of the keys matching pattern, once: fn is called for
 * each live entry (deletes skipped) until the watch says it has delivered
 * them all. COIN_ETIMEOUT ("<what> not delivered in N s") when that takes
 * longer than timeout_ms; fn's entry is cleared after it returns. */
int coin_bus_kv_scan(struct coin_bus_kv *kv, const char *pattern,
                     int64_t timeout_ms, const char *what,
                     void (*fn)(const struct coin_bus_kv_entry *e, void *ctx),
                     void *ctx);
/* Next entry (caller clears it); COIN_ETIMEOUT after timeout_ms. */
int coin_bus_kv_watch_next(struct coin_bus_kv_entry *out,
                           struct coin_bus_kv_watch *w, int64_t timeout_ms);

/* entry is valid only during the call. */
typedef void (*coin_bus_kv_fn)(const struct coin_bus_kv_entry *entry,
                               void *closure);

/* Callback-style watcher: a bus thread calls fn for every entry (including
 * INIT_DONE unless updates_only) until coin_bus_kv_watch_free. */
int coin_bus_kv_watch_start(struct coin_bus_kv_watch **out,
                            struct coin_bus_kv *kv,
                            const struct coin_bus_kv_watch_options *opts,
                            coin_bus_kv_fn fn, void *closure);

/* Stops the watcher (joins the callback thread, if any) and frees it. */
void coin_bus_kv_watch_free(struct coin_bus_kv_watch *w);

/* ---- direct stream reads (bus_stream_get.c) ------------------------------ */

/* The newest message stored on subject (no wildcards) in stream, read
 * directly (no consumer). *out is owned by the caller (coin_bus_msg_free);
 * data, headers and subject are available, JetStream metadata is not.
 * COIN_ENOTFOUND when the subject (or the stream) holds no message. */
int coin_bus_stream_get_last(struct coin_bus_msg **out, struct coin_bus *bus,
                             const char *stream, const char *subject);
/* Removes every message on subject (wildcards allowed) from stream. */
int coin_bus_stream_purge_subject(struct coin_bus *bus, const char *stream,
                                  const char *subject);

#endif
