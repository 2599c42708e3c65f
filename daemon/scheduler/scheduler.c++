#include "scheduler/scheduler.h"

#include <fcntl.h>

#include <algorithm>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <kj/debug.h>

#include "config/units.h"

namespace taskctl {

using records::EndReason;
using records::TaskState;

namespace {

constexpr size_t OUTPUT_TAIL_BYTES = 4096;

// A refusal of the caller's input: the description is all a person sees.
[[noreturn]] void reject(kj::String message) {
  kj::throwFatalException(kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__, kj::mv(message)));
}

// DESIGN 8, "Inside a task": what the client's environment may not carry in.
bool isDroppedVariable(kj::ArrayPtr<const kj::byte> entry) {
  auto eq = std::find(entry.begin(), entry.end(), '=');
  if (eq == entry.begin() || eq == entry.end()) return true;  // not KEY=VALUE
  // Data is not NUL-terminated: compare as bytes.
  auto e = entry.asChars();
  auto startsWith = [&e](kj::StringPtr prefix) {
    return e.size() >= prefix.size() && memcmp(e.begin(), prefix.begin(), prefix.size()) == 0;
  };
  return startsWith("NOTIFY_SOCKET=") || startsWith("WATCHDOG_") || startsWith("LISTEN_") ||
         startsWith("INVOCATION_ID=") || startsWith("JOURNAL_STREAM=") || startsWith("LD_") ||
         startsWith("GCONV_PATH=") || startsWith("MALLOC_") || startsWith("GLIBC_TUNABLES=");
}

// The last bytes of an attempt's output, kept with the attempt.
kj::Array<kj::byte> readTail(kj::StringPtr path) {
  int fd = open(path.cStr(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  KJ_DEFER(close(fd));
  off_t size = lseek(fd, 0, SEEK_END);
  if (size <= 0) return nullptr;
  size_t n = kj::min(static_cast<size_t>(size), OUTPUT_TAIL_BYTES);
  auto tail = kj::heapArray<kj::byte>(n);
  ssize_t got = pread(fd, tail.begin(), n, size - n);
  if (got != static_cast<ssize_t>(n)) return nullptr;
  return tail;
}

kj::String signalText(int signal) {
  const char* name = sigabbrev_np(signal);
  return name ? kj::str("killed by signal ", signal, " (SIG", name, ")")
              : kj::str("killed by signal ", signal);
}

}  // namespace

kj::StringPtr stateName(TaskState state) {
  switch (state) {
    case TaskState::WAITING: return "waiting";
    case TaskState::QUEUED: return "queued";
    case TaskState::STARTING: return "starting";
    case TaskState::RUNNING: return "running";
    case TaskState::SUCCEEDED: return "succeeded";
    case TaskState::FAILED: return "failed";
    case TaskState::CANCELLED: return "cancelled";
    case TaskState::RETRYING: return "retrying";
  }
  return "unknown";
}

kj::StringPtr reasonName(EndReason reason) {
  switch (reason) {
    case EndReason::NONE: return "";
    case EndReason::EXIT: return "exit";
    case EndReason::SIGNAL: return "signal";
    case EndReason::OOM: return "oom";
    case EndReason::TIMEOUT: return "timeout";
    case EndReason::HEARTBEAT: return "heartbeat";
    case EndReason::LOST: return "lost";
    case EndReason::SPAWN: return "spawn";
    case EndReason::CANCELLED: return "cancelled";
    case EndReason::DEPENDENCY: return "dependency";
    case EndReason::NOT_STARTED: return "not-started";
  }
  return "unknown";
}

int exitStatusOf(records::Task::Reader task) {
  switch (task.getState()) {
    case TaskState::SUCCEEDED: return 0;
    case TaskState::CANCELLED: return 130;
    case TaskState::FAILED: break;
    default: return -1;  // not terminal
  }
  switch (task.getReason()) {
    case EndReason::EXIT: return task.getExitCode();
    case EndReason::SIGNAL: return 128 + task.getSignal();
    case EndReason::OOM: return 137;
    case EndReason::TIMEOUT:
    case EndReason::HEARTBEAT: return 124;
    case EndReason::SPAWN: {
      int code = task.getExitCode();
      return code == 126 || code == 127 ? code : 125;
    }
    default: return 125;
  }
}

// A task that is not terminal, with its current attempt and execution.
struct Scheduler::Active {
  // Sized for its record: capnp's default first segment is 8 KiB, zeroed,
  // per task (bench/README.md: 9 % of the submit path, 9 KB a queued task).
  explicit Active(uint64_t words) : message(words) {}
  capnp::MallocMessageBuilder message;  // root: records::Task
  kj::Own<capnp::MallocMessageBuilder> attemptMessage;  // root: records::Attempt, or empty
  bool hasAttempt = false;
  kj::Maybe<kj::Own<Execution>> execution;
  // Why the daemon is ending this execution (cancel, timeout, heartbeat);
  // NONE while it runs its course. Decides the end state once it has exited.
  EndReason stopReason = EndReason::NONE;
  // Timers owned by the attempt, cancelled with it. Separate, because one
  // firing arms the next (a timeout starts the kill grace).
  kj::Maybe<kj::Promise<void>> timeoutTimer;
  kj::Maybe<kj::Promise<void>> graceTimer;
  kj::Maybe<kj::Promise<void>> heartbeatTimer;
  kj::Maybe<kj::Own<NotifyHandle>> notifySocket;  // the attempt's NOTIFY_SOCKET, while it runs
  int64_t progressStoredAt = 0;           // coalescing: at most one write a second
  bool progressWritePending = false;
  kj::Vector<kj::Own<kj::PromiseFulfiller<void>>> waiters;         // for the task's end
  kj::Vector<kj::Own<kj::PromiseFulfiller<void>>> attemptWaiters;  // for this attempt's end

  bool cancelRequested() const { return stopReason == EndReason::CANCELLED; }

  records::Task::Builder task() { return message.getRoot<records::Task>(); }
  records::Attempt::Builder attempt() {
    KJ_ASSERT(hasAttempt);
    return attemptMessage->getRoot<records::Attempt>();
  }
  uint64_t id() { return task().getId(); }
};

Scheduler::Scheduler(Store& store, GroupCommit& commit, Runner& runner, NotifyHub& notify,
                     kj::Timer& timer, const kj::Clock& clock, const Config& config,
                     Options options)
    : store(store),
      commit(commit),
      runner(runner),
      notify(notify),
      timer(timer),
      clock(clock),
      options(options),
      tasks(*this) {
  reloadQueues(config);
}

Scheduler::~Scheduler() noexcept(false) {}

void Scheduler::taskFailed(kj::Exception&& exception) {
  KJ_LOG(ERROR, "scheduler background work failed", exception);
}

int64_t Scheduler::now() { return (clock.now() - kj::UNIX_EPOCH) / kj::NANOSECONDS; }

void Scheduler::reloadQueues(const Config& config) {
  auto copy = [](const QueueConfig& q) {
    QueueConfig c = {kj::str(q.name), q.concurrency};
    c.timeoutUsec = q.timeoutUsec;
    c.killGraceUsec = q.killGraceUsec;
    c.heartbeatUsec = q.heartbeatUsec;
    c.cpuQuotaPerSecUsec = q.cpuQuotaPerSecUsec;
    c.memoryMaxBytes = q.memoryMaxBytes;
    c.tasksMax = q.tasksMax;
    return c;
  };
  for (auto& q : config.queues) {
    auto it = queues.find(q.name);
    if (it == queues.end()) {
      Queue queue{kj::str(q.name), q.concurrency, 0, {}, copy(q)};
      queues.emplace(kj::str(q.name), kj::mv(queue));
    } else {
      it->second.concurrency = q.concurrency;
      it->second.defaults = copy(q);
    }
  }
  for (auto& [name, queue] : queues) dispatch(queue);
}

Scheduler::Queue& Scheduler::queueOf(records::Task::Reader task) {
  auto it = queues.find(task.getQueue());
  if (it == queues.end()) {
    // A queue removed from the config while it still had tasks: keep serving
    // them with one slot rather than stranding them.
    KJ_LOG(WARNING, "task in a queue the config no longer has", task.getId(), task.getQueue());
    it = queues.emplace(kj::str(task.getQueue()), Queue{kj::str(task.getQueue()), 1, 0, {}, QueueConfig{kj::str(task.getQueue()), 1}}).first;
  }
  return it->second;
}

bool Scheduler::isActive(uint64_t id) const { return active.count(id) > 0; }

bool Scheduler::attemptLive(uint64_t id, uint32_t attempt) {
  auto it = active.find(id);
  if (it == active.end()) return false;
  auto task = it->second->task().asReader();
  auto state = task.getState();
  return task.getAttempts() == attempt &&
         (state == TaskState::STARTING || state == TaskState::RUNNING);
}

kj::Promise<void> Scheduler::whenAttemptEnds(uint64_t id, uint32_t attempt) {
  if (!attemptLive(id, attempt)) return commit.flushed();
  auto paf = kj::newPromiseAndFulfiller<void>();
  active.find(id)->second->attemptWaiters.add(kj::mv(paf.fulfiller));
  return kj::mv(paf.promise);
}

Scheduler::Counts Scheduler::counts() const {
  Counts counts;
  for (auto& [name, q] : queues) {
    counts.queued += q.ready.size();
    counts.running += q.running;
  }
  return counts;
}

kj::Promise<uint64_t> Scheduler::submit(records::Task::Reader request, const Identity& owner) {
  auto argv = request.getArgv();
  if (argv.size() == 0 || argv[0].size() == 0) reject(kj::str("empty command: give a command after --"));
  auto priority = request.getPriority();
  if (priority < MIN_PRIORITY || priority > MAX_PRIORITY) {
    reject(kj::str("priority ", priority, " is out of range -100..100"));
  }
  kj::StringPtr queueName = request.getQueue().size() ? request.getQueue() : "default"_kj;
  if (queues.find(queueName) == queues.end()) {
    kj::Vector<kj::StringPtr> names;
    for (auto& [name, q] : queues) names.add(name);
    reject(kj::str("unknown queue \"", queueName, "\" (queues: ", kj::strArray(names, ", "), ")"));
  }
  size_t bytes = 0;
  for (auto arg : argv) bytes += arg.size() + 1;
  for (auto entry : request.getEnv()) bytes += entry.size() + 1;
  if (bytes > MAX_COMMAND_BYTES) {
    reject(kj::str("command and environment are ", bytes,
                   " bytes; the limit is 1 MiB (1048576 bytes)"));
  }
  for (auto label : request.getLabels()) {
    if (label.getKey().size() == 0 || label.getKey().findFirst('=') != nullptr) {
      reject(kj::str("invalid label key \"", label.getKey(), "\""));
    }
  }

  auto& queue = queues.find(queueName)->second;
  auto limit = [](uint64_t given, uint64_t queueDefault) { return given ? given : queueDefault; };
  uint64_t timeout = limit(request.getTimeoutUsec(), queue.defaults.timeoutUsec);
  uint64_t killGrace = limit(request.getKillGraceUsec(), queue.defaults.killGraceUsec);
  if (killGrace == 0) killGrace = options.killGrace / kj::MICROSECONDS;  // stored as in force
  uint64_t heartbeat = limit(request.getHeartbeatUsec(), queue.defaults.heartbeatUsec);
  uint64_t cpu = limit(request.getCpuQuotaPerSecUsec(), queue.defaults.cpuQuotaPerSecUsec);
  uint64_t memory = limit(request.getMemoryMaxBytes(), queue.defaults.memoryMaxBytes);
  uint64_t tasksMax = limit(request.getTasksMax(), queue.defaults.tasksMax);
  constexpr uint64_t YEAR_USEC = 366ull * 86400 * 1000000;
  if (timeout > YEAR_USEC) reject(kj::str("timeout is over a year"));
  if (killGrace > 3600ull * 1000000) reject(kj::str("kill grace is over an hour"));
  if (heartbeat != 0 && heartbeat < 100000) reject(kj::str("heartbeat is under 100ms"));
  if (heartbeat > YEAR_USEC) reject(kj::str("heartbeat is over a year"));
  if (memory != 0 && memory < (1 << 20)) reject(kj::str("memory limit is under 1M"));
  if (cpu != 0 && cpu < 10000) reject(kj::str("cpu quota is under 1%"));

  auto entry = kj::heap<Active>(request.totalSize().wordCount + 64);
  auto task = entry->task();
  task.setTimeoutUsec(timeout);
  task.setKillGraceUsec(killGrace);
  task.setHeartbeatUsec(heartbeat);
  task.setCpuQuotaPerSecUsec(cpu);
  task.setMemoryMaxBytes(memory);
  task.setTasksMax(tasksMax);
  task.setId(store.allocateId());
  task.setUid(owner.uid);
  task.setGid(owner.gid);
  auto groups = task.initGroups(owner.groups.size());
  for (auto i : kj::indices(owner.groups)) groups.set(i, owner.groups[i]);
  task.setArgv(argv);
  uint32_t kept = 0;
  for (auto e : request.getEnv()) kept += !isDroppedVariable(e);
  auto env = task.initEnv(kept);
  uint32_t i = 0;
  for (auto e : request.getEnv()) {
    if (!isDroppedVariable(e)) env.set(i++, e);
  }
  task.setCwd(request.getCwd().size() ? request.getCwd() : "/"_kj.asBytes());
  task.setUmask(request.getUmask() & 0777);
  task.setQueue(queueName);
  task.setPriority(priority);
  task.setLabels(request.getLabels());
  task.setCreatedAt(now());
  task.setState(TaskState::QUEUED);
  store.putTask(task, /*droppable=*/true);

  return commit.durableOrRefused().then([this, entry = kj::mv(entry)]() mutable {
    uint64_t id = entry->id();
    auto& a = *entry;
    active.emplace(id, kj::mv(entry));
    enqueue(a);
    dispatch(queueOf(a.task()));
    return id;
  });
}

void Scheduler::enqueue(Active& a) {
  auto task = a.task();
  queueOf(task).ready.emplace(-task.getPriority(), task.getId());
}

void Scheduler::dispatch(Queue& queue) {
  if (!dispatching) return;
  while (queue.running < queue.concurrency && !queue.ready.empty()) {
    uint64_t id = queue.ready.begin()->second;
    queue.ready.erase(queue.ready.begin());
    auto it = active.find(id);
    KJ_ASSERT(it != active.end(), "ready task is not active", id);
    queue.running++;
    beginAttempt(*it->second);
  }
}

void Scheduler::persist(Active& a) {
  store.putTask(a.task());
  if (a.hasAttempt) store.putAttempt(a.attempt());
}

void Scheduler::beginAttempt(Active& a) {
  // DESIGN 9: attempt N is durable as `starting` before its shim exists, so
  // attempt numbers (and so run directories and unit names) are never reused.
  auto task = a.task();
  uint32_t number = task.getAttempts() + 1;
  task.setAttempts(number);
  task.setState(TaskState::STARTING);
  a.attemptMessage = kj::heap<capnp::MallocMessageBuilder>(128);
  a.hasAttempt = true;
  auto attempt = a.attempt();
  attempt.setTaskId(task.getId());
  attempt.setNumber(number);
  attempt.setState(TaskState::STARTING);
  attempt.setStartedAt(now());
  attempt.setUnit(runner.unitFor(task.getId(), number));
  openNotify(a);
  persist(a);
  uint64_t id = task.getId();
  tasks.add(commit.durable().then([this, id, number]() { launch(id, number); }));
}

void Scheduler::launch(uint64_t id, uint32_t number) {
  auto it = active.find(id);
  if (it == active.end()) return;
  auto& a = *it->second;
  if (a.task().getAttempts() != number || a.task().getState() != TaskState::STARTING) return;
  if (a.cancelRequested()) {
    queueOf(a.task()).running--;
    finish(a, TaskState::CANCELLED, EndReason::CANCELLED, "cancelled before it started", -1, 0);
    return;
  }
  tasks.add(kj::evalNow([&]() { return runner.start(a.task(), a.attempt()); })
                .then(
                    [this, id, number](kj::Own<Execution> execution) {
                      auto it = active.find(id);
                      KJ_ASSERT(it != active.end() && it->second->task().getAttempts() == number);
                      auto& a = *it->second;
                      auto attempt = a.attempt();
                      attempt.setShimPid(execution->pid());
                      attempt.setShimStartTime(execution->startTime());
                      attempt.setBootId(execution->bootId());
                      attempt.setState(TaskState::RUNNING);
                      a.task().setState(TaskState::RUNNING);
                      persist(a);
                      watch(a, kj::mv(execution));
                      // Only once `running` with this pid is durable may user code run.
                      return commit.durable().then([this, id, number]() {
                        auto it = active.find(id);
                        if (it == active.end()) return;
                        auto& a = *it->second;
                        KJ_IF_MAYBE(execution, a.execution) {
                          if (a.task().getAttempts() != number) return;
                          if (a.cancelRequested()) {
                            (*execution)->kill(SIGKILL);  // never told to go: nothing ran
                          } else {
                            (*execution)->go();
                            armTimeout(a);
                            armHeartbeat(a);
                          }
                        }
                      });
                    },
                    [this, id, number](kj::Exception&& e) {
                      auto it = active.find(id);
                      if (it == active.end()) return;
                      auto& a = *it->second;
                      if (a.task().getAttempts() != number) return;
                      KJ_LOG(ERROR, "could not start an execution", id, number, e);
                      queueOf(a.task()).running--;
                      finish(a, TaskState::FAILED, EndReason::SPAWN,
                             kj::str("could not start: ", e.getDescription()), -1, 0);
                      dispatch(queueOf(a.task()));
                    }));
}

void Scheduler::watch(Active& a, kj::Own<Execution> execution) {
  uint64_t id = a.id();
  uint32_t number = a.attempt().getNumber();
  // The TaskSet owns the watch; the Execution lives in `a` until the exit is
  // handled, so the promise never outlives what it watches.
  tasks.add(execution->exited().then([this, id, number]() { onExit(id, number); }));
  a.execution = kj::mv(execution);
}

void Scheduler::onExit(uint64_t id, uint32_t number) {
  auto it = active.find(id);
  if (it == active.end()) return;
  auto& a = *it->second;
  if (!a.hasAttempt || a.attempt().getNumber() != number) return;
  auto& queue = queueOf(a.task());
  ingest(a, runner.readOutcome(id, number));
  dispatch(queue);
}

void Scheduler::ingest(Active& a, kj::Maybe<kj::Own<ExecOutcome>> outcome) {
  // Called for an attempt that held a slot; `a` may be gone when this returns.
  auto task = a.task();
  auto attempt = a.attempt();
  auto& queue = queueOf(task);
  queue.running--;
  a.execution = nullptr;
  a.timeoutTimer = nullptr;
  a.heartbeatTimer = nullptr;
  a.notifySocket = nullptr;
  attempt.setEndedAt(now());
  // Followers of this attempt's log hear of its end once it is durable.
  if (!a.attemptWaiters.empty()) {
    auto waiters = kj::mv(a.attemptWaiters);
    tasks.add(commit.durable().then([waiters = kj::mv(waiters)]() mutable {
      for (auto& w : waiters) w->fulfill();
    }));
  }
  uint64_t id = task.getId();
  uint32_t number = attempt.getNumber();

  KJ_IF_MAYBE(o, outcome) {
    auto r = (*o)->get();
    if (r.getNotStarted()) {
      if (a.cancelRequested()) {
        finish(a, TaskState::CANCELLED, EndReason::CANCELLED, "cancelled before it started", -1,
               0);
      } else {
        requeue(a, "the command was never started (the daemon stopped first)");
      }
      return;
    }
    if (r.getStartedAt() && r.getEndedAt()) {
      attempt.setStartedAt(r.getStartedAt());
      attempt.setEndedAt(r.getEndedAt());
      attempt.setWallUsec((r.getEndedAt() - r.getStartedAt()) / 1000);
    }
    attempt.setCpuUserUsec(r.getCpuUserUsec());
    attempt.setCpuSystemUsec(r.getCpuSystemUsec());
    attempt.setPeakMemoryBytes(r.getPeakMemoryBytes());
    attempt.setOutputTail(readTail(runner.logPath(id, number)));
    attempt.setOomKills(r.getOomKills());
    int code = r.getExitCode(), signal = r.getSignal();
    if (r.getSpawnFailed()) {
      finish(a, TaskState::FAILED, EndReason::SPAWN, r.getMessage(), code, 0);
    } else if (a.cancelRequested()) {
      finish(a, TaskState::CANCELLED, EndReason::CANCELLED, "cancelled by a user", code, signal);
    } else if (a.stopReason == EndReason::TIMEOUT) {
      finish(a, TaskState::FAILED, EndReason::TIMEOUT,
             kj::str("timed out after ", formatDurationUsec(task.getTimeoutUsec())), code, signal);
    } else if (a.stopReason == EndReason::HEARTBEAT) {
      finish(a, TaskState::FAILED, EndReason::HEARTBEAT,
             kj::str("no heartbeat for ", formatDurationUsec(task.getHeartbeatUsec())), code,
             signal);
    } else if (r.getOomKills() > 0 && !(signal == 0 && code == 0)) {
      // Its own reason, not a plain SIGKILL: the limit, not a person, ended it.
      finish(a, TaskState::FAILED, EndReason::OOM,
             task.getMemoryMaxBytes()
                 ? kj::str("killed for memory (limit ", formatBytes(task.getMemoryMaxBytes()), ")")
                 : kj::str("killed for memory"),
             code, signal);
    } else if (signal != 0) {
      finish(a, TaskState::FAILED, EndReason::SIGNAL, signalText(signal), -1, signal);
    } else if (code == 0) {
      finish(a, TaskState::SUCCEEDED, EndReason::EXIT, "exited with status 0", 0, 0);
    } else {
      finish(a, TaskState::FAILED, EndReason::EXIT, kj::str("exited with status ", code), code, 0);
    }
  } else if (a.cancelRequested()) {
    finish(a, TaskState::CANCELLED, EndReason::CANCELLED, "cancelled by a user", -1, 0);
  } else {
    // Whatever of it may still run (a command that outlived its killed shim)
    // must not run on beside a retry.
    runner.stopRemains(attempt);
    finish(a, TaskState::FAILED, EndReason::LOST,
           "the execution vanished without a result (its shim was killed or the machine "
           "rebooted)",
           -1, 0);
  }
}

void Scheduler::requeue(Active& a, kj::StringPtr why) {
  a.notifySocket = nullptr;
  auto attempt = a.attempt();
  attempt.setState(TaskState::QUEUED);
  attempt.setReason(EndReason::NOT_STARTED);
  attempt.setMessage(why);
  a.task().setState(TaskState::QUEUED);
  persist(a);
  uint64_t id = a.id();
  uint32_t number = attempt.getNumber();
  tasks.add(commit.durable().then([this, id, number]() { runner.release(id, number); }));
  a.hasAttempt = false;
  enqueue(a);
}

void Scheduler::finish(Active& a, TaskState state, EndReason reason, kj::StringPtr message,
                       int exitCode, int signal) {
  auto task = a.task();
  task.setState(state);
  task.setReason(reason);
  task.setMessage(message);
  task.setExitCode(exitCode);
  task.setSignal(signal);
  task.setFinishedAt(now());
  kj::Maybe<uint32_t> number;
  if (a.hasAttempt) {
    auto attempt = a.attempt();
    attempt.setState(state);
    attempt.setReason(reason);
    attempt.setMessage(message);
    attempt.setExitCode(exitCode);
    attempt.setSignal(signal);
    if (attempt.getEndedAt() == 0) attempt.setEndedAt(task.getFinishedAt());
    number = attempt.getNumber();
  }
  persist(a);
  uint64_t id = task.getId();
  kj::StringPtr ended = stateName(state);
  KJ_LOG(INFO, "task ended", id, ended, message);
  auto it = active.find(id);
  KJ_ASSERT(it != active.end());
  auto owned = kj::mv(it->second);
  active.erase(it);
  // Write the record, then act: waiters hear of the end once it is durable.
  tasks.add(commit.durable().then([this, owned = kj::mv(owned), id, number]() mutable {
    for (auto& waiter : owned->waiters) waiter->fulfill();
    KJ_IF_MAYBE(n, number) runner.release(id, *n);
  }));
}

kj::Promise<void> Scheduler::whenTerminal(uint64_t id) {
  auto it = active.find(id);
  if (it == active.end()) return commit.flushed();
  auto paf = kj::newPromiseAndFulfiller<void>();
  it->second->waiters.add(kj::mv(paf.fulfiller));
  return kj::mv(paf.promise);
}

kj::Promise<void> Scheduler::cancel(uint64_t id) {
  auto it = active.find(id);
  if (it == active.end()) return commit.flushed();  // already terminal: nothing to do
  auto& a = *it->second;
  switch (a.task().getState()) {
    case TaskState::QUEUED:
    case TaskState::WAITING:
    case TaskState::RETRYING: {
      auto& queue = queueOf(a.task());
      queue.ready.erase({-a.task().getPriority(), id});
      finish(a, TaskState::CANCELLED, EndReason::CANCELLED, "cancelled by a user", -1, 0);
      return commit.durable();
    }
    case TaskState::STARTING:
      // launch() sees the reason: the command is never told to go.
      if (a.stopReason == EndReason::NONE) a.stopReason = EndReason::CANCELLED;
      return kj::READY_NOW;
    case TaskState::RUNNING:
      stopExecution(a, EndReason::CANCELLED);
      return kj::READY_NOW;
    default:
      return kj::READY_NOW;
  }
}

void Scheduler::stopExecution(Active& a, EndReason why) {
  if (a.stopReason != EndReason::NONE) return;  // already on its way out
  a.stopReason = why;
  uint64_t taskId = a.id();
  kj::StringPtr reason = reasonName(why);
  KJ_LOG(INFO, "stopping an execution: SIGTERM", taskId, reason);
  KJ_IF_MAYBE(execution, a.execution) {
    (*execution)->kill(SIGTERM);
  }
  uint64_t id = a.id();
  uint32_t number = a.attempt().getNumber();
  uint64_t grace = a.task().getKillGraceUsec();
  kj::Duration wait = grace ? int64_t(grace) * kj::MICROSECONDS : options.killGrace;
  // Escalate if it is still there after the grace period. Owned by `a`: it
  // ends with the attempt.
  a.graceTimer = timer.afterDelay(wait)
                   .then([this, id, number]() {
                     auto it = active.find(id);
                     if (it == active.end() || it->second->task().getAttempts() != number) return;
                     KJ_IF_MAYBE(execution, it->second->execution) {
                       KJ_LOG(INFO, "kill grace over: SIGKILL", id, number);
                       (*execution)->kill(SIGKILL);
                     }
                   })
                   .eagerlyEvaluate([](kj::Exception&& e) { KJ_LOG(ERROR, "kill failed", e); });
}

void Scheduler::openNotify(Active& a) {
  auto task = a.task();
  auto attempt = a.attempt();
  auto path = attempt.getNotifySocket().size() ? kj::str(attempt.getNotifySocket())
                                               : notify.pathFor(task.getId(), attempt.getNumber());
  uint64_t id = task.getId();
  uint32_t number = attempt.getNumber();
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
                a.notifySocket = notify.open(path, task.getUid(), task.getGid(),
                                             [this, id, number](AttemptNotice&& notice) {
                                               onNotice(id, number, kj::mv(notice));
                                             });
                attempt.setNotifySocket(path);
              })) {
    // Not fatal: the task runs, without NOTIFY_SOCKET (so without heartbeat).
    KJ_LOG(WARNING, "cannot open the attempt's notify socket", id, number, e->getDescription());
    attempt.setNotifySocket("");
  }
}

