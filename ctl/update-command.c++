#include "update-command.h"

#include "output.h"
#include "render.h"

namespace taskctl {

int runUpdate(Session& session, const UpdateArgs& args, const GlobalOptions& global) {
  auto request = session.daemon().updateRequest();
  request.setId(args.id);
  auto limits = request.initLimits();
  limits.setTimeoutUsec(args.timeoutUsec);
  limits.setCpuQuotaPerSecUsec(args.cpuQuotaPerSecUsec);
  limits.setMemoryMaxBytes(args.memoryMaxBytes);
  limits.setTasksMax(args.tasksMax);
  request.setTimeoutRelative(args.timeoutRelative);
  auto reply = session.answer(request.send());
  auto task = reply.getTask();
  if (global.json) {
    writeOut(taskJson(task, false));
  } else {
    // The limits in force now, as `status` shows them.
    writeOut(kj::str("task ", task.getId(), ": ", taskLimitsLine(task), '\n'));
  }
  return 0;
}

}  // namespace taskctl
