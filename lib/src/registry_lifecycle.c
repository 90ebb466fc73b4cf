/*
 * registry_lifecycle.c: the model lifecycle as a reader of the site sees it
 * (registry.h "lifecycle"): the aliases, each role's metadata figures and
 * the recent-events log, read with the registry's public calls only.
 * Threads: as the registry (one thread at a time).
 */
#include "coin/registry.h"

#include "coin/error.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const char *coin_promotion_via_name(enum coin_promotion_via via) {
  switch (via) {
  case COIN_PROMOTION_MANUAL: return "manual";
  case COIN_PROMOTION_AUTOMATIC: return "automatic";
  case COIN_PROMOTION_BOOTSTRAP: return "bootstrap";
  case COIN_PROMOTION_ROLLBACK: return "rollback";
  default: return "unknown";
  }
}

static int64_t ms_or_unknown(double v) {
  return isfinite(v) && v >= 0 ? (int64_t)v : -1;
}

/* One role: 0 (set or absent), < 0 registry unreachable. */
static int read_role(struct coin_registry *r, const char *alias, bool champion,
                     struct coin_model_role_view *out) {
  memset(out, 0, sizeof(*out));
  out->since_ms = out->shadow_realized = out->shadow_needed = -1;
  out->shadow_checked_ms = -1;
  int rc = coin_registry_alias_get(r, out->version, NULL, alias);
  if (rc == COIN_ENOTFOUND) {
    out->version[0] = '\0';
    return 0;
  }
  if (rc)
    return rc;
  struct coin_model_metadata m;
  rc = coin_registry_get(r, &m, NULL, out->version);
  if (rc == COIN_ENOTFOUND || rc == COIN_EDECODE)
    return 0; /* dangling or bad: the version alone is what is known */
  if (rc)
    return rc;
  snprintf(out->kind, sizeof(out->kind), "%s", m.kind);
  out->registered_ms = m.created_at_ms;
  if (champion) {
    out->since_ms =
        ms_or_unknown(coin_codec_model_metric(&m, "promotion.at_ms"));
    if (coin_codec_model_metric(&m, "promotion.rollback") == 1.0)
      out->via = COIN_PROMOTION_ROLLBACK;
    else if (coin_codec_model_metric(&m, "promotion.bootstrap") == 1.0)
      out->via = COIN_PROMOTION_BOOTSTRAP;
    else if (coin_codec_model_metric(&m, "promotion.automatic") == 1.0)
      out->via = COIN_PROMOTION_AUTOMATIC;
    else if (out->since_ms >= 0)
      out->via = COIN_PROMOTION_MANUAL;
  } else {
    out->shadow_realized =
        ms_or_unknown(coin_codec_model_metric(&m, "shadow.realized"));
    out->shadow_needed =
        ms_or_unknown(coin_codec_model_metric(&m, "shadow.needed"));
    out->shadow_checked_ms =
        ms_or_unknown(coin_codec_model_metric(&m, "shadow.checked_at_ms"));
  }
  return 0;
}

int coin_registry_lifecycle(struct coin_registry *r,
                            struct coin_model_lifecycle *out) {
  if (r == NULL || out == NULL)
    return coin_error_set(COIN_EINVAL, "lifecycle: NULL argument");
  memset(out, 0, sizeof(*out));
  int rc = read_role(r, COIN_ALIAS_CHAMPION, true, &out->champion);
  if (!rc)
    rc = read_role(r, COIN_ALIAS_CHALLENGER, false, &out->challenger);
  if (rc)
    return coin_error_wrap(rc, "lifecycle");
  rc = coin_registry_alias_get(r, out->previous, NULL, COIN_ALIAS_PREVIOUS);
  if (rc == COIN_ENOTFOUND)
    out->previous[0] = '\0';
  else if (rc)
    return coin_error_wrap(rc, "lifecycle");
  rc = coin_registry_recent_get(r, &out->recent);
  if (rc == COIN_EDECODE) {
    out->recent_undecodable = true;
    memset(&out->recent, 0, sizeof(out->recent));
    rc = 0;
  }
  return rc ? coin_error_wrap(rc, "lifecycle") : 0;
}
