#include "common/errors.h"

#include <gtest/gtest.h>
#include <kj/debug.h>
#include <kj/function.h>

namespace taskctl {
namespace {

kj::Exception caught(kj::Function<void()> fn) {
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() { fn(); })) return kj::mv(*e);
  ADD_FAILURE() << "nothing was thrown";
  return KJ_EXCEPTION(FAILED, "nothing was thrown");
}

TEST(Errors, RefuseCarriesTheWholeMessageAsFailed) {
  auto e = caught([]() { refuse(kj::str("no such task: ", 7)); });
  EXPECT_EQ(e.getType(), kj::Exception::Type::FAILED);
  EXPECT_EQ(e.getDescription(), "no such task: 7");                     // no "expected ..." prefix
  EXPECT_TRUE(kj::StringPtr(e.getFile()).endsWith("errors-test.c++"));  // the caller's line
}

TEST(Errors, OverloadedIsOverloaded) {
  auto e = caught([]() { overloaded(kj::str("store full")); });
  EXPECT_EQ(e.getType(), kj::Exception::Type::OVERLOADED);
  EXPECT_EQ(e.getDescription(), "store full");
}

TEST(Errors, RethrowKeepsTypeAndDescription) {
  auto e = caught([]() { rethrow(KJ_EXCEPTION(DISCONNECTED, "gone")); });
  EXPECT_EQ(e.getType(), kj::Exception::Type::DISCONNECTED);
  EXPECT_EQ(e.getDescription(), "gone");
}

}  // namespace
}  // namespace taskctl
