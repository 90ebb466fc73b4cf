/*
 * watermark.c: the watermark contract (watermark.h): keys, read, and the
 * compare-and-set forward write.
 */
#include "coin/watermark.h"

#include "coin/codec.h"
#include "coin/error.h"

#include <inttypes.h>
#include <stdio.h>

#define MAX_WRITES 3

int coin_watermark_key(char *out, size_t out_bytes,
                       enum coin_watermark_role role, const char *exchange,
                       const char *symbol, enum coin_tf tf) {
  return coin_codec_series_key(out, out_bytes,
                               role == COIN_WM_PUBLISH ? COIN_KEY_PUBLISH_PREFIX
                                                       : COIN_KEY_INGEST_PREFIX,
                               exchange, symbol, tf);
}

int coin_watermark_read(struct coin_watermark *w, struct coin_bus_kv *kv,
                        const char *key) {
  struct coin_bus_kv_entry e = {0};
  w->ms = -1;
  w->revision = 0;
  w->bad = false;
  int rc = coin_bus_kv_get(&e, kv, key);
  if (rc == COIN_ENOTFOUND)
    return 0;
  if (rc != 0)
    return coin_error_wrap(rc, "KV %s/%s", COIN_KV_WATERMARKS, key);
  w->revision = e.revision;
  int64_t v;
  if (coin_codec_watermark_parse(&v, e.value, e.value_len) != 0) {
    w->bad = true;
    rc = coin_error_set(COIN_EDECODE,
                        "KV %s/%s: %zu bytes that are not a watermark (rule: "
                        "decimal open time in ms)",
                        COIN_KV_WATERMARKS, key, e.value_len);
  } else {
    w->ms = v;
  }
  coin_bus_kv_entry_clear(&e);
  return rc;
}

static bool forward(int64_t want, const struct coin_watermark *cur, void *ud) {
  (void)ud;
  return cur->ms < want;
}

int coin_watermark_advance(struct coin_watermark *w, struct coin_bus_kv *kv,
                           const char *key, int64_t want,
                           coin_watermark_need_fn need, void *ud,
                           struct coin_watermark_write *out) {
  char val[32];
  int len = snprintf(val, sizeof(val), "%" PRId64, want);
  *out = (struct coin_watermark_write){.theirs = -1};
  if (!need)
    need = forward;
  for (int attempt = 0; attempt < MAX_WRITES; attempt++) {
    if (!need(want, w, ud))
      return 0;
    uint64_t rev = 0;
    int rc = w->revision ? coin_bus_kv_update(&rev, kv, key, val, (size_t)len,
                                              w->revision)
                         : coin_bus_kv_create(&rev, kv, key, val, (size_t)len);
    if (rc == 0) {
      w->ms = want;
      w->revision = rev;
      w->bad = false;
      out->written = true;
      return 0;
    }
    if (rc != COIN_ECONFLICT && rc != COIN_EEXISTS)
      return coin_error_wrap(rc, "watermark %s", key);
    /* another writer (a replica, a restarted us): look again */
    out->conflicts++;
    rc = coin_watermark_read(w, kv, key);
    if (rc == COIN_EDECODE)
      out->bad_seen = true; /* overwritten by the next write */
    else if (rc != 0)
      return rc;
    out->theirs = w->ms;
  }
  return coin_error_set(COIN_ECONFLICT, "watermark %s: CAS lost %d times", key,
                        MAX_WRITES);
}
