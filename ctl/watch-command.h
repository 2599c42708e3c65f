// `taskctl watch`: follows the daemon's event stream until Ctrl-C. Like commands.h, it returns
// taskctl's exit status: 130 on Ctrl-C (quietly), 75 when the daemon dropped a watch that fell
// behind, 69 when the daemon went away; each but the first with one line on stderr that names
// the command to resume with. There is no reply deadline: a quiet stream is not a dead daemon.
#pragma once

#include "args.h"
#include "session.h"

namespace taskctl {

int runWatch(Session& session, const WatchArgs& args, const GlobalOptions& global);

}  // namespace taskctl
