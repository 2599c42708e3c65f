// /io/taskctl1 (io.taskctl1.Manager, schema/io.taskctl1.xml) under the name
// io.taskctl1: every state change as TaskStateChanged, live progress as
// TaskProgress (throttled), each with its time and seq, and read-only counts
// (docs/dbus.md). Built anew on each bus connection; events that come while
// the bus is gone are not sent (a client that must see every one uses
// `taskctl watch --from`).
#pragma once

#include <kj/async.h>
#include <kj/function.h>
#include <kj/string.h>
#include <kj/time.h>
#include <kj/timer.h>
#include <kj/vector.h>

#include "bus/bus-connection.h"
#include "bus/progress-throttle.h"
#include "events/event-log.h"

namespace taskctl {

// What the properties show, read on each Get/GetAll (never cached).
struct ManagerState {
  kj::StringPtr version;
  uint32_t waiting = 0, queued = 0, running = 0, retrying = 0;  // tasks in that state now
  uint64_t succeeded = 0, failed = 0, cancelled = 0;            // tasks that got there since start
  uint64_t lastSeq = 0;                                         // the last seq published
  bool drained = false;                                         // `taskctl drain`
  // Submitted since start is counted by the object itself, from the events.
};

class ManagerObject final : public EventListener, private BusConnection::Client {
 public:
  // `bus` and `timer` outlive the object; `state` is called from property
  // reads and must not block. Attaches at once if the bus is up: exports the
  // object and asks for the name (a refusal, such as a non-root caller on the
  // real system bus, is logged and the object serves on without it). While
  // the name is not ours, the object watches for it to be released and takes
  // it then; a name lost while held is watched for again the same way.
  // `clock` (realtime) stamps progress reports; state changes carry the
  // event's own time.
  ManagerObject(BusConnection& bus, kj::Timer& timer, kj::Function<ManagerState()> state,
                const kj::Clock& clock = kj::systemPreciseCalendarClock());
  ~ManagerObject() noexcept(false);
  KJ_DISALLOW_COPY(ManagerObject);

  void onEvent(records::Event::Reader event) override;
  void onProgress(uint64_t taskId, uint32_t uid, uint32_t attempt, double fraction) override;

  bool ownsName() const { return named; }
  // The bus granted io.taskctl1 on the current connection and we have not
  // seen it go since. False while another connection holds it.

  struct Stats {
    uint64_t stateSignals = 0, progressSignals = 0;
    uint64_t dropped = 0;  // not sent: no bus, or sd-bus refused the message
    uint64_t flushes = 0;  // loop turns that sent signals (batches)
  };
  Stats stats() const { return counts; }

  static constexpr const char* NAME = "io.taskctl1";
  static constexpr const char* PATH = "/io/taskctl1";

 private:
  class Adaptor;    // the generated adaptor on one connection (in the .c++)
  class NameWatch;  // follows io.taskctl1's owner on one connection (in the .c++)

  // A signal waiting for the end of the loop turn. The words are static
  // (stateName/reasonName); the queue name is copied, the event is not ours.
  struct Outgoing {
    bool isProgress;
    uint64_t taskId;
    uint32_t uid, attempt;
    kj::String queue;
    kj::StringPtr from, to, reason;
    uint64_t seq;  // a progress signal's: the last state change's before it
    double fraction;
    uint64_t timestamp;  // µs since the epoch
  };

  BusConnection& bus;
  kj::Function<ManagerState()> state;
  const kj::Clock& clock;
  uint64_t submitted = 0;            // created events since start (NSubmittedSinceStart)
  kj::Maybe<uint64_t> lastEventSeq;  // the last event's seq seen, once one was
  ProgressThrottle progress;
  kj::Maybe<kj::Own<Adaptor>> adaptor;      // null while disconnected
  kj::Maybe<kj::Own<NameWatch>> nameWatch;  // null while disconnected
  bool named = false;                       // written by attach() and, once serving, by nameWatch
  Stats counts;
  kj::Vector<Outgoing> outgoing;         // in seq order; sent by flush()
  kj::Promise<void> flushing = nullptr;  // the evalLast that runs flush(), while any wait

  void attach(sdbus::IConnection& connection) override;
  void detach() override;
  void enqueue(Outgoing signal);
  void flush();
  void sendProgress(uint64_t taskId, uint32_t uid, uint32_t attempt, double fraction,
                    uint64_t timestamp);
  void dropped(kj::StringPtr why);
};

}  // namespace taskctl
