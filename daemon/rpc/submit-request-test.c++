#include "rpc/submit-request.h"

#include <gtest/gtest.h>

namespace taskctl {
namespace {

kj::String text(capnp::Data::Reader data) { return kj::heapString(data.asChars()); }

TEST(SubmitRequest, ASpecIsTakenAsItIs) {
  capnp::MallocMessageBuilder message;
  auto request = message.initRoot<rpc::SubmitRequest>();
  request.initArgv(1).set(0, "flat"_kj.asBytes());  // an old field beside a spec: ignored
  request.setTimeoutUsec(1);
  auto given = request.initSpec();
  given.initArgv(1).set(0, "true"_kj.asBytes());
  given.getLimits().setTimeoutUsec(5000000);
  given.setDelayUsec(7);
  capnp::MallocMessageBuilder scratch;
  auto spec = taskSpecOf(request.asReader(), scratch);
  ASSERT_EQ(spec.getArgv().size(), 1u);
  EXPECT_EQ(text(spec.getArgv()[0]), "true");
  EXPECT_EQ(spec.getLimits().getTimeoutUsec(), 5000000u);
  EXPECT_EQ(spec.getDelayUsec(), 7u);
}

TEST(SubmitRequest, AnOldClientsFlatFieldsMapOneByOne) {
  // Every field 0-19, each set to a value of its own, read back from the spec.
  capnp::MallocMessageBuilder message;
  auto r = message.initRoot<rpc::SubmitRequest>();
  auto argv = r.initArgv(2);
  argv.set(0, "echo"_kj.asBytes());
  argv.set(1, "hi"_kj.asBytes());
  r.initEnv(1).set(0, "A=1"_kj.asBytes());
  r.setCwd("/tmp"_kj.asBytes());
  r.setUmask(027);
  r.setQueue("batch");
  r.setPriority(-5);
  auto labels = r.initLabels(2);
  labels[0].setKey("team");
  labels[0].setValue("infra");
  labels[1].setKey("run");
  labels[1].setValue("7");
  r.setTimeoutUsec(11);
  r.setKillGraceUsec(12);
  r.setHeartbeatUsec(13);
  r.setCpuQuotaPerSecUsec(14);
  r.setMemoryMaxBytes(15);
  r.setTasksMax(16);
  auto after = r.initAfter(1);
  after[0].setId(42);
  after[0].setCondition(spec::DependencyCondition::FAILED);
  r.setDelayUsec(17);
  r.setNotBefore(18);
  auto retry = r.initRetry();
  retry.setRetries(3);
  retry.setOnOom(true);
  retry.initExitCodes(1).set(0, 2);
  retry.setBackoffBaseUsec(19);
  retry.setBackoffMaxUsec(20);
  r.setKey("deploy");
  r.setOnConflict(spec::KeyConflict::REPLACE);
  r.setRequestId("req-1");

  capnp::MallocMessageBuilder scratch;
  auto s = taskSpecOf(r.asReader(), scratch);
  ASSERT_EQ(s.getArgv().size(), 2u);
  EXPECT_EQ(text(s.getArgv()[0]), "echo");
  EXPECT_EQ(text(s.getArgv()[1]), "hi");
  ASSERT_EQ(s.getEnv().size(), 1u);
  EXPECT_EQ(text(s.getEnv()[0]), "A=1");
  EXPECT_EQ(text(s.getCwd()), "/tmp");
  EXPECT_EQ(s.getUmask(), 027u);
  EXPECT_EQ(s.getQueue(), "batch");
  EXPECT_EQ(s.getPriority(), -5);
  ASSERT_EQ(s.getLabels().size(), 2u);
  EXPECT_EQ(s.getLabels()[0].getKey(), "team");
  EXPECT_EQ(s.getLabels()[0].getValue(), "infra");
  EXPECT_EQ(s.getLabels()[1].getKey(), "run");
  EXPECT_EQ(s.getLabels()[1].getValue(), "7");
  auto limits = s.getLimits();
  EXPECT_EQ(limits.getTimeoutUsec(), 11u);
  EXPECT_EQ(limits.getKillGraceUsec(), 12u);
  EXPECT_EQ(limits.getHeartbeatUsec(), 13u);
  EXPECT_EQ(limits.getCpuQuotaPerSecUsec(), 14u);
  EXPECT_EQ(limits.getMemoryMaxBytes(), 15u);
  EXPECT_EQ(limits.getTasksMax(), 16u);
  ASSERT_EQ(s.getAfter().size(), 1u);
  EXPECT_EQ(s.getAfter()[0].getId(), 42u);
  EXPECT_EQ(s.getAfter()[0].getCondition(), spec::DependencyCondition::FAILED);
  EXPECT_EQ(s.getDelayUsec(), 17u);
  EXPECT_EQ(s.getNotBefore(), 18);
  auto policy = s.getRetry();
  EXPECT_EQ(policy.getRetries(), 3u);
  EXPECT_TRUE(policy.getOnOom());
  EXPECT_FALSE(policy.getOnExit());
  ASSERT_EQ(policy.getExitCodes().size(), 1u);
  EXPECT_EQ(policy.getExitCodes()[0], 2);
  EXPECT_EQ(policy.getBackoffBaseUsec(), 19u);
  EXPECT_EQ(policy.getBackoffMaxUsec(), 20u);
  EXPECT_EQ(s.getKey(), "deploy");
  EXPECT_EQ(s.getOnConflict(), spec::KeyConflict::REPLACE);
  EXPECT_EQ(s.getRequestId(), "req-1");
}

TEST(SubmitRequest, AnEmptyOldRequestIsAnEmptySpec) {
  capnp::MallocMessageBuilder message;
  auto r = message.initRoot<rpc::SubmitRequest>();
  capnp::MallocMessageBuilder scratch;
  auto s = taskSpecOf(r.asReader(), scratch);
  EXPECT_EQ(s.getArgv().size(), 0u);  // refused by the check as an empty command, not here
  EXPECT_EQ(s.getLimits().getTimeoutUsec(), 0u);
  EXPECT_EQ(s.getRetry().getRetries(), 0u);
}

// ---- rerun (issue 16) ----

struct RerunFixture {
  capnp::MallocMessageBuilder oldMessage;
  records::Task::Builder old = oldMessage.initRoot<records::Task>();
  capnp::MallocMessageBuilder overridesMessage;
  spec::TaskSpec::Builder overrides = overridesMessage.initRoot<spec::TaskSpec>();
  capnp::MallocMessageBuilder outMessage;

