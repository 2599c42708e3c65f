// `pause` and `resume` (issue 16).
#pragma once

#include "args.h"
#include "session.h"

namespace taskctl {

int runPause(Session& session, const PauseArgs& args, const GlobalOptions& global);

}  // namespace taskctl
