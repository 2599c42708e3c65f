#include "render.h"

#include <capnp/message.h>
#include <gtest/gtest.h>
#include <kj/vector.h>
#include <stdlib.h>
#include <time.h>

namespace kj {
// gtest shows kj::String as bytes without this.
inline void PrintTo(const String& text, std::ostream* os) { *os << '"' << text.cStr() << '"'; }
}  // namespace kj

namespace taskctl {
namespace {

kj::ArrayPtr<const kj::byte> bytes(const char* text) { return kj::StringPtr(text).asBytes(); }

// A task as the daemon would describe one that failed on its second attempt.
void fillFailedTask(rpc::TaskView::Builder task) {
  task.setId(42);
  task.setUid(1000);
  task.setGid(100);
  task.setState("failed");
  task.setReason("exit");
  task.setMessage("exited with code 3");
  task.setExitStatus(3);
  task.setExitCode(3);
  task.setQueue("batch");
  task.setPriority(-5);
  auto argv = task.initArgv(3);
  argv.set(0, bytes("sh"));
  argv.set(1, bytes("-c"));
  argv.set(2, bytes("exit 3"));
  task.setCwd(bytes("/srv/app"));
  auto env = task.initEnv(1);
  env.set(0, bytes("TOKEN=secret"));
  auto labels = task.initLabels(2);
  labels[0].setKey("team");
  labels[0].setValue("infra");
  labels[1].setKey("run");
  labels[1].setValue("7");
  task.setCreatedAt(1764064224123456789);
  task.setFinishedAt(1764064230000000000);
  auto attempts = task.initAttempts(2);
  attempts[0].setNumber(1);
  attempts[0].setState("failed");
  attempts[0].setReason("signal");
  attempts[0].setSignal(9);
  attempts[1].setNumber(2);
  attempts[1].setState("failed");
  attempts[1].setReason("exit");
  attempts[1].setExitCode(3);
  attempts[1].setStartedAt(1764064229000000000);
  attempts[1].setEndedAt(1764064230000000000);
  attempts[1].setShimPid(4242);
  attempts[1].setUnit("taskctl-42-2.scope");
  attempts[1].setWallUsec(1'000'000);
  attempts[1].setCpuUserUsec(250'000);
  attempts[1].setCpuSystemUsec(50'000);
  attempts[1].setPeakMemoryBytes(3 * 1024 * 1024);
}

TEST(Render, TaskJsonHasEveryFieldUnderItsStableName) {
  capnp::MallocMessageBuilder message;
  auto task = message.initRoot<rpc::TaskView>();
  fillFailedTask(task);
  EXPECT_EQ(
      taskJson(task.asReader(), false),
      R"({"id":42,"uid":1000,"gid":100,"state":"failed","reason":"exit",)"
      R"("message":"exited with code 3","exit_status":3,"exit_code":3,"signal":null,)"
      R"("queue":"batch","priority":-5,"argv":["sh","-c","exit 3"],"cwd":"/srv/app",)"
      R"("labels":{"team":"infra","run":"7"},"created_at":"2025-11-25T09:50:24.123456Z",)"
      R"("finished_at":"2025-11-25T09:50:30.000000Z","limits":{"timeout_usec":null,)"
      R"("kill_grace_usec":null,"heartbeat_usec":null,"cpu_quota_per_sec_usec":null,)"
      R"("memory_max_bytes":null,"tasks_max":null},"attempts":[)"
      R"({"number":1,"state":"failed","reason":"signal","message":"","exit_code":null,)"
      R"("signal":9,"started_at":null,"ended_at":null,"shim_pid":null,"unit":"","wall_usec":0,)"
      R"("cpu_user_usec":0,"cpu_system_usec":0,"peak_memory_bytes":0,"progress":null,)"
      R"("status_text":"","oom_kills":0,"output_tail":""},)"
      R"({"number":2,"state":"failed","reason":"exit","message":"","exit_code":3,"signal":null,)"
      R"("started_at":"2025-11-25T09:50:29.000000Z","ended_at":"2025-11-25T09:50:30.000000Z",)"
      R"("shim_pid":4242,"unit":"taskctl-42-2.scope","wall_usec":1000000,)"
      R"("cpu_user_usec":250000,"cpu_system_usec":50000,"peak_memory_bytes":3145728,)"
      R"("progress":null,"status_text":"","oom_kills":0,"output_tail":""}]})"
      "\n");
}

// A task that ran out of time under limits, having reported progress and printed a lot.
void fillTimedOutTask(rpc::TaskView::Builder task) {
  task.setId(8);
  task.setState("failed");
  task.setReason("timeout");
  task.setExitStatus(124);
  task.setTimeoutUsec(90'000'000);
  task.setKillGraceUsec(10'000'000);
  task.setCpuQuotaPerSecUsec(500'000);
  task.setMemoryMaxBytes(512ull << 20);
  task.setTasksMax(64);
  auto attempts = task.initAttempts(2);
  attempts[0].setNumber(1);
  attempts[0].setState("failed");
  attempts[0].setReason("oom");
  attempts[0].setSignal(9);
  attempts[0].setOomKills(2);
  attempts[0].setOutputTail(bytes("first attempt's output\n"));
  attempts[1].setNumber(2);
  attempts[1].setState("failed");
  attempts[1].setReason("timeout");
  attempts[1].setProgress(0.4);
  attempts[1].setStatusText("copying \x1b[31mred\x1b[0m");
  kj::Vector<char> tail;
  tail.addAll("partial line\n"_kj);
  for (int i = 1; i <= 12; i++) tail.addAll(kj::str("line ", i, "\n"));
  tail.addAll("\xff\x1b[2J\n"_kj);
  task.getAttempts()[1].setOutputTail(tail.asPtr().asBytes());
}

TEST(Render, TaskJsonHasLimitsAndWhatAttemptsReported) {
  capnp::MallocMessageBuilder message;
  auto task = message.initRoot<rpc::TaskView>();
  fillTimedOutTask(task);
  auto json = taskJson(task.asReader(), false);
  EXPECT_NE(strstr(json.cStr(), R"("limits":{"timeout_usec":90000000,"kill_grace_usec":10000000,)"
                                R"("heartbeat_usec":null,"cpu_quota_per_sec_usec":500000,)"
                                R"("memory_max_bytes":536870912,"tasks_max":64},"attempts":[)"),
            nullptr)
      << json.cStr();
  EXPECT_NE(strstr(json.cStr(), R"("peak_memory_bytes":0,"progress":null,"status_text":"",)"
                                R"("oom_kills":2,"output_tail":"first attempt's output\n"})"),
            nullptr)
      << json.cStr();
  // The status text is text as the daemon keeps it; the tail is bytes, surrogate-escaped.
  EXPECT_NE(strstr(json.cStr(), R"("progress":0.4,"status_text":"copying \u001b[31mred\u001b[0m",)"
                                R"("oom_kills":0,"output_tail":"partial line\nline 1\n)"),
            nullptr)
      << json.cStr();
  EXPECT_NE(strstr(json.cStr(), R"(line 12\n\udcff\u001b[2J\n"}]})"), nullptr) << json.cStr();
}

TEST(Render, ProgressIsNullOnlyWhenNeverReported) {
  capnp::MallocMessageBuilder message;
  auto task = message.initRoot<rpc::TaskView>();
  auto attempts = task.initAttempts(3);
  attempts[1].setProgress(0);
  attempts[2].setProgress(1);
  auto json = taskJson(task.asReader(), false);
  EXPECT_NE(strstr(json.cStr(), R"("peak_memory_bytes":0,"progress":null,)"), nullptr);
  EXPECT_NE(strstr(json.cStr(), R"("peak_memory_bytes":0,"progress":0,)"), nullptr);
  EXPECT_NE(strstr(json.cStr(), R"("peak_memory_bytes":0,"progress":1,)"), nullptr);
}

TEST(Render, StatusShowsLimitsProgressOomKillsAndTheLastLinesOfOutput) {
  capnp::MallocMessageBuilder message;
  auto task = message.initRoot<rpc::TaskView>();
  fillTimedOutTask(task);
  EXPECT_EQ(statusText(task.asReader(), false),
            "id:          8\n"
            "state:       failed (timeout)\n"
            "exit status: 124\n"
            "command:     \n"
            "cwd:         ''\n"
            "queue:       \n"
            "priority:    0\n"
            "owner:       uid 0, gid 0\n"
            "limits:      timeout 1min30s, kill grace 10s, cpu 50%, memory 512M, tasks max 64\n"
            "attempts:    2\n"
            "attempt 1:\n"
            "  state:     failed (oom)\n"
            "  signal:    9 (SIGKILL)\n"
            "  oom kills: 2\n"
            "attempt 2:\n"
            "  state:       failed (timeout)\n"
            "  progress:    40%\n"
            "  status text: copying \\x1b[31mred\\x1b[0m\n"
            "output of attempt 2 (last lines):\n"
            "  line 4\n"
            "  line 5\n"
            "  line 6\n"
            "  line 7\n"
            "  line 8\n"
            "  line 9\n"
            "  line 10\n"
            "  line 11\n"
            "  line 12\n"
            "  \\xff\\x1b[2J\n");
}

TEST(Render, StatusShowsProgressAsAPercentageAndNoTailWhenThereIsNone) {
  capnp::MallocMessageBuilder message;
  auto task = message.initRoot<rpc::TaskView>();
  task.setState("running");
  auto attempts = task.initAttempts(1);
  attempts[0].setNumber(1);
  attempts[0].setProgress(0.125);
  auto text = statusText(task.asReader(), false);
  EXPECT_NE(strstr(text.cStr(), "  progress: 12.5%\n"), nullptr) << text.cStr();
  EXPECT_EQ(strstr(text.cStr(), "output"), nullptr) << text.cStr();
  EXPECT_EQ(strstr(text.cStr(), "limits"), nullptr) << text.cStr();
  attempts[0].setProgress(1.0 / 3);
  EXPECT_NE(strstr(statusText(task.asReader(), false).cStr(), "  progress: 33.3%\n"), nullptr);
  attempts[0].setProgress(0);
  EXPECT_NE(strstr(statusText(task.asReader(), false).cStr(), "  progress: 0%\n"), nullptr);
  attempts[0].setOutputTail(bytes("no newline at the end"));
  EXPECT_TRUE(statusText(task.asReader(), false)
                  .endsWith("output of attempt 1 (last lines):\n  no newline at the end\n"));
}

TEST(Render, TaskJsonShowsTheEnvironmentOnlyWhenAskedFor) {
  capnp::MallocMessageBuilder message;
  auto task = message.initRoot<rpc::TaskView>();
  fillFailedTask(task);
  EXPECT_EQ(strstr(taskJson(task.asReader(), false).cStr(), "TOKEN"), nullptr);
  auto withEnv = taskJson(task.asReader(), true);
  EXPECT_NE(strstr(withEnv.cStr(), R"("cwd":"/srv/app","env":["TOKEN=secret"],"labels")"), nullptr);
}

TEST(Render, UnfinishedTaskHasNullsWhereNothingIsKnownYet) {
  capnp::MallocMessageBuilder message;
  auto task = message.initRoot<rpc::TaskView>();
  task.setId(7);
  task.setState("queued");
  task.setExitStatus(0);
  auto json = taskJson(task.asReader(), false);
  EXPECT_NE(strstr(json.cStr(), R"("exit_status":null,"exit_code":null,"signal":null)"), nullptr);
  EXPECT_NE(strstr(json.cStr(), R"("finished_at":null,"limits":{)"), nullptr);
  EXPECT_TRUE(json.endsWith(R"("attempts":[]})"
                            "\n"));
  EXPECT_NE(strstr(json.cStr(), R"("created_at":null)"), nullptr);
}

TEST(Render, TaskListIsOneJsonArray) {
  capnp::MallocMessageBuilder message;
  auto tasks = message.initRoot<capnp::List<rpc::TaskView>>(2);
  tasks[0].setId(1);
  tasks[0].setState("running");
  tasks[1].setId(2);
  tasks[1].setState("succeeded");
  auto readers = KJ_MAP(task, tasks.asReader()) { return task; };
  auto json = tasksJson(readers);
  EXPECT_TRUE(json.startsWith(R"([{"id":1,)"));
  EXPECT_TRUE(json.endsWith("}]\n"));
  EXPECT_EQ(tasksJson(nullptr), "[]\n");
}

TEST(Render, StatusAlignsKeysAndListsAttempts) {
  setenv("TZ", "UTC", 1);
  tzset();
  capnp::MallocMessageBuilder message;
  auto task = message.initRoot<rpc::TaskView>();
  fillFailedTask(task);
  EXPECT_EQ(statusText(task.asReader(), false),
            "id:          42\n"
            "state:       failed (exit)\n"
            "message:     exited with code 3\n"
            "exit status: 3\n"
            "command:     sh -c 'exit 3'\n"
            "cwd:         /srv/app\n"
            "queue:       batch\n"
            "priority:    -5\n"
            "owner:       uid 1000, gid 100\n"
            "labels:      team=infra, run=7\n"
            "created:     2025-11-25 09:50:24\n"
            "finished:    2025-11-25 09:50:30\n"
            "attempts:    2\n"
            "attempt 1:\n"
            "  state:  failed (signal)\n"
            "  signal: 9 (SIGKILL)\n"
            "attempt 2:\n"
            "  state:       failed (exit)\n"
            "  exit code:   3\n"
            "  started:     2025-11-25 09:50:29\n"
            "  ended:       2025-11-25 09:50:30\n"
            "  wall time:   1.000s\n"
            "  cpu time:    0.250s user, 0.050s system\n"
            "  peak memory: 3.0 MiB\n"
            "  unit:        taskctl-42-2.scope\n"
            "  shim pid:    4242\n");
  auto withEnv = statusText(task.asReader(), true);
  EXPECT_NE(strstr(withEnv.cStr(), "environment: 1 variables\n"), nullptr);
  EXPECT_NE(strstr(withEnv.cStr(), "environment:\n  TOKEN=secret\n"), nullptr);
}

TEST(Render, StatusKeepsEscapeSequencesOffTheTerminal) {
  capnp::MallocMessageBuilder message;
  auto task = message.initRoot<rpc::TaskView>();
  task.setState("failed");
  task.setMessage("bad\x1b]0;owned\x07");
  auto argv = task.initArgv(1);
  argv.set(0, bytes("\x1b[2J"));
  auto text = statusText(task.asReader(), false);
  EXPECT_EQ(text.findFirst('\x1b'), nullptr);
  EXPECT_NE(strstr(text.cStr(), "message:     bad\\x1b]0;owned\\x07\n"), nullptr);
  EXPECT_NE(strstr(text.cStr(), "command:     $'\\x1b[2J'\n"), nullptr);
}

TEST(Render, ListTableAlignsColumnsAndCutsTheCommandToTheWidth) {
  capnp::MallocMessageBuilder message;
  auto tasks = message.initRoot<capnp::List<rpc::TaskView>>(2);
  tasks[0].setId(9);
  tasks[0].setState("running");
  tasks[0].setQueue("default");
  tasks[0].initArgv(2).set(0, bytes("sleep"));
  tasks[0].getArgv().set(1, bytes("100"));
  tasks[1].setId(1234);
  tasks[1].setState("failed");
  tasks[1].setQueue("batch");
  tasks[1].setPriority(-10);
  tasks[1].setExitStatus(137);
  tasks[1].initArgv(3).set(0, bytes("sh"));
  tasks[1].getArgv().set(1, bytes("-c"));
  tasks[1].getArgv().set(2, bytes("make -j8 all && make install"));
  auto readers = KJ_MAP(task, tasks.asReader()) { return task; };
  EXPECT_EQ(listTable(readers, nullptr),
            "  ID  STATE    QUEUE    PRI  EXIT  COMMAND\n"
            "   9  running  default    0     -  sleep 100\n"
            "1234  failed   batch    -10   137  sh -c 'make -j8 all && make install'\n");
  EXPECT_EQ(listTable(readers, size_t(60)),
            "  ID  STATE    QUEUE    PRI  EXIT  COMMAND\n"
            "   9  running  default    0     -  sleep 100\n"
            "1234  failed   batch    -10   137  sh -c 'make -j8 all &&...\n");  // 60 columns
}

}  // namespace
}  // namespace taskctl
