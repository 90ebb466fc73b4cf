/*
 * bus_js.c: JetStream over nats.c: idempotent stream and durable pull
 * consumer management, bound pull subscriptions with fetch, and publish with
 * Nats-Msg-Id dedup. Thread model: one thread per coin_bus_sub at a time;
 * management calls may run from any thread. Ownership: fetched messages
 * hold a reference on their coin_bus_sub (see bus_int.h).
 */
#include "bus_int.h"

#include "coin/error.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_DUP_WINDOW_MS INT64_C(120000)
#define DEFAULT_ACK_WAIT_MS INT64_C(30000)
#define DEFAULT_MAX_ACK_PENDING 1000
#define STREAM_SUBJECTS_MAX 64
#define MSG_ID_MAX 256

/* ---- streams ------------------------------------------------------------ */

static int check_stream_config(const struct coin_bus_stream_config *c) {
  int rc;
  if ((rc = bus_check_name("stream name", c->name)) != 0)
    return rc;
  if (c->subjects_len == 0 || c->subjects == NULL)
    return coin_error_set(COIN_EINVAL, "stream %s: subjects: none given",
                          c->name);
  if (c->subjects_len > STREAM_SUBJECTS_MAX)
    return coin_error_set(COIN_EINVAL,
                          "stream %s: subjects_len=%zu: more than %d", c->name,
                          c->subjects_len, STREAM_SUBJECTS_MAX);
  for (size_t i = 0; i < c->subjects_len; i++)
    if ((rc = bus_check_subject("stream subject", c->subjects[i], true)) != 0)
      return coin_error_wrap(rc, "stream %s", c->name);
  if ((rc = bus_check_ms("duplicate_window_ms", c->duplicate_window_ms)) ||
      (rc = bus_check_ms("max_age_ms", c->max_age_ms)))
    return coin_error_wrap(rc, "stream %s", c->name);
  if (c->max_msg_bytes < 0)
    return coin_error_set(COIN_EINVAL,
                          "stream %s: max_msg_bytes=%d: must be >= 0", c->name,
                          (int)c->max_msg_bytes);
  if (c->max_bytes < 0)
    return coin_error_set(COIN_EINVAL,
                          "stream %s: max_bytes=%lld: must be >= 0", c->name,
                          (long long)c->max_bytes);
  if (c->duplicate_window_ms > 0 && c->max_age_ms > 0 &&
      c->duplicate_window_ms > c->max_age_ms)
    return coin_error_set(COIN_EINVAL,
                          "stream %s: duplicate_window_ms=%lld exceeds "
                          "max_age_ms=%lld",
                          c->name, (long long)c->duplicate_window_ms,
                          (long long)c->max_age_ms);
  return 0;
}

/* The wanted values of the fields the bus manages. */
static void stream_want(jsStreamConfig *w, const struct coin_bus *bus,
                        const struct coin_bus_stream_config *c) {
  jsStreamConfig_Init(w);
  int64_t dup_ms = c->duplicate_window_ms > 0 ? c->duplicate_window_ms
                                              : DEFAULT_DUP_WINDOW_MS;
  /* A defaulted window shrinks to a shorter max age (the server insists). */
  if (c->max_age_ms > 0 && dup_ms > c->max_age_ms)
    dup_ms = c->max_age_ms;
  w->Name = c->name;
  w->Subjects = (const char **)c->subjects;
  w->SubjectsLen = (int)c->subjects_len;
  w->Storage = js_FileStorage;
  w->Replicas = bus->replicas;
  w->Retention = js_LimitsPolicy;
  w->Duplicates = dup_ms * NANOS_PER_MS;
  w->MaxMsgSize = c->max_msg_bytes > 0 ? c->max_msg_bytes : -1;
  w->MaxAge = c->max_age_ms * NANOS_PER_MS;
  w->MaxBytes = c->max_bytes > 0 ? c->max_bytes : -1;
}

static bool has_subject(const jsStreamConfig *cfg, const char *subject) {
  for (int i = 0; i < cfg->SubjectsLen; i++)
    if (cfg->Subjects[i] && strcmp(cfg->Subjects[i], subject) == 0)
      return true;
  return false;
}

