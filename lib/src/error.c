/* error.c: thread-local last-error text (libgit2 git_error_set style). */
#include "coin/error.h"
#include "coin/fmt.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ERRBUF_BYTES 1024

static _Thread_local char errbuf[ERRBUF_BYTES];

int coin_error_set(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  coin_fmt_vline(errbuf, sizeof(errbuf), fmt, ap);
  va_end(ap);
  return code;
}

int coin_error_wrap(int code, const char *fmt, ...) {
  char prefix[ERRBUF_BYTES];
  char old[ERRBUF_BYTES];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof(prefix), fmt, ap);
  va_end(ap);
  memcpy(old, errbuf, sizeof(old));
  /* Truncation is accepted: the prefix matters most, then the cause. */
  size_t used = strnlen(prefix, sizeof(errbuf) - 1);
  memcpy(errbuf, prefix, used);
  if (old[0] && used + 2 < sizeof(errbuf)) {
    memcpy(errbuf + used, ": ", 2);
    used += 2;
    size_t rest = strnlen(old, sizeof(errbuf) - 1 - used);
    memcpy(errbuf + used, old, rest);
    used += rest;
  }
  errbuf[used] = '\0';
  return code;
}

const char *coin_error_last(void) {
  return errbuf;
}

void coin_error_clear(void) {
  errbuf[0] = '\0';
}

bool coin_error_retryable(int code) {
  return code != COIN_EINVAL && code != COIN_EREJECTED && code != COIN_ENOMEM;
}

const char *coin_error_name(int code) {
  switch (code) {
  case COIN_OK: return "OK";
  case COIN_EINVAL: return "EINVAL";
  case COIN_ENOMEM: return "ENOMEM";
  case COIN_ENOTFOUND: return "ENOTFOUND";
  case COIN_ECONFLICT: return "ECONFLICT";
  case COIN_EDECODE: return "EDECODE";
  case COIN_ETOOBIG: return "ETOOBIG";
  case COIN_EIO: return "EIO";
  case COIN_ETIMEOUT: return "ETIMEOUT";
  case COIN_EUNAVAIL: return "EUNAVAIL";
  case COIN_EREJECTED: return "EREJECTED";
  case COIN_ERATELIMIT: return "ERATELIMIT";
  case COIN_EEXISTS: return "EEXISTS";
  case COIN_ECLOSED: return "ECLOSED";
  case COIN_EINTERNAL: return "EINTERNAL";
  default: return "EUNKNOWN";
  }
}
