#include "store/store.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <kj/debug.h>
#include <lmdb.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "store/crc32c.h"
#include "store/store-check.h"
#include "temp-dir.h"

namespace taskctl {
namespace {

// The test's directory; the store goes in "store" inside it.
struct StoreDir : TempDir {
  StoreDir() : TempDir("store-test") {}
  kj::String store() const { return *this / "store"; }
};

void putQueued(Store& store, uint64_t id, int priority = 0, kj::StringPtr queue = "default",
               records::TaskState state = records::TaskState::QUEUED) {
  capnp::MallocMessageBuilder message;
  auto task = message.initRoot<records::Task>();
  task.setId(id);
  task.setQueue(queue);
  task.setPriority(priority);
  task.setState(state);
  auto argv = task.initArgv(1);
  argv.set(0, kj::StringPtr("true").asBytes());
  store.putTask(task);
}

void putFinished(Store& store, uint64_t id, int64_t finishedAt,
                 records::TaskState state = records::TaskState::SUCCEEDED) {
  capnp::MallocMessageBuilder message;
  auto task = message.initRoot<records::Task>();
  task.setId(id);
  task.setQueue("default");
  task.setState(state);
  task.setFinishedAt(finishedAt);
  store.putTask(task);
}

void putAttempt(Store& store, uint64_t id, uint32_t number) {
  capnp::MallocMessageBuilder message;
  auto attempt = message.initRoot<records::Attempt>();
  attempt.setTaskId(id);
  attempt.setNumber(number);
  store.putAttempt(attempt);
}

void putRequest(Store& store, uint32_t uid, kj::StringPtr requestId, uint64_t taskId,
                int64_t createdAt, bool droppable = false) {
  capnp::MallocMessageBuilder message;
  auto mapping = message.initRoot<records::RequestMapping>();
  mapping.setTaskId(taskId);
  mapping.setCreatedAt(createdAt);
  store.putRequest(uid, requestId, mapping, droppable);
}

void putQueueSettings(Store& store, kj::StringPtr name, uint32_t concurrency, bool paused) {
  capnp::MallocMessageBuilder message;
  auto settings = message.initRoot<records::QueueSettings>();
  settings.setName(name);
  settings.setHasConcurrency(true);
  settings.setConcurrency(concurrency);
  settings.setPaused(paused);
  settings.setPausedReason(paused ? "paused by uid 1000" : "");
  store.putQueueSettings(settings);
}

kj::Vector<uint64_t> finishedIds(Store& store) {
  kj::Vector<uint64_t> ids;
  store.forEachFinished([&](int64_t, uint64_t id) { return ids.add(id), true; });
  return ids;
}

// Raw LMDB access to a store's directory, to write what another version of
// taskctld would have written (Store itself only ever writes the current one).
struct RawStore {
  MDB_env* env = nullptr;
  MDB_txn* txn = nullptr;
  explicit RawStore(kj::StringPtr dir) {
    KJ_ASSERT(mdb_env_create(&env) == 0);
    mdb_env_set_maxdbs(env, 16);
    KJ_ASSERT(mdb_env_open(env, dir.cStr(), 0, 0600) == 0);
    KJ_ASSERT(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
  }
  ~RawStore() {
    KJ_ASSERT(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);
  }
  MDB_dbi table(const char* name) {
    MDB_dbi dbi;
    KJ_ASSERT(mdb_dbi_open(txn, name, MDB_CREATE, &dbi) == 0, name);
    return dbi;
  }
  void put(const char* name, kj::ArrayPtr<const kj::byte> keyBytes,
           kj::ArrayPtr<const kj::byte> valBytes) {
    MDB_val key{keyBytes.size(), const_cast<kj::byte*>(keyBytes.begin())};
    MDB_val val{valBytes.size(), const_cast<kj::byte*>(valBytes.begin())};
    KJ_ASSERT(mdb_put(txn, table(name), &key, &val, 0) == 0, name);
  }
  // Format 3 on seals every value with its checksum; a future format is
  // written as one would expect it (sealed) unless told otherwise.
  void putMeta(uint32_t version, uint64_t nextId, bool sealed = true) {
    capnp::MallocMessageBuilder message;
    auto meta = message.initRoot<records::Meta>();
    meta.setFormatVersion(version);
    meta.setNextId(nextId);
    auto words = capnp::messageToFlatArray(message);
    if (version >= 3 && sealed) {
      put("meta", "meta"_kj.asBytes(), sealValue("meta"_kj.asBytes(), words.asBytes()));
    } else {
      put("meta", "meta"_kj.asBytes(), words.asBytes());
    }
  }
  void putTask(uint64_t id, records::TaskState state, int64_t finishedAt) {
    capnp::MallocMessageBuilder message;
    auto task = message.initRoot<records::Task>();
    task.setId(id);
    task.setQueue("default");
    task.setState(state);
    task.setFinishedAt(finishedAt);
    kj::byte key[8];
    for (int i = 0; i < 8; i++) key[i] = id >> (56 - 8 * i);
    put("tasks", key, capnp::messageToFlatArray(message).asBytes());
  }
};

uint32_t storedFormatVersion(kj::StringPtr dir) {
  MDB_env* env;
  KJ_ASSERT(mdb_env_create(&env) == 0);
  KJ_DEFER(mdb_env_close(env));
  mdb_env_set_maxdbs(env, 16);
  KJ_ASSERT(mdb_env_open(env, dir.cStr(), MDB_RDONLY, 0600) == 0);
  MDB_txn* txn;
  KJ_ASSERT(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) == 0);
  KJ_DEFER(mdb_txn_abort(txn));
  MDB_dbi dbi;
  KJ_ASSERT(mdb_dbi_open(txn, "meta", 0, &dbi) == 0);
  MDB_val key{4, const_cast<char*>("meta")}, val;
  KJ_ASSERT(mdb_get(txn, dbi, &key, &val) == 0);
  auto words = kj::heapArray<capnp::word>(val.mv_size / 8);
  memcpy(words.begin(), val.mv_data, words.size() * 8);  // a format-3 checksum ends it
  capnp::FlatArrayMessageReader reader(words);
  return reader.getRoot<records::Meta>().getFormatVersion();
}

std::string openError(kj::StringPtr dir) {
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() { Store store(dir); })) {
    return e->getDescription().cStr();
  }
  return "";
}

TEST(Store, KeepsTasksAcrossReopen) {
  StoreDir dir;
  uint64_t id;
  {
    Store store(dir.store());
    id = store.allocateId();
    putQueued(store, id);
    store.commit();
  }
  Store store(dir.store());
  KJ_IF_MAYBE (task, store.getTask(id)) {
    EXPECT_EQ((*task)->get().getState(), records::TaskState::QUEUED);
    EXPECT_EQ((*task)->get().getArgv()[0].asChars(), "true"_kj.asArray());
  } else {
    FAIL() << "task lost on reopen";
  }
}

TEST(Store, NeverReusesAnIdAcrossRestarts) {
  StoreDir dir;
  uint64_t first, second;
  {
    Store store(dir.store());
    first = store.allocateId();
    putQueued(store, first);
    store.commit();
    // Allocated but never stored: still never handed out again.
    second = store.allocateId();
    store.commit();
  }
  Store store(dir.store());
  auto third = store.allocateId();
  EXPECT_GT(third, second);
  EXPECT_GT(second, first);
}

TEST(Store, StagedWritesAreInvisibleUntilCommitAndCommitOnce) {
  StoreDir dir;
  Store store(dir.store());
  auto before = store.commitCount();
  kj::Vector<uint64_t> ids;
  for (int i = 0; i < 100; i++) {
    ids.add(store.allocateId());
    putQueued(store, ids.back());
  }
  EXPECT_TRUE(store.getTask(ids[0]) == nullptr);
  store.commit();
  EXPECT_EQ(store.commitCount(), before + 1);  // one transaction for the whole batch
  for (auto id : ids) EXPECT_TRUE(store.getTask(id) != nullptr);
}

// Whether LMDB's table of tables names `name` in the store at `dir`.
bool hasTable(kj::StringPtr dir, const char* name) {
  MDB_env* env;
  KJ_ASSERT(mdb_env_create(&env) == 0);
  KJ_DEFER(mdb_env_close(env));
  mdb_env_set_maxdbs(env, 16);
  KJ_ASSERT(mdb_env_open(env, dir.cStr(), MDB_RDONLY, 0600) == 0);
  MDB_txn* txn;
  KJ_ASSERT(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) == 0);
  KJ_DEFER(mdb_txn_abort(txn));
  MDB_dbi dbi;
  return mdb_dbi_open(txn, name, 0, &dbi) == 0;
}

