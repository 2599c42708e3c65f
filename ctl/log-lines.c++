#include "log-lines.h"

#include "json.h"

namespace taskctl {

void LogLines::flush(kj::Vector<char>& out) {
  if (pending.size() == 0) return;
  JsonWriter json;
  json.beginObject();
  json.key("attempt");
  json.unsignedInteger(attempt);
  json.key("offset");
  json.unsignedInteger(start);
  json.key("text");
  json.string(pending.asPtr());
  json.endObject();
  out.addAll(json.finish());
  out.add('\n');
  start += pending.size();
  pending.clear();
}

kj::String LogLines::add(uint32_t attemptArg, uint64_t offset, kj::ArrayPtr<const kj::byte> data) {
  kj::Vector<char> out;
  // Another attempt, or a log cut below what we had (logs.max_bytes): what is pending ends here.
  if (attemptArg != attempt || offset != start + pending.size()) flush(out);
  if (pending.size() == 0) {
    attempt = attemptArg;
    start = offset;
  }
  for (kj::byte b : data) {
    pending.add(b);
    if (b == '\n' || pending.size() == MAX_LINE_BYTES) flush(out);
  }
  out.add('\0');
  return kj::String(out.releaseAsArray());
}

kj::String LogLines::end() {
  kj::Vector<char> out;
  flush(out);
  out.add('\0');
  return kj::String(out.releaseAsArray());
}

}  // namespace taskctl
