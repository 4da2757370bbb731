#include "compression/compression.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>

#include "common/byte_stream.h"
#include "common/error.h"

namespace cdw {
namespace {

std::string Compress(Compression c, const std::string &input, size_t write_chunk = 1000) {
  StringSink sink;
  auto compressor = MakeCompressor(c, DefaultCompressionLevel(c), &sink);
  for (size_t pos = 0; pos < input.size(); pos += write_chunk)
    compressor->Write(input.data() + pos, std::min(write_chunk, input.size() - pos));
  compressor->Finish();
  EXPECT_TRUE(sink.finished);
  return sink.out;
}

std::string Decompress(Compression c, const std::string &data) {
  auto source = MakeDecompressor(c, std::make_unique<StringSource>(data), "test-object");
  std::string out;
  char buffer[777];
  while (size_t n = source->Read(buffer, sizeof buffer)) out.append(buffer, n);
  return out;
}

std::string SampleCsv(size_t bytes) {
  std::mt19937 rng(42);
  std::string s;
  while (s.size() < bytes)
    s += std::to_string(rng()) + ",2026-11-24 03:00:00+00,\"text " + std::to_string(rng() % 1000) +
         "\"\n";
  return s;
}

class CompressionRoundTrip : public ::testing::TestWithParam<Compression> {};

TEST_P(CompressionRoundTrip, SmallEmptyAndMultiMember) {
  for (size_t size : {size_t{0}, size_t{1}, size_t{1000}, size_t{3} << 20}) {
    std::string input = SampleCsv(size).substr(0, size);
    std::string compressed = Compress(GetParam(), input);
    EXPECT_EQ(Decompress(GetParam(), compressed), input) << "size " << size;
    if (GetParam() != Compression::kNone && size > 100000) {
      EXPECT_LT(compressed.size(), input.size() / 2);
    }
  }
}

// Only compressed formats have framing and checksums to detect damage with;
// for plain CSV, verification relies on the manifest's SHA-256.
class CompressedFormats : public ::testing::TestWithParam<Compression> {};

TEST_P(CompressedFormats, TruncationIsDetected) {
  std::string compressed = Compress(GetParam(), SampleCsv(200000));
  std::string truncated = compressed.substr(0, compressed.size() - 9);
  try {
    Decompress(GetParam(), truncated);
    FAIL() << "truncated stream decoded without error";
  } catch (const Error &e) {
    EXPECT_EQ(e.sqlstate(), "XX001");
    EXPECT_NE(std::string(e.what()).find("test-object"), std::string::npos);
  }
}

TEST_P(CompressedFormats, CorruptionIsDetected) {
  std::string compressed = Compress(GetParam(), SampleCsv(200000));
  compressed[compressed.size() / 2] ^= 0x5a;
  EXPECT_THROW(Decompress(GetParam(), compressed), Error);
}

INSTANTIATE_TEST_SUITE_P(AllAlgorithms, CompressionRoundTrip,
                         ::testing::Values(Compression::kGzip, Compression::kZstd,
                                           Compression::kNone),
                         [](const auto &info) { return std::string(CompressionName(info.param)); });

INSTANTIATE_TEST_SUITE_P(Compressed, CompressedFormats,
                         ::testing::Values(Compression::kGzip, Compression::kZstd),
                         [](const auto &info) { return std::string(CompressionName(info.param)); });

TEST(CompressionTest, GzipOfLargeInputIsSeveralMembers) {
  std::string compressed = Compress(Compression::kGzip, SampleCsv(3 << 20));
  // Each member starts with the gzip magic 1f 8b 08.
  size_t members = 0;
  for (size_t pos = 0; (pos = compressed.find("\x1f\x8b\x08", pos)) != std::string::npos; pos++)
    members++;
  EXPECT_GE(members, 3u);
}

TEST(CompressionTest, ParsesNamesAndRejectsOthers) {
  EXPECT_EQ(ParseCompression("gzip"), Compression::kGzip);
  EXPECT_EQ(ParseCompression("zstd"), Compression::kZstd);
  EXPECT_EQ(ParseCompression("none"), Compression::kNone);
  EXPECT_THROW(ParseCompression("lz4"), Error);
  EXPECT_STREQ(PartSuffix(Compression::kGzip), ".csv.gz");
  EXPECT_STREQ(PartSuffix(Compression::kZstd), ".csv.zst");
  EXPECT_STREQ(PartSuffix(Compression::kNone), ".csv");
  EXPECT_THROW(CheckCompressionLevel(Compression::kGzip, 13), Error);
  EXPECT_NO_THROW(CheckCompressionLevel(Compression::kZstd, 19));
}

}  // namespace
}  // namespace cdw
