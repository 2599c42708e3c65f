#include "scheduler/list-pages.h"

#include <gtest/gtest.h>
#include <kj/debug.h>
#include <rpc.capnp.h>
#include <stdlib.h>

#include <vector>

#include "temp-dir.h"

namespace taskctl {
namespace {

using records::TaskState;

// A fresh store under /tmp, removed with the object.
struct TempStore {
  TempDir dir{"list-pages-test"};
  kj::Own<Store> store = kj::heap<Store>(dir / "store");
};

struct TaskSpec {
  uint32_t uid = 0;
  TaskState state = TaskState::QUEUED;
  kj::StringPtr label = nullptr;  // kind=<label>
  size_t argBytes = 4;
  size_t envBytes = 0;
};

uint64_t put(Store& store, TaskSpec spec = {}) {
  capnp::MallocMessageBuilder message;
  auto task = message.initRoot<records::Task>();
  uint64_t id = store.allocateId();
  task.setId(id);
  task.setUid(spec.uid);
  task.setQueue("default");
  task.setState(spec.state);
  auto argv = task.initArgv(2);
  argv.set(0, "echo"_kj.asBytes());
  auto arg = kj::heapArray<kj::byte>(spec.argBytes);
  memset(arg.begin(), 'x', arg.size());
  argv.set(1, arg);
  if (spec.envBytes > 0) {
    auto entry = kj::heapArray<kj::byte>(spec.envBytes);
    memset(entry.begin(), 'e', entry.size());
    task.initEnv(1).set(0, entry);
  }
  if (spec.label.size() > 0) {
    auto labels = task.initLabels(1);
    labels[0].setKey("kind");
    labels[0].setValue(spec.label);
  }
  store.putTask(task);
  store.commit();
  return id;
}

PageBounds pages(size_t tasks, size_t bytes = 1 << 20, size_t scanned = 0) {
  PageBounds bounds;
  bounds.maxTasks = tasks;
  bounds.maxBytes = bytes;
  bounds.maxScanned = scanned;
  return bounds;
}

// Every page of a listing, as a client would ask for them.
struct Listing {
  std::vector<uint64_t> ids;
  std::vector<size_t> pageSizes;
};

Listing listAll(
    Store& store, const TaskFilter& filter, uint32_t limit, PageBounds bounds,
    kj::Function<void()> betweenPages = []() {}) {
  Listing listing;
  uint64_t after = 0, through = 0;
  for (size_t calls = 0;; calls++) {
    KJ_ASSERT(calls < 10000, "the listing does not end");
    auto page = readListPage(store, filter, limit, after, through, bounds);
    listing.pageSizes.push_back(page.ids.size());
    for (auto id : page.ids) listing.ids.push_back(id);
    if (!page.more) break;
    KJ_ASSERT(page.nextCursor > after || calls == 0, "the cursor does not move");
    after = page.nextCursor;
    through = page.through;
    betweenPages();
  }
  return listing;
}

std::vector<uint64_t> range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> ids;
  for (uint64_t id = first; id <= last; id++) ids.push_back(id);
  return ids;
}

TEST(ListPages, EveryTaskOnceInIdOrderAcrossPages) {
  TempStore s;
  for (int i = 0; i < 10; i++) put(*s.store);
  auto listing = listAll(*s.store, TaskFilter{}, 0, pages(3));
  EXPECT_EQ(listing.ids, range(1, 10));
  EXPECT_EQ(listing.pageSizes, (std::vector<size_t>{3, 3, 3, 1}));
}

TEST(ListPages, AnEmptyStoreIsOneEmptyPage) {
  TempStore s;
  auto page = readListPage(*s.store, TaskFilter{}, 0, 0, 0, pages(3));
  EXPECT_EQ(page.ids.size(), 0u);
  EXPECT_FALSE(page.more);
  EXPECT_EQ(page.through, 0u);
}

TEST(ListPages, ACursorPastTheEndIsAnEmptyLastPage) {
  TempStore s;
  for (int i = 0; i < 3; i++) put(*s.store);
  for (uint64_t after : {uint64_t(3), uint64_t(7), ~uint64_t(0)}) {
    auto page = readListPage(*s.store, TaskFilter{}, 0, after, 3, pages(10));
    EXPECT_EQ(page.ids.size(), 0u) << after;
    EXPECT_FALSE(page.more) << after;
  }
}

TEST(ListPages, AnExactMultipleOfThePageSizeEnds) {
  TempStore s;
  for (int i = 0; i < 6; i++) put(*s.store);
  auto listing = listAll(*s.store, TaskFilter{}, 0, pages(3));
  EXPECT_EQ(listing.ids, range(1, 6));
  // The last page may come back empty; it must come back.
  EXPECT_LE(listing.pageSizes.size(), 3u);
}

TEST(ListPages, TasksSubmittedWhileListingAreNotListed) {
  TempStore s;
  for (int i = 0; i < 5; i++) put(*s.store);
  auto listing = listAll(*s.store, TaskFilter{}, 0, pages(2), [&]() { put(*s.store); });
  EXPECT_EQ(listing.ids, range(1, 5));
}

TEST(ListPages, OnlyTheOwnersTasksWhenAUidIsGiven) {
  TempStore s;
  std::vector<uint64_t> mine;
  for (int i = 0; i < 30; i++) {
    uint64_t id = put(*s.store, TaskSpec{.uid = uint32_t(i % 3 == 0 ? 1000 : 0)});
    if (i % 3 == 0) mine.push_back(id);
  }
  TaskFilter filter;
  filter.uid = 1000u;
  EXPECT_EQ(listAll(*s.store, filter, 0, pages(4)).ids, mine);
}

TEST(ListPages, AScanBoundMayLeaveAPageEmptyButLosesNothing) {
  TempStore s;
  for (int i = 0; i < 20; i++) put(*s.store);
  uint64_t last = put(*s.store, TaskSpec{.uid = 1000});
  TaskFilter filter;
  filter.uid = 1000u;
  auto listing = listAll(*s.store, filter, 0, pages(100, 1 << 20, 5));
  EXPECT_EQ(listing.ids, std::vector<uint64_t>{last});
  // 21 tasks read 5 at a time: the matching one comes on the fifth page.
  EXPECT_EQ(listing.pageSizes, (std::vector<size_t>{0, 0, 0, 0, 1}));
}

TEST(ListPages, FiltersByStateAndLabel) {
  TempStore s;
  std::vector<uint64_t> want;
  for (int i = 0; i < 12; i++) {
    TaskSpec spec;
    spec.state = i % 2 ? TaskState::SUCCEEDED : TaskState::QUEUED;
    spec.label = i % 3 ? "a"_kj : "b"_kj;
    uint64_t id = put(*s.store, spec);
    if (i % 2 && i % 3) want.push_back(id);
  }
  TaskFilter filter;
  filter.state = TaskState::SUCCEEDED;
  filter.labels.add(kj::str("kind"), kj::str("a"));
  EXPECT_EQ(listAll(*s.store, filter, 0, pages(2)).ids, want);
}

TEST(ListPages, LimitIsTheNewestMatchesInIdOrderAcrossPages) {
  TempStore s;
  std::vector<uint64_t> even;
  for (int i = 0; i < 20; i++) {
    uint64_t id = put(*s.store, TaskSpec{.label = i % 2 ? "odd"_kj : "even"_kj});
    if (i % 2 == 0) even.push_back(id);
  }
  TaskFilter filter;
  filter.labels.add(kj::str("kind"), kj::str("even"));
  // New matches while the listing runs change nothing: it is the newest 7 when it began.
  // (Three pages of two and one of one: three are added.)
  auto listing =
      listAll(*s.store, filter, 7, pages(2), [&]() { put(*s.store, TaskSpec{.label = "even"}); });
  EXPECT_EQ(listing.ids, std::vector<uint64_t>(even.end() - 7, even.end()));
  EXPECT_EQ(listing.pageSizes.front(), 2u);
  // More than there are: all of them.
  EXPECT_EQ(listAll(*s.store, TaskFilter{}, 1000, pages(1000)).ids.size(), 20u + 3);
  // Without a filter: the newest N of all.
  EXPECT_EQ(listAll(*s.store, TaskFilter{}, 3, pages(1)).ids, range(21, 23));
}

TEST(ListPages, BigTasksMakeSmallPagesButEachGetsOne) {
  TempStore s;
  for (int i = 0; i < 5; i++) put(*s.store, TaskSpec{.argBytes = 900 << 10});
  auto listing = listAll(*s.store, TaskFilter{}, 0, pages(1000, 2 << 20));
  EXPECT_EQ(listing.ids, range(1, 5));
  EXPECT_EQ(listing.pageSizes, (std::vector<size_t>{2, 2, 1}));
  // A single task over the bound still comes, alone on its page.
  listing = listAll(*s.store, TaskFilter{}, 0, pages(1000, 100 << 10));
  EXPECT_EQ(listing.ids, range(1, 5));
  EXPECT_EQ(listing.pageSizes, (std::vector<size_t>{1, 1, 1, 1, 1}));
}

TEST(ListPages, EnvDoesNotCountSinceListsDoNotCarryIt) {
  TempStore s;
  for (int i = 0; i < 4; i++) put(*s.store, TaskSpec{.envBytes = 900 << 10});
  auto page = readListPage(*s.store, TaskFilter{}, 0, 0, 0, pages(1000, 64 << 10));
  EXPECT_EQ(page.ids.size(), 4u);
  EXPECT_FALSE(page.more);
}

TEST(ListPages, WithoutACountBoundMoreMeansItDidNotFit) {
  // What a client older than paging gets: one page, or `more` when it would not fit.
  TempStore s;
  for (int i = 0; i < 50; i++) put(*s.store);
  EXPECT_FALSE(readListPage(*s.store, TaskFilter{}, 0, 0, 0, pages(0, 1 << 20)).more);
  auto page = readListPage(*s.store, TaskFilter{}, 0, 0, 0, pages(0, 10 << 10));
  EXPECT_TRUE(page.more);
  EXPECT_LE(page.bytes, size_t(10 << 10));
}

// The estimate bounds what the daemon's fill() puts in a view: every field it copies, long
// state words, and a waitingFor that names each dependency.
TEST(ListPages, TheEstimateBoundsTheView) {
  capnp::MallocMessageBuilder recordMessage;
  auto task = recordMessage.initRoot<records::Task>();
  task.setId(123456789);
  task.setQueue("a-queue-with-a-long-name");
  auto argv = task.initArgv(100);
  for (uint32_t i = 0; i < 100; i++) argv.set(i, kj::str("argument-", i).asBytes());
  task.setCwd("/home/someone/work"_kj.asBytes());
  auto labels = task.initLabels(20);
  for (uint32_t i = 0; i < 20; i++) {
    labels[i].setKey(kj::str("key", i));
    labels[i].setValue(kj::str("value", i));
  }
  auto after = task.initAfter(50);
  for (uint32_t i = 0; i < 50; i++) after[i].setId(1000000000 + i);
  task.setKey("some-key");
  task.setRequestId("some-request-id");
  task.setMessage("a message");
  task.initRetry().initExitCodes(3);
  auto reader = task.asReader();

  capnp::MallocMessageBuilder viewMessage;
  auto view = viewMessage.initRoot<rpc::TaskView>();
  view.setId(reader.getId());
  view.setState("succeeded");
  view.setReason("dependency");
  view.setMessage(reader.getMessage());
  view.setQueue(reader.getQueue());
  view.setArgv(reader.getArgv());
  view.setCwd(reader.getCwd());
  auto viewLabels = view.initLabels(reader.getLabels().size());
  for (auto i : kj::indices(reader.getLabels())) {
    viewLabels[i].setKey(reader.getLabels()[i].getKey());
    viewLabels[i].setValue(reader.getLabels()[i].getValue());
  }
  view.setAfter(reader.getAfter());
  view.setRetry(reader.getRetry());
  view.setKey(reader.getKey());
  view.setRequestId(reader.getRequestId());
  kj::Vector<kj::String> waiting;
  for (auto d : reader.getAfter()) waiting.add(kj::str("task ", d.getId(), " to succeed"));
  waiting.add(kj::str("task 1234567890 to release key \"", reader.getKey(), "\""));
  view.setWaitingFor(kj::strArray(waiting, ", "));
  size_t actual = view.totalSize().wordCount * sizeof(capnp::word);
  EXPECT_LE(actual, estimatedViewBytes(reader));
  EXPECT_GE(actual * 2, estimatedViewBytes(reader));  // and it is not wildly high
}

}  // namespace
}  // namespace taskctl
