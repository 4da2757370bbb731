// Progress arithmetic (see estimate.h).
#include "progress/estimate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace cdw {

ProgressEstimate EstimateProgress(const ProgressInputs &in) {
  ProgressEstimate out;
  if (!in.started) return out;
  int64_t finished_raw = std::max<int64_t>(in.finished_raw, 0);
  int64_t inflight = std::max<int64_t>(in.inflight_raw, 0);
  // CSV bytes per relation byte, learnt from finished units; 1 until one
  // with a size has finished.
  double ratio = in.finished_size > 0 && finished_raw > 0
                     ? static_cast<double>(finished_raw) / static_cast<double>(in.finished_size)
                     : 1.0;
  double expected_rest = static_cast<double>(std::max<int64_t>(in.unfinished_size, 0)) * ratio +
                         static_cast<double>(std::max<int64_t>(in.unlisted_size, 0)) * ratio +
                         static_cast<double>(std::max<int64_t>(in.unfinished_expected_raw, 0));
  out.bytes_done = finished_raw + inflight;
  // Running units may already have produced more than they were expected to.
  double rest = std::max(expected_rest, static_cast<double>(inflight));
  out.bytes_total = finished_raw + static_cast<int64_t>(std::llround(rest));
  out.bytes_total = std::max(out.bytes_total, out.bytes_done);
  out.fraction = out.bytes_total > 0
                     ? static_cast<double>(out.bytes_done) / static_cast<double>(out.bytes_total)
                     : (expected_rest <= 0 ? 1.0 : 0.0);
  // The estimate ran out while work is left: the figures are a floor, not
  // the end (never "100%, ETA 0" for a run that still exports).
  constexpr double kMostWhileWorkLeft = 0.999;
  const bool estimate_exhausted = in.work_left && out.bytes_total <= out.bytes_done;
  if (in.work_left) out.fraction = std::min(out.fraction, kMostWhileWorkLeft);
  if (in.elapsed_seconds > 0 && out.bytes_done > 0) {
    out.rate = static_cast<double>(out.bytes_done) / in.elapsed_seconds;
    // The recent rate, unless nothing moved in the window (a run waiting
    // for a lock): the average then still gives a time.
    if (in.window_seconds > 0 && out.bytes_done > in.window_bytes_done)
      out.rate = static_cast<double>(out.bytes_done - in.window_bytes_done) / in.window_seconds;
    out.eta_seconds =
        estimate_exhausted ? -1 : static_cast<double>(out.bytes_total - out.bytes_done) / out.rate;
  } else if (out.bytes_total == out.bytes_done && expected_rest <= 0 && !in.work_left) {
    out.eta_seconds = 0;
  }
  return out;
}

double RateWindowSeconds(double elapsed) {
  return std::min(std::max(elapsed / 4, 5.0), 15.0 * 60);
}

void ProgressHistory::Add(double seconds, int64_t bytes_done) {
  // A sixteenth of the window after the newest sample at the earliest: the
  // window's start is then found within that much of where it should be.
  if (count_ > 0 && !(seconds - seconds_[newest_] >= RateWindowSeconds(seconds) / 16)) return;
  newest_ = (newest_ + 1) % kCapacity;
  seconds_[newest_] = seconds;
  bytes_[newest_] = bytes_done;
  if (count_ < kCapacity) count_++;
}

bool ProgressHistory::WindowStart(double now, double *seconds, int64_t *bytes_done) const {
  double limit = now - RateWindowSeconds(now);
  for (int k = 0; k < count_; k++) {
    int i = (newest_ + kCapacity - k) % kCapacity;
    if (seconds_[i] <= limit) {
      *seconds = seconds_[i];
      *bytes_done = bytes_[i];
      return true;
    }
  }
  return false;
}

std::string FormatDuration(double seconds) {
  if (seconds < 0 || !std::isfinite(seconds)) return "unknown";
  long long total = std::llround(seconds);
  long long h = total / 3600, m = (total % 3600) / 60, s = total % 60;
  char buffer[64];
  if (h > 0)
    std::snprintf(buffer, sizeof buffer, "%lldh%02lldm%02llds", h, m, s);
  else if (m > 0)
    std::snprintf(buffer, sizeof buffer, "%lldm%02llds", m, s);
  else
    std::snprintf(buffer, sizeof buffer, "%llds", s);
  return buffer;
}

}  // namespace cdw
