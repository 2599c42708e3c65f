#include "bus/systemd-manager.h"

#include <gtest/gtest.h>
#include <kj/async-io.h>
#include <sdbus-c++/sdbus-c++.h>

#include <vector>

#include "private-bus.h"

namespace taskctl {
namespace {

constexpr const char* MANAGER = "org.freedesktop.systemd1.Manager";
using Property = sdbus::Struct<std::string, sdbus::Variant>;
using Aux = sdbus::Struct<std::string, std::vector<Property>>;

// Just enough of org.freedesktop.systemd1 on the private bus: it takes
// StartTransientUnit and KillUnit, answers with a job, and sends JobRemoved
// when the test says so. A unit named hang-*.scope gets no reply at all.
struct FakeSystemd final : public BusConnection::Client {
  BusConnection& bus;
  std::unique_ptr<sdbus::IObject> object;
  std::vector<std::string> started, killed;
  std::vector<sdbus::Result<sdbus::ObjectPath>> unanswered;
  uint32_t jobs = 0;
  int subscribes = 0;

  explicit FakeSystemd(BusConnection& bus) : bus(bus) { bus.addClient(*this); }
  ~FakeSystemd() { bus.removeClient(*this); }

  void attach(sdbus::IConnection& connection) override {
    object = sdbus::createObject(connection, "/org/freedesktop/systemd1");
    object->registerMethod("Subscribe").onInterface(MANAGER).implementedAs([this]() {
      subscribes++;
    });
    object->registerMethod("StartTransientUnit")
        .onInterface(MANAGER)
        .implementedAs([this](sdbus::Result<sdbus::ObjectPath>&& result, std::string name,
                              std::string mode, std::vector<Property>, std::vector<Aux>) {
          started.push_back(name + " " + mode);
          if (name.rfind("hang-", 0) == 0) {
            unanswered.push_back(std::move(result));
          } else {
            result.returnResults(sdbus::ObjectPath(jobPath(++jobs)));
          }
        });
    object->registerMethod("KillUnit")
        .onInterface(MANAGER)
        .implementedAs([this](std::string name, std::string who, int32_t signal) {
          killed.push_back(name + " " + who + " " + std::to_string(signal));
        });
    object->registerSignal("JobRemoved")
        .onInterface(MANAGER)
        .withParameters<uint32_t, sdbus::ObjectPath, std::string, std::string>();
    object->finishRegistration();
    connection.requestName("org.freedesktop.systemd1");
  }
  void detach() override {
    unanswered.clear();  // they hold messages of the connection that is going away
    object.reset();
  }

  static std::string jobPath(uint32_t n) {
    return "/org/freedesktop/systemd1/job/" + std::to_string(n);
  }
  void jobRemoved(uint32_t n, const std::string& unit, const std::string& result) {
    object->emitSignal("JobRemoved")
        .onInterface(MANAGER)
        .withArguments(n, sdbus::ObjectPath(jobPath(n)), unit, result);
    bus.poke();
  }
};

struct Harness {
  PrivateBus dbus;
  kj::AsyncIoContext io = kj::setupAsyncIo();
  kj::Timer& timer = io.provider->getTimer();
  kj::Own<BusConnection> systemdBus;
  kj::Own<FakeSystemd> systemd;
  BusConnection daemonBus{io.unixEventPort, timer, BusConnection::Start::NOW};
  SystemdManager manager{daemonBus, timer};

  Harness() {
    startSystemd();
    EXPECT_TRUE(turnUntil([&]() { return manager.connected(); }));
  }

  // systemd joins the bus (again), on a connection of its own.
  void startSystemd() {
    systemdBus = kj::heap<BusConnection>(io.unixEventPort, timer, BusConnection::Start::NOW);
    systemd = kj::heap<FakeSystemd>(*systemdBus);
  }
  void stopSystemd() {
    systemd = nullptr;
    systemdBus = nullptr;  // its name goes with its connection
  }

  template <typename Done>
  bool turnUntil(Done&& done) {
    for (int i = 0; i < 1000 && !done(); i++) {
      timer.afterDelay(10 * kj::MILLISECONDS).wait(io.waitScope);
    }
    return done();
  }

  ScopeRequest request(const char* unit) {
    ScopeRequest r;
    r.unit = kj::str(unit);
    r.slice = kj::str("taskctl.slice");
    r.description = kj::str("test");
    r.pid = getpid();
    return r;
  }

