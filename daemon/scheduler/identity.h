// Who is asking: taken from the socket (SO_PEERCRED, SO_PEERGROUPS), never
// from a message.
#pragma once

#include <kj/array.h>
#include <sys/types.h>

namespace taskctl {

struct Identity {
  uid_t uid;
  gid_t gid;
  kj::Array<gid_t> groups;  // supplementary groups

  bool inGroup(gid_t group) const {
    if (gid == group) return true;
    for (auto g : groups) {
      if (g == group) return true;
    }
    return false;
  }
};

}  // namespace taskctl
