#include "result-file.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <capnp/serialize.h>
#include <kj/debug.h>
#include <kj/io.h>

#include "message-file.h"

namespace taskctl {
namespace {

// A result is a few hundred bytes; anything near this is not one of ours.
constexpr size_t MAX_RESULT_BYTES = 1 << 20;

kj::String directoryOf(kj::StringPtr path) {
  KJ_IF_MAYBE(slash, path.findLast('/')) {
    return *slash == 0 ? kj::str("/") : kj::str(path.slice(0, *slash));
  }
  return kj::str(".");
}

}  // namespace

void writeExecResult(kj::StringPtr path, records::ExecResult::Reader result) {
  KJ_CONTEXT("writing result file", path);
  capnp::MallocMessageBuilder message;
  message.setRoot(result);

  auto tmpPath = kj::str(path, ".tmp");
  int fd;
  KJ_SYSCALL(fd = open(tmpPath.cStr(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600), tmpPath);
  {
    kj::AutoCloseFd file(fd);
    capnp::writeMessageToFd(file, message);
    KJ_SYSCALL(fsync(file), tmpPath);
  }
  KJ_SYSCALL(rename(tmpPath.cStr(), path.cStr()), tmpPath, path);

  // The rename is durable only once the directory entry is.
  auto dir = directoryOf(path);
  int dirFd;
  KJ_SYSCALL(dirFd = open(dir.cStr(), O_RDONLY | O_DIRECTORY | O_CLOEXEC), dir);
  kj::AutoCloseFd dirFile(dirFd);
  KJ_SYSCALL(fsync(dirFile), dir);
}

kj::Maybe<kj::Own<capnp::MessageReader>> readExecResult(kj::StringPtr path) {
  kj::Maybe<kj::Own<capnp::MessageReader>> read;
  // Any failure means "no usable result"; the caller decides what that means
  // for the attempt (DESIGN section 9: lost).
  KJ_IF_MAYBE(exception, kj::runCatchingExceptions([&]() {
    int fd;
    KJ_SYSCALL(fd = open(path.cStr(), O_RDONLY | O_CLOEXEC), path);
    kj::AutoCloseFd file(fd);
    auto message = readMessageFile(file, MAX_RESULT_BYTES);
    // Walk the whole message now, so a damaged file is rejected here instead
    // of throwing later from whichever field the daemon happens to read.
    message->getRoot<records::ExecResult>().totalSize();
    read = kj::mv(message);
  })) {
    return nullptr;
  }
  return kj::mv(read);
}

}  // namespace taskctl
