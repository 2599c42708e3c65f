#include "rpc/taskctl-service.h"

#include <fcntl.h>
#include <kj/debug.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "common/errors.h"
#include "rpc/submit-request.h"
#include "rpc/views.h"
#include "rpc/watch-session.h"

namespace taskctl {
namespace {

constexpr uint32_t MAX_LOG_CHUNK = 4 << 20;
// A `list` page: far below the message limit, whatever the tasks hold (a
// command alone may be 1 MiB); a page reads at most LIST_PAGE_SCAN stored
// tasks, so a filter that matches few does not hold the loop for the store.
constexpr uint32_t MAX_LIST_PAGE_TASKS = 1000;
constexpr size_t LIST_PAGE_BYTES = 2 << 20;
constexpr size_t LIST_PAGE_SCAN = 20000;
// What the reply's own fields and capnp's framing may add to its tasks.
constexpr size_t LIST_REPLY_SLACK = 64 << 10;

// A foreign id reads exactly like a missing one.
[[noreturn]] void noSuchTask(uint64_t id) { refuse(kj::str("no such task: ", id)); }

// What a schedule stores of `schedule add`: its timer, and the submit
// options each firing uses (checked by the caller first).
ScheduleSpec scheduleSpecOf(rpc::Taskctl::ScheduleAddParams::Reader params,
                            spec::TaskSpec::Reader task, uid_t uid) {
  ScheduleSpec spec;
  spec.name = kj::str(params.getName());
  spec.uid = uid;  // the socket's, never the message's
  spec.onCalendar = kj::str(params.getOnCalendar());
  spec.persistent = params.getPersistent();
  spec.accuracyUsec = params.getAccuracyUsec();
  setScheduleTask(spec, task);
  return spec;
}

// Fills data and nextOffset from the log at `path`; returns the bytes read.
// A log cut below `offset` (logs.max_bytes) is read again from 0, where
// the cut is marked.
size_t readLog(kj::StringPtr path, uint64_t offset, uint32_t maxBytes,
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

class TaskctlService final : public rpc::Taskctl::Server {
 public:
  TaskctlService(ServiceParts& parts, Access access) : parts(parts), access(kj::mv(access)) {}

  kj::Promise<void> submit(SubmitContext context) override {
    // A store found corrupt is read-only: every change is refused (exit 75).
    parts.queries.requireWritable();
    access.requireSubmitter("submitting");
    auto in = context.getParams().getRequest();
    capnp::MallocMessageBuilder message(in.totalSize().wordCount + 64);  // an old client's only
    auto request = taskSpecOf(in, message);
    uid_t uid = access.uid();
    SubmitExtras extras;
    extras.seesAll = access.privileged();
    extras.exempt = access.privileged();  // quotas and max_user_priority bind the others
    return parts.scheduler.submit(request, access.identity(), extras)
        .then([context, uid](uint64_t id) mutable {
          KJ_LOG(INFO, "submitted", id, uid);
          // A one-word reply: without the hint capnp zeroes an 8 KiB segment.
          context.initResults(capnp::MessageSize{4, 0}).setId(id);
        });
  }

  kj::Promise<void> rerun(RerunContext context) override {
    parts.queries.requireWritable();
    access.requireSubmitter("submitting");
    return parts.queries.flushed()
        .then([this, context]() mutable { return rerunOf(context.getParams()); })
        .then([context](uint64_t made) mutable {
          context.initResults(capnp::MessageSize{4, 0}).setId(made);
        });
  }

  kj::Promise<void> edit(EditContext context) override {
    // All or nothing: the stored task with the overrides on top, checked as
    // a submit, then one write (Scheduler::edit).
    parts.queries.requireWritable();
    uint64_t id = context.getParams().getId();
    return parts.queries.flushed()
        .then([this, context, id]() mutable { return editOf(context.getParams()); })
        .then([this]() { return parts.queries.flushed(); })
        .then([this, context, id]() mutable {
          fillVisible(id, context.getResults().initTask(), false);
        });
  }

  kj::Promise<void> status(StatusContext context) override {
    auto params = context.getParams();
    uint64_t id = params.getId();
    bool withEnv = params.getWithEnv();
    return parts.queries.flushed().then([this, context, id, withEnv]() mutable {
      // Read before the task: every event up to it is in what we read.
      context.getResults().setLastSeq(parts.events.lastPublished());
      fillVisible(id, context.getResults().initTask(), withEnv);
    });
  }

  kj::Promise<void> list(ListContext context) override {
    auto params = context.getParams();
    auto filter = params.getFilter();
    TaskFilter match;
    if (filter.getState().size() > 0) {
      KJ_IF_MAYBE (state, stateNamed(filter.getState())) {
        match.state = *state;
      } else {
        refuse(kj::str("unknown state \"", filter.getState(),
                       "\" (states: waiting queued starting running succeeded failed cancelled "
                       "retrying paused)"));
      }
    }
    match.queue = kj::str(filter.getQueue());
    if (match.queue.size() > 0) {
      // An unknown queue is a rejected input, like an unknown state: an empty list would read as
      // "no tasks there". Known: the TOML's, and any a stored unfinished task still names.
      kj::Vector<kj::String> names;
      bool known = false;
      for (auto& queue : parts.scheduler.queueList()) {
        known = known || queue.name == match.queue;
        names.add(kj::mv(queue.name));
      }
      if (!known) {
        refuse(kj::str("unknown queue \"", match.queue, "\" (queues: ", kj::strArray(names, ", "),
                       ")"));
      }
    }
    for (auto label : filter.getLabels()) {
      match.labels.add(kj::str(label.getKey()), kj::str(label.getValue()));
    }
    // Everyone's tasks only when asked for and allowed; others get their own.
    if (!(filter.getAllUsers() && access.privileged())) match.uid = access.uid();
    uint32_t limit = filter.getLimit();
    uint32_t pageSize = params.getPageSize();
    uint64_t after = params.getAfter();
    uint64_t through = params.getThrough();
    return parts.queries.flushed().then(
        [this, context, match = kj::mv(match), limit, pageSize, after, through]() mutable {
          uint64_t lastSeq = parts.events.lastPublished();  // before the read, as in status
          PageBounds bounds;
          if (pageSize == 0) {
            // A client older than paging: everything in one reply, as long as it fits.
            bounds.maxBytes = MAX_MESSAGE_WORDS * sizeof(capnp::word) - LIST_REPLY_SLACK;
          } else {
            bounds.maxTasks = kj::min(pageSize, MAX_LIST_PAGE_TASKS);
            bounds.maxBytes = LIST_PAGE_BYTES;
            bounds.maxScanned = LIST_PAGE_SCAN;
          }
          auto page = parts.queries.listPage(match, limit, after, through, bounds);
          if (pageSize == 0 && page.more) {
            refuse(
                kj::str("too many tasks for one reply: this client does not page the list "
                        "(a current taskctl lists any number)"));
          }
          auto results =
              context.getResults(capnp::MessageSize{page.bytes / sizeof(capnp::word) + 64, 0});
          results.setLastSeq(lastSeq);
          results.setMore(page.more);
          results.setNextCursor(page.nextCursor);
          results.setThrough(page.through);
          auto out = results.initTasks(page.ids.size());
          for (auto i : kj::indices(page.ids)) {
            // Read again rather than kept from the page's walk: only a page's
            // worth of views is ever held, never its records' envs. Nothing is
            // committed between the two reads (one loop turn).
            KJ_IF_MAYBE (seen, parts.queries.task(page.ids[i], access.viewer())) {
              fillTask(*seen, false, out[i]);
            } else {
              KJ_FAIL_ASSERT("a listed task vanished within one loop turn", page.ids[i]);
            }
          }
        });
  }

  kj::Promise<void> wait(WaitContext context) override {
    uint64_t id = context.getParams().getId();
    return parts.queries.flushed()
        .then([this, id]() {
          requireVisible(id);  // a foreign id reads like a missing one, also here
          return parts.scheduler.whenTerminal(id);
        })
        .then([this, context, id]() mutable {
          fillVisible(id, context.getResults().initTask(), false);
        });
  }

  kj::Promise<void> cancel(CancelContext context) override {
    parts.queries.requireWritable();
    uint64_t id = context.getParams().getId();
    uid_t uid = access.uid();
    return parts.queries.flushed()
        .then([this, id, uid]() {
          visibleTask(id);
          KJ_LOG(INFO, "cancel", id, uid);
          return parts.scheduler.cancel(id);
        })
        .then([this]() { return parts.queries.flushed(); })
        .then([this, context, id]() mutable {
          auto seen = visibleTask(id);
          fillTask(seen, false, context.getResults().initTask());
        });
  }

  kj::Promise<void> hold(HoldContext context) override {
    // All or nothing: every id visible (a foreign one reads like a missing
    // one) and holdable, then all change in one commit.
    parts.queries.requireWritable();
    auto params = context.getParams();
    auto ids = KJ_MAP(id, params.getIds())->uint64_t { return id; };
    bool held = params.getHeld();
    if (ids.size() > MAX_LIST_PAGE_TASKS) {
      refuse(kj::str(ids.size(), " tasks in one call; the limit is ", MAX_LIST_PAGE_TASKS));
    }
    return parts.queries.flushed()
        .then([this, ids = kj::mv(ids), held]() mutable {
          for (auto id : ids) visibleTask(id);
          return parts.scheduler.hold(ids, held).attach(kj::mv(ids));
        })
        .then([this]() { return parts.queries.flushed(); })
        .then([this, context]() mutable {
          auto ids = context.getParams().getIds();
          auto out = context.getResults().initTasks(ids.size());
          for (auto i : kj::indices(ids)) {
            auto seen = visibleTask(ids[i]);
            fillTask(seen, false, out[i]);
          }
        });
  }

  kj::Promise<void> update(UpdateContext context) override {
    parts.queries.requireWritable();
    auto params = context.getParams();
    uint64_t id = params.getId();
    auto limits = params.getLimits();
    if (limits.getKillGraceUsec() != 0) refuse(kj::str("update cannot change the kill grace"));
    if (limits.getHeartbeatUsec() != 0) {
      refuse(
          kj::str("update cannot change the heartbeat (the task got WATCHDOG_USEC= at its "
                  "start)"));
    }
    Scheduler::LimitUpdate change;
    change.timeoutUsec = limits.getTimeoutUsec();
    change.timeoutRelative = params.getTimeoutRelative();
    change.cpuQuotaPerSecUsec = limits.getCpuQuotaPerSecUsec();
    change.memoryMaxBytes = limits.getMemoryMaxBytes();
    change.tasksMax = limits.getTasksMax();
    change.by = access.uid();
    change.exempt = access.privileged();  // the queue's maximums bind the others
    return parts.queries.flushed()
        .then([this, id, change]() {
          visibleTask(id);  // a foreign id reads like a missing one
          return parts.scheduler.update(id, change);
        })
        .then([this]() { return parts.queries.flushed(); })
        .then([this, context, id]() mutable {
          auto seen = visibleTask(id);
          fillTask(seen, false, context.getResults().initTask());
        });
  }

  kj::Promise<void> pause(PauseContext context) override {
    // As hold(): every id visible (a foreign one reads like a missing one)
    // and running or paused, then all change; answered once frozen
    // (thawed) and durable.
    parts.queries.requireWritable();
    auto params = context.getParams();
    auto ids = KJ_MAP(id, params.getIds())->uint64_t { return id; };
    bool paused = params.getPaused();
    if (ids.size() > MAX_LIST_PAGE_TASKS) {
      refuse(kj::str(ids.size(), " tasks in one call; the limit is ", MAX_LIST_PAGE_TASKS));
    }
    return parts.queries.flushed()
        .then([this, ids = kj::mv(ids), paused]() mutable {
          for (auto id : ids) visibleTask(id);
          uid_t uid = access.uid();
          kj::StringPtr verb = paused ? "pause" : "resume";
          KJ_LOG(INFO, verb, ids.size(), uid);
          return parts.scheduler.pause(ids, paused).attach(kj::mv(ids));
        })
        .then([this]() { return parts.queries.flushed(); })
        .then([this, context]() mutable {
          auto ids = context.getParams().getIds();
          auto out = context.getResults().initTasks(ids.size());
          for (auto i : kj::indices(ids)) {
            auto seen = visibleTask(ids[i]);
            fillTask(seen, false, out[i]);
          }
        });
  }

  kj::Promise<void> logs(LogsContext context) override {
    auto params = context.getParams();
    uint64_t id = params.getId();
    uint32_t attempt = params.getAttempt();
    uint64_t offset = params.getOffset();
    uint32_t maxBytes = kj::min(params.getMaxBytes(), MAX_LOG_CHUNK);
    bool follow = params.getFollow();
    return parts.queries.flushed().then(
        [this, context, id, attempt, offset, maxBytes, follow]() mutable -> kj::Promise<void> {
          auto seen = visibleTask(id);
          uint32_t attempts = seen.task().getAttempts();
          bool slurmQueue = false;
          KJ_IF_MAYBE (queue, parts.config.findQueue(seen.task().getQueue())) {
            slurmQueue = queue->slurm != nullptr;
          }
          uint32_t n = attempt == 0 ? attempts : attempt;
          if (n > attempts) refuse(kj::str("task ", id, " has no attempt ", n));
          auto results = context.getResults();
          results.setAttempt(n);
          // Armed before the read, so a write between the read and the wait is
          // not missed.
          auto& scheduler = parts.scheduler;
          kj::Maybe<kj::Promise<void>> change;
          bool live = n == 0 ? scheduler.isActive(id) : scheduler.attemptLive(id, n);
          auto path = n == 0 ? kj::str() : parts.runner.logPath(id, n);
          if (follow && live) {
            // No attempt yet: wake when the first one creates its log. A
            // Slurm attempt's log, on a shared directory inotify may not
            // see (NFS), is read again every second while it runs, as
            // `tail -f` does there: one read per follower, never a Slurm call.
            auto name = kj::str(id, "-", n == 0 ? 1 : n, ".log");
            auto wake = (n > 0 ? !parts.logWatcher.watches(path) : slurmQueue)
                            ? parts.timer.afterDelay(1 * kj::SECONDS)
                            : parts.logWatcher.whenChanged(name);
            change = wake.exclusiveJoin(n == 0 ? scheduler.whenTerminal(id)
                                               : scheduler.whenAttemptEnds(id, n));
          }
          auto got = n == 0 ? 0 : readLog(path, offset, maxBytes, results);
          results.setEnded(!live && got < maxBytes);
          KJ_IF_MAYBE (c, change) {
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
    auto queues = parts.scheduler.queueList();
    auto out = context.getResults().initQueues(queues.size());
    for (auto i : kj::indices(queues)) fillQueue(queues[i], out[i]);
    return kj::READY_NOW;
  }

  kj::Promise<void> queueSet(QueueSetContext context) override {
    auto params = context.getParams();
    access.requireAdmin("change queues");
    parts.queries.requireWritable();
    kj::Maybe<uint32_t> concurrency;
    if (!params.getUseDefault()) concurrency = params.getConcurrency();
    return parts.scheduler.setConcurrency(params.getName(), concurrency, access.uid())
        .then([context](Scheduler::QueueInfo info) mutable {
          fillQueue(info, context.getResults().initQueue());
        });
  }

  kj::Promise<void> queuePause(QueuePauseContext context) override {
    auto params = context.getParams();
    access.requireAdmin("change queues");
    parts.queries.requireWritable();
    return parts.scheduler.setPaused(params.getName(), params.getPaused(), access.uid())
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
    request.visible = [this](uint32_t uid) { return access.sees(uid); };
    request.queueOf = [this](uint64_t id) -> kj::String {
      KJ_IF_MAYBE (seen, parts.queries.task(id, access.viewer())) {
        return kj::str(seen->task().getQueue());
      }
      return kj::str();  // gone meanwhile (pruned): the line says so with ""
    };
    auto watcher = params.getWatcher();
    context.releaseParams();
    uid_t uid = access.uid();
    return parts.queries.flushed().then(
        [this, context, request = kj::mv(request), watcher = kj::mv(watcher), uid]() mutable {
          // An id the caller may not see reads like one that does not exist.
          for (auto id : request.ids) requireVisible(id);
          auto session = kj::heap<WatchSession>(parts.events, parts.timer, kj::mv(watcher),
                                                kj::mv(request), WatchSession::Limits{});
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
    access.requireSubmitter("scheduling");
    auto params = context.getParams();
    capnp::MallocMessageBuilder oldClient(params.getRequest().totalSize().wordCount + 64);
    auto in = taskSpecOf(params.getRequest(), oldClient);
    if (in.getDelayUsec() != 0 || in.getNotBefore() != 0 || in.getAfter().size() > 0 ||
        in.getRequestId().size() > 0) {
      refuse(kj::str("a schedule's tasks cannot take --in, --at, --after or --request-id"));
    }
    {
      // Each firing submits these options: refuse now what submit would
      // refuse then (a NUL byte, a relative cwd, a size), naming the field.
      // Not the caller's environment, which a schedule does not keep; with
      // the label each firing adds (schedule=NAME, once NAME is valid).
      KJ_IF_MAYBE (refusal, checkScheduleName(params.getName())) refuse(kj::mv(*refusal));
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
      parts.scheduler.validate(request);
    }
    auto spec = scheduleSpecOf(params, in, access.uid());
    if (!access.privileged()) {
      schedules.checkLimits(access.uid(), true, scheduleLimits(), parts.timer.now());
    }
    uid_t uid = access.uid();
    auto name = kj::str(spec.name);
    return schedules.add(kj::mv(spec)).then([uid, name = kj::mv(name)]() {
      KJ_LOG(INFO, "schedule added", name, uid);
    });
  }

  kj::Promise<void> scheduleList(ScheduleListContext context) override {
    auto& schedules = requireSchedules();
    kj::Maybe<uint32_t> whose;
    if (!access.privileged()) whose = access.uid();
    return schedules.list(whose).then([this, context](kj::Array<ScheduleInfo> found) mutable {
      return parts.queries.flushed().then([this, context, found = kj::mv(found)]() mutable {
        // The tasks each one submitted: one pass over the store.
        kj::Vector<kj::Vector<uint64_t>> ids(found.size());
        for (size_t i = 0; i < found.size(); i++) ids.add();
        parts.queries.forEachLabelled("schedule",
                                      [&](uint32_t uid, kj::StringPtr value, uint64_t id) {
                                        for (auto i : kj::indices(found)) {
                                          if (found[i].uid == uid && found[i].name == value)
                                            ids[i].add(id);
                                        }
                                      });
        auto out = context.getResults().initSchedules(found.size());
        for (auto i : kj::indices(found)) {
          std::sort(ids[i].begin(), ids[i].end());
          fillSchedule(found[i], ids[i].asPtr(), out[i]);
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
    if (!access.privileged()) {
      schedules.checkLimits(access.uid(), false, scheduleLimits(), parts.timer.now());
    }
    // Schedules decides who may name whom: it knows the caller and whether it is privileged.
    return schedules.remove(access.uid(), access.privileged(), name, owner);
  }

  kj::Promise<void> version(VersionContext context) override {
    auto results = context.getResults();
    results.setDaemonVersion(TASKCTL_VERSION);
    results.setSchemaRevision(rpc::SCHEMA_REVISION);
    return kj::READY_NOW;
  }

  kj::Promise<void> drain(DrainContext context) override {
    // A long call with `wait`: hanging up (Ctrl-C) cancels the wait, not the drain.
    context.allowCancellation();
    auto params = context.getParams();
    bool drained = params.getDrained();
    bool wait = params.getWait();
    access.requireAdmin(drained ? "drain taskctld" : "undrain taskctld");
    if (wait && !drained) refuse(kj::str("undrain does not wait"));
    parts.queries.requireWritable();
    return parts.scheduler.drain(drained, wait, access.uid())
        .then([context](uint32_t running) mutable { context.getResults().setRunning(running); });
  }

 private:
  ServiceParts& parts;
  Access access;

  Schedules& requireSchedules() {
    KJ_IF_MAYBE (s, parts.schedules) return *s;
    refuse(
        kj::str("schedules need systemd: taskctld runs without it (--runner scope needs "
                "systemd as PID 1 and the system bus)"));
  }

  Schedules::Limits scheduleLimits() {
    return {parts.config.limits.maxSchedulesPerUser, parts.config.limits.scheduleChangesPerMinute};
  }

  // `rerun`: a submit of the old task's spec with the overrides on top.
  kj::Promise<uint64_t> rerunOf(rpc::Taskctl::RerunParams::Reader params) {
    uint64_t id = params.getId();
    auto viewer = access.viewer();
    auto seen = parts.queries.task(id, viewer, TaskQueries::Attempts::WITH);
    if (seen == nullptr) {
      if (parts.queries.tombstone(id, viewer) != nullptr) {
        refuse(kj::str("task ", id,
                       " was pruned by retention: only its final state is kept, not its command, "
                       "so it cannot be rerun (submit it again)"));
      }
      noSuchTask(id);
    }
    auto& found = KJ_ASSERT_NONNULL(seen);
    auto old = found.task();
    kj::Maybe<records::Attempt::Reader> first;
    KJ_IF_MAYBE (attempts, found.attempts()) {
      if (attempts->size() > 0) first = (*attempts)[0];
    }
    capnp::MallocMessageBuilder message(old.totalSize().wordCount + params.totalSize().wordCount +
                                        64);
    auto request = message.initRoot<spec::TaskSpec>();
    rerunSpec(old, first, params.getOverrides(), params.getFields(), request);
    // The old task's owner's, whoever asks (its owner, root or the admin group): the command
    // runs as the user who wrote it, never as the caller.
    auto groups = kj::heapArrayBuilder<gid_t>(old.getGroups().size());
    for (auto g : old.getGroups()) groups.add(g);
    Identity owner{old.getUid(), old.getGid(), groups.finish()};
    SubmitExtras extras;
    extras.seesAll = access.privileged();
    extras.exempt = access.privileged();
    extras.rerunOf = id;
    uid_t uid = access.uid();
    // submit() copies what it keeps past this call.
    return parts.scheduler.submit(request.asReader(), owner, extras).then([id, uid](uint64_t made) {
      KJ_LOG(INFO, "rerun", id, made, uid);
      return made;
    });
  }

  // `edit`: the task's own spec with the overrides on top, in its place.
  kj::Promise<void> editOf(rpc::Taskctl::EditParams::Reader params) {
    uint64_t id = params.getId();
    kj::Own<capnp::MallocMessageBuilder> message;
    {
      // The stored record is let go of before the scheduler writes.
      auto seen = visibleTask(id);  // a foreign id reads like a missing one
      // Its state first: "running" says more than a complaint about a field.
      parts.scheduler.requireEditable(id);
      auto old = seen.task();
      message = kj::heap<capnp::MallocMessageBuilder>(old.totalSize().wordCount +
                                                      params.totalSize().wordCount + 64);
      rerunSpec(old, nullptr, params.getOverrides(), params.getFields(),
                message->initRoot<spec::TaskSpec>(), SpecOverlay::EDIT);
    }
    auto request = message->getRoot<spec::TaskSpec>();
    EditExtras extras;
    extras.seesAll = access.privileged();
    extras.exempt = access.privileged();
    extras.startGiven = namesStartTime(params.getFields());
    uid_t uid = access.uid();
    KJ_LOG(INFO, "edit", id, uid);
    return parts.scheduler.edit(id, request.asReader(), extras).attach(kj::mv(message));
  }

  // A task the caller may see (no attempts); a foreign or unknown id fails.
  SeenTask visibleTask(uint64_t id) {
    KJ_IF_MAYBE (seen, parts.queries.task(id, access.viewer())) return kj::mv(*seen);
    noSuchTask(id);
  }

  // A task, or what retention left of it; a foreign or unknown id fails.
  void requireVisible(uint64_t id) {
    if (!parts.queries.exists(id, access.viewer())) noSuchTask(id);
  }

  // A task with its attempts, or its tombstone; a foreign or unknown id fails.
  void fillVisible(uint64_t id, rpc::TaskView::Builder v, bool withEnv) {
    auto viewer = access.viewer();
    KJ_IF_MAYBE (seen, parts.queries.task(id, viewer, TaskQueries::Attempts::WITH)) {
      fillTask(*seen, withEnv, v);
      return;
    }
    KJ_IF_MAYBE (tombstone, parts.queries.tombstone(id, viewer)) {
      fillTombstone((*tombstone)->get(), v);
      return;
    }
    noSuchTask(id);
  }
};

}  // namespace

kj::Own<rpc::Taskctl::Server> newTaskctlService(ServiceParts& parts, Access access) {
  return kj::heap<TaskctlService>(parts, kj::mv(access));
}

}  // namespace taskctl
