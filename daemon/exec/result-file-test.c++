#include "exec/result-file.h"

#include <capnp/message.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <kj/debug.h>
#include <kj/io.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "temp-dir.h"

namespace taskctl {
namespace {

void writeBytes(kj::StringPtr path, kj::ArrayPtr<const kj::byte> bytes) {
  int fd;
  KJ_SYSCALL(fd = open(path.cStr(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), path);
  kj::AutoCloseFd file(fd);
  kj::FdOutputStream(file.get()).write(bytes.begin(), bytes.size());
}

void writeSample(kj::StringPtr path, uint32_t version = records::RESULT_VERSION) {
  capnp::MallocMessageBuilder message;
  auto result = message.initRoot<records::ExecResult>();
  result.setVersion(version);
  result.setTaskId(7);
  result.setAttempt(2);
  result.setExitCode(3);
  result.setMessage("done");
  result.setPeakMemoryBytes(1 << 20);
  writeExecResult(path, result.asReader());
}

TEST(ExecResultFile, ReadsBackWhatWasWritten) {
  TempDir dir;
  auto path = dir / "result";
  writeSample(path);
  KJ_IF_MAYBE (message, readExecResult(path)) {
    auto result = (*message)->getRoot<records::ExecResult>();
    EXPECT_EQ(result.getVersion(), records::RESULT_VERSION);
    EXPECT_EQ(result.getTaskId(), 7u);
    EXPECT_EQ(result.getAttempt(), 2u);
    EXPECT_EQ(result.getExitCode(), 3);
    EXPECT_EQ(result.getMessage(), "done");
    EXPECT_EQ(result.getPeakMemoryBytes(), 1u << 20);
    EXPECT_EQ(result.getSignal(), 0);
  } else {
    FAIL() << "result not readable";
  }
  struct stat info;
  ASSERT_EQ(stat(path.cStr(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  EXPECT_NE(access(kj::str(path, ".tmp").cStr(), F_OK), 0);
}

TEST(ExecResultFile, OutlivesTheFileItWasReadFrom) {
  TempDir dir;
  auto path = dir / "result";
  writeSample(path);
  auto message = KJ_ASSERT_NONNULL(readExecResult(path));
  ASSERT_EQ(unlink(path.cStr()), 0);
  EXPECT_EQ(message->getRoot<records::ExecResult>().getMessage(), "done");
}

TEST(ExecResultFile, ReplacesAnEarlierResultAndALeftoverTempFile) {
  TempDir dir;
  auto path = dir / "result";
  writeSample(path);
  writeBytes(kj::str(path, ".tmp"), kj::StringPtr("a crashed writer's leftovers").asBytes());
  capnp::MallocMessageBuilder message;
  auto result = message.initRoot<records::ExecResult>();
  result.setNotStarted(true);
  writeExecResult(path, result.asReader());
  auto read = KJ_ASSERT_NONNULL(readExecResult(path));
  EXPECT_TRUE(read->getRoot<records::ExecResult>().getNotStarted());
  EXPECT_EQ(read->getRoot<records::ExecResult>().getExitCode(), -1);
}

TEST(ExecResultFile, AcceptsANewerVersion) {
  TempDir dir;
  auto path = dir / "result";
  writeSample(path, records::RESULT_VERSION + 1);
  auto read = KJ_ASSERT_NONNULL(readExecResult(path));
  EXPECT_EQ(read->getRoot<records::ExecResult>().getVersion(), records::RESULT_VERSION + 1);
}

TEST(ExecResultFile, IsNullWhenMissing) {
  TempDir dir;
  EXPECT_TRUE(readExecResult(dir / "none") == nullptr);
}

TEST(ExecResultFile, IsNullWhenEmptyOrGarbage) {
  TempDir dir;
  auto path = dir / "result";
  writeBytes(path, nullptr);
  EXPECT_TRUE(readExecResult(path) == nullptr);
  writeBytes(path, kj::StringPtr("garbage!garbage!garbage!").asBytes());
  EXPECT_TRUE(readExecResult(path) == nullptr);
}

TEST(ExecResultFile, IsNullWhenTruncated) {
  TempDir dir;
  auto path = dir / "result";
  writeSample(path);
  struct stat info;
  ASSERT_EQ(stat(path.cStr(), &info), 0);
  ASSERT_EQ(truncate(path.cStr(), info.st_size - 8), 0);
  EXPECT_TRUE(readExecResult(path) == nullptr);
}

TEST(ExecResultFile, WriteThrowsWhenTheDirectoryIsMissing) {
  TempDir dir;
  capnp::MallocMessageBuilder message;
  auto result = message.initRoot<records::ExecResult>();
  EXPECT_ANY_THROW(writeExecResult(dir / "missing/result", result.asReader()));
}

// issue 13, point 3: root never reads or writes a result through a link in
// its place (the runs directory is checked, this is the second line).
TEST(ExecResultFile, NeverGoesThroughALinkInTheResultsPlace) {
  TempDir dir;
  auto path = dir / "result";
  writeSample(dir / "elsewhere");
  ASSERT_EQ(symlink((dir / "elsewhere").cStr(), path.cStr()), 0);
  EXPECT_TRUE(readExecResult(path) == nullptr);

  auto victim = dir / "victim";
  writeBytes(victim, kj::StringPtr("precious").asBytes());
  ASSERT_EQ(unlink(path.cStr()), 0);
  ASSERT_EQ(symlink(victim.cStr(), kj::str(path, ".tmp").cStr()), 0);
  capnp::MallocMessageBuilder message;
  auto result = message.initRoot<records::ExecResult>();
  EXPECT_ANY_THROW(writeExecResult(path, result.asReader()));
  EXPECT_ANY_THROW(ReservedResult reserved(path));
  struct stat info;
  ASSERT_EQ(stat(victim.cStr(), &info), 0);
  EXPECT_EQ(info.st_size, 8);
}

}  // namespace
}  // namespace taskctl
