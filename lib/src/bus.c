/*
 * bus.c: connection lifecycle, natsStatus conversion, message accessors,
 * core publish and taps (async subscriptions) over nats.c.
 * Thread model: connection-state callbacks run on nats.c's callback thread
 * and only touch the refcounted struct bus_conn_state; tap callbacks run on
 * the subscription's delivery thread. Ownership: see coin/bus.h.
 */
#include "bus_int.h"
#include "coin/clock.h"

#include "coin/error.h"
#include "coin/log.h"
#include "coin/redact.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STATE_UNKNOWN (-1)
#define FREE_WAIT_MS 5000
#define DRAIN_TIMEOUT_MS 2000
#define PING_INTERVAL_MS 20000
#define MAX_PINGS_OUT 3
#define URL_MAX 512
#define HEADER_KEY_MAX 128
#define HEADER_VALUE_MAX 4096

/* ---- errors and validation ---------------------------------------------- */

static int status_code(natsStatus s, int jerr, const char *text) {
  switch (s) {
  case NATS_OK: return 0;
  case NATS_TIMEOUT: return COIN_ETIMEOUT;
  case NATS_NOT_FOUND: return COIN_ENOTFOUND;
  case NATS_NO_MEMORY: return COIN_ENOMEM;
  case NATS_INVALID_ARG:
  case NATS_INVALID_SUBJECT:
  case NATS_INVALID_TIMEOUT:
  case NATS_INVALID_QUEUE_NAME:
  case NATS_ADDRESS_MISSING: return COIN_EINVAL;
  case NATS_MAX_PAYLOAD: return COIN_ETOOBIG;
  case NATS_CONNECTION_CLOSED:
  case NATS_INVALID_SUBSCRIPTION:
  case NATS_ILLEGAL_STATE:
  case NATS_DRAINING: return COIN_ECLOSED;
  case NATS_NO_SERVER:
  case NATS_IO_ERROR:
  case NATS_STALE_CONNECTION:
  case NATS_CONNECTION_DISCONNECTED:
  case NATS_NOT_YET_CONNECTED:
  case NATS_NO_RESPONDERS:
  case NATS_INSUFFICIENT_BUFFER:
  case NATS_SLOW_CONSUMER:
  case NATS_MISSED_HEARTBEAT: return COIN_EUNAVAIL;
  case NATS_CONNECTION_AUTH_FAILED:
  case NATS_NOT_PERMITTED:
  case NATS_SECURE_CONNECTION_WANTED:
  case NATS_SECURE_CONNECTION_REQUIRED:
  case NATS_SSL_ERROR:
  case NATS_NO_SERVER_SUPPORT: return COIN_EREJECTED;
  case NATS_ERR:
    /* KV CAS loss arrives only as text (see DESIGN pitfalls). */
    if (strstr(text, "wrong last sequence"))
      return COIN_ECONFLICT;
    if (jerr == JSStreamMessageExceedsMaximumErr ||
        strstr(text, "exceeds maximum"))
      return COIN_ETOOBIG;
    if (jerr == JSStreamNameExistErr || jerr == JSConsumerNameExistErr)
      return COIN_EEXISTS;
    if (jerr == JSStreamNotFoundErr || jerr == JSConsumerNotFoundErr ||
        jerr == JSNoMessageFoundErr)
      return COIN_ENOTFOUND;
    return jerr != 0 ? COIN_EREJECTED : COIN_EINTERNAL;
  default: return COIN_EINTERNAL;
  }
}

int bus_nats_error(natsStatus s, int jerr, const char *what) {
  natsStatus last = NATS_OK;
  const char *text = nats_GetLastError(&last);
  /* The thread's last error may be stale (some paths fail without
   * updating it): trust it only when it belongs to this status. */
  if (text == NULL || text[0] == '\0' || last != s)
    text = natsStatus_GetText(s);
  /* nats.c prefixes "(file.c:123): "; keep only the message. */
  if (text[0] == '(') {
    const char *end = strstr(text, "): ");
    if (end && end - text < 40)
      text = end + 3;
  }
  if (jerr != 0)
    return coin_error_set(status_code(s, jerr, text), "%s: %s (jetstream %d)",
                          what, text, jerr);
  return coin_error_set(status_code(s, jerr, text), "%s: %s", what, text);
}

int bus_check_name(const char *field, const char *name) {
  if (name == NULL || name[0] == '\0')
    return coin_error_set(COIN_EINVAL,
                          "%s: empty (must be [A-Za-z0-9_-]{1,%d})", field,
                          COIN_BUS_NAME_MAX);
  size_t n = strnlen(name, COIN_BUS_NAME_MAX + 1);
  if (n > COIN_BUS_NAME_MAX)
    return coin_error_set(COIN_EINVAL, "%s '%.64s...': longer than %d bytes",
                          field, name, COIN_BUS_NAME_MAX);
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return coin_error_set(COIN_EINVAL,
                            "%s '%s': character %zu not in [A-Za-z0-9_-]",
                            field, name, i);
  }
  return 0;
}

