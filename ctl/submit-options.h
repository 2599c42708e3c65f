// The values of submit's scheduling options (--after, --retry-on, --backoff, --key,
// --request-id), each read on its own. Pure; a refusal is a whole message for a person, naming
// the option, which args.c++ turns into a usage error (64).
#pragma once

#include <kj/one-of.h>
#include <kj/string.h>
#include <kj/vector.h>

#include "args.h"

namespace taskctl {

// --after ID[:ok|any|failed]: run once task `id` has ended that way.
struct DependencyArg {
  uint64_t id;
  spec::DependencyCondition condition;
};

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

// --memory-grow F / --timeout-grow F and their maxima (RetryPolicy): 0 where not given.
struct RetryGrowth {
  double memoryFactor = 0;
  uint64_t memoryMaxBytes = 0;
  double timeoutFactor = 0;
  uint64_t timeoutMaxUsec = 0;
};

// A growth factor: a decimal above 1 and at most spec::MAX_GROW_FACTOR, with an optional `x`
// ("2x", "1.5x", "3"). Returns a refusal naming `option`.
kj::OneOf<double, kj::String> parseGrowFactor(kj::StringPtr option, kj::StringPtr text);

// The policy `--retries N` asks for: the conditions listed, if any. Without --retry-on none is
// set, and the daemon retries on its default ones (DESIGN 6: a non-zero exit, a timeout, a missed
// heartbeat); it alone decides that default.
void setRetryPolicy(spec::RetryPolicy::Builder policy, uint32_t retries,
                    kj::Maybe<const RetryConditions&> conditions, kj::Maybe<Backoff> backoff,
                    const RetryGrowth& growth = {});

// --key and --request-id: 1 to spec::MAX_KEY_BYTES bytes of UTF-8 text with no control
// characters. Returns a refusal naming `option`, or nullptr.
kj::Maybe<kj::String> checkIdentifier(kj::StringPtr option, kj::StringPtr text);

// --on-conflict: replace, skip or queue.
kj::Maybe<spec::KeyConflict> parseKeyConflict(kj::StringPtr text);

}  // namespace taskctl
