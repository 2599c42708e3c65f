#include "hold-commands.h"

#include "output.h"
#include "render.h"
#include "why-render.h"

namespace taskctl {

int runHold(Session& session, const HoldArgs& args, const GlobalOptions& global) {
  // One call for every id: the daemon changes all of them or none (a refusal names the id).
  auto request = session.daemon().holdRequest();
  auto ids = request.initIds(args.ids.size());
  for (auto i : kj::indices(args.ids)) ids.set(i, args.ids[i]);
  request.setHeld(args.held);
  auto reply = session.answer(request.send());
  if (global.json) {
    // As `cancel --json`: an array of the tasks as they are now (without attempts).
    auto tasks = KJ_MAP(task, reply.getTasks()) { return task; };
    writeOut(tasksJson(tasks, nullptr, Attempts::LEFT_OUT));
  }
  return 0;
}

int runWhy(Session& session, const WhyArgs& args, const GlobalOptions& global) {
  auto request = session.daemon().statusRequest();
  request.setId(args.id);
  auto reply = session.answer(request.send());
  auto task = reply.getTask();
  if (global.json) {
    writeOut(taskJson(task, false, reply.getLastSeq()));
  } else {
    writeOut(whyLine(task));
  }
  return 0;
}

}  // namespace taskctl
