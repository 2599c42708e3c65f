#include "result-file.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <capnp/serialize.h>
#include <kj/debug.h>
#include <kj/io.h>

#include "durable-file.h"
#include "message-file.h"

namespace taskctl {
namespace {

// A result is a few hundred bytes; anything near this is not one of ours.
constexpr size_t MAX_RESULT_BYTES = 1 << 20;

}  // namespace

void writeExecResult(kj::StringPtr path, records::ExecResult::Reader result) {
  KJ_CONTEXT("writing result file", path);
  capnp::MallocMessageBuilder message;
  message.setRoot(result);

  auto words = capnp::messageToFlatArray(message);
  writeFileAtomically(path, words.asBytes(), 0600);
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
