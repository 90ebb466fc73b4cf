/*
 * outbox.c: the NATS side of the state machine, on its own thread so an
 * evaluation never waits for NATS. Jobs are done in order, each as: alerts
 * into JetStream COIN_ALERTS (Nats-Msg-Id = coin_codec_alert_msg_id, retried
 * until acked), the StatusTransition on coin.status.> (core publish), then
 * the state record in KV coin_monitor. The KV write comes last: if the
 * process dies before it, the restarted monitor derives the same alerts with
 * the same ids and the stream drops them as duplicates.
 * Thread model: producers (the pass) push under out_lock; one consumer.
 */
#include "monitor_int.h"

#include "coin/clock.h"
#include "coin/error.h"
#include "coin/log.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

void mon_job_free(struct mon_job *job) {
  if (job == NULL)
    return;
  for (size_t i = 0; i < job->n_alerts; i++)
    free(job->alerts[i].data);
  free(job->alerts);
  free(job->status);
  free(job->state_json);
  free(job->kv_key);
  free(job);
}

void outbox_push(struct monitor *m, struct mon_job *job) {
  struct mon_job *dropped = NULL;
  if (job->raised_ms == 0)
    job->raised_ms = coin_now_ms();
  pthread_mutex_lock(&m->out_lock);
  if (m->out_len >= MON_OUTBOX_MAX && m->out_head &&
      m->out_head->next != NULL) {
    /* NATS has been away for very long: keep the newest work. The state
     * records of dropped jobs are superseded by later ones for the same
     * series; their alerts are lost (counted, logged). */
    dropped = m->out_head->next;
    m->out_head->next = dropped->next;
    if (m->out_tail == dropped)
      m->out_tail = m->out_head;
    m->out_len--;
  }
  job->next = NULL;
  if (m->out_tail)
    m->out_tail->next = job;
  else
    m->out_head = job;
  m->out_tail = job;
  m->out_len++;
  atomic_store(&m->c.outbox_depth, m->out_len);
  pthread_cond_signal(&m->out_cond);
  pthread_mutex_unlock(&m->out_lock);
  if (dropped) {
    atomic_fetch_add(&m->c.outbox_dropped, 1);
    /* every sink owed these alerts: each ledger counts them dropped */
    for (size_t i = dropped->n_sent; i < dropped->n_alerts; i++)
      for (size_t k = 0; k < m->n_sinks; k++)
        delivery_settle(&m->sinks[k], dropped->alerts[i].msg_id, false, 0);
    COIN_LOG_ERROR(
        "outbox full: oldest pending job dropped",
        COIN_LOG_UINT("alerts", dropped->n_alerts),
        COIN_LOG_STR("symbol",
                     dropped->series ? dropped->series->symbol : "(global)"),
        COIN_LOG_STR("timeframe",
                     dropped->series ? coin_tf_name(dropped->series->tf) : ""));
    mon_job_free(dropped);
  }
}

