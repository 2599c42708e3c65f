/* bench-stamp PATH: the command whose start bench-spawn-timer --stamp measures.
 *
 * It reads CLOCK_REALTIME first thing (before any output or allocation), writes the value in
 * nanoseconds to PATH.<pid> and renames that to PATH, so the reader sees either no file or the
 * whole number. Linked statically (see CMakeLists.txt): no dynamic loader runs before main, so
 * the stamp is within a few microseconds of the exec. `date +%s%N` would cost about a
 * millisecond of its own, more than the latency being measured. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char** argv) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  if (argc != 2) {
    fprintf(stderr, "usage: bench-stamp PATH\n");
    return 64;
  }
  char tmp[4096];
  int n = snprintf(tmp, sizeof tmp, "%s.%ld", argv[1], (long)getpid());
  if (n < 0 || (size_t)n >= sizeof tmp) {
    fprintf(stderr, "bench-stamp: path too long\n");
    return 64;
  }
  char line[32];
  int len = snprintf(line, sizeof line, "%lld\n",
                     (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || write(fd, line, (size_t)len) != len || close(fd) != 0 || rename(tmp, argv[1]) != 0) {
    perror("bench-stamp");
    unlink(tmp);
    return 1;
  }
  return 0;
}
