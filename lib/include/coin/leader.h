/*
 * leader.h: one active replica among several (coin-publish, coin-monitor):
 * a leader lease on the lock coin_locks/<name> (registry.h's lock: a CAS on
 * the revision read, an expiry in the value). A thread tries to acquire the
 * lease while standby and renews it every quarter of the lease while
 * active. See docs/scaling.md.
 *
 * The fence: coin_leader_active() is true only while the lease was
 * confirmed (acquired or renewed) less than three quarters of the lease ago
 * on this host's monotonic clock, measured from before the request was
 * sent. A standby may take over only after the full lease has passed since
 * the last renewal, so an active replica that cannot reach NATS stops
 * writing a quarter of the lease before anyone else may start. A renewal
 * that finds another holder marks the leader lost for good: the caller
 * stops (and a restart comes back as standby).
 *
 * Threads: the lease thread owns the lock; the functions below are safe from
 * any thread.
 */
#ifndef COIN_LEADER_H
#define COIN_LEADER_H

#include <stdbool.h>
#include <stdint.h>

#include "coin/bus.h"

struct coin_leader;

struct coin_leader_options {
  const char *name;   /* the lock key, e.g. "publish" */
  const char *holder; /* the replica's name (SERVICE_ID), unique per
                         replica: a restart under the same name takes its
                         own lease over at once */
  int64_t lease_ms;   /* >= 2000 */
};

enum coin_leader_role {
  COIN_LEADER_STANDBY = 0, /* waiting for the lease */
  COIN_LEADER_ACTIVE = 1,  /* holds a confirmed lease */
  COIN_LEADER_FENCED = 2,  /* holds it, but could not renew in time */
  COIN_LEADER_LOST = 3,    /* another holder took it over */
};

/* Starts the lease thread (the first acquire attempt is made before this
 * returns, so a lone replica is active at once). */
int coin_leader_start(struct coin_leader **out, struct coin_bus *bus,
                      const struct coin_leader_options *opts);

enum coin_leader_role coin_leader_role(struct coin_leader *l);
/* True only for COIN_LEADER_ACTIVE: the caller may write. */
bool coin_leader_active(struct coin_leader *l);
/* Times this replica became active (0 or 1 for a process, since a lost
 * lease is final). */
uint64_t coin_leader_acquired(struct coin_leader *l);
/* "standby", "active", "fenced", "lost". */
const char *coin_leader_role_name(enum coin_leader_role r);

struct coin_jbuf;
/* Prometheus text: coin_<service>_leader_active (1 while it may write) and
 * coin_<service>_leader_acquired_total; l may be NULL (not started). */
void coin_leader_metrics(struct coin_jbuf *b, const char *service,
                         struct coin_leader *l);

/* Stops the thread and releases the lease if held (an expired value, CAS),
 * so a standby takes over within its poll period; frees l. */
void coin_leader_stop(struct coin_leader *l);

#endif
