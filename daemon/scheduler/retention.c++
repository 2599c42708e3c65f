#include "scheduler/retention.h"

#include <capnp/message.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>

namespace taskctl {

namespace {

constexpr int64_t NEVER = INT64_MAX;

// Between sweeps the timer waits at least this long, so a clock step (or a
// deadline already past) cannot turn into a busy loop.
constexpr kj::Duration MIN_DELAY = 1 * kj::SECONDS;
// After a sweep the store refused: the next try, if no deadline comes later.
constexpr kj::Duration ERROR_DELAY = 1 * kj::MINUTES;
// A task skipped because the scheduler still owns it is looked at again after
// this; it is terminal in the store, so the scheduler lets go of it soon.
constexpr kj::Duration SKIPPED_DELAY = 1 * kj::MINUTES;
// A deadline far off is re-checked after this rather than handed to the
// timer whole (kj::TimePoint would overflow for absurd configs).
constexpr kj::Duration MAX_DELAY = 365 * kj::DAYS;

// t + usec microseconds, in ns, saturating at NEVER.
int64_t plusUsec(int64_t t, uint64_t usec) {
  uint64_t ns = usec > uint64_t(NEVER) / 1000 ? uint64_t(NEVER) : usec * 1000;
  if (t > 0 && ns > uint64_t(NEVER - t)) return NEVER;
  return t + int64_t(ns);
}

int64_t plus(int64_t t, kj::Duration d) { return plusUsec(t, d / kj::MICROSECONDS); }

struct LogName {
  uint64_t id;
  uint32_t attempt;
};

// `<id>-<attempt>.log` spelt exactly as the runner spells it (no sign, no
// leading zero, no overflow, ids and attempts from 1). Anything else in the
// directory was put there by someone else and is not ours to remove.
kj::Maybe<LogName> parseLogName(kj::StringPtr name) {
  kj::StringPtr suffix = ".log";
  if (!name.endsWith(suffix)) return nullptr;
  uint64_t numbers[2] = {0, 0};
  size_t which = 0, digits = 0;
  for (char c : name.slice(0, name.size() - suffix.size())) {
    if (c == '-' && which == 0 && digits > 0) {
      which = 1;
      digits = 0;
    } else if (c >= '0' && c <= '9' && digits < 19) {  // 19 digits always fit in 64 bits
      numbers[which] = numbers[which] * 10 + uint64_t(c - '0');
      ++digits;
    } else {
      return nullptr;
    }
  }
  if (which != 1 || numbers[0] == 0 || numbers[1] == 0 || numbers[1] > UINT32_MAX) return nullptr;
  if (kj::str(numbers[0], "-", numbers[1], suffix) != name) return nullptr;  // leading zeros
  return LogName{numbers[0], uint32_t(numbers[1])};
}

}  // namespace

// Owned by the promise of the orphan sweep: dropping that promise (Retention
// destroyed) closes the directory.
struct Retention::LogSweep {
  LogSweep(kj::String dir, DIR* stream, uint64_t highest)
      : dir(kj::mv(dir)), stream(stream), highest(highest) {}
  ~LogSweep() { closedir(stream); }
  KJ_DISALLOW_COPY(LogSweep);

