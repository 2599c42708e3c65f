// A fresh directory under /tmp for one test, removed with everything in it when the object goes.
#pragma once

#include <errno.h>
#include <ftw.h>
#include <gtest/gtest.h>
#include <kj/debug.h>
#include <kj/string.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

namespace taskctl {

class TempDir {
 public:
  // /tmp/taskctl-<name>.XXXXXX, mode 0700 (mkdtemp's).
  explicit TempDir(kj::StringPtr name = "test") {
    auto tmpl = kj::str("/tmp/taskctl-", name, ".XXXXXX");
    KJ_SYSCALL(mkdtemp(tmpl.begin()) == nullptr ? -1 : 0, tmpl);
    path = kj::mv(tmpl);
  }
  // The whole tree, depth first, without following links (a test may leave a link to / in it).
  // A file that will not go is a test failure, not an exception from a destructor.
  ~TempDir() {
    if (nftw(path.cStr(), removeEntry, 16, FTW_DEPTH | FTW_PHYS) != 0) {
      ADD_FAILURE() << "cannot remove " << path.cStr() << ": " << strerror(errno);
    }
  }
  KJ_DISALLOW_COPY(TempDir);

  kj::String operator/(kj::StringPtr name) const { return kj::str(path, '/', name); }

  kj::String path;

 private:
  static int removeEntry(const char* entry, const struct stat*, int, struct FTW*) {
    return remove(entry);
  }
};

}  // namespace taskctl
