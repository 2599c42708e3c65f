// The systemd1 client: transient scopes and their signals, over the daemon's
// pumped bus connection. The only place that speaks org.freedesktop.systemd1.
#pragma once

#include <kj/async.h>
#include <kj/map.h>
#include <kj/timer.h>

#include <memory>

#include "bus/bus-connection.h"
#include "runner/scope-manager.h"

namespace sdbus {
class IProxy;
class MethodCall;
}

namespace taskctl {

class SystemdManager final : public ScopeManager, private BusConnection::Client {
 public:
  // `bus` and `timer` outlive the manager. On each connection (now, if the
  // bus is up, and after every reconnect) it makes its proxy, registers for
  // JobRemoved (one blocking round trip) and calls Subscribe. Throws if that
  // fails on the connection up now.
  SystemdManager(BusConnection& bus, kj::Timer& timer);
  ~SystemdManager() noexcept(false);
  KJ_DISALLOW_COPY(SystemdManager);

  // While the bus is gone, or when it goes away under a call, these reject
  // with a DISCONNECTED kj::Exception; other failures are FAILED.
  kj::Promise<void> startScope(const ScopeRequest& request) override;
  kj::Promise<void> killUnit(kj::StringPtr unit, int signal) override;
  kj::Promise<void> stopUnit(kj::StringPtr unit) override;

  bool connected() override { return proxy != nullptr; }
  kj::Promise<void> whenConnected() override { return bus.whenConnected(); }

  class InFlight;  // a method call waiting for its reply (in the .c++)

 private:
  BusConnection& bus;
  kj::Timer& timer;
  std::unique_ptr<sdbus::IProxy> proxy;  // null while disconnected
  // Who waits for which job's JobRemoved, and results seen before the reply
  // that named the job (job paths are never reused within a connection).
  kj::HashMap<kj::String, kj::Own<kj::PromiseFulfiller<kj::String>>> waiting;
  kj::HashMap<kj::String, kj::String> ended;
  kj::Vector<InFlight*> inFlight;  // rejected by detach()
  struct LogErrors final : public kj::TaskSet::ErrorHandler {
    void taskFailed(kj::Exception&& e) override;
  } logErrors;
  kj::TaskSet background;  // Subscribe

  void attach(sdbus::IConnection& connection) override;
  void detach() override;

  kj::Promise<kj::String> send(sdbus::MethodCall& message, bool wantsJob);
  // The reply's job path ("" unless `wantsJob`), parsed in the callback:
  // no sdbus-c++ message outlives the pump turn that delivered it.
  kj::Promise<kj::String> jobResult(kj::String job, uint64_t generation);
  void onJobRemoved(kj::StringPtr job, kj::StringPtr result);
  kj::Exception classify(kj::Exception&& e, uint64_t generation);
};

bool isCgroupV2();
bool systemdIsInit();
// systemd is PID 1 (sd_booted: /run/systemd/system exists).

}  // namespace taskctl
