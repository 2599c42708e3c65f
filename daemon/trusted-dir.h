// The directories taskctld keeps its files in (state, socket, notify): ours
// alone, or the daemon does not start. Root writes, truncates and chmods files
// in them; if another user could create one of them first, or rename or
// replace it or one of its parents, that user could point root at any file
// on the machine (a symlink named `lock`, `logs/7-1.log`, `notify`) or read
// what root writes there (another user's logs).
#pragma once

#include <kj/io.h>
#include <kj/string.h>
#include <sys/types.h>

namespace taskctl {

kj::AutoCloseFd openTrustedDir(kj::StringPtr what, kj::StringPtr path, mode_t mode);
// Opens the directory `path` (O_DIRECTORY, no symlink followed at the open
// itself), creating it and any missing parent first, and returns its fd for
// openat. `what` names it in errors ("state directory"). Throws, naming the
// path and the reason, unless:
//
//   - the directory is owned by our effective uid and not writable by group
//     or others (any mode bits otherwise: 0700, 0755);
//   - every directory above it up to / is owned by root or by us and not
//     writable by group or others, except a sticky one (/tmp) whose entry on
//     the path is owned by root or by us: nobody else can rename or delete it;
//   - a symlink on the path lies in such a directory (so only root or we put
//     it there); it is followed, and its target is checked the same way.
//
// A directory it creates gets `mode` (parents 0755) whatever the umask, by
// fchmod on the fd just opened; an existing one is never chmodded.
// A relative path is taken from the current directory.

}  // namespace taskctl
