/*
 * bus_kv.c: JetStream key-value buckets over nats.c: idempotent ensure,
 * get/put/create/CAS update/delete, key listing and watches (poll, or a
 * bus-owned thread calling back). Thread model: a coin_bus_kv may be used
 * from several threads; a poll watcher by one thread at a time. Ownership:
 * entries and key lists are heap copies owned by the caller.
 */
#include "bus_int.h"
#include "coin/buf.h"
#include "coin/clock.h"

#include "coin/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KV_HISTORY_MAX 64
#define WATCH_POLL_MS 1000
#define WATCH_RETRY_MS 100

struct coin_bus_kv {
  kvStore *kv;
  struct coin_bus *bus;
  char bucket[COIN_BUS_NAME_MAX + 1];
};

struct coin_bus_kv_watch {
  kvWatcher *w;
  struct coin_bus_kv *kv;
  /* callback mode */
  coin_bus_kv_fn fn;
  void *closure;
  pthread_t thread;
  bool has_thread;
  atomic_bool stop;
};

/* ---- validation --------------------------------------------------------- */

static bool key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '/' || c == '_' ||
         c == '=' || c == '.';
}

/* Keys: [-/_=.a-zA-Z0-9]+, no leading/trailing or double '.'. With
 * pattern, whole-token '*' and a final '>' are allowed too. */
static int check_key(const char *field, const char *key, bool pattern,
                     bool prefix) {
  if (key == NULL || key[0] == '\0')
    return coin_error_set(COIN_EINVAL, "%s: empty key", field);
  size_t n = strnlen(key, COIN_BUS_KEY_MAX + 1);
  if (n > COIN_BUS_KEY_MAX)
    return coin_error_set(COIN_EINVAL, "%s '%.64s...': longer than %d bytes",
                          field, key, COIN_BUS_KEY_MAX);
  if (pattern)
    return bus_check_subject(field, key, true);
  for (size_t i = 0; i < n; i++) {
    if (!key_char(key[i]))
      return coin_error_set(COIN_EINVAL,
                            "%s '%s': byte %zu not in [-/_=.a-zA-Z0-9]", field,
                            key, i);
    if (key[i] == '.' &&
        (i == 0 || key[i - 1] == '.' || (!prefix && i == n - 1)))
      return coin_error_set(
          COIN_EINVAL, "%s '%s': leading, trailing or double '.'", field, key);
  }
  return 0;
}

static int check_value(const char *key, const void *value, size_t len) {
  if (len > 0 && value == NULL)
    return coin_error_set(COIN_EINVAL, "kv %s: NULL value with len %zu", key,
                          len);
  if (len > COIN_BUS_DATA_MAX)
    return coin_error_set(COIN_ETOOBIG, "kv %s: value of %zu bytes > cap %d",
                          key, len, COIN_BUS_DATA_MAX);
  return 0;
}

/* A write refused by the server (permissions): COIN_EREJECTED, else 0. */
static int kv_refused(struct coin_bus_kv *kv, natsStatus s, const char *key,
                      const char *what) {
  char subject[COIN_BUS_SUBJECT_MAX + 1];
  snprintf(subject, sizeof(subject), "$KV.%s.%s", kv->bucket, key);
  return bus_refused(kv->bus, s, subject, what);
}

/* ---- buckets ------------------------------------------------------------ */

static int kv_wrap(struct coin_bus_kv **out, struct coin_bus *bus,
                   kvStore *store, const char *bucket) {
  struct coin_bus_kv *kv = calloc(1, sizeof(*kv));
  if (kv == NULL) {
    kvStore_Destroy(store);
    return coin_error_set(COIN_ENOMEM, "kv %s: out of memory", bucket);
  }
  kv->kv = store;
  kv->bus = bus;
  snprintf(kv->bucket, sizeof(kv->bucket), "%s", bucket);
  *out = kv;
  return 0;
}

