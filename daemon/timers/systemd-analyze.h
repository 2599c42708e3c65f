// CalendarCheck by systemd's own parser: `systemd-analyze calendar SPEC`, a
// child process watched on the loop through its pidfd (never waitpid(-1)).
#pragma once

#include <kj/async-io.h>
#include <kj/async-unix.h>
#include <kj/timer.h>

#include "timers/systemd-units.h"

namespace taskctl {

class SystemdAnalyze final : public CalendarCheck {
 public:
  // Every reference outlives this. `program`: /usr/bin/systemd-analyze.
  SystemdAnalyze(kj::UnixEventPort& port, kj::LowLevelAsyncIoProvider& io, kj::Timer& timer,
                 kj::String program = kj::str("/usr/bin/systemd-analyze"));

  kj::Promise<kj::Maybe<kj::String>> check(kj::StringPtr spec) override;
  // Exit 0: valid. Otherwise its stderr, on one line, is the verdict. A
  // child that does not end within 10 s is killed and the check fails.
  // Cancelling kills and reaps the child.

 private:
  kj::UnixEventPort& port;
  kj::LowLevelAsyncIoProvider& io;
  kj::Timer& timer;
  kj::String program;
};

}  // namespace taskctl
