// The taskctl command line: what the user asked for, parsed without touching the daemon.
//
// Parsing is pure (no environment, no I/O) so that every usage error is a unit test: a mistake
// the client can see on its own never costs a round trip, and always exits 64 (DESIGN 8).
#pragma once

#include <kj/one-of.h>
#include <kj/string.h>
#include <kj/vector.h>
#include <stdint.h>

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

struct SubmitArgs {
  kj::String queue;  // empty: the daemon's default queue
  int32_t priority = 0;
  kj::Vector<LabelArg> labels;
  bool wait = false;
  // Limits, each above zero when given; 0: not given (the queue's default, which may be none).
  uint64_t timeoutUsec = 0;         // --timeout DURATION
  uint64_t killGraceUsec = 0;       // --kill-grace DURATION
  uint64_t heartbeatUsec = 0;       // --heartbeat DURATION
  uint64_t cpuQuotaPerSecUsec = 0;  // --cpu PERCENT: 500000 for 50% of one CPU
  uint64_t memoryMaxBytes = 0;      // --memory SIZE
  uint64_t tasksMax = 0;            // --tasks-max N
  kj::Array<kj::String> command;    // never empty
};

struct StatusArgs {
  uint64_t id;
  bool withEnv = false;
};

struct ListArgs {
  kj::String state;  // empty: any
  kj::String queue;  // empty: any
};

struct WaitArgs {
  kj::Array<uint64_t> ids;  // never empty, in argument order
};

struct CancelArgs {
  kj::Array<uint64_t> ids;  // never empty, in argument order
};

struct LogsArgs {
  uint64_t id;
  uint32_t attempt = 0;  // 0: the latest
  bool follow = false;   // -f: until the attempt ends
};

// `progress FRACTION [TEXT]`, run inside a task: needs no daemon connection, only NOTIFY_SOCKET.
struct ProgressArgs {
  double fraction;             // 0..1 ("40%" reads as 0.4)
  kj::Maybe<kj::String> text;  // one line of UTF-8, sent as STATUS=
};

struct HelpArgs {};
struct VersionArgs {};

using CommandArgs = kj::OneOf<HelpArgs, VersionArgs, SubmitArgs, StatusArgs, ListArgs, WaitArgs,
                              CancelArgs, LogsArgs, ProgressArgs>;

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

constexpr kj::StringPtr DEFAULT_SOCKET = "/run/taskctl/taskctl.sock"_kj;

// Strict decimal parsers: digits only (an optional sign for the signed one), no spaces, no
// overflow. They are here because ids, priorities and attempt numbers are all parsed alike.
kj::Maybe<uint64_t> parseUnsigned(kj::StringPtr text);
kj::Maybe<int64_t> parseSigned(kj::StringPtr text);

// A progress fraction as `taskctl progress` takes it: a plain decimal from 0 to 1 ("0.4", "1",
// ".25") or a percentage from 0% to 100% ("40%", "12.5%"). No signs, exponents or spaces.
kj::Maybe<double> parseProgressFraction(kj::StringPtr text);

}  // namespace taskctl
