#include "runner/scope-runner.h"

#include <signal.h>

#include <kj/debug.h>

namespace taskctl {
namespace {

constexpr uint64_t DEFAULT_KILL_GRACE_USEC = 10'000'000;
// RuntimeMaxSec is only a backstop for when the daemon is down; the daemon's
// own timer ends a timed-out attempt (with TERM, grace, KILL) well before.
constexpr uint64_t BACKSTOP_MARGIN_USEC = 30'000'000;

// An execution in a scope: the shim's process, with kills sent to the scope.
class ScopeExecution final : public Execution {
 public:
  ScopeExecution(kj::Own<Execution> shim, ScopeManager& scopes, kj::String unit)
      : shim(kj::mv(shim)), scopes(scopes), unit(kj::mv(unit)), kills(errors) {}

  int pid() const override { return shim->pid(); }
  uint64_t startTime() const override { return shim->startTime(); }
  kj::StringPtr bootId() const override { return shim->bootId(); }
  void go() override { shim->go(); }
  kj::Promise<void> exited() override { return shim->exited(); }
  void kill(int signal) override {
    // KillUnit "all" reaches every process in the scope's cgroup, also the
    // shim: it forwards a TERM it gets and reports how the command ended.
    kills.add(scopes.killUnit(unit, signal));
  }

 private:
  kj::Own<Execution> shim;
  ScopeManager& scopes;
  kj::String unit;
  struct Errors final : public kj::TaskSet::ErrorHandler {
    void taskFailed(kj::Exception&& e) override {
      // The scope may be gone already (the command ended meanwhile).
      KJ_LOG(WARNING, "KillUnit failed", e.getDescription());
    }
  } errors;
  kj::TaskSet kills;
};

}  // namespace

ScopeRequest scopeRequestFor(records::Task::Reader task, uint32_t attempt, int pid,
                             bool cgroupV2) {
  ScopeRequest r;
  r.unit = kj::str("taskctl-", task.getId(), "-", attempt, ".scope");
  r.slice = kj::str("taskctl.slice");
  // What `systemctl status` shows: enough to tell tasks apart, never the env.
  kj::String command;
  for (auto arg : task.getArgv()) {
    auto text = kj::heapString(reinterpret_cast<const char*>(arg.begin()), arg.size());
    command = command.size() ? kj::str(command, " ", text) : kj::mv(text);
    if (command.size() > 200) break;
  }
  if (command.size() > 200) command = kj::str(command.slice(0, 200), "...");
  r.description = kj::str("taskctl task ", task.getId(), " attempt ", attempt, ": ", command);
  r.pid = pid;
  r.cpuQuotaPerSecUsec = task.getCpuQuotaPerSecUsec();
  r.memoryMaxBytes = task.getMemoryMaxBytes();
  r.memorySwapMaxZero = cgroupV2 && r.memoryMaxBytes > 0;
  r.tasksMax = task.getTasksMax();
  if (task.getTimeoutUsec() > 0) {
    uint64_t grace = task.getKillGraceUsec() ? task.getKillGraceUsec() : DEFAULT_KILL_GRACE_USEC;
    r.runtimeMaxUsec = task.getTimeoutUsec() + grace + BACKSTOP_MARGIN_USEC;
  }
  return r;
}

void ScopeRunner::LogErrors::taskFailed(kj::Exception&& exception) {
  KJ_LOG(WARNING, "stopping a lost attempt's scope failed", exception.getDescription());
}

ScopeRunner::ScopeRunner(ShimLauncher& launcher, ScopeManager& scopes, bool cgroupV2)
    : launcher(launcher), scopes(scopes), cgroupV2(cgroupV2), stops(logErrors) {}

kj::String ScopeRunner::unitFor(uint64_t taskId, uint32_t attempt) {
  return kj::str("taskctl-", taskId, "-", attempt, ".scope");
}

kj::Promise<kj::Own<Execution>> ScopeRunner::start(records::Task::Reader task,
                                                   records::Attempt::Reader attempt) {
  kj::Own<Execution> shim = launcher.spawn(task, attempt);
  auto request = scopeRequestFor(task, attempt.getNumber(), shim->pid(), cgroupV2);
  return scopes.startScope(request)
      .then([]() -> kj::Maybe<kj::Exception> { return nullptr; },
            [](kj::Exception&& e) -> kj::Maybe<kj::Exception> { return kj::mv(e); })
      .then([this, shim = kj::mv(shim), unit = kj::mv(request.unit)](
                kj::Maybe<kj::Exception> refused) mutable -> kj::Promise<kj::Own<Execution>> {
        KJ_IF_MAYBE(e, refused) {
          // The shim was never told to go: no user code ran. End it and reap
          // it before reporting the refusal (recorded as `spawn`).
          shim->kill(SIGKILL);
          auto exited = shim->exited();
          return exited.attach(kj::mv(shim))
              .then([e = kj::mv(*e)]() mutable -> kj::Own<Execution> {
                kj::throwFatalException(kj::mv(e));
              });
        }
        return kj::Own<Execution>(kj::heap<ScopeExecution>(kj::mv(shim), scopes, kj::mv(unit)));
      });
}

kj::Maybe<kj::Own<Execution>> ScopeRunner::adopt(records::Attempt::Reader attempt) {
  KJ_IF_MAYBE(shim, launcher.adopt(attempt)) {
    return kj::Own<Execution>(
        kj::heap<ScopeExecution>(kj::mv(*shim), scopes, kj::str(attempt.getUnit())));
  }
  return nullptr;
}

kj::Maybe<kj::Own<ExecOutcome>> ScopeRunner::readOutcome(uint64_t taskId, uint32_t attempt) {
  return launcher.readOutcome(taskId, attempt);
}

void ScopeRunner::stopRemains(records::Attempt::Reader attempt) {
  if (attempt.getUnit().size() == 0) return;
  stops.add(scopes.stopUnit(attempt.getUnit()));
}

void ScopeRunner::release(uint64_t taskId, uint32_t attempt) { launcher.release(taskId, attempt); }

kj::String ScopeRunner::logPath(uint64_t taskId, uint32_t attempt) {
  return launcher.logPath(taskId, attempt);
}

}  // namespace taskctl
