#include "rpc/views.h"

#include <gtest/gtest.h>

namespace taskctl {
namespace {

using records::EndReason;
using records::TaskState;

kj::ArrayPtr<const kj::byte> bytes(kj::StringPtr s) { return s.asBytes(); }

// A stored task with a value in every field a view shows.
void makeTask(records::Task::Builder t) {
  t.setId(42);
  t.setUid(1000);
  t.setGid(100);
  t.setState(TaskState::FAILED);
  t.setReason(EndReason::SIGNAL);
  t.setMessage("killed");
  t.setExitCode(-1);
  t.setSignal(9);
  t.setQueue("batch");
  t.setPriority(7);
  auto argv = t.initArgv(2);
  argv.set(0, bytes("sleep"));
  argv.set(1, bytes("5"));
  auto env = t.initEnv(1);
  env.set(0, bytes("SECRET=1"));
  t.setCwd(bytes("/tmp"));
  auto labels = t.initLabels(1);
  labels[0].setKey("team");
  labels[0].setValue("db");
  t.setCreatedAt(111);
  t.setFinishedAt(222);
  auto limits = t.initLimits();
  limits.setTimeoutUsec(1);
  limits.setKillGraceUsec(2);
  limits.setHeartbeatUsec(3);
  limits.setCpuQuotaPerSecUsec(4);
  limits.setMemoryMaxBytes(5);
  limits.setTasksMax(6);
  t.initAfter(1)[0].setId(41);
  t.setNotBefore(333);
  t.setNextAttemptAt(444);
  t.initRetry().setRetries(3);
  t.setKey("k");
  t.setRequestId("r");
}

TEST(Views, ATaskViewCopiesEveryFieldAndNamesItsState) {
  capnp::MallocMessageBuilder in, out;
  auto t = in.initRoot<records::Task>();
  makeTask(t);
  auto v = out.initRoot<rpc::TaskView>();
  fillTask(t.asReader(), "task 41 to succeed", nullptr, false, v);
  EXPECT_EQ(v.getId(), 42u);
  EXPECT_EQ(v.getUid(), 1000u);
  EXPECT_EQ(v.getGid(), 100u);
  EXPECT_EQ(v.getState(), "failed");
  EXPECT_EQ(v.getReason(), "signal");
  EXPECT_EQ(v.getMessage(), "killed");
  EXPECT_EQ(v.getExitStatus(), 137);  // 128 + SIGKILL
  EXPECT_EQ(v.getSignal(), 9);
  EXPECT_EQ(v.getQueue(), "batch");
  EXPECT_EQ(v.getPriority(), 7);
  ASSERT_EQ(v.getArgv().size(), 2u);
  EXPECT_EQ(kj::str(v.getArgv()[0].asChars()), "sleep");
  EXPECT_EQ(kj::str(v.getCwd().asChars()), "/tmp");
  ASSERT_EQ(v.getLabels().size(), 1u);
  EXPECT_EQ(v.getLabels()[0].getKey(), "team");
  EXPECT_EQ(v.getLabels()[0].getValue(), "db");
  EXPECT_EQ(v.getCreatedAt(), 111);
  EXPECT_EQ(v.getFinishedAt(), 222);
  EXPECT_EQ(v.getTimeoutUsec(), 1u);
  EXPECT_EQ(v.getKillGraceUsec(), 2u);
  EXPECT_EQ(v.getHeartbeatUsec(), 3u);
  EXPECT_EQ(v.getCpuQuotaPerSecUsec(), 4u);
  EXPECT_EQ(v.getMemoryMaxBytes(), 5u);
  EXPECT_EQ(v.getTasksMax(), 6u);
  ASSERT_EQ(v.getAfter().size(), 1u);
  EXPECT_EQ(v.getAfter()[0].getId(), 41u);
  EXPECT_EQ(v.getNotBefore(), 333);
  EXPECT_EQ(v.getNextAttemptAt(), 444);
  EXPECT_EQ(v.getRetry().getRetries(), 3u);
  EXPECT_EQ(v.getKey(), "k");
  EXPECT_EQ(v.getRequestId(), "r");
  EXPECT_EQ(v.getWaitingFor(), "task 41 to succeed");
  EXPECT_FALSE(v.getPruned());
}

TEST(Views, EnvOnlyWhenAskedFor) {
  capnp::MallocMessageBuilder in, out1, out2;
  auto t = in.initRoot<records::Task>();
  makeTask(t);
  auto without = out1.initRoot<rpc::TaskView>();
  fillTask(t.asReader(), "", nullptr, false, without);
  EXPECT_FALSE(without.hasEnv());
  auto with = out2.initRoot<rpc::TaskView>();
  fillTask(t.asReader(), "", nullptr, true, with);
  ASSERT_EQ(with.getEnv().size(), 1u);
  EXPECT_EQ(kj::str(with.getEnv()[0].asChars()), "SECRET=1");
}

TEST(Views, AttemptsOnlyWhenGivenAndAnEmptyListIsNotNone) {
  capnp::MallocMessageBuilder in, a1, out1, out2, out3;
  auto t = in.initRoot<records::Task>();
  makeTask(t);
  auto none = out1.initRoot<rpc::TaskView>();
  fillTask(t.asReader(), "", nullptr, false, none);
  EXPECT_FALSE(none.hasAttempts());

  auto empty = out2.initRoot<rpc::TaskView>();
  kj::ArrayPtr<const records::Attempt::Reader> noAttempts;
  fillTask(t.asReader(), "", noAttempts, false, empty);
  EXPECT_TRUE(empty.hasAttempts());
  EXPECT_EQ(empty.getAttempts().size(), 0u);

  auto a = a1.initRoot<records::Attempt>();
  a.setNumber(1);
  a.setState(TaskState::RUNNING);
  a.setProgress(0.5);
  a.setStatusText("half");
  a.setShimPid(123);
  a.setUnit("taskctl-42-1.scope");
  a.setOomKills(2);
  const records::Attempt::Reader readers[] = {a.asReader()};
  auto one = out3.initRoot<rpc::TaskView>();
  fillTask(t.asReader(), "", kj::arrayPtr(readers, 1), false, one);
  ASSERT_EQ(one.getAttempts().size(), 1u);
  auto v = one.getAttempts()[0];
  EXPECT_EQ(v.getNumber(), 1u);
  EXPECT_EQ(v.getState(), "running");
  EXPECT_EQ(v.getProgress(), 0.5);
  EXPECT_EQ(v.getStatusText(), "half");
  EXPECT_EQ(v.getShimPid(), 123);
  EXPECT_EQ(v.getUnit(), "taskctl-42-1.scope");
  EXPECT_EQ(v.getOomKills(), 2u);
}

TEST(Views, ATombstoneIsAPrunedViewOfItsFinalState) {
  capnp::MallocMessageBuilder in, out;
  auto t = in.initRoot<records::Tombstone>();
  t.setId(7);
  t.setUid(1000);
  t.setState(TaskState::FAILED);
  t.setReason(EndReason::EXIT);
  t.setExitCode(3);
  t.setFinishedAt(99);
  t.setQueue("default");
  auto v = out.initRoot<rpc::TaskView>();
  fillTombstone(t.asReader(), v);
  EXPECT_EQ(v.getId(), 7u);
  EXPECT_EQ(v.getUid(), 1000u);
  EXPECT_EQ(v.getState(), "failed");
  EXPECT_EQ(v.getReason(), "exit");
  EXPECT_EQ(v.getExitCode(), 3);
  EXPECT_EQ(v.getExitStatus(), 3);
  EXPECT_EQ(v.getFinishedAt(), 99);
  EXPECT_EQ(v.getQueue(), "default");
  EXPECT_TRUE(v.getPruned());
  EXPECT_EQ(v.getMessage(), "pruned by retention; only its final state is kept");
  EXPECT_FALSE(v.hasArgv());
}

TEST(Views, QueueAndSchedule) {
  capnp::MallocMessageBuilder out1, out2;
  Scheduler::QueueInfo info{kj::str("q"), 4, false, 1, 2, 3, true, kj::str("failure")};
  auto q = out1.initRoot<rpc::QueueView>();
  fillQueue(info, q);
  EXPECT_EQ(q.getName(), "q");
  EXPECT_EQ(q.getConcurrency(), 4u);
  EXPECT_FALSE(q.getConcurrencyFromConfig());
  EXPECT_EQ(q.getRunning(), 1u);
  EXPECT_EQ(q.getQueued(), 2u);
  EXPECT_EQ(q.getWaiting(), 3u);
  EXPECT_TRUE(q.getPaused());
  EXPECT_EQ(q.getPausedReason(), "failure");

  ScheduleInfo s;
  s.uid = 1000;
  s.name = kj::str("nightly");
  s.onCalendar = kj::str("daily");
  s.timerUnit = kj::str("t.timer");
  s.serviceUnit = kj::str("t.service");
  s.times.nextUsec = 5;
  s.times.lastUsec = 4;
  uint64_t ids[] = {3, 8};
  auto v = out2.initRoot<rpc::ScheduleView>();
  fillSchedule(s, kj::arrayPtr(ids, 2), v);
  EXPECT_EQ(v.getName(), "nightly");
  EXPECT_EQ(v.getUid(), 1000u);
  EXPECT_EQ(v.getOnCalendar(), "daily");
  EXPECT_EQ(v.getNextRunAt(), 5000);  // usec -> ns
  EXPECT_EQ(v.getLastRunAt(), 4000);
  ASSERT_EQ(v.getTaskIds().size(), 2u);
  EXPECT_EQ(v.getTaskIds()[1], 8u);
  EXPECT_EQ(v.getTimerUnit(), "t.timer");
  EXPECT_EQ(v.getServiceUnit(), "t.service");
}

TEST(Views, StateNamedIsStateNamesInverse) {
  for (auto state :
       {TaskState::WAITING, TaskState::QUEUED, TaskState::STARTING, TaskState::RUNNING,
        TaskState::SUCCEEDED, TaskState::FAILED, TaskState::CANCELLED, TaskState::RETRYING}) {
    EXPECT_TRUE(stateNamed(stateName(state)) == state);
  }
  EXPECT_TRUE(stateNamed("sleeping") == nullptr);
  EXPECT_TRUE(stateNamed("") == nullptr);
}

}  // namespace
}  // namespace taskctl
