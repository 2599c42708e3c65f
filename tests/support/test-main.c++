// The main() of every unit test: GoogleTest, with SIGPIPE ignored so a test
// that writes to a closed pipe fails with EPIPE instead of dying silently.
#include <gtest/gtest.h>
#include <signal.h>

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
