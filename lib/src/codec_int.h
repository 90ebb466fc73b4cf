/*
 * codec_int.h: what codec.c shares with names.c and codec_json.c (inside
 * lib only).
 */
#ifndef COIN_CODEC_INT_H
#define COIN_CODEC_INT_H

/* Copies at most 40 chars of s for an error text, '?' for the unprintable
 * (buf of CODEC_SHOWN_BYTES); returns buf. */
#define CODEC_SHOWN_BYTES 48
const char *codec_shown(char buf[CODEC_SHOWN_BYTES], const char *s);
/* One dot-free token of a key prefix: [a-z0-9_]{1,64}; COIN_EINVAL naming
 * it otherwise. */
int codec_check_prefix_token(const char *tok);

#endif
