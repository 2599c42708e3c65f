// An attempt's log as the shim writes it: appends that keep the file under
// a cap by dropping its oldest part (DESIGN section 6, "Output").
#pragma once

#include <kj/array.h>
#include <kj/io.h>
#include <kj/string.h>
#include <stdint.h>
#include <string.h>

namespace taskctl {

class CappedLog {
 public:
  CappedLog(kj::AutoCloseFd fd, kj::StringPtr path, uint64_t maxBytes, uint64_t minFreeBytes = 0);
  // Takes over `fd`, the log at `path` opened O_RDWR | O_APPEND (the shim
  // opened it as root, in a directory the user cannot write, so nobody else
  // writes it or its `<path>.tmp`). `maxBytes` is the cap, 0 for none; a cap
  // below MIN_MAX_BYTES is raised to it, so that a cut always has room for
  // its marker and some output. `minFreeBytes` is the reserve of free space
  // on the log's filesystem, 0 for none: see write().

  static constexpr uint64_t MIN_MAX_BYTES = 4096;

  bool capped() const { return maxBytes > 0; }

  void write(kj::ArrayPtr<const kj::byte> data);
  // Appends `data`. When the file would grow past the cap, cuts first: the
  // file at `path` is replaced (written as `<path>.tmp`, then swapped in with
  // one rename; no fsync, a log is not a record) by a marker line
  //   [taskctl: N bytes of earlier output dropped]
  // followed by the newest maxBytes / 2 bytes of the old file and `data`
  // (from the start of a line if one starts within their first 4 KiB). N
  // counts every byte this log dropped so far. The file then never exceeds
  // the cap and always ends with the latest output; a cut halves it, so cuts
  // are rare. A reader that held the old file open keeps the old inode.
  //
  //
  // The reserve: while the filesystem has less than minFreeBytes free (for
  // unprivileged users: statvfs f_bavail), output is dropped instead of
  // written or cut (a cut needs room for its copy), and counted in
  // droppedBytes(). The drop is marked where it starts,
  //   [taskctl: output dropped: less than M bytes free on the log's filesystem]
  // and, if space comes back, where it ends:
  //   [taskctl: N bytes of output dropped for lack of disk space]
  // so a full disk costs a task its output, never its result or the store.
  //
  // Never throws: the shim must go on draining the command's output and
  // write the result whatever the disk does. Output that cannot be written
  // is lost, and firstError() says why.

  uint64_t droppedBytes() const { return dropped; }
  // The bytes of output no longer in the file: cut, or lost to an error.

  kj::Maybe<kj::StringPtr> firstError() const;
  // Why a write or a cut first failed, for the shim's diagnostics; null if
  // none did.

 private:
  kj::AutoCloseFd file;
  kj::String path;
  uint64_t maxBytes;
  uint64_t size = 0;        // of the file, as this object wrote it
  uint64_t markerSize = 0;  // the marker line the file starts with, or 0
  uint64_t dropped = 0;
  uint64_t minFreeBytes;
  bool starved = false;       // dropping output below the reserve
  uint64_t starvedBytes = 0;  // dropped since the reserve was reached
  kj::Maybe<kj::String> error;

  bool belowReserve();
  void append(kj::ArrayPtr<const kj::byte> data);

  bool cut(kj::ArrayPtr<const kj::byte> data);
  template <typename... Params>
  void fail(int errorNumber, Params&&... what) {
    // errno first, before anything here can change it.
    if (error == nullptr) error = kj::str(kj::fwd<Params>(what)..., ": ", strerror(errorNumber));
  }
};

}  // namespace taskctl
