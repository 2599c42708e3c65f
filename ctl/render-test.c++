#include "render.h"

#include <capnp/message.h>
#include <gtest/gtest.h>
#include <kj/vector.h>
#include <stdlib.h>
#include <time.h>

#include "format.h"

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
      R"("memory_max_bytes":null,"tasks_max":null},"after":[],"not_before":null,)"
      R"("next_attempt_at":null,"retry":{"retries":0,"on_exit":false,"exit_codes":[],)"
      R"("on_signal":false,"on_oom":false,"on_timeout":false,"on_heartbeat":false,)"
      R"("on_lost":false,"backoff_base_usec":null,"backoff_max_usec":null,)"
      R"("memory_grow_factor":null,"memory_grow_max_bytes":null,"timeout_grow_factor":null,)"
      R"("timeout_grow_max_usec":null},"key":null,)"
      R"("request_id":null,"waiting_for":null,"why":null,"held":false,"rerun_of":null,"edited_at":null,"limits_updated_at":null,"limits_updated_by":null,"paused_usec":0,"paused_at":null,"pruned":false,"attempts":[)"
      R"({"number":1,"state":"failed","reason":"signal","message":null,"exit_code":null,)"
      R"("signal":9,"started_at":null,"ended_at":null,"shim_pid":null,"unit":null,"wall_usec":0,)"
      R"("cpu_user_usec":0,"cpu_system_usec":0,"peak_memory_bytes":0,"progress":null,)"
      R"("status_text":null,"oom_kills":0,"timeout_usec":null,"memory_max_bytes":null,)"
      R"("slurm_job_id":null,"slurm_node":null,"output_tail":""},)"
      R"({"number":2,"state":"failed","reason":"exit","message":null,"exit_code":3,"signal":null,)"
      R"("started_at":"2025-11-25T09:50:29.000000Z","ended_at":"2025-11-25T09:50:30.000000Z",)"
      R"("shim_pid":4242,"unit":"taskctl-42-2.scope","wall_usec":1000000,)"
      R"("cpu_user_usec":250000,"cpu_system_usec":50000,"peak_memory_bytes":3145728,)"
      R"("progress":null,"status_text":null,"oom_kills":0,"timeout_usec":null,)"
      R"("memory_max_bytes":null,"slurm_job_id":null,"slurm_node":null,"output_tail":""}]})"
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
                                R"("memory_max_bytes":536870912,"tasks_max":64},"after":[)"),
            nullptr)
      << json.cStr();
  EXPECT_NE(strstr(json.cStr(), R"("peak_memory_bytes":0,"progress":null,"status_text":null,)"
                                R"("oom_kills":2,"timeout_usec":null,"memory_max_bytes":null,)"
                                R"("slurm_job_id":null,"slurm_node":null,)"
                                R"("output_tail":"first attempt's output\n"})"),
            nullptr)
      << json.cStr();
  // The status text is text as the daemon keeps it; the tail is bytes: not being UTF-8 (the
  // 0xff), it is an array of its bytes, ending with 0xff ESC [ 2 J newline.
  EXPECT_NE(strstr(json.cStr(), R"("progress":0.4,"status_text":"copying \u001b[31mred\u001b[0m",)"
                                R"("oom_kills":0,"timeout_usec":null,"memory_max_bytes":null,)"
                                R"("slurm_job_id":null,"slurm_node":null,)"
                                R"("output_tail":[112,97,114,)"),
            nullptr)
      << json.cStr();
  EXPECT_NE(strstr(json.cStr(), R"(49,50,10,255,27,91,50,74,10]}]})"), nullptr) << json.cStr();
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

TEST(Render, StatusAndJsonShowAPauseAndHowLongItHasLasted) {
  capnp::MallocMessageBuilder message;
  auto task = message.initRoot<rpc::TaskView>();
  task.setId(7);
  task.setState("paused");
  task.setPausedAt(1764064224000000000);
  task.setPausedUsec(90000000);
  auto text = statusText(task.asReader(), false);
  EXPECT_NE(strstr(text.cStr(), "(taskctl resume 7)\n"), nullptr) << text.cStr();
  EXPECT_NE(strstr(text.cStr(), "\npaused for: 1min30s\n"), nullptr) << text.cStr();
  auto json = taskJson(task.asReader(), false);
  EXPECT_NE(
      strstr(json.cStr(), R"("paused_usec":90000000,"paused_at":"2025-11-25T09:50:24.000000Z")"),
      nullptr)
      << json.cStr();
  task.setPausedAt(0);  // resumed: how long it was paused stays, no "since"
  text = statusText(task.asReader(), false);
  EXPECT_EQ(strstr(text.cStr(), "resume"), nullptr) << text.cStr();
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

TEST(Render, StatusAndListJsonEndEachTaskWithTheLastSeqWhenGiven) {
  capnp::MallocMessageBuilder message;
  auto tasks = message.initRoot<capnp::List<rpc::TaskView>>(2);
  tasks[0].setId(1);
  tasks[1].setId(2);
  auto readers = KJ_MAP(task, tasks.asReader()) { return task; };
  EXPECT_TRUE(taskJson(readers[0], false, uint64_t(77)).endsWith(R"(,"last_seq":77}
)"));
  auto list = tasksJson(readers, uint64_t(77));
  EXPECT_TRUE(list.endsWith(R"(,"last_seq":77}]
)"));
  EXPECT_NE(strstr(list.cStr(), R"(,"last_seq":77},{"id":2,)"), nullptr);
  EXPECT_EQ(strstr(taskJson(readers[0], false).cStr(), "last_seq"), nullptr)
      << "wait and cancel have no seq to give";
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

// A task waiting for two others and a time, with a key, a request id and a retry policy.
void fillWaitingTask(rpc::TaskView::Builder task) {
  task.setId(20);
  task.setUid(1000);
  task.setGid(100);
  task.setState("waiting");
  task.setQueue("default");
  task.initArgv(1).set(0, bytes("backup"));
  task.setCwd(bytes("/"));
  auto after = task.initAfter(3);
  after[0].setId(12);
  after[0].setCondition(spec::DependencyCondition::OK);
  after[1].setId(13);
  after[1].setCondition(spec::DependencyCondition::ANY);
  after[2].setId(14);
  after[2].setCondition(spec::DependencyCondition::FAILED);
  task.setNotBefore(1795617000'000'000'000);  // 2026-11-25T14:30:00Z
  auto retry = task.initRetry();
  retry.setRetries(3);
  retry.setOnExit(true);
  retry.setOnTimeout(true);
  retry.setOnHeartbeat(true);
  task.setKey("nightly-backup");
  task.setRequestId("req-\x1b[1m");
  task.setWaitingFor("task 12 to succeed");
  task.setCreatedAt(1764064224123456789);
}

TEST(Render, TaskJsonHasDependenciesTimesRetryKeyAndRequestId) {
  capnp::MallocMessageBuilder message;
  auto task = message.initRoot<rpc::TaskView>();
  fillWaitingTask(task);
  task.getRetry().initExitCodes(2).set(0, 1);
  task.getRetry().getExitCodes().set(1, 75);
  task.getRetry().setOnLost(true);
  task.getRetry().setBackoffBaseUsec(5'000'000);
  task.getRetry().setBackoffMaxUsec(60'000'000);
  auto json = taskJson(task.asReader(), false);
  EXPECT_NE(
      strstr(
          json.cStr(),
          R"("tasks_max":null},"after":[{"id":12,"condition":"ok"},)"
          R"({"id":13,"condition":"any"},{"id":14,"condition":"failed"}],)"
          R"("not_before":"2026-11-25T14:30:00.000000Z","next_attempt_at":null,)"
          R"("retry":{"retries":3,"on_exit":true,"exit_codes":[1,75],"on_signal":false,)"
          R"("on_oom":false,"on_timeout":true,"on_heartbeat":true,"on_lost":true,)"
          R"("backoff_base_usec":5000000,"backoff_max_usec":60000000,)"
          R"("memory_grow_factor":null,"memory_grow_max_bytes":null,"timeout_grow_factor":null,)"
          R"("timeout_grow_max_usec":null},)"
          R"("key":"nightly-backup","request_id":"req-\u001b[1m",)"
          R"("waiting_for":"task 12 to succeed","why":"task 12 to succeed",)"
          R"("held":false,"rerun_of":null,"edited_at":null,"limits_updated_at":null,"limits_updated_by":null,"paused_usec":0,"paused_at":null,"pruned":false,"attempts":[]})"),
      nullptr)
      << json.cStr();
}

TEST(Render, TaskJsonHasWhenARetryingTaskTriesAgain) {
  capnp::MallocMessageBuilder message;
  auto task = message.initRoot<rpc::TaskView>();
  task.setState("retrying");
  task.setNextAttemptAt(1764064230000000000);
  auto json = taskJson(task.asReader(), false);
  EXPECT_NE(strstr(json.cStr(), R"("next_attempt_at":"2025-11-25T09:50:30.000000Z",)"), nullptr)
      << json.cStr();
}

TEST(Render, StatusShowsWhatAWaitingTaskWaitsForAndHowItWasSubmitted) {
  setenv("TZ", "UTC", 1);
  tzset();
  capnp::MallocMessageBuilder message;
  auto task = message.initRoot<rpc::TaskView>();
  fillWaitingTask(task);
  EXPECT_EQ(statusText(task.asReader(), false),
            "id:         20\n"
            "state:      waiting\n"
            "why:        task 12 to succeed\n"
            "command:    backup\n"
            "cwd:        /\n"
            "queue:      default\n"
            "priority:   0\n"
            "owner:      uid 1000, gid 100\n"
            "after:      12:ok, 13:any, 14:failed\n"
            "not before: 2026-11-25 14:30:00\n"
            "retry:      up to 3 times, on exit:any, timeout, heartbeat; backoff 1s to 10min\n"
            "key:        nightly-backup\n"
            "request id: req-\\x1b[1m\n"
            "created:    2025-11-25 09:50:24\n"
            "attempts:   0\n");
}

TEST(Render, StatusShowsTheNextAttemptOfARetryingTask) {
  setenv("TZ", "Europe/Berlin", 1);
  tzset();
  capnp::MallocMessageBuilder message;
  auto task = message.initRoot<rpc::TaskView>();
  task.setId(9);
  task.setState("retrying");
  task.setReason("exit");
  task.setNextAttemptAt(1764064230000000000);  // 09:50:30 UTC, 10:50:30 in Berlin
  auto retry = task.initRetry();
  retry.setRetries(1);
  retry.setOnExit(true);
  retry.initExitCodes(2).set(0, 1);
  retry.getExitCodes().set(1, 2);
  retry.setOnSignal(true);
  retry.setOnOom(true);
  retry.setOnLost(true);
  retry.setBackoffBaseUsec(500'000);
  retry.setBackoffMaxUsec(5'400'000'000);
  auto text = statusText(task.asReader(), false);
  EXPECT_TRUE(
      text.startsWith("id:           9\n"
                      "state:        retrying (exit)\n"
                      "next attempt: 2025-11-25 10:50:30\n"))
      << text.cStr();
  EXPECT_NE(strstr(text.cStr(),
                   "retry:        up to 1 time, on exit:1,2, signal, oom, lost; backoff 500ms to "
                   "1h30min\n"),
            nullptr)
      << text.cStr();
  setenv("TZ", "UTC", 1);
  tzset();
}

TEST(Render, StatusLeavesOutSchedulingThatWasNotAskedFor) {
  capnp::MallocMessageBuilder message;
  auto task = message.initRoot<rpc::TaskView>();
  task.setState("running");
  task.setNextAttemptAt(1764064230000000000);  // stale: only a retrying task has a next attempt
  task.initRetry().setOnExit(true);            // no retries: no policy
  auto text = statusText(task.asReader(), false);
  for (auto absent : {"why", "next attempt", "after", "not before", "retry", "key", "request id"}) {
    EXPECT_EQ(strstr(text.cStr(), absent), nullptr) << absent << " in " << text.cStr();
  }
}

// What is left of a task once retention has pruned it.
void fillTombstone(rpc::TaskView::Builder task) {
  task.setId(12);
  task.setUid(1000);
  task.setState("failed");
  task.setReason("signal");
  task.setExitStatus(137);
  task.setSignal(9);
  task.setQueue("batch");
  task.setFinishedAt(1764064230000000000);
  task.setPruned(true);
}

TEST(Render, StatusOfAPrunedTaskSaysOnlyItsTombstoneIsKept) {
  setenv("TZ", "UTC", 1);
  tzset();
  capnp::MallocMessageBuilder message;
  auto task = message.initRoot<rpc::TaskView>();
  fillTombstone(task);
  EXPECT_EQ(statusText(task.asReader(), false),
            "task 12: pruned (failed, exit status 137); only its tombstone is kept\n"
            "state:       failed (signal)\n"
            "exit status: 137\n"
            "signal:      9 (SIGKILL)\n"
            "queue:       batch\n"
            "owner:       uid 1000\n"
            "finished:    2025-11-25 09:50:30\n");
  auto succeeded = message.initRoot<rpc::TaskView>();
  succeeded.setId(12);
  succeeded.setState("succeeded");
  succeeded.setReason("exit");
  succeeded.setExitCode(0);
  succeeded.setPruned(true);
  EXPECT_TRUE(statusText(succeeded.asReader(), false)
                  .startsWith("task 12: pruned (succeeded, exit status 0); only its tombstone is "
                              "kept\n"
                              "state:       succeeded (exit)\n"
                              "exit status: 0\n"
                              "exit code:   0\n"));
}

TEST(Render, TaskJsonMarksAPrunedTask) {
  capnp::MallocMessageBuilder message;
  auto task = message.initRoot<rpc::TaskView>();
  fillTombstone(task);
  auto json = taskJson(task.asReader(), false);
  EXPECT_TRUE(json.startsWith(R"({"id":12,"uid":1000,"gid":0,"state":"failed","reason":"signal",)"
                              R"("message":null,"exit_status":137,"exit_code":null,"signal":9,)"
                              R"("queue":"batch",)"))
      << json.cStr();
  EXPECT_NE(
      strstr(
          json.cStr(),
          R"("waiting_for":null,"why":null,"held":false,"rerun_of":null,"edited_at":null,"limits_updated_at":null,"limits_updated_by":null,"paused_usec":0,"paused_at":null,"pruned":true})"),
      nullptr)
      << json.cStr();
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

// listTable() as it was before `list` paged (be2d92e), all rows at once: the table built a page
// at a time must print the very same text.
kj::String tableAsBefore(kj::ArrayPtr<const rpc::TaskView::Reader> tasks, kj::Maybe<size_t> width) {
  struct Row {
    kj::String id, state, queue, priority, exit, command;
  };
  kj::Vector<Row> rows(tasks.size() + 1);
  rows.add(Row{kj::str("ID"), kj::str("STATE"), kj::str("QUEUE"), kj::str("PRI"), kj::str("EXIT"),
               kj::str("COMMAND")});
  for (auto task : tasks) {
    rows.add(Row{kj::str(task.getId()), printable(task.getState()), printable(task.getQueue()),
                 kj::str(task.getPriority()),
                 isTerminal(task.getState()) ? kj::str(task.getExitStatus()) : kj::str("-"),
                 commandLine(task.getArgv())});
  }

  size_t idWidth = 0, stateWidth = 0, queueWidth = 0, priorityWidth = 0, exitWidth = 0;
  for (auto& row : rows) {
    idWidth = kj::max(idWidth, displayWidth(row.id));
    stateWidth = kj::max(stateWidth, displayWidth(row.state));
    queueWidth = kj::max(queueWidth, displayWidth(row.queue));
    priorityWidth = kj::max(priorityWidth, displayWidth(row.priority));
    exitWidth = kj::max(exitWidth, displayWidth(row.exit));
  }
  // Numbers right-aligned, words left-aligned, two spaces between columns.
  auto right = [](kj::StringPtr text, size_t width) {
    return kj::str(kj::repeat(' ', width - displayWidth(text)), text);
  };
  auto left = [](kj::StringPtr text, size_t width) {
    return kj::str(text, kj::repeat(' ', width - displayWidth(text)));
  };
  size_t commandColumn = idWidth + stateWidth + queueWidth + priorityWidth + exitWidth + 5 * 2;

  kj::Vector<char> out(rows.size() * 64);
  for (auto& row : rows) {
    kj::String command;
    KJ_IF_MAYBE (w, width) {
      // However narrow the terminal, show the start of the command.
      size_t room = *w > commandColumn + 10 ? *w - commandColumn : 10;
      command = truncateToWidth(row.command, room);
    } else {
      command = kj::mv(row.command);
    }
    out.addAll(kj::str(right(row.id, idWidth), "  ", left(row.state, stateWidth), "  ",
                       left(row.queue, queueWidth), "  ", right(row.priority, priorityWidth), "  ",
                       right(row.exit, exitWidth), "  ", command, '\n'));
  }
  out.add('\0');
  return kj::String(out.releaseAsArray());
}

TEST(Render, ListTableBuiltAPageAtATimeIsTheSameText) {
  capnp::MallocMessageBuilder message;
  auto tasks = message.initRoot<capnp::List<rpc::TaskView>>(3000);
  const char* states[] = {"queued", "running", "succeeded", "failed", "cancelled", "retrying"};
  for (uint32_t i = 0; i < tasks.size(); i++) {
    auto task = tasks[i];
    task.setId(i * 37 + 1);
    task.setState(states[i % 6]);
    task.setQueue(i % 7 ? "default" : "a-longer-queue-name");
    task.setPriority(int32_t(i % 201) - 100);
    task.setExitStatus(i % 256);
    auto argv = task.initArgv(2);
    argv.set(0, bytes(i % 3 ? "echo" : "printf"));
    // Lengths from 0 to 299 characters, some of them two bytes (é) or three (€).
    kj::Vector<char> arg;
    for (uint32_t j = 0; j < i % 300; j++)
      arg.addAll(kj::StringPtr(j % 5 ? "x" : i % 2 ? "é" : "€"));
    argv.set(1, arg.asPtr().asBytes());
  }
  auto readers = KJ_MAP(task, tasks.asReader()) { return task; };
  for (kj::Maybe<size_t> width : {kj::Maybe<size_t>(nullptr), kj::Maybe<size_t>(size_t(0)),
                                  kj::Maybe<size_t>(size_t(12)), kj::Maybe<size_t>(size_t(45)),
                                  kj::Maybe<size_t>(size_t(80)), kj::Maybe<size_t>(size_t(200))}) {
    ListTable table(width);
    for (size_t page = 0; page < readers.size(); page += 1000) {
      for (auto task : readers.slice(page, page + 1000)) table.add(task);
    }
    kj::Vector<char> out;
    size_t pieces = 0;
    table.write([&](kj::ArrayPtr<const char> piece) {
      EXPECT_LE(piece.size(), size_t(65 * 1024));
      out.addAll(piece);
      pieces++;
    });
    out.add('\0');
    auto expected = tableAsBefore(readers, width);
    EXPECT_EQ(kj::StringPtr(out.begin(), out.size() - 1), expected);
    EXPECT_GT(pieces, 1u);
  }
  ListTable empty(nullptr);
  kj::Vector<char> out;
  empty.write([&](kj::ArrayPtr<const char> piece) { out.addAll(piece); });
  EXPECT_EQ(kj::str(out.asPtr()), "ID  STATE  QUEUE  PRI  EXIT  COMMAND\n");
}

TEST(Render, ListJsonStreamedAPageAtATimeIsTheSameDocument) {
  capnp::MallocMessageBuilder message;
  auto tasks = message.initRoot<capnp::List<rpc::TaskView>>(5);
  for (uint32_t i = 0; i < tasks.size(); i++) {
    tasks[i].setId(i + 1);
    tasks[i].setState("queued");
    tasks[i].initArgv(1).set(0, bytes("true"));
  }
  auto readers = KJ_MAP(task, tasks.asReader()) { return task; };
  // Pages as a daemon may send them: some empty, the first among them.
  TasksJsonStream stream;
  // (One call a statement: the order in which a function's arguments are evaluated is not
  // defined.)
  auto text = stream.page(nullptr, uint64_t(9));
  text = kj::str(text, stream.page(readers.slice(0, 2), uint64_t(9)));
  text = kj::str(text, stream.page(nullptr, uint64_t(9)));
  text = kj::str(text, stream.page(readers.slice(2, 5), uint64_t(9)));
  text = kj::str(text, stream.end());
  EXPECT_EQ(text, tasksJson(readers, uint64_t(9), Attempts::LEFT_OUT));
  TasksJsonStream none;
  auto empty = none.page(nullptr);
  EXPECT_EQ(kj::str(empty, none.end()), tasksJson(nullptr));
  TasksJsonStream never;
  EXPECT_EQ(never.end(), "[]\n");
}

TEST(Render, ListJsonLeavesOutTheAttemptsItDoesNotHave) {
  // The daemon's list carries no attempts: `"attempts": []` would say a task that ran never did.
  capnp::MallocMessageBuilder message;
  auto tasks = message.initRoot<capnp::List<rpc::TaskView>>(1);
  tasks[0].setId(1);
  tasks[0].setState("succeeded");
  auto readers = KJ_MAP(task, tasks.asReader()) { return task; };
  TasksJsonStream stream;
  auto text = stream.page(readers);
  text = kj::str(text, stream.end());
  EXPECT_EQ(strstr(text.cStr(), "attempts"), nullptr) << text.cStr();
  EXPECT_NE(strstr(tasksJson(readers).cStr(), R"("attempts":[])"), nullptr);
}

TEST(Render, MissingValuesAreNullNeverEmptyStrings) {
  capnp::MallocMessageBuilder message;
  auto task = message.initRoot<rpc::TaskView>();
  task.setId(3);
  task.setState("running");
  task.setQueue("default");
  task.setCwd(bytes("/"));
  auto attempt = task.initAttempts(1)[0];
  attempt.setNumber(1);
  attempt.setState("running");
  auto json = taskJson(task.asReader(), false);
  // Only values that are there may be strings: the cwd and the output tail are bytes kept as
  // they are (an empty output is an empty string), the queue a name.
  for (auto field : {"reason", "message", "waiting_for", "unit", "status_text", "key", "request_id",
                     "exit_status", "finished_at"}) {
    EXPECT_NE(strstr(json.cStr(), kj::str('"', field, "\":null").cStr()), nullptr)
        << field << ": " << json.cStr();
  }
  // The one empty string: the output tail, an empty output.
  auto empty = strstr(json.cStr(), R"("")");
  ASSERT_NE(empty, nullptr);
  EXPECT_EQ(empty, strstr(json.cStr(), R"("output_tail":"")") + strlen(R"("output_tail":)"))
      << json.cStr();
  EXPECT_EQ(strstr(empty + 2, R"("")"), nullptr) << json.cStr();
}

TEST(Render, LabelsThatAreNotUtf8AreKeptAsBytes) {
  capnp::MallocMessageBuilder message;
  auto task = message.initRoot<rpc::TaskView>();
  auto labels = task.initLabels(3);
  labels[0].setKey("ok");
  labels[0].setValue("caf\xe9");  // Latin-1: not UTF-8
  labels[1].setKey("k\xff");
  labels[1].setValue("v");
  labels[2].setKey("n");
  labels[2].setValue("");
  auto json = taskJson(task.asReader(), false);
  EXPECT_NE(strstr(json.cStr(), R"("labels":{"ok":[99,97,102,233],"n":""},)"
                                R"("labels_undecodable":[{"key":[107,255],"value":"v"}],)"),
            nullptr)
      << json.cStr();
  // Without such a key, there is no labels_undecodable.
  labels[1].setKey("k");
  EXPECT_EQ(strstr(taskJson(task.asReader(), false).cStr(), "labels_undecodable"), nullptr);
}

TEST(Render, StatusAndJsonShowEachAttemptsLimitsTheGrowthAndWhatARerunCameFrom) {
  capnp::MallocMessageBuilder message;
  auto task = message.initRoot<rpc::TaskView>();
  task.setId(9);
  task.setState("succeeded");
  task.setRerunOf(4);
  auto retry = task.initRetry();
  retry.setRetries(2);
  retry.setOnOom(true);
  retry.setMemoryGrowFactor(2);
  retry.setMemoryGrowMaxBytes(256 << 20);
  retry.setTimeoutGrowFactor(1.5);
  auto attempts = task.initAttempts(2);
  attempts[0].setNumber(1);
  attempts[0].setState("failed");
  attempts[0].setReason("oom");
  attempts[0].setMemoryMaxBytes(50 << 20);
  attempts[0].setTimeoutUsec(1000000);
  attempts[1].setNumber(2);
  attempts[1].setState("succeeded");
  attempts[1].setMemoryMaxBytes(100 << 20);
  auto text = statusText(task.asReader(), false);
  EXPECT_NE(strstr(text.cStr(), "rerun of:    task 4\n"), nullptr) << text.cStr();
  EXPECT_NE(strstr(text.cStr(), "; memory 2x up to 256M; timeout 1.5x\n"), nullptr) << text.cStr();
  EXPECT_NE(
      strstr(text.cStr(), "attempt 1:\n  state:  failed (oom)\n  limits: timeout 1s, memory 50M\n"),
      nullptr)
      << text.cStr();
  EXPECT_NE(strstr(text.cStr(), "attempt 2:\n  state:  succeeded\n  limits: memory 100M\n"),
            nullptr)
      << text.cStr();
  auto json = taskJson(task.asReader(), false);
  EXPECT_NE(strstr(json.cStr(), R"("memory_grow_factor":2,"memory_grow_max_bytes":268435456,)"
                                R"("timeout_grow_factor":1.5,"timeout_grow_max_usec":null})"),
            nullptr)
      << json.cStr();
  EXPECT_NE(strstr(json.cStr(), R"("rerun_of":4,)"), nullptr) << json.cStr();
  EXPECT_NE(strstr(json.cStr(), R"("timeout_usec":1000000,"memory_max_bytes":52428800,)"), nullptr)
      << json.cStr();
  EXPECT_NE(strstr(json.cStr(), R"("timeout_usec":null,"memory_max_bytes":104857600,)"), nullptr)
      << json.cStr();
}

TEST(Render, StatusAndJsonSayWhenATaskWasEdited) {
  capnp::MallocMessageBuilder message;
  auto task = message.initRoot<rpc::TaskView>();
  task.setId(9);
  task.setState("waiting");
  task.setEditedAt(1700000000123456789);
  auto text = statusText(task.asReader(), false);
  EXPECT_NE(strstr(text.cStr(), "\nedited: "), nullptr) << text.cStr();
  auto json = taskJson(task.asReader(), false);
  EXPECT_NE(strstr(json.cStr(), R"("edited_at":"2023-11-14T22:13:20.123456Z",)"), nullptr)
      << json.cStr();
}

TEST(Render, StatusAndJsonShowWhenAndByWhomUpdateChangedTheLimits) {
  capnp::MallocMessageBuilder message;
  auto task = message.initRoot<rpc::TaskView>();
  task.setId(5);
  task.setState("running");
  task.setTimeoutUsec(5000000);
  task.setLimitsUpdatedAt(1764064224123456000);
  task.setLimitsUpdatedBy(0);
  auto text = statusText(task.asReader(), false);
  EXPECT_NE(strstr(text.cStr(), " by uid 0\n"), nullptr) << text.cStr();
  EXPECT_NE(strstr(text.cStr(), "limits updated: "), nullptr) << text.cStr();
  auto json = taskJson(task.asReader(), false);
  EXPECT_NE(strstr(json.cStr(),
                   R"("limits_updated_at":"2025-11-25T09:50:24.123456Z","limits_updated_by":0,)"),
            nullptr)
      << json.cStr();
  EXPECT_EQ(taskLimitsLine(task.asReader()), "timeout 5s");
}

}  // namespace
}  // namespace taskctl
