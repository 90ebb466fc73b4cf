/*
 * codec_int.h: what codec.c shares with names.c and codec_json.c (inside
 * lib only).
 */
#ifndef COIN_CODEC_INT_H
#define COIN_CODEC_INT_H

/* Buffers for coin_fmt_shown in codec texts: 40 chars of untrusted text. */
#define CODEC_SHOWN_BYTES 44
/* One dot-free token of a key prefix: [a-z0-9_]{1,64}; COIN_EINVAL naming
 * it otherwise. */
int codec_check_prefix_token(const char *tok);

#endif
