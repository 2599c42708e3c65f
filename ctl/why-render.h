// `taskctl why ID`: one line a person can act on, from the task's view.
#pragma once

#include <kj/string.h>

#include "rpc.capnp.h"

namespace taskctl {

// "task 7: held (taskctl release 7)", "task 7 is running (attempt 2)", "task 7 has ended:
// failed (exit), exit status 3". The daemon says why a task that has not started waits
// (TaskView.waitingFor); a running or ended one is said plainly here. Ends in a newline.
kj::String whyLine(rpc::TaskView::Reader task);

}  // namespace taskctl
