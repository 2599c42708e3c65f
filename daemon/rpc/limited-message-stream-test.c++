#include "rpc/limited-message-stream.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <gtest/gtest.h>
#include <kj/async-io.h>
#include <kj/debug.h>
#include <rpc.capnp.h>

namespace taskctl {
namespace {

constexpr uint64_t LIMIT = 1 << 20;  // 1 MiB for the test
constexpr uint64_t DRAIN_LIMIT = 4 << 20;

struct Fixture {
  kj::AsyncIoContext io = kj::setupAsyncIo();
  kj::TwoWayPipe pipe = io.provider->newTwoWayPipe();
  LimitedMessageStream stream{*pipe.ends[1], LIMIT, DRAIN_LIMIT};

  // A message of about `bytes` bytes: one Label with a value that long.
  kj::Array<capnp::word> frame(size_t bytes) {
    capnp::MallocMessageBuilder message;
    auto label = message.initRoot<spec::Label>();
    label.setKey("k");
    label.initValue(bytes);
    return capnp::messageToFlatArray(message);
  }

  kj::Promise<void> send(kj::ArrayPtr<const capnp::word> words) {
    return pipe.ends[0]->write(words.begin(), words.size() * sizeof(capnp::word));
  }

  // Reads one message: its value's size, or the exception's description.
  kj::String readOne() {
    auto promise = stream.tryReadMessage(nullptr, capnp::ReaderOptions(), nullptr)
                       .then([](kj::Maybe<capnp::MessageReaderAndFds> got) -> kj::String {
                         KJ_IF_MAYBE (m, got) {
                           auto label = m->reader->getRoot<spec::Label>();
                           return kj::str("value of ", label.getValue().size());
                         }
                         return kj::str("end");
                       });
    kj::String result;
    KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() { result = promise.wait(io.waitScope); })) {
      return kj::str(e->getDescription());
    }
    return result;
  }
};

TEST(LimitedMessageStream, PassesMessagesUnderTheLimit) {
  Fixture f;
  auto small = f.frame(10);
  auto large = f.frame(LIMIT - 4096);
  auto sent = f.send(small).then([&]() { return f.send(large); }).eagerlyEvaluate(nullptr);
  EXPECT_EQ(f.readOne(), "value of 10");
  EXPECT_EQ(f.readOne(), kj::str("value of ", LIMIT - 4096));
  sent.wait(f.io.waitScope);
  f.pipe.ends[0]->shutdownWrite();
  EXPECT_EQ(f.readOne(), "end");
}

TEST(LimitedMessageStream, ReadsAFrameOfSeveralSegments) {
  Fixture f;
  capnp::MallocMessageBuilder message(4, capnp::AllocationStrategy::FIXED_SIZE);
  auto label = message.initRoot<spec::Label>();
  label.setKey("a key longer than one small segment");
  label.initValue(300);
  ASSERT_GE(message.getSegmentsForOutput().size(), 3u);
  auto words = capnp::messageToFlatArray(message);
  auto sent = f.send(words).eagerlyEvaluate(nullptr);
  EXPECT_EQ(f.readOne(), "value of 300");
  sent.wait(f.io.waitScope);
}

TEST(LimitedMessageStream, AnswersAnOversizedFrameAfterReadingItToItsEnd) {
  Fixture f;
  auto big = f.frame(LIMIT + 100);
  auto after = f.frame(5);
  // The writer completes only because the reader reads the whole frame.
  auto sent = f.send(big).then([&]() { return f.send(after); }).eagerlyEvaluate(nullptr);
  EXPECT_EQ(f.readOne(), kj::str("request too large (", big.size() * sizeof(capnp::word),
                                 " bytes, limit 1 MiB)"));
  sent.wait(f.io.waitScope);
  // The stream is at the next frame, not in the middle of the dropped one.
  EXPECT_EQ(f.readOne(), "value of 5");
}

TEST(LimitedMessageStream, RefusesAFrameBeyondTheDrainLimitAtOnce) {
  Fixture f;
  // A header claiming 8 MiB, and nothing after it.
  uint32_t header[2] = {0, uint32_t((8 << 20) / sizeof(capnp::word))};
  f.pipe.ends[0]->write(header, sizeof(header)).wait(f.io.waitScope);
  EXPECT_EQ(f.readOne(), "request too large (8388616 bytes, limit 1 MiB)");
}

TEST(LimitedMessageStream, RefusesAMalformedSegmentCount) {
  Fixture f;
  uint32_t header[2] = {0xffffffff, 0};
  f.pipe.ends[0]->write(header, sizeof(header)).wait(f.io.waitScope);
  EXPECT_EQ(f.readOne(), "malformed request: a frame of 4294967296 segments");
}

}  // namespace
}  // namespace taskctl