static bool stream_differs(const jsStreamConfig *have,
                           const jsStreamConfig *want) {
  if (have->SubjectsLen != want->SubjectsLen)
    return true;
  for (int i = 0; i < want->SubjectsLen; i++)
    if (!has_subject(have, want->Subjects[i]))
      return true;
  return have->Duplicates != want->Duplicates ||
         have->MaxMsgSize != want->MaxMsgSize || have->MaxAge != want->MaxAge ||
         have->MaxBytes != want->MaxBytes || have->Replicas != want->Replicas;
}

int coin_bus_stream_ensure(enum coin_bus_ensure *out, struct coin_bus *bus,
                           const struct coin_bus_stream_config *cfg) {
  int rc = 0;
  jsStreamInfo *si = NULL, *si2 = NULL;
  jsErrCode jerr = 0;
  jsStreamConfig want;
  enum coin_bus_ensure action = COIN_BUS_UNCHANGED;

  if (bus == NULL || cfg == NULL)
    return coin_error_set(COIN_EINVAL, "stream ensure: NULL argument");
  if ((rc = check_stream_config(cfg)) != 0)
    return rc;
  stream_want(&want, bus, cfg);

  /* Two processes may race to create: the loser re-reads and compares. */
  for (int attempt = 0; attempt < 2; attempt++) {
    natsStatus s = js_GetStreamInfo(&si, bus->js, cfg->name, NULL, &jerr);
    if (s == NATS_NOT_FOUND) {
      s = js_AddStream(&si2, bus->js, &want, NULL, &jerr);
      if (s == NATS_OK) {
        action = COIN_BUS_CREATED;
        goto done;
      }
      if (jerr == JSStreamNameExistErr && attempt == 0)
        continue;
      rc = bus_nats_error(s, (int)jerr, "add stream");
      coin_error_wrap(rc, "stream %s", cfg->name);
      goto out;
    }
    if (s != NATS_OK) {
      rc = bus_nats_error(s, (int)jerr, "stream info");
      coin_error_wrap(rc, "stream %s", cfg->name);
      goto out;
    }
    break;
  }
  if (si == NULL || si->Config == NULL) {
    rc = coin_error_set(COIN_EINTERNAL, "stream %s: no config in info",
                        cfg->name);
    goto out;
  }
  if (si->Config->Storage != js_FileStorage) {
    rc = coin_error_set(COIN_EREJECTED,
                        "stream %s: storage is memory, want file (storage "
                        "cannot change in place; delete the stream)",
                        cfg->name);
    goto out;
  }
  if (stream_differs(si->Config, &want)) {
    /* Start from the server's config so fields we do not manage survive. */
    jsStreamConfig upd = *si->Config;
    jsStreamConfig same_copies = want;
    same_copies.Replicas = si->Config->Replicas;
    bool copies_only = !stream_differs(si->Config, &same_copies);
    upd.Subjects = want.Subjects;
    upd.SubjectsLen = want.SubjectsLen;
    upd.Duplicates = want.Duplicates;
    upd.MaxMsgSize = want.MaxMsgSize;
    upd.MaxAge = want.MaxAge;
    upd.MaxBytes = want.MaxBytes;
    upd.Replicas = want.Replicas;
    natsStatus s = js_UpdateStream(&si2, bus->js, &upd, NULL, &jerr);
    if (s != NATS_OK) {
      char api[COIN_BUS_SUBJECT_MAX + 1];
      snprintf(api, sizeof(api), "$JS.API.STREAM.UPDATE.%s", cfg->name);
      if ((rc = bus_refused(bus, s, api, "update stream")) != 0) {
        if (!copies_only)
          goto out;
        bus_copies_left_to_owner(cfg->name, si->Config->Replicas,
                                 want.Replicas);
        rc = 0; /* the stream as it is */
        goto done;
      }
      rc = bus_nats_error(s, (int)jerr, "update stream");
      coin_error_wrap(rc, "stream %s", cfg->name);
      goto out;
    }
    action = COIN_BUS_UPDATED;
  }
done:
  if (out)
    *out = action;
out:
  jsStreamInfo_Destroy(si);
  jsStreamInfo_Destroy(si2);
  return rc;
}

