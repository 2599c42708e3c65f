// taskctl's stdout and stderr.
//
// Output is written with write(2) straight away, unbuffered: `submit` must have printed its id
// before it starts waiting, and `logs` streams megabytes without holding them.
#pragma once

#include <kj/array.h>
#include <kj/string.h>

namespace taskctl {

// Writes all of `bytes` to stdout. If the reader has gone (EPIPE, as with `| head`), taskctl ends
// the way cat(1) does, by SIGPIPE; any other error throws Failure (EXIT_IO).
void writeOut(kj::ArrayPtr<const kj::byte> bytes);
inline void writeOut(kj::StringPtr text) { writeOut(text.asBytes()); }

// Writes "taskctl: <message>\n" to stderr; errors writing it are ignored (there is nowhere left
// to report them).
void writeError(kj::StringPtr message);

// Writes `text` to stderr as it is.
void writeErrorRaw(kj::StringPtr text);

// The width to fit a table to: $COLUMNS if set, else the terminal's when stdout is one, else
// none (a pipe or a file gets whole lines).
kj::Maybe<size_t> outputWidth();

}  // namespace taskctl
