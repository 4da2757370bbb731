#include "common/rate_limiter.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <thread>

#include "common/error.h"

namespace cdw {

namespace {
constexpr int64_t kNsPerSecond = 1000000000;
constexpr int64_t kStepBytes = 64 * 1024;
constexpr int64_t kMaxWaitSliceNs = 100 * 1000000;  // interrupt checks while waiting
constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMinRate = kKiB;
constexpr uint64_t kMaxRate = kKiB * kKiB * kKiB * kKiB;

std::string Lower(std::string s) {
  for (auto &c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(const std::string &s) {
  size_t begin = s.find_first_not_of(' ');
  if (begin == std::string::npos) return {};
  return s.substr(begin, s.find_last_not_of(' ') - begin + 1);
}

[[noreturn]] void BadRate(const std::string &name, const std::string &value,
                          const std::string &detail) {
  // A long value is not repeated whole (cut on a UTF-8 character boundary).
  size_t cut = value.size() > 40 ? 40 : value.size();
  while (cut > 0 && cut < value.size() && (static_cast<unsigned char>(value[cut]) & 0xC0) == 0x80)
    cut--;
  std::string shown = cut < value.size() ? value.substr(0, cut) + "..." : value;
  throw Error(sqlstate::kInvalidParameterValue, "invalid value for " + name + ": \"" + shown + "\"",
              detail,
              "Give bytes per second such as '500kB', '50MB' or '1GB' (1kB = 1024 bytes, as in "
              "PostgreSQL's memory settings), or '0' for no limit.");
}

class SystemClock : public RateClock {
 public:
  int64_t NowNs() override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  void SleepNs(int64_t ns) override { std::this_thread::sleep_for(std::chrono::nanoseconds(ns)); }
};
}  // namespace

RateClock &RateClock::System() {
  static SystemClock clock;
  return clock;
}

uint64_t ParseRate(const std::string &name, const std::string &value) {
  std::string text = Lower(Trim(value));
  if (text == "unlimited" || text == "off") return 0;
  if (text.size() > 2 && text.compare(text.size() - 2, 2, "/s") == 0)
    text = Trim(text.substr(0, text.size() - 2));
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) digits++;
  if (digits == 0) BadRate(name, value, "A rate starts with a whole number.");
  if (digits > 13) BadRate(name, value, "The number is too large.");
  std::string unit = Trim(text.substr(digits));
  uint64_t multiplier = 0;
  if (unit.empty() || unit == "b" || unit == "bytes") multiplier = 1;
  if (unit == "kb" || unit == "kib" || unit == "k") multiplier = kKiB;
  if (unit == "mb" || unit == "mib" || unit == "m") multiplier = kKiB * kKiB;
  if (unit == "gb" || unit == "gib" || unit == "g") multiplier = kKiB * kKiB * kKiB;
  if (multiplier == 0)
    BadRate(name, value, "The unit must be B, kB, MB or GB (optionally followed by /s).");
  uint64_t number = std::stoull(text.substr(0, digits));
  if (number == 0) return 0;
  if (number > kMaxRate / multiplier || number * multiplier > kMaxRate)
    BadRate(name, value, "The largest limit is 1024GB per second.");
  uint64_t rate = number * multiplier;
  if (rate < kMinRate) BadRate(name, value, "The smallest limit is 1kB (1024 bytes) per second.");
  return rate;
}

std::string FormatRate(uint64_t rate) {
  static const char *kUnits[] = {"B", "kB", "MB", "GB"};
  int unit = 0;
  while (unit < 3 && rate >= kKiB && rate % kKiB == 0) {
    rate /= kKiB;
    unit++;
  }
  return std::to_string(rate) + kUnits[unit] + "/s";
}

int64_t RateBucketDepth(int64_t rate) {
  return std::max(rate, kStepBytes);
}

void InitRateBucket(RateBucket *bucket, uint64_t rate, RateClock &clock) {
  bucket->rate.store(static_cast<int64_t>(std::min<uint64_t>(rate, kMaxRate)));
  bucket->tat.store(clock.NowNs());
}

RateLimiter::RateLimiter(RateBucket *bucket, InterruptCheck interrupted, RateClock &clock)
    : bucket_(bucket), interrupted_(std::move(interrupted)), clock_(clock) {}

bool RateLimiter::Unlimited() const {
  return bucket_ == nullptr || bucket_->rate.load(std::memory_order_relaxed) <= 0;
}

void RateLimiter::Acquire(uint64_t bytes) {
  while (bytes > 0) {
    int64_t rate = bucket_ ? bucket_->rate.load(std::memory_order_relaxed) : 0;
    if (rate <= 0) return;
    int64_t step = static_cast<int64_t>(std::min<uint64_t>(bytes, kStepBytes));
    AcquireStep(step, rate);
    bytes -= static_cast<uint64_t>(step);
  }
}

void RateLimiter::AcquireStep(int64_t bytes, int64_t rate) {
  // Rounded up, so that many small steps never run faster than the rate.
  int64_t cost = (bytes * kNsPerSecond + rate - 1) / rate;
  int64_t depth_ns = RateBucketDepth(rate) * kNsPerSecond / rate;
  int64_t now = clock_.NowNs();
  int64_t tat = bucket_->tat.load();
  int64_t next;
  do {
    next = std::max(tat, now - depth_ns) + cost;
  } while (!bucket_->tat.compare_exchange_weak(tat, next));
  // The step is ours; it may go once the bucket has paid for it.
  for (;;) {
    now = clock_.NowNs();
    if (now >= next) return;
    if (interrupted_ && interrupted_()) throw Interrupted();
    clock_.SleepNs(std::min(next - now, kMaxWaitSliceNs));
  }
}

}  // namespace cdw
