// One sd-bus connection pumped on the daemon's kj loop: no sdbus-c++ thread,
// no blocking call once serving (STYLE, "sd-bus pump").
//
// The pump: one FdObserver on the bus fd; each cycle runs in kj::evalLast(),
// drains processPendingRequest() until it returns false, reads
// getEventLoopPollData() and waits on the join of readable, writable (if
// asked), the bus timeout and a poke. A call started outside the pump
// (a method call from the scheduler) ends with poke().
#pragma once

#include <kj/async-unix.h>
#include <kj/timer.h>

#include <memory>

namespace sdbus {
class IConnection;
}

namespace taskctl {

class BusConnection {
 public:
  // Connects to the system bus (DBUS_SYSTEM_BUS_ADDRESS is honoured). Throws
  // with sd-bus's reason if it cannot. `port` and `timer` outlive it.
  BusConnection(kj::UnixEventPort& port, kj::Timer& timer);
  ~BusConnection() noexcept(false);

  sdbus::IConnection& connection() { return *bus; }

  void poke();
  // Wakes the pump: call after queueing a message from outside a callback.

  kj::Promise<void> whenBroken();
  // Resolves when the connection fails (dbus-daemon went away).

 private:
  kj::UnixEventPort& port;
  kj::Timer& timer;
  std::unique_ptr<sdbus::IConnection> bus;
  kj::Own<kj::UnixEventPort::FdObserver> observer;
  kj::Own<kj::PromiseFulfiller<void>> pokeFulfiller;
  kj::Own<kj::PromiseFulfiller<void>> brokenFulfiller;
  kj::ForkedPromise<void> broken;
  kj::Promise<void> pumping;

  kj::Promise<void> pump();
};

}  // namespace taskctl
