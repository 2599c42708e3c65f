// A Runner for scheduler tests: records what it was asked to start, and lets
// the test decide when each execution exits and with what result.
#pragma once

#include <capnp/message.h>
#include <kj/async.h>
#include <kj/debug.h>
#include <kj/vector.h>

#include <map>

#include "runner/runner.h"
#include "scheduler/notify-hub.h"
#include "scheduler/wall-timer.h"

namespace taskctl {

class FakeRunner final : public Runner {
 public:
  struct Launched {
    uint64_t taskId;
    uint32_t attempt;
    bool went = false;
    int lastSignal = 0;
    kj::Own<kj::PromiseFulfiller<void>> exit;
    bool paused = false;  // as the last pause() left it
    int pauseCalls = 0;
  };

  class FakeExecution final : public Execution {
   public:
    FakeExecution(FakeRunner& runner, size_t index, kj::Promise<void> exit)
        : runner(runner), index(index), exitPromise(exit.fork()) {}
    int pid() const override { return 1000 + index; }
    uint64_t startTime() const override { return 42; }
    kj::StringPtr bootId() const override { return "boot"; }
    void go() override { runner.launched[index].went = true; }
    kj::Promise<void> exited() override { return exitPromise.addBranch(); }
    void kill(int signal) override { runner.launched[index].lastSignal = signal; }
    bool setsLimits() const override { return runner.setsLimits; }
    kj::Promise<void> setLimits(const LiveLimits& limits) override {
      if (runner.failLimits) return KJ_EXCEPTION(FAILED, "systemd refused the limits");
      runner.limitCalls.add(index, limits);
      return kj::READY_NOW;
    }
    kj::Promise<void> pause(bool paused) override {
      runner.launched[index].paused = paused;
      runner.launched[index].pauseCalls++;
      if (runner.failPauses) return KJ_EXCEPTION(FAILED, "systemd said no");
      return kj::READY_NOW;
    }
    uint64_t slurmJobId() const override {
      auto it = runner.jobIds.find(index);
      return it == runner.jobIds.end() ? 0 : it->second;
    }
    kj::Promise<kj::String> node() override {
      auto paf = kj::newPromiseAndFulfiller<kj::String>();
      runner.nodes[index] = kj::mv(paf.fulfiller);
      return kj::mv(paf.promise);
    }
    kj::Maybe<ExternalEnd> externalEnd() override {
      auto it = runner.externalEnds.find(index);
      if (it == runner.externalEnds.end()) return nullptr;
      return ExternalEnd{it->second.kind, kj::str(it->second.message)};
    }
    kj::Maybe<kj::Own<ExecOutcome>> outcomeFromExit() override {
      auto it = runner.exitOutcomes.find(index);
      if (it == runner.exitOutcomes.end()) return nullptr;
      return kj::Own<ExecOutcome>(kj::heap<Outcome>(*it->second));
    }

   private:
    FakeRunner& runner;
    size_t index;
    kj::ForkedPromise<void> exitPromise;
  };

  kj::Vector<Launched> launched;
  std::map<std::pair<uint64_t, uint32_t>, kj::Own<capnp::MallocMessageBuilder>> results;
  // By launch index: the end a shim's exit status carried (outcomeFromExit).
  std::map<size_t, kj::Own<capnp::MallocMessageBuilder>> exitOutcomes;
  // By launch index: what a Slurm-like runner says ended it (runner.h,
  // ExternalEnd), and the job id the execution reports.
  std::map<size_t, ExternalEnd> externalEnds;
  std::map<size_t, uint64_t> jobIds;
  // By launch index: fulfils node() (a Slurm job seen running on a node).
  std::map<size_t, kj::Own<kj::PromiseFulfiller<kj::String>>> nodes;
  kj::Vector<std::pair<uint64_t, uint32_t>> released;
  bool failStarts = false;
  // `update`: whether executions take live limits (the scope runner's do),
  // whether that fails, and each call by launch index.
  bool setsLimits = true;
  bool failLimits = false;
  kj::Vector<std::pair<size_t, LiveLimits>> limitCalls;
  bool failPauses = false;        // pause() rejects
  bool disconnectStarts = false;  // start() rejects DISCONNECTED (the bus went away),
                                  // and the runner is unavailable from then on, as the
                                  // scope runner is while its bus is gone
  // holdStarts: start() waits for releaseStarts(), as the scope runner waits
  // for systemd's job: an attempt stays `starting` meanwhile.
  bool holdStarts = false;
  kj::Vector<kj::Own<kj::PromiseFulfiller<void>>> heldStarts;
  void releaseStarts() {
    holdStarts = false;
    for (auto& f : heldStarts) f->fulfill();
    heldStarts.clear();
  }
  // available(): false while `unavailable`; setAvailable() wakes whenAvailable().
  bool unavailable = false;
  kj::Vector<kj::Own<kj::PromiseFulfiller<void>>> availableWaiters;
  bool available() override { return !unavailable; }
  kj::Promise<void> whenAvailable() override {
    if (!unavailable) return kj::READY_NOW;
    auto paf = kj::newPromiseAndFulfiller<void>();
    availableWaiters.add(kj::mv(paf.fulfiller));
    return kj::mv(paf.promise);
  }
  void setAvailable() {
    unavailable = false;
    for (auto& w : availableWaiters) w->fulfill();
    availableWaiters.clear();
  }
  kj::Maybe<std::pair<uint64_t, uint32_t>> adoptable;

