// GCC 12 inlines kj::Promise<kj::String>'s nodes deep enough here to warn
// that a moved-from kj::String "may be used uninitialized" in its dispose():
// a known false positive of -Wmaybe-uninitialized with kj's ExceptionOr.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "bus/systemd-manager.h"

#include <kj/debug.h>
#include <linux/magic.h>
#include <sdbus-c++/sdbus-c++.h>
#include <sys/statfs.h>
#include <systemd/sd-daemon.h>

#include "common/errors.h"

namespace taskctl {
namespace {

constexpr const char* SYSTEMD = "org.freedesktop.systemd1";
constexpr const char* MANAGER_PATH = "/org/freedesktop/systemd1";
constexpr const char* MANAGER = "org.freedesktop.systemd1.Manager";
constexpr const char* DBUS = "org.freedesktop.DBus";
// Only systemd's own arrivals and departures, not every client's.
constexpr const char* SYSTEMD_OWNER_MATCH =
    "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
    "interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='org.freedesktop.systemd1'";
// A daemon-reexec can drop JobRemoved: never wait for it without a deadline.
constexpr kj::Duration JOB_DEADLINE = 30 * kj::SECONDS;
constexpr uint64_t CALL_TIMEOUT_USEC = 25 * 1000 * 1000;

using Property = sdbus::Struct<std::string, sdbus::Variant>;

kj::Exception busError(const sdbus::Error& e) {
  return kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__,
                       kj::str(e.getMessage().c_str(), " (", e.getName().c_str(), ")"));
}

kj::Exception disconnected(kj::StringPtr what) {
  return kj::Exception(kj::Exception::Type::DISCONNECTED, __FILE__, __LINE__,
                       kj::str("the system bus went away: ", what));
}

// What sd_bus_send() reports when the socket broke under it (sd-bus maps
// ECONNRESET to Disconnected; other errnos become System.Error.<NAME>).
bool isDisconnect(const sdbus::Error& e) {
  const auto& name = e.getName();
  return name == "org.freedesktop.DBus.Error.Disconnected" || name == "System.Error.ENOTCONN" ||
         name == "System.Error.ECONNRESET" || name == "System.Error.EPIPE" ||
         name == "System.Error.ESHUTDOWN";
}

// The bus's answer when systemd is not on it (yet: it joins a restarted
// dbus-daemon after we do).
bool isSystemdAway(const std::string& name) {
  return name == "org.freedesktop.DBus.Error.ServiceUnknown" ||
         name == "org.freedesktop.DBus.Error.NameHasNoOwner";
}

}  // namespace

// A method call in flight, owned by the promise of its reply. Dropping the
// promise cancels the call, so its reply never reaches a fulfiller that is
// gone; detach() rejects the ones still waiting.
class SystemdManager::InFlight {
 public:
  InFlight(SystemdManager& owner, kj::Own<kj::PromiseFulfiller<kj::String>> fulfiller)
      : owner(owner), fulfiller(kj::mv(fulfiller)) {
    owner.inFlight.add(this);
  }
  ~InFlight() {
    if (pending.isPending()) pending.cancel();
    auto& all = owner.inFlight;
    for (size_t i = 0; i < all.size(); i++) {
      if (all[i] == this) {
        all[i] = all.back();
        all.removeLast();
        break;
      }
    }
  }
  KJ_DISALLOW_COPY(InFlight);

  SystemdManager& owner;
  kj::Own<kj::PromiseFulfiller<kj::String>> fulfiller;
  sdbus::PendingAsyncCall pending;
};

