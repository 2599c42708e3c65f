#include "json.h"

#include <kj/debug.h>
#include <math.h>

#include <charconv>

#include "format.h"

namespace taskctl {

namespace {

const char HEX[] = "0123456789abcdef";

void addUnicodeEscape(kj::Vector<char>& out, uint16_t unit) {
  out.addAll("\\u"_kj);
  out.add(HEX[(unit >> 12) & 0xf]);
  out.add(HEX[(unit >> 8) & 0xf]);
  out.add(HEX[(unit >> 4) & 0xf]);
  out.add(HEX[unit & 0xf]);
}

}  // namespace

bool isUtf8(kj::ArrayPtr<const kj::byte> bytes) {
  for (size_t i = 0; i < bytes.size();) {
    size_t length = utf8SequenceLength(bytes.slice(i, bytes.size()));
    if (length == 0) return false;
    i += length;
  }
  return true;
}

void JsonWriter::beforeValue() {
  if (afterKey) {
    afterKey = false;
    return;
  }
  if (nonEmpty.size() > 0) {
    if (nonEmpty.back()) out.add(',');
    nonEmpty.back() = true;
  }
}

void JsonWriter::beginObject() {
  beforeValue();
  out.add('{');
  nonEmpty.add(false);
}

void JsonWriter::endObject() {
  KJ_ASSERT(nonEmpty.size() > 0 && !afterKey);
  nonEmpty.removeLast();
  out.add('}');
}

void JsonWriter::beginArray() {
  beforeValue();
  out.add('[');
  nonEmpty.add(false);
}

void JsonWriter::endArray() {
  KJ_ASSERT(nonEmpty.size() > 0);
  nonEmpty.removeLast();
  out.add(']');
}

void JsonWriter::key(kj::StringPtr name) {
  KJ_ASSERT(!afterKey);
  KJ_ASSERT(isUtf8(name.asBytes()), "a JSON key must be UTF-8");
  string(name);
  out.add(':');
  afterKey = true;
}

void JsonWriter::string(kj::ArrayPtr<const kj::byte> bytes) {
  if (!isUtf8(bytes)) {
    // Lossless and readable by any JSON reader (journalctl's rule): the bytes as numbers.
    beginArray();
    for (kj::byte b : bytes) unsignedInteger(b);
    endArray();
    return;
  }
  beforeValue();
  out.add('"');
  size_t i = 0;
  while (i < bytes.size()) {
    kj::byte b = bytes[i];
    size_t length = utf8SequenceLength(bytes.slice(i, bytes.size()));
    if (length > 1) {
      out.addAll(bytes.slice(i, i + length).asChars());
      i += length;
    } else {
      switch (b) {
        case '"':
          raw("\\\"");
          break;
        case '\\':
          raw("\\\\");
          break;
        case '\n':
          raw("\\n");
          break;
        case '\r':
          raw("\\r");
          break;
        case '\t':
          raw("\\t");
          break;
        case '\b':
          raw("\\b");
          break;
        case '\f':
          raw("\\f");
          break;
        default:
          if (b < 0x20) {
            addUnicodeEscape(out, b);
          } else {
            out.add(static_cast<char>(b));
          }
      }
      i += 1;
    }
  }
  out.add('"');
}

void JsonWriter::integer(int64_t value) {
  beforeValue();
  raw(kj::str(value));
}

void JsonWriter::unsignedInteger(uint64_t value) {
  beforeValue();
  raw(kj::str(value));
}

void JsonWriter::number(double value) {
  if (!isfinite(value)) return null();
  beforeValue();
  char buffer[32];
  auto written = std::to_chars(buffer, buffer + sizeof(buffer), value);
  KJ_ASSERT(written.ec == std::errc());
  raw(kj::heapString(buffer, written.ptr - buffer));
}

void JsonWriter::boolean(bool value) {
  beforeValue();
  raw(value ? "true"_kj : "false"_kj);
}

void JsonWriter::null() {
  beforeValue();
  raw("null");
}

kj::String JsonWriter::finish() {
  KJ_ASSERT(nonEmpty.size() == 0 && !afterKey, "JSON document left open");
  out.add('\0');
  return kj::String(out.releaseAsArray());
}

}  // namespace taskctl
