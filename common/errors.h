// One way to raise an error a person reads.
//
// KJ_REQUIRE and KJ_FAIL_REQUIRE prefix their message with the failed
// condition ("expected ..."), which is right for a programmer's mistake and
// wrong for an answer a user reads: the RPC sends an exception's description
// to the client as is, and the client maps its type to an exit status
// (FAILED: 65 "rejected", OVERLOADED: 75 "try again later"). So an input we
// refuse, a limit we hit, or a start-up we cannot complete goes through these,
// with the whole message a person sees. errno failures use KJ_SYSCALL.
#pragma once

#include <kj/exception.h>
#include <kj/string.h>

#include <source_location>

namespace taskctl {

[[noreturn]] void refuse(kj::String message,
                         std::source_location where = std::source_location::current());
// FAILED: bad input, an unknown id, a start-up that cannot go on.

[[noreturn]] void overloaded(kj::String message,
                             std::source_location where = std::source_location::current());
// OVERLOADED: not now (a full store, a quota, too many connections).

[[noreturn]] void rethrow(kj::Exception&& exception);
// Throws an exception caught earlier (kj::runCatchingExceptions, a promise's
// error handler) on, unchanged.

}  // namespace taskctl
