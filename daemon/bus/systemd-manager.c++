#include "bus/systemd-manager.h"

#include <linux/magic.h>
#include <sys/statfs.h>
#include <systemd/sd-daemon.h>

#include <kj/debug.h>
#include <sdbus-c++/sdbus-c++.h>

namespace taskctl {
namespace {

constexpr const char* SYSTEMD = "org.freedesktop.systemd1";
constexpr const char* MANAGER_PATH = "/org/freedesktop/systemd1";
constexpr const char* MANAGER = "org.freedesktop.systemd1.Manager";
// A daemon-reexec can drop JobRemoved: never wait for it without a deadline.
constexpr kj::Duration JOB_DEADLINE = 30 * kj::SECONDS;
constexpr uint64_t CALL_TIMEOUT_USEC = 25 * 1000 * 1000;

using Property = sdbus::Struct<std::string, sdbus::Variant>;

kj::Exception busError(const sdbus::Error& e) {
  return kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__,
                       kj::str(e.getMessage().c_str(), " (", e.getName().c_str(), ")"));
}

// A method call in flight. Dropping the promise cancels the call, so its
// reply never reaches a fulfiller that is gone.
struct Pending {
  sdbus::PendingAsyncCall call;
  ~Pending() {
    if (call.isPending()) call.cancel();
  }
};

kj::Promise<sdbus::MethodReply> send(sdbus::IProxy& proxy, BusConnection& bus,
                                     sdbus::MethodCall& message) {
  auto paf = kj::newPromiseAndFulfiller<sdbus::MethodReply>();
  auto pending = kj::heap<Pending>();
  // The fulfiller outlives the call: the callback only runs while `pending`
  // (attached to the promise) has not cancelled it.
  auto* fulfiller = paf.fulfiller.get();
  pending->call = proxy.callMethod(
      message,
      [fulfiller](sdbus::MethodReply& reply, const sdbus::Error* error) {
        // Nothing may unwind into sd-bus's C frames.
        KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
                      if (error != nullptr) {
                        fulfiller->reject(busError(*error));
                      } else {
                        fulfiller->fulfill(kj::cp(reply));
                      }
                    })) {
          KJ_LOG(ERROR, "bus reply handler failed", *e);
        }
      },
      CALL_TIMEOUT_USEC);
  bus.poke();
  return paf.promise.attach(kj::mv(paf.fulfiller), kj::mv(pending));
}

}  // namespace

bool isCgroupV2() {
  struct statfs fs;
  return statfs("/sys/fs/cgroup", &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
}

bool systemdIsInit() { return sd_booted() > 0; }

SystemdManager::SystemdManager(BusConnection& bus, kj::Timer& timer)
    : bus(bus), timer(timer) {
  try {
    // The IConnection& overload: the proxy stays on our thread and our pump.
    proxy = sdbus::createProxy(bus.connection(), SYSTEMD, MANAGER_PATH);
    proxy->registerSignalHandler(MANAGER, "JobRemoved", [this](sdbus::Signal& signal) {
      KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
                    uint32_t id;
                    sdbus::ObjectPath job;
                    std::string unit, result;
                    signal >> id >> job >> unit >> result;
                    onJobRemoved(job, result);
                  })) {
        KJ_LOG(ERROR, "bad JobRemoved signal", *e);
      }
    });
    proxy->finishRegistration();  // addMatch: one blocking round trip, at connect only
  } catch (const sdbus::Error& e) {
    kj::throwFatalException(busError(e));
  }
  // Without Subscribe() systemd may not send JobRemoved to us.
  auto subscribe = proxy->createMethodCall(MANAGER, "Subscribe");
  auto done = send(*proxy, bus, subscribe).ignoreResult().eagerlyEvaluate([](kj::Exception&& e) {
    KJ_LOG(WARNING, "systemd Subscribe failed", e.getDescription());
  });
  // Held by the loop until it resolves: detach is fine, it owns nothing of ours but the proxy,
  // which lives as long as this object, which lives as long as the daemon.
  done.detach([](kj::Exception&&) {});
}

SystemdManager::~SystemdManager() noexcept(false) {}

