#include "scheduler/fair-share.h"

#include <kj/debug.h>

#include <algorithm>

namespace taskctl {

// ---- ReadyList: one user's ready tasks (or everyone's, fair share off) ----

void ReadyList::add(int32_t priority, uint64_t id) {
  auto& level = levels[-priority];
  if (level.empty() || level.back() < id) {
    level.push_back(id);  // a new task, or recovery in id order
  } else {
    // An older task back in the queue (requeued, or a retry): in id order.
    level.insert(std::lower_bound(level.begin(), level.end(), id), id);
  }
  live++;
}

uint64_t ReadyList::pop(kj::FunctionParam<bool(uint64_t id)> isLive) {
  KJ_REQUIRE(live > 0, "pop from an empty ready list");
  for (auto it = levels.begin(); it != levels.end(); it = levels.erase(it)) {
    auto& level = it->second;
    while (!level.empty()) {
      uint64_t id = level.front();
      level.pop_front();
      if (isLive(id)) {
        live--;
        if (level.empty()) levels.erase(it);
        return id;
      }
      stale--;
    }
  }
  KJ_FAIL_REQUIRE("ready list counted a live task it does not hold");
}

void ReadyList::compact(kj::FunctionParam<bool(uint64_t id)> isLive) {
  if (stale == 0) return;
  for (auto it = levels.begin(); it != levels.end();) {
    std::deque<uint64_t> kept;
    for (auto id : it->second) {
      if (isLive(id)) kept.push_back(id);
    }
    if (kept.empty()) {
      it = levels.erase(it);
    } else {
      it->second = kj::mv(kept);
      ++it;
    }
  }
  stale = 0;
}

void ReadyList::takeAll(kj::FunctionParam<bool(uint64_t id)> isLive, kj::Vector<uint64_t>& out) {
  for (auto& [level, ids] : levels) {
    for (auto id : ids) {
      if (isLive(id)) out.add(id);
    }
  }
  levels.clear();
  live = 0;
  stale = 0;
}

// ---- FairReady: whose turn it is ----

void FairReady::rekey(uint32_t uid, User& user, kj::FunctionParam<void()> change) {
  if (user.inTurn) turns.erase(turnOf(uid, user));
  change();
  if (user.inTurn) turns.insert(turnOf(uid, user));
}

void FairReady::updateTurn(uint32_t uid, User& user) {
  bool should = !user.ready.empty();
  if (should == user.inTurn) return;
  if (should) {
    turns.insert(turnOf(uid, user));
  } else {
    turns.erase(turnOf(uid, user));
  }
  user.inTurn = should;
}

void FairReady::forgetIfIdle(std::map<uint32_t, User>::iterator it) {
  // Nothing of this user's left in the queue: its entry goes (its stale ids
  // with it). Its next task counts as served longest ago, as a newcomer's.
  auto& user = it->second;
  if (user.active > 0 || user.running > 0 || !user.ready.empty()) return;
  KJ_ASSERT(!user.inTurn);
  stale -= user.ready.staleCount();
  users.erase(it);
}

void FairReady::add(uint32_t uid, int32_t priority, uint64_t id) {
  uint32_t bucket = bucketOf(uid);
  auto& user = users[bucket];
  user.ready.add(priority, id);
  live++;
  updateTurn(bucket, user);
}

void FairReady::cancelled(uint32_t uid) {
  auto it = users.find(bucketOf(uid));
  KJ_REQUIRE(it != users.end() && !it->second.ready.empty(), "cancel of a task not ready here");
  it->second.ready.cancelled();
  live--;
  stale++;
  updateTurn(it->first, it->second);
  forgetIfIdle(it);
}

uint64_t FairReady::pop(kj::FunctionParam<bool(uint64_t id)> isLive) {
  KJ_REQUIRE(live > 0 && !turns.empty(), "pop from an empty ready queue");
  uint32_t uid = std::get<2>(*turns.begin());
  auto& user = users.find(uid)->second;
  size_t staleBefore = user.ready.staleCount();
  uint64_t id = user.ready.pop(isLive);
  stale -= staleBefore - user.ready.staleCount();
  live--;
  updateTurn(uid, user);
  return id;
}

void FairReady::compact(kj::FunctionParam<bool(uint64_t id)> isLive) {
  if (stale == 0) return;
  for (auto it = users.begin(); it != users.end();) {
    auto next = std::next(it);
    it->second.ready.compact(isLive);
    forgetIfIdle(it);
    it = next;
  }
  stale = 0;
}

void FairReady::started(uint32_t uid) {
  auto& user = users[uid];
  rekey(uid, user, [&]() {
    user.running++;
    user.lastStart = ++starts;
  });
}

void FairReady::ended(uint32_t uid) {
  auto it = users.find(uid);
  KJ_REQUIRE(it != users.end() && it->second.running > 0, "an end of no start", uid);
  rekey(uid, it->second, [&]() { it->second.running--; });
  forgetIfIdle(it);
}

uint32_t FairReady::runningOf(uint32_t uid) const {
  auto it = users.find(uid);
  return it == users.end() ? 0 : it->second.running;
}

void FairReady::joined(uint32_t uid) { users[uid].active++; }

void FairReady::left(uint32_t uid) {
  auto it = users.find(uid);
  KJ_REQUIRE(it != users.end() && it->second.active > 0, "a task left that never joined", uid);
  it->second.active--;
  forgetIfIdle(it);
}

uint64_t FairReady::activeOf(uint32_t uid) const {
  auto it = users.find(uid);
  return it == users.end() ? 0 : it->second.active;
}

void FairReady::setFairShare(bool on, kj::FunctionParam<bool(uint64_t id)> isLive,
                             kj::FunctionParam<void(uint64_t id)> readd) {
  if (on == fair) return;
  kj::Vector<uint64_t> ids;
  for (auto& [uid, user] : users) {
    user.ready.takeAll(isLive, ids);
    user.inTurn = false;
  }
  turns.clear();
  live = 0;
  stale = 0;
  for (auto it = users.begin(); it != users.end();) {
    auto next = std::next(it);
    forgetIfIdle(it);
    it = next;
  }
  fair = on;
  // Ascending ids: each lands at the end of its level, as at recovery.
  std::sort(ids.begin(), ids.end());
  for (auto id : ids) readd(id);
}

}  // namespace taskctl
