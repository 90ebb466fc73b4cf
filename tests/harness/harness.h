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

#include <sys/types.h>

struct coin_test_server {
  pid_t pid;
  int port;         /* client port (NATS) or HTTP port (InfluxDB) */
  int aux_port;     /* NATS monitoring port / InfluxDB RPC bind port */
  char dir[256];    /* temporary directory owned by the server */
  char url[128];    /* nats://127.0.0.1:PORT or http://127.0.0.1:PORT */
  char config[300]; /* nats-server -c file ("" = none); kept on restart */
};

/* A TCP port on 127.0.0.1 that was free a moment ago. */
int coin_test_free_port(void);

/* nats-server -js on a free port with a fresh store dir. */
int coin_test_nats_start(struct coin_test_server *out);
/* The same with `-c config_file` (e.g. users and permissions); the listen
 * address, ports and store dir of the command line win over the file. */
int coin_test_nats_start_config(struct coin_test_server *out,
                                const char *config_file);
/* Start again on the same port and store dir (after stop): for reconnects. */
int coin_test_nats_restart(struct coin_test_server *srv);

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
