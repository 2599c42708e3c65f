#include "commands.h"

#include <errno.h>
#include <kj/async-unix.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/units.h"
#include "log-lines.h"
#include "output.h"
#include "render.h"

namespace taskctl {

namespace {

using WaitReply = capnp::Response<rpc::Taskctl::WaitResults>;

// The logs RPC hands out at most this much per call: enough to stream fast, small enough that
// no reply strains the traversal limit.
constexpr uint32_t LOG_SLICE_BYTES = 1024 * 1024;

// Tasks asked for per `list` call. The daemon may send fewer (it keeps a reply far below the
// message limit whatever the tasks hold); more per call would save little.
constexpr uint32_t LIST_PAGE_TASKS = 1000;

// getcwd(3) without a length limit. The task runs in the directory the user is in, so not
// knowing it is an error rather than something to guess.
kj::Array<char> currentDirectory() {
  for (size_t size = 4096;; size *= 2) {
    auto buffer = kj::heapArray<char>(size);
    if (getcwd(buffer.begin(), size) != nullptr) {
      return kj::heapArray<char>(buffer.begin(), strlen(buffer.begin()));
    }
    if (errno != ERANGE) {
      throw Failure{EXIT_REJECTED, kj::str("cannot read the current directory: ", strerror(errno))};
    }
  }
}

// The process umask, which can only be read by setting it.
uint32_t currentUmask() {
  mode_t mask = umask(0);
  umask(mask);
  return mask;
}

}  // namespace

namespace {

// What a command is read with, as a submit sends it: the environment (when asked for), the
// directory and the umask of the caller.
void fillCallerContext(spec::TaskSpec::Builder spec, bool withEnvironment) {
  if (withEnvironment) {
    // The whole environment goes; the daemon drops what must not reach a task (DESIGN 8). Only
    // an entry that is not NAME=VALUE stays behind: no program can read it as a variable, and
    // the daemon refuses a task that carries one.
    auto isVariable = [](const char* entry) {
      const char* eq = strchr(entry, '=');
      return eq != nullptr && eq != entry;
    };
    size_t count = 0;
    for (char** entry = environ; *entry != nullptr; entry++) count += isVariable(*entry);
    auto env = spec.initEnv(count);
    size_t i = 0;
    for (char** entry = environ; *entry != nullptr; entry++) {
      if (isVariable(*entry)) env.set(i++, kj::StringPtr(*entry).asBytes());
    }
  }
  spec.setCwd(currentDirectory().asBytes());
  spec.setUmask(currentUmask());
}

}  // namespace

void fillSubmitRequest(rpc::SubmitRequest::Builder request, const SubmitArgs& args,
                       bool withEnvironment) {
  request.setSpec(args.spec.asReader());
  fillCallerContext(request.getSpec(), withEnvironment);
}

namespace {

// Waits for the task `submit --wait` just created. Ctrl-C ends the wait, not the task: the id is
// already on stdout, and the user is told how to pick the wait up again.
int waitForSubmitted(Session& session, uint64_t id, const GlobalOptions& global) {
  // Captured only now: a Ctrl-C before the id was printed still kills taskctl the usual way.
  kj::UnixEventPort::captureSignal(SIGINT);
  auto request = session.daemon().waitRequest();
  request.setId(id);
  auto finished =
      request.send().then([](WaitReply&& reply) -> kj::Maybe<WaitReply> { return kj::mv(reply); });
  auto interrupted = session.io().unixEventPort.onSignal(SIGINT).then(
      [](siginfo_t) -> kj::Maybe<WaitReply> { return nullptr; });

  kj::Maybe<WaitReply> outcome = session.await(finished.exclusiveJoin(kj::mv(interrupted)));
  KJ_IF_MAYBE (reply, outcome) {
    auto task = reply->getTask();
    if (global.json) writeOut(taskJson(task, false));
    return exitStatusOf(task);
  }
  writeError(kj::str("task ", id, " keeps running; reattach with: taskctl wait ", id));
  return EXIT_INTERRUPTED;
}

using LogsReply = capnp::Response<rpc::Taskctl::LogsResults>;

// A reply to a follow call, however long it takes. A daemon that goes away meanwhile (a restart)
// ends `logs -f` with 69 and a line that says so.
LogsReply awaitFollowed(Session& session, kj::Promise<LogsReply>&& reply, uint64_t id) {
  try {
    return session.await(kj::mv(reply));
  } catch (kj::Exception& exception) {
    auto failure = failureFrom(exception);
    if (exception.getType() == kj::Exception::Type::DISCONNECTED) {
      failure.message = kj::str("lost the connection to taskctld while following the log of task ",
                                id, " (was taskctld restarted?)");
    }
    throw kj::mv(failure);
  }
}

// `logs -f`: asks with follow set, from where the last reply ended, and writes what comes, until
// the daemon says the attempt has ended. Each call returns at once when there is output and
// otherwise waits in the daemon for output or the end, so this neither polls nor gives up (like
// `wait`, it waits as long as the attempt runs). An empty reply that has not ended means "ask
// again". It stays with the attempt it started on: a retry is another log.
int followLog(Session& session, const LogsArgs& args, kj::Maybe<LogLines&> json) {
  uint32_t attempt = args.attempt;
  uint64_t offset = 0;
  // Consecutive replies with nothing in them. A daemon keeps them rare (it answers empty when the
  // attempt ends or the log changed under it); one that ignores `follow` answers empty at once,
  // every time, and must not make us spin: past a few in a row, each next call waits a little,
  // up to a second.
  uint32_t emptyReplies = 0;
  for (;;) {
    if (emptyReplies > 3) {
      auto pause = kj::min(int64_t(10) << kj::min(emptyReplies - 4, 7u), int64_t(1000));
      session.await(session.io().provider->getTimer().afterDelay(pause * kj::MILLISECONDS));
    }
    auto request = session.daemon().logsRequest();
    request.setId(args.id);
    request.setAttempt(attempt);
    request.setOffset(offset);
    request.setMaxBytes(LOG_SLICE_BYTES);
    request.setFollow(true);
    auto reply = awaitFollowed(session, request.send(), args.id);
    // Attempt 0 ("the latest") before the task has any attempt comes back as 0: keep asking for
    // the latest until there is one, then stay with it.
    attempt = reply.getAttempt();
    auto data = reply.getData();
    KJ_IF_MAYBE (lines, json) {
      writeOut(lines->add(attempt, offset, data));
      if (reply.getEnded()) writeOut(lines->end());
    } else {
      writeOut(data);
    }
    if (reply.getEnded()) return 0;
    emptyReplies = data.size() == 0 ? emptyReplies + 1 : 0;
    // Past a cut of the log (logs.max_bytes) the daemon starts again lower, at the marked cut.
    offset = reply.getNextOffset();
  }
}

// `logs --json`: as runLogs() below, each line an object (log-lines.h).
int runLogsJson(Session& session, const LogsArgs& args) {
  LogLines lines;
  uint32_t attempt = args.attempt;
  uint64_t offset = 0;
  for (;;) {
    auto request = session.daemon().logsRequest();
    request.setId(args.id);
    request.setAttempt(attempt);
    request.setOffset(offset);
    request.setMaxBytes(LOG_SLICE_BYTES);
    auto reply = session.answer(request.send());
    attempt = reply.getAttempt();
    auto data = reply.getData();
    if (data.size() == 0) break;
    writeOut(lines.add(attempt, offset, data));
    if (reply.getNextOffset() <= offset) break;
    offset = reply.getNextOffset();
  }
  writeOut(lines.end());
  return 0;
}

}  // namespace

int runSubmit(Session& session, const SubmitArgs& args, const GlobalOptions& global) {
  auto request = session.daemon().submitRequest();
  fillSubmitRequest(request.initRequest(), args, true);
  uint64_t id = session.answer(request.send()).getId();
  // The id alone, in --json too (a bare number is a JSON document), so `id=$(taskctl submit ...)`
  // works either way. With --key K --on-conflict skip and K held, the daemon answers with the
  // holder's id and creates nothing, and with a --request-id it has seen, the first task's id:
  // both are printed (and waited for) like a new one. `submit --wait --json` prints one document,
  // the task once it has ended (its id is in it); the id goes to stderr meanwhile, for a person.
  if (args.wait && global.json) {
    writeError(kj::str("submitted task ", id));
  } else {
    writeOut(kj::str(id, '\n'));
  }
  if (!args.wait) return 0;
  return waitForSubmitted(session, id, global);
}

int runRerun(Session& session, const RerunArgs& args, const GlobalOptions& global) {
  auto request = session.daemon().rerunRequest();
  request.setId(args.id);
  // Only what was given: the daemon keeps the old task's env, cwd and umask, and the rest of
  // its spec, and takes from `overrides` the fields `fields` names.
  request.setOverrides(args.submit.spec.asReader());
  auto fields = request.initFields(args.submit.given.size());
  for (auto i : kj::indices(args.submit.given)) fields.set(i, args.submit.given[i]);
  uint64_t id = session.answer(request.send()).getId();
  if (args.submit.wait) {
    // As `submit --wait`: with --json, one document (the task once ended), the id on stderr.
    if (global.json) {
      writeError(kj::str("submitted task ", id));
    } else {
      writeOut(kj::str(id, '\n'));
    }
    return waitForSubmitted(session, id, global);
  }
  if (!global.json) {
    writeOut(kj::str(id, '\n'));
    return 0;
  }
  // --json: the new task, as `status --json` shows it (its id and rerun_of in it).
  auto status = session.daemon().statusRequest();
  status.setId(id);
  auto reply = session.answer(status.send());
  writeOut(taskJson(reply.getTask(), false, reply.getLastSeq()));
  return 0;
}

int runEdit(Session& session, const EditArgs& args, const GlobalOptions& global) {
  auto request = session.daemon().editRequest();
  request.setId(args.id);
  request.setOverrides(args.submit.spec.asReader());
  kj::Vector<kj::StringPtr> fields;
  fields.addAll(args.submit.given);
  bool newCommand = false;
  for (auto field : fields) newCommand = newCommand || field == "argv";
  if (newCommand) {
    // A new command comes with the environment, directory and umask it is typed in, as a
    // submit's does; but only into the caller's own task: root editing alice's task must not
    // hand her its environment (secrets) or a directory she cannot enter.
    auto status = session.daemon().statusRequest();
    status.setId(args.id);
    if (session.answer(status.send()).getTask().getUid() == getuid()) {
      fillCallerContext(request.getOverrides(), true);
      fields.add("env");
      fields.add("cwd");
      fields.add("umask");
    } else {
      writeError(kj::str("the new command runs with task ", args.id,
                         "'s environment and directory (the task is not yours)"));
    }
  }
  auto list = request.initFields(fields.size());
  for (auto i : kj::indices(fields)) list.set(i, fields[i]);
  auto reply = session.answer(request.send());
  auto task = reply.getTask();
  // --json: the task as it is now, as `status --json` shows it; else nothing (as hold).
  if (global.json) writeOut(taskJson(task, false));
  return 0;
}

int runStatus(Session& session, const StatusArgs& args, const GlobalOptions& global) {
  auto request = session.daemon().statusRequest();
  request.setId(args.id);
  request.setWithEnv(args.withEnv);
  auto reply = session.answer(request.send());
  auto task = reply.getTask();
  writeOut(global.json ? taskJson(task, args.withEnv, reply.getLastSeq())
                       : statusText(task, args.withEnv));
  return 0;
}

int runList(Session& session, const ListArgs& args, const GlobalOptions& global) {
  // Page after page until the daemon has no more (a reply is one message, at most 8 MiB). The
  // JSON array goes out a page at a time; the table once every row is in, since each column is
  // as wide as its widest cell.
  ListTable table(outputWidth());
  TasksJsonStream json;
  uint64_t lastSeq = 0;  // the first page's, for every task: nothing after it is missed
  uint64_t after = 0, through = 0;
  for (bool first = true;; first = false) {
    auto request = session.daemon().listRequest();
    auto filter = request.initFilter();
    filter.setState(args.state);
    filter.setQueue(args.queue);
    auto labels = filter.initLabels(args.labels.size());
    for (size_t i = 0; i < args.labels.size(); i++) {
      labels[i].setKey(args.labels[i].key);
      labels[i].setValue(args.labels[i].value);
    }
    filter.setAllUsers(args.allUsers);
    filter.setLimit(args.limit);
    request.setPageSize(LIST_PAGE_TASKS);
    request.setAfter(after);
    request.setThrough(through);
    auto reply = session.answer(request.send());
    if (first) lastSeq = reply.getLastSeq();
    if (global.json) {
      auto tasks = KJ_MAP(task, reply.getTasks()) { return task; };
      writeOut(json.page(tasks, lastSeq));
    } else {
      for (auto task : reply.getTasks()) table.add(task);
    }
    // A daemon older than paging sends everything at once, and `more` reads as false.
    if (!reply.getMore()) break;
    if (!first && reply.getNextCursor() <= after) {
      throw Failure{EXIT_UNAVAILABLE, kj::str("taskctld's list did not move on from task ", after)};
    }
    after = reply.getNextCursor();
    if (first) through = reply.getThrough();
  }
  if (global.json) {
    writeOut(json.end());
  } else {
    table.write([](kj::ArrayPtr<const char> piece) { writeOut(piece.asBytes()); });
  }
  return 0;
}

int runWait(Session& session, const WaitArgs& args, const GlobalOptions& global) {
  // All waits go out at once on the one connection. The first that fails (an unknown id) ends
  // the command at once instead of after the others have finished.
  auto failed = kj::newPromiseAndFulfiller<kj::Array<WaitReply>>();
  auto& failure = *failed.fulfiller;
  auto done = kj::heapArray<bool>(args.ids.size());  // which waits have answered (--timeout)
  for (auto& d : done) d = false;
  auto waits = KJ_MAP(i, kj::indices(args.ids)) {
    auto request = session.daemon().waitRequest();
    request.setId(args.ids[i]);
    // Eager, because joinPromises() looks at its branches only once all are done.
    return request.send()
        .then(
            [&flag = done[i]](WaitReply&& reply) {
              flag = true;
              return kj::mv(reply);
            },
            [&failure](kj::Exception&& exception) -> WaitReply {
              failure.reject(kj::cp(exception));
              rethrow(kj::mv(exception));
            })
        .eagerlyEvaluate(nullptr);
  };
  // --timeout: the timer fails the join as a failed wait would, and says so in `timedOut`.
  bool timedOut = false;
  kj::Maybe<kj::Promise<void>> timer;
  KJ_IF_MAYBE (usec, args.timeoutUsec) {
    timer = session.io()
                .provider->getTimer()
                .afterDelay(*usec * kj::MICROSECONDS)
                .then([&failure, &timedOut]() {
                  timedOut = true;
                  failure.reject(KJ_EXCEPTION(OVERLOADED, "wait timed out"));
                })
                .eagerlyEvaluate(nullptr);
  }
  kj::Array<WaitReply> replies;
  try {
    replies = session.await(kj::joinPromises(kj::mv(waits)).exclusiveJoin(kj::mv(failed.promise)));
  } catch (kj::Exception&) {
    if (!timedOut) throw;
    // Gave up: 75, "try again later", and what each task still is. A task's own exit code can
    // be 75 too: scripts that must tell them apart read `status --json`.
    kj::Vector<kj::String> still;
    for (auto i : kj::indices(args.ids)) {
      if (done[i]) continue;
      auto request = session.daemon().statusRequest();
      request.setId(args.ids[i]);
      auto state = kj::str(session.answer(request.send()).getTask().getState());
      still.add(kj::str("task ", args.ids[i], " is still ", state));
    }
    throw Failure{EXIT_OVERLOADED, kj::str("gave up waiting after ",
                                           formatDurationUsec(KJ_ASSERT_NONNULL(args.timeoutUsec)),
                                           ": ", kj::strArray(still, ", "))};
  }
  timer = nullptr;

  auto tasks = KJ_MAP(reply, replies) { return reply.getTask(); };
  if (global.json) writeOut(tasksJson(tasks));
  for (auto task : tasks) {
    int status = exitStatusOf(task);
    if (status != 0) return status;
  }
  return 0;
}

int runCancel(Session& session, const CancelArgs& args, const GlobalOptions& global) {
  // All cancels go out at once; every one is carried out or refused on its own, and each refusal
  // gets its line. The exit status is that of the first refused, in argument order.
  auto refusals = kj::heapArray<kj::Maybe<kj::Exception>>(args.ids.size());
  auto cancels = kj::heapArrayBuilder<kj::Promise<void>>(args.ids.size());
  for (size_t i = 0; i < args.ids.size(); i++) {
    auto request = session.daemon().cancelRequest();
    request.setId(args.ids[i]);
    cancels.add(request.send().then(
        [](capnp::Response<rpc::Taskctl::CancelResults>&&) {},
        [&refusal = refusals[i]](kj::Exception&& exception) { refusal = kj::mv(exception); }));
  }
  session.answer(kj::joinPromises(cancels.finish()));

  int status = 0;
  for (auto& refusal : refusals) {
    KJ_IF_MAYBE (exception, refusal) {
      auto failure = failureFrom(*exception);
      // A lost connection fails every cancel alike: one line says it.
      if (failure.status == EXIT_UNAVAILABLE) throw kj::mv(failure);
      writeError(failure.message);
      if (status == 0) status = failure.status;
    }
  }
  if (global.json) {
    // One document, as `wait --json`: an array of the tasks cancelled, each read afterwards
    // with its attempts as `status --json` shows it (a refused id has its line on stderr).
    kj::Vector<capnp::Response<rpc::Taskctl::StatusResults>> replies;
    for (size_t i = 0; i < args.ids.size(); i++) {
      if (refusals[i] != nullptr) continue;
      auto request = session.daemon().statusRequest();
      request.setId(args.ids[i]);
      replies.add(session.answer(request.send()));
    }
    auto tasks = KJ_MAP(reply, replies) { return reply.getTask(); };
    writeOut(tasksJson(tasks));
  }
  return status;
}

int runLogs(Session& session, const LogsArgs& args, const GlobalOptions& global) {
  if (args.follow) {
    LogLines lines;
    return followLog(session, args, global.json ? kj::Maybe<LogLines&>(lines) : nullptr);
  }
  if (global.json) return runLogsJson(session, args);
  // Slice by slice until a slice comes back empty: that is the end of the log as it is now.
  uint32_t attempt = args.attempt;
  uint64_t offset = 0;
  for (;;) {
    auto request = session.daemon().logsRequest();
    request.setId(args.id);
    request.setAttempt(attempt);
    request.setOffset(offset);
    request.setMaxBytes(LOG_SLICE_BYTES);
    auto reply = session.answer(request.send());
    // Asked for "the latest", we stay with the attempt the daemon picked, so that a retry
    // starting halfway through never splices two logs together.
    attempt = reply.getAttempt();
    auto data = reply.getData();
    if (data.size() == 0) break;
    writeOut(data);
    if (reply.getNextOffset() <= offset) break;  // a daemon that cannot advance must not loop us
    offset = reply.getNextOffset();
  }
  return 0;
}

}  // namespace taskctl
