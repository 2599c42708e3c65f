#include "rpc/rpc-server.h"

#include "rpc/limited-message-stream.h"
#include "rpc/list-pages.h"
#include "rpc/log-watcher.h"
#include "rpc/submit-request.h"
#include "rpc/watch-session.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include <capnp/rpc-twoparty.h>
#include <kj/debug.h>
#include <rpc.capnp.h>

namespace taskctl {
namespace {

// Large enough that a too-large command still reaches validation and gets a
// clear error (the limit there is 1 MiB of argv + env); a larger frame is
// read to its end and answered "request too large" (LimitedMessageStream),
// then its connection is closed.
constexpr uint64_t MAX_MESSAGE_BYTES = 8 << 20;
constexpr uint64_t MAX_MESSAGE_WORDS = MAX_MESSAGE_BYTES / sizeof(capnp::word);
// A larger frame is not read to its end (taskctl itself sends no more than
// 64 MiB): its connection closes at once.
constexpr uint64_t MAX_DRAINED_BYTES = 64 << 20;
constexpr uint32_t MAX_LOG_CHUNK = 4 << 20;
// A `list` page: far below the message limit, whatever the tasks hold (a
// command alone may be 1 MiB); a page reads at most LIST_PAGE_SCAN stored
// tasks, so a filter that matches few does not hold the loop for the store.
constexpr uint32_t MAX_LIST_PAGE_TASKS = 1000;
constexpr size_t LIST_PAGE_BYTES = 2 << 20;
constexpr size_t LIST_PAGE_SCAN = 20000;
// What the reply's own fields and capnp's framing may add to its tasks.
constexpr size_t LIST_REPLY_SLACK = 64 << 10;

// A refused connection (over the per-user cap, or a uid this daemon does not
// serve) gets its answer on the first call, then this long to read it and
// hang up; at most MAX_REFUSING are kept at once, later ones are closed
// unanswered. Each holds one fd: a flood costs the daemon a bounded number.
constexpr auto REFUSAL_GRACE = 5 * kj::SECONDS;
// How long a connection the daemon ended waits for the peer to hang up.
constexpr auto HANGUP_GRACE = 2 * kj::SECONDS;
constexpr size_t MAX_REFUSING = 128;

// Accepting again after accept() failed (EMFILE, ENFILE, ENOBUFS, ENOMEM:
// the fd table or memory is full until a connection closes): 10 ms, doubling
// up to 1 s, as systemd and sshd pause rather than give up.
constexpr auto ACCEPT_RETRY_MIN = 10 * kj::MILLISECONDS;
constexpr auto ACCEPT_RETRY_MAX = 1 * kj::SECONDS;

// A refusal for a person. A foreign id reads exactly like a missing one.
[[noreturn]] void reject(kj::String message) {
  kj::throwFatalException(kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__, kj::mv(message)));
}
[[noreturn]] void noSuchTask(uint64_t id) { reject(kj::str("no such task: ", id)); }

Identity peerIdentity(kj::AsyncIoStream& stream) {
  struct ucred cred;
  uint len = sizeof(cred);
  stream.getsockopt(SOL_SOCKET, SO_PEERCRED, &cred, &len);
  kj::Vector<gid_t> groups;
  gid_t buffer[256];
  len = sizeof(buffer);
  KJ_IF_MAYBE(e, kj::runCatchingExceptions(
                     [&]() { stream.getsockopt(SOL_SOCKET, SO_PEERGROUPS, buffer, &len); })) {
    // More than 256 groups: ask again with room for all of them.
    auto big = kj::heapArray<gid_t>(65536);
    len = big.size() * sizeof(gid_t);
    stream.getsockopt(SOL_SOCKET, SO_PEERGROUPS, big.begin(), &len);
    for (size_t i = 0; i < len / sizeof(gid_t); i++) groups.add(big[i]);
  } else {
    for (size_t i = 0; i < len / sizeof(gid_t); i++) groups.add(buffer[i]);
  }
  return Identity{cred.uid, cred.gid, groups.releaseAsArray()};
}

void copyLabels(capnp::List<spec::Label>::Reader from, capnp::List<spec::Label>::Builder to) {
  for (auto i : kj::indices(from)) {
    to[i].setKey(from[i].getKey());
    to[i].setValue(from[i].getValue());
  }
}

void fillAttempt(records::Attempt::Reader a, rpc::AttemptView::Builder v) {
  v.setNumber(a.getNumber());
  v.setState(stateName(a.getState()));
  v.setReason(reasonName(a.getReason()));
  v.setMessage(a.getMessage());
  v.setExitCode(a.getExitCode());
  v.setSignal(a.getSignal());
  v.setStartedAt(a.getStartedAt());
  v.setEndedAt(a.getEndedAt());
  v.setShimPid(a.getShimPid());
  v.setUnit(a.getUnit());
  v.setWallUsec(a.getWallUsec());
  v.setCpuUserUsec(a.getCpuUserUsec());
  v.setCpuSystemUsec(a.getCpuSystemUsec());
  v.setPeakMemoryBytes(a.getPeakMemoryBytes());
  v.setOutputTail(a.getOutputTail());
  v.setProgress(a.getProgress());
  v.setStatusText(a.getStatusText());
  v.setOomKills(a.getOomKills());
}

// The bootstrap capability of a refused connection: every call fails with
// the reason, which taskctl prints (and maps to its exit status).
class Refusal final : public capnp::Capability::Server {
 public:
  explicit Refusal(kj::Exception reason) : reason(kj::mv(reason)) {}

