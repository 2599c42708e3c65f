// The daemon's TaskView as taskctl prints it: JSON objects, the `status` report, the `list` table.
//
// JSON field names are a contract (scripts read them): docs/json.md lists every field, its type
// and when it is null, and the versioning rule (fields are only added). Keep it current.
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

// Whether a task's JSON has its "attempts": only when the reply carried them (status, wait, not
// list), since an empty array would say that a task that ran never did.
enum class Attempts { SHOWN, LEFT_OUT };

// Appends one task as a JSON object; its env only when `withEnv`, last_seq only when given.
void writeTaskJson(JsonWriter& json, rpc::TaskView::Reader task, bool withEnv,
                   kj::Maybe<uint64_t> lastSeq = nullptr, Attempts attempts = Attempts::SHOWN);

// The limits in force on one line ("timeout 2s, kill grace 1s, memory 512M"), or "" for none.
kj::String taskLimitsLine(rpc::TaskView::Reader task);

// One task, or an array of tasks, as one JSON document on one line (newline included).
kj::String taskJson(rpc::TaskView::Reader task, bool withEnv,
                    kj::Maybe<uint64_t> lastSeq = nullptr);
kj::String tasksJson(kj::ArrayPtr<const rpc::TaskView::Reader> tasks,
                     kj::Maybe<uint64_t> lastSeq = nullptr, Attempts attempts = Attempts::SHOWN);

// tasksJson()'s document written a page at a time (`list --json`, without attempts): page()
// returns the text for the next tasks, end() what closes the array. Together they are exactly
// what tasksJson(..., Attempts::LEFT_OUT) gives for all the tasks at once.
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
