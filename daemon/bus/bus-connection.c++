#include "bus/bus-connection.h"

#include <poll.h>
#include <time.h>

#include <kj/debug.h>
#include <sdbus-c++/sdbus-c++.h>

namespace taskctl {
namespace {

uint64_t monotonicUsec() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

std::unique_ptr<sdbus::IConnection> connectSystem() {
  try {
    return sdbus::createSystemBusConnection();
  } catch (const sdbus::Error& e) {
    kj::throwFatalException(kj::Exception(kj::Exception::Type::DISCONNECTED, __FILE__, __LINE__,
        kj::str("cannot connect to the system bus: ", e.getMessage().c_str())));
  }
}

}  // namespace

BusConnection::BusConnection(kj::UnixEventPort& port, kj::Timer& timer)
    : port(port), timer(timer), bus(connectSystem()), broken(nullptr), pumping(nullptr) {
  auto pd = bus->getEventLoopPollData();
  observer = kj::heap<kj::UnixEventPort::FdObserver>(
      port, pd.fd,
      kj::UnixEventPort::FdObserver::OBSERVE_READ | kj::UnixEventPort::FdObserver::OBSERVE_WRITE);
  auto paf = kj::newPromiseAndFulfiller<void>();
  brokenFulfiller = kj::mv(paf.fulfiller);
  broken = paf.promise.fork();
  pumping = pump().eagerlyEvaluate([this](kj::Exception&& e) {
    KJ_LOG(ERROR, "system bus connection failed", e.getDescription());
    brokenFulfiller->fulfill();
  });
}

BusConnection::~BusConnection() noexcept(false) {}

void BusConnection::poke() {
  if (pokeFulfiller.get() != nullptr && pokeFulfiller->isWaiting()) pokeFulfiller->fulfill();
}

kj::Promise<void> BusConnection::whenBroken() { return broken.addBranch(); }

kj::Promise<void> BusConnection::pump() {
  return kj::evalLast([this]() -> kj::Promise<void> {
    // Drain, then arm, in the same turn: the observer is edge-triggered.
    try {
      while (bus->processPendingRequest()) {
      }
    } catch (const sdbus::Error& e) {
      kj::throwFatalException(kj::Exception(kj::Exception::Type::DISCONNECTED, __FILE__, __LINE__,
                                            kj::str(e.getMessage().c_str())));
    }
    auto pd = bus->getEventLoopPollData();
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
