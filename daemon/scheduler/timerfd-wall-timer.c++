#include "scheduler/timerfd-wall-timer.h"

#include <errno.h>
#include <kj/debug.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

namespace taskctl {

namespace {

int createTimerfd() {
  int fd;
  KJ_SYSCALL(fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC));
  return fd;
}

kj::Date realtimeNow() {
  struct timespec ts;
  KJ_SYSCALL(clock_gettime(CLOCK_REALTIME, &ts));
  return kj::UNIX_EPOCH + ts.tv_sec * kj::SECONDS + ts.tv_nsec * kj::NANOSECONDS;
}

}  // namespace

TimerfdWallTimer::TimerfdWallTimer(kj::UnixEventPort& port)
    : fd(createTimerfd()),
      observer(port, fd, kj::UnixEventPort::FdObserver::OBSERVE_READ),
      // A new timerfd is disarmed and unreadable: waiting for the first edge
      // without a read first is safe.
      watching(watch().eagerlyEvaluate([this](kj::Exception&& e) {
        // Only an unexpected read() error gets here. Fail the waiter and every
        // later call rather than leave a deadline that never comes.
        KJ_LOG(ERROR, "wall-clock timer stopped", e);
        KJ_IF_MAYBE (f, pending) {
          (*f)->reject(kj::cp(e));
        }
        pending = nullptr;
        broken = kj::mv(e);
      })) {}

kj::Promise<void> TimerfdWallTimer::atOrAfter(kj::Date when) {
  KJ_IF_MAYBE (e, broken) {
    return kj::cp(*e);
  }
  uint64_t id = ++generation;
  KJ_IF_MAYBE (f, pending) {
    // Its owner should have dropped it already; if not, it learns why it
    // will never resolve.
    (*f)->reject(KJ_EXCEPTION(FAILED, "wall-clock wait replaced by a newer one"));
  }
  pending = nullptr;

  if (when <= realtimeNow()) {
    disarm();
    return kj::READY_NOW;
  }
  // Arming resets the expiration count, so an expiry of the deadline this
  // one replaces, not read yet, cannot resolve it.
  arm(when);
  auto paf = kj::newPromiseAndFulfiller<void>();
  pending = kj::mv(paf.fulfiller);
  return paf.promise.attach(kj::defer([this, id]() {
    // A replaced promise may be dropped after its successor was armed
    // (`wait = timer.atOrAfter(next)` calls, then drops the old one): only
    // the latest call owns the timerfd.
    if (id != generation) return;
    pending = nullptr;
    disarm();
  }));
}

kj::Promise<void> TimerfdWallTimer::watch() {
  return observer.whenBecomesReadable().then([this]() {
    // Drain, then wait for the next edge in the same turn.
    drain();
    return watch();
  });
}

void TimerfdWallTimer::drain() {
  for (;;) {
    uint64_t expirations;
    ssize_t n;
    KJ_SYSCALL_HANDLE_ERRORS(n = ::read(fd, &expirations, sizeof(expirations))) {
      case EAGAIN:
        // Nothing (left) to read: a spurious wakeup, or a deadline replaced
        // after it expired.
        return;
      case ECANCELED:
        // The clock was set while armed: the deadline may have come, or moved
        // further away. The caller re-reads the clock and calls again.
        fire();
        continue;
      default:
        KJ_FAIL_SYSCALL("read(timerfd)", error);
    }
    KJ_ASSERT(n == sizeof(expirations));
    fire();
  }
}

void TimerfdWallTimer::fire() {
  KJ_IF_MAYBE (f, pending) {
    (*f)->fulfill();
  }
  pending = nullptr;
}

void TimerfdWallTimer::arm(kj::Date when) {
  int64_t nsec = (when - kj::UNIX_EPOCH) / kj::NANOSECONDS;
  struct itimerspec spec = {};
  spec.it_value.tv_sec = nsec / 1000000000;
  spec.it_value.tv_nsec = nsec % 1000000000;
  KJ_SYSCALL(timerfd_settime(fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &spec, nullptr));
}

void TimerfdWallTimer::disarm() {
  // Runs in a promise's destructor: log, never throw.
  struct itimerspec zero = {};
  KJ_SYSCALL_HANDLE_ERRORS(timerfd_settime(fd, 0, &zero, nullptr)) {
    default:
      KJ_LOG(ERROR, "can't disarm the wall-clock timer", strerror(error));
  }
}

}  // namespace taskctl
