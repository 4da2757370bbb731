#include "format/csv.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "common/byte_stream.h"

namespace cdw {
namespace {

struct Value {
  std::string text;
  bool is_null;
};

std::string Encode(const std::vector<std::vector<Value>> &rows) {
  StringSink sink;
  CsvEncoder encoder(&sink, 16);
  for (const auto &row : rows) {
    for (size_t i = 0; i < row.size(); i++)
      encoder.AppendField(row[i].text.data(), row[i].text.size(), row[i].is_null, i == 0,
                          row.size() == 1);
    encoder.EndRecord();
  }
  encoder.Flush();
  return sink.out;
}

std::vector<std::vector<Value>> Decode(const std::string &csv, size_t chunk) {
  StringSource source(csv, chunk);  // records straddle reads
  CsvDecoder decoder(&source, 7);
  std::vector<std::vector<Value>> rows;
  std::vector<CsvField> fields;
  while (decoder.NextRecord(&fields)) {
    std::vector<Value> row;
    for (auto &f : fields) {
      EXPECT_EQ(f.data[f.len], '\0');
      row.push_back({std::string(f.data, f.len), f.is_null});
    }
    rows.push_back(row);
  }
  return rows;
}

TEST(CsvEncoderTest, QuotesExactlyLikeCopy) {
  EXPECT_EQ(Encode({{{"plain", false}, {"", true}, {"", false}}}), "plain,,\"\"\n");
  EXPECT_EQ(Encode({{{"a,b", false}, {"say \"hi\"", false}}}), "\"a,b\",\"say \"\"hi\"\"\"\n");
  EXPECT_EQ(Encode({{{"line\nbreak", false}, {"cr\r", false}}}), "\"line\nbreak\",\"cr\r\"\n");
  // Backslashes and spaces are not special in CSV.
  EXPECT_EQ(Encode({{{"C:\\dir name", false}, {" x ", false}}}), "C:\\dir name, x \n");
  // A lone \. is quoted only in one-column records (end-of-data marker).
  EXPECT_EQ(Encode({{{"\\.", false}}}), "\"\\.\"\n");
  EXPECT_EQ(Encode({{{"\\.", false}, {"x", false}}}), "\\.,x\n");
  // One-column NULL is an empty line.
  EXPECT_EQ(Encode({{{"", true}}}), "\n");
}

TEST(CsvDecoderTest, RoundTripsEveryQuotingCase) {
  std::vector<std::vector<Value>> rows = {
      {{"plain", false}, {"", true}, {"", false}},
      {{"a,b", false}, {"say \"hi\"", false}, {"\"", false}},
      {{"multi\nline\r\nvalue", false}, {"ünïcödé 漢字", false}, {"\\N", false}},
      {{"", true}, {"", true}, {"", true}},
      {{"\"\"", false}, {",", false}, {"\n", false}},
  };
  std::string csv = Encode(rows);
  for (size_t chunk : {1, 2, 3, 5, 64, 4096}) {
    auto decoded = Decode(csv, chunk);
    ASSERT_EQ(decoded.size(), rows.size()) << "chunk " << chunk;
    for (size_t r = 0; r < rows.size(); r++) {
      ASSERT_EQ(decoded[r].size(), rows[r].size());
      for (size_t c = 0; c < rows[r].size(); c++) {
        EXPECT_EQ(decoded[r][c].is_null, rows[r][c].is_null) << r << "," << c;
        if (!rows[r][c].is_null) {
          EXPECT_EQ(decoded[r][c].text, rows[r][c].text) << r << "," << c;
        }
      }
    }
  }
}

TEST(CsvDecoderTest, AcceptsCrLfAndMissingFinalNewline) {
  auto rows = Decode("a,b\r\nc,d", 3);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0][1].text, "b");
  EXPECT_EQ(rows[1][0].text, "c");
  EXPECT_EQ(rows[1][1].text, "d");
}

TEST(CsvDecoderTest, RejectsUnterminatedQuote) {
  EXPECT_THROW(Decode("a,\"unterminated\n", 4), std::exception);
}

TEST(CsvDecoderTest, EmptyInputHasNoRecords) {
  EXPECT_TRUE(Decode("", 4).empty());
}

}  // namespace
}  // namespace cdw

namespace cdw {
namespace {

// The quoting scan works eight bytes at a time: a special byte must be found
// at every offset, and bytes close to special ones must not be taken for them.
TEST(CsvEncoderTest, FindsSpecialBytesAtEveryOffset) {
  for (char special : {',', '"', '\n', '\r'}) {
    for (size_t length = 1; length <= 24; length++) {
      for (size_t at = 0; at < length; at++) {
        std::string value(length, 'a');
        value[at] = special;
        std::string out = Encode({{{value, false}, {"x", false}}});
        EXPECT_EQ(out.front(), '"') << "special " << int(special) << " at " << at << "/" << length;
      }
    }
  }
  for (char near : {'+', '-', '#', '!', '\t', '\x0b', '\x0c', '\x0e', '\x80', '\xac'}) {
    std::string value(19, near);
    EXPECT_EQ(Encode({{{value, false}, {"x", false}}}), value + ",x\n") << int(near);
  }
}

}  // namespace
}  // namespace cdw
