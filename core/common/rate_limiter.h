// The bandwidth limit of a run (target option / run argument max_rate): a
// token bucket shared by every process and thread that moves the run's
// bytes.
//
// The bucket's state is two 64-bit atomics (RateBucket), so it can live in
// PostgreSQL's shared memory and be updated by any process or thread without
// a lock and without calling PostgreSQL. RateLimiter is the view of one
// consumer: Acquire(n) takes n bytes' worth of tokens and sleeps until the
// bucket could pay for them.
//
// Algorithm (GCRA, "virtual scheduling"): the bucket keeps `tat`, the time
// at which everything granted so far is paid for at `rate`. Acquire(n) moves
// tat to max(tat, now - depth / rate) + n / rate with one compare-and-swap
// and returns once now >= the new tat. The bucket is `depth` bytes deep:
// after an idle second a consumer may move up to `depth` bytes at once; over
// any interval T the bytes granted are at most rate * T + depth, whatever
// the number of consumers. A new bucket starts empty (no burst at the start
// of a run), so a busy run moves `rate` bytes a second from its start.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "common/byte_stream.h"

namespace cdw {

// Bytes per second from "50MB", "500kB", "1GB", "1048576", optionally with
// "/s": kB, MB, GB (and KiB, MiB, GiB, k, M, G) are 1024-based, as
// PostgreSQL's memory settings. "0", "unlimited" and "off" give 0: no
// limit. Throws cdw::Error (22023) naming `name` with a hint showing the
// accepted forms; at least 1kB/s, at most 1TB/s.
uint64_t ParseRate(const std::string &name, const std::string &value);

// "50MB/s" for 52428800 (the largest unit that divides it; bytes otherwise).
std::string FormatRate(uint64_t bytes_per_second);

// A monotonic clock shared by all processes of the machine
// (CLOCK_MONOTONIC), injectable for tests.
class RateClock {
 public:
  virtual ~RateClock() = default;
  virtual int64_t NowNs() = 0;
  virtual void SleepNs(int64_t ns) = 0;
  // steady_clock and this_thread::sleep_for.
  static RateClock &System();
};

// The shared state. Lock-free atomics are address-free, so this works in
// shared memory mapped at different addresses in different processes.
struct RateBucket {
  std::atomic<int64_t> rate;  // bytes per second; <= 0: unlimited
  std::atomic<int64_t> tat;   // theoretical arrival time, ns on the RateClock
};
static_assert(std::atomic<int64_t>::is_always_lock_free,
              "RateBucket lives in shared memory: its atomics must be lock-free");

// Bucket depth for a rate: one second of it, but at least 64 kB (one
// consumer's step, below).
int64_t RateBucketDepth(int64_t rate);

// (Re)starts a bucket at `rate` bytes per second (0: unlimited), empty.
// Not atomic with respect to consumers: call before handing it out.
void InitRateBucket(RateBucket *bucket, uint64_t rate, RateClock &clock = RateClock::System());

class RateLimiter {
 public:
  // `bucket` is not owned and must outlive the limiter. `interrupted` (may
  // be empty) is polled at least every 100 ms while waiting; when it
  // returns true Acquire throws cdw::Interrupted.
  RateLimiter(RateBucket *bucket, InterruptCheck interrupted = {},
              RateClock &clock = RateClock::System());

  // Takes `bytes` tokens, in steps of at most 64 kB so that concurrent
  // consumers interleave, and returns once they are paid for.
  void Acquire(uint64_t bytes);

  bool Unlimited() const;

 private:
  void AcquireStep(int64_t bytes, int64_t rate);

  RateBucket *bucket_;
  InterruptCheck interrupted_;
  RateClock &clock_;
};

}  // namespace cdw