bool isCgroupV2() {
  struct statfs fs;
  return statfs("/sys/fs/cgroup", &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
}

bool systemdIsInit() { return sd_booted() > 0; }

void SystemdManager::LogErrors::taskFailed(kj::Exception&& e) {
  KJ_LOG(WARNING, "systemd Subscribe failed", e.getDescription());
}

SystemdManager::SystemdManager(BusConnection& bus, kj::Timer& timer)
    : bus(bus), timer(timer), background(logErrors) {
  bus.addClient(*this);
}

SystemdManager::~SystemdManager() noexcept(false) { bus.removeClient(*this); }

void SystemdManager::attach(sdbus::IConnection& connection) {
  try {
    // The IConnection& overloads: the proxies stay on our thread and our pump.
    auto fresh = sdbus::createProxy(connection, SYSTEMD, MANAGER_PATH);
    fresh->registerSignalHandler(MANAGER, "JobRemoved", [this](sdbus::Signal& signal) {
      // Nothing may unwind into sd-bus's C frames.
      KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() {
                     uint32_t id;
                     sdbus::ObjectPath job;
                     std::string unit, result;
                     signal >> id >> job >> unit >> result;
                     onJobRemoved(job.c_str(), result.c_str());
                   })) {
        KJ_LOG(ERROR, "bad JobRemoved signal", *e);
      }
    });
    fresh->finishRegistration();  // addMatch: one blocking round trip, at connect only
    ownerMatch = connection.addMatch(SYSTEMD_OWNER_MATCH, [this](sdbus::Message& message) {
      KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() {
                     std::string name, before, after;
                     message >> name >> before >> after;
                     if (!before.empty()) systemdOwner(false);  // left, or handed over
                     if (!after.empty()) systemdOwner(true);
                   })) {
        KJ_LOG(ERROR, "bad NameOwnerChanged signal", *e);
      }
    });  // the other blocking round trip
    busDriver = sdbus::createProxy(connection, DBUS, "/org/freedesktop/DBus");
    proxy = kj::mv(fresh);
  } catch (const sdbus::Error& e) {
    ownerMatch.reset();
    busDriver.reset();
    rethrow(busError(e));
  }
  askForSystemd();
}

void SystemdManager::askForSystemd() {
  // Asynchronous: its answer (or NameOwnerChanged) makes us available.
  try {
    auto call = busDriver->createMethodCall(DBUS, "GetNameOwner");
    call << std::string(SYSTEMD);
    busDriver->callMethod(
        call,
        [this](sdbus::MethodReply&, const sdbus::Error* error) {
          KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() {
                         if (error == nullptr) {
                           systemdOwner(true);
                         } else if (!isSystemdAway(error->getName())) {
                           KJ_LOG(WARNING, "cannot tell whether systemd is on the bus",
                                  error->getMessage().c_str());
                         }
                       })) {
            KJ_LOG(ERROR, "GetNameOwner reply handler failed", *e);
          }
        },
        CALL_TIMEOUT_USEC);
    bus.poke();
  } catch (const sdbus::Error& e) {
    KJ_LOG(WARNING, "cannot ask whether systemd is on the bus", e.getMessage().c_str());
  }
}

void SystemdManager::systemdOwner(bool present) {
  if (present == systemdPresent) return;
  systemdPresent = present;
  systemdEpoch++;
  if (!present) {
    // Its replies and JobRemoved signals are lost with it.
    failWaiters("systemd left the bus");
    return;
  }
  // A new systemd connection has no subscribers: without Subscribe() it
  // may not send JobRemoved to us.
  auto subscribe = proxy->createMethodCall(MANAGER, "Subscribe");
  background.add(send(subscribe, false).ignoreResult());
  for (auto& w : readyWaiters) w->fulfill();
  readyWaiters.clear();
}

kj::Promise<void> SystemdManager::whenConnected() {
  if (connected()) return kj::READY_NOW;
  kj::Vector<kj::Own<kj::PromiseFulfiller<void>>> live;
  for (auto& w : readyWaiters) {
    if (w->isWaiting()) live.add(kj::mv(w));
  }
  readyWaiters = kj::mv(live);
  auto paf = kj::newPromiseAndFulfiller<void>();
  readyWaiters.add(kj::mv(paf.fulfiller));
  return kj::mv(paf.promise);
}

void SystemdManager::failWaiters(kj::StringPtr why) {
  // No reply and no JobRemoved will come: every waiter learns it now, as
  // DISCONNECTED (the scheduler requeues the start: no user code ran).
  for (auto* call : inFlight) call->fulfiller->reject(disconnected(why));
  for (auto& entry : waiting) {
    entry.value->reject(disconnected(kj::str(why, "; no JobRemoved for ", entry.key)));
  }
  waiting.clear();
  ended.clear();
}