// The scheduler orders a queue's tasks itself (from forEachActiveTask at the
// start): what the store owes it is every task not yet terminal, with the
// queue and priority it was stored with, and none that is terminal.
TEST(Store, ActiveTasksFollowTheStateWithTheirQueueAndPriority) {
  StoreDir dir;
  Store store(dir.store());
  auto a = store.allocateId(), b = store.allocateId(), c = store.allocateId(),
       d = store.allocateId();
  putQueued(store, a, 0);
  putQueued(store, b, 50);
  putQueued(store, c, 0);
  putQueued(store, d, 100, "other");
  store.commit();
  kj::Vector<std::string> active;
  auto readActive = [&]() {
    active.clear();
    store.forEachActiveTask([&](records::Task::Reader t) {
      active.add(kj::str(t.getId(), ":", t.getQueue(), ":", t.getPriority()).cStr());
    });
  };
  readActive();
  ASSERT_EQ(active.size(), 4u);
  EXPECT_EQ(active[0], kj::str(a, ":default:0").cStr());
  EXPECT_EQ(active[1], kj::str(b, ":default:50").cStr());
  EXPECT_EQ(active[2], kj::str(c, ":default:0").cStr());
  EXPECT_EQ(active[3], kj::str(d, ":other:100").cStr());

  putQueued(store, b, 50, "default", records::TaskState::SUCCEEDED);
  store.commit();
  readActive();
  EXPECT_EQ(active.size(), 3u);  // a, c, d: b is terminal
  auto finished = finishedIds(store);
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(finished[0], b);
  // Format 4 keeps no `ready` index (nothing read it).
  EXPECT_FALSE(hasTable(dir.store(), "ready"));
}

TEST(Store, GrowsTheMapWhenFull) {
  StoreDir dir;
  StoreOptions options;
  options.initialMapBytes = 1 << 20;
  Store store(dir.store(), options);
  auto big = kj::heapArray<kj::byte>(64 * 1024);
  memset(big.begin(), 'x', big.size());
  for (int i = 0; i < 64; i++) {  // 4 MiB in one batch, into a 1 MiB map
    capnp::MallocMessageBuilder message;
    auto task = message.initRoot<records::Task>();
    task.setId(store.allocateId());
    task.setCwd(big);
    store.putTask(task);
  }
  store.commit();
  EXPECT_GT(store.mapBytes(), size_t(1) << 20);
  int n = 0;
  store.forEachTask([&](records::Task::Reader) { return ++n, true; });
  EXPECT_EQ(n, 64);
}

TEST(Store, ListsTasksNewestFirstAndStopsWhenAsked) {
  StoreDir dir;
  Store store(dir.store());
  for (int i = 0; i < 5; i++) {
    capnp::MallocMessageBuilder message;
    auto task = message.initRoot<records::Task>();
    task.setId(store.allocateId());
    store.putTask(task);
  }
  store.commit();
  std::vector<uint64_t> seen;
  store.forEachTaskNewestFirst([&](records::Task::Reader task) {
    seen.push_back(task.getId());
    return seen.size() < 3;
  });
  EXPECT_EQ(seen, (std::vector<uint64_t>{5, 4, 3}));
}

TEST(Store, ListsTasksFromAnIdAndStopsWhenAsked) {
  StoreDir dir;
  Store store(dir.store());
  // Ids 1 to 9, of which 2, 3, 5, 8 and 9 are stored.
  for (uint64_t id = 1; id <= 9; id++) {
    KJ_ASSERT(store.allocateId() == id);
    if (id != 2 && id != 3 && id != 5 && id != 8 && id != 9) continue;
    capnp::MallocMessageBuilder message;
    auto task = message.initRoot<records::Task>();
    task.setId(id);
    store.putTask(task);
  }
  store.commit();
  auto from = [&](uint64_t first, size_t most) {
    std::vector<uint64_t> seen;
    store.forEachTaskFrom(first, [&](records::Task::Reader task) {
      seen.push_back(task.getId());
      return seen.size() < most;
    });
    return seen;
  };
  EXPECT_EQ(from(0, 10), (std::vector<uint64_t>{2, 3, 5, 8, 9}));
  EXPECT_EQ(from(4, 10), (std::vector<uint64_t>{5, 8, 9}));  // a gap: the next one up
  EXPECT_EQ(from(5, 2), (std::vector<uint64_t>{5, 8}));
  EXPECT_EQ(from(10, 10), (std::vector<uint64_t>{}));
}

TEST(Store, RefusesACorruptFileAndLeavesIt) {
  StoreDir dir;
  KJ_ASSERT(mkdir(dir.store().cStr(), 0700) == 0);
  auto data = kj::str(dir.store(), "/data.mdb");
  int fd = open(data.cStr(), O_CREAT | O_WRONLY, 0600);
  auto junk = kj::heapArray<char>(65536);
  memset(junk.begin(), 0x5a, junk.size());
  KJ_ASSERT(write(fd, junk.begin(), junk.size()) == 65536);
  close(fd);
  auto error = openError(dir.store());
  EXPECT_NE(error.find("the store " + std::string(data.cStr()) + " is corrupt"), std::string::npos)
      << error;
  struct stat st;
  ASSERT_EQ(stat(data.cStr(), &st), 0);
  EXPECT_EQ(st.st_size, 65536);  // never replaced
}

TEST(Store, RefusesANewerFormatVersion) {
  StoreDir dir;
  { Store store(dir.store()); }
  // Rewrite meta as a future version would.
  RawStore(dir.store()).putMeta(records::FORMAT_VERSION + 1, 1);
  auto error = openError(dir.store());
  EXPECT_NE(error.find("newer than this taskctld knows"), std::string::npos) << error;
  EXPECT_NE(error.find(dir.store().cStr()), std::string::npos) << error;
}

TEST(Store, RefusesANextIdNotAboveTheStoredIds) {
  StoreDir dir;
  {
    Store store(dir.store());
    for (int i = 0; i < 5; i++) putQueued(store, store.allocateId());
    store.commit();
  }
  RawStore(dir.store()).putMeta(records::FORMAT_VERSION, 3);
  auto error = openError(dir.store());
  EXPECT_NE(error.find("next id 3 is not above the highest stored id 5"), std::string::npos)
      << error;
}

TEST(Store, ListsFinishedTasksOldestFirstOnceCommitted) {
  StoreDir dir;
  Store store(dir.store());
  auto a = store.allocateId(), b = store.allocateId(), c = store.allocateId(),
       d = store.allocateId();
  putFinished(store, a, 300);
  putFinished(store, b, -5, records::TaskState::FAILED);  // before the epoch: still oldest
  putFinished(store, c, 300, records::TaskState::CANCELLED);
  putQueued(store, d);
  EXPECT_EQ(store.finishedCount(), 0u);  // committed data only
  store.commit();
  EXPECT_EQ(store.finishedCount(), 3u);
  auto ids = finishedIds(store);
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[0], b);
  EXPECT_EQ(ids[1], a);  // same finishedAt: by id
  EXPECT_EQ(ids[2], c);

  putFinished(store, a, 300);  // stored again: still one entry
  store.commit();
  EXPECT_EQ(store.finishedCount(), 3u);
  int64_t firstAt = 0;
  int calls = 0;
  store.forEachFinished([&](int64_t at, uint64_t) { return firstAt = at, ++calls, false; });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(firstAt, -5);
}

TEST(Store, PruneRemovesTaskAttemptsAndFinishedEntryAndLeavesATombstone) {
  StoreDir dir;
  uint64_t a, b;
  {
    Store store(dir.store());
    a = store.allocateId();
    b = store.allocateId();
    putFinished(store, a, 100, records::TaskState::FAILED);
    putFinished(store, b, 200);
    for (uint32_t n = 1; n <= 3; n++) putAttempt(store, a, n);
    putAttempt(store, b, 1);  // the next id's attempts lie right after a's
    store.commit();

    capnp::MallocMessageBuilder message;
    auto tombstone = message.initRoot<records::Tombstone>();
    tombstone.setId(a);
    tombstone.setUid(1000);
    tombstone.setState(records::TaskState::FAILED);
    tombstone.setReason(records::EndReason::EXIT);
    tombstone.setExitCode(3);
    tombstone.setFinishedAt(100);
    tombstone.setQueue("default");
    store.pruneTask(a, tombstone);
    EXPECT_TRUE(store.getTask(a) != nullptr);  // staged only
    store.commit();
  }
  Store store(dir.store());
  EXPECT_TRUE(store.getTask(a) == nullptr);
  int attempts = 0;
  store.forEachAttempt(a, [&](records::Attempt::Reader) { attempts++; });
  EXPECT_EQ(attempts, 0);
  EXPECT_TRUE(store.getAttempt(b, 1) != nullptr);
  EXPECT_TRUE(store.getTask(b) != nullptr);
  EXPECT_EQ(store.finishedCount(), 1u);
  auto ids = finishedIds(store);
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(ids[0], b);
  KJ_IF_MAYBE (tombstone, store.getTombstone(a)) {
    auto t = (*tombstone)->get();
    EXPECT_EQ(t.getUid(), 1000u);
    EXPECT_EQ(t.getState(), records::TaskState::FAILED);
    EXPECT_EQ(t.getReason(), records::EndReason::EXIT);
    EXPECT_EQ(t.getExitCode(), 3);
    EXPECT_EQ(t.getFinishedAt(), 100);
    EXPECT_EQ(t.getQueue(), "default");
  } else {
    FAIL() << "tombstone lost on reopen";
  }
  EXPECT_TRUE(store.getTombstone(b) == nullptr);
}

