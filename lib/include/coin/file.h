/*
 * file.h: crash-safe file output for the static site and metrics files.
 * coin_file_write_atomic writes a temp file in the same directory, fsyncs it,
 * renames it over the target and fsyncs the directory, so a reader sees the
 * old or the new content, never a half-written file, whatever instruction the
 * process is killed at. Thread-safe (temp names are unique per call).
 * The same steps one by one (coin_file_stage, coin_file_commit,
 * coin_file_sync_dir_of) let a caller fsync several temp files first and then
 * rename them in the order its readers rely on, with one directory fsync per
 * directory at the end.
 */
#ifndef COIN_FILE_H
#define COIN_FILE_H

#include <stddef.h>

/* Creates path's parent directories as needed (mode 0755). */
int coin_file_mkdirs_for(const char *path);

/* Atomically replaces path with len bytes of data (mode 0644). */
int coin_file_write_atomic(const char *path, const void *data, size_t len);

/* A file written under a temp name next to path and fsynced, not yet in
 * place. Owns both strings; tmp is NULL once committed. */
struct coin_file_staged {
  char *path;
  char *tmp;
};

/* Writes len bytes of data to a new temp file beside path (its directory
 * must exist), fsyncs and closes it. out is not written on failure (the
 * temp file is removed then). */
int coin_file_stage(struct coin_file_staged *out, const char *path,
                    const void *data, size_t len);

/* Renames the staged temp file over its path (atomic for readers). The
 * directory is not fsynced: call coin_file_sync_dir_of once per directory
 * after the last commit. On failure the temp file stays staged. */
int coin_file_commit(struct coin_file_staged *f);

/* Removes a temp file that was not committed and frees f's strings.
 * Accepts a zeroed or committed f. */
void coin_file_staged_clear(struct coin_file_staged *f);

/* fsyncs the directory that holds path (makes its renames durable). */
int coin_file_sync_dir_of(const char *path);

/* Reads a whole file (up to max_bytes; COIN_ETOOBIG beyond) into a malloc'd,
 * NUL-terminated buffer owned by the caller. COIN_ENOTFOUND if absent. */
int coin_file_read(char **out, size_t *out_len, const char *path,
                   size_t max_bytes);

#endif