int bus_check_subject(const char *field, const char *subject, bool wildcards) {
  if (subject == NULL || subject[0] == '\0')
    return coin_error_set(COIN_EINVAL, "%s: empty subject", field);
  size_t n = strnlen(subject, COIN_BUS_SUBJECT_MAX + 1);
  if (n > COIN_BUS_SUBJECT_MAX)
    return coin_error_set(COIN_EINVAL, "%s '%.64s...': longer than %d bytes",
                          field, subject, COIN_BUS_SUBJECT_MAX);
  size_t tok_start = 0;
  for (size_t i = 0; i <= n; i++) {
    char c = subject[i];
    if (c == '.' || c == '\0') {
      size_t tok_len = i - tok_start;
      if (tok_len == 0)
        return coin_error_set(COIN_EINVAL,
                              "%s '%s': empty token at byte %zu (no leading, "
                              "trailing or double dots)",
                              field, subject, i);
      const char *tok = subject + tok_start;
      bool wild = (tok_len == 1 && (tok[0] == '*' || tok[0] == '>'));
      if (wild && !wildcards)
        return coin_error_set(COIN_EINVAL,
                              "%s '%s': wildcards are not allowed here", field,
                              subject);
      if (wild && tok[0] == '>' && c != '\0')
        return coin_error_set(
            COIN_EINVAL, "%s '%s': '>' must be the last token", field, subject);
      tok_start = i + 1;
      continue;
    }
    if ((unsigned char)c <= ' ' || c == 0x7f)
      return coin_error_set(COIN_EINVAL,
                            "%s '%s': whitespace or control byte at %zu", field,
                            subject, i);
    if ((c == '*' || c == '>') &&
        !(i == tok_start && (subject[i + 1] == '.' || subject[i + 1] == '\0')))
      return coin_error_set(COIN_EINVAL, "%s '%s': '%c' must be a whole token",
                            field, subject, c);
  }
  return 0;
}

int bus_check_ms(const char *field, int64_t ms) {
  if (ms < 0 || ms > MS_MAX)
    return coin_error_set(COIN_EINVAL, "%s=%lld: must be 0..%lld ms", field,
                          (long long)ms, (long long)MS_MAX);
  return 0;
}

char *bus_strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (p)
    memcpy(p, s, n);
  return p;
}

/* ---- connection --------------------------------------------------------- */

static void state_release(struct bus_conn_state *st) {
  if (st == NULL)
    return;
  if (atomic_fetch_sub(&st->refs, 1) == 1) {
    pthread_cond_destroy(&st->cond);
    pthread_mutex_destroy(&st->mu);
    free(st);
  }
}

static void state_set(struct bus_conn_state *st, enum coin_bus_state s) {
  atomic_store(&st->state, (int)s);
  if (st->on_state)
    st->on_state(s, st->on_state_closure);
}

static void on_disconnected(natsConnection *nc, void *closure) {
  (void)nc;
  struct bus_conn_state *st = closure;
  if (atomic_load(&st->state) != COIN_BUS_CLOSED)
    state_set(st, COIN_BUS_DISCONNECTED);
}

static void on_reconnected(natsConnection *nc, void *closure) {
  (void)nc;
  struct bus_conn_state *st = closure;
  atomic_fetch_add(&st->reconnects, 1);
  state_set(st, COIN_BUS_CONNECTED);
}

static void on_connected(natsConnection *nc, void *closure) {
  (void)nc;
  state_set(closure, COIN_BUS_CONNECTED);
}

/* The last callback nats.c delivers for a connection: drop its reference. */
static void on_closed(natsConnection *nc, void *closure) {
  (void)nc;
  struct bus_conn_state *st = closure;
  state_set(st, COIN_BUS_CLOSED);
  pthread_mutex_lock(&st->mu);
  st->closed = true;
  pthread_cond_broadcast(&st->cond);
  pthread_mutex_unlock(&st->mu);
  state_release(st);
}

/* ---- permissions: what the server refused (docs/bus.md "Permissions") ----
 * A publish the user may not make is dropped by the server, which tells
 * the connection asynchronously (-ERR 'Permissions Violation for Publish to
 * "<subject>"'); a JetStream publish or KV write then waits for an ack that
 * never comes. The handler logs the server's words (subjects only, never
 * credentials); bus_refused turns such a timeout into COIN_EREJECTED. */