TEST(Store, ListsTombstonesByIdAndDeletesThem) {
  StoreDir dir;
  Store store(dir.store());
  kj::Vector<uint64_t> ids;
  for (int i = 0; i < 3; i++) {
    ids.add(store.allocateId());
    putFinished(store, ids.back(), 1000 - i);
  }
  store.commit();
  for (int i = 2; i >= 0; i--) {  // pruned in finish order, listed by id
    capnp::MallocMessageBuilder message;
    auto tombstone = message.initRoot<records::Tombstone>();
    tombstone.setId(ids[i]);
    tombstone.setFinishedAt(1000 - i);
    store.pruneTask(ids[i], tombstone);
  }
  store.commit();
  EXPECT_EQ(store.finishedCount(), 0u);
  kj::Vector<uint64_t> listed;
  store.forEachTombstone([&](records::Tombstone::Reader t) { return listed.add(t.getId()), true; });
  ASSERT_EQ(listed.size(), 3u);
  for (int i = 0; i < 3; i++) EXPECT_EQ(listed[i], ids[i]);

  store.deleteTombstone(ids[1]);
  store.commit();
  EXPECT_TRUE(store.getTombstone(ids[1]) == nullptr);
  listed.clear();
  store.forEachTombstone(
      [&](records::Tombstone::Reader t) { return listed.add(t.getId()), false; });
  ASSERT_EQ(listed.size(), 1u);  // fn said stop
  EXPECT_EQ(listed[0], ids[0]);
}

TEST(Store, MapsRequestIdsPerUserAndListsThemOldestFirst) {
  StoreDir dir;
  Store store(dir.store());
  putRequest(store, 1000, "build-42", 7, 200);
  putRequest(store, 0, "build-42", 8, 100);  // same id, another user: another mapping
  putRequest(store, 1000, "build-43", 9, 300);
  store.commit();

  KJ_IF_MAYBE (mapping, store.getRequest(1000, "build-42")) {
    EXPECT_EQ((*mapping)->get().getTaskId(), 7u);
    EXPECT_EQ((*mapping)->get().getCreatedAt(), 200);
  } else {
    FAIL() << "request mapping missing";
  }
  KJ_IF_MAYBE (mapping, store.getRequest(0, "build-42")) {
    EXPECT_EQ((*mapping)->get().getTaskId(), 8u);
  } else {
    FAIL() << "root's request mapping missing";
  }
  EXPECT_TRUE(store.getRequest(1000, "build-4") == nullptr);

  kj::Vector<kj::String> order;
  store.forEachRequestByAge([&](int64_t createdAt, uint32_t uid, kj::StringPtr requestId) {
    order.add(kj::str(createdAt, ":", uid, ":", requestId));
    return true;
  });
  ASSERT_EQ(order.size(), 3u);
  EXPECT_EQ(order[0], "100:0:build-42");
  EXPECT_EQ(order[1], "200:1000:build-42");
  EXPECT_EQ(order[2], "300:1000:build-43");

  store.deleteRequest(0, "build-42", 100);
  store.commit();
  EXPECT_TRUE(store.getRequest(0, "build-42") == nullptr);
  EXPECT_TRUE(store.getRequest(1000, "build-42") != nullptr);
  int64_t oldest = 0;
  store.forEachRequestByAge(
      [&](int64_t createdAt, uint32_t, kj::StringPtr) { return oldest = createdAt, false; });
  EXPECT_EQ(oldest, 200);
}

TEST(Store, DropsADroppableRequestWithItsSubmit) {
  StoreDir dir;
  Store store(dir.store());
  putQueueSettings(store, "batch", 2, false);  // not part of the refused submit
  auto id = store.allocateId();
  {
    capnp::MallocMessageBuilder message;
    auto task = message.initRoot<records::Task>();
    task.setId(id);
    task.setQueue("default");
    task.setState(records::TaskState::QUEUED);
    store.putTask(task, true);
  }
  putRequest(store, 1000, "once", id, 100, true);
  store.dropDroppable();
  store.commit();
  EXPECT_TRUE(store.getTask(id) == nullptr);
  EXPECT_TRUE(store.getRequest(1000, "once") == nullptr);
  int byAge = 0;
  store.forEachRequestByAge([&](int64_t, uint32_t, kj::StringPtr) { return ++byAge, true; });
  EXPECT_EQ(byAge, 0);
  int queues = 0;
  store.forEachQueueSettings([&](records::QueueSettings::Reader) { queues++; });
  EXPECT_EQ(queues, 1);
}

TEST(Store, RefusesARequestIdTooLongForAKeyBeforeStagingIt) {
  StoreDir dir;
  Store store(dir.store());
  auto longId = kj::heapString(600);
  memset(longId.begin(), 'x', longId.size());
  auto error = kj::runCatchingExceptions([&]() { putRequest(store, 1000, longId, 1, 100); });
  KJ_IF_MAYBE (e, error) {
    std::string description = e->getDescription().cStr();
    EXPECT_NE(description.find("a request id may be at most 499 bytes long"), std::string::npos)
        << description;
  } else {
    FAIL() << "an oversized request id was staged";
  }
  EXPECT_EQ(store.stagedCount(), 0u);  // the next commit is not poisoned
}

TEST(Store, KeepsQueueSettingsAcrossReopen) {
  StoreDir dir;
  {
    Store store(dir.store());
    putQueueSettings(store, "gpu", 1, true);
    putQueueSettings(store, "batch", 4, false);
    putQueueSettings(store, "scratch", 9, false);
    store.commit();
    store.deleteQueueSettings("scratch");
    store.commit();
  }
  Store store(dir.store());
  kj::Vector<kj::String> seen;
  store.forEachQueueSettings([&](records::QueueSettings::Reader q) {
    seen.add(kj::str(q.getName(), ":", q.getConcurrency(), ":", q.getPaused(), ":",
                     q.getPausedReason()));
  });
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], "batch:4:false:");
  EXPECT_EQ(seen[1], "gpu:1:true:paused by uid 1000");
}

TEST(Store, KeepsTheDrainStateInTheMetaAcrossReopenAndSalvage) {
  StoreDir dir;
  {
    Store store(dir.store());
    EXPECT_FALSE(store.drainState().drained);
    store.setDrainState(DrainState{true, 1000, 1234});
    store.commit();  // nothing else staged: the meta alone is written
  }
  {
    Store store(dir.store());
    EXPECT_TRUE(store.drainState().drained);
    EXPECT_EQ(store.drainState().by, 1000u);
    EXPECT_EQ(store.drainState().at, 1234);
    store.allocateId();  // a meta write for the id counter keeps it
    store.commit();
  }
  auto out = kj::str(dir.path, "/salvaged");
  salvageStore(dir.store(), out);
  {
    Store store(out);
    EXPECT_TRUE(store.drainState().drained) << "a salvage lost the drained state";
    EXPECT_EQ(store.drainState().by, 1000u);
  }
  {
    Store store(dir.store());
    store.setDrainState(DrainState{});
    store.commit();
  }
  Store store(dir.store());
  EXPECT_FALSE(store.drainState().drained);
}

TEST(Store, UpgradesAVersion1StoreInPlaceAndIndexesItsFinishedTasks) {
  StoreDir dir;
  KJ_ASSERT(mkdir(dir.store().cStr(), 0700) == 0);
  {
    // What taskctld 1 left: five tables, no finished index.
    RawStore raw(dir.store());
    for (auto name : {"attempts", "active", "ready"}) raw.table(name);
    raw.putTask(1, records::TaskState::SUCCEEDED, 500);
    raw.putTask(2, records::TaskState::RUNNING, 0);
    raw.putTask(3, records::TaskState::FAILED, 100);
    raw.putMeta(1, 4);
  }
  {
    Store store(dir.store());
    EXPECT_EQ(store.finishedCount(), 2u);
    auto ids = finishedIds(store);
    ASSERT_EQ(ids.size(), 2u);
    EXPECT_EQ(ids[0], 3u);
    EXPECT_EQ(ids[1], 1u);
    EXPECT_EQ(store.allocateId(), 4u);  // the counter survives the upgrade
  }
  EXPECT_EQ(storedFormatVersion(dir.store()), records::FORMAT_VERSION);
  EXPECT_FALSE(hasTable(dir.store(), "ready"));  // format 1's, dropped by the upgrade
  Store store(dir.store());                      // and the upgraded store opens as a current one
  EXPECT_EQ(store.finishedCount(), 2u);
  EXPECT_TRUE(store.getTask(2) != nullptr);
}

