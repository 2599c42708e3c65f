#include "runner/direct-runner.h"

namespace taskctl {

DirectRunner::DirectRunner(ShimLauncher& launcher) : launcher(launcher) {}

kj::Promise<kj::Own<Execution>> DirectRunner::start(records::Task::Reader task,
                                                    records::Attempt::Reader attempt) {
  // Nothing to place: the spawned shim is the whole execution.
  return kj::Own<Execution>(launcher.spawn(task, attempt));
}

kj::Maybe<kj::Own<Execution>> DirectRunner::adopt(records::Attempt::Reader attempt) {
  KJ_IF_MAYBE(shim, launcher.adopt(attempt)) {
    return kj::Own<Execution>(kj::mv(*shim));
  }
  return nullptr;
}

kj::Maybe<kj::Own<ExecOutcome>> DirectRunner::readOutcome(uint64_t taskId, uint32_t attempt) {
  return launcher.readOutcome(taskId, attempt);
}

void DirectRunner::stopRemains(records::Attempt::Reader attempt) {
  // The shim is gone; its command died with it (PR_SET_PDEATHSIG). What the
  // command started in its own group cannot be found once the shim is gone:
  // that is what the scope runner's cgroup is for.
}

void DirectRunner::release(uint64_t taskId, uint32_t attempt) {
  launcher.release(taskId, attempt);
}

kj::String DirectRunner::logPath(uint64_t taskId, uint32_t attempt) {
  return launcher.logPath(taskId, attempt);
}

}  // namespace taskctl
