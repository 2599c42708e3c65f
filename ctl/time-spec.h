// `submit --at TIME`: a wall-clock time as a person writes it, resolved to an instant.
//
// Pure except for the local time zone, which mktime(3) reads from TZ (tests set TZ and call
// tzset()). The client resolves local time because only it knows which zone its user means; the
// daemon receives an instant.
#pragma once

#include <kj/one-of.h>
#include <kj/string.h>
#include <stdint.h>

namespace taskctl {

// Reads ISO 8601 "YYYY-MM-DDTHH:MM[:SS]" (a space may stand for the T), optionally followed by
// "Z" or a UTC offset "+HH:MM", "-HH:MM" or "+HHMM", and returns it as realtime ns since the
// epoch. Without "Z" or an offset the time is the local time of TZ. A local time that does not
// exist (the hour skipped when the clocks go forward) is refused, and so is one that exists twice
// (the hour repeated when they go back): the message names the offsets to choose from.
//
// On a refusal, the string is the rest of a sentence that starts with "--at ", e.g. "must be a
// time like ..., not 'x'" or "2026-03-29T02:30 does not exist in local time ...".
kj::OneOf<int64_t, kj::String> parseTimeSpec(kj::StringPtr text);

}  // namespace taskctl