void SystemdManager::detach() {
  failWaiters("a systemd call was cut off");
  systemdPresent = false;
  ownerMatch.reset();
  busDriver.reset();
  proxy.reset();  // cancels what is still pending on it
}

bool SystemdManager::current(Epoch e) const {
  return bus.connected() && bus.generation() == e.connection && systemdEpoch == e.systemd;
}

kj::Exception SystemdManager::classify(kj::Exception&& e, Epoch sent) {
  if (e.getType() == kj::Exception::Type::DISCONNECTED) return kj::mv(e);
  // sd-bus fails every pending call ("Connection terminated") in the drain
  // that finds the socket closed; by the time this runs, that drain has
  // detached us. Likewise a call systemd took with it when it left the bus.
  if (!current(sent)) return disconnected(e.getDescription());
  return kj::mv(e);
}

kj::Promise<kj::String> SystemdManager::send(sdbus::MethodCall& message, bool wantsJob) {
  return send(*proxy, message, wantsJob ? Reply::OBJECT_PATH : Reply::NOTHING);
}

kj::Promise<kj::String> SystemdManager::send(sdbus::IProxy& target, sdbus::MethodCall& message,
                                             Reply kind) {
  Epoch sent = epoch();
  auto paf = kj::newPromiseAndFulfiller<kj::String>();
  auto call = kj::heap<InFlight>(*this, kj::mv(paf.fulfiller));
  auto* fulfiller = call->fulfiller.get();
  try {
    call->pending = target.callMethod(
        message,
        [this, fulfiller, kind](sdbus::MethodReply& reply, const sdbus::Error* error) {
          KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() {
                         if (error != nullptr && isSystemdAway(error->getName())) {
                           // We missed its leaving: not available until it is back.
                           fulfiller->reject(disconnected(error->getMessage().c_str()));
                           systemdOwner(false);
                           askForSystemd();
                         } else if (error != nullptr) {
                           fulfiller->reject(busError(*error));
                         } else if (kind == Reply::OBJECT_PATH) {
                           sdbus::ObjectPath job;
                           reply >> job;
                           fulfiller->fulfill(kj::str(job.c_str()));
                         } else if (kind == Reply::UINT64_VARIANT) {
                           sdbus::Variant value;
                           reply >> value;
                           uint64_t number = value.get<uint64_t>();
                           fulfiller->fulfill(kj::str(number));
                         } else {
                           fulfiller->fulfill(kj::str());
                         }
                       })) {
            fulfiller->reject(kj::mv(*e));
          }
        },
        CALL_TIMEOUT_USEC);
  } catch (const sdbus::Error& e) {
    return isDisconnect(e) ? disconnected(e.getMessage().c_str()) : busError(e);
  }
  bus.poke();
  return paf.promise.attach(kj::mv(call))
      .catch_([this, sent](kj::Exception&& e) -> kj::Promise<kj::String> {
        return classify(kj::mv(e), sent);
      });
}

void SystemdManager::onJobRemoved(kj::StringPtr job, kj::StringPtr result) {
  KJ_IF_MAYBE (fulfiller, waiting.find(job)) {
    (*fulfiller)->fulfill(kj::str(result));
    waiting.erase(job);
  } else {
    // The signal can come before our reply handler saw the job path. Keep a
    // few (we see every job's JobRemoved, not only ours).
    if (ended.size() >= 256) ended.clear();
    ended.upsert(kj::str(job), kj::str(result),
                 [](kj::String& old, kj::String&& fresh) { old = kj::mv(fresh); });
  }
}

kj::Promise<kj::String> SystemdManager::jobResult(kj::String job, Epoch sent) {
  KJ_IF_MAYBE (result, ended.find(job)) {
    auto value = kj::mv(*result);
    ended.erase(job);
    return kj::mv(value);
  }
  // The reply came on a connection that broke since, or from a systemd that
  // left the bus: its JobRemoved never will.
  if (!current(sent)) {
    return disconnected(kj::str("no JobRemoved for ", job));
  }
  auto paf = kj::newPromiseAndFulfiller<kj::String>();
  waiting.insert(kj::str(job), kj::mv(paf.fulfiller));
  auto key = kj::mv(job);
  auto deadline = timer.afterDelay(JOB_DEADLINE).then([key = kj::str(key)]() -> kj::String {
    refuse(kj::str("systemd did not finish job ", key, " within 30 s"));
  });
  return paf.promise.exclusiveJoin(kj::mv(deadline)).attach(kj::defer([this, key = kj::mv(key)]() {
    waiting.erase(key);
  }));
}

