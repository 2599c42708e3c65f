#include "format.h"

#include <kj/debug.h>
#include <kj/vector.h>
#include <time.h>

namespace taskctl {

namespace {

// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's civil_from_days): no
// libc time zone machinery for what is plain arithmetic.
struct Date {
  int64_t year;
  unsigned month, day;
};

Date civilFromDays(int64_t days) {
  days += 719468;
  int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  unsigned dayOfEra = static_cast<unsigned>(days - era * 146097);
  unsigned yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146096) / 365;
  unsigned dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100);
  unsigned mp = (5 * dayOfYear + 2) / 153;
  unsigned day = dayOfYear - (153 * mp + 2) / 5 + 1;
  unsigned month = mp < 10 ? mp + 3 : mp - 9;
  return Date{static_cast<int64_t>(yearOfEra) + era * 400 + (month <= 2), month, day};
}

int64_t floorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

kj::String zeroPad(uint64_t value, size_t width) {
  auto digits = kj::str(value);
  if (digits.size() >= width) return digits;
  return kj::str(kj::repeat('0', width - digits.size()), digits);
}

// One decimal place, rounded: 15 tenths -> "1.5".
kj::String tenths(uint64_t scaledBy10) { return kj::str(scaledBy10 / 10, '.', scaledBy10 % 10); }

bool isSafeShellByte(kj::byte b) {
  return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || b == '_' ||
         b == '@' || b == '%' || b == '+' || b == '=' || b == ':' || b == ',' || b == '.' ||
         b == '/' || b == '-';
}

const char HEX[] = "0123456789abcdef";

// Whether the byte at the start of `bytes` is a terminal hazard or not text: a C0 or C1 control
// character, DEL, or a byte that does not start valid UTF-8. Sets `length` to what to skip.
bool isHazard(kj::ArrayPtr<const kj::byte> bytes, size_t& length) {
  length = utf8SequenceLength(bytes);
  kj::byte b = bytes[0];
  if (length == 0) {
    length = 1;
    return true;
  }
  if (length == 1) return b < 0x20 || b == 0x7f;
  return length == 2 && b == 0xc2 && bytes[1] < 0xa0;  // C1 controls steer terminals too
}

bool needsHexEscape(kj::ArrayPtr<const kj::byte> bytes) {
  for (size_t i = 0, length; i < bytes.size(); i += length) {
    if (isHazard(bytes.slice(i, bytes.size()), length)) return true;
  }
  return false;
}

// Copies `bytes` to `out`: text as it is, but each byte listed in `backslashed` after a
// backslash, and each hazard as \xHH.
void appendEscaped(kj::Vector<char>& out, kj::ArrayPtr<const kj::byte> bytes,
                   kj::StringPtr backslashed) {
  for (size_t i = 0, length; i < bytes.size(); i += length) {
    if (isHazard(bytes.slice(i, bytes.size()), length)) {
      for (auto b : bytes.slice(i, i + length)) {
        out.add('\\');
        out.add('x');
        out.add(HEX[b >> 4]);
        out.add(HEX[b & 0xf]);
      }
    } else {
      if (length == 1 && backslashed.findFirst(bytes[i]) != nullptr) out.add('\\');
      out.addAll(bytes.slice(i, i + length).asChars());
    }
  }
}

kj::String finishString(kj::Vector<char>& out) {
  out.add('\0');
  return kj::String(out.releaseAsArray());
}

}  // namespace

kj::String isoTimeUtc(int64_t ns) {
  int64_t usec = floorDiv(ns, 1000);
  int64_t seconds = floorDiv(usec, 1000000);
  int64_t days = floorDiv(seconds, 86400);
  int64_t secondOfDay = seconds - days * 86400;
  Date date = civilFromDays(days);
  return kj::str(zeroPad(date.year, 4), '-', zeroPad(date.month, 2), '-', zeroPad(date.day, 2), 'T',
                 zeroPad(secondOfDay / 3600, 2), ':', zeroPad(secondOfDay / 60 % 60, 2), ':',
                 zeroPad(secondOfDay % 60, 2), '.', zeroPad(usec - seconds * 1000000, 6), 'Z');
}

kj::String localTime(int64_t ns) {
  time_t seconds = static_cast<time_t>(floorDiv(ns, 1000000000));
  struct tm tm;
  if (localtime_r(&seconds, &tm) == nullptr) return isoTimeUtc(ns);
  char buffer[64];
  size_t n = strftime(buffer, sizeof(buffer), "%Y-%m-%d %H:%M:%S", &tm);
  return kj::heapString(buffer, n);
}