static void on_async_error(natsConnection *nc, natsSubscription *sub,
                           natsStatus err, void *closure) {
  (void)sub;
  (void)closure;
  const char *text = NULL;
  natsStatus last = natsConnection_GetLastError(nc, &text);
  if (last != err || text == NULL || text[0] == '\0')
    text = natsStatus_GetText(err);
  if (err == NATS_NOT_PERMITTED)
    COIN_LOG_WARN("NATS server refused", COIN_LOG_STR("error", text));
  else
    COIN_LOG_WARN("NATS asynchronous error", COIN_LOG_STR("error", text));
}

int bus_refused(struct coin_bus *bus, natsStatus s, const char *subject,
                const char *what) {
  if (bus == NULL || subject == NULL ||
      (s != NATS_TIMEOUT && s != NATS_NOT_PERMITTED))
    return 0;
  const char *text = NULL;
  if (natsConnection_GetLastError(bus->nc, &text) != NATS_NOT_PERMITTED ||
      text == NULL)
    return 0;
  char quoted[COIN_BUS_SUBJECT_MAX + 3];
  snprintf(quoted, sizeof(quoted), "\"%s\"", subject);
  if (strstr(text, "Publish") == NULL || strstr(text, quoted) == NULL)
    return 0;
  return coin_error_set(COIN_EREJECTED,
                        "%s %s: refused by the NATS server (%s)", what, subject,
                        text);
}

void bus_copies_left_to_owner(const char *stream, int64_t have, int64_t want) {
  COIN_LOG_WARN("stream keeps its number of copies: this user may not "
                "change it, its owner will",
                COIN_LOG_STR("stream", stream), COIN_LOG_INT("replicas", have),
                COIN_LOG_INT("wanted", want),
                COIN_LOG_STR("error", coin_error_last()));
  coin_error_clear();
}

void coin_bus_options_init(struct coin_bus_options *opts) {
  memset(opts, 0, sizeof(*opts));
  opts->connect_timeout_ms = 2000;
  opts->reconnect_wait_ms = 2000;
  opts->reconnect_buffer_bytes = 8 * 1024 * 1024;
  opts->request_timeout_ms = 5000;
}

/* Splits "a, b,c" into trimmed copies in urls[] (caller frees). */
static int split_urls(char **urls, int *out_n, const char *list) {
  int n = 0;
  const char *p = list;
  while (*p) {
    while (*p == ' ' || *p == '\t')
      p++;
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    size_t trimmed = len;
    while (trimmed > 0 && (p[trimmed - 1] == ' ' || p[trimmed - 1] == '\t'))
      trimmed--;
    if (trimmed == 0)
      return coin_error_set(COIN_EINVAL,
                            "url: entry %d of the comma list is empty", n + 1);
    if (trimmed > URL_MAX)
      return coin_error_set(COIN_EINVAL, "url: entry longer than %d bytes",
                            URL_MAX);
    if (n == COIN_BUS_URLS_MAX)
      return coin_error_set(COIN_EINVAL, "url: more than %d servers",
                            COIN_BUS_URLS_MAX);
    urls[n] = malloc(trimmed + 1);
    if (urls[n] == NULL)
      return coin_error_set(COIN_ENOMEM, "url: out of memory");
    memcpy(urls[n], p, trimmed);
    urls[n][trimmed] = '\0';
    n++;
    *out_n = n;
    p += len;
    if (*p == ',')
      p++;
    else
      break;
  }
  if (n == 0)
    return coin_error_set(COIN_EINVAL, "url: empty (want nats://host:port)");
  return 0;
}

static int check_options(const struct coin_bus_options *o) {
  int rc;
  if (o->url == NULL || o->url[0] == '\0')
    return coin_error_set(COIN_EINVAL, "url: empty (want nats://host:port)");
  if ((o->user == NULL) != (o->password == NULL))
    return coin_error_set(COIN_EINVAL,
                          "user/password: both or neither must be set");
  if ((rc = bus_check_ms("connect_timeout_ms", o->connect_timeout_ms)) ||
      (rc = bus_check_ms("reconnect_wait_ms", o->reconnect_wait_ms)) ||
      (rc = bus_check_ms("request_timeout_ms", o->request_timeout_ms)))
    return rc;
  if (o->replicas < 0 || o->replicas > 5)
    return coin_error_set(COIN_EINVAL, "replicas=%d: want 1..5", o->replicas);
  if (o->reconnect_buffer_bytes < 0)
    return coin_error_set(COIN_EINVAL,
                          "reconnect_buffer_bytes=%d: must be >= 0",
                          o->reconnect_buffer_bytes);
  return 0;
}

#define NATS_TRY(expr, what)                                                   \
  do {                                                                         \
    natsStatus s_ = (expr);                                                    \
    if (s_ != NATS_OK) {                                                       \
      rc = bus_nats_error(s_, 0, what);                                        \
      goto out;                                                                \
    }                                                                          \
  } while (0)

