#include "bus/bus-connection.h"

#include <errno.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <poll.h>
#include <sdbus-c++/sdbus-c++.h>
#include <string.h>
#include <time.h>

#include "common/errors.h"

namespace taskctl {
namespace {

// sdbus-c++ 1.2's requestName, addMatch and handler registration block for
// one round trip (DESIGN 13). They run only at connect; this bounds them.
constexpr uint64_t BLOCKING_CALL_TIMEOUT_USEC = 1'000'000;
constexpr kj::Duration FIRST_RETRY = 100 * kj::MILLISECONDS;
constexpr kj::Duration LAST_RETRY = 5 * kj::SECONDS;

uint64_t monotonicUsec() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

kj::Exception disconnected(kj::String why) {
  return kj::Exception(kj::Exception::Type::DISCONNECTED, __FILE__, __LINE__, kj::mv(why));
}

}  // namespace

BusConnection::BusConnection(kj::UnixEventPort& port, kj::Timer& timer, Start start)
    : port(port), timer(timer), retryDelay(FIRST_RETRY) {
  if (start == Start::NOW) {
    KJ_IF_MAYBE (e, connectOnce()) {
      rethrow(kj::mv(*e));
    }
    life = serve();
  } else {
    life = kj::evalLater([this]() { return attempt(); });
  }
  life = life.eagerlyEvaluate([](kj::Exception&& e) {
    KJ_LOG(ERROR, "system bus connection gave up", e);  // a bug: the loop retries forever
  });
}

BusConnection::~BusConnection() noexcept(false) {
  // `life` (the pump) goes first, then the observer, then the connection:
  // the member order does it.
}

void BusConnection::addClient(Client& client) {
  if (bus != nullptr) client.attach(*bus);
  clients.add(&client);
}

void BusConnection::removeClient(Client& client) {
  for (size_t i = 0; i < clients.size(); i++) {
    if (clients[i] != &client) continue;
    if (bus != nullptr) client.detach();
    for (size_t j = i + 1; j < clients.size(); j++) clients[j - 1] = clients[j];
    clients.removeLast();
    return;
  }
}

kj::Promise<void> BusConnection::whenConnected() {
  if (bus != nullptr) return kj::READY_NOW;
  // Waiters that gave up would otherwise pile up over a long outage.
  kj::Vector<kj::Own<kj::PromiseFulfiller<void>>> live;
  for (auto& w : connectWaiters) {
    if (w->isWaiting()) live.add(kj::mv(w));
  }
  connectWaiters = kj::mv(live);
  auto paf = kj::newPromiseAndFulfiller<void>();
  connectWaiters.add(kj::mv(paf.fulfiller));
  return kj::mv(paf.promise);
}

sdbus::IConnection& BusConnection::connection() {
  KJ_REQUIRE(bus != nullptr, "the system bus is not connected");
  return *bus;
}

void BusConnection::poke() {
  if (pokeFulfiller.get() != nullptr && pokeFulfiller->isWaiting()) pokeFulfiller->fulfill();
}

kj::Maybe<kj::Exception> BusConnection::connectOnce() {
  KJ_ASSERT(bus == nullptr);
  std::unique_ptr<sdbus::IConnection> fresh;
  int fd;
  try {
    // sd_bus_open_system(): honours DBUS_SYSTEM_BUS_ADDRESS. Its handshake
    // is synchronous in sdbus-c++ 1.2; a missing bus fails at once.
    fresh = sdbus::createSystemBusConnection();
    fresh->setMethodCallTimeout(BLOCKING_CALL_TIMEOUT_USEC);
    fd = fresh->getEventLoopPollData().fd;
  } catch (const sdbus::Error& e) {
    return disconnected(kj::str("cannot connect to the system bus: ", e.getMessage().c_str()));
  }
  bus = kj::mv(fresh);
  // sd-bus closes its fd itself when the peer goes away, and epoll forgets a
  // closed fd: the observer watches a duplicate we close after it.
  int dup = -1;
  KJ_SYSCALL_HANDLE_ERRORS(dup = fcntl(fd, F_DUPFD_CLOEXEC, 3)) {
    default:
      bus.reset();
      return disconnected(kj::str("cannot watch the bus fd: ", strerror(error)));
  }
  watched = kj::AutoCloseFd(dup);
  observer = kj::heap<kj::UnixEventPort::FdObserver>(
      port, watched.get(),
      kj::UnixEventPort::FdObserver::OBSERVE_READ | kj::UnixEventPort::FdObserver::OBSERVE_WRITE);
  generationCount++;
  size_t attached = 0;
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() {
                 for (auto* client : clients) {
                   client->attach(*bus);
                   attached++;
                 }
               })) {
    while (attached > 0) clients[--attached]->detach();
    observer = nullptr;
    watched = nullptr;
    bus.reset();
    return disconnected(kj::str("setting up on the system bus failed: ", e->getDescription()));
  }
  counts.connects++;
  retryDelay = FIRST_RETRY;
  for (auto& w : connectWaiters) w->fulfill();
  connectWaiters.clear();
  return nullptr;
}