int coin_bus_kv_open(struct coin_bus_kv **out, struct coin_bus *bus,
                     const char *bucket) {
  int rc;
  kvStore *store = NULL;
  if (out == NULL || bus == NULL)
    return coin_error_set(COIN_EINVAL, "kv open: NULL argument");
  if ((rc = bus_check_name("bucket", bucket)) != 0)
    return rc;
  natsStatus s = js_KeyValue(&store, bus->js, bucket);
  if (s == NATS_NOT_FOUND)
    return coin_error_set(COIN_ENOTFOUND, "kv bucket %s: not found", bucket);
  if (s != NATS_OK) {
    rc = bus_nats_error(s, 0, "kv open");
    return coin_error_wrap(rc, "bucket %s", bucket);
  }
  return kv_wrap(out, bus, store, bucket);
}

int coin_bus_kv_ensure(struct coin_bus_kv **out,
                       enum coin_bus_ensure *out_action, struct coin_bus *bus,
                       const struct coin_bus_kv_config *cfg) {
  int rc = 0;
  jsStreamInfo *si = NULL, *si2 = NULL;
  kvStore *store = NULL;
  jsErrCode jerr = 0;
  char stream[COIN_BUS_NAME_MAX + 4];
  enum coin_bus_ensure action = COIN_BUS_UNCHANGED;

  if (out == NULL || bus == NULL || cfg == NULL)
    return coin_error_set(COIN_EINVAL, "kv ensure: NULL argument");
  if ((rc = bus_check_name("bucket", cfg->bucket)) != 0)
    return rc;
  if (cfg->history < 0 || cfg->history > KV_HISTORY_MAX)
    return coin_error_set(COIN_EINVAL, "kv %s: history=%d: must be 0..%d",
                          cfg->bucket, cfg->history, KV_HISTORY_MAX);
  if ((rc = bus_check_ms("ttl_ms", cfg->ttl_ms)) != 0)
    return coin_error_wrap(rc, "kv %s", cfg->bucket);
  if (cfg->max_value_bytes < 0)
    return coin_error_set(COIN_EINVAL,
                          "kv %s: max_value_bytes=%d: must be >= 0",
                          cfg->bucket, (int)cfg->max_value_bytes);
  int64_t history = cfg->history > 0 ? cfg->history : 1;
  int64_t ttl_ns = cfg->ttl_ms * NANOS_PER_MS;
  int32_t max_value = cfg->max_value_bytes > 0 ? cfg->max_value_bytes : -1;
  snprintf(stream, sizeof(stream), "KV_%s", cfg->bucket);

  natsStatus s = js_GetStreamInfo(&si, bus->js, stream, NULL, &jerr);
  if (s == NATS_NOT_FOUND) {
    kvConfig kc;
    kvConfig_Init(&kc);
    kc.Bucket = cfg->bucket;
    kc.History = (uint8_t)history;
    kc.TTL = ttl_ns;
    kc.MaxValueSize = max_value;
    kc.StorageType = js_FileStorage;
    kc.Replicas = bus->replicas;
    s = js_CreateKeyValue(&store, bus->js, &kc);
    if (s != NATS_OK) {
      rc = bus_nats_error(s, 0, "kv create bucket");
      coin_error_wrap(rc, "bucket %s", cfg->bucket);
      goto out;
    }
    action = COIN_BUS_CREATED;
  } else if (s != NATS_OK) {
    rc = bus_nats_error(s, (int)jerr, "kv bucket info");
    coin_error_wrap(rc, "bucket %s", cfg->bucket);
    goto out;
  } else {
    const jsStreamConfig *have = si->Config;
    if (have == NULL) {
      rc = coin_error_set(COIN_EINTERNAL, "kv %s: no config in info",
                          cfg->bucket);
      goto out;
    }
    bool copies_only = have->MaxMsgsPerSubject == history &&
                       have->MaxAge == ttl_ns && have->MaxMsgSize == max_value;
    if (!copies_only || have->Replicas != bus->replicas) {
      jsStreamConfig upd = *have;
      upd.Replicas = bus->replicas;
      upd.MaxMsgsPerSubject = history;
      upd.MaxAge = ttl_ns;
      upd.MaxMsgSize = max_value;
      /* The server wants the dedup window inside the max age. */
      if (ttl_ns > 0 && upd.Duplicates > ttl_ns)
        upd.Duplicates = ttl_ns;
      s = js_UpdateStream(&si2, bus->js, &upd, NULL, &jerr);
      if (s != NATS_OK) {
        char api[COIN_BUS_SUBJECT_MAX + 1];
        snprintf(api, sizeof(api), "$JS.API.STREAM.UPDATE.%s", stream);
        rc = bus_refused(bus, s, api, "kv update bucket");
        if (rc == 0) {
          rc = bus_nats_error(s, (int)jerr, "kv update bucket");
          coin_error_wrap(rc, "bucket %s", cfg->bucket);
          goto out;
        }
        if (!copies_only)
          goto out;
        bus_copies_left_to_owner(stream, have->Replicas, bus->replicas);
        rc = 0; /* the bucket as it is */
      } else {
        action = COIN_BUS_UPDATED;
      }
    }
    s = js_KeyValue(&store, bus->js, cfg->bucket);
    if (s != NATS_OK) {
      rc = bus_nats_error(s, 0, "kv open");
      coin_error_wrap(rc, "bucket %s", cfg->bucket);
      goto out;
    }
  }
  rc = kv_wrap(out, bus, store, cfg->bucket);
  store = NULL;
  if (rc == 0 && out_action)
    *out_action = action;
out:
  kvStore_Destroy(store);
  jsStreamInfo_Destroy(si);
  jsStreamInfo_Destroy(si2);
  return rc;
}

