#include "scope-accounting.h"

#include <errno.h>
#include <fcntl.h>
#include <kj/vector.h>
#include <stdlib.h>
#include <unistd.h>

namespace taskctl {
namespace {

// The contents of a small file, or null if it cannot be read.
kj::Maybe<kj::String> readSmallFile(kj::StringPtr path) {
  int fd = open(path.cStr(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  kj::Vector<char> text;
  char buffer[4096];
  for (;;) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      close(fd);
      return nullptr;
    }
    if (n == 0) break;
    text.addAll(buffer, buffer + n);
  }
  close(fd);
  text.add('\0');
  return kj::String(text.releaseAsArray());
}

kj::Vector<kj::String> split(kj::StringPtr text, char separator) {
  kj::Vector<kj::String> parts;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); i++) {
    if (i == text.size() || text[i] == separator) {
      parts.add(kj::heapString(text.slice(start, i)));
      start = i + 1;
    }
  }
  return parts;
}

kj::Maybe<uint64_t> parseNumber(kj::StringPtr text) {
  char* end;
  errno = 0;
  unsigned long long value = strtoull(text.cStr(), &end, 10);
  if (errno != 0 || end == text.cStr() || (*end != '\0' && *end != '\n')) return nullptr;
  return value;
}

kj::Maybe<uint64_t> readNumber(kj::StringPtr path) {
  KJ_IF_MAYBE (text, readSmallFile(path)) {
    return parseNumber(*text);
  }
  return nullptr;
}

// The value of `key` in a file of "key value" lines (memory.events, memory.oom_control).
uint32_t readKeyedCount(kj::StringPtr path, kj::StringPtr key) {
  KJ_IF_MAYBE (text, readSmallFile(path)) {
    for (auto& line : split(*text, '\n')) {
      auto fields = split(line, ' ');
      if (fields.size() == 2 && fields[0] == key) {
        KJ_IF_MAYBE (value, parseNumber(fields[1])) {
          return *value;
        }
      }
    }
  }
  return 0;
}

bool isScope(kj::StringPtr cgroupPath, kj::StringPtr scopeName) {
  auto components = split(cgroupPath, '/');
  return components.size() > 0 && components.back() == scopeName;
}

kj::Maybe<ScopeAccounting> readV2(kj::StringPtr dir) {
  ScopeAccounting accounting;
  KJ_IF_MAYBE (peak, readNumber(kj::str(dir, "/memory.peak"))) {
    accounting.peakMemoryBytes = *peak;
  } else {
    return nullptr;  // a hybrid system's v2 tree, without the memory controller
  }
  accounting.oomKills = readKeyedCount(kj::str(dir, "/memory.events"), "oom_kill");
  return accounting;
}

kj::Maybe<ScopeAccounting> readV1(kj::StringPtr dir) {
  ScopeAccounting accounting;
  KJ_IF_MAYBE (peak, readNumber(kj::str(dir, "/memory.max_usage_in_bytes"))) {
    accounting.peakMemoryBytes = *peak;
  } else {
    return nullptr;
  }
  // memory.failcnt counts hits of the limit, not kills: oom_kill is the kills.
  accounting.oomKills = readKeyedCount(kj::str(dir, "/memory.oom_control"), "oom_kill");
  return accounting;
}

}  // namespace

kj::Maybe<ScopeAccounting> readScopeAccounting(kj::StringPtr scopeName,
                                               kj::StringPtr procSelfCgroup,
                                               kj::StringPtr cgroupRoot) {
  KJ_IF_MAYBE (membership, readSmallFile(procSelfCgroup)) {
    // Lines are "hierarchy-id:controllers:path": "0::path" on v2; on v1 the
    // memory hierarchy lists "memory" among its controllers.
    for (auto& line : split(*membership, '\n')) {
      auto fields = split(line, ':');
      if (fields.size() != 3 || !isScope(fields[2], scopeName)) continue;
      if (fields[0] == "0" && fields[1].size() == 0) {
        KJ_IF_MAYBE (accounting, readV2(kj::str(cgroupRoot, fields[2]))) {
          return *accounting;
        }
        continue;
      }
      for (auto& controller : split(fields[1], ',')) {
        if (controller == "memory") {
          KJ_IF_MAYBE (accounting, readV1(kj::str(cgroupRoot, "/memory", fields[2]))) {
            return *accounting;
          }
        }
      }
    }
  }
  return nullptr;
}

}  // namespace taskctl