kj::String humanDuration(uint64_t usec) {
  if (usec < 10'000'000) {
    // Short runs are what people compare: keep milliseconds.
    uint64_t ms = (usec + 500) / 1000;
    return kj::str(ms / 1000, '.', zeroPad(ms % 1000, 3), 's');
  }
  if (usec < 60'000'000) return kj::str(tenths((usec + 50'000) / 100'000), 's');
  uint64_t seconds = (usec + 500'000) / 1'000'000;
  if (seconds < 3600) return kj::str(seconds / 60, 'm', zeroPad(seconds % 60, 2), 's');
  uint64_t minutes = seconds / 60;
  if (minutes < 24 * 60) return kj::str(minutes / 60, 'h', zeroPad(minutes % 60, 2), 'm');
  uint64_t hours = minutes / 60;
  return kj::str(hours / 24, 'd', zeroPad(hours % 24, 2), 'h');
}

kj::String humanBytes(uint64_t bytes) {
  if (bytes < 1024) return kj::str(bytes, " B");
  static constexpr const char* UNITS[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes) / 1024;
  size_t unit = 0;
  // Step up while the rounded tenths would print four digits before the point.
  while (unit + 1 < kj::size(UNITS) && value * 10 + 0.5 >= 10240) {
    value /= 1024;
    unit++;
  }
  return kj::str(tenths(static_cast<uint64_t>(value * 10 + 0.5)), ' ', UNITS[unit]);
}

kj::String shellQuote(kj::ArrayPtr<const kj::byte> word) {
  if (word.size() > 0) {
    bool safe = true;
    for (auto b : word) safe = safe && isSafeShellByte(b);
    if (safe) return kj::heapString(word.asChars());
  }
  kj::Vector<char> out(word.size() + 8);
  if (needsHexEscape(word)) {
    // bash's $'...': backslash escapes work inside, so \xHH can carry any byte.
    out.addAll("$'"_kj);
    appendEscaped(out, word, "\\'");
  } else {
    // Plain single quotes; a quote inside becomes '\'' (close, escaped quote, reopen).
    out.add('\'');
    for (auto b : word) {
      if (b == '\'') {
        out.addAll("'\\''"_kj);
      } else {
        out.add(static_cast<char>(b));
      }
    }
  }
  out.add('\'');
  return finishString(out);
}

kj::String printable(kj::ArrayPtr<const kj::byte> text) {
  // Backslashes are doubled so that a literal "\x07" in the text differs from an escape.
  kj::Vector<char> out(text.size());
  appendEscaped(out, text, "\\");
  return finishString(out);
}

size_t utf8SequenceLength(kj::ArrayPtr<const kj::byte> bytes) {
  if (bytes.size() == 0) return 0;
  kj::byte b = bytes[0];
  if (b < 0x80) return 1;
  size_t length;
  kj::byte low = 0x80, high = 0xbf;  // the range of the second byte
  if (b >= 0xc2 && b <= 0xdf) {
    length = 2;
  } else if (b >= 0xe0 && b <= 0xef) {
    length = 3;
    if (b == 0xe0) low = 0xa0;   // overlong
    if (b == 0xed) high = 0x9f;  // UTF-16 surrogates
  } else if (b >= 0xf0 && b <= 0xf4) {
    length = 4;
    if (b == 0xf0) low = 0x90;   // overlong
    if (b == 0xf4) high = 0x8f;  // past U+10FFFF
  } else {
    return 0;  // a continuation byte, or a lead byte of an overlong or too large sequence
  }
  if (bytes.size() < length || bytes[1] < low || bytes[1] > high) return 0;
  for (size_t i = 2; i < length; i++) {
    if (bytes[i] < 0x80 || bytes[i] > 0xbf) return 0;
  }
  return length;
}

size_t displayWidth(kj::StringPtr text) {
  size_t width = 0;
  for (char c : text) {
    if ((static_cast<kj::byte>(c) & 0xc0) != 0x80) width++;
  }
  return width;
}

kj::String truncateToWidth(kj::StringPtr text, size_t width) {
  if (displayWidth(text) <= width) return kj::heapString(text);
  if (width < 3) return kj::str(kj::repeat('.', width));
  size_t keep = width - 3;
  size_t i = 0;
  size_t seen = 0;
  for (; i < text.size(); i++) {
    if ((static_cast<kj::byte>(text[i]) & 0xc0) != 0x80) {
      if (seen == keep) break;
      seen++;
    }
  }
  return kj::str(text.slice(0, i), "...");
}

}  // namespace taskctl
