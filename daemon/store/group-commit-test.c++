#include "store/group-commit.h"

#include <stdlib.h>

#include <gtest/gtest.h>
#include <kj/async-io.h>
#include <kj/debug.h>

namespace taskctl {
namespace {

TEST(GroupCommit, OneTransactionForEverythingStagedInATurn) {
  char tmpl[] = "/tmp/taskctl-gc-test.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  KJ_DEFER(KJ_ASSERT(system(kj::str("rm -rf ", tmpl).cStr()) == 0));
  auto io = kj::setupAsyncIo();
  Store store(kj::str(tmpl, "/store"));
  GroupCommit commit(store, io.provider->getTimer());
  auto before = store.commitCount();

  kj::Vector<kj::Promise<void>> acks;
  for (int i = 0; i < 50; i++) {
    capnp::MallocMessageBuilder message;
    auto task = message.initRoot<records::Task>();
    task.setId(store.allocateId());
    store.putTask(task, true);
    acks.add(commit.durableOrRefused());
  }
  auto all = kj::joinPromises(acks.releaseAsArray());
  EXPECT_TRUE(all.poll(io.waitScope));
  all.wait(io.waitScope);
  EXPECT_EQ(store.commitCount(), before + 1);
  EXPECT_TRUE(commit.flushed().poll(io.waitScope));
}

}  // namespace
}  // namespace taskctl
