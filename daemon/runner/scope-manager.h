// What the scope runner needs of systemd, and no more: the bus module
// implements it over D-Bus (org.freedesktop.systemd1), tests with a fake.
#pragma once

#include <kj/async.h>
#include <kj/string.h>

namespace taskctl {

struct ScopeRequest {
  kj::String unit;           // taskctl-<id>-<attempt>.scope
  kj::String slice;          // taskctl.slice
  kj::String description;
  int pid;                   // the shim: the scope's one process
  uint64_t cpuQuotaPerSecUsec = 0;  // 0: no quota
  uint64_t memoryMaxBytes = 0;      // 0: no limit
  bool memorySwapMaxZero = false;   // with a memory limit on cgroup v2
  uint64_t tasksMax = 0;            // 0: no limit
  uint64_t runtimeMaxUsec = 0;      // 0: none (a backstop for when the daemon is down)
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
  // StopUnit(unit, "replace"): what a lost attempt left running is stopped.
};

}  // namespace taskctl
