// One connection to taskctld for the life of a taskctl process.
#pragma once

#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>
#include <kj/string.h>

#include "exit-status.h"
#include "rpc.capnp.h"

namespace taskctl {

// Owns the socket, the RPC system on it and the daemon's bootstrap capability. Lives on the
// stack of main(), inside the kj::AsyncIoContext it was built on; destroying it hangs up, which
// cancels whatever calls are still pending.
class Session {
 public:
  // Connects at once (a Unix socket connects or fails without waiting); throws Failure (69)
  // with the kernel's reason when it cannot.
  Session(kj::AsyncIoContext& io, kj::StringPtr socketPath);

  rpc::Taskctl::Client& daemon() { return bootstrap; }
  kj::AsyncIoContext& io() { return context; }

  // Waits for a reply the daemon owes promptly. Past DEADLINE it gives up with Failure (69):
  // a daemon that does not answer is as good as unreachable for a script.
  template <typename T>
  T answer(kj::Promise<T>&& promise);
  void answer(kj::Promise<void>&& promise) {
    answer(promise.then([]() { return true; }));
  }

  // Waits as long as it takes: `wait`, the waiting half of `submit --wait`.
  template <typename T>
  T await(kj::Promise<T>&& promise) {
    return promise.wait(context.waitScope);
  }

  static constexpr kj::Duration DEADLINE = 30 * kj::SECONDS;

 private:
  kj::AsyncIoContext& context;
  kj::String socketPath;
  kj::Own<kj::AsyncIoStream> stream;
  capnp::TwoPartyVatNetwork network;
  capnp::RpcSystem<capnp::rpc::twoparty::VatId> rpcSystem;
  rpc::Taskctl::Client bootstrap;
};

template <typename T>
T Session::answer(kj::Promise<T>&& promise) {
  auto answered = promise.then([](T&& value) -> kj::Maybe<T> { return kj::mv(value); });
  auto tooLate = context.provider->getTimer().afterDelay(DEADLINE).then(
      []() -> kj::Maybe<T> { return nullptr; });
  kj::Maybe<T> result = answered.exclusiveJoin(kj::mv(tooLate)).wait(context.waitScope);
  KJ_IF_MAYBE (value, result) {
    return kj::mv(*value);
  }
  throw notAnswered(socketPath);
}

}  // namespace taskctl
