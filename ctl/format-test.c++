#include "format.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <time.h>

namespace kj {
// gtest shows kj::String as bytes without this.
inline void PrintTo(const String& text, std::ostream* os) { *os << '"' << text.cStr() << '"'; }
}  // namespace kj

namespace taskctl {
namespace {

kj::ArrayPtr<const kj::byte> bytes(const char* text) { return kj::StringPtr(text).asBytes(); }

TEST(Format, IsoTimeIsUtcWithMicroseconds) {
  EXPECT_EQ(isoTimeUtc(0), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(isoTimeUtc(1764064224123456789), "2025-11-25T09:50:24.123456Z");
  EXPECT_EQ(isoTimeUtc(1709164800000000000), "2024-02-29T00:00:00.000000Z");
  EXPECT_EQ(isoTimeUtc(951868799999999999), "2000-02-29T23:59:59.999999Z");
  EXPECT_EQ(isoTimeUtc(-1), "1969-12-31T23:59:59.999999Z");
}

TEST(Format, LocalTimeFollowsTz) {
  setenv("TZ", "UTC", 1);
  tzset();
  EXPECT_EQ(localTime(1764064224123456789), "2025-11-25 09:50:24");
  setenv("TZ", "Europe/Berlin", 1);
  tzset();
  EXPECT_EQ(localTime(1764064224123456789), "2025-11-25 10:50:24");
  unsetenv("TZ");
  tzset();
}

TEST(Format, DurationsKeepMillisecondsWhileShort) {
  EXPECT_EQ(humanDuration(0), "0.000s");
  EXPECT_EQ(humanDuration(4'000), "0.004s");
  EXPECT_EQ(humanDuration(1'234'567), "1.235s");
  EXPECT_EQ(humanDuration(12'345'678), "12.3s");
  EXPECT_EQ(humanDuration(123'000'000), "2m03s");
  EXPECT_EQ(humanDuration(3'723'000'000), "1h02m");
  EXPECT_EQ(humanDuration((3 * 86400ull + 4 * 3600) * 1'000'000), "3d04h");
}

TEST(Format, ByteSizesUseBinaryUnits) {
  EXPECT_EQ(humanBytes(0), "0 B");
  EXPECT_EQ(humanBytes(1023), "1023 B");
  EXPECT_EQ(humanBytes(1536), "1.5 KiB");
  EXPECT_EQ(humanBytes(13'000'000), "12.4 MiB");
  EXPECT_EQ(humanBytes(1024 * 1024 - 1), "1.0 MiB");
  EXPECT_EQ(humanBytes(5ull << 30), "5.0 GiB");
  EXPECT_EQ(humanBytes(UINT64_MAX), "16.0 EiB");
}

TEST(Format, ShellQuoteLeavesSafeWordsAlone) {
  EXPECT_EQ(shellQuote(bytes("/usr/bin/make")), "/usr/bin/make");
  EXPECT_EQ(shellQuote(bytes("KEY=v,a:b@c%d+e")), "KEY=v,a:b@c%d+e");
}

TEST(Format, ShellQuoteUsesSingleQuotesForPrintableText) {
  EXPECT_EQ(shellQuote(bytes("")), "''");
  EXPECT_EQ(shellQuote(bytes("a b")), "'a b'");
  EXPECT_EQ(shellQuote(bytes("it's")), "'it'\\''s'");
  EXPECT_EQ(shellQuote(bytes("$HOME\\n")), "'$HOME\\n'");
  EXPECT_EQ(shellQuote(bytes("é")), "'é'");
}

TEST(Format, ShellQuoteEscapesControlCharactersAndInvalidBytes) {
  EXPECT_EQ(shellQuote(bytes("\x1b[31m")), "$'\\x1b[31m'");
  EXPECT_EQ(shellQuote(bytes("a'b\\c\n")), "$'a\\'b\\\\c\\x0a'");
  EXPECT_EQ(shellQuote(bytes("\xff")), "$'\\xff'");
  EXPECT_EQ(shellQuote(bytes("\xc2\x9b")), "$'\\xc2\\x9b'");  // C1 CSI
}

TEST(Format, PrintableKeepsTerminalsSafe) {
  EXPECT_EQ(printable("exited with code 3"), "exited with code 3");
  EXPECT_EQ(printable("a\nb\x1b"), "a\\x0ab\\x1b");
  EXPECT_EQ(printable("back\\slash"), "back\\\\slash");
  EXPECT_EQ(printable(bytes("caf\xc3\xa9 \xff")), "café \\xff");
}

TEST(Format, Utf8SequenceLengthRejectsWhatIsNotUtf8) {
  EXPECT_EQ(utf8SequenceLength(bytes("a")), 1u);
  EXPECT_EQ(utf8SequenceLength(bytes("é")), 2u);
  EXPECT_EQ(utf8SequenceLength(bytes("€")), 3u);
  EXPECT_EQ(utf8SequenceLength(bytes("𝄞")), 4u);
  EXPECT_EQ(utf8SequenceLength(bytes("\x80")), 0u);
  EXPECT_EQ(utf8SequenceLength(bytes("\xc1\xbf")), 0u);
  EXPECT_EQ(utf8SequenceLength(bytes("\xe0\x9f\xbf")), 0u);
  EXPECT_EQ(utf8SequenceLength(bytes("\xed\xbf\xbf")), 0u);
  EXPECT_EQ(utf8SequenceLength(bytes("\xf0\x8f\xbf\xbf")), 0u);
  EXPECT_EQ(utf8SequenceLength(bytes("\xf5\x80\x80\x80")), 0u);
  EXPECT_EQ(utf8SequenceLength(bytes("\xe2\x82")), 0u);
  EXPECT_EQ(utf8SequenceLength(bytes("")), 0u);
}

TEST(Format, TruncationCountsCodePointsAndMarksTheCut) {
  EXPECT_EQ(truncateToWidth("hello", 5), "hello");
  EXPECT_EQ(truncateToWidth("hello world", 8), "hello...");
  EXPECT_EQ(truncateToWidth("héllo wörld", 8), "héllo...");
  EXPECT_EQ(truncateToWidth("hello", 2), "..");
  EXPECT_EQ(displayWidth("héllo"), 5u);
}

}  // namespace
}  // namespace taskctl