void Scheduler::onNotice(uint64_t id, uint32_t number, AttemptNotice&& notice) {
  auto it = active.find(id);
  if (it == active.end() || !attemptLive(id, number)) return;
  auto& a = *it->second;
  auto attempt = a.attempt();
  KJ_IF_MAYBE(p, notice.progress) attempt.setProgress(*p);
  KJ_IF_MAYBE(text, notice.status) {
    // Kept short: it is shown in one line and stored with every write.
    attempt.setStatusText(text->size() > 1024 ? kj::str(text->slice(0, 1024)) : kj::mv(*text));
  }
  // Any word from the task is a sign of life, not only WATCHDOG=1.
  armHeartbeat(a);
  if (notice.progress == nullptr && notice.status == nullptr) return;
  // Stored at most once a second per attempt; status shows the live value.
  int64_t t = now();
  if (t - a.progressStoredAt >= 1'000'000'000) {
    a.progressStoredAt = t;
    persist(a);
  } else if (!a.progressWritePending) {
    a.progressWritePending = true;
    auto wait = (a.progressStoredAt + 1'000'000'000 - t) * kj::NANOSECONDS;
    tasks.add(timer.afterDelay(wait).then([this, id, number]() {
      auto it = active.find(id);
      if (it == active.end() || !attemptLive(id, number)) return;
      it->second->progressWritePending = false;
      it->second->progressStoredAt = now();
      persist(*it->second);
    }));
  }
}

void Scheduler::armHeartbeat(Active& a) {
  uint64_t heartbeat = a.task().getHeartbeatUsec();
  if (heartbeat == 0 || a.stopReason != EndReason::NONE || !a.hasAttempt) return;
  uint64_t id = a.id();
  uint32_t number = a.attempt().getNumber();
  a.heartbeatTimer = timer.afterDelay(int64_t(heartbeat) * kj::MICROSECONDS)
                         .then([this, id, number]() {
                           auto it = active.find(id);
                           if (it == active.end() || !attemptLive(id, number)) return;
                           stopExecution(*it->second, EndReason::HEARTBEAT);
                         })
                         .eagerlyEvaluate([](kj::Exception&& e) {
                           KJ_LOG(ERROR, "heartbeat check failed", e);
                         });
}

kj::Maybe<records::Attempt::Reader> Scheduler::liveAttempt(uint64_t id) {
  auto it = active.find(id);
  if (it == active.end() || !it->second->hasAttempt) return nullptr;
  return it->second->attempt().asReader();
}

void Scheduler::armTimeout(Active& a) {
  uint64_t timeout = a.task().getTimeoutUsec();
  if (timeout == 0 || a.stopReason != EndReason::NONE) return;
  // From the attempt's start, so a re-adopted attempt keeps its deadline.
  int64_t elapsedUsec = (now() - a.attempt().getStartedAt()) / 1000;
  int64_t left = int64_t(timeout) - kj::max(elapsedUsec, int64_t(0));
  uint64_t id = a.id();
  uint32_t number = a.attempt().getNumber();
  a.timeoutTimer = timer.afterDelay(kj::max(left, int64_t(0)) * kj::MICROSECONDS)
                   .then([this, id, number]() {
                     auto it = active.find(id);
                     if (it == active.end() || it->second->task().getAttempts() != number) return;
                     stopExecution(*it->second, EndReason::TIMEOUT);
                   })
                   .eagerlyEvaluate([](kj::Exception&& e) { KJ_LOG(ERROR, "timeout failed", e); });
}

void Scheduler::recover() {
  // Copy first: reconciling stages writes, and the read transaction should end.
  kj::Vector<kj::Own<Active>> found;
  store.forEachActiveTask([&](records::Task::Reader task) {
    auto entry = kj::heap<Active>(task.totalSize().wordCount + 64);
    entry->message.setRoot(task);
    found.add(kj::mv(entry));
  });
  for (auto& entry : found) {
    uint64_t id = entry->id();
    auto& a = *entry;
    active.emplace(id, kj::mv(entry));
    reconcile(a);
  }
  size_t unfinished = found.size();
  KJ_LOG(INFO, "recovered", unfinished);
}

void Scheduler::start() {
  dispatching = true;
  for (auto& [name, queue] : queues) dispatch(queue);
}

void Scheduler::reconcile(Active& a) {
  auto task = a.task();
  uint64_t id = task.getId();
  uint32_t number = task.getAttempts();
  auto state = task.getState();
  if (state == TaskState::STARTING || state == TaskState::RUNNING) {
    auto stored = store.getAttempt(id, number);
    KJ_IF_MAYBE(record, stored) {
      a.attemptMessage =
          kj::heap<capnp::MallocMessageBuilder>((*record)->get().totalSize().wordCount + 64);
      a.attemptMessage->setRoot((*record)->get());
      a.hasAttempt = true;
    }
  }
  if (!a.hasAttempt) {
    // waiting/queued/retrying, or an attempt record that never became durable.
    if (state != TaskState::QUEUED) {
      task.setState(TaskState::QUEUED);
      persist(a);
    }
    enqueue(a);
    return;
  }
  if (state == TaskState::STARTING) {
    // The shim was never told to go (that needs `running` to be durable):
    // no user code ran. Its go fd closed with the old daemon, so it exits.
    a.attempt().setEndedAt(now());
    requeue(a, "the command was never started (the daemon stopped first)");
    return;
  }
  queueOf(task).running++;  // ingest() gives the slot back
  KJ_IF_MAYBE(execution, runner.adopt(a.attempt())) {
    int pid = (*execution)->pid();
    KJ_LOG(INFO, "re-adopted a running execution", id, number, pid);
    watch(a, kj::mv(*execution));
    openNotify(a);
    armTimeout(a);
    armHeartbeat(a);  // a re-adopted attempt gets a fresh heartbeat deadline
    return;
  }
  // Gone: its result file is the one record of how it ended.
  ingest(a, runner.readOutcome(id, number));
}

}  // namespace taskctl