  // The promise's outcome: null if it resolved, else its exception.
  kj::Maybe<kj::Exception> outcome(kj::Promise<void>& p) {
    EXPECT_TRUE(turnUntil([&]() { return p.poll(io.waitScope); }));
    return kj::runCatchingExceptions([&]() { p.wait(io.waitScope); });
  }
};

TEST(SystemdManager, StartsAScopeOnceItsJobIsDone) {
  Harness h;
  EXPECT_TRUE(h.manager.connected());
  auto started = h.manager.startScope(h.request("taskctl-1-1.scope"));
  ASSERT_TRUE(h.turnUntil([&]() { return h.systemd->started.size() == 1; }));
  EXPECT_EQ(h.systemd->started[0], "taskctl-1-1.scope fail");
  EXPECT_FALSE(started.poll(h.io.waitScope)) << "done before its JobRemoved";
  h.systemd->jobRemoved(1, "taskctl-1-1.scope", "done");
  EXPECT_TRUE(h.outcome(started) == nullptr);
  EXPECT_TRUE(h.turnUntil([&]() { return h.systemd->subscribes == 1; }));
}

TEST(SystemdManager, AJobThatDoesNotEndDoneIsARefusal) {
  Harness h;
  auto started = h.manager.startScope(h.request("taskctl-2-1.scope"));
  ASSERT_TRUE(h.turnUntil([&]() { return h.systemd->started.size() == 1; }));
  h.systemd->jobRemoved(1, "taskctl-2-1.scope", "failed");
  KJ_IF_MAYBE (e, h.outcome(started)) {
    EXPECT_EQ(e->getType(), kj::Exception::Type::FAILED);
    EXPECT_NE(e->getDescription().findFirst('f'), nullptr);
  } else {
    ADD_FAILURE() << "a failed job started the scope";
  }
}

TEST(SystemdManager, AJobWaitTheBusCutsOffIsDisconnectedAndTheManagerComesBack) {
  Harness h;
  auto started = h.manager.startScope(h.request("taskctl-3-1.scope"));
  ASSERT_TRUE(h.turnUntil([&]() { return h.systemd->started.size() == 1; }));
  h.dbus.stop();
  KJ_IF_MAYBE (e, h.outcome(started)) {
    EXPECT_EQ(e->getType(), kj::Exception::Type::DISCONNECTED) << e->getDescription().cStr();
  } else {
    ADD_FAILURE() << "started without its JobRemoved";
  }
  EXPECT_FALSE(h.manager.connected());
  // While the bus is gone a start fails at once, as DISCONNECTED too.
  auto refused = h.manager.startScope(h.request("taskctl-4-1.scope"));
  KJ_IF_MAYBE (e, h.outcome(refused)) {
    EXPECT_EQ(e->getType(), kj::Exception::Type::DISCONNECTED);
  } else {
    ADD_FAILURE();
  }
  auto back = h.manager.whenConnected();
  EXPECT_FALSE(back.poll(h.io.waitScope));

  h.dbus.start();
  ASSERT_TRUE(h.turnUntil([&]() { return back.poll(h.io.waitScope); }));
  back.wait(h.io.waitScope);
  EXPECT_TRUE(h.manager.connected());
  ASSERT_TRUE(h.turnUntil([&]() { return h.systemdBus->connected(); }));
  auto again = h.manager.startScope(h.request("taskctl-5-1.scope"));
  ASSERT_TRUE(h.turnUntil([&]() { return h.systemd->started.size() == 2; }));
  h.systemd->jobRemoved(h.systemd->jobs, "taskctl-5-1.scope", "done");
  EXPECT_TRUE(h.outcome(again) == nullptr) << "JobRemoved is subscribed again";
}

TEST(SystemdManager, ACallTheBusCutsOffIsDisconnected) {
  Harness h;
  auto started = h.manager.startScope(h.request("hang-1.scope"));
  ASSERT_TRUE(h.turnUntil([&]() { return h.systemd->unanswered.size() == 1; }));
  h.dbus.stop();
  KJ_IF_MAYBE (e, h.outcome(started)) {
    EXPECT_EQ(e->getType(), kj::Exception::Type::DISCONNECTED) << e->getDescription().cStr();
  } else {
    ADD_FAILURE() << "a call with no reply succeeded";
  }
}

TEST(SystemdManager, IsUnavailableWhileSystemdIsOffTheBus) {
  Harness h;
  auto started = h.manager.startScope(h.request("taskctl-7-1.scope"));
  ASSERT_TRUE(h.turnUntil([&]() { return h.systemd->started.size() == 1; }));
  h.stopSystemd();  // as systemd is, for a while, after `systemctl restart dbus`
  KJ_IF_MAYBE (e, h.outcome(started)) {
    EXPECT_EQ(e->getType(), kj::Exception::Type::DISCONNECTED) << e->getDescription().cStr();
  } else {
    ADD_FAILURE() << "started without its JobRemoved";
  }
  EXPECT_FALSE(h.manager.connected());
  EXPECT_TRUE(h.daemonBus.connected());
  auto back = h.manager.whenConnected();
  EXPECT_FALSE(back.poll(h.io.waitScope));
  h.startSystemd();
  ASSERT_TRUE(h.turnUntil([&]() { return back.poll(h.io.waitScope); }));
  EXPECT_TRUE(h.manager.connected());
  EXPECT_TRUE(h.turnUntil([&]() { return h.systemd->subscribes == 1; }))
      << "subscribed again to the new systemd";
}

TEST(SystemdManager, KillsTheWholeUnit) {
  Harness h;
  auto killed = h.manager.killUnit("taskctl-6-1.scope", 15);
  EXPECT_TRUE(h.outcome(killed) == nullptr);
  ASSERT_EQ(h.systemd->killed.size(), 1u);
  EXPECT_EQ(h.systemd->killed[0], "taskctl-6-1.scope all 15");
}

}  // namespace
}  // namespace taskctl
