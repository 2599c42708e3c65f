#include "store/group-commit.h"

#include <gtest/gtest.h>
#include <kj/async-io.h>
#include <kj/debug.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "temp-dir.h"

namespace taskctl {
namespace {

void putTask(Store& store, uint64_t id, bool droppable, size_t payloadBytes = 0) {
  capnp::MallocMessageBuilder message;
  auto task = message.initRoot<records::Task>();
  task.setId(id);
  task.setQueue("default");
  task.setState(records::TaskState::QUEUED);
  auto argv = task.initArgv(1);
  argv.init(0, payloadBytes + 1)[0] = 'x';
  store.putTask(task, droppable);
}

// A store whose file cannot grow, as on a full disk, without a filesystem to
// fill: the soft RLIMIT_FSIZE of this process, at the file's size. LMDB's
// pwrite then fails with EFBIG, or returns short, which LMDB reports as EIO
// ("short write, filesystem full?"), just as ENOSPC does on a full ext4.
class FullDisk {
 public:
  explicit FullDisk(kj::StringPtr storeDir) {
    KJ_SYSCALL(getrlimit(RLIMIT_FSIZE, &saved));
    oldHandler = signal(SIGXFSZ, SIG_IGN);  // the write fails instead of killing us
    struct stat st;
    KJ_SYSCALL(stat(kj::str(storeDir, "/data.mdb").cStr(), &st));
    struct rlimit limit = saved;
    limit.rlim_cur = st.st_size;
    KJ_SYSCALL(setrlimit(RLIMIT_FSIZE, &limit));
  }
  ~FullDisk() { free(); }
  void free() {
    if (freed) return;
    freed = true;
    KJ_SYSCALL(setrlimit(RLIMIT_FSIZE, &saved));
    signal(SIGXFSZ, oldHandler);
  }

 private:
  struct rlimit saved;
  sighandler_t oldHandler;
  bool freed = false;
};

TEST(GroupCommit, OneTransactionForEverythingStagedInATurn) {
  TempDir dir;
  auto io = kj::setupAsyncIo();
  Store store(kj::str(dir.path, "/store"));
  GroupCommit commit(store, io.provider->getTimer());
  auto before = store.commitCount();

  kj::Vector<kj::Promise<void>> acks;
  for (int i = 0; i < 50; i++) {
    putTask(store, store.allocateId(), true);
    acks.add(commit.durableOrRefused());
  }
  auto all = kj::joinPromises(acks.releaseAsArray());
  EXPECT_TRUE(all.poll(io.waitScope));
  all.wait(io.waitScope);
  EXPECT_EQ(store.commitCount(), before + 1);
  EXPECT_TRUE(commit.flushed().poll(io.waitScope));
}

// issue 12, point 3: a store that cannot write is full (OVERLOADED, exit 75),
// never a rejected input (FAILED, exit 65 "Input/output error").
TEST(GroupCommit, AStoreThatCannotWriteIsFull) {
  TempDir dir;
  auto storeDir = kj::str(dir.path, "/store");
  Store store(storeDir);
  putTask(store, store.allocateId(), false);
  store.commit();
  FullDisk full(storeDir);
  for (int i = 0; i < 200; i++) putTask(store, store.allocateId(), false, 16 << 10);
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() { store.commit(); })) {
    EXPECT_EQ(e->getType(), kj::Exception::Type::OVERLOADED) << e->getDescription().cStr();
    EXPECT_TRUE(e->getDescription().startsWith("store full")) << e->getDescription().cStr();
    EXPECT_NE(e->getDescription().findFirst('?'), nullptr) << "no word of space";
  } else {
    ADD_FAILURE() << "the commit worked past RLIMIT_FSIZE";
  }
  // Everything is still staged: once there is room, it all goes in.
  full.free();
  store.commit();
  EXPECT_EQ(store.stagedCount(), 0u);
}

