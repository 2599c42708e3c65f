#include "user-lookup.h"

#include <errno.h>
#include <kj/array.h>
#include <kj/common.h>
#include <pwd.h>
#include <stdio.h>

#include "args.h"

namespace taskctl {

kj::Maybe<uint32_t> resolveUser(kj::StringPtr text, kj::StringPtr passwdPath) {
  if (text.size() == 0) return nullptr;
  if (FILE* file = fopen(passwdPath.cStr(), "re")) {
    KJ_DEFER(fclose(file));
    auto buffer = kj::heapArray<char>(4096);
    for (;;) {
      struct passwd entry;
      struct passwd* found = nullptr;
      int error = fgetpwent_r(file, &entry, buffer.begin(), buffer.size(), &found);
      // A line longer than the buffer: glibc puts the file back at its start; read it again.
      if (error == ERANGE && buffer.size() < (1u << 20)) {
        buffer = kj::heapArray<char>(buffer.size() * 2);
        continue;
      }
      if (error != 0 || found == nullptr) break;  // ENOENT: the end
      if (text == found->pw_name) return static_cast<uint32_t>(found->pw_uid);
    }
  }
  KJ_IF_MAYBE (uid, parseUnsigned(text)) {
    if (*uid < UINT32_MAX) return static_cast<uint32_t>(*uid);
  }
  return nullptr;
}

}  // namespace taskctl
