#include "scheduler/list-pages.h"

namespace taskctl {

bool TaskFilter::matches(records::Task::Reader task) const {
  KJ_IF_MAYBE (u, uid) {
    if (task.getUid() != *u) return false;
  }
  KJ_IF_MAYBE (s, state) {
    if (task.getState() != *s) return false;
  }
  if (queue.size() > 0 && task.getQueue() != queue) return false;
  for (auto& [key, value] : labels) {
    bool found = false;
    for (auto label : task.getLabels()) {
      if (label.getKey() == key && label.getValue() == value) found = true;
    }
    if (!found) return false;
  }
  return true;
}

size_t estimatedViewBytes(records::Task::Reader task) {
  // The view copies the record's fields but its env (and the few that only
  // the scheduler reads); what it adds is its own struct, two state words
  // and waitingFor, which names each dependency, the queue or the key.
  size_t words = task.totalSize().wordCount - task.getEnv().totalSize().wordCount;
  return words * sizeof(capnp::word) + 512 + 48 * task.getAfter().size() + task.getQueue().size() +
         task.getKey().size();
}

ListPage readListPage(Store& store, const TaskFilter& filter, uint32_t limit, uint64_t after,
                      uint64_t through, PageBounds bounds) {
  ListPage page;
  if (through == 0) {
    // The first page: the listing ends at the newest task stored now, and
    // `--limit N` starts it at the Nth newest match (counted, not copied).
    uint32_t matched = 0;
    uint64_t start = 0;
    store.forEachTaskNewestFirst([&](records::Task::Reader task) {
      if (through == 0) through = task.getId();
      if (limit == 0) return false;
      if (filter.matches(task) && ++matched == limit) {
        start = task.getId();
        return false;
      }
      return true;
    });
    if (start > 0) after = start - 1;
    page.through = through;
    if (through == 0) return page;  // no task at all
  }
  page.through = through;
  page.nextCursor = after;
  if (after >= through) return page;  // past the end (and no wrapping round at the top)
  kj::Vector<uint64_t> ids;
  size_t scanned = 0;
  store.forEachTaskFrom(after + 1, [&](records::Task::Reader task) {
    uint64_t id = task.getId();
    if (id > through) return false;
    if (bounds.maxScanned != 0 && scanned == bounds.maxScanned) {
      page.more = true;
      return false;
    }
    scanned++;
    if (filter.matches(task)) {
      size_t bytes = estimatedViewBytes(task);
      bool full = bounds.maxTasks != 0 && ids.size() == bounds.maxTasks;
      if (ids.size() > 0 && (full || page.bytes + bytes > bounds.maxBytes)) {
        page.more = true;  // this one starts the next page
        return false;
      }
      ids.add(id);
      page.bytes += bytes;
    }
    page.nextCursor = id;
    return true;
  });
  page.ids = ids.releaseAsArray();
  return page;
}

}  // namespace taskctl
