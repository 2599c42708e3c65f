// Small text helpers for taskctl's human output and JSON: times, durations, sizes, quoting.
//
// Pure functions (local time aside, which reads TZ), each unit-tested.
#pragma once

#include <kj/array.h>
#include <kj/string.h>
#include <stdint.h>

namespace taskctl {

// A realtime timestamp (ns since the epoch, as in rpc.capnp) as ISO 8601 UTC with microseconds:
// "2026-11-25T09:50:24.123456Z". Python's datetime.fromisoformat() reads it (3.11+).
kj::String isoTimeUtc(int64_t ns);

// The same instant for a person: local time to the second, "2026-11-25 10:50:24".
kj::String localTime(int64_t ns);

// A duration for a person: "0.004s", "12.3s", "2m03s", "1h02m", "3d04h".
kj::String humanDuration(uint64_t usec);

// A byte count for a person: "512 B", "1.5 KiB", "12.3 MiB".
kj::String humanBytes(uint64_t bytes);

// One word of a command line as a shell would need it to get the same bytes back: as it is
// when that is safe, else in single quotes, else (control characters, invalid UTF-8) as bash's
// $'...' with \xHH escapes. Also keeps terminal escape sequences off the screen.
kj::String shellQuote(kj::ArrayPtr<const kj::byte> word);

// Free text from the daemon or a task (messages, labels) made safe for a terminal: control
// characters and invalid UTF-8 become \xHH (and a backslash becomes \\).
kj::String printable(kj::ArrayPtr<const kj::byte> text);
inline kj::String printable(kj::StringPtr text) { return printable(text.asBytes()); }

// The length of the valid UTF-8 sequence that starts `bytes`, or 0 if it does not start with one
// (a stray continuation byte, an overlong form, a surrogate, a code point past U+10FFFF, or a
// sequence cut short).
size_t utf8SequenceLength(kj::ArrayPtr<const kj::byte> bytes);

// The number of code points in valid UTF-8 text: its width on a terminal, near enough.
size_t displayWidth(kj::StringPtr text);

// `text` cut to at most `width` code points, ending in "..." when it was cut.
kj::String truncateToWidth(kj::StringPtr text, size_t width);

}  // namespace taskctl
