// Who holds which unique key, who waits behind it, and the request ids of
// submits (DESIGN 6: keys and request ids are per owner, so one user's key
// or id never blocks or reveals another's task). Owned by the Scheduler,
// which tells it of every change; it answers questions and calls no one.
#pragma once

#include <kj/array.h>
#include <kj/async.h>
#include <kj/string.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "store/store.h"

namespace taskctl {

constexpr int64_t REQUEST_ID_TTL_NS = 24ll * 3600 * 1000000000;

class KeyRegistry {
 public:
  explicit KeyRegistry(Store& store);  // `store` outlives this object
  KJ_DISALLOW_COPY(KeyRegistry);

  // ---- Unique keys ----
  // Every active task holding or waiting for a key (including submits not
  // yet durable), in id order: the first holds it.

  void add(uint32_t uid, kj::StringPtr key, uint64_t id);  // behind the others
  void remove(uint32_t uid, kj::StringPtr key, uint64_t id);
  kj::ArrayPtr<const uint64_t> holders(uint32_t uid, kj::StringPtr key) const;
  kj::Maybe<uint64_t> holder(uint32_t uid, kj::StringPtr key) const;  // the first
  bool holds(uint32_t uid, kj::StringPtr key, uint64_t id) const;
  // True when `id` holds the key, or no one does.

  // ---- Request ids ----

  struct Known {
    kj::Maybe<uint64_t> taskId;  // a live mapping: the first submit's task
    bool stale = false;          // an expired one not yet swept: replace it
    int64_t staleCreatedAt = 0;
  };
  Known known(uint32_t uid, kj::StringPtr requestId, int64_t nowNs);
  // What the store says of a durable submit with this request id.

  kj::Maybe<kj::Promise<uint64_t>> pending(uint32_t uid, kj::StringPtr requestId);
  // A submit with this id whose outcome is not durable yet: its answer, id
  // or refusal, for a resend.
  void addPending(uint32_t uid, kj::StringPtr requestId, kj::ForkedPromise<uint64_t> answer);
  void forgetPending(uint32_t uid, kj::StringPtr requestId);

 private:
  using UserKey = std::pair<uint32_t, std::string>;  // (uid, key or request id)
  static UserKey userKey(uint32_t uid, kj::StringPtr text) {
    return {uid, std::string(text.begin(), text.size())};
  }
  Store& store;
  std::map<UserKey, std::vector<uint64_t>> keyHolders;
  std::map<UserKey, kj::ForkedPromise<uint64_t>> pendingRequests;
};

}  // namespace taskctl
