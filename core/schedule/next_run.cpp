#include "schedule/next_run.h"

#include <algorithm>
#include <optional>
#include <string>

#include "common/error.h"

namespace cdw {

namespace {

void CheckRange(const CronExpression &expr, int64_t t) {
  if (t < kMinScheduleSeconds || t > kMaxScheduleSeconds)
    throw Error(
        sqlstate::kInvalidParameterValue,
        "time " + std::to_string(t) + " is out of range for schedule \"" + expr.text() + "\"",
        "Schedules are evaluated for the years 1 to 9999.");
}

// The fire instants of one matching civil minute (at most two).
int FireInstants(const CronExpression &expr, const TimeZone &zone, int64_t local_minute,
                 int64_t out[2]) {
  const LocalTimeResolution r = zone.Resolve(local_minute);
  switch (r.kind) {
    case LocalTimeResolution::Kind::kUnique:
      out[0] = r.earlier;
      return 1;
    case LocalTimeResolution::Kind::kRepeated:
      out[0] = r.earlier;
      out[1] = r.later;
      return expr.hour_is_wildcard() ? 2 : 1;
    case LocalTimeResolution::Kind::kSkipped:
    default:
      if (expr.hour_is_wildcard()) return 0;
      out[0] = r.transition;
      return 1;
  }
}

// The widest swing of UTC offsets in the zone: bounds how far a wall-clock
// reading can be from the instant it denotes, relative to a neighbour.
int64_t OffsetSpan(const TimeZone &zone) {
  return int64_t{zone.max_offset()} - zone.min_offset() + 1;
}

}  // namespace

int64_t NextRunAfter(const CronExpression &expr, const TimeZone &zone, int64_t after) {
  CheckRange(expr, after);
  // A fire instant t > after from minute M has M = t + offset(t). Offsets
  // after `after` can be lower than now (fall back), so M may lie before the
  // current wall-clock reading; such t lie within OffsetSpan of `after`.
  int32_t lo, hi;
  zone.OffsetRange(after, after + OffsetSpan(zone), &lo, &hi);
  const int32_t now_offset = zone.UtcOffsetAt(after);
  int64_t local = after + now_offset - std::max<int64_t>(0, int64_t{now_offset} - lo);

  std::optional<int64_t> best;
  int32_t best_hi = 0;  // largest offset in [after, best]
  while (true) {
    const int64_t minute = expr.NextMatchingMinute(local);
    // Any later minute M' fires at t' >= M' - (offset at t'); once that
    // cannot beat `best` we are done.
    if (best && minute - best_hi >= *best) break;
    int64_t fires[2];
    const int n = FireInstants(expr, zone, minute, fires);
    for (int i = 0; i < n; ++i) {
      if (fires[i] > after && (!best || fires[i] < *best)) {
        best = fires[i];
        int32_t unused;
        zone.OffsetRange(after, *best, &unused, &best_hi);
      }
    }
    local = minute + 60;
  }
  if (*best > kMaxScheduleSeconds) CheckRange(expr, *best);
  return *best;
}

int64_t PreviousRunAtOrBefore(const CronExpression &expr, const TimeZone &zone, int64_t at) {
  CheckRange(expr, at);
  // Symmetric to NextRunAfter: offsets before `at` can be higher than now
  // (spring forward), so matching minutes after the current wall-clock
  // reading may have fired already.
  int32_t lo, hi;
  zone.OffsetRange(at - OffsetSpan(zone), at, &lo, &hi);
  const int32_t now_offset = zone.UtcOffsetAt(at);
  int64_t local = at + now_offset + std::max<int64_t>(0, int64_t{hi} - now_offset);

  std::optional<int64_t> best;
  int32_t best_lo = 0;  // smallest offset in [best, at]
  while (true) {
    const int64_t minute = expr.PreviousMatchingMinute(local);
    if (best && minute - best_lo <= *best) break;
    int64_t fires[2];
    const int n = FireInstants(expr, zone, minute, fires);
    for (int i = 0; i < n; ++i) {
      if (fires[i] <= at && (!best || fires[i] > *best)) {
        best = fires[i];
        int32_t unused;
        zone.OffsetRange(*best, at, &best_lo, &unused);
      }
    }
    local = minute - 60;
  }
  if (*best < kMinScheduleSeconds) CheckRange(expr, *best);
  return *best;
}

int64_t RunPeriodAround(const CronExpression &expr, const TimeZone &zone, int64_t at) {
  return NextRunAfter(expr, zone, at) - PreviousRunAtOrBefore(expr, zone, at);
}

MissedRuns FindMissedRuns(const CronExpression &expr, const TimeZone &zone, int64_t last_checked,
                          int64_t now, int64_t window_seconds) {
  MissedRuns result;
  if (now <= last_checked) return result;
  const int64_t earliest = NextRunAfter(expr, zone, last_checked);
  if (earliest > now) return result;
  result.any = true;
  result.earliest_due = earliest;
  result.latest_due = PreviousRunAtOrBefore(expr, zone, now);
  if (window_seconds <= 0)
    window_seconds = result.latest_due - PreviousRunAtOrBefore(expr, zone, result.latest_due - 1);
  result.catch_up = now - result.latest_due < window_seconds;
  return result;
}

}  // namespace cdw
