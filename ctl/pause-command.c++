#include "pause-command.h"

#include "output.h"
#include "render.h"

namespace taskctl {

int runPause(Session& session, const PauseArgs& args, const GlobalOptions& global) {
  // One call for every id: the daemon changes all of them or none (a refusal names the id).
  auto request = session.daemon().pauseRequest();
  auto ids = request.initIds(args.ids.size());
  for (auto i : kj::indices(args.ids)) ids.set(i, args.ids[i]);
  request.setPaused(args.paused);
  auto reply = session.answer(request.send());
  if (global.json) {
    // As `hold --json`: an array of the tasks as they are now (without attempts).
    auto tasks = KJ_MAP(task, reply.getTasks()) { return task; };
    writeOut(tasksJson(tasks, nullptr, Attempts::LEFT_OUT));
  }
  return 0;
}

}  // namespace taskctl