  RerunFixture() {
    old.setId(5);
    old.initArgv(2).set(0, "make"_kj.asBytes());
    old.getArgv().set(1, "all"_kj.asBytes());
    old.initEnv(1).set(0, "A=1"_kj.asBytes());
    old.setCwd("/src"_kj.asBytes());
    old.setUmask(027);
    old.setQueue("batch");
    old.setPriority(4);
    auto labels = old.initLabels(2);
    labels[0].setKey("team");
    labels[0].setValue("a");
    labels[1].setKey("run");
    labels[1].setValue("1");
    auto limits = old.initLimits();
    limits.setTimeoutUsec(4000000);  // grown by retries from 1 s
    limits.setMemoryMaxBytes(200 << 20);
    limits.setKillGraceUsec(10000000);
    old.initAfter(1)[0].setId(3);
    old.getRetry().setRetries(2);
    old.setKey("k");
    old.setNotBefore(1700000000000000000);
    old.setRequestId("first");
  }

  spec::TaskSpec::Reader run(std::initializer_list<const char*> names,
                             kj::Maybe<records::Attempt::Reader> first = nullptr,
                             SpecOverlay overlay = SpecOverlay::RERUN) {
    capnp::MallocMessageBuilder fieldsMessage;
    auto list = fieldsMessage.initRoot<capnp::List<capnp::Text>>(names.size());
    uint32_t i = 0;
    for (auto name : names) list.set(i++, name);
    auto out = outMessage.initRoot<spec::TaskSpec>();
    rerunSpec(old.asReader(), first, overrides.asReader(), list.asReader(), out, overlay);
    return out.asReader();
  }
};

TEST(SubmitRequest, ARerunIsTheOldSpecWithoutItsStartTimeOrRequestId) {
  RerunFixture f;
  auto spec = f.run({});
  ASSERT_EQ(spec.getArgv().size(), 2u);
  EXPECT_EQ(text(spec.getArgv()[1]), "all");
  EXPECT_EQ(text(spec.getEnv()[0]), "A=1");
  EXPECT_EQ(text(spec.getCwd()), "/src");
  EXPECT_EQ(spec.getUmask(), 027u);
  EXPECT_EQ(spec.getQueue(), "batch");
  EXPECT_EQ(spec.getPriority(), 4);
  EXPECT_EQ(spec.getLabels().size(), 2u);
  EXPECT_EQ(spec.getLimits().getTimeoutUsec(), 4000000u);
  EXPECT_EQ(spec.getAfter()[0].getId(), 3u);
  EXPECT_EQ(spec.getRetry().getRetries(), 2u);
  EXPECT_EQ(spec.getKey(), "k");
  EXPECT_EQ(spec.getNotBefore(), 0);
  EXPECT_EQ(spec.getDelayUsec(), 0u);
  EXPECT_EQ(spec.getRequestId(), "");
}

TEST(SubmitRequest, ARerunTakesTheLimitsTheFirstAttemptRanWith) {
  // Retries grew the task's limits; a rerun starts over from the first attempt's.
  RerunFixture f;
  capnp::MallocMessageBuilder attemptMessage;
  auto first = attemptMessage.initRoot<records::Attempt>();
  first.setNumber(1);
  first.setTimeoutUsec(1000000);
  first.setMemoryMaxBytes(50 << 20);
  auto spec = f.run({}, first.asReader());
  EXPECT_EQ(spec.getLimits().getTimeoutUsec(), 1000000u);
  EXPECT_EQ(spec.getLimits().getMemoryMaxBytes(), 50u << 20);
  EXPECT_EQ(spec.getLimits().getKillGraceUsec(), 10000000u);
}

TEST(SubmitRequest, ARerunTakesOnlyTheFieldsNamed) {
  RerunFixture f;
  f.overrides.initArgv(1).set(0, "true"_kj.asBytes());
  f.overrides.setQueue("other");  // not named: not taken
  f.overrides.setPriority(-7);
  auto labels = f.overrides.initLabels(2);
  labels[0].setKey("run");
  labels[0].setValue("2");
  labels[1].setKey("new");
  labels[1].setValue("x");
  f.overrides.getLimits().setTimeoutUsec(9000000);
  f.overrides.getLimits().setMemoryMaxBytes(1 << 30);  // not named
  f.overrides.initAfter(0);
  f.overrides.setDelayUsec(5000000);
  f.overrides.setRequestId("again");
  auto spec = f.run(
      {"argv", "priority", "labels", "limits.timeoutUsec", "after", "delayUsec", "requestId"});
  ASSERT_EQ(spec.getArgv().size(), 1u);
  EXPECT_EQ(text(spec.getArgv()[0]), "true");
  EXPECT_EQ(spec.getQueue(), "batch");
  EXPECT_EQ(spec.getPriority(), -7);
  // Each given label replaces the old one of its key; the others stay.
  ASSERT_EQ(spec.getLabels().size(), 3u);
  EXPECT_EQ(spec.getLabels()[0].getKey(), "team");
  EXPECT_EQ(spec.getLabels()[1].getKey(), "run");
  EXPECT_EQ(spec.getLabels()[1].getValue(), "2");
  EXPECT_EQ(spec.getLabels()[2].getKey(), "new");
  EXPECT_EQ(spec.getLimits().getTimeoutUsec(), 9000000u);
  EXPECT_EQ(spec.getLimits().getMemoryMaxBytes(), 200u << 20);
  EXPECT_EQ(spec.getAfter().size(), 0u);
  EXPECT_EQ(spec.getDelayUsec(), 5000000u);
  EXPECT_EQ(spec.getRequestId(), "again");
}

TEST(SubmitRequest, ARerunRefusesAFieldItDoesNotKnow) {
  RerunFixture f;
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() { f.run({"queue", "gpus"}); })) {
    EXPECT_EQ(e->getType(), kj::Exception::Type::FAILED);
    EXPECT_NE(e->getDescription().findFirst('"'), nullptr);
    EXPECT_TRUE(e->getDescription().startsWith("rerun cannot set \"gpus\""))
        << e->getDescription().cStr();
  } else {
    ADD_FAILURE() << "an unknown field was taken";
  }
}

