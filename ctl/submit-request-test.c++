#include "submit-request.h"

#include <capnp/message.h>
#include <capnp/schema.h>
#include <gtest/gtest.h>

namespace taskctl {
namespace {

// A spec with every field away from its default, as taskctl submit can send it.
void fillEverything(spec::TaskSpec::Builder spec) {
  auto argv = spec.initArgv(2);
  argv.set(0, "sh"_kj.asBytes());
  argv.set(1, "-c"_kj.asBytes());
  spec.initEnv(1).set(0, "HOME=/home/ann"_kj.asBytes());
  spec.setCwd("/srv"_kj.asBytes());
  spec.setUmask(027);
  spec.setQueue("batch");
  spec.setPriority(-7);
  auto labels = spec.initLabels(2);
  labels[0].setKey("team");
  labels[0].setValue("infra");
  labels[1].setKey("empty");
  auto limits = spec.initLimits();
  limits.setTimeoutUsec(1);
  limits.setKillGraceUsec(2);
  limits.setHeartbeatUsec(3);
  limits.setCpuQuotaPerSecUsec(4);
  limits.setMemoryMaxBytes(5);
  limits.setTasksMax(6);
  auto after = spec.initAfter(2);
  after[0].setId(12);
  after[1].setId(13);
  after[1].setCondition(spec::DependencyCondition::FAILED);
  spec.setDelayUsec(7);
  spec.setNotBefore(8);
  auto retry = spec.initRetry();
  retry.setRetries(3);
  retry.setOnExit(true);
  retry.initExitCodes(2).set(1, 255);
  retry.setOnSignal(true);
  retry.setOnOom(true);
  retry.setOnTimeout(true);
  retry.setOnHeartbeat(true);
  retry.setOnLost(true);
  retry.setBackoffBaseUsec(9);
  retry.setBackoffMaxUsec(10);
  spec.setKey("nightly");
  spec.setOnConflict(spec::KeyConflict::REPLACE);
  spec.setRequestId("r-1");
}

TEST(SubmitRequest, TheFlatFieldsCarryEveryFieldOfTheSpec) {
  capnp::MallocMessageBuilder message;
  fillEverything(message.initRoot<spec::TaskSpec>());
  auto spec = message.getRoot<spec::TaskSpec>().asReader();
  capnp::MallocMessageBuilder out;
  auto request = out.initRoot<rpc::SubmitRequest>();
  setFlatSubmitFields(request, spec);
  auto flat = request.asReader();

  EXPECT_FALSE(flat.hasSpec());  // the caller sets the spec; this fills only the old fields
  ASSERT_EQ(flat.getArgv().size(), 2u);
  EXPECT_EQ(flat.getArgv()[1], "-c"_kj.asBytes());
  ASSERT_EQ(flat.getEnv().size(), 1u);
  EXPECT_EQ(flat.getEnv()[0], "HOME=/home/ann"_kj.asBytes());
  EXPECT_EQ(flat.getCwd(), "/srv"_kj.asBytes());
  EXPECT_EQ(flat.getUmask(), 027u);
  EXPECT_EQ(flat.getQueue(), "batch");
  EXPECT_EQ(flat.getPriority(), -7);
  ASSERT_EQ(flat.getLabels().size(), 2u);
  EXPECT_EQ(flat.getLabels()[0].getKey(), "team");
  EXPECT_EQ(flat.getLabels()[0].getValue(), "infra");
  EXPECT_EQ(flat.getLabels()[1].getKey(), "empty");
  EXPECT_EQ(flat.getTimeoutUsec(), 1u);
  EXPECT_EQ(flat.getKillGraceUsec(), 2u);
  EXPECT_EQ(flat.getHeartbeatUsec(), 3u);
  EXPECT_EQ(flat.getCpuQuotaPerSecUsec(), 4u);
  EXPECT_EQ(flat.getMemoryMaxBytes(), 5u);
  EXPECT_EQ(flat.getTasksMax(), 6u);
  ASSERT_EQ(flat.getAfter().size(), 2u);
  EXPECT_EQ(flat.getAfter()[0].getId(), 12u);
  EXPECT_EQ(flat.getAfter()[0].getCondition(), spec::DependencyCondition::OK);
  EXPECT_EQ(flat.getAfter()[1].getId(), 13u);
  EXPECT_EQ(flat.getAfter()[1].getCondition(), spec::DependencyCondition::FAILED);
  EXPECT_EQ(flat.getDelayUsec(), 7u);
  EXPECT_EQ(flat.getNotBefore(), 8);
  ASSERT_TRUE(flat.hasRetry());
  auto retry = flat.getRetry();
  EXPECT_EQ(retry.getRetries(), 3u);
  EXPECT_TRUE(retry.getOnExit());
  ASSERT_EQ(retry.getExitCodes().size(), 2u);
  EXPECT_EQ(retry.getExitCodes()[0], 0);
  EXPECT_EQ(retry.getExitCodes()[1], 255);
  EXPECT_TRUE(retry.getOnSignal());
  EXPECT_TRUE(retry.getOnOom());
  EXPECT_TRUE(retry.getOnTimeout());
  EXPECT_TRUE(retry.getOnHeartbeat());
  EXPECT_TRUE(retry.getOnLost());
  EXPECT_EQ(retry.getBackoffBaseUsec(), 9u);
  EXPECT_EQ(retry.getBackoffMaxUsec(), 10u);
  EXPECT_EQ(flat.getKey(), "nightly");
  EXPECT_EQ(flat.getOnConflict(), spec::KeyConflict::REPLACE);
  EXPECT_EQ(flat.getRequestId(), "r-1");
}

TEST(SubmitRequest, NoRetryPolicyStaysNone) {
  capnp::MallocMessageBuilder message;
  auto spec = message.initRoot<spec::TaskSpec>();
  spec.initArgv(1).set(0, "true"_kj.asBytes());
  capnp::MallocMessageBuilder out;
  auto request = out.initRoot<rpc::SubmitRequest>();
  setFlatSubmitFields(request, spec.asReader());
  EXPECT_FALSE(request.asReader().hasRetry());
  EXPECT_EQ(request.asReader().getKey(), "");
  EXPECT_EQ(request.asReader().getOnConflict(), spec::KeyConflict::QUEUE);
}

// The test above names every field the spec has now. A field added to TaskSpec or TaskLimits
// needs a line in setFlatSubmitFields (or a reason it has no flat twin) and in that test.
TEST(SubmitRequest, TheSpecHasTheFieldsThisMappingKnows) {
  EXPECT_EQ(capnp::Schema::from<spec::TaskSpec>().getFields().size(), 15u);
  EXPECT_EQ(capnp::Schema::from<spec::TaskLimits>().getFields().size(), 6u);
  EXPECT_EQ(capnp::Schema::from<spec::RetryPolicy>().getFields().size(), 10u);
  // Every flat field but `spec` itself is one of them.
  EXPECT_EQ(capnp::Schema::from<rpc::SubmitRequest>().getFields().size(), 15u - 1 + 6 + 1);
}

}  // namespace
}  // namespace taskctl
