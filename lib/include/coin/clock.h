/*
 * clock.h: the two clocks of the project, in milliseconds. The wall clock
 * is for instants that leave the process (candle times, generated_at,
 * expiries in KV); the monotonic clock is for durations and deadlines
 * inside it (it never jumps with NTP). Thread-safe.
 */
#ifndef COIN_CLOCK_H
#define COIN_CLOCK_H

#include <stdint.h>

/* CLOCK_REALTIME: milliseconds since the Unix epoch. */
int64_t coin_now_ms(void);
/* CLOCK_MONOTONIC: milliseconds since an arbitrary start. */
int64_t coin_mono_ms(void);

#endif
