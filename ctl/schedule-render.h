// The daemon's ScheduleView as taskctl prints it: the `schedule list` table and JSON.
//
// JSON field names are a contract (scripts read them); add fields, never rename them.
//   schedule: name, uid, on_calendar, next_run_at and last_run_at (ISO 8601 UTC, null when
//             none), task_ids (the stored tasks it submitted, by id), timer_unit, service_unit
#pragma once

#include <kj/array.h>
#include <kj/string.h>

#include "json.h"
#include "rpc.capnp.h"

namespace taskctl {

void writeScheduleJson(JsonWriter& json, rpc::ScheduleView::Reader schedule);

// Schedules as one JSON array on one line (newline included).
kj::String schedulesJson(kj::ArrayPtr<const rpc::ScheduleView::Reader> schedules);

// NAME UID CALENDAR NEXT LAST TASKS: a header and one line per schedule. NEXT and LAST are local
// times ("-" for none); TASKS lists the ids it submitted, the last few when there are many.
kj::String scheduleTable(kj::ArrayPtr<const rpc::ScheduleView::Reader> schedules);

}  // namespace taskctl