// ---- edit (issue 16): the same mask, the same task ----

TEST(SubmitRequest, AnEditTakesTheEnvironmentDirectoryAndUmaskOnlyWhenNamed) {
  RerunFixture f;
  f.overrides.initEnv(1).set(0, "B=2"_kj.asBytes());
  f.overrides.setCwd("/home/a"_kj.asBytes());
  f.overrides.setUmask(022);
  f.overrides.initArgv(1).set(0, "true"_kj.asBytes());
  auto kept = f.run({"argv"}, nullptr, SpecOverlay::EDIT);
  EXPECT_EQ(text(kept.getEnv()[0]), "A=1");
  EXPECT_EQ(text(kept.getCwd()), "/src");
  EXPECT_EQ(kept.getUmask(), 027u);
  auto taken = f.run({"argv", "env", "cwd", "umask"}, nullptr, SpecOverlay::EDIT);
  ASSERT_EQ(taken.getEnv().size(), 1u);
  EXPECT_EQ(text(taken.getEnv()[0]), "B=2");
  EXPECT_EQ(text(taken.getCwd()), "/home/a");
  EXPECT_EQ(taken.getUmask(), 022u);
  EXPECT_EQ(text(taken.getArgv()[0]), "true");
}

TEST(SubmitRequest, AnEditRefusesARequestIdAndNamesItselfInARefusal) {
  RerunFixture f;
  f.overrides.setRequestId("again");
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() {
                 f.run({"priority", "requestId"}, nullptr, SpecOverlay::EDIT);
               })) {
    EXPECT_TRUE(e->getDescription().startsWith("edit cannot change a task's --request-id"))
        << e->getDescription().cStr();
  } else {
    ADD_FAILURE() << "an edit took a request id";
  }
  KJ_IF_MAYBE (e,
               kj::runCatchingExceptions([&]() { f.run({"gpus"}, nullptr, SpecOverlay::EDIT); })) {
    EXPECT_TRUE(e->getDescription().startsWith("edit cannot set \"gpus\""))
        << e->getDescription().cStr();
  } else {
    ADD_FAILURE() << "an unknown field was taken";
  }
}

TEST(SubmitRequest, AStartTimeIsNamedByDelayOrNotBefore) {
  capnp::MallocMessageBuilder message;
  auto list = message.initRoot<capnp::List<capnp::Text>>(2);
  list.set(0, "queue");
  list.set(1, "priority");
  EXPECT_FALSE(namesStartTime(list.asReader()));
  list.set(1, "notBefore");
  EXPECT_TRUE(namesStartTime(list.asReader()));
  list.set(1, "delayUsec");
  EXPECT_TRUE(namesStartTime(list.asReader()));
}

}  // namespace
}  // namespace taskctl