int coin_bus_stream_info(struct coin_bus_stream_info *out, struct coin_bus *bus,
                         const char *stream) {
  int rc;
  jsStreamInfo *si = NULL;
  jsErrCode jerr = 0;
  if (out == NULL || bus == NULL)
    return coin_error_set(COIN_EINVAL, "stream info: NULL argument");
  if ((rc = bus_check_name("stream name", stream)) != 0)
    return rc;
  natsStatus s = js_GetStreamInfo(&si, bus->js, stream, NULL, &jerr);
  if (s == NATS_NOT_FOUND)
    return coin_error_set(COIN_ENOTFOUND, "stream %s: not found", stream);
  if (s != NATS_OK) {
    rc = bus_nats_error(s, (int)jerr, "stream info");
    return coin_error_wrap(rc, "stream %s", stream);
  }
  struct coin_bus_stream_info info = {
      .msgs = si->State.Msgs,
      .bytes = si->State.Bytes,
      .first_seq = si->State.FirstSeq,
      .last_seq = si->State.LastSeq,
      .consumers = si->State.Consumers,
  };
  if (si->Config) {
    info.duplicate_window_ms = si->Config->Duplicates / NANOS_PER_MS;
    info.max_age_ms = si->Config->MaxAge / NANOS_PER_MS;
    info.max_msg_bytes = si->Config->MaxMsgSize;
    info.max_bytes = si->Config->MaxBytes;
    info.subjects_len = si->Config->SubjectsLen;
    info.replicas = (int)si->Config->Replicas;
  }
  jsStreamInfo_Destroy(si);
  *out = info;
  return 0;
}

int coin_bus_stream_delete(struct coin_bus *bus, const char *stream) {
  int rc;
  jsErrCode jerr = 0;
  if (bus == NULL)
    return coin_error_set(COIN_EINVAL, "stream delete: NULL bus");
  if ((rc = bus_check_name("stream name", stream)) != 0)
    return rc;
  natsStatus s = js_DeleteStream(bus->js, stream, NULL, &jerr);
  if (s == NATS_NOT_FOUND)
    return coin_error_set(COIN_ENOTFOUND, "stream %s: not found", stream);
  if (s != NATS_OK) {
    rc = bus_nats_error(s, (int)jerr, "delete stream");
    return coin_error_wrap(rc, "stream %s", stream);
  }
  return 0;
}

/* ---- consumers ---------------------------------------------------------- */

static int check_consumer_config(const struct coin_bus_consumer_config *c) {
  int rc;
  if ((rc = bus_check_name("consumer stream", c->stream)) != 0 ||
      (rc = bus_check_name("consumer durable", c->durable)) != 0)
    return rc;
  if (c->filter_subject &&
      (rc = bus_check_subject("filter_subject", c->filter_subject, true)) != 0)
    return coin_error_wrap(rc, "consumer %s", c->durable);
  if ((rc = bus_check_ms("ack_wait_ms", c->ack_wait_ms)) != 0)
    return coin_error_wrap(rc, "consumer %s", c->durable);
  if (c->max_deliver < 0)
    return coin_error_set(COIN_EINVAL,
                          "consumer %s: max_deliver=%lld: must be >= 0 (0 = "
                          "unlimited)",
                          c->durable, (long long)c->max_deliver);
  if (c->max_ack_pending < 0)
    return coin_error_set(COIN_EINVAL,
                          "consumer %s: max_ack_pending=%lld: must be >= 0",
                          c->durable, (long long)c->max_ack_pending);
  return 0;
}

static void consumer_want(jsConsumerConfig *w,
                          const struct coin_bus_consumer_config *c) {
  jsConsumerConfig_Init(w);
  w->Durable = c->durable;
  w->DeliverPolicy = js_DeliverAll;
  w->AckPolicy = js_AckExplicit;
  w->ReplayPolicy = js_ReplayInstant;
  w->AckWait = (c->ack_wait_ms > 0 ? c->ack_wait_ms : DEFAULT_ACK_WAIT_MS) *
               NANOS_PER_MS;
  w->MaxDeliver = c->max_deliver > 0 ? c->max_deliver : -1;
  w->MaxAckPending =
      c->max_ack_pending > 0 ? c->max_ack_pending : DEFAULT_MAX_ACK_PENDING;
  w->FilterSubject = c->filter_subject;
}

