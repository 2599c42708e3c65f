// bench-submit-throughput: durable submits per second through ONE connection to taskctld with a
// fixed number of submit calls in flight (DESIGN 11: >= 20,000/s with 100 in flight).
//
// What it isolates: the submit path (RPC in, validation, staging, the group commit, the reply),
// not execution. It first submits a blocker (a long `sleep`) into a queue whose concurrency
// must be 1, waits until it runs, and only then submits `true` N times into the same queue:
// none of them can start, so the daemon does nothing but store them. At the end it cancels the
// blocker and waits for it to end, so no process outlives the run (the queued `true`s that the
// queue then starts end on their own; the caller stops the daemon and removes its state). The
// blocker is a `sleep` as long as --timeout, so it ends by itself even if the bench dies.
//
// A reply to submit is sent only after the task's record is committed (DESIGN 4), so a
// completed call is a durable submit: submits/s = N / (first send .. last reply).
//
// With --paused the queue is one the caller paused (`taskctl queue pause`): no blocker, any
// concurrency, and the tasks stay queued when it ends (tests/e2e/list-paging.sh fills a store
// with it).

#include <capnp/message.h>
#include <capnp/rpc-twoparty.h>
#include <fcntl.h>
#include <kj/async-io.h>
#include <kj/debug.h>
#include <kj/io.h>
#include <kj/main.h>
#include <kj/time.h>
#include <kj/timer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>

#include "rpc.capnp.h"

namespace taskctl {
namespace {

// One batch of submits: N calls, `inFlight` of them outstanding at any time.
struct Run {
  size_t total;
  size_t issued = 0;
  kj::Array<int64_t> latencyNs;  // per call, send to reply
};

class SubmitBench {
 public:
  explicit SubmitBench(kj::ProcessContext& context) : context(context) {}

  kj::MainFunc getMain() {
    return kj::MainBuilder(context, "taskctl bench",
                           "Measures durable submits/s through one connection to taskctld, "
                           "with a fixed number of submit calls in flight. The queue must have "
                           "concurrency 1 (see bench/run-submit-bench.sh).")
        .addOptionWithArg({'s', "socket"}, KJ_BIND_METHOD(*this, setSocket), "<path>",
                          "taskctld's socket (required)")
        .addOptionWithArg({'n', "count"}, KJ_BIND_METHOD(*this, setCount), "<n>",
                          "submits measured (default 20000)")
        .addOptionWithArg({"in-flight"}, KJ_BIND_METHOD(*this, setInFlight), "<n>",
                          "calls outstanding at once (default 100)")
        .addOptionWithArg({"warmup"}, KJ_BIND_METHOD(*this, setWarmup), "<n>",
                          "submits before measuring, not counted (default 1000)")
        .addOptionWithArg({'q', "queue"}, KJ_BIND_METHOD(*this, setQueue), "<name>",
                          "queue to submit into; its concurrency must be 1 (default bench)")
        .addOptionWithArg({"timeout"}, KJ_BIND_METHOD(*this, setTimeout), "<seconds>",
                          "give up after this long in total (default 300)")
        .addOption({"paused"}, KJ_BIND_METHOD(*this, setPaused),
                   "the queue is paused: submit without a blocker, leave the tasks queued")
        .addOptionWithArg({"daemon-pid"}, KJ_BIND_METHOD(*this, setDaemonPid), "<pid>",
                          "taskctld's pid: also report its CPU time per submit")
        .callAfterParsing(KJ_BIND_METHOD(*this, run))
        .build();
  }

 private:
  kj::ProcessContext& context;
  kj::String socketPath;
  size_t count = 20000;
  size_t inFlight = 100;
  size_t warmup = 1000;
  kj::String queue = kj::str("bench");
  uint timeoutSeconds = 300;
  kj::Maybe<pid_t> daemonPid;
  bool paused = false;

  static kj::Maybe<size_t> parseCount(kj::StringPtr text, size_t min) {
    char* end;
    unsigned long long value = strtoull(text.cStr(), &end, 10);
    if (text.size() == 0 || *end != '\0' || value < min) return nullptr;
    return static_cast<size_t>(value);
  }

