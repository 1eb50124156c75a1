// metabench: small-file metadata benchmark for tools/bench/run.sh.
//
//   metabench DIR NFILES [PAUSE_MS]
//
// In DIR (which must exist and be empty of "mb.*" files) it runs four phases
// over NFILES files and prints one line per phase, "PHASE OPS SECONDS OPS_PER_S":
//   create   open(O_CREAT|O_EXCL) + one 1 KiB write + close, per file
//   stat     stat() of every file by path
//   readdir  opendir/readdir of DIR until every entry has been seen, repeated
//            until at least NFILES entries were read and 0.2 s have passed
//   unlink   unlink() of every file
// Before the stat and the readdir phase it sleeps PAUSE_MS (default 0), so
// that the kernel's FUSE attribute/entry caches (1 s for every FUSE target of
// run.sh) have expired and each stat really reaches the file system daemon;
// the pause is not part of any timing.
//
// C rather than a shell loop: a fork per operation would cost more than the
// operation itself and hide the differences being measured.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *path) {
  fprintf(stderr, "metabench: %s %s: %s\n", what, path, strerror(errno));
  exit(1);
}

static void report(const char *phase, long ops, double secs) {
  printf("%s %ld %.6f %.1f\n", phase, ops, secs, secs > 0 ? (double)ops / secs : 0.0);
  fflush(stdout);
}

static void pause_ms(long ms) {
  if (ms <= 0) return;
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

int main(int argc, char **argv) {
  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: %s DIR NFILES [PAUSE_MS]\n", argv[0]);
    return 2;
  }
  const char *dir = argv[1];
  long n = strtol(argv[2], NULL, 10);
  long pause = argc == 4 ? strtol(argv[3], NULL, 10) : 0;
  if (n <= 0 || n > 10000000) {
    fprintf(stderr, "metabench: NFILES must be 1..10000000\n");
    return 2;
  }
  if (chdir(dir) != 0) die("chdir", dir);

  char name[64];
  char buf[1024];
  memset(buf, 'm', sizeof buf);

  double t0 = now();
  for (long i = 0; i < n; i++) {
    snprintf(name, sizeof name, "mb.%07ld", i);
    int fd = open(name, O_CREAT | O_EXCL | O_WRONLY, 0644);
    if (fd < 0) die("create", name);
    if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf) die("write", name);
    if (close(fd) != 0) die("close", name);
  }
  report("create", n, now() - t0);

  pause_ms(pause);
  t0 = now();
  for (long i = 0; i < n; i++) {
    struct stat st;
    snprintf(name, sizeof name, "mb.%07ld", i);
    if (stat(name, &st) != 0) die("stat", name);
    if (st.st_size != (off_t)sizeof buf) {
      fprintf(stderr, "metabench: %s has size %lld, want %zu\n", name,
              (long long)st.st_size, sizeof buf);
      return 1;
    }
  }
  report("stat", n, now() - t0);

  pause_ms(pause);
  long entries = 0;
  t0 = now();
  double elapsed = 0;
  do {
    DIR *d = opendir(".");
    if (!d) die("opendir", dir);
    long seen = 0;
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
      if (strncmp(e->d_name, "mb.", 3) == 0) seen++;
      entries++;
    }
    if (errno != 0) die("readdir", dir);
    closedir(d);
    if (seen != n) {
      fprintf(stderr, "metabench: readdir saw %ld of %ld files\n", seen, n);
      return 1;
    }
    elapsed = now() - t0;
  } while (entries < n || elapsed < 0.2);
  report("readdir", entries, elapsed);

  t0 = now();
  for (long i = 0; i < n; i++) {
    snprintf(name, sizeof name, "mb.%07ld", i);
    if (unlink(name) != 0) die("unlink", name);
  }
  report("unlink", n, now() - t0);
  return 0;
}