/* "_INBOX.<user>" when user is a valid subject token ([A-Za-z0-9_-], at
 * most COIN_BUS_NAME_MAX): the per-user reply prefix; false otherwise (the
 * default _INBOX then). */
static bool inbox_prefix(char *out, size_t out_bytes, const char *user) {
  size_t n = strlen(user);
  if (n == 0 || n > COIN_BUS_NAME_MAX)
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = user[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return false;
  }
  snprintf(out, out_bytes, "_INBOX.%s", user);
  return true;
}

/* The user of the first url with "user:password@" into out (a token alone,
 * "token@", names no user): credentials given in NATS_URL get the same
 * per-user reply prefix as opts->user, else the role table refuses the
 * default _INBOX. False when no url names a user. */
static bool url_user(char *out, size_t out_bytes, char *const *urls, int n) {
  for (int i = 0; i < n; i++) {
    const char *p = strstr(urls[i], "://");
    p = p ? p + 3 : urls[i];
    const char *at = strchr(p, '@');
    const char *colon = at ? memchr(p, ':', (size_t)(at - p)) : NULL;
    if (colon && colon > p && (size_t)(colon - p) < out_bytes) {
      memcpy(out, p, (size_t)(colon - p));
      out[colon - p] = '\0';
      return true;
    }
  }
  return false;
}

int coin_bus_connect(struct coin_bus **out,
                     const struct coin_bus_options *opts) {
  int rc = 0;
  natsOptions *no = NULL;
  natsConnection *nc = NULL;
  jsCtx *js = NULL;
  struct coin_bus *bus = NULL;
  struct bus_conn_state *st = NULL;
  char *urls[COIN_BUS_URLS_MAX] = {0};
  int nurls = 0;

  if (out == NULL || opts == NULL)
    return coin_error_set(COIN_EINVAL, "coin_bus_connect: NULL argument");
  if ((rc = check_options(opts)) != 0)
    return rc;
  if ((rc = split_urls(urls, &nurls, opts->url)) != 0)
    goto out;

  bus = calloc(1, sizeof(*bus));
  st = calloc(1, sizeof(*st));
  if (bus == NULL || st == NULL) {
    rc = coin_error_set(COIN_ENOMEM, "bus: out of memory");
    goto out;
  }
  atomic_init(&st->state, STATE_UNKNOWN);
  atomic_init(&st->reconnects, 0);
  atomic_init(&st->refs, 1);
  pthread_mutex_init(&bus->probe_mu, NULL);
  pthread_mutex_init(&st->mu, NULL);
  pthread_cond_init(&st->cond, NULL);
  st->on_state = opts->on_state;
  st->on_state_closure = opts->on_state_closure;
  bus->request_timeout_ms =
      opts->request_timeout_ms > 0 ? opts->request_timeout_ms : 5000;
  bus->replicas = opts->replicas > 0 ? opts->replicas : 1;

  NATS_TRY(natsOptions_Create(&no), "nats options");
  NATS_TRY(natsOptions_SetServers(no, (const char **)urls, nurls), "url");
  char inbox[COIN_BUS_NAME_MAX + 16];
  char url_usr[COIN_BUS_NAME_MAX + 1];
  if (opts->user) {
    NATS_TRY(natsOptions_SetUserInfo(no, opts->user, opts->password),
             "user/password");
    /* replies come to _INBOX.<user>.>: with the role table a user may
     * subscribe there only, so nobody reads another user's replies */
    if (inbox_prefix(inbox, sizeof(inbox), opts->user))
      NATS_TRY(natsOptions_SetCustomInboxPrefix(no, inbox), "inbox prefix");
  } else if (url_user(url_usr, sizeof(url_usr), urls, nurls) &&
             inbox_prefix(inbox, sizeof(inbox), url_usr)) {
    NATS_TRY(natsOptions_SetCustomInboxPrefix(no, inbox), "inbox prefix");
  }
  if (opts->token)
    NATS_TRY(natsOptions_SetToken(no, opts->token), "token");
  if (opts->creds_file)
    NATS_TRY(
        natsOptions_SetUserCredentialsFromFiles(no, opts->creds_file, NULL),
        "creds_file");
  if (opts->tls_ca_file) {
    NATS_TRY(natsOptions_SetSecure(no, true), "tls");
    NATS_TRY(natsOptions_LoadCATrustedCertificates(no, opts->tls_ca_file),
             "tls_ca_file");
  }
  if (opts->name)
    NATS_TRY(natsOptions_SetName(no, opts->name), "name");
  NATS_TRY(natsOptions_SetTimeout(no, opts->connect_timeout_ms > 0
                                          ? opts->connect_timeout_ms
                                          : 2000),
           "connect_timeout_ms");
  NATS_TRY(natsOptions_SetAllowReconnect(no, true), "reconnect");
  NATS_TRY(natsOptions_SetMaxReconnect(no, -1), "reconnect"); /* forever */
  NATS_TRY(natsOptions_SetReconnectWait(no, opts->reconnect_wait_ms > 0
                                                ? opts->reconnect_wait_ms
                                                : 2000),
           "reconnect_wait_ms");
  NATS_TRY(natsOptions_SetReconnectBufSize(no, opts->reconnect_buffer_bytes),
           "reconnect_buffer_bytes");
  /* Find a half-open TCP connection within a minute, not nats.c's 4. */
  NATS_TRY(natsOptions_SetPingInterval(no, PING_INTERVAL_MS), "ping");
  NATS_TRY(natsOptions_SetMaxPingsOut(no, MAX_PINGS_OUT), "ping");
  NATS_TRY(natsOptions_SetDisconnectedCB(no, on_disconnected, st), "cb");
  NATS_TRY(natsOptions_SetReconnectedCB(no, on_reconnected, st), "cb");
  NATS_TRY(natsOptions_SetClosedCB(no, on_closed, st), "cb");
  NATS_TRY(natsOptions_SetErrorHandler(no, on_async_error, NULL), "cb");
  if (opts->retry_on_failed_connect)
    NATS_TRY(natsOptions_SetRetryOnFailedConnect(no, true, on_connected, st),
             "retry");

  atomic_fetch_add(&st->refs, 1); /* for on_closed, if a connection exists */
  natsStatus s = natsConnection_Connect(&nc, no);
  if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED) {
    atomic_fetch_sub(&st->refs, 1); /* no connection, no callbacks */
    char shown[URL_MAX];
    coin_redact_urls(shown, sizeof(shown), opts->url);
    rc = bus_nats_error(s, 0, "nats");
    coin_error_wrap(rc, "connect %s", shown);
    goto out;
  }
  int unknown = STATE_UNKNOWN;
  atomic_compare_exchange_strong(&st->state, &unknown,
                                 s == NATS_OK ? COIN_BUS_CONNECTED
                                              : COIN_BUS_DISCONNECTED);
  bus->nc = nc;
  bus->st = st;
  st = NULL;

  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = bus->request_timeout_ms;
  NATS_TRY(natsConnection_JetStream(&js, nc, &jo), "jetstream context");
  bus->js = js;
  *out = bus;
  bus = NULL;

