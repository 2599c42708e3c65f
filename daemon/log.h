// taskctld's log: everything KJ_LOG says, and startup errors, as one line
// each on stderr, through a synchronous spdlog logger (no logger thread).
// Under systemd, lines carry a <N> priority prefix for the journal.
#pragma once

#include <kj/exception.h>
#include <kj/string.h>

#include <memory>

namespace spdlog {
class logger;
}

namespace taskctl {

class LogSink final : public kj::ExceptionCallback {
 public:
  // Installs itself as kj's exception callback for its lifetime.
  LogSink();
  ~LogSink() noexcept(false);

  void logMessage(kj::LogSeverity severity, const char* file, int line, int contextDepth,
                  kj::String&& text) override;

  void error(kj::StringPtr message);
  void info(kj::StringPtr message);

 private:
  std::shared_ptr<spdlog::logger> logger;
  bool journal;
};

}  // namespace taskctl
