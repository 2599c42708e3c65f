// `taskctl logs --json`: the log as one JSON object a line, {"attempt", "offset", "text"}, one
// per line of output. `text` is the line with its newline ("" never: a line has at least its
// newline, and the last line of a log may lack one), a string when it is UTF-8 and an array of
// its bytes otherwise (json.h); `offset` is where it starts in the attempt's log, in bytes.
// Concatenating the texts gives the log exactly.
#pragma once

#include <kj/array.h>
#include <kj/string.h>
#include <kj/vector.h>
#include <stdint.h>

namespace taskctl {

class LogLines {
 public:
  // A line longer than this is written in pieces of this size, each its own object (so memory
  // stays bounded whatever a task writes).
  static constexpr size_t MAX_LINE_BYTES = 64 * 1024;

  // The objects for the lines `data` (found at `offset` of `attempt`'s log) completes; a last
  // line without its newline is kept until the next call or end().
  kj::String add(uint32_t attempt, uint64_t offset, kj::ArrayPtr<const kj::byte> data);
  // The object for a last line without a newline, if any.
  kj::String end();

 private:
  uint32_t attempt = 0;
  uint64_t start = 0;  // the offset of `pending`
  kj::Vector<kj::byte> pending;

  void flush(kj::Vector<char>& out);
};

}  // namespace taskctl
