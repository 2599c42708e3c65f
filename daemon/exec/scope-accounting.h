// Memory accounting of the attempt's scope, read by the shim just before it
// exits: the scope disappears with its last process (the shim), so the
// daemon cannot read it afterwards. systemd 252 has no MemoryPeak property
// and reports no OOM kill on cgroup v1 (DESIGN section 13), hence the files.
#pragma once

#include <kj/common.h>
#include <kj/string.h>
#include <stdint.h>

namespace taskctl {

struct ScopeAccounting {
  kj::Maybe<uint64_t> peakMemoryBytes;
  // The scope's peak memory use (page cache included, as systemd counts it).
  uint32_t oomKills = 0;
  // Processes of the scope the kernel OOM killer chose.
};

kj::Maybe<ScopeAccounting> readScopeAccounting(kj::StringPtr scopeName,
                                               kj::StringPtr procSelfCgroup = "/proc/self/cgroup",
                                               kj::StringPtr cgroupRoot = "/sys/fs/cgroup");
// Reads the accounting of this process's cgroup if it is the scope named
// `scopeName` (taskctl-<id>-<attempt>.scope): on cgroup v2 `memory.peak` and
// `oom_kill` of `memory.events`; on v1 `memory.max_usage_in_bytes` and
// `oom_kill` of `memory.oom_control`. Null when the process is not in that
// scope (the direct runner: its cgroup is the daemon's, whose numbers would
// be wrong) or no memory controller is there. Never throws: accounting is a
// nicety, the exit status is what counts. The paths are parameters for tests.

}  // namespace taskctl
