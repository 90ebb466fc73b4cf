/*
 * registry.c: the model registry over the bus (registry.h): metadata and
 * aliases in KV coin_models, artifact chunks in stream COIN_MODELS, events
 * on coin.models.events, retention, and the training lock in KV
 * coin_locks. A registry is used by one thread at a time; a lock's
 * keepalive thread touches only the lock (under its mutex) and the bus,
 * which is thread-safe.
 */
#include "coin/registry.h"
#include "coin/clock.h"

#include "coin/error.h"
#include "coin/hmac.h"
#include "coin/log.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MODEL_KEY_PREFIX COIN_KEY_MODEL_PREFIX "."
#define CAS_RETRIES 5
#define HEADER_CHUNKS "Coin-Artifact-Chunks"
#define HEADER_SHA "Coin-Artifact-Sha256"

struct coin_registry {
  struct coin_bus *bus;
  struct coin_bus_kv *kv;
  char producer_id[COIN_CODEC_ID_BYTES];
};

int coin_registry_check_version(const char *v) {
  size_t n = v ? strnlen(v, 65) : 0;
  if (n == 0 || n > 64)
    return coin_error_set(COIN_EINVAL,
                          "model version \"%.64s\": length %zu (rule: "
                          "[A-Za-z0-9_-]{1,64})",
                          v ? v : "", n);
  for (size_t i = 0; i < n; i++) {
    char c = v[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return coin_error_set(COIN_EINVAL,
                            "model version \"%s\": character %zu '%c' (rule: "
                            "[A-Za-z0-9_-]{1,64})",
                            v, i, c);
  }
  return 0;
}

int coin_registry_open(struct coin_registry **out, struct coin_bus *bus,
                       const char *producer_id) {
  int rc;
  struct coin_registry *r = NULL;
  if (out == NULL || bus == NULL)
    return coin_error_set(COIN_EINVAL, "registry open: NULL argument");
  r = calloc(1, sizeof(*r));
  if (!r)
    return coin_error_set(COIN_ENOMEM, "registry: out of memory");
  r->bus = bus;
  snprintf(r->producer_id, sizeof(r->producer_id), "%s",
           producer_id ? producer_id : "");
  struct coin_bus_kv_config kc = {.bucket = COIN_KV_MODELS,
                                  .history = 16,
                                  .max_value_bytes =
                                      COIN_REGISTRY_MAX_MSG_BYTES};
  if ((rc = coin_bus_kv_ensure(&r->kv, NULL, bus, &kc)) != 0) {
    coin_error_wrap(rc, "registry: KV %s", COIN_KV_MODELS);
    goto fail;
  }
  const char *subjects[] = {COIN_SUBJECT_MODEL_ARTIFACTS ".>"};
  struct coin_bus_stream_config sc = {
      .name = COIN_STREAM_MODELS,
      .subjects = subjects,
      .subjects_len = 1,
      .max_msg_bytes = COIN_REGISTRY_MAX_MSG_BYTES,
  };
  if ((rc = coin_bus_stream_ensure(NULL, bus, &sc)) != 0) {
    coin_error_wrap(rc, "registry: stream %s", COIN_STREAM_MODELS);
    goto fail;
  }
  *out = r;
  return 0;
fail:
  coin_registry_free(r);
  return rc;
}

void coin_registry_free(struct coin_registry *r) {
  if (!r)
    return;
  coin_bus_kv_free(r->kv);
  free(r);
}

/* ---- metadata ----------------------------------------------------------- */

static int model_key(char *out, size_t n, const char *version) {
  if (snprintf(out, n, MODEL_KEY_PREFIX "%s", version) >= (int)n)
    return coin_error_set(COIN_EINVAL, "model version too long");
  return 0;
}

int coin_registry_get(struct coin_registry *r, struct coin_model_metadata *out,
                      uint64_t *out_revision, const char *version) {
  char key[COIN_BUS_KEY_MAX];
  struct coin_bus_kv_entry e = {0};
  struct coin_model_metadata m;
  int rc;
  if (r == NULL || out == NULL || version == NULL)
    return coin_error_set(COIN_EINVAL, "registry get: NULL argument");
  if ((rc = model_key(key, sizeof(key), version)) != 0)
    return rc;
  if ((rc = coin_bus_kv_get(&e, r->kv, key)) != 0) {
    if (rc == COIN_ENOTFOUND)
      return coin_error_set(COIN_ENOTFOUND, "model %s: not registered",
                            version);
    return coin_error_wrap(rc, "registry: get %s", key);
  }
  rc = coin_codec_unpack_model(&m, e.value, e.value_len);
  if (rc == 0) {
    *out = m;
    if (out_revision)
      *out_revision = e.revision;
  } else {
    coin_error_wrap(rc, "registry: %s", key);
  }
  coin_bus_kv_entry_clear(&e);
  return rc;
}

static int write_model(struct coin_registry *r,
                       const struct coin_model_metadata *m, bool create,
                       uint64_t expected) {
  char key[COIN_BUS_KEY_MAX];
  uint8_t *data = NULL;
  size_t len = 0;
  int rc;
  if (r == NULL || m == NULL)
    return coin_error_set(COIN_EINVAL, "registry write: NULL argument");
  if ((rc = coin_registry_check_version(m->version)) != 0 ||
      (rc = model_key(key, sizeof(key), m->version)) != 0 ||
      (rc = coin_codec_pack_model(&data, &len, m)) != 0)
    return rc;
  if (create)
    rc = coin_bus_kv_create(NULL, r->kv, key, data, len);
  else
    rc = coin_bus_kv_update(NULL, r->kv, key, data, len, expected);
  free(data);
  if (rc == COIN_EEXISTS)
    return coin_error_set(COIN_EEXISTS, "model %s: already registered",
                          m->version);
  if (rc)
    return coin_error_wrap(rc, "registry: write %s", key);
  return 0;
}

int coin_registry_create(struct coin_registry *r,
                         const struct coin_model_metadata *m) {
  return write_model(r, m, true, 0);
}

int coin_registry_update(struct coin_registry *r,
                         const struct coin_model_metadata *m,
                         uint64_t expected_revision) {
  return write_model(r, m, false, expected_revision);
}

int coin_registry_set_role(struct coin_registry *r, const char *version,
                           enum coin_model_role role) {
  int rc = 0;
  for (int i = 0; i < CAS_RETRIES; i++) {
    struct coin_model_metadata m;
    uint64_t rev;
    if ((rc = coin_registry_get(r, &m, &rev, version)) != 0)
      return rc;
    if (m.role == role)
      return 0;
    m.role = role;
    rc = coin_registry_update(r, &m, rev);
    if (rc != COIN_ECONFLICT)
      return rc;
  }
  return rc;
}

/* ---- aliases ------------------------------------------------------------ */

static int check_alias(const char *alias) {
  if (alias == NULL || strncmp(alias, "alias.", 6) != 0)
    return coin_error_set(COIN_EINVAL,
                          "registry: alias \"%s\" (rule: alias.<name>)",
                          alias ? alias : "(null)");
  return 0;
}

int coin_registry_alias_get(struct coin_registry *r, char *out,
                            uint64_t *out_revision, const char *alias) {
  struct coin_bus_kv_entry e = {0};
  int rc;
  if (r == NULL || out == NULL)
    return coin_error_set(COIN_EINVAL, "registry alias get: NULL argument");
  if ((rc = check_alias(alias)) != 0)
    return rc;
  rc = coin_bus_kv_get(&e, r->kv, alias);
  if (rc == COIN_ENOTFOUND) {
    if (out_revision)
      *out_revision = 0;
    return coin_error_set(COIN_ENOTFOUND, "registry: %s is not set", alias);
  }
  if (rc)
    return coin_error_wrap(rc, "registry: get %s", alias);
  char v[COIN_CODEC_ID_BYTES];
  snprintf(v, sizeof(v), "%.*s", (int)e.value_len, (const char *)e.value);
  uint64_t rev = e.revision;
  coin_bus_kv_entry_clear(&e);
  if ((rc = coin_registry_check_version(v)) != 0)
    return coin_error_wrap(COIN_EDECODE, "registry: %s", alias);
  snprintf(out, COIN_CODEC_ID_BYTES, "%s", v);
  if (out_revision)
    *out_revision = rev;
  return 0;
}

int coin_registry_alias_set(struct coin_registry *r, const char *alias,
                            const char *version, uint64_t expected_revision) {
  int rc;
  if (r == NULL)
    return coin_error_set(COIN_EINVAL, "registry alias set: NULL argument");
  if ((rc = check_alias(alias)) != 0 ||
      (rc = coin_registry_check_version(version)) != 0)
    return rc;
  size_t len = strlen(version);
  if (expected_revision == 0) {
    rc = coin_bus_kv_create(NULL, r->kv, alias, version, len);
    if (rc == COIN_EEXISTS)
      rc = coin_error_set(COIN_ECONFLICT,
                          "registry: %s was set meanwhile (rule: expected "
                          "unset)",
                          alias);
  } else {
    rc =
        coin_bus_kv_update(NULL, r->kv, alias, version, len, expected_revision);
  }
  if (rc == COIN_ECONFLICT)
    return coin_error_set(COIN_ECONFLICT,
                          "registry: %s changed meanwhile (someone else "
                          "promoted or rolled back)",
                          alias);
  if (rc)
    return coin_error_wrap(rc, "registry: set %s", alias);
  return 0;
}

int coin_registry_alias_clear(struct coin_registry *r, const char *alias) {
  int rc;
  if ((rc = check_alias(alias)) != 0)
    return rc;
  rc = coin_bus_kv_delete(r->kv, alias);
  return rc == COIN_ENOTFOUND ? 0 : rc;
}

int coin_registry_resolve(struct coin_registry *r, char *out,
                          const char *name) {
  const char *alias = NULL;
  if (name == NULL)
    return coin_error_set(COIN_EINVAL, "registry resolve: NULL name");
  if (!strcmp(name, "champion"))
    alias = COIN_ALIAS_CHAMPION;
  else if (!strcmp(name, "challenger"))
    alias = COIN_ALIAS_CHALLENGER;
  else if (!strcmp(name, "previous"))
    alias = COIN_ALIAS_PREVIOUS;
  if (alias)
    return coin_registry_alias_get(r, out, NULL, alias);
  int rc = coin_registry_check_version(name);
  if (rc)
    return rc;
  snprintf(out, COIN_CODEC_ID_BYTES, "%s", name);
  return 0;
}

/* ---- champion history --------------------------------------------------- */

int coin_registry_history_get(struct coin_registry *r,
                              struct coin_registry_history *out) {
  struct coin_bus_kv_entry e = {0};
  struct coin_registry_history h;
  memset(&h, 0, sizeof(h));
  int rc = coin_bus_kv_get(&e, r->kv, COIN_KEY_CHAMPION_HISTORY);
  if (rc == COIN_ENOTFOUND) {
    *out = h;
    return 0;
  }
  if (rc)
    return coin_error_wrap(rc, "registry: get %s", COIN_KEY_CHAMPION_HISTORY);
  h.revision = e.revision;
  const char *p = (const char *)e.value;
  while (*p && h.n < COIN_REGISTRY_HISTORY_MAX) {
    size_t len = strcspn(p, "\n");
    if (len > 0 && len < COIN_CODEC_ID_BYTES) {
      snprintf(h.versions[h.n], COIN_CODEC_ID_BYTES, "%.*s", (int)len, p);
      if (coin_registry_check_version(h.versions[h.n]) == 0)
        h.n++;
    }
    p += len;
    if (*p == '\n')
      p++;
  }
  coin_bus_kv_entry_clear(&e);
  *out = h;
  return 0;
}

int coin_registry_history_put(struct coin_registry *r,
                              const struct coin_registry_history *h) {
  char buf[COIN_REGISTRY_HISTORY_MAX * COIN_CODEC_ID_BYTES + 1];
  size_t len = 0;
  size_t first =
      h->n > COIN_REGISTRY_HISTORY_MAX ? h->n - COIN_REGISTRY_HISTORY_MAX : 0;
  buf[0] = '\0';
  for (size_t i = first; i < h->n; i++)
    len +=
        (size_t)snprintf(buf + len, sizeof(buf) - len, "%s\n", h->versions[i]);
  int rc;
  if (h->revision == 0)
    rc = coin_bus_kv_create(NULL, r->kv, COIN_KEY_CHAMPION_HISTORY, buf, len);
  else
    rc = coin_bus_kv_update(NULL, r->kv, COIN_KEY_CHAMPION_HISTORY, buf, len,
                            h->revision);
  if (rc == COIN_EEXISTS)
    rc = COIN_ECONFLICT;
  return rc ? coin_error_wrap(rc, "registry: write %s",
                              COIN_KEY_CHAMPION_HISTORY)
            : 0;
}

/* ---- listing ------------------------------------------------------------ */

static int created_cmp(const void *a, const void *b) {
  const struct coin_model_metadata *x = a, *y = b;
  if (x->created_at_ms != y->created_at_ms)
    return x->created_at_ms < y->created_at_ms ? -1 : 1;
  return strcmp(x->version, y->version);
}

int coin_registry_list(struct coin_registry *r,
                       struct coin_model_metadata **out, size_t *out_len) {
  struct coin_bus_kv_keys keys = {0};
  struct coin_model_metadata *list = NULL;
  size_t n = 0;
  int rc;
  if (r == NULL || out == NULL || out_len == NULL)
    return coin_error_set(COIN_EINVAL, "registry list: NULL argument");
  rc = coin_bus_kv_keys(&keys, r->kv, MODEL_KEY_PREFIX);
  if (rc == COIN_ENOTFOUND)
    rc = 0;
  if (rc)
    return coin_error_wrap(rc, "registry: list");
  list = calloc(keys.len ? keys.len : 1, sizeof(*list));
  if (!list) {
    rc = coin_error_set(COIN_ENOMEM, "registry list: out of memory");
    goto out;
  }
  for (size_t i = 0; i < keys.len; i++) {
    const char *v = keys.keys[i] + strlen(MODEL_KEY_PREFIX);
    rc = coin_registry_get(r, &list[n], NULL, v);
    if (rc == COIN_ENOTFOUND) { /* deleted meanwhile */
      rc = 0;
      continue;
    }
    if (rc)
      goto out;
    n++;
  }
  qsort(list, n, sizeof(*list), created_cmp);
  *out = list;
  *out_len = n;
  list = NULL;
out:
  free(list);
  coin_bus_kv_keys_clear(&keys);
  return rc;
}

/* ---- retraining requests ------------------------------------------------ */

static void copy_text(char *dst, size_t n, const char *src) {
  snprintf(dst, n, "%s", src ? src : "");
}

int coin_registry_retrain_request_put(struct coin_registry *r,
                                      const struct coin_retrain_request *req) {
  if (r == NULL || req == NULL)
    return coin_error_set(COIN_EINVAL, "retrain request: NULL argument");
  int rc = coin_registry_check_version(req->champion);
  if (rc)
    return coin_error_wrap(rc, "retrain request: champion");
  if (req->requested_at_ms <= 0 || req->n < 0) /* what get would refuse */
    return coin_error_set(COIN_EINVAL,
                          "retrain request: requested_at_ms %lld (rule: > 0), "
                          "n %lld (rule: >= 0)",
                          (long long)req->requested_at_ms, (long long)req->n);
  json_t *o = json_pack(
      "{s:i, s:s, s:s, s:s, s:s, s:I, s:I}", "schema_version", 1, "champion",
      req->champion, "scope", req->scope, "reason", req->reason, "requested_by",
      req->requested_by, "requested_at_ms", (json_int_t)req->requested_at_ms,
      "n", (json_int_t)req->n);
  if (o == NULL) /* json_pack refuses a string that is not UTF-8 */
    return coin_error_set(COIN_EINVAL, "retrain request: scope, reason or "
                                       "requested_by is not UTF-8 text");
  if (isfinite(req->mae_ratio))
    json_object_set_new(o, "mae_ratio", json_real(req->mae_ratio));
  char *text = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  if (!text)
    return coin_error_set(COIN_ENOMEM, "retrain request: out of memory");
  rc = coin_bus_kv_put(NULL, r->kv, COIN_KEY_RETRAIN_REQUEST, text,
                       strlen(text));
  free(text);
  return rc ? coin_error_wrap(rc, "registry: put %s", COIN_KEY_RETRAIN_REQUEST)
            : 0;
}

int coin_registry_retrain_request_decode(struct coin_retrain_request *out,
                                         const char *text, size_t len) {
  json_error_t err;
  json_t *o = json_loadb(text, len, 0, &err);
  json_int_t schema = 0, at = 0, n = 0;
  const char *champion = NULL, *scope = "", *reason = "", *by = "";
  json_t *ratio = NULL;
  int rc = COIN_EDECODE;
  if (o &&
      json_unpack(o, "{s:I, s:s, s?s, s?s, s?s, s:I, s?I, s?o}",
                  "schema_version", &schema, "champion", &champion, "scope",
                  &scope, "reason", &reason, "requested_by", &by,
                  "requested_at_ms", &at, "n", &n, "mae_ratio", &ratio) == 0 &&
      schema == 1 && coin_registry_check_version(champion) == 0 && at > 0 &&
      n >= 0 && (!ratio || json_is_number(ratio))) {
    memset(out, 0, sizeof(*out));
    copy_text(out->champion, sizeof(out->champion), champion);
    copy_text(out->scope, sizeof(out->scope), scope);
    copy_text(out->reason, sizeof(out->reason), reason);
    copy_text(out->requested_by, sizeof(out->requested_by), by);
    out->requested_at_ms = at;
    out->n = n;
    out->mae_ratio = ratio ? json_number_value(ratio) : NAN;
    rc = 0;
  }
  bool parsed = o != NULL;
  json_decref(o);
  if (rc && !parsed)
    return coin_error_set(COIN_EDECODE,
                          "registry: %s is not JSON (%s at byte %d); clear it "
                          "or write a new request",
                          COIN_KEY_RETRAIN_REQUEST, err.text, err.position);
  if (rc)
    return coin_error_set(COIN_EDECODE,
                          "registry: %s is not a retrain request (want "
                          "schema_version 1, a valid champion version, "
                          "requested_at_ms > 0, n >= 0, mae_ratio a number)",
                          COIN_KEY_RETRAIN_REQUEST);
  return 0;
}

int coin_registry_retrain_request_get(struct coin_registry *r,
                                      struct coin_retrain_request *out,
                                      uint64_t *out_revision) {
  struct coin_bus_kv_entry e = {0};
  if (r == NULL || out == NULL)
    return coin_error_set(COIN_EINVAL, "retrain request: NULL argument");
  if (out_revision)
    *out_revision = 0;
  int rc = coin_bus_kv_get(&e, r->kv, COIN_KEY_RETRAIN_REQUEST);
  if (rc == COIN_ENOTFOUND)
    return coin_error_set(COIN_ENOTFOUND, "registry: no retrain request");
  if (rc)
    return coin_error_wrap(rc, "registry: get %s", COIN_KEY_RETRAIN_REQUEST);
  rc = coin_registry_retrain_request_decode(out, (const char *)e.value,
                                            e.value_len);
  if (out_revision) /* also for a bad value: the caller can clear it */
    *out_revision = e.revision;
  coin_bus_kv_entry_clear(&e);
  return rc;
}

int coin_registry_retrain_request_clear(struct coin_registry *r,
                                        uint64_t expected_revision) {
  struct coin_bus_kv_entry e = {0};
  if (r == NULL)
    return coin_error_set(COIN_EINVAL, "retrain request: NULL argument");
  int rc = coin_bus_kv_get(&e, r->kv, COIN_KEY_RETRAIN_REQUEST);
  if (rc == COIN_ENOTFOUND)
    return 0;
  if (rc)
    return coin_error_wrap(rc, "registry: get %s", COIN_KEY_RETRAIN_REQUEST);
  uint64_t rev = e.revision;
  coin_bus_kv_entry_clear(&e);
  if (rev != expected_revision)
    return coin_error_set(COIN_ECONFLICT,
                          "registry: a newer retrain request arrived (kept)");
  rc = coin_bus_kv_delete(r->kv, COIN_KEY_RETRAIN_REQUEST);
  return rc == COIN_ENOTFOUND ? 0 : rc;
}

/* ---- artifacts ---------------------------------------------------------- */

static int chunk_subject(char *out, size_t n, const char *version, size_t i) {
  if (snprintf(out, n, COIN_SUBJECT_MODEL_ARTIFACTS ".%s.%zu", version, i) >=
      (int)n)
    return coin_error_set(COIN_EINVAL, "artifact subject too long");
  return 0;
}

int coin_registry_put_artifact(struct coin_registry *r,
                               struct coin_model_metadata *m,
                               const uint8_t *data, size_t len) {
  int rc;
  if (r == NULL || m == NULL || (data == NULL && len))
    return coin_error_set(COIN_EINVAL, "registry put artifact: NULL argument");
  if ((rc = coin_registry_check_version(m->version)) != 0)
    return rc;
  if (len == 0 || len > COIN_MODEL_MAX_ARTIFACT_BYTES)
    return coin_error_set(COIN_ETOOBIG,
                          "artifact of %s: %zu bytes (rule: 1..%zu)",
                          m->version, len, COIN_MODEL_MAX_ARTIFACT_BYTES);
  char sha[65];
  if (coin_sha256_hex(sha, data, len) != 0)
    return coin_error_set(COIN_EINTERNAL, "artifact: sha256 failed");
  size_t chunks =
      (len + COIN_REGISTRY_CHUNK_BYTES - 1) / COIN_REGISTRY_CHUNK_BYTES;
  char chunks_text[24];
  snprintf(chunks_text, sizeof(chunks_text), "%zu", chunks);
  for (size_t i = 0; i < chunks; i++) {
    char subject[COIN_BUS_SUBJECT_MAX], msg_id[160];
    if ((rc = chunk_subject(subject, sizeof(subject), m->version, i)) != 0)
      return rc;
    snprintf(msg_id, sizeof(msg_id), "artifact.%s.%.16s.%zu", m->version, sha,
             i);
    struct coin_bus_header h[] = {{HEADER_CHUNKS, chunks_text},
                                  {HEADER_SHA, sha}};
    size_t off = i * COIN_REGISTRY_CHUNK_BYTES;
    size_t n = len - off < COIN_REGISTRY_CHUNK_BYTES
                   ? len - off
                   : COIN_REGISTRY_CHUNK_BYTES;
    rc = coin_bus_js_publish_msg(NULL, r->bus, subject, msg_id, h, 2,
                                 data + off, n);
    if (rc)
      return coin_error_wrap(rc, "artifact of %s: chunk %zu/%zu", m->version,
                             i + 1, chunks);
  }
  snprintf(m->artifact_sha256, sizeof(m->artifact_sha256), "%s", sha);
  m->artifact_size_bytes = len;
  snprintf(m->artifact_ref, sizeof(m->artifact_ref),
           "jetstream:" COIN_STREAM_MODELS "/" COIN_SUBJECT_MODEL_ARTIFACTS
           ".%s.{0..%zu}",
           m->version, chunks - 1);
  return 0;
}

int coin_registry_get_artifact(struct coin_registry *r, uint8_t **out,
                               size_t *out_len,
                               const struct coin_model_metadata *m) {
  int rc = 0;
  uint8_t *buf = NULL;
  size_t len = 0, chunks = 1;
  if (r == NULL || out == NULL || out_len == NULL || m == NULL)
    return coin_error_set(COIN_EINVAL, "registry get artifact: NULL argument");
  if ((rc = coin_registry_check_version(m->version)) != 0)
    return rc;
  if (m->artifact_size_bytes == 0 ||
      m->artifact_size_bytes > COIN_MODEL_MAX_ARTIFACT_BYTES)
    return coin_error_set(
        COIN_EDECODE, "model %s: artifact_size_bytes %llu (rule: 1..%zu)",
        m->version, (unsigned long long)m->artifact_size_bytes,
        COIN_MODEL_MAX_ARTIFACT_BYTES);
  size_t want = (size_t)m->artifact_size_bytes;
  buf = malloc(want);
  if (!buf)
    return coin_error_set(COIN_ENOMEM, "artifact of %s: out of memory",
                          m->version);
  for (size_t i = 0; i < chunks; i++) {
    char subject[COIN_BUS_SUBJECT_MAX];
    struct coin_bus_msg *msg = NULL;
    if ((rc = chunk_subject(subject, sizeof(subject), m->version, i)) != 0)
      goto out;
    rc = coin_bus_stream_get_last(&msg, r->bus, COIN_STREAM_MODELS, subject);
    if (rc) {
      coin_error_wrap(rc, "artifact of %s: chunk %zu", m->version, i);
      goto out;
    }
    if (i == 0) {
      const char *c = coin_bus_msg_header(msg, HEADER_CHUNKS);
      char *end = NULL;
      unsigned long long v = c ? strtoull(c, &end, 10) : 0;
      if (!c || *end || v == 0 ||
          v > COIN_MODEL_MAX_ARTIFACT_BYTES / COIN_REGISTRY_CHUNK_BYTES + 1) {
        coin_bus_msg_free(msg);
        rc = coin_error_set(
            COIN_EDECODE, "artifact of %s: header %s \"%s\" (rule: 1..%zu)",
            m->version, HEADER_CHUNKS, c ? c : "",
            COIN_MODEL_MAX_ARTIFACT_BYTES / COIN_REGISTRY_CHUNK_BYTES + 1);
        goto out;
      }
      chunks = (size_t)v;
    }
    size_t n = coin_bus_msg_len(msg);
    if (n > want - len) {
      coin_bus_msg_free(msg);
      rc = coin_error_set(COIN_EDECODE,
                          "artifact of %s: more than artifact_size_bytes "
                          "%zu bytes stored (rule: sizes agree)",
                          m->version, want);
      goto out;
    }
    if (n)
      memcpy(buf + len, coin_bus_msg_data(msg), n);
    len += n;
    coin_bus_msg_free(msg);
  }
  if (len != want) {
    rc = coin_error_set(COIN_EDECODE,
                        "artifact of %s: %zu bytes stored, metadata says %zu "
                        "(rule: sizes agree)",
                        m->version, len, want);
    goto out;
  }
  char sha[65];
  if (coin_sha256_hex(sha, buf, len) != 0) {
    rc = coin_error_set(COIN_EINTERNAL, "artifact: sha256 failed");
    goto out;
  }
  if (strcmp(sha, m->artifact_sha256) != 0) {
    rc = coin_error_set(COIN_EDECODE,
                        "artifact of %s: sha256 mismatch: metadata %.16s..., "
                        "bytes %.16s... (rule: verified before use)",
                        m->version, m->artifact_sha256, sha);
    goto out;
  }
  *out = buf;
  *out_len = len;
  buf = NULL;
out:
  free(buf);
  return rc;
}

int coin_registry_drop_artifact(struct coin_registry *r, const char *version) {
  char subject[COIN_BUS_SUBJECT_MAX];
  int rc;
  if ((rc = coin_registry_check_version(version)) != 0)
    return rc;
  snprintf(subject, sizeof(subject), COIN_SUBJECT_MODEL_ARTIFACTS ".%s.*",
           version);
  return coin_bus_stream_purge_subject(r->bus, COIN_STREAM_MODELS, subject);
}

int coin_registry_load_model(struct coin_registry *r, struct coin_model **out,
                             struct coin_model_metadata *out_meta,
                             const char *version) {
  struct coin_model_metadata m;
  uint8_t *data = NULL;
  size_t len = 0;
  struct coin_model *model = NULL;
  int rc;
  if (out == NULL)
    return coin_error_set(COIN_EINVAL, "registry load: NULL argument");
  if ((rc = coin_registry_get(r, &m, NULL, version)) != 0)
    return rc;
  if ((rc = coin_registry_get_artifact(r, &data, &len, &m)) != 0)
    return rc;
  rc = coin_model_load(&model, data, len);
  free(data);
  if (rc)
    return coin_error_wrap(rc, "model %s", version);
  if (strcmp(coin_model_kind(model), m.kind) != 0) {
    coin_model_free(model);
    return coin_error_set(COIN_EDECODE,
                          "model %s: artifact kind %s, metadata kind %s "
                          "(rule: they agree)",
                          version, coin_model_kind(model), m.kind);
  }
  *out = model;
  if (out_meta)
    *out_meta = m;
  return 0;
}

/* ---- events ------------------------------------------------------------- */

static int event_kind_parse(enum coin_model_event_kind *out, const char *t) {
  for (int k = COIN_MODEL_EVENT_REGISTERED;
       k <= COIN_MODEL_EVENT_TRAINING_FAILED; k++)
    if (!strcmp(t, coin_codec_model_event_kind_name(k))) {
      *out = (enum coin_model_event_kind)k;
      return 0;
    }
  return COIN_EDECODE;
}

int coin_registry_recent_decode(struct coin_registry_recent *out,
                                const char *text, size_t len) {
  json_error_t err;
  out->n = 0;
  json_t *o = json_loadb(text, len, 0, &err), *events = NULL;
  json_int_t schema = 0;
  int rc = COIN_EDECODE;
  if (!o ||
      json_unpack(o, "{s:I, s:o}", "schema_version", &schema, "events",
                  &events) != 0 ||
      schema != 1 || !json_is_array(events))
    goto out;
  size_t n = json_array_size(events);
  size_t first =
      n > COIN_REGISTRY_RECENT_EVENTS ? n - COIN_REGISTRY_RECENT_EVENTS : 0;
  for (size_t i = first; i < n; i++) {
    const char *kind = NULL, *v = "", *prev = "", *by = "", *why = "";
    json_int_t at = 0;
    struct coin_registry_event_note *e = &out->e[out->n];
    if (json_unpack(json_array_get(events, i), "{s:s, s?s, s?s, s:I, s?s, s?s}",
                    "kind", &kind, "version", &v, "previous", &prev, "at_ms",
                    &at, "by", &by, "reason", &why) != 0 ||
        event_kind_parse(&e->kind, kind) != 0 || at <= 0 ||
        (v[0] && coin_registry_check_version(v) != 0) ||
        (prev[0] && coin_registry_check_version(prev) != 0))
      goto out;
    copy_text(e->version, sizeof(e->version), v);
    copy_text(e->previous, sizeof(e->previous), prev);
    copy_text(e->by, sizeof(e->by), by);
    copy_text(e->reason, sizeof(e->reason), why);
    e->at_ms = at;
    out->n++;
  }
  rc = 0;
out:
  json_decref(o);
  if (rc) {
    out->n = 0;
    return coin_error_set(COIN_EDECODE,
                          "registry: %s is not a recent-events log (want "
                          "schema_version 1, events [{kind, at_ms, ...}])",
                          COIN_KEY_RECENT_EVENTS);
  }
  return 0;
}

int coin_registry_recent_get(struct coin_registry *r,
                             struct coin_registry_recent *out) {
  if (r == NULL || out == NULL)
    return coin_error_set(COIN_EINVAL, "recent events: NULL argument");
  memset(out, 0, sizeof(*out));
  struct coin_bus_kv_entry e = {0};
  int rc = coin_bus_kv_get(&e, r->kv, COIN_KEY_RECENT_EVENTS);
  if (rc == COIN_ENOTFOUND)
    return 0;
  if (rc)
    return coin_error_wrap(rc, "registry: get %s", COIN_KEY_RECENT_EVENTS);
  out->revision = e.revision;
  rc = coin_registry_recent_decode(out, (const char *)e.value, e.value_len);
  coin_bus_kv_entry_clear(&e);
  return rc;
}

static char *recent_encode(const struct coin_registry_recent *l) {
  json_t *events = json_array();
  for (size_t i = 0; events && i < l->n; i++) {
    const struct coin_registry_event_note *e = &l->e[i];
    json_array_append_new(events,
                          json_pack("{s:s, s:s, s:s, s:I, s:s, s:s}", "kind",
                                    coin_codec_model_event_kind_name(e->kind),
                                    "version", e->version, "previous",
                                    e->previous, "at_ms", (json_int_t)e->at_ms,
                                    "by", e->by, "reason", e->reason));
  }
  json_t *o =
      events ? json_pack("{s:i, s:o}", "schema_version", 1, "events", events)
             : NULL;
  char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
  json_decref(o);
  return text;
}

/* Appends ev (CAS, re-read on conflict); an undecodable log is replaced
 * (it is a record of what happened, not a source of truth: the warning
 * of recent_get said so). */
static int recent_append(struct coin_registry *r,
                         const struct coin_model_event *ev) {
  int rc = COIN_ECONFLICT;
  for (int attempt = 0; attempt < 5 && rc == COIN_ECONFLICT; attempt++) {
    struct coin_registry_recent l;
    rc = coin_registry_recent_get(r, &l);
    if (rc == COIN_EDECODE)
      COIN_LOG_WARN("recent-events log undecodable: replaced",
                    COIN_LOG_STR("key", COIN_KEY_RECENT_EVENTS));
    else if (rc)
      return rc;
    if (l.n == COIN_REGISTRY_RECENT_EVENTS) {
      memmove(&l.e[0], &l.e[1], (l.n - 1) * sizeof(l.e[0]));
      l.n--;
    }
    struct coin_registry_event_note *e = &l.e[l.n++];
    memset(e, 0, sizeof(*e));
    e->kind = ev->kind;
    copy_text(e->version, sizeof(e->version), ev->version);
    copy_text(e->previous, sizeof(e->previous), ev->previous_version);
    copy_text(e->by, sizeof(e->by), ev->producer_id);
    copy_text(e->reason, sizeof(e->reason), ev->reason);
    e->at_ms = ev->at_ms;
    char *text = recent_encode(&l);
    if (!text)
      return coin_error_set(COIN_ENOMEM, "recent events: out of memory");
    if (l.revision == 0)
      rc = coin_bus_kv_create(NULL, r->kv, COIN_KEY_RECENT_EVENTS, text,
                              strlen(text));
    else
      rc = coin_bus_kv_update(NULL, r->kv, COIN_KEY_RECENT_EVENTS, text,
                              strlen(text), l.revision);
    free(text);
    if (rc == COIN_EEXISTS)
      rc = COIN_ECONFLICT;
  }
  return rc ? coin_error_wrap(rc, "registry: append to %s",
                              COIN_KEY_RECENT_EVENTS)
            : 0;
}

int coin_registry_event(struct coin_registry *r, struct coin_model_event *ev) {
  uint8_t *data = NULL;
  size_t len = 0;
  int rc;
  if (r == NULL || ev == NULL)
    return coin_error_set(COIN_EINVAL, "registry event: NULL argument");
  if (ev->producer_id[0] == '\0')
    snprintf(ev->producer_id, sizeof(ev->producer_id), "%s", r->producer_id);
  if (ev->at_ms == 0)
    ev->at_ms = coin_now_ms();
  if ((rc = coin_codec_pack_model_event(&data, &len, ev)) != 0)
    return rc;
  rc = coin_bus_publish(r->bus, COIN_SUBJECT_MODEL_EVENTS, data, len);
  free(data);
  if (recent_append(r, ev) != 0)
    COIN_LOG_WARN("model event not kept in the recent-events log",
                  COIN_LOG_STR("key", COIN_KEY_RECENT_EVENTS),
                  COIN_LOG_STR("error", coin_error_last()));
  return rc;
}

/* ---- retention ---------------------------------------------------------- */

int coin_registry_prune(struct coin_registry *r, size_t keep,
                        size_t *out_removed) {
  struct coin_model_metadata *list = NULL;
  struct coin_registry_history h;
  size_t n = 0, removed = 0;
  char protect[3][COIN_CODEC_ID_BYTES] = {{0}};
  const char *aliases[3] = {COIN_ALIAS_CHAMPION, COIN_ALIAS_PREVIOUS,
                            COIN_ALIAS_CHALLENGER};
  int rc;
  for (int i = 0; i < 3; i++) {
    rc = coin_registry_alias_get(r, protect[i], NULL, aliases[i]);
    if (rc == COIN_ENOTFOUND)
      protect[i][0] = '\0';
    else if (rc)
      return rc;
  }
  if ((rc = coin_registry_history_get(r, &h)) != 0)
    return rc;
  if ((rc = coin_registry_list(r, &list, &n)) != 0)
    return rc;
  size_t history_keep = keep < h.n ? keep : h.n;
  for (size_t i = 0; i + keep < n; i++) { /* the oldest n - keep */
    const char *v = list[i].version;
    bool keep_it = false;
    for (int j = 0; j < 3; j++)
      keep_it = keep_it || strcmp(v, protect[j]) == 0;
    for (size_t j = h.n - history_keep; j < h.n; j++)
      keep_it = keep_it || strcmp(v, h.versions[j]) == 0;
    if (keep_it)
      continue;
    char key[COIN_BUS_KEY_MAX];
    if ((rc = model_key(key, sizeof(key), v)) != 0)
      goto out;
    if ((rc = coin_registry_drop_artifact(r, v)) != 0 && rc != COIN_ENOTFOUND)
      goto out;
    if ((rc = coin_bus_kv_purge(r->kv, key)) != 0)
      goto out;
    removed++;
  }
  rc = 0;
  if (out_removed)
    *out_removed = removed;
out:
  free(list);
  return rc;
}

/* ---- lock --------------------------------------------------------------- */

struct coin_lock {
  struct coin_bus *bus;
  struct coin_bus_kv *kv;
  char key[COIN_BUS_KEY_MAX];
  char holder[COIN_CODEC_ID_BYTES];
  int64_t ttl_ms;
  int64_t acquired_at_ms;
  pthread_mutex_t mu;
  pthread_cond_t cond;
  uint64_t revision; /* under mu */
  bool lost;         /* under mu */
  bool stop;         /* under mu */
  bool has_thread;
  pthread_t thread;
};

static int lock_value(char *out, size_t n, const char *holder, int64_t acquired,
                      int64_t expires) {
  json_t *o =
      json_pack("{s:s, s:I, s:I}", "holder", holder, "acquired_at_ms",
                (json_int_t)acquired, "expires_at_ms", (json_int_t)expires);
  char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
  json_decref(o);
  if (!text)
    return coin_error_set(COIN_ENOMEM, "lock: out of memory");
  snprintf(out, n, "%s", text);
  free(text);
  return 0;
}

/* No lease is longer than this (TRAIN_LOCK_TTL_SECONDS is at most a day);
 * an expiry further ahead is not a lock but a bad value. */
#define LOCK_MAX_AHEAD_MS (2 * COIN_DAY_MS)

/* Parses a lock value. One that is not a lock (not JSON, no holder, no
 * expiry, or an expiry beyond any lease) counts as expired, so that one
 * bad record cannot stop every job: false, and it is taken over. */
static bool lock_parse(const char *text, size_t len, char *holder,
                       size_t holder_bytes, int64_t *expires, int64_t now) {
  json_error_t err;
  json_t *o = json_loadb(text, len, 0, &err);
  const char *h = json_string_value(json_object_get(o, "holder"));
  snprintf(holder, holder_bytes, "%s", h ? h : "?");
  json_t *e = json_object_get(o, "expires_at_ms");
  *expires = json_is_integer(e) ? (int64_t)json_integer_value(e) : 0;
  bool ok = h && json_is_integer(e) && *expires <= now + LOCK_MAX_AHEAD_MS;
  if (!ok)
    *expires = 0;
  json_decref(o);
  return ok;
}

int coin_lock_acquire(struct coin_lock **out, struct coin_bus *bus,
                      const char *name, const char *holder, int64_t ttl_ms) {
  return coin_lock_acquire_as(out, bus, name, holder, ttl_ms, false);
}

int coin_lock_acquire_as(struct coin_lock **out, struct coin_bus *bus,
                         const char *name, const char *holder, int64_t ttl_ms,
                         bool reclaim_own) {
  int rc;
  struct coin_lock *l = NULL;
  if (out == NULL || bus == NULL || name == NULL || holder == NULL)
    return coin_error_set(COIN_EINVAL, "lock: NULL argument");
  if (ttl_ms < 1000)
    return coin_error_set(COIN_EINVAL,
                          "lock: ttl_ms %" PRId64 " (rule: >= "
                          "1000)",
                          ttl_ms);
  l = calloc(1, sizeof(*l));
  if (!l)
    return coin_error_set(COIN_ENOMEM, "lock: out of memory");
  pthread_mutex_init(&l->mu, NULL);
  pthread_cond_init(&l->cond, NULL);
  l->bus = bus;
  l->ttl_ms = ttl_ms;
  snprintf(l->key, sizeof(l->key), "%s", name);
  snprintf(l->holder, sizeof(l->holder), "%s", holder);
  struct coin_bus_kv_config kc = {.bucket = COIN_KV_LOCKS, .history = 1};
  if ((rc = coin_bus_kv_ensure(&l->kv, NULL, bus, &kc)) != 0) {
    coin_error_wrap(rc, "lock: KV %s", COIN_KV_LOCKS);
    goto fail;
  }
  char value[512];
  for (int attempt = 0; attempt < CAS_RETRIES; attempt++) {
    int64_t now = coin_now_ms();
    if ((rc = lock_value(value, sizeof(value), holder, now, now + ttl_ms)))
      goto fail;
    struct coin_bus_kv_entry e = {0};
    rc = coin_bus_kv_get(&e, l->kv, l->key);
    if (rc == COIN_ENOTFOUND) {
      rc =
          coin_bus_kv_create(&l->revision, l->kv, l->key, value, strlen(value));
      if (rc == COIN_EEXISTS)
        continue; /* raced: look again */
    } else if (rc == 0) {
      char other[COIN_CODEC_ID_BYTES];
      int64_t expires;
      if (!lock_parse((const char *)e.value, e.value_len, other, sizeof(other),
                      &expires, now))
        COIN_LOG_WARN("lock value is not a lock: taken over",
                      COIN_LOG_STR("bucket", COIN_KV_LOCKS),
                      COIN_LOG_STR("key", l->key),
                      COIN_LOG_UINT("bytes", e.value_len));
      uint64_t rev = e.revision;
      coin_bus_kv_entry_clear(&e);
      if (expires > now && reclaim_own && strcmp(other, holder) == 0)
        COIN_LOG_INFO("lock held under our own name: a restart takes it over",
                      COIN_LOG_STR("bucket", COIN_KV_LOCKS),
                      COIN_LOG_STR("key", l->key),
                      COIN_LOG_STR("holder", holder));
      else if (expires > now) {
        char until[COIN_TF_UTC_TEXT_BYTES] = "?";
        coin_tf_format_utc(until, sizeof(until), expires);
        rc = coin_error_set(COIN_EEXISTS,
                            "lock %s/%s is held by %s until %s (expires in "
                            "%" PRId64 " s)",
                            COIN_KV_LOCKS, l->key, other, until,
                            (expires - now + 999) / 1000);
        goto fail;
      }
      rc = coin_bus_kv_update(&l->revision, l->kv, l->key, value, strlen(value),
                              rev);
      if (rc == COIN_ECONFLICT)
        continue;
    }
    if (rc)
      goto fail;
    l->acquired_at_ms = now;
    *out = l;
    return 0;
  }
  rc = coin_error_set(COIN_EEXISTS,
                      "lock %s/%s: lost %d races to other acquirers",
                      COIN_KV_LOCKS, l->key, CAS_RETRIES);
fail:
  coin_bus_kv_free(l->kv);
  pthread_mutex_destroy(&l->mu);
  pthread_cond_destroy(&l->cond);
  free(l);
  return rc;
}

int coin_lock_renew(struct coin_lock *l) {
  char value[512];
  int rc;
  if (l == NULL)
    return coin_error_set(COIN_EINVAL, "lock renew: NULL");
  pthread_mutex_lock(&l->mu);
  if (l->lost) {
    pthread_mutex_unlock(&l->mu);
    return coin_error_set(COIN_ECONFLICT, "lock %s: lost", l->key);
  }
  uint64_t rev = l->revision;
  pthread_mutex_unlock(&l->mu);
  int64_t now = coin_now_ms();
  if ((rc = lock_value(value, sizeof(value), l->holder, l->acquired_at_ms,
                       now + l->ttl_ms)) != 0)
    return rc;
  uint64_t nrev = 0;
  rc = coin_bus_kv_update(&nrev, l->kv, l->key, value, strlen(value), rev);
  pthread_mutex_lock(&l->mu);
  if (rc == 0)
    l->revision = nrev;
  else if (rc == COIN_ECONFLICT)
    l->lost = true;
  pthread_mutex_unlock(&l->mu);
  if (rc == COIN_ECONFLICT)
    return coin_error_set(COIN_ECONFLICT,
                          "lock %s: taken over by another holder (our lease "
                          "expired)",
                          l->key);
  return rc;
}

static void *keepalive(void *arg) {
  struct coin_lock *l = arg;
  pthread_mutex_lock(&l->mu);
  while (!l->stop && !l->lost) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t wait_ms = l->ttl_ms / 3;
    ts.tv_sec += wait_ms / 1000;
    ts.tv_nsec += (wait_ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000;
    }
    int w = 0;
    while (!l->stop && w != ETIMEDOUT)
      w = pthread_cond_timedwait(&l->cond, &l->mu, &ts);
    if (l->stop)
      break;
    pthread_mutex_unlock(&l->mu);
    (void)coin_lock_renew(l); /* transient errors: retried next period */
    pthread_mutex_lock(&l->mu);
  }
  pthread_mutex_unlock(&l->mu);
  return NULL;
}

