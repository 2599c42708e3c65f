// The words for a task's states and end reasons, as the RPC, the bus, the
// logs and `--json` say them, and the exit status a task ended with (DESIGN
// 8). Beside the records they name, so no module needs the scheduler for them.
#pragma once

#include <kj/string.h>

#include "records.capnp.h"

namespace taskctl {

kj::StringPtr stateName(records::TaskState state);
kj::StringPtr reasonName(records::EndReason reason);

bool isTerminal(records::TaskState state);
// succeeded, failed or cancelled: no further attempt, ever.

int exitStatusOf(records::TaskState state, records::EndReason reason, int exitCode, int signal);
int exitStatusOf(records::Task::Reader task);
// What `taskctl wait` exits with: 0, the command's code, 128+signal, 124
// (timeout, heartbeat), 125 (no code: lost, dependency...), 126/127 (spawn),
// 130 (cancelled), 137 (oom); -1 while the task is not terminal.

}  // namespace taskctl
