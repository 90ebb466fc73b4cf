/* harness.c: see harness.h. */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_TRACKED 32
#define READY_DEADLINE_MS 30000

static pid_t tracked[MAX_TRACKED];
static int cleanup_installed;

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void kill_all(void) {
  for (int i = 0; i < MAX_TRACKED; i++) {
    if (tracked[i] > 0) {
      kill(tracked[i], SIGKILL);
      waitpid(tracked[i], NULL, 0);
      tracked[i] = 0;
    }
  }
}

static void on_signal(int sig) {
  kill_all();
  signal(sig, SIG_DFL);
  raise(sig);
}

static void track(pid_t pid) {
  if (!cleanup_installed) {
    atexit(kill_all);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGABRT, on_signal);
    signal(SIGSEGV, on_signal);
    cleanup_installed = 1;
  }
  for (int i = 0; i < MAX_TRACKED; i++) {
    if (tracked[i] == 0) {
      tracked[i] = pid;
      return;
    }
  }
}

static void untrack(pid_t pid) {
  for (int i = 0; i < MAX_TRACKED; i++)
    if (tracked[i] == pid)
      tracked[i] = 0;
}

int coin_test_free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return -1;
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = 0;
  socklen_t len = sizeof(sa);
  int port = -1;
  if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
      getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
    port = ntohs(sa.sin_port);
  close(fd);
  return port;
}

int coin_test_tmpdir(char *out, size_t out_bytes, const char *tag) {
  const char *base = getenv("TMPDIR");
  if (!base || !*base)
    base = "/tmp";
  snprintf(out, out_bytes, "%s/coin-test-%s-XXXXXX", base, tag);
  return mkdtemp(out) ? 0 : -1;
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

void coin_test_rmtree(const char *dir) {
  if (dir && dir[0] && strncmp(dir, "/", 2) != 0)
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int coin_test_sh(const char *fmt, ...) {
  char cmd[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof(cmd), fmt, ap);
  va_end(ap);
  int st = system(cmd);
  if (st == -1 || !WIFEXITED(st))
    return -1;
  return WEXITSTATUS(st);
}

static pid_t spawn(char *const argv[], const char *logpath) {
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
      _exit(127);
    int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) {
      dup2(devnull, 0);
      close(devnull);
    }
    execvp(argv[0], argv);
    _exit(127);
  }
  track(pid);
  return pid;
}

/* Alive = not yet reaped. Reaps a dead child so the caller sees the exit. */
static int alive(pid_t pid) {
  int st;
  return waitpid(pid, &st, WNOHANG) == 0;
}

static int tcp_ready(int port, const char *expect_prefix) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return 0;
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons((uint16_t)port);
  int ok = 0;
  struct timeval tv = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
    if (!expect_prefix) {
      ok = 1;
    } else {
      char buf[16] = {0};
      ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
      ok = n > 0 && strncmp(buf, expect_prefix, strlen(expect_prefix)) == 0;
    }
  }
  close(fd);
  return ok;
}

/* GET path on 127.0.0.1:port with a raw socket; returns the HTTP status. */
static int http_status(int port, const char *path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return -1;
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons((uint16_t)port);
  struct timeval tv = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  int status = -1;
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
    char req[256];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    if (send(fd, req, (size_t)n, 0) == n) {
      char buf[64] = {0};
      if (recv(fd, buf, sizeof(buf) - 1, 0) > 12)
        sscanf(buf, "HTTP/%*s %d", &status);
    }
  }
  close(fd);
  return status;
}

static int wait_ready(struct coin_test_server *srv, int (*probe)(int port),
                      const char *what) {
  long long deadline = now_ms() + READY_DEADLINE_MS;
  while (now_ms() < deadline) {
    if (!alive(srv->pid)) {
      fprintf(stderr, "harness: %s exited during start-up; see %s/server.log\n",
              what, srv->dir);
      untrack(srv->pid);
      srv->pid = 0;
      return -1;
    }
    if (probe(srv->port))
      return 0;
    sleep_ms(25);
  }
  fprintf(stderr, "harness: %s not ready after %d ms; see %s/server.log\n",
          what, READY_DEADLINE_MS, srv->dir);
  coin_test_server_kill(srv);
  return -1;
}

/* JetStream is usable once the monitoring endpoint reports healthy. */
static int nats_ready_port;
static int nats_probe_full(int port) {
  if (!tcp_ready(port, "INFO"))
    return 0;
  return http_status(nats_ready_port, "/healthz?js-enabled-only=true") == 200;
}

