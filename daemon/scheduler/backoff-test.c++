#include "scheduler/backoff.h"

#include <gtest/gtest.h>

#include <limits>

namespace taskctl {
namespace {

// min(max, base * 2^(n-1)), worked out apart from the code under test.
uint64_t expectedCeiling(uint64_t base, uint64_t max, uint32_t retry) {
  if (base == 0) base = DEFAULT_BACKOFF_BASE_USEC;
  if (max == 0) max = DEFAULT_BACKOFF_MAX_USEC;
  if (max < base) max = base;
  if (retry - 1 >= 64) return max;
  unsigned __int128 ceiling = static_cast<unsigned __int128>(base) << (retry - 1);
  return ceiling < max ? static_cast<uint64_t>(ceiling) : max;
}

TEST(Backoff, EveryDelayOfRetryNIsBetweenZeroAndTheCappedDoubling) {
  std::mt19937_64 random(12345);
  const uint64_t base = 250000, max = 60ull * 1000000;  // 250 ms, 1 min
  for (uint32_t n = 1; n <= 40; n++) {
    uint64_t ceiling = expectedCeiling(base, max, n);
    ASSERT_EQ(backoffCeilingUsec(base, max, n), ceiling) << "retry " << n;
    uint64_t lowest = std::numeric_limits<uint64_t>::max(), highest = 0;
    for (int i = 0; i < 5000; i++) {
      uint64_t delay = backoffDelayUsec(base, max, n, random);
      ASSERT_LE(delay, ceiling) << "retry " << n;
      lowest = std::min(lowest, delay);
      highest = std::max(highest, delay);
    }
    // Full jitter: the whole range is used, not only its top or its bottom.
    EXPECT_LT(lowest, ceiling / 10) << "retry " << n;
    EXPECT_GT(highest, ceiling / 10 * 9) << "retry " << n;
  }
}

TEST(Backoff, DoublesFromTheBaseUntilTheMaximum) {
  EXPECT_EQ(backoffCeilingUsec(1000, 100000, 1), 1000u);
  EXPECT_EQ(backoffCeilingUsec(1000, 100000, 2), 2000u);
  EXPECT_EQ(backoffCeilingUsec(1000, 100000, 3), 4000u);
  EXPECT_EQ(backoffCeilingUsec(1000, 100000, 7), 64000u);
  EXPECT_EQ(backoffCeilingUsec(1000, 100000, 8), 100000u);  // 128000 capped
  EXPECT_EQ(backoffCeilingUsec(1000, 100000, 9), 100000u);
}

TEST(Backoff, ZeroMeansOneSecondAndTenMinutes) {
  EXPECT_EQ(backoffCeilingUsec(0, 0, 1), 1000000u);
  EXPECT_EQ(backoffCeilingUsec(0, 0, 2), 2000000u);
  EXPECT_EQ(backoffCeilingUsec(0, 0, 10), 512000000u);
  EXPECT_EQ(backoffCeilingUsec(0, 0, 11), 600000000u);  // 1024 s capped at 10 min
  EXPECT_EQ(backoffCeilingUsec(0, 0, 30), 600000000u);
  // Each zero on its own.
  EXPECT_EQ(backoffCeilingUsec(0, 5000000, 4), 5000000u);    // 8 s capped at 5 s
  EXPECT_EQ(backoffCeilingUsec(3000000, 0, 9), 600000000u);  // 768 s capped at 10 min
  std::mt19937_64 random(7);
  for (int i = 0; i < 1000; i++) EXPECT_LE(backoffDelayUsec(0, 0, 1, random), 1000000u);
}

TEST(Backoff, DoesNotOverflowForLargeRetryNumbers) {
  std::mt19937_64 random(99);
  EXPECT_EQ(backoffCeilingUsec(0, 0, 1000), DEFAULT_BACKOFF_MAX_USEC);
  EXPECT_EQ(backoffCeilingUsec(1000000, 3600ull * 1000000, 1000), 3600ull * 1000000);
  // base * 2^63 and beyond wrap in 64 bits: the ceiling must stay at the maximum.
  const uint64_t huge = std::numeric_limits<uint64_t>::max();
  EXPECT_EQ(backoffCeilingUsec(1000000, huge, 64), huge);
  EXPECT_EQ(backoffCeilingUsec(1000000, huge, 1000), huge);
  EXPECT_EQ(backoffCeilingUsec(1000000, huge, 20), 1000000ull << 19);
  const uint64_t yearUsec = 366ull * 86400 * 1000000;
  EXPECT_EQ(backoffCeilingUsec(yearUsec, yearUsec, 1000), yearUsec);
  for (int i = 0; i < 1000; i++) {
    EXPECT_LE(backoffDelayUsec(0, 0, 1000, random), DEFAULT_BACKOFF_MAX_USEC);
    EXPECT_LE(backoffDelayUsec(yearUsec / 2, yearUsec, 1000, random), yearUsec);
  }
}

}  // namespace
}  // namespace taskctl