TEST(Store, GrowsTheMapWhenTheUpgradeDoesNotFit) {
  StoreDir dir;
  KJ_ASSERT(mkdir(dir.store().cStr(), 0700) == 0);
  { RawStore(dir.store()).putMeta(1, 1u << 20); }
  // Fill a 1 MiB map with finished version-1 tasks, one transaction each,
  // until it is full: the finished index then cannot fit without growing.
  MDB_env* env;
  ASSERT_EQ(mdb_env_create(&env), 0);
  mdb_env_set_maxdbs(env, 16);
  ASSERT_EQ(mdb_env_set_mapsize(env, 1 << 20), 0);
  ASSERT_EQ(mdb_env_open(env, dir.store().cStr(), 0, 0600), 0);
  auto cwd = kj::heapArray<kj::byte>(1500);
  memset(cwd.begin(), 'x', cwd.size());
  uint64_t stored = 0;
  for (uint64_t id = 1;; id++) {
    MDB_txn* txn;
    ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
    MDB_dbi dbi;
    ASSERT_EQ(mdb_dbi_open(txn, "tasks", MDB_CREATE, &dbi), 0);
    capnp::MallocMessageBuilder message;
    auto task = message.initRoot<records::Task>();
    task.setId(id);
    task.setState(records::TaskState::SUCCEEDED);
    task.setFinishedAt(id);
    task.setCwd(cwd);
    auto words = capnp::messageToFlatArray(message);
    kj::byte keyBytes[8];
    for (int i = 0; i < 8; i++) keyBytes[i] = id >> (56 - 8 * i);
    MDB_val key{8, keyBytes}, val{words.asBytes().size(), words.asBytes().begin()};
    int rc = mdb_put(txn, dbi, &key, &val, 0);
    if (rc == 0)
      rc = mdb_txn_commit(txn);
    else
      mdb_txn_abort(txn);
    if (rc == MDB_MAP_FULL) break;
    ASSERT_EQ(rc, 0);
    stored = id;
  }
  mdb_env_close(env);
  ASSERT_GT(stored, 100u);

  StoreOptions options;
  options.initialMapBytes = 1 << 20;
  Store store(dir.store(), options);
  EXPECT_GT(store.mapBytes(), size_t(1) << 20);
  EXPECT_EQ(store.finishedCount(), stored);
  EXPECT_EQ(storedFormatVersion(dir.store()), records::FORMAT_VERSION);
}

TEST(Store, RefusesAVersion5StoreNamingBothVersions) {
  for (bool sealed : {true, false}) {
    StoreDir dir;
    {
      Store store(dir.store());
      putQueued(store, store.allocateId());
      store.commit();
    }
    RawStore(dir.store()).putMeta(5, 2, sealed);
    auto error = openError(dir.store());
    EXPECT_NE(error.find("has format version 5, newer than this taskctld knows (4)"),
              std::string::npos)
        << error;
    EXPECT_NE(error.find("upgrade taskctl"), std::string::npos) << error;
    EXPECT_EQ(storedFormatVersion(dir.store()), 5u);  // refused, not rewritten
  }
}

// ---- Checksums, the format-3 upgrade, and corruption (issue 12, point 4) ----

std::string fileBytes(kj::StringPtr path) {
  std::ifstream in(path.cStr(), std::ios::binary);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

// Damage the one stored copy of `marker` (a record written in one commit is
// in the file once): flip its first byte, as a bad disk would.
void flipMarker(kj::StringPtr dataFile, const std::string& marker) {
  auto bytes = fileBytes(dataFile);
  auto at = bytes.find(marker);
  KJ_ASSERT(at != std::string::npos, "marker not in the file", marker.c_str());
  KJ_ASSERT(bytes.find(marker, at + 1) == std::string::npos, "marker twice", marker.c_str());
  bytes[at] ^= 0x20;
  // In place, as the disk would: the file keeps its inode and size.
  int fd = open(dataFile.cStr(), O_WRONLY);
  KJ_ASSERT(fd >= 0);
  KJ_ASSERT(pwrite(fd, bytes.data() + at, 1, at) == 1);
  close(fd);
}

// Where task `id`'s live record lies in data.mdb (a stale copy of the same
// bytes may lie in a free page): LMDB's pointer, placed in the file by the
// page number each page starts with.
size_t taskRecordOffset(kj::StringPtr dir, uint64_t id) {
  MDB_env* env;
  KJ_ASSERT(mdb_env_create(&env) == 0);
  KJ_DEFER(mdb_env_close(env));
  mdb_env_set_maxdbs(env, 16);
  KJ_ASSERT(mdb_env_open(env, dir.cStr(), MDB_RDONLY, 0600) == 0);
  MDB_txn* txn;
  KJ_ASSERT(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) == 0);
  KJ_DEFER(mdb_txn_abort(txn));
  MDB_dbi dbi;
  KJ_ASSERT(mdb_dbi_open(txn, "tasks", 0, &dbi) == 0);
  kj::byte keyBytes[8];
  for (int i = 0; i < 8; i++) keyBytes[i] = id >> (56 - 8 * i);
  MDB_val key{8, keyBytes}, val;
  KJ_ASSERT(mdb_get(txn, dbi, &key, &val) == 0);
  auto at = reinterpret_cast<uintptr_t>(val.mv_data);
  auto page = at & ~uintptr_t(4095);
  uint64_t pgno;
  memcpy(&pgno, reinterpret_cast<const void*>(page), 8);
  return pgno * 4096 + (at - page) + val.mv_size / 2;
}

void flipAt(kj::StringPtr dataFile, size_t at) {
  int fd = open(dataFile.cStr(), O_RDWR);
  KJ_ASSERT(fd >= 0);
  kj::byte b;
  KJ_ASSERT(pread(fd, &b, 1, at) == 1);
  b ^= 0xff;
  KJ_ASSERT(pwrite(fd, &b, 1, at) == 1);
  close(fd);
}

void putMarked(Store& store, uint64_t id, records::TaskState state, kj::StringPtr marker) {
  capnp::MallocMessageBuilder message;
  auto task = message.initRoot<records::Task>();
  task.setId(id);
  task.setQueue("default");
  task.setState(state);
  if (isTerminal(state)) task.setFinishedAt(1000 + id);
  task.setCwd(marker.asBytes());
  store.putTask(task);
}

kj::Maybe<kj::Exception> readError(kj::Function<void()> read) {
  return kj::runCatchingExceptions([&]() { read(); });
}

TEST(Crc32c, MatchesTheStandardCheckValueWithAndWithoutTheInstruction) {
  EXPECT_EQ(crc32c(0, "123456789", 9), 0xe3069283u);
  EXPECT_EQ(crc32cPortable(0, "123456789", 9), 0xe3069283u);
  // Every length to 1000 and some to 5000: the instruction runs three
  // streams over blocks of 768 and 96 bytes, then one over what is left.
  std::string data(5000, 0);
  for (size_t i = 0; i < data.size(); i++) data[i] = char(i * 7 + 3 + (i >> 8));
  for (size_t offset = 0; offset < 9; offset++) {
    for (size_t n = 0; offset + n <= data.size(); n += n < 1000 ? 1 : 37) {
      ASSERT_EQ(crc32c(5, data.data() + offset, n), crc32cPortable(5, data.data() + offset, n))
          << offset << " " << n;
    }
  }
  // Continuing a CRC over a second part gives the CRC of the whole.
  EXPECT_EQ(crc32c(crc32c(0, data.data(), 100), data.data() + 100, 900),
            crc32c(0, data.data(), 1000));
}

TEST(Crc32c, SealsAValueSoThatAnyFlippedBitOrAnotherKeyIsCaught) {
  auto key = "key1"_kj.asBytes();
  auto sealed = sealValue(key, "payload!"_kj.asBytes());
  ASSERT_EQ(sealed.size(), 8u + STORE_CHECKSUM_BYTES);
  KJ_IF_MAYBE (payload, unsealValue(key, sealed)) {
    EXPECT_EQ(kj::heapString(payload->asChars()), "payload!");
  } else {
    FAIL() << "a sealed value does not unseal";
  }
  EXPECT_TRUE(unsealValue("key2"_kj.asBytes(), sealed) == nullptr);
  for (size_t bit = 0; bit < sealed.size() * 8; bit++) {
    sealed[bit / 8] ^= 1 << (bit % 8);
    EXPECT_TRUE(unsealValue(key, sealed) == nullptr) << bit;
    sealed[bit / 8] ^= 1 << (bit % 8);
  }
  EXPECT_TRUE(unsealValue(key, "abc"_kj.asBytes()) == nullptr);  // shorter than a checksum
}

TEST(Store, StoresEveryValueWithItsChecksum) {
  StoreDir dir;
  {
    Store store(dir.store());
    putMarked(store, store.allocateId(), records::TaskState::QUEUED, "cwd-a");
    putAttempt(store, 1, 1);
    store.commit();
  }
  MDB_env* env;
  ASSERT_EQ(mdb_env_create(&env), 0);
  KJ_DEFER(mdb_env_close(env));
  mdb_env_set_maxdbs(env, 16);
  ASSERT_EQ(mdb_env_open(env, dir.store().cStr(), MDB_RDONLY, 0600), 0);
  MDB_txn* txn;
  ASSERT_EQ(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn), 0);
  KJ_DEFER(mdb_txn_abort(txn));
  for (auto name : {"meta", "tasks", "attempts", "active"}) {
    MDB_dbi dbi;
    ASSERT_EQ(mdb_dbi_open(txn, name, 0, &dbi), 0);
    MDB_cursor* cursor;
    ASSERT_EQ(mdb_cursor_open(txn, dbi, &cursor), 0);
    MDB_val key, val;
    int n = 0;
    for (int rc = mdb_cursor_get(cursor, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cursor, &key, &val, MDB_NEXT), n++) {
      auto k = kj::arrayPtr(static_cast<const kj::byte*>(key.mv_data), key.mv_size);
      auto v = kj::arrayPtr(static_cast<const kj::byte*>(val.mv_data), val.mv_size);
      EXPECT_TRUE(unsealValue(k, v) != nullptr) << name;
    }
    mdb_cursor_close(cursor);
    EXPECT_EQ(n, 1) << name;
  }
}

