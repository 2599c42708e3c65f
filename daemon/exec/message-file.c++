#include "message-file.h"

#include <capnp/serialize.h>
#include <kj/debug.h>
#include <sys/stat.h>
#include <unistd.h>

namespace taskctl {

kj::Own<capnp::MessageReader> readMessageFile(int fd, size_t maxBytes) {
  struct stat info;
  KJ_SYSCALL(fstat(fd, &info));
  auto size = static_cast<size_t>(info.st_size);
  KJ_REQUIRE(size > 0, "empty message file");
  KJ_REQUIRE(size <= maxBytes, "message file too large", size, maxBytes);
  KJ_REQUIRE(size % sizeof(capnp::word) == 0, "message file is not a whole number of words", size);

  // pread, not read: the fd may share its offset with the writer's.
  auto words = kj::heapArray<capnp::word>(size / sizeof(capnp::word));
  auto bytes = words.asBytes();
  size_t done = 0;
  while (done < size) {
    ssize_t n;
    KJ_SYSCALL(n = pread(fd, bytes.begin() + done, size - done, done));
    KJ_REQUIRE(n > 0, "message file shrank while being read", done, size);
    done += n;
  }

  // FlatArrayMessageReader borrows its words: attach them so they live as long.
  auto reader = kj::heap<capnp::FlatArrayMessageReader>(words);
  return kj::Own<capnp::MessageReader>(kj::mv(reader)).attach(kj::mv(words));
}

}  // namespace taskctl
