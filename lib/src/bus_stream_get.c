/*
 * bus_stream_get.c: direct reads and subject purges of a JetStream stream
 * (additions to bus.h): the newest message stored on a subject
 * (js_GetLastMsg) and dropping every message of a subject (js_PurgeStream
 * with a subject filter). The model registry keeps artifact chunks this way.
 * Same thread model as bus_js.c; a returned message is owned by the caller.
 */
#include "bus_int.h"

#include "coin/error.h"

#include <stdlib.h>
#include <string.h>

int coin_bus_stream_get_last(struct coin_bus_msg **out, struct coin_bus *bus,
                             const char *stream, const char *subject) {
  int rc;
  natsMsg *nm = NULL;
  jsErrCode jerr = 0;
  if (out == NULL || bus == NULL)
    return coin_error_set(COIN_EINVAL, "stream get last: NULL argument");
  if ((rc = bus_check_name("stream name", stream)) != 0 ||
      (rc = bus_check_subject("subject", subject, false)) != 0)
    return rc;
  natsStatus s = js_GetLastMsg(&nm, bus->js, stream, subject, NULL, &jerr);
  if (s == NATS_NOT_FOUND || jerr == JSNoMessageFoundErr ||
      jerr == JSStreamNotFoundErr)
    return coin_error_set(COIN_ENOTFOUND, "stream %s: no message on %s", stream,
                          subject);
  if (s != NATS_OK) {
    rc = bus_nats_error(s, (int)jerr, "stream get last");
    return coin_error_wrap(rc, "stream %s subject %s", stream, subject);
  }
  struct coin_bus_msg *m = calloc(1, sizeof(*m));
  if (m == NULL) {
    natsMsg_Destroy(nm);
    return coin_error_set(COIN_ENOMEM, "stream get last: out of memory");
  }
  m->nm = nm;
  *out = m;
  return 0;
}

int coin_bus_stream_purge_subject(struct coin_bus *bus, const char *stream,
                                  const char *subject) {
  int rc;
  jsOptions o;
  jsErrCode jerr = 0;
  if (bus == NULL)
    return coin_error_set(COIN_EINVAL, "stream purge: NULL bus");
  if ((rc = bus_check_name("stream name", stream)) != 0 ||
      (rc = bus_check_subject("subject", subject, true)) != 0)
    return rc;
  jsOptions_Init(&o);
  o.Stream.Purge.Subject = subject;
  natsStatus s = js_PurgeStream(bus->js, stream, &o, &jerr);
  if (s == NATS_NOT_FOUND)
    return coin_error_set(COIN_ENOTFOUND, "stream %s: not found", stream);
  if (s != NATS_OK) {
    rc = bus_nats_error(s, (int)jerr, "stream purge");
    return coin_error_wrap(rc, "stream %s subject %s", stream, subject);
  }
  return 0;
}