TEST(Store, FindsWhereLmdbMapsTheFile) {
  StoreDir dir;
  Store store(dir.store());
  putQueued(store, store.allocateId());
  store.commit();
  auto base = static_cast<const kj::byte*>(store.mapAddress());
  ASSERT_TRUE(base != nullptr);
  auto bytes = fileBytes(kj::str(dir.store(), "/data.mdb"));
  // The first two pages of the map are the file's two meta pages.
  EXPECT_EQ(memcmp(base, bytes.data(), 4096 * 2), 0);
}

TEST(Store, UpgradesAVersion2StoreInPlaceAndSealsEveryValue) {
  StoreDir dir;
  KJ_ASSERT(mkdir(dir.store().cStr(), 0700) == 0);
  {
    // What taskctld 2 left: values unsealed, index entries empty.
    RawStore raw(dir.store());
    for (auto name :
         {"attempts", "ready", "tombstones", "requests", "requests-by-age", "queues", "events"}) {
      raw.table(name);
    }
    raw.putTask(1, records::TaskState::SUCCEEDED, 500);
    raw.putTask(2, records::TaskState::RUNNING, 0);
    kj::byte id2[8] = {0, 0, 0, 0, 0, 0, 0, 2};
    raw.put("active", id2, nullptr);
    // finishedAt 500 (0x1f4, sign bit flipped), then id 1.
    kj::byte finished[16] = {0x80, 0, 0, 0, 0, 0, 0x01, 0xf4, 0, 0, 0, 0, 0, 0, 0, 1};
    raw.put("finished", finished, nullptr);
    capnp::MallocMessageBuilder message;
    auto attempt = message.initRoot<records::Attempt>();
    attempt.setTaskId(2);
    attempt.setNumber(1);
    kj::byte attemptKey[12] = {0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 1};
    raw.put("attempts", attemptKey, capnp::messageToFlatArray(message).asBytes());
    raw.putMeta(2, 3);
  }
  {
    Store store(dir.store());
    EXPECT_EQ(store.allocateId(), 3u);  // the counter survives the upgrade
    int active = 0;
    store.forEachActiveTask([&](records::Task::Reader t) {
      active++;
      EXPECT_EQ(t.getId(), 2u);
    });
    EXPECT_EQ(active, 1);
    auto ids = finishedIds(store);
    ASSERT_EQ(ids.size(), 1u);
    EXPECT_EQ(ids[0], 1u);
    KJ_IF_MAYBE (a, store.getAttempt(2, 1)) {
      EXPECT_EQ((*a)->get().getTaskId(), 2u);
    } else {
      FAIL() << "attempt lost in the upgrade";
    }
    EXPECT_TRUE(store.getTask(1) != nullptr);
  }
  EXPECT_EQ(storedFormatVersion(dir.store()), records::FORMAT_VERSION);
  EXPECT_FALSE(hasTable(dir.store(), "ready"));
  Store store(dir.store());  // and it opens as a current store
  EXPECT_TRUE(store.getTask(2) != nullptr);
  EXPECT_FALSE(store.readOnly());
}

TEST(Store, RefusesADamagedVersion2StoreWithoutUpgradingIt) {
  StoreDir dir;
  KJ_ASSERT(mkdir(dir.store().cStr(), 0700) == 0);
  {
    RawStore raw(dir.store());
    raw.putTask(1, records::TaskState::SUCCEEDED, 500);
    // A finished task's record that is not a message: refused by the upgrade,
    // which reads every record before it seals any.
    kj::byte key[8] = {0, 0, 0, 0, 0, 0, 0, 2};
    kj::byte junk[16];
    memset(junk, 0xff, sizeof(junk));
    raw.put("tasks", key, junk);
    raw.putMeta(2, 3);
  }
  auto data = kj::str(dir.store(), "/data.mdb");
  auto before = fileBytes(data);
  auto error = openError(dir.store());
  EXPECT_NE(error.find("the store " + std::string(data.cStr()) + " is corrupt (tasks 2 "),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("--salvage-store"), std::string::npos) << error;
  EXPECT_NE(error.find("mdb_copy"), std::string::npos) << error;
  EXPECT_EQ(fileBytes(data), before);  // not upgraded, not touched
  EXPECT_EQ(storedFormatVersion(dir.store()), 2u);
}

TEST(Store, RefusesATruncatedFileBeforeLmdbMapsIt) {
  StoreDir dir;
  {
    Store store(dir.store());
    auto cwd = std::string(3000, 'x');
    for (int i = 0; i < 200; i++) {
      putMarked(store, store.allocateId(), records::TaskState::SUCCEEDED, kj::str(cwd.c_str(), i));
    }
    store.commit();
  }
  auto data = kj::str(dir.store(), "/data.mdb");
  struct stat st;
  ASSERT_EQ(stat(data.cStr(), &st), 0);
  for (off_t cut :
       {st.st_size - 4096, st.st_size / 2, off_t(4096 * 2), off_t(4096), off_t(100), off_t(0)}) {
    auto copy = kj::str(dir.path, "/cut");
    ASSERT_EQ(system(kj::str("rm -rf ", copy, " && cp -a ", dir.store(), " ", copy).cStr()), 0);
    auto copyData = kj::str(copy, "/data.mdb");
    ASSERT_EQ(truncate(copyData.cStr(), cut), 0);
    auto error = openError(copy);  // used to die of SIGBUS, or start empty
    EXPECT_NE(error.find("the store " + std::string(copyData.cStr()) + " is corrupt"),
              std::string::npos)
        << cut << ": " << error;
    ASSERT_EQ(stat(copyData.cStr(), &st), 0);
    EXPECT_EQ(st.st_size, cut);  // left as it was
  }
}

TEST(Store, RefusesADamagedActiveTaskAtOpenAndLeavesTheFile) {
  StoreDir dir;
  {
    Store store(dir.store());
    putMarked(store, store.allocateId(), records::TaskState::QUEUED, "active-marker-1");
    putMarked(store, store.allocateId(), records::TaskState::SUCCEEDED, "done-marker-2");
    store.commit();
  }
  auto data = kj::str(dir.store(), "/data.mdb");
  flipMarker(data, "active-marker-1");
  auto before = fileBytes(data);
  auto error = openError(dir.store());
  EXPECT_NE(error.find("the store " + std::string(data.cStr()) +
                       " is corrupt (checksum mismatch in tasks 1)"),
            std::string::npos)
      << error;
  EXPECT_EQ(fileBytes(data), before);
}

TEST(Store, InTheDaemonRecoveryReadsTheActiveTasksWholeAndRefusesTheStart) {
  StoreDir dir;
  {
    Store store(dir.store());
    putMarked(store, store.allocateId(), records::TaskState::QUEUED, "active-marker-1");
    putMarked(store, store.allocateId(), records::TaskState::SUCCEEDED, "done-marker-2");
    store.commit();
  }
  auto data = kj::str(dir.store(), "/data.mdb");
  flipMarker(data, "active-marker-1");
  auto before = fileBytes(data);
  StoreOptions options;
  options.refuseUntilServing = true;
  Store store(dir.store(), options);  // the daemon's: recovery reads them next
  KJ_IF_MAYBE (e, readError([&]() { store.forEachActiveTask([](records::Task::Reader) {}); })) {
    std::string text = e->getDescription().cStr();
    EXPECT_NE(text.find("the store " + std::string(data.cStr()) +
                        " is corrupt (checksum mismatch in tasks 1); refusing to start"),
              std::string::npos)
        << text;
  } else {
    FAIL() << "recovery read a damaged active task";
  }
  EXPECT_FALSE(store.readOnly());  // refused, not served
  EXPECT_EQ(fileBytes(data), before);
}

TEST(Store, RecoveryReadsEveryActiveTaskWholeInIdOrderPastFinishedOnesAndAnySize) {
  // The scan walks the tasks table in step with the active index: runs of
  // finished tasks between active ones make it seek; records of every size
  // lie in a leaf page at any 2-byte offset (copied to be word-aligned) or,
  // past ~2 KiB, in overflow pages (read in place).
  StoreDir dir;
  kj::Vector<uint64_t> expected;
  {
    Store store(dir.store());
    for (int i = 0; i < 400; i++) {
      uint64_t id = store.allocateId();
      bool active = i % 7 == 0 || (i > 100 && i < 140) || i % 53 == 5;
      auto marker = kj::str("marker-", id, "-", kj::repeat('m', (i * 37) % 3000));
      putMarked(store, id, active ? records::TaskState::QUEUED : records::TaskState::SUCCEEDED,
                marker);
      if (active) expected.add(id);
    }
    store.commit();
  }
  for (bool daemon : {true, false}) {
    StoreOptions options;
    options.refuseUntilServing = daemon;
    Store store(dir.store(), options);
    kj::Vector<uint64_t> seen;
    store.forEachActiveTask([&](records::Task::Reader t) {
      auto cwd = kj::str(t.getCwd().asChars());
      EXPECT_TRUE(cwd.startsWith(kj::str("marker-", t.getId(), "-"))) << cwd.cStr();
      EXPECT_EQ(cwd.size(),
                kj::str("marker-", t.getId(), "-").size() + ((t.getId() - 1) * 37) % 3000);
      seen.add(t.getId());
    });
    ASSERT_EQ(seen.size(), expected.size()) << daemon;
    for (auto i : kj::indices(seen)) EXPECT_EQ(seen[i], expected[i]);
    store.serving();
    seen.clear();
    store.forEachActiveTask([&](records::Task::Reader t) { seen.add(t.getId()); });
    EXPECT_EQ(seen.size(), expected.size());
  }
}

