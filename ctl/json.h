// A small JSON writer for `taskctl --json`: compact, one document, built in memory.
//
// Byte strings (argv, env, cwd, labels, output: whatever the kernel allows) need not be UTF-8.
// Valid UTF-8 is written as a JSON string, as it is. A string that is not valid UTF-8 is written
// as an array of its bytes (numbers 0-255), as journalctl does for such fields: every JSON reader
// takes it, none sees a lone surrogate, and the exact bytes come back (`bytes(value)` in
// Python). Readers tell the two apart by type (docs/json.md, "Strings").
#pragma once

#include <kj/array.h>
#include <kj/string.h>
#include <kj/vector.h>
#include <stdint.h>

namespace taskctl {

// Whether `bytes` is valid UTF-8 throughout (what JsonWriter::string() writes as a string).
bool isUtf8(kj::ArrayPtr<const kj::byte> bytes);

class JsonWriter {
 public:
  void beginObject();
  void endObject();
  void beginArray();
  void endArray();

  // Inside an object: names the value written next. `name` must be valid UTF-8 (see isUtf8()).
  void key(kj::StringPtr name);

  // A JSON string, or an array of byte numbers when `bytes` is not valid UTF-8.
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
