/*
 * leader.c: the leader lease (leader.h) on registry.h's lock. One thread
 * per leader: standby, it tries to acquire every poll period; active, it
 * renews every quarter of the lease and keeps the time of the last
 * confirmation for the fence. Everything it shares sits under mu.
 */
#include "coin/leader.h"
#include "coin/clock.h"

#include "coin/error.h"
#include "coin/jbuf.h"
#include "coin/log.h"
#include "coin/registry.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POLL_MAX_MS 1000

struct coin_leader {
  struct coin_bus *bus;
  char name[64];
  char holder[96];
  int64_t lease_ms;
  pthread_t thread;
  bool has_thread;
  pthread_mutex_t mu;
  pthread_cond_t cond;
  /* under mu */
  bool stop;
  enum coin_leader_role role;
  struct coin_lock *lock;
  int64_t confirmed_mono_ms; /* when the last confirmation was sent */
  uint64_t acquired;
  char seen_holder[96];
  bool warned; /* a failing acquire or renewal was said once */
};

static int64_t poll_ms(const struct coin_leader *l) {
  int64_t p = l->lease_ms / 5;
  return p > POLL_MAX_MS ? POLL_MAX_MS : p;
}

/* "lock coin_locks/x is held by HOLDER until ..." -> HOLDER */
static void holder_from_error(char *out, size_t n) {
  const char *m = coin_error_last();
  const char *p = m ? strstr(m, " is held by ") : NULL;
  out[0] = '\0';
  if (!p)
    return;
  p += strlen(" is held by ");
  const char *e = strstr(p, " until ");
  size_t len = e ? (size_t)(e - p) : strlen(p);
  if (len >= n)
    len = n - 1;
  memcpy(out, p, len);
  out[len] = '\0';
}

static void try_acquire(struct coin_leader *l) {
  int64_t sent = coin_mono_ms();
  struct coin_lock *lock = NULL;
  int rc = coin_lock_acquire_as(&lock, l->bus, l->name, l->holder, l->lease_ms,
                                true);
  char other[96] = "";
  if (rc == COIN_EEXISTS)
    holder_from_error(other, sizeof(other));
  pthread_mutex_lock(&l->mu);
  if (rc == 0) {
    l->lock = lock;
    l->role = COIN_LEADER_ACTIVE;
    l->confirmed_mono_ms = sent;
    l->acquired++;
    l->warned = false;
    snprintf(l->seen_holder, sizeof(l->seen_holder), "%s", l->holder);
  } else if (rc == COIN_EEXISTS) {
    snprintf(l->seen_holder, sizeof(l->seen_holder), "%s", other);
  }
  bool warn = rc != 0 && rc != COIN_EEXISTS && !l->warned;
  if (warn)
    l->warned = true;
  pthread_mutex_unlock(&l->mu);
  if (rc == 0)
    COIN_LOG_INFO("leader lease acquired: active",
                  COIN_LOG_STR("lease", l->name),
                  COIN_LOG_STR("holder", l->holder),
                  COIN_LOG_INT("lease_ms", l->lease_ms));
  else if (warn)
    COIN_LOG_WARN("leader lease: cannot ask (standby until it can)",
                  COIN_LOG_STR("lease", l->name), COIN_LOG_RC(rc));
}

static void renew(struct coin_leader *l) {
  int64_t sent = coin_mono_ms();
  int rc = coin_lock_renew(l->lock);
  pthread_mutex_lock(&l->mu);
  enum coin_leader_role was = l->role;
  if (rc == 0) {
    l->confirmed_mono_ms = sent;
    l->role = COIN_LEADER_ACTIVE;
    l->warned = false;
  } else if (rc == COIN_ECONFLICT) {
    l->role = COIN_LEADER_LOST;
  } else if (coin_mono_ms() - l->confirmed_mono_ms >= l->lease_ms * 3 / 4) {
    l->role = COIN_LEADER_FENCED;
  }
  enum coin_leader_role now = l->role;
  bool warn = rc != 0 && rc != COIN_ECONFLICT && !l->warned;
  if (warn)
    l->warned = true;
  pthread_mutex_unlock(&l->mu);
  if (now == COIN_LEADER_LOST && was != COIN_LEADER_LOST)
    COIN_LOG_ERROR("leader lease lost: another replica took over",
                   COIN_LOG_STR("lease", l->name),
                   COIN_LOG_STR("holder", l->holder));
  else if (now == COIN_LEADER_FENCED && was == COIN_LEADER_ACTIVE)
    COIN_LOG_ERROR("leader lease not renewed in time: writes stop until it is",
                   COIN_LOG_STR("lease", l->name), COIN_LOG_RC(rc));
  else if (now == COIN_LEADER_ACTIVE && was == COIN_LEADER_FENCED)
    COIN_LOG_INFO("leader lease renewed: active again",
                  COIN_LOG_STR("lease", l->name));
  else if (warn)
    COIN_LOG_WARN("leader lease renewal failed (retrying)",
                  COIN_LOG_STR("lease", l->name), COIN_LOG_RC(rc));
}