static bool str_eq_empty(const char *a, const char *b) {
  return strcmp(a ? a : "", b ? b : "") == 0;
}

static bool consumer_differs(const jsConsumerConfig *have,
                             const jsConsumerConfig *want) {
  return have->AckWait != want->AckWait ||
         have->MaxDeliver != want->MaxDeliver ||
         have->MaxAckPending != want->MaxAckPending ||
         have->DeliverPolicy != want->DeliverPolicy ||
         have->AckPolicy != want->AckPolicy ||
         !str_eq_empty(have->FilterSubject, want->FilterSubject);
}

int coin_bus_consumer_ensure(enum coin_bus_ensure *out, struct coin_bus *bus,
                             const struct coin_bus_consumer_config *cfg) {
  int rc = 0;
  jsConsumerInfo *ci = NULL, *ci2 = NULL;
  jsErrCode jerr = 0;
  jsConsumerConfig want;
  enum coin_bus_ensure action = COIN_BUS_UNCHANGED;

  if (bus == NULL || cfg == NULL)
    return coin_error_set(COIN_EINVAL, "consumer ensure: NULL argument");
  if ((rc = check_consumer_config(cfg)) != 0)
    return rc;
  consumer_want(&want, cfg);

  for (int attempt = 0; attempt < 2; attempt++) {
    natsStatus s = js_GetConsumerInfo(&ci, bus->js, cfg->stream, cfg->durable,
                                      NULL, &jerr);
    if (s == NATS_NOT_FOUND && jerr != JSStreamNotFoundErr) {
      /* js_AddConsumer, never js_PullSubscribe: a consumer created by a
       * subscribe call is deleted when that subscription goes away. */
      s = js_AddConsumer(&ci2, bus->js, cfg->stream, &want, NULL, &jerr);
      if (s == NATS_OK) {
        action = COIN_BUS_CREATED;
        goto done;
      }
      if (jerr == JSConsumerNameExistErr && attempt == 0)
        continue;
      rc = bus_nats_error(s, (int)jerr, "add consumer");
      coin_error_wrap(rc, "consumer %s/%s", cfg->stream, cfg->durable);
      goto out;
    }
    if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr) {
      rc = coin_error_set(COIN_ENOTFOUND, "consumer %s/%s: stream not found",
                          cfg->stream, cfg->durable);
      goto out;
    }
    if (s != NATS_OK) {
      rc = bus_nats_error(s, (int)jerr, "consumer info");
      coin_error_wrap(rc, "consumer %s/%s", cfg->stream, cfg->durable);
      goto out;
    }
    break;
  }
  if (ci == NULL || ci->Config == NULL) {
    rc = coin_error_set(COIN_EINTERNAL, "consumer %s/%s: no config in info",
                        cfg->stream, cfg->durable);
    goto out;
  }
  if (ci->Config->DeliverSubject && ci->Config->DeliverSubject[0]) {
    rc = coin_error_set(COIN_EREJECTED,
                        "consumer %s/%s: exists as a push consumer (deliver "
                        "subject %s), want pull",
                        cfg->stream, cfg->durable, ci->Config->DeliverSubject);
    goto out;
  }
  if (consumer_differs(ci->Config, &want)) {
    natsStatus s =
        js_UpdateConsumer(&ci2, bus->js, cfg->stream, &want, NULL, &jerr);
    if (s != NATS_OK) {
      rc = bus_nats_error(s, (int)jerr, "update consumer");
      coin_error_wrap(rc, "consumer %s/%s", cfg->stream, cfg->durable);
      goto out;
    }
    action = COIN_BUS_UPDATED;
  }
done:
  if (out)
    *out = action;
out:
  jsConsumerInfo_Destroy(ci);
  jsConsumerInfo_Destroy(ci2);
  return rc;
}

