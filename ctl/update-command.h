// `update ID [--timeout [+]DUR] [--memory SIZE] [--cpu PCT] [--tasks-max N]` (issue 16).
#pragma once

#include "args.h"
#include "session.h"

namespace taskctl {

int runUpdate(Session& session, const UpdateArgs& args, const GlobalOptions& global);

}  // namespace taskctl
