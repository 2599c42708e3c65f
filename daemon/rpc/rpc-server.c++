#include "rpc/rpc-server.h"

#include <capnp/rpc-twoparty.h>
#include <kj/debug.h>
#include <rpc.capnp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rpc/limited-message-stream.h"

namespace taskctl {
namespace {

// A larger frame than MAX_MESSAGE_BYTES is not read to its end (taskctl
// itself sends no more than 64 MiB): its connection closes at once.
constexpr uint64_t MAX_DRAINED_BYTES = 64 << 20;

// A refused connection (over the per-user cap, or a uid this daemon does not
// serve) gets its answer on the first call, then this long to read it and
// hang up; at most MAX_REFUSING are kept at once, later ones are closed
// unanswered. Each holds one fd: a flood costs the daemon a bounded number.
constexpr auto REFUSAL_GRACE = 5 * kj::SECONDS;
// How long a connection the daemon ended waits for the peer to hang up.
constexpr auto HANGUP_GRACE = 2 * kj::SECONDS;
constexpr size_t MAX_REFUSING = 128;

// Accepting again after accept() failed (EMFILE, ENFILE, ENOBUFS, ENOMEM:
// the fd table or memory is full until a connection closes): 10 ms, doubling
// up to 1 s, as systemd and sshd pause rather than give up.
constexpr auto ACCEPT_RETRY_MIN = 10 * kj::MILLISECONDS;
constexpr auto ACCEPT_RETRY_MAX = 1 * kj::SECONDS;

Identity peerIdentity(kj::AsyncIoStream& stream) {
  struct ucred cred;
  uint len = sizeof(cred);
  stream.getsockopt(SOL_SOCKET, SO_PEERCRED, &cred, &len);
  kj::Vector<gid_t> groups;
  gid_t buffer[256];
  len = sizeof(buffer);
  KJ_IF_MAYBE (e, kj::runCatchingExceptions(
                      [&]() { stream.getsockopt(SOL_SOCKET, SO_PEERGROUPS, buffer, &len); })) {
    // More than 256 groups: ask again with room for all of them.
    auto big = kj::heapArray<gid_t>(65536);
    len = big.size() * sizeof(gid_t);
    stream.getsockopt(SOL_SOCKET, SO_PEERGROUPS, big.begin(), &len);
    for (size_t i = 0; i < len / sizeof(gid_t); i++) groups.add(big[i]);
  } else {
    for (size_t i = 0; i < len / sizeof(gid_t); i++) groups.add(buffer[i]);
  }
  return Identity{cred.uid, cred.gid, groups.releaseAsArray()};
}

// The bootstrap capability of a refused connection: every call fails with
// the reason, which taskctl prints (and maps to its exit status).
class Refusal final : public capnp::Capability::Server {
 public:
  explicit Refusal(kj::Exception reason) : reason(kj::mv(reason)) {}

  DispatchCallResult dispatchCall(
      uint64_t, uint16_t, capnp::CallContext<capnp::AnyPointer, capnp::AnyPointer>) override {
    return {kj::Promise<void>(kj::cp(reason)), false};
  }

 private:
  kj::Exception reason;
};

}  // namespace

// One accepted connection: its stream, its vat network and its RPC system.
// Owned by the server's TaskSet until the peer goes away or misbehaves.
class RpcServer::Connection {
 public:
  // `uid`: the peer's, counted against its cap while this lives (nullptr for
  // a refused connection, which counts among the refusals instead).
  Connection(RpcServer& server, kj::Own<kj::AsyncIoStream> streamArg, kj::Maybe<uid_t> uid,
             capnp::Capability::Client bootstrap)
      : server(server),
        uid(uid),
        stream(kj::mv(streamArg)),
        messages(*stream, MAX_MESSAGE_BYTES, MAX_DRAINED_BYTES),
        network(messages, capnp::rpc::twoparty::Side::SERVER, readerOptions()),
        rpcSystem(capnp::makeRpcServer(network, kj::mv(bootstrap))) {
    server.connections++;
    KJ_IF_MAYBE (u, uid) server.perUser[*u]++;
  }
  ~Connection() noexcept(false) {
    server.connections--;
    KJ_IF_MAYBE (u, uid) {
      auto found = server.perUser.find(*u);
      if (found != server.perUser.end() && --found->second == 0) server.perUser.erase(found);
    }
  }

  // Resolves when the RPC system is done with the connection, then (if the
  // daemon is the one that ended it, with an Abort saying why) once the peer
  // has hung up too: closing with the peer's later messages unread would
  // reset the connection, and the peer might never read the Abort.
  kj::Promise<void> onDisconnect() {
    return network.onDisconnect().then([this]() { return drainInput(); });
  }
  kj::Promise<void> onRpcDone() { return network.onDisconnect(); }

 private:
  kj::Promise<void> drainInput() {
    auto buffer = kj::heapArray<kj::byte>(4096);
    auto ptr = buffer.begin();
    return stream->tryRead(ptr, 1, 4096)
        .then([this, buffer = kj::mv(buffer)](size_t got) -> kj::Promise<void> {
          if (got == 0) return kj::READY_NOW;
          return drainInput();
        });
  }

