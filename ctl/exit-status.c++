#include "exit-status.h"

namespace taskctl {

namespace {

kj::ArrayPtr<const char> firstLine(kj::StringPtr text) {
  KJ_IF_MAYBE (newline, text.findFirst('\n')) {
    return text.slice(0, *newline);
  }
  return text;
}

}  // namespace

Failure failureFrom(const kj::Exception& exception) {
  kj::StringPtr description = exception.getDescription();
  // capnp marks an exception that crossed the wire; the person only needs the daemon's words.
  bool remote = description.startsWith("remote exception: ");
  if (remote) {
    description = description.slice(kj::StringPtr("remote exception: ").size());
  }
  auto line = kj::heapString(firstLine(description));

  switch (exception.getType()) {
    case kj::Exception::Type::OVERLOADED:
      return Failure{EXIT_OVERLOADED, kj::mv(line)};
    case kj::Exception::Type::DISCONNECTED:
      // The daemon ended the connection and said why (capnp's Abort, whose type it turns into
      // DISCONNECTED): an oversized request is rejected input; anything else, unavailable, in
      // its words (a call may also fail DISCONNECTED: the system bus went away).
      if (remote && line.startsWith("request too large")) {
        return Failure{EXIT_REJECTED, kj::mv(line)};
      }
      if (remote && line.size() > 0) return Failure{EXIT_UNAVAILABLE, kj::mv(line)};
      return Failure{EXIT_UNAVAILABLE, kj::str("taskctld closed the connection")};
    case kj::Exception::Type::UNIMPLEMENTED:
      return Failure{
          EXIT_UNAVAILABLE,
          kj::str("taskctld does not support this request (is it older than taskctl?): ", line)};
    case kj::Exception::Type::FAILED:
      break;
  }
  if (line.startsWith("permission denied")) return Failure{EXIT_PERMISSION, kj::mv(line)};
  return Failure{EXIT_REJECTED, kj::mv(line)};
}

Failure unreachable(kj::StringPtr socketPath, kj::StringPtr reason) {
  return Failure{EXIT_UNAVAILABLE, kj::str("cannot reach taskctld at ", socketPath, ": ", reason)};
}

Failure notAnswered(kj::StringPtr socketPath) {
  return Failure{EXIT_UNAVAILABLE,
                 kj::str("taskctld did not answer within 30 s (socket ", socketPath, ")")};
}

int exitStatusOf(rpc::TaskView::Reader task) {
  if (task.getState() == "succeeded") return 0;
  int status = task.getExitStatus();
  return status != 0 ? status : 125;
}

}  // namespace taskctl