  DispatchCallResult dispatchCall(uint64_t, uint16_t,
                                  capnp::CallContext<capnp::AnyPointer, capnp::AnyPointer>) override {
    return {kj::Promise<void>(kj::cp(reason)), false};
  }

 private:
  kj::Exception reason;
};

}  // namespace

// The bootstrap capability of one connection: every call acts as `identity`.
class RpcServer::TaskctlImpl final : public rpc::Taskctl::Server {
 public:
  TaskctlImpl(RpcServer& server, Identity identity)
      : server(server), identity(kj::mv(identity)) {}

  kj::Promise<void> submit(SubmitContext context) override {
    // A store found corrupt is read-only: every change is refused (exit 75).
    server.store.requireWritable();
    KJ_IF_MAYBE(group, server.config.submitGroup) {
      if (identity.uid != 0 && !identity.inGroup(*group)) {
        reject(kj::str("permission denied: submitting needs membership in group ", *group,
                       " (access.submit_group)"));
      }
    }
    auto in = context.getParams().getRequest();
    capnp::MallocMessageBuilder message(in.totalSize().wordCount + 64);  // an old client's only
    auto request = taskSpecOf(in, message);
    uid_t uid = identity.uid;
    SubmitExtras extras;
    extras.seesAll = privileged();
    extras.exempt = privileged();  // quotas and max_user_priority bind the others
    return server.scheduler.submit(request, identity, extras).then([context, uid](uint64_t id) mutable {
      KJ_LOG(INFO, "submitted", id, uid);
      // A one-word reply: without the hint capnp zeroes an 8 KiB segment.
      context.initResults(capnp::MessageSize{4, 0}).setId(id);
    });
  }

  kj::Promise<void> status(StatusContext context) override {
    auto params = context.getParams();
    uint64_t id = params.getId();
    bool withEnv = params.getWithEnv();
    return server.commit.flushed().then([this, context, id, withEnv]() mutable {
      // Read before the task: every event up to it is in what we read.
      context.getResults().setLastSeq(server.events.lastPublished());
      fillVisible(id, context.getResults().initTask(), withEnv, true);
    });
  }

