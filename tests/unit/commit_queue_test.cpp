// CommitQueue (storage/commit_queue.h): one backup worker's tables whose
// uploads are in flight, bounded, finished only when every commit ended.
#include "storage/commit_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "common/error.h"

namespace cdw {
namespace {

// A commit the test ends by hand: done, failed or interrupted on Wait().
class FakeCommit : public PendingCommit {
 public:
  explicit FakeCommit(int limit = 3, uint64_t bytes = 0) : limit_(limit), bytes_(bytes) {}
  bool Done() override { return done_; }
  void Wait() override {
    while (!done_) {
      if (interrupt_) throw Interrupted();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    waited_++;
    if (fail_) throw Error(sqlstate::kIoError, "upload of object \"x\" failed");
  }
  void Cancel() noexcept override { cancelled_ = true; }
  int InFlightLimit() const override { return limit_; }
  uint64_t BufferedBytes() const override { return bytes_; }

  std::atomic<bool> done_{false};
  bool fail_ = false;
  bool interrupt_ = false;
  bool cancelled_ = false;
  int waited_ = 0;
  int limit_;
  uint64_t bytes_;
};

std::shared_ptr<FakeCommit> Fake(int limit = 3, uint64_t bytes = 0) {
  return std::make_shared<FakeCommit>(limit, bytes);
}

TEST(CommitQueueTest, FullAtTheStoresLimitOfTables) {
  CommitQueue queue;
  EXPECT_FALSE(queue.Full());
  queue.Add(1, {Fake()});
  queue.Add(2, {Fake(), Fake()});  // two parts of one table count once
  EXPECT_FALSE(queue.Full());
  queue.Add(3, {Fake()});
  EXPECT_TRUE(queue.Full());
  EXPECT_EQ(queue.size(), 3u);
}

TEST(CommitQueueTest, FullWhenBuffersHoldTheByteBound) {
  CommitQueue queue(1000);
  queue.Add(1, {Fake(8, 600)});
  EXPECT_FALSE(queue.Full());
  queue.Add(2, {Fake(8, 400)});
  EXPECT_TRUE(queue.Full());
}

TEST(CommitQueueTest, NextWithoutWaitReportsOnlyEndedTablesOldestFirst) {
  CommitQueue queue;
  auto a = Fake(), b1 = Fake(), b2 = Fake(), c = Fake();
  queue.Add(10, {a});
  queue.Add(20, {b1, b2});
  queue.Add(30, {c});
  CommitQueue::Finished finished;
  EXPECT_FALSE(queue.Next(false, &finished));  // nothing ended
  b1->done_ = true;
  EXPECT_FALSE(queue.Next(false, &finished));  // table 20 has a part still uploading
  c->done_ = true;
  b2->done_ = true;
  ASSERT_TRUE(queue.Next(false, &finished));
  EXPECT_EQ(finished.tag, 20);  // ended before the older table 10
  EXPECT_FALSE(finished.error);
  EXPECT_EQ(b1->waited_, 1);
  EXPECT_EQ(b2->waited_, 1);
  ASSERT_TRUE(queue.Next(false, &finished));
  EXPECT_EQ(finished.tag, 30);
  EXPECT_FALSE(queue.Next(false, &finished));
  EXPECT_EQ(queue.size(), 1u);
}

TEST(CommitQueueTest, NextWithWaitWaitsForTheOldest) {
  CommitQueue queue;
  auto a = Fake(), b = Fake();
  queue.Add(1, {a});
  queue.Add(2, {b});
  b->done_ = true;
  std::thread ender([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    a->done_ = true;
  });
  CommitQueue::Finished finished;
  ASSERT_TRUE(queue.Next(true, &finished));
  ender.join();
  EXPECT_EQ(finished.tag, 1);
  ASSERT_TRUE(queue.Next(true, &finished));
  EXPECT_EQ(finished.tag, 2);
  EXPECT_FALSE(queue.Next(true, &finished));  // none in flight
  EXPECT_TRUE(queue.empty());
}

TEST(CommitQueueTest, AFailedPartFailsItsTableOnlyAndEveryPartIsWaitedFor) {
  CommitQueue queue;
  auto ok = Fake(), bad = Fake(), other = Fake();
  bad->fail_ = true;
  queue.Add(1, {bad, ok});
  queue.Add(2, {other});
  ok->done_ = bad->done_ = other->done_ = true;
  CommitQueue::Finished finished;
  ASSERT_TRUE(queue.Next(true, &finished));
  EXPECT_EQ(finished.tag, 1);
  ASSERT_TRUE(finished.error);
  EXPECT_EQ(ok->waited_, 1);  // the other part too: its thread is over
  try {
    std::rethrow_exception(finished.error);
  } catch (const Error &e) {
    EXPECT_EQ(e.sqlstate(), sqlstate::kIoError);
  }
  ASSERT_TRUE(queue.Next(true, &finished));
  EXPECT_EQ(finished.tag, 2);
  EXPECT_FALSE(finished.error);
}

TEST(CommitQueueTest, AnInterruptPropagatesAndKeepsTheTableForClear) {
  CommitQueue queue;
  auto a = Fake();
  a->interrupt_ = true;
  queue.Add(1, {a});
  CommitQueue::Finished finished;
  EXPECT_THROW(queue.Next(true, &finished), Interrupted);
  EXPECT_EQ(queue.size(), 1u);
  queue.Clear();
  EXPECT_TRUE(a->cancelled_);
  EXPECT_TRUE(queue.empty());
}

}  // namespace
}  // namespace cdw
