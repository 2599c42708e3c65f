#include "result-file.h"

#include <capnp/serialize.h>
#include <errno.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <kj/io.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/durable-file.h"
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

ReservedResult::ReservedResult(kj::StringPtr pathArg)
    : path(kj::str(pathArg)), temp(kj::str(pathArg, ".tmp")) {
  KJ_CONTEXT("reserving the result file", path);
  // O_NOFOLLOW: the shim is root; a link in either place must not make it
  // create or truncate the file the link names.
  int fd;
  KJ_SYSCALL(fd = open(path.cStr(), O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600), path);
  close(fd);
  KJ_SYSCALL(fd = open(temp.cStr(), O_CREAT | O_TRUNC | O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0600),
             temp);
  file = kj::AutoCloseFd(fd);
  KJ_SYSCALL(fchmod(fd, 0600), temp);  // a leftover keeps its old mode through O_TRUNC
  int rc;
  do {
    rc = posix_fallocate(fd, 0, RESERVED_BYTES);  // returns the error, errno untouched
  } while (rc == EINTR);
  if (rc == EOPNOTSUPP || rc == EINVAL) {
    // No fallocate here (tmpfs has it; some FUSE filesystems do not): zeros
    // take the blocks just as well.
    auto zeros = kj::heapArray<kj::byte>(RESERVED_BYTES);
    memset(zeros.begin(), 0, zeros.size());
    kj::FdOutputStream(fd).write(zeros.begin(), zeros.size());
  } else if (rc != 0) {
    KJ_FAIL_SYSCALL("posix_fallocate", rc, temp);
  }
}

void ReservedResult::write(records::ExecResult::Reader result) {
  KJ_CONTEXT("writing result file", path);
  capnp::MallocMessageBuilder message;
  message.setRoot(result);
  auto words = capnp::messageToFlatArray(message);
  auto bytes = words.asBytes();
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n;
    KJ_SYSCALL(n = pwrite(file, bytes.begin() + done, bytes.size() - done, done), temp);
    done += n;
  }
  KJ_SYSCALL(ftruncate(file, bytes.size()), temp);
  KJ_SYSCALL(fsync(file), temp);
  KJ_SYSCALL(rename(temp.cStr(), path.cStr()), temp, path);
  syncDirectoryOf(path);
}

kj::Maybe<kj::Own<capnp::MessageReader>> readExecResult(kj::StringPtr path) {
  kj::Maybe<kj::Own<capnp::MessageReader>> read;
  // Any failure means "no usable result"; the caller decides what that means
  // for the attempt (DESIGN section 9: lost).
  KJ_IF_MAYBE (exception, kj::runCatchingExceptions([&]() {
                 int fd;
                 // O_NONBLOCK and a regular file only: under a Slurm queue the
                 // run directory is the task owner's, who could leave a FIFO or
                 // a device in the result's place to hang the daemon.
                 KJ_SYSCALL(fd = open(path.cStr(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC),
                            path);
                 kj::AutoCloseFd file(fd);
                 struct stat st;
                 KJ_SYSCALL(fstat(fd, &st), path);
                 KJ_REQUIRE(S_ISREG(st.st_mode), "the result is not a regular file", path);
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