  kj::Promise<void> list(ListContext context) override {
    auto params = context.getParams();
    auto filter = params.getFilter();
    TaskFilter match;
    if (filter.getState().size() > 0) match.state = parseState(filter.getState());
    match.queue = kj::str(filter.getQueue());
    for (auto label : filter.getLabels()) {
      match.labels.add(kj::str(label.getKey()), kj::str(label.getValue()));
    }
    // Everyone's tasks only when asked for and allowed; others get their own.
    if (!(filter.getAllUsers() && privileged())) match.uid = identity.uid;
    uint32_t limit = filter.getLimit();
    uint32_t pageSize = params.getPageSize();
    uint64_t after = params.getAfter();
    uint64_t through = params.getThrough();
    return server.commit.flushed().then([this, context, match = kj::mv(match), limit, pageSize,
                                         after, through]() mutable {
      uint64_t lastSeq = server.events.lastPublished();  // before the read, as in status
      PageBounds bounds;
      if (pageSize == 0) {
        // A client older than paging: everything in one reply, as long as it fits.
        bounds.maxBytes = MAX_MESSAGE_WORDS * sizeof(capnp::word) - LIST_REPLY_SLACK;
      } else {
        bounds.maxTasks = kj::min(pageSize, MAX_LIST_PAGE_TASKS);
        bounds.maxBytes = LIST_PAGE_BYTES;
        bounds.maxScanned = LIST_PAGE_SCAN;
      }
      auto page = readListPage(server.store, match, limit, after, through, bounds);
      if (pageSize == 0 && page.more) {
        reject(kj::str("too many tasks for one reply: this client does not page the list "
                       "(a current taskctl lists any number)"));
      }
      auto results = context.getResults(
          capnp::MessageSize{page.bytes / sizeof(capnp::word) + 64, 0});
      results.setLastSeq(lastSeq);
      results.setMore(page.more);
      results.setNextCursor(page.nextCursor);
      results.setThrough(page.through);
      auto out = results.initTasks(page.ids.size());
      for (auto i : kj::indices(page.ids)) {
        // Read again rather than kept from the page's walk: only a page's
        // worth of views is ever held, never its records' envs. Nothing is
        // committed between the two reads (one loop turn).
        KJ_IF_MAYBE(record, server.store.getTask(page.ids[i])) {
          fill((*record)->get(), out[i], false, false);
        } else {
          KJ_FAIL_ASSERT("a listed task vanished within one loop turn", page.ids[i]);
        }
      }
    });
  }

  kj::Promise<void> wait(WaitContext context) override {
    uint64_t id = context.getParams().getId();
    return server.commit.flushed()
        .then([this, id]() {
          visibleTaskOrTombstone(id);  // a foreign id reads like a missing one, also here
          return server.scheduler.whenTerminal(id);
        })
        .then([this, context, id]() mutable {
          fillVisible(id, context.getResults().initTask(), false, true);
        });
  }

  kj::Promise<void> cancel(CancelContext context) override {
    server.store.requireWritable();
    uint64_t id = context.getParams().getId();
    uid_t uid = identity.uid;
    return server.commit.flushed()
        .then([this, id, uid]() {
          visibleTask(id);
          KJ_LOG(INFO, "cancel", id, uid);
          return server.scheduler.cancel(id);
        })
        .then([this, id]() { return server.commit.flushed(); })
        .then([this, context, id]() mutable {
          auto record = visibleTask(id);
          fill(record->get(), context.getResults().initTask(), false, false);
        });
  }

  kj::Promise<void> logs(LogsContext context) override {
    auto params = context.getParams();
    uint64_t id = params.getId();
    uint32_t attempt = params.getAttempt();
    uint64_t offset = params.getOffset();
    uint32_t maxBytes = kj::min(params.getMaxBytes(), MAX_LOG_CHUNK);
    bool follow = params.getFollow();
    return server.commit.flushed().then([this, context, id, attempt, offset, maxBytes,
                                         follow]() mutable -> kj::Promise<void> {
      auto record = visibleTask(id);
      uint32_t attempts = record->get().getAttempts();
      uint32_t n = attempt == 0 ? attempts : attempt;
      if (n > attempts) reject(kj::str("task ", id, " has no attempt ", n));
      auto results = context.getResults();
      results.setAttempt(n);
      // Armed before the read, so a write between the read and the wait is
      // not missed.
      kj::Maybe<kj::Promise<void>> change;
      bool live = n == 0 ? server.scheduler.isActive(id) : server.scheduler.attemptLive(id, n);
      if (follow && live) {
        // No attempt yet: wake when the first one creates its log.
        auto name = kj::str(id, "-", n == 0 ? 1 : n, ".log");
        change = server.logWatcher.whenChanged(name)
                     .exclusiveJoin(n == 0 ? server.scheduler.whenTerminal(id)
                                           : server.scheduler.whenAttemptEnds(id, n));
      }
      auto got = n == 0 ? 0 : readLog(server.runner.logPath(id, n), offset, maxBytes, results);
      results.setEnded(!live && got < maxBytes);
      KJ_IF_MAYBE(c, change) {
        if (got == 0) {
          // Nothing yet: answer when there is output or the attempt ends; the
          // client then asks again from the same offset.
          return kj::mv(*c);
        }
      }
      return kj::READY_NOW;
    });
  }

  kj::Promise<void> queueList(QueueListContext context) override {
    auto queues = server.scheduler.queueList();
    auto out = context.getResults().initQueues(queues.size());
    for (auto i : kj::indices(queues)) fillQueue(queues[i], out[i]);
    return kj::READY_NOW;
  }