  kj::MainBuilder::Validity setSocket(kj::StringPtr path) {
    socketPath = kj::str(path);
    return true;
  }
  kj::MainBuilder::Validity setCount(kj::StringPtr text) {
    KJ_IF_MAYBE (n, parseCount(text, 1)) {
      count = *n;
      return true;
    }
    return "expected a positive integer";
  }
  kj::MainBuilder::Validity setInFlight(kj::StringPtr text) {
    KJ_IF_MAYBE (n, parseCount(text, 1)) {
      inFlight = *n;
      return true;
    }
    return "expected a positive integer";
  }
  kj::MainBuilder::Validity setWarmup(kj::StringPtr text) {
    KJ_IF_MAYBE (n, parseCount(text, 0)) {
      warmup = *n;
      return true;
    }
    return "expected a non-negative integer";
  }
  kj::MainBuilder::Validity setQueue(kj::StringPtr name) {
    queue = kj::str(name);
    return true;
  }
  kj::MainBuilder::Validity setTimeout(kj::StringPtr text) {
    KJ_IF_MAYBE (n, parseCount(text, 1)) {
      timeoutSeconds = *n;
      return true;
    }
    return "expected a positive number of seconds";
  }
  kj::MainBuilder::Validity setPaused() {
    paused = true;
    return true;
  }
  kj::MainBuilder::Validity setDaemonPid(kj::StringPtr text) {
    KJ_IF_MAYBE (n, parseCount(text, 1)) {
      daemonPid = static_cast<pid_t>(*n);
      return true;
    }
    return "expected a pid";
  }

  // CPU time (user + system) a process has used so far, in ns, from /proc/PID/stat: the
  // daemon's cost per submit, which the other load on a shared machine does not change.
  static int64_t processCpuNs(pid_t pid) {
    auto path = kj::str("/proc/", pid, "/stat");
    int fd;
    KJ_SYSCALL(fd = open(path.cStr(), O_RDONLY | O_CLOEXEC), path);
    kj::AutoCloseFd file(fd);
    char buffer[1024];
    ssize_t n;
    KJ_SYSCALL(n = read(fd, buffer, sizeof(buffer) - 1), path);
    buffer[n] = 0;
    // Fields after the command name, which is in parentheses and may hold spaces: state is
    // field 3, utime 14, stime 15.
    const char* p = strrchr(buffer, ')');
    KJ_REQUIRE(p != nullptr, "unreadable", path);
    unsigned long long utime = 0, stime = 0;
    KJ_REQUIRE(
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) == 2,
        "unreadable", path);
    return static_cast<int64_t>((utime + stime) * (1000000000 / sysconf(_SC_CLK_TCK)));
  }

  static int64_t selfCpuNs() {
    struct rusage usage;
    KJ_SYSCALL(getrusage(RUSAGE_SELF, &usage));
    auto ns = [](const struct timeval& tv) {
      return int64_t(tv.tv_sec) * 1000000000 + int64_t(tv.tv_usec) * 1000;
    };
    return ns(usage.ru_utime) + ns(usage.ru_stime);
  }

  // The request every measured call sends: `true` with a small, typical environment, so the
  // stored task record is the size the LMDB bench writes (336 bytes).
  void fillRequest(rpc::SubmitRequest::Builder message, kj::ArrayPtr<const kj::StringPtr> argv) {
    auto request = message.initSpec();
    auto args = request.initArgv(argv.size());
    for (auto i : kj::indices(argv)) args.set(i, argv[i].asBytes());
    kj::StringPtr env[] = {"PATH=/usr/local/bin:/usr/bin:/bin"_kj, "HOME=/root"_kj,
                           "LANG=C.UTF-8"_kj, "USER=root"_kj};
    auto envList = request.initEnv(kj::size(env));
    for (auto i : kj::indices(env)) envList.set(i, env[i].asBytes());
    request.setCwd("/"_kj.asBytes());
    request.setUmask(022);
    request.setQueue(queue);
  }

