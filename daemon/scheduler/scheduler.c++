#include "scheduler/scheduler.h"

#include <fcntl.h>

#include <malloc.h>

#include <algorithm>
#include <memory>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <kj/debug.h>

#include "common/errors.h"
#include "common/units.h"
#include "scheduler/backoff.h"
#include "scheduler/submit-staging.h"

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

constexpr uint64_t YEAR_USEC = 366ull * 86400 * 1000000;

bool holdsNul(kj::ArrayPtr<const kj::byte> bytes) {
  return bytes.size() > 0 && memchr(bytes.begin(), 0, bytes.size()) != nullptr;
}
bool holdsNul(kj::StringPtr text) { return holdsNul(text.asBytes()); }

// What a submit (and a schedule's stored submit options) may carry, field by
// field, before anything is looked up or staged. argv, env and cwd reach
// execve and chdir as C strings: a NUL would cut them, so the shim refuses
// them, and that refusal must come here, at submit, not at every attempt.
// Every field is bounded, and the whole request too.
void validateFields(records::Task::Reader request) {
  size_t total = request.totalSize().wordCount * sizeof(capnp::word);
  if (total > MAX_TASK_BYTES) {
    reject(kj::str("the task is ", total, " bytes encoded (argv, env, cwd, labels and options "
                   "together); the limit is 2 MiB (2097152 bytes)"));
  }
  auto argv = request.getArgv();
  if (argv.size() == 0 || argv[0].size() == 0) reject(kj::str("empty command: give a command after --"));
  size_t bytes = 0;
  for (auto i : kj::indices(argv)) {
    if (holdsNul(argv[i])) reject(kj::str("argv[", i, "] holds a NUL byte"));
    bytes += argv[i].size() + 1;
  }
  auto env = request.getEnv();
  for (auto i : kj::indices(env)) {
    auto entry = env[i];
    if (holdsNul(entry)) reject(kj::str("environment entry ", i, " holds a NUL byte"));
    auto eq = std::find(entry.begin(), entry.end(), '=');
    if (eq == entry.begin() || eq == entry.end()) {
      reject(kj::str("environment entry ", i, " is not NAME=VALUE"));
    }
    bytes += entry.size() + 1;
  }
  if (bytes > MAX_COMMAND_BYTES) {
    reject(kj::str("command and environment are ", bytes,
                   " bytes; the limit is 1 MiB (1048576 bytes)"));
  }
  auto cwd = request.getCwd();  // empty: "/"
  if (cwd.size() > MAX_CWD_BYTES) {
    reject(kj::str("cwd is ", cwd.size(), " bytes; the limit is ", MAX_CWD_BYTES));
  }
  if (holdsNul(cwd)) reject(kj::str("cwd holds a NUL byte"));
  if (cwd.size() > 0 && cwd[0] != '/') {
    reject(kj::str("cwd \"", kj::heapString(cwd.asChars()), "\" is not an absolute path"));
  }
  auto queue = request.getQueue();
  if (queue.size() > MAX_QUEUE_NAME_BYTES) reject(kj::str("queue name is over 256 bytes"));
  if (holdsNul(queue)) reject(kj::str("queue name holds a NUL byte"));
  auto priority = request.getPriority();
  if (priority < MIN_PRIORITY || priority > MAX_PRIORITY) {
    reject(kj::str("priority ", priority, " is out of range -100..100"));
  }
  auto labels = request.getLabels();
  if (labels.size() > MAX_LABELS) {
    reject(kj::str(labels.size(), " labels; the limit is ", MAX_LABELS));
  }
  for (auto label : labels) {
    auto key = label.getKey();
    if (key.size() > MAX_LABEL_KEY_BYTES) {
      reject(kj::str("label key of ", key.size(), " bytes; the limit is ", MAX_LABEL_KEY_BYTES));
    }
    if (holdsNul(key)) reject(kj::str("label key holds a NUL byte"));
    if (key.size() == 0 || key.findFirst('=') != nullptr) {
      reject(kj::str("invalid label key \"", key, "\""));
    }
    auto value = label.getValue();
    if (value.size() > MAX_LABEL_VALUE_BYTES) {
      reject(kj::str("label ", key, ": value of ", value.size(), " bytes; the limit is ",
                     MAX_LABEL_VALUE_BYTES));
    }
    if (holdsNul(value)) reject(kj::str("label ", key, ": value holds a NUL byte"));
  }
  auto retry = request.getRetry();
  if (retry.getRetries() > MAX_RETRIES) {
    reject(kj::str("retries ", retry.getRetries(), " is over ", MAX_RETRIES));
  }
  if (retry.getBackoffMaxUsec() != 0 && retry.getBackoffMaxUsec() < retry.getBackoffBaseUsec()) {
    reject(kj::str("backoff maximum is below its base"));
  }
  if (retry.getBackoffBaseUsec() > YEAR_USEC || retry.getBackoffMaxUsec() > YEAR_USEC) {
    reject(kj::str("backoff is over a year"));
  }
  auto codes = retry.getExitCodes();
  if (codes.size() > MAX_RETRY_EXIT_CODES) {
    reject(kj::str(codes.size(), " retry exit codes; the limit is ", MAX_RETRY_EXIT_CODES));
  }
  for (auto code : codes) {
    if (code < 1 || code > 255) reject(kj::str("retry exit code ", code, " is not in 1..255"));
  }
  if (request.getAfter().size() > MAX_DEPENDENCIES) {
    reject(kj::str(request.getAfter().size(), " dependencies; the limit is ", MAX_DEPENDENCIES));
  }
  // Keys and request ids are map keys as C strings: a NUL would make two differ in the store
  // and agree in memory.
  if (request.getKey().size() > MAX_KEY_BYTES) reject(kj::str("key is over 256 bytes"));
  if (holdsNul(request.getKey())) reject(kj::str("key holds a NUL byte"));
  if (request.getRequestId().size() > MAX_KEY_BYTES) {
    reject(kj::str("request id is over 256 bytes"));
  }
  if (holdsNul(request.getRequestId())) reject(kj::str("request id holds a NUL byte"));
}