  kj::Promise<void> queueSet(QueueSetContext context) override {
    auto params = context.getParams();
    requireAdmin("change queues");
    server.store.requireWritable();
    kj::Maybe<uint32_t> concurrency;
    if (!params.getUseDefault()) concurrency = params.getConcurrency();
    return server.scheduler.setConcurrency(params.getName(), concurrency, identity.uid)
        .then([context](Scheduler::QueueInfo info) mutable {
          fillQueue(info, context.getResults().initQueue());
        });
  }

  kj::Promise<void> queuePause(QueuePauseContext context) override {
    auto params = context.getParams();
    requireAdmin("change queues");
    server.store.requireWritable();
    return server.scheduler.setPaused(params.getName(), params.getPaused(), identity.uid)
        .then([context](Scheduler::QueueInfo info) mutable {
          fillQueue(info, context.getResults().initQueue());
        });
  }

  kj::Promise<void> watch(WatchContext context) override {
    // Hanging up (or Ctrl-C in taskctl) cancels the call, which drops the
    // session and its subscription.
    context.allowCancellation();
    auto params = context.getParams();
    WatchSession::Request request;
    request.from = params.getFrom();
    request.ids = KJ_MAP(id, params.getIds()) { return id; };
    request.progress = params.getProgress();
    request.visible = [this](uint32_t uid) { return visibleUid(uid); };
    auto watcher = params.getWatcher();
    context.releaseParams();
    uid_t uid = identity.uid;
    return server.commit.flushed().then([this, context, request = kj::mv(request),
                                         watcher = kj::mv(watcher), uid]() mutable {
      // An id the caller may not see reads like one that does not exist.
      for (auto id : request.ids) visibleTaskOrTombstone(id);
      auto session = kj::heap<WatchSession>(server.events, server.store, server.timer,
                                            kj::mv(watcher), kj::mv(request),
                                            WatchSession::Limits{});
      auto done = session->run();
      return done
          .then([context, uid](uint64_t resumeFrom) mutable {
            KJ_LOG(INFO, "watcher fell behind", uid, resumeFrom);
            context.getResults(capnp::MessageSize{4, 0}).setResumeFrom(resumeFrom);
          })
          .attach(kj::mv(session));
    });
  }

  kj::Promise<void> scheduleAdd(ScheduleAddContext context) override {
    auto& schedules = requireSchedules();
    KJ_IF_MAYBE(group, server.config.submitGroup) {
      if (identity.uid != 0 && !identity.inGroup(*group)) {
        reject(kj::str("permission denied: scheduling needs membership in group ", *group,
                       " (access.submit_group)"));
      }
    }
    auto params = context.getParams();
    capnp::MallocMessageBuilder oldClient(params.getRequest().totalSize().wordCount + 64);
    auto in = taskSpecOf(params.getRequest(), oldClient);
    if (in.getDelayUsec() != 0 || in.getNotBefore() != 0 || in.getAfter().size() > 0 ||
        in.getRequestId().size() > 0) {
      reject(kj::str("a schedule's tasks cannot take --in, --at, --after or --request-id"));
    }
    {
      // Each firing submits these options: refuse now what submit would
      // refuse then (a NUL byte, a relative cwd, a size), naming the field.
      // Not the caller's environment, which a schedule does not keep; with
      // the label each firing adds (schedule=NAME, once NAME is valid).
      KJ_IF_MAYBE(refusal, checkScheduleName(params.getName())) reject(kj::mv(*refusal));
      capnp::MallocMessageBuilder message(in.totalSize().wordCount + 64);
      message.setRoot(in);
      auto request = message.getRoot<spec::TaskSpec>();
      request.initEnv(0);
      auto given = in.getLabels();
      auto labels = request.initLabels(given.size() + 1);
      for (auto i : kj::indices(given)) {
        labels[i].setKey(given[i].getKey());
        labels[i].setValue(given[i].getValue());
      }
      labels[given.size()].setKey("schedule");
      labels[given.size()].setValue(params.getName());
      server.scheduler.validate(request);
    }
    ScheduleSpec spec;
    spec.name = kj::str(params.getName());
    spec.uid = identity.uid;  // the socket's, never the message's
    spec.onCalendar = kj::str(params.getOnCalendar());
    spec.persistent = params.getPersistent();
    spec.accuracyUsec = params.getAccuracyUsec();
    setScheduleTask(spec, in);  // what each firing submits
    if (!privileged()) schedules.checkLimits(identity.uid, true, scheduleLimits(), server.timer.now());
    uid_t uid = identity.uid;
    auto name = kj::str(spec.name);
    return schedules.add(kj::mv(spec)).then([uid, name = kj::mv(name)]() {
      KJ_LOG(INFO, "schedule added", name, uid);
    });
  }

