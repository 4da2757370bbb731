// CronExpression: parsing, error messages, Vixie day rule, matching minutes.
#include <gtest/gtest.h>

#include <string>

#include "common/error.h"
#include "schedule/civil_time.h"
#include "schedule/cron_expression.h"

namespace cdw {
namespace {

uint64_t Bits(std::initializer_list<int> values) {
  uint64_t bits = 0;
  for (int v : values) bits |= uint64_t{1} << v;
  return bits;
}

uint64_t Range(int lo, int hi, int step = 1) {
  uint64_t bits = 0;
  for (int v = lo; v <= hi; v += step) bits |= uint64_t{1} << v;
  return bits;
}

// Parses `text` expecting failure; returns the error.
Error ParseError(const std::string &text) {
  try {
    CronExpression::Parse(text);
  } catch (const Error &e) {
    return e;
  }
  ADD_FAILURE() << "\"" << text << "\" was accepted";
  return Error("", "");
}

int64_t Local(int64_t y, int mo, int d, int h, int mi) {
  return CivilToSeconds(CivilTime{y, mo, d, h, mi, 0});
}

std::string Civil(int64_t local_seconds) {
  return FormatCivil(SecondsToCivil(local_seconds));
}

TEST(CronExpressionTest, ParsesPlainFields) {
  CronExpression e = CronExpression::Parse("30 2 * * *");
  EXPECT_EQ(e.minutes(), Bits({30}));
  EXPECT_EQ(e.hours(), Bits({2}));
  EXPECT_EQ(e.days_of_month(), Range(1, 31));
  EXPECT_EQ(e.months(), Range(1, 12));
  EXPECT_EQ(e.days_of_week(), Range(0, 6));
  EXPECT_FALSE(e.hour_is_wildcard());
  EXPECT_TRUE(e.day_of_month_is_wildcard());
  EXPECT_TRUE(e.day_of_week_is_wildcard());
  EXPECT_EQ(e.text(), "30 2 * * *");
}

TEST(CronExpressionTest, TrimsAndAcceptsTabsAndRepeatedSpaces) {
  CronExpression e = CronExpression::Parse("  0\t12   1  *  * \n");
  EXPECT_EQ(e.text(), "0\t12   1  *  *");
  EXPECT_EQ(e.hours(), Bits({12}));
  EXPECT_EQ(e.days_of_month(), Bits({1}));
}

TEST(CronExpressionTest, RangesListsAndSteps) {
  CronExpression e = CronExpression::Parse("*/15 9-17 1,15,28-31 */3 1-5");
  EXPECT_EQ(e.minutes(), Bits({0, 15, 30, 45}));
  EXPECT_EQ(e.hours(), Range(9, 17));
  EXPECT_EQ(e.days_of_month(), Bits({1, 15, 28, 29, 30, 31}));
  EXPECT_EQ(e.months(), Bits({1, 4, 7, 10}));
  EXPECT_EQ(e.days_of_week(), Range(1, 5));

  EXPECT_EQ(CronExpression::Parse("10-50/20 * * * *").minutes(), Bits({10, 30, 50}));
  EXPECT_EQ(CronExpression::Parse("5/15 * * * *").minutes(), Bits({5, 20, 35, 50}));
  EXPECT_EQ(CronExpression::Parse("0 0-23/6 * * *").hours(), Bits({0, 6, 12, 18}));
  EXPECT_EQ(CronExpression::Parse("0 0 */10 * *").days_of_month(), Bits({1, 11, 21, 31}));
  EXPECT_EQ(CronExpression::Parse("1,2,3,2,1 * * * *").minutes(), Bits({1, 2, 3}));
  EXPECT_EQ(CronExpression::Parse("59 23 31 12 6").minutes(), Bits({59}));
  EXPECT_EQ(CronExpression::Parse("*/60 * * * *").minutes(), Bits({0}));
  EXPECT_TRUE(CronExpression::Parse("0 */2 * * *").hour_is_wildcard());
  EXPECT_FALSE(CronExpression::Parse("0 0-23 * * *").hour_is_wildcard());
}

TEST(CronExpressionTest, MonthAndDayNamesAreCaseInsensitive) {
  CronExpression e = CronExpression::Parse("0 0 * JAN,mar-May,Dec mon-FRI");
  EXPECT_EQ(e.months(), Bits({1, 3, 4, 5, 12}));
  EXPECT_EQ(e.days_of_week(), Range(1, 5));
  EXPECT_EQ(CronExpression::Parse("0 0 * jan-dec/3 *").months(), Bits({1, 4, 7, 10}));
  EXPECT_EQ(CronExpression::Parse("0 0 * * sun,sat").days_of_week(), Bits({0, 6}));
  // A day-of-week range ending on Sunday wraps to 7.
  EXPECT_EQ(CronExpression::Parse("0 0 * * fri-sun").days_of_week(), Bits({0, 5, 6}));
  EXPECT_EQ(CronExpression::Parse("0 0 * * 5-0").days_of_week(), Bits({0, 5, 6}));
}

TEST(CronExpressionTest, SundayIsZeroAndSeven) {
  EXPECT_EQ(CronExpression::Parse("0 0 * * 0").days_of_week(), Bits({0}));
  EXPECT_EQ(CronExpression::Parse("0 0 * * 7").days_of_week(), Bits({0}));
  EXPECT_EQ(CronExpression::Parse("0 0 * * 5-7").days_of_week(), Bits({0, 5, 6}));
  EXPECT_EQ(CronExpression::Parse("0 0 * * 0,7").days_of_week(), Bits({0}));
  EXPECT_EQ(CronExpression::Parse("0 0 * * */7").days_of_week(), Bits({0}));
}

TEST(CronExpressionTest, Macros) {
  struct {
    const char *macro, *equivalent;
  } cases[] = {{"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
               {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
               {"@hourly", "0 * * * *"}, {"@DAILY", "0 0 * * *"}};
  for (const auto &c : cases) {
    CronExpression a = CronExpression::Parse(c.macro), b = CronExpression::Parse(c.equivalent);
    EXPECT_EQ(a.text(), c.macro);
    EXPECT_EQ(a.minutes(), b.minutes()) << c.macro;
    EXPECT_EQ(a.hours(), b.hours()) << c.macro;
    EXPECT_EQ(a.days_of_month(), b.days_of_month()) << c.macro;
    EXPECT_EQ(a.months(), b.months()) << c.macro;
    EXPECT_EQ(a.days_of_week(), b.days_of_week()) << c.macro;
    EXPECT_EQ(a.hour_is_wildcard(), b.hour_is_wildcard()) << c.macro;
  }
  EXPECT_TRUE(CronExpression::Parse("@hourly").hour_is_wildcard());
}

TEST(CronExpressionTest, ErrorsNameFieldValueAndRange) {
  Error e = ParseError("75 * * * *");
  EXPECT_EQ(e.sqlstate(), "22023");
  EXPECT_STREQ(e.what(), "invalid minute \"75\" in schedule \"75 * * * *\"");
  EXPECT_EQ(e.detail(), "Minute 75 is out of range; minute values must be between 0 and 59.");
  EXPECT_EQ(e.hint(),
            "A schedule has five fields: minute hour day-of-month month day-of-week, e.g. "
            "'30 2 * * *', or @hourly, @daily, @weekly, @monthly, @yearly.");

  e = ParseError("0 24 * * *");
  EXPECT_STREQ(e.what(), "invalid hour \"24\" in schedule \"0 24 * * *\"");
  EXPECT_EQ(e.detail(), "Hour 24 is out of range; hour values must be between 0 and 23.");

  e = ParseError("0 0 0 * *");
  EXPECT_STREQ(e.what(), "invalid day-of-month \"0\" in schedule \"0 0 0 * *\"");
  EXPECT_EQ(e.detail(),
            "Day-of-month 0 is out of range; day-of-month values must be between 1 and 31.");

  e = ParseError("0 0 * 13 *");
  EXPECT_STREQ(e.what(), "invalid month \"13\" in schedule \"0 0 * 13 *\"");
  EXPECT_EQ(e.detail(), "Month 13 is out of range; month values must be between 1 and 12.");

  e = ParseError("0 0 * * 8");
  EXPECT_STREQ(e.what(), "invalid day-of-week \"8\" in schedule \"0 0 * * 8\"");
  EXPECT_EQ(e.detail(),
            "Day-of-week 8 is out of range; day-of-week values must be between 0 and 7.");

  // In a list, the offending element is named.
  e = ParseError("0 1,2,99 * * *");
  EXPECT_STREQ(e.what(), "invalid hour \"99\" in schedule \"0 1,2,99 * * *\"");
}

TEST(CronExpressionTest, ErrorsForGarbage) {
  struct {
    const char *text, *message, *detail;
  } cases[] = {
      {"x * * * *", "invalid minute \"x\" in schedule \"x * * * *\"", "\"x\" is not a number."},
      {"0 0 * foo *", "invalid month \"foo\" in schedule \"0 0 * foo *\"",
       "\"foo\" is not a number or a month name (jan-dec)."},
      {"0 0 * * monday", "invalid day-of-week \"monday\" in schedule \"0 0 * * monday\"",
       "\"monday\" is not a number or a day name (sun-sat)."},
      {"0 0 * * jan", "invalid day-of-week \"jan\" in schedule \"0 0 * * jan\"",
       "\"jan\" is not a number or a day name (sun-sat)."},
      {"0 0 mon * *", "invalid day-of-month \"mon\" in schedule \"0 0 mon * *\"",
       "\"mon\" is not a number."},
      {"30-10 * * * *", "invalid minute \"30-10\" in schedule \"30-10 * * * *\"",
       "The range 30-10 starts after it ends; minute ranges must be ascending."},
      {"*/0 * * * *", "invalid minute \"*/0\" in schedule \"*/0 * * * *\"",
       "Step 0 is out of range; minute steps must be between 1 and 60."},
      {"0 */25 * * *", "invalid hour \"*/25\" in schedule \"0 */25 * * *\"",
       "Step 25 is out of range; hour steps must be between 1 and 24."},
      {"*/x * * * *", "invalid minute \"*/x\" in schedule \"*/x * * * *\"",
       "\"x\" is not a step; write */n or a-b/n with a number n."},
      {"*/ * * * *", "invalid minute \"*/\" in schedule \"*/ * * * *\"",
       "\"\" is not a step; write */n or a-b/n with a number n."},
      {"1,,2 * * * *", "invalid minute \"1,,2\" in schedule \"1,,2 * * * *\"",
       "The minute field has an empty list element."},
      {"1, * * * *", "invalid minute \"1,\" in schedule \"1, * * * *\"",
       "The minute field has an empty list element."},
      {"1- * * * *", "invalid minute \"1-\" in schedule \"1- * * * *\"", "A value is missing."},
      {"-5 * * * *", "invalid minute \"-5\" in schedule \"-5 * * * *\"", "A value is missing."},
      {"? * * * *", "invalid minute \"?\" in schedule \"? * * * *\"", "\"?\" is not a number."},
      {"0 0 L * *", "invalid day-of-month \"L\" in schedule \"0 0 L * *\"",
       "\"L\" is not a number."},
      {"0 0 * * 1#2", "invalid day-of-week \"1#2\" in schedule \"0 0 * * 1#2\"",
       "\"1#2\" is not a number or a day name (sun-sat)."},
      {"99999999 * * * *", "invalid minute \"99999999\" in schedule \"99999999 * * * *\"",
       "Minute 99999999 is out of range; minute values must be between 0 and 59."},
  };
  for (const auto &c : cases) {
    Error e = ParseError(c.text);
    EXPECT_EQ(e.sqlstate(), "22023") << c.text;
    EXPECT_STREQ(e.what(), c.message) << c.text;
    EXPECT_EQ(e.detail(), c.detail) << c.text;
    EXPECT_NE(e.hint().find("five fields"), std::string::npos) << c.text;
  }
}

TEST(CronExpressionTest, ErrorsForWrongShape) {
  Error e = ParseError("");
  EXPECT_STREQ(e.what(), "schedule must not be empty");
  EXPECT_NE(e.hint().find("five fields"), std::string::npos);
  EXPECT_STREQ(ParseError("   ").what(), "schedule must not be empty");

  e = ParseError("0 3 * *");
  EXPECT_STREQ(e.what(), "invalid schedule \"0 3 * *\"");
  EXPECT_EQ(e.detail(), "A schedule has 5 fields, but this one has 4.");
  e = ParseError("0 0 3 * * *");
  EXPECT_EQ(e.detail(), "A schedule has 5 fields, but this one has 6.");
  e = ParseError("0 3 * * * /usr/bin/backup");
  EXPECT_EQ(e.detail(), "A schedule has 5 fields, but this one has 6.");

  e = ParseError("@fortnightly");
  EXPECT_STREQ(e.what(), "unknown schedule macro \"@fortnightly\"");
  EXPECT_NE(e.hint().find("@hourly"), std::string::npos);
  e = ParseError("@reboot");
  EXPECT_STREQ(e.what(), "unknown schedule macro \"@reboot\"");
  EXPECT_EQ(e.detail(), "@reboot is not supported: schedules run at clock times.");
  EXPECT_STREQ(ParseError("@daily 0").what(), "unknown schedule macro \"@daily 0\"");
}

TEST(CronExpressionTest, RejectsSchedulesThatNeverRun) {
  for (const char *text :
       {"0 0 30 2 *", "0 0 31 2 *", "0 0 31 4,6,9,11 *", "0 0 30,31 feb *", "0 0 31 4 */2"}) {
    Error e = ParseError(text);
    EXPECT_EQ(e.sqlstate(), "22023") << text;
    EXPECT_EQ(std::string(e.what()), "schedule \"" + std::string(text) + "\" never runs");
    EXPECT_EQ(e.detail(), "None of the selected months has any of the selected days of the month.");
    EXPECT_NE(e.hint().find("February has 29"), std::string::npos);
  }
  // Possible: Feb 29 in leap years; the 31st in some month of the list; with
  // both day fields restricted the weekday alone matches.
  EXPECT_NO_THROW(CronExpression::Parse("0 0 29 2 *"));
  EXPECT_NO_THROW(CronExpression::Parse("0 0 31 1-4 *"));
  EXPECT_NO_THROW(CronExpression::Parse("0 0 30 2 mon"));
}

TEST(CronExpressionTest, VixieDayRule) {
  // Both restricted: the 13th OR a Friday.
  CronExpression either = CronExpression::Parse("0 0 13 * 5");
  EXPECT_TRUE(either.MatchesDate(2024, 9, 13));   // Friday the 13th
  EXPECT_TRUE(either.MatchesDate(2024, 9, 6));    // a Friday
  EXPECT_TRUE(either.MatchesDate(2024, 10, 13));  // a Sunday, but the 13th
  EXPECT_FALSE(either.MatchesDate(2024, 10, 14));
  // Day-of-month '*': only the weekday restricts.
  CronExpression fridays = CronExpression::Parse("0 0 * * fri");
  EXPECT_TRUE(fridays.MatchesDate(2024, 9, 6));
  EXPECT_FALSE(fridays.MatchesDate(2024, 10, 13));
  // A field starting with '*' counts as unrestricted for the rule, even with
  // a step: odd days AND Mondays.
  CronExpression odd_mondays = CronExpression::Parse("0 0 */2 * 1");
  EXPECT_TRUE(odd_mondays.MatchesDate(2024, 9, 9));    // Monday the 9th
  EXPECT_FALSE(odd_mondays.MatchesDate(2024, 9, 16));  // Monday the 16th
  EXPECT_FALSE(odd_mondays.MatchesDate(2024, 9, 11));  // Wednesday the 11th
  // Months restrict both branches.
  CronExpression june = CronExpression::Parse("0 0 1 6 mon");
  EXPECT_TRUE(june.MatchesDate(2024, 6, 3));
  EXPECT_FALSE(june.MatchesDate(2024, 7, 1));
}

TEST(CronExpressionTest, NextMatchingMinuteSkipsToMonthEnds) {
  CronExpression e = CronExpression::Parse("0 12 31 * *");
  int64_t t = Local(2024, 1, 31, 12, 0);
  std::vector<std::string> got;
  for (int i = 0; i < 7; ++i) {
    got.push_back(Civil(t));
    t = e.NextMatchingMinute(t + 1);
  }
  EXPECT_EQ(got, (std::vector<std::string>{"2024-01-31 12:00:00", "2024-03-31 12:00:00",
                                           "2024-05-31 12:00:00", "2024-07-31 12:00:00",
                                           "2024-08-31 12:00:00", "2024-10-31 12:00:00",
                                           "2024-12-31 12:00:00"}));
}

TEST(CronExpressionTest, NextMatchingMinuteLeapDays) {
  CronExpression e = CronExpression::Parse("0 0 29 2 *");
  EXPECT_EQ(Civil(e.NextMatchingMinute(Local(2024, 3, 1, 0, 0))), "2028-02-29 00:00:00");
  EXPECT_EQ(Civil(e.NextMatchingMinute(Local(2097, 1, 1, 0, 0))), "2104-02-29 00:00:00");
  EXPECT_EQ(Civil(e.PreviousMatchingMinute(Local(2104, 2, 28, 0, 0))), "2096-02-29 00:00:00");
  EXPECT_EQ(Civil(e.NextMatchingMinute(Local(1999, 6, 1, 0, 0))), "2000-02-29 00:00:00");
  // Feb 29 that is also a Sunday (AND rule): 2032, then 2060.
  CronExpression sunday = CronExpression::Parse("0 0 29 2 */7");
  EXPECT_EQ(Civil(sunday.NextMatchingMinute(Local(2024, 1, 1, 0, 0))), "2032-02-29 00:00:00");
  EXPECT_EQ(Civil(sunday.NextMatchingMinute(Local(2032, 3, 1, 0, 0))), "2060-02-29 00:00:00");
}

TEST(CronExpressionTest, NextAndPreviousMatchingMinute) {
  CronExpression e = CronExpression::Parse("*/20 9-10 * * mon-fri");
  // Friday 2024-09-13 10:45 -> Monday 09:00.
  EXPECT_EQ(Civil(e.NextMatchingMinute(Local(2024, 9, 13, 10, 45))), "2024-09-16 09:00:00");
  EXPECT_EQ(Civil(e.NextMatchingMinute(Local(2024, 9, 13, 9, 20))), "2024-09-13 09:20:00");
  // Seconds round up to the next minute.
  EXPECT_EQ(Civil(e.NextMatchingMinute(Local(2024, 9, 13, 9, 20) + 1)), "2024-09-13 09:40:00");
  EXPECT_EQ(Civil(e.PreviousMatchingMinute(Local(2024, 9, 16, 8, 59))), "2024-09-13 10:40:00");
  EXPECT_EQ(Civil(e.PreviousMatchingMinute(Local(2024, 9, 13, 9, 39) + 59)), "2024-09-13 09:20:00");
  // Year boundaries.
  CronExpression ny = CronExpression::Parse("@yearly");
  EXPECT_EQ(Civil(ny.NextMatchingMinute(Local(2024, 1, 1, 0, 1))), "2025-01-01 00:00:00");
  EXPECT_EQ(Civil(ny.PreviousMatchingMinute(Local(2024, 12, 31, 23, 59))), "2024-01-01 00:00:00");
  CronExpression eve = CronExpression::Parse("59 23 31 12 *");
  EXPECT_EQ(Civil(eve.PreviousMatchingMinute(Local(2024, 12, 31, 23, 58))), "2023-12-31 23:59:00");
  // The 31st in the previous-month walk skips short months.
  CronExpression last = CronExpression::Parse("0 0 31 * *");
  EXPECT_EQ(Civil(last.PreviousMatchingMinute(Local(2024, 7, 30, 0, 0))), "2024-05-31 00:00:00");
}

TEST(CronExpressionTest, NoMatchOutsideYearRange) {
  CronExpression e = CronExpression::Parse("0 0 1 1 *");
  EXPECT_THROW(e.NextMatchingMinute(Local(9999, 6, 1, 0, 0)), Error);
  EXPECT_THROW(e.PreviousMatchingMinute(Local(1, 1, 1, 0, 0) - 60), Error);
  EXPECT_EQ(Civil(e.PreviousMatchingMinute(Local(1, 6, 1, 0, 0))), "0001-01-01 00:00:00");
}

}  // namespace
}  // namespace cdw
