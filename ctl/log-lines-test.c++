#include "log-lines.h"

#include <gtest/gtest.h>

namespace kj {
inline void PrintTo(const String& text, std::ostream* os) { *os << '"' << text.cStr() << '"'; }
}  // namespace kj

namespace taskctl {
namespace {

kj::ArrayPtr<const kj::byte> bytes(const char* text) { return kj::StringPtr(text).asBytes(); }

TEST(LogLines, OneObjectPerLineWithItsAttemptAndOffset) {
  LogLines lines;
  EXPECT_EQ(lines.add(2, 0, bytes("one\ntw")),
            "{\"attempt\":2,\"offset\":0,\"text\":\"one\\n\"}\n");
  // A line cut across two slices is one object, at the offset where it starts.
  EXPECT_EQ(lines.add(2, 6, bytes("o\nlast")),
            "{\"attempt\":2,\"offset\":4,\"text\":\"two\\n\"}\n");
  EXPECT_EQ(lines.end(), "{\"attempt\":2,\"offset\":8,\"text\":\"last\"}\n");
  EXPECT_EQ(lines.end(), "");
}

TEST(LogLines, ALineThatIsNotUtf8IsItsBytes) {
  LogLines lines;
  EXPECT_EQ(lines.add(1, 0, bytes("\xff\n")), "{\"attempt\":1,\"offset\":0,\"text\":[255,10]}\n");
}

TEST(LogLines, AnotherAttemptOrACutEndsThePendingLine) {
  LogLines lines;
  EXPECT_EQ(lines.add(1, 0, bytes("a")), "");
  EXPECT_EQ(lines.add(2, 0, bytes("b\n")),
            "{\"attempt\":1,\"offset\":0,\"text\":\"a\"}\n"
            "{\"attempt\":2,\"offset\":0,\"text\":\"b\\n\"}\n");
}

TEST(LogLines, AVeryLongLineComesInBoundedPieces) {
  LogLines lines;
  auto big = kj::heapArray<kj::byte>(LogLines::MAX_LINE_BYTES + 10);
  for (auto& b : big) b = 'x';
  auto out = lines.add(1, 0, big);
  EXPECT_TRUE(out.startsWith("{\"attempt\":1,\"offset\":0,\"text\":\"xxx"));
  EXPECT_EQ(lines.end(), kj::str("{\"attempt\":1,\"offset\":", LogLines::MAX_LINE_BYTES,
                                 ",\"text\":\"xxxxxxxxxx\"}\n"));
}

}  // namespace
}  // namespace taskctl
