// Writing a whole file so that a reader (or a machine crash) sees either the
// old file or the new one, never a part: the shim's result files and the
// daemon's schedule units both need it.
#pragma once

#include <kj/array.h>
#include <kj/string.h>
#include <sys/types.h>

namespace taskctl {

void writeFileAtomically(kj::StringPtr path, kj::ArrayPtr<const kj::byte> bytes, mode_t mode);
// `<path>.tmp` (created with `mode` whatever the umask, replacing a leftover),
// every byte, fsync, rename over `path`, fsync the directory: when it returns
// the file survives a crash of the machine. Throws on any failure, after
// removing the temporary.

void syncDirectoryOf(kj::StringPtr path);
// fsync of the directory holding `path`: makes a rename into it durable.

}  // namespace taskctl
