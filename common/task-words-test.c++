#include "common/task-words.h"

#include <gtest/gtest.h>

namespace taskctl {
namespace {

using records::EndReason;
using records::TaskState;

TEST(TaskWords, NamesAreTheOnesClientsParse) {
  EXPECT_EQ(stateName(TaskState::RETRYING), "retrying");
  EXPECT_EQ(stateName(TaskState::PAUSED), "paused");
  EXPECT_EQ(reasonName(EndReason::NOT_STARTED), "not-started");
  EXPECT_EQ(reasonName(EndReason::NONE), "");
}

TEST(TaskWords, TerminalStates) {
  EXPECT_TRUE(isTerminal(TaskState::SUCCEEDED));
  EXPECT_TRUE(isTerminal(TaskState::CANCELLED));
  EXPECT_FALSE(isTerminal(TaskState::RETRYING));
  EXPECT_FALSE(isTerminal(TaskState::PAUSED));
  EXPECT_FALSE(isTerminal(TaskState::WAITING));
}

TEST(TaskWords, ExitStatusFollowsDesign8) {
  EXPECT_EQ(exitStatusOf(TaskState::SUCCEEDED, EndReason::EXIT, 0, 0), 0);
  EXPECT_EQ(exitStatusOf(TaskState::FAILED, EndReason::EXIT, 3, 0), 3);
  EXPECT_EQ(exitStatusOf(TaskState::FAILED, EndReason::SIGNAL, -1, 9), 137);
  EXPECT_EQ(exitStatusOf(TaskState::FAILED, EndReason::OOM, -1, 9), 137);
  EXPECT_EQ(exitStatusOf(TaskState::FAILED, EndReason::TIMEOUT, -1, 15), 124);
  EXPECT_EQ(exitStatusOf(TaskState::FAILED, EndReason::HEARTBEAT, -1, 15), 124);
  EXPECT_EQ(exitStatusOf(TaskState::FAILED, EndReason::SPAWN, 127, 0), 127);
  EXPECT_EQ(exitStatusOf(TaskState::FAILED, EndReason::SPAWN, 1, 0), 125);
  EXPECT_EQ(exitStatusOf(TaskState::FAILED, EndReason::LOST, -1, 0), 125);
  EXPECT_EQ(exitStatusOf(TaskState::CANCELLED, EndReason::CANCELLED, -1, 0), 130);
  EXPECT_EQ(exitStatusOf(TaskState::CANCELLED, EndReason::DEPENDENCY, -1, 0), 125);
  EXPECT_EQ(exitStatusOf(TaskState::RUNNING, EndReason::NONE, -1, 0), -1);
}

}  // namespace
}  // namespace taskctl
