// The values of submit's scheduling options (--after, --retry-on, --backoff, --key,
// --request-id), each read on its own. Pure; a refusal is a whole message for a person, naming
// the option, which args.c++ turns into a usage error (64).
#pragma once

#include <kj/one-of.h>
#include <kj/string.h>
#include <kj/vector.h>

#include "args.h"

namespace taskctl {

// --after: "12" (the same as "12:ok"), "12:ok", "12:any" or "12:failed".
kj::OneOf<DependencyArg, kj::String> parseDependency(kj::StringPtr text);

// What the --retry-on lists of one command line add up to.
struct RetryConditions {
  bool exitAny = false;           // exit:any (wins over listed codes)
  kj::Vector<int32_t> exitCodes;  // exit:1,2: each once, in the order first given
  bool onSignal = false;
  bool onOom = false;
  bool onTimeout = false;
  bool onHeartbeat = false;
  bool onLost = false;
};

// Adds one --retry-on list to `conditions`: comma-separated items, each `exit:any`, `exit:CODE`
// (CODE 1..255; further bare codes may follow as the next items: "exit:1,2,oom"), `signal`,
// `oom`, `timeout`, `heartbeat` or `lost`. Returns a refusal, or nullptr when all was taken.
kj::Maybe<kj::String> addRetryConditions(RetryConditions& conditions, kj::StringPtr list);

// --backoff BASE[,MAX]: durations above zero, MAX not below BASE. Without MAX the daemon's
// maximum (10 min) applies, so a BASE above it needs a MAX.
struct Backoff {
  uint64_t baseUsec;
  uint64_t maxUsec;  // 0: the daemon's default
};
kj::OneOf<Backoff, kj::String> parseBackoff(kj::StringPtr text);

// The policy for `--retries N`: on the listed conditions, or without any `--retry-on` on a
// non-zero exit (any code), a timeout and a missed heartbeat (DESIGN 6).
RetryArgs retryPolicy(uint32_t retries, kj::Maybe<const RetryConditions&> conditions,
                      kj::Maybe<Backoff> backoff);

// --label on submit (and schedule add): the daemon's limits (daemon/scheduler/scheduler.h),
// checked here too so that a mistake costs no round trip.
constexpr size_t MAX_LABELS = 64;
constexpr size_t MAX_LABEL_KEY_BYTES = 128;
constexpr size_t MAX_LABEL_VALUE_BYTES = 1024;

// The longest --key and --request-id, in bytes.
constexpr size_t MAX_IDENTIFIER_BYTES = 256;

// --key and --request-id: 1 to 256 bytes of UTF-8 text with no control characters. Returns a
// refusal naming `option`, or nullptr.
kj::Maybe<kj::String> checkIdentifier(kj::StringPtr option, kj::StringPtr text);

// --on-conflict: replace, skip or queue.
kj::Maybe<spec::KeyConflict> parseKeyConflict(kj::StringPtr text);

}  // namespace taskctl
