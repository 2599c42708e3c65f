// raw-submit: one `submit` call straight to taskctld, with what taskctl
// itself cannot send: a NUL byte in an argument, an environment entry or the
// cwd (tests/e2e/refused-command.sh), or a request larger than exec lets a
// command line be (`--filler BYTES` adds one argument of BYTES 'x's:
// tests/e2e/oversized-request.sh).
//   raw-submit [--old-client] [--queue Q] [--cwd BYTES] [--env BYTES]... [--filler N] -- ARG...
// It sends a spec::TaskSpec (SubmitRequest.spec), as taskctl does; with
// --old-client, the flat fields a client older than 0.2 sends instead.
// BYTES and ARG take C escapes: \0 is a NUL byte, \\ a backslash. The socket
// is $TASKCTL_SOCKET. Prints the id (exit 0), or the daemon's refusal on
// stderr and exits as taskctl would (taskctl's own mapping, failureFrom).
#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>
#include <kj/vector.h>
#include <rpc.capnp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exit-status.h"

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
  const char* socket = getenv("TASKCTL_SOCKET");
  if (socket == nullptr) {
    fprintf(stderr, "raw-submit: set TASKCTL_SOCKET\n");
    return 64;
  }
  kj::StringPtr queue = "";
  kj::Maybe<kj::Array<kj::byte>> cwd;
  kj::Vector<kj::Array<kj::byte>> env, args;
  bool oldClient = false;
  int i = 1;
  for (; i < argc; i++) {
    kj::StringPtr arg = argv[i];
    if (arg == "--") {
      i++;
      break;
    }
    if (arg == "--old-client") {
      oldClient = true;
      continue;
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "raw-submit: %s needs a value\n", argv[i]);
      return 64;
    }
    if (arg == "--queue") {
      queue = argv[++i];
    } else if (arg == "--cwd") {
      cwd = unescape(argv[++i]);
    } else if (arg == "--env") {
      env.add(unescape(argv[++i]));
    } else if (arg == "--filler") {
      auto filler = kj::heapArray<kj::byte>(strtoull(argv[++i], nullptr, 10));
      memset(filler.begin(), 'x', filler.size());
      args.add(kj::mv(filler));
    } else {
      fprintf(stderr, "raw-submit: unknown option %s\n", argv[i]);
      return 64;
    }
  }
  for (; i < argc; i++) args.add(unescape(argv[i]));

  auto io = kj::setupAsyncIo();
  auto address =
      io.provider->getNetwork().parseAddress(kj::str("unix:", socket)).wait(io.waitScope);
  auto stream = address->connect().wait(io.waitScope);
  capnp::TwoPartyClient client(*stream);
  auto daemon = client.bootstrap().castAs<taskctl::rpc::Taskctl>();
  auto call = daemon.submitRequest();
  // The same fields in either layout.
  auto fill = [&](auto request) {
    auto list = request.initArgv(args.size());
    for (auto j : kj::indices(args)) list.set(j, args[j]);
    auto e = request.initEnv(env.size());
    for (auto j : kj::indices(env)) e.set(j, env[j]);
    KJ_IF_MAYBE (c, cwd) {
      request.setCwd(*c);
    } else {
      request.setCwd(kj::StringPtr("/").asBytes());
    }
    request.setUmask(022);
    request.setQueue(queue);
  };
  if (oldClient) {
    fill(call.initRequest());
  } else {
    fill(call.initRequest().initSpec());
  }
  KJ_IF_MAYBE (problem, kj::runCatchingExceptions([&]() {
                 auto reply = call.send().wait(io.waitScope);
                 printf("%llu\n", static_cast<unsigned long long>(reply.getId()));
               })) {
    auto failure = taskctl::failureFrom(*problem);
    fprintf(stderr, "raw-submit: %s\n", failure.message.cStr());
    return failure.status;
  }
  return 0;
}
