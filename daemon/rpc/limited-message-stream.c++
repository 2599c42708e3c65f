#include "rpc/limited-message-stream.h"

#include <capnp/serialize.h>
#include <endian.h>
#include <kj/debug.h>
#include <string.h>

#include "common/errors.h"

namespace taskctl {
namespace {

using capnp::word;

// capnp's own bound (serialize.c++): a frame of 512 segments or more is refused.
constexpr uint64_t MAX_SEGMENTS = 512;
constexpr size_t DISCARD_CHUNK = 64 << 10;

uint32_t le32At(kj::ArrayPtr<const word> words, size_t byteOffset) {
  uint32_t value;
  memcpy(&value, reinterpret_cast<const kj::byte*>(words.begin()) + byteOffset, sizeof(value));
  return le32toh(value);
}

kj::String sizeText(uint64_t bytes) {
  if (bytes % (1 << 20) == 0) return kj::str(bytes >> 20, " MiB");
  return kj::str(bytes, " bytes");
}

// Reads and drops `left` bytes through `buffer`.
kj::Promise<void> discardThrough(kj::AsyncIoStream& stream, kj::Array<kj::byte> buffer,
                                 uint64_t left) {
  if (left == 0) return kj::READY_NOW;
  size_t n = kj::min(uint64_t(buffer.size()), left);
  auto ptr = buffer.begin();
  return stream.read(ptr, n).then([&stream, buffer = kj::mv(buffer), left, n]() mutable {
    return discardThrough(stream, kj::mv(buffer), left - n);
  });
}

}  // namespace

LimitedMessageStream::LimitedMessageStream(kj::AsyncIoStream& stream, uint64_t limitBytes,
                                           uint64_t drainLimitBytes)
    : stream(stream), writer(stream), limitBytes(limitBytes), drainLimitBytes(drainLimitBytes) {}

kj::String LimitedMessageStream::tooLarge(uint64_t bytes, uint64_t limitBytes) {
  return kj::str("request too large (", bytes, " bytes, limit ", sizeText(limitBytes), ")");
}

kj::Promise<kj::Maybe<capnp::MessageReaderAndFds>> LimitedMessageStream::tryReadMessage(
    kj::ArrayPtr<kj::AutoCloseFd> fdSpace, capnp::ReaderOptions options,
    kj::ArrayPtr<word> scratchSpace) {
  using Result = kj::Maybe<capnp::MessageReaderAndFds>;
  // The first word: the segment count less one, and the first segment's size.
  auto first = kj::heapArray<word>(1);
  auto firstPtr = first.begin();
  return stream.tryRead(firstPtr, sizeof(word), sizeof(word))
      .then([this, first = kj::mv(first), options](size_t got) mutable -> kj::Promise<Result> {
        if (got == 0) return Result(nullptr);  // the peer hung up between frames
        if (got < sizeof(word)) {
          return KJ_EXCEPTION(DISCONNECTED, "the peer hung up in the middle of a frame");
        }
        uint64_t segments = uint64_t(le32At(first, 0)) + 1;
        if (segments >= MAX_SEGMENTS) {
          refuse(kj::str("malformed request: a frame of ", segments, " segments"));
        }
        size_t headerWords = segments / 2 + 1;
        auto header = kj::heapArray<word>(headerWords);
        header[0] = first[0];
        auto rest = header.slice(1, headerWords);
        auto readRest = rest.size() == 0 ? kj::Promise<void>(kj::READY_NOW)
                                         : stream.read(rest.begin(), rest.size() * sizeof(word));
        return readRest.then([this, header = kj::mv(header), segments,
                              options]() mutable -> kj::Promise<Result> {
          uint64_t bodyWords = le32At(header, 4);
          for (uint64_t i = 1; i < segments; i++) bodyWords += le32At(header, 4 + 4 * i);
          uint64_t bodyBytes = bodyWords * sizeof(word);
          uint64_t frameBytes = header.size() * sizeof(word) + bodyBytes;
          if (bodyBytes > limitBytes) {
            auto message = tooLarge(frameBytes, limitBytes);
            if (frameBytes > drainLimitBytes) refuse(kj::mv(message));
            // Read to the end of the frame first: the peer is still writing
            // it, and reads our answer only once its write is done.
            auto buffer = kj::heapArray<kj::byte>(kj::min(bodyBytes, uint64_t(DISCARD_CHUNK)));
            return discardThrough(stream, kj::mv(buffer), bodyBytes)
                .then([message = kj::mv(message)]() mutable -> Result { refuse(kj::mv(message)); });
          }
          auto words = kj::heapArray<word>(header.size() + bodyWords);
          memcpy(words.begin(), header.begin(), header.size() * sizeof(word));
          auto body = words.slice(header.size(), words.size());
          auto readBody = body.size() == 0 ? kj::Promise<void>(kj::READY_NOW)
                                           : stream.read(body.begin(), bodyBytes);
          return readBody.then([words = kj::mv(words), options]() mutable -> Result {
            auto reader = kj::heap<capnp::FlatArrayMessageReader>(words.asPtr(), options);
            return capnp::MessageReaderAndFds{
                kj::Own<capnp::MessageReader>(reader.attach(kj::mv(words))), nullptr};
          });
        });
      });
}

kj::Promise<void> LimitedMessageStream::writeMessage(
    kj::ArrayPtr<const int> fds, kj::ArrayPtr<const kj::ArrayPtr<const word>> segments) {
  return writer.writeMessage(fds, segments);
}

kj::Promise<void> LimitedMessageStream::writeMessages(
    kj::ArrayPtr<kj::ArrayPtr<const kj::ArrayPtr<const word>>> messages) {
  return writer.writeMessages(messages);
}

kj::Maybe<int> LimitedMessageStream::getSendBufferSize() { return writer.getSendBufferSize(); }

kj::Promise<void> LimitedMessageStream::end() { return writer.end(); }

}  // namespace taskctl
