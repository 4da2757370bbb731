// Retries for object-storage requests: exponential backoff with full jitter,
// bounded both in attempts and in total time.
//
// PostgreSQL-free and deterministic under test: the clock, the random source
// and the sleeper are injectable. Which failures are retryable is decided
// here too, so every request path agrees: timeouts and connection errors,
// HTTP 5xx, 429, and the S3 codes SlowDown, RequestTimeout, InternalError,
// ServiceUnavailable. Other 4xx responses are never retried.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

namespace cdw::s3 {

struct RetrySettings {
  int max_attempts = 6;                         // including the first attempt
  std::chrono::milliseconds max_total{120000};  // no new attempt starts after this
  std::chrono::milliseconds base_delay{200};    // cap of the first backoff
  std::chrono::milliseconds max_delay{20000};   // largest single backoff
};

class RetryPolicy {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  using Random = std::function<double()>;  // uniform in [0, 1)

  explicit RetryPolicy(RetrySettings settings = {}, Clock clock = {}, Random random = {});

  // Starts the time budget of one operation (a request and its retries).
  void Start();

  // After attempt number `attempt` (1-based) failed retryably: the delay
  // before the next attempt, or nullopt when attempts or time are used up
  // (the wait would end past max_total).
  std::optional<std::chrono::milliseconds> NextDelay(int attempt);

  // min(max_delay, base_delay * 2^(attempt-1)); the jittered delay is
  // uniform in [0, cap].
  std::chrono::milliseconds BackoffCap(int attempt) const;

  // Time since Start().
  std::chrono::milliseconds Elapsed() const;

  const RetrySettings &settings() const { return settings_; }

  static bool IsRetryableHttp(long status, const std::string &s3_code);

 private:
  RetrySettings settings_;
  Clock clock_;
  Random random_;
  std::chrono::steady_clock::time_point start_;
};

// Waits `delay` in slices of at most `slice`, asking `should_stop` before
// each slice; returns false as soon as it says stop (so a query cancel is
// noticed within one slice). `sleeper` defaults to std::this_thread.
bool SleepInSlices(std::chrono::milliseconds delay, const std::function<bool()> &should_stop,
                   std::chrono::milliseconds slice = std::chrono::milliseconds(100),
                   const std::function<void(std::chrono::milliseconds)> &sleeper = {});

}  // namespace cdw::s3