out:
  for (int i = 0; i < nurls; i++)
    free(urls[i]);
  natsOptions_Destroy(no);
  coin_bus_free(bus);
  state_release(st);
  return rc;
}

bool coin_bus_connected(const struct coin_bus *bus) {
  return bus && atomic_load(&bus->st->state) == COIN_BUS_CONNECTED;
}

enum coin_bus_state coin_bus_state(const struct coin_bus *bus) {
  if (bus == NULL)
    return COIN_BUS_CLOSED;
  int s = atomic_load(&bus->st->state);
  return s == STATE_UNKNOWN ? COIN_BUS_DISCONNECTED : (enum coin_bus_state)s;
}

uint64_t coin_bus_reconnects(const struct coin_bus *bus) {
  return bus ? (uint64_t)atomic_load(&bus->st->reconnects) : 0;
}

static void wait_closed(struct bus_conn_state *st, int64_t timeout_ms) {
  struct timespec deadline = coin_deadline_ts(CLOCK_REALTIME, timeout_ms);
  pthread_mutex_lock(&st->mu);
  while (!st->closed) {
    if (pthread_cond_timedwait(&st->cond, &st->mu, &deadline) != 0)
      break;
  }
  pthread_mutex_unlock(&st->mu);
}

void coin_bus_free(struct coin_bus *bus) {
  if (bus == NULL)
    return;
  if (bus->js)
    jsCtx_Destroy(bus->js);
  if (bus->nc) {
    /* Drain delivers what subscriptions hold and flushes publishes; when
     * not connected there is nothing to drain, so just close. */
    if (natsConnection_Status(bus->nc) != NATS_CONN_STATUS_CONNECTED ||
        natsConnection_DrainTimeout(bus->nc, DRAIN_TIMEOUT_MS) != NATS_OK)
      natsConnection_Close(bus->nc);
    if (bus->st)
      wait_closed(bus->st, FREE_WAIT_MS);
    natsConnection_Destroy(bus->nc);
  }
  state_release(bus->st);
  pthread_mutex_destroy(&bus->probe_mu);
  free(bus);
}

void coin_bus_shutdown(void) {
  /* Waits for nats.c's threads so valgrind sees them gone. */
  if (nats_CloseAndWait(FREE_WAIT_MS) != NATS_OK)
    nats_Close();
}

/* ---- messages ----------------------------------------------------------- */

