// The result file of one attempt (records::ExecResult): written once by
// taskctl-exec just before it exits, ingested by the daemon by (taskId,
// attempt), then deleted by the daemon. It is the one record of how a
// re-adopted attempt ended, so it is written so that a reader sees the whole
// file or none (DESIGN section 9).
#pragma once

#include <capnp/message.h>
#include <kj/io.h>
#include <kj/memory.h>
#include <kj/string.h>
#include <records.capnp.h>

namespace taskctl {

void writeExecResult(kj::StringPtr path, records::ExecResult::Reader result);
// Writes `result` to `path` atomically and durably: `<path>.tmp` (mode 0600,
// replacing any leftover), fsync, rename over `path`, fsync the directory.
// When it returns, the result survives a crash of the machine. Throws on any
// failure, leaving at most `<path>.tmp` behind.

class ReservedResult {
  // A result file whose room on disk is taken before the command runs, so
  // that a disk filled meanwhile (by the command, or anyone) cannot lose how
  // the attempt ended.
 public:
  explicit ReservedResult(kj::StringPtr path);
  // Creates `path` empty, so that the final rename replaces a directory entry
  // instead of adding one (an empty file reads as no result), and
  // `<path>.tmp` (mode 0600) with RESERVED_BYTES allocated (fallocate, or
  // zeros where the filesystem has none). Throws if it cannot.
  KJ_DISALLOW_COPY(ReservedResult);

  static constexpr size_t RESERVED_BYTES = 64 << 10;

  void write(records::ExecResult::Reader result);
  // As writeExecResult, into the reserved blocks: overwrite from 0, cut to
  // size, fsync, rename over `path`, fsync the directory. Needs no new space
  // while the result fits RESERVED_BYTES. Throws on failure.

 private:
  kj::String path;
  kj::String temp;
  kj::AutoCloseFd file;
};

kj::Maybe<kj::Own<capnp::MessageReader>> readExecResult(kj::StringPtr path);
// Reads a result file back. Returns null when the file is absent or cannot be
// read as an ExecResult (the attempt then has no result). Any version is
// accepted: fields are only ever added, and a field this build does not know
// reads as its default. The reader owns its memory and is independent of the
// file, which the caller may delete at once:
//   KJ_IF_MAYBE(message, readExecResult(path)) {
//     auto result = (*message)->getRoot<records::ExecResult>();

}  // namespace taskctl
