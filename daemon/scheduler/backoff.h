// Exponential backoff with full jitter (the AWS architecture blog's "Full
// Jitter"): retry n waits a uniformly random time in [0, min(max, base*2^(n-1))],
// so a crowd of tasks that failed together does not come back together.
#pragma once

#include <stdint.h>

#include <random>

namespace taskctl {

constexpr uint64_t DEFAULT_BACKOFF_BASE_USEC = 1000000;          // 1 s
constexpr uint64_t DEFAULT_BACKOFF_MAX_USEC = 600ull * 1000000;  // 10 min

uint64_t backoffCeilingUsec(uint64_t baseUsec, uint64_t maxUsec, uint32_t retry);
// min(max, base * 2^(retry-1)) for retry >= 1, without overflow. 0 for base 0
// means the defaults are used: callers pass the stored values as they are.

uint64_t backoffDelayUsec(uint64_t baseUsec, uint64_t maxUsec, uint32_t retry,
                          std::mt19937_64& random);
// A delay in [0, backoffCeilingUsec(...)], uniformly.

}  // namespace taskctl