  kj::Promise<void> scheduleList(ScheduleListContext context) override {
    auto& schedules = requireSchedules();
    kj::Maybe<uint32_t> whose;
    if (!privileged()) whose = identity.uid;
    return schedules.list(whose).then([this, context](kj::Array<ScheduleInfo> found) mutable {
      return server.commit.flushed().then(
          [this, context, found = kj::mv(found)]() mutable {
            // The tasks each one submitted: one pass over the store.
            kj::Vector<kj::Vector<uint64_t>> ids(found.size());
            for (size_t i = 0; i < found.size(); i++) ids.add();
            server.store.forEachTask([&](records::Task::Reader task) {
              for (auto label : task.getLabels()) {
                if (label.getKey() != "schedule") continue;
                for (auto i : kj::indices(found)) {
                  if (found[i].uid == task.getUid() && found[i].name == label.getValue()) {
                    ids[i].add(task.getId());
                  }
                }
              }
              return true;
            });
            auto out = context.getResults().initSchedules(found.size());
            for (auto i : kj::indices(found)) {
              auto& s = found[i];
              auto v = out[i];
              v.setName(s.name);
              v.setUid(s.uid);
              v.setOnCalendar(s.onCalendar);
              v.setNextRunAt(int64_t(s.times.nextUsec) * 1000);
              v.setLastRunAt(int64_t(s.times.lastUsec) * 1000);
              std::sort(ids[i].begin(), ids[i].end());
              auto taskIds = v.initTaskIds(ids[i].size());
              for (auto j : kj::indices(ids[i])) taskIds.set(j, ids[i][j]);
              v.setTimerUnit(s.timerUnit);
              v.setServiceUnit(s.serviceUnit);
            }
          });
    });
  }

  kj::Promise<void> scheduleRemove(ScheduleRemoveContext context) override {
    auto& schedules = requireSchedules();
    auto params = context.getParams();
    auto name = kj::str(params.getName());
    kj::Maybe<uint32_t> owner;
    if (params.getHasOwner()) owner = params.getOwner();
    if (!privileged()) schedules.checkLimits(identity.uid, false, scheduleLimits(), server.timer.now());
    // Schedules decides who may name whom: it knows the caller and whether it is privileged.
    return schedules.remove(identity.uid, privileged(), name, owner);
  }

 private:
  RpcServer& server;
  Identity identity;

  Schedules& requireSchedules() {
    KJ_IF_MAYBE(s, server.schedules) return *s;
    reject(kj::str("schedules need systemd: taskctld runs without it (--runner scope needs "
                   "systemd as PID 1 and the system bus)"));
  }

  Schedules::Limits scheduleLimits() {
    return {server.config.limits.maxSchedulesPerUser, server.config.limits.scheduleChangesPerMinute};
  }

  // Root and the admin group: see and control every task, change queues,
  // set any priority, no per-user quota. A private daemon's own user too:
  // it is the one user such a daemon serves.
  bool privileged() {
    if (identity.uid == 0 || identity.uid == geteuid()) return true;
    KJ_IF_MAYBE(admin, server.config.adminGroup) return identity.inGroup(*admin);
    return false;
  }

  void requireAdmin(kj::StringPtr what) {
    if (privileged()) return;
    reject(kj::str("permission denied: only root and the admin group (access.admin_group) may ",
                   what));
  }

  static void fillQueue(const Scheduler::QueueInfo& info, rpc::QueueView::Builder v) {
    v.setName(info.name);
    v.setConcurrency(info.concurrency);
    v.setConcurrencyFromConfig(info.fromConfig);
    v.setRunning(info.running);
    v.setQueued(info.queued);
    v.setWaiting(info.waiting);
    v.setPaused(info.paused);
    v.setPausedReason(info.pausedReason);
  }

