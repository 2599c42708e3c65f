#include "store/store.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <kj/debug.h>

namespace taskctl {
namespace {

// A fresh directory under /tmp, removed with the object.
struct TempDir {
  kj::String path;
  TempDir() {
    char tmpl[] = "/tmp/taskctl-store-test.XXXXXX";
    KJ_ASSERT(mkdtemp(tmpl) != nullptr);
    path = kj::str(tmpl);
  }
  ~TempDir() { KJ_ASSERT(system(kj::str("rm -rf ", path).cStr()) == 0); }
  kj::String store() const { return kj::str(path, "/store"); }
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

std::string openError(kj::StringPtr dir) {
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { Store store(dir); })) {
    return e->getDescription().cStr();
  }
  return "";
}

TEST(Store, KeepsTasksAcrossReopen) {
  TempDir dir;
  uint64_t id;
  {
    Store store(dir.store());
    id = store.allocateId();
    putQueued(store, id);
    store.commit();
  }
  Store store(dir.store());
  KJ_IF_MAYBE(task, store.getTask(id)) {
    EXPECT_EQ((*task)->get().getState(), records::TaskState::QUEUED);
    EXPECT_EQ((*task)->get().getArgv()[0].asChars(), "true"_kj.asArray());
  } else {
    FAIL() << "task lost on reopen";
  }
}

TEST(Store, NeverReusesAnIdAcrossRestarts) {
  TempDir dir;
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
  TempDir dir;
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

TEST(Store, ReadyIndexFollowsPriorityThenIdAndState) {
  TempDir dir;
  Store store(dir.store());
  auto a = store.allocateId(), b = store.allocateId(), c = store.allocateId(),
       d = store.allocateId();
  putQueued(store, a, 0);
  putQueued(store, b, 50);
  putQueued(store, c, 0);
  putQueued(store, d, 100, "other");
  store.commit();
  kj::Vector<uint64_t> order;
  store.forEachReady("default", [&](uint64_t id) { order.add(id); });
  ASSERT_EQ(order.size(), 3u);
  EXPECT_EQ(order[0], b);
  EXPECT_EQ(order[1], a);
  EXPECT_EQ(order[2], c);

  putQueued(store, b, 50, "default", records::TaskState::SUCCEEDED);
  store.commit();
  order.clear();
  store.forEachReady("default", [&](uint64_t id) { order.add(id); });
  EXPECT_EQ(order.size(), 2u);
  kj::Vector<uint64_t> active;
  store.forEachActiveTask([&](records::Task::Reader t) { active.add(t.getId()); });
  EXPECT_EQ(active.size(), 3u);  // a, c, d: b is terminal
}

TEST(Store, GrowsTheMapWhenFull) {
  TempDir dir;
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

TEST(Store, RefusesACorruptFileAndLeavesIt) {
  TempDir dir;
  KJ_ASSERT(mkdir(dir.store().cStr(), 0700) == 0);
  auto data = kj::str(dir.store(), "/data.mdb");
  int fd = open(data.cStr(), O_CREAT | O_WRONLY, 0600);
  auto junk = kj::heapArray<char>(65536);
  memset(junk.begin(), 0x5a, junk.size());
  KJ_ASSERT(write(fd, junk.begin(), junk.size()) == 65536);
  close(fd);
  auto error = openError(dir.store());
  EXPECT_NE(error.find("cannot open the store at " + std::string(dir.store().cStr())),
            std::string::npos)
      << error;
  struct stat st;
  ASSERT_EQ(stat(data.cStr(), &st), 0);
  EXPECT_EQ(st.st_size, 65536);  // never replaced
}

TEST(Store, RefusesANewerFormatVersion) {
  TempDir dir;
  {
    Store store(dir.store());
  }
  // Rewrite meta as a future version would.
  {
    MDB_env* env;
    ASSERT_EQ(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 8);
    ASSERT_EQ(mdb_env_open(env, dir.store().cStr(), 0, 0600), 0);
    MDB_txn* txn;
    ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
    MDB_dbi dbi;
    ASSERT_EQ(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    capnp::MallocMessageBuilder message;
    auto meta = message.initRoot<records::Meta>();
    meta.setFormatVersion(records::FORMAT_VERSION + 1);
    meta.setNextId(1);
    auto words = capnp::messageToFlatArray(message);
    MDB_val key{4, const_cast<char*>("meta")};
    MDB_val val{words.asBytes().size(), words.asBytes().begin()};
    ASSERT_EQ(mdb_put(txn, dbi, &key, &val, 0), 0);
    ASSERT_EQ(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
  }
  auto error = openError(dir.store());
  EXPECT_NE(error.find("newer than this taskctld knows"), std::string::npos) << error;
  EXPECT_NE(error.find(dir.store().cStr()), std::string::npos) << error;
}

TEST(Store, RefusesANextIdNotAboveTheStoredIds) {
  TempDir dir;
  {
    Store store(dir.store());
    for (int i = 0; i < 5; i++) putQueued(store, store.allocateId());
    store.commit();
  }
  {
    MDB_env* env;
    ASSERT_EQ(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 8);
    ASSERT_EQ(mdb_env_open(env, dir.store().cStr(), 0, 0600), 0);
    MDB_txn* txn;
    ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
    MDB_dbi dbi;
    ASSERT_EQ(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    capnp::MallocMessageBuilder message;
    auto meta = message.initRoot<records::Meta>();
    meta.setFormatVersion(records::FORMAT_VERSION);
    meta.setNextId(3);
    auto words = capnp::messageToFlatArray(message);
    MDB_val key{4, const_cast<char*>("meta")};
    MDB_val val{words.asBytes().size(), words.asBytes().begin()};
    ASSERT_EQ(mdb_put(txn, dbi, &key, &val, 0), 0);
    ASSERT_EQ(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
  }
  auto error = openError(dir.store());
  EXPECT_NE(error.find("next id 3 is not above the highest stored id 5"), std::string::npos)
      << error;
}

}  // namespace
}  // namespace taskctl
