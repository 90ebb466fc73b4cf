/* file.c: temp + fsync + rename + directory fsync (see file.h). */
#include "coin/file.h"

#include "coin/error.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static atomic_uint temp_counter;

int coin_file_mkdirs_for(const char *path) {
  char dir[PATH_MAX];
  size_t n = strlen(path);
  if (n >= sizeof(dir))
    return coin_error_set(COIN_EINVAL, "path too long: %.64s...", path);
  memcpy(dir, path, n + 1);
  char *slash = strrchr(dir, '/');
  if (!slash || slash == dir)
    return 0;
  *slash = '\0';
  for (char *p = dir + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
      return coin_error_set(COIN_EIO, "mkdir %s: %s", dir, strerror(errno));
    *p = '/';
  }
  if (mkdir(dir, 0755) != 0 && errno != EEXIST)
    return coin_error_set(COIN_EIO, "mkdir %s: %s", dir, strerror(errno));
  return 0;
}

static int fsync_dir_of(const char *path) {
  char dir[PATH_MAX];
  snprintf(dir, sizeof(dir), "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash == dir)
    dir[1] = '\0';
  else if (slash)
    *slash = '\0';
  else
    snprintf(dir, sizeof(dir), ".");
  int fd = open(dir, O_RDONLY | O_DIRECTORY);
  if (fd < 0)
    return coin_error_set(COIN_EIO, "open dir %s: %s", dir, strerror(errno));
  int rc =
      fsync(fd) == 0 || errno == EINVAL
          ? 0
          : coin_error_set(COIN_EIO, "fsync dir %s: %s", dir, strerror(errno));
  close(fd);
  return rc;
}

int coin_file_write_atomic(const char *path, const void *data, size_t len) {
  char tmp[PATH_MAX];
  int fd = -1, rc = 0;
  rc = coin_file_mkdirs_for(path);
  if (rc != 0)
    return rc;
  int n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld.%u", path, (long)getpid(),
                   atomic_fetch_add(&temp_counter, 1));
  if (n < 0 || (size_t)n >= sizeof(tmp))
    return coin_error_set(COIN_EINVAL, "path too long: %.64s...", path);
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return coin_error_set(COIN_EIO, "create %s: %s", tmp, strerror(errno));
  const char *p = data;
  size_t left = len;
  while (left > 0) {
    ssize_t w = write(fd, p, left);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0) {
      rc = coin_error_set(COIN_EIO, "write %s: %s", tmp, strerror(errno));
      goto out;
    }
    p += w;
    left -= (size_t)w;
  }
  if (fsync(fd) != 0) {
    rc = coin_error_set(COIN_EIO, "fsync %s: %s", tmp, strerror(errno));
    goto out;
  }
  if (close(fd) != 0) {
    fd = -1;
    rc = coin_error_set(COIN_EIO, "close %s: %s", tmp, strerror(errno));
    goto out;
  }
  fd = -1;
  if (rename(tmp, path) != 0) {
    rc = coin_error_set(COIN_EIO, "rename %s -> %s: %s", tmp, path,
                        strerror(errno));
    goto out;
  }
  rc = fsync_dir_of(path);
  return rc;
out:
  if (fd >= 0)
    close(fd);
  unlink(tmp);
  return rc;
}

int coin_file_read(char **out, size_t *out_len, const char *path,
                   size_t max_bytes) {
  int rc = 0;
  char *buf = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) {
    if (errno == ENOENT)
      return coin_error_set(COIN_ENOTFOUND, "%s: no such file", path);
    return coin_error_set(COIN_EIO, "open %s: %s", path, strerror(errno));
  }
  size_t cap = 4096, len = 0;
  buf = malloc(cap);
  if (!buf) {
    rc = coin_error_set(COIN_ENOMEM, "read %s: out of memory", path);
    goto out;
  }
  for (;;) {
    if (len + 1 >= cap) {
      if (cap > max_bytes + 1) {
        rc = coin_error_set(COIN_ETOOBIG, "%s: larger than %zu bytes", path,
                            max_bytes);
        goto out;
      }
      char *nb = realloc(buf, cap * 2);
      if (!nb) {
        rc = coin_error_set(COIN_ENOMEM, "read %s: out of memory", path);
        goto out;
      }
      buf = nb;
      cap *= 2;
    }
    size_t r = fread(buf + len, 1, cap - len - 1, f);
    len += r;
    if (r == 0)
      break;
  }
  if (ferror(f)) {
    rc = coin_error_set(COIN_EIO, "read %s: %s", path, strerror(errno));
    goto out;
  }
  if (len > max_bytes) {
    rc = coin_error_set(COIN_ETOOBIG, "%s: larger than %zu bytes", path,
                        max_bytes);
    goto out;
  }
  buf[len] = '\0';
  *out = buf;
  *out_len = len;
  buf = NULL;
out:
  free(buf);
  fclose(f);
  return rc;
}
