// The dispatch order of one queue (DESIGN 6): priority then id within a
// user, fair share between users.
#include "scheduler/fair-share.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>

namespace taskctl {
namespace {

constexpr uint32_t ALICE = 1000, BOB = 1001, CAROL = 1002;

// A queue's ready tasks with a concurrency, started and ended by hand.
struct Queue {
  FairReady ready;
  std::set<uint64_t> cancelled;
  std::map<uint64_t, uint32_t> owner;
  void add(uint32_t uid, uint64_t id, int32_t priority = 0) {
    owner[id] = uid;
    ready.joined(uid);
    ready.add(uid, priority, id);
  }
  uint64_t start() {
    uint64_t id = ready.pop([&](uint64_t id) { return cancelled.count(id) == 0; });
    ready.started(owner[id]);
    return id;
  }
  void end(uint64_t id) {
    ready.ended(owner[id]);
    ready.left(owner[id]);
  }
  void cancel(uint64_t id) {
    cancelled.insert(id);
    ready.left(owner[id]);
    ready.cancelled(owner[id]);
  }
};

TEST(FairShare, OneSlotAlternatesBetweenTwoUsersWhateverTheBacklog) {
  Queue q;
  for (uint64_t id = 1; id <= 1000; id++) q.add(ALICE, id);
  q.add(BOB, 1001);
  q.add(BOB, 1002);
  std::vector<uint64_t> order;
  for (int i = 0; i < 6; i++) {
    uint64_t id = q.start();
    order.push_back(id);
    q.end(id);
  }
  // Alice was never served before Bob either: the lower uid breaks that
  // first tie; from then on they alternate, Bob's first at the next slot.
  EXPECT_EQ(order, (std::vector<uint64_t>{1, 1001, 2, 1002, 3, 4}));
}

TEST(FairShare, AFreeSlotGoesToTheUserRunningFewest) {
  Queue q;
  for (uint64_t id = 1; id <= 10; id++) q.add(ALICE, id);
  // Alice takes all three slots while she is alone.
  EXPECT_EQ(q.start(), 1u);
  EXPECT_EQ(q.start(), 2u);
  EXPECT_EQ(q.start(), 3u);
  q.add(BOB, 11);
  q.add(BOB, 12);
  q.add(CAROL, 13);
  q.end(1);  // a slot: Bob and Carol run none; Bob was served (never) as long ago as Carol
  EXPECT_EQ(q.start(), 11u);
  q.end(2);  // Carol runs none, Bob one
  EXPECT_EQ(q.start(), 13u);
  q.end(3);  // Alice one, Bob one, Carol one: Alice's last start is the oldest
  EXPECT_EQ(q.start(), 4u);
  q.end(11);  // Bob runs none now
  EXPECT_EQ(q.start(), 12u);
  EXPECT_EQ(q.ready.runningOf(ALICE), 1u);
  EXPECT_EQ(q.ready.runningOf(BOB), 1u);
}

TEST(FairShare, TiesGoToTheUserServedLeastRecently) {
  Queue q;
  for (uint64_t id = 1; id <= 3; id++) q.add(CAROL, id);
  for (uint64_t id = 4; id <= 6; id++) q.add(BOB, id);
  for (uint64_t id = 7; id <= 9; id++) q.add(ALICE, id);
  std::vector<uint64_t> order;
  for (int i = 0; i < 9; i++) {
    uint64_t id = q.start();
    order.push_back(id);
    q.end(id);
  }
  // Round robin, in the order of the first round (uid among the never served).
  EXPECT_EQ(order, (std::vector<uint64_t>{7, 4, 1, 8, 5, 2, 9, 6, 3}));
}

TEST(FairShare, PriorityOrdersOneUsersTasksNotTheUsers) {
  Queue q;
  q.add(ALICE, 1, 0);
  q.add(ALICE, 2, 50);
  q.add(ALICE, 3, 50);
  q.add(BOB, 4, -10);
  q.add(BOB, 5, 0);
  std::vector<uint64_t> order;
  while (!q.ready.empty()) {
    uint64_t id = q.start();
    order.push_back(id);
    q.end(id);
  }
  // Alice's priority 50 does not beat Bob's turn; it orders her own tasks.
  EXPECT_EQ(order, (std::vector<uint64_t>{2, 5, 3, 4, 1}));
}

TEST(FairShare, OffItIsPriorityThenIdForEveryone) {
  Queue q;
  q.ready.setFairShare(
      false, [](uint64_t) { return true; }, [](uint64_t) {});
  for (uint64_t id = 1; id <= 5; id++) q.add(ALICE, id);
  q.add(BOB, 6);
  q.add(BOB, 7, 1);
  std::vector<uint64_t> order;
  while (!q.ready.empty()) {
    uint64_t id = q.start();
    order.push_back(id);
    q.end(id);
  }
  EXPECT_EQ(order, (std::vector<uint64_t>{7, 1, 2, 3, 4, 5, 6}));
}

TEST(FairShare, TurningItOnOrOffKeepsEveryReadyTask) {
  Queue q;
  for (uint64_t id = 1; id <= 4; id++) q.add(ALICE, id);
  q.add(BOB, 5);
  q.add(BOB, 6);
  q.cancel(2);
  auto relocate = [&](bool on) {
    q.ready.setFairShare(
        on, [&](uint64_t id) { return q.cancelled.count(id) == 0; },
        [&](uint64_t id) { q.ready.add(q.owner[id], 0, id); });
  };
  relocate(false);
  EXPECT_EQ(q.ready.size(), 5u);
  EXPECT_EQ(q.ready.staleCount(), 0u);
  EXPECT_EQ(q.start(), 1u);
  EXPECT_EQ(q.start(), 3u);
  relocate(true);
  EXPECT_EQ(q.ready.size(), 3u);
  EXPECT_EQ(q.start(), 5u);  // Bob runs none, Alice two
  EXPECT_EQ(q.ready.activeOf(ALICE), 3u);
}

TEST(FairShare, AUserWithNothingLeftIsForgotten) {
  Queue q;
  q.add(ALICE, 1);
  q.add(BOB, 2);
  q.cancel(2);
  EXPECT_EQ(q.ready.userCount(), 1u);
  EXPECT_EQ(q.ready.staleCount(), 0u);  // Bob's stale id went with him
  q.end(q.start());
  EXPECT_EQ(q.ready.userCount(), 0u);
  EXPECT_TRUE(q.ready.empty());
}

TEST(FairShare, CountsActiveTasksPerUser) {
  Queue q;
  q.add(ALICE, 1);
  q.add(ALICE, 2);
  q.add(BOB, 3);
  EXPECT_EQ(q.ready.activeOf(ALICE), 2u);
  EXPECT_EQ(q.ready.activeOf(BOB), 1u);
  EXPECT_EQ(q.ready.activeOf(CAROL), 0u);
  q.end(q.start());
  EXPECT_EQ(q.ready.activeOf(ALICE), 1u);
}

}  // namespace
}  // namespace taskctl
