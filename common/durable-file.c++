#include "common/durable-file.h"

#include <fcntl.h>
#include <kj/debug.h>
#include <kj/io.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

namespace taskctl {
namespace {

kj::String directoryOf(kj::StringPtr path) {
  KJ_IF_MAYBE (slash, path.findLast('/')) {
    return *slash == 0 ? kj::str("/") : kj::str(path.slice(0, *slash));
  }
  return kj::str(".");
}

}  // namespace

void writeFileAtomically(kj::StringPtr path, kj::ArrayPtr<const kj::byte> bytes, mode_t mode) {
  auto temp = kj::str(path, ".tmp");
  int fd;
  // O_NOFOLLOW: a link left in the temporary's place must not have root
  // truncate the file it names.
  KJ_SYSCALL(fd = open(temp.cStr(), O_CREAT | O_TRUNC | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, mode),
             temp);
  {
    kj::AutoCloseFd file(fd);
    // A failed write must not leave the half-written temporary behind.
    KJ_ON_SCOPE_FAILURE(unlink(temp.cStr()));
    KJ_SYSCALL(fchmod(fd, mode), temp);  // a leftover keeps its old mode through O_TRUNC
    kj::FdOutputStream(fd).write(bytes.begin(), bytes.size());
    KJ_SYSCALL(fsync(fd), temp);
    KJ_SYSCALL(rename(temp.cStr(), path.cStr()), temp, path);
  }
  // The rename is durable only once the directory entry is.
  syncDirectoryOf(path);
}

void syncDirectoryOf(kj::StringPtr path) {
  auto dir = directoryOf(path);
  int dirFd;
  KJ_SYSCALL(dirFd = open(dir.cStr(), O_RDONLY | O_DIRECTORY | O_CLOEXEC), dir);
  kj::AutoCloseFd dirFile(dirFd);
  KJ_SYSCALL(fsync(dirFile), dir);
}

}  // namespace taskctl
