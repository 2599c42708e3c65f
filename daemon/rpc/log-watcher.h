// Wakes `logs --follow` callers when an attempt's log grows: one inotify
// watch on the logs directory, held only while someone follows. No polling.
#pragma once

#include <kj/async-unix.h>
#include <kj/io.h>
#include <kj/string.h>

#include <map>
#include <string>

namespace taskctl {

class LogWatcher {
 public:
  // `port` outlives the watcher; `logsDir` holds the logs (created by the runner).
  LogWatcher(kj::UnixEventPort& port, kj::StringPtr logsDir);
  ~LogWatcher() noexcept(false);

  kj::Promise<void> whenChanged(kj::StringPtr fileName);
  // Resolves at the next write to, creation of, or replacement (a cut) of
  // logsDir/fileName. Dropping the promise stops waiting.

  bool watches(kj::StringPtr path) const;
  // Whether `path` is in logsDir (a Slurm attempt's log is on its queue's
  // shared directory instead, where inotify may see nothing: NFS).

 private:
  struct Waiter;
  kj::UnixEventPort& port;
  kj::String logsDir;
  kj::AutoCloseFd inotify;
  kj::UnixEventPort::FdObserver observer;
  int watch = -1;
  std::multimap<std::string, Waiter*> waiters;
  kj::Promise<void> reading = nullptr;

  kj::Promise<void> readEvents();
  void updateWatch();
};

}  // namespace taskctl
