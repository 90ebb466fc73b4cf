/*
 * fuzz_replay.c: runs a libFuzzer target (LLVMFuzzerTestOneInput) without
 * libFuzzer, so gcc builds and CTest can use it: every corpus file, then
 * N inputs mutated from the corpus by a seeded PRNG (same seed, same inputs).
 *   fuzz_replay [-n ITERATIONS] [-s SEED] PATH...   (files or directories)
 * On abort/crash the input being run is written to ./fuzz-crash-<seed>-<i>
 * for replay (best effort). Single-threaded; exit 0 when all inputs ran.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_INPUT_BYTES (4u << 20)
#define MAX_CORPUS 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct input {
  uint8_t *data;
  size_t len;
};

static struct input corpus[MAX_CORPUS];
static size_t n_corpus;

/* What is running now, for the crash handler. */
static const uint8_t *cur_data;
static size_t cur_len;
static char crash_path[128];

static void on_crash(int sig) {
  int fd = open(crash_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    size_t off = 0;
    while (off < cur_len) {
      ssize_t w = write(fd, cur_data + off, cur_len - off);
      if (w <= 0)
        break;
      off += (size_t)w;
    }
    close(fd);
  }
  static const char msg[] = "fuzz_replay: crashing input saved\n";
  ssize_t ignored = write(2, msg, sizeof msg - 1);
  (void)ignored;
  signal(sig, SIG_DFL);
  raise(sig);
}

static uint64_t rng_state;

/* xorshift64*: small, fast, and the same everywhere. */
static uint64_t rnd(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * UINT64_C(2685821657736338717);
}

static size_t rnd_below(size_t n) {
  return n ? (size_t)(rnd() % n) : 0;
}

static int add_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    perror(path);
    return -1;
  }
  if (n_corpus == MAX_CORPUS) {
    fclose(f);
    fprintf(stderr, "fuzz_replay: more than %d corpus files\n", MAX_CORPUS);
    return -1;
  }
  uint8_t *buf = malloc(MAX_INPUT_BYTES);
  size_t len = buf ? fread(buf, 1, MAX_INPUT_BYTES, f) : 0;
  fclose(f);
  if (buf == NULL)
    return -1;
  corpus[n_corpus].data = buf;
  corpus[n_corpus].len = len;
  n_corpus++;
  return 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds a file, or a directory's regular files in name order. */
static int add_path(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) {
    perror(path);
    return -1;
  }
  if (!S_ISDIR(st.st_mode))
    return add_file(path);
  DIR *d = opendir(path);
  if (d == NULL) {
    perror(path);
    return -1;
  }
  char *names[MAX_CORPUS];
  size_t n = 0;
  struct dirent *e;
  int rc = 0;
  while ((e = readdir(d)) != NULL && n < MAX_CORPUS)
    if (e->d_name[0] != '.')
      names[n++] = strdup(e->d_name);
  closedir(d);
  qsort(names, n, sizeof names[0], cmp_str);
  for (size_t i = 0; i < n; i++) {
    char full[4096];
    snprintf(full, sizeof full, "%s/%s", path, names[i]);
    if (rc == 0 && stat(full, &st) == 0 && S_ISREG(st.st_mode))
      rc = add_file(full);
    free(names[i]);
  }
  return rc;
}

static void run(const uint8_t *data, size_t len) {
  /* An exact-size copy, so ASan sees any read past the end. */
  uint8_t *copy = malloc(len ? len : 1);
  if (copy == NULL)
    abort();
  memcpy(copy, data, len);
  cur_data = copy;
  cur_len = len;
  LLVMFuzzerTestOneInput(copy, len);
  free(copy);
}

static const uint8_t INTERESTING[] = {0x00, 0x01, 0x02, 0x07, 0x08, 0x0a,
                                      0x12, 0x7f, 0x80, 0xff, 0x0b, 0x0d};

