#include "user-lookup.h"

#include <gtest/gtest.h>
#include <kj/debug.h>
#include <kj/io.h>
#include <stdlib.h>
#include <unistd.h>

namespace taskctl {
namespace {

// A passwd file of the test's own, removed with the object.
struct PasswdFile {
  kj::String path;
  explicit PasswdFile(kj::StringPtr text) {
    char tmpl[] = "/tmp/taskctl-user-lookup-test.XXXXXX";
    int fd;
    KJ_SYSCALL(fd = mkstemp(tmpl));
    kj::AutoCloseFd file(fd);
    kj::FdOutputStream(file.get()).write(text.begin(), text.size());
    path = kj::str(tmpl);
  }
  ~PasswdFile() { unlink(path.cStr()); }
};

TEST(UserLookup, ANameIsLookedUpInThePasswdFile) {
  PasswdFile passwd(
      "root:x:0:0:root:/root:/bin/bash\n"
      "ann:x:1000:1000:Ann:/home/ann:/bin/bash\n"
      "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
  EXPECT_EQ(KJ_ASSERT_NONNULL(resolveUser("ann", passwd.path)), 1000u);
  EXPECT_EQ(KJ_ASSERT_NONNULL(resolveUser("root", passwd.path)), 0u);
  EXPECT_EQ(KJ_ASSERT_NONNULL(resolveUser("nobody", passwd.path)), 65534u);
  EXPECT_EQ(resolveUser("bob", passwd.path), nullptr);
  EXPECT_EQ(resolveUser("an", passwd.path), nullptr);
  EXPECT_EQ(resolveUser("Ann", passwd.path), nullptr);
  EXPECT_EQ(resolveUser("", passwd.path), nullptr);
}

TEST(UserLookup, AUidNeedsNoEntryAndANameWinsOverDigitsAsForChown) {
  PasswdFile passwd(
      "ann:x:1000:1000::/home/ann:/bin/sh\n"
      "4242:x:77:77::/:/bin/sh\n");
  // A deleted user's schedule is still removable by uid.
  EXPECT_EQ(KJ_ASSERT_NONNULL(resolveUser("1001", passwd.path)), 1001u);
  EXPECT_EQ(KJ_ASSERT_NONNULL(resolveUser("0", passwd.path)), 0u);
  EXPECT_EQ(KJ_ASSERT_NONNULL(resolveUser("4294967294", passwd.path)), 4294967294u);
  EXPECT_EQ(KJ_ASSERT_NONNULL(resolveUser("4242", passwd.path)), 77u);
  // (uid_t)-1 is no uid; beyond 32 bits, signs and spaces are not numbers.
  EXPECT_EQ(resolveUser("4294967295", passwd.path), nullptr);
  EXPECT_EQ(resolveUser("4294967296", passwd.path), nullptr);
  EXPECT_EQ(resolveUser("-1", passwd.path), nullptr);
  EXPECT_EQ(resolveUser("+5", passwd.path), nullptr);
  EXPECT_EQ(resolveUser(" 5", passwd.path), nullptr);
}

TEST(UserLookup, AnEntryAfterAnOverlongLineIsStillFound) {
  auto gecos = kj::str(kj::repeat('g', 20000));
  PasswdFile passwd(
      kj::str("long:x:1:1:", gecos, ":/:/bin/sh\n", "ann:x:1000:1000::/home/ann:/bin/sh\n"));
  EXPECT_EQ(KJ_ASSERT_NONNULL(resolveUser("long", passwd.path)), 1u);
  EXPECT_EQ(KJ_ASSERT_NONNULL(resolveUser("ann", passwd.path)), 1000u);
}

TEST(UserLookup, WithoutAReadablePasswdFileOnlyUidsResolve) {
  EXPECT_EQ(resolveUser("ann", "/nonexistent/passwd"), nullptr);
  EXPECT_EQ(KJ_ASSERT_NONNULL(resolveUser("1000", "/nonexistent/passwd")), 1000u);
}

TEST(UserLookup, TheSystemPasswdFileHasRoot) {
  EXPECT_EQ(KJ_ASSERT_NONNULL(resolveUser("root")), 0u);
}

}  // namespace
}  // namespace taskctl
