#include "log.h"

#include <kj/debug.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <string.h>

namespace taskctl {

LogSink::LogSink()
    : logger(std::make_shared<spdlog::logger>("taskctld",
                                              std::make_shared<spdlog::sinks::stderr_sink_st>())),
      journal(getenv("JOURNAL_STREAM") != nullptr) {
  // The journal stamps time and unit itself; a terminal wants a time.
  logger->set_pattern(journal ? "%v" : "%Y-%m-%d %H:%M:%S.%e taskctld: %v");
  logger->flush_on(spdlog::level::trace);
  kj::_::Debug::setLogLevel(kj::LogSeverity::INFO);
}

LogSink::~LogSink() noexcept(false) {}

void LogSink::logMessage(kj::LogSeverity severity, const char* file, int line, int contextDepth,
                         kj::String&& text) {
  // Cap'n Proto's own INFO lines (one per malformed connection, say) are
  // noise at a daemon's scale; ours and everyone's warnings stay.
  if (severity <= kj::LogSeverity::INFO && strstr(file, "/daemon/") == nullptr) return;
  switch (severity) {
    case kj::LogSeverity::INFO:
    case kj::LogSeverity::DBG:
      info(text);
      break;
    case kj::LogSeverity::WARNING:
      logger->warn("{}{}", journal ? "<4>" : "warning: ", text.cStr());
      break;
    default:
      logger->error("{}{} ({}:{})", journal ? "<3>" : "error: ", text.cStr(), file, line);
      break;
  }
}

void LogSink::error(kj::StringPtr message) {
  logger->error("{}{}", journal ? "<3>" : "error: ", message.cStr());
}

void LogSink::info(kj::StringPtr message) {
  logger->info("{}{}", journal ? "<6>" : "", message.cStr());
}

}  // namespace taskctl