TEST(Store, RecoveryRefusesAnActiveTaskWhoseRecordIsNotTheOneListed) {
  // The in-step walk finds each listed id by its key, never by position: a
  // listed task without a record is corruption, whatever follows it.
  StoreDir dir;
  {
    Store store(dir.store());
    putMarked(store, store.allocateId(), records::TaskState::QUEUED, "active-marker-1");
    putMarked(store, store.allocateId(), records::TaskState::QUEUED, "active-marker-2");
    putMarked(store, store.allocateId(), records::TaskState::QUEUED, "active-marker-3");
    store.commit();
  }
  // Task 2's record goes, its active entry stays (as a damaged file might).
  {
    MDB_env* env;
    ASSERT_EQ(mdb_env_create(&env), 0);
    KJ_DEFER(mdb_env_close(env));
    mdb_env_set_maxdbs(env, 16);
    ASSERT_EQ(mdb_env_open(env, dir.store().cStr(), 0, 0600), 0);
    MDB_txn* txn;
    ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
    MDB_dbi tasks;
    ASSERT_EQ(mdb_dbi_open(txn, "tasks", 0, &tasks), 0);
    kj::byte key[8] = {0, 0, 0, 0, 0, 0, 0, 2};
    MDB_val k{8, key};
    ASSERT_EQ(mdb_del(txn, tasks, &k, nullptr), 0);
    ASSERT_EQ(mdb_txn_commit(txn), 0);
  }
  StoreOptions options;
  options.refuseUntilServing = true;
  Store store(dir.store(), options);
  kj::Vector<uint64_t> seen;
  KJ_IF_MAYBE (e, readError([&]() {
                 store.forEachActiveTask([&](records::Task::Reader t) { seen.add(t.getId()); });
               })) {
    std::string text = e->getDescription().cStr();
    EXPECT_NE(text.find("is corrupt (the active index lists a missing tasks 2)"), std::string::npos)
        << text;
  } else {
    FAIL() << "recovery read past a missing record";
  }
  EXPECT_EQ(seen.size(), 1u);
}

TEST(Store, DetectsADamagedFinishedTaskOnReadAndTurnsReadOnly) {
  StoreDir dir;
  {
    Store store(dir.store());
    putMarked(store, store.allocateId(), records::TaskState::QUEUED, "active-marker-1");
    putMarked(store, store.allocateId(), records::TaskState::SUCCEEDED, "done-marker-2");
    putMarked(store, store.allocateId(), records::TaskState::SUCCEEDED, "done-marker-3");
    store.commit();
  }
  auto data = kj::str(dir.store(), "/data.mdb");
  flipMarker(data, "done-marker-2");
  Store store(dir.store());  // only active tasks are read at open
  EXPECT_FALSE(store.readOnly());
  EXPECT_TRUE(store.getTask(3) != nullptr);
  auto before = fileBytes(data);

  KJ_IF_MAYBE (e, readError([&]() { store.getTask(2); })) {
    EXPECT_EQ(e->getType(), kj::Exception::Type::OVERLOADED);     // exit 75, not 65
    EXPECT_TRUE(e->getDescription().findFirst('\n') == nullptr);  // the client shows one line
    std::string text = e->getDescription().cStr();
    EXPECT_NE(text.find(std::string("the store ") + data.cStr() +
                        " is corrupt (checksum mismatch in tasks 2)"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("read-only"), std::string::npos) << text;
  } else {
    FAIL() << "a damaged record was read as a task";
  }
  EXPECT_TRUE(store.readOnly());
  // A walk meets it too.
  EXPECT_TRUE(readError([&]() { store.forEachTask([](records::Task::Reader) { return true; }); }) !=
              nullptr);
  // Reads of sound records still work.
  EXPECT_TRUE(store.getTask(1) != nullptr);
  EXPECT_TRUE(store.getTask(3) != nullptr);
  // Writes: refused, and nothing reaches the file.
  EXPECT_TRUE(readError([&]() { store.requireWritable(); }) != nullptr);
  putMarked(store, store.allocateId(), records::TaskState::QUEUED, "new-marker");
  KJ_IF_MAYBE (e, readError([&]() { store.commit(); })) {
    EXPECT_EQ(e->getType(), kj::Exception::Type::OVERLOADED);
  } else {
    FAIL() << "a commit went through on a corrupt store";
  }
  EXPECT_EQ(store.stagedCount(), 0u);
  EXPECT_EQ(fileBytes(data), before);
}

// The pages of the store that hold `marker`, zeroed as a failed disk would.
void zeroPageOf(kj::StringPtr dataFile, const std::string& marker) {
  auto bytes = fileBytes(dataFile);
  auto at = bytes.find(marker);
  KJ_ASSERT(at != std::string::npos);
  size_t page = at / 4096 * 4096;
  std::string zeros(4096, 0);
  int fd = open(dataFile.cStr(), O_WRONLY);
  KJ_ASSERT(fd >= 0);
  KJ_ASSERT(pwrite(fd, zeros.data(), zeros.size(), page) == 4096);
  close(fd);
}

TEST(Store, AZeroedPageIsCorruptionNotAnAbort) {
  StoreDir dir;
  {
    Store store(dir.store());
    // Small records, many to a leaf page: a walk crosses from one leaf to
    // the next, where LMDB asserts on a page that is not a leaf.
    for (int i = 1; i <= 2000; i++) {
      putMarked(store, store.allocateId(), records::TaskState::SUCCEEDED,
                kj::str("finished-", 10000 + i));
    }
    store.commit();
  }
  auto data = kj::str(dir.store(), "/data.mdb");
  zeroPageOf(data, "finished-11500");
  Store store(dir.store());
  auto before = fileBytes(data);
  for (int pass = 0; pass < 2; pass++) {
    KJ_IF_MAYBE (e, readError(
                        [&]() { store.forEachTask([](records::Task::Reader) { return true; }); })) {
      EXPECT_EQ(e->getType(), kj::Exception::Type::OVERLOADED);
      std::string text = e->getDescription().cStr();
      EXPECT_NE(text.find("is corrupt"), std::string::npos) << text;
    } else {
      FAIL() << "a walk over a zeroed page found nothing wrong";
    }
    // A point read into the zeroed page: LMDB's MDB_CORRUPTED.
    EXPECT_TRUE(readError([&]() { store.getTask(1500); }) != nullptr);
  }
  EXPECT_TRUE(store.readOnly());
  EXPECT_TRUE(store.getTask(1) != nullptr);
  EXPECT_EQ(fileBytes(data), before);
}

// ---- The map (issue 12, point 8) ----

size_t vmSizeBytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmSize:", 0) == 0) return std::stoull(line.substr(7)) * 1024;
  }
  KJ_FAIL_ASSERT("no VmSize");
}

TEST(Store, AFailedMapGrowKeepsTheMapSizeInStepAndTheStoreUsable) {
  StoreDir dir;
  StoreOptions options;
  options.initialMapBytes = 8 << 20;
  Store store(dir.store(), options);
  auto big = kj::heapArray<kj::byte>(64 * 1024);
  memset(big.begin(), 'x', big.size());
  // One 64 KiB task per commit, each with 4 MiB of address space to spare:
  // enough for the commit, not for the 16 MiB map the first full one needs.
  // (Before: LMDB unmapped the old map, failed to map the new one, and
  // mapSize said 16 MiB while LMDB held no map: the next read crashed.)
  kj::Maybe<kj::Exception> error;
  int stored = 0;
  for (int i = 0; i < 400 && error == nullptr; i++) {
    capnp::MallocMessageBuilder message;
    auto task = message.initRoot<records::Task>();
    task.setId(store.allocateId());
    task.setCwd(big);
    store.putTask(task);
    struct rlimit old;
    ASSERT_EQ(getrlimit(RLIMIT_AS, &old), 0);
    struct rlimit tight = old;
    tight.rlim_cur = vmSizeBytes() + (4 << 20);
    ASSERT_EQ(setrlimit(RLIMIT_AS, &tight), 0);
    error = readError([&]() { store.commit(); });
    ASSERT_EQ(setrlimit(RLIMIT_AS, &old), 0);
    if (error == nullptr) stored++;
  }
  KJ_IF_MAYBE (e, error) {
    EXPECT_EQ(e->getType(), kj::Exception::Type::OVERLOADED) << e->getDescription().cStr();
    EXPECT_NE(std::string(e->getDescription().cStr()).find("cannot grow the map"),
              std::string::npos)
        << e->getDescription().cStr();
  } else {
    FAIL() << "the map never filled";
  }
  EXPECT_GT(stored, 50);
  EXPECT_EQ(store.mapBytes(), size_t(8) << 20);  // what LMDB maps, not what was asked for
  EXPECT_TRUE(store.getTask(1) != nullptr);      // and it still maps it
  // With room again, the staged task commits into a grown map.
  store.commit();
  EXPECT_EQ(store.mapBytes(), size_t(16) << 20);
  int n = 0;
  store.forEachTask([&](records::Task::Reader) { return ++n, true; });
  EXPECT_EQ(n, stored + 1);
}