static int nats_launch(struct coin_test_server *srv) {
  char port[16], mport[16], store[300], logp[300];
  snprintf(port, sizeof(port), "%d", srv->port);
  snprintf(mport, sizeof(mport), "%d", srv->aux_port);
  snprintf(store, sizeof(store), "%s/js", srv->dir);
  snprintf(logp, sizeof(logp), "%s/server.log", srv->dir);
  char *argv[] = {"nats-server", "-a",  "127.0.0.1", "-p", port, "-m", mport,
                  "-js",         "-sd", store,       NULL, NULL, NULL};
  if (srv->config[0]) { /* nats-server -c: users and permissions */
    argv[10] = "-c";
    argv[11] = srv->config;
  }
  const char *sbin = "/usr/sbin/nats-server";
  if (access(sbin, X_OK) == 0)
    argv[0] = (char *)sbin;
  srv->pid = spawn(argv, logp);
  if (srv->pid < 0)
    return -1;
  nats_ready_port = srv->aux_port;
  return wait_ready(srv, nats_probe_full, "nats-server");
}

/* ---- NATS role table ----------------------------------------------------- */

static const char *const nats_roles[COIN_TEST_NATS_ROLES] = {
    "ingest", "publish", "monitor", "train", "admin"};
static const char *const nats_users[COIN_TEST_NATS_ROLES] = {
    "coin-ingest", "coin-publish", "coin-monitor", "coin-train", "coin-admin"};

static int role_index(const char *role) {
  for (int r = 0; role && r < COIN_TEST_NATS_ROLES; r++)
    if (strcmp(role, nats_roles[r]) == 0)
      return r;
  fprintf(stderr,
          "harness: unknown NATS role \"%s\" (ingest, publish, monitor, "
          "train, admin)\n",
          role ? role : "(null)");
  abort();
}

/* The deploy's table, next to fresh passwords (nats-server resolves the
 * table's include of nats-passwords.conf relative to the table, so the
 * table is copied there at run time, as scripts/demo.sh does). */
static int nats_auth_setup(struct coin_test_server *srv) {
  if (snprintf(srv->auth_dir, sizeof(srv->auth_dir), "%s/nats-conf",
               srv->dir) >= (int)sizeof(srv->auth_dir) ||
      snprintf(srv->config, sizeof(srv->config), "%s/nats-permissions.conf",
               srv->auth_dir) >= (int)sizeof(srv->config))
    return -1;
  if (coin_test_sh("'%s/scripts/nats-passwords.sh' '%s' && cp "
                   "'%s/deploy/nats/nats-permissions.conf' '%s/'",
                   COIN_TEST_SOURCE_DIR, srv->auth_dir, COIN_TEST_SOURCE_DIR,
                   srv->auth_dir) != 0) {
    fprintf(stderr, "harness: cannot set up the NATS role table in %s\n",
            srv->auth_dir);
    return -1;
  }
  for (int r = 0; r < COIN_TEST_NATS_ROLES; r++) {
    char path[400];
    snprintf(path, sizeof(path), "%s/nats-%s.password", srv->auth_dir,
             nats_roles[r]);
    FILE *f = fopen(path, "r");
    int ok = f && fgets(srv->password[r], sizeof(srv->password[r]), f);
    if (f)
      fclose(f);
    srv->password[r][strcspn(srv->password[r], "\r\n")] = '\0';
    if (!ok || !srv->password[r][0]) {
      fprintf(stderr, "harness: no password in %s\n", path);
      return -1;
    }
  }
  return 0;
}

int coin_test_nats_start(struct coin_test_server *out) {
  memset(out, 0, sizeof(*out));
  if (coin_test_tmpdir(out->dir, sizeof(out->dir), "nats") != 0 ||
      nats_auth_setup(out) != 0)
    return -1;
  out->port = coin_test_free_port();
  out->aux_port = coin_test_free_port();
  snprintf(out->url, sizeof(out->url), "nats://127.0.0.1:%d", out->port);
  return nats_launch(out);
}

void coin_test_nats_options(struct coin_bus_options *o,
                            const struct coin_test_server *srv,
                            const char *role) {
  int r = role_index(role);
  coin_bus_options_init(o);
  o->url = srv->url;
  o->user = nats_users[r];
  o->password = srv->password[r];
}

/* Path of role's password file (for NATS_PASSWORD_FILE) into out. */
static int password_file(char *out, size_t out_bytes,
                         const struct coin_test_server *srv, const char *role) {
  int r = role_index(role);
  int n = snprintf(out, out_bytes, "%s/nats-%s.password", srv->auth_dir,
                   nats_roles[r]);
  return n > 0 && (size_t)n < out_bytes ? 0 : -1;
}

