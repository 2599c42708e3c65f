#include "bus/manager-object.h"

#include <capnp/message.h>
#include <gtest/gtest.h>
#include <kj/async-io.h>
#include <sdbus-c++/sdbus-c++.h>

#include <functional>
#include <vector>

#include "private-bus.h"

namespace taskctl {
namespace {

constexpr const char* MANAGER = "io.taskctl1.Manager";
constexpr const char* PROPERTIES = "org.freedesktop.DBus.Properties";

struct StateChange {
  uint64_t id;
  uint32_t uid;
  std::string queue, old, now;
  uint32_t attempt;
  std::string reason;
  uint64_t seq, timestamp;
};

struct Progress {
  uint64_t id;
  double fraction;
  uint64_t timestamp, seq;
};

struct Reply {
  bool done = false;
  std::string error;  // the D-Bus error name, if it failed
  std::function<void(sdbus::MethodReply&)> read;
};

// Another client on the same bus: subscribes as any user would, and calls.
struct Listener final : public BusConnection::Client {
  BusConnection& bus;
  std::unique_ptr<sdbus::IProxy> proxy;
  std::vector<StateChange> changes;
  std::vector<Progress> progress;

  explicit Listener(BusConnection& bus) : bus(bus) { bus.addClient(*this); }
  ~Listener() { bus.removeClient(*this); }

  void attach(sdbus::IConnection& connection) override {
    proxy = sdbus::createProxy(connection, ManagerObject::NAME, ManagerObject::PATH);
    proxy->uponSignal("TaskStateChanged")
        .onInterface(MANAGER)
        .call([this](uint64_t id, uint32_t uid, std::string queue, std::string old, std::string now,
                     uint32_t attempt, std::string reason, uint64_t seq, uint64_t timestamp) {
          changes.push_back({id, uid, queue, old, now, attempt, reason, seq, timestamp});
        });
    proxy->uponSignal("TaskProgress")
        .onInterface(MANAGER)
        .call([this](uint64_t id, uint32_t, uint32_t, double fraction, uint64_t timestamp,
                     uint64_t seq) {
          progress.push_back({id, fraction, timestamp, seq});
        });
    proxy->finishRegistration();
  }
  void detach() override { proxy.reset(); }

  void call(const char* interface, const char* method, std::function<void(sdbus::MethodCall&)> fill,
            Reply& out) {
    auto message = proxy->createMethodCall(interface, method);
    if (fill) fill(message);
    proxy->callMethod(message, [&out](sdbus::MethodReply& reply, const sdbus::Error* error) {
      out.done = true;
      if (error != nullptr) {
        out.error = error->getName();
      } else if (out.read) {
        out.read(reply);
      }
    });
    bus.poke();
  }
};

// Another process holding io.taskctl1 (a stale daemon during an upgrade, a
// test tool). Its own connection, never pumped: its only calls are blocking
// ones that dbus-daemon answers itself, not our loop.
struct Squatter {
  std::unique_ptr<sdbus::IConnection> connection = sdbus::createSystemBusConnection();

  Squatter() { connection->requestName(ManagerObject::NAME); }
  std::string uniqueName() const { return connection->getUniqueName(); }
  void release() { connection->releaseName(ManagerObject::NAME); }
};

struct Harness {
  enum class Name { FREE, HELD_BY_ANOTHER };
  // HELD_BY_ANOTHER: a Squatter owns the name before the object attaches
  // (members are made in order: the bus, the squatter, then the rest).
  explicit Harness(Name name = Name::FREE)
      : squatter(name == Name::HELD_BY_ANOTHER ? kj::Maybe<kj::Own<Squatter>>(kj::heap<Squatter>())
                                               : nullptr) {}