  static capnp::ReaderOptions readerOptions() {
    capnp::ReaderOptions options;
    options.traversalLimitInWords = MAX_MESSAGE_WORDS;
    options.nestingLimit = 32;
    return options;
  }

  RpcServer& server;
  kj::Maybe<uid_t> uid;
  kj::Own<kj::AsyncIoStream> stream;
  LimitedMessageStream messages;
  capnp::TwoPartyVatNetwork network;
  capnp::RpcSystem<capnp::rpc::twoparty::VatId> rpcSystem;
};

RpcServer::RpcServer(Scheduler& scheduler, TaskQueries& queries, EventLog& events, Runner& runner,
                     const Config& config, LogWatcher& logWatcher, kj::Timer& timer)
    : parts{scheduler, queries, events, runner, config, logWatcher, timer, nullptr},
      config(config),
      timer(timer),
      ownUid(geteuid()),
      tasks(*this) {}

RpcServer::~RpcServer() noexcept(false) {}

void RpcServer::taskFailed(kj::Exception&& exception) {
  // One connection's failure (a malformed frame, a peer gone mid-call) ends
  // that connection only; not worth a line each.
}

kj::Promise<void> RpcServer::listen(kj::ConnectionReceiver& listener) {
  // accept() may throw at once as well as through its promise.
  return kj::evalNow([&listener]() { return listener.accept(); })
      .then(
          [this, &listener](kj::Own<kj::AsyncIoStream> stream) {
            acceptRetry = 0 * kj::SECONDS;
            KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() { serve(kj::mv(stream)); })) {
              // One peer we could not even look at (gone already): its loss only.
              KJ_LOG(WARNING, "dropping a connection", e->getDescription());
            }
            return listen(listener);
          },
          [this, &listener](kj::Exception&& e) {
            // Never the end of the daemon: the fd table or memory is full
            // until a connection closes, and the backlog waits meanwhile.
            acceptRetry = kj::max(ACCEPT_RETRY_MIN, kj::min(acceptRetry * 2, ACCEPT_RETRY_MAX));
            auto now = timer.now();
            if (now - lastAcceptWarning >= 60 * kj::SECONDS || acceptFailures == 0) {
              KJ_LOG(WARNING, "accept failed; retrying", e.getDescription(), acceptFailures,
                     connections);
              lastAcceptWarning = now;
              acceptFailures = 0;
            }
            acceptFailures++;
            return timer.afterDelay(acceptRetry).then([this, &listener]() {
              return listen(listener);
            });
          });
}

kj::Maybe<kj::Exception> RpcServer::refusalFor(uid_t uid) {
  KJ_IF_MAYBE (why, refusalOfPeer(uid, ownUid)) {
    return kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__, kj::mv(*why));
  }
  if (uid == 0) return nullptr;
  uint32_t cap = config.maxConnectionsPerUser;
  auto found = perUser.find(uid);
  size_t open = found == perUser.end() ? 0 : found->second;
  if (cap != 0 && open >= cap) {
    return kj::Exception(kj::Exception::Type::OVERLOADED, __FILE__, __LINE__,
                         kj::str("too many connections: uid ", uid, " has ", open,
                                 " open to taskctld, the limit is ", cap,
                                 " (access.max_connections_per_user); close some and retry"));
  }
  return nullptr;
}

kj::Promise<void> RpcServer::whenDone(Connection& connection) {
  return connection.onDisconnect().exclusiveJoin(
      // The peer's hang-up is waited for only this long once RPC is over.
      connection.onRpcDone().then([this]() { return timer.afterDelay(HANGUP_GRACE); }));
}

void RpcServer::serve(kj::Own<kj::AsyncIoStream> stream) {
  auto identity = peerIdentity(*stream);
  uid_t uid = identity.uid;
  KJ_IF_MAYBE (reason, refusalFor(uid)) {
    auto now = timer.now();
    if (now - lastRefusalLog >= 10 * kj::SECONDS) {
      KJ_LOG(WARNING, "refusing connections", uid, reason->getDescription(), refusing);
      lastRefusalLog = now;
    }
    if (refusing >= MAX_REFUSING) return;  // closed unanswered: dropping `stream`
    refusing++;
    auto connection =
        kj::heap<Connection>(*this, kj::mv(stream), nullptr, kj::heap<Refusal>(kj::mv(*reason)));
    auto done = whenDone(*connection).exclusiveJoin(timer.afterDelay(REFUSAL_GRACE));
    tasks.add(done.attach(kj::mv(connection), kj::defer([this]() { refusing--; })));
    return;
  }
  auto connection =
      kj::heap<Connection>(*this, kj::mv(stream), uid,
                           newTaskctlService(parts, Access(kj::mv(identity), config, ownUid)));
  tasks.add(whenDone(*connection).attach(kj::mv(connection)));
}

}  // namespace taskctl
