#include "why-render.h"

#include "format.h"
#include "render.h"

namespace taskctl {

kj::String whyLine(rpc::TaskView::Reader task) {
  auto id = task.getId();
  auto state = task.getState();
  if (task.getWaitingFor().size() > 0) {
    return kj::str("task ", id, ": ", printable(task.getWaitingFor()), '\n');
  }
  if (task.getPruned() || isTerminal(state)) {
    auto reason =
        task.getReason().size() > 0 ? kj::str(" (", printable(task.getReason()), ")") : kj::str();
    return kj::str("task ", id, " has ended: ", printable(state), reason, ", exit status ",
                   task.getExitStatus(), '\n');
  }
  if (state == "starting" || state == "running") {
    return kj::str("task ", id, " is ", printable(state), " (attempt ", task.getAttempts().size(),
                   ")\n");
  }
  if (state == "paused") {
    return kj::str("task ", id, " is paused (attempt ", task.getAttempts().size(),
                   "; taskctl resume ", id, ")\n");
  }
  // Between two states (its wait just ended): nothing holds it back.
  return kj::str("task ", id, " is ", printable(state), ": nothing holds it back\n");
}

}  // namespace taskctl
