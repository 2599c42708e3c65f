#include "bus/manager-object.h"

#include <kj/debug.h>
#include <poll.h>
#include <sdbus-c++/sdbus-c++.h>

#include "common/errors.h"
#include "common/task-words.h"    // the words watch prints too
#include "io.taskctl1-adaptor.h"  // generated from schema/io.taskctl1.xml

namespace taskctl {
namespace {

constexpr const char* DBUS = "org.freedesktop.DBus";
// Only io.taskctl1's changes of owner, not every client's arrival and
// departure (arg0 is the name).
constexpr const char* NAME_OWNER_MATCH =
    "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
    "interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='io.taskctl1'";
// RequestName's flag and answers (the D-Bus specification). DO_NOT_QUEUE is
// what sd_bus_request_name() sends for attach()'s request too: a refusal
// is an answer now, not a place in a queue we would have to track.
constexpr uint32_t DO_NOT_QUEUE = 4;
constexpr uint32_t PRIMARY_OWNER = 1, ALREADY_OWNER = 4;

}  // namespace

// The object on one connection. The generated base registers the vtable;
// registerAdaptor() exports it (local, no round trip).
class ManagerObject::Adaptor final
    : public sdbus::AdaptorInterfaces<io::taskctl1::Manager_adaptor> {
 public:
  Adaptor(sdbus::IConnection& connection, ManagerObject& owner)
      : AdaptorInterfaces(connection, PATH), owner(owner) {
    registerAdaptor();
  }
  ~Adaptor() { unregisterAdaptor(); }

 private:
  ManagerObject& owner;

  // Getters run inside sd-bus's C frames, which sdbus-c++ guards for
  // sdbus::Error only: anything else becomes one.
  template <typename Field>
  auto read(Field&& field) -> decltype(field(ManagerState())) {
    decltype(field(ManagerState())) value{};
    KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() { value = field(owner.state()); })) {
      throw sdbus::Error("org.freedesktop.DBus.Error.Failed", e->getDescription().cStr());
    }
    return value;
  }

  std::string Version() override {
    return read([](const ManagerState& s) { return std::string(s.version.cStr()); });
  }
  // Named and typed as systemd's NJobs and NInstalledJobs: u, and the
  // since-start counts wrap at 2^32 as those do.
  uint32_t NWaiting() override {
    return read([](const ManagerState& s) { return s.waiting; });
  }
  uint32_t NQueued() override {
    return read([](const ManagerState& s) { return s.queued; });
  }
  uint32_t NRunning() override {
    return read([](const ManagerState& s) { return s.running; });
  }
  uint32_t NRetrying() override {
    return read([](const ManagerState& s) { return s.retrying; });
  }
  uint32_t NSubmittedSinceStart() override { return static_cast<uint32_t>(owner.submitted); }
  uint32_t NSucceededSinceStart() override { return static_cast<uint32_t>(Succeeded()); }
  uint32_t NFailedSinceStart() override { return static_cast<uint32_t>(Failed()); }
  uint32_t NCancelledSinceStart() override { return static_cast<uint32_t>(Cancelled()); }
  uint64_t LastSeq() override {
    return read([](const ManagerState& s) { return s.lastSeq; });
  }
  bool Drained() override {
    return read([](const ManagerState& s) { return s.drained; });
  }
  // 0.1.0's names, kept (deprecated in the XML) for the clients written then.
  uint32_t Waiting() override { return NWaiting(); }
  uint32_t Queued() override { return NQueued(); }
  uint32_t Running() override { return NRunning(); }
  uint32_t Retrying() override { return NRetrying(); }
  uint64_t Succeeded() override {
    return read([](const ManagerState& s) { return s.succeeded; });
  }
  uint64_t Failed() override {
    return read([](const ManagerState& s) { return s.failed; });
  }
  uint64_t Cancelled() override {
    return read([](const ManagerState& s) { return s.cancelled; });
  }
};

