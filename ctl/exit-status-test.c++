#include "exit-status.h"

#include <capnp/message.h>
#include <gtest/gtest.h>

namespace kj {
// gtest shows kj::String as bytes without this.
inline void PrintTo(const String& text, std::ostream* os) { *os << '"' << text.cStr() << '"'; }
}  // namespace kj

namespace taskctl {
namespace {

// An exception as capnp hands it over when the daemon threw one.
kj::Exception remote(kj::Exception::Type type, kj::StringPtr description) {
  return kj::Exception(type, "(remote)", 0, kj::str("remote exception: ", description));
}

TEST(ExitStatus, RejectedInputIs65WithTheDaemonsWords) {
  auto failure = failureFrom(remote(kj::Exception::Type::FAILED, "no such task 7"));
  EXPECT_EQ(failure.status, 65);
  EXPECT_EQ(failure.message, "no such task 7");
}

TEST(ExitStatus, PermissionDeniedIs77) {
  auto failure =
      failureFrom(remote(kj::Exception::Type::FAILED, "permission denied: not in group taskctl"));
  EXPECT_EQ(failure.status, 77);
  EXPECT_EQ(failure.message, "permission denied: not in group taskctl");
  // Only at the start: a task message that mentions it is still rejected input.
  EXPECT_EQ(failureFrom(remote(kj::Exception::Type::FAILED, "cwd: permission denied")).status, 65);
}

TEST(ExitStatus, OverloadedIs75) {
  auto failure = failureFrom(remote(kj::Exception::Type::OVERLOADED, "the store is full"));
  EXPECT_EQ(failure.status, 75);
  EXPECT_EQ(failure.message, "the store is full");
}

TEST(ExitStatus, ALostConnectionIs69) {
  auto failure = failureFrom(kj::Exception(kj::Exception::Type::DISCONNECTED, "rpc.c++", 1,
                                           kj::str("Peer disconnected.")));
  EXPECT_EQ(failure.status, 69);
  EXPECT_EQ(failure.message, "taskctld closed the connection");
}

TEST(ExitStatus, AnOversizedRequestIs65WithTheDaemonsWords) {
  // The daemon's Abort arrives as capnp's disconnect: DISCONNECTED, with the remote reason.
  auto failure = failureFrom(kj::Exception(kj::Exception::Type::DISCONNECTED, "(remote)", 0,
                                           kj::str("remote exception: request too large (9437200 "
                                                   "bytes, limit 8 MiB)")));
  EXPECT_EQ(failure.status, 65);
  EXPECT_EQ(failure.message, "request too large (9437200 bytes, limit 8 MiB)");
  // Any other reason the daemon gave for hanging up is shown, still 69.
  failure = failureFrom(kj::Exception(kj::Exception::Type::DISCONNECTED, "(remote)", 0,
                                      kj::str("remote exception: malformed request")));
  EXPECT_EQ(failure.status, 69);
  EXPECT_EQ(failure.message, "malformed request");
}

TEST(ExitStatus, AnUnknownMethodIs69) {
  auto failure = failureFrom(remote(kj::Exception::Type::UNIMPLEMENTED, "method not implemented"));
  EXPECT_EQ(failure.status, 69);
}

TEST(ExitStatus, OnlyTheFirstLineIsKept) {
  auto failure = failureFrom(remote(kj::Exception::Type::FAILED, "unknown queue \"x\"\nmore"));
  EXPECT_EQ(failure.message, "unknown queue \"x\"");
}

TEST(ExitStatus, ConnectionProblemsNameTheSocket) {
  auto failure = unreachable("/run/taskctl/taskctl.sock", "No such file or directory");
  EXPECT_EQ(failure.status, 69);
  EXPECT_EQ(failure.message,
            "cannot reach taskctld at /run/taskctl/taskctl.sock: No such file or directory");
  EXPECT_EQ(notAnswered("/s").message, "taskctld did not answer within 30 s (socket /s)");
  EXPECT_EQ(notAnswered("/s").status, 69);
}

TEST(ExitStatus, WaitExitsLikeTheTask) {
  capnp::MallocMessageBuilder message;
  auto task = message.initRoot<rpc::TaskView>();
  task.setState("succeeded");
  EXPECT_EQ(exitStatusOf(task.asReader()), 0);
  task.setState("failed");
  task.setExitStatus(137);
  EXPECT_EQ(exitStatusOf(task.asReader()), 137);
  task.setState("cancelled");
  task.setExitStatus(130);
  EXPECT_EQ(exitStatusOf(task.asReader()), 130);
  // A task that did not succeed never reads as success.
  task.setState("failed");
  task.setExitStatus(0);
  EXPECT_EQ(exitStatusOf(task.asReader()), 125);
}

}  // namespace
}  // namespace taskctl