  kj::Vector<std::pair<uint64_t, uint32_t>> stopped;

  kj::StringPtr name() const override { return "fake"; }
  kj::String unitFor(uint64_t taskId, uint32_t attempt) override {
    return kj::str("fake-", taskId, "-", attempt);
  }
  void stopRemains(records::Attempt::Reader attempt) override {
    stopped.add(attempt.getTaskId(), attempt.getNumber());
  }

  kj::Promise<kj::Own<Execution>> start(records::Task::Reader task,
                                        records::Attempt::Reader attempt) override {
    if (failStarts) return KJ_EXCEPTION(FAILED, "systemd said no");
    if (disconnectStarts) {
      unavailable = true;
      return KJ_EXCEPTION(DISCONNECTED, "the system bus went away");
    }
    if (holdStarts) {
      auto held = kj::newPromiseAndFulfiller<void>();
      heldStarts.add(kj::mv(held.fulfiller));
      uint64_t id = task.getId();
      uint32_t number = attempt.getNumber();
      return held.promise.then([this, id, number]() -> kj::Own<Execution> {
        auto paf = kj::newPromiseAndFulfiller<void>();
        launched.add(Launched{id, number, false, 0, kj::mv(paf.fulfiller), false, 0});
        return kj::heap<FakeExecution>(*this, launched.size() - 1, kj::mv(paf.promise));
      });
    }
    auto paf = kj::newPromiseAndFulfiller<void>();
    launched.add(
        Launched{task.getId(), attempt.getNumber(), false, 0, kj::mv(paf.fulfiller), false, 0});
    return kj::Own<Execution>(
        kj::heap<FakeExecution>(*this, launched.size() - 1, kj::mv(paf.promise)));
  }

  kj::Maybe<kj::Own<Execution>> adopt(records::Attempt::Reader attempt) override {
    KJ_IF_MAYBE (a, adoptable) {
      if (a->first == attempt.getTaskId() && a->second == attempt.getNumber()) {
        auto paf = kj::newPromiseAndFulfiller<void>();
        launched.add(Launched{a->first, a->second, true, 0, kj::mv(paf.fulfiller), false, 0});
        return kj::Own<Execution>(
            kj::heap<FakeExecution>(*this, launched.size() - 1, kj::mv(paf.promise)));
      }
    }
    return nullptr;
  }

  class Outcome final : public ExecOutcome {
   public:
    explicit Outcome(capnp::MallocMessageBuilder& message) : message(message) {}
    records::ExecResult::Reader get() override {
      return message.getRoot<records::ExecResult>().asReader();
    }

   private:
    capnp::MallocMessageBuilder& message;
  };

  kj::Maybe<kj::Own<ExecOutcome>> readOutcome(uint64_t taskId, uint32_t attempt) override {
    auto it = results.find({taskId, attempt});
    if (it == results.end()) return nullptr;
    return kj::Own<ExecOutcome>(kj::heap<Outcome>(*it->second));
  }

  void release(uint64_t taskId, uint32_t attempt) override { released.add(taskId, attempt); }
  kj::String logPath(uint64_t taskId, uint32_t attempt) override {
    return kj::str("/nonexistent/", taskId, "-", attempt);
  }