// io.taskctl1's owner, followed on one connection, so that a name another
// process held when we connected (a stale daemon during an upgrade, a test
// tool) is taken as soon as it is free, and one lost while held is taken
// back. One match does both: NameOwnerChanged names us as the old owner when
// we lose the name (no separate NameLost match, each costs a blocking round
// trip at connect), and an empty new owner when the name is free.
class ManagerObject::NameWatch {
 public:
  // Blocks for addMatch's one round trip (the connection's 1 s timeout):
  // made in attach() only. Throws sdbus::Error.
  NameWatch(sdbus::IConnection& connection, ManagerObject& owner)
      : owner(owner),
        self(kj::str(connection.getUniqueName().c_str())),
        driver(sdbus::createProxy(connection, DBUS, "/org/freedesktop/DBus")) {
    match = connection.addMatch(NAME_OWNER_MATCH, [this](sdbus::Message& message) {
      // Runs inside sd-bus's C frames: nothing may unwind into them.
      KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() { ownerChanged(message); })) {
        KJ_LOG(ERROR, "bad NameOwnerChanged signal for io.taskctl1", *e);
      }
    });
  }
  ~NameWatch() {
    // The reply handler and the match refer to us. Dropping the match sends
    // RemoveMatch without waiting for the answer.
    request.cancel();
    match.reset();
  }
  KJ_DISALLOW_COPY(NameWatch);

 private:
  ManagerObject& owner;
  kj::String self;                        // our unique name on this connection
  std::unique_ptr<sdbus::IProxy> driver;  // org.freedesktop.DBus, for RequestName
  sdbus::Slot match;
  sdbus::PendingAsyncCall request;
  bool requesting = false;  // a RequestName is in flight

  void ownerChanged(sdbus::Message& message) {
    std::string name, before, after;
    message >> name >> before >> after;
    if (before == self.cStr()) lost();
    if (after == self.cStr()) {
      gained();  // also the echo of our own request, then a no-op
    } else if (after.empty() && !owner.named && !requesting) {
      // While a request is in flight, a release it raced with came before it
      // (the bus answers in order), so its answer already tells; a later
      // release is seen after that answer, and asks again.
      ask();
    }
  }

  void ask() {
    // Asynchronous, unlike attach()'s request: this runs in the pump, after
    // the daemon has started serving, where nothing may wait for the bus.
    try {
      auto call = driver->createMethodCall(DBUS, "RequestName");
      call << std::string(NAME) << DO_NOT_QUEUE;
      request =
          driver->callMethod(call, [this](sdbus::MethodReply& reply, const sdbus::Error* error) {
            KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() { answered(reply, error); })) {
              KJ_LOG(ERROR, "bad RequestName reply for io.taskctl1", *e);
            }
          });
      requesting = true;
      // Sent from a handler inside the pump's drain: the pump re-arms for
      // POLLOUT itself if the socket did not take it all, no poke() needed.
    } catch (const sdbus::Error& e) {
      KJ_LOG(WARNING, "cannot ask for the bus name io.taskctl1", e.getName().c_str(),
             e.getMessage().c_str());
    }
  }

  void answered(sdbus::MethodReply& reply, const sdbus::Error* error) {
    requesting = false;
    if (error != nullptr) {
      // Once per release of the name at most. A timed-out request the bus
      // granted after all still shows as NameOwnerChanged to us.
      KJ_LOG(WARNING, "cannot own the bus name io.taskctl1", error->getName().c_str(),
             error->getMessage().c_str());
      return;
    }
    uint32_t answer = 0;
    reply >> answer;
    if (answer == PRIMARY_OWNER || answer == ALREADY_OWNER) gained();
    // EXISTS: another connection took it first; its release is watched for.
  }

  void gained() {
    if (owner.named) return;  // one line per acquisition, not per signal
    owner.named = true;
    KJ_LOG(INFO, "owns io.taskctl1 now, after another owner released it");
  }

  void lost() {
    if (!owner.named) return;
    owner.named = false;
    KJ_LOG(WARNING, "lost the bus name io.taskctl1; taking it back once it is free");
  }
};

ManagerObject::ManagerObject(BusConnection& bus, kj::Timer& timer,
                             kj::Function<ManagerState()> state, const kj::Clock& clock)
    : bus(bus),
      state(kj::mv(state)),
      clock(clock),
      progress(timer, [this](uint64_t taskId, uint32_t uid, uint32_t attempt, double fraction,
                             uint64_t timestamp) {
        sendProgress(taskId, uid, attempt, fraction, timestamp);
      }) {
  bus.addClient(*this);
}

ManagerObject::~ManagerObject() noexcept(false) { bus.removeClient(*this); }

void ManagerObject::attach(sdbus::IConnection& connection) {
  try {
    // The object first: once the name is ours, calls to it must find it.
    adaptor = kj::heap<Adaptor>(connection, *this);
  } catch (const sdbus::Error& e) {
    refuse(kj::str("cannot export /io/taskctl1: ", e.getMessage().c_str()));
  }
  try {
    // Before the request: a release between the two is then seen, not missed.
    nameWatch = kj::heap<NameWatch>(connection, *this);
  } catch (const sdbus::Error& e) {
    // BusConnection detaches only the clients whose attach() returned.
    detach();
    refuse(kj::str("cannot watch the owner of io.taskctl1: ", e.getMessage().c_str()));
  }
  try {
    connection.requestName(NAME);  // one blocking round trip, at connect only
    named = true;
  } catch (const sdbus::Error& e) {
    // Not fatal: tasks run without it, and the signals still go out from our
    // unique name. On the real system bus only root may own it (the policy).
    // The watch takes it once its owner lets go.
    named = false;
    KJ_LOG(WARNING, "cannot own the bus name io.taskctl1 now; taking it once it is free",
           e.getName().c_str(), e.getMessage().c_str());
  }
}

