/*
 * registry.h: the model registry over NATS. Metadata lives in KV bucket
 * coin_models (key model.<version>, protobuf ModelMetadata), the roles in
 * alias keys (alias.champion, alias.challenger, alias.previous: the version
 * as text; the aliases are the truth, metadata roles follow them), the
 * champion history in key history.champions (versions, oldest first, one per
 * line), and the artifact bytes in JetStream stream COIN_MODELS as chunks
 * of at most COIN_REGISTRY_CHUNK_BYTES on coin.models.artifacts.<version>.<i>
 * (nats.c 3.4.1 has no object store; chunks keep every message under the
 * server's default 1 MiB max_payload). Lifecycle events are ModelEvents on
 * coin.models.events. Also here: the training lock (KV coin_locks).
 * See docs/models.md. Threads: a registry may be used by one thread at a
 * time; a lock's keepalive runs on its own thread. Ownership: *_free accept
 * NULL; fetched bytes and lists are malloc'd for the caller.
 */
#ifndef COIN_REGISTRY_H
#define COIN_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coin/bus.h"
#include "coin/codec.h"
#include "coin/model.h"

#define COIN_STREAM_MODELS "COIN_MODELS"
#define COIN_SUBJECT_MODEL_ARTIFACTS "coin.models.artifacts"
#define COIN_REGISTRY_CHUNK_BYTES (512 * 1024)
#define COIN_REGISTRY_MAX_MSG_BYTES (1024 * 1024)
#define COIN_ALIAS_CHAMPION "alias.champion"
#define COIN_ALIAS_CHALLENGER "alias.challenger"
#define COIN_ALIAS_PREVIOUS "alias.previous"
#define COIN_KEY_CHAMPION_HISTORY "history.champions"
#define COIN_REGISTRY_HISTORY_MAX 64 /* champions remembered */

struct coin_registry;

/* Ensures KV coin_models and stream COIN_MODELS exist (idempotent) and
 * opens them. producer_id names us in events ([A-Za-z0-9._:@/-]{0,64}). */
int coin_registry_open(struct coin_registry **out, struct coin_bus *bus,
                       const char *producer_id);
void coin_registry_free(struct coin_registry *r);

/* Versions usable with artifacts: [A-Za-z0-9_-]{1,64} (no '.', so a
 * version is one subject token). */
int coin_registry_check_version(const char *version);

/* ---- metadata and aliases ----------------------------------------------- */

/* COIN_ENOTFOUND when model.<version> is missing. out_revision may be NULL. */
int coin_registry_get(struct coin_registry *r, struct coin_model_metadata *out,
                      uint64_t *out_revision, const char *version);
/* Creates model.<version>: COIN_EEXISTS when it exists. */
int coin_registry_create(struct coin_registry *r,
                         const struct coin_model_metadata *m);
/* Rewrites model.<version> if its revision is still expected_revision
 * (COIN_ECONFLICT otherwise). */
int coin_registry_update(struct coin_registry *r,
                         const struct coin_model_metadata *m,
                         uint64_t expected_revision);
/* Reads, sets role, writes back (retrying a lost CAS a few times). */
int coin_registry_set_role(struct coin_registry *r, const char *version,
                           enum coin_model_role role);

/* Version an alias points to; COIN_ENOTFOUND when unset. out needs
 * COIN_CODEC_ID_BYTES. out_revision may be NULL (0 when unset). */
int coin_registry_alias_get(struct coin_registry *r, char *out,
                            uint64_t *out_revision, const char *alias);
/* Points alias at version if the alias's revision is still
 * expected_revision (0: the alias must be unset); COIN_ECONFLICT else. */
int coin_registry_alias_set(struct coin_registry *r, const char *alias,
                            const char *version, uint64_t expected_revision);
/* Removes the alias (no error when unset). */
int coin_registry_alias_clear(struct coin_registry *r, const char *alias);

/* "champion" / "challenger" / "previous" -> the alias's version; anything
 * else must be a valid version and is copied. */
int coin_registry_resolve(struct coin_registry *r, char *out,
                          const char *name_or_version);

/* Champion history (oldest first), at most COIN_REGISTRY_HISTORY_MAX. */
struct coin_registry_history {
  char versions[COIN_REGISTRY_HISTORY_MAX][COIN_CODEC_ID_BYTES];
  size_t n;
  uint64_t revision; /* 0 when the key does not exist yet */
};
int coin_registry_history_get(struct coin_registry *r,
                              struct coin_registry_history *out);
