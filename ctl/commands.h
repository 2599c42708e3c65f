// The commands that talk to taskctld. Each returns taskctl's exit status and writes its own
// output; what goes wrong throws Failure or kj::Exception, which main() turns into one line on
// stderr and an exit status (exit-status.h).
#pragma once

#include "args.h"
#include "session.h"

namespace taskctl {

// The request `submit` sends for `args`: its spec with this process's cwd and umask, and its
// environment if `withEnvironment`. Only the spec: the flat fields are for clients older than it.
void fillSubmitRequest(rpc::SubmitRequest::Builder request, const SubmitArgs& args,
                       bool withEnvironment);

int runSubmit(Session& session, const SubmitArgs& args, const GlobalOptions& global);
int runRerun(Session& session, const RerunArgs& args, const GlobalOptions& global);
int runEdit(Session& session, const EditArgs& args, const GlobalOptions& global);
int runStatus(Session& session, const StatusArgs& args, const GlobalOptions& global);
int runList(Session& session, const ListArgs& args, const GlobalOptions& global);
int runWait(Session& session, const WaitArgs& args, const GlobalOptions& global);
int runCancel(Session& session, const CancelArgs& args, const GlobalOptions& global);
int runLogs(Session& session, const LogsArgs& args, const GlobalOptions& global);

}  // namespace taskctl