  // A task, or what retention left of it; a foreign or unknown id fails.
  void visibleTaskOrTombstone(uint64_t id) {
    if (server.store.getTask(id) != nullptr) {
      visibleTask(id);
      return;
    }
    KJ_IF_MAYBE(tombstone, server.store.getTombstone(id)) {
      if (visibleUid((*tombstone)->get().getUid())) return;
    }
    noSuchTask(id);
  }

  void fillVisible(uint64_t id, rpc::TaskView::Builder v, bool withEnv, bool withAttempts) {
    if (server.store.getTask(id) != nullptr) {
      auto record = visibleTask(id);
      fill(record->get(), v, withEnv, withAttempts);
      return;
    }
    KJ_IF_MAYBE(found, server.store.getTombstone(id)) {
      auto t = (*found)->get();
      if (visibleUid(t.getUid())) {
        v.setId(t.getId());
        v.setUid(t.getUid());
        v.setState(stateName(t.getState()));
        v.setReason(reasonName(t.getReason()));
        v.setExitCode(t.getExitCode());
        v.setSignal(t.getSignal());
        v.setFinishedAt(t.getFinishedAt());
        v.setQueue(t.getQueue());
        v.setPruned(true);
        v.setExitStatus(exitStatusOf(t.getState(), t.getReason(), t.getExitCode(), t.getSignal()));
        v.setMessage(kj::str("pruned by retention; only its final state is kept"));
        return;
      }
    }
    noSuchTask(id);
  }