static void wait_for(struct coin_leader *l, int64_t ms) {
  struct timespec ts = coin_deadline_ts(CLOCK_MONOTONIC, ms);
  int w = 0;
  while (!l->stop && w != ETIMEDOUT)
    w = pthread_cond_timedwait(&l->cond, &l->mu, &ts);
}

static void *lease_main(void *arg) {
  struct coin_leader *l = arg;
  pthread_mutex_lock(&l->mu);
  while (!l->stop && l->role != COIN_LEADER_LOST) {
    bool holding = l->lock != NULL;
    wait_for(l, holding ? l->lease_ms / 4 : poll_ms(l));
    if (l->stop)
      break;
    pthread_mutex_unlock(&l->mu);
    if (holding)
      renew(l);
    else
      try_acquire(l);
    pthread_mutex_lock(&l->mu);
  }
  pthread_mutex_unlock(&l->mu);
  return NULL;
}

int coin_leader_start(struct coin_leader **out, struct coin_bus *bus,
                      const struct coin_leader_options *o) {
  if (!out || !bus || !o || !o->name || !o->holder)
    return coin_error_set(COIN_EINVAL, "leader: NULL argument");
  if (o->lease_ms < 2000)
    return coin_error_set(COIN_EINVAL,
                          "leader %s: lease %lld ms (rule: >= 2000)", o->name,
                          (long long)o->lease_ms);
  struct coin_leader *l = calloc(1, sizeof(*l));
  if (!l)
    return coin_error_set(COIN_ENOMEM, "leader: out of memory");
  l->bus = bus;
  l->lease_ms = o->lease_ms;
  snprintf(l->name, sizeof(l->name), "%s", o->name);
  snprintf(l->holder, sizeof(l->holder), "%s", o->holder);
  pthread_mutex_init(&l->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&l->cond, &ca);
  pthread_condattr_destroy(&ca);
  try_acquire(l);
  if (l->role != COIN_LEADER_ACTIVE)
    COIN_LOG_INFO("leader lease held elsewhere: standby",
                  COIN_LOG_STR("lease", l->name),
                  COIN_LOG_STR("holder", l->seen_holder));
  if (pthread_create(&l->thread, NULL, lease_main, l) != 0) {
    coin_leader_stop(l);
    return coin_error_set(COIN_EINTERNAL, "leader %s: no thread", o->name);
  }
  l->has_thread = true;
  *out = l;
  return 0;
}

enum coin_leader_role coin_leader_role(struct coin_leader *l) {
  pthread_mutex_lock(&l->mu);
  enum coin_leader_role r = l->role;
  if (r == COIN_LEADER_ACTIVE &&
      coin_mono_ms() - l->confirmed_mono_ms >= l->lease_ms * 3 / 4)
    r = COIN_LEADER_FENCED; /* the thread has not noticed yet */
  pthread_mutex_unlock(&l->mu);
  return r;
}

bool coin_leader_active(struct coin_leader *l) {
  return l && coin_leader_role(l) == COIN_LEADER_ACTIVE;
}

uint64_t coin_leader_acquired(struct coin_leader *l) {
  pthread_mutex_lock(&l->mu);
  uint64_t n = l->acquired;
  pthread_mutex_unlock(&l->mu);
  return n;
}

const char *coin_leader_role_name(enum coin_leader_role r) {
  switch (r) {
  case COIN_LEADER_ACTIVE: return "active";
  case COIN_LEADER_FENCED: return "fenced";
  case COIN_LEADER_LOST: return "lost";
  case COIN_LEADER_STANDBY:
  default: return "standby";
  }
}

void coin_leader_stop(struct coin_leader *l) {
  if (!l)
    return;
  if (l->has_thread) {
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_cond_broadcast(&l->cond);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
  }
  if (l->lock) {
    bool released = l->role != COIN_LEADER_LOST;
    coin_lock_release(l->lock); /* CAS: never clobbers a newer holder */
    if (released)
      COIN_LOG_INFO("leader lease released", COIN_LOG_STR("lease", l->name));
  }
  pthread_mutex_destroy(&l->mu);
  pthread_cond_destroy(&l->cond);
  free(l);
}

void coin_leader_metrics(struct coin_jbuf *b, const char *service,
                         struct coin_leader *l) {
  char name[96];
  snprintf(name, sizeof(name), "coin_%s_leader_active", service);
  coin_jbuf_prom_gauge(b, name,
                       "1 while this replica holds the leader lease and may "
                       "write; 0 standby, fenced or lost.",
                       coin_leader_active(l) ? 1 : 0);
  snprintf(name, sizeof(name), "coin_%s_leader_acquired_total", service);
  coin_jbuf_prom_counter(b, name, "Times this replica became the leader.",
                         l ? coin_leader_acquired(l) : 0);
}