int coin_test_nats_env(char *rows, size_t row_bytes, size_t n_rows, int k,
                       const struct coin_test_server *srv, const char *role) {
  int r = role_index(role);
  char pwfile[400];
  password_file(pwfile, sizeof(pwfile), srv, role);
  if (k < 0 || (size_t)k + 3 > n_rows ||
      snprintf(rows + (size_t)k * row_bytes, row_bytes, "NATS_URL=%s",
               srv->url) >= (int)row_bytes ||
      snprintf(rows + (size_t)(k + 1) * row_bytes, row_bytes, "NATS_USER=%s",
               nats_users[r]) >= (int)row_bytes ||
      snprintf(rows + (size_t)(k + 2) * row_bytes, row_bytes,
               "NATS_PASSWORD_FILE=%s", pwfile) >= (int)row_bytes) {
    fprintf(stderr,
            "harness: the NATS environment of %s does not fit (%d of "
            "%zu rows of %zu bytes used)\n",
            role, k, n_rows, row_bytes);
    abort();
  }
  return k + 3;
}

int coin_test_nats_restart(struct coin_test_server *srv) {
  if (srv->pid > 0)
    coin_test_server_stop(srv);
  return nats_launch(srv);
}

static int influx_probe(int port) {
  return http_status(port, "/ping") == 204;
}

static int influx_launch(struct coin_test_server *srv) {
  char conf[300], logp[300];
  snprintf(conf, sizeof(conf), "%s/influxdb.conf", srv->dir);
  snprintf(logp, sizeof(logp), "%s/server.log", srv->dir);
  char *argv[] = {"influxd", "run", "-config", conf, NULL};
  srv->pid = spawn(argv, logp);
  if (srv->pid < 0)
    return -1;
  return wait_ready(srv, influx_probe, "influxd");
}

int coin_test_influx_start(struct coin_test_server *out) {
  memset(out, 0, sizeof(*out));
  if (coin_test_tmpdir(out->dir, sizeof(out->dir), "influx") != 0)
    return -1;
  out->port = coin_test_free_port();
  out->aux_port = coin_test_free_port();
  snprintf(out->url, sizeof(out->url), "http://127.0.0.1:%d", out->port);

  char conf[300];
  snprintf(conf, sizeof(conf), "%s/influxdb.conf", out->dir);
  FILE *f = fopen(conf, "w");
  if (!f)
    return -1;
  fprintf(f,
          "reporting-disabled = true\n"
          "bind-address = \"127.0.0.1:%d\"\n"
          "[meta]\n  dir = \"%s/meta\"\n"
          "[data]\n  dir = \"%s/data\"\n  wal-dir = \"%s/wal\"\n"
          "  query-log-enabled = false\n"
          "[monitor]\n  store-enabled = false\n"
          "[http]\n  bind-address = \"127.0.0.1:%d\"\n  log-enabled = false\n"
          "[continuous_queries]\n  enabled = false\n",
          out->aux_port, out->dir, out->dir, out->dir, out->port);
  fclose(f);
  return influx_launch(out);
}

int coin_test_influx_restart(struct coin_test_server *srv) {
  if (srv->pid > 0)
    coin_test_server_stop(srv);
  return influx_launch(srv);
}

void coin_test_server_stop(struct coin_test_server *srv) {
  if (!srv || srv->pid <= 0)
    return;
  kill(srv->pid, SIGTERM);
  long long deadline = now_ms() + 10000;
  int st;
  while (now_ms() < deadline) {
    pid_t r = waitpid(srv->pid, &st, WNOHANG);
    if (r == srv->pid || (r < 0 && errno == ECHILD))
      goto reaped;
    sleep_ms(20);
  }
  kill(srv->pid, SIGKILL);
  waitpid(srv->pid, &st, 0);
reaped:
  untrack(srv->pid);
  srv->pid = 0;
}

void coin_test_server_kill(struct coin_test_server *srv) {
  if (!srv || srv->pid <= 0)
    return;
  kill(srv->pid, SIGKILL);
  waitpid(srv->pid, NULL, 0);
  untrack(srv->pid);
  srv->pid = 0;
}

void coin_test_server_cleanup(struct coin_test_server *srv) {
  if (!srv)
    return;
  coin_test_server_stop(srv);
  /* what the role table refused, for the reader of a failed test (a test
   * that provokes refusals on purpose asserts them itself) */
  if (srv->auth_dir[0])
    coin_test_sh("if grep -q Violation '%s/server.log'; then echo 'harness: "
                 "nats-server refused (first 10):' >&2; grep Violation "
                 "'%s/server.log' | head -10 >&2; fi",
                 srv->dir, srv->dir);
  if (srv->dir[0])
    coin_test_rmtree(srv->dir);
  srv->dir[0] = '\0';
}