void bus_msg_load_meta(struct coin_bus_msg *m) {
  const char *reply = natsMsg_GetReply(m->nm);
  if (reply == NULL || strncmp(reply, "$JS.ACK.", 8) != 0)
    return;
  jsMsgMetaData *meta = NULL;
  if (natsMsg_GetMetaData(&meta, m->nm) != NATS_OK)
    return;
  m->stream_seq = meta->Sequence.Stream;
  m->num_delivered = meta->NumDelivered;
  m->timestamp_ms = meta->Timestamp / NANOS_PER_MS;
  jsMsgMetaData_Destroy(meta);
}

const char *coin_bus_msg_subject(const struct coin_bus_msg *msg) {
  const char *s = msg ? natsMsg_GetSubject(msg->nm) : NULL;
  return s ? s : "";
}

const unsigned char *coin_bus_msg_data(const struct coin_bus_msg *msg) {
  return msg ? (const unsigned char *)natsMsg_GetData(msg->nm) : NULL;
}

size_t coin_bus_msg_len(const struct coin_bus_msg *msg) {
  int n = msg ? natsMsg_GetDataLength(msg->nm) : 0;
  return n > 0 ? (size_t)n : 0;
}

const char *coin_bus_msg_header(const struct coin_bus_msg *msg,
                                const char *key) {
  const char *value = NULL;
  if (msg == NULL || key == NULL)
    return NULL;
  if (natsMsgHeader_Get(msg->nm, key, &value) != NATS_OK)
    return NULL;
  return value;
}

int coin_bus_msg_headers(const struct coin_bus_msg *msg,
                         void (*fn)(const char *key, const char *value,
                                    void *closure),
                         void *closure) {
  const char **keys = NULL;
  int nkeys = 0, visited = 0;
  if (msg == NULL || fn == NULL)
    return 0;
  if (natsMsgHeader_Keys(msg->nm, &keys, &nkeys) != NATS_OK)
    return 0;
  for (int i = 0; i < nkeys; i++) {
    const char **values = NULL;
    int nvalues = 0;
    if (natsMsgHeader_Values(msg->nm, keys[i], &values, &nvalues) != NATS_OK)
      continue;
    for (int j = 0; j < nvalues; j++, visited++)
      fn(keys[i], values[j], closure);
    free((void *)values);
  }
  free((void *)keys);
  return visited;
}

uint64_t coin_bus_msg_stream_seq(const struct coin_bus_msg *msg) {
  return msg ? msg->stream_seq : 0;
}

uint64_t coin_bus_msg_num_delivered(const struct coin_bus_msg *msg) {
  return msg ? msg->num_delivered : 0;
}

int64_t coin_bus_msg_timestamp_ms(const struct coin_bus_msg *msg) {
  return msg ? msg->timestamp_ms : 0;
}

static int msg_ackable(struct coin_bus_msg *msg, const char *what) {
  if (msg == NULL)
    return coin_error_set(COIN_EINVAL, "%s: NULL message", what);
  if (msg->sub == NULL)
    return coin_error_set(COIN_EINVAL, "%s %s: not a fetched JetStream message",
                          what, coin_bus_msg_subject(msg));
  return 0;
}

int coin_bus_msg_ack(struct coin_bus_msg *msg) {
  int rc = msg_ackable(msg, "ack");
  if (rc)
    return rc;
  jsErrCode jerr = 0;
  natsStatus s = natsMsg_AckSync(msg->nm, NULL, &jerr);
  if (s != NATS_OK)
    return bus_nats_error(s, (int)jerr, "ack");
  return 0;
}

enum reply { REPLY_NAK, REPLY_TERM, REPLY_IN_PROGRESS };

/* One of the negative or interim acknowledgements of a JetStream message. */
static int msg_reply(struct coin_bus_msg *msg, enum reply kind,
                     int64_t delay_ms) {
  static const char *const what[] = {"nak", "term", "in_progress"};
  int rc = msg_ackable(msg, what[kind]);
  if (rc)
    return rc;
  natsStatus s;
  switch (kind) {
  case REPLY_NAK:
    if ((rc = bus_check_ms("nak delay_ms", delay_ms)) != 0)
      return rc;
    s = delay_ms > 0 ? natsMsg_NakWithDelay(msg->nm, delay_ms, NULL)
                     : natsMsg_Nak(msg->nm, NULL);
    break;
  case REPLY_TERM: s = natsMsg_Term(msg->nm, NULL); break;
  default: s = natsMsg_InProgress(msg->nm, NULL); break;
  }
  return s == NATS_OK ? 0 : bus_nats_error(s, 0, what[kind]);
}

int coin_bus_msg_nak(struct coin_bus_msg *msg, int64_t delay_ms) {
  return msg_reply(msg, REPLY_NAK, delay_ms);
}

int coin_bus_msg_term(struct coin_bus_msg *msg) {
  return msg_reply(msg, REPLY_TERM, 0);
}

