#include "progress.h"

#include <gtest/gtest.h>
#include <kj/debug.h>
#include <kj/io.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "exit-status.h"

namespace kj {
// gtest shows kj::String as bytes without this.
inline void PrintTo(const String& text, std::ostream* os) { *os << '"' << text.cStr() << '"'; }
}  // namespace kj

namespace taskctl {
namespace {

TEST(Progress, DatagramIsTheFractionAsAPlainDecimalThenTheStatus) {
  EXPECT_EQ(progressDatagram(0.4, kj::StringPtr("half way")),
            "X_TASKCTL_PROGRESS=0.4\nSTATUS=half way");
  EXPECT_EQ(progressDatagram(0.4, nullptr), "X_TASKCTL_PROGRESS=0.4");
  EXPECT_EQ(progressDatagram(1, nullptr), "X_TASKCTL_PROGRESS=1");
  EXPECT_EQ(progressDatagram(0, nullptr), "X_TASKCTL_PROGRESS=0");
  EXPECT_EQ(progressDatagram(0.125, nullptr), "X_TASKCTL_PROGRESS=0.125");
  EXPECT_EQ(progressDatagram(1.0 / 3, nullptr), "X_TASKCTL_PROGRESS=0.333333");
  EXPECT_EQ(progressDatagram(0.0000001, nullptr), "X_TASKCTL_PROGRESS=0");  // never "1e-07"
  EXPECT_EQ(progressDatagram(0.9999999, nullptr), "X_TASKCTL_PROGRESS=1");
  EXPECT_EQ(progressDatagram(0.5, kj::StringPtr("")), "X_TASKCTL_PROGRESS=0.5\nSTATUS=");
}

// A unix datagram socket standing in for the daemon's per-attempt notify socket.
class Receiver {
 public:
  // `name`: a path, or "@name" for an abstract socket.
  explicit Receiver(kj::StringPtr name) : name(kj::heapString(name)) {
    fd = kj::AutoCloseFd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    struct sockaddr_un address;
    memset(&address, 0, sizeof(address));
    address.sun_family = AF_UNIX;
    memcpy(address.sun_path, name.begin(), name.size());
    socklen_t length = offsetof(struct sockaddr_un, sun_path) + name.size();
    if (name.startsWith("@")) {
      address.sun_path[0] = '\0';
    } else {
      unlink(name.cStr());
      length++;
    }
    KJ_SYSCALL(bind(fd, reinterpret_cast<struct sockaddr*>(&address), length));
  }
  ~Receiver() {
    if (!name.startsWith("@")) unlink(name.cStr());
  }

  struct Datagram {
    kj::String text;
    kj::Maybe<kj::AutoCloseFd> fd;
  };

  Datagram receive() {
    char buffer[4096];
    struct iovec iov = {buffer, sizeof(buffer)};
    alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
    struct msghdr message;
    memset(&message, 0, sizeof(message));
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof(control);
    ssize_t n;
    KJ_SYSCALL(n = recvmsg(fd, &message, MSG_CMSG_CLOEXEC));
    Datagram result{kj::heapString(buffer, n), nullptr};
    for (auto header = CMSG_FIRSTHDR(&message); header != nullptr;
         header = CMSG_NXTHDR(&message, header)) {
      if (header->cmsg_level == SOL_SOCKET && header->cmsg_type == SCM_RIGHTS) {
        int passed;
        memcpy(&passed, CMSG_DATA(header), sizeof(int));
        result.fd = kj::AutoCloseFd(passed);
      }
    }
    return result;
  }

  kj::String name;
  kj::AutoCloseFd fd;
};

kj::String testSocketPath() {
  const char* dir = getenv("TMPDIR");
  return kj::str(dir != nullptr && *dir != '\0' ? dir : "/tmp", "/taskctl-progress-test-",
                 getpid());
}

// Receives the report and the barrier the way the daemon does, releasing the barrier only after
// `released` is set, so a sender that returned earlier is caught.
void expectReportAndBarrier(kj::StringPtr address) {
  Receiver receiver(address);
  std::atomic<bool> released = false;
  kj::String report;
  bool reportHadFd = true;
  std::thread daemon([&]() {
    auto first = receiver.receive();
    report = kj::mv(first.text);
    reportHadFd = first.fd != nullptr;
    auto barrier = receiver.receive();
    EXPECT_EQ(barrier.text, "BARRIER=1");
    ASSERT_TRUE(barrier.fd != nullptr);
    usleep(50 * 1000);
    released = true;
    // Dropping the fd closes the receiver's copy of the pipe's write end: the hangup.
  });
  sendNotify(address, "X_TASKCTL_PROGRESS=0.5\nSTATUS=half");
  EXPECT_TRUE(released) << "returned before the barrier was released";
  daemon.join();
  EXPECT_EQ(report, "X_TASKCTL_PROGRESS=0.5\nSTATUS=half");
  EXPECT_FALSE(reportHadFd);
}

TEST(Progress, SendsTheReportAndWaitsForTheBarrierOnAPathSocket) {
  expectReportAndBarrier(testSocketPath());
}

TEST(Progress, SendsTheReportAndWaitsForTheBarrierOnAnAbstractSocket) {
  expectReportAndBarrier(kj::str("@taskctl-progress-test-", getpid()));
}

Failure failureOf(kj::StringPtr address, kj::Duration timeout = 5 * kj::SECONDS) {
  try {
    sendNotify(address, "X_TASKCTL_PROGRESS=1", timeout);
  } catch (Failure& failure) {
    return kj::mv(failure);
  }
  ADD_FAILURE() << "sent";
  return Failure{0, kj::str()};
}

TEST(Progress, ABarrierNotReleasedInTimeIsNotAnswered) {
  Receiver receiver(testSocketPath());  // never reads
  auto failure = failureOf(receiver.name, 100 * kj::MILLISECONDS);
  EXPECT_EQ(failure.status, EXIT_UNAVAILABLE);
  EXPECT_EQ(failure.message, kj::str("taskctld did not confirm the progress report within 100 ms "
                                     "(NOTIFY_SOCKET ",
                                     receiver.name, ")"));
}

TEST(Progress, NoSocketThereIsUnavailable) {
  auto failure = failureOf("/nonexistent/taskctl-notify");
  EXPECT_EQ(failure.status, EXIT_UNAVAILABLE);
  EXPECT_EQ(failure.message,
            "cannot send progress to NOTIFY_SOCKET /nonexistent/taskctl-notify: "
            "No such file or directory");
}

TEST(Progress, ASocketAddressOfAnotherFormIsAUsageError) {
  EXPECT_EQ(failureOf("relative/sock").status, EXIT_USAGE);
  EXPECT_EQ(failureOf("@").status, EXIT_USAGE);
  EXPECT_EQ(failureOf(kj::str("/", kj::repeat('x', 200))).status, EXIT_USAGE);
}

TEST(Progress, OutsideATaskSaysSo) {
  ProgressArgs args{0.5, nullptr};
  for (auto socket : {kj::Maybe<kj::StringPtr>(nullptr), kj::Maybe<kj::StringPtr>("")}) {
    try {
      runProgress(args, socket);
      ADD_FAILURE() << "ran";
    } catch (Failure& failure) {
      EXPECT_EQ(failure.status, EXIT_USAGE);
      EXPECT_EQ(failure.message, "taskctl progress works inside a task (NOTIFY_SOCKET is not set)");
    }
  }
}

}  // namespace
}  // namespace taskctl