  kj::String dir;
  DIR* stream;
  uint64_t highest;  // the highest task id stored when the sweep began
  uint64_t removed = 0;
  std::set<uint32_t> owners;  // users whose finished logs it counted
};

Retention::Retention(Store& store, GroupCommit& commit, kj::Timer& timer, const kj::Clock& clock,
                     Runner& runner, kj::Function<bool(uint64_t id)> isActive,
                     RetentionConfig config)
    : store(store),
      commit(commit),
      timer(timer),
      clock(clock),
      runner(runner),
      isActive(kj::mv(isActive)),
      config(config),
      hint(NEVER),
      armedFor(NEVER),
      tasks(*this) {}

Retention::~Retention() noexcept(false) {}

int64_t Retention::now() const { return (clock.now() - kj::UNIX_EPOCH) / kj::NANOSECONDS; }

bool Retention::overCount() const { return config.maxTasks != 0 && finished > config.maxTasks; }

void Retention::start() {
  KJ_REQUIRE(!started, "Retention::start() called twice");
  started = true;
  // Committed terminal tasks. One finished during recovery whose record is
  // still staged is missed here; the count is made exact again at the end of
  // the first sweep that finds nothing staged.
  finished = store.finishedCount();
  requestSweep();
  startLogSweep();
}

void Retention::startLogSweep() {
  KJ_IF_MAYBE (dir, logDir()) {
    // Taken now, in start(): every id up to here was handed out before the
    // sweep began. A task created from here on has a higher id, and its log
    // may appear while the sweep runs, before its record is committed: its
    // log is never a candidate.
    uint64_t highest = store.peekNextId() - 1;
    tasks.add(kj::evalLater([this, dir = kj::mv(*dir), highest]() mutable -> kj::Promise<void> {
                DIR* stream = opendir(dir.cStr());  // glibc opens it O_CLOEXEC
                if (stream == nullptr) {
                  int error = errno;
                  // No logs directory: no attempt ever ran with this state directory.
                  if (error != ENOENT) {
                    KJ_LOG(WARNING, "retention: cannot read the logs directory", dir,
                           strerror(error));
                  }
                  return kj::READY_NOW;
                }
                return sweepLogs(kj::heap<LogSweep>(kj::mv(dir), stream, highest));
              }).catch_([](kj::Exception&& e) {
      KJ_LOG(ERROR, "retention: the sweep for orphaned logs failed; the next start sweeps again",
             e.getDescription());
    }));
  }
}

kj::Maybe<kj::String> Retention::logDir() {
  // The Runner interface names no logs directory, only each attempt's log,
  // `<dir>/<id>-<attempt>.log` (ShimLauncher::logPath). One sample path gives
  // the directory without widening the interface for this one use. A runner
  // whose paths look otherwise, or that keeps no logs, is not swept at all.
  // Attempt 0 of task 0 never exists: the sample is never routed to a
  // Slurm queue's shared directory (queue-runners.h), whose logs are not
  // swept here.
  auto sample = runner.logPath(0, 0);
  kj::StringPtr name = "/0-0.log";
  if (!sample.endsWith(name)) {
    if (sample.size() > 0) {
      KJ_LOG(WARNING, "retention: log paths are not <dir>/<id>-<attempt>.log; not swept", sample);
    }
    return nullptr;
  }
  return kj::heapString(sample.slice(0, sample.size() - name.size()));
}

kj::Promise<void> Retention::sweepLogs(kj::Own<LogSweep> sweep) {
  if (sweepLogBatch(*sweep)) {
    // The rest in a later turn: dispatch, submits and prunes run in between.
    return kj::evalLater(
        [this, sweep = kj::mv(sweep)]() mutable { return sweepLogs(kj::mv(sweep)); });
  }
  if (sweep->removed > 0) {
    KJ_LOG(INFO, "retention: removed the logs of tasks pruned before a crash", sweep->removed,
           sweep->dir);
  }
  // Every finished log is counted now: bring each user under the bound.
  for (uint32_t uid : sweep->owners) trimUserLogs(uid);
  return kj::READY_NOW;
}

bool Retention::sweepLogBatch(LogSweep& sweep) {
  for (size_t n = 0; n < BATCH; n++) {
    errno = 0;
    struct dirent* entry = readdir(sweep.stream);
    if (entry == nullptr) {
      if (errno != 0) {
        int error = errno;
        KJ_LOG(WARNING, "retention: could not read the logs directory to its end", sweep.dir,
               strerror(error));
      }
      return false;
    }
    if (entry->d_type != DT_REG && entry->d_type != DT_UNKNOWN) continue;  // not a log file
    removeIfOrphan(sweep, entry->d_name);
  }
  return true;
}

void Retention::removeIfOrphan(LogSweep& sweep, kj::StringPtr name) {
  KJ_IF_MAYBE (log, parseLogName(name)) {
    if (log->id > sweep.highest) return;  // a task created since the sweep began
    // A stored task keeps its logs, whatever its state: only a prune (or its
    // owner's logs.max_bytes_per_user) removes them.
    if (isActive(log->id)) return;
    KJ_IF_MAYBE (record, store.getTask(log->id)) {
      auto task = (*record)->get();
      if (config.logBytesPerUser != 0 && isTerminal(task.getState())) {
        struct stat st;
        if (fstatat(dirfd(sweep.stream), name.cStr(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISREG(st.st_mode)) {
          countLog(task.getUid(), log->id, log->attempt, st.st_size);
          sweep.owners.insert(task.getUid());
        }
      }
      return;
    }
    if (unlinkat(dirfd(sweep.stream), name.cStr(), 0) < 0) {
      int error = errno;
      // ENOENT: the prune that just removed the task removed its log first.
      if (error != ENOENT) {
        KJ_LOG(WARNING, "retention: could not remove an orphaned log", sweep.dir, name,
               strerror(error));
      }
      return;
    }
    ++sweep.removed;
    ++counts.orphanLogsRemoved;
  }
}

void Retention::taskFinished(uint64_t id, int64_t finishedAt) {
  // Pruning goes by the store's `finished` index, not by this call; the
  // user's log bytes by it, once the end is durable (its logs are whole then).
  if (config.logBytesPerUser != 0) {
    tasks.add(commit.durable().then([this, id]() { countFinishedLogs(id); }));
  }
  ++finished;
  int64_t deadline = config.maxAgeUsec == 0 ? NEVER : plusUsec(finishedAt, config.maxAgeUsec);
  // The record may not be committed when the next deadline is read from the
  // index: remember this one until it has passed.
  if (deadline < hint) hint = deadline;
  if (!started) return;
  if (overCount()) {
    requestSweep();
  } else if (!sweeping && deadline < armedFor) {
    // Only when the timer is not armed at all, in practice: the newest
    // finished task is never the first one due by age.
    armFor(deadline, now(), MIN_DELAY);
  }
}

void Retention::reconfigure(RetentionConfig newConfig) {
  bool counting = config.logBytesPerUser != 0;
  config = newConfig;
  if (config.logBytesPerUser == 0) {
    userLogs.clear();
  } else if (!counting && started) {
    startLogSweep();  // counts what is there, then trims
  } else {
    kj::Vector<uint32_t> uids;
    for (auto& [uid, logs] : userLogs) uids.add(uid);
    for (auto uid : uids) trimUserLogs(uid);
  }
  requestSweep();
}

uint64_t Retention::logBytesOf(uint32_t uid) const {
  auto it = userLogs.find(uid);
  return it == userLogs.end() ? 0 : it->second.bytes;
}

void Retention::countLog(uint32_t uid, uint64_t id, uint32_t attempt, uint64_t bytes) {
  auto& user = userLogs[uid];
  auto& size = user.logs[LogKey{id, attempt}];  // counted twice (sweep and end): once
  user.bytes = user.bytes - size + bytes;
  size = bytes;
}

void Retention::forgetLog(uint32_t uid, uint64_t id, uint32_t attempt) {
  auto it = userLogs.find(uid);
  if (it == userLogs.end()) return;
  auto log = it->second.logs.find(LogKey{id, attempt});
  if (log == it->second.logs.end()) return;
  it->second.bytes -= log->second;
  it->second.logs.erase(log);
  if (it->second.logs.empty()) userLogs.erase(it);
}

void Retention::countFinishedLogs(uint64_t id) {
  if (config.logBytesPerUser == 0) return;
  KJ_IF_MAYBE (record, store.getTask(id)) {
    auto task = (*record)->get();
    if (!isTerminal(task.getState())) return;  // ended and requeued meanwhile? not ours yet
    uint32_t uid = task.getUid();
    for (uint32_t n = 1; n <= task.getAttempts(); n++) {
      auto path = runner.logPath(id, n);
      struct stat st;
      if (path.size() > 0 && lstat(path.cStr(), &st) == 0 && S_ISREG(st.st_mode)) {
        countLog(uid, id, n, st.st_size);
      }
    }
    trimUserLogs(uid);
  }
}

void Retention::trimUserLogs(uint32_t uid) {
  // Oldest first, until the user's finished logs fit again. The records and
  // each attempt's kept output tail stay; `taskctl logs` finds no log.
  uint64_t limit = config.logBytesPerUser;
  if (limit == 0) return;
  auto it = userLogs.find(uid);
  if (it == userLogs.end()) return;
  auto& user = it->second;
  uint64_t removed = 0;
  while (user.bytes > limit && !user.logs.empty()) {
    auto oldest = user.logs.begin();
    auto path = runner.logPath(oldest->first.first, oldest->first.second);
    if (unlink(path.cStr()) < 0 && errno != ENOENT) {
      int error = errno;
      KJ_LOG(WARNING, "could not remove a log over logs.max_bytes_per_user", path, strerror(error));
    }
    user.bytes -= oldest->second;
    user.logs.erase(oldest);
    ++removed;
  }
  if (removed > 0) {
    counts.logsTrimmed += removed;
    uint64_t left = user.bytes;
    KJ_LOG(INFO, "removed a user's oldest logs (logs.max_bytes_per_user)", uid, removed, left);
  }
  if (user.logs.empty()) userLogs.erase(it);
}

void Retention::requestSweep() {
  if (!started) return;
  if (sweeping) {
    again = true;
    return;
  }
  sweeping = true;
  // In a later turn: whoever asked (the alarm, a finished task, SIGHUP) is
  // done by then, and the alarm's promise may be dropped.
  tasks.add(kj::evalLater([this]() {
              alarm = nullptr;
              armedFor = NEVER;
              // kj 0.9's clear() passes memset a null table when it is empty.
              if (skipped.size() > 0) skipped.clear();
              skippedActive = false;
              if (hint <= now()) hint = NEVER;  // due now: this sweep sees it in the index
              return runBatch();
            }).catch_([this](kj::Exception&& e) {
    KJ_LOG(ERROR, "retention sweep failed; retrying at the next deadline", e.getDescription());
    endSweep(true);
  }));
}

kj::Promise<void> Retention::runBatch() {
  auto batch = kj::heap<Batch>();
  bool failed = false;
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() { stageBatch(now(), *batch); })) {
    // Whatever was staged before the error is in `batch` and is committed by
    // the group commit anyway; its files are then removed below. The rest waits for the next
    // deadline.
    KJ_LOG(ERROR, "retention sweep failed; retrying at the next deadline", e->getDescription());
    failed = true;
  }
  bool wrote = !batch->pruned.empty() || batch->tombstones > 0 || batch->requests > 0;
  kj::Promise<void> durable = wrote ? commit.durable() : kj::Promise<void>(kj::READY_NOW);
  return durable.then([this, failed, batch = kj::mv(batch)]() mutable -> kj::Promise<void> {
    afterDurable(*batch);
    if (batch->more && !failed) {
      // The next batch in a later turn: whatever else is queued runs first.
      return kj::evalLater([this]() { return runBatch(); });
    }
    endSweep(failed);
    return kj::READY_NOW;
  });
}

void Retention::stageBatch(int64_t nowNs, Batch& batch) {
  size_t budget = BATCH;

  // Terminal tasks, oldest finished first: beyond maxTasks, or past maxAge.
  uint64_t excess = overCount() ? finished - config.maxTasks : 0;
  struct Candidate {
    uint64_t id;
    int64_t finishedAt;  // the index's key
  };
  kj::Vector<Candidate> candidates;
  store.forEachFinished([&](int64_t finishedAt, uint64_t id) {
    if (skipped.contains(id)) return true;
    bool due = candidates.size() < excess ||
               (config.maxAgeUsec != 0 && plusUsec(finishedAt, config.maxAgeUsec) <= nowNs);
    if (!due) return false;
    if (candidates.size() == budget) {
      batch.more = true;
      return false;
    }
    candidates.add(Candidate{id, finishedAt});
    return true;
  });
  budget -= candidates.size();

  for (auto& candidate : candidates) {
    uint64_t id = candidate.id;
    // Never a task that is not terminal, nor one the scheduler still owns:
    // re-read it rather than trust the index.
    KJ_IF_MAYBE (record, store.getTask(id)) {
      auto task = (*record)->get();
      if (!isTerminal(task.getState())) {
        KJ_LOG(WARNING, "retention: a task in the finished index is not terminal; left alone", id);
        skipped.insert(id);
        batch.more = true;  // look past it for the next one due
        continue;
      }
      if (isActive(id)) {
        skipped.insert(id);
        skippedActive = true;
        batch.more = true;
        continue;
      }
      kj::Vector<uint32_t> attempts;
      store.forEachAttempt(id, [&](records::Attempt::Reader a) { attempts.add(a.getNumber()); });

      capnp::MallocMessageBuilder message(64);
      auto tombstone = message.initRoot<records::Tombstone>();
      tombstone.setId(id);
      tombstone.setUid(task.getUid());
      tombstone.setState(task.getState());
      tombstone.setReason(task.getReason());
      tombstone.setExitCode(task.getExitCode());
      tombstone.setSignal(task.getSignal());
      // The index's finishedAt (the record's, unless they disagree): pruneTask
      // deletes the entry by it, so none is left behind.
      tombstone.setFinishedAt(candidate.finishedAt);
      tombstone.setQueue(task.getQueue());
      store.pruneTask(id, tombstone.asReader());
      if (finished > 0) --finished;
      batch.pruned.add(Pruned{id, task.getUid(), attempts.releaseAsArray()});
    } else {
      KJ_LOG(WARNING, "retention: a task in the finished index is not stored; left alone", id);
      skipped.insert(id);
      batch.more = true;
    }
  }

  // Tombstones. They are listed by id, not by finish: the sweep stops at the
  // first one not yet due, so an old id that finished late (a long run) may
  // hold back the expiry of later ids a little, by at most its own lateness.
  if (budget > 0 && config.tombstoneAgeUsec != 0) {
    kj::Vector<uint64_t> expired;
    store.forEachTombstone([&](records::Tombstone::Reader t) {
      if (plusUsec(t.getFinishedAt(), config.tombstoneAgeUsec) > nowNs) return false;
      if (expired.size() == budget) {
        batch.more = true;
        return false;
      }
      expired.add(t.getId());
      return true;
    });
    for (uint64_t id : expired) store.deleteTombstone(id);
    budget -= expired.size();
    batch.tombstones = expired.size();
  }

  // Request-id mappings: 24 h after the submit, whatever the config says.
  if (budget > 0) {
    struct Expired {
      uint32_t uid;
      kj::String requestId;
      int64_t createdAt;
    };
    kj::Vector<Expired> expired;
    store.forEachRequestByAge([&](int64_t createdAt, uint32_t uid, kj::StringPtr requestId) {
      if (plus(createdAt, REQUEST_AGE) > nowNs) return false;
      if (expired.size() == budget) {
        batch.more = true;
        return false;
      }
      expired.add(Expired{uid, kj::str(requestId), createdAt});
      return true;
    });
    for (auto& r : expired) store.deleteRequest(r.uid, r.requestId, r.createdAt);
    batch.requests = expired.size();
  }
}

void Retention::afterDurable(Batch& batch) {
  // The prunes are durable: the tasks are gone from the store, so their files
  // may go too (write the record, then act).
  for (auto& p : batch.pruned) {
    for (uint32_t n : p.attempts) {
      forgetLog(p.uid, p.id, n);
      KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() {
                     auto path = runner.logPath(p.id, n);
                     if (path.size() > 0 && unlink(path.cStr()) < 0 && errno != ENOENT) {
                       int error = errno;
                       KJ_LOG(WARNING, "could not remove a pruned task's log", path,
                              strerror(error));
                     }
                     runner.release(p.id, n);
                   })) {
        KJ_LOG(ERROR, "could not remove a pruned task's files", p.id, n, e->getDescription());
      }
    }
  }
  counts.pruned += batch.pruned.size();
  counts.tombstonesExpired += batch.tombstones;
  counts.requestsExpired += batch.requests;
}

