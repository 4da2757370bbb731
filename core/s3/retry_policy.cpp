#include "s3/retry_policy.h"

#include <algorithm>
#include <random>
#include <thread>

namespace cdw::s3 {

namespace {

double DefaultRandom() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(engine);
}

}  // namespace

RetryPolicy::RetryPolicy(RetrySettings settings, Clock clock, Random random)
    : settings_(settings), clock_(std::move(clock)), random_(std::move(random)) {
  if (!clock_) clock_ = [] { return std::chrono::steady_clock::now(); };
  if (!random_) random_ = DefaultRandom;
  settings_.max_attempts = std::max(1, settings_.max_attempts);
  Start();
}

void RetryPolicy::Start() {
  start_ = clock_();
}

std::chrono::milliseconds RetryPolicy::Elapsed() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_() - start_);
}

std::chrono::milliseconds RetryPolicy::BackoffCap(int attempt) const {
  auto cap = settings_.base_delay.count();
  for (int i = 1; i < attempt && cap < settings_.max_delay.count(); i++) cap *= 2;
  return std::chrono::milliseconds(std::min(cap, settings_.max_delay.count()));
}

std::optional<std::chrono::milliseconds> RetryPolicy::NextDelay(int attempt) {
  if (attempt >= settings_.max_attempts) return std::nullopt;
  double r = std::clamp(random_(), 0.0, 1.0);
  auto delay = std::chrono::milliseconds(
      static_cast<long long>(r * static_cast<double>(BackoffCap(attempt).count())));
  if (Elapsed() + delay >= settings_.max_total) return std::nullopt;
  return delay;
}

bool RetryPolicy::IsRetryableHttp(long status, const std::string &s3_code) {
  if (s3_code == "SlowDown" || s3_code == "RequestTimeout" || s3_code == "InternalError" ||
      s3_code == "ServiceUnavailable" || s3_code == "Throttling")
    return true;
  return status == 429 || status >= 500;
}

bool SleepInSlices(std::chrono::milliseconds delay, const std::function<bool()> &should_stop,
                   std::chrono::milliseconds slice,
                   const std::function<void(std::chrono::milliseconds)> &sleeper) {
  if (slice.count() <= 0) slice = std::chrono::milliseconds(1);
  while (true) {
    if (should_stop && should_stop()) return false;
    if (delay.count() <= 0) return true;
    auto step = std::min(delay, slice);
    if (sleeper)
      sleeper(step);
    else
      std::this_thread::sleep_for(step);
    delay -= step;
  }
}

}  // namespace cdw::s3