int coin_bus_msg_in_progress(struct coin_bus_msg *msg) {
  return msg_reply(msg, REPLY_IN_PROGRESS, 0);
}

/* A message holds a reference on its subscription (bus_js.c binds them),
 * so the subscription outlives the messages fetched from it. */
void bus_sub_release(struct coin_bus_sub *sub) {
  if (sub == NULL)
    return;
  if (atomic_fetch_sub(&sub->refs, 1) == 1) {
    natsSubscription_Destroy(sub->ns);
    free(sub);
  }
}

void coin_bus_msg_free(struct coin_bus_msg *msg) {
  if (msg == NULL || msg->borrowed)
    return;
  natsMsg_Destroy(msg->nm);
  bus_sub_release(msg->sub);
  free(msg);
}

/* ---- core publish ------------------------------------------------------- */

static int check_headers(const struct coin_bus_header *h, size_t n) {
  if (n > 0 && h == NULL)
    return coin_error_set(COIN_EINVAL, "headers: NULL with headers_len=%zu", n);
  if (n > COIN_BUS_HEADERS_MAX)
    return coin_error_set(COIN_EINVAL, "headers_len=%zu: more than %d", n,
                          COIN_BUS_HEADERS_MAX);
  for (size_t i = 0; i < n; i++) {
    const char *k = h[i].key, *v = h[i].value;
    if (k == NULL || k[0] == '\0' || v == NULL)
      return coin_error_set(COIN_EINVAL, "header %zu: empty key or NULL value",
                            i);
    size_t kn = strnlen(k, HEADER_KEY_MAX + 1);
    if (kn > HEADER_KEY_MAX)
      return coin_error_set(COIN_EINVAL, "header %zu: key longer than %d", i,
                            HEADER_KEY_MAX);
    for (size_t j = 0; j < kn; j++)
      if ((unsigned char)k[j] <= ' ' || (unsigned char)k[j] >= 0x7f ||
          k[j] == ':')
        return coin_error_set(COIN_EINVAL,
                              "header key '%s': byte %zu is not printable "
                              "ASCII or is ':'",
                              k, j);
    size_t vn = strnlen(v, HEADER_VALUE_MAX + 1);
    if (vn > HEADER_VALUE_MAX)
      return coin_error_set(COIN_EINVAL, "header %s: value longer than %d", k,
                            HEADER_VALUE_MAX);
    if (strpbrk(v, "\r\n"))
      return coin_error_set(COIN_EINVAL, "header %s: value contains CR or LF",
                            k);
  }
  return 0;
}

int bus_build_msg(natsMsg **out, const char *subject,
                  const struct coin_bus_header *headers, size_t headers_len,
                  const void *data, size_t len) {
  int rc;
  natsMsg *nm = NULL;
  if ((rc = bus_check_subject("subject", subject, false)) != 0 ||
      (rc = check_headers(headers, headers_len)) != 0)
    return rc;
  if (len > COIN_BUS_DATA_MAX)
    return coin_error_set(COIN_ETOOBIG, "publish %s: %zu bytes > cap %d",
                          subject, len, COIN_BUS_DATA_MAX);
  if (len > 0 && data == NULL)
    return coin_error_set(COIN_EINVAL, "publish %s: NULL data, len %zu",
                          subject, len);
  natsStatus s =
      natsMsg_Create(&nm, subject, NULL, (const char *)data, (int)len);
  for (size_t i = 0; s == NATS_OK && i < headers_len; i++)
    s = natsMsgHeader_Add(nm, headers[i].key, headers[i].value);
  if (s != NATS_OK) {
    natsMsg_Destroy(nm);
    return bus_nats_error(s, 0, "message");
  }
  *out = nm;
  return 0;
}

int coin_bus_publish(struct coin_bus *bus, const char *subject,
                     const void *data, size_t len) {
  return coin_bus_publish_msg(bus, subject, NULL, 0, data, len);
}

int coin_bus_publish_msg(struct coin_bus *bus, const char *subject,
                         const struct coin_bus_header *headers,
                         size_t headers_len, const void *data, size_t len) {
  natsMsg *nm = NULL;
  if (bus == NULL)
    return coin_error_set(COIN_EINVAL, "publish: NULL bus");
  int rc = bus_build_msg(&nm, subject, headers, headers_len, data, len);
  if (rc)
    return rc;
  natsStatus s = natsConnection_PublishMsg(bus->nc, nm);
  if (s != NATS_OK) {
    rc = bus_nats_error(s, 0, "publish");
    coin_error_wrap(rc, "subject %s", subject);
  }
  natsMsg_Destroy(nm);
  return rc;
}

/* ---- taps --------------------------------------------------------------- */

struct coin_bus_tap {
  natsSubscription *ns;
  coin_bus_msg_fn fn;
  void *closure;
  pthread_mutex_t mu;
  pthread_cond_t cond;
  bool done; /* delivery thread finished: no callback runs any more */
};

