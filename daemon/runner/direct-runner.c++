#include "runner/direct-runner.h"

#include <kj/debug.h>

#include "runner/stop-session.h"

namespace taskctl {

DirectRunner::DirectRunner(ShimLauncher& launcher) : launcher(launcher), boot(bootId()) {}

kj::Promise<kj::Own<Execution>> DirectRunner::start(records::Task::Reader task,
                                                    records::Attempt::Reader attempt) {
  // Nothing to place: the spawned shim is the whole execution.
  return kj::Own<Execution>(launcher.spawn(task, attempt));
}

kj::Maybe<kj::Own<Execution>> DirectRunner::adopt(records::Attempt::Reader attempt) {
  KJ_IF_MAYBE (shim, launcher.adopt(attempt)) {
    return kj::Own<Execution>(kj::mv(*shim));
  }
  return nullptr;
}

kj::Maybe<kj::Own<ExecOutcome>> DirectRunner::readOutcome(uint64_t taskId, uint32_t attempt) {
  return launcher.readOutcome(taskId, attempt);
}

void DirectRunner::stopRemains(records::Attempt::Reader attempt) {
  // The shim is gone and its command died with it (PR_SET_PDEATHSIG), but
  // not what the command started: that is still in the shim's session.
  int shim = attempt.getShimPid();
  if (shim <= 0) return;
  // A reboot ended everything of an earlier boot; its pids mean nothing now.
  if (attempt.getBootId() != boot) return;
  size_t stopped = stopSession(shim, attempt.getShimStartTime());
  if (stopped > 0) {
    uint64_t id = attempt.getTaskId();
    uint32_t number = attempt.getNumber();
    KJ_LOG(WARNING, "killed what a lost attempt left running", id, number, shim, stopped);
  }
}

void DirectRunner::release(uint64_t taskId, uint32_t attempt) { launcher.release(taskId, attempt); }

kj::String DirectRunner::logPath(uint64_t taskId, uint32_t attempt) {
  return launcher.logPath(taskId, attempt);
}

}  // namespace taskctl