// The last bytes of an attempt's output, kept with the attempt.
kj::Array<kj::byte> readTail(kj::StringPtr path) {
  int fd = open(path.cStr(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);  // the log, never a link's target
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

// A task that is not terminal. Every one keeps what dispatch needs, in 40
// bytes stored inline in `active` (DESIGN 11: a million queued tasks open in
// memory, docs/design-notes.md); the full record only while it has an
// attempt or a write of it is not yet durable, otherwise the store's
// committed record is the whole task and is read when needed
// (Scheduler::record). That record, what only an attempt needs (`live`) and
// what few tasks need (keys, dependencies, timed waits: `extra`) are behind
// one pointer, null for a task that has none of them (a queued one).
struct Scheduler::Active {
  struct Dependency {
    uint64_t id;
    spec::DependencyCondition condition;
  };
  // Only while an attempt exists (starting, running, or just ended).
  struct Live {
    kj::Own<capnp::MallocMessageBuilder> attemptMessage;  // root: records::Attempt
    kj::Maybe<kj::Own<Execution>> execution;
    // Timers owned by the attempt, cancelled with it. Separate, because one
    // firing arms the next (a timeout starts the kill grace).
    kj::Maybe<kj::Promise<void>> timeoutTimer;
    kj::Maybe<kj::Promise<void>> graceTimer;
    kj::Maybe<kj::Promise<void>> heartbeatTimer;
    kj::Maybe<kj::Own<NotifyHandle>> notifySocket;  // the attempt's NOTIFY_SOCKET, while it runs
    int64_t progressStoredAt = 0;  // coalescing: at most one write a second
    bool progressWritePending = false;
    kj::Vector<kj::Own<kj::PromiseFulfiller<void>>> attemptWaiters;  // for this attempt's end
  };
  // What few tasks have.
  struct Extra {
    kj::String key;  // unique key (its owner is uid)
    kj::Array<Dependency> after;
    int64_t notBefore = 0;      // realtime ns; 0: none
    bool notBeforeWall = false;
    int64_t nextAttemptAt = 0;  // while retrying
    kj::String stopMessage;  // with a cancel: why, for a person ("replaced by task 9")
    kj::Vector<kj::Own<kj::PromiseFulfiller<void>>> waiters;  // for the task's end
  };
  struct Rest {
    kj::Own<capnp::MallocMessageBuilder> message;  // root: records::Task, or null
    kj::Own<Live> live;
    kj::Own<Extra> extra;
  };
  // An enum in one byte (capnp's are two): the summary's size is the per-task cost.
  template <typename E>
  struct Byte {
    uint8_t value;
    Byte(E e): value(static_cast<uint8_t>(e)) {}
    operator E() const { return static_cast<E>(value); }
  };

  uint64_t taskId;
  // std::unique_ptr, not kj::Own: one word, not two (its disposer), per task.
  std::unique_ptr<Rest> rest;
  Queue* queue;  // a node of Scheduler::queues, which are never removed
  uint32_t uid;
  uint32_t attempts;
  // persist() calls: the record stays until the last is durable. Compared for
  // equality only, so wrapping is harmless (65,536 writes of one task are
  // never in flight at once).
  uint16_t writes = 0;
  int16_t priority;  // MIN_PRIORITY..MAX_PRIORITY
  Byte<records::TaskState> state;
  // The state the event log last heard of: persist() records a change.
  Byte<records::TaskState> recordedState;
  // Why the daemon is ending this execution (cancel, timeout, heartbeat);
  // NONE while it runs its course. Decides the end state once it has exited.
  Byte<EndReason> stopReason = EndReason::NONE;
  bool hasAttempt: 1 = false;
  bool writePending: 1 = false;  // a persist() not yet durable: the store's record is stale
  // An elapsed-time wait (--in, backoff) whose monotonic deadline fired: it
  // is over even if the wall clock was set back meanwhile.
  bool elapsedWaitOver: 1 = false;

  Active(uint64_t id, Queue* queue, uint32_t uid, uint32_t attempts, int16_t priority,
         records::TaskState state)
      : taskId(id), queue(queue), uid(uid), attempts(attempts), priority(priority), state(state),
        recordedState(state) {}

  bool cancelRequested() const { return stopReason == EndReason::CANCELLED; }

  Rest& more() {
    if (rest == nullptr) rest = std::make_unique<Rest>();
    return *rest;
  }
  void trim() {
    // Back to the bare summary once nothing is behind the pointer.
    if (rest != nullptr && rest->message.get() == nullptr && rest->live.get() == nullptr &&
        rest->extra.get() == nullptr) {
      rest = nullptr;
    }
  }
  capnp::MallocMessageBuilder* message() const {
    return rest != nullptr ? rest->message.get() : nullptr;
  }
  Live* liveOrNull() const { return rest != nullptr ? rest->live.get() : nullptr; }
  Extra* extraOrNull() const { return rest != nullptr ? rest->extra.get() : nullptr; }
  Live& live() {
    auto& r = more();
    if (r.live.get() == nullptr) r.live = kj::heap<Live>();
    return *r.live;
  }
  Extra& extra() {
    auto& r = more();
    if (r.extra.get() == nullptr) r.extra = kj::heap<Extra>();
    return *r.extra;
  }
  kj::StringPtr key() const { return extraOrNull() ? extraOrNull()->key.asPtr() : ""_kj; }
  kj::ArrayPtr<const Dependency> after() const {
    return extraOrNull() ? extraOrNull()->after.asPtr() : nullptr;
  }
  int64_t notBefore() const { return extraOrNull() ? extraOrNull()->notBefore : 0; }
  bool notBeforeWall() const { return extraOrNull() ? extraOrNull()->notBeforeWall : false; }
  int64_t nextAttemptAt() const { return extraOrNull() ? extraOrNull()->nextAttemptAt : 0; }
  kj::StringPtr stopMessage() const {
    return extraOrNull() ? extraOrNull()->stopMessage.asPtr() : ""_kj;
  }

  records::Attempt::Builder attempt() {
    bool has = hasAttempt;  // a bit-field: KJ_ASSERT would take a reference
    KJ_ASSERT(has);
    return rest->live->attemptMessage->getRoot<records::Attempt>();
  }
  uint64_t id() const { return taskId; }
};

Scheduler::Scheduler(Store& store, GroupCommit& commit, EventLog& events, Runner& runner,
                     NotifyHub& notify, kj::Timer& timer, const kj::Clock& clock,
                     WallTimer& wallTimer, const Config& config, Options options)
    : store(store),
      commit(commit),
      events(events),
      runner(runner),
      notify(notify),
      timer(timer),
      clock(clock),
      options(options),
      queues(store),
      tasks(*this),
      random(std::random_device{}()),
      keys(store),
      deadlines(timer, clock, wallTimer,
                [this](uint64_t id, bool elapsed) {
                  KJ_IF_MAYBE(a, find(id)) {
                    if (elapsed) a->elapsedWaitOver = true;
                    advance(*a);
                  }
                }) {
  reloadQueues(config);
  queues.loadSettings();  // run-time settings win over the TOML until reset
}

Scheduler::~Scheduler() noexcept(false) {}

void Scheduler::taskFailed(kj::Exception&& exception) {
  KJ_LOG(ERROR, "scheduler background work failed", exception);
}

int64_t Scheduler::now() { return (clock.now() - kj::UNIX_EPOCH) / kj::NANOSECONDS; }

void Scheduler::reloadQueues(const Config& config) {
  queues.reload(
      config, [this](Queue& queue, uint64_t id) { return readyIsLive(queue, id); },
      [this](Queue& queue, uint64_t id) {
        KJ_IF_MAYBE(a, find(id)) queue.ready.add(a->uid, a->priority, id);
      });
  for (auto& [name, queue] : queues) dispatch(queue);
}

Scheduler::Queue& Scheduler::queueOf(records::Task::Reader task) {
  return queues.ofTask(task.getQueue(), task.getId());
}

Scheduler::Queue& Scheduler::queueOf(Active& a) { return *a.queue; }

Scheduler::Active Scheduler::compactOf(records::Task::Reader task) {
  // A million queued tasks are a million of these (docs/design-notes.md).
  static_assert(sizeof(Active) <= 40, "Active is the per-task cost: keep it small");
  // Submits keep priorities in range; a stored one outside it (written by
  // hand?) is clamped rather than wrapped.
  auto priority = kj::max(MIN_PRIORITY, kj::min(MAX_PRIORITY, task.getPriority()));
  Active a(task.getId(), &queueOf(task), task.getUid(), task.getAttempts(), priority,
           task.getState());
  auto after = task.getAfter();
  if (task.getKey().size() > 0 || after.size() > 0 || task.getNotBefore() != 0 ||
      task.getNextAttemptAt() != 0) {
    auto& extra = a.extra();
    extra.key = kj::str(task.getKey());
    extra.after = KJ_MAP(d, after) { return Active::Dependency{d.getId(), d.getCondition()}; };
    extra.notBefore = task.getNotBefore();
    extra.notBeforeWall = task.getNotBeforeWall();
    extra.nextAttemptAt = task.getNextAttemptAt();
  }
  return a;
}

records::Task::Builder Scheduler::record(Active& a) {
  if (a.message() == nullptr) {
    // Every write of it is durable (dropRecord): the committed record is the task.
    KJ_IF_MAYBE(stored, store.getTask(a.id())) {
      auto task = (*stored)->get();
      // Spare words: an end or a retry adds a message.
      auto message = kj::heap<capnp::MallocMessageBuilder>(task.totalSize().wordCount + 64);
      message->setRoot(task);
      a.more().message = kj::mv(message);
    } else {
      KJ_FAIL_ASSERT("an active task's record is not in the store", a.id());
    }
  }
  return a.message()->getRoot<records::Task>();
}

void Scheduler::setState(Active& a, TaskState state) {
  a.state = state;
  record(a).setState(state);
}

void Scheduler::dropRecord(Active& a) {
  if (!a.hasAttempt && !a.writePending && a.rest != nullptr) {
    a.rest->message = nullptr;
    a.trim();
  }
}

void Scheduler::endAttempt(Active& a) {
  // The attempt is over: its timers, notify socket and record go. Followers
  // of its log (not yet told by ingest(): a start that never happened) hear
  // of its end once that is durable.
  auto live = a.liveOrNull();
  if (live == nullptr) return;
  if (!live->attemptWaiters.empty()) {
    auto waiters = kj::mv(live->attemptWaiters);
    tasks.add(commit.durable().then([waiters = kj::mv(waiters)]() mutable {
      for (auto& w : waiters) w->fulfill();
    }));
  }
  a.rest->live = nullptr;
  a.trim();
}

void Scheduler::taskLeft() {
  // A drain (cancel of a big queue, a batch that ended) frees memory in
  // small pieces all over the heap, which malloc keeps unless asked, and
  // the records it read stay mapped. Once many tasks left, give both back
  // a second later (at most once a second, and after the replies to the
  // calls that ended them are gone too).
  if (++endedSinceTrim < TRIM_AFTER_ENDS || trimScheduled) return;
  trimScheduled = true;
  tasks.add(timer.afterDelay(1 * kj::SECONDS).then([this]() {
    trimScheduled = false;
    endedSinceTrim = 0;
    for (auto& [name, queue] : queues) {
      queue.ready.compact([&](uint64_t id) { return readyIsLive(queue, id); });
    }
    active.compact();  // an event of its own: no reference into it is held
    malloc_trim(0);
    store.releaseMappedPages();
  }));
}

bool Scheduler::readyIsLive(Queue& queue, uint64_t id) {
  // Cancelled while queued: gone from `active`. (Ids are never reused, and
  // a queued task leaves its queue only through pop() or cancel().)
  KJ_IF_MAYBE(a, find(id)) return a->state == TaskState::QUEUED && a->queue == &queue;
  return false;
}

bool Scheduler::isActive(uint64_t id) const { return active.count(id) > 0; }

Scheduler::Active* Scheduler::find(uint64_t id) {
  auto it = active.find(id);
  return it == active.end() ? nullptr : it->second;
}

Scheduler::Active* Scheduler::findAttempt(uint64_t id, uint32_t attempt) {
  KJ_IF_MAYBE(a, find(id)) {
    auto state = a->state;
    if (a->attempts == attempt && (state == TaskState::STARTING || state == TaskState::RUNNING)) {
      return a;
    }
  }
  return nullptr;
}

bool Scheduler::attemptLive(uint64_t id, uint32_t attempt) {
  return findAttempt(id, attempt) != nullptr;
}

kj::Promise<void> Scheduler::whenAttemptEnds(uint64_t id, uint32_t attempt) {
  KJ_IF_MAYBE(a, findAttempt(id, attempt)) {
    auto paf = kj::newPromiseAndFulfiller<void>();
    a->live().attemptWaiters.add(kj::mv(paf.fulfiller));
    return kj::mv(paf.promise);
  }
  return commit.flushed();
}

Scheduler::Counts Scheduler::counts() {
  Counts counts;
  for (auto& [name, q] : queues) {
    counts.queued += q.ready.size();
    counts.running += q.running;
  }
  for (auto& [id, a] : active) {
    auto state = a->state;
    counts.waiting += state == TaskState::WAITING;
    counts.retrying += state == TaskState::RETRYING;
  }
  counts.succeeded = endedSucceeded;
  counts.failed = endedFailed;
  counts.cancelled = endedCancelled;
  return counts;
}

kj::Promise<uint64_t> Scheduler::submit(records::Task::Reader request, const Identity& owner,
                                        SubmitExtras extras) {
  // A submit racing another one with the same request id or key, whose
  // outcome is not durable yet, is decided once it is: then the store and
  // memory agree on who holds what.
  uint32_t uid = owner.uid;
  if (request.getRequestId().size() > 0) {
    KJ_IF_MAYBE(answer, keys.pending(uid, request.getRequestId())) return kj::mv(*answer);
  }
  if (request.getKey().size() > 0) {
    for (auto id : keys.holders(uid, request.getKey())) {
      if (active.count(id) == 0) return submitLater(request, owner, extras);
    }
  }
  return submitNow(request, owner, extras);
}

kj::Promise<uint64_t> Scheduler::submitLater(records::Task::Reader request,
                                             const Identity& owner, SubmitExtras extras) {
  // The caller's request and identity need not outlive this call: copy them.
  auto message = kj::heap<capnp::MallocMessageBuilder>(request.totalSize().wordCount + 8);
  message->setRoot(request);
  Identity copy{owner.uid, owner.gid, kj::heapArray<gid_t>(owner.groups.asPtr())};
  return commit.flushed().then(
      [this, message = kj::mv(message), copy = kj::mv(copy), extras]() mutable {
        return submit(message->getRoot<records::Task>().asReader(), copy, extras);
      });
}

void Scheduler::validateDependencies(records::Task::Reader request, const Identity& owner,
                                     SubmitExtras extras) {
  auto after = request.getAfter();
  if (after.size() > MAX_DEPENDENCIES) {
    refuse(kj::str(after.size(), " dependencies; the limit is ", MAX_DEPENDENCIES));
  }
  for (auto dependency : after) {
    uint64_t id = dependency.getId();
    // Ids only point backwards, so cycles cannot exist; a foreign id reads
    // exactly like a missing one.
    kj::Maybe<uint32_t> ownerUid;
    KJ_IF_MAYBE(a, find(id)) {
      ownerUid = a->uid;
    } else KJ_IF_MAYBE(record, store.getTask(id)) {
      ownerUid = (*record)->get().getUid();
    } else KJ_IF_MAYBE(tombstone, store.getTombstone(id)) {
      ownerUid = (*tombstone)->get().getUid();
    }
    KJ_IF_MAYBE(u, ownerUid) {
      if (*u == owner.uid || extras.seesAll) continue;
    }
    refuse(kj::str("no such task: ", id, " (in --after)"));
  }
}

Scheduler::Resolved Scheduler::resolve(records::Task::Reader request) {
  validateFields(request);
  kj::StringPtr queueName = request.getQueue().size() ? request.getQueue() : "default"_kj;
  auto it = queues.find(queueName);
  if (it == queues.end()) {
    kj::Vector<kj::StringPtr> names;
    for (auto& [name, q] : queues) names.add(name);
    reject(kj::str("unknown queue \"", queueName, "\" (queues: ", kj::strArray(names, ", "), ")"));
  }
  auto& queue = it->second;
  auto limit = [](uint64_t given, uint64_t queueDefault) { return given ? given : queueDefault; };
  Resolved r;
  r.queue = &queue;
  r.timeout = limit(request.getTimeoutUsec(), queue.defaults.timeoutUsec);
  r.killGrace = limit(request.getKillGraceUsec(), queue.defaults.killGraceUsec);
  if (r.killGrace == 0) r.killGrace = options.killGrace / kj::MICROSECONDS;  // stored as in force
  r.heartbeat = limit(request.getHeartbeatUsec(), queue.defaults.heartbeatUsec);
  r.cpu = limit(request.getCpuQuotaPerSecUsec(), queue.defaults.cpuQuotaPerSecUsec);
  r.memory = limit(request.getMemoryMaxBytes(), queue.defaults.memoryMaxBytes);
  r.tasksMax = limit(request.getTasksMax(), queue.defaults.tasksMax);
  if (r.timeout > YEAR_USEC) reject(kj::str("timeout is over a year"));
  if (r.killGrace > 3600ull * 1000000) reject(kj::str("kill grace is over an hour"));
  if (r.heartbeat != 0 && r.heartbeat < 100000) reject(kj::str("heartbeat is under 100ms"));
  if (r.heartbeat > YEAR_USEC) reject(kj::str("heartbeat is over a year"));
  if (r.memory != 0 && r.memory < (1 << 20)) reject(kj::str("memory limit is under 1M"));
  if (r.cpu != 0 && r.cpu < 10000) reject(kj::str("cpu quota is under 1%"));
  return r;
}

void Scheduler::validate(records::Task::Reader request) { resolve(request); }

kj::Promise<uint64_t> Scheduler::submitNow(records::Task::Reader request, const Identity& owner,
                                           SubmitExtras extras) {
  // Everything about the request itself first: a refusal stages nothing,
  // takes no id and records no event.
  auto resolved = resolve(request);
  auto argv = request.getArgv();
  auto priority = request.getPriority();
  kj::StringPtr queueName = resolved.queue->name;
  auto& queue = *resolved.queue;
  uint64_t timeout = resolved.timeout, killGrace = resolved.killGrace;
  uint64_t heartbeat = resolved.heartbeat, cpu = resolved.cpu, memory = resolved.memory;
  uint64_t tasksMax = resolved.tasksMax;
  auto retry = request.getRetry();
  int64_t t = now();
  int64_t notBefore = 0;
  bool notBeforeWall = false;
  if (extras.delayUsec != 0) {
    if (extras.delayUsec > 10 * YEAR_USEC) refuse(kj::str("delay is over ten years"));
    notBefore = t + int64_t(extras.delayUsec) * 1000;
  } else if (request.getNotBefore() != 0) {
    notBefore = request.getNotBefore();
    notBeforeWall = true;
    if (notBefore - t > int64_t(10 * YEAR_USEC) * 1000) refuse(kj::str("--at is over ten years ahead"));
  }
  validateDependencies(request, owner, extras);

  // An idempotent resend: the first task's id, whatever its state.
  bool hasStaleMapping = false;  // an expired mapping not yet swept: replaced below
  int64_t staleCreatedAt = 0;
  if (request.getRequestId().size() > 0) {
    auto known = keys.known(owner.uid, request.getRequestId(), t);
    KJ_IF_MAYBE(taskId, known.taskId) return *taskId;
    hasStaleMapping = known.stale;
    staleCreatedAt = known.staleCreatedAt;
  }
  if (request.getKey().size() > 0 && request.getOnConflict() == spec::KeyConflict::SKIP) {
    KJ_IF_MAYBE(holder, keys.holder(owner.uid, request.getKey())) return *holder;
  }
  queues.checkFairUse(queue, priority, owner.uid, extras.exempt);
  uint64_t id = store.allocateId();
  uint64_t keyWaitsFor = 0;
  if (request.getKey().size() > 0) {
    if (keys.holders(owner.uid, request.getKey()).size() > 0) {
      switch (request.getOnConflict()) {
        case spec::KeyConflict::SKIP:
          break;  // handled above: nothing held it
        case spec::KeyConflict::REPLACE: {
          auto holders = kj::heapArray(keys.holders(owner.uid, request.getKey()));  // cancel() edits it
          for (auto holder : holders) {
            auto* h = find(holder);
            if (h == nullptr) continue;
            h->extra().stopMessage = kj::str("replaced by task ", id);
            KJ_LOG(INFO, "cancel: replaced through its key", holder, id);
            cancel(holder);
          }
          break;
        }
        case spec::KeyConflict::QUEUE:
          break;
      }
      auto holders = keys.holders(owner.uid, request.getKey());
      if (holders.size() > 0) keyWaitsFor = holders.back();
    }
  }

  auto message = kj::heap<capnp::MallocMessageBuilder>(request.totalSize().wordCount + 64);
  auto task = message->initRoot<records::Task>();
  task.setTimeoutUsec(timeout);
  task.setKillGraceUsec(killGrace);
  task.setHeartbeatUsec(heartbeat);
  task.setCpuQuotaPerSecUsec(cpu);
  task.setMemoryMaxBytes(memory);
  task.setTasksMax(tasksMax);
  task.setId(id);
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
  task.setCreatedAt(t);
  task.setAfter(request.getAfter());
  task.setNotBefore(notBefore);
  task.setNotBeforeWall(notBeforeWall);
  task.setRetry(retry);
  if (retry.getRetries() > 0 && !retry.getOnExit() && !retry.getOnSignal() && !retry.getOnOom() &&
      !retry.getOnTimeout() && !retry.getOnHeartbeat() && !retry.getOnLost()) {
    // DESIGN 6: `--retries` alone. Memory kills and vanished scopes are
    // retried only when named.
    auto r = task.getRetry();
    r.setOnExit(true);
    r.setOnTimeout(true);
    r.setOnHeartbeat(true);
  }
  task.setKey(request.getKey());
  task.setOnConflict(request.getOnConflict());
  task.setKeyWaitsFor(keyWaitsFor);
  task.setRequestId(request.getRequestId());
  bool waits = notBefore > t || request.getAfter().size() > 0 || keyWaitsFor != 0;
  task.setState(waits ? TaskState::WAITING : TaskState::QUEUED);
  auto entry = kj::heap<Active>(compactOf(task));
  entry->more().message = kj::mv(message);  // until it is durable: then the store has it
  auto staged = kj::heap<SubmitStaging>(store, events, queues, keys, queue, owner.uid, id);
  auto& staging = *staged;
  staging.joined(task);
  // Starts at once if dispatch would take it at once (startsAtSubmit). The slot
  // is held from now, so the next submit of this turn sees it taken; a refused
  // commit gives it back. The task, its attempt and both events are the
  // submit's own writes: either all of them are stored, or none.
  bool startsNow = !waits && startsAtSubmit(queue);
  if (startsNow) {
    prepareAttempt(*entry);
    staging.started(task, entry->attempt());
    entry->recordedState = TaskState::STARTING;
  }
  staging.stored(task);
  if (request.getRequestId().size() > 0) {
    staging.mapRequest(request.getRequestId(), t, hasStaleMapping, staleCreatedAt);
  }
  if (request.getKey().size() > 0) staging.holdKey(request.getKey());

  // The task joins the scheduler once it is durable, whether or not the
  // caller still listens (a client may hang up mid-submit): the TaskSet
  // holds one branch, the caller (and any resend) another. The staging
  // lives as long as the continuations that read it.
  auto done = commit.durableOrRefused()
                  .then(
                      [this, entry = kj::mv(entry), &staging, startsNow]() mutable {
                        staging.committed();
                        uint64_t id = entry->id();
                        auto& a = active.emplace(id, kj::mv(*entry));
                        if (startsNow) {
                          launch(id, 1);
                        } else {
                          admit(a);
                          // Durable now: a queued task keeps only its summary.
                          KJ_IF_MAYBE(queued, find(id)) dropRecord(*queued);
                        }
                        return id;
                      },
                      [this, &staging](kj::Exception&& e) -> uint64_t {
                        if (staging.refused()) dispatch(staging.queue());  // a slot went back
                        rethrow(kj::mv(e));
                      })
                  .attach(kj::mv(staged))
                  .fork();
  tasks.add(done.addBranch().then([](uint64_t) {}, [](kj::Exception&&) {}));
  if (staging.hasRequestId()) {
    auto answer = done.addBranch();
    keys.addPending(owner.uid, request.getRequestId(), done.addBranch().fork());
    return answer;
  }
  return done.addBranch();
}

void Scheduler::enqueue(Active& a) {
  queueOf(a).ready.add(a.uid, a.priority, a.id());
}

void Scheduler::dispatch(Queue& queue) {
  // A store found corrupt records nothing more: a task started now would be
  // run again after the store is salvaged. Tasks stay queued.
  if (!dispatching || queue.paused || store.readOnly()) return;
  if (!runner.available()) {
    // The scope runner without a bus: tasks stay queued (none fails as
    // `spawn`) and dispatch resumes when it is back.
    if (!waitingForRunner && !queue.ready.empty()) {
      waitingForRunner = true;
      KJ_LOG(WARNING, "the runner cannot start executions now; dispatch waits for it");
      tasks.add(runner.whenAvailable().then([this]() {
        waitingForRunner = false;
        KJ_LOG(INFO, "the runner is back; dispatching");
        for (auto& [name, q] : queues) dispatch(q);
      }));
    }
    return;
  }
  while (queue.running < queue.concurrency && !queue.ready.empty()) {
    uint64_t id = queue.ready.pop([&](uint64_t id) { return readyIsLive(queue, id); });
    auto* found = find(id);
    KJ_ASSERT(found != nullptr, "ready task is not active", id);
    auto& a = *found;
    queues.slotTaken(queue, a.uid);
    beginAttempt(a);
  }
}

void Scheduler::persist(Active& a) {
  auto task = record(a);
  store.putTask(task);
  if (a.hasAttempt) store.putAttempt(a.attempt());
  // Every state change is written through here, so this is where each gets
  // its seq, in the same transaction as the change (DESIGN 6, "Events").
  if (task.getState() != a.recordedState) {
    events.record(task, TaskState(a.recordedState), task.getAttempts());
    a.recordedState = task.getState();
  }
  if (isTerminal(a.state)) return;  // it leaves memory once this is durable
  // Until this write is durable the store's record is stale: the one in
  // memory stays, and goes once the last write of it is durable.
  uint16_t write = ++a.writes;
  a.writePending = true;
  uint64_t id = a.id();
  tasks.add(commit.durable().then([this, id, write]() {
    KJ_IF_MAYBE(a, find(id)) {
      if (a->writes != write) return;
      a->writePending = false;
      dropRecord(*a);
    }
  }));
}

void Scheduler::beginAttempt(Active& a) {
  // DESIGN 9: attempt N is durable as `starting` before its shim exists, so
  // attempt numbers (and so run directories and unit names) are never reused.
  prepareAttempt(a);
  persist(a);
  uint64_t id = a.id();
  uint32_t number = a.attempt().getNumber();
  tasks.add(commit.durable().then([this, id, number]() { launch(id, number); }));
}

void Scheduler::prepareAttempt(Active& a) {
  auto task = record(a);  // a running task keeps its full record
  uint32_t number = task.getAttempts() + 1;
  task.setAttempts(number);
  a.attempts = number;
  setState(a, TaskState::STARTING);
  a.more().live = kj::heap<Active::Live>();  // a new attempt starts afresh
  a.rest->live->attemptMessage = kj::heap<capnp::MallocMessageBuilder>(128);
  a.hasAttempt = true;
  auto attempt = a.attempt();
  attempt.setTaskId(task.getId());
  attempt.setNumber(number);
  attempt.setState(TaskState::STARTING);
  attempt.setStartedAt(now());
  attempt.setUnit(runner.unitFor(task.getId(), number));
  openNotify(a);
}

bool Scheduler::startsAtSubmit(Queue& queue) {
  // What dispatch() would do with the task the moment it is admitted: a free
  // slot, nothing ahead of it in the queue, a runner that can start. Then its
  // first attempt is staged as `starting` in the submit's own transaction, and
  // the shim is spawned once that one commit is durable: one fdatasync fewer
  // per task on the loop, and one fewer between the reply and "go".
  return dispatching && !queue.paused && queue.ready.empty() &&
         queue.running < queue.concurrency && runner.available();
}

void Scheduler::launch(uint64_t id, uint32_t number) {
  auto* found = find(id);
  if (found == nullptr) return;
  auto& a = *found;
  if (a.attempts != number || a.state != TaskState::STARTING) return;
  if (a.cancelRequested()) {
    queues.slotFreed(queueOf(a), a.uid);
    finish(a, TaskState::CANCELLED, EndReason::CANCELLED,
           a.stopMessage().size() ? a.stopMessage() : "cancelled before it started"_kj, -1, 0);
    return;
  }
  tasks.add(kj::evalNow([&]() { return runner.start(record(a), a.attempt()); })
                .then(
                    [this, id, number](kj::Own<Execution> execution) {
                      auto* found = find(id);
                      KJ_ASSERT(found != nullptr && found->attempts == number);
                      auto& a = *found;
                      auto attempt = a.attempt();
                      attempt.setShimPid(execution->pid());
                      attempt.setShimStartTime(execution->startTime());
                      attempt.setBootId(execution->bootId());
                      attempt.setState(TaskState::RUNNING);
                      setState(a, TaskState::RUNNING);
                      persist(a);
                      watch(a, kj::mv(execution));
                      // Only once `running` with this pid is durable may user code run.
                      return commit.durable().then([this, id, number]() {
                        auto* found = find(id);
                        if (found == nullptr) return;
                        auto& a = *found;
                        if (!a.hasAttempt) return;
                        KJ_IF_MAYBE(execution, a.live().execution) {
                          if (a.attempts != number) return;
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
                      auto* found = find(id);
                      if (found == nullptr) return;
                      auto& a = *found;
                      if (a.attempts != number) return;
                      if (e.getType() == kj::Exception::Type::DISCONNECTED &&
                          !a.cancelRequested()) {
                        // The bus went away mid-start: no user code ran (the
                        // shim was never told to go). Back to the queue.
                        KJ_LOG(WARNING, "start interrupted; requeued", id, number,
                               e.getDescription());
                        queues.slotFreed(queueOf(a), a.uid);
                        a.attempt().setEndedAt(now());
                        requeue(a, kj::str("not started: ", e.getDescription()));
                        dispatch(queueOf(a));
                        return;
                      }
                      KJ_LOG(ERROR, "could not start an execution", id, number, e);
                      queues.slotFreed(queueOf(a), a.uid);
                      finish(a, TaskState::FAILED, EndReason::SPAWN,
                             kj::str("could not start: ", e.getDescription()), -1, 0);
                      dispatch(queueOf(a));
                    }));
}

void Scheduler::watch(Active& a, kj::Own<Execution> execution) {
  uint64_t id = a.id();
  uint32_t number = a.attempt().getNumber();
  // The TaskSet owns the watch; the Execution lives in `a` until the exit is
  // handled, so the promise never outlives what it watches.
  tasks.add(execution->exited().then([this, id, number]() { onExit(id, number); }));
  a.live().execution = kj::mv(execution);
}

void Scheduler::onExit(uint64_t id, uint32_t number) {
  auto* found = find(id);
  if (found == nullptr) return;
  auto& a = *found;
  if (!a.hasAttempt || a.attempt().getNumber() != number) return;
  auto& queue = queueOf(a);
  auto outcome = runner.readOutcome(id, number);
  if (outcome == nullptr) {
    // No result file (a full disk): the shim we spawned says how it ended
    // through its exit status. Only a re-adopted shim leaves nobody to ask.
    KJ_IF_MAYBE(execution, a.live().execution) {
      outcome = (*execution)->outcomeFromExit();
      if (outcome != nullptr) {
        KJ_LOG(WARNING, "no result file; the end comes from the shim's exit status", id, number);
      }
    }
  }
  ingest(a, kj::mv(outcome));
  dispatch(queue);
}

void Scheduler::ingest(Active& a, kj::Maybe<kj::Own<ExecOutcome>> outcome) {
  // Called for an attempt that held a slot; `a` may be gone when this returns.
  auto task = record(a);
  auto attempt = a.attempt();
  auto& queue = queueOf(a);
  queues.slotFreed(queue, a.uid);
  a.live().execution = nullptr;
  a.live().timeoutTimer = nullptr;
  a.live().heartbeatTimer = nullptr;
  a.live().notifySocket = nullptr;
  attempt.setEndedAt(now());
  // Followers of this attempt's log hear of its end once it is durable.
  if (!a.live().attemptWaiters.empty()) {
    auto waiters = kj::mv(a.live().attemptWaiters);
    tasks.add(commit.durable().then([waiters = kj::mv(waiters)]() mutable {
      for (auto& w : waiters) w->fulfill();
    }));
  }
  uint64_t id = task.getId();
  uint32_t number = attempt.getNumber();

  KJ_IF_MAYBE(o, outcome) {
    auto r = (*o)->get();
    // Two ends mean "no user code ran" (DESIGN 9). `notStarted` alone: the
    // go fd closed unwritten (the daemon died or gave the attempt up), so
    // the attempt goes back to the queue. The shim's own refusal of the
    // command (spawnFailed; from a shim older than this daemon, notStarted
    // with its reason in the message) would refuse every attempt alike:
    // requeued, it would loop for ever and hold its slot, so it ends the
    // task, `failed`, reason `spawn`, with the shim's words.
    bool refused = r.getSpawnFailed() || (r.getNotStarted() && r.getMessage().size() > 0);
    if (r.getNotStarted() && !refused) {
      if (a.cancelRequested()) {
        finish(a, TaskState::CANCELLED, EndReason::CANCELLED,
               a.stopMessage().size() ? a.stopMessage() : "cancelled before it started"_kj,
               -1, 0);
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
    if (refused) {
      if (r.getNotStarted()) code = 126;  // an older shim's refusal: it could not run it
      finish(a, TaskState::FAILED, EndReason::SPAWN, r.getMessage(), code, 0);
    } else if (a.cancelRequested()) {
      finish(a, TaskState::CANCELLED, EndReason::CANCELLED,
             a.stopMessage().size() ? a.stopMessage() : "cancelled by a user"_kj, code, signal);
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
    finish(a, TaskState::CANCELLED, EndReason::CANCELLED,
           a.stopMessage().size() ? a.stopMessage() : "cancelled by a user"_kj, -1, 0);
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
  a.live().notifySocket = nullptr;
  auto attempt = a.attempt();
  attempt.setState(TaskState::QUEUED);
  attempt.setReason(EndReason::NOT_STARTED);
  attempt.setMessage(why);
  setState(a, TaskState::QUEUED);
  persist(a);
  uint64_t id = a.id();
  uint32_t number = attempt.getNumber();
  tasks.add(commit.durable().then([this, id, number]() { runner.release(id, number); }));
  a.hasAttempt = false;
  endAttempt(a);  // back to the summary once durable
  enqueue(a);
}

void Scheduler::finish(Active& a, TaskState state, EndReason reason, kj::StringPtr message,
                       int exitCode, int signal) {
  if (state == TaskState::FAILED && shouldRetry(a, reason, exitCode)) {
    retryLater(a, reason, message, exitCode, signal);
    return;
  }
  clearDeadline(a);
  deadlines.arm();  // a cancelled waiter's deadline may have been the earliest
  releaseKey(a);
  auto task = record(a);
  setState(a, state);
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
  switch (state) {
    case TaskState::SUCCEEDED: endedSucceeded++; break;
    case TaskState::FAILED: endedFailed++; break;
    default: endedCancelled++; break;
  }
  if (state == TaskState::FAILED) queues.pauseOnFailure(queueOf(a), id, message);
  queues.countOut(queueOf(a), a.uid);  // no longer counts against its owner's quotas
  KJ_IF_MAYBE(hook, finishedHook) (*hook)(id, task.getFinishedAt());
  auto it = active.find(id);  // erased below: the iterator, not find()
  KJ_ASSERT(it != active.end());
  // Out of the table, which keeps the slot (and `a`, for callers that read
  // its queue after this) until it compacts.
  auto owned = kj::heap<Active>(kj::mv(*it->second));
  active.erase(it);
  // Staged: a drain holds no record until it is durable.
  if (owned->rest != nullptr) owned->rest->message = nullptr;
  // Write the record, then act: waiters and dependents hear of the end once
  // it is durable (a dependent reads the dependency's end from the store).
  tasks.add(commit.durable().then([this, owned = kj::mv(owned), id, number]() mutable {
    if (owned->extraOrNull() != nullptr) {
      for (auto& waiter : owned->extraOrNull()->waiters) waiter->fulfill();
    }
    KJ_IF_MAYBE(n, number) runner.release(id, *n);
    dependencyEnded(id);
    if (owned->key().size() > 0) keyReleased(owned->uid, owned->key());
    owned = nullptr;
    taskLeft();
  }));
}

kj::Promise<void> Scheduler::whenTerminal(uint64_t id) {
  KJ_IF_MAYBE(a, find(id)) {
    auto paf = kj::newPromiseAndFulfiller<void>();
    a->extra().waiters.add(kj::mv(paf.fulfiller));
    return kj::mv(paf.promise);
  }
  return commit.flushed();
}

kj::Promise<void> Scheduler::cancel(uint64_t id) {
  auto* found = find(id);
  if (found == nullptr) return commit.flushed();  // already terminal: nothing to do
  auto& a = *found;
  switch (a.state) {
    case TaskState::QUEUED:
    case TaskState::WAITING:
    case TaskState::RETRYING: {
      auto& queue = queueOf(a);
      uint32_t uid = a.uid;
      bool ready = a.state == TaskState::QUEUED;  // the others wait outside it
      auto why = a.stopMessage().size() ? kj::mv(a.extra().stopMessage)
                                        : kj::str("cancelled by a user");
      finish(a, TaskState::CANCELLED, EndReason::CANCELLED, why, -1, 0);
      if (ready) {
        queue.ready.cancelled(uid);  // its id is skipped: the task is no longer active
        if (queue.ready.staleCount() > queue.ready.size() + 4096) {
          queue.ready.compact([&](uint64_t id) { return readyIsLive(queue, id); });
        }
      }
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
  KJ_IF_MAYBE(execution, a.live().execution) {
    (*execution)->kill(SIGTERM);
  }
  uint64_t id = a.id();
  uint32_t number = a.attempt().getNumber();
  uint64_t grace = record(a).getKillGraceUsec();
  kj::Duration wait = grace ? int64_t(grace) * kj::MICROSECONDS : options.killGrace;
  // Escalate if it is still there after the grace period. Owned by `a`: it
  // ends with the attempt.
  a.live().graceTimer = timer.afterDelay(wait)
                   .then([this, id, number]() {
                     auto* found = find(id);
                     if (found == nullptr) return;
                     auto& a = *found;
                     if (a.attempts != number || !a.hasAttempt) return;
                     KJ_IF_MAYBE(execution, a.live().execution) {
                       KJ_LOG(INFO, "kill grace over: SIGKILL", id, number);
                       (*execution)->kill(SIGKILL);
                     }
                   })
                   .eagerlyEvaluate([](kj::Exception&& e) { KJ_LOG(ERROR, "kill failed", e); });
}

void Scheduler::openNotify(Active& a) {
  auto task = record(a);
  auto attempt = a.attempt();
  auto path = attempt.getNotifySocket().size() ? kj::str(attempt.getNotifySocket())
                                               : notify.pathFor(task.getId(), attempt.getNumber());
  uint64_t id = task.getId();
  uint32_t number = attempt.getNumber();
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
                a.live().notifySocket = notify.open(path, task.getUid(), task.getGid(),
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
  auto* found = findAttempt(id, number);
  if (found == nullptr) return;
  auto& a = *found;
  auto attempt = a.attempt();
  KJ_IF_MAYBE(p, notice.progress) {
    attempt.setProgress(*p);
    events.progress(id, a.uid, number, *p);  // live only, never stored
  }
  KJ_IF_MAYBE(text, notice.status) {
    // Kept short: it is shown in one line and stored with every write.
    attempt.setStatusText(text->size() > 1024 ? kj::str(text->slice(0, 1024)) : kj::mv(*text));
  }
  // Any word from the task is a sign of life, not only WATCHDOG=1.
  armHeartbeat(a);
  if (notice.progress == nullptr && notice.status == nullptr) return;
  // Stored at most once a second per attempt; status shows the live value.
  int64_t t = now();
  auto& live = a.live();
  if (t - live.progressStoredAt >= 1'000'000'000) {
    live.progressStoredAt = t;
    persist(a);
  } else if (!live.progressWritePending) {
    live.progressWritePending = true;
    auto wait = (live.progressStoredAt + 1'000'000'000 - t) * kj::NANOSECONDS;
    tasks.add(timer.afterDelay(wait).then([this, id, number]() {
      auto* found = findAttempt(id, number);
      if (found == nullptr) return;
      auto& a = *found;
      a.live().progressWritePending = false;
      a.live().progressStoredAt = now();
      persist(a);
    }));
  }
}

void Scheduler::armHeartbeat(Active& a) {
  if (a.stopReason != EndReason::NONE || !a.hasAttempt) return;
  uint64_t heartbeat = record(a).getHeartbeatUsec();
  if (heartbeat == 0) return;
  uint64_t id = a.id();
  uint32_t number = a.attempt().getNumber();
  a.live().heartbeatTimer = timer.afterDelay(int64_t(heartbeat) * kj::MICROSECONDS)
                         .then([this, id, number]() {
                           KJ_IF_MAYBE(a, findAttempt(id, number)) {
                             stopExecution(*a, EndReason::HEARTBEAT);
                           }
                         })
                         .eagerlyEvaluate([](kj::Exception&& e) {
                           KJ_LOG(ERROR, "heartbeat check failed", e);
                         });
}

kj::Maybe<records::Attempt::Reader> Scheduler::liveAttempt(uint64_t id) {
  auto* found = find(id);
  if (found == nullptr) return nullptr;
  auto& a = *found;
  if (!a.hasAttempt) return nullptr;
  return a.attempt().asReader();
}

void Scheduler::armTimeout(Active& a) {
  uint64_t timeout = record(a).getTimeoutUsec();
  if (timeout == 0 || a.stopReason != EndReason::NONE) return;
  // From the attempt's start, so a re-adopted attempt keeps its deadline.
  int64_t elapsedUsec = (now() - a.attempt().getStartedAt()) / 1000;
  int64_t left = int64_t(timeout) - kj::max(elapsedUsec, int64_t(0));
  uint64_t id = a.id();
  uint32_t number = a.attempt().getNumber();
  a.live().timeoutTimer = timer.afterDelay(kj::max(left, int64_t(0)) * kj::MICROSECONDS)
                   .then([this, id, number]() {
                     KJ_IF_MAYBE(a, find(id)) {
                       if (a->attempts == number) stopExecution(*a, EndReason::TIMEOUT);
                     }
                   })
                   .eagerlyEvaluate([](kj::Exception&& e) { KJ_LOG(ERROR, "timeout failed", e); });
}

void Scheduler::recover() {
  // One pass over the stored active tasks, each record read once: only its
  // summary stays (what dispatch needs), appended to `active` (the scan is
  // in id order); a task that starts reads the rest again. Reconciling
  // stages writes: it waits for the scan's read transaction to end.
  size_t unfinished = 0;
  store.forEachActiveTask([&](records::Task::Reader task) {
    auto& a = active.emplace(task.getId(), compactOf(task));
    if (a.key().size() > 0) keys.add(a.uid, a.key(), a.id());
    queues.countIn(*a.queue, a.uid);
    // Each record read maps its page: 1 M queued tasks would peak at GiBs
    // of file pages in RSS (bench/README.md). Let go of them as we go, every
    // 16 MiB of pages at most (1 M tasks then peak under 64 MiB in all).
    if (++unfinished % 4096 == 0) store.releaseMappedPages();
  });
  // Every active task is known before any is reconciled: a dependency or key
  // holder recovered later in id order must not read as ended. Reconciling
  // may end a task: the walk skips what has left (nothing moves meanwhile).
  for (auto& [id, a] : active) reconcile(*a);
  active.compact();  // the slots of tasks that ended
  KJ_LOG(INFO, "recovered", unfinished);
  // The scan touched every active record's pages of the map and left the
  // heap with the reading's garbage: hand both back (DESIGN 11's budget).
  store.releaseMappedPages();
  malloc_trim(0);
}

void Scheduler::start() {
  dispatching = true;
  for (auto& [name, queue] : queues) dispatch(queue);
}

void Scheduler::reconcile(Active& a) {
  uint64_t id = a.id();
  uint32_t number = a.attempts;
  auto state = a.state;
  if (state == TaskState::STARTING || state == TaskState::RUNNING) {
    auto stored = store.getAttempt(id, number);
    KJ_IF_MAYBE(record, stored) {
      a.live().attemptMessage =
          kj::heap<capnp::MallocMessageBuilder>((*record)->get().totalSize().wordCount + 64);
      a.live().attemptMessage->setRoot((*record)->get());
      a.hasAttempt = true;
    }
  }
  if (!a.hasAttempt) {
    if (state == TaskState::WAITING || state == TaskState::RETRYING) {
      admit(a);  // deadlines and dependencies as stored
      return;
    }
    // queued, or an attempt record that never became durable.
    if (state != TaskState::QUEUED) {
      setState(a, TaskState::QUEUED);
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
  queues.slotTaken(queueOf(a), a.uid);  // ingest() gives the slot back
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

// ---- Waiting: dependencies, delays, keys ----

void Scheduler::admit(Active& a) {
  // Called once per task in memory (after its submit is durable, or at
  // recovery): registers what it waits on, then moves it as far as it can go.
  uint64_t id = a.id();
  if (a.state == TaskState::WAITING) {
    for (auto& dependency : a.after()) {
      // Pending: it runs, or its end is not durable yet (at recovery, an
      // attempt that ended while the daemon was down).
      kj::String why;
      if (verdictOn(dependency.id, dependency.condition, why) == Verdict::PENDING) {
        dependents.emplace(dependency.id, id);
      }
    }
  }
  if (a.state == TaskState::QUEUED) {
    enqueue(a);
    dispatch(queueOf(a));
    return;
  }
  advance(a);
}

void Scheduler::advance(Active& a) {
  auto state = a.state;
  int64_t t = now();
  if (state == TaskState::RETRYING) {
    if (a.nextAttemptAt() > t && !a.elapsedWaitOver) {
      setDeadline(a, a.nextAttemptAt(), false);
      return;
    }
    clearDeadline(a);
    makeQueued(a);
    return;
  }
  if (state != TaskState::WAITING) return;
  if (a.notBefore() > t && !(a.elapsedWaitOver && !a.notBeforeWall())) {
    setDeadline(a, a.notBefore(), a.notBeforeWall());
    return;
  }
  clearDeadline(a);
  // Every dependency is looked at: one that can never hold decides at once,
  // even while an earlier one still runs.
  bool pending = false;
  for (auto& dependency : a.after()) {
    kj::String why;
    switch (verdictOn(dependency.id, dependency.condition, why)) {
      case Verdict::PENDING:
        pending = true;  // dependencyEnded() brings us back
        break;
      case Verdict::NEVER:
        finish(a, TaskState::CANCELLED, EndReason::DEPENDENCY,
               kj::str("dependency failed: ", why), -1, 0);
        return;
      case Verdict::HOLDS:
        break;
    }
  }
  if (pending || !holdsKey(a)) return;  // keyReleased() brings us back
  makeQueued(a);
}

void Scheduler::makeQueued(Active& a) {
  setState(a, TaskState::QUEUED);
  record(a).setNextAttemptAt(0);
  if (a.extraOrNull() != nullptr) a.extraOrNull()->nextAttemptAt = 0;
  persist(a);
  enqueue(a);
  dispatch(queueOf(a));
}

Scheduler::Verdict Scheduler::verdictOn(uint64_t id, spec::DependencyCondition condition,
                                        kj::String& why) {
  if (active.count(id)) return Verdict::PENDING;
  kj::Maybe<TaskState> ended;
  KJ_IF_MAYBE(record, store.getTask(id)) {
    auto state = (*record)->get().getState();
    // Ended in memory but not yet durable: dependencyEnded() follows.
    if (!isTerminal(state)) return Verdict::PENDING;
    ended = state;
  } else KJ_IF_MAYBE(tombstone, store.getTombstone(id)) {
    ended = (*tombstone)->get().getState();
  }
  using C = spec::DependencyCondition;
  KJ_IF_MAYBE(state, ended) {
    bool holds = false;
    switch (condition) {
      case C::OK: holds = *state == TaskState::SUCCEEDED; break;
      case C::ANY: holds = true; break;
      case C::FAILED: holds = *state != TaskState::SUCCEEDED; break;
    }
    if (!holds) why = kj::str(id, " ", stateName(*state));
    return holds ? Verdict::HOLDS : Verdict::NEVER;
  }
  // Pruned past its tombstone: its end is unknown, so only `any` holds.
  if (condition == C::ANY) return Verdict::HOLDS;
  why = kj::str(id, " unknown (pruned)");
  return Verdict::NEVER;
}

void Scheduler::dependencyEnded(uint64_t id) {
  auto range = dependents.equal_range(id);
  kj::Vector<uint64_t> waiting;
  for (auto it = range.first; it != range.second; ++it) waiting.add(it->second);
  dependents.erase(range.first, range.second);
  for (auto dependent : waiting) {
    KJ_IF_MAYBE(a, find(dependent)) advance(*a);
  }
}

bool Scheduler::holdsKey(Active& a) {
  return a.key().size() == 0 || keys.holds(a.uid, a.key(), a.id());
}

void Scheduler::keyReleased(uint32_t uid, kj::StringPtr key) {
  KJ_IF_MAYBE(first, keys.holder(uid, key)) {
    KJ_IF_MAYBE(next, find(*first)) {
      if (next->state == TaskState::WAITING) advance(*next);
    }
  }
}

void Scheduler::releaseKey(Active& a) {
  if (a.key().size() > 0) keys.remove(a.uid, a.key(), a.id());
}

kj::String Scheduler::waitingFor(records::Task::Reader task) {
  auto formatTime = [](int64_t ns) {
    time_t secs = ns / 1000000000;
    struct tm tm;
    localtime_r(&secs, &tm);
    char buffer[64];
    strftime(buffer, sizeof(buffer), "%Y-%m-%d %H:%M:%S %Z", &tm);
    return kj::str(buffer);
  };
  int64_t t = now();
  if (task.getState() == TaskState::RETRYING) {
    return kj::str("attempt ", task.getAttempts() + 1, " at ", formatTime(task.getNextAttemptAt()));
  }
  if (task.getState() == TaskState::QUEUED) {
    auto it = queues.find(task.getQueue());
    if (it != queues.end() && it->second.paused) {
      return kj::str("queue ", task.getQueue(), " to be resumed");
    }
  }
  if (task.getState() != TaskState::WAITING) return kj::str();
  if (task.getNotBefore() > t) return kj::str("not before ", formatTime(task.getNotBefore()));
  kj::Vector<kj::String> parts;
  for (auto dependency : task.getAfter()) {
    if (!active.count(dependency.getId())) continue;
    kj::StringPtr condition;
    switch (dependency.getCondition()) {
      case spec::DependencyCondition::OK: condition = "to succeed"; break;
      case spec::DependencyCondition::ANY: condition = "to end"; break;
      case spec::DependencyCondition::FAILED: condition = "to fail"; break;
    }
    parts.add(kj::str("task ", dependency.getId(), " ", condition));
  }
  if (task.getKeyWaitsFor() != 0 && active.count(task.getKeyWaitsFor())) {
    parts.add(kj::str("task ", task.getKeyWaitsFor(), " to release key \"", task.getKey(), "\""));
  }
  return kj::strArray(parts, ", ");
}

// ---- Timed waits (deadlines.h) ----

void Scheduler::setDeadline(Active& a, int64_t realtimeNs, bool wallClock) {
  a.elapsedWaitOver = false;
  deadlines.set(a.id(), realtimeNs, wallClock);
}

void Scheduler::clearDeadline(Active& a) { deadlines.clear(a.id()); }

// ---- Retries ----

bool Scheduler::shouldRetry(Active& a, EndReason reason, int exitCode) {
  auto task = record(a);
  auto policy = task.getRetry();
  if (a.cancelRequested() || task.getAttempts() > policy.getRetries()) return false;
  switch (reason) {
    case EndReason::EXIT: {
      if (!policy.getOnExit() || exitCode == 0) return false;
      auto codes = policy.getExitCodes();
      if (codes.size() == 0) return true;
      for (auto code : codes) {
        if (code == exitCode) return true;
      }
      return false;
    }
    case EndReason::SIGNAL: return policy.getOnSignal();
    case EndReason::OOM: return policy.getOnOom();
    case EndReason::TIMEOUT: return policy.getOnTimeout();
    case EndReason::HEARTBEAT: return policy.getOnHeartbeat();
    case EndReason::LOST: return policy.getOnLost();
    default: return false;  // spawn, dependency, cancelled: another try cannot help
  }
}

void Scheduler::retryLater(Active& a, EndReason reason, kj::StringPtr message, int exitCode,
                           int signal) {
  auto task = record(a);
  auto policy = task.getRetry();
  uint32_t number = task.getAttempts();
  uint64_t delayUsec = backoffDelayUsec(policy.getBackoffBaseUsec(), policy.getBackoffMaxUsec(),
                                        number, random);
  int64_t t = now();
  // The attempt keeps its own end; the task shows `retrying` and when.
  if (a.hasAttempt) {
    auto attempt = a.attempt();
    attempt.setState(TaskState::FAILED);
    attempt.setReason(reason);
    attempt.setMessage(message);
    attempt.setExitCode(exitCode);
    attempt.setSignal(signal);
    if (attempt.getEndedAt() == 0) attempt.setEndedAt(t);
  }
  setState(a, TaskState::RETRYING);
  task.setReason(reason);
  task.setMessage(kj::str(message, "; retrying (attempt ", number + 1, " of ",
                          policy.getRetries() + 1, ")"));
  task.setExitCode(exitCode);
  task.setSignal(signal);
  task.setNextAttemptAt(t + int64_t(delayUsec) * 1000);
  a.extra().nextAttemptAt = task.getNextAttemptAt();
  persist(a);
  uint64_t id = task.getId();
  KJ_LOG(INFO, "task will retry", id, number, message, delayUsec);
  if (a.hasAttempt) {
    tasks.add(commit.durable().then([this, id, number]() { runner.release(id, number); }));
  }
  a.hasAttempt = false;
  a.stopReason = EndReason::NONE;
  endAttempt(a);
  setDeadline(a, task.getNextAttemptAt(), false);
}

// ---- Queues at run time (queue-table.h) ----

uint32_t Scheduler::waitingIn(Queue& queue) {
  uint32_t waiting = 0;
  for (auto& [id, a] : active) {
    auto state = a->state;
    if ((state == TaskState::WAITING || state == TaskState::RETRYING) && a->queue == &queue) {
      waiting++;
    }
  }
  return waiting;
}

kj::Vector<Scheduler::QueueInfo> Scheduler::queueList() {
  return queues.queueList([this](Queue& queue) { return waitingIn(queue); });
}

kj::Promise<Scheduler::QueueInfo> Scheduler::setConcurrency(kj::StringPtr name,
                                                            kj::Maybe<uint32_t> concurrency,
                                                            uid_t by) {
  return afterSettingsChange(queues.setConcurrency(name, concurrency, by));
}

kj::Promise<Scheduler::QueueInfo> Scheduler::setPaused(kj::StringPtr name, bool paused,
                                                       uid_t by) {
  return afterSettingsChange(queues.setPaused(name, paused, by));
}

kj::Promise<Scheduler::QueueInfo> Scheduler::afterSettingsChange(Queue& queue) {
  // Dispatch once the change is durable, whether or not the caller still
  // listens; then answer with the queue as it is.
  tasks.add(commit.durable().then([this, name = kj::str(queue.name)]() {
    auto it = queues.find(name);
    if (it != queues.end()) dispatch(it->second);
  }));
  return commit.durable().then([this, name = kj::str(queue.name)]() {
    auto& queue = queues.named(name);
    return queues.infoOf(queue, waitingIn(queue));
  });
}

void Scheduler::onTaskFinished(kj::Function<void(uint64_t id, int64_t finishedAt)> fn) {
  finishedHook = kj::mv(fn);
}

}  // namespace taskctl
