#include "session.h"

#include <errno.h>
#include <kj/io.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace taskctl {

namespace {

// Replies can be large (a `list` of many tasks); this is capnp's default, stated so that it is
// a decision rather than an accident.
constexpr uint64_t TRAVERSAL_LIMIT_WORDS = 64 * 1024 * 1024 / sizeof(capnp::word);

// A connected Unix stream socket, or Failure (69) with the reason it is not. Done by hand rather
// than through kj's address parser so that the reason is the kernel's own words and no promise
// is needed for what the kernel does at once.
kj::Own<kj::AsyncIoStream> connectUnix(kj::LowLevelAsyncIoProvider& lowLevel, kj::StringPtr path) {
  struct sockaddr_un address;
  memset(&address, 0, sizeof(address));
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof(address.sun_path)) throw unreachable(path, "socket path too long");
  memcpy(address.sun_path, path.begin(), path.size());

  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) throw unreachable(path, strerror(errno));
  kj::AutoCloseFd socket(fd);
  // Non-blocking: a daemon whose listen queue is full answers EAGAIN instead of hanging us.
  while (::connect(fd, reinterpret_cast<struct sockaddr*>(&address), sizeof(address)) < 0) {
    if (errno != EINTR) throw unreachable(path, strerror(errno));
  }
  return lowLevel.wrapSocketFd(kj::mv(socket), kj::LowLevelAsyncIoProvider::ALREADY_CLOEXEC |
                                                   kj::LowLevelAsyncIoProvider::ALREADY_NONBLOCK);
}

capnp::ReaderOptions readerOptions() {
  capnp::ReaderOptions options;
  options.traversalLimitInWords = TRAVERSAL_LIMIT_WORDS;
  return options;
}

// The daemon's capability, as TwoPartyClient::bootstrap() gets it: the vat on the other side.
rpc::Taskctl::Client bootstrapOf(capnp::RpcSystem<capnp::rpc::twoparty::VatId>& rpcSystem) {
  capnp::word scratch[4];
  memset(scratch, 0, sizeof(scratch));
  capnp::MallocMessageBuilder message(scratch);
  auto vatId = message.getRoot<capnp::rpc::twoparty::VatId>();
  vatId.setSide(capnp::rpc::twoparty::Side::SERVER);
  return rpcSystem.bootstrap(vatId).castAs<rpc::Taskctl>();
}

}  // namespace

Session::Session(kj::AsyncIoContext& io, kj::StringPtr socketPath)
    : context(io),
      socketPath(kj::heapString(socketPath)),
      stream(connectUnix(*io.lowLevelProvider, socketPath)),
      network(*stream, capnp::rpc::twoparty::Side::CLIENT, readerOptions()),
      rpcSystem(capnp::makeRpcClient(network)),
      bootstrap(bootstrapOf(rpcSystem)) {}

}  // namespace taskctl
