#include "s3/retry_policy.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "common/error.h"
#include "s3/background_task.h"
#include "s3/s3_store.h"

namespace cdw::s3 {
namespace {

using std::chrono::milliseconds;

struct FakeClock {
  std::chrono::steady_clock::time_point now{};
  RetryPolicy::Clock AsClock() {
    return [this] { return now; };
  }
};

RetrySettings Settings(int attempts, long long total_ms, long long base_ms, long long max_ms) {
  RetrySettings s;
  s.max_attempts = attempts;
  s.max_total = milliseconds(total_ms);
  s.base_delay = milliseconds(base_ms);
  s.max_delay = milliseconds(max_ms);
  return s;
}

TEST(S3RetryPolicyTest, ExponentialCapsWithFullJitter) {
  FakeClock clock;
  double r = 1.0;
  RetryPolicy policy(Settings(10, 1000000, 100, 2000), clock.AsClock(), [&] { return r; });
  EXPECT_EQ(policy.BackoffCap(1), milliseconds(100));
  EXPECT_EQ(policy.BackoffCap(2), milliseconds(200));
  EXPECT_EQ(policy.BackoffCap(4), milliseconds(800));
  EXPECT_EQ(policy.BackoffCap(5), milliseconds(1600));
  EXPECT_EQ(policy.BackoffCap(6), milliseconds(2000));
  EXPECT_EQ(policy.BackoffCap(60), milliseconds(2000));  // no overflow
  r = 0.5;
  EXPECT_EQ(*policy.NextDelay(3), milliseconds(200));  // uniform in [0, cap]
  r = 0.0;
  EXPECT_EQ(*policy.NextDelay(3), milliseconds(0));
  r = 0.999;
  EXPECT_EQ(*policy.NextDelay(1), milliseconds(99));
}

TEST(S3RetryPolicyTest, BoundedByAttempts) {
  FakeClock clock;
  RetryPolicy policy(Settings(3, 1000000, 100, 2000), clock.AsClock(), [] { return 0.5; });
  EXPECT_TRUE(policy.NextDelay(1).has_value());
  EXPECT_TRUE(policy.NextDelay(2).has_value());
  EXPECT_FALSE(policy.NextDelay(3).has_value());  // the third attempt was the last
  RetryPolicy once(Settings(1, 1000000, 100, 2000), clock.AsClock(), [] { return 0.5; });
  EXPECT_FALSE(once.NextDelay(1).has_value());
}

TEST(S3RetryPolicyTest, BoundedByTotalTime) {
  FakeClock clock;
  RetryPolicy policy(Settings(100, 10000, 1000, 8000), clock.AsClock(), [] { return 1.0; });
  EXPECT_EQ(*policy.NextDelay(1), milliseconds(1000));
  clock.now += std::chrono::seconds(5);
  EXPECT_EQ(policy.Elapsed(), milliseconds(5000));
  EXPECT_EQ(*policy.NextDelay(2), milliseconds(2000));  // ends at 7 s
  clock.now += std::chrono::seconds(3);
  EXPECT_FALSE(policy.NextDelay(3).has_value());  // 8 s + 4 s > 10 s
  policy.Start();                                 // a new request gets a new budget
  EXPECT_TRUE(policy.NextDelay(3).has_value());
}

TEST(S3RetryPolicyTest, ClassifiesFailures) {
  EXPECT_TRUE(RetryPolicy::IsRetryableHttp(500, "InternalError"));
  EXPECT_TRUE(RetryPolicy::IsRetryableHttp(503, "SlowDown"));
  EXPECT_TRUE(RetryPolicy::IsRetryableHttp(502, ""));
  EXPECT_TRUE(RetryPolicy::IsRetryableHttp(429, ""));
  EXPECT_TRUE(RetryPolicy::IsRetryableHttp(400, "RequestTimeout"));
  EXPECT_FALSE(RetryPolicy::IsRetryableHttp(403, "SignatureDoesNotMatch"));
  EXPECT_FALSE(RetryPolicy::IsRetryableHttp(403, "AccessDenied"));
  EXPECT_FALSE(RetryPolicy::IsRetryableHttp(404, "NoSuchBucket"));
  EXPECT_FALSE(RetryPolicy::IsRetryableHttp(400, "InvalidArgument"));
  EXPECT_FALSE(RetryPolicy::IsRetryableHttp(409, "BucketAlreadyExists"));
}

TEST(S3RetryPolicyTest, SleepsInSlicesAndStopsOnInterrupt) {
  std::vector<milliseconds> slept;
  auto sleeper = [&](milliseconds d) { slept.push_back(d); };
  EXPECT_TRUE(SleepInSlices(
      milliseconds(250), [] { return false; }, milliseconds(100), sleeper));
  EXPECT_EQ(slept,
            (std::vector<milliseconds>{milliseconds(100), milliseconds(100), milliseconds(50)}));
  slept.clear();
  int checks = 0;
  EXPECT_FALSE(SleepInSlices(
      milliseconds(10000), [&] { return ++checks == 3; }, milliseconds(100), sleeper));
  EXPECT_EQ(slept.size(), 2u);  // stopped within one slice of the interrupt
  // Real time: a 5 s wait interrupted after ~150 ms returns promptly.
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(SleepInSlices(milliseconds(5000), [&] {
    return std::chrono::steady_clock::now() - start > milliseconds(150);
  }));
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(1000));
}

TEST(S3PartSizingTest, PartsGrowSoTenThousandPartsHoldFiveTebibytes) {
  EXPECT_EQ(PartSizeFor(8 * kMiB, 1), 8 * kMiB);
  EXPECT_EQ(PartSizeFor(8 * kMiB, 900), 8 * kMiB);
  EXPECT_EQ(PartSizeFor(8 * kMiB, 901), 16 * kMiB);
  EXPECT_EQ(PartSizeFor(8 * kMiB, 1801), 32 * kMiB);
  EXPECT_EQ(PartSizeFor(8 * kMiB, 10000), kMaxPartSize);     // 8 MiB * 2048 capped
  EXPECT_EQ(PartSizeFor(1, 1), kMinPartSize);                // never below 5 MiB
  EXPECT_EQ(PartSizeFor(kMaxPartSize, 9999), kMaxPartSize);  // never above 5 GiB
  const uint64_t kFiveTiB = 5ull * 1024 * 1024 * kMiB;
  EXPECT_GE(MaxObjectSize(kDefaultPartSize), kFiveTiB);
  EXPECT_GE(MaxObjectSize(kMinPartSize), kFiveTiB);
  for (int part = 1; part <= kMaxParts; part++) {
    ASSERT_GE(PartSizeFor(kMinPartSize, part), kMinPartSize);
    ASSERT_LE(PartSizeFor(kMinPartSize, part), kMaxPartSize);
  }
}

TEST(S3BackgroundTaskTest, RunsWithAllSignalsBlockedAndPropagatesErrors) {
  BackgroundTask task;
  bool sigint_blocked = false;
  task.Start([&](const std::atomic<bool> &) {
    sigset_t current;
    pthread_sigmask(SIG_SETMASK, nullptr, &current);
    sigint_blocked = sigismember(&current, SIGINT) && sigismember(&current, SIGTERM) &&
                     sigismember(&current, SIGALRM) && sigismember(&current, SIGUSR1);
  });
  task.Wait([] { return false; });
  EXPECT_TRUE(sigint_blocked);
  // The caller's own mask is unchanged.
  sigset_t mine;
  pthread_sigmask(SIG_SETMASK, nullptr, &mine);
  EXPECT_FALSE(sigismember(&mine, SIGINT));

  task.Start(
      [](const std::atomic<bool> &) { throw Error(sqlstate::kIoError, "part upload failed"); });
  EXPECT_THROW(task.Wait([] { return false; }), Error);

  // An interrupt while waiting cancels the task and throws Interrupted.
  std::atomic<bool> saw_cancel{false};
  task.Start([&](const std::atomic<bool> &cancelled) {
    while (!cancelled) std::this_thread::sleep_for(milliseconds(5));
    saw_cancel = true;
  });
  auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(
      task.Wait([&] { return std::chrono::steady_clock::now() - start > milliseconds(50); }, 10),
      Interrupted);
  EXPECT_TRUE(saw_cancel);
  EXPECT_FALSE(task.running());
}

}  // namespace
}  // namespace cdw::s3