  PrivateBus dbus;
  kj::Maybe<kj::Own<Squatter>> squatter;
  kj::AsyncIoContext io = kj::setupAsyncIo();
  kj::Timer& timer = io.provider->getTimer();
  BusConnection daemonBus{io.unixEventPort, timer, BusConnection::Start::NOW};
  BusConnection clientBus{io.unixEventPort, timer, BusConnection::Start::NOW};
  ManagerState state;
  ManagerObject object{daemonBus, timer, [this]() { return state; }};
  Listener listener{clientBus};

  template <typename Done>
  bool turnUntil(Done&& done) {
    for (int i = 0; i < 1000 && !done(); i++) {
      timer.afterDelay(10 * kj::MILLISECONDS).wait(io.waitScope);
    }
    return done();
  }

  void event(uint64_t seq, uint64_t id, kj::Maybe<records::TaskState> from, records::TaskState to,
             records::EndReason reason = records::EndReason::NONE) {
    capnp::MallocMessageBuilder message;
    auto e = message.initRoot<records::Event>();
    e.setSeq(seq);
    e.setTaskId(id);
    e.setUid(1000);
    e.setQueue("default");
    KJ_IF_MAYBE (f, from) {
      e.setFrom(*f);
    } else {
      e.setCreated(true);
    }
    e.setTo(to);
    e.setAttempt(to == records::TaskState::QUEUED ? 0 : 1);
    e.setReason(reason);
    e.setAt(static_cast<int64_t>(seq) * 1000000000 + 123456789);  // ns: seq s + 123456789 ns
    object.onEvent(e.asReader());
  }

