/* bench-spawn-timer: times whole processes, the way a user's shell runs them.
 *
 *   bench-spawn-timer [--count N] [--label L] [--stamp PATH] [--gap-ms G]
 *                     [--timeout-ms T] -- CMD [ARGS...]
 *
 * Runs CMD N times, one after another, each with posix_spawn (glibc: clone(CLONE_VM |
 * CLONE_VFORK), so this process's size costs nothing), stdin and stdout on /dev/null, stderr
 * inherited, and waits for it. For each run it prints one line:
 *
 *   L SEQ SPAWN_NS EXIT_NS [STAMP_NS]
 *
 * SPAWN_NS is CLOCK_REALTIME just before posix_spawn, EXIT_NS just after the child has been
 * reaped (the moment a shell would go on to its next command). With --stamp PATH, each run's
 * CMD is expected to make something write a CLOCK_REALTIME nanosecond count into PATH
 * (bench-stamp does, atomically by rename): after the child exits the timer blocks on inotify
 * until PATH appears, reads it as STAMP_NS, removes it, and only then starts the next run.
 * STAMP_NS - EXIT_NS is "submit returned -> command running"; it can be negative when the
 * command starts before the submitting process has finished exiting.
 *
 * Any run that exits non-zero, is killed, outlives --timeout-ms (default 10000; it is then
 * killed), or whose stamp does not appear within --timeout-ms ends the timer with status 1
 * and a message: a benchmark of commands that failed measures nothing. --gap-ms sleeps between
 * runs (default 0), so that what a run left behind (a task still being recorded) is done
 * before the next one is timed. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char** environ;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void die(const char* what) {
  fprintf(stderr, "bench-spawn-timer: %s\n", what);
  exit(1);
}

static void usage(void) {
  fprintf(stderr,
          "usage: bench-spawn-timer [--count N] [--label L] [--stamp PATH] [--gap-ms G]\n"
          "                         [--timeout-ms T] -- CMD [ARGS...]\n");
  exit(64);
}

/* Reads PATH into *out; 1 if it was there and whole, 0 if not there yet. */
static int read_stamp(const char* path, int64_t* out) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return 0;
    perror(path);
    exit(1);
  }
  char buf[64];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) die("empty stamp file");
  buf[n] = 0;
  char* end;
  long long v = strtoll(buf, &end, 10);
  if (end == buf) die("stamp file holds no number");
  if (unlink(path) != 0) {
    perror(path);
    exit(1);
  }
  *out = v;
  return 1;
}

int main(int argc, char** argv) {
  long count = 100, gap_ms = 0, timeout_ms = 10000;
  const char* label = "run";
  const char* stamp = NULL;
  int i = 1;
  for (; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) {
      i++;
      break;
    }
    if (i + 1 >= argc) usage();
    if (strcmp(argv[i], "--count") == 0) count = atol(argv[++i]);
    else if (strcmp(argv[i], "--label") == 0) label = argv[++i];
    else if (strcmp(argv[i], "--stamp") == 0) stamp = argv[++i];
    else if (strcmp(argv[i], "--gap-ms") == 0) gap_ms = atol(argv[++i]);
    else if (strcmp(argv[i], "--timeout-ms") == 0) timeout_ms = atol(argv[++i]);
    else usage();
  }
  if (i >= argc || count <= 0 || timeout_ms <= 0 || gap_ms < 0) usage();
  char** cmd = argv + i;

  int inotify = -1;
  if (stamp) {
    /* Watched before the first spawn, so no rename can be missed. */
    char* copy = strdup(stamp);
    inotify = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (inotify < 0 || inotify_add_watch(inotify, dirname(copy), IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
      perror("inotify");
      return 1;
    }
    free(copy);
    unlink(stamp);
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);

  for (long seq = 1; seq <= count; seq++) {
    pid_t pid;
    int64_t spawned = now_ns();
    int err = posix_spawn(&pid, cmd[0], &actions, NULL, cmd, environ);
    if (err != 0) {
      fprintf(stderr, "bench-spawn-timer: %s: %s\n", cmd[0], strerror(err));
      return 1;
    }
    /* A pidfd, so a hung child is bounded without signals or polling. */
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0) {
      perror("pidfd_open");
      kill(pid, SIGKILL);
      return 1;
    }
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    int ready;
    do ready = poll(&p, 1, (int)timeout_ms); while (ready < 0 && errno == EINTR);
    if (ready == 0) {
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
      fprintf(stderr, "bench-spawn-timer: %s (run %ld) did not exit in %ld ms\n", cmd[0], seq,
              timeout_ms);
      return 1;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {
      if (errno != EINTR) {
        perror("waitpid");
        return 1;
      }
    }
    int64_t exited = now_ns();
    close(pidfd);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "bench-spawn-timer: %s (run %ld) ended with %s %d\n", cmd[0], seq,
              WIFEXITED(status) ? "status" : "signal",
              WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
      return 1;
    }
    if (stamp) {
      int64_t value = 0, deadline = mono_ms() + timeout_ms;
      while (!read_stamp(stamp, &value)) {
        int64_t left = deadline - mono_ms();
        if (left <= 0) {
          fprintf(stderr, "bench-spawn-timer: no stamp in %s within %ld ms of run %ld\n", stamp,
                  timeout_ms, seq);
          return 1;
        }
        struct pollfd q = {.fd = inotify, .events = POLLIN};
        if (poll(&q, 1, (int)left) > 0) {
          char events[4096];
          while (read(inotify, events, sizeof events) > 0) {
          }
        }
      }
      printf("%s %ld %lld %lld %lld\n", label, seq, (long long)spawned, (long long)exited,
             (long long)value);
    } else {
      printf("%s %ld %lld %lld\n", label, seq, (long long)spawned, (long long)exited);
    }
    if (gap_ms > 0) {
      struct timespec gap = {gap_ms / 1000, (gap_ms % 1000) * 1000000L};
      while (nanosleep(&gap, &gap) < 0 && errno == EINTR) {
      }
    }
  }
  fflush(stdout);
  return 0;
}
