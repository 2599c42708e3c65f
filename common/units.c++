#include "common/units.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

namespace taskctl {
namespace {

// A decimal number at the front of `text`: its value and where it ends.
bool readNumber(const char*& p, double& value) {
  // Plain decimals only: strtod would also take "0x10" and "1e3".
  const char* start = p;
  bool digits = false, dot = false;
  for (; (*p >= '0' && *p <= '9') || (*p == '.' && !dot); p++) {
    if (*p == '.')
      dot = true;
    else
      digits = true;
  }
  if (!digits) {
    p = start;
    return false;
  }
  value = strtod(kj::heapString(start, p - start).cStr(), nullptr);
  return isfinite(value);
}

}  // namespace

kj::Maybe<uint64_t> parseDurationUsec(kj::StringPtr text) {
  struct Unit {
    const char* name;
    double usec;
  };
  static const Unit UNITS[] = {{"us", 1},      {"ms", 1e3},      {"s", 1e6},     {"sec", 1e6},
                               {"m", 60e6},    {"min", 60e6},    {"h", 3600e6},  {"hr", 3600e6},
                               {"d", 86400e6}, {"day", 86400e6}, {"w", 604800e6}};
  const char* p = text.cStr();
  while (*p == ' ') p++;
  if (*p == 0) return nullptr;
  double total = 0;
  bool bare = true;
  while (*p != 0) {
    double value;
    if (!readNumber(p, value)) return nullptr;
    const char* start = p;
    while ((*p >= 'a' && *p <= 'z')) p++;
    kj::String unit = kj::heapString(start, p - start);
    if (unit.size() == 0) {
      if (*p != 0 || !bare) return nullptr;  // a bare number only on its own
      total += value * 1e6;
      break;
    }
    bare = false;
    bool found = false;
    for (auto& u : UNITS) {
      if (unit == u.name) {
        total += value * u.usec;
        found = true;
      }
    }
    if (!found) return nullptr;
    while (*p == ' ') p++;
  }
  if (total > 1e18) return nullptr;
  return static_cast<uint64_t>(total + 0.5);
}

kj::Maybe<uint64_t> parseBytes(kj::StringPtr text) {
  const char* p = text.cStr();
  double value;
  if (!readNumber(p, value)) return nullptr;
  double scale = 1;
  switch (*p) {
    case 0:
      break;
    case 'K':
    case 'k':
      scale = 1024.0;
      p++;
      break;
    // Either case, as `k` already was: `512m` is read as `512M`, never as milli (issue 15).
    case 'M':
    case 'm':
      scale = 1024.0 * 1024;
      p++;
      break;
    case 'G':
    case 'g':
      scale = 1024.0 * 1024 * 1024;
      p++;
      break;
    case 'T':
    case 't':
      scale = 1024.0 * 1024 * 1024 * 1024;
      p++;
      break;
    default:
      return nullptr;
  }
  if (*p == 'i') p++;  // "MiB" reads like "M"
  if (*p == 'B') p++;
  if (*p != 0) return nullptr;
  double bytes = value * scale;
  if (bytes > 1e18) return nullptr;
  return static_cast<uint64_t>(bytes + 0.5);
}

kj::Maybe<uint64_t> parseCpuQuotaPerSecUsec(kj::StringPtr text) {
  if (!text.endsWith("%")) return nullptr;
  auto number = kj::heapString(text.slice(0, text.size() - 1));
  const char* p = number.cStr();
  double percent;
  if (!readNumber(p, percent) || *p != 0 || percent <= 0 || percent > 100000) return nullptr;
  return static_cast<uint64_t>(percent * 10000 + 0.5);
}

kj::String formatDurationUsec(uint64_t usec) {
  if (usec < 1000) return kj::str(usec, "us");
  if (usec < 1000000) return kj::str(usec / 1000, "ms");
  uint64_t s = usec / 1000000;
  if (usec % 1000000 != 0 && s < 60) {
    char buf[32];
    snprintf(buf, sizeof(buf), "%.3gs", usec / 1e6);
    return kj::str(buf);
  }
  kj::String out;
  uint64_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60, sec = s % 60;
  if (d) out = kj::str(out, d, "d");
  if (h) out = kj::str(out, h, "h");
  if (m) out = kj::str(out, m, "min");
  if (sec || out.size() == 0) out = kj::str(out, sec, "s");
  return out;
}

kj::String formatCpuQuota(uint64_t usecPerSec) {
  if (usecPerSec % 10000 == 0) return kj::str(usecPerSec / 10000, "%");
  char buffer[32];
  snprintf(buffer, sizeof(buffer), "%g%%", usecPerSec / 10000.0);
  return kj::str(buffer);
}

kj::String formatBytes(uint64_t bytes) {
  static const char* SUFFIX[] = {"", "K", "M", "G", "T"};
  double value = bytes;
  int i = 0;
  while (value >= 1024 && i < 4) {
    value /= 1024;
    i++;
  }
  char buf[32];
  if (value == floor(value)) {
    snprintf(buf, sizeof(buf), "%.0f%s", value, SUFFIX[i]);
  } else {
    snprintf(buf, sizeof(buf), "%.1f%s", value, SUFFIX[i]);
  }
  return kj::str(buf);
}

kj::Maybe<double> parseProgressFraction(kj::StringPtr text) {
  bool percent = text.endsWith("%");
  auto number = percent ? text.slice(0, text.size() - 1) : text.asArray();
  // Digits with at most one point, as an integer over a power of ten, so that "0.3" is the double
  // nearest 0.3. Decimals past the 15th add nothing a person meant and are dropped.
  uint64_t mantissa = 0;
  double divisor = 1;
  int decimals = 0;
  bool point = false;
  bool digits = false;
  for (char c : number) {
    if (c >= '0' && c <= '9') {
      digits = true;
      if (!point) {
        mantissa = mantissa * 10 + (c - '0');
        if (mantissa > 1000) return nullptr;  // far out of range, and no overflow
      } else if (decimals < 15) {
        mantissa = mantissa * 10 + (c - '0');
        divisor *= 10;
        decimals++;
      }
    } else if (c == '.' && !point) {
      point = true;
    } else {
      return nullptr;
    }
  }
  double value = static_cast<double>(mantissa) / divisor;
  if (!digits) return nullptr;
  if (percent) value /= 100;
  if (value > 1) return nullptr;
  return value;
}

}  // namespace taskctl