  // Who owns io.taskctl1, asked of dbus-daemon itself: a blocking call is
  // fine here, the answer does not depend on this loop.
  std::string nameOwner() {
    auto dbusProxy =
        sdbus::createProxy(clientBus.connection(), "org.freedesktop.DBus", "/org/freedesktop/DBus");
    std::string owner;
    dbusProxy->callMethod("GetNameOwner")
        .onInterface("org.freedesktop.DBus")
        .withArguments(std::string(ManagerObject::NAME))
        .storeResultsTo(owner);
    return owner;
  }
};

using records::EndReason;
using records::TaskState;

TEST(ManagerObject, OwnsItsNameAndSendsEveryStateChangeInOrder) {
  Harness h;
  EXPECT_TRUE(h.object.ownsName());
  EXPECT_EQ(h.nameOwner(), h.daemonBus.connection().getUniqueName());
  uint64_t seq = 0;
  for (uint64_t id = 1; id <= 5; id++) {
    h.event(++seq, id, nullptr, TaskState::QUEUED);
    h.event(++seq, id, TaskState::QUEUED, TaskState::STARTING);
    h.event(++seq, id, TaskState::STARTING, TaskState::RUNNING);
    h.event(++seq, id, TaskState::RUNNING, TaskState::FAILED, EndReason::OOM);
  }
  ASSERT_TRUE(h.turnUntil([&]() { return h.listener.changes.size() == 20; }))
      << h.listener.changes.size();
  auto& first = h.listener.changes[0];
  EXPECT_EQ(first.id, 1u);
  EXPECT_EQ(first.uid, 1000u);
  EXPECT_EQ(first.queue, "default");
  EXPECT_EQ(first.old, "") << "a just-submitted task has no old state";
  EXPECT_EQ(first.now, "queued");
  EXPECT_EQ(first.reason, "");
  auto& last = h.listener.changes[19];
  EXPECT_EQ(last.old, "running");
  EXPECT_EQ(last.now, "failed");
  EXPECT_EQ(last.reason, "oom");
  EXPECT_EQ(last.attempt, 1u);
  for (size_t i = 0; i < 20; i++) EXPECT_EQ(h.listener.changes[i].seq, i + 1);
  EXPECT_EQ(h.object.stats().stateSignals, 20u);
}

TEST(ManagerObject, SendsAfterTheRestOfTheTurnInOneBatch) {
  // Events published in one turn wait until the turn has nothing else to do
  // (the RPC replies go out first), then leave together, in order.
  Harness h;
  bool laterRan = false;
  uint64_t sentWhenLaterRan = 99;
  auto later = kj::evalLater([&]() {
    laterRan = true;
    sentWhenLaterRan = h.object.stats().stateSignals;
  });
  h.event(1, 7, nullptr, TaskState::QUEUED);
  h.event(2, 7, TaskState::QUEUED, TaskState::STARTING);
  h.object.onProgress(7, 1000, 1, 0.5);  // throttled: its own timer, a later batch
  h.event(3, 7, TaskState::STARTING, TaskState::RUNNING);
  EXPECT_EQ(h.object.stats().stateSignals, 0u) << "sent inside the turn that published them";
  later.wait(h.io.waitScope);
  EXPECT_TRUE(laterRan);
  EXPECT_EQ(sentWhenLaterRan, 0u) << "sent ahead of work queued in the same turn";
  ASSERT_TRUE(h.turnUntil([&]() { return h.listener.changes.size() == 3; }));
  EXPECT_EQ(h.object.stats().stateSignals, 3u);
  EXPECT_EQ(h.object.stats().flushes, 1u);
  for (size_t i = 0; i < 3; i++) EXPECT_EQ(h.listener.changes[i].seq, i + 1);
}

TEST(ManagerObject, PropertiesAreReadOnlyAndThereAreNoMethods) {
  Harness h;
  h.state.version = "9.9.9";
  h.state.running = 3;
  h.state.succeeded = 41;
  h.state.lastSeq = 77;
  h.state.drained = true;

  Reply running, all, set, madeUp, introspect;
  uint32_t runningValue = 0;
  std::map<std::string, sdbus::Variant> allValues;
  std::string xml;
  running.read = [&](sdbus::MethodReply& r) {
    sdbus::Variant v;
    r >> v;
    runningValue = v.get<uint32_t>();
  };
  all.read = [&](sdbus::MethodReply& r) { r >> allValues; };
  introspect.read = [&](sdbus::MethodReply& r) { r >> xml; };
  h.listener.call(
      PROPERTIES, "Get",
      [](sdbus::MethodCall& m) { m << std::string(MANAGER) << std::string("Running"); }, running);
  h.listener.call(
      PROPERTIES, "GetAll", [](sdbus::MethodCall& m) { m << std::string(MANAGER); }, all);
  h.listener.call(
      PROPERTIES, "Set",
      [](sdbus::MethodCall& m) {
        m << std::string(MANAGER) << std::string("Running") << sdbus::Variant(uint32_t(0));
      },
      set);
  h.listener.call(MANAGER, "Shutdown", nullptr, madeUp);
  h.listener.call("org.freedesktop.DBus.Introspectable", "Introspect", nullptr, introspect);
  ASSERT_TRUE(h.turnUntil(
      [&]() { return running.done && all.done && set.done && madeUp.done && introspect.done; }));

  EXPECT_EQ(running.error, "");
  EXPECT_EQ(runningValue, 3u);
  EXPECT_EQ(all.error, "");
  EXPECT_EQ(allValues.size(), 18u);
  EXPECT_TRUE(allValues["Drained"].get<bool>());
  EXPECT_EQ(allValues["NRunning"].get<uint32_t>(), 3u);
  EXPECT_EQ(allValues["NSucceededSinceStart"].get<uint32_t>(), 41u);
  EXPECT_EQ(allValues["NSubmittedSinceStart"].get<uint32_t>(), 0u);
  EXPECT_EQ(allValues["Version"].get<std::string>(), "9.9.9");
  EXPECT_EQ(allValues["Succeeded"].get<uint64_t>(), 41u);
  EXPECT_EQ(allValues["LastSeq"].get<uint64_t>(), 77u);
  EXPECT_EQ(allValues["Waiting"].get<uint32_t>(), 0u);
  EXPECT_NE(set.error, "") << "a read-only property was set";
  EXPECT_EQ(madeUp.error, "org.freedesktop.DBus.Error.UnknownMethod");
  EXPECT_NE(xml.find("org.freedesktop.DBus.Property.EmitsChangedSignal\" value=\"false\""),
            std::string::npos)
      << xml;
}

TEST(ManagerObject, ThrottlesProgressAndKeepsTheLatest) {
  Harness h;
  for (int i = 1; i <= 100; i++) h.object.onProgress(5, 1000, 1, i / 100.0);
  ASSERT_TRUE(h.turnUntil([&]() { return h.listener.progress.size() == 2; }));
  h.timer.afterDelay(300 * kj::MILLISECONDS).wait(h.io.waitScope);
  ASSERT_EQ(h.listener.progress.size(), 2u) << "at most one per 250 ms";
  EXPECT_EQ(h.listener.progress[0].fraction, 0.01);
  EXPECT_EQ(h.listener.progress[1].fraction, 1.0);
}

TEST(ManagerObject, SignalsCarryTheEventTimeAndSeqAndSubmitsAreCounted) {
  // TaskStateChanged: the event's own time in µs since the epoch (as systemd's
  // *Timestamp properties) and its seq. TaskProgress: when the daemon got the
  // report, and the seq of the state change sent before it.
  Harness h;
  h.event(41, 9, nullptr, TaskState::QUEUED);
  h.event(42, 9, TaskState::QUEUED, TaskState::STARTING);
  h.event(43, 9, TaskState::STARTING, TaskState::RUNNING);
  h.event(44, 10, nullptr, TaskState::QUEUED);
  uint64_t before = (kj::systemPreciseCalendarClock().now() - kj::UNIX_EPOCH) / kj::MICROSECONDS;
  h.object.onProgress(9, 1000, 1, 0.25);
  uint64_t after = (kj::systemPreciseCalendarClock().now() - kj::UNIX_EPOCH) / kj::MICROSECONDS;
  ASSERT_TRUE(h.turnUntil(
      [&]() { return h.listener.changes.size() == 4 && h.listener.progress.size() == 1; }));
  for (auto& c : h.listener.changes) EXPECT_EQ(c.timestamp, c.seq * 1000000 + 123456) << c.seq;
  auto& p = h.listener.progress[0];
  EXPECT_EQ(p.id, 9u);
  EXPECT_EQ(p.seq, 44u);
  EXPECT_GE(p.timestamp, before);
  EXPECT_LE(p.timestamp, after);

  Reply submitted;
  uint32_t count = 99;
  submitted.read = [&](sdbus::MethodReply& r) {
    sdbus::Variant v;
    r >> v;
    count = v.get<uint32_t>();
  };
  h.listener.call(
      PROPERTIES, "Get",
      [](sdbus::MethodCall& m) {
        m << std::string(MANAGER) << std::string("NSubmittedSinceStart");
      },
      submitted);
  ASSERT_TRUE(h.turnUntil([&]() { return submitted.done; }));
  EXPECT_EQ(submitted.error, "");
  EXPECT_EQ(count, 2u) << "two tasks were submitted (created events)";
}

TEST(ManagerObject, OwnsTheNameAgainAfterTheBusRestartsAndSignalsFlowAgain) {
  Harness h;
  h.event(1, 1, nullptr, TaskState::QUEUED);
  ASSERT_TRUE(h.turnUntil([&]() { return h.listener.changes.size() == 1; }));

  h.dbus.stop();
  ASSERT_TRUE(h.turnUntil([&]() { return !h.daemonBus.connected(); }));
  EXPECT_FALSE(h.object.ownsName());
  h.event(2, 1, TaskState::QUEUED, TaskState::STARTING);  // no bus: not sent, not kept
  EXPECT_EQ(h.object.stats().dropped, 1u);

  h.dbus.start();
  ASSERT_TRUE(h.turnUntil(
      [&]() { return h.daemonBus.connected() && h.clientBus.connected() && h.object.ownsName(); }));
  EXPECT_EQ(h.nameOwner(), h.daemonBus.connection().getUniqueName());
  h.event(3, 1, TaskState::STARTING, TaskState::RUNNING);
  ASSERT_TRUE(h.turnUntil([&]() { return h.listener.changes.size() == 2; }));
  EXPECT_EQ(h.listener.changes[1].seq, 3u);
}

TEST(ManagerObject, TakesItsNameOnceAnotherOwnerReleasesIt) {
  // A stale daemon held the name when we connected: we serve nameless, and
  // the moment it lets go the name is ours, without a reconnect.
  Harness h(Harness::Name::HELD_BY_ANOTHER);
  auto& squatter = *KJ_ASSERT_NONNULL(h.squatter);
  EXPECT_FALSE(h.object.ownsName());
  EXPECT_EQ(h.nameOwner(), squatter.uniqueName());
  h.timer.afterDelay(50 * kj::MILLISECONDS).wait(h.io.waitScope);
  EXPECT_FALSE(h.object.ownsName()) << "taken from a holder that did not let go";

  squatter.release();
  ASSERT_TRUE(h.turnUntil([&]() { return h.object.ownsName(); }));
  EXPECT_EQ(h.nameOwner(), h.daemonBus.connection().getUniqueName());
  EXPECT_EQ(h.daemonBus.stats().connects, 1u) << "got it by reconnecting, not by watching";

  // Clients that address io.taskctl1 hear us now.
  h.event(1, 1, nullptr, TaskState::QUEUED);
  ASSERT_TRUE(h.turnUntil([&]() { return h.listener.changes.size() == 1; }));
  EXPECT_EQ(h.listener.changes[0].seq, 1u);
}

TEST(ManagerObject, NoticesItLostTheNameAndTakesItBackOnceFree) {
  Harness h;
  ASSERT_TRUE(h.object.ownsName());
  // The name goes (released under us) and another takes it before we could.
  h.daemonBus.connection().releaseName(ManagerObject::NAME);
  Squatter squatter;
  ASSERT_EQ(h.nameOwner(), squatter.uniqueName());
  ASSERT_TRUE(h.turnUntil([&]() { return !h.object.ownsName(); }));
  h.timer.afterDelay(50 * kj::MILLISECONDS).wait(h.io.waitScope);
  EXPECT_FALSE(h.object.ownsName());
  EXPECT_EQ(h.nameOwner(), squatter.uniqueName());

  squatter.release();
  ASSERT_TRUE(h.turnUntil([&]() { return h.object.ownsName(); }));
  EXPECT_EQ(h.nameOwner(), h.daemonBus.connection().getUniqueName());
}

TEST(ManagerObject, WatchesForItsNameAgainOnANewConnection) {
  // The watch is made per connection: after a bus restart that another
  // process wins the race for the name, the new connection waits for it too.
  Harness h;
  h.dbus.stop();
  ASSERT_TRUE(h.turnUntil([&]() { return !h.daemonBus.connected(); }));
  h.dbus.start();
  h.squatter = kj::heap<Squatter>();  // before the loop turns: before we reconnect
  auto& squatter = *KJ_ASSERT_NONNULL(h.squatter);
  ASSERT_TRUE(h.turnUntil([&]() { return h.daemonBus.connected() && h.clientBus.connected(); }));
  EXPECT_FALSE(h.object.ownsName());
  EXPECT_EQ(h.nameOwner(), squatter.uniqueName());

  squatter.release();
  ASSERT_TRUE(h.turnUntil([&]() { return h.object.ownsName(); }));
  EXPECT_EQ(h.nameOwner(), h.daemonBus.connection().getUniqueName());
  h.event(1, 1, nullptr, TaskState::QUEUED);
  ASSERT_TRUE(h.turnUntil([&]() { return h.listener.changes.size() == 1; }));
}

}  // namespace
}  // namespace taskctl
