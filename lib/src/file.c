/* file.c: temp + fsync + rename + directory fsync (see file.h); the three
 * steps are also exposed separately so a caller can fsync many temp files
 * first and then rename them in the order it needs. */
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

int coin_file_sync_dir_of(const char *path) {
  return fsync_dir_of(path);
}

void coin_file_staged_clear(struct coin_file_staged *f) {
  if (f == NULL)
    return;
  if (f->tmp)
    unlink(f->tmp); /* never committed: the temp file goes */
  free(f->tmp);
  free(f->path);
  f->tmp = f->path = NULL;
}

/* Creates, fills, fsyncs and closes tmp. */
static int write_tmp(const char *tmp, const void *data, size_t len) {
  int rc = 0;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
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
  int c = close(fd);
  fd = -1;
  if (c != 0)
    rc = coin_error_set(COIN_EIO, "close %s: %s", tmp, strerror(errno));
out:
  if (fd >= 0)
    close(fd);
  if (rc != 0)
    unlink(tmp);
  return rc;
}

int coin_file_stage(struct coin_file_staged *out, const char *path,
                    const void *data, size_t len) {
  char tmp[PATH_MAX];
  int n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld.%u", path, (long)getpid(),
                   atomic_fetch_add(&temp_counter, 1));
  if (n < 0 || (size_t)n >= sizeof(tmp))
    return coin_error_set(COIN_EINVAL, "path too long: %.64s...", path);
  char *t = strdup(tmp), *p = strdup(path);
  if (!t || !p) {
    free(t);
    free(p);
    return coin_error_set(COIN_ENOMEM, "stage %s: out of memory", path);
  }
  int rc = write_tmp(t, data, len);
  if (rc != 0) {
    free(t);
    free(p);
    return rc;
  }
  out->tmp = t;
  out->path = p;
  return 0;
}

int coin_file_commit(struct coin_file_staged *f) {
  if (f == NULL || f->tmp == NULL)
    return coin_error_set(COIN_EINVAL, "commit: nothing staged");
  if (rename(f->tmp, f->path) != 0)
    return coin_error_set(COIN_EIO, "rename %s -> %s: %s", f->tmp, f->path,
                          strerror(errno));
  free(f->tmp);
  f->tmp = NULL; /* in place: clear leaves it */
  return 0;
}

int coin_file_write_atomic(const char *path, const void *data, size_t len) {
  struct coin_file_staged f = {0};
  int rc = coin_file_mkdirs_for(path);
  if (rc == 0)
    rc = coin_file_stage(&f, path, data, len);
  if (rc == 0)
    rc = coin_file_commit(&f);
  if (rc == 0)
    rc = fsync_dir_of(path);
  coin_file_staged_clear(&f);
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
