// Cron schedule expressions (Vixie cron syntax, five fields).
//
//   minute hour day-of-month month day-of-week
//   0-59   0-23 1-31         1-12  0-7 (0 and 7 are Sunday)
//
// Each field is '*' or a comma-separated list of elements; an element is a
// number, a range "a-b", or either of those (or '*') with a step "/n".
// "a/n" means "a-<field maximum>/n" (as cronie). Months accept jan-dec and
// days of week sun-sat, case-insensitively, also inside ranges; in the
// day-of-week field a range ending in Sunday ("fri-sun", "5-0") ends at 7.
// Macros: @yearly/@annually (0 0 1 1 *), @monthly (0 0 1 * *),
// @weekly (0 0 * * 0), @daily/@midnight (0 0 * * *), @hourly (0 * * * *).
//
// Day semantics follow Vixie cron: when both day fields are restricted
// (neither starts with '*'), a day matches if EITHER matches ("0 0 1 * mon"
// is the 1st of the month and every Monday); otherwise both must match.
//
// Expressions that can never fire ("0 0 30 2 *", "0 0 31 4,6 *") are
// rejected at parse time, so every parsed expression fires at least once in
// any 400-year span.
#pragma once

#include <cstdint>
#include <string>

namespace cdw {

class CronExpression {
 public:
  // Parses `text`; throws cdw::Error (22023) naming the field, the value and
  // the allowed range, with a hint showing the expected format.
  static CronExpression Parse(const std::string &text);

  // The text as given to Parse (trimmed).
  const std::string &text() const { return text_; }

  bool MatchesMinute(int minute) const { return (minutes_ >> minute) & 1; }
  bool MatchesHour(int hour) const { return (hours_ >> hour) & 1; }
  bool MatchesMonth(int month) const { return (months_ >> month) & 1; }
  // The Vixie day rule for a calendar date (weekday 0 = Sunday).
  bool MatchesDay(int day_of_month, int weekday) const;
  bool MatchesDate(int64_t year, int month, int day) const;

  // Bit sets of the matching values (bit n = value n; Sunday is bit 0 only).
  uint64_t minutes() const { return minutes_; }
  uint32_t hours() const { return hours_; }
  uint32_t days_of_month() const { return days_of_month_; }
  uint16_t months() const { return months_; }
  uint8_t days_of_week() const { return days_of_week_; }

  // Whether the hour field starts with '*' ("*", "*/2"). Such jobs follow
  // elapsed time across daylight-saving changes; fixed-hour jobs run once per
  // local day (see next_run.h).
  bool hour_is_wildcard() const { return hour_wildcard_; }
  bool day_of_month_is_wildcard() const { return dom_wildcard_; }
  bool day_of_week_is_wildcard() const { return dow_wildcard_; }

  // The next / previous civil minute (as local seconds, see civil_time.h)
  // at or after / at or before `local_seconds` whose fields all match.
  // Skips whole months, days and hours. Throws cdw::Error if none exists
  // within 400 years or outside years 1-9999.
  int64_t NextMatchingMinute(int64_t local_seconds) const;
  int64_t PreviousMatchingMinute(int64_t local_seconds) const;

 private:
  CronExpression() = default;

  std::string text_;
  uint64_t minutes_ = 0;
  uint32_t hours_ = 0;
  uint32_t days_of_month_ = 0;
  uint16_t months_ = 0;
  uint8_t days_of_week_ = 0;
  bool hour_wildcard_ = false;
  bool dom_wildcard_ = false;
  bool dow_wildcard_ = false;
};

// The hint attached to every schedule syntax error.
extern const char *const kCronFormatHint;

}  // namespace cdw
