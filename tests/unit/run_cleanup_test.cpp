#include "storage/run_cleanup.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "common/error.h"
#include "storage/file_store.h"

namespace cdw {
namespace {

std::vector<ObjectInfo> Objects(std::initializer_list<const char *> keys) {
  std::vector<ObjectInfo> objects;
  for (const char *key : keys) objects.push_back({key, 1});
  return objects;
}

TEST(UnlistedObjects, EverythingOfARunWithoutKeptDatabases) {
  auto unlisted =
      UnlistedObjects(Objects({"r/db/t/part-2", "r/db/manifest.json", "r/db/t/part-1"}), {});
  EXPECT_EQ(unlisted,
            (std::vector<std::string>{"r/db/manifest.json", "r/db/t/part-1", "r/db/t/part-2"}));
}

TEST(UnlistedObjects, KeepsWhatAManifestListsAndNothingElse) {
  KeptDatabase shop{"r/shop/", true, {"r/shop/manifest.json", "r/shop/a/part-1"}};
  auto unlisted =
      UnlistedObjects(Objects({"r/shop/manifest.json", "r/shop/a/part-1", "r/shop/a/part-2",
                               "r/shop/b/part-1", "r/crm/manifest.json", "r/crm/c/part-1"}),
                      {shop});
  EXPECT_EQ(unlisted, (std::vector<std::string>{"r/crm/c/part-1", "r/crm/manifest.json",
                                                "r/shop/a/part-2", "r/shop/b/part-1"}));
}

TEST(UnreferencedObjects, AnExpiredRunKeepsWhatANewerRunReferences) {
  // Run 1 expired; run 2 (kept) references its part a/1 and wrote b/2.
  auto gone =
      UnreferencedObjects(Objects({"1/db/a/part-1", "1/db/b/part-1", "1/db/manifest.json.hmac"}),
                          {"1/db/a/part-1", "2/db/b/part-2"});
  EXPECT_EQ(gone, (std::vector<std::string>{"1/db/b/part-1", "1/db/manifest.json.hmac"}));
  // Once run 2 expires too, nothing references run 1's part any more.
  gone = UnreferencedObjects(Objects({"1/db/a/part-1", "2/db/b/part-2"}), {});
  EXPECT_EQ(gone, (std::vector<std::string>{"1/db/a/part-1", "2/db/b/part-2"}));
}

TEST(UnlistedObjects, AnUnreadableManifestKeepsItsWholeDatabase) {
  KeptDatabase shop{"r/shop/", false, {}};
  auto unlisted = UnlistedObjects(
      Objects({"r/shop/manifest.json", "r/shop/a/part-9", "r/shopping/x/part-1"}), {shop});
  // "r/shopping/" is another database: the prefix ends in '/'.
  EXPECT_EQ(unlisted, (std::vector<std::string>{"r/shopping/x/part-1"}));
}

class RemoveObjectsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/cdw_run_cleanup_XXXXXX";
    root_ = mkdtemp(pattern);
    store_ = std::make_unique<FileStore>(root_);
  }
  void TearDown() override { std::system(("rm -rf " + root_).c_str()); }
  void Put(const std::string &key) {
    auto writer = store_->Create(key);
    writer->Write("x", 1);
    writer->Finish();
    writer->Commit();
  }
  std::string root_;
  std::unique_ptr<FileStore> store_;
};

TEST_F(RemoveObjectsTest, RemovesEveryKeyAndTheEmptyDirectories) {
  Put("r/db/t/part-1");
  Put("r/db/t/part-2");
  Put("other/db/t/part-1");
  auto outcome = RemoveObjects(store_.get(), {"r/db/t/part-1", "r/db/t/part-2", "r/db/missing"},
                               std::chrono::steady_clock::now() + std::chrono::seconds(10));
  EXPECT_EQ(outcome.removed, 3u);  // a missing object is not an error
  EXPECT_TRUE(outcome.left.empty());
  EXPECT_TRUE(outcome.error.empty());
  EXPECT_EQ(store_->List("r/").size(), 0u);
  EXPECT_EQ(store_->List("other/").size(), 1u);
}

// A store whose removals fail for keys under "locked/", as a read-only
// directory or a refusing bucket would.
class RefusingStore : public FileStore {
 public:
  using FileStore::FileStore;
  void Remove(const std::string &key) override {
    if (key.rfind("r/locked/", 0) == 0)
      throw Error(sqlstate::kInsufficientPrivilege, "could not remove \"" + key + "\": denied");
    FileStore::Remove(key);
  }
};

TEST_F(RemoveObjectsTest, AFailedRemovalIsReportedAndTheOthersGoOn) {
  Put("r/locked/part-1");
  Put("r/b/part-1");
  RefusingStore store(root_);
  auto outcome = RemoveObjects(&store, {"r/locked/part-1", "r/b/part-1"},
                               std::chrono::steady_clock::now() + std::chrono::seconds(10));
  EXPECT_EQ(outcome.removed, 1u);
  EXPECT_EQ(outcome.left, (std::vector<std::string>{"r/locked/part-1"}));
  EXPECT_EQ(outcome.error, "could not remove \"r/locked/part-1\": denied");
  EXPECT_EQ(store_->List("r/").size(), 1u);
}

TEST_F(RemoveObjectsTest, WhatIsNotTriedInTimeIsLeft) {
  Put("r/a/part-1");
  auto outcome = RemoveObjects(store_.get(), {"r/a/part-1"}, std::chrono::steady_clock::now());
  EXPECT_TRUE(outcome.out_of_time);
  EXPECT_EQ(outcome.left, (std::vector<std::string>{"r/a/part-1"}));
  EXPECT_EQ(store_->List("r/").size(), 1u);
}

}  // namespace
}  // namespace cdw
