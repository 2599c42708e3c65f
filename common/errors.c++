#include "common/errors.h"

namespace taskctl {

namespace {

[[noreturn]] void raise(kj::Exception::Type type, kj::String message, std::source_location where) {
  rethrow(kj::Exception(type, where.file_name(), static_cast<int>(where.line()), kj::mv(message)));
}

}  // namespace

void refuse(kj::String message, std::source_location where) {
  raise(kj::Exception::Type::FAILED, kj::mv(message), where);
}

void overloaded(kj::String message, std::source_location where) {
  raise(kj::Exception::Type::OVERLOADED, kj::mv(message), where);
}

void rethrow(kj::Exception&& exception) { kj::throwFatalException(kj::mv(exception)); }

}  // namespace taskctl
