// A small JSON writer for `taskctl --json`: compact, one document, built in memory.
//
// Byte strings (argv, env, cwd: whatever the kernel allows) need not be UTF-8. Valid UTF-8 is
// written as it is; each byte that is not part of a valid sequence is written as the lone
// surrogate \udcXX (XX = the byte), as Python's "surrogateescape" does (PEP 383). Python's json
// module reads that back, and `s.encode("utf-8", "surrogateescape")` (or os.fsencode) restores
// the exact bytes; stricter readers see a replacement character instead. Nothing is dropped.
#pragma once

#include <kj/array.h>
#include <kj/string.h>
#include <kj/vector.h>
#include <stdint.h>

namespace taskctl {

class JsonWriter {
 public:
  void beginObject();
  void endObject();
  void beginArray();
  void endArray();

  // Inside an object: names the value written next.
  void key(kj::StringPtr name);

  void string(kj::ArrayPtr<const kj::byte> bytes);
  void string(kj::StringPtr text) { string(text.asBytes()); }
  void integer(int64_t value);
  void unsignedInteger(uint64_t value);
  // The shortest decimal that reads back as `value` ("0.4", not "0.40000000000000002"); null for
  // NaN and infinities, which JSON cannot hold.
  void number(double value);
  void boolean(bool value);
  void null();

  // The document so far. Call once the outermost value is complete.
  kj::String finish();

 private:
  kj::Vector<char> out;
  // One entry per open object or array: whether it already holds a value (so the next needs a
  // comma).
  kj::Vector<bool> nonEmpty;
  bool afterKey = false;

  void beforeValue();
  void raw(kj::StringPtr text) { out.addAll(text); }
};

}  // namespace taskctl
