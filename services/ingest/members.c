/*
 * members.c: coin-ingest replicas share the configured series with no
 * per-replica configuration (docs/scaling.md). Each replica writes a
 * heartbeat under member.<id> in KV coin_ingest every third of
 * INGEST_MEMBER_TTL_SECONDS and lists the others; a member whose value did
 * not change for the TTL (on this replica's monotonic clock) is gone. Each
 * series belongs to the live member with the highest rendezvous hash of
 * (member, series), so a member's leave moves only its own series and a new
 * member takes an even share. A new replica owns nothing until the others
 * have seen it (a third of the TTL), so the old owner hands over rather
 * than racing. Two replicas that briefly both own a series (views differ
 * for one heartbeat) stay harmless: the watermark CAS decides and counts
 * (coin_ingest_watermark_conflicts_total), batches carry the same message
 * ids (JetStream drops the copy).
 * Threads: ingest_run's thread beats and recomputes; the owned flags are
 * under in->lock; the gauges are atomics.
 */
#include "ingest_int.h"

#include "coin/clock.h"
#include "coin/error.h"
#include "coin/log.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A KV key token from SERVICE_ID: [A-Za-z0-9_-], others become '-'. */
static void member_id(char *out, size_t n, const char *service_id) {
  size_t k = 0;
  for (const char *p = service_id; *p && k + 1 < n; p++) {
    char c = *p;
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-';
    out[k++] = ok ? c : '-';
  }
  out[k] = '\0';
  if (k == 0)
    snprintf(out, n, "ingest");
}

/* Rendezvous weight of (member, series): FNV-1a, then a 64-bit finalizer
 * so that similar names spread evenly. */
