// The taskctl command line: what the user asked for, parsed without touching the daemon.
//
// Parsing is pure (no environment, no I/O) so that every usage error is a unit test: a mistake
// the client can see on its own never costs a round trip, and always exits 64 (DESIGN 8).
#pragma once

#include <capnp/message.h>
#include <kj/memory.h>
#include <kj/one-of.h>
#include <kj/string.h>
#include <kj/vector.h>
#include <stdint.h>

#include <variant>

#include "common/units.h"  // parseProgressFraction, shared with the daemon
#include "task-spec.capnp.h"

namespace taskctl {

// Options every command accepts, wherever they appear before the command's own arguments.
struct GlobalOptions {
  kj::Maybe<kj::String> socket;  // --socket PATH
  bool json = false;             // --json: machine-readable output
};

struct LabelArg {
  kj::String key;
  kj::String value;
};

// submit's options and command as the task they ask for (schema/task-spec.capnp), built directly
// into the spec that is sent: the environment, the directory and the umask are added when it is
// sent (commands.c++), since reading them is not parsing.
struct SubmitArgs {
  kj::Own<capnp::MallocMessageBuilder> message = kj::heap<capnp::MallocMessageBuilder>(256);
  // In `message`, which moves with it. What the user said and nothing more: a limit left out is
  // 0 (the queue's default), no retry policy without --retries, and `--retries N` alone sets no
  // condition (the daemon applies DESIGN 6's default, exit, timeout and heartbeat).
  spec::TaskSpec::Builder spec = message->initRoot<spec::TaskSpec>();
  bool wait = false;
  // The spec's fields an option or the command set, as `rerun` names them (rpc.capnp): "queue",
  // "limits.timeoutUsec", "argv", ... Each once.
  kj::Vector<kj::StringPtr> given;
};

// `rerun ID [submit options] [-- CMD...]`: task ID's spec with the options given on top.
struct RerunArgs {
  uint64_t id;
  SubmitArgs submit;  // its command is empty when none was given
};

// `edit ID [submit options] [-- CMD...]`: task ID, not yet started, changed in place.
struct EditArgs {
  uint64_t id;
  SubmitArgs submit;  // its command is empty when none was given; no --wait, --hold, --request-id
};

struct StatusArgs {
  uint64_t id;
  bool withEnv = false;
};

struct ListArgs {
  kj::String state;             // empty: any
  kj::String queue;             // empty: any
  kj::Vector<LabelArg> labels;  // --label K=V: every one must match
  bool allUsers = false;        // --all-users: everyone's tasks (root and admins)
  uint32_t limit = 0;           // --limit N: only the newest N matches; 0: all
};

struct WaitArgs {
  kj::Array<uint64_t> ids;          // never empty, in argument order
  kj::Maybe<uint64_t> timeoutUsec;  // --timeout DUR: give up (exit 75) after it
};

// `hold ID...` (held) and `release ID...` (not held).
struct HoldArgs {
  kj::Array<uint64_t> ids;  // never empty, in argument order
  bool held;
};

// `pause ID...` (paused) and `resume ID...` (not paused).
struct PauseArgs {
  kj::Array<uint64_t> ids;  // never empty, in argument order
  bool paused;
};

// `why ID`.
struct WhyArgs {
  uint64_t id;
};

struct CancelArgs {
  kj::Array<uint64_t> ids;  // never empty, in argument order
};

struct LogsArgs {
  uint64_t id;
  uint32_t attempt = 0;  // 0: the latest
  bool follow = false;   // -f: until the attempt ends
};

// `watch [--from SEQ] [--progress] [ID...]`.
struct WatchArgs {
  uint64_t from = 0;        // the first seq to show; 0: only what happens from now on
  bool progress = false;    // --progress: also live progress reports
  kj::Array<uint64_t> ids;  // empty: every task the caller may see
};

// `progress FRACTION [TEXT]`, run inside a task: needs no daemon connection, only NOTIFY_SOCKET.
struct ProgressArgs {
  double fraction;             // 0..1 ("40%" reads as 0.4)
  kj::Maybe<kj::String> text;  // one line of UTF-8, sent as STATUS=
};

// `queue list`.
struct QueueListArgs {};

// `queue set Q --concurrency N|default`.
struct QueueSetArgs {
  kj::String name;
  uint32_t concurrency = 0;  // 1..MAX_QUEUE_CONCURRENCY unless useDefault
  bool useDefault = false;   // `default`: back to the daemon's configured value
};

// `queue pause Q` (paused) and `queue resume Q` (not paused).
struct QueuePauseArgs {
  kj::String name;
  bool paused;
};

// `schedule add NAME --on-calendar SPEC [--persistent] [--accuracy DUR] [submit options] -- CMD`.
struct ScheduleAddArgs {
  kj::String name;        // [a-zA-Z0-9_-]{1,64}
  kj::String onCalendar;  // checked by the daemon (systemd's own verdict)
  bool persistent = false;
  uint64_t accuracyUsec = 0;  // 0: systemd's default (1min)
  SubmitArgs submit;  // what each firing submits; no --wait, --in, --at, --after, --request-id
};

// `schedule list`.
struct ScheduleListArgs {};

// `schedule remove NAME [--user USER]`.
struct ScheduleRemoveArgs {
  kj::String name;
  // --user: whose schedule (root and admins may name anyone), as written: a user name or a uid,
  // resolved by the command (resolveUser) since that reads /etc/passwd.
  kj::Maybe<kj::String> user;
};

// `drain [--wait]` (drained) and `undrain` (not drained).
struct DrainArgs {
  bool drained;
  bool wait = false;  // --wait: return once nothing runs
};

// `update ID [--timeout [+]DUR] [--memory SIZE] [--cpu PCT] [--tasks-max N]`: a task's
// limits, live while it runs. At least one option; 0: left as it is.
struct UpdateArgs {
  uint64_t id;
  uint64_t timeoutUsec = 0;
  bool timeoutRelative = false;  // "+1h": added to the current timeout
  uint64_t cpuQuotaPerSecUsec = 0;
  uint64_t memoryMaxBytes = 0;
  uint64_t tasksMax = 0;
};

struct HelpArgs {};
struct VersionArgs {};

// One parsed command. Not a kj::OneOf: that holds at most 20 types (Cap'n Proto 0.9), and
// taskctl has more commands than that.
class CommandArgs {
 public:
  CommandArgs() = default;
  template <typename T>
  CommandArgs(T&& args) : args(kj::fwd<T>(args)) {}

