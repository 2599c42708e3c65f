#include "bus/manager-object.h"

#include <poll.h>

#include <kj/debug.h>
#include <sdbus-c++/sdbus-c++.h>

#include "io.taskctl1-adaptor.h"  // generated from schema/io.taskctl1.xml
#include "scheduler/scheduler.h"  // stateName(), reasonName(): the words watch prints too

namespace taskctl {

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
    KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { value = field(owner.state()); })) {
      throw sdbus::Error("org.freedesktop.DBus.Error.Failed", e->getDescription().cStr());
    }
    return value;
  }

  std::string Version() override {
    return read([](const ManagerState& s) { return std::string(s.version.cStr()); });
  }
  uint32_t Waiting() override { return read([](const ManagerState& s) { return s.waiting; }); }
  uint32_t Queued() override { return read([](const ManagerState& s) { return s.queued; }); }
  uint32_t Running() override { return read([](const ManagerState& s) { return s.running; }); }
  uint32_t Retrying() override { return read([](const ManagerState& s) { return s.retrying; }); }
  uint64_t Succeeded() override {
    return read([](const ManagerState& s) { return s.succeeded; });
  }
  uint64_t Failed() override { return read([](const ManagerState& s) { return s.failed; }); }
  uint64_t Cancelled() override {
    return read([](const ManagerState& s) { return s.cancelled; });
  }
  uint64_t LastSeq() override { return read([](const ManagerState& s) { return s.lastSeq; }); }
};

ManagerObject::ManagerObject(BusConnection& bus, kj::Timer& timer,
                             kj::Function<ManagerState()> state)
    : bus(bus),
      state(kj::mv(state)),
      progress(timer, [this](uint64_t taskId, uint32_t uid, uint32_t attempt, double fraction) {
        sendProgress(taskId, uid, attempt, fraction);
      }) {
  bus.addClient(*this);
}

ManagerObject::~ManagerObject() noexcept(false) { bus.removeClient(*this); }

void ManagerObject::attach(sdbus::IConnection& connection) {
  try {
    // The object first: once the name is ours, calls to it must find it.
    adaptor = kj::heap<Adaptor>(connection, *this);
  } catch (const sdbus::Error& e) {
    kj::throwFatalException(KJ_EXCEPTION(FAILED, "cannot export /io/taskctl1",
                                         e.getMessage().c_str()));
  }
  try {
    connection.requestName(NAME);  // one blocking round trip, at connect only
    named = true;
  } catch (const sdbus::Error& e) {
    // Not fatal: tasks run without it, and the signals still go out from our
    // unique name. On the real system bus only root may own it (the policy).
    named = false;
    KJ_LOG(WARNING, "cannot own the bus name io.taskctl1", e.getName().c_str(),
           e.getMessage().c_str());
  }
}

void ManagerObject::detach() {
  adaptor = nullptr;
  named = false;
}

void ManagerObject::onEvent(records::Event::Reader event) {
  // A held progress value belongs to the state the task just left.
  progress.forget(event.getTaskId());
  enqueue(Outgoing{false, event.getTaskId(), event.getUid(), event.getAttempt(),
                   kj::str(event.getQueue()),
                   event.getCreated() ? kj::StringPtr("") : stateName(event.getFrom()),
                   stateName(event.getTo()), reasonName(event.getReason()), event.getSeq(), 0});
}

void ManagerObject::onProgress(uint64_t taskId, uint32_t uid, uint32_t attempt, double fraction) {
  progress.report(taskId, uid, attempt, fraction);
}

void ManagerObject::sendProgress(uint64_t taskId, uint32_t uid, uint32_t attempt,
                                 double fraction) {
  enqueue(Outgoing{true, taskId, uid, attempt, nullptr, "", "", "", 0, fraction});
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
  KJ_IF_MAYBE(a, adaptor) {
    for (auto& s : batch) {
      try {
        if (s.isProgress) {
          (*a)->emitTaskProgress(s.taskId, s.uid, s.attempt, s.fraction);
          counts.progressSignals++;
        } else {
          (*a)->emitTaskStateChanged(s.taskId, s.uid, s.queue.cStr(), s.from.cStr(), s.to.cStr(),
                                     s.attempt, s.reason.cStr(), s.seq);
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
