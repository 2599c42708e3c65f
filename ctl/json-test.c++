#include "json.h"

#include <gtest/gtest.h>
#include <math.h>
#include <string.h>

namespace kj {
// gtest shows kj::String as bytes without this.
inline void PrintTo(const String& text, std::ostream* os) { *os << '"' << text.cStr() << '"'; }
}  // namespace kj

namespace taskctl {
namespace {

kj::String quoted(kj::ArrayPtr<const kj::byte> bytes) {
  JsonWriter json;
  json.string(bytes);
  return json.finish();
}

kj::String quoted(const char* text) { return quoted(kj::StringPtr(text).asBytes()); }

TEST(Json, WritesNestedValuesCompactly) {
  JsonWriter json;
  json.beginObject();
  json.key("id");
  json.unsignedInteger(UINT64_MAX);
  json.key("list");
  json.beginArray();
  json.integer(INT64_MIN);
  json.null();
  json.boolean(true);
  json.beginObject();
  json.endObject();
  json.beginArray();
  json.endArray();
  json.endArray();
  json.key("s");
  json.string("x");
  json.endObject();
  EXPECT_EQ(json.finish(),
            R"({"id":18446744073709551615,"list":[-9223372036854775808,null,true,{},[]],"s":"x"})");
}

TEST(Json, WritesNumbersAsTheShortestDecimalThatReadsBack) {
  JsonWriter json;
  json.beginArray();
  json.number(0.4);
  json.number(0);
  json.number(1);
  json.number(1.0 / 3);
  json.number(0.125);
  json.number(NAN);
  json.number(INFINITY);
  json.endArray();
  EXPECT_EQ(json.finish(), "[0.4,0,1,0.3333333333333333,0.125,null,null]");
}

TEST(Json, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(quoted("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(quoted("\n\r\t\b\f"), R"("\n\r\t\b\f")");
  EXPECT_EQ(quoted("\x01\x1f\x7f"), "\"\\u0001\\u001f\x7f\"");
  EXPECT_EQ(quoted(kj::arrayPtr(reinterpret_cast<const kj::byte*>("a\0b"), 3)), R"("a\u0000b")");
}

TEST(Json, KeepsValidUtf8AsItIs) {
  EXPECT_EQ(quoted("é ü € 𝄞"), "\"é ü € 𝄞\"");
  EXPECT_EQ(quoted("\xf4\x8f\xbf\xbf"), "\"\xf4\x8f\xbf\xbf\"");  // U+10FFFF
}

TEST(Json, WritesAStringThatIsNotUtf8AsAnArrayOfItsBytes) {
  EXPECT_EQ(quoted("\xff"), "[255]");
  EXPECT_EQ(quoted("a\x80z"), "[97,128,122]");                 // stray continuation
  EXPECT_EQ(quoted("\xe2\x82"), "[226,130]");                  // cut short
  EXPECT_EQ(quoted("\xc0\xaf"), "[192,175]");                  // overlong '/'
  EXPECT_EQ(quoted("\xed\xa0\x80"), "[237,160,128]");          // a UTF-16 surrogate
  EXPECT_EQ(quoted("\xf4\x90\x80\x80"), "[244,144,128,128]");  // past U+10FFFF
  EXPECT_EQ(quoted("\xe2\x82\xac\xff"), "[226,130,172,255]");  // valid, then invalid
  EXPECT_EQ(quoted(""), R"("")");
  EXPECT_TRUE(isUtf8(kj::StringPtr("\xe2\x82\xac").asBytes()));
  EXPECT_FALSE(isUtf8(kj::StringPtr("\xe2\x82").asBytes()));
  // Never a lone surrogate: strict readers (jq, Node, Go) would mangle one.
  EXPECT_EQ(strstr(quoted("\xff\xfe").cStr(), "\\udc"), nullptr);
}

TEST(Json, AnArrayOfBytesTakesItsPlaceAmongOtherValues) {
  JsonWriter json;
  json.beginObject();
  json.key("a");
  json.string(kj::StringPtr("\xff").asBytes());
  json.key("b");
  json.string("x");
  json.endObject();
  EXPECT_EQ(json.finish(), R"({"a":[255],"b":"x"})");
}

}  // namespace
}  // namespace taskctl
