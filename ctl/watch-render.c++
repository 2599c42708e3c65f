#include "watch-render.h"

#include <kj/vector.h>

#include "format.h"
#include "json.h"
#include "render.h"

namespace taskctl {

namespace {

// Missing values are null in every document (docs/json.md), never "".
void textOrNull(JsonWriter& json, kj::StringPtr text) {
  if (text.size() == 0) {
    json.null();
  } else {
    json.string(text);
  }
}

}  // namespace

kj::String eventLine(rpc::EventView::Reader event) {
  if (event.getTaskId() == 0) {
    // The daemon's own change (`drain`: "drained", "undrained"), no task's.
    return kj::str(localTime(event.getAt()), "  seq ", event.getSeq(), "  taskctld ",
                   printable(event.getAction()), " by uid ", event.getUid(), '\n');
  }
  auto from = event.getFrom().size() == 0 ? kj::str("new") : printable(event.getFrom());
  auto reason =
      event.getReason().size() == 0 ? kj::str() : kj::str("  ", printable(event.getReason()));
  auto action =
      event.getAction().size() == 0 ? kj::str() : kj::str("  ", printable(event.getAction()));
  return kj::str(localTime(event.getAt()), "  seq ", event.getSeq(), "  task ", event.getTaskId(),
                 "  ", from, " -> ", printable(event.getTo()), "  attempt ", event.getAttempt(),
                 reason, action, '\n');
}

kj::String eventJson(rpc::EventView::Reader event) {
  JsonWriter json;
  json.beginObject();
  json.key("event");
  // Task 0: the daemon's own change (`drain`), with the same keys; from and to are null.
  json.string(event.getTaskId() == 0 ? "daemon" : "state");
  json.key("seq");
  json.unsignedInteger(event.getSeq());
  json.key("id");
  json.unsignedInteger(event.getTaskId());
  json.key("uid");
  json.unsignedInteger(event.getUid());
  json.key("queue");
  json.string(event.getQueue());
  json.key("from");
  if (event.getFrom().size() == 0) {
    json.null();
  } else {
    json.string(event.getFrom());
  }
  json.key("to");
  textOrNull(json, event.getTo());
  json.key("attempt");
  json.unsignedInteger(event.getAttempt());
  json.key("reason");
  textOrNull(json, event.getReason());
  json.key("action");
  textOrNull(json, event.getAction());
  json.key("at");
  json.string(isoTimeUtc(event.getAt()));
  json.endObject();
  return kj::str(json.finish(), '\n');
}

kj::String endedLine(rpc::TaskView::Reader task) {
  auto reason =
      task.getReason().size() == 0 ? kj::str() : kj::str("  ", printable(task.getReason()));
  return kj::str(localTime(task.getFinishedAt()), "  task ", task.getId(),
                 "  ended: ", printable(task.getState()), "  attempt ", task.getAttempts().size(),
                 reason, '\n');
}

kj::String endedJson(rpc::TaskView::Reader task) {
  JsonWriter json;
  json.beginObject();
  json.key("event");
  json.string("state");
  json.key("seq");
  json.null();
  json.key("id");
  json.unsignedInteger(task.getId());
  json.key("uid");
  json.unsignedInteger(task.getUid());
  json.key("queue");
  json.string(task.getQueue());
  json.key("from");
  json.null();
  json.key("to");
  json.string(task.getState());
  json.key("attempt");
  json.unsignedInteger(task.getAttempts().size());
  json.key("reason");
  textOrNull(json, task.getReason());
  json.key("action");
  json.null();
  json.key("at");
  if (task.getFinishedAt() == 0) {
    json.null();
  } else {
    json.string(isoTimeUtc(task.getFinishedAt()));
  }
  json.endObject();
  return kj::str(json.finish(), '\n');
}

kj::String progressLine(rpc::ProgressView::Reader report, int64_t nowNs) {
  return kj::str(localTime(nowNs), "  task ", report.getTaskId(), "  attempt ", report.getAttempt(),
                 "  progress ", percentage(report.getFraction()), '\n');
}

kj::String progressJson(rpc::ProgressView::Reader report, int64_t nowNs) {
  JsonWriter json;
  json.beginObject();
  json.key("event");
  json.string("progress");
  json.key("id");
  json.unsignedInteger(report.getTaskId());
  json.key("uid");
  json.unsignedInteger(report.getUid());
  json.key("queue");
  textOrNull(json, report.getQueue());
  json.key("attempt");
  json.unsignedInteger(report.getAttempt());
  json.key("progress");
  json.number(report.getFraction());
  json.key("at");
  json.string(isoTimeUtc(report.getAt() != 0 ? report.getAt() : nowNs));
  json.endObject();
  return kj::str(json.finish(), '\n');
}

kj::String resumeCommand(uint64_t from, kj::ArrayPtr<const uint64_t> ids, bool progress,
                         bool json) {
  kj::Vector<kj::String> words;
  words.add(kj::str("taskctl"));
  if (json) words.add(kj::str("--json"));
  words.add(kj::str("watch"));
  if (from != 0) words.add(kj::str("--from ", from));
  if (progress) words.add(kj::str("--progress"));
  for (auto id : ids) words.add(kj::str(id));
  return kj::strArray(words, " ");
}

kj::String fellBehindMessage(kj::StringPtr resume) {
  return kj::str(
      "watch fell behind: taskctld stopped it rather than queue more for it; nothing "
      "before this point was missed; resume with: ",
      resume);
}

kj::String prunedMessage(uint64_t asked, uint64_t firstSeq) {
  return kj::str("changes from seq ", asked, " to ", firstSeq - 1,
                 " are no longer stored (events.max_stored); starting from seq ", firstSeq);
}

kj::String disconnectedMessage(kj::StringPtr resume) {
  return kj::str(
      "lost the connection to taskctld while watching (was taskctld restarted?); "
      "resume with: ",
      resume);
}

}  // namespace taskctl