int coin_bus_consumer_info(struct coin_bus_consumer_info *out,
                           struct coin_bus *bus, const char *stream,
                           const char *durable) {
  int rc;
  jsConsumerInfo *ci = NULL;
  jsErrCode jerr = 0;
  if (out == NULL || bus == NULL)
    return coin_error_set(COIN_EINVAL, "consumer info: NULL argument");
  if ((rc = bus_check_name("stream name", stream)) != 0 ||
      (rc = bus_check_name("durable", durable)) != 0)
    return rc;
  natsStatus s = js_GetConsumerInfo(&ci, bus->js, stream, durable, NULL, &jerr);
  if (s == NATS_NOT_FOUND)
    return coin_error_set(COIN_ENOTFOUND, "consumer %s/%s: not found", stream,
                          durable);
  if (s != NATS_OK) {
    rc = bus_nats_error(s, (int)jerr, "consumer info");
    return coin_error_wrap(rc, "consumer %s/%s", stream, durable);
  }
  struct coin_bus_consumer_info info = {
      .num_pending = ci->NumPending,
      .num_ack_pending = ci->NumAckPending,
      .num_redelivered = ci->NumRedelivered,
      .delivered_stream_seq = ci->Delivered.Stream,
      .ack_floor_stream_seq = ci->AckFloor.Stream,
  };
  if (ci->Config) {
    info.ack_wait_ms = ci->Config->AckWait / NANOS_PER_MS;
    info.max_deliver = ci->Config->MaxDeliver;
    info.max_ack_pending = ci->Config->MaxAckPending;
  }
  jsConsumerInfo_Destroy(ci);
  *out = info;
  return 0;
}

int coin_bus_consumer_delete(struct coin_bus *bus, const char *stream,
                             const char *durable) {
  int rc;
  jsErrCode jerr = 0;
  if (bus == NULL)
    return coin_error_set(COIN_EINVAL, "consumer delete: NULL bus");
  if ((rc = bus_check_name("stream name", stream)) != 0 ||
      (rc = bus_check_name("durable", durable)) != 0)
    return rc;
  natsStatus s = js_DeleteConsumer(bus->js, stream, durable, NULL, &jerr);
  if (s == NATS_NOT_FOUND)
    return coin_error_set(COIN_ENOTFOUND, "consumer %s/%s: not found", stream,
                          durable);
  if (s != NATS_OK) {
    rc = bus_nats_error(s, (int)jerr, "delete consumer");
    return coin_error_wrap(rc, "consumer %s/%s", stream, durable);
  }
  return 0;
}

/* ---- pull subscriptions ------------------------------------------------- */

int coin_bus_sub_bind(struct coin_bus_sub **out, struct coin_bus *bus,
                      const char *stream, const char *durable) {
  int rc;
  if (out == NULL || bus == NULL)
    return coin_error_set(COIN_EINVAL, "sub bind: NULL argument");
  if ((rc = bus_check_name("stream name", stream)) != 0 ||
      (rc = bus_check_name("durable", durable)) != 0)
    return rc;
  struct coin_bus_sub *sub = calloc(1, sizeof(*sub));
  if (sub == NULL)
    return coin_error_set(COIN_ENOMEM, "sub bind: out of memory");
  atomic_init(&sub->refs, 1);
  snprintf(sub->stream, sizeof(sub->stream), "%s", stream);
  snprintf(sub->durable, sizeof(sub->durable), "%s", durable);

  /* Binding (Stream + Consumer) never creates, so never deletes either. */
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = stream;
  so.Consumer = durable;
  jsErrCode jerr = 0;
  natsStatus s =
      js_PullSubscribe(&sub->ns, bus->js, NULL, NULL, NULL, &so, &jerr);
  if (s == NATS_NOT_FOUND) {
    free(sub);
    return coin_error_set(COIN_ENOTFOUND,
                          "bind %s/%s: consumer or stream not found", stream,
                          durable);
  }
  if (s != NATS_OK) {
    free(sub);
    rc = bus_nats_error(s, (int)jerr, "pull subscribe");
    return coin_error_wrap(rc, "bind %s/%s", stream, durable);
  }
  *out = sub;
  return 0;
}