void coin_bus_kv_free(struct coin_bus_kv *kv) {
  if (kv == NULL)
    return;
  kvStore_Destroy(kv->kv);
  free(kv);
}

/* ---- entries ------------------------------------------------------------ */

void coin_bus_kv_entry_clear(struct coin_bus_kv_entry *e) {
  if (e == NULL)
    return;
  free(e->key);
  free(e->value);
  memset(e, 0, sizeof(*e));
}

static enum coin_bus_kv_op op_of(kvOperation op) {
  switch (op) {
  case kvOp_Delete: return COIN_BUS_KV_DELETE;
  case kvOp_Purge: return COIN_BUS_KV_PURGE;
  default: return COIN_BUS_KV_PUT;
  }
}

/* Copies a nats.c entry (NULL = the init-done marker) into out. */
static int entry_copy(struct coin_bus_kv_entry *out, kvEntry *e) {
  struct coin_bus_kv_entry r = {0};
  const char *key = e ? kvEntry_Key(e) : "";
  int len = e ? kvEntry_ValueLen(e) : 0;
  if (len < 0)
    len = 0;
  r.key = bus_strdup(key ? key : "");
  r.value = malloc((size_t)len + 1);
  if (r.key == NULL || r.value == NULL) {
    coin_bus_kv_entry_clear(&r);
    return coin_error_set(COIN_ENOMEM, "kv entry: out of memory");
  }
  if (len > 0)
    memcpy(r.value, kvEntry_Value(e), (size_t)len);
  r.value[len] = '\0';
  r.value_len = (size_t)len;
  if (e) {
    r.revision = kvEntry_Revision(e);
    r.created_ms = kvEntry_Created(e) / NANOS_PER_MS;
    r.op = op_of(kvEntry_Operation(e));
  } else {
    r.op = COIN_BUS_KV_INIT_DONE;
  }
  *out = r;
  return 0;
}

/* A get asks the stream's leader (STREAM.MSG.GET of the key's last
 * message), never a direct get: nats.c makes KV buckets AllowDirect, and on
 * a cluster a direct get may be answered by a follower that has not yet
 * applied the latest write. A stale ingest watermark held candles back in
 * coin-publish for a reconcile period (bench/scale_bench.py), so every get
 * reads what the bucket holds now. */