  // Fills data and nextOffset from the log at `path`; returns the bytes read.
  // A log cut below `offset` (logs.max_bytes) is read again from 0, where
  // the cut is marked.
  static size_t readLog(kj::StringPtr path, uint64_t offset, uint32_t maxBytes,
                        rpc::Taskctl::LogsResults::Builder results) {
    results.setNextOffset(offset);
    // O_NOFOLLOW: only the log itself, never a file a link in its place names.
    int fd = open(path.cStr(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return 0;  // no output yet
    KJ_DEFER(close(fd));
    struct stat st;
    KJ_SYSCALL(fstat(fd, &st), path);
    if (uint64_t(st.st_size) < offset) offset = 0;
    auto buffer = kj::heapArray<kj::byte>(kj::min(uint64_t(maxBytes), st.st_size - offset));
    ssize_t got = 0;
    if (buffer.size() > 0) {
      KJ_SYSCALL(got = pread(fd, buffer.begin(), buffer.size(), offset), path);
    }
    results.setData(buffer.slice(0, got));
    results.setNextOffset(offset + got);
    return got;
  }

  bool visible(records::Task::Reader task) { return visibleUid(task.getUid()); }
  bool visibleUid(uint32_t uid) { return uid == identity.uid || privileged(); }

  kj::Own<Record<records::Task>> visibleTask(uint64_t id) {
    auto found = server.store.getTask(id);
    KJ_IF_MAYBE(record, found) {
      if (visible((*record)->get())) return kj::mv(*record);
    }
    noSuchTask(id);
  }

  static records::TaskState parseState(kj::StringPtr name) {
    for (auto state : {records::TaskState::WAITING, records::TaskState::QUEUED,
                       records::TaskState::STARTING, records::TaskState::RUNNING,
                       records::TaskState::SUCCEEDED, records::TaskState::FAILED,
                       records::TaskState::CANCELLED, records::TaskState::RETRYING}) {
      if (stateName(state) == name) return state;
    }
    reject(kj::str("unknown state \"", name,
                   "\" (states: waiting queued starting running succeeded failed cancelled "
                   "retrying)"));
  }

  void fill(records::Task::Reader t, rpc::TaskView::Builder v, bool withEnv, bool withAttempts) {
    v.setId(t.getId());
    v.setUid(t.getUid());
    v.setGid(t.getGid());
    v.setState(stateName(t.getState()));
    v.setReason(reasonName(t.getReason()));
    v.setMessage(t.getMessage());
    v.setExitStatus(exitStatusOf(t));
    v.setExitCode(t.getExitCode());
    v.setSignal(t.getSignal());
    v.setQueue(t.getQueue());
    v.setPriority(t.getPriority());
    v.setArgv(t.getArgv());
    v.setCwd(t.getCwd());
    if (withEnv) v.setEnv(t.getEnv());
    copyLabels(t.getLabels(), v.initLabels(t.getLabels().size()));
    v.setCreatedAt(t.getCreatedAt());
    v.setFinishedAt(t.getFinishedAt());
    auto limits = t.getLimits();
    v.setTimeoutUsec(limits.getTimeoutUsec());
    v.setKillGraceUsec(limits.getKillGraceUsec());
    v.setHeartbeatUsec(limits.getHeartbeatUsec());
    v.setCpuQuotaPerSecUsec(limits.getCpuQuotaPerSecUsec());
    v.setMemoryMaxBytes(limits.getMemoryMaxBytes());
    v.setTasksMax(limits.getTasksMax());
    v.setAfter(t.getAfter());
    v.setNotBefore(t.getNotBefore());
    v.setNextAttemptAt(t.getNextAttemptAt());
    v.setRetry(t.getRetry());
    v.setKey(t.getKey());
    v.setRequestId(t.getRequestId());
    v.setWaitingFor(server.scheduler.waitingFor(t));
    if (withAttempts) {
      kj::Vector<kj::Own<capnp::MallocMessageBuilder>> attempts;
      server.store.forEachAttempt(t.getId(), [&](records::Attempt::Reader a) {
        auto copy = kj::heap<capnp::MallocMessageBuilder>(a.totalSize().wordCount + 8);
        copy->setRoot(a);
        attempts.add(kj::mv(copy));
      });
      auto out = v.initAttempts(attempts.size());
      for (auto i : kj::indices(attempts)) {
        fillAttempt(attempts[i]->getRoot<records::Attempt>(), out[i]);
      }
      // The running attempt's progress as of now, not as of its last write.
      KJ_IF_MAYBE(live, server.scheduler.liveAttempt(t.getId())) {
        for (auto view : out) {
          if (view.getNumber() == live->getNumber()) {
            view.setProgress(live->getProgress());
            view.setStatusText(live->getStatusText());
          }
        }
      }
    }
  }
};

// One accepted connection: its stream, its vat network and its RPC system.
// Owned by the server's TaskSet until the peer goes away or misbehaves.
class RpcServer::Connection {
 public:
  // `uid`: the peer's, counted against its cap while this lives (nullptr for
  // a refused connection, which counts among the refusals instead).
  Connection(RpcServer& server, kj::Own<kj::AsyncIoStream> streamArg, kj::Maybe<uid_t> uid,
             capnp::Capability::Client bootstrap)
      : server(server),
        uid(uid),
        stream(kj::mv(streamArg)),
        messages(*stream, MAX_MESSAGE_BYTES, MAX_DRAINED_BYTES),
        network(messages, capnp::rpc::twoparty::Side::SERVER, readerOptions()),
        rpcSystem(capnp::makeRpcServer(network, kj::mv(bootstrap))) {
    server.connections++;
    KJ_IF_MAYBE(u, uid) server.perUser[*u]++;
  }
  ~Connection() noexcept(false) {
    server.connections--;
    KJ_IF_MAYBE(u, uid) {
      auto found = server.perUser.find(*u);
      if (found != server.perUser.end() && --found->second == 0) server.perUser.erase(found);
    }
  }

  // Resolves when the RPC system is done with the connection, then (if the
  // daemon is the one that ended it, with an Abort saying why) once the peer
  // has hung up too: closing with the peer's later messages unread would
  // reset the connection, and the peer might never read the Abort.
  kj::Promise<void> onDisconnect() {
    return network.onDisconnect().then([this]() { return drainInput(); });
  }
  kj::Promise<void> onRpcDone() { return network.onDisconnect(); }

 private:
  kj::Promise<void> drainInput() {
    auto buffer = kj::heapArray<kj::byte>(4096);
    auto ptr = buffer.begin();
    return stream->tryRead(ptr, 1, 4096).then(
        [this, buffer = kj::mv(buffer)](size_t got) -> kj::Promise<void> {
          if (got == 0) return kj::READY_NOW;
          return drainInput();
        });
  }

  static capnp::ReaderOptions readerOptions() {
    capnp::ReaderOptions options;
    options.traversalLimitInWords = MAX_MESSAGE_WORDS;
    options.nestingLimit = 32;
    return options;
  }

  RpcServer& server;
  kj::Maybe<uid_t> uid;
  kj::Own<kj::AsyncIoStream> stream;
  LimitedMessageStream messages;
  capnp::TwoPartyVatNetwork network;
  capnp::RpcSystem<capnp::rpc::twoparty::VatId> rpcSystem;
};

RpcServer::RpcServer(Scheduler& scheduler, Store& store, GroupCommit& commit, EventLog& events,
                     Runner& runner, const Config& config, LogWatcher& logWatcher,
                     kj::Timer& timer)
    : scheduler(scheduler),
      store(store),
      commit(commit),
      events(events),
      runner(runner),
      config(config),
      logWatcher(logWatcher),
      timer(timer),
      ownUid(geteuid()),
      tasks(*this) {}

RpcServer::~RpcServer() noexcept(false) {}

void RpcServer::taskFailed(kj::Exception&& exception) {
  // One connection's failure (a malformed frame, a peer gone mid-call) ends
  // that connection only; not worth a line each.
}

kj::Promise<void> RpcServer::listen(kj::ConnectionReceiver& listener) {
  // accept() may throw at once as well as through its promise.
  return kj::evalNow([&listener]() { return listener.accept(); })
      .then(
          [this, &listener](kj::Own<kj::AsyncIoStream> stream) {
            acceptRetry = 0 * kj::SECONDS;
            KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { serve(kj::mv(stream)); })) {
              // One peer we could not even look at (gone already): its loss only.
              KJ_LOG(WARNING, "dropping a connection", e->getDescription());
            }
            return listen(listener);
          },
          [this, &listener](kj::Exception&& e) {
            // Never the end of the daemon: the fd table or memory is full
            // until a connection closes, and the backlog waits meanwhile.
            acceptRetry = kj::max(ACCEPT_RETRY_MIN, kj::min(acceptRetry * 2, ACCEPT_RETRY_MAX));
            auto now = timer.now();
            if (now - lastAcceptWarning >= 60 * kj::SECONDS || acceptFailures == 0) {
              KJ_LOG(WARNING, "accept failed; retrying", e.getDescription(), acceptFailures,
                     connections);
              lastAcceptWarning = now;
              acceptFailures = 0;
            }
            acceptFailures++;
            return timer.afterDelay(acceptRetry).then([this, &listener]() {
              return listen(listener);
            });
          });
}

