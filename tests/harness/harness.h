/*
 * harness.h: real servers for integration tests. Starts nats-server (JetStream)
 * and influxd on 127.0.0.1 with free ports and temporary directories, waits for
 * readiness by polling with a deadline, and stops them by PID. Every started
 * server is also registered for cleanup at exit and on SIGINT/SIGTERM/SIGABRT,
 * and the children get PR_SET_PDEATHSIG so a crashed test leaves nothing
 * behind. Single-threaded use only.
 */
#ifndef COIN_TEST_HARNESS_H
#define COIN_TEST_HARNESS_H

#include "coin/bus.h"

#include <stddef.h>
#include <sys/types.h>

/* The NATS roles of deploy/nats/nats-permissions.conf (users coin-<role>). */
#define COIN_TEST_NATS_ROLES 5

struct coin_test_server {
  pid_t pid;
  int port;         /* client port (NATS) or HTTP port (InfluxDB) */
  int aux_port;     /* NATS monitoring port / InfluxDB RPC bind port */
  char dir[256];    /* temporary directory owned by the server */
  char url[128];    /* nats://127.0.0.1:PORT or http://127.0.0.1:PORT */
  char config[300]; /* nats-server -c file ("" = none); kept on restart */
  /* NATS role table: the dir of nats-<role>.password and the passwords,
   * in the order ingest, publish, monitor, train, admin */
  char auth_dir[300];
  char password[COIN_TEST_NATS_ROLES][64];
};

/* A TCP port on 127.0.0.1 that was free a moment ago. */
int coin_test_free_port(void);

/* nats-server -js on a free port with a fresh store dir, running the real
 * role table deploy/nats/nats-permissions.conf (docs/bus.md "Permissions")
 * with passwords that scripts/nats-passwords.sh generates in
 * dir/nats-conf, as scripts/demo.sh does. Nobody gets in without a user:
 * a service logs in as its role (coin_test_nats_env), the test's own
 * clients as "admin" or the role whose behaviour they test
 * (coin_test_nats_options). */
int coin_test_nats_start(struct coin_test_server *out);
/* Start again on the same port, store dir and role table (after stop). */
int coin_test_nats_restart(struct coin_test_server *srv);

/* ---- logging in (roles: ingest, publish, monitor, train, admin) ---------- */

/* coin_bus_options_init(o), then srv's url, user coin-<role> and its
 * password (the strings belong to srv). Aborts on an unknown role. */
void coin_test_nats_options(struct coin_bus_options *o,
                            const struct coin_test_server *srv,
                            const char *role);
/* The environment of a service that logs in as role: "NATS_URL=...",
 * "NATS_USER=coin-<role>" and "NATS_PASSWORD_FILE=..." into rows k, k+1
 * and k+2 of a char[n_rows][row_bytes] array; returns k + 3. Aborts on an
 * unknown role or when the rows do not fit. Use COIN_TEST_NATS_ENV. */
int coin_test_nats_env(char *rows, size_t row_bytes, size_t n_rows, int k,
                       const struct coin_test_server *srv, const char *role);
#define COIN_TEST_NATS_ENV(rows, k, srv, role)                                 \
  coin_test_nats_env((char *)(rows), sizeof((rows)[0]),                        \
                     sizeof(rows) / sizeof((rows)[0]), (k), (srv), (role))

/* influxd with a generated config (all data under dir), HTTP on a free port. */
int coin_test_influx_start(struct coin_test_server *out);
/* Start again on the same port and data dir (after stop). */
int coin_test_influx_restart(struct coin_test_server *srv);

/* SIGTERM, wait up to 10 s, then SIGKILL. Keeps dir (see _cleanup). */
void coin_test_server_stop(struct coin_test_server *srv);
/* SIGKILL now (crash simulation). */
void coin_test_server_kill(struct coin_test_server *srv);
/* Stop if running and remove the temporary directory. */
void coin_test_server_cleanup(struct coin_test_server *srv);

/* Creates a fresh temporary directory under $TMPDIR (or /tmp). */
int coin_test_tmpdir(char *out, size_t out_bytes, const char *tag);
/* rm -rf of a directory created by coin_test_tmpdir. */
void coin_test_rmtree(const char *dir);

/* A child process of the test (a service under test, the replay exchange). */
struct coin_test_proc {
  pid_t pid;
  char log[512]; /* stdout+stderr of the child */
};

/* Starts argv[0] (a path) with the test's environment plus env_extra
 * ("NAME=value" strings, NULL-terminated; may be NULL), output to log_path.
 * The child dies with the test (PR_SET_PDEATHSIG) and at exit. */
int coin_test_proc_start(struct coin_test_proc *out, char *const argv[],
                         char *const env_extra[], const char *log_path);
/* Waits up to timeout_ms for the child to exit; returns its exit code,
 * 128+signal when killed, or -1 on timeout (child still running). */
int coin_test_proc_wait(struct coin_test_proc *p, int timeout_ms);
/* Sends sig; SIGKILL also reaps. */
void coin_test_proc_signal(struct coin_test_proc *p, int sig);
/* True while the child runs (reaps it when it ended). */
int coin_test_proc_alive(struct coin_test_proc *p);

/* $COIN_BIN_DIR/name into out (the build's bin directory). */
int coin_test_bin(char *out, size_t out_bytes, const char *name);

/* coin-replay-exchange on 127.0.0.1 and a free port over
 * $COIN_SHARED_DATA_DIR, with extra arguments (NULL-terminated; may be
 * NULL). Waits until it answers; url is http://127.0.0.1:PORT. */
int coin_test_replay_start(struct coin_test_server *out,
                           const char *const *extra_args);

/* Runs a shell command; returns its exit status (or -1). */
int coin_test_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
