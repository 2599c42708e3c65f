// `taskctl watch` output: one line per state change (and, with --progress, per progress report),
// for a person or as JSON, and the lines it writes to stderr when the stream breaks.
//
// JSON field names are a contract (scripts read them); add fields, never rename them.
//   state change: event ("state"), seq, id, uid, queue, from (null when the task was just
//                 submitted), to, attempt (0 before the first), reason ("" when none; the bare
//                 word otherwise: exit, signal, oom, timeout, ...), at (ISO 8601 UTC)
//   progress:     event ("progress"), id, uid, attempt, progress (0..1)
#pragma once

#include <kj/array.h>
#include <kj/string.h>

#include "rpc.capnp.h"

namespace taskctl {

// "2026-11-25 10:50:24  seq 1234  task 17  running -> failed  attempt 1  exit" (local time; a
// task just submitted comes "new -> queued"; no reason when there is none), newline included.
kj::String eventLine(rpc::EventView::Reader event);
kj::String eventJson(rpc::EventView::Reader event);

// "2026-11-25 10:50:24  task 17  attempt 1  progress 40%", stamped `nowNs` (reports carry no time).
kj::String progressLine(rpc::ProgressView::Reader report, int64_t nowNs);
kj::String progressJson(rpc::ProgressView::Reader report);

// The command that picks the watch up at `from` (0: from now), with the same ids and options.
kj::String resumeCommand(uint64_t from, kj::ArrayPtr<const uint64_t> ids, bool progress, bool json);

// For stderr (without the "taskctl: " prefix).
kj::String fellBehindMessage(kj::StringPtr resume);
kj::String prunedMessage(uint64_t asked, uint64_t firstSeq);
kj::String disconnectedMessage(kj::StringPtr resume);

}  // namespace taskctl
