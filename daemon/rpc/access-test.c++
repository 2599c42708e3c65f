#include "rpc/access.h"

#include <gtest/gtest.h>

namespace taskctl {
namespace {

Identity who(uid_t uid, gid_t gid, std::initializer_list<gid_t> groups = {}) {
  return Identity{uid, gid, kj::heapArray<gid_t>(groups.begin(), groups.size())};
}

kj::String refusalOf(kj::FunctionParam<void()> fn) {
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() { fn(); })) {
    EXPECT_EQ(e->getType(), kj::Exception::Type::FAILED);
    return kj::str(e->getDescription());
  }
  return kj::str("(allowed)");
}

TEST(Access, RootAndTheAdminGroupArePrivilegedOthersSeeTheirOwn) {
  Config config;
  config.adminGroup = gid_t(50);
  Access root(who(0, 0), config, 0);
  Access admin(who(1000, 100, {50}), config, 0);
  Access user(who(1001, 100, {60}), config, 0);
  EXPECT_TRUE(root.privileged());
  EXPECT_TRUE(admin.privileged());
  EXPECT_FALSE(user.privileged());
  EXPECT_TRUE(user.sees(1001));
  EXPECT_FALSE(user.sees(1000));
  EXPECT_TRUE(admin.sees(1001));
  EXPECT_FALSE(user.viewer().seesAll);
  EXPECT_EQ(user.viewer().uid, 1001u);
  EXPECT_TRUE(admin.viewer().seesAll);
  EXPECT_EQ(refusalOf([&]() { user.requireAdmin("change queues"); }),
            "permission denied: only root and the admin group (access.admin_group) may change "
            "queues");
  EXPECT_EQ(refusalOf([&]() { admin.requireAdmin("change queues"); }), "(allowed)");
}

TEST(Access, TheConfigIsReadWhenAsked) {
  Config config;
  Access user(who(1000, 100, {50}), config, 0);
  EXPECT_FALSE(user.privileged());
  config.adminGroup = gid_t(50);  // a reload (SIGHUP) that names the user's group
  EXPECT_TRUE(user.privileged());
}

TEST(Access, APrivateDaemonsOwnUserIsPrivilegedAndTheOnlyOneServed) {
  Config config;
  Access owner(who(1000, 100), config, 1000);
  EXPECT_TRUE(owner.privileged());
  EXPECT_TRUE(refusalOfPeer(1000, 1000) == nullptr);
  EXPECT_TRUE(refusalOfPeer(1001, 0) == nullptr);
  KJ_IF_MAYBE (why, refusalOfPeer(1001, 1000)) {
    EXPECT_EQ(*why,
              "permission denied: this taskctld runs as uid 1000, not root, and serves only uid "
              "1000 (you are uid 1001)");
  } else {
    ADD_FAILURE() << "uid 1001 served by uid 1000's daemon";
  }
}

TEST(Access, TheSubmitGroupBindsAllButRoot) {
  Config config;
  Access user(who(1001, 100), config, 0);
  EXPECT_EQ(refusalOf([&]() { user.requireSubmitter("submitting"); }), "(allowed)");
  config.submitGroup = gid_t(70);
  EXPECT_EQ(refusalOf([&]() { user.requireSubmitter("submitting"); }),
            "permission denied: submitting needs membership in group 70 (access.submit_group)");
  EXPECT_EQ(refusalOf([&]() { user.requireSubmitter("scheduling"); }),
            "permission denied: scheduling needs membership in group 70 (access.submit_group)");
  Access root(who(0, 0), config, 0);
  EXPECT_EQ(refusalOf([&]() { root.requireSubmitter("submitting"); }), "(allowed)");
  Access member(who(1002, 70), config, 0);
  EXPECT_EQ(refusalOf([&]() { member.requireSubmitter("submitting"); }), "(allowed)");
}

}  // namespace
}  // namespace taskctl
