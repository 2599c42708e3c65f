#include "time-spec.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <initializer_list>

namespace kj {
// gtest shows kj::String as bytes without this.
inline void PrintTo(const String& text, std::ostream* os) { *os << '"' << text.cStr() << '"'; }
}  // namespace kj

namespace taskctl {
namespace {

constexpr int64_t S = 1'000'000'000;

// Runs each test in a time zone of its own and puts TZ back afterwards.
class TimeSpec : public testing::Test {
 protected:
  void SetUp() override {
    // tzdata must be there: without it Europe/Berlin silently reads as UTC and the DST tests
    // would test nothing.
    ASSERT_EQ(access("/usr/share/zoneinfo/Europe/Berlin", R_OK), 0) << "tzdata is not installed";
    const char* tz = getenv("TZ");
    if (tz != nullptr) saved = kj::str(tz);
  }
  void TearDown() override {
    KJ_IF_MAYBE (tz, saved) {
      setenv("TZ", tz->cStr(), 1);
    } else {
      unsetenv("TZ");
    }
    tzset();
  }

  static void zone(const char* tz) {
    setenv("TZ", tz, 1);
    tzset();
  }

  static int64_t accepted(const char* text) {
    auto result = parseTimeSpec(text);
    if (result.is<kj::String>()) {
      ADD_FAILURE() << text << " refused: " << result.get<kj::String>().cStr();
      return 0;
    }
    return result.get<int64_t>();
  }

  static kj::String refused(const char* text) {
    auto result = parseTimeSpec(text);
    if (result.is<int64_t>()) {
      ADD_FAILURE() << text << " accepted as " << result.get<int64_t>();
      return kj::str();
    }
    return kj::mv(result.get<kj::String>());
  }

