/*
 * file.h: crash-safe file output for the static site and metrics files.
 * coin_file_write_atomic writes a temp file in the same directory, fsyncs it,
 * renames it over the target and fsyncs the directory, so a reader sees the
 * old or the new content, never a half-written file, whatever instruction the
 * process is killed at. Thread-safe (temp names are unique per call).
 */
#ifndef COIN_FILE_H
#define COIN_FILE_H

#include <stddef.h>

/* Creates path's parent directories as needed (mode 0755). */
int coin_file_mkdirs_for(const char *path);

/* Atomically replaces path with len bytes of data (mode 0644). */
int coin_file_write_atomic(const char *path, const void *data, size_t len);

/* Reads a whole file (up to max_bytes; COIN_ETOOBIG beyond) into a malloc'd,
 * NUL-terminated buffer owned by the caller. COIN_ENOTFOUND if absent. */
int coin_file_read(char **out, size_t *out_len, const char *path,
                   size_t max_bytes);

#endif
