#include "manifest/verify.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "common/sha256.h"
#include "format/part_io.h"
#include "storage/file_store.h"

namespace cdw {
namespace {

class VerifyTest : public ::testing::TestWithParam<Compression> {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/cdw_verify_XXXXXX";
    root_ = mkdtemp(pattern);
    store_ = std::make_unique<FileStore>(root_);
    PartWriter writer(store_.get(), "t/part-1" + std::string(PartSuffix(GetParam())), GetParam(),
                      DefaultCompressionLevel(GetParam()));
    for (int i = 0; i < 20000; i++) {
      std::string value = "row " + std::to_string(i) + ", \"quoted\"";
      writer.csv().AppendField(value.data(), value.size(), false, true, false);
      writer.csv().AppendField("x", 1, false, false, false);
      writer.csv().EndRecord();
      writer.CountRow();
    }
    stats_ = writer.FinishAndCommit();
    object_ = ManifestObject();
    object_.key = "part-1" + std::string(PartSuffix(GetParam()));
    object_.size = stats_.bytes_stored;
    object_.sha256 = stats_.sha256;
    object_.rows = static_cast<int64_t>(stats_.rows);
  }
  void TearDown() override { std::system(("rm -rf " + root_).c_str()); }

  std::string PathOf(const std::string &key) { return root_ + "/t/" + key; }
  std::string Read(const std::string &key) {
    std::ifstream in(PathOf(key), std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  void Write(const std::string &key, const std::string &data) {
    std::ofstream(PathOf(key), std::ios::binary | std::ios::trunc) << data;
  }
  std::vector<VerifyProblem> Verify(int64_t rows = 20000) {
    return VerifyTable(store_.get(), "t/", {object_}, GetParam(), rows);
  }
  static bool Has(const std::vector<VerifyProblem> &problems, const std::string &kind) {
    for (const auto &p : problems)
      if (p.kind == kind) return true;
    return false;
  }

  std::string root_;
  std::unique_ptr<FileStore> store_;
  PartStats stats_;
  ManifestObject object_;
};

TEST_P(VerifyTest, IntactBackupIsOk) {
  EXPECT_TRUE(Verify().empty());
}

// The size and SHA-256 a writer reports are the stored object's, whether
// the writer measured the stored bytes apart from the CSV or (no compression)
// took the CSV's own.
TEST_P(VerifyTest, ReportedSizeAndHashAreTheStoredObjects) {
  std::string stored = Read(object_.key);
  EXPECT_EQ(stats_.bytes_stored, stored.size());
  EXPECT_EQ(stats_.sha256, Sha256::HexOf(stored.data(), stored.size()));
  if (GetParam() == Compression::kNone) {
    EXPECT_EQ(stats_.sha256, stats_.content_sha256);
    EXPECT_EQ(stats_.bytes_stored, stats_.bytes_raw);
  } else {
    EXPECT_NE(stats_.sha256, stats_.content_sha256);
  }
}

TEST_P(VerifyTest, FlippedByteIsDetected) {
  std::string data = Read(object_.key);
  data[data.size() / 2] ^= 1;
  Write(object_.key, data);
  auto problems = Verify();
  EXPECT_TRUE(Has(problems, "checksum_mismatch"));
}

TEST_P(VerifyTest, TruncationIsDetected) {
  std::string data = Read(object_.key);
  Write(object_.key, data.substr(0, data.size() - 100));
  auto problems = Verify();
  EXPECT_TRUE(Has(problems, "size_mismatch"));
  EXPECT_TRUE(Has(problems, "checksum_mismatch"));
  if (GetParam() != Compression::kNone) {
    EXPECT_TRUE(Has(problems, "corrupt_data"));
  }
}

TEST_P(VerifyTest, MissingObjectIsDetected) {
  store_->Remove("t/" + object_.key);
  EXPECT_TRUE(Has(Verify(), "missing_object"));
}

TEST_P(VerifyTest, WrongManifestRowCountIsDetected) {
  EXPECT_TRUE(Has(Verify(19999), "row_count_mismatch"));
}

TEST_P(VerifyTest, UnlistedPartIsReported) {
  Write("part-extra.csv", "1,2\n");
  EXPECT_TRUE(Has(Verify(), "unexpected_object"));
}

INSTANTIATE_TEST_SUITE_P(AllAlgorithms, VerifyTest,
                         ::testing::Values(Compression::kGzip, Compression::kZstd,
                                           Compression::kNone),
                         [](const auto &info) { return std::string(CompressionName(info.param)); });

}  // namespace
}  // namespace cdw
