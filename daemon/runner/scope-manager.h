// What the scope runner needs of systemd, and no more: the bus module
// implements it over D-Bus (org.freedesktop.systemd1), tests with a fake.
#pragma once

#include <kj/async.h>
#include <kj/string.h>

namespace taskctl {

struct ScopeRequest {
  kj::String unit;   // taskctl-<id>-<attempt>.scope
  kj::String slice;  // taskctl.slice
  kj::String description;
  int pid;                          // the shim: the scope's one process
  uint64_t cpuQuotaPerSecUsec = 0;  // 0: no quota
  uint64_t memoryMaxBytes = 0;      // 0: no limit
  bool memorySwapMaxZero = false;   // with a memory limit on cgroup v2
  uint64_t tasksMax = 0;            // 0: no limit
  uint64_t runtimeMaxUsec = 0;      // 0: none (a backstop for when the daemon is down)
};

// `taskctl update` on a running scope (0: unchanged).
struct ScopeLimits {
  uint64_t cpuQuotaPerSecUsec = 0;
  uint64_t memoryMaxBytes = 0;
  bool memorySwapMaxZero = false;  // with a memory limit on cgroup v2
  uint64_t tasksMax = 0;
};

class ScopeManager {
 public:
  virtual ~ScopeManager() noexcept(false) = default;

  virtual kj::Promise<void> startScope(const ScopeRequest& request) = 0;
  // StartTransientUnit, then the job's JobRemoved, with a deadline. Rejects
  // with systemd's own words if it refuses or the job does not end "done".

  virtual kj::Promise<void> killUnit(kj::StringPtr unit, int signal) = 0;
  // KillUnit(unit, "all", signal): every process of the scope, also those
  // that left the command's session.

  virtual kj::Promise<void> stopUnit(kj::StringPtr unit) = 0;

  virtual kj::Promise<void> setLimits(kj::StringPtr unit, const ScopeLimits& limits) = 0;
  // SetUnitProperties(unit, runtime true, ...): the limits change at once on
  // the running scope. Rejects with systemd's own words if it refuses.

  virtual kj::Promise<void> freezeUnit(kj::StringPtr unit, bool frozen) = 0;
  // FreezeUnit(unit) (frozen) or ThawUnit(unit): cgroup v2 only; resolves
  // once systemd says the unit is frozen (thawed).
  // StopUnit(unit, "replace"): what a lost attempt left running is stopped.

  // All of the above need the system bus. While it is gone they reject with
  // a DISCONNECTED kj::Exception (so does a call the bus cut off), and the
  // scope runner is not available (Runner::available()).
  virtual bool connected() { return true; }
  virtual kj::Promise<void> whenConnected() { return kj::READY_NOW; }
  // Resolves once connected() is true again (at once if it is).
};

}  // namespace taskctl