static void tap_on_msg(natsConnection *nc, natsSubscription *ns, natsMsg *nm,
                       void *closure) {
  (void)nc;
  (void)ns;
  struct coin_bus_tap *tap = closure;
  struct coin_bus_msg m = {.nm = nm, .borrowed = true};
  bus_msg_load_meta(&m);
  tap->fn(&m, tap->closure);
  natsMsg_Destroy(nm);
}

static void tap_on_complete(void *closure) {
  struct coin_bus_tap *tap = closure;
  pthread_mutex_lock(&tap->mu);
  tap->done = true;
  pthread_cond_broadcast(&tap->cond);
  pthread_mutex_unlock(&tap->mu);
}

/* Checks a tap's arguments and makes it (not subscribed yet). */
static int tap_new(struct coin_bus_tap **made, struct coin_bus_tap **out,
                   struct coin_bus *bus, const char *subject,
                   coin_bus_msg_fn fn, void *closure) {
  if (out == NULL || bus == NULL || fn == NULL)
    return coin_error_set(COIN_EINVAL, "tap: NULL argument");
  int rc = bus_check_subject("tap subject", subject, true);
  if (rc != 0)
    return rc;
  struct coin_bus_tap *tap = calloc(1, sizeof(*tap));
  if (tap == NULL)
    return coin_error_set(COIN_ENOMEM, "tap: out of memory");
  tap->fn = fn;
  tap->closure = closure;
  pthread_mutex_init(&tap->mu, NULL);
  pthread_cond_init(&tap->cond, NULL);
  *made = tap;
  return 0;
}

static int tap_finish(struct coin_bus_tap **out, struct coin_bus_tap *tap,
                      natsSubscription *ns, natsStatus s, int jerr,
                      const char *subject) {
  int rc = 0;
  if (s != NATS_OK) {
    rc = bus_nats_error(s, jerr, "subscribe");
    coin_error_wrap(rc, "tap %s", subject);
    tap->done = true;
    coin_bus_tap_free(tap);
    return rc;
  }
  tap->ns = ns;
  /* If the subscription is already closed, no callback will ever come. */
  if (natsSubscription_SetOnCompleteCB(ns, tap_on_complete, tap) != NATS_OK)
    tap->done = true;
  *out = tap;
  return 0;
}

int coin_bus_tap_core(struct coin_bus_tap **out, struct coin_bus *bus,
                      const char *subject, coin_bus_msg_fn fn, void *closure) {
  struct coin_bus_tap *tap = NULL;
  int rc = tap_new(&tap, out, bus, subject, fn, closure);
  if (rc != 0)
    return rc;
  natsSubscription *ns = NULL;
  natsStatus s =
      natsConnection_Subscribe(&ns, bus->nc, subject, tap_on_msg, tap);
  return tap_finish(out, tap, ns, s, 0, subject);
}

int coin_bus_tap_stream(struct coin_bus_tap **out, struct coin_bus *bus,
                        const char *subject, uint64_t start_seq,
                        coin_bus_msg_fn fn, void *closure) {
  struct coin_bus_tap *tap = NULL;
  int rc = tap_new(&tap, out, bus, subject, fn, closure);
  if (rc != 0)
    return rc;
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Ordered = true;
  if (start_seq == 0) {
    so.Config.DeliverPolicy = js_DeliverNew;
  } else if (start_seq == 1) {
    so.Config.DeliverPolicy = js_DeliverAll;
  } else {
    so.Config.DeliverPolicy = js_DeliverByStartSequence;
    so.Config.OptStartSeq = start_seq;
  }
  natsSubscription *ns = NULL;
  jsErrCode jerr = 0;
  natsStatus s =
      js_Subscribe(&ns, bus->js, subject, tap_on_msg, tap, NULL, &so, &jerr);
  return tap_finish(out, tap, ns, s, (int)jerr, subject);
}

void coin_bus_tap_free(struct coin_bus_tap *tap) {
  if (tap == NULL)
    return;
  bool done = true;
  if (tap->ns) {
    natsSubscription_Unsubscribe(tap->ns); /* fails if already closed: ok */
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += FREE_WAIT_MS / 1000;
    pthread_mutex_lock(&tap->mu);
    while (!tap->done)
      if (pthread_cond_timedwait(&tap->cond, &tap->mu, &deadline) != 0)
        break;
    done = tap->done;
    pthread_mutex_unlock(&tap->mu);
    natsSubscription_Destroy(tap->ns);
  }
  /* A callback stuck past the deadline still uses tap: leak it rather
   * than free memory under a running callback. */
  if (!done)
    return;
  pthread_cond_destroy(&tap->cond);
  pthread_mutex_destroy(&tap->mu);
  free(tap);
}