int coin_bus_kv_get(struct coin_bus_kv_entry *out, struct coin_bus_kv *kv,
                    const char *key) {
  int rc;
  if (out == NULL || kv == NULL)
    return coin_error_set(COIN_EINVAL, "kv get: NULL argument");
  if ((rc = check_key("kv key", key, false, false)) != 0)
    return rc;
  char stream[COIN_BUS_NAME_MAX + 4], subject[COIN_BUS_SUBJECT_MAX + 1];
  snprintf(stream, sizeof(stream), "KV_%s", kv->bucket);
  snprintf(subject, sizeof(subject), "$KV.%s.%s", kv->bucket, key);
  natsMsg *m = NULL;
  jsErrCode jerr = 0;
  natsStatus s = js_GetLastMsg(&m, kv->bus->js, stream, subject, NULL, &jerr);
  const char *op = NULL;
  if (s == NATS_OK && natsMsgHeader_Get(m, "KV-Operation", &op) == NATS_OK &&
      op && (strcmp(op, "DEL") == 0 || strcmp(op, "PURGE") == 0))
    s = NATS_NOT_FOUND; /* deleted: as kvStore_Get says */
  if (s == NATS_NOT_FOUND) {
    natsMsg_Destroy(m);
    return coin_error_set(COIN_ENOTFOUND, "kv %s: key %s not found", kv->bucket,
                          key);
  }
  if (s != NATS_OK) {
    char api[COIN_BUS_SUBJECT_MAX + 1];
    snprintf(api, sizeof(api), "$JS.API.STREAM.MSG.GET.%s", stream);
    if ((rc = bus_refused(kv->bus, s, api, "kv get")) != 0)
      return rc;
    rc = bus_nats_error(s, (int)jerr, "kv get");
    return coin_error_wrap(rc, "kv %s key %s", kv->bucket, key);
  }
  struct coin_bus_kv_entry r = {0};
  int len = natsMsg_GetDataLength(m);
  r.key = bus_strdup(key);
  r.value = malloc((size_t)(len > 0 ? len : 0) + 1);
  if (r.key == NULL || r.value == NULL) {
    natsMsg_Destroy(m);
    coin_bus_kv_entry_clear(&r);
    return coin_error_set(COIN_ENOMEM, "kv entry: out of memory");
  }
  if (len > 0)
    memcpy(r.value, natsMsg_GetData(m), (size_t)len);
  r.value[len > 0 ? len : 0] = '\0';
  r.value_len = (size_t)(len > 0 ? len : 0);
  r.revision = natsMsg_GetSequence(m);
  r.created_ms = natsMsg_GetTime(m) / NANOS_PER_MS;
  r.op = COIN_BUS_KV_PUT;
  natsMsg_Destroy(m);
  *out = r;
  return 0;
}

/* Put (any previous value) or create (only when the key has none). */
static int kv_write(uint64_t *out_revision, struct coin_bus_kv *kv,
                    const char *key, const void *value, size_t len,
                    bool create) {
  const char *what = create ? "kv create" : "kv put";
  int rc;
  uint64_t rev = 0;
  if (kv == NULL)
    return coin_error_set(COIN_EINVAL, "%s: NULL kv", what);
  if ((rc = check_key("kv key", key, false, false)) != 0 ||
      (rc = check_value(key, value, len)) != 0)
    return rc;
  natsStatus s = create ? kvStore_Create(&rev, kv->kv, key, value, (int)len)
                        : kvStore_Put(&rev, kv->kv, key, value, (int)len);
  if (s != NATS_OK) {
    if ((rc = kv_refused(kv, s, key, what)) != 0)
      return rc;
    rc = bus_nats_error(s, 0, what);
    if (create && rc == COIN_ECONFLICT)
      return coin_error_set(COIN_EEXISTS, "kv %s: key %s already exists",
                            kv->bucket, key);
    return coin_error_wrap(rc, "kv %s key %s", kv->bucket, key);
  }
  if (out_revision)
    *out_revision = rev;
  return 0;
}

int coin_bus_kv_put(uint64_t *out_revision, struct coin_bus_kv *kv,
                    const char *key, const void *value, size_t len) {
  return kv_write(out_revision, kv, key, value, len, false);
}

int coin_bus_kv_create(uint64_t *out_revision, struct coin_bus_kv *kv,
                       const char *key, const void *value, size_t len) {
  return kv_write(out_revision, kv, key, value, len, true);
}

int coin_bus_kv_update(uint64_t *out_revision, struct coin_bus_kv *kv,
                       const char *key, const void *value, size_t len,
                       uint64_t expected_revision) {
  int rc;
  uint64_t rev = 0;
  if (kv == NULL)
    return coin_error_set(COIN_EINVAL, "kv update: NULL kv");
  if ((rc = check_key("kv key", key, false, false)) != 0 ||
      (rc = check_value(key, value, len)) != 0)
    return rc;
  natsStatus s =
      kvStore_Update(&rev, kv->kv, key, value, (int)len, expected_revision);
  if (s != NATS_OK) {
    if ((rc = kv_refused(kv, s, key, "kv update")) != 0)
      return rc;
    rc = bus_nats_error(s, 0, "kv update");
    return coin_error_wrap(rc, "kv %s key %s expected revision %llu",
                           kv->bucket, key,
                           (unsigned long long)expected_revision);
  }
  if (out_revision)
    *out_revision = rev;
  return 0;
}

