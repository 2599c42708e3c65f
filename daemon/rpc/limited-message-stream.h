// The capnp message stream of one RPC connection, with a size limit that is
// answered instead of silently enforced.
//
// capnp's own reader refuses a frame over ReaderOptions' traversal limit as
// soon as it has read the frame's header, and the connection is closed with
// the rest of the frame unread: the peer, still writing, gets EPIPE before it
// can read why, and taskctl could only say "taskctld closed the connection".
// This reader reads the header itself, and for a frame over the limit reads
// and discards the announced bytes, then fails with "request too large (N
// bytes, limit 8 MiB)". The RPC system sends that to the peer as its Abort,
// which the peer can now read, and closes the connection.
#pragma once

#include <capnp/serialize-async.h>
#include <kj/async-io.h>

namespace taskctl {

class LimitedMessageStream final : public capnp::MessageStream {
 public:
  // `stream` outlives this. Frames of more than `limitBytes` are refused
  // (read to their end first if no larger than `drainLimitBytes`, so that
  // the peer's write completes and it reads the refusal).
  LimitedMessageStream(kj::AsyncIoStream& stream, uint64_t limitBytes, uint64_t drainLimitBytes);

  kj::Promise<kj::Maybe<capnp::MessageReaderAndFds>> tryReadMessage(
      kj::ArrayPtr<kj::AutoCloseFd> fdSpace, capnp::ReaderOptions options,
      kj::ArrayPtr<capnp::word> scratchSpace) override;
  kj::Promise<void> writeMessage(
      kj::ArrayPtr<const int> fds,
      kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments) override;
  kj::Promise<void> writeMessages(
      kj::ArrayPtr<kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>>> messages) override;
  kj::Maybe<int> getSendBufferSize() override;
  kj::Promise<void> end() override;

  // The text of the refusal, for a frame of `bytes` (its header included).
  static kj::String tooLarge(uint64_t bytes, uint64_t limitBytes);

 private:
  kj::AsyncIoStream& stream;
  capnp::AsyncIoMessageStream writer;
  uint64_t limitBytes;
  uint64_t drainLimitBytes;

  kj::Promise<void> discard(uint64_t bytes);
};

}  // namespace taskctl