kj::Promise<void> SystemdManager::startScope(const ScopeRequest& r) {
  if (!connected()) return disconnected(kj::str("cannot start ", r.unit));
  std::vector<Property> properties;
  properties.push_back({"Description", sdbus::Variant(std::string(r.description.cStr()))});
  properties.push_back({"Slice", sdbus::Variant(std::string(r.slice.cStr()))});
  properties.push_back({"PIDs", sdbus::Variant(std::vector<uint32_t>{uint32_t(r.pid)})});
  properties.push_back({"MemoryAccounting", sdbus::Variant(true)});
  properties.push_back({"CPUAccounting", sdbus::Variant(true)});
  properties.push_back({"TasksAccounting", sdbus::Variant(true)});
  // An ended scope should not linger as "failed" in systemctl's lists.
  properties.push_back({"CollectMode", sdbus::Variant(std::string("inactive-or-failed"))});
  // An OOM kill of the command must not make systemd stop the scope (the
  // default OOMPolicy=stop): the shim, in the same scope, still has to write
  // the result. Seen in the Debian VM: a task ended `lost`, not `oom`.
  properties.push_back({"OOMPolicy", sdbus::Variant(std::string("continue"))});
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
  Epoch sent = epoch();
  return send(message, true)
      .then([this, sent](kj::String job) { return jobResult(kj::mv(job), sent); })
      .then([unit = kj::mv(unit)](kj::String result) {
        if (result != "done") {
          refuse(kj::str("systemd could not start ", unit, ": job ", result));
        }
      });
}

kj::Promise<void> SystemdManager::killUnit(kj::StringPtr unit, int signal) {
  if (!connected()) return disconnected(kj::str("cannot signal ", unit));
  auto message = proxy->createMethodCall(MANAGER, "KillUnit");
  message << std::string(unit.cStr()) << std::string("all") << int32_t(signal);
  return send(message, false).ignoreResult();
}

kj::Promise<void> SystemdManager::stopUnit(kj::StringPtr unit) {
  if (!connected()) return disconnected(kj::str("cannot stop ", unit));
  auto message = proxy->createMethodCall(MANAGER, "StopUnit");
  message << std::string(unit.cStr()) << std::string("replace");
  Epoch sent = epoch();
  return send(message, true).then([this, sent](kj::String job) {
    return jobResult(kj::mv(job), sent).ignoreResult();
  });
}

kj::Promise<void> SystemdManager::setLimits(kj::StringPtr unit, const ScopeLimits& r) {
  if (!connected()) return disconnected(kj::str("cannot change ", unit));
  // The same properties as at the scope's start (startScope); runtime: they
  // last as long as the scope, which is transient anyway. No job: systemd
  // writes the cgroup files before it replies.
  std::vector<Property> properties;
  if (r.cpuQuotaPerSecUsec) {
    properties.push_back({"CPUQuotaPerSecUSec", sdbus::Variant(uint64_t(r.cpuQuotaPerSecUsec))});
  }
  if (r.memoryMaxBytes) {
    properties.push_back({"MemoryMax", sdbus::Variant(uint64_t(r.memoryMaxBytes))});
    if (r.memorySwapMaxZero) properties.push_back({"MemorySwapMax", sdbus::Variant(uint64_t(0))});
  }
  if (r.tasksMax) properties.push_back({"TasksMax", sdbus::Variant(uint64_t(r.tasksMax))});
  if (properties.empty()) return kj::READY_NOW;
  auto message = proxy->createMethodCall(MANAGER, "SetUnitProperties");
  message << std::string(unit.cStr()) << true << properties;
  return send(message, false).ignoreResult();
}

