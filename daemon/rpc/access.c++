#include "rpc/access.h"

#include "common/errors.h"

namespace taskctl {

Access::Access(Identity identity, const Config& config, uid_t daemonUid)
    : who(kj::mv(identity)), config(config), daemonUid(daemonUid) {}

bool Access::privileged() const {
  if (who.uid == 0 || who.uid == daemonUid) return true;
  KJ_IF_MAYBE (admin, config.adminGroup) return who.inGroup(*admin);
  return false;
}

void Access::requireAdmin(kj::StringPtr what) const {
  if (privileged()) return;
  refuse(
      kj::str("permission denied: only root and the admin group (access.admin_group) may ", what));
}

void Access::requireSubmitter(kj::StringPtr doing) const {
  KJ_IF_MAYBE (group, config.submitGroup) {
    if (who.uid != 0 && !who.inGroup(*group)) {
      refuse(kj::str("permission denied: ", doing, " needs membership in group ", *group,
                     " (access.submit_group)"));
    }
  }
}

kj::Maybe<kj::String> refusalOfPeer(uid_t peer, uid_t daemonUid) {
  if (daemonUid != 0 && peer != daemonUid) {
    // Not root: every task would run as us, whoever submitted it.
    return kj::str("permission denied: this taskctld runs as uid ", daemonUid,
                   ", not root, and serves only uid ", daemonUid, " (you are uid ", peer, ")");
  }
  return nullptr;
}

}  // namespace taskctl
