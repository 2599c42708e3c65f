#include "queue-render.h"

#include <kj/vector.h>

#include "format.h"

namespace taskctl {

void writeQueueJson(JsonWriter& json, rpc::QueueView::Reader queue) {
  json.beginObject();
  json.key("name");
  json.string(queue.getName());
  json.key("concurrency");
  json.unsignedInteger(queue.getConcurrency());
  json.key("concurrency_from_config");
  json.boolean(queue.getConcurrencyFromConfig());
  json.key("running");
  json.unsignedInteger(queue.getRunning());
  json.key("queued");
  json.unsignedInteger(queue.getQueued());
  json.key("waiting");
  json.unsignedInteger(queue.getWaiting());
  json.key("paused");
  json.boolean(queue.getPaused());
  json.key("paused_reason");
  if (queue.getPausedReason().size() == 0) {
    json.null();  // missing values are null in every document (docs/json.md)
  } else {
    json.string(queue.getPausedReason());
  }
  json.key("drained");
  json.boolean(queue.getDrained());
  json.endObject();
}

kj::String queueJson(rpc::QueueView::Reader queue) {
  JsonWriter json;
  writeQueueJson(json, queue);
  return kj::str(json.finish(), '\n');
}

kj::String queuesJson(kj::ArrayPtr<const rpc::QueueView::Reader> queues) {
  JsonWriter json;
  json.beginArray();
  for (auto queue : queues) writeQueueJson(json, queue);
  json.endArray();
  return kj::str(json.finish(), '\n');
}

kj::String queueTable(kj::ArrayPtr<const rpc::QueueView::Reader> queues) {
  constexpr size_t COLUMNS = 6;
  // Which columns are numbers: right-aligned; words are left-aligned.
  constexpr bool NUMERIC[COLUMNS] = {false, true, true, true, true, false};
  kj::Vector<kj::Array<kj::String>> rows(queues.size() + 1);
  auto addRow = [&](kj::String name, kj::String concurrency, kj::String running, kj::String queued,
                    kj::String waiting, kj::String paused) {
    auto row = kj::heapArrayBuilder<kj::String>(COLUMNS);
    row.add(kj::mv(name));
    row.add(kj::mv(concurrency));
    row.add(kj::mv(running));
    row.add(kj::mv(queued));
    row.add(kj::mv(waiting));
    row.add(kj::mv(paused));
    rows.add(row.finish());
  };
  addRow(kj::str("NAME"), kj::str("CONCURRENCY"), kj::str("RUNNING"), kj::str("QUEUED"),
         kj::str("WAITING"), kj::str("PAUSED"));
  for (auto queue : queues) {
    kj::String paused = kj::str("no");
    if (queue.getPaused()) {
      paused = queue.getPausedReason().size() > 0
                   ? kj::str("yes (", printable(queue.getPausedReason()), ")")
                   : kj::str("yes");
    }
    // Drained (`taskctl drain`): no queue starts anything, paused or not.
    if (queue.getDrained())
      paused = kj::str(queue.getPaused() ? kj::str(paused, ", ") : kj::str(), "drained");
    addRow(printable(queue.getName()), kj::str(queue.getConcurrency()), kj::str(queue.getRunning()),
           kj::str(queue.getQueued()), kj::str(queue.getWaiting()), kj::mv(paused));
  }

  size_t widths[COLUMNS] = {};
  for (auto& row : rows) {
    for (size_t i = 0; i < COLUMNS; i++) widths[i] = kj::max(widths[i], displayWidth(row[i]));
  }
  kj::Vector<char> out(rows.size() * 64);
  for (auto& row : rows) {
    for (size_t i = 0; i < COLUMNS; i++) {
      auto padding = kj::repeat(' ', widths[i] - displayWidth(row[i]));
      bool last = i + 1 == COLUMNS;
      if (NUMERIC[i]) out.addAll(padding);
      out.addAll(row[i]);
      // The last column is not padded: no trailing spaces.
      if (!NUMERIC[i] && !last) out.addAll(padding);
      out.addAll(last ? "\n"_kj : "  "_kj);
    }
  }
  out.add('\0');
  return kj::String(out.releaseAsArray());
}

}  // namespace taskctl
