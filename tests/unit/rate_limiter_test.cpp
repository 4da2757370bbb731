#include "common/rate_limiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "common/error.h"

namespace cdw {
namespace {

constexpr int64_t kSecond = 1000000000;
constexpr uint64_t kMB = 1024 * 1024;

// Time moves only when a consumer sleeps.
class FakeClock : public RateClock {
 public:
  int64_t NowNs() override { return now; }
  void SleepNs(int64_t ns) override {
    EXPECT_GT(ns, 0);
    EXPECT_LE(ns, 100 * 1000000);  // waits are sliced for interrupt checks
    now += ns;
    sleeps++;
  }
  int64_t now = 1000 * kSecond;
  int sleeps = 0;
};

TEST(RateParse, UnitsAre1024Based) {
  EXPECT_EQ(ParseRate("max_rate", "50MB"), 50 * kMB);
  EXPECT_EQ(ParseRate("max_rate", "500kB"), 500 * 1024u);
  EXPECT_EQ(ParseRate("max_rate", "1GB"), 1024 * kMB);
  EXPECT_EQ(ParseRate("max_rate", "20MiB/s"), 20 * kMB);
  EXPECT_EQ(ParseRate("max_rate", " 8 mb/s "), 8 * kMB);
  EXPECT_EQ(ParseRate("max_rate", "1048576"), kMB);
  EXPECT_EQ(ParseRate("max_rate", "4096B"), 4096u);
  EXPECT_EQ(ParseRate("max_rate", "0"), 0u);
  EXPECT_EQ(ParseRate("max_rate", "unlimited"), 0u);
  EXPECT_EQ(ParseRate("max_rate", "OFF"), 0u);
}

TEST(RateParse, RejectsWithHint) {
  for (const char *bad : {"", "MB", "fast", "10 parsecs", "1.5MB", "-5MB", "100", "1023B", "2000GB",
                          "99999999999999MB"}) {
    try {
      ParseRate("option \"max_rate\"", bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error &e) {
      EXPECT_EQ(e.sqlstate(), "22023") << bad;
      EXPECT_NE(std::string(e.what()).find("option \"max_rate\""), std::string::npos) << bad;
      EXPECT_NE(e.hint().find("'50MB'"), std::string::npos) << bad;
      EXPECT_FALSE(e.detail().empty()) << bad;
    }
  }
}

TEST(RateParse, Format) {
  EXPECT_EQ(FormatRate(50 * kMB), "50MB/s");
  EXPECT_EQ(FormatRate(500 * 1024), "500kB/s");
  EXPECT_EQ(FormatRate(1024 * kMB), "1GB/s");
  EXPECT_EQ(FormatRate(1500), "1500B/s");
}

TEST(RateLimiter, HoldsTheRate) {
  FakeClock clock;
  RateBucket bucket;
  InitRateBucket(&bucket, 10 * kMB, clock);
  RateLimiter limiter(&bucket, {}, clock);
  int64_t start = clock.now;
  for (int i = 0; i < 1000; i++) limiter.Acquire(100 * 1024);  // ~97.7 MB
  double seconds = static_cast<double>(clock.now - start) / kSecond;
  EXPECT_NEAR(1000 * 100 * 1024 / seconds, 10.0 * kMB, 0.001 * 10 * kMB);
}

TEST(RateLimiter, StartsEmptyThenAllowsOneSecondBurstAfterIdle) {
  FakeClock clock;
  RateBucket bucket;
  InitRateBucket(&bucket, 1 * kMB, clock);
  RateLimiter limiter(&bucket, {}, clock);
  // A new bucket has no tokens: the first megabyte takes a second.
  int64_t start = clock.now;
  limiter.Acquire(kMB);
  EXPECT_NEAR(clock.now - start, kSecond, kSecond / 1000);
  // Idle for 5 s: the bucket refills to its depth (1 s of rate), no more.
  clock.now += 5 * kSecond;
  start = clock.now;
  limiter.Acquire(kMB);
  EXPECT_EQ(clock.now, start) << "a full bucket pays for one second of rate at once";
  limiter.Acquire(kMB);
  EXPECT_NEAR(clock.now - start, kSecond, kSecond / 1000) << "but not for more";
  EXPECT_EQ(RateBucketDepth(1 * kMB), static_cast<int64_t>(kMB));
  EXPECT_EQ(RateBucketDepth(4096), 64 * 1024) << "at least one step deep";
}

TEST(RateLimiter, ConsumersShareOneBucket) {
  FakeClock clock;
  RateBucket bucket;
  InitRateBucket(&bucket, 4 * kMB, clock);
  std::vector<RateLimiter> consumers;
  for (int i = 0; i < 4; i++) consumers.emplace_back(&bucket, InterruptCheck{}, clock);
  int64_t start = clock.now;
  uint64_t moved = 0;
  for (int round = 0; round < 200; round++)
    for (auto &consumer : consumers) {
      consumer.Acquire(256 * 1024);
      moved += 256 * 1024;
    }
  double seconds = static_cast<double>(clock.now - start) / kSecond;
  // Four consumers together get the rate, not four times it.
  EXPECT_NEAR(moved / seconds, 4.0 * kMB, 0.01 * 4 * kMB);
}

TEST(RateLimiter, UnlimitedNeverWaits) {
  FakeClock clock;
  RateBucket bucket;
  InitRateBucket(&bucket, 0, clock);
  RateLimiter limiter(&bucket, {}, clock);
  EXPECT_TRUE(limiter.Unlimited());
  limiter.Acquire(1024 * kMB);
  EXPECT_EQ(clock.sleeps, 0);
  RateLimiter none(nullptr, {}, clock);
  none.Acquire(kMB);
  EXPECT_EQ(clock.sleeps, 0);
}

TEST(RateLimiter, WaitIsInterruptible) {
  FakeClock clock;
  RateBucket bucket;
  InitRateBucket(&bucket, 64 * 1024, clock);
  int checks = 0;
  RateLimiter limiter(
      &bucket, [&] { return ++checks >= 3; }, clock);
  EXPECT_THROW(limiter.Acquire(10 * kMB), Interrupted);
  EXPECT_EQ(checks, 3);
  EXPECT_LT(clock.now - 1000 * kSecond, kSecond) << "polled at least every 100 ms";
}

// Real threads and the real clock: the bucket's atomics keep the sum of
// concurrent consumers at the rate. Only the lower bound is tight (a loaded
// machine may be slower, never faster).
TEST(RateLimiter, ThreadsShareTheRate) {
  RateBucket bucket;
  InitRateBucket(&bucket, 16 * kMB);
  constexpr int kThreads = 4;
  constexpr uint64_t kPerThread = 2 * kMB;
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++)
    threads.emplace_back([&] {
      RateLimiter limiter(&bucket);
      for (uint64_t done = 0; done < kPerThread; done += 32 * 1024) limiter.Acquire(32 * 1024);
    });
  for (auto &thread : threads) thread.join();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double rate = kThreads * kPerThread / seconds;
  EXPECT_LE(rate, 16.0 * kMB * 1.02) << seconds << " s";
  EXPECT_GE(rate, 16.0 * kMB * 0.5) << seconds << " s";
}

}  // namespace
}  // namespace cdw