  // One of the `inFlight` chains: sends a submit, and on its reply the next, until the run has
  // issued all its calls. The chain ends by itself; a failed submit rejects it (and the run).
  kj::Promise<void> lane(rpc::Taskctl::Client& daemon, rpc::SubmitRequest::Reader request,
                         Run& run) {
    if (run.issued == run.total) return kj::READY_NOW;
    size_t index = run.issued++;
    // A size hint, or the message starts with capnp's default 8 KiB segment, zeroed per call.
    auto call = daemon.submitRequest(capnp::MessageSize{request.totalSize().wordCount + 16, 0});
    call.setRequest(request);
    auto& clock = kj::systemPreciseMonotonicClock();
    kj::TimePoint sent = clock.now();
    return call.send().then(
        [this, &daemon, request, &run, index, sent, &clock](auto&&) -> kj::Promise<void> {
          run.latencyNs[index] = (clock.now() - sent) / kj::NANOSECONDS;
          return lane(daemon, request, run);
        });
  }

  kj::Promise<void> submitAll(rpc::Taskctl::Client& daemon, rpc::SubmitRequest::Reader request,
                              Run& run) {
    auto lanes = kj::heapArrayBuilder<kj::Promise<void>>(kj::min(inFlight, run.total));
    for (size_t i = 0; i < lanes.capacity(); i++) lanes.add(lane(daemon, request, run));
    return kj::joinPromises(lanes.finish());
  }

  // Resolves once the blocker runs, so its spawn is not inside the measured window. Polls
  // every 10 ms, at most `triesLeft` times.
  kj::Promise<void> untilRunning(rpc::Taskctl::Client& daemon, kj::Timer& timer, uint64_t id,
                                 uint triesLeft) {
    auto call = daemon.statusRequest();
    call.setId(id);
    return call.send().then([this, &daemon, &timer, id, triesLeft](auto&& reply) {
      auto task = reply.getTask();
      if (task.getState() == "running") return kj::Promise<void>(kj::READY_NOW);
      KJ_REQUIRE(task.getState() == "queued" || task.getState() == "starting",
                 "the blocker did not start; is the queue's concurrency 1?", id, task.getState(),
                 task.getMessage());
      KJ_REQUIRE(triesLeft > 0, "the blocker did not start within 5 s", id);
      return timer.afterDelay(10 * kj::MILLISECONDS).then([this, &daemon, &timer, id, triesLeft]() {
        return untilRunning(daemon, timer, id, triesLeft - 1);
      });
    });
  }

  // Whether every other task of the queue is stuck behind the blocker: counts the queue's
  // running tasks. More than one means the queue's concurrency is not 1, and then the
  // measurement would include executions.
  kj::Promise<void> checkQueueBlocked(rpc::Taskctl::Client& daemon) {
    auto call = daemon.listRequest();
    auto filter = call.initFilter();
    filter.setQueue(queue);
    filter.setState("running");
    return call.send().then([this](auto&& reply) {
      KJ_REQUIRE(reply.getTasks().size() == 1,
                 "more than one task runs in the bench queue: set its concurrency to 1",
                 queue.cStr(), reply.getTasks().size());
    });
  }

  static int64_t percentile(kj::ArrayPtr<const int64_t> sorted, double p) {
    size_t index = static_cast<size_t>(p * (sorted.size() - 1) + 0.5);
    return sorted[index];
  }