int coin_bus_fetch(struct coin_bus_msg **out, size_t *out_len,
                   struct coin_bus_sub *sub, int max_msgs, int64_t timeout_ms) {
  int rc = 0;
  natsMsgList list = {0};
  if (out == NULL || out_len == NULL || sub == NULL)
    return coin_error_set(COIN_EINVAL, "fetch: NULL argument");
  if (max_msgs < 1 || max_msgs > COIN_BUS_FETCH_MAX)
    return coin_error_set(COIN_EINVAL, "fetch: max_msgs=%d: must be 1..%d",
                          max_msgs, COIN_BUS_FETCH_MAX);
  if (timeout_ms < 1 || timeout_ms > MS_MAX)
    return coin_error_set(COIN_EINVAL, "fetch: timeout_ms=%lld: must be >= 1",
                          (long long)timeout_ms);
  jsErrCode jerr = 0;
  natsStatus s =
      natsSubscription_Fetch(&list, sub->ns, max_msgs, timeout_ms, &jerr);
  if (s == NATS_TIMEOUT)
    return coin_error_set(COIN_ETIMEOUT,
                          "fetch %s/%s: no message within %lld ms", sub->stream,
                          sub->durable, (long long)timeout_ms);
  if (s != NATS_OK) {
    rc = bus_nats_error(s, (int)jerr, "fetch");
    return coin_error_wrap(rc, "fetch %s/%s", sub->stream, sub->durable);
  }
  size_t n = 0;
  for (int i = 0; i < list.Count; i++) {
    struct coin_bus_msg *m = calloc(1, sizeof(*m));
    if (m == NULL) {
      /* Unreturned messages are redelivered after ack_wait. */
      rc = coin_error_set(COIN_ENOMEM, "fetch: out of memory");
      break;
    }
    m->nm = list.Msgs[i];
    list.Msgs[i] = NULL;
    m->sub = sub;
    atomic_fetch_add(&sub->refs, 1);
    bus_msg_load_meta(m);
    out[n++] = m;
  }
  natsMsgList_Destroy(&list);
  if (rc != 0) {
    for (size_t i = 0; i < n; i++)
      coin_bus_msg_free(out[i]);
    return rc;
  }
  *out_len = n;
  return 0;
}

void coin_bus_sub_free(struct coin_bus_sub *sub) {
  if (sub == NULL)
    return;
  /* Stops interest only: the durable consumer was not created by this
   * subscription, so nats.c does not delete it. */
  natsSubscription_Unsubscribe(sub->ns);
  bus_sub_release(sub);
}

/* ---- JetStream publish -------------------------------------------------- */

int coin_bus_js_publish(struct coin_bus_pub_ack *out, struct coin_bus *bus,
                        const char *subject, const char *msg_id,
                        const void *data, size_t len) {
  return coin_bus_js_publish_msg(out, bus, subject, msg_id, NULL, 0, data, len);
}

int coin_bus_js_publish_msg(struct coin_bus_pub_ack *out, struct coin_bus *bus,
                            const char *subject, const char *msg_id,
                            const struct coin_bus_header *headers,
                            size_t headers_len, const void *data, size_t len) {
  int rc;
  natsMsg *nm = NULL;
  jsPubAck *pa = NULL;
  if (bus == NULL)
    return coin_error_set(COIN_EINVAL, "js publish: NULL bus");
  if (msg_id) {
    size_t n = strnlen(msg_id, MSG_ID_MAX + 1);
    if (n == 0 || n > MSG_ID_MAX || strpbrk(msg_id, "\r\n"))
      return coin_error_set(COIN_EINVAL,
                            "msg_id '%.64s': must be 1..%d bytes without CR/LF",
                            msg_id, MSG_ID_MAX);
  }
  if ((rc = bus_build_msg(&nm, subject, headers, headers_len, data, len)) != 0)
    return rc;
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MsgId = msg_id;
  po.MaxWait = bus->request_timeout_ms;
  jsErrCode jerr = 0;
  natsStatus s = js_PublishMsg(&pa, bus->js, nm, &po, &jerr);
  if (s == NATS_NO_RESPONDERS) {
    rc = coin_error_set(COIN_EUNAVAIL,
                        "js publish %s: no stream answered (none listens on "
                        "the subject, or JetStream is down)",
                        subject);
    goto out;
  }
  if (s != NATS_OK) {
    if ((rc = bus_refused(bus, s, subject, "js publish")) != 0)
      goto out;
    rc = bus_nats_error(s, (int)jerr, "js publish");
    coin_error_wrap(rc, "subject %s", subject);
    goto out;
  }
  if (out) {
    out->stream_seq = pa->Sequence;
    out->duplicate = pa->Duplicate;
  }
out:
  jsPubAck_Destroy(pa);
  natsMsg_Destroy(nm);
  return rc;
}
