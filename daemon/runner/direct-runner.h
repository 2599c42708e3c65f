// DirectRunner: each execution's shim is a plain child of the daemon, in its
// own session. For machines without systemd; tasks then live in the daemon's
// cgroup (under systemd they would die with the service: the packaged unit
// pins the scope runner). A lost attempt's remains are found by that
// session (stop-session.h): what left it with setsid is beyond reach.
#pragma once

#include <kj/async-unix.h>

#include "runner/runner.h"
#include "runner/shim-launcher.h"

namespace taskctl {

class DirectRunner final : public Runner {
 public:
  // `launcher` outlives the runner.
  explicit DirectRunner(ShimLauncher& launcher);

  kj::StringPtr name() const override { return "direct"; }
  kj::String unitFor(uint64_t, uint32_t) override { return kj::str(); }
  void stopRemains(records::Attempt::Reader attempt) override;
  kj::Promise<kj::Own<Execution>> start(records::Task::Reader task,
                                        records::Attempt::Reader attempt) override;
  kj::Maybe<kj::Own<Execution>> adopt(records::Attempt::Reader attempt) override;
  kj::Maybe<kj::Own<ExecOutcome>> readOutcome(uint64_t taskId, uint32_t attempt) override;
  void release(uint64_t taskId, uint32_t attempt) override;
  kj::String logPath(uint64_t taskId, uint32_t attempt) override;

 private:
  ShimLauncher& launcher;
  kj::String boot;  // this boot's id
};

}  // namespace taskctl
