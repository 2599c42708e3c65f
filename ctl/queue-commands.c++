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

}  // namespace taskctl
