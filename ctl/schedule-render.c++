#include "schedule-render.h"

#include <kj/vector.h>

#include "format.h"

namespace taskctl {

namespace {

// How many task ids the table shows per schedule: the latest ones.
constexpr size_t TABLE_IDS = 5;

void timeOrNull(JsonWriter& json, int64_t ns) {
  if (ns == 0) {
    json.null();
  } else {
    json.string(isoTimeUtc(ns));
  }
}

// Missing values are null in every document (docs/json.md), never "".
void textOrNull(JsonWriter& json, kj::StringPtr text) {
  if (text.size() == 0) {
    json.null();
  } else {
    json.string(text);
  }
}

}  // namespace

void writeScheduleJson(JsonWriter& json, rpc::ScheduleView::Reader schedule) {
  json.beginObject();
  json.key("name");
  json.string(schedule.getName());
  json.key("uid");
  json.unsignedInteger(schedule.getUid());
  json.key("on_calendar");
  json.string(schedule.getOnCalendar());
  json.key("next_run_at");
  timeOrNull(json, schedule.getNextRunAt());
  json.key("last_run_at");
  timeOrNull(json, schedule.getLastRunAt());
  json.key("task_ids");
  json.beginArray();
  for (auto id : schedule.getTaskIds()) json.unsignedInteger(id);
  json.endArray();
  json.key("timer_unit");
  textOrNull(json, schedule.getTimerUnit());
  json.key("service_unit");
  textOrNull(json, schedule.getServiceUnit());
  json.endObject();
}

kj::String schedulesJson(kj::ArrayPtr<const rpc::ScheduleView::Reader> schedules) {
  JsonWriter json;
  json.beginArray();
  for (auto schedule : schedules) writeScheduleJson(json, schedule);
  json.endArray();
  return kj::str(json.finish(), '\n');
}

kj::String scheduleTable(kj::ArrayPtr<const rpc::ScheduleView::Reader> schedules) {
  constexpr size_t COLUMNS = 6;
  constexpr bool NUMERIC[COLUMNS] = {false, true, false, false, false, false};
  kj::Vector<kj::Array<kj::String>> rows(schedules.size() + 1);
  auto addRow = [&](kj::String a, kj::String b, kj::String c, kj::String d, kj::String e,
                    kj::String f) {
    auto row = kj::heapArrayBuilder<kj::String>(COLUMNS);
    row.add(kj::mv(a));
    row.add(kj::mv(b));
    row.add(kj::mv(c));
    row.add(kj::mv(d));
    row.add(kj::mv(e));
    row.add(kj::mv(f));
    rows.add(row.finish());
  };
  auto when = [](int64_t ns) { return ns == 0 ? kj::str("-") : localTime(ns); };
  addRow(kj::str("NAME"), kj::str("UID"), kj::str("CALENDAR"), kj::str("NEXT"), kj::str("LAST"),
         kj::str("TASKS"));
  for (auto schedule : schedules) {
    auto ids = schedule.getTaskIds();
    kj::Vector<kj::String> shown;
    size_t from = ids.size() > TABLE_IDS ? ids.size() - TABLE_IDS : 0;
    if (from > 0) shown.add(kj::str("(", ids.size(), ") ..."));
    for (size_t i = from; i < ids.size(); i++) shown.add(kj::str(ids[i]));
    addRow(printable(schedule.getName()), kj::str(schedule.getUid()),
           printable(schedule.getOnCalendar()), when(schedule.getNextRunAt()),
           when(schedule.getLastRunAt()),
           shown.size() == 0 ? kj::str("-") : kj::strArray(shown, " "));
  }

  size_t widths[COLUMNS] = {};
  for (auto& row : rows) {
    for (size_t i = 0; i < COLUMNS; i++) widths[i] = kj::max(widths[i], displayWidth(row[i]));
  }
  kj::Vector<char> out(rows.size() * 80);
  for (auto& row : rows) {
    for (size_t i = 0; i < COLUMNS; i++) {
      auto padding = kj::repeat(' ', widths[i] - displayWidth(row[i]));
      bool last = i + 1 == COLUMNS;
      if (NUMERIC[i]) out.addAll(padding);
      out.addAll(row[i]);
      if (!NUMERIC[i] && !last) out.addAll(padding);
      out.addAll(last ? "\n"_kj : "  "_kj);
    }
  }
  out.add('\0');
  return kj::String(out.releaseAsArray());
}

}  // namespace taskctl
