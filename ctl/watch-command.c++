#include "watch-command.h"

#include <kj/async-unix.h>
#include <kj/time.h>
#include <signal.h>

#include "output.h"
#include "render.h"
#include "watch-render.h"

namespace taskctl {

namespace {

// What the daemon has told this watch so far: enough to say where to resume.
struct WatchState {
  uint64_t asked = 0;            // the --from sent (0: from now)
  kj::Maybe<uint64_t> firstSeq;  // from started()
  uint64_t lastPrinted = 0;      // the seq of the last change written out (0: none yet)
  // `watch ID...`: the ids that have not ended yet; the watch ends once none is left.
  kj::Maybe<kj::Vector<uint64_t>> running;
  // Ends the command with an exit status: 0 once every watched task has ended, or the status of
  // a failed write to stdout (its line is already on stderr).
  kj::Own<kj::PromiseFulfiller<int>> finished;

  void ended(uint64_t id) {
    KJ_IF_MAYBE (ids, running) {
      for (size_t i = 0; i < ids->size(); i++) {
        if ((*ids)[i] == id) {
          (*ids)[i] = ids->back();
          ids->removeLast();
          break;
        }
      }
      if (ids->size() == 0) finished->fulfill(0);
    }
  }

  // Where a new watch picks up with nothing missed and nothing twice (0: from now).
  uint64_t resumePoint(uint64_t asked) const {
    if (lastPrinted != 0) return lastPrinted + 1;
    KJ_IF_MAYBE (first, firstSeq) {
      return *first;
    }
    return asked;
  }
};

// Our end of the watch: the daemon calls it, in order, and it prints. A batch is written with
// one write(2); a reader of our stdout that is slow blocks it, and with it our replies, which
// hold the daemon back (it keeps only a few calls to us unanswered) rather than piling up anywhere.
class PrintingWatcher final : public rpc::Watcher::Server {
 public:
  PrintingWatcher(WatchState& state, const WatchArgs& args, bool json)
      : state(state), args(args), json(json) {}

  kj::Promise<void> started(StartedContext context) override {
    auto params = context.getParams();
    state.firstSeq = params.getFirstSeq();
    if (params.getPruned()) writeError(prunedMessage(state.asked, params.getFirstSeq()));
    return kj::READY_NOW;
  }

  kj::Promise<void> events(EventsContext context) override {
    auto events = context.getParams().getEvents();
    kj::Vector<char> out(events.size() * 96);
    for (auto event : events) out.addAll(json ? eventJson(event) : eventLine(event));
    if (write(out) && events.size() > 0) {
      state.lastPrinted = events[events.size() - 1].getSeq();
      for (auto event : events) {
        if (isTerminal(event.getTo())) state.ended(event.getTaskId());
      }
    }
    return kj::READY_NOW;
  }

  kj::Promise<void> progress(ProgressContext context) override {
    int64_t now = (kj::systemPreciseCalendarClock().now() - kj::UNIX_EPOCH) / kj::NANOSECONDS;
    kj::Vector<char> out;
    for (auto report : context.getParams().getUpdates()) {
      out.addAll(json ? progressJson(report, now) : progressLine(report, now));
    }
    write(out);
    return kj::READY_NOW;
  }

  kj::Promise<void> fellBehind(FellBehindContext context) override {
    // The watch call returns next, with the same seq; it decides the exit.
    return kj::READY_NOW;
  }

 private:
  WatchState& state;
  const WatchArgs& args;
  bool json;

  // Failure must not unwind into Cap'n Proto's dispatch: it ends the command instead.
  bool write(kj::ArrayPtr<const char> text) {
    try {
      writeOut(text.asBytes());
      return true;
    } catch (Failure& failure) {
      writeError(failure.message);
      state.finished->fulfill(kj::cp(failure.status));
      return false;
    }
  }
};

}  // namespace

int runWatch(Session& session, const WatchArgs& args, const GlobalOptions& global) {
  // Ctrl-C is how a watch normally ends: quietly, 130, as a shell reports SIGINT.
  kj::UnixEventPort::captureSignal(SIGINT);
  WatchState state;
  auto finished = kj::newPromiseAndFulfiller<int>();
  state.finished = kj::mv(finished.fulfiller);
  auto resume = [&]() {
    return resumeCommand(state.resumePoint(state.asked), args.ids, args.progress, global.json);
  };

  uint64_t from = args.from;
  if (args.ids.size() > 0 && args.from == 0) {
    // `watch ID...` follows those tasks to their end. Each is read first: one that has already
    // ended gets its last change printed (it will never change again), and the watch starts
    // right after the earliest read, so that no change after a read is missed.
    kj::Vector<uint64_t> running;
    uint64_t firstRead = UINT64_MAX;
    kj::Vector<char> out;
    for (auto id : args.ids) {
      auto request = session.daemon().statusRequest();
      request.setId(id);
      auto reply = session.answer(request.send());
      auto task = reply.getTask();
      if (isTerminal(task.getState())) {
        out.addAll(global.json ? endedJson(task) : endedLine(task));
      } else {
        running.add(id);
      }
      firstRead = kj::min(firstRead, reply.getLastSeq());
    }
    writeOut(out.asPtr().asBytes());
    if (running.size() == 0) return 0;
    from = firstRead + 1;
    state.running = kj::mv(running);
  }

  state.asked = from;
  auto request = session.daemon().watchRequest();
  request.setFrom(from);
  auto ids = request.initIds(args.ids.size());
  for (size_t i = 0; i < args.ids.size(); i++) ids.set(i, args.ids[i]);
  request.setProgress(args.progress);
  request.setWatcher(kj::heap<PrintingWatcher>(state, args, global.json));

  // The call returns only when the daemon gave up on us; everything else is an error.
  auto ended = request.send().then(
      [&](capnp::Response<rpc::Taskctl::WatchResults>&& reply) {
        writeError(fellBehindMessage(
            resumeCommand(reply.getResumeFrom(), args.ids, args.progress, global.json)));
        return EXIT_OVERLOADED;
      },
      [&](kj::Exception&& exception) {
        if (exception.getType() == kj::Exception::Type::DISCONNECTED) {
          writeError(disconnectedMessage(resume()));
          return EXIT_UNAVAILABLE;
        }
        auto failure = failureFrom(exception);
        writeError(failure.message);
        return failure.status;
      });
  auto interrupted =
      session.io().unixEventPort.onSignal(SIGINT).then([](siginfo_t) { return EXIT_INTERRUPTED; });
  return session.await(
      ended.exclusiveJoin(kj::mv(interrupted)).exclusiveJoin(kj::mv(finished.promise)));
}

}  // namespace taskctl