void SystemdManager::onJobRemoved(std::string job, std::string result) {
  auto it = waiting.find(job);
  if (it != waiting.end()) {
    it->second.fulfiller->fulfill(kj::str(result.c_str()));
    waiting.erase(it);
  } else {
    // The signal can come before our reply handler saw the job path. Keep a
    // few; job paths are never reused within a manager's life.
    if (ended.size() > 256) ended.erase(ended.begin());
    ended[job] = result;
  }
}

kj::Promise<kj::String> SystemdManager::jobResult(kj::String job) {
  std::string key(job.cStr());
  auto seen = ended.find(key);
  if (seen != ended.end()) {
    auto result = kj::str(seen->second.c_str());
    ended.erase(seen);
    return kj::mv(result);
  }
  auto paf = kj::newPromiseAndFulfiller<kj::String>();
  waiting[key] = JobWait{kj::mv(paf.fulfiller)};
  return paf.promise
      .exclusiveJoin(timer.afterDelay(JOB_DEADLINE).then([this, key]() -> kj::String {
        waiting.erase(key);
        kj::throwFatalException(kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__,
            kj::str("systemd did not finish job ", key.c_str(), " within 30 s")));
      }))
      .attach(kj::defer([this, key]() { waiting.erase(key); }));
}

kj::Promise<void> SystemdManager::startScope(const ScopeRequest& r) {
  std::vector<Property> properties;
  properties.push_back({"Description", sdbus::Variant(std::string(r.description.cStr()))});
  properties.push_back({"Slice", sdbus::Variant(std::string(r.slice.cStr()))});
  properties.push_back({"PIDs", sdbus::Variant(std::vector<uint32_t>{uint32_t(r.pid)})});
  properties.push_back({"MemoryAccounting", sdbus::Variant(true)});
  properties.push_back({"CPUAccounting", sdbus::Variant(true)});
  properties.push_back({"TasksAccounting", sdbus::Variant(true)});
  // An ended scope should not linger as "failed" in systemctl's lists.
  properties.push_back({"CollectMode", sdbus::Variant(std::string("inactive-or-failed"))});
  if (r.cpuQuotaPerSecUsec) {
    properties.push_back({"CPUQuotaPerSecUSec", sdbus::Variant(uint64_t(r.cpuQuotaPerSecUsec))});
  }
  if (r.memoryMaxBytes) {
    properties.push_back({"MemoryMax", sdbus::Variant(uint64_t(r.memoryMaxBytes))});
    if (r.memorySwapMaxZero) properties.push_back({"MemorySwapMax", sdbus::Variant(uint64_t(0))});
  }
  if (r.tasksMax) properties.push_back({"TasksMax", sdbus::Variant(uint64_t(r.tasksMax))});
  if (r.runtimeMaxUsec) {
    properties.push_back({"RuntimeMaxUSec", sdbus::Variant(uint64_t(r.runtimeMaxUsec))});
  }
  std::vector<sdbus::Struct<std::string, std::vector<Property>>> aux;

  auto message = proxy->createMethodCall(MANAGER, "StartTransientUnit");
  message << std::string(r.unit.cStr()) << std::string("fail") << properties << aux;
  auto unit = kj::str(r.unit);
  return send(*proxy, bus, message)
      .then([this](sdbus::MethodReply reply) {
        sdbus::ObjectPath job;
        reply >> job;
        return jobResult(kj::str(job.c_str()));
      })
      .then([unit = kj::mv(unit)](kj::String result) {
        if (result != "done") {
          kj::throwFatalException(kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__,
              kj::str("systemd could not start ", unit, ": job ", result)));
        }
      });
}

kj::Promise<void> SystemdManager::killUnit(kj::StringPtr unit, int signal) {
  auto message = proxy->createMethodCall(MANAGER, "KillUnit");
  message << std::string(unit.cStr()) << std::string("all") << int32_t(signal);
  return send(*proxy, bus, message).ignoreResult();
}

kj::Promise<void> SystemdManager::stopUnit(kj::StringPtr unit) {
  auto message = proxy->createMethodCall(MANAGER, "StopUnit");
  message << std::string(unit.cStr()) << std::string("replace");
  return send(*proxy, bus, message).then([this](sdbus::MethodReply reply) {
    sdbus::ObjectPath job;
    reply >> job;
    return jobResult(kj::str(job.c_str())).ignoreResult();
  });
}

}  // namespace taskctl
