#include "slurm-files.h"

#include <capnp/serialize.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <kj/io.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exec/result-file.h"

namespace taskctl {
namespace {

class SlurmResult final : public ExecOutcome {
 public:
  explicit SlurmResult(kj::Own<capnp::MessageReader> message) : message(kj::mv(message)) {}
  records::ExecResult::Reader get() override { return message->getRoot<records::ExecResult>(); }

 private:
  kj::Own<capnp::MessageReader> message;
};

// runs/ and logs/: root's, 0755, so owners reach their own files in them
// (which are theirs, 0700 and 0640) and nobody can add or swap an entry.
void makeRootDir(kj::StringPtr path) {
  if (mkdir(path.cStr(), 0755) < 0 && errno != EEXIST) {
    int error = errno;
    KJ_FAIL_REQUIRE("cannot make a directory on the shared directory", path, strerror(error));
  }
  struct stat st;
  KJ_SYSCALL(lstat(path.cStr(), &st), path);
  KJ_REQUIRE(S_ISDIR(st.st_mode) && (st.st_mode & 022) == 0 && st.st_uid == geteuid(),
             "not a directory of the daemon's that only it can write; refusing to use it", path);
  // The daemon's umask (0077 under systemd) must not keep the owners out.
  if ((st.st_mode & 07777) != 0755) {
    KJ_SYSCALL(chmod(path.cStr(), 0755), path);
  }
}

// No fsync anywhere here: the files matter only once the job runs, after the
// attempt's `running` commit; a crash before it requeues the attempt and a new
// one writes its own. A node reads them after sbatch, which NFS's
// close-to-open consistency makes visible without a sync.
void writeAll(int fd, kj::ArrayPtr<const kj::byte> bytes) {
  kj::FdOutputStream(fd).write(bytes.begin(), bytes.size());
}

}  // namespace

kj::String slurmRunDir(kj::StringPtr sharedDir, uint64_t taskId, uint32_t attempt) {
  return kj::str(sharedDir, "/runs/", taskId, "-", attempt);
}

kj::String slurmLogPath(kj::StringPtr sharedDir, uint64_t taskId, uint32_t attempt) {
  return kj::str(sharedDir, "/logs/", taskId, "-", attempt, ".log");
}

kj::String slurmJobName(uint64_t taskId, uint32_t attempt) {
  return kj::str("taskctl-", taskId, "-", attempt);
}

void prepareSlurmRun(kj::StringPtr sharedDir, records::ExecSpec::Reader spec, kj::StringPtr script,
                     bool chownToOwner) {
  uint64_t id = spec.getTaskId();
  uint32_t number = spec.getAttempt();
  struct stat st;
  if (stat(sharedDir.cStr(), &st) < 0 || !S_ISDIR(st.st_mode)) {
    KJ_FAIL_REQUIRE("the queue's shared_dir is not a directory", sharedDir);
  }
  makeRootDir(kj::str(sharedDir, "/runs"));
  makeRootDir(kj::str(sharedDir, "/logs"));

  // Attempt numbers are never reused: what is there is debris of a daemon
  // that died between making it and storing the attempt.
  auto dir = slurmRunDir(sharedDir, id, number);
  removeSlurmRun(sharedDir, id, number);
  KJ_SYSCALL(mkdir(dir.cStr(), 0700), dir);
  int fd;
  KJ_SYSCALL(fd = open(dir.cStr(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), dir);
  kj::AutoCloseFd dirFd(fd);
  uid_t uid = spec.getUid();
  gid_t gid = spec.getGid();

  auto create = [&](kj::StringPtr name, mode_t mode) {
    int file;
    KJ_SYSCALL(file = openat(dirFd, name.cStr(),
                             O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode),
               dir, name);
    kj::AutoCloseFd owned(file);
    if (chownToOwner) {
      KJ_SYSCALL(fchown(file, uid, gid), dir, name);
    }
    return owned;
  };
  {
    auto file = create("spec", 0400);
    capnp::MallocMessageBuilder copy;
    copy.setRoot(spec);
    capnp::writeMessageToFd(file, copy);
  }
  {
    auto file = create("job", 0500);
    writeAll(file, script.asBytes());
  }

  // The log: made by root in logs/ (which the owner cannot write), then the
  // owner's, so the shim running as the owner appends to exactly this file.
  auto log = slurmLogPath(sharedDir, id, number);
  unlink(log.cStr());
  int logFd;
  KJ_SYSCALL(logFd = open(log.cStr(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640),
             log);
  kj::AutoCloseFd logOwned(logFd);
  if (chownToOwner) {
    KJ_SYSCALL(fchown(logFd, uid, gid), log);
    KJ_SYSCALL(fchown(dirFd, uid, gid), dir);
  }
}

kj::Maybe<kj::Own<ExecOutcome>> readSlurmOutcome(kj::StringPtr sharedDir, uint64_t taskId,
                                                 uint32_t attempt) {
  // readExecResult opens without following a link, non-blocking, a regular
  // file only: the run directory is the owner's.
  KJ_IF_MAYBE (message,
               readExecResult(kj::str(slurmRunDir(sharedDir, taskId, attempt), "/result"))) {
    return kj::Own<ExecOutcome>(kj::heap<SlurmResult>(kj::mv(*message)));
  }
  return nullptr;
}

void removeSlurmRun(kj::StringPtr sharedDir, uint64_t taskId, uint32_t attempt) {
  auto dir = slurmRunDir(sharedDir, taskId, attempt);
  int fd = open(dir.cStr(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOENT) KJ_LOG(WARNING, "cannot open a Slurm run directory", dir, strerror(errno));
    return;
  }
  // Entries are unlinked through the directory's fd: a name is never
  // resolved through a link the owner put in the way.
  DIR* listing = fdopendir(fd);
  if (listing == nullptr) {
    close(fd);
    return;
  }
  KJ_DEFER(closedir(listing));
  while (auto* entry = readdir(listing)) {
    kj::StringPtr name = entry->d_name;
    if (name == "." || name == "..") continue;
    if (unlinkat(dirfd(listing), name.cStr(), 0) < 0 && errno != ENOENT) {
      KJ_LOG(WARNING, "left an entry of a Slurm run directory", dir, name, strerror(errno));
    }
  }
  if (rmdir(dir.cStr()) < 0 && errno != ENOENT) {
    KJ_LOG(WARNING, "cannot remove a Slurm run directory", dir, strerror(errno));
  }
}

}  // namespace taskctl