kj::Promise<void> BusConnection::attempt() {
  KJ_IF_MAYBE (e, connectOnce()) {
    // One line per outage, not one per attempt.
    counts.failedAttempts++;
    if (failingSince++ == 0) KJ_LOG(WARNING, "no system bus; retrying", e->getDescription());
    return retryLater();
  }
  if (failingSince > 0) {
    uint64_t attempts = failingSince;
    KJ_LOG(INFO, "connected to the system bus again", attempts);
  }
  failingSince = 0;
  return serve();
}

kj::Promise<void> BusConnection::retryLater() {
  auto delay = retryDelay;
  retryDelay = kj::min(retryDelay * 2, LAST_RETRY);
  return timer.afterDelay(delay).then([this]() { return attempt(); });
}

kj::Promise<void> BusConnection::serve() {
  return pump().catch_([this](kj::Exception&& e) {
    if (bus != nullptr) lose(e.getDescription());  // not through lose() already: not sd-bus's
    return retryLater();
  });
}

void BusConnection::lose(kj::StringPtr why) {
  KJ_LOG(WARNING, "system bus connection lost; reconnecting", why);
  counts.losses++;
  failingSince = 1;  // "connected again" once it is back
  // Dependents first: nothing made on the connection may outlive it.
  for (size_t i = clients.size(); i-- > 0;) clients[i]->detach();
  pokeFulfiller = nullptr;
  observer = nullptr;  // before the fd it watches is closed
  watched = nullptr;
  bus.reset();
}

kj::Promise<void> BusConnection::pump() {
  return kj::evalLast([this]() -> kj::Promise<void> {
    // Drain, then arm, in the same turn: the observer is edge-triggered.
    sdbus::IConnection::PollData pd;
    try {
      // processPendingRequest() can say "nothing more" with work left: an
      // sdbus-c++ 1.2 reply handler returns 0, and sd-bus passes that on
      // while it fails the calls of a dying connection one by one. A zero
      // timeout means "process again now": do, within this turn (bounded),
      // so that the whole breakdown is seen before any continuation runs.
      for (int round = 0; round < 64; round++) {
        while (bus->processPendingRequest()) {
        }
        pd = bus->getEventLoopPollData();
        if (pd.timeout_usec != 0) break;
      }
    } catch (const sdbus::Error& e) {
      // Detach now, inside this turn: a continuation of a reply this drain
      // delivered must find the connection gone (see Client::detach).
      auto why = kj::str(e.getMessage().c_str());
      lose(why);
      return disconnected(kj::mv(why));
    }
    auto paf = kj::newPromiseAndFulfiller<void>();
    pokeFulfiller = kj::mv(paf.fulfiller);
    kj::Promise<void> wake = observer->whenBecomesReadable().exclusiveJoin(kj::mv(paf.promise));
    if (pd.events & POLLOUT) wake = wake.exclusiveJoin(observer->whenBecomesWritable());
    if (pd.timeout_usec != UINT64_MAX) {
      uint64_t now = monotonicUsec();
      uint64_t wait = pd.timeout_usec > now ? pd.timeout_usec - now : 0;
      wake = wake.exclusiveJoin(timer.afterDelay(wait * kj::MICROSECONDS));
    }
    return wake.then([this]() { return pump(); });
  });
}

}  // namespace taskctl
