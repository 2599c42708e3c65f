#include "scheduler/backoff.h"

namespace taskctl {

uint64_t backoffCeilingUsec(uint64_t baseUsec, uint64_t maxUsec, uint32_t retry) {
  if (baseUsec == 0) baseUsec = DEFAULT_BACKOFF_BASE_USEC;
  if (maxUsec == 0) maxUsec = DEFAULT_BACKOFF_MAX_USEC;
  if (maxUsec < baseUsec) maxUsec = baseUsec;
  uint64_t ceiling = baseUsec;
  for (uint32_t i = 1; i < retry && ceiling < maxUsec; i++) {
    ceiling = ceiling > maxUsec / 2 ? maxUsec : ceiling * 2;
  }
  return ceiling < maxUsec ? ceiling : maxUsec;
}

uint64_t backoffDelayUsec(uint64_t baseUsec, uint64_t maxUsec, uint32_t retry,
                          std::mt19937_64& random) {
  std::uniform_int_distribution<uint64_t> pick(0, backoffCeilingUsec(baseUsec, maxUsec, retry));
  return pick(random);
}

}  // namespace taskctl