/* One mutation of buf (capacity MAX_INPUT_BYTES) in place. */
static void mutate(uint8_t *buf, size_t *len) {
  size_t n = *len;
  size_t at = rnd_below(n + 1);
  switch (rnd_below(9)) {
  case 0: /* flip a bit */
    if (n)
      buf[rnd_below(n)] ^= (uint8_t)(1u << rnd_below(8));
    break;
  case 1: /* an interesting byte */
    if (n)
      buf[rnd_below(n)] = INTERESTING[rnd_below(sizeof INTERESTING)];
    break;
  case 2: /* a random byte */
    if (n)
      buf[rnd_below(n)] = (uint8_t)rnd();
    break;
  case 3: /* insert 1..4 bytes */
  {
    size_t k = 1 + rnd_below(4);
    if (n + k > MAX_INPUT_BYTES)
      break;
    memmove(buf + at + k, buf + at, n - at);
    for (size_t i = 0; i < k; i++)
      buf[at + i] = (uint8_t)rnd();
    *len = n + k;
    break;
  }
  case 4: /* delete a range */
  {
    if (at == n)
      break;
    size_t k = 1 + rnd_below(n - at < 16 ? n - at : 16);
    memmove(buf + at, buf + at + k, n - at - k);
    *len = n - k;
    break;
  }
  case 5: /* duplicate a range (repeated fields, merged messages) */
  {
    if (n == 0)
      break;
    size_t from = rnd_below(n);
    size_t k = 1 + rnd_below(n - from);
    if (n + k > MAX_INPUT_BYTES)
      break;
    memmove(buf + at + k, buf + at, n - at);
    memmove(buf + at, buf + (from >= at ? from + k : from), k);
    *len = n + k;
    break;
  }
  case 6: /* truncate */ *len = at; break;
  case 7: /* splice the tail of another corpus input */
  {
    const struct input *o = &corpus[rnd_below(n_corpus)];
    size_t from = rnd_below(o->len + 1);
    size_t k = o->len - from;
    if (at + k > MAX_INPUT_BYTES)
      break;
    memcpy(buf + at, o->data + from, k);
    *len = at + k;
    break;
  }
  default: /* a length-delimited field header with a random length */
  {
    if (n + 2 > MAX_INPUT_BYTES)
      break;
    memmove(buf + at + 2, buf + at, n - at);
    buf[at] = (uint8_t)((1 + rnd_below(20)) << 3 | 2);
    buf[at + 1] = (uint8_t)rnd_below(128);
    *len = n + 2;
    break;
  }
  }
}

int main(int argc, char **argv) {
  unsigned long long iterations = 5000, seed = 1;
  int opt;
  while ((opt = getopt(argc, argv, "n:s:")) != -1) {
    char *end;
    if (opt == 'n' || opt == 's') {
      unsigned long long v = strtoull(optarg, &end, 10);
      if (*optarg == '\0' || *end != '\0') {
        fprintf(stderr, "fuzz_replay: -%c wants a number\n", opt);
        return 2;
      }
      *(opt == 'n' ? &iterations : &seed) = v;
    } else {
      fprintf(stderr, "usage: fuzz_replay [-n N] [-s SEED] PATH...\n");
      return 2;
    }
  }
  for (int i = optind; i < argc; i++)
    if (add_path(argv[i]) != 0)
      return 2;
  if (n_corpus == 0) {
    fprintf(stderr, "fuzz_replay: empty corpus\n");
    return 2;
  }
  signal(SIGABRT, on_crash);
  signal(SIGSEGV, on_crash);
  signal(SIGBUS, on_crash);
  signal(SIGFPE, on_crash);

  snprintf(crash_path, sizeof crash_path, "fuzz-crash-corpus");
  for (size_t i = 0; i < n_corpus; i++)
    run(corpus[i].data, corpus[i].len);

  rng_state = seed * UINT64_C(0x9E3779B97F4A7C15) + 1;
  uint8_t *buf = malloc(MAX_INPUT_BYTES);
  if (buf == NULL)
    return 2;
  for (unsigned long long it = 0; it < iterations; it++) {
    size_t len;
    snprintf(crash_path, sizeof crash_path, "fuzz-crash-%llu-%llu", seed, it);
    if (rnd_below(8) == 0) { /* pure noise with a random selector */
      len = rnd_below(257);
      for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)rnd();
    } else {
      const struct input *src = &corpus[rnd_below(n_corpus)];
      len = src->len;
      memcpy(buf, src->data, len);
      uint8_t selector = len ? buf[0] : 0;
      size_t ops = 1 + rnd_below(4);
      for (size_t k = 0; k < ops; k++)
        mutate(buf, &len);
      if (len && rnd_below(16) != 0)
        buf[0] = selector; /* mostly keep the decoder the seed was for */
    }
    run(buf, len);
  }
  free(buf);
  for (size_t i = 0; i < n_corpus; i++)
    free(corpus[i].data);
  printf("fuzz_replay: %zu corpus inputs + %llu mutated (seed %llu): ok\n",
         n_corpus, iterations, seed);
  return 0;
}
