/*
 * bus_probe.c: coin_bus_responsive, whether the NATS server answers now
 * (a PING/PONG round trip, natsConnection_FlushTimeout), for readiness:
 * a paused or stuck server keeps the socket up, so the connection state
 * alone says "connected" while nothing gets through. Threads: any; the
 * probe is serialized by the bus' probe_mu (a leaf lock).
 */
#include "coin/clock.h"

#include "bus_int.h"

#include <time.h>

bool coin_bus_responsive(struct coin_bus *bus, int64_t timeout_ms,
                         int64_t cache_ms, int64_t *rtt_us) {
  if (rtt_us)
    *rtt_us = -1;
  if (bus == NULL || bus->nc == NULL || !coin_bus_connected(bus))
    return false;
  pthread_mutex_lock(&bus->probe_mu);
  int64_t now = coin_mono_ms();
  if (bus->probe_mono_ms == 0 || now - bus->probe_mono_ms >= cache_ms) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    natsStatus s =
        natsConnection_FlushTimeout(bus->nc, timeout_ms > 0 ? timeout_ms : 1);
    clock_gettime(CLOCK_MONOTONIC, &b);
    bus->probe_ok = s == NATS_OK;
    bus->probe_rtt_us = bus->probe_ok
                            ? (int64_t)(b.tv_sec - a.tv_sec) * 1000000 +
                                  (b.tv_nsec - a.tv_nsec) / 1000
                            : -1;
    bus->probe_mono_ms = coin_mono_ms();
  }
  bool ok = bus->probe_ok;
  if (rtt_us)
    *rtt_us = bus->probe_rtt_us;
  pthread_mutex_unlock(&bus->probe_mu);
  return ok && coin_bus_connected(bus);
}
