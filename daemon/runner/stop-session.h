// Stops what a lost attempt left running under the direct runner: every
// process of the shim's session (DESIGN 6: "its process group under the
// direct runner"). The shim leads a session of its own, and the command and
// whatever it starts stay in it (the command in a process group of its own,
// which the shim signals; a job-control shell's groups too), so the
// session's id is the shim's pid, recorded with the shim's start time.
#pragma once

#include <kj/common.h>
#include <stdint.h>

namespace taskctl {

struct ProcStat {
  char state;          // field 3: R, S, D, Z, ...
  int pgid;            // field 5
  int sid;             // field 6
  uint64_t startTime;  // field 22, clock ticks since boot
};

kj::Maybe<ProcStat> readProcStat(int pid);
// /proc/<pid>/stat, or null if there is no such process (or thread).

size_t stopSession(int sid, uint64_t leaderStartTime);
// SIGKILLs every live process of session `sid`, whose leader (the shim)
// started at `leaderStartTime`, and returns how many it signalled.
//
// Never a stranger, though the leader may be long gone: Linux does not reuse
// a pid while it is still some process's session (or group) id. So if a
// process with pid `sid` lives with another start time, the id was reused
// and our session is gone: nothing is signalled. Otherwise every member of
// session `sid` that started no earlier than the leader is ours (the one
// thing this cannot tell apart: our session emptied, its id went to a new
// process after the pid space wrapped around, and that one led a session of
// its own and left it behind before this call). Each member is signalled
// through a pidfd opened before its stat is checked again, so a pid that is
// freed and reused between the scan and the signal is never hit. Scans again
// until one finds nobody new (a member may fork while it is being scanned);
// killed members cannot fork.
//
// What left the session (setsid) is beyond it: the scope runner's cgroup
// holds that too.

}  // namespace taskctl
