// `hold`, `release` and `why` (issue 16).
#pragma once

#include "args.h"
#include "session.h"

namespace taskctl {

int runHold(Session& session, const HoldArgs& args, const GlobalOptions& global);
int runWhy(Session& session, const WhyArgs& args, const GlobalOptions& global);

}  // namespace taskctl
