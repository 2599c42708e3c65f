// Who may do what over the RPC, in one place.
//
// - Root and the admin group (access.admin_group) are privileged: they see
//   and control every task, change queues, set any priority, take no
//   per-user quota, and may list or remove anyone's schedules. A private
//   daemon's own user (a taskctld not running as root) is too: it is the one
//   user such a daemon serves.
// - Everyone else sees and controls only their own tasks; another user's id
//   reads exactly like one that does not exist.
// - Submitting and scheduling need membership in access.submit_group when it
//   is set (root always may).
// - A daemon not running as root serves no uid but its own.
//
// The identity is the socket's (SO_PEERCRED), never a message's. `config`
// may be replaced in place (SIGHUP): every check reads it when asked.
#pragma once

#include <kj/string.h>
#include <sys/types.h>

#include "config/config.h"
#include "scheduler/identity.h"
#include "scheduler/task-queries.h"

namespace taskctl {

class Access {
 public:
  // `config` outlives this object; `daemonUid` is the daemon's effective uid.
  Access(Identity identity, const Config& config, uid_t daemonUid);

  const Identity& identity() const { return who; }
  uid_t uid() const { return who.uid; }

  bool privileged() const;
  bool sees(uint32_t owner) const { return owner == who.uid || privileged(); }
  Viewer viewer() const { return Viewer{who.uid, privileged()}; }

  void requireAdmin(kj::StringPtr what) const;
  // Refuses unless privileged: "only root and the admin group ... may `what`".

  void requireSubmitter(kj::StringPtr doing) const;
  // Refuses a caller outside access.submit_group: "`doing` needs membership".

 private:
  Identity who;
  const Config& config;
  uid_t daemonUid;
};

kj::Maybe<kj::String> refusalOfPeer(uid_t peer, uid_t daemonUid);
// Why a daemon running as `daemonUid` serves no connection of `peer`, or null.

}  // namespace taskctl
