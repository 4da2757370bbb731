#include "compression/threaded_compressor.h"

#include <gtest/gtest.h>

#include <dirent.h>

#include <cstring>
#include <random>
#include <stdexcept>
#include <string>

#include "common/byte_stream.h"

namespace cdw {
namespace {

// A StringSink that fails once it holds more than `fail_after` bytes.
class FailingSink : public StringSink {
 public:
  void Write(const char *data, size_t len) override {
    if (fail_after >= 0 && static_cast<long>(out.size()) > fail_after)
      throw std::runtime_error("storage full");
    StringSink::Write(data, len);
  }
  long fail_after = -1;
};

std::string Sample(size_t bytes) {
  std::mt19937 rng(7);
  std::string s;
  while (s.size() < bytes)
    s += std::to_string(rng()) + ",row text " + std::to_string(rng() % 97) + "\n";
  return s.substr(0, bytes);
}

class ThreadedCompressorTest : public ::testing::TestWithParam<Compression> {};

TEST_P(ThreadedCompressorTest, SameBytesBackAtAnySize) {
  for (size_t size :
       {size_t{0}, size_t{10}, (size_t{1} << 20) - 1, size_t{1} << 20, (size_t{7} << 20) + 12345}) {
    std::string input = Sample(size);
    StringSink sink;
    auto compressor =
        MakeThreadedCompressor(GetParam(), DefaultCompressionLevel(GetParam()), &sink);
    std::mt19937 rng(size);
    for (size_t pos = 0; pos < input.size();) {
      size_t n = std::min<size_t>(input.size() - pos, 1 + rng() % 300000);
      compressor->Write(input.data() + pos, n);
      pos += n;
    }
    compressor->Finish();
    EXPECT_TRUE(sink.finished);
    auto source = MakeDecompressor(GetParam(), std::make_unique<StringSource>(sink.out), "t");
    std::string back;
    char buffer[65536];
    while (size_t n = source->Read(buffer, sizeof buffer)) back.append(buffer, n);
    EXPECT_EQ(back, input) << "size " << size;
  }
}

TEST_P(ThreadedCompressorTest, DownstreamErrorsReachTheCaller) {
  FailingSink sink;
  sink.fail_after = 1000;
  auto compressor = MakeThreadedCompressor(GetParam(), DefaultCompressionLevel(GetParam()), &sink);
  std::string input = Sample(8 << 20);
  EXPECT_THROW(
      {
        compressor->Write(input.data(), input.size());
        compressor->Finish();
      },
      std::runtime_error);
}

TEST_P(ThreadedCompressorTest, DestroyingUnfinishedCompressorDoesNotHang) {
  StringSink sink;
  auto compressor = MakeThreadedCompressor(GetParam(), DefaultCompressionLevel(GetParam()), &sink);
  std::string input = Sample(5 << 20);
  compressor->Write(input.data(), input.size());
  compressor.reset();  // e.g. the statement failed: no Finish()
  EXPECT_FALSE(sink.finished);
}

// Threads of this process, from /proc.
int ThreadCount() {
  int count = 0;
  DIR *dir = opendir("/proc/self/task");
  if (!dir) return -1;
  while (dirent *entry = readdir(dir))
    if (entry->d_name[0] != '.') count++;
  closedir(dir);
  return count;
}

// A part smaller than one chunk is compressed on the caller's thread: no
// thread is started (and joined) per small table; a bigger one gets its thread.
TEST_P(ThreadedCompressorTest, OnlyPartsOfAChunkOrMoreStartAThread) {
  int before = ThreadCount();
  std::string small = Sample(10000);
  StringSink small_sink;
  auto compressor =
      MakeThreadedCompressor(GetParam(), DefaultCompressionLevel(GetParam()), &small_sink);
  compressor->Write(small.data(), small.size());
  EXPECT_EQ(ThreadCount(), before);
  compressor->Finish();
  EXPECT_EQ(ThreadCount(), before);
  EXPECT_TRUE(small_sink.finished);
  auto source = MakeDecompressor(GetParam(), std::make_unique<StringSource>(small_sink.out), "t");
  std::string back;
  char buffer[65536];
  while (size_t n = source->Read(buffer, sizeof buffer)) back.append(buffer, n);
  EXPECT_EQ(back, small);

  StringSink big_sink;
  compressor = MakeThreadedCompressor(GetParam(), DefaultCompressionLevel(GetParam()), &big_sink);
  std::string big = Sample((size_t{1} << 20) + 1);
  compressor->Write(big.data(), big.size());
  EXPECT_EQ(ThreadCount(), before + 1);
  compressor->Finish();
}

INSTANTIATE_TEST_SUITE_P(Compressed, ThreadedCompressorTest,
                         ::testing::Values(Compression::kGzip, Compression::kZstd),
                         [](const auto &info) { return std::string(CompressionName(info.param)); });

}  // namespace
}  // namespace cdw
