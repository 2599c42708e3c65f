#include "capped-log.h"

#include <errno.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

namespace taskctl {
namespace {

// How far into the kept part a cut looks for the start of a line.
constexpr size_t LINE_SEARCH_BYTES = 4096;

// Bytes moved per read when a cut copies the old file's tail.
constexpr size_t COPY_CHUNK = 256 << 10;

// Writes all of `data` at the end of `fd` (O_APPEND). Returns how much was
// written: less than all on an error, left in errno.
size_t writeAll(int fd, kj::ArrayPtr<const kj::byte> data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.begin() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;
      break;
    }
    done += n;
  }
  return done;
}

// pread of exactly `size` bytes; false on an error or a file shorter than asked.
bool readAllAt(int fd, kj::byte* buffer, size_t size, uint64_t offset) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = pread(fd, buffer + done, size - done, offset + done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;  // it shrank under us
      return false;
    }
    done += n;
  }
  return true;
}

}  // namespace

CappedLog::CappedLog(kj::AutoCloseFd fd, kj::StringPtr path, uint64_t maxBytes,
                     uint64_t minFreeBytes)
    : file(kj::mv(fd)),
      path(kj::heapString(path)),
      maxBytes(maxBytes == 0 ? 0 : kj::max(maxBytes, MIN_MAX_BYTES)),
      minFreeBytes(minFreeBytes) {
  // An existing file (a log the shim appends to) counts towards the cap.
  struct stat info;
  if (fstat(file, &info) == 0) size = info.st_size;
}

kj::Maybe<kj::StringPtr> CappedLog::firstError() const {
  KJ_IF_MAYBE (e, error) {
    return e->asPtr();
  }
  return nullptr;
}

bool CappedLog::belowReserve() {
  if (minFreeBytes == 0) return false;
  struct statvfs info;
  // Unknown free space is not a reason to drop output.
  if (fstatvfs(file, &info) < 0) return false;
  // f_bavail, not f_bfree: what is left once the root-only reserve is gone,
  // so the store and results (written as root) keep that too.
  return uint64_t(info.f_bavail) * info.f_frsize < minFreeBytes;
}

void CappedLog::write(kj::ArrayPtr<const kj::byte> data) {
  if (data.size() == 0) return;
  if (belowReserve()) {
    if (!starved) {
      starved = true;
      starvedBytes = 0;
      // The reserve is there for the store and results; this line is small.
      auto marker = kj::str("\n[taskctl: output dropped: less than ", minFreeBytes,
                            " bytes free on the log's filesystem]\n");
      append(marker.asBytes());
    }
    starvedBytes += data.size();
    dropped += data.size();
    return;
  }
  if (starved) {
    starved = false;
    auto marker =
        kj::str("[taskctl: ", starvedBytes, " bytes of output dropped for lack of disk space]\n");
    append(marker.asBytes());
  }
  append(data);
}

void CappedLog::append(kj::ArrayPtr<const kj::byte> data) {
  if (!capped() || size + data.size() <= maxBytes) {
    size_t written = writeAll(file, data);
    if (written < data.size()) {
      fail(errno, "cannot write to the log ", path);
      dropped += data.size() - written;
    }
    size += written;
    return;
  }
  if (!cut(data)) dropped += data.size();  // the cap holds: the old file stays as it was
}

bool CappedLog::cut(kj::ArrayPtr<const kj::byte> data) {
  // The output as one stream: the file's bytes, then `data`. Keep its last
  // half cap, from the start of a line if one starts soon enough.
  uint64_t total = size + data.size();
  uint64_t keep = maxBytes / 2;
  uint64_t from = total - keep;
  auto scratch = kj::heapArray<kj::byte>(kj::min(uint64_t(COPY_CHUNK), keep));

  // Reads stream bytes [offset, offset + length) into scratch.
  auto readStream = [&](uint64_t offset, size_t length) -> bool {
    size_t fromFile = 0;
    if (offset < size) {
      fromFile = kj::min(uint64_t(length), size - offset);
      if (!readAllAt(file, scratch.begin(), fromFile, offset)) return false;
    }
    if (fromFile < length) {
      uint64_t start = offset + fromFile - size;
      memcpy(scratch.begin() + fromFile, data.begin() + start, length - fromFile);
    }
    return true;
  };

  // At most half the kept part is skipped, so a cut never empties the log.
  size_t window = kj::min(uint64_t(LINE_SEARCH_BYTES), keep / 2);
  if (!readStream(from, window)) {
    fail(errno, "cannot read the log ", path, " to cut it");
    return false;
  }
  auto newline = memchr(scratch.begin(), '\n', window);
  if (newline != nullptr) from += static_cast<kj::byte*>(newline) - scratch.begin() + 1;

  // The file began with the previous cut's marker, which is not output.
  KJ_ASSERT(from >= markerSize);
  uint64_t droppedNow = dropped + (from - markerSize);
  auto marker = kj::str("[taskctl: ", droppedNow, " bytes of earlier output dropped]\n");

  auto tmpPath = kj::str(path, ".tmp");
  int tmpFd;
  do {
    tmpFd =
        open(tmpPath.cStr(), O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
  } while (tmpFd < 0 && errno == EINTR);
  if (tmpFd < 0) {
    fail(errno, "cannot create ", tmpPath, " to cut the log");
    return false;
  }
  kj::AutoCloseFd tmp(tmpFd);
  auto abandon = [&](kj::StringPtr what) {
    fail(errno, what, " ", tmpPath, " to cut the log");
    unlink(tmpPath.cStr());
    return false;
  };

  // The old file's permissions, not 0600 under the shim's umask.
  struct stat info;
  if (fstat(file, &info) < 0 || fchmod(tmp, info.st_mode & 07777) < 0) {
    return abandon("cannot set the permissions of");
  }
  if (writeAll(tmp, marker.asBytes()) < marker.size()) return abandon("cannot write");
  for (uint64_t offset = from; offset < size; offset += scratch.size()) {
    size_t length = kj::min(uint64_t(scratch.size()), size - offset);
    if (!readStream(offset, length)) return abandon("cannot copy the log's tail to");
    if (writeAll(tmp, scratch.slice(0, length)) < length) return abandon("cannot write");
  }
  auto fresh = data.slice(from > size ? from - size : 0, data.size());
  if (writeAll(tmp, fresh) < fresh.size()) return abandon("cannot write");
  // Exchanged rather than renamed over: a rename over an existing file has
  // ext4 (auto_da_alloc) allocate and write back the new file at once, for
  // every cut, on output that the next cut may drop unwritten. A
  // filesystem without the exchange gets the plain rename.
  if (renameat2(AT_FDCWD, tmpPath.cStr(), AT_FDCWD, path.cStr(), RENAME_EXCHANGE) == 0) {
    unlink(tmpPath.cStr());  // the old log; if it stays, the next cut reuses the name
  } else if (rename(tmpPath.cStr(), path.cStr()) < 0) {
    return abandon("cannot rename");
  }

  file = kj::mv(tmp);
  markerSize = marker.size();
  size = markerSize + (total - from);
  dropped = droppedNow;
  return true;
}

}  // namespace taskctl
