#include "schedule-commands.h"

#include "commands.h"
#include "output.h"
#include "schedule-render.h"
#include "user-lookup.h"

namespace taskctl {

int runScheduleAdd(Session& session, const ScheduleAddArgs& args, const GlobalOptions& global) {
  auto request = session.daemon().scheduleAddRequest();
  request.setName(args.name);
  request.setOnCalendar(args.onCalendar);
  request.setPersistent(args.persistent);
  request.setAccuracyUsec(args.accuracyUsec);
  // Each firing runs `taskctl submit` in the service, with the service's environment: this one's
  // would only be dead weight (and may hold secrets).
  fillSubmitRequest(request.initRequest(), args.submit, false);
  session.answer(request.send());
  return 0;
}

int runScheduleList(Session& session, const ScheduleListArgs&, const GlobalOptions& global) {
  auto reply = session.answer(session.daemon().scheduleListRequest().send());
  auto schedules = KJ_MAP(schedule, reply.getSchedules()) { return schedule; };
  writeOut(global.json ? schedulesJson(schedules) : scheduleTable(schedules));
  return 0;
}

int runScheduleRemove(Session& session, const ScheduleRemoveArgs& args, const GlobalOptions&) {
  auto request = session.daemon().scheduleRemoveRequest();
  request.setName(args.name);
  KJ_IF_MAYBE (user, args.user) {
    // A name the client cannot resolve is the command line's mistake (64), like a bad option:
    // the daemon never sees it.
    KJ_IF_MAYBE (uid, resolveUser(*user)) {
      request.setOwner(*uid);
      request.setHasOwner(true);
    } else {
      throw Failure{EXIT_USAGE, kj::str("no such user: '", *user,
                                        "' (--user takes a name in "
                                        "/etc/passwd or a numeric uid)")};
    }
  }
  session.answer(request.send());
  return 0;
}

}  // namespace taskctl