/* One step of the head job; 0 when the whole job is done. */
static int do_job(struct monitor *m, struct mon_job *job) {
  const struct mon_series *s = job->series;
  char subject[COIN_CODEC_SUBJECT_BYTES];
  int rc;
  while (job->n_sent < job->n_alerts) {
    struct mon_msg *a = &job->alerts[job->n_sent];
    struct coin_bus_pub_ack ack = {0};
    if (s)
      coin_codec_subject_alert(subject, sizeof(subject), m->cfg->core.exchange,
                               s->symbol, s->tf);
    else
      snprintf(subject, sizeof(subject), "%s", COIN_SUBJECT_ALERTS_GLOBAL);
    rc = coin_bus_js_publish(&ack, m->bus, subject, a->msg_id, a->data, a->len);
    if (rc != 0) {
      atomic_fetch_add(&m->c.publish_errors, 1);
      COIN_LOG_WARN("alert publish failed (will retry)",
                    COIN_LOG_STR("subject", subject),
                    COIN_LOG_STR("msg_id", a->msg_id), COIN_LOG_RC(rc));
      return rc;
    }
    if (ack.duplicate) {
      /* stored before (a retry, or a previous process): the sinks may
       * have it already, so no ledger owes it again */
      atomic_fetch_add(&m->c.alerts_duplicate, 1);
    } else {
      atomic_fetch_add(&m->c.alerts_published, 1);
      delivery_expect(m, a->msg_id, job->raised_ms);
    }
    job->n_sent++;
  }
  if (job->status && !job->status_sent && s) {
    /* core publish: buffered while reconnecting; a tap may miss it */
    coin_codec_subject_status(subject, sizeof(subject), m->cfg->core.exchange,
                              s->symbol, s->tf);
    rc = coin_bus_publish(m->bus, subject, job->status, job->status_len);
    if (rc == 0)
      atomic_fetch_add(&m->c.status_published, 1);
    job->status_sent = true;
  }
  if (job->state_json) {
    if (job->kv_key)
      snprintf(subject, sizeof(subject), "%s", job->kv_key);
    else
      mon_state_key(subject, m, s);
    rc = coin_bus_kv_put(NULL, m->kv_state, subject, job->state_json,
                         job->state_len);
    if (rc != 0) {
      atomic_fetch_add(&m->c.kv_errors, 1);
      COIN_LOG_WARN("state record not written (will retry)",
                    COIN_LOG_STR("key", subject), COIN_LOG_RC(rc));
      return rc;
    }
    atomic_fetch_add(&m->c.kv_writes, 1);
  }
  return 0;
}

static void *outbox_main(void *arg) {
  struct monitor *m = arg;
  int64_t backoff_ms = 0;
  for (;;) {
    pthread_mutex_lock(&m->out_lock);
    while (m->out_head == NULL && !atomic_load(&m->out_stop))
      pthread_cond_wait(&m->out_cond, &m->out_lock);
    struct mon_job *job = m->out_head;
    pthread_mutex_unlock(&m->out_lock);
    if (job == NULL || atomic_load(&m->out_stop))
      break; /* stopped: outbox_stop frees what is left */
    if (do_job(m, job) != 0) {
      backoff_ms = backoff_ms ? backoff_ms * 2 : 250;
      if (backoff_ms > 5000)
        backoff_ms = 5000;
      if (mon_sleep_unless(&m->out_stop, backoff_ms))
        break;
      continue;
    }
    backoff_ms = 0;
    pthread_mutex_lock(&m->out_lock);
    m->out_head = job->next;
    if (m->out_head == NULL)
      m->out_tail = NULL;
    m->out_len--;
    atomic_store(&m->c.outbox_depth, m->out_len);
    pthread_mutex_unlock(&m->out_lock);
    mon_job_free(job);
  }
  return NULL;
}

int outbox_start(struct monitor *m) {
  int err = pthread_create(&m->out_thread, NULL, outbox_main, m);
  if (err != 0)
    return coin_error_set(COIN_EINTERNAL, "outbox thread: %s", strerror(err));
  m->out_started = true;
  return 0;
}

void outbox_stop(struct monitor *m, int64_t drain_ms) {
  if (m->out_started) {
    int64_t deadline = coin_mono_ms() + drain_ms;
    for (;;) {
      pthread_mutex_lock(&m->out_lock);
      bool empty = m->out_head == NULL;
      pthread_mutex_unlock(&m->out_lock);
      if (empty || coin_mono_ms() >= deadline)
        break;
      struct timespec ts = {0, 20 * 1000000L};
      nanosleep(&ts, NULL);
    }
    pthread_mutex_lock(&m->out_lock);
    atomic_store(&m->out_stop, true);
    pthread_cond_broadcast(&m->out_cond);
    pthread_mutex_unlock(&m->out_lock);
    pthread_join(m->out_thread, NULL);
    m->out_started = false;
  }
  size_t lost = 0;
  while (m->out_head) {
    struct mon_job *j = m->out_head;
    m->out_head = j->next;
    lost++;
    mon_job_free(j);
  }
  m->out_tail = NULL;
  m->out_len = 0;
  if (lost)
    COIN_LOG_WARN("outbox not drained at stop: the next start derives these "
                  "transitions again",
                  COIN_LOG_UINT("jobs", lost));
}
