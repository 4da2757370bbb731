// When a cron schedule fires, evaluated on the wall clock of a time zone.
//
// A schedule matches civil minutes (local date and time). Each matching
// minute M becomes fire instants (UTC) as follows:
//
//   - M occurs once: it fires then.
//   - M occurs twice (clocks go back, e.g. 01:30 on the first Sunday of
//     November in America/New_York): it fires at the first occurrence. Jobs
//     whose hour field starts with '*' ("*/15 * * * *", "0 * * * *", @hourly)
//     also fire at the second occurrence: they follow elapsed time.
//   - M does not occur (clocks jump forward, e.g. 02:30 on the second Sunday
//     of March in New York): fixed-hour jobs fire once at the first instant
//     after the gap (03:00 local), however many of their minutes fell into
//     the gap; wildcard-hour jobs do not fire for it.
//
// So a daily 02:30 job fires exactly once on both change days (as cronie),
// and "*/30 * * * *" keeps firing every 30 elapsed minutes across changes.
// The computation skips by month, day, hour and minute; it never scans
// minute by minute over long spans. Instants must lie in years 1-9999;
// outside, or when no fire time exists in range, cdw::Error (22023) is thrown.
// (Expressions that can never fire are rejected by CronExpression::Parse.)
#pragma once

#include <cstdint>

#include "schedule/cron_expression.h"
#include "schedule/time_zone.h"

namespace cdw {

// The first fire time strictly after `after_unix_seconds`.
int64_t NextRunAfter(const CronExpression &expr, const TimeZone &zone, int64_t after_unix_seconds);

// The last fire time at or before `at_unix_seconds`.
int64_t PreviousRunAtOrBefore(const CronExpression &expr, const TimeZone &zone,
                              int64_t at_unix_seconds);

// The length in seconds of the schedule period containing `at`: from the last
// fire time at or before `at` to the first one after it. For "0 3 * * *"
// that is 86400 except on DST change days (82800 / 90000).
int64_t RunPeriodAround(const CronExpression &expr, const TimeZone &zone, int64_t at_unix_seconds);

// What the launcher should do at start-up about runs that fell due while it
// was not running. `last_checked` is the instant up to which due runs were
// handled (e.g. the due time of the last recorded run), `now` the current
// time. The latest due time in (last_checked, now] is caught up (run once,
// now) if it is less than `window_seconds` old; window_seconds <= 0 means
// one period, namely the spacing between that due time and the fire time
// before it. Every other due time in the interval is "missed". Thus a
// nightly job whose server was down at 03:00 runs once at start-up if the
// server is back before the next 03:00, and a weekday job missed on Friday
// is not run on Saturday afternoon.
struct MissedRuns {
  bool any = false;          // some fire time lies in (last_checked, now]
  int64_t earliest_due = 0;  // the first such fire time (if any)
  int64_t latest_due = 0;    // the last such fire time (if any)
  bool catch_up = false;     // run latest_due now
};
MissedRuns FindMissedRuns(const CronExpression &expr, const TimeZone &zone, int64_t last_checked,
                          int64_t now, int64_t window_seconds = 0);

}  // namespace cdw