kj::Promise<void> SystemdManager::freezeUnit(kj::StringPtr unit, bool frozen) {
  if (!connected()) return disconnected(kj::str("cannot ", frozen ? "freeze " : "thaw ", unit));
  // systemd 252 replies once the unit's cgroup is frozen (thawed): no job.
  auto message = proxy->createMethodCall(MANAGER, frozen ? "FreezeUnit" : "ThawUnit");
  message << std::string(unit.cStr());
  return send(message, false).ignoreResult();
}

kj::Promise<void> SystemdManager::jobDone(kj::Promise<kj::String> job, kj::String what) {
  Epoch sent = epoch();
  return job.then([this, sent](kj::String path) { return jobResult(kj::mv(path), sent); })
      .then([what = kj::mv(what)](kj::String result) {
        if (result != "done") {
          refuse(kj::str("systemd could not ", what, ": job ", result));
        }
      });
}

kj::Promise<void> SystemdManager::reload() {
  if (!connected()) return disconnected(kj::str("cannot reload systemd"));
  auto message = proxy->createMethodCall(MANAGER, "Reload");
  return send(message, false).ignoreResult();
}

kj::Promise<void> SystemdManager::enableUnitFiles(kj::Array<kj::String> files) {
  if (!connected()) return disconnected(kj::str("cannot enable unit files"));
  std::vector<std::string> names;
  for (auto& file : files) names.push_back(file.cStr());
  auto message = proxy->createMethodCall(MANAGER, "EnableUnitFiles");
  message << names << false /* runtime */ << true /* force */;
  return send(message, false).ignoreResult();
}

kj::Promise<void> SystemdManager::disableUnitFiles(kj::Array<kj::String> files) {
  if (!connected()) return disconnected(kj::str("cannot disable unit files"));
  std::vector<std::string> names;
  for (auto& file : files) names.push_back(file.cStr());
  auto message = proxy->createMethodCall(MANAGER, "DisableUnitFiles");
  message << names << false /* runtime */;
  return send(message, false).ignoreResult();
}

kj::Promise<void> SystemdManager::startUnit(kj::StringPtr unit) {
  if (!connected()) return disconnected(kj::str("cannot start ", unit));
  auto message = proxy->createMethodCall(MANAGER, "StartUnit");
  message << std::string(unit.cStr()) << std::string("replace");
  return jobDone(send(message, true), kj::str("start ", unit));
}

kj::Promise<TimerTimes> SystemdManager::timerTimes(kj::StringPtr unit) {
  if (!connected()) return disconnected(kj::str("cannot read ", unit));
  auto message = proxy->createMethodCall(MANAGER, "LoadUnit");
  message << std::string(unit.cStr());
  return send(message, true).then([this](kj::String path) -> kj::Promise<TimerTimes> {
    if (!connected()) return disconnected(kj::str("cannot read ", path));
    // A proxy of the unit's object, on our connection and our pump; it
    // lives as long as the two calls on it.
    std::unique_ptr<sdbus::IProxy> unitProxy;
    try {
      unitProxy = sdbus::createProxy(proxy->getConnection(), SYSTEMD, path.cStr());
    } catch (const sdbus::Error& e) {
      return busError(e);
    }
    auto get = [&](const char* property) {
      auto call = unitProxy->createMethodCall("org.freedesktop.DBus.Properties", "Get");
      call << std::string("org.freedesktop.systemd1.Timer") << std::string(property);
      return send(*unitProxy, call, Reply::UINT64_VARIANT);
    };
    auto next = get("NextElapseUSecRealtime");
    auto last = get("LastTriggerUSec");
    auto number = [](kj::StringPtr text) { return strtoull(text.cStr(), nullptr, 10); };
    return next
        .then([last = kj::mv(last), number](kj::String nextText) mutable {
          return last.then([nextText = kj::mv(nextText), number](kj::String lastText) {
            TimerTimes times;
            times.nextUsec = number(nextText);
            times.lastUsec = number(lastText);
            // systemd says "never" as USEC_INFINITY (next) or 0 (last).
            if (times.nextUsec == UINT64_MAX) times.nextUsec = 0;
            return times;
          });
        })
        .attach(kj::mv(unitProxy));
  });
}

}  // namespace taskctl
