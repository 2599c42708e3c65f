#include "scheduler/key-registry.h"

#include <algorithm>

namespace taskctl {

KeyRegistry::KeyRegistry(Store& store) : store(store) {}

void KeyRegistry::add(uint32_t uid, kj::StringPtr key, uint64_t id) {
  keyHolders[userKey(uid, key)].push_back(id);
}

void KeyRegistry::remove(uint32_t uid, kj::StringPtr key, uint64_t id) {
  auto it = keyHolders.find(userKey(uid, key));
  if (it == keyHolders.end()) return;
  auto& ids = it->second;
  ids.erase(std::remove(ids.begin(), ids.end(), id), ids.end());
  if (ids.empty()) keyHolders.erase(it);
}

kj::ArrayPtr<const uint64_t> KeyRegistry::holders(uint32_t uid, kj::StringPtr key) const {
  auto it = keyHolders.find(userKey(uid, key));
  if (it == keyHolders.end()) return nullptr;
  return kj::arrayPtr(it->second.data(), it->second.size());
}

kj::Maybe<uint64_t> KeyRegistry::holder(uint32_t uid, kj::StringPtr key) const {
  auto ids = holders(uid, key);
  if (ids.size() == 0) return nullptr;
  return ids.front();
}

bool KeyRegistry::holds(uint32_t uid, kj::StringPtr key, uint64_t id) const {
  KJ_IF_MAYBE (first, holder(uid, key)) return *first == id;
  return true;
}

KeyRegistry::Known KeyRegistry::known(uint32_t uid, kj::StringPtr requestId, int64_t nowNs) {
  Known known;
  KJ_IF_MAYBE (mapping, store.getRequest(uid, requestId)) {
    auto m = (*mapping)->get();
    if (m.getCreatedAt() + REQUEST_ID_TTL_NS > nowNs) {
      known.taskId = m.getTaskId();
    } else {
      known.stale = true;
      known.staleCreatedAt = m.getCreatedAt();
    }
  }
  return known;
}

kj::Maybe<kj::Promise<uint64_t>> KeyRegistry::pending(uint32_t uid, kj::StringPtr requestId) {
  auto it = pendingRequests.find(userKey(uid, requestId));
  if (it == pendingRequests.end()) return nullptr;
  return it->second.addBranch();
}

void KeyRegistry::addPending(uint32_t uid, kj::StringPtr requestId,
                             kj::ForkedPromise<uint64_t> answer) {
  pendingRequests.emplace(userKey(uid, requestId), kj::mv(answer));
}

void KeyRegistry::forgetPending(uint32_t uid, kj::StringPtr requestId) {
  pendingRequests.erase(userKey(uid, requestId));
}

}  // namespace taskctl