  // Test controls.
  records::ExecResult::Builder result(uint64_t taskId, uint32_t attempt) {
    auto message = kj::heap<capnp::MallocMessageBuilder>();
    auto r = message->initRoot<records::ExecResult>();
    r.setTaskId(taskId);
    r.setAttempt(attempt);
    auto& slot = results[{taskId, attempt}];
    slot = kj::mv(message);
    return slot->getRoot<records::ExecResult>();
  }
  void killed(size_t index, int signal, uint32_t oomKills = 0) {
    auto r = result(launched[index].taskId, launched[index].attempt);
    r.setSignal(signal);
    r.setOomKills(oomKills);
    launched[index].exit->fulfill();
  }
  void exit(size_t index, int code) {
    auto r = result(launched[index].taskId, launched[index].attempt);
    r.setExitCode(code);
    launched[index].exit->fulfill();
  }
  void vanish(size_t index) { launched[index].exit->fulfill(); }
  // The shim exited without a result file (a full disk), its exit status
  // carrying the end the test fills in; then exit it with vanish(index).
  records::ExecResult::Builder exitStatusOutcome(size_t index) {
    auto& slot = exitOutcomes[index];
    slot = kj::heap<capnp::MallocMessageBuilder>();
    return slot->initRoot<records::ExecResult>();
  }
};

// A NotifyHub whose sockets are callbacks the test calls.
class FakeNotifyHub final : public NotifyHub {
 public:
  std::map<std::string, kj::Function<void(AttemptNotice&&)>*> open_;
  kj::String pathFor(uint64_t taskId, uint32_t attempt) override {
    return kj::str("/fake/notify/", taskId, "-", attempt);
  }
  kj::Own<NotifyHandle> open(kj::StringPtr path, uid_t, gid_t,
                             kj::Function<void(AttemptNotice&&)> onNotice) override {
    struct Handle final : public NotifyHandle {
      Handle(FakeNotifyHub& hub, std::string path, kj::Function<void(AttemptNotice&&)> fn)
          : hub(hub), path(kj::mv(path)), fn(kj::mv(fn)) {}
      FakeNotifyHub& hub;
      std::string path;
      kj::Function<void(AttemptNotice&&)> fn;
      ~Handle() { hub.open_.erase(path); }
    };
    auto handle = kj::heap<Handle>(*this, path.cStr(), kj::mv(onNotice));
    open_[path.cStr()] = &handle->fn;
    return kj::mv(handle);
  }
  // Sends as the task would; false if nobody listens at `path`.
  bool send(kj::StringPtr path, AttemptNotice&& notice) {
    auto it = open_.find(path.cStr());
    if (it == open_.end()) return false;
    (*it->second)(kj::mv(notice));
    return true;
  }
};

// A wall clock the test sets.
class FakeClock final : public kj::Clock {
 public:
  kj::Date time = kj::UNIX_EPOCH + 1700000000 * kj::SECONDS;
  kj::Date now() const override { return time; }
};

// A WallTimer that follows a FakeClock: the test moves the clock, then says
// so with check() (time passed) or clockSet() (the clock was stepped).
class FakeWallTimer final : public WallTimer {
 public:
  explicit FakeWallTimer(FakeClock& clock) : clock(clock) {}

  kj::Promise<void> atOrAfter(kj::Date when) override {
    KJ_IF_MAYBE (p, pending) {
      p->fulfiller->reject(KJ_EXCEPTION(FAILED, "wall-clock wait replaced by a newer one"));
    }
    pending = nullptr;
    if (clock.time >= when) return kj::READY_NOW;
    auto paf = kj::newPromiseAndFulfiller<void>();
    pending = Pending{when, kj::mv(paf.fulfiller)};
    return kj::mv(paf.promise);
  }

  // Test controls.
  void check() {
    KJ_IF_MAYBE (p, pending) {
      if (clock.time >= p->when) fire();
    }
  }
  void clockSet() { fire(); }
  kj::Maybe<kj::Date> armed() {
    // As the real timer: dropping the promise disarms.
    KJ_IF_MAYBE (p, pending) {
      if (p->fulfiller->isWaiting()) return p->when;
    }
    return nullptr;
  }

 private:
  struct Pending {
    kj::Date when;
    kj::Own<kj::PromiseFulfiller<void>> fulfiller;
  };
  FakeClock& clock;
  kj::Maybe<Pending> pending;

  void fire() {
    KJ_IF_MAYBE (p, pending) {
      p->fulfiller->fulfill();
    }
    pending = nullptr;
  }
};

}  // namespace taskctl
