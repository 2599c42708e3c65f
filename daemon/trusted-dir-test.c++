// openTrustedDir on real directories, some owned by another uid (chown: the
// tests run as root, as CI does), and the state lock on top of it.
#include "trusted-dir.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <kj/debug.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "state-lock.h"
#include "temp-dir.h"

namespace taskctl {
namespace {

// Nobody's uid on a test machine; only its number matters.
constexpr uid_t OTHER = 54321;

void makeDir(kj::StringPtr path, mode_t mode, uid_t uid = 0) {
  KJ_SYSCALL(mkdir(path.cStr(), mode), path);
  KJ_SYSCALL(chmod(path.cStr(), mode), path);  // past the umask
  KJ_SYSCALL(chown(path.cStr(), uid, 0), path);
}

void makeLink(kj::StringPtr target, kj::StringPtr path, uid_t uid = 0) {
  KJ_SYSCALL(symlink(target.cStr(), path.cStr()), path);
  KJ_SYSCALL(lchown(path.cStr(), uid, 0), path);
}

struct stat statOf(kj::StringPtr path) {
  struct stat info;
  KJ_SYSCALL(stat(path.cStr(), &info), path);
  return info;
}

// The refusal's text, or "" if the directory was accepted.
std::string refusal(kj::StringPtr path, mode_t mode = 0700) {
  std::string text;
  KJ_IF_MAYBE (e, kj::runCatchingExceptions(
                      [&]() { openTrustedDir("state directory", path, mode); })) {
    text = e->getDescription().cStr();
  }
  return text;
}

bool contains(const std::string& text, kj::StringPtr part) {
  return text.find(part.cStr()) != std::string::npos;
}

TEST(TrustedDir, CreatesTheDirectoryAndItsParentsWithTheirModesWhateverTheUmask) {
  TempDir tmp;
  mode_t old = umask(077);
  KJ_DEFER(umask(old));
  auto fd = openTrustedDir("socket directory", tmp / "a/b/run", 0755);
  EXPECT_EQ(statOf(tmp / "a").st_mode & 07777, 0755u);
  EXPECT_EQ(statOf(tmp / "a/b").st_mode & 07777, 0755u);
  auto made = statOf(tmp / "a/b/run");
  EXPECT_EQ(made.st_mode & 07777, 0755u);
  struct stat opened;
  KJ_SYSCALL(fstat(fd, &opened));
  EXPECT_EQ(opened.st_ino, made.st_ino);
}

TEST(TrustedDir, AcceptsAnExistingDirectoryOfOursAndLeavesItsModeAlone) {
  TempDir tmp;
  makeDir(tmp / "private", 0700);
  makeDir(tmp / "shared", 0750);
  EXPECT_EQ(refusal(tmp / "private"), "");
  EXPECT_EQ(refusal(tmp / "shared", 0755), "");
  EXPECT_EQ(statOf(tmp / "shared").st_mode & 07777, 0750u);
}

TEST(TrustedDir, RefusesADirectoryOwnedBySomeoneElse) {
  TempDir tmp;
  makeDir(tmp / "planted", 0700, OTHER);
  auto text = refusal(tmp / "planted");
  EXPECT_TRUE(contains(text, kj::str("state directory ", tmp / "planted", ": "))) << text;
  EXPECT_TRUE(contains(text, kj::str(tmp / "planted", " is owned by uid ", OTHER))) << text;
  EXPECT_TRUE(contains(text, "not by taskctld's uid 0")) << text;
  EXPECT_EQ(statOf(tmp / "planted").st_mode & 07777, 0700u);  // nothing loosened
}

TEST(TrustedDir, RefusesADirectoryOthersMayWriteIn) {
  TempDir tmp;
  makeDir(tmp / "open", 0777);
  makeDir(tmp / "group", 0770);
  makeDir(tmp / "sticky", 01777);
  auto text = refusal(tmp / "open");
  EXPECT_TRUE(contains(text, kj::str(tmp / "open", " is writable by other users (mode 0777)")))
      << text;
  EXPECT_TRUE(contains(refusal(tmp / "group"), "(mode 0770)"));
  // Sticky or not, others could fill it with links of their own.
  EXPECT_TRUE(contains(refusal(tmp / "sticky"), "(mode 1777)"));
}

TEST(TrustedDir, RefusesAParentOthersMayWriteInAndCreatesNothingThere) {
  TempDir tmp;
  makeDir(tmp / "open", 0777);
  makeDir(tmp / "open/state", 0700);
  auto text = refusal(tmp / "open/state");
  EXPECT_TRUE(contains(text, kj::str(tmp / "open", " is writable by other users (mode 0777)")))
      << text;
  EXPECT_TRUE(contains(refusal(tmp / "open/new/state"), "writable by other users"));
  EXPECT_EQ(access((tmp / "open/new").cStr(), F_OK), -1);
}

TEST(TrustedDir, RefusesAParentOwnedBySomeoneElse) {
  TempDir tmp;
  makeDir(tmp / "home", 0755, OTHER);
  makeDir(tmp / "home/state", 0700);
  auto text = refusal(tmp / "home/state");
  EXPECT_TRUE(contains(text, kj::str(tmp / "home", " is owned by uid ", OTHER))) << text;
  EXPECT_TRUE(contains(text, kj::str("could replace ", tmp / "home/state"))) << text;
}

TEST(TrustedDir, AcceptsAStickyParentOnlyAboveAnEntryOfOurs) {
  TempDir tmp;
  makeDir(tmp / "pub", 01777);
  makeDir(tmp / "pub/ours", 0755);
  makeDir(tmp / "pub/theirs", 0755, OTHER);
  makeDir(tmp / "pub/theirs/state", 0700);
  EXPECT_EQ(refusal(tmp / "pub/ours"), "");
  EXPECT_EQ(refusal(tmp / "pub/created"), "");
  EXPECT_EQ(statOf(tmp / "pub/created").st_uid, 0u);
  auto text = refusal(tmp / "pub/theirs/state");
  EXPECT_TRUE(contains(text, kj::str(tmp / "pub/theirs", " is owned by uid ", OTHER))) << text;
  // Sticky without other-writable bits is just a directory.
  makeDir(tmp / "plainsticky", 01755);
  EXPECT_EQ(refusal(tmp / "plainsticky/x"), "");
}

TEST(TrustedDir, FollowsASymlinkOnlyWhereOnlyRootOrWeCouldHavePutIt) {
  TempDir tmp;
  makeDir(tmp / "real", 0700);
  makeLink(tmp / "real", tmp / "abs");
  makeDir(tmp / "sub", 0755);
  makeLink("../real", tmp / "sub/up");  // relative, through ..
  auto fd = openTrustedDir("state directory", tmp / "abs", 0700);
  struct stat opened;
  KJ_SYSCALL(fstat(fd, &opened));
  EXPECT_EQ(opened.st_ino, statOf(tmp / "real").st_ino);
  EXPECT_EQ(refusal(tmp / "sub/up"), "");

  // A link another user planted in a sticky directory: not followed, even to
  // a directory that would pass (lock-file truncation through a state dir link).
  makeDir(tmp / "pub", 01777);
  makeLink(tmp / "real", tmp / "pub/link", OTHER);
  auto text = refusal(tmp / "pub/link");
  EXPECT_TRUE(contains(text, kj::str(tmp / "pub/link", " is owned by uid ", OTHER))) << text;

  // Our link, to a directory that is not safe: the target is judged too.
  makeDir(tmp / "open", 0777);
  makeLink(tmp / "open", tmp / "to-open");
  EXPECT_TRUE(contains(refusal(tmp / "to-open"), "writable by other users"));
  makeDir(tmp / "theirs", 0700, OTHER);
  makeLink(tmp / "theirs", tmp / "to-theirs");
  EXPECT_TRUE(contains(refusal(tmp / "to-theirs"), kj::str("is owned by uid ", OTHER)));
}

TEST(TrustedDir, RefusesLoopsFilesAndNothing) {
  TempDir tmp;
  makeLink(tmp / "loop-b", tmp / "loop-a");
  makeLink(tmp / "loop-a", tmp / "loop-b");
  EXPECT_TRUE(contains(refusal(tmp / "loop-a"), "too many symlinks"));
  KJ_SYSCALL(close(open((tmp / "file").cStr(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600)));
  EXPECT_TRUE(contains(refusal(tmp / "file"), kj::str(tmp / "file", " is not a directory")));
  EXPECT_TRUE(contains(refusal(tmp / "file/below"), "is not a directory"));
}

TEST(TrustedDir, TakesARelativePathFromTheCurrentDirectory) {
  TempDir tmp;
  char cwd[4096];
  ASSERT_NE(getcwd(cwd, sizeof(cwd)), nullptr);
  KJ_SYSCALL(chdir(tmp.path.cStr()));
  KJ_DEFER(KJ_SYSCALL(chdir(cwd)));
  EXPECT_EQ(refusal("./rel/state"), "");
  EXPECT_EQ(statOf(tmp / "rel/state").st_mode & 07777, 0700u);
}

// The state lock: a lock planted as a link is never opened through it.
TEST(StateLock, NeverTruncatesTheFileALockLinkNames) {
  TempDir tmp;
  auto victim = tmp / "victim";
  int fd;
  KJ_SYSCALL(fd = open(victim.cStr(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
  KJ_SYSCALL(write(fd, "precious\n", 9));
  close(fd);
  makeDir(tmp / "state", 0700);
  makeLink(victim, tmp / "state/lock");
  std::string text;
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() { lockStateDir(tmp / "state"); })) {
    text = e->getDescription().cStr();
  }
  EXPECT_TRUE(contains(text, kj::str("cannot open the lock ", tmp / "state/lock"))) << text;
  EXPECT_EQ(statOf(victim).st_size, 9);
}

TEST(StateLock, ChecksTheStateDirectoryAndWhatRootWritesInIt) {
  TempDir tmp;
  makeDir(tmp / "planted", 0755, OTHER);
  std::string text;
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() { lockStateDir(tmp / "planted"); })) {
    text = e->getDescription().cStr();
  }
  EXPECT_TRUE(contains(text, kj::str("is owned by uid ", OTHER))) << text;
  EXPECT_EQ(access((tmp / "planted/lock").cStr(), F_OK), -1);

  makeDir(tmp / "state", 0700);
  makeDir(tmp / "elsewhere", 0755, OTHER);
  makeLink(tmp / "elsewhere", tmp / "state/logs", OTHER);
  text = "";
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() { lockStateDir(tmp / "state"); })) {
    text = e->getDescription().cStr();
  }
  EXPECT_TRUE(contains(text, kj::str("state directory ", tmp / "state/logs"))) << text;

  TempDir fresh;
  auto lock = lockStateDir(fresh / "state");
  for (auto sub : {"store", "runs", "logs"}) {
    EXPECT_EQ(statOf(fresh / kj::str("state/", sub)).st_mode & 07777, 0700u) << sub;
  }
}

}  // namespace
}  // namespace taskctl
