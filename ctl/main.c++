// taskctl: the command-line client of taskctld.
//
// It reads the command line, connects to the daemon's socket, makes one or a few RPC calls,
// prints what came back, and exits with a status scripts can act on (DESIGN 8). It is started
// once per command, often in loops, so it does nothing it does not need: no threads, no
// configuration files, one connection.
#include <kj/async-io.h>
#include <stdlib.h>

#include "args.h"
#include "commands.h"
#include "exit-status.h"
#include "hold-commands.h"
#include "output.h"
#include "pause-command.h"
#include "progress.h"
#include "queue-commands.h"
#include "schedule-commands.h"
#include "session.h"
#include "update-command.h"
#include "watch-command.h"

namespace taskctl {
namespace {

int run(Session& session, const Invocation& invocation) {
  auto& global = invocation.global;
  auto& command = invocation.command;
  if (auto args = command.tryGet<SubmitArgs>()) return runSubmit(session, *args, global);
  if (auto args = command.tryGet<StatusArgs>()) return runStatus(session, *args, global);
  if (auto args = command.tryGet<ListArgs>()) return runList(session, *args, global);
  if (auto args = command.tryGet<WaitArgs>()) return runWait(session, *args, global);
  if (auto args = command.tryGet<CancelArgs>()) return runCancel(session, *args, global);
  if (auto args = command.tryGet<LogsArgs>()) return runLogs(session, *args, global);
  if (auto args = command.tryGet<QueueListArgs>()) return runQueueList(session, *args, global);
  if (auto args = command.tryGet<QueueSetArgs>()) return runQueueSet(session, *args, global);
  if (auto args = command.tryGet<QueuePauseArgs>()) return runQueuePause(session, *args, global);
  if (auto args = command.tryGet<WatchArgs>()) return runWatch(session, *args, global);
  if (auto args = command.tryGet<ScheduleAddArgs>()) return runScheduleAdd(session, *args, global);
  if (auto args = command.tryGet<ScheduleListArgs>())
    return runScheduleList(session, *args, global);
  if (auto args = command.tryGet<ScheduleRemoveArgs>())
    return runScheduleRemove(session, *args, global);
  if (auto args = command.tryGet<HoldArgs>()) return runHold(session, *args, global);
  if (auto args = command.tryGet<WhyArgs>()) return runWhy(session, *args, global);
  if (auto args = command.tryGet<RerunArgs>()) return runRerun(session, *args, global);
  if (auto args = command.tryGet<EditArgs>()) return runEdit(session, *args, global);
  if (auto args = command.tryGet<DrainArgs>()) return runDrain(session, *args, global);
  if (auto args = command.tryGet<UpdateArgs>()) return runUpdate(session, *args, global);
  if (auto args = command.tryGet<PauseArgs>()) return runPause(session, *args, global);
  // help, --version and progress are answered before a session exists.
  KJ_UNREACHABLE;
}

// Runs `body`, turning whatever goes wrong in it, at any depth, into one line on stderr and
// taskctl's exit status. Everything `body` built (the session, the event loop) is gone by then.
template <typename Body>
int reportingFailures(Body&& body) {
  try {
    return body();
  } catch (Failure& failure) {
    writeError(failure.message);
    return failure.status;
  } catch (kj::Exception& exception) {
    auto failure = failureFrom(exception);
    writeError(failure.message);
    return failure.status;
  }
}

kj::Maybe<kj::StringPtr> fromEnvironment(const char* name) {
  const char* value = getenv(name);
  if (value == nullptr) return nullptr;
  return kj::StringPtr(value);
}

int taskctlMain(kj::ArrayPtr<const kj::StringPtr> args) {
  // Read the command line. A mistake the client can see by itself never reaches the daemon.
  auto parsed = parseArgs(args);
  if (parsed.is<UsageError>()) {
    auto& error = parsed.get<UsageError>();
    if (error.showUsage) {
      writeErrorRaw(usageText());
    } else {
      writeError(error.message);
    }
    return EXIT_USAGE;
  }
  auto& invocation = parsed.get<Invocation>();

  // Help and version need no daemon.
  if (invocation.command.is<HelpArgs>()) {
    return reportingFailures([] {
      writeOut(usageText());
      return 0;
    });
  }
  if (invocation.command.is<VersionArgs>()) {
    return reportingFailures([&] {
      writeOut(
          kj::str("taskctl ", TASKCTL_VERSION, " (schema revision ", rpc::SCHEMA_REVISION, ")\n"));
      // The daemon's too, when one answers; without one this is a note, not a failure.
      auto socketPath = resolveSocketPath(invocation.global, fromEnvironment("TASKCTL_SOCKET"));
      kj::Maybe<kj::String> problem;
      try {
        auto io = kj::setupAsyncIo();
        Session session(io, socketPath);
        auto reply = session.answer(session.daemon().versionRequest().send());
        writeOut(kj::str("taskctld ", reply.getDaemonVersion(), " (schema revision ",
                         reply.getSchemaRevision(), ")\n"));
      } catch (Failure& failure) {
        problem = kj::mv(failure.message);
      } catch (kj::Exception& exception) {
        if (exception.getType() == kj::Exception::Type::UNIMPLEMENTED) {
          problem = kj::str("taskctld is older than schema revision 2 (it has no version())");
        } else {
          problem = kj::str(failureFrom(exception).message);
        }
      }
      KJ_IF_MAYBE (p, problem) {
        writeError(kj::str("the daemon's version is unknown: ", *p));
      }
      return 0;
    });
  }

  // A task's progress goes to the notify socket of its attempt, not through taskctld's socket.
  if (invocation.command.is<ProgressArgs>()) {
    return reportingFailures([&] {
      return runProgress(invocation.command.get<ProgressArgs>(), fromEnvironment("NOTIFY_SOCKET"));
    });
  }

  // Everything else is the daemon's to answer: connect to it, run the command, and exit with
  // what the command says.
  auto socketPath = resolveSocketPath(invocation.global, fromEnvironment("TASKCTL_SOCKET"));
  return reportingFailures([&] {
    auto io = kj::setupAsyncIo();
    Session session(io, socketPath);
    return run(session, invocation);
  });
}

}  // namespace
}  // namespace taskctl

int main(int argc, char* argv[]) {
  auto args = kj::heapArrayBuilder<const kj::StringPtr>(argc > 0 ? argc - 1 : 0);
  for (int i = 1; i < argc; i++) args.add(argv[i]);
  return taskctl::taskctlMain(args.finish());
}
