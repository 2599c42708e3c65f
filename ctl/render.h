// The daemon's TaskView as taskctl prints it: JSON objects, the `status` report, the `list` table.
//
// JSON field names are a contract (scripts read them); add fields, never rename them.
//   task:    id, uid, gid, state, reason, message, exit_status, exit_code, signal, queue,
//            priority, argv, cwd, env (only when asked for), labels, created_at, finished_at,
//            limits, after, not_before, next_attempt_at, retry, key, request_id, waiting_for,
//            pruned, attempts
//   limits:  timeout_usec, kill_grace_usec, heartbeat_usec, cpu_quota_per_sec_usec,
//            memory_max_bytes, tasks_max (each null when there is none)
//   after:   an array of {id, condition}, condition "ok", "any" or "failed"
//   retry:   retries (0: none), on_exit, exit_codes (with on_exit: [] means any non-zero code),
//            on_signal, on_oom, on_timeout, on_heartbeat, on_lost, backoff_base_usec,
//            backoff_max_usec (null: the daemon's default, 1 s and 10 min)
//   attempt: number, state, reason, message, exit_code, signal, started_at, ended_at, shim_pid,
//            unit, wall_usec, cpu_user_usec, cpu_system_usec, peak_memory_bytes, progress,
//            status_text, oom_kills, output_tail
// Values: times are ISO 8601 UTC strings ("2026-11-25T09:50:24.123456Z") or null when not yet;
// exit_status is null until the task is terminal; exit_code, signal and shim_pid are null when
// there is none; argv, cwd and env are byte strings written as json.h says; env is an array of
// "KEY=VALUE" strings; labels is an object; reason and message are "" when there is none;
// progress is a number from 0 to 1, null until the attempt reports one; status_text is "" until
// it reports one; output_tail (the end of the attempt's output, kept with it) is a byte string.
// not_before (the task waits until then) and next_attempt_at (a retrying task's next attempt) are
// times or null; key and request_id are null when the task has none; waiting_for says what a
// waiting task waits for ("" otherwise); pruned is true when retention has removed the task and
// only its tombstone is left (then only id, uid, state, reason, exit_status, exit_code, signal,
// queue and finished_at are set). last_seq (status and list only) is the daemon's last event
// sequence number when the task was read: `watch --from last_seq+1` shows every change after it.
#pragma once

#include <kj/array.h>
#include <kj/function.h>
#include <kj/string.h>
#include <kj/vector.h>

#include "json.h"
#include "rpc.capnp.h"

namespace taskctl {

// succeeded, failed and cancelled: states a task never leaves.
bool isTerminal(kj::StringPtr state);

// Appends one task as a JSON object; its env only when `withEnv`, last_seq only when given.
void writeTaskJson(JsonWriter& json, rpc::TaskView::Reader task, bool withEnv,
                   kj::Maybe<uint64_t> lastSeq = nullptr);

// One task, or an array of tasks, as one JSON document on one line (newline included).
kj::String taskJson(rpc::TaskView::Reader task, bool withEnv,
                    kj::Maybe<uint64_t> lastSeq = nullptr);
kj::String tasksJson(kj::ArrayPtr<const rpc::TaskView::Reader> tasks,
                     kj::Maybe<uint64_t> lastSeq = nullptr);

// tasksJson()'s document written a page at a time (`list --json`): page() returns the text for
// the next tasks, end() what closes the array. Together they are exactly what tasksJson() gives
// for all the tasks at once.
class TasksJsonStream {
 public:
  kj::String page(kj::ArrayPtr<const rpc::TaskView::Reader> tasks,
                  kj::Maybe<uint64_t> lastSeq = nullptr);
  kj::String end();

 private:
  bool begun = false;  // "[" written
  bool any = false;    // a task written: the next needs a comma
};

// A fraction as a percentage: "40%", "12.5%" (one decimal only when it says something).
kj::String percentage(double fraction);

// argv as one line a person can paste into a shell (see shellQuote()).
kj::String commandLine(capnp::List<capnp::Data>::Reader argv);

// `taskctl status`: aligned "key: value" lines, then one block per attempt, then the last lines
// of the latest attempt's output. A pruned task: one line that says so, then what its tombstone
// holds.
kj::String statusText(rpc::TaskView::Reader task, bool withEnv);

// `taskctl list`: ID STATE QUEUE PRI EXIT COMMAND. With a width (a terminal's), the command is
// cut to fit it; without one (output to a pipe or file) nothing is cut.
kj::String listTable(kj::ArrayPtr<const rpc::TaskView::Reader> tasks, kj::Maybe<size_t> width);

// listTable() built a task at a time, as `list` pages arrive. Every column's width depends on
// every row, so nothing can be printed before the last page; what it keeps is each row's text
// (with a width, the command already cut to it), not the tasks.
class ListTable {
 public:
  explicit ListTable(kj::Maybe<size_t> width);
  void add(rpc::TaskView::Reader task);
  // The table, header first, in pieces of at most about 64 KiB: the same text as listTable().
  void write(kj::FunctionParam<void(kj::ArrayPtr<const char>)> out) const;

 private:
  enum Column { ID, STATE, QUEUE, PRIORITY, EXIT, COMMAND, COLUMNS };
  struct Row {
    size_t start;  // in `text`
    uint32_t lengths[COLUMNS];
  };
  kj::Maybe<size_t> width;
  kj::Vector<char> text;  // every row's fields, one after another, each ended by a NUL
  kj::Vector<Row> rows;
  size_t widths[COMMAND] = {};  // display widths of the aligned columns

  void addRow(kj::StringPtr (&fields)[COLUMNS]);
};

}  // namespace taskctl