kj::Maybe<kj::Exception> RpcServer::refusalFor(uid_t uid) {
  if (ownUid != 0 && uid != ownUid) {
    // Not root: every task would run as us, whoever submitted it.
    return kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__,
                         kj::str("permission denied: this taskctld runs as uid ", ownUid,
                                 ", not root, and serves only uid ", ownUid, " (you are uid ",
                                 uid, ")"));
  }
  if (uid == 0) return nullptr;
  uint32_t cap = config.maxConnectionsPerUser;
  auto found = perUser.find(uid);
  size_t open = found == perUser.end() ? 0 : found->second;
  if (cap != 0 && open >= cap) {
    return kj::Exception(kj::Exception::Type::OVERLOADED, __FILE__, __LINE__,
                         kj::str("too many connections: uid ", uid, " has ", open,
                                 " open to taskctld, the limit is ", cap,
                                 " (access.max_connections_per_user); close some and retry"));
  }
  return nullptr;
}

kj::Promise<void> RpcServer::whenDone(Connection& connection) {
  return connection.onDisconnect().exclusiveJoin(
      // The peer's hang-up is waited for only this long once RPC is over.
      connection.onRpcDone().then([this]() { return timer.afterDelay(HANGUP_GRACE); }));
}

void RpcServer::serve(kj::Own<kj::AsyncIoStream> stream) {
  auto identity = peerIdentity(*stream);
  uid_t uid = identity.uid;
  KJ_IF_MAYBE(reason, refusalFor(uid)) {
    auto now = timer.now();
    if (now - lastRefusalLog >= 10 * kj::SECONDS) {
      KJ_LOG(WARNING, "refusing connections", uid, reason->getDescription(), refusing);
      lastRefusalLog = now;
    }
    if (refusing >= MAX_REFUSING) return;  // closed unanswered: dropping `stream`
    refusing++;
    auto connection = kj::heap<Connection>(*this, kj::mv(stream), nullptr,
                                           kj::heap<Refusal>(kj::mv(*reason)));
    auto done = whenDone(*connection).exclusiveJoin(timer.afterDelay(REFUSAL_GRACE));
    tasks.add(done.attach(kj::mv(connection), kj::defer([this]() { refusing--; })));
    return;
  }
  auto connection = kj::heap<Connection>(*this, kj::mv(stream), uid,
                                         kj::heap<TaskctlImpl>(*this, kj::mv(identity)));
  tasks.add(whenDone(*connection).attach(kj::mv(connection)));
}

}  // namespace taskctl