/* Writes h (CAS on h->revision). */
int coin_registry_history_put(struct coin_registry *r,
                              const struct coin_registry_history *h);

/* Every registered model, oldest created first (*out malloc'd). */
int coin_registry_list(struct coin_registry *r,
                       struct coin_model_metadata **out, size_t *out_len);

/* ---- retraining requests ------------------------------------------------
 * KV coin_models key request.retrain: the champion watch (coin-monitor)
 * asks for retraining when the champion is significantly worse than
 * persistence on realized candles; coin-train's scheduled run reads it as a
 * reason to train and clears it when a challenger is registered. Value:
 * {"schema_version":1,"champion":V,"scope":S,"reason":R,"requested_by":B,
 *  "requested_at_ms":T,"n":N,"mae_ratio":X}. */

#define COIN_KEY_RETRAIN_REQUEST "request.retrain"

struct coin_retrain_request {
  char champion[COIN_CODEC_ID_BYTES]; /* the model judged */
  char scope[96];        /* "pooled" or "<exchange>/<symbol>/<tf>" */
  char reason[256];      /* one line for people */
  char requested_by[96]; /* e.g. coin-monitor@<SERVICE_ID> */
  int64_t requested_at_ms;
  int64_t n;        /* realized rows judged */
  double mae_ratio; /* model MAE / persistence MAE (NAN: unknown) */
};

/* Writes the request (replaces an older one). */
int coin_registry_retrain_request_put(struct coin_registry *r,
                                      const struct coin_retrain_request *req);
/* The pending request; COIN_ENOTFOUND when none, COIN_EDECODE (one-line
 * error naming the key) when the value is not a valid request. out_revision
 * may be NULL; it is set for a bad value too, so that it can be cleared. */
int coin_registry_retrain_request_get(struct coin_registry *r,
                                      struct coin_retrain_request *out,
                                      uint64_t *out_revision);
/* Removes the request if its revision is still expected_revision
 * (COIN_ECONFLICT: a newer request arrived and stays); no error when none. */
int coin_registry_retrain_request_clear(struct coin_registry *r,
                                        uint64_t expected_revision);
/* The decoder of _get on a value's bytes (also for tests and fuzzing). */
int coin_registry_retrain_request_decode(struct coin_retrain_request *out,
                                         const char *text, size_t len);

/* ---- artifacts ----------------------------------------------------------- */

/* Stores artifact bytes for version (chunks, Nats-Msg-Id per chunk so a
 * retry is not stored twice) and fills m->artifact_sha256,
 * m->artifact_size_bytes and m->artifact_ref. */
int coin_registry_put_artifact(struct coin_registry *r,
                               struct coin_model_metadata *m,
                               const uint8_t *data, size_t len);
/* Fetches the artifact of m and checks its size and sha256 against m:
 * COIN_EDECODE "artifact sha256 mismatch" when they differ, COIN_ENOTFOUND
 * when chunks are missing. *out is malloc'd. */
int coin_registry_get_artifact(struct coin_registry *r, uint8_t **out,
                               size_t *out_len,
                               const struct coin_model_metadata *m);
/* Removes a version's artifact chunks. */
int coin_registry_drop_artifact(struct coin_registry *r, const char *version);

/* Metadata + verified artifact + coin_model_load, in one call. */
int coin_registry_load_model(struct coin_registry *r, struct coin_model **out,
                             struct coin_model_metadata *out_meta,
                             const char *version);

/* ---- events -------------------------------------------------------------- */

/* Publishes a ModelEvent on coin.models.events (producer_id and at_ms are
 * filled in when empty/0) and appends it to the recent-events log (below;
 * a failed append is one warning line, the event is still published). */
int coin_registry_event(struct coin_registry *r, struct coin_model_event *ev);

/* The recent-events log: KV coin_models key events.recent keeps the newest
 * COIN_REGISTRY_RECENT_EVENTS events (oldest first), so that what the
 * lifecycle did survives restarts and reaches the site (manifest.json
 * "model"). Value: {"schema_version":1,"events":[{"kind":K,"version":V,
 * "previous":P,"at_ms":T,"by":B,"reason":R},...]}. */
#define COIN_KEY_RECENT_EVENTS "events.recent"
#define COIN_REGISTRY_RECENT_EVENTS 20

