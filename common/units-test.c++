#include "common/units.h"

#include <gtest/gtest.h>

namespace taskctl {
namespace {

uint64_t duration(kj::StringPtr s) { return parseDurationUsec(s).orDefault(~0ull); }
uint64_t bytes(kj::StringPtr s) { return parseBytes(s).orDefault(~0ull); }
uint64_t cpu(kj::StringPtr s) { return parseCpuQuotaPerSecUsec(s).orDefault(~0ull); }

TEST(Units, ReadsDurationsAsSystemdDoes) {
  EXPECT_EQ(duration("90"), 90000000u);  // a bare number is seconds (documented in taskctl(1))
  EXPECT_EQ(duration("10"), 10000000u);
  EXPECT_EQ(duration("90s"), 90000000u);
  EXPECT_EQ(duration("10m"), 600000000u);
  EXPECT_EQ(duration("10min"), 600000000u);
  EXPECT_EQ(duration("1h30m"), 5400000000u);
  EXPECT_EQ(duration("500ms"), 500000u);
  EXPECT_EQ(duration("2.5s"), 2500000u);
  EXPECT_EQ(duration("1d"), 86400000000u);
}

TEST(Units, RejectsBadDurations) {
  for (auto bad : {"", "s", "10x", "-5s", "10 20", "1h30", "abc", "1e400s", "0x10", "1e3s", "."}) {
    EXPECT_TRUE(parseDurationUsec(bad) == nullptr) << bad;
  }
}

TEST(Units, ReadsSizesIn1024s) {
  EXPECT_EQ(bytes("512M"), 512u << 20);
  EXPECT_EQ(bytes("20M"), 20u << 20);
  EXPECT_EQ(bytes("1G"), 1u << 30);
  EXPECT_EQ(bytes("1.5K"), 1536u);
  EXPECT_EQ(bytes("4096"), 4096u);
  EXPECT_EQ(bytes("2GiB"), 2ull << 30);
  // The suffix in either case (issue 15: `512m` was refused while `512MB` was taken).
  EXPECT_EQ(bytes("512m"), 512u << 20);
  EXPECT_EQ(bytes("2g"), 2ull << 30);
  EXPECT_EQ(bytes("1t"), 1ull << 40);
  EXPECT_EQ(bytes("1k"), 1024u);
  EXPECT_EQ(bytes("512MB"), 512u << 20);
  for (auto bad : {"", "M", "12Q", "-1M", "1MM"}) EXPECT_TRUE(parseBytes(bad) == nullptr) << bad;
}

TEST(Units, ReadsCpuPercentAsQuotaPerSecond) {
  EXPECT_EQ(cpu("20%"), 200000u);
  EXPECT_EQ(cpu("50%"), 500000u);
  EXPECT_EQ(cpu("200%"), 2000000u);
  for (auto bad : {"", "50", "0%", "-5%", "x%", "%"}) {
    EXPECT_TRUE(parseCpuQuotaPerSecUsec(bad) == nullptr) << bad;
  }
}

TEST(Units, FormatsForPeople) {
  EXPECT_EQ(formatDurationUsec(5400000000u), "1h30min");
  EXPECT_EQ(formatDurationUsec(2500000u), "2.5s");
  EXPECT_EQ(formatDurationUsec(10000000u), "10s");
  EXPECT_EQ(formatDurationUsec(250000u), "250ms");
  EXPECT_EQ(formatBytes(512u << 20), "512M");
  EXPECT_EQ(formatBytes(1536u), "1.5K");
}

}  // namespace
}  // namespace taskctl
