#include "common/task-words.h"

namespace taskctl {

using records::EndReason;
using records::TaskState;

kj::StringPtr stateName(TaskState state) {
  switch (state) {
    case TaskState::WAITING:
      return "waiting";
    case TaskState::QUEUED:
      return "queued";
    case TaskState::STARTING:
      return "starting";
    case TaskState::RUNNING:
      return "running";
    case TaskState::SUCCEEDED:
      return "succeeded";
    case TaskState::FAILED:
      return "failed";
    case TaskState::CANCELLED:
      return "cancelled";
    case TaskState::RETRYING:
      return "retrying";
    case TaskState::PAUSED:
      return "paused";
  }
  return "unknown";
}

kj::StringPtr reasonName(EndReason reason) {
  switch (reason) {
    case EndReason::NONE:
      return "";
    case EndReason::EXIT:
      return "exit";
    case EndReason::SIGNAL:
      return "signal";
    case EndReason::OOM:
      return "oom";
    case EndReason::TIMEOUT:
      return "timeout";
    case EndReason::HEARTBEAT:
      return "heartbeat";
    case EndReason::LOST:
      return "lost";
    case EndReason::SPAWN:
      return "spawn";
    case EndReason::CANCELLED:
      return "cancelled";
    case EndReason::DEPENDENCY:
      return "dependency";
    case EndReason::NOT_STARTED:
      return "not-started";
    case EndReason::PREEMPTED:
      return "preempted";
  }
  return "unknown";
}

bool isTerminal(TaskState state) {
  return state == TaskState::SUCCEEDED || state == TaskState::FAILED ||
         state == TaskState::CANCELLED;
}

int exitStatusOf(TaskState state, EndReason reason, int exitCode, int signal) {
  switch (state) {
    case TaskState::SUCCEEDED:
      return 0;
    case TaskState::CANCELLED:
      // A person (or a key's replace) cancelled it: 130; a dependency that
      // failed is an end without an exit code: 125 (DESIGN 8).
      return reason == EndReason::DEPENDENCY ? 125 : 130;
    case TaskState::FAILED:
      break;
    default:
      return -1;  // not terminal
  }
  switch (reason) {
    case EndReason::EXIT:
      return exitCode;
    case EndReason::SIGNAL:
      return 128 + signal;
    case EndReason::OOM:
      return 137;
    case EndReason::TIMEOUT:
    case EndReason::HEARTBEAT:
      return 124;
    case EndReason::SPAWN:
      return exitCode == 126 || exitCode == 127 ? exitCode : 125;
    default:
      return 125;
  }
}

int exitStatusOf(records::Task::Reader task) {
  return exitStatusOf(task.getState(), task.getReason(), task.getExitCode(), task.getSignal());
}

}  // namespace taskctl