// ---- --check-store and --salvage-store ----

void fillForTools(Store& store) {
  for (int i = 1; i <= 30; i++) {
    auto id = store.allocateId();
    putMarked(store, id, i % 10 == 0 ? records::TaskState::QUEUED : records::TaskState::SUCCEEDED,
              kj::str("tool-marker-", 100 + i));
    if (i % 10 != 0) putAttempt(store, id, 1);
  }
  putRequest(store, 1000, "req-1", 3, 50);
  putQueueSettings(store, "batch", 4, false);
  capnp::MallocMessageBuilder message;
  auto event = message.initRoot<records::Event>();
  event.setSeq(1);
  event.setTaskId(1);
  store.appendEvent(event);
  store.commit();
}

TEST(StoreTools, ChecksASoundStoreAndNamesEveryDamagedRecord) {
  StoreDir dir;
  {
    Store store(dir.store());
    fillForTools(store);
  }
  auto report = checkStore(dir.store());
  EXPECT_EQ(report.problems.size(), 0u) << report.problems[0].cStr();
  EXPECT_GT(report.records, 60u);

  auto data = kj::str(dir.store(), "/data.mdb");
  flipAt(data, taskRecordOffset(dir.store(), 5));   // finished
  flipAt(data, taskRecordOffset(dir.store(), 20));  // queued: the daemon would refuse to start
  auto before = fileBytes(data);
  report = checkStore(dir.store());
  std::string all;
  for (auto& p : report.problems) all += std::string(p.cStr()) + "\n";
  EXPECT_NE(all.find("tasks 5: checksum mismatch"), std::string::npos) << all;
  EXPECT_NE(all.find("tasks 20: checksum mismatch"), std::string::npos) << all;
  // The indexes now list tasks whose records could not be read.
  EXPECT_NE(all.find("active 20: lists a task that is missing or terminal"), std::string::npos)
      << all;
  EXPECT_EQ(fileBytes(data), before);  // read-only
}

TEST(StoreTools, SalvagesEveryReadableRecordIntoANewStoreAndListsWhatItDropped) {
  StoreDir dir;
  {
    Store store(dir.store());
    fillForTools(store);
  }
  auto data = kj::str(dir.store(), "/data.mdb");
  flipAt(data, taskRecordOffset(dir.store(), 5));
  auto before = fileBytes(data);
  auto out = kj::str(dir.path, "/salvaged");
  auto report = salvageStore(dir.store(), out);
  EXPECT_EQ(fileBytes(data), before);  // the source is only read
  std::string all;
  for (auto& d : report.dropped) all += std::string(d.cStr()) + "\n";
  EXPECT_NE(all.find("tasks 5: checksum mismatch"), std::string::npos) << all;
  EXPECT_NE(all.find("attempts 5/1: its task was dropped"), std::string::npos) << all;
  EXPECT_EQ(report.dropped.size(), 2u) << all;
  EXPECT_EQ(checkStore(out).problems.size(), 0u);
  Store store(out);
  EXPECT_TRUE(store.getTask(5) == nullptr);
  EXPECT_TRUE(store.getTask(4) != nullptr);
  EXPECT_TRUE(store.getAttempt(4, 1) != nullptr);
  EXPECT_GE(store.allocateId(), 31u);  // ids are never reused
  int active = 0;
  store.forEachActiveTask([&](records::Task::Reader) { active++; });
  EXPECT_EQ(active, 3);
  EXPECT_TRUE(store.getRequest(1000, "req-1") != nullptr);
  EXPECT_EQ(store.lastEventSeq(), 1u);
  // Never into a store that holds something.
  EXPECT_TRUE(kj::runCatchingExceptions([&]() { salvageStore(dir.store(), out); }) != nullptr);
}

TEST(StoreTools, SalvagePastAZeroedPageLooksTheRemainingIdsUp) {
  StoreDir dir;
  {
    Store store(dir.store());
    for (int i = 1; i <= 2000; i++) {
      putMarked(store, store.allocateId(), records::TaskState::SUCCEEDED,
                kj::str("finished-", 10000 + i));
    }
    store.commit();
  }
  zeroPageOf(kj::str(dir.store(), "/data.mdb"), "finished-11000");
  EXPECT_GT(checkStore(dir.store()).problems.size(), 0u);
  auto out = kj::str(dir.path, "/salvaged");
  auto report = salvageStore(dir.store(), out);
  Store store(out);
  int kept = 0;
  store.forEachTask([&](records::Task::Reader) { return ++kept, true; });
  // One leaf page of small records lost, every other task kept.
  EXPECT_GT(kept, 1900);
  EXPECT_LT(kept, 2000);
  EXPECT_TRUE(store.getTask(1999) != nullptr);
  EXPECT_TRUE(store.getTask(1) != nullptr);
  EXPECT_GT(report.dropped.size(), 0u);
}

namespace {
// This process's resident pages of mapped files (RssFile in /proc/self/status), in KiB.
size_t rssFileKib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("RssFile:", 0) == 0) return std::stoul(line.substr(8));
  }
  return 0;
}
}  // namespace

TEST(Store, ReleasingTheMapsPagesGivesBackWhatAScanMapped) {
  StoreDir dir;
  Store store(dir.store());
  auto big = kj::heapArray<kj::byte>(64 * 1024);
  memset(big.begin(), 'x', big.size());
  for (int i = 0; i < 256; i++) {  // 16 MiB of records
    capnp::MallocMessageBuilder message;
    auto task = message.initRoot<records::Task>();
    task.setId(store.allocateId());
    task.setCwd(big);
    store.putTask(task);
  }
  store.commit();
  store.releaseMappedPages();
  size_t before = rssFileKib();
  size_t bytes = 0;
  store.forEachTask([&](records::Task::Reader task) {
    bytes += task.getCwd().size();
    return true;
  });
  ASSERT_EQ(bytes, 256u * 64 * 1024);
  size_t scanned = rssFileKib();
  ASSERT_GT(scanned, before + 12 * 1024) << "the scan should have mapped ~16 MiB of pages";
  store.releaseMappedPages();
  EXPECT_LT(rssFileKib(), before + 4 * 1024) << "scanned " << scanned << " KiB";
  int n = 0;
  store.forEachTask([&](records::Task::Reader) { return ++n, true; });
  EXPECT_EQ(n, 256) << "the records read again after the release";
}

// ---- Format 4: limits in `limits`, no `ready` index ----

// A task of format 3 as format 4 holds it: limits moved, the flat fields 0
// (a task with no flat limit is left as it was: `limits` unset reads as 0).
std::string withLimitsMoved(records::Task::Reader old) {
  if ((old.getTimeoutUsec() | old.getKillGraceUsec() | old.getHeartbeatUsec() |
       old.getCpuQuotaPerSecUsec() | old.getMemoryMaxBytes() | old.getTasksMax()) == 0) {
    return kj::str(old).cStr();
  }
  capnp::MallocMessageBuilder message;
  message.setRoot(old);
  auto task = message.getRoot<records::Task>();
  auto limits = task.initLimits();
  limits.setTimeoutUsec(old.getTimeoutUsec());
  limits.setKillGraceUsec(old.getKillGraceUsec());
  limits.setHeartbeatUsec(old.getHeartbeatUsec());
  limits.setCpuQuotaPerSecUsec(old.getCpuQuotaPerSecUsec());
  limits.setMemoryMaxBytes(old.getMemoryMaxBytes());
  limits.setTasksMax(old.getTasksMax());
  task.setTimeoutUsec(0);
  task.setKillGraceUsec(0);
  task.setHeartbeatUsec(0);
  task.setCpuQuotaPerSecUsec(0);
  task.setMemoryMaxBytes(0);
  task.setTasksMax(0);
  return kj::str(task.asReader()).cStr();
}

