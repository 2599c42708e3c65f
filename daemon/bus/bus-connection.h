// The system bus connection, pumped on the daemon's kj loop: no sdbus-c++
// thread, no blocking call once serving (STYLE, "sd-bus pump").
//
// The pump: one FdObserver on the bus fd; each cycle runs in kj::evalLast(),
// drains processPendingRequest() until it returns false, reads
// getEventLoopPollData() and waits on the join of readable, writable (if
// asked), the bus timeout and a poke. A message queued outside the pump (a
// method call from the scheduler, a signal) is followed by poke().
//
// If dbus-daemon goes away the connection is rebuilt: every Client is
// detached at once, then a new connection is tried after 100 ms, doubling to
// 5 s, on a kj timer, and every Client is attached to it. Tasks and RPC never
// wait for any of this.
#pragma once

#include <kj/async-unix.h>
#include <kj/io.h>
#include <kj/timer.h>
#include <kj/vector.h>

#include <memory>

namespace sdbus {
class IConnection;
}

namespace taskctl {

class BusConnection {
 public:
  // What lives on a connection (an object and its name, a proxy and its
  // matches) and must be rebuilt on each new one.
  class Client {
   public:
    virtual ~Client() noexcept(false) = default;

    virtual void attach(sdbus::IConnection& connection) = 0;
    // A connection is up (the first or a new one): register on it. The one
    // place for sdbus-c++ 1.2's blocking calls (requestName, addMatch, signal
    // handler registration); each is bounded by the connection's 1 s method
    // call timeout. Throwing gives up this connection (it is retried).

    virtual void detach() = 0;
    // The connection is gone: drop everything made on it (it is destroyed
    // right after) and fail whatever waits on it with a DISCONNECTED
    // kj::Exception. Must not throw. Runs synchronously in the pump turn
    // that saw the connection break, before any continuation of a reply
    // that connection delivered: such a continuation can tell, with
    // generation(), that its connection is gone.
  };

  enum class Start {
    NOW,         // connect in the constructor; throw DISCONNECTED if impossible
    BACKGROUND,  // never throw: connect from the loop, retrying until it works
  };

  // `port` and `timer` outlive the connection. DBUS_SYSTEM_BUS_ADDRESS is
  // honoured (sd-bus reads it).
  BusConnection(kj::UnixEventPort& port, kj::Timer& timer, Start start);
  ~BusConnection() noexcept(false);
  KJ_DISALLOW_COPY(BusConnection);

  void addClient(Client& client);
  // Until removeClient() (call it before `client` dies). Attached at once
  // if connected; then an attach failure propagates to the caller (and the
  // client stays unregistered). Clients attach in the order they were added.
  void removeClient(Client& client);
  // Detaches it if connected. Harmless for a client never added.

  bool connected() const { return bus != nullptr; }
  kj::Promise<void> whenConnected();
  // Resolves once connected and every client attached (at once if so now).

  uint64_t generation() const { return generationCount; }
  // Counts connections made: a reply whose connection's generation is no
  // longer current (or that arrives while disconnected) came from a
  // connection that broke.

  sdbus::IConnection& connection();
  // Only while connected().

  void poke();
  // Wakes the pump: call after queueing a message from outside a callback.

  struct Stats {
    uint64_t connects = 0, losses = 0, failedAttempts = 0;
  };
  Stats stats() const { return counts; }

 private:
  kj::UnixEventPort& port;
  kj::Timer& timer;
  kj::Vector<Client*> clients;
  std::unique_ptr<sdbus::IConnection> bus;  // null while disconnected
  kj::AutoCloseFd watched;                  // a duplicate of the bus fd
  kj::Own<kj::UnixEventPort::FdObserver> observer;
  kj::Own<kj::PromiseFulfiller<void>> pokeFulfiller;
  kj::Vector<kj::Own<kj::PromiseFulfiller<void>>> connectWaiters;
  uint64_t generationCount = 0;
  kj::Duration retryDelay;
  uint64_t failingSince = 0;  // attempts since the bus went away (0: not away)
  Stats counts;
  kj::Promise<void> life = nullptr;  // pump, then retries, for the object's life

  kj::Maybe<kj::Exception> connectOnce();
  kj::Promise<void> attempt();
  kj::Promise<void> serve();
  kj::Promise<void> pump();
  kj::Promise<void> retryLater();
  void lose(kj::StringPtr why);
};

}  // namespace taskctl
