// The daemon's QueueView as taskctl prints it: the `queue` table and JSON.
//
// JSON field names are a contract (scripts read them); add fields, never rename them.
//   queue: name, concurrency, concurrency_from_config (false: set at run time with `queue set`),
//          running (starting or running), queued, waiting (waiting or retrying), paused,
//          paused_reason ("" when there is none), drained (taskctld is drained: `drain`)
#pragma once

#include <kj/array.h>
#include <kj/string.h>

#include "json.h"
#include "rpc.capnp.h"

namespace taskctl {

void writeQueueJson(JsonWriter& json, rpc::QueueView::Reader queue);

// One queue as one JSON object, or queues as one JSON array, on one line (newline included).
kj::String queueJson(rpc::QueueView::Reader queue);
kj::String queuesJson(kj::ArrayPtr<const rpc::QueueView::Reader> queues);

// NAME CONCURRENCY RUNNING QUEUED WAITING PAUSED, a header and one line per queue; PAUSED is "no",
// or "yes" followed by the reason in parentheses when there is one; "drained" (or "yes (...),
// drained") while taskctld is drained.
kj::String queueTable(kj::ArrayPtr<const rpc::QueueView::Reader> queues);

}  // namespace taskctl
