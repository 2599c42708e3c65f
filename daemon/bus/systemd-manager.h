// The systemd1 client: transient scopes and their signals, over the daemon's
// pumped bus connection. The only place that speaks org.freedesktop.systemd1.
#pragma once

#include <kj/async.h>
#include <kj/map.h>
#include <kj/timer.h>

#include <functional>
#include <memory>

#include "bus/bus-connection.h"
#include "runner/scope-manager.h"
#include "timers/systemd-units.h"

namespace sdbus {
class IProxy;
class MethodCall;
}  // namespace sdbus

namespace taskctl {

class SystemdManager final : public ScopeManager,
                             public SystemdUnits,
                             private BusConnection::Client {
 public:
  // `bus` and `timer` outlive the manager. On each connection (now, if the
  // bus is up, and after every reconnect) it makes its proxy and registers
  // for JobRemoved and for systemd's own comings and goings on the bus (two
  // blocking round trips), then asks whether systemd is there; each time
  // systemd appears it calls Subscribe. Throws if registering fails on the
  // connection up now.
  SystemdManager(BusConnection& bus, kj::Timer& timer);
  ~SystemdManager() noexcept(false);
  KJ_DISALLOW_COPY(SystemdManager);

  // While the bus is gone, or when it goes away under a call, these reject
  // with a DISCONNECTED kj::Exception; other failures are FAILED.
  kj::Promise<void> startScope(const ScopeRequest& request) override;
  kj::Promise<void> killUnit(kj::StringPtr unit, int signal) override;
  kj::Promise<void> stopUnit(kj::StringPtr unit) override;
  kj::Promise<void> setLimits(kj::StringPtr unit, const ScopeLimits& limits) override;
  kj::Promise<void> freezeUnit(kj::StringPtr unit, bool frozen) override;

  // Schedules' unit files (SystemdUnits): the same rules.
  kj::Promise<void> reload() override;
  kj::Promise<void> enableUnitFiles(kj::Array<kj::String> files) override;
  kj::Promise<void> disableUnitFiles(kj::Array<kj::String> files) override;
  kj::Promise<void> startUnit(kj::StringPtr unit) override;
  kj::Promise<TimerTimes> timerTimes(kj::StringPtr unit) override;

  bool connected() override { return proxy != nullptr && systemdPresent; }
  // Our bus is up and systemd is on it: after `systemctl restart dbus`
  // systemd comes back to the new bus some time after we do.
  kj::Promise<void> whenConnected() override;

  class InFlight;  // a method call waiting for its reply (in the .c++)

 private:
  BusConnection& bus;
  kj::Timer& timer;
  std::unique_ptr<sdbus::IProxy> proxy;      // null while disconnected
  std::unique_ptr<sdbus::IProxy> busDriver;  // org.freedesktop.DBus, for GetNameOwner
  std::unique_ptr<void, std::function<void(void*)>> ownerMatch;  // NameOwnerChanged of systemd1
  bool systemdPresent = false;  // org.freedesktop.systemd1 has an owner on our connection
  uint64_t systemdEpoch = 0;    // counts systemd's arrivals and departures
  kj::Vector<kj::Own<kj::PromiseFulfiller<void>>> readyWaiters;
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
  void askForSystemd();
  void systemdOwner(bool present);
  void failWaiters(kj::StringPtr why);

  // What a reply carries, parsed in the callback.
  enum class Reply { NOTHING, OBJECT_PATH, UINT64_VARIANT };
  kj::Promise<kj::String> send(sdbus::MethodCall& message, bool wantsJob);
  kj::Promise<kj::String> send(sdbus::IProxy& target, sdbus::MethodCall& message, Reply reply);
  kj::Promise<void> jobDone(kj::Promise<kj::String> job, kj::String what);
  // The reply's job path ("" unless `wantsJob`; a Reply::UINT64_VARIANT as
  // decimal text), parsed in the callback:
  // no sdbus-c++ message outlives the pump turn that delivered it.
  struct Epoch {
    uint64_t connection, systemd;  // what a call's reply is only valid for
  };
  Epoch epoch() const { return {bus.generation(), systemdEpoch}; }
  bool current(Epoch e) const;
  kj::Promise<kj::String> jobResult(kj::String job, Epoch sent);
  void onJobRemoved(kj::StringPtr job, kj::StringPtr result);
  kj::Exception classify(kj::Exception&& e, Epoch sent);
};

bool isCgroupV2();
bool systemdIsInit();
// systemd is PID 1 (sd_booted: /run/systemd/system exists).

}  // namespace taskctl
