#include "output.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "args.h"
#include "exit-status.h"

namespace taskctl {

namespace {

// Writes all of `bytes` to `fd`; returns 0 or the errno of the write that failed.
int writeAll(int fd, kj::ArrayPtr<const kj::byte> bytes) {
  while (bytes.size() > 0) {
    ssize_t n = ::write(fd, bytes.begin(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    bytes = bytes.slice(n, bytes.size());
  }
  return 0;
}

}  // namespace

void writeOut(kj::ArrayPtr<const kj::byte> bytes) {
  int error = writeAll(STDOUT_FILENO, bytes);
  if (error == 0) return;
  if (error == EPIPE) {
    // kj ignores SIGPIPE for its sockets; for our own stdout the reader leaving is the normal
    // end of `taskctl logs ID | head`, and shells expect it reported as SIGPIPE.
    signal(SIGPIPE, SIG_DFL);
    raise(SIGPIPE);
  }
  throw Failure{EXIT_IO, kj::str("cannot write to stdout: ", strerror(error))};
}

void writeError(kj::StringPtr message) { writeErrorRaw(kj::str("taskctl: ", message, '\n')); }

void writeErrorRaw(kj::StringPtr text) { (void)writeAll(STDERR_FILENO, text.asBytes()); }

kj::Maybe<size_t> outputWidth() {
  if (const char* columns = getenv("COLUMNS")) {
    KJ_IF_MAYBE (width, parseUnsigned(columns)) {
      if (*width > 0) return static_cast<size_t>(*width);
    }
  }
  struct winsize size;
  if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) {
    return static_cast<size_t>(size.ws_col);
  }
  return nullptr;
}

}  // namespace taskctl
