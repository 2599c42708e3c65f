#include "exec/capped-log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <kj/debug.h>
#include <kj/vector.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "temp-dir.h"

namespace taskctl {
namespace {

kj::String readFile(kj::StringPtr path) {
  int fd;
  KJ_SYSCALL(fd = open(path.cStr(), O_RDONLY | O_CLOEXEC), path);
  kj::AutoCloseFd file(fd);
  return kj::FdInputStream(file.get()).readAllText();
}

kj::String lines(size_t first, size_t count) {
  kj::Vector<kj::String> parts;
  for (size_t i = first; i < first + count; i++) parts.add(kj::str("line ", 100000 + i, '\n'));
  return kj::strArray(parts, "");
}

kj::String marker(uint64_t dropped) {
  return kj::str("[taskctl: ", dropped, " bytes of earlier output dropped]\n");
}

class CappedLogTest : public testing::Test {
 protected:
  TempDir dir;
  kj::String path = dir / "1-1.log";

  kj::Own<CappedLog> open(uint64_t maxBytes) {
    int fd;
    KJ_SYSCALL(fd = ::open(path.cStr(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
    return kj::heap<CappedLog>(kj::AutoCloseFd(fd), path, maxBytes);
  }

  // Checks the file is `marker(dropped)` then the end of `output`, cut at a
  // line start, within `maxBytes`.
  void expectCutFrom(kj::StringPtr output, const CappedLog& log, uint64_t maxBytes) {
    auto text = readFile(path);
    EXPECT_LE(text.size(), maxBytes);
    auto head = marker(log.droppedBytes());
    ASSERT_TRUE(text.startsWith(head)) << kj::str(text.slice(0, kj::min(text.size(), 80))).cStr();
    auto kept = text.slice(head.size());
    EXPECT_EQ(log.droppedBytes() + kept.size(), output.size());
    EXPECT_TRUE(output.endsWith(kept)) << "the log does not end with the latest output";
    EXPECT_EQ(output[output.size() - kept.size() - 1], '\n') << "the cut is not at a line start";
    EXPECT_EQ(kj::StringPtr(kept).findFirst('['), nullptr) << "more than one marker";
  }
};

TEST_F(CappedLogTest, AppendsUnchangedBelowTheCap) {
  auto log = open(8192);
  auto output = lines(0, 800);  // 9600 bytes, 12 per line: over the cap only at the end
  log->write(output.slice(0, 8100).asBytes());
  EXPECT_STREQ(readFile(path).cStr(), kj::str(output.slice(0, 8100)).cStr());
  EXPECT_EQ(log->droppedBytes(), 0u);
  EXPECT_TRUE(log->firstError() == nullptr);
}

TEST_F(CappedLogTest, CutsToHalfTheCapFromALineStartAndMarksTheCut) {
  auto log = open(8192);
  auto output = lines(0, 800);
  for (size_t i = 0; i < output.size(); i += 12) log->write(output.slice(i, i + 12).asBytes());
  expectCutFrom(output, *log, 8192);
  // Cut once, when 8196 bytes came: 4096 kept, moved to the next line start.
  EXPECT_EQ(log->droppedBytes(), 4104u);
  EXPECT_TRUE(log->firstError() == nullptr);
}

TEST_F(CappedLogTest, CountsEveryDroppedByteAcrossCuts) {
  auto log = open(8192);
  auto output = lines(0, 10000);
  // Writes of odd sizes, so cuts fall inside lines and inside writes.
  for (size_t i = 0; i < output.size(); i += 1000) {
    log->write(output.slice(i, kj::min(i + 1000, output.size())).asBytes());
  }
  expectCutFrom(output, *log, 8192);
  EXPECT_GT(log->droppedBytes(), 100000u);
}

TEST_F(CappedLogTest, KeepsTheEndOfAWriteLargerThanTheCap) {
  auto log = open(8192);
  log->write(kj::StringPtr("first\n").asBytes());
  auto output = kj::str("first\n", lines(0, 5000));
  log->write(output.slice(6).asBytes());
  expectCutFrom(output, *log, 8192);
}

TEST_F(CappedLogTest, KeepsExactlyHalfTheCapWhenNoLineStartsNearby) {
  auto log = open(8192);
  auto output = kj::heapString(20000);
  memset(output.begin(), 'x', output.size());
  log->write(output.asBytes());
  auto text = readFile(path);
  EXPECT_STREQ(text.cStr(), kj::str(marker(20000 - 4096), output.slice(20000 - 4096)).cStr());
  EXPECT_EQ(log->droppedBytes(), 20000u - 4096);
}

TEST_F(CappedLogTest, CountsAnExistingFileTowardsTheCap) {
  auto earlier = lines(0, 600);  // 7200 bytes
  open(0)->write(earlier.asBytes());
  auto log = open(8192);
  auto later = lines(600, 100);
  log->write(later.asBytes());
  expectCutFrom(kj::str(earlier, later), *log, 8192);
}

TEST_F(CappedLogTest, NeverCutsWithoutACap) {
  auto log = open(0);
  EXPECT_FALSE(log->capped());
  auto output = lines(0, 10000);
  log->write(output.asBytes());
  EXPECT_EQ(readFile(path).size(), output.size());
  EXPECT_EQ(log->droppedBytes(), 0u);
}

TEST_F(CappedLogTest, RaisesATinyCapToTheMinimum) {
  auto log = open(1);
  log->write(kj::StringPtr("fits under the minimum\n").asBytes());
  EXPECT_STREQ(readFile(path).cStr(), "fits under the minimum\n");
  auto output = kj::str("fits under the minimum\n", lines(0, 1000));
  log->write(output.slice(23).asBytes());
  expectCutFrom(output, *log, CappedLog::MIN_MAX_BYTES);
}

TEST_F(CappedLogTest, ReplacesTheFileSoAnOpenReaderKeepsTheOldOne) {
  auto log = open(8192);
  auto before = lines(0, 600);
  log->write(before.asBytes());
  int fd;
  KJ_SYSCALL(fd = ::open(path.cStr(), O_RDONLY | O_CLOEXEC));
  kj::AutoCloseFd reader(fd);
  log->write(lines(600, 100).asBytes());
  EXPECT_STREQ(kj::FdInputStream(reader.get()).readAllText().cStr(), before.cStr());
  struct stat info;
  ASSERT_EQ(stat(path.cStr(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0640u) << "the cut log lost the old one's permissions";
  EXPECT_NE(access(kj::str(path, ".tmp").cStr(), F_OK), 0);
}

TEST_F(CappedLogTest, DropsWhatItCannotCutRatherThanExceedTheCap) {
  auto log = open(8192);
  auto before = lines(0, 600);
  log->write(before.asBytes());
  // A directory where the cut's temporary file goes: the cut must fail.
  KJ_SYSCALL(mkdir(kj::str(path, ".tmp").cStr(), 0755));
  log->write(lines(600, 100).asBytes());
  EXPECT_STREQ(readFile(path).cStr(), before.cStr());
  EXPECT_EQ(log->droppedBytes(), 1200u);
  auto error = KJ_ASSERT_NONNULL(log->firstError());
  EXPECT_TRUE(error.startsWith(kj::str("cannot create ", path, ".tmp to cut the log: ")))
      << error.cStr();
}

// issue 12, point 1: below the reserve of free space (logs.min_free_bytes),
// output is dropped and the drop marked, so a noisy task cannot fill the
// disk under the store and the results.
TEST_F(CappedLogTest, DropsAndMarksOutputBelowTheReserveOfFreeSpace) {
  {
    int fd;
    KJ_SYSCALL(fd = ::open(path.cStr(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
    // More free space than any disk has: always below the reserve.
    CappedLog log(kj::AutoCloseFd(fd), path, 0, uint64_t(1) << 62);
    log.write(kj::StringPtr("first\n").asBytes());
    log.write(kj::StringPtr("second\n").asBytes());
    EXPECT_EQ(log.droppedBytes(), 13u);
    EXPECT_TRUE(log.firstError() == nullptr);
  }
  auto text = readFile(path);
  EXPECT_EQ(text, kj::str("\n[taskctl: output dropped: less than ", uint64_t(1) << 62,
                          " bytes free on the log's filesystem]\n"));
  // A reserve the disk has: written as usual.
  unlink(path.cStr());
  int fd;
  KJ_SYSCALL(fd = ::open(path.cStr(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
  CappedLog log(kj::AutoCloseFd(fd), path, 0, 1);
  log.write(kj::StringPtr("kept\n").asBytes());
  EXPECT_EQ(log.droppedBytes(), 0u);
  EXPECT_EQ(readFile(path), "kept\n");
}

}  // namespace
}  // namespace taskctl