 private:
  kj::Maybe<kj::String> saved;
};

TEST_F(TimeSpec, UtcAndOffsetsNeedNoTimeZone) {
  zone("Europe/Berlin");  // ignored when the text says where it is
  EXPECT_EQ(accepted("2026-11-25T14:30Z"), 1795617000 * S);
  EXPECT_EQ(accepted("2026-11-25T14:30:00Z"), 1795617000 * S);
  EXPECT_EQ(accepted("2026-11-25 14:30z"), 1795617000 * S);
  EXPECT_EQ(accepted("2026-11-25t14:30+00:00"), 1795617000 * S);
  EXPECT_EQ(accepted("2026-11-25T14:30+01:00"), 1795613400 * S);
  EXPECT_EQ(accepted("2026-11-25T14:30+0100"), 1795613400 * S);
  EXPECT_EQ(accepted("2026-11-25T14:30:45-05:30"), 1795636845 * S);
  EXPECT_EQ(accepted("2026-11-25T14:30:45-0530"), 1795636845 * S);
  EXPECT_EQ(accepted("2028-02-29T10:00Z"), 1835431200 * S);  // a leap day
}

TEST_F(TimeSpec, LocalTimeInUtcIsUtc) {
  zone("UTC");
  EXPECT_EQ(accepted("2026-11-25T14:30"), 1795617000 * S);
  EXPECT_EQ(accepted("2026-11-25 14:30:00"), 1795617000 * S);
  EXPECT_EQ(accepted("2026-03-29T02:30"), (1774746000 + 5400) * S);  // no gap in UTC
  EXPECT_EQ(accepted("2026-10-25T02:30"), (1792893600 + 1800) * S);  // nor a repeat
}

TEST_F(TimeSpec, LocalTimeFollowsTheZonesSummerAndWinterTime) {
  zone("Europe/Berlin");
  EXPECT_EQ(accepted("2026-11-25T14:30"), 1795613400 * S);     // CET, +01:00
  EXPECT_EQ(accepted("2026-07-01 12:00:00"), 1782900000 * S);  // CEST, +02:00
  // Either side of the spring gap (02:00 to 03:00 does not happen on 2026-03-29).
  EXPECT_EQ(accepted("2026-03-29T01:59:59"), 1774745999 * S);
  EXPECT_EQ(accepted("2026-03-29T03:00"), 1774746000 * S);
  // Either side of the autumn repeat (02:00 to 03:00 happens twice on 2026-10-25).
  EXPECT_EQ(accepted("2026-10-25T01:59"), 1792886340 * S);
  EXPECT_EQ(accepted("2026-10-25T03:00"), 1792893600 * S);
}

TEST_F(TimeSpec, ALocalTimeTheClocksSkipIsRefused) {
  zone("Europe/Berlin");
  EXPECT_EQ(refused("2026-03-29T02:30"),
            "2026-03-29T02:30 does not exist in local time (the clocks skip it); choose another "
            "time or add a UTC offset such as +01:00");
  refused("2026-03-29 02:00");
  refused("2026-03-29T02:59:59");
  // With an offset it is a plain instant.
  EXPECT_EQ(accepted("2026-03-29T02:30+01:00"), (1774746000 + 1800) * S);
}

TEST_F(TimeSpec, ALocalTimeThatHappensTwiceIsRefusedWithBothOffsets) {
  zone("Europe/Berlin");
  EXPECT_EQ(refused("2026-10-25 02:30"),
            "2026-10-25 02:30 happens twice in local time (the clocks go back): add +02:00 for "
            "the first or +01:00 for the second");
  refused("2026-10-25T02:00");
  EXPECT_EQ(accepted("2026-10-25T02:30+02:00"), 1792888200 * S);
  EXPECT_EQ(accepted("2026-10-25T02:30+01:00"), 1792891800 * S);
}

TEST_F(TimeSpec, MalformedTextShowsTheForms) {
  zone("UTC");
  EXPECT_EQ(refused("tomorrow"),
            "must be a time like 2026-11-25T14:30, '2026-11-25 14:30:00' or "
            "2026-11-25T14:30+01:00, not 'tomorrow'");
  for (auto bad : {"",
                   "14:30",
                   "2026-11-25",
                   "2026-11-25T14",
                   "2026-11-25T1430",
                   "26-11-25T14:30",
                   "2026-1-25T14:30",
                   "2026/11/25T14:30",
                   "2026-11-25_14:30",
                   "2026-11-25T14:30:0",
                   "2026-11-25T14:30:00.5",
                   "2026-11-25T14:30 ",
                   " 2026-11-25T14:30",
                   "2026-11-25T14:30+1",
                   "2026-11-25T14:30+01",
                   "2026-11-25T14:30+01:0",
                   "2026-11-25T14:30+01:00:00",
                   "2026-11-25T14:30UTC",
                   "2026-11-25T14:30ZZ",
                   "2026-11-25T14:30 +01:00",
                   "+2026-11-25T14:30",
                   "2026-11-25T-4:30"}) {
    EXPECT_TRUE(refused(bad).startsWith("must be a time like")) << bad;
  }
}

TEST_F(TimeSpec, DatesAndTimesMustBeReal) {
  zone("UTC");
  EXPECT_EQ(refused("2026-02-29T10:00"),
            "2026-02-29T10:00 is not a real date and time (month 1-12, a day the month has, hour "
            "0-23, minute and second 0-59)");
  for (auto bad :
       {"2026-13-01T00:00", "2026-00-10T00:00", "2026-04-31T00:00", "2026-01-00T00:00",
        "2026-11-25T24:00", "2026-11-25T23:60", "2026-11-25T23:59:60", "2100-02-29T00:00Z"}) {
    EXPECT_TRUE(
        refused(bad).endsWith("is not a real date and time (month 1-12, a day the month "
                              "has, hour 0-23, minute and second 0-59)"))
        << bad;
  }
  EXPECT_EQ(accepted("2000-02-29T00:00Z"), 951782400 * S);
  EXPECT_EQ(refused("2026-11-25T14:30+24:00"),
            "2026-11-25T14:30+24:00 has a UTC offset out of range (-23:59 to +23:59)");
  refused("2026-11-25T14:30-00:60");
}

TEST_F(TimeSpec, TimesOutsideWhatTheDaemonCanHoldAreRefused) {
  zone("UTC");
  EXPECT_EQ(refused("1969-12-31T23:59Z"), "1969-12-31T23:59Z is not after 1970-01-01T00:00Z");
  refused("1970-01-01T00:00Z");  // 0 would read as "no time"
  EXPECT_EQ(accepted("1970-01-01T00:00:01Z"), 1 * S);
  EXPECT_EQ(accepted("2262-04-11T23:47:16Z"), 9223372036 * S);
  EXPECT_EQ(refused("2262-04-11T23:47:17Z"), "2262-04-11T23:47:17Z is too far in the future");
  refused("9999-12-31T23:59");
}

}  // namespace
}  // namespace taskctl
