// The `schedule` commands: systemd timers that submit tasks (DESIGN 6). Like commands.h, each
// returns taskctl's exit status; a refusal (an invalid calendar spec, a name in use, a foreign or
// unknown schedule: 65; another user's schedule named by someone not privileged: 77; a --user
// that names nobody: 64) throws.
#pragma once

#include "args.h"
#include "session.h"

namespace taskctl {

int runScheduleAdd(Session& session, const ScheduleAddArgs& args, const GlobalOptions& global);
int runScheduleList(Session& session, const ScheduleListArgs& args, const GlobalOptions& global);
int runScheduleRemove(Session& session, const ScheduleRemoveArgs& args,
                      const GlobalOptions& global);

}  // namespace taskctl