/* ---- child processes ---------------------------------------------------- */

extern char **environ;

int coin_test_proc_start(struct coin_test_proc *out, char *const argv[],
                         char *const env_extra[], const char *log_path) {
  memset(out, 0, sizeof(*out));
  snprintf(out->log, sizeof(out->log), "%s", log_path);
  size_t n_env = 0, n_extra = 0;
  while (environ[n_env])
    n_env++;
  while (env_extra && env_extra[n_extra])
    n_extra++;
  char **envp = calloc(n_env + n_extra + 1, sizeof(char *));
  if (!envp)
    return -1;
  size_t k = 0;
  for (size_t i = 0; i < n_extra; i++)
    envp[k++] = env_extra[i];
  for (size_t i = 0; i < n_env; i++) {
    /* extra entries override inherited ones of the same name */
    const char *eq = strchr(environ[i], '=');
    size_t nl = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
    int dup = 0;
    for (size_t j = 0; j < n_extra; j++)
      if (strncmp(env_extra[j], environ[i], nl) == 0 && env_extra[j][nl] == '=')
        dup = 1;
    if (!dup)
      envp[k++] = environ[i];
  }
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    free(envp);
    return -1;
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
      _exit(127);
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) {
      dup2(devnull, 0);
      close(devnull);
    }
    execve(argv[0], argv, envp);
    _exit(127);
  }
  free(envp);
  track(pid);
  out->pid = pid;
  return 0;
}

int coin_test_proc_wait(struct coin_test_proc *p, int timeout_ms) {
  if (p->pid <= 0)
    return -1;
  long long deadline = now_ms() + timeout_ms;
  for (;;) {
    int st;
    pid_t r = waitpid(p->pid, &st, WNOHANG);
    if (r == p->pid) {
      untrack(p->pid);
      p->pid = 0;
      if (WIFEXITED(st))
        return WEXITSTATUS(st);
      if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
      return -1;
    }
    if (now_ms() >= deadline)
      return -1;
    sleep_ms(10);
  }
}

void coin_test_proc_signal(struct coin_test_proc *p, int sig) {
  if (p->pid <= 0)
    return;
  kill(p->pid, sig);
  if (sig == SIGKILL) {
    waitpid(p->pid, NULL, 0);
    untrack(p->pid);
    p->pid = 0;
  }
}

int coin_test_proc_alive(struct coin_test_proc *p) {
  if (p->pid <= 0)
    return 0;
  int st;
  pid_t r = waitpid(p->pid, &st, WNOHANG);
  if (r == p->pid) {
    untrack(p->pid);
    p->pid = 0;
    return 0;
  }
  return 1;
}

int coin_test_bin(char *out, size_t out_bytes, const char *name) {
  const char *dir = getenv("COIN_BIN_DIR");
  if (!dir || !*dir) {
    fprintf(stderr, "harness: COIN_BIN_DIR is not set (run through ctest)\n");
    return -1;
  }
  int n = snprintf(out, out_bytes, "%s/%s", dir, name);
  return n > 0 && (size_t)n < out_bytes ? 0 : -1;
}

static int replay_probe(int port) {
  return http_status(port, "/api/v3/ping") == 200;
}

int coin_test_replay_start(struct coin_test_server *out,
                           const char *const *extra_args) {
  char bin[512], listen[64], logp[300];
  memset(out, 0, sizeof(*out));
  const char *data = getenv("COIN_SHARED_DATA_DIR");
  if (coin_test_bin(bin, sizeof(bin), "coin-replay-exchange") != 0)
    return -1;
  if (!data || !*data) {
    fprintf(stderr, "harness: COIN_SHARED_DATA_DIR is not set\n");
    return -1;
  }
  if (coin_test_tmpdir(out->dir, sizeof(out->dir), "replay") != 0)
    return -1;
  out->port = coin_test_free_port();
  snprintf(listen, sizeof(listen), "127.0.0.1:%d", out->port);
  snprintf(out->url, sizeof(out->url), "http://127.0.0.1:%d", out->port);
  snprintf(logp, sizeof(logp), "%s/server.log", out->dir);
  char *argv[48];
  int argc = 0;
  argv[argc++] = bin;
  argv[argc++] = "--listen";
  argv[argc++] = listen;
  argv[argc++] = "--data";
  argv[argc++] = (char *)data;
  for (size_t i = 0; extra_args && extra_args[i] && argc < 46; i++)
    argv[argc++] = (char *)extra_args[i];
  argv[argc] = NULL;
  out->pid = spawn(argv, logp);
  if (out->pid < 0)
    return -1;
  return wait_ready(out, replay_probe, "coin-replay-exchange");
}
