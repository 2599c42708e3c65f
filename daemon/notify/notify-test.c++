// parseNotify on its own, then NotifySocket with real sockets in a temp dir, a
// real kj loop, and real senders: other users (forked children that setuid),
// and systemd-notify itself. Runs as root, as CI does.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <kj/async-io.h>
#include <kj/debug.h>
#include <kj/vector.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "notify/notify-socket.h"
#include "temp-dir.h"

namespace taskctl {
namespace {

// The task's user in these tests, and a user that is not the task's.
constexpr uid_t TASK_UID = 1000;
constexpr gid_t TASK_GID = 1000;
constexpr uid_t OTHER_UID = 65534;
constexpr gid_t OTHER_GID = 65534;

// ---------------------------------------------------------------------------
// parseNotify

NotifyMessage parse(kj::StringPtr text) { return parseNotify(text.asArray()); }

kj::Maybe<double> progressOf(kj::StringPtr value) {
  return parse(kj::str("X_TASKCTL_PROGRESS=", value)).progress;
}

// std::string, so that GoogleTest prints it when a comparison fails.
std::string statusOf(const NotifyMessage& message) {
  KJ_IF_MAYBE (status, message.status) {
    return status->cStr();
  }
  return "<none>";
}

std::string malformedOf(const NotifyMessage& message) {
  KJ_IF_MAYBE (text, message.malformedProgress) {
    return text->cStr();
  }
  return "<none>";
}

bool saysNothing(const NotifyMessage& m) {
  return !m.watchdog && !m.watchdogTrigger && m.extendTimeoutUsec == nullptr &&
         m.status == nullptr && m.progress == nullptr && m.malformedProgress == nullptr;
}

TEST(ParseNotify, ReadsWatchdogStatusAndProgressAmongOtherLines) {
  auto message =
      parse("READY=1\nSTATUS=half way\nMAINPID=42\nWATCHDOG=1\nX_TASKCTL_PROGRESS=0.5\n");
  EXPECT_TRUE(message.watchdog);
  EXPECT_FALSE(message.watchdogTrigger);
  EXPECT_EQ(statusOf(message), "half way");
  EXPECT_EQ(message.progress.orDefault(-1), 0.5);
}

TEST(ParseNotify, GivesAnEmptyMessageForDatagramsWithNoFieldOfItsOwn) {
  // Still a message: the socket hands every datagram on, since its arrival
  // alone is a heartbeat.
  for (auto text : {"", "\n\n", "READY=1", "BARRIER=1", "MAINPID=5\nRELOADING=1", "WATCHDOG=10",
                    "WATCHDOG=", "WATCHDOG_USEC=1000", "XSTATUS=a\nSTATUSX=b\nstatus=c",
                    "EXTEND_TIMEOUT_USEC=", "EXTEND_TIMEOUT_USEC=-5", "EXTEND_TIMEOUT_USEC=1s",
                    "EXTEND_TIMEOUT_USEC=99999999999999999999", "X_EXTEND_TIMEOUT_USEC=5"}) {
    EXPECT_TRUE(saysNothing(parse(text))) << text;
  }
}

TEST(ParseNotify, ReadsWatchdogTriggerAsItsOwnField) {
  auto message = parse("WATCHDOG=trigger");
  EXPECT_TRUE(message.watchdogTrigger);
  EXPECT_FALSE(message.watchdog);
}

TEST(ParseNotify, ReadsExtendTimeoutUsecAsDecimalMicroseconds) {
  EXPECT_EQ(parse("EXTEND_TIMEOUT_USEC=2500000").extendTimeoutUsec.orDefault(0), 2500000u);
  EXPECT_EQ(parse("EXTEND_TIMEOUT_USEC=0").extendTimeoutUsec.orDefault(7), 0u);
  EXPECT_EQ(parse("EXTEND_TIMEOUT_USEC=18446744073709551615").extendTimeoutUsec.orDefault(0),
            UINT64_MAX);
  auto both = parse("EXTEND_TIMEOUT_USEC=1\nWATCHDOG=1\nEXTEND_TIMEOUT_USEC=3");
  EXPECT_EQ(both.extendTimeoutUsec.orDefault(0), 3u);
  EXPECT_TRUE(both.watchdog);
}

TEST(ParseNotify, TakesProgressAsTaskctlProgressTakesIt) {
  EXPECT_EQ(progressOf("0").orDefault(-1), 0.0);
  EXPECT_EQ(progressOf("1").orDefault(-1), 1.0);
  EXPECT_EQ(progressOf("1.000").orDefault(-1), 1.0);
  EXPECT_EQ(progressOf("0.4").orDefault(-1), 0.4);
  EXPECT_EQ(progressOf("0.3").orDefault(-1), 0.3);
  EXPECT_EQ(progressOf(".25").orDefault(-1), 0.25);
  EXPECT_EQ(progressOf("0.").orDefault(-1), 0.0);
  // Percentages too, as `taskctl progress 40%` takes them.
  EXPECT_EQ(progressOf("40%").orDefault(-1), 0.4);
  EXPECT_EQ(progressOf("100%").orDefault(-1), 1.0);
  EXPECT_EQ(progressOf("12.5%").orDefault(-1), 0.125);
  EXPECT_EQ(progressOf("0%").orDefault(-1), 0.0);
  for (auto bad :
       {"",     ".",    "1.5",  "1.0000001", "2",      "-0.1", "+0.5",
        " 0.5", "0.5 ", "0.5x", "1e-1",      "0x1p-1", "nan",  "inf",
        "0,5",  "0..5", "101%", "%",         "40 %",   "40%%", "100000000000000000000000"}) {
    EXPECT_TRUE(progressOf(bad) == nullptr) << bad;
  }
}

TEST(ParseNotify, KeepsAMalformedProgressForTheLog) {
  auto message = parse("X_TASKCTL_PROGRESS=half");
  EXPECT_TRUE(message.progress == nullptr);
  EXPECT_EQ(malformedOf(message), "half");
  // Printable and short, whatever the task sent.
  auto odd = parse(kj::str("X_TASKCTL_PROGRESS=a\tb\x1b", kj::repeat('x', 100)));
  EXPECT_EQ(malformedOf(odd), kj::str("a?b?", kj::repeat('x', 60), "...").cStr());
  // A good value later in the datagram wins, and the bad one is forgotten.
  auto fixed = parse("X_TASKCTL_PROGRESS=bad\nX_TASKCTL_PROGRESS=0.5");
  EXPECT_EQ(fixed.progress.orDefault(-1), 0.5);
  EXPECT_EQ(malformedOf(fixed), "<none>");
  EXPECT_EQ(malformedOf(parse("X_TASKCTL_PROGRESS=")), "");
}

TEST(ParseNotify, KeepsAnEmptyStatusToClearTheText) {
  auto message = parse("STATUS=");
  EXPECT_EQ(statusOf(message), "");
  EXPECT_FALSE(message.watchdog);
  EXPECT_TRUE(message.progress == nullptr);
}

TEST(ParseNotify, TakesStatusTextOnlyInUtf8) {
  auto good = parse("STATUS=d\xc3\xa9j\xc3\xa0 \xe2\x9c\x93 \xf0\x9f\x99\x82");
  EXPECT_EQ(statusOf(good), "d\xc3\xa9j\xc3\xa0 \xe2\x9c\x93 \xf0\x9f\x99\x82");
  for (auto bad : {"STATUS=\xff", "STATUS=\xc3", "STATUS=\xc0\xaf", "STATUS=\xed\xa0\x80",
                   "STATUS=\xf4\x90\x80\x80", "STATUS=a\x80"}) {
    EXPECT_TRUE(parse(bad).status == nullptr) << bad;
  }
}

TEST(ParseNotify, LetsTheLastValueInADatagramWin) {
  auto message = parse("STATUS=a\nX_TASKCTL_PROGRESS=0.1\nSTATUS=b\nX_TASKCTL_PROGRESS=0.2");
  EXPECT_EQ(statusOf(message), "b");
  EXPECT_EQ(message.progress.orDefault(-1), 0.2);
}

TEST(ParseNotify, EndsTheDatagramAtItsFirstNul) {
  auto message = parseNotify(kj::arrayPtr("STATUS=x\0WATCHDOG=1", 19));
  EXPECT_EQ(statusOf(message), "x");
  EXPECT_FALSE(message.watchdog);
  // Senders that count the terminator.
  EXPECT_TRUE(parseNotify(kj::arrayPtr("WATCHDOG=1\0", 11)).watchdog);
}

// ---------------------------------------------------------------------------
// Helpers for the socket tests. Forked children run only system calls and
// _exit(): they are copies of a process with a kj loop.

// The sockets' directory: other users must reach the sockets inside.
struct SocketDir : TempDir {
  SocketDir() : TempDir("notify") { KJ_SYSCALL(chmod(path.cStr(), 0755), path); }
};

sockaddr_un addressOf(kj::StringPtr path) {
  sockaddr_un address;
  memset(&address, 0, sizeof(address));
  address.sun_family = AF_UNIX;
  memcpy(address.sun_path, path.begin(), path.size());
  return address;
}

// Sends one datagram on `sock` (to `path`, unless it is connected), with
// `passFd` attached if it is not -1. Returns 0 or the errno.
int sendOn(int sock, const char* path, kj::ArrayPtr<const char> text, int passFd = -1) {
  sockaddr_un address;
  iovec iov = {const_cast<char*>(text.begin()), text.size()};
  msghdr header;
  memset(&header, 0, sizeof(header));
  if (path != nullptr) {
    memset(&address, 0, sizeof(address));
    address.sun_family = AF_UNIX;
    strncpy(address.sun_path, path, sizeof(address.sun_path) - 1);
    header.msg_name = &address;
    header.msg_namelen = sizeof(address);
  }
  header.msg_iov = &iov;
  header.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  if (passFd >= 0) {
    header.msg_control = control;
    header.msg_controllen = sizeof(control);
    cmsghdr* c = CMSG_FIRSTHDR(&header);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &passFd, sizeof(int));
  }
  return sendmsg(sock, &header, MSG_NOSIGNAL) < 0 ? errno : 0;
}

// One datagram from a fresh socket, as sd_notify() sends it.
int sendBytes(kj::StringPtr path, kj::ArrayPtr<const char> text, int passFd = -1) {
  int sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return errno;
  int result = sendOn(sock, path.cStr(), text, passFd);
  close(sock);
  return result;
}
int sendTo(kj::StringPtr path, kj::StringPtr text, int passFd = -1) {
  return sendBytes(path, text.asArray(), passFd);
}

// Becomes uid:gid with no supplementary groups, or exits 100.
void becomeUser(uid_t uid, gid_t gid) {
  if (setgroups(0, nullptr) != 0 || setgid(gid) != 0 || setuid(uid) != 0) _exit(100);
}

// Runs `body` in a child as uid:gid; its result is the child's exit code.
template <typename Body>
pid_t forkAs(uid_t uid, gid_t gid, Body&& body) {
  pid_t pid = fork();
  KJ_ASSERT(pid >= 0, strerror(errno));
  if (pid == 0) {
    becomeUser(uid, gid);
    _exit(body());
  }
  return pid;
}

// Reaps a child the test does not need the loop for.
int exitCodeOf(pid_t pid) {
  int status;
  KJ_SYSCALL(waitpid(pid, &status, 0));
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// A child's exit as a promise, through a pidfd, as the daemon watches shims.
struct ChildWatch {
  ChildWatch(kj::UnixEventPort& port, int pidfd)
      : pidfd(pidfd), observer(port, pidfd, kj::UnixEventPort::FdObserver::OBSERVE_READ) {}
  kj::AutoCloseFd pidfd;
  kj::UnixEventPort::FdObserver observer;
};

kj::Promise<int> exitOf(kj::UnixEventPort& port, pid_t pid) {
  int pidfd;
  KJ_SYSCALL(pidfd = syscall(SYS_pidfd_open, pid, 0));
  auto watch = kj::heap<ChildWatch>(port, pidfd);
  auto exited = watch->observer.whenBecomesReadable();
  return exited
      .then([&child = *watch]() {
        siginfo_t info;
        KJ_SYSCALL(waitid(static_cast<idtype_t>(P_PIDFD), child.pidfd.get(), &info, WEXITED));
        return info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
      })
      .attach(kj::mv(watch));
}

// systemd-notify --status=TEXT as uid:gid, with NOTIFY_SOCKET and nothing else.
pid_t spawnSystemdNotify(kj::StringPtr socketPath, uid_t uid, gid_t gid, kj::StringPtr text) {
  auto environment = kj::str("NOTIFY_SOCKET=", socketPath);
  auto status = kj::str("--status=", text);
  const char* argv[] = {"/usr/bin/systemd-notify", status.cStr(), nullptr};
  const char* envp[] = {environment.cStr(), nullptr};
  pid_t pid = fork();
  KJ_ASSERT(pid >= 0, strerror(errno));
  if (pid == 0) {
    becomeUser(uid, gid);
    execve(argv[0], const_cast<char**>(argv), const_cast<char**>(envp));
    _exit(127);
  }
  return pid;
}

kj::String filled(char c, size_t size) {
  auto text = kj::heapString(size);
  memset(text.begin(), c, size);
  return text;
}

bool hungUp(int readEnd) {
  pollfd entry = {readEnd, POLLIN, 0};
  KJ_SYSCALL(poll(&entry, 1, 0));
  return entry.revents & POLLHUP;
}

size_t countEntries(const char* directory) {
  size_t count = 0;
  DIR* dir = opendir(directory);
  KJ_ASSERT(dir != nullptr, directory, strerror(errno));
  while (auto entry = readdir(dir)) {
    if (entry->d_name[0] != '.') count++;
  }
  closedir(dir);
  return count;
}

class NotifySocketTest : public testing::Test {
 protected:
  // kj destructors may throw; GoogleTest's may not.
  ~NotifySocketTest() noexcept override {}

  kj::AsyncIoContext io = kj::setupAsyncIo();
  SocketDir dir;
  kj::Vector<NotifyMessage> received;
  // Called with each message before it is kept; may throw.
  kj::Maybe<kj::Function<void(const NotifyMessage&)>> peek;

  kj::Own<NotifySocket> open(kj::StringPtr path, uid_t uid = TASK_UID, gid_t gid = TASK_GID) {
    return kj::heap<NotifySocket>(io.unixEventPort, path, uid, gid,
                                  [this](NotifyMessage&& message) {
                                    KJ_IF_MAYBE (look, peek) {
                                      (*look)(message);
                                    }
                                    received.add(kj::mv(message));
                                    if (received.size() >= wanted) {
                                      KJ_IF_MAYBE (w, waiter) {
                                        (*w)->fulfill();
                                      }
                                      waiter = nullptr;
                                    }
                                  });
  }

  // Runs the loop until `promise` resolves; null after `timeout`, so that a
  // broken socket fails the test instead of hanging it.
  template <typename T>
  kj::Maybe<T> runUntil(kj::Promise<T> promise, kj::Duration timeout = 5 * kj::SECONDS) {
    return promise.then([](T value) -> kj::Maybe<T> { return kj::mv(value); })
        .exclusiveJoin(io.provider->getTimer().afterDelay(timeout).then(
            []() -> kj::Maybe<T> { return nullptr; }))
        .wait(io.waitScope);
  }

  // Runs the loop until `count` messages in all were received.
  bool waitForMessages(size_t count) {
    if (received.size() >= count) return true;
    auto paf = kj::newPromiseAndFulfiller<void>();
    wanted = count;
    waiter = kj::mv(paf.fulfiller);
    bool arrived = runUntil(paf.promise.then([]() { return true; })) != nullptr;
    waiter = nullptr;
    return arrived;
  }

  // Runs the loop until the child exits: -1 if it did not within `timeout`
  // (then it is killed).
  int runUntilExit(pid_t pid, kj::Duration timeout = 4 * kj::SECONDS) {
    KJ_IF_MAYBE (code, runUntil(exitOf(io.unixEventPort, pid), timeout)) {
      return *code;
    }
    kill(pid, SIGKILL);
    exitCodeOf(pid);
    return -1;
  }

 private:
  size_t wanted = 0;
  kj::Maybe<kj::Own<kj::PromiseFulfiller<void>>> waiter;
};

// ---------------------------------------------------------------------------
// NotifySocket

TEST_F(NotifySocketTest, AcceptsADatagramFromRoot) {
  auto socket = open(dir / "s");
  ASSERT_EQ(sendTo(socket->path(), "STATUS=from root\nX_TASKCTL_PROGRESS=0.25"), 0);
  ASSERT_TRUE(waitForMessages(1));
  EXPECT_EQ(statusOf(received[0]), "from root");
  EXPECT_EQ(received[0].progress.orDefault(-1), 0.25);
  EXPECT_EQ(socket->dropped(), 0u);
}

TEST_F(NotifySocketTest, AcceptsTheTasksUserWhileNoOtherUserCanOpenTheSocket) {
  auto socket = open(dir / "s");
  auto path = kj::str(socket->path());
  pid_t task = forkAs(TASK_UID, TASK_GID, [&]() { return sendTo(path, "STATUS=from the task"); });
  EXPECT_EQ(exitCodeOf(task), 0);
  pid_t other = forkAs(OTHER_UID, OTHER_GID, [&]() { return sendTo(path, "STATUS=intruder"); });
  EXPECT_EQ(exitCodeOf(other), EACCES);
  ASSERT_EQ(sendTo(path, "STATUS=sync"), 0);

  ASSERT_TRUE(waitForMessages(2));
  ASSERT_EQ(received.size(), 2u);
  EXPECT_EQ(statusOf(received[0]), "from the task");
  EXPECT_EQ(statusOf(received[1]), "sync");
  EXPECT_EQ(socket->dropped(), 0u);
}

TEST_F(NotifySocketTest, DropsADatagramFromAnotherUserThatGotPastTheFileMode) {
  auto socket = open(dir / "s");
  int pipeFds[2];
  KJ_SYSCALL(pipe2(pipeFds, O_CLOEXEC));
  kj::AutoCloseFd readEnd(pipeFds[0]);
  auto path = kj::str(socket->path());

  // Connected as root, then sending as another user: the kernel stamps the
  // credentials at send time, and they are what the socket goes by.
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int sock = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address = addressOf(path);
    if (connect(sock, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) _exit(101);
    becomeUser(OTHER_UID, OTHER_GID);
    _exit(sendOn(sock, nullptr, kj::StringPtr("STATUS=intruder").asArray(), pipeFds[1]));
  }
  close(pipeFds[1]);
  ASSERT_EQ(exitCodeOf(pid), 0);
  // Only the datagram in the queue holds the write end now.
  EXPECT_FALSE(hungUp(readEnd));

  ASSERT_EQ(sendTo(path, "STATUS=sync"), 0);
  ASSERT_TRUE(waitForMessages(1));
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(statusOf(received[0]), "sync");
  EXPECT_EQ(socket->dropped(), 1u);
  EXPECT_TRUE(hungUp(readEnd)) << "the dropped datagram's fd was not closed";
}

TEST_F(NotifySocketTest, KeepsAMessageWhoseSenderExitedAtOnce) {
  auto socket = open(dir / "s");
  auto path = kj::str(socket->path());
  pid_t pid = forkAs(TASK_UID, TASK_GID, [&]() { return sendTo(path, "STATUS=bye\nWATCHDOG=1"); });
  // Reaped before the loop reads anything: the sender no longer exists.
  ASSERT_EQ(exitCodeOf(pid), 0);
  EXPECT_NE(kill(pid, 0), 0);

  ASSERT_TRUE(waitForMessages(1));
  EXPECT_EQ(statusOf(received[0]), "bye");
  EXPECT_TRUE(received[0].watchdog);
  EXPECT_EQ(socket->dropped(), 0u);
}

TEST_F(NotifySocketTest, TakesSystemdNotifyAndAnswersItsBarrier) {
  auto socket = open(dir / "s");
  // systemd-notify 252 sends STATUS= (with its parent's pid in the
  // credentials), then BARRIER=1 with a pipe, and waits up to 5 s for the
  // pipe to close: unanswered, it fails after 5 s; 4 s is the limit here.
  EXPECT_EQ(runUntilExit(spawnSystemdNotify(socket->path(), 0, 0, "x")), 0);
  // Two datagrams, both handed on: each is a heartbeat.
  ASSERT_TRUE(waitForMessages(2));
  ASSERT_EQ(received.size(), 2u);
  EXPECT_EQ(statusOf(received[0]), "x");
  EXPECT_TRUE(saysNothing(received[1]));  // BARRIER=1
  EXPECT_EQ(socket->dropped(), 0u);
}

TEST_F(NotifySocketTest, LosesNoneOfAHundredSystemdNotifyCallsOfTheTasksUser) {
  auto socket = open(dir / "s");
  // As an ordinary user systemd-notify may not claim its parent's pid: the
  // kernel refuses (EPERM), and it resends with its own credentials.
  for (int i = 0; i < 100; i++) {
    auto text = kj::str("n", i);
    ASSERT_EQ(runUntilExit(spawnSystemdNotify(socket->path(), TASK_UID, TASK_GID, text)), 0)
        << "call " << i;
  }
  // Each call is STATUS= then BARRIER=1.
  ASSERT_TRUE(waitForMessages(200));
  ASSERT_EQ(received.size(), 200u);
  for (int i = 0; i < 100; i++) {
    EXPECT_EQ(statusOf(received[2 * i]), kj::str("n", i).cStr());
    EXPECT_TRUE(saysNothing(received[2 * i + 1]));
  }
  EXPECT_EQ(socket->dropped(), 0u);
}

TEST_F(NotifySocketTest, TakesAHundredDatagramsInABurstInOrder) {
  auto socket = open(dir / "s");
  auto path = kj::str(socket->path());
  kj::Vector<kj::String> texts;
  for (int i = 0; i < 100; i++) {
    texts.add(kj::str("STATUS=", i, "\nX_TASKCTL_PROGRESS=", i / 100.0));
  }
  // The socket queues about ten: the sender blocks and the loop must keep
  // reading while it runs.
  pid_t pid = forkAs(TASK_UID, TASK_GID, [&]() {
    int sock = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    for (auto& text : texts) {
      if (int error = sendOn(sock, path.cStr(), text.asArray())) return error;
    }
    return 0;
  });
  ASSERT_TRUE(waitForMessages(100));
  EXPECT_EQ(runUntilExit(pid), 0);
  ASSERT_EQ(received.size(), 100u);
  for (int i = 0; i < 100; i++) {
    EXPECT_EQ(statusOf(received[i]), kj::str(i).cStr());
    EXPECT_DOUBLE_EQ(received[i].progress.orDefault(-1), i / 100.0);
  }
  EXPECT_EQ(socket->dropped(), 0u);
  EXPECT_EQ(countEntries("/proc/self/task"), 1u) << "the socket must not start a thread";
}

TEST_F(NotifySocketTest, ReadsEveryQueuedDatagramPastOneBatchWithoutANewOne) {
  auto socket = open(dir / "s");
  // Queued before the loop runs, as many as the socket takes; then nothing
  // more arrives, so no new edge: what one batch leaves must still be read.
  int sock = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  ASSERT_GE(sock, 0);
  kj::AutoCloseFd sender(sock);
  size_t sent = 0;
  for (;;) {
    auto text = kj::str("STATUS=", sent);
    int error = sendOn(sender, socket->path().cStr(), text.asArray());
    if (error == EAGAIN) break;
    ASSERT_EQ(error, 0);
    sent++;
  }
  ASSERT_GT(sent, 8u) << "the socket queue is too short to test batching";

  ASSERT_TRUE(waitForMessages(sent)) << received.size() << " of " << sent;
  for (size_t i = 0; i < sent; i++) {
    EXPECT_EQ(statusOf(received[i]), kj::str(i).cStr());
  }
}

TEST_F(NotifySocketTest, AnswersABarrierOnlyAfterTheDatagramsBeforeIt) {
  auto socket = open(dir / "s");
  int pipeFds[2];
  KJ_SYSCALL(pipe2(pipeFds, O_CLOEXEC));
  kj::AutoCloseFd readEnd(pipeFds[0]);
  kj::Vector<bool> barrierAnswered;
  peek = kj::Function<void(const NotifyMessage&)>(
      [&](const NotifyMessage&) { barrierAnswered.add(hungUp(readEnd)); });

  ASSERT_EQ(sendTo(socket->path(), "STATUS=before"), 0);
  ASSERT_EQ(sendTo(socket->path(), "BARRIER=1", pipeFds[1]), 0);
  close(pipeFds[1]);
  ASSERT_EQ(sendTo(socket->path(), "STATUS=after"), 0);

  ASSERT_TRUE(waitForMessages(3));
  EXPECT_EQ(statusOf(received[0]), "before");
  EXPECT_TRUE(saysNothing(received[1]));  // the barrier itself, handed on as a heartbeat
  EXPECT_EQ(statusOf(received[2]), "after");
  ASSERT_EQ(barrierAnswered.size(), 3u);
  EXPECT_FALSE(barrierAnswered[0]) << "barrier answered before the datagram sent ahead of it";
  EXPECT_TRUE(barrierAnswered[2]) << "barrier not answered before the next datagram";
}

TEST_F(NotifySocketTest, ClosesEveryFdThatComesWithAnyDatagram) {
  auto socket = open(dir / "s");
  size_t fdsBefore = countEntries("/proc/self/fd");
  int first[2], second[2];
  KJ_SYSCALL(pipe2(first, O_CLOEXEC));
  KJ_SYSCALL(pipe2(second, O_CLOEXEC));
  kj::AutoCloseFd firstRead(first[0]), secondRead(second[0]);

  ASSERT_EQ(sendTo(socket->path(), "STATUS=with an fd", first[1]), 0);
  ASSERT_EQ(sendTo(socket->path(), "READY=1", second[1]), 0);  // no field of its own
  close(first[1]);
  close(second[1]);
  ASSERT_EQ(sendTo(socket->path(), "STATUS=sync"), 0);

  ASSERT_TRUE(waitForMessages(3));
  EXPECT_TRUE(saysNothing(received[1]));  // READY=1, still a heartbeat
  EXPECT_TRUE(hungUp(firstRead));
  EXPECT_TRUE(hungUp(secondRead));
  firstRead = nullptr;
  secondRead = nullptr;
  EXPECT_EQ(countEntries("/proc/self/fd"), fdsBefore);
}

TEST_F(NotifySocketTest, KeepsReadingAfterTheCallbackThrows) {
  auto socket = open(dir / "s");
  peek = kj::Function<void(const NotifyMessage&)>([](const NotifyMessage& message) {
    KJ_IF_MAYBE (status, message.status) {
      if (*status == "boom") KJ_FAIL_ASSERT("the scheduler failed on this one");
    }
  });
  ASSERT_EQ(sendTo(socket->path(), "STATUS=boom"), 0);
  ASSERT_EQ(sendTo(socket->path(), "STATUS=fine"), 0);
  ASSERT_TRUE(waitForMessages(1));
  EXPECT_EQ(statusOf(received[0]), "fine");
  ASSERT_EQ(sendTo(socket->path(), "STATUS=still"), 0);
  ASSERT_TRUE(waitForMessages(2));
  EXPECT_EQ(statusOf(received[1]), "still");
}

TEST_F(NotifySocketTest, DropsADatagramOver64KiBAndTakesOneOfExactly64KiB) {
  auto socket = open(dir / "s");
  auto tooLarge = kj::heapArray<char>(64 * 1024 + 1);
  auto exact = kj::heapArray<char>(64 * 1024);
  memset(tooLarge.begin(), 'a', tooLarge.size());
  memset(exact.begin(), 'b', exact.size());
  memcpy(tooLarge.begin(), "STATUS=", 7);
  memcpy(exact.begin(), "STATUS=", 7);
  ASSERT_EQ(sendBytes(socket->path(), tooLarge.asPtr()), 0);
  ASSERT_EQ(sendBytes(socket->path(), exact.asPtr()), 0);

  ASSERT_TRUE(waitForMessages(1));
  ASSERT_EQ(received.size(), 1u);
  KJ_IF_MAYBE (status, received[0].status) {
    EXPECT_EQ(status->size(), 64u * 1024 - 7);
    EXPECT_EQ((*status)[0], 'b');
  } else {
    ADD_FAILURE() << "no status";
  }
  EXPECT_EQ(socket->dropped(), 1u);
}

TEST_F(NotifySocketTest, MakesTheFilePrivateToTheTasksUserAndRemovesItWhenDestroyed) {
  auto path = dir / "s";
  auto socket = open(path);
  struct stat info;
  KJ_SYSCALL(lstat(path.cStr(), &info));
  EXPECT_TRUE(S_ISSOCK(info.st_mode));
  EXPECT_EQ(info.st_mode & 07777, 0600u);
  EXPECT_EQ(info.st_uid, TASK_UID);
  EXPECT_EQ(info.st_gid, TASK_GID);
  EXPECT_STREQ(socket->path().cStr(), path.cStr());

  socket = nullptr;
  EXPECT_NE(lstat(path.cStr(), &info), 0);
  EXPECT_EQ(errno, ENOENT);
}

TEST_F(NotifySocketTest, ReplacesAStaleSocketButNothingElse) {
  auto stale = dir / "stale";
  {
    // What a daemon that died leaves behind: the file, with nobody reading.
    kj::AutoCloseFd old(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un address = addressOf(stale);
    KJ_SYSCALL(bind(old, reinterpret_cast<sockaddr*>(&address), sizeof(address)));
  }
  auto socket = open(stale);
  ASSERT_EQ(sendTo(stale, "STATUS=fresh"), 0);
  ASSERT_TRUE(waitForMessages(1));
  EXPECT_EQ(statusOf(received[0]), "fresh");

  auto file = dir / "file";
  int created;
  KJ_SYSCALL(created = ::open(file.cStr(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644), file);
  close(created);
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() { open(file); })) {
    EXPECT_NE(strstr(e->getDescription().cStr(), file.cStr()), nullptr)
        << e->getDescription().cStr();
  } else {
    ADD_FAILURE() << "replaced a regular file";
  }
  struct stat info;
  KJ_SYSCALL(lstat(file.cStr(), &info));
  EXPECT_TRUE(S_ISREG(info.st_mode));
}

TEST_F(NotifySocketTest, RefusesAPathOf108BytesNamingItAndTakesOneOf107) {
  auto base = kj::str(dir.path, '/');
  auto tooLong = kj::str(base, filled('x', 108 - base.size()));
  ASSERT_EQ(tooLong.size(), 108u);
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() { open(tooLong); })) {
    EXPECT_NE(strstr(e->getDescription().cStr(), tooLong.cStr()), nullptr)
        << e->getDescription().cStr();
    EXPECT_NE(strstr(e->getDescription().cStr(), "too long"), nullptr)
        << e->getDescription().cStr();
  } else {
    ADD_FAILURE() << "a 108-byte path was accepted";
  }
  struct stat info;
  EXPECT_NE(lstat(tooLong.cStr(), &info), 0);

  auto longest = kj::str(base, filled('y', 107 - base.size()));
  ASSERT_EQ(longest.size(), 107u);
  auto socket = open(longest);
  ASSERT_EQ(sendTo(longest, "STATUS=fits"), 0);
  ASSERT_TRUE(waitForMessages(1));
  EXPECT_EQ(statusOf(received[0]), "fits");
}

}  // namespace
}  // namespace taskctl