void Retention::endSweep(bool failed) {
  sweeping = false;
  if (!failed && again) {
    again = false;
    requestSweep();
    return;
  }
  again = false;  // after a failure: the next deadline, not at once

  int64_t nowNs = now();
  int64_t deadline = nowNs;
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() {
                 // Nothing staged: every change is committed, so the store's
                 // count is exact. Correct any drift of ours.
                 if (store.stagedCount() == 0) finished = store.finishedCount();
                 deadline = nextDeadline(nowNs);
               })) {
    KJ_LOG(ERROR, "retention: could not read the next deadline", e->getDescription());
    failed = true;
  }
  if (!failed && overCount() && skipped.size() == 0) {
    // The store holds more than we counted (tasks finished during recovery).
    // Nothing was passed over, so the next sweep prunes: no loop.
    requestSweep();
    return;
  }
  armFor(deadline, nowNs, failed ? ERROR_DELAY : MIN_DELAY);
}

int64_t Retention::nextDeadline(int64_t nowNs) {
  int64_t deadline = hint;
  if (skippedActive) deadline = kj::min(deadline, plus(nowNs, SKIPPED_DELAY));
  if (config.maxAgeUsec != 0) {
    store.forEachFinished([&](int64_t finishedAt, uint64_t id) {
      if (skipped.contains(id)) return true;
      deadline = kj::min(deadline, plusUsec(finishedAt, config.maxAgeUsec));
      return false;
    });
  }
  if (config.tombstoneAgeUsec != 0) {
    // The first by id (see stageBatch).
    store.forEachTombstone([&](records::Tombstone::Reader t) {
      deadline = kj::min(deadline, plusUsec(t.getFinishedAt(), config.tombstoneAgeUsec));
      return false;
    });
  }
  store.forEachRequestByAge([&](int64_t createdAt, uint32_t, kj::StringPtr) {
    deadline = kj::min(deadline, plus(createdAt, REQUEST_AGE));
    return false;
  });
  return deadline;
}

void Retention::armFor(int64_t deadline, int64_t nowNs, kj::Duration minDelay) {
  if (deadline == NEVER) {
    alarm = nullptr;
    armedFor = NEVER;
    return;
  }
  // The deadline is realtime; kj::Timer is monotonic. A clock step between
  // now and then moves the wake-up, which the sweep tolerates: it re-reads
  // the clock, prunes what is due and arms again.
  kj::Duration delay = minDelay;
  if (deadline > nowNs) {
    uint64_t ns = kj::min(uint64_t(deadline) - uint64_t(nowNs), uint64_t(NEVER));
    delay = kj::max(delay, int64_t(ns) * kj::NANOSECONDS);
  }
  delay = kj::min(delay, MAX_DELAY);
  armedFor = plus(nowNs, delay);
  alarm = timer.afterDelay(delay)
              .then([this]() {
                armedFor = NEVER;
                requestSweep();
              })
              .eagerlyEvaluate([](kj::Exception&& e) {
                KJ_LOG(ERROR, "retention timer failed", e.getDescription());
              });
}

void Retention::taskFailed(kj::Exception&& exception) {
  KJ_LOG(ERROR, "retention", exception.getDescription());
}

}  // namespace taskctl
