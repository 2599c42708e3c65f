#include "bus/bus-connection.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <kj/async-io.h>
#include <kj/debug.h>
#include <sdbus-c++/sdbus-c++.h>

#include "private-bus.h"

namespace taskctl {
namespace {

struct CountingClient final : public BusConnection::Client {
  int attached = 0, detached = 0;
  bool failNext = false;
  std::string uniqueName;
  void attach(sdbus::IConnection& connection) override {
    if (failNext) {
      failNext = false;
      throw sdbus::Error("org.freedesktop.DBus.Error.Failed", "told to fail");
    }
    attached++;
    uniqueName = connection.getUniqueName();
  }
  void detach() override { detached++; }
};

struct Harness {
  PrivateBus dbus;
  kj::AsyncIoContext io = kj::setupAsyncIo();
  kj::Timer& timer = io.provider->getTimer();

  // Turns the loop until `done` or 10 s pass.
  template <typename Done>
  bool turnUntil(Done&& done) {
    for (int i = 0; i < 1000 && !done(); i++)
      timer.afterDelay(10 * kj::MILLISECONDS).wait(io.waitScope);
    return done();
  }
};

size_t threads() {
  size_t n = 0;
  DIR* d = opendir("/proc/self/task");
  while (auto* e = readdir(d)) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

TEST(BusConnection, ConnectsWhereDbusSystemBusAddressPointsAndStartsNoThread) {
  Harness h;
  BusConnection bus(h.io.unixEventPort, h.timer, BusConnection::Start::NOW);
  EXPECT_TRUE(bus.connected());
  EXPECT_EQ(bus.generation(), 1u);
  CountingClient client;
  bus.addClient(client);
  EXPECT_EQ(client.attached, 1);
  EXPECT_EQ(client.uniqueName[0], ':');
  EXPECT_EQ(threads(), 1u);
  bus.removeClient(client);
  EXPECT_EQ(client.detached, 1);
}

TEST(BusConnection, NowThrowsDisconnectedWithoutABus) {
  Harness h;
  h.dbus.stop();
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() {
                 BusConnection bus(h.io.unixEventPort, h.timer, BusConnection::Start::NOW);
               })) {
    EXPECT_EQ(e->getType(), kj::Exception::Type::DISCONNECTED);
  } else {
    ADD_FAILURE() << "connected to a bus that is not there";
  }
}

TEST(BusConnection, ReattachesEveryClientWhenTheBusComesBack) {
  Harness h;
  BusConnection bus(h.io.unixEventPort, h.timer, BusConnection::Start::NOW);
  CountingClient first, second;
  bus.addClient(first);
  bus.addClient(second);

  h.dbus.stop();  // as `systemctl restart dbus` does, in two steps
  ASSERT_TRUE(h.turnUntil([&]() { return !bus.connected(); }));
  EXPECT_EQ(first.detached, 1);
  EXPECT_EQ(second.detached, 1);
  auto back = bus.whenConnected();
  EXPECT_FALSE(back.poll(h.io.waitScope));
  // Retries back off: no busy loop while the bus is away.
  h.timer.afterDelay(2 * kj::SECONDS).wait(h.io.waitScope);
  EXPECT_LE(bus.stats().failedAttempts, 6u);

  h.dbus.start();
  back.exclusiveJoin(h.timer.afterDelay(10 * kj::SECONDS).then([]() {
        ADD_FAILURE() << "no reconnect within 10 s";
      }))
      .wait(h.io.waitScope);
  EXPECT_TRUE(bus.connected());
  EXPECT_EQ(bus.generation(), 2u);
  EXPECT_EQ(first.attached, 2);
  EXPECT_EQ(second.attached, 2);
  EXPECT_EQ(bus.stats().losses, 1u);
  bus.removeClient(first);
  bus.removeClient(second);
}

TEST(BusConnection, InTheBackgroundWaitsForABusToAppear) {
  Harness h;
  h.dbus.stop();
  BusConnection bus(h.io.unixEventPort, h.timer, BusConnection::Start::BACKGROUND);
  CountingClient client;
  bus.addClient(client);
  h.timer.afterDelay(300 * kj::MILLISECONDS).wait(h.io.waitScope);
  EXPECT_FALSE(bus.connected());
  EXPECT_EQ(client.attached, 0);
  h.dbus.start();
  bus.whenConnected()
      .exclusiveJoin(h.timer.afterDelay(10 * kj::SECONDS).then([]() {
        ADD_FAILURE() << "no connection within 10 s";
      }))
      .wait(h.io.waitScope);
  EXPECT_EQ(client.attached, 1);
  bus.removeClient(client);
}

TEST(BusConnection, AClientThatFailsToAttachMakesItTryAgain) {
  Harness h;
  BusConnection bus(h.io.unixEventPort, h.timer, BusConnection::Start::NOW);
  CountingClient good, flaky;
  bus.addClient(good);
  bus.addClient(flaky);
  h.dbus.stop();
  ASSERT_TRUE(h.turnUntil([&]() { return !bus.connected(); }));
  flaky.failNext = true;
  h.dbus.start();
  // The first new connection is given up (good is detached again), the next one holds.
  ASSERT_TRUE(h.turnUntil([&]() { return bus.connected(); }));
  EXPECT_EQ(good.attached, 3);
  EXPECT_EQ(good.detached, 2);
  EXPECT_EQ(flaky.attached, 2);
  bus.removeClient(good);
  bus.removeClient(flaky);
}

}  // namespace
}  // namespace taskctl
