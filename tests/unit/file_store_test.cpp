#include "storage/file_store.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"

namespace cdw {
namespace {

class FileStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/cdw_file_store_XXXXXX";
    root_ = mkdtemp(pattern);
    store_ = std::make_unique<FileStore>(root_);
  }
  void TearDown() override { std::system(("rm -rf " + root_).c_str()); }

  void Put(const std::string &key, const std::string &data) {
    auto writer = store_->Create(key);
    writer->Write(data.data(), data.size());
    writer->Finish();
    writer->Commit();
  }
  bool Exists(const std::string &relative) {
    struct stat st;
    return ::stat((root_ + "/" + relative).c_str(), &st) == 0;
  }

  std::string root_;
  std::unique_ptr<FileStore> store_;
};

TEST_F(FileStoreTest, ObjectAppearsOnlyOnCommit) {
  auto writer = store_->Create("run/t/part-1.csv");
  writer->Write("a,b\n", 4);
  writer->Finish();
  EXPECT_TRUE(store_->List("run/").empty());
  EXPECT_TRUE(Exists("run/t/.tmp-part-1.csv"));
  writer->Commit();
  auto listed = store_->List("run/");
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].key, "run/t/part-1.csv");
  EXPECT_EQ(listed[0].size, 4u);
  EXPECT_FALSE(Exists("run/t/.tmp-part-1.csv"));
}

TEST_F(FileStoreTest, AbortLeavesNothingAndExistingObjectsAreNeverOverwritten) {
  {
    auto writer = store_->Create("t/part-1.csv");
    writer->Write("x", 1);
  }  // destroyed without Commit()
  EXPECT_TRUE(store_->List("t/").empty());
  EXPECT_FALSE(Exists("t/.tmp-part-1.csv"));
  Put("t/part-2.csv", "1\n");
  EXPECT_THROW(store_->Create("t/part-2.csv"), Error);
}

TEST_F(FileStoreTest, DiscardIncompleteRemovesOnlyTemporaryFiles) {
  Put("run/a/part-1.csv.gz", "data");
  // What an interrupted writer leaves behind.
  std::ofstream(root_ + "/run/a/.tmp-part-2.csv.gz") << "half";
  ::mkdir((root_ + "/run/b").c_str(), 0700);
  std::ofstream(root_ + "/run/b/.tmp-part-1.csv.gz") << "half";
  std::ofstream(root_ + "/other.tmp-not-ours") << "keep";
  EXPECT_EQ(store_->DiscardIncomplete("run/"), 2u);
  EXPECT_TRUE(Exists("run/a/part-1.csv.gz"));
  EXPECT_FALSE(Exists("run/a/.tmp-part-2.csv.gz"));
  EXPECT_FALSE(Exists("run/b/.tmp-part-1.csv.gz"));
  EXPECT_TRUE(Exists("other.tmp-not-ours"));
  EXPECT_EQ(store_->DiscardIncomplete("missing/"), 0u);
}

TEST_F(FileStoreTest, KeysCannotEscapeTheRoot) {
  EXPECT_THROW(store_->Create("../outside"), Error);
  EXPECT_THROW(store_->Create("/etc/passwd"), Error);
  EXPECT_THROW(store_->Create("a/./b"), Error);
  EXPECT_THROW(FileStore::ParseRoot("file://relative"), Error);
  EXPECT_THROW(FileStore::ParseRoot("file:///a/../b"), Error);
  EXPECT_EQ(FileStore::ParseRoot("file:///var/backups/pg/"), "/var/backups/pg");
  EXPECT_EQ(FileStore::ParseRoot("file://localhost/var/backups"), "/var/backups");
}

// A link inside a target (to the data directory, say) is never followed:
// not for writing, reading, listing or removing.
TEST_F(FileStoreTest, SymbolicLinksBelowTheRootAreNeverFollowed) {
  char pattern[] = "/tmp/cdw_file_store_outside_XXXXXX";
  std::string outside = mkdtemp(pattern);
  std::ofstream(outside + "/secret.txt") << "secret";
  ASSERT_EQ(::symlink(outside.c_str(), (root_ + "/linked").c_str()), 0);
  ASSERT_EQ(::mkdir((root_ + "/run").c_str(), 0700), 0);
  ASSERT_EQ(::symlink((outside + "/secret.txt").c_str(), (root_ + "/run/file.csv").c_str()), 0);

  try {
    store_->Create("linked/part-1.csv");
    FAIL() << "Create through a directory link succeeded";
  } catch (const Error &e) {
    EXPECT_EQ(e.sqlstate(), sqlstate::kInsufficientPrivilege);
    EXPECT_NE(std::string(e.what()).find("symbolic link"), std::string::npos) << e.what();
  }
  EXPECT_THROW(store_->Create("linked/deeper/part-1.csv"), Error);
  EXPECT_THROW(store_->Open("linked/secret.txt"), Error);
  EXPECT_THROW(store_->Open("run/file.csv"), Error);
  EXPECT_THROW(store_->Create("run/file.csv"), Error);
  EXPECT_THROW(store_->List("linked/"), Error);
  EXPECT_TRUE(store_->List("").empty());  // links are not objects
  EXPECT_THROW(store_->Remove("linked/secret.txt"), Error);
  struct stat st;
  EXPECT_EQ(::stat((outside + "/secret.txt").c_str(), &st), 0);
  EXPECT_EQ(::stat((outside + "/part-1.csv").c_str(), &st), -1);

  // A root that is itself a link is the administrator's choice and works.
  FileStore through_link(root_ + "/linked");
  EXPECT_EQ(through_link.List("").size(), 1u);
  std::system(("rm -rf " + outside).c_str());
}

}  // namespace
}  // namespace cdw