// issue 12, point 2: while commits fail, reads and submits answer at once,
// state changes wait, and everything goes on within a second of room.
TEST(GroupCommit, AFailingStoreBlocksNoReadAndRefusesSubmitsAtOnce) {
  TempDir dir;
  auto storeDir = kj::str(dir.path, "/store");
  auto io = kj::setupAsyncIo();
  auto& timer = io.provider->getTimer();
  Store store(storeDir);
  GroupCommit commit(store, timer);
  uint64_t committedId = store.allocateId();
  putTask(store, committedId, false);
  commit.durable().wait(io.waitScope);

  FullDisk full(storeDir);
  // A state change (not droppable) and a submit, in one turn.
  for (int i = 0; i < 200; i++) putTask(store, store.allocateId(), false, 16 << 10);
  auto change = commit.durable();
  uint64_t submitted = store.allocateId();
  putTask(store, submitted, true);
  auto submit = commit.durableOrRefused();
  auto read = commit.flushed();

  // The attempt fails: the submit is refused (store full), the read goes on.
  ASSERT_TRUE(submit.poll(io.waitScope));
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() { submit.wait(io.waitScope); })) {
    EXPECT_EQ(e->getType(), kj::Exception::Type::OVERLOADED);
    EXPECT_TRUE(e->getDescription().startsWith("store full")) << e->getDescription().cStr();
  } else {
    ADD_FAILURE() << "the submit was acked though nothing could be written";
  }
  EXPECT_TRUE(read.poll(io.waitScope));
  read.wait(io.waitScope);
  EXPECT_FALSE(change.poll(io.waitScope));
  EXPECT_TRUE(commit.failing() != nullptr);
  EXPECT_TRUE(store.getTask(committedId) != nullptr);  // what is durable reads
  EXPECT_TRUE(store.getTask(submitted) == nullptr);

  // While failing: reads at once, submits refused at once (no write, no
  // retry to wait for), the change still waiting, across a few retries.
  auto until = timer.now() + 3 * GroupCommit::RETRY_INTERVAL;
  while (timer.now() < until) {
    EXPECT_TRUE(commit.flushed().poll(io.waitScope));
    putTask(store, store.allocateId(), true);
    auto refused = commit.durableOrRefused();
    ASSERT_TRUE(refused.poll(io.waitScope));
    EXPECT_ANY_THROW(refused.wait(io.waitScope));
    EXPECT_FALSE(change.poll(io.waitScope));
    timer.afterDelay(50 * kj::MILLISECONDS).wait(io.waitScope);
  }

  // Room again: the change is durable within a retry, and submits work.
  full.free();
  auto freedAt = timer.now();
  change.wait(io.waitScope);
  EXPECT_LE(timer.now() - freedAt, kj::SECONDS);
  EXPECT_TRUE(commit.failing() == nullptr);
  uint64_t later = store.allocateId();
  putTask(store, later, true);
  commit.durableOrRefused().wait(io.waitScope);
  EXPECT_TRUE(store.getTask(later) != nullptr);
}

// Refused submits were all that was staged: nothing waits, no failure stays
// behind, and the next submit tries at once (a smaller one may fit).
TEST(GroupCommit, ASubmitTriesAgainAtOnceAfterARefusalWithNothingElseStaged) {
  TempDir dir;
  auto storeDir = kj::str(dir.path, "/store");
  auto io = kj::setupAsyncIo();
  Store store(storeDir);
  GroupCommit commit(store, io.provider->getTimer());
  putTask(store, store.allocateId(), false);
  commit.durable().wait(io.waitScope);

  FullDisk full(storeDir);
  for (int i = 0; i < 200; i++) putTask(store, store.allocateId(), true, 16 << 10);
  EXPECT_ANY_THROW(commit.durableOrRefused().wait(io.waitScope));
  EXPECT_EQ(store.stagedCount(), 0u);
  EXPECT_TRUE(commit.failing() == nullptr);
  EXPECT_TRUE(commit.flushed().poll(io.waitScope));
  full.free();
  uint64_t id = store.allocateId();
  putTask(store, id, true);
  auto ack = commit.durableOrRefused();
  EXPECT_TRUE(ack.poll(io.waitScope));
  ack.wait(io.waitScope);
  EXPECT_TRUE(store.getTask(id) != nullptr);
}

}  // namespace
}  // namespace taskctl
