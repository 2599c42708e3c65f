#include "rpc/log-watcher.h"

#include <errno.h>
#include <kj/debug.h>
#include <sys/inotify.h>
#include <unistd.h>

namespace taskctl {

struct LogWatcher::Waiter {
  // Null once the watcher is gone: capnp may destroy a pending call's promise
  // (and this with it) after the server and the watcher are gone.
  LogWatcher* watcher;
  std::multimap<std::string, Waiter*>::iterator position;
  kj::Own<kj::PromiseFulfiller<void>> fulfiller;

  Waiter(LogWatcher& watcher, kj::StringPtr name, kj::Own<kj::PromiseFulfiller<void>> f)
      : watcher(&watcher), fulfiller(kj::mv(f)) {
    position = watcher.waiters.emplace(std::string(name.cStr()), this);
    watcher.updateWatch();
  }
  ~Waiter() {
    if (watcher == nullptr) return;
    watcher->waiters.erase(position);
    watcher->updateWatch();
  }
};

namespace {
int makeInotify() {
  int fd;
  KJ_SYSCALL(fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  return fd;
}
}  // namespace

LogWatcher::LogWatcher(kj::UnixEventPort& port, kj::StringPtr logsDir)
    : port(port),
      logsDir(kj::str(logsDir)),
      inotify(makeInotify()),
      observer(port, inotify.get(), kj::UnixEventPort::FdObserver::OBSERVE_READ) {
  reading = readEvents().eagerlyEvaluate(
      [](kj::Exception&& e) { KJ_LOG(ERROR, "log watcher failed", e.getDescription()); });
}

LogWatcher::~LogWatcher() noexcept(false) {
  for (auto& [name, waiter] : waiters) waiter->watcher = nullptr;
}

void LogWatcher::updateWatch() {
  // Watched only while someone follows: busy logs must not wake an idle daemon.
  if (!waiters.empty() && watch < 0) {
    watch = inotify_add_watch(inotify.get(), logsDir.cStr(),
                              IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE);
    if (watch < 0) KJ_LOG(ERROR, "inotify_add_watch failed", logsDir, strerror(errno));
  } else if (waiters.empty() && watch >= 0) {
    inotify_rm_watch(inotify.get(), watch);
    watch = -1;
  }
}

kj::Promise<void> LogWatcher::whenChanged(kj::StringPtr fileName) {
  auto paf = kj::newPromiseAndFulfiller<void>();
  auto waiter = kj::heap<Waiter>(*this, fileName, kj::mv(paf.fulfiller));
  return paf.promise.attach(kj::mv(waiter));
}

kj::Promise<void> LogWatcher::readEvents() {
  return observer.whenBecomesReadable().then([this]() {
    alignas(struct inotify_event) char buffer[16384];
    for (;;) {  // drain, then arm
      ssize_t n = read(inotify.get(), buffer, sizeof(buffer));
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) break;
        KJ_FAIL_SYSCALL("read(inotify)", errno);
      }
      for (char* p = buffer; p < buffer + n;) {
        auto* event = reinterpret_cast<struct inotify_event*>(p);
        p += sizeof(struct inotify_event) + event->len;
        if (event->len == 0) continue;
        auto range = waiters.equal_range(std::string(event->name));
        for (auto it = range.first; it != range.second; ++it) {
          if (it->second->fulfiller->isWaiting()) it->second->fulfiller->fulfill();
        }
      }
    }
    return readEvents();
  });
}

bool LogWatcher::watches(kj::StringPtr path) const {
  return path.startsWith(logsDir) && path.size() > logsDir.size() && path[logsDir.size()] == '/';
}

}  // namespace taskctl
