#include "storage/throttled_store.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <unistd.h>

#include "storage/file_store.h"

namespace cdw {
namespace {

constexpr uint64_t kMB = 1024 * 1024;

double SecondsOf(const std::function<void()> &work) {
  auto start = std::chrono::steady_clock::now();
  work();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// A file:// store behind a limit of 8 MB/s: writes and reads (a backup's
// uploads, a restore's or a verify's downloads) both pay, from one bucket
// shared by two stores (two workers of a run). Only lower bounds are
// checked: a loaded machine may be slower, never faster.
class ThrottledStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/cdw_throttled_XXXXXX";
    root_ = mkdtemp(pattern);
    InitRateBucket(&bucket_, 8 * kMB);
  }
  void TearDown() override { std::system(("rm -rf " + root_).c_str()); }

  std::unique_ptr<ObjectStore> Open() {
    return ThrottleStore(std::make_unique<FileStore>(root_), &bucket_, {});
  }

  std::string root_;
  RateBucket bucket_;
};

TEST_F(ThrottledStoreTest, WritesAndReadsOfTwoStoresShareTheRate) {
  std::string data(2 * kMB, 'x');
  double seconds = SecondsOf([&] {
    std::thread other([&] {
      auto store = Open();
      auto writer = store->Create("b");
      for (size_t i = 0; i < data.size(); i += 100000)
        writer->Write(data.data() + i, std::min<size_t>(100000, data.size() - i));
      writer->Finish();
      writer->Commit();
    });
    auto store = Open();
    auto writer = store->Create("a");
    writer->Write(data.data(), data.size());
    writer->Finish();
    writer->Commit();
    other.join();
  });
  EXPECT_GE(seconds, 4.0 * kMB / (8 * kMB) * 0.98) << "4 MB written at 8 MB/s";

  auto store = Open();
  EXPECT_EQ(store->List("").size(), 2u);
  // Empty again: what the bucket saved while idle would be a burst.
  InitRateBucket(&bucket_, 8 * kMB);
  std::string back;
  seconds = SecondsOf([&] {
    for (const char *key : {"a", "b"}) {
      auto source = store->Open(key);
      char buffer[65536];
      while (size_t n = source->Read(buffer, sizeof buffer)) back.append(buffer, n);
    }
  });
  EXPECT_EQ(back.size(), 4 * kMB);
  EXPECT_GE(seconds, 4.0 * kMB / (8 * kMB) * 0.98) << "4 MB read at 8 MB/s";
}

TEST_F(ThrottledStoreTest, UnlimitedBucketDoesNotPace) {
  InitRateBucket(&bucket_, 0);
  std::string data(16 * kMB, 'x');
  auto store = Open();
  double seconds = SecondsOf([&] {
    auto writer = store->Create("big");
    writer->Write(data.data(), data.size());
    writer->Finish();
    writer->Commit();
  });
  EXPECT_LT(seconds, 1.0) << "16 MB with no limit (2 s at the limit of the other test)";
}

// A store that reports whether the interrupt check it was given fires.
class InterruptProbeStore : public FileStore {
 public:
  using FileStore::FileStore;
  bool Interrupted() const { return interrupt_check_ && interrupt_check_(); }
};

// The deadline a caller sets on the throttled store (a run index written
// after a cancel) reaches the store that makes the requests.
TEST(ThrottledStoreInterruptTest, InterruptCheckReachesTheInnerStore) {
  RateBucket bucket;
  InitRateBucket(&bucket, 8 * kMB);
  auto inner = std::make_unique<InterruptProbeStore>("/tmp");
  InterruptProbeStore *probe = inner.get();
  auto store = ThrottleStore(std::move(inner), &bucket, {});
  EXPECT_FALSE(probe->Interrupted());
  store->SetInterruptCheck([] { return true; });
  EXPECT_TRUE(probe->Interrupted());
}

}  // namespace
}  // namespace cdw