int coin_lock_keepalive_start(struct coin_lock *l) {
  if (l == NULL || l->has_thread)
    return coin_error_set(COIN_EINVAL, "lock keepalive: NULL or running");
  if (pthread_create(&l->thread, NULL, keepalive, l) != 0)
    return coin_error_set(COIN_EINTERNAL, "lock keepalive: no thread");
  l->has_thread = true;
  return 0;
}

bool coin_lock_lost(struct coin_lock *l) {
  if (l == NULL)
    return true;
  pthread_mutex_lock(&l->mu);
  bool lost = l->lost;
  pthread_mutex_unlock(&l->mu);
  return lost;
}

void coin_lock_release(struct coin_lock *l) {
  if (l == NULL)
    return;
  if (l->has_thread) {
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_cond_signal(&l->cond);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
  }
  if (!l->lost) {
    char value[512];
    /* an already-expired value frees the lock; CAS so we never clobber a
     * holder that took over after our lease ran out */
    if (lock_value(value, sizeof(value), "", l->acquired_at_ms, 0) == 0)
      (void)coin_bus_kv_update(NULL, l->kv, l->key, value, strlen(value),
                               l->revision);
  }
  coin_bus_kv_free(l->kv);
  pthread_mutex_destroy(&l->mu);
  pthread_cond_destroy(&l->cond);
  free(l);
}
