// The systemd1 client: transient scopes and their signals, over the daemon's
// pumped bus connection. The only place that speaks org.freedesktop.systemd1.
#pragma once

#include <kj/async.h>
#include <kj/timer.h>

#include <map>
#include <memory>
#include <string>

#include "bus/bus-connection.h"
#include "runner/scope-manager.h"

namespace sdbus {
class IProxy;
}

namespace taskctl {

class SystemdManager final : public ScopeManager {
 public:
  // `bus` and `timer` outlive the manager. Subscribes to the manager's
  // signals (one blocking round trip, at construction only).
  SystemdManager(BusConnection& bus, kj::Timer& timer);
  ~SystemdManager() noexcept(false);

  kj::Promise<void> startScope(const ScopeRequest& request) override;
  kj::Promise<void> killUnit(kj::StringPtr unit, int signal) override;
  kj::Promise<void> stopUnit(kj::StringPtr unit) override;

 private:
  struct JobWait {
    kj::Own<kj::PromiseFulfiller<kj::String>> fulfiller;  // the job's result
  };

  BusConnection& bus;
  kj::Timer& timer;
  std::unique_ptr<sdbus::IProxy> proxy;
  std::map<std::string, JobWait> waiting;   // job path -> who waits for it
  std::map<std::string, std::string> ended;  // JobRemoved seen before the reply

  kj::Promise<kj::String> call(kj::StringPtr method, kj::Function<void(void*)> fill);
  kj::Promise<kj::String> jobResult(kj::String job);
  void onJobRemoved(std::string job, std::string result);
};

bool isCgroupV2();
bool systemdIsInit();
// systemd is PID 1 (sd_booted: /run/systemd/system exists).

}  // namespace taskctl