struct coin_registry_event_note {
  enum coin_model_event_kind kind;
  char version[COIN_CODEC_ID_BYTES];
  char previous[COIN_CODEC_ID_BYTES];
  char by[COIN_CODEC_ID_BYTES];
  int64_t at_ms;
  char reason[COIN_CODEC_TEXT_BYTES];
};
struct coin_registry_recent {
  struct coin_registry_event_note e[COIN_REGISTRY_RECENT_EVENTS];
  size_t n;
  uint64_t revision; /* 0 when the key does not exist yet */
};
/* *out empty (n 0, revision 0) when the key is absent; COIN_EDECODE (one
 * line naming the key) when the value is not a log. */
int coin_registry_recent_get(struct coin_registry *r,
                             struct coin_registry_recent *out);
/* The decoder of _get on a value's bytes (sets e and n, not revision). */
int coin_registry_recent_decode(struct coin_registry_recent *out,
                                const char *text, size_t len);

/* ---- lifecycle: what a reader of the site is told ------------------------
 * The roles, since when, how the champion came in, the challenger's shadow
 * progress, and the recent-events log, read from the registry in one call
 * (coin-publish renders it as manifest.json "model", coin_site_put_model).
 */

enum coin_promotion_via {
  COIN_PROMOTION_UNKNOWN = 0,   /* promoted before promotion.* was recorded */
  COIN_PROMOTION_MANUAL = 1,    /* coin-train promote / rollback by hand */
  COIN_PROMOTION_AUTOMATIC = 2, /* coin-train cycle, on shadow evidence */
  COIN_PROMOTION_BOOTSTRAP = 3, /* first champion, walk-forward evidence */
  COIN_PROMOTION_ROLLBACK = 4,  /* champion again: its successor rolled back */
};
/* "unknown", "manual", "automatic", "bootstrap", "rollback". */
const char *coin_promotion_via_name(enum coin_promotion_via via);

struct coin_model_role_view {
  char version[COIN_CODEC_ID_BYTES]; /* "" none */
  char kind[COIN_CODEC_NAME_BYTES];
  int64_t registered_ms;
  int64_t since_ms; /* champion: promotion.at_ms; -1 unknown */
  enum coin_promotion_via via;
  int64_t shadow_realized;   /* challenger: shadow.realized; -1 unknown */
  int64_t shadow_needed;     /* challenger: shadow.needed; -1 unknown */
  int64_t shadow_checked_ms; /* when the count was taken; -1 unknown */
};

struct coin_model_lifecycle {
  struct coin_model_role_view champion, challenger;
  char previous[COIN_CODEC_ID_BYTES];
  struct coin_registry_recent recent;
  bool recent_undecodable; /* the log's value is bad (reported once) */
};
/* Reads the lifecycle. An alias naming a model without metadata keeps the
 * version with the rest unknown; an undecodable log leaves recent empty
 * and sets recent_undecodable. Errors only when the registry is
 * unreachable. */
int coin_registry_lifecycle(struct coin_registry *r,
                            struct coin_model_lifecycle *out);

/* ---- retention ------------------------------------------------------------
 */

/* Keeps the newest keep versions (by created_at) and, always, the champion,
 * the previous champion, the challenger and the champion history; purges
 * the metadata and artifacts of the others. out_removed may be NULL. */
int coin_registry_prune(struct coin_registry *r, size_t keep,
                        size_t *out_removed);

/* ---- lock (KV coin_locks) ------------------------------------------------
 * The value is {"holder":..., "acquired_at_ms":..., "expires_at_ms":...};
 * every write is a CAS on the revision read, so two acquirers cannot both
 * win; an expired value (holder crashed) may be taken over. Keep the TTL
 * much longer than the clock skew between hosts. */

struct coin_lock;

/* COIN_EEXISTS when another holder's lock has not expired; the message
 * names the holder and the expiry. */
int coin_lock_acquire(struct coin_lock **out, struct coin_bus *bus,
                      const char *name, const char *holder, int64_t ttl_ms);
/* The same; with reclaim_own, a lock held under this very holder name
 * (the same replica, restarted after a crash) is taken over at once. Holder
 * names must then be unique per replica. */
int coin_lock_acquire_as(struct coin_lock **out, struct coin_bus *bus,
                         const char *name, const char *holder, int64_t ttl_ms,
                         bool reclaim_own);
/* Extends the expiry (CAS); COIN_ECONFLICT when the lock was lost. */
int coin_lock_renew(struct coin_lock *l);
/* Renews every ttl/3 on a thread until release. */
int coin_lock_keepalive_start(struct coin_lock *l);
/* True once a renewal found the lock taken by someone else. */
bool coin_lock_lost(struct coin_lock *l);
/* Stops the keepalive, frees the lock if still ours (CAS), frees l. */
void coin_lock_release(struct coin_lock *l);

#endif