void ManagerObject::detach() {
  nameWatch = nullptr;
  adaptor = nullptr;
  named = false;
}

void ManagerObject::onEvent(records::Event::Reader event) {
  // A hold or release that changes no state ("held" on a waiting task) is
  // no state change for the signal: `watch` shows it.
  if (!event.getCreated() && event.getFrom() == event.getTo()) return;
  // A held progress value belongs to the state the task just left.
  progress.forget(event.getTaskId());
  // Counted and remembered with or without a bus: properties read later
  // must not depend on whether the bus was up when the task came.
  if (event.getCreated()) submitted++;
  lastEventSeq = event.getSeq();
  // The event's own time (ns), as stored and as watch prints it.
  uint64_t timestamp = event.getAt() > 0 ? static_cast<uint64_t>(event.getAt()) / 1000 : 0;
  enqueue(Outgoing{
      false, event.getTaskId(), event.getUid(), event.getAttempt(), kj::str(event.getQueue()),
      event.getCreated() ? kj::StringPtr("") : stateName(event.getFrom()), stateName(event.getTo()),
      reasonName(event.getReason()), event.getSeq(), 0, timestamp});
}

void ManagerObject::onProgress(uint64_t taskId, uint32_t uid, uint32_t attempt, double fraction) {
  // Stamped on arrival: the throttle may hold a value up to its interval.
  auto sinceEpoch = clock.now() - kj::UNIX_EPOCH;
  uint64_t timestamp = sinceEpoch > 0 * kj::SECONDS ? sinceEpoch / kj::MICROSECONDS : 0;
  progress.report(taskId, uid, attempt, fraction, timestamp);
}

void ManagerObject::sendProgress(uint64_t taskId, uint32_t uid, uint32_t attempt, double fraction,
                                 uint64_t timestamp) {
  // Progress has no seq of its own: it carries the last state change's, which
  // went out before it (the outgoing queue keeps order). A task reports only
  // once it runs, so an event has been seen; the store's last seq otherwise.
  uint64_t seq = 0;
  KJ_IF_MAYBE (last, lastEventSeq) {
    seq = *last;
  } else {
    seq = state().lastSeq;
  }
  enqueue(Outgoing{true, taskId, uid, attempt, nullptr, "", "", "", seq, fraction, timestamp});
}

void ManagerObject::enqueue(Outgoing signal) {
  // Events are published in the turn their commit became durable, ahead of
  // the RPC replies waiting on the same commit. Sending right away would put
  // a sendmsg, and dbus-daemon waking up on one of the two cores, in front of
  // every reply. So they wait until the turn has nothing else to do, and go
  // out together: fewer wakeups of the bus and of its subscribers, same order.
  if (adaptor == nullptr) {
    counts.dropped++;  // no bus now: not kept for later (watch --from is the lossless path)
    return;
  }
  if (outgoing.empty()) {
    flushing = kj::evalLast([this]() { flush(); }).eagerlyEvaluate([](kj::Exception&& e) {
      KJ_LOG(ERROR, "sending D-Bus signals failed", e);
    });
  }
  outgoing.add(kj::mv(signal));
}

void ManagerObject::flush() {
  auto batch = kj::mv(outgoing);
  KJ_IF_MAYBE (a, adaptor) {
    for (auto& s : batch) {
      try {
        if (s.isProgress) {
          (*a)->emitTaskProgress(s.taskId, s.uid, s.attempt, s.fraction, s.timestamp, s.seq);
          counts.progressSignals++;
        } else {
          (*a)->emitTaskStateChanged(s.taskId, s.uid, s.queue.cStr(), s.from.cStr(), s.to.cStr(),
                                     s.attempt, s.reason.cStr(), s.seq, s.timestamp);
          counts.stateSignals++;
        }
      } catch (const sdbus::Error& e) {
        dropped(e.getMessage().c_str());
      }
    }
    counts.flushes++;
    // sd-bus wrote each message at once if the socket took it. Only the rest
    // of one it could not (the socket full) waits for POLLOUT, which needs the
    // pump to re-arm; waking it otherwise costs a pump cycle and a recvmsg.
    if (bus.connection().getEventLoopPollData().events & POLLOUT) bus.poke();
  } else {
    counts.dropped += batch.size();
  }
}

void ManagerObject::dropped(kj::StringPtr why) {
  // Signals are best effort (watch is the lossless path); say so, rarely.
  if (counts.dropped++ % 1000 == 0) {
    uint64_t total = counts.dropped;
    KJ_LOG(WARNING, "a D-Bus signal could not be sent", why, total);
  }
}

}  // namespace taskctl
