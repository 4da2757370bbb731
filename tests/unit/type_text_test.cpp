#include "format/type_text.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace cdw {
namespace {

std::string Timestamp(int64_t microseconds, bool with_offset = true) {
  char out[40];
  return std::string(out, FormatIsoTimestamp(microseconds, with_offset, out));
}

std::string Date(int32_t days) {
  char out[16];
  return std::string(out, FormatIsoDate(days, out));
}

std::string JsonString(const std::string &value) {
  std::string out(JsonStringForCsvBound(value.size()), '\0');
  out.resize(FormatJsonStringForCsv(value.data(), value.size(), out.data()));
  return out;
}

TEST(TypeText, UuidIsLowerCaseHexWithHyphens) {
  const unsigned char bytes[16] = {0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8,
                                   0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a, 0x11};
  char out[36];
  ASSERT_EQ(FormatUuid(bytes, out), 36u);
  EXPECT_EQ(std::string(out, 36), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
}

// Expected values computed with Python's datetime from 2000-01-01.
TEST(TypeText, TimestampsAsTimestamptzOutPrintsThemInUtc) {
  EXPECT_EQ(Timestamp(0), "2000-01-01 00:00:00+00");
  EXPECT_EQ(Timestamp(0, false), "2000-01-01 00:00:00");
  EXPECT_EQ(Timestamp(762525296789000), "2024-02-29 12:34:56.789+00");
  EXPECT_EQ(Timestamp(-1), "1999-12-31 23:59:59.999999+00");
  EXPECT_EQ(Timestamp(-960867739999999), "1969-07-20 20:17:40.000001+00");
  EXPECT_EQ(Timestamp(500000, false), "2000-01-01 00:00:00.5");
  EXPECT_EQ(Timestamp(-63082281600000000), "0001-01-01 00:00:00+00");
  EXPECT_EQ(Timestamp(252455615999999999), "9999-12-31 23:59:59.999999+00");
}

TEST(TypeText, RareTimestampsAreLeftToPostgres) {
  char out[40];
  EXPECT_EQ(FormatIsoTimestamp(-63082281600000000 - 1, true, out), 0u);  // 1 BC
  EXPECT_EQ(FormatIsoTimestamp(252455615999999999 + 1, true, out), 0u);  // year 10000
  EXPECT_EQ(FormatIsoTimestamp(INT64_MIN, true, out), 0u);               // -infinity
  EXPECT_EQ(FormatIsoTimestamp(INT64_MAX, true, out), 0u);               // infinity
  EXPECT_EQ(FormatIsoDate(INT32_MIN, out), 0u);
  EXPECT_EQ(FormatIsoDate(INT32_MAX, out), 0u);
}

// Every day of years 1..9999 against a calendar counted one day at a time.
TEST(TypeText, EveryDateMatchesAGregorianCalendar) {
  auto leap = [](int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; };
  const int month_days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int32_t days = -730119;  // 0001-01-01, from Python: date(1,1,1) - date(2000,1,1)
  char out[16];
  for (int year = 1; year <= 9999; year++) {
    for (int month = 1; month <= 12; month++) {
      int last = month_days[month - 1] + (month == 2 && leap(year) ? 1 : 0);
      for (int day = 1; day <= last; day++, days++) {
        char expected[48];
        snprintf(expected, sizeof expected, "%04d-%02d-%02d", year, month, day);
        ASSERT_EQ(std::string(out, FormatIsoDate(days, out)), expected) << "day " << days;
      }
    }
  }
  EXPECT_EQ(FormatIsoDate(days, out), 0u);  // 10000-01-01
  EXPECT_EQ(Date(0), "2000-01-01");
}

TEST(TypeText, JsonStringsAreEscapedAsEscapeJsonAndQuotesDoubledForCsv) {
  EXPECT_EQ(JsonString(""), "\"\"\"\"");
  EXPECT_EQ(JsonString("plain"), "\"\"plain\"\"");
  EXPECT_EQ(JsonString("say \"hi\""), "\"\"say \\\"\"hi\\\"\"\"\"");
  EXPECT_EQ(JsonString("back\\slash"), "\"\"back\\\\slash\"\"");
  EXPECT_EQ(JsonString("\b\f\n\r\t"), "\"\"\\b\\f\\n\\r\\t\"\"");
  EXPECT_EQ(JsonString(std::string("\x01\x1f", 2)), "\"\"\\u0001\\u001f\"\"");
  EXPECT_EQ(JsonString("caf\xc3\xa9, \x7f"), "\"\"caf\xc3\xa9, \x7f\"\"");
  std::string worst(100, '\x01');
  EXPECT_LE(JsonString(worst).size(), JsonStringForCsvBound(worst.size()));
}

// The eight-bytes-at-a-time path against escape_json's byte-at-a-time rule,
// with the special bytes at every position of long strings.
TEST(TypeText, LongJsonStringsMatchTheByteAtATimeRule) {
  auto reference = [](const std::string &value) {
    std::string out = "\"\"";
    for (unsigned char c : value) {
      if (c == '"')
        out += "\\\"\"";
      else if (c == '\\')
        out += "\\\\";
      else if (c == '\b')
        out += "\\b";
      else if (c == '\f')
        out += "\\f";
      else if (c == '\n')
        out += "\\n";
      else if (c == '\r')
        out += "\\r";
      else if (c == '\t')
        out += "\\t";
      else if (c < 0x20) {
        char escaped[8];
        snprintf(escaped, sizeof escaped, "\\u%04x", c);
        out += escaped;
      } else {
        out += static_cast<char>(c);
      }
    }
    return out + "\"\"";
  };
  const std::string specials = std::string("\"\\\n\x01\x1f\x7f\x80\xff ", 9);
  for (char special : specials) {
    for (size_t position = 0; position < 40; position++) {
      std::string value = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH";
      value[position] = special;
      ASSERT_EQ(JsonString(value), reference(value)) << "position " << position;
    }
  }
}

}  // namespace
}  // namespace cdw