  kj::MainBuilder::Validity run() {
    if (socketPath == nullptr) return "--socket is required";

    auto io = kj::setupAsyncIo();
    auto& timer = io.provider->getTimer();
    auto address =
        io.provider->getNetwork().parseAddress(kj::str("unix:", socketPath)).wait(io.waitScope);
    auto stream = address->connect().wait(io.waitScope);
    capnp::TwoPartyClient client(*stream);
    auto daemon = client.bootstrap().castAs<rpc::Taskctl>();

    capnp::MallocMessageBuilder blockerMessage;
    auto blocker = blockerMessage.initRoot<rpc::SubmitRequest>();
    // Long enough to outlast the run, short enough to end by itself if nothing else stops it.
    auto blockerSeconds = kj::str(timeoutSeconds);
    kj::StringPtr blockerArgv[] = {"sleep"_kj, blockerSeconds};
    fillRequest(blocker, blockerArgv);
    capnp::MallocMessageBuilder requestMessage;
    auto request = requestMessage.initRoot<rpc::SubmitRequest>();
    kj::StringPtr trueArgv[] = {"true"_kj};
    fillRequest(request, trueArgv);

    Run warm{warmup, 0, kj::heapArray<int64_t>(warmup)};
    Run measured{count, 0, kj::heapArray<int64_t>(count)};
    uint64_t blockerId = 0;
    auto& clock = kj::systemPreciseMonotonicClock();
    kj::TimePoint start = clock.now(), end = start;
    int64_t daemonCpuStart = 0, daemonCpuEnd = 0, selfCpuStart = 0, selfCpuEnd = 0;

    auto call = daemon.submitRequest();
    call.setRequest(blocker.asReader());
    // Paused: nothing can start, so there is no blocker to submit, check or stop.
    auto blocked = paused ? kj::Promise<void>(kj::READY_NOW) : call.send().then([&](auto&& reply) {
      blockerId = reply.getId();
      return untilRunning(daemon, timer, blockerId, 500);
    });
    auto work = blocked.then([&]() { return submitAll(daemon, request.asReader(), warm); })
                    .then([&]() {
                      return paused ? kj::Promise<void>(kj::READY_NOW) : checkQueueBlocked(daemon);
                    })
                    .then([&]() {
                      KJ_IF_MAYBE (pid, daemonPid) daemonCpuStart = processCpuNs(*pid);
                      selfCpuStart = selfCpuNs();
                      start = clock.now();
                      return submitAll(daemon, request.asReader(), measured);
                    })
                    .then([&]() {
                      end = clock.now();
                      selfCpuEnd = selfCpuNs();
                      KJ_IF_MAYBE (pid, daemonPid) daemonCpuEnd = processCpuNs(*pid);
                      if (paused) return kj::Promise<void>(kj::READY_NOW);
                      // Cancel the blocker and wait until it has ended, so nothing the bench
                      // started outlives the daemon (a running task is stopped with SIGTERM, then
                      // SIGKILL after the daemon's grace period).
                      auto cancel = daemon.cancelRequest();
                      cancel.setId(blockerId);
                      return cancel.send().ignoreResult();
                    })
                    .then([&]() {
                      if (paused) return kj::Promise<void>(kj::READY_NOW);
                      auto wait = daemon.waitRequest();
                      wait.setId(blockerId);
                      return wait.send().ignoreResult();
                    });
    auto deadline = timer.afterDelay(timeoutSeconds * kj::SECONDS).then([this]() {
      KJ_FAIL_REQUIRE("timed out", timeoutSeconds);
    });
    KJ_IF_MAYBE (e, kj::runCatchingExceptions(
                        [&]() { work.exclusiveJoin(kj::mv(deadline)).wait(io.waitScope); })) {
      context.exitError(kj::str("bench-submit-throughput: ", e->getDescription()));
    }

    double seconds = (end - start) / kj::NANOSECONDS / 1e9;
    auto& latency = measured.latencyNs;
    std::sort(latency.begin(), latency.end());
    double perSecond = count / seconds;
    printf("submits %zu in-flight %zu warmup %zu: %.3f s, %.0f durable submits/s\n", count,
           inFlight, warmup, seconds, perSecond);
    printf("per-call latency: p50 %.0f us, p99 %.0f us, max %.0f us\n",
           percentile(latency, 0.50) / 1e3, percentile(latency, 0.99) / 1e3,
           latency[latency.size() - 1] / 1e3);
    // CPU per submit: what a core can carry, whatever else the machine is doing. /proc counts
    // in clock ticks (10 ms), hence N large enough that this is not noise.
    double clientCpuUs = (selfCpuEnd - selfCpuStart) / 1e3 / count;
    double daemonCpuUs = (daemonCpuEnd - daemonCpuStart) / 1e3 / count;
    char daemonCpu[32] = "n/a";
    if (daemonPid != nullptr) snprintf(daemonCpu, sizeof(daemonCpu), "%.1f", daemonCpuUs);
    printf("CPU per submit: client %.1f us, daemon %s us\n", clientCpuUs, daemonCpu);
    // One line for scripts.
    printf(
        "RESULT submit count=%zu in_flight=%zu seconds=%.6f per_sec=%.0f p50_us=%.0f "
        "p99_us=%.0f client_cpu_us=%.1f daemon_cpu_us=%s\n",
        count, inFlight, seconds, perSecond, percentile(latency, 0.50) / 1e3,
        percentile(latency, 0.99) / 1e3, clientCpuUs, daemonCpu);
    fflush(stdout);
    return true;
  }
};

}  // namespace
}  // namespace taskctl

KJ_MAIN(taskctl::SubmitBench)