  template <typename T>
  bool is() const {
    return std::holds_alternative<T>(args);
  }
  template <typename T>
  T& get() & {
    return std::get<T>(args);
  }
  template <typename T>
  const T& get() const& {
    return std::get<T>(args);
  }
  template <typename T>
  T get() && {
    return kj::mv(std::get<T>(args));
  }
  // The command's arguments if it is a T, else null.
  template <typename T>
  const T* tryGet() const {
    return std::get_if<T>(&args);
  }

 private:
  std::variant<HelpArgs, VersionArgs, SubmitArgs, StatusArgs, ListArgs, WaitArgs, CancelArgs,
               LogsArgs, ProgressArgs, QueueListArgs, QueueSetArgs, QueuePauseArgs, WatchArgs,
               ScheduleAddArgs, ScheduleListArgs, ScheduleRemoveArgs, HoldArgs, WhyArgs, RerunArgs,
               EditArgs, DrainArgs, UpdateArgs, PauseArgs>
      args;
};

struct Invocation {
  GlobalOptions global;
  CommandArgs command;
};

// A command line the client refuses by itself (exit 64). `showUsage` is set when the best answer
// is the whole usage text (no arguments at all) rather than one line.
struct UsageError {
  kj::String message;
  bool showUsage = false;
};

// Parses argv[1..]. Never throws for bad input: a mistake comes back as a UsageError.
kj::OneOf<Invocation, UsageError> parseArgs(kj::ArrayPtr<const kj::StringPtr> args);

// The full usage text, ending in a newline.
kj::StringPtr usageText();

// The socket to use: --socket, else $TASKCTL_SOCKET when set and non-empty, else the system one.
kj::String resolveSocketPath(const GlobalOptions& global, kj::Maybe<kj::StringPtr> envSocket);

// The largest `queue set --concurrency`.
constexpr uint32_t MAX_QUEUE_CONCURRENCY = 10000;

constexpr kj::StringPtr DEFAULT_SOCKET = "/run/taskctl/taskctl.sock"_kj;

// Strict decimal parsers: digits only (an optional sign for the signed one), no spaces, no
// overflow. They are here because ids, priorities and attempt numbers are all parsed alike.
kj::Maybe<uint64_t> parseUnsigned(kj::StringPtr text);
kj::Maybe<int64_t> parseSigned(kj::StringPtr text);

}  // namespace taskctl