// Every record of the (sealed) store at `dir`, read with LMDB alone, as
// "table key-hex" -> its text; with `moveLimits`, a task as format 4 holds it.
std::map<std::string, std::string> rawRecords(kj::StringPtr dir, bool moveLimits = false) {
  std::map<std::string, std::string> out;
  MDB_env* env;
  KJ_ASSERT(mdb_env_create(&env) == 0);
  KJ_DEFER(mdb_env_close(env));
  mdb_env_set_maxdbs(env, 16);
  KJ_ASSERT(mdb_env_open(env, dir.cStr(), MDB_RDONLY, 0600) == 0);
  MDB_txn* txn;
  KJ_ASSERT(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) == 0);
  KJ_DEFER(mdb_txn_abort(txn));
  for (kj::StringPtr table :
       {"tasks"_kj, "attempts"_kj, "tombstones"_kj, "requests"_kj, "queues"_kj, "events"_kj}) {
    MDB_dbi dbi;
    if (mdb_dbi_open(txn, table.cStr(), 0, &dbi) != 0) continue;
    MDB_cursor* cursor;
    KJ_ASSERT(mdb_cursor_open(txn, dbi, &cursor) == 0);
    KJ_DEFER(mdb_cursor_close(cursor));
    MDB_val key, val;
    for (int rc = mdb_cursor_get(cursor, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cursor, &key, &val, MDB_NEXT)) {
      auto k = kj::arrayPtr(static_cast<const kj::byte*>(key.mv_data), key.mv_size);
      auto payload = KJ_ASSERT_NONNULL(
          unsealValue(k, kj::arrayPtr(static_cast<const kj::byte*>(val.mv_data), val.mv_size)));
      auto words = kj::heapArray<capnp::word>(payload.size() / sizeof(capnp::word));
      memcpy(words.begin(), payload.begin(), payload.size());
      capnp::FlatArrayMessageReader reader(words);
      std::string text;
      if (table == "tasks") {
        auto task = reader.getRoot<records::Task>();
        text = moveLimits ? withLimitsMoved(task) : kj::str(task).cStr();
      } else if (table == "attempts") {
        text = kj::str(reader.getRoot<records::Attempt>()).cStr();
      } else if (table == "tombstones") {
        text = kj::str(reader.getRoot<records::Tombstone>()).cStr();
      } else if (table == "requests") {
        text = kj::str(reader.getRoot<records::RequestMapping>()).cStr();
      } else if (table == "queues") {
        text = kj::str(reader.getRoot<records::QueueSettings>()).cStr();
      } else {
        text = kj::str(reader.getRoot<records::Event>()).cStr();
      }
      std::string hex;
      for (auto b : k) hex += kj::str(kj::hex(b)).cStr();
      out[std::string(table.cStr()) + " " + hex] = text;
    }
  }
  return out;
}

size_t countOf(const std::map<std::string, std::string>& records, const std::string& table) {
  size_t n = 0;
  for (auto& r : records) n += r.first.rfind(table + " ", 0) == 0;
  return n;
}

// The fixture: a format-3 store written by taskctld e5e382f (testdata/README).
void unpackFormat3Fixture(kj::StringPtr store) {
  KJ_ASSERT(mkdir(store.cStr(), 0700) == 0);
  auto command = kj::str("tar -xzf " TASKCTL_STORE_TESTDATA "/format3-e5e382f.tar.gz -C ", store);
  KJ_ASSERT(system(command.cStr()) == 0, command);
  KJ_ASSERT(storedFormatVersion(store) == 3);
  KJ_ASSERT(hasTable(store, "ready"));
}

void expectFixtureLimitsInLimits(Store& store) {
  auto task1 = KJ_ASSERT_NONNULL(store.getTask(1));
  auto t = task1->get();
  ASSERT_TRUE(t.hasLimits());
  EXPECT_EQ(t.getLimits().getTimeoutUsec(), 3600ull * 1000000);
  EXPECT_EQ(t.getLimits().getKillGraceUsec(), 5ull * 1000000);
  EXPECT_EQ(t.getLimits().getHeartbeatUsec(), 30ull * 1000000);
  EXPECT_EQ(t.getLimits().getCpuQuotaPerSecUsec(), 500000u);
  EXPECT_EQ(t.getLimits().getMemoryMaxBytes(), 512ull << 20);
  EXPECT_EQ(t.getLimits().getTasksMax(), 64u);
  EXPECT_EQ(t.getTimeoutUsec() | t.getKillGraceUsec() | t.getHeartbeatUsec() |
                t.getCpuQuotaPerSecUsec() | t.getMemoryMaxBytes() | t.getTasksMax(),
            0u);
  EXPECT_EQ(t.getState(), records::TaskState::SUCCEEDED);
  EXPECT_EQ(t.getLabels()[0].getKey(), "team");
  auto task2 = KJ_ASSERT_NONNULL(store.getTask(2));
  auto q = task2->get();
  EXPECT_EQ(q.getState(), records::TaskState::QUEUED);
  EXPECT_EQ(q.getQueue(), "batch");
  EXPECT_EQ(q.getPriority(), -5);
  EXPECT_EQ(q.getKey(), "nightly");
  EXPECT_EQ(q.getRequestId(), "req-7");
  EXPECT_EQ(q.getRetry().getRetries(), 3u);
  EXPECT_EQ(q.getLimits().getTimeoutUsec(), 120ull * 1000000);
  EXPECT_EQ(q.getLimits().getKillGraceUsec(), 10ull * 1000000);  // stored as in force
  EXPECT_EQ(q.getLimits().getMemoryMaxBytes(), 1ull << 30);
  EXPECT_EQ(q.getTimeoutUsec() | q.getKillGraceUsec() | q.getMemoryMaxBytes(), 0u);
  EXPECT_EQ(KJ_ASSERT_NONNULL(store.getTask(3))->get().getLimits().getHeartbeatUsec(),
            10ull * 1000000);
  EXPECT_EQ(KJ_ASSERT_NONNULL(store.getTask(4))->get().getAfter()[0].getId(), 2u);
}

TEST(Store, UpgradesAFormat3StoreOfTheOldDaemonKeepingEveryFieldAndMovingTheLimits) {
  StoreDir dir;
  unpackFormat3Fixture(dir.store());
  auto expected = rawRecords(dir.store(), true);
  EXPECT_EQ(countOf(expected, "tasks"), 4u);
  EXPECT_EQ(countOf(expected, "attempts"), 1u);
  EXPECT_EQ(countOf(expected, "requests"), 1u);
  EXPECT_EQ(countOf(expected, "queues"), 1u);
  EXPECT_GT(countOf(expected, "events"), 4u);
  {
    Store store(dir.store());
    EXPECT_EQ(store.allocateId(), 5u);  // the counter survives the upgrade
  }
  EXPECT_EQ(storedFormatVersion(dir.store()), records::FORMAT_VERSION);
  EXPECT_FALSE(hasTable(dir.store(), "ready"));

  // Every record as it was, field by field; the tasks' limits moved.
  auto after = rawRecords(dir.store());
  ASSERT_EQ(after.size(), expected.size());
  for (auto& [key, text] : expected) EXPECT_EQ(after[key], text) << key;

  Store store(dir.store());
  expectFixtureLimitsInLimits(store);
  int active = 0;
  store.forEachActiveTask([&](records::Task::Reader) { active++; });
  EXPECT_EQ(active, 3);
  EXPECT_EQ(finishedIds(store).size(), 1u);
  EXPECT_TRUE(store.getRequest(0, "req-7") != nullptr);

  // --check-store finds the upgraded store sound.
  auto report = checkStore(dir.store());
  std::string all;
  for (auto& p : report.problems) all += std::string(p.cStr()) + "\n";
  EXPECT_EQ(report.problems.size(), 0u) << all;
  EXPECT_GT(report.records, after.size());
}

TEST(StoreTools, SalvagesAFormat3StoreWithTheLimitsWhereFormat4KeepsThem) {
  StoreDir dir;
  unpackFormat3Fixture(dir.store());
  auto out = kj::str(dir.path, "/salvaged");
  auto report = salvageStore(dir.store(), out);
  EXPECT_EQ(report.dropped.size(), 0u);
  Store store(out);
  expectFixtureLimitsInLimits(store);
}

TEST(Store, UpgradesAVersion1StoreMovingItsTasksLimits) {
  StoreDir dir;
  KJ_ASSERT(mkdir(dir.store().cStr(), 0700) == 0);
  {
    RawStore raw(dir.store());
    raw.table("ready");
    capnp::MallocMessageBuilder message;
    auto task = message.initRoot<records::Task>();
    task.setId(1);
    task.setState(records::TaskState::QUEUED);
    task.setTimeoutUsec(7);
    task.setTasksMax(9);
    kj::byte key[8] = {0, 0, 0, 0, 0, 0, 0, 1};
    raw.put("tasks", key, capnp::messageToFlatArray(message).asBytes());
    raw.put("active", key, nullptr);
    raw.putTask(2, records::TaskState::SUCCEEDED, 5);  // no limits: left as it was
    raw.putMeta(1, 3);
  }
  {
    Store store(dir.store());
    auto task = KJ_ASSERT_NONNULL(store.getTask(1));
    EXPECT_EQ(task->get().getLimits().getTimeoutUsec(), 7u);
    EXPECT_EQ(task->get().getLimits().getTasksMax(), 9u);
    EXPECT_EQ(task->get().getTimeoutUsec() | task->get().getTasksMax(), 0u);
    EXPECT_FALSE(KJ_ASSERT_NONNULL(store.getTask(2))->get().hasLimits());
  }
  EXPECT_EQ(storedFormatVersion(dir.store()), records::FORMAT_VERSION);
  EXPECT_FALSE(hasTable(dir.store(), "ready"));
  EXPECT_EQ(checkStore(dir.store()).problems.size(), 0u);
}

TEST(Store, RefusesAFormat3StoreWithADamagedFinishedTaskWithoutUpgradingIt) {
  StoreDir dir;
  unpackFormat3Fixture(dir.store());
  auto data = kj::str(dir.store(), "/data.mdb");
  flipAt(data,
         taskRecordOffset(dir.store(), 1));  // succeeded: the open alone reads no finished task
  auto before = fileBytes(data);
  auto error = openError(dir.store());
  EXPECT_NE(error.find("is corrupt (checksum mismatch in tasks 1)"), std::string::npos) << error;
  EXPECT_EQ(fileBytes(data), before);  // not upgraded, not touched
  EXPECT_EQ(storedFormatVersion(dir.store()), 3u);
}

}  // namespace
}  // namespace taskctl
