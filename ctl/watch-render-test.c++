#include "watch-render.h"

#include <capnp/message.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <time.h>

namespace kj {
// gtest shows kj::String as bytes without this.
inline void PrintTo(const String& text, std::ostream* os) { *os << '"' << text.cStr() << '"'; }
}  // namespace kj

namespace taskctl {
namespace {

// Times in UTC, so that the lines do not depend on the machine's zone.
void utc() {
  setenv("TZ", "UTC", 1);
  tzset();
}

// A change as the daemon sends it: task 17's second attempt failed.
rpc::EventView::Builder failed(capnp::MallocMessageBuilder& message) {
  utc();
  auto event = message.initRoot<rpc::EventView>();
  event.setSeq(1234);
  event.setTaskId(17);
  event.setUid(1000);
  event.setQueue("batch");
  event.setFrom("running");
  event.setTo("failed");
  event.setAttempt(2);
  event.setReason("exit");
  event.setAt(1764064224123456789);
  return event;
}

TEST(WatchRender, AChangeIsOneLineWithTimeSeqIdStatesAttemptAndReason) {
  capnp::MallocMessageBuilder message;
  EXPECT_EQ(eventLine(failed(message)),
            "2025-11-25 09:50:24  seq 1234  task 17  running -> failed  attempt 2  exit\n");
}

TEST(WatchRender, ASubmitComesFromNewAndAChangeWithoutReasonEndsAtTheAttempt) {
  capnp::MallocMessageBuilder message;
  auto event = failed(message);
  event.setFrom("");
  event.setTo("queued");
  event.setAttempt(0);
  event.setReason("");
  EXPECT_EQ(eventLine(event), "2025-11-25 09:50:24  seq 1234  task 17  new -> queued  attempt 0\n");
}

TEST(WatchRender, TextFromTheDaemonCannotReachTheTerminalRaw) {
  capnp::MallocMessageBuilder message;
  auto event = failed(message);
  event.setReason("ex\x1bit");
  EXPECT_EQ(eventLine(event),
            "2025-11-25 09:50:24  seq 1234  task 17  running -> failed  attempt 2  ex\\x1bit\n");
}

TEST(WatchRender, AChangeAsJsonIsOneObjectWithSnakeCaseKeys) {
  capnp::MallocMessageBuilder message;
  EXPECT_EQ(
      eventJson(failed(message)),
      "{\"event\":\"state\",\"seq\":1234,\"id\":17,\"uid\":1000,\"queue\":\"batch\","
      "\"from\":\"running\",\"to\":\"failed\",\"attempt\":2,\"reason\":\"exit\",\"action\":null,"
      "\"at\":\"2025-11-25T09:50:24.123456Z\"}\n");
  auto event = failed(message);
  event.setFrom("");
  event.setReason("");
  auto json = eventJson(event);
  EXPECT_TRUE(kj::StringPtr(json).startsWith(
      "{\"event\":\"state\",\"seq\":1234,\"id\":17,\"uid\":1000,\"queue\":\"batch\","
      "\"from\":null,\"to\":\"failed\",\"attempt\":2,\"reason\":null,"));
}

TEST(WatchRender, TheDaemonsOwnChangeIsTask0WithItsAction) {
  // `drain`: task id 0, no queue, no states (EventLog::recordDaemon).
  utc();
  capnp::MallocMessageBuilder message;
  auto event = message.initRoot<rpc::EventView>();
  event.setSeq(9);
  event.setUid(0);
  event.setAction("drained");
  event.setAt(1764064224123456789);
  EXPECT_EQ(eventLine(event), "2025-11-25 09:50:24  seq 9  taskctld drained by uid 0\n");
  EXPECT_EQ(eventJson(event),
            "{\"event\":\"daemon\",\"seq\":9,\"id\":0,\"uid\":0,\"queue\":\"\","
            "\"from\":null,\"to\":null,\"attempt\":0,\"reason\":null,\"action\":\"drained\","
            "\"at\":\"2025-11-25T09:50:24.123456Z\"}\n");
}

TEST(WatchRender, ProgressIsALineOrAnObject) {
  capnp::MallocMessageBuilder message;
  utc();
  auto report = message.initRoot<rpc::ProgressView>();
  report.setTaskId(17);
  report.setUid(1000);
  report.setAttempt(1);
  report.setFraction(0.4);
  EXPECT_EQ(progressLine(report, 1764064224123456789),
            "2025-11-25 09:50:24  task 17  attempt 1  progress 40%\n");
  // From a daemon too old to say when or where: the arrival time, and null.
  EXPECT_EQ(progressJson(report, 1764064224123456789),
            "{\"event\":\"progress\",\"id\":17,\"uid\":1000,\"queue\":null,\"attempt\":1,"
            "\"progress\":0.4,\"at\":\"2025-11-25T09:50:24.123456Z\"}\n");
  // Like a state change, a report says when (the daemon's time) and in which queue.
  report.setQueue("batch");
  report.setAt(1764064225000000000);
  EXPECT_EQ(progressJson(report, 1764064224123456789),
            "{\"event\":\"progress\",\"id\":17,\"uid\":1000,\"queue\":\"batch\",\"attempt\":1,"
            "\"progress\":0.4,\"at\":\"2025-11-25T09:50:25.000000Z\"}\n");
}

TEST(WatchRender, ATaskAlreadyEndedIsItsLastChangeWithoutSeq) {
  capnp::MallocMessageBuilder message;
  utc();
  auto task = message.initRoot<rpc::TaskView>();
  task.setId(17);
  task.setUid(1000);
  task.setQueue("batch");
  task.setState("failed");
  task.setReason("exit");
  task.setFinishedAt(1764064224123456789);
  task.initAttempts(2);
  EXPECT_EQ(endedLine(task), "2025-11-25 09:50:24  task 17  ended: failed  attempt 2  exit\n");
  EXPECT_EQ(endedJson(task),
            "{\"event\":\"state\",\"seq\":null,\"id\":17,\"uid\":1000,\"queue\":\"batch\","
            "\"from\":null,\"to\":\"failed\",\"attempt\":2,\"reason\":\"exit\",\"action\":null,"
            "\"at\":\"2025-11-25T09:50:24.123456Z\"}\n");
}

TEST(WatchRender, TheResumeCommandKeepsTheIdsAndOptions) {
  capnp::MallocMessageBuilder message;
  uint64_t ids[] = {7, 9};
  EXPECT_EQ(resumeCommand(1235, ids, true, true),
            "taskctl --json watch --from 1235 --progress 7 9");
  EXPECT_EQ(resumeCommand(5, nullptr, false, false), "taskctl watch --from 5");
  EXPECT_EQ(resumeCommand(0, nullptr, false, false), "taskctl watch");
}

TEST(WatchRender, ThePrunedLineSaysWhatIsGoneAndWhereItStarts) {
  capnp::MallocMessageBuilder message;
  EXPECT_EQ(prunedMessage(3, 11),
            "changes from seq 3 to 10 are no longer stored (events.max_stored); starting from "
            "seq 11");
}

TEST(WatchRender, TheFellBehindLineNamesTheCommandToResumeWith) {
  capnp::MallocMessageBuilder message;
  EXPECT_EQ(fellBehindMessage("taskctl watch --from 42"),
            "watch fell behind: taskctld stopped it rather than queue more for it; nothing before "
            "this point was missed; resume with: taskctl watch --from 42");
}

}  // namespace
}  // namespace taskctl
