#include "time-spec.h"

#include <string.h>
#include <time.h>

namespace taskctl {

namespace {

constexpr int64_t NS_PER_SECOND = 1'000'000'000;

// A wall-clock time as written, each field as it reads (month 1..12), not yet checked.
struct WallTime {
  int year, month, day, hour, minute, second;
};

// Reads exactly `count` digits at `pos` and moves past them.
bool readDigits(kj::StringPtr text, size_t& pos, size_t count, int& value) {
  if (pos + count > text.size()) return false;
  value = 0;
  for (size_t i = 0; i < count; i++) {
    char c = text[pos + i];
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  pos += count;
  return true;
}

bool readChar(kj::StringPtr text, size_t& pos, kj::StringPtr allowed) {
  if (pos >= text.size() || allowed.findFirst(text[pos]) == nullptr) return false;
  pos++;
  return true;
}

bool isLeapYear(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int daysInMonth(int year, int month) {
  static constexpr int DAYS[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && isLeapYear(year) ? 29 : DAYS[month - 1];
}

bool isReal(const WallTime& time) {
  return time.month >= 1 && time.month <= 12 && time.day >= 1 &&
         time.day <= daysInMonth(time.year, time.month) && time.hour <= 23 && time.minute <= 59 &&
         time.second <= 59;
}

// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's days_from_civil): UTC
// needs no time zone machinery.
int64_t daysFromCivil(int64_t year, unsigned month, unsigned day) {
  year -= month <= 2;
  int64_t era = (year >= 0 ? year : year - 399) / 400;
  unsigned yearOfEra = static_cast<unsigned>(year - era * 400);
  unsigned dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  unsigned dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear;
  return era * 146097 + static_cast<int64_t>(dayOfEra) - 719468;
}

// "+01:00", "-05:30".
kj::String offsetText(long seconds) {
  char sign = seconds < 0 ? '-' : '+';
  long minutes = (seconds < 0 ? -seconds : seconds) / 60 % (24 * 60);
  auto twoDigits = [](long value) { return kj::str(value < 10 ? "0" : "", value); };
  return kj::str(sign, twoDigits(minutes / 60), ':', twoDigits(minutes % 60));
}

// mktime(3) on `time` read as local time with the given tm_isdst (-1: let it decide). Whether
// the fields came back unchanged says whether that reading exists: mktime moves a time that
// does not into the hour after the gap.
struct LocalReading {
  time_t seconds;
  struct tm fields;
  bool exists;
};

LocalReading readLocal(const WallTime& time, int isDst) {
  LocalReading reading;
  memset(&reading.fields, 0, sizeof(reading.fields));
  reading.fields.tm_year = time.year - 1900;
  reading.fields.tm_mon = time.month - 1;
  reading.fields.tm_mday = time.day;
  reading.fields.tm_hour = time.hour;
  reading.fields.tm_min = time.minute;
  reading.fields.tm_sec = time.second;
  reading.fields.tm_isdst = isDst;
  reading.seconds = mktime(&reading.fields);
  auto& f = reading.fields;
  reading.exists = f.tm_year == time.year - 1900 && f.tm_mon == time.month - 1 &&
                   f.tm_mday == time.day && f.tm_hour == time.hour && f.tm_min == time.minute &&
                   f.tm_sec == time.second;
  return reading;
}

kj::OneOf<int64_t, kj::String> resolveLocal(const WallTime& time,
                                            kj::ArrayPtr<const char> written) {
  auto reading = readLocal(time, -1);
  if (!reading.exists) {
    return kj::str(written,
                   " does not exist in local time (the clocks skip it); choose another time or "
                   "add a UTC offset such as +01:00");
  }
  // The other reading of the same wall time, as standard time if this one is summer time and
  // the other way round. Both exist only in the hour the clocks go back, which happens twice.
  auto other = readLocal(time, reading.fields.tm_isdst > 0 ? 0 : 1);
  if (other.exists && other.seconds != reading.seconds) {
    auto& first = reading.seconds < other.seconds ? reading : other;
    auto& second = reading.seconds < other.seconds ? other : reading;
    return kj::str(written, " happens twice in local time (the clocks go back): add ",
                   offsetText(first.fields.tm_gmtoff), " for the first or ",
                   offsetText(second.fields.tm_gmtoff), " for the second");
  }
  return static_cast<int64_t>(reading.seconds);
}

}  // namespace

kj::OneOf<int64_t, kj::String> parseTimeSpec(kj::StringPtr text) {
  auto malformed = [&]() -> kj::OneOf<int64_t, kj::String> {
    return kj::str(
        "must be a time like 2026-11-25T14:30, '2026-11-25 14:30:00' or 2026-11-25T14:30+01:00, "
        "not '",
        text, "'");
  };

  WallTime time{0, 0, 0, 0, 0, 0};
  size_t pos = 0;
  if (!readDigits(text, pos, 4, time.year) || !readChar(text, pos, "-") ||
      !readDigits(text, pos, 2, time.month) || !readChar(text, pos, "-") ||
      !readDigits(text, pos, 2, time.day) || !readChar(text, pos, "Tt ") ||
      !readDigits(text, pos, 2, time.hour) || !readChar(text, pos, ":") ||
      !readDigits(text, pos, 2, time.minute)) {
    return malformed();
  }
  if (readChar(text, pos, ":") && !readDigits(text, pos, 2, time.second)) return malformed();
  auto wall = text.slice(0, pos);

  // What follows: nothing (local time), Z, or an offset east of UTC (+) or west (-).
  bool hasOffset = false;
  int64_t offsetSeconds = 0;
  if (readChar(text, pos, "Zz")) {
    hasOffset = true;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    int64_t sign = text[pos++] == '-' ? -1 : 1;
    int hours, minutes;
    if (!readDigits(text, pos, 2, hours)) return malformed();
    readChar(text, pos, ":");
    if (!readDigits(text, pos, 2, minutes)) return malformed();
    if (hours > 23 || minutes > 59) {
      return kj::str(text, " has a UTC offset out of range (-23:59 to +23:59)");
    }
    hasOffset = true;
    offsetSeconds = sign * (hours * 3600 + minutes * 60);
  }
  if (pos != text.size()) return malformed();

  if (!isReal(time)) {
    return kj::str(text,
                   " is not a real date and time (month 1-12, a day the month has, hour 0-23, "
                   "minute and second 0-59)");
  }

  int64_t seconds;
  if (hasOffset) {
    seconds = daysFromCivil(time.year, time.month, time.day) * 86400 + time.hour * 3600 +
              time.minute * 60 + time.second - offsetSeconds;
  } else {
    auto local = resolveLocal(time, wall);
    if (local.is<kj::String>()) return kj::mv(local);
    seconds = local.get<int64_t>();
  }
  // 0 means "no time" to the daemon, and nanoseconds since 1970 in 64 bits end in 2262.
  if (seconds <= 0) return kj::str(text, " is not after 1970-01-01T00:00Z");
  if (seconds > INT64_MAX / NS_PER_SECOND) return kj::str(text, " is too far in the future");
  return seconds * NS_PER_SECOND;
}

}  // namespace taskctl
