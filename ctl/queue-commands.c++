#include "queue-commands.h"

#include "output.h"
#include "queue-render.h"

namespace taskctl {

namespace {

// A queue as `queue set`, `pause` and `resume` print it once changed: the line `queue list`
// would show for it, under the same header, or one JSON object.
void writeQueue(rpc::QueueView::Reader queue, const GlobalOptions& global) {
  writeOut(global.json ? queueJson(queue) : queueTable(kj::arrayPtr(&queue, 1)));
}

}  // namespace

int runQueueList(Session& session, const QueueListArgs&, const GlobalOptions& global) {
  auto reply = session.answer(session.daemon().queueListRequest().send());
  auto queues = KJ_MAP(queue, reply.getQueues()) { return queue; };
  writeOut(global.json ? queuesJson(queues) : queueTable(queues));
  return 0;
}

int runQueueSet(Session& session, const QueueSetArgs& args, const GlobalOptions& global) {
  auto request = session.daemon().queueSetRequest();
  request.setName(args.name);
  request.setConcurrency(args.concurrency);
  request.setUseDefault(args.useDefault);
  auto reply = session.answer(request.send());
  writeQueue(reply.getQueue(), global);
  return 0;
}

int runQueuePause(Session& session, const QueuePauseArgs& args, const GlobalOptions& global) {
  auto request = session.daemon().queuePauseRequest();
  request.setName(args.name);
  request.setPaused(args.paused);
  auto reply = session.answer(request.send());
  writeQueue(reply.getQueue(), global);
  return 0;
}

int runDrain(Session& session, const DrainArgs& args, const GlobalOptions& global) {
  auto request = session.daemon().drainRequest();
  request.setDrained(args.drained);
  request.setWait(args.wait);
  // --wait lasts as long as the running work does; the change itself is answered promptly.
  auto reply = args.wait ? session.await(request.send()) : session.answer(request.send());
  uint32_t running = reply.getRunning();
  if (global.json) {
    writeOut(
        kj::str("{\"drained\":", args.drained ? "true" : "false", ",\"running\":", running, "}\n"));
  } else if (args.drained) {
    writeOut(running == 0 ? kj::str("taskctld is drained; nothing runs\n")
                          : kj::str("taskctld is drained; ", running,
                                    running == 1 ? " task" : " tasks", " still running\n"));
  } else {
    writeOut(kj::str("taskctld is undrained; queues start tasks again\n"));
  }
  return 0;
}

}  // namespace taskctl
