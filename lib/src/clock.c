/* clock.c: coin/clock.h. */
#include "coin/clock.h"

#include <time.h>

static int64_t ms_of(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct timespec coin_deadline_ts(clockid_t clock, int64_t ms) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += (ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  return ts;
}

int64_t coin_now_ms(void) {
  return ms_of(CLOCK_REALTIME);
}

int64_t coin_mono_ms(void) {
  return ms_of(CLOCK_MONOTONIC);
}
