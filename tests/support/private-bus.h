// For the bus module's tests: a private dbus-daemon that lets everyone own
// and call anything, at a fixed socket path in a scratch directory, with
// DBUS_SYSTEM_BUS_ADDRESS pointing at it (so the code under test connects
// exactly as it does to the system bus). It can be killed and started again
// at the same address, as `systemctl restart dbus` does.
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>

extern char** environ;

namespace taskctl {

class PrivateBus {
 public:
  PrivateBus() {
    char scratch[] = "/tmp/taskctl-bus-test.XXXXXX";
    dir = mkdtemp(scratch);
    socketPath = dir + "/bus";
    configPath = dir + "/bus.conf";
    std::ofstream(configPath) << R"(<!DOCTYPE busconfig PUBLIC
 "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=)" << socketPath
                              << R"(</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
)";
    setenv("DBUS_SYSTEM_BUS_ADDRESS", ("unix:path=" + socketPath).c_str(), 1);
    start();
  }

  ~PrivateBus() {
    stop();
    unlink(configPath.c_str());
    unlink((dir + "/bus.log").c_str());
    rmdir(dir.c_str());
  }

  void start() {
    unlink(socketPath.c_str());
    std::string config = "--config-file=" + configPath;
    const char* argv[] = {"dbus-daemon", config.c_str(), "--nofork", "--nopidfile", nullptr};
    // The test's blocked signals (kj blocks some) must not reach the bus.
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    // Its chatter (it cannot raise the fd limit here, ...) goes to a log.
    posix_spawn_file_actions_t files;
    posix_spawn_file_actions_init(&files);
    std::string log = dir + "/bus.log";
    posix_spawn_file_actions_addopen(&files, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&files, 1, 2);
    int rc = posix_spawnp(&pid, "dbus-daemon", &files, &attr, const_cast<char**>(argv), environ);
    posix_spawn_file_actions_destroy(&files);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) abort();
    // Up once its socket accepts (a few ms); at most 5 s.
    for (int i = 0; i < 500 && !accepts(); i++) usleep(10000);
    if (!accepts()) abort();
  }

  void stop() {
    if (pid <= 0) return;
    kill(pid, SIGKILL);
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    pid = -1;
    unlink(socketPath.c_str());
  }

  const std::string& socket() const { return socketPath; }

 private:
  std::string dir, socketPath, configPath;
  pid_t pid = -1;

  bool accepts() {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {};
    addr.sun_family = AF_UNIX;
    socketPath.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
    bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    close(fd);
    return ok;
  }
};

}  // namespace taskctl
