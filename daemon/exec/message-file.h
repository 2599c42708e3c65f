// One Cap'n Proto message held whole in a file: the spec memfd the daemon
// hands the shim, and the result file the shim leaves behind.
#pragma once

#include <capnp/message.h>
#include <kj/memory.h>

namespace taskctl {

kj::Own<capnp::MessageReader> readMessageFile(int fd, size_t maxBytes);
// Reads all of `fd` from offset 0, whatever its file offset (the offset is
// neither used nor moved), as one unpacked message in the framing that
// capnp::writeMessageToFd produces. The returned reader owns a word-aligned
// copy of the bytes; `fd` may be closed at once. Throws when the file cannot
// be read, is empty, larger than `maxBytes`, or not a message; fields are
// checked lazily by capnp as they are read.

}  // namespace taskctl
