// store-put-task: stores one queued task straight into a stopped taskctld's
// store, as a daemon from before submit checked every field would have kept
// it (a NUL byte in an argument), so tests/e2e/refused-command.sh can show
// what the daemon does when the shim refuses such a command.
//   store-put-task STATE-DIR UID GID QUEUE ARG...
// ARG takes C escapes: \0 is a NUL byte, \\ a backslash. Prints the id.
#include <capnp/message.h>
#include <kj/vector.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "store/store.h"

namespace {

kj::Array<kj::byte> unescape(kj::StringPtr text) {
  kj::Vector<kj::byte> out;
  for (size_t i = 0; i < text.size(); i++) {
    if (text[i] == '\\' && i + 1 < text.size()) {
      char next = text[++i];
      out.add(next == '0' ? 0 : static_cast<kj::byte>(next));
    } else {
      out.add(static_cast<kj::byte>(text[i]));
    }
  }
  return out.releaseAsArray();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: store-put-task STATE-DIR UID GID QUEUE ARG...\n");
    return 64;
  }
  taskctl::Store store(kj::str(argv[1], "/store"));
  capnp::MallocMessageBuilder message;
  auto task = message.initRoot<taskctl::records::Task>();
  uint64_t id = store.allocateId();
  uint32_t uid = strtoul(argv[2], nullptr, 10), gid = strtoul(argv[3], nullptr, 10);
  task.setId(id);
  task.setUid(uid);
  task.setGid(gid);
  task.initGroups(1).set(0, gid);
  auto args = task.initArgv(argc - 5);
  for (int i = 5; i < argc; i++) args.set(i - 5, unescape(argv[i]));
  task.initEnv(1).set(0, kj::StringPtr("PATH=/usr/bin:/bin").asBytes());
  task.setCwd(kj::StringPtr("/").asBytes());
  task.setUmask(022);
  task.setQueue(argv[4]);
  task.initLimits().setKillGraceUsec(taskctl::spec::DEFAULT_KILL_GRACE_USEC);
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  task.setCreatedAt(int64_t(now.tv_sec) * 1000000000 + now.tv_nsec);
  task.setState(taskctl::records::TaskState::QUEUED);
  store.putTask(task);
  store.commit();
  printf("%llu\n", static_cast<unsigned long long>(id));
  return 0;
}
