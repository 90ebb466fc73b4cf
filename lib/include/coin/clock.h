/*
 * clock.h: the two clocks of the project, in milliseconds. The wall clock
 * is for instants that leave the process (candle times, generated_at,
 * expiries in KV); the monotonic clock is for durations and deadlines
 * inside it (it never jumps with NTP). Thread-safe.
 */
#ifndef COIN_CLOCK_H
#define COIN_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_REALTIME: milliseconds since the Unix epoch. */
int64_t coin_now_ms(void);
/* CLOCK_MONOTONIC: milliseconds since an arbitrary start. */
int64_t coin_mono_ms(void);
/* The instant ms from now on clock (CLOCK_REALTIME or CLOCK_MONOTONIC), as
 * the absolute time pthread_cond_timedwait wants. */
struct timespec coin_deadline_ts(clockid_t clock, int64_t ms);

#endif