static int kv_remove(struct coin_bus_kv *kv, const char *key, bool purge) {
  int rc;
  const char *what = purge ? "kv purge" : "kv delete";
  if (kv == NULL)
    return coin_error_set(COIN_EINVAL, "%s: NULL kv", what);
  if ((rc = check_key("kv key", key, false, false)) != 0)
    return rc;
  natsStatus s =
      purge ? kvStore_Purge(kv->kv, key, NULL) : kvStore_Delete(kv->kv, key);
  if (s != NATS_OK) {
    if ((rc = kv_refused(kv, s, key, what)) != 0)
      return rc;
    rc = bus_nats_error(s, 0, what);
    return coin_error_wrap(rc, "kv %s key %s", kv->bucket, key);
  }
  return 0;
}

int coin_bus_kv_delete(struct coin_bus_kv *kv, const char *key) {
  return kv_remove(kv, key, false);
}

int coin_bus_kv_purge(struct coin_bus_kv *kv, const char *key) {
  return kv_remove(kv, key, true);
}

/* ---- keys --------------------------------------------------------------- */

void coin_bus_kv_keys_clear(struct coin_bus_kv_keys *keys) {
  if (keys == NULL)
    return;
  for (size_t i = 0; i < keys->len; i++)
    free(keys->keys[i]);
  free(keys->keys);
  keys->keys = NULL;
  keys->len = 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The next of the current values a new watcher replays (*e NULL after the
 * last one), within a deadline for the whole replay; what: "kv keys" or
 * "kv watch". */
static int replay_next(kvEntry **e, kvWatcher *w, const struct coin_bus_kv *kv,
                       int64_t deadline, const char *what) {
  int64_t left = deadline - nats_Now();
  if (left <= 0)
    return coin_error_set(
        COIN_ETIMEOUT, "%s %s: current values took longer than %lld ms", what,
        kv->bucket, (long long)kv->bus->request_timeout_ms);
  natsStatus s = kvWatcher_Next(e, w, left);
  if (s != NATS_OK)
    return coin_error_wrap(bus_nats_error(s, 0, what), "kv %s", kv->bucket);
  return 0;
}

int coin_bus_kv_keys(struct coin_bus_kv_keys *out, struct coin_bus_kv *kv,
                     const char *prefix) {
  int rc = 0;
  kvWatcher *w = NULL;
  struct coin_bus_kv_keys r = {0};
  size_t cap = 0;
  char pattern[COIN_BUS_KEY_MAX + 2] = ">";

  if (out == NULL || kv == NULL)
    return coin_error_set(COIN_EINVAL, "kv keys: NULL argument");
  if (prefix == NULL)
    prefix = "";
  size_t plen = strnlen(prefix, COIN_BUS_KEY_MAX + 1);
  if (plen > 0 && (rc = check_key("kv key prefix", prefix, false, true)) != 0)
    return rc;
  /* Let the server filter up to the last whole token of the prefix. */
  const char *dot = strrchr(prefix, '.');
  if (dot)
    snprintf(pattern, sizeof(pattern), "%.*s>", (int)(dot - prefix + 1),
             prefix);

  kvWatchOptions o;
  kvWatchOptions_Init(&o);
  o.MetaOnly = true;
  o.IgnoreDeletes = true;
  natsStatus s = kvStore_Watch(&w, kv->kv, pattern, &o);
  if (s != NATS_OK) {
    rc = bus_nats_error(s, 0, "kv keys");
    coin_error_wrap(rc, "kv %s prefix %s", kv->bucket, prefix);
    goto out;
  }
  int64_t deadline = nats_Now() + kv->bus->request_timeout_ms;
  for (;;) {
    kvEntry *e = NULL;
    if ((rc = replay_next(&e, w, kv, deadline, "kv keys")) != 0)
      goto out;
    if (e == NULL)
      break; /* all current keys seen */
    const char *key = kvEntry_Key(e);
    if (key && strncmp(key, prefix, plen) == 0) {
      if ((rc = coin_grow(&r.keys, &cap, r.len + 1, sizeof(*r.keys),
                          COIN_BUS_KEYS_MAX)) != 0) {
        kvEntry_Destroy(e);
        rc = coin_error_wrap(rc, "kv %s keys", kv->bucket);
        goto out;
      }
      r.keys[r.len] = bus_strdup(key);
      if (r.keys[r.len] == NULL) {
        kvEntry_Destroy(e);
        rc = coin_error_set(COIN_ENOMEM, "kv keys: out of memory");
        goto out;
      }
      r.len++;
    }
    kvEntry_Destroy(e);
  }
  if (r.len > 1) {
    qsort(r.keys, r.len, sizeof(*r.keys), cmp_str);
    /* A key written during the listing can show up twice. */
    size_t j = 1;
    for (size_t i = 1; i < r.len; i++) {
      if (strcmp(r.keys[i], r.keys[j - 1]) == 0)
        free(r.keys[i]);
      else
        r.keys[j++] = r.keys[i];
    }
    r.len = j;
  }
  *out = r;
  r.keys = NULL;
  r.len = 0;
out:
  if (w)
    kvWatcher_Destroy(w);
  coin_bus_kv_keys_clear(&r);
  return rc;
}

/* ---- watches ------------------------------------------------------------ */

static int watch_next(struct coin_bus_kv_entry *out,
                      struct coin_bus_kv_watch *w, int64_t timeout_ms) {
  kvEntry *e = NULL;
  natsStatus s = kvWatcher_Next(&e, w->w, timeout_ms);
  if (s == NATS_TIMEOUT)
    return coin_error_set(COIN_ETIMEOUT, "kv %s watch: nothing within %lld ms",
                          w->kv->bucket, (long long)timeout_ms);
  if (s == NATS_ILLEGAL_STATE)
    return coin_error_set(COIN_ECLOSED, "kv %s watch: stopped", w->kv->bucket);
  if (s != NATS_OK) {
    int rc = bus_nats_error(s, 0, "kv watch");
    return coin_error_wrap(rc, "kv %s", w->kv->bucket);
  }
  int rc = entry_copy(out, e); /* e == NULL: the init-done marker */
  kvEntry_Destroy(e);
  return rc;
}

int coin_bus_kv_watch(struct coin_bus_kv_watch **out, struct coin_bus_kv *kv,
                      const struct coin_bus_kv_watch_options *opts) {
  int rc = 0;
  if (out == NULL || kv == NULL)
    return coin_error_set(COIN_EINVAL, "kv watch: NULL argument");
  const char *keys = (opts && opts->keys) ? opts->keys : ">";
  if ((rc = check_key("kv watch keys", keys, true, false)) != 0)
    return rc;
  struct coin_bus_kv_watch *w = calloc(1, sizeof(*w));
  if (w == NULL)
    return coin_error_set(COIN_ENOMEM, "kv watch: out of memory");
  w->kv = kv;
  atomic_init(&w->stop, false);
  kvWatchOptions o;
  kvWatchOptions_Init(&o);
  o.IgnoreDeletes = opts && opts->ignore_deletes;
  natsStatus s = kvStore_Watch(&w->w, kv->kv, keys, &o);
  if (s != NATS_OK) {
    rc = bus_nats_error(s, 0, "kv watch");
    coin_error_wrap(rc, "kv %s keys %s", kv->bucket, keys);
    goto out;
  }
  if (opts && opts->updates_only) {
    /* nats.c 3.4.1 has no UpdatesOnly: read past the current values. */
    int64_t deadline = nats_Now() + kv->bus->request_timeout_ms;
    for (;;) {
      kvEntry *e = NULL;
      if ((rc = replay_next(&e, w->w, kv, deadline, "kv watch")) != 0)
        goto out;
      if (e == NULL)
        break;
      kvEntry_Destroy(e);
    }
  }
  *out = w;
  w = NULL;
out:
  coin_bus_kv_watch_free(w);
  return rc;
}

int coin_bus_kv_watch_next(struct coin_bus_kv_entry *out,
                           struct coin_bus_kv_watch *w, int64_t timeout_ms) {
  if (out == NULL || w == NULL)
    return coin_error_set(COIN_EINVAL, "kv watch next: NULL argument");
  if (w->has_thread)
    return coin_error_set(COIN_EINVAL,
                          "kv watch next: watcher has a callback thread");
  if (timeout_ms < 1 || timeout_ms > MS_MAX)
    return coin_error_set(COIN_EINVAL,
                          "kv watch next: timeout_ms=%lld: must be >= 1",
                          (long long)timeout_ms);
  return watch_next(out, w, timeout_ms);
}

static void *watch_thread(void *arg) {
  struct coin_bus_kv_watch *w = arg;
  while (!atomic_load(&w->stop)) {
    struct coin_bus_kv_entry e;
    int rc = watch_next(&e, w, WATCH_POLL_MS);
    if (rc == 0) {
      w->fn(&e, w->closure);
      coin_bus_kv_entry_clear(&e);
    } else if (rc != COIN_ETIMEOUT && !atomic_load(&w->stop)) {
      /* Transient (e.g. reconnecting): nats.c's ordered consumer resets
       * itself; avoid spinning meanwhile. */
      nats_Sleep(WATCH_RETRY_MS);
    }
  }
  return NULL;
}

int coin_bus_kv_watch_start(struct coin_bus_kv_watch **out,
                            struct coin_bus_kv *kv,
                            const struct coin_bus_kv_watch_options *opts,
                            coin_bus_kv_fn fn, void *closure) {
  struct coin_bus_kv_watch *w = NULL;
  if (out == NULL || fn == NULL)
    return coin_error_set(COIN_EINVAL, "kv watch start: NULL argument");
  int rc = coin_bus_kv_watch(&w, kv, opts);
  if (rc)
    return rc;
  w->fn = fn;
  w->closure = closure;
  int err = pthread_create(&w->thread, NULL, watch_thread, w);
  if (err != 0) {
    coin_bus_kv_watch_free(w);
    return coin_error_set(COIN_EINTERNAL, "kv %s watch: pthread_create: %s",
                          kv->bucket, strerror(err));
  }
  w->has_thread = true;
  *out = w;
  return 0;
}

void coin_bus_kv_watch_free(struct coin_bus_kv_watch *w) {
  if (w == NULL)
    return;
  atomic_store(&w->stop, true);
  if (w->w)
    kvWatcher_Stop(w->w); /* wakes a thread blocked in kvWatcher_Next */
  if (w->has_thread)
    pthread_join(w->thread, NULL);
  if (w->w)
    kvWatcher_Destroy(w->w);
  free(w);
}

int coin_bus_kv_scan(struct coin_bus_kv *kv, const char *pattern,
                     int64_t timeout_ms, const char *what,
                     void (*fn)(const struct coin_bus_kv_entry *e, void *ctx),
                     void *ctx) {
  struct coin_bus_kv_watch *w = NULL;
  struct coin_bus_kv_watch_options o = {.keys = pattern,
                                        .ignore_deletes = true};
  int rc = coin_bus_kv_watch(&w, kv, &o);
  if (rc != 0)
    return coin_error_wrap(rc, "KV %s watch %s", kv->bucket, pattern);
  int64_t deadline = coin_mono_ms() + timeout_ms;
  for (;;) {
    struct coin_bus_kv_entry e = {0};
    int64_t left = deadline - coin_mono_ms();
    if (left <= 0) {
      rc = coin_error_set(COIN_ETIMEOUT, "KV %s: %s not delivered in %lld s",
                          kv->bucket, what, (long long)(timeout_ms / 1000));
      break;
    }
    rc = coin_bus_kv_watch_next(&e, w, left);
    if (rc == COIN_ETIMEOUT)
      continue;
    if (rc != 0)
      break;
    bool done = e.op == COIN_BUS_KV_INIT_DONE;
    if (e.op == COIN_BUS_KV_PUT)
      fn(&e, ctx);
    coin_bus_kv_entry_clear(&e);
    if (done)
      break;
  }
  coin_bus_kv_watch_free(w);
  return rc;
}
