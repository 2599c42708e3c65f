// What one `list` call returns: which stored tasks make up a page.
//
// A reply is one Cap'n Proto message, and the RPC system will not send one
// larger than 8 MiB, so a listing of any size is a series of pages (the
// client calls until `more` is false). A page is bounded by a count of
// tasks, by the size its reply will have, and by the tasks it may read, so
// no call holds the event loop for the whole store. Each page goes on from
// a cursor (the last id the previous one dealt with) up to `through`, the
// newest task when the listing began: the listing ends however fast tasks
// are submitted, and lists each task at most once.
#pragma once

#include <kj/array.h>
#include <kj/string.h>
#include <kj/vector.h>

#include <utility>

#include "store/store.h"

namespace taskctl {

// The tasks a listing keeps; an empty field keeps any.
struct TaskFilter {
  kj::Maybe<records::TaskState> state;
  kj::String queue;
  kj::Vector<std::pair<kj::String, kj::String>> labels;  // every one must match
  kj::Maybe<uint32_t> uid;                               // null: every user's

  bool matches(records::Task::Reader task) const;
};

struct PageBounds {
  size_t maxTasks = 0;    // 0: no bound
  size_t maxBytes = 0;    // of the reply, as estimatedViewBytes() adds up; a page has at least
                          // one task however large
  size_t maxScanned = 0;  // stored tasks read, matching or not; 0: no bound
};

struct ListPage {
  kj::Array<uint64_t> ids;  // ascending
  size_t bytes = 0;         // their estimated size in the reply
  bool more = false;        // tasks up to `through` remain: ask again from nextCursor
  uint64_t nextCursor = 0;  // the highest id this page dealt with
  uint64_t through = 0;     // the listing's last id (0: the store held no task)
};

// One page: the tasks that match `filter`, ascending by id, above `after` and at most
// `through`. `through` 0 is the first page: it becomes the newest stored id, and with a `limit`
// the page starts at the newest `limit`th match (the newest N, listed by id). Later pages pass
// the first one's `through` and ignore `limit`.
ListPage readListPage(Store& store, const TaskFilter& filter, uint32_t limit, uint64_t after,
                      uint64_t through, PageBounds bounds);

// An upper bound on the bytes a task's TaskView (without env or attempts) adds to a reply.
size_t estimatedViewBytes(records::Task::Reader task);

}  // namespace taskctl