static uint64_t weight(const char *member, const char *series) {
  uint64_t h = 1469598103934665603ULL;
  for (const unsigned char *p = (const unsigned char *)member; *p; p++)
    h = (h ^ *p) * 1099511628211ULL;
  h = (h ^ 0xffu) * 1099511628211ULL;
  for (const unsigned char *p = (const unsigned char *)series; *p; p++)
    h = (h ^ *p) * 1099511628211ULL;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

static const char *members_owner(const struct membership *ms,
                                 const char *series) {
  const char *best = NULL;
  uint64_t best_w = 0;
  for (size_t i = 0; i < ms->n_live; i++) {
    uint64_t w = weight(ms->live[i], series);
    if (!best || w > best_w || (w == best_w && strcmp(ms->live[i], best) > 0)) {
      best = ms->live[i];
      best_w = w;
    }
  }
  return best;
}

static int64_t value_heartbeat(const struct coin_bus_kv_entry *e) {
  json_error_t err;
  json_t *o = json_loadb((const char *)e->value, e->value_len, 0, &err);
  json_t *h = json_object_get(o, "heartbeat_ms");
  int64_t v = json_is_integer(h) ? (int64_t)json_integer_value(h) : -1;
  json_decref(o);
  return v;
}

static struct member_seen *seen_find(struct membership *ms, const char *id) {
  for (size_t i = 0; i < ms->n_seen; i++)
    if (!strcmp(ms->seen[i].id, id))
      return &ms->seen[i];
  return NULL;
}

/* Reads every member key; updates when each last changed. */
static int refresh(struct ingest *in, int64_t mono) {
  struct membership *ms = &in->members;
  struct coin_bus_kv_keys keys = {0};
  int rc = coin_bus_kv_keys(&keys, in->kv_state, INGEST_KEY_MEMBER_PREFIX ".");
  if (rc != 0)
    return rc;
  size_t prefix = strlen(INGEST_KEY_MEMBER_PREFIX ".");
  for (size_t i = 0; i < keys.len; i++) {
    const char *id = keys.keys[i] + prefix;
    if (strlen(id) >= INGEST_MEMBER_ID_BYTES || !strcmp(id, ms->self))
      continue;
    struct coin_bus_kv_entry e = {0};
    if (coin_bus_kv_get(&e, in->kv_state, keys.keys[i]) != 0)
      continue; /* deleted meanwhile (a graceful leave) */
    struct member_seen *m = seen_find(ms, id);
    if (!m && ms->n_seen < INGEST_MAX_MEMBERS) {
      m = &ms->seen[ms->n_seen++];
      snprintf(m->id, sizeof(m->id), "%s", id);
      m->revision = e.revision;
      /* first sight: as old as its heartbeat says (at most the TTL) */
      int64_t hb = value_heartbeat(&e);
      int64_t age = hb < 0 ? ms->ttl_ms : coin_now_ms() - hb;
      if (age < 0)
        age = 0;
      if (age > ms->ttl_ms)
        age = ms->ttl_ms;
      m->changed_mono_ms = mono - age;
    } else if (m && m->revision != e.revision) {
      m->revision = e.revision;
      m->changed_mono_ms = mono;
    }
    if (m)
      m->present = true;
    coin_bus_kv_entry_clear(&e);
  }
  /* keys that are gone (a graceful leave) are gone at once */
  for (size_t i = 0; i < ms->n_seen; i++) {
    bool present = false;
    for (size_t k = 0; k < keys.len && !present; k++)
      present = !strcmp(keys.keys[k] + prefix, ms->seen[i].id);
    if (!present)
      ms->seen[i].changed_mono_ms = INT64_MIN / 2;
    ms->seen[i].present = present;
  }
  coin_bus_kv_keys_clear(&keys);
  return 0;
}

static int beat(struct ingest *in) {
  struct membership *ms = &in->members;
  char value[256];
  snprintf(value, sizeof(value),
           "{\"id\":\"%s\",\"heartbeat_ms\":%" PRId64
           ",\"series_owned\":%" PRIu64 "}",
           ms->self, coin_now_ms(), (uint64_t)atomic_load(&ms->owned));
  return coin_bus_kv_put(NULL, in->kv_state, ms->key, value, strlen(value));
}

static int cmp_str(const void *a, const void *b) {
  return strcmp((const char *)a, (const char *)b);
}

/* The live set, then the owned flags (under in->lock). */
static void recompute(struct ingest *in, int64_t mono) {
  struct membership *ms = &in->members;
  ms->n_live = 0;
  bool others = false;
  for (size_t i = 0; i < ms->n_seen; i++)
    if (mono - ms->seen[i].changed_mono_ms < ms->ttl_ms) {
      snprintf(ms->live[ms->n_live++], INGEST_MEMBER_ID_BYTES, "%s",
               ms->seen[i].id);
      others = true;
    }
  if (!ms->settled &&
      (!others || mono >= ms->joined_mono_ms + ms->ttl_ms / 3 + 1000))
    ms->settled = true;
  if (ms->settled)
    snprintf(ms->live[ms->n_live++], INGEST_MEMBER_ID_BYTES, "%s", ms->self);
  qsort(ms->live, ms->n_live, INGEST_MEMBER_ID_BYTES, cmp_str);
  atomic_store(&ms->members, ms->n_live ? ms->n_live : 1);
  coin_exchange_budget_set_share(&in->budget,
                                 (int64_t)(ms->n_live ? ms->n_live : 1));
  size_t owned = 0, gained = 0, lost = 0;
  pthread_mutex_lock(&in->lock);
  for (size_t i = 0; i < in->n_series; i++) {
    struct series *s = &in->series[i];
    const char *o = members_owner(ms, s->wm_key);
    bool mine = o && !strcmp(o, ms->self);
    if (mine && !s->owned) {
      s->reload = ms->ever_owned; /* the last owner moved it on */
      gained++;
    } else if (!mine && s->owned) {
      lost++;
    }
    s->owned = mine;
    owned += mine;
  }
  if (gained)
    in->redispatch = true; /* taken over: sync them now, not at the boundary */
  pthread_mutex_unlock(&in->lock);
  atomic_store(&ms->owned, owned);
  if (ms->ever_owned)
    atomic_fetch_add(&ms->gained, gained);
  atomic_fetch_add(&ms->lost, lost);
  if (ms->settled)
    ms->ever_owned = true;
  if (gained || lost)
    COIN_LOG_INFO("series shared out", COIN_LOG_STR("member", ms->self),
                  COIN_LOG_UINT("members", ms->n_live),
                  COIN_LOG_UINT("owned", owned),
                  COIN_LOG_UINT("gained", gained), COIN_LOG_UINT("lost", lost));
}

void members_tick(struct ingest *in, bool force) {
  struct membership *ms = &in->members;
  int64_t mono = coin_mono_ms();
  bool settle =
      !ms->settled && mono >= ms->joined_mono_ms + ms->ttl_ms / 3 + 1000;
  if (!force && !settle && mono < ms->next_beat_mono_ms)
    return;
  ms->next_beat_mono_ms = mono + ms->ttl_ms / 3;
  int rc = beat(in);
  if (rc == 0)
    rc = refresh(in, mono);
  if (rc != 0 && !ms->failing)
    COIN_LOG_WARN("membership heartbeat failed (keeping the last view)",
                  COIN_LOG_STR("member", ms->self), COIN_LOG_RC(rc));
  else if (rc == 0 && ms->failing)
    COIN_LOG_INFO("membership heartbeat works again",
                  COIN_LOG_STR("member", ms->self));
  ms->failing = rc != 0;
  if (rc != 0)
    atomic_fetch_add(&ms->beat_errors, 1);
  recompute(in, mono);
}

void members_start(struct ingest *in) {
  struct membership *ms = &in->members;
  member_id(ms->self, sizeof(ms->self), in->cfg->core.service_id);
  snprintf(ms->key, sizeof(ms->key), "%s.%s", INGEST_KEY_MEMBER_PREFIX,
           ms->self);
  ms->ttl_ms = in->cfg->member_ttl_seconds * 1000;
  ms->joined_mono_ms = coin_mono_ms();
  members_tick(in, true);
  COIN_LOG_INFO("member joined", COIN_LOG_STR("member", ms->self),
                COIN_LOG_UINT("members", atomic_load(&ms->members)),
                COIN_LOG_UINT("owned", atomic_load(&ms->owned)),
                COIN_LOG_BOOL("settled", ms->settled));
}

void members_leave(struct ingest *in) {
  struct membership *ms = &in->members;
  if (!ms->key[0])
    return;
  int rc = coin_bus_kv_delete(in->kv_state, ms->key);
  if (rc == 0)
    COIN_LOG_INFO("member left: its series move on at once",
                  COIN_LOG_STR("member", ms->self));
}

bool members_owns(struct ingest *in, size_t series) {
  pthread_mutex_lock(&in->lock);
  bool mine = in->series[series].owned;
  pthread_mutex_unlock(&in->lock);
  return mine;
}
