#include "queue-render.h"

#include <capnp/message.h>
#include <gtest/gtest.h>

namespace kj {
// gtest shows kj::String as bytes without this.
inline void PrintTo(const String& text, std::ostream* os) { *os << '"' << text.cStr() << '"'; }
}  // namespace kj

namespace taskctl {
namespace {

// Two queues as the daemon would describe them: one busy, one paused by an admin.
void fillQueues(capnp::List<rpc::QueueView>::Builder queues) {
  queues[0].setName("default");
  queues[0].setConcurrency(4);
  queues[0].setConcurrencyFromConfig(true);
  queues[0].setRunning(4);
  queues[0].setQueued(120);
  queues[0].setWaiting(3);
  queues[1].setName("batch");
  queues[1].setConcurrency(16);
  queues[1].setRunning(2);
  queues[1].setPaused(true);
  queues[1].setPausedReason("by uid 0");
}

TEST(QueueRender, TableAlignsNumbersRightAndWordsLeft) {
  capnp::MallocMessageBuilder message;
  auto queues = message.initRoot<capnp::List<rpc::QueueView>>(2);
  fillQueues(queues);
  auto readers = KJ_MAP(queue, queues.asReader()) { return queue; };
  EXPECT_EQ(queueTable(readers),
            "NAME     CONCURRENCY  RUNNING  QUEUED  WAITING  PAUSED\n"
            "default            4        4     120        3  no\n"
            "batch             16        2       0        0  yes (by uid 0)\n");
}

TEST(QueueRender, TableOfNoQueuesIsTheHeader) {
  EXPECT_EQ(queueTable(nullptr), "NAME  CONCURRENCY  RUNNING  QUEUED  WAITING  PAUSED\n");
}

TEST(QueueRender, PausedWithoutAReasonIsJustYes) {
  capnp::MallocMessageBuilder message;
  auto queue = message.initRoot<rpc::QueueView>();
  queue.setName("q");
  queue.setConcurrency(1);
  queue.setPaused(true);
  auto reader = queue.asReader();
  EXPECT_EQ(queueTable(kj::arrayPtr(&reader, 1)),
            "NAME  CONCURRENCY  RUNNING  QUEUED  WAITING  PAUSED\n"
            "q               1        0       0        0  yes\n");
}

TEST(QueueRender, TableKeepsEscapeSequencesOffTheTerminal) {
  capnp::MallocMessageBuilder message;
  auto queue = message.initRoot<rpc::QueueView>();
  queue.setName("q\x1b[2J");
  queue.setPaused(true);
  queue.setPausedReason("spawn failed:\x1b]0;x\x07");
  auto reader = queue.asReader();
  auto table = queueTable(kj::arrayPtr(&reader, 1));
  EXPECT_EQ(table.findFirst('\x1b'), nullptr) << table.cStr();
  EXPECT_NE(strstr(table.cStr(), "q\\x1b[2J"), nullptr) << table.cStr();
}

TEST(QueueRender, JsonHasEveryFieldUnderItsStableName) {
  capnp::MallocMessageBuilder message;
  auto queues = message.initRoot<capnp::List<rpc::QueueView>>(2);
  fillQueues(queues);
  EXPECT_EQ(queueJson(queues.asReader()[1]),
            R"({"name":"batch","concurrency":16,"concurrency_from_config":false,"running":2,)"
            R"("queued":0,"waiting":0,"paused":true,"paused_reason":"by uid 0","drained":false})"
            "\n");
  auto readers = KJ_MAP(queue, queues.asReader()) { return queue; };
  EXPECT_EQ(queuesJson(readers),
            R"([{"name":"default","concurrency":4,"concurrency_from_config":true,"running":4,)"
            R"("queued":120,"waiting":3,"paused":false,"paused_reason":null,"drained":false},)"
            R"({"name":"batch","concurrency":16,"concurrency_from_config":false,"running":2,)"
            R"("queued":0,"waiting":0,"paused":true,"paused_reason":"by uid 0","drained":false}])"
            "\n");
  EXPECT_EQ(queuesJson(nullptr), "[]\n");
}

TEST(QueueRender, DrainedShowsInThePausedColumnAndTheJson) {
  capnp::MallocMessageBuilder message;
  auto queues = message.initRoot<capnp::List<rpc::QueueView>>(2);
  fillQueues(queues);
  queues[0].setDrained(true);
  queues[1].setDrained(true);
  auto readers = KJ_MAP(queue, queues.asReader()) { return queue; };
  EXPECT_EQ(queueTable(readers),
            "NAME     CONCURRENCY  RUNNING  QUEUED  WAITING  PAUSED\n"
            "default            4        4     120        3  drained\n"
            "batch             16        2       0        0  yes (by uid 0), drained\n");
  EXPECT_NE(strstr(queueJson(readers[0]).cStr(),
                   R"("paused":false,"paused_reason":null,"drained":true})"),
            nullptr);
}

}  // namespace
}  // namespace taskctl
