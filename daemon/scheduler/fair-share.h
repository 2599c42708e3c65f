// A queue's ready tasks and who runs what in it: the dispatch order of
// DESIGN 6. Within one user, priority (higher first), then id; between
// users, a free slot goes to the user with the fewest tasks running in the
// queue, ties to the one whose last start there is the oldest (fair share).
// A queue with fair share off keeps everyone's ready tasks in one list, in
// priority then id order.
//
// Costs: a start is O(log users) (one std::set re-key and one map lookup);
// a queued task costs its 8 bytes in a per-priority array of its user's, as
// before (docs/design-notes.md).
#pragma once

#include <kj/common.h>
#include <kj/function.h>
#include <kj/vector.h>
#include <stdint.h>

#include <deque>
#include <map>
#include <set>
#include <tuple>

namespace taskctl {

// Ready tasks in dispatch order: priority (higher first), then id. One array
// of ids per priority level, 8 bytes a task where a tree node took 64
// (DESIGN 11): ids only grow, so a new task goes at the end of its level. A
// task cancelled while queued is only counted out; its id is skipped when
// reached (no longer active) and dropped by compact().
class ReadyList {
 public:
  void add(int32_t priority, uint64_t id);
  void cancelled() {
    live--;
    stale++;
  }
  size_t size() const { return live; }
  bool empty() const { return live == 0; }
  size_t staleCount() const { return stale; }
  uint64_t pop(kj::FunctionParam<bool(uint64_t id)> isLive);
  // The first live id, removed (stale ones before it go too). Not empty().
  void compact(kj::FunctionParam<bool(uint64_t id)> isLive);
  // Drops the stale ids and gives back the memory they took.
  void takeAll(kj::FunctionParam<bool(uint64_t id)> isLive, kj::Vector<uint64_t>& out);
  // Appends the live ids to `out` and empties the list.

 private:
  std::map<int32_t, std::deque<uint64_t>> levels;  // by -priority: highest first
  size_t live = 0, stale = 0;
};

class FairReady {
 public:
  // Ready tasks.
  void add(uint32_t uid, int32_t priority, uint64_t id);
  void cancelled(uint32_t uid);  // a ready task of `uid` was cancelled (its id goes stale)
  size_t size() const { return live; }
  bool empty() const { return live == 0; }
  size_t staleCount() const { return stale; }
  uint64_t pop(kj::FunctionParam<bool(uint64_t id)> isLive);
  // The next task to start: from the user whose turn it is, that user's
  // first by priority then id. Not empty(). Call started() once it takes a slot.
  void compact(kj::FunctionParam<bool(uint64_t id)> isLive);

  // Slots: every start and end of an execution in the queue, whichever way
  // it was dispatched.
  void started(uint32_t uid);
  void ended(uint32_t uid);
  uint32_t runningOf(uint32_t uid) const;

  // Active tasks (any state but terminal) per user in this queue: the
  // per-queue quota, and how long a user's entry lives.
  void joined(uint32_t uid);
  void left(uint32_t uid);
  uint64_t activeOf(uint32_t uid) const;

  bool fairShare() const { return fair; }
  void setFairShare(bool on, kj::FunctionParam<bool(uint64_t id)> isLive,
                    kj::FunctionParam<void(uint64_t id)> readd);
  // Turns fair share on or off: the ready ids are taken out and given to
  // `readd`, which adds each back (it knows their user and priority).

  size_t userCount() const { return users.size(); }

 private:
  // All ready tasks in one list when fair share is off: a uid no user has.
  static constexpr uint32_t SHARED = 0xffffffff;
  struct User {
    ReadyList ready;
    uint32_t running = 0;    // starting or running in this queue
    uint64_t lastStart = 0;  // `starts` at its last start; 0: never (since its entry exists)
    uint64_t active = 0;
    bool inTurn = false;  // has ready tasks: in `turns`
  };
  using Turn = std::tuple<uint32_t, uint64_t, uint32_t>;  // running, lastStart, uid
  std::map<uint32_t, User> users;
  // Users with ready tasks, whose turn comes first first.
  std::set<Turn> turns;
  uint64_t starts = 0;  // a counter, not a clock: "oldest" needs only an order
  size_t live = 0, stale = 0;
  bool fair = true;

  uint32_t bucketOf(uint32_t uid) const { return fair ? uid : SHARED; }
  Turn turnOf(uint32_t uid, const User& user) const {
    // With fair share off one list holds everyone's: it never waits its turn.
    return uid == SHARED ? Turn{0, 0, uid} : Turn{user.running, user.lastStart, uid};
  }
  void rekey(uint32_t uid, User& user, kj::FunctionParam<void()> change);
  void updateTurn(uint32_t uid, User& user);
  void forgetIfIdle(std::map<uint32_t, User>::iterator it);
};

}  // namespace taskctl
