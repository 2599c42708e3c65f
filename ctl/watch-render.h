// `taskctl watch` output: one line per state change (and, with --progress, per progress report),
// for a person or as JSON, and the lines it writes to stderr when the stream breaks.
//
// JSON field names are a contract (scripts read them): docs/json.md lists them, their types and
// when they are null; fields are only added.
#pragma once

#include <kj/array.h>
#include <kj/string.h>

#include "rpc.capnp.h"

namespace taskctl {

// "2026-11-25 10:50:24  seq 1234  task 17  running -> failed  attempt 1  exit" (local time; a
// task just submitted comes "new -> queued"; no reason when there is none), newline included.
kj::String eventLine(rpc::EventView::Reader event);
kj::String eventJson(rpc::EventView::Reader event);

// "2026-11-25 10:50:24  task 17  attempt 1  progress 40%", stamped `nowNs` (when it arrived).
kj::String progressLine(rpc::ProgressView::Reader report, int64_t nowNs);
// The JSON line carries `at` and `queue` like a state change: the daemon's time of the report
// (`nowNs` from a daemon too old to send one) and the task's queue (null when not sent).
kj::String progressJson(rpc::ProgressView::Reader report, int64_t nowNs);

// The last change of a task that had already ended when `watch ID` began, as the task record
// tells it: "2026-11-25 10:50:24  task 17  ended: failed  attempt 1  exit" (at its finish time),
// or a state-change object whose seq and from are null (neither is kept with the task).
kj::String endedLine(rpc::TaskView::Reader task);
kj::String endedJson(rpc::TaskView::Reader task);

// The command that picks the watch up at `from` (0: from now), with the same ids and options.
kj::String resumeCommand(uint64_t from, kj::ArrayPtr<const uint64_t> ids, bool progress, bool json);

// For stderr (without the "taskctl: " prefix).
kj::String fellBehindMessage(kj::StringPtr resume);
kj::String prunedMessage(uint64_t asked, uint64_t firstSeq);
kj::String disconnectedMessage(kj::StringPtr resume);

}  // namespace taskctl
