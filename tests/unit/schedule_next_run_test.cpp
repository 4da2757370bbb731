// NextRunAfter / PreviousRunAtOrBefore / RunPeriodAround / FindMissedRuns.
// Expected instants were computed while writing the tests with
// `TZ=<zone> date -d @<seconds>` and a brute-force Python (zoneinfo) model of
// the policy in next_run.h; the local times are spelled out in comments.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "common/error.h"
#include "schedule/next_run.h"

namespace cdw {
namespace {

std::vector<int64_t> Runs(const std::string &schedule, const std::string &zone, int64_t start,
                          int count) {
  CronExpression expr = CronExpression::Parse(schedule);
  auto tz = TimeZone::Load(zone);
  std::vector<int64_t> out;
  int64_t t = start;
  for (int i = 0; i < count; ++i) out.push_back(t = NextRunAfter(expr, *tz, t));
  return out;
}

std::vector<std::string> Texts(const std::string &zone, const std::vector<int64_t> &times) {
  auto tz = TimeZone::Load(zone);
  std::vector<std::string> out;
  for (int64_t t : times)
    out.push_back(FormatCivil(tz->ToCivil(t)).substr(0, 16) + " " + tz->TypeAt(t).abbreviation);
  return out;
}

using Times = std::vector<int64_t>;
using Strings = std::vector<std::string>;

TEST(CronNextRunTest, Utc) {
  EXPECT_EQ(Runs("30 2 * * *", "UTC", 1710000000, 2), (Times{1710037800, 1710124200}));
  // Strictly after: a fire time is not returned again.
  CronExpression e = CronExpression::Parse("30 2 * * *");
  EXPECT_EQ(NextRunAfter(e, *TimeZone::Utc(), 1710037800), 1710124200);
  EXPECT_EQ(NextRunAfter(e, *TimeZone::Utc(), 1710037799), 1710037800);
  EXPECT_EQ(Texts("UTC", Runs("*/15 * * * *", "UTC", 1710037800, 3)),
            (Strings{"2024-03-10 02:45 UTC", "2024-03-10 03:00 UTC", "2024-03-10 03:15 UTC"}));
}

TEST(CronNextRunTest, MonthEndsAndLeapYears) {
  // The 31st only in 31-day months.
  EXPECT_EQ(Texts("UTC", Runs("0 0 31 * *", "UTC", 1706659200, 4)),  // from 2024-01-31 00:00
            (Strings{"2024-03-31 00:00 UTC", "2024-05-31 00:00 UTC", "2024-07-31 00:00 UTC",
                     "2024-08-31 00:00 UTC"}));
  // Feb 29: leap years only; 2100 is not one.
  EXPECT_EQ(Texts("UTC", Runs("0 12 29 2 *", "UTC", 1709251200, 3)),  // from 2024-03-01
            (Strings{"2028-02-29 12:00 UTC", "2032-02-29 12:00 UTC", "2036-02-29 12:00 UTC"}));
  EXPECT_EQ(Texts("UTC", Runs("0 12 29 2 *", "UTC", 4102444800, 1)),  // from 2100-01-01
            (Strings{"2104-02-29 12:00 UTC"}));
  // "Last day of February" style lists.
  EXPECT_EQ(Texts("UTC", Runs("0 0 28,29 2 *", "UTC", 1735689600, 3)),  // from 2025-01-01
            (Strings{"2025-02-28 00:00 UTC", "2026-02-28 00:00 UTC", "2027-02-28 00:00 UTC"}));
}

TEST(CronNextRunTest, VixieDayOrRule) {
  // The 13th or any Friday, September 2024 (the 13th is a Friday).
  EXPECT_EQ(Texts("UTC", Runs("0 9 13 * fri", "UTC", 1725148800, 5)),  // from 2024-09-01
            (Strings{"2024-09-06 09:00 UTC", "2024-09-13 09:00 UTC", "2024-09-20 09:00 UTC",
                     "2024-09-27 09:00 UTC", "2024-10-04 09:00 UTC"}));
  EXPECT_EQ(Texts("UTC", Runs("0 9 13 * fri", "UTC", 1728028800, 2)),  // from 2024-10-04 08:00
            (Strings{"2024-10-04 09:00 UTC", "2024-10-11 09:00 UTC"}));
  EXPECT_EQ(Texts("UTC", Runs("0 9 13 * fri", "UTC", 1728637200, 2)),  // from 2024-10-11 09:00
            (Strings{"2024-10-13 09:00 UTC", "2024-10-18 09:00 UTC"}));
  // Day-of-month '*': weekdays only.
  EXPECT_EQ(Texts("UTC", Runs("0 9 * * fri", "UTC", 1725148800, 2)),
            (Strings{"2024-09-06 09:00 UTC", "2024-09-13 09:00 UTC"}));
}

TEST(CronNextRunTest, Macros) {
  const int64_t from = 1718454896;  // 2024-06-15 12:34:56 UTC
  EXPECT_EQ(Texts("UTC", Runs("@hourly", "UTC", from, 1)), (Strings{"2024-06-15 13:00 UTC"}));
  EXPECT_EQ(Texts("UTC", Runs("@daily", "UTC", from, 1)), (Strings{"2024-06-16 00:00 UTC"}));
  EXPECT_EQ(Texts("UTC", Runs("@weekly", "UTC", from, 1)), (Strings{"2024-06-16 00:00 UTC"}));
  EXPECT_EQ(Texts("UTC", Runs("@monthly", "UTC", from, 1)), (Strings{"2024-07-01 00:00 UTC"}));
  EXPECT_EQ(Texts("UTC", Runs("@yearly", "UTC", from, 1)), (Strings{"2025-01-01 00:00 UTC"}));
}

TEST(CronNextRunTest, ShanghaiNoDst) {
  EXPECT_EQ(Runs("30 2 * * *", "Asia/Shanghai", 1717214400, 2), (Times{1717266600, 1717353000}));
  EXPECT_EQ(Texts("Asia/Shanghai", Runs("30 2 * * *", "Asia/Shanghai", 1717214400, 2)),
            (Strings{"2024-06-02 02:30 CST", "2024-06-03 02:30 CST"}));
}

TEST(CronNextRunTest, NewYorkSpringForwardFixedTime) {
  // 2024-03-10: 02:00 EST -> 03:00 EDT. 02:30 does not exist; the job runs
  // once, at 03:00 EDT.
  Times runs = Runs("30 2 * * *", "America/New_York", 1709917200, 4);  // 2024-03-08 12:00
  EXPECT_EQ(runs, (Times{1709969400, 1710054000, 1710138600, 1710225000}));
  EXPECT_EQ(Texts("America/New_York", runs),
            (Strings{"2024-03-09 02:30 EST", "2024-03-10 03:00 EDT", "2024-03-11 02:30 EDT",
                     "2024-03-12 02:30 EDT"}));
  // Several minutes in the gap still make one run.
  EXPECT_EQ(Texts("America/New_York", Runs("*/15 2 * * *", "America/New_York", 1710003600, 3)),
            (Strings{"2024-03-10 03:00 EDT", "2024-03-11 02:00 EDT", "2024-03-11 02:15 EDT"}));
  // A job at 03:00 is unaffected; 02:30 and 03:00 together run once at 03:00.
  EXPECT_EQ(Texts("America/New_York", Runs("0,30 2,3 * * *", "America/New_York", 1710050400, 3)),
            (Strings{"2024-03-10 03:00 EDT", "2024-03-10 03:30 EDT", "2024-03-11 02:00 EDT"}));
}

TEST(CronNextRunTest, NewYorkFallBackFixedTime) {
  // 2024-11-03: 02:00 EDT -> 01:00 EST. 01:30 happens twice; runs once.
  Times runs = Runs("30 1 * * *", "America/New_York", 1730476800, 4);  // 2024-11-01 12:00
  EXPECT_EQ(runs, (Times{1730525400, 1730611800, 1730701800, 1730788200}));
  EXPECT_EQ(Texts("America/New_York", runs),
            (Strings{"2024-11-02 01:30 EDT", "2024-11-03 01:30 EDT", "2024-11-04 01:30 EST",
                     "2024-11-05 01:30 EST"}));
  // Asking from inside the repeated hour does not produce the second pass.
  CronExpression e = CronExpression::Parse("30 1 * * *");
  auto ny = TimeZone::Load("America/New_York");
  EXPECT_EQ(NextRunAfter(e, *ny, 1730611800), 1730701800);
  EXPECT_EQ(NextRunAfter(e, *ny, 1730613600), 1730701800);  // 01:00 EST
  // From 01:10 EST (second pass), the previous run is 01:30 EDT, which is
  // later on the wall clock but earlier in time.
  EXPECT_EQ(PreviousRunAtOrBefore(e, *ny, 1730614200), 1730611800);
  // 02:30 is not repeated in New York: one run at 02:30 EST.
  EXPECT_EQ(Runs("30 2 * * *", "America/New_York", 1730476800, 4),
            (Times{1730529000, 1730619000, 1730705400, 1730791800}));
  // Fixed-hour jobs with several minutes in the repeated hour: first pass only.
  EXPECT_EQ(Texts("America/New_York", Runs("*/20 1 * * *", "America/New_York", 1730606400, 4)),
            (Strings{"2024-11-03 01:00 EDT", "2024-11-03 01:20 EDT", "2024-11-03 01:40 EDT",
                     "2024-11-04 01:00 EST"}));
}

TEST(CronNextRunTest, NewYorkWildcardHourFollowsElapsedTime) {
  EXPECT_EQ(Texts("America/New_York", Runs("*/30 * * * *", "America/New_York", 1710049500, 6)),
            (Strings{"2024-03-10 01:00 EST", "2024-03-10 01:30 EST", "2024-03-10 03:00 EDT",
                     "2024-03-10 03:30 EDT", "2024-03-10 04:00 EDT", "2024-03-10 04:30 EDT"}));
  Times fall = Runs("*/30 * * * *", "America/New_York", 1730607300, 7);  // 2024-11-03 00:15 EDT
  EXPECT_EQ(fall, (Times{1730608200, 1730610000, 1730611800, 1730613600, 1730615400, 1730617200,
                         1730619000}));
  EXPECT_EQ(Texts("America/New_York", fall),
            (Strings{"2024-11-03 00:30 EDT", "2024-11-03 01:00 EDT", "2024-11-03 01:30 EDT",
                     "2024-11-03 01:00 EST", "2024-11-03 01:30 EST", "2024-11-03 02:00 EST",
                     "2024-11-03 02:30 EST"}));
  EXPECT_EQ(Texts("America/New_York", Runs("0 * * * *", "America/New_York", 1730608200, 4)),
            (Strings{"2024-11-03 01:00 EDT", "2024-11-03 01:00 EST", "2024-11-03 02:00 EST",
                     "2024-11-03 03:00 EST"}));
  // The skipped 02:30 of an hourly job is not made up.
  EXPECT_EQ(Texts("America/New_York", Runs("30 * * * *", "America/New_York", 1710049500, 3)),
            (Strings{"2024-03-10 01:30 EST", "2024-03-10 03:30 EDT", "2024-03-10 04:30 EDT"}));
}

TEST(CronNextRunTest, Berlin) {
  // 2024-03-31: 02:00 CET -> 03:00 CEST; 2024-10-27: 03:00 CEST -> 02:00 CET.
  EXPECT_EQ(Runs("30 2 * * *", "Europe/Berlin", 1711796400, 3),
            (Times{1711846800, 1711931400, 1712017800}));
  EXPECT_EQ(Texts("Europe/Berlin", Runs("30 2 * * *", "Europe/Berlin", 1711796400, 3)),
            (Strings{"2024-03-31 03:00 CEST", "2024-04-01 02:30 CEST", "2024-04-02 02:30 CEST"}));
  EXPECT_EQ(Runs("30 2 * * *", "Europe/Berlin", 1729936800, 3),
            (Times{1729989000, 1730079000, 1730165400}));
  EXPECT_EQ(Texts("Europe/Berlin", Runs("30 2 * * *", "Europe/Berlin", 1729936800, 3)),
            (Strings{"2024-10-27 02:30 CEST", "2024-10-28 02:30 CET", "2024-10-29 02:30 CET"}));
  EXPECT_EQ(Texts("Europe/Berlin", Runs("*/30 * * * *", "Europe/Berlin", 1729986300, 6)),
            (Strings{"2024-10-27 02:00 CEST", "2024-10-27 02:30 CEST", "2024-10-27 02:00 CET",
                     "2024-10-27 02:30 CET", "2024-10-27 03:00 CET", "2024-10-27 03:30 CET"}));
}

TEST(CronNextRunTest, SydneySouthernHemisphere) {
  // 2024-04-07: 03:00 AEDT -> 02:00 AEST (02:30 twice); 2024-10-06: 02:00
  // AEST -> 03:00 AEDT (02:30 skipped).
  EXPECT_EQ(Runs("30 2 * * *", "Australia/Sydney", 1712365200, 3),
            (Times{1712417400, 1712507400, 1712593800}));
  EXPECT_EQ(Texts("Australia/Sydney", Runs("30 2 * * *", "Australia/Sydney", 1728093600, 3)),
            (Strings{"2024-10-06 03:00 AEDT", "2024-10-07 02:30 AEDT", "2024-10-08 02:30 AEDT"}));
  EXPECT_EQ(Runs("30 2 * * *", "Australia/Sydney", 1728093600, 1), (Times{1728144000}));
}

TEST(CronNextRunTest, FarFutureUsesFooterRule) {
  EXPECT_EQ(Runs("30 2 * * *", "America/New_York", 2530717200, 3),  // 2050-03-12 12:00
            (Times{2530767600, 2530852200, 2530938600}));
  EXPECT_EQ(Texts("America/New_York", Runs("30 2 * * *", "America/New_York", 2530717200, 3)),
            (Strings{"2050-03-13 03:00 EDT", "2050-03-14 02:30 EDT", "2050-03-15 02:30 EDT"}));
  EXPECT_EQ(Runs("30 1 * * *", "America/New_York", 2551276800, 3),  // 2050-11-05 12:00
            (Times{2551325400, 2551415400, 2551501800}));
  EXPECT_EQ(Runs("30 2 * * *", "Europe/Berlin", 2550650400, 3),  // 2050-10-29 12:00
            (Times{2550702600, 2550792600, 2550879000}));
}

TEST(CronNextRunTest, PreviousRunMirrorsNext) {
  auto check = [](const std::string &schedule, const std::string &zone, int64_t from, int count) {
    Times forward = Runs(schedule, zone, from, count);
    CronExpression e = CronExpression::Parse(schedule);
    auto tz = TimeZone::Load(zone);
    for (int i = count - 1; i > 0; --i) {
      ASSERT_EQ(PreviousRunAtOrBefore(e, *tz, forward[i]), forward[i]) << schedule << " " << i;
      ASSERT_EQ(PreviousRunAtOrBefore(e, *tz, forward[i] - 1), forward[i - 1])
          << schedule << " " << zone << " " << i;
    }
  };
  check("30 2 * * *", "America/New_York", 1709917200, 5);
  check("30 1 * * *", "America/New_York", 1730476800, 5);
  check("*/30 * * * *", "America/New_York", 1710049500, 8);
  check("*/30 * * * *", "America/New_York", 1730607300, 8);
  check("*/20 1 * * *", "America/New_York", 1730606400, 5);
  check("*/15 2 * * *", "America/New_York", 1710003600, 5);
  check("30 2 * * *", "Europe/Berlin", 1729936800, 4);
  check("*/30 * * * *", "Europe/Berlin", 1729986300, 8);
  check("30 2 * * *", "Australia/Sydney", 1712365200, 4);
  check("30 2 * * *", "Australia/Sydney", 1728093600, 4);
  check("0 12 29 2 *", "UTC", 4070908800, 3);
  check("0 9 13 * fri", "UTC", 1725148800, 8);
  check("30 2 * * *", "America/New_York", 2530717200, 4);
}

TEST(CronNextRunTest, AgreesWithBruteForceAcrossTransitions) {
  // Reference: walk every UTC minute, fire where the policy in next_run.h says.
  struct Case {
    const char *schedule, *zone;
    int64_t from;
  };
  const Case cases[] = {
      {"30 2 * * *", "America/New_York", 1710000000},
      {"30 1 * * *", "America/New_York", 1730550000},
      {"*/7 * * * *", "America/New_York", 1710040000},
      {"*/7 * * * *", "America/New_York", 1730600000},
      {"*/10 1-2 * * *", "America/New_York", 1730590000},
      {"0 2 * * *", "Europe/Berlin", 1711800000},
      {"*/5 2 * * *", "Europe/Berlin", 1729950000},
      {"15 */2 * * *", "Europe/Berlin", 1729950000},
      {"45 2 * * *", "Australia/Sydney", 1728100000},
      {"* 2 * * *", "Australia/Sydney", 1712380000},
  };
  for (const Case &c : cases) {
    CronExpression e = CronExpression::Parse(c.schedule);
    auto tz = TimeZone::Load(c.zone);
    auto matches = [&e](int64_t local) {
      CivilTime t = SecondsToCivil(local);
      return e.MatchesMinute(t.minute) && e.MatchesHour(t.hour) &&
             e.MatchesDate(t.year, t.month, t.day);
    };
    Times expected;
    for (int64_t t = (c.from / 60 + 1) * 60; t < c.from + 2 * 86400; t += 60) {
      const int64_t local = tz->ToLocalSeconds(t), before = tz->ToLocalSeconds(t - 60);
      bool fire = false;
      if (local - before > 60) {  // a gap ends at t
        if (e.hour_is_wildcard()) {
          fire = matches(local);
        } else {
          for (int64_t m = before + 60; m <= local; m += 60) fire = fire || matches(m);
        }
      } else if (matches(local)) {
        bool second_pass = false;
        for (int64_t u = t - 60; u >= local - tz->max_offset(); u -= 60)
          second_pass = second_pass || tz->ToLocalSeconds(u) == local;
        fire = !second_pass || e.hour_is_wildcard();
      }
      if (fire) expected.push_back(t);
    }
    Times got;
    for (int64_t t = NextRunAfter(e, *tz, c.from); t < c.from + 2 * 86400;
         t = NextRunAfter(e, *tz, t))
      got.push_back(t);
    ASSERT_FALSE(expected.empty()) << c.schedule;
    EXPECT_EQ(got, expected) << c.schedule << " in " << c.zone;
    // From arbitrary instants (including inside gaps and repeated hours),
    // the previous and next runs agree with the reference too.
    for (int64_t t = c.from; t < c.from + 2 * 86400; t += 421) {
      auto next = std::upper_bound(expected.begin(), expected.end(), t);
      if (next != expected.end()) {
        ASSERT_EQ(NextRunAfter(e, *tz, t), *next) << c.schedule << " " << t;
      }
      if (next != expected.begin()) {
        ASSERT_EQ(PreviousRunAtOrBefore(e, *tz, t), *(next - 1)) << c.schedule << " " << t;
      }
    }
  }
}

TEST(CronNextRunTest, RunPeriod) {
  CronExpression daily = CronExpression::Parse("30 2 * * *");
  auto ny = TimeZone::Load("America/New_York");
  EXPECT_EQ(RunPeriodAround(daily, *TimeZone::Utc(), 1710000000), 86400);
  EXPECT_EQ(RunPeriodAround(daily, *ny, 1709990000), 84600);  // 02:30 EST -> 03:00 EDT
  EXPECT_EQ(RunPeriodAround(daily, *ny, 1710060000), 84600);  // 03:00 EDT -> 02:30 EDT
  EXPECT_EQ(RunPeriodAround(daily, *ny, 1730620000), 86400);
  CronExpression weekdays = CronExpression::Parse("0 3 * * 1-5");
  EXPECT_EQ(RunPeriodAround(weekdays, *TimeZone::Utc(), 1726300000), 3 * 86400);  // Sat 2024-09-14
  // At a fire time, the period is the one that starts there.
  EXPECT_EQ(RunPeriodAround(weekdays, *TimeZone::Utc(), 1726196400), 3 * 86400);  // Fri 03:00
}

TEST(CronNextRunTest, MissedRuns) {
  CronExpression nightly = CronExpression::Parse("0 3 * * *");
  const TimeZone &utc = *TimeZone::Utc();
  // Last handled run Mon 2024-09-09 03:00; server down until Tue 05:00.
  MissedRuns m = FindMissedRuns(nightly, utc, 1725850800, 1725944400);
  EXPECT_TRUE(m.any);
  EXPECT_EQ(m.earliest_due, 1725937200);  // Tue 03:00
  EXPECT_EQ(m.latest_due, 1725937200);
  EXPECT_TRUE(m.catch_up);
  // Down for a week: six older runs are missed, the latest is caught up.
  m = FindMissedRuns(nightly, utc, 1725850800, 1726462800);  // until Mon 2024-09-16 05:00
  EXPECT_EQ(m.earliest_due, 1725937200);
  EXPECT_EQ(m.latest_due, 1726455600);  // Mon 03:00
  EXPECT_TRUE(m.catch_up);
  // With a 1-hour window, 2 hours late is too late.
  EXPECT_FALSE(FindMissedRuns(nightly, utc, 1725850800, 1725944400, 3600).catch_up);
  EXPECT_TRUE(FindMissedRuns(nightly, utc, 1725850800, 1725940000, 3600).catch_up);
  // Nothing due.
  EXPECT_FALSE(FindMissedRuns(nightly, utc, 1725850800, 1725900000).any);
  EXPECT_FALSE(FindMissedRuns(nightly, utc, 1725850800, 1725850800).any);
  // A weekday job missed on Friday is not run on Saturday afternoon (the
  // period ending at Friday's run is one day), but is on Friday evening.
  CronExpression weekdays = CronExpression::Parse("0 3 * * 1-5");
  m = FindMissedRuns(weekdays, utc, 1726110000, 1726322400);  // Thu 03:00 .. Sat 14:00
  EXPECT_EQ(m.latest_due, 1726196400);                        // Fri 03:00
  EXPECT_FALSE(m.catch_up);
  EXPECT_TRUE(FindMissedRuns(weekdays, utc, 1726110000, 1726250400).catch_up);  // Fri 18:00
}

TEST(CronNextRunTest, OutOfRangeAndEfficiency) {
  CronExpression e = CronExpression::Parse("0 0 1 1 *");
  EXPECT_THROW(NextRunAfter(e, *TimeZone::Utc(), 253402300800), Error);
  EXPECT_THROW(NextRunAfter(e, *TimeZone::Utc(), 253400000000), Error);  // 9999: no next Jan 1
  EXPECT_THROW(PreviousRunAtOrBefore(e, *TimeZone::Utc(), -62135596801), Error);
  // Rare schedules resolve quickly: Feb 29 on a Sunday, 2032 -> 2060 -> 2088 -> 2128.
  CronExpression rare = CronExpression::Parse("0 0 29 2 */7");
  EXPECT_EQ(Texts("America/New_York", Runs("0 0 29 2 */7", "America/New_York", 1704067200, 4)),
            (Strings{"2032-02-29 00:00 EST", "2060-02-29 00:00 EST", "2088-02-29 00:00 EST",
                     "2128-02-29 00:00 EST"}));
  // A year of every-minute runs across both New York changes.
  auto ny = TimeZone::Load("America/New_York");
  CronExpression every = CronExpression::Parse("* * * * *");
  int64_t t = 1704067200, n = 0;
  while (t < 1704067200 + 366 * 86400) t = NextRunAfter(every, *ny, t), ++n;
  EXPECT_EQ(n, 366 * 1440);
  (void)rare;
}

}  // namespace
}  // namespace cdw
