#include "schedule/cron_expression.h"

#include <cctype>
#include <vector>

#include "common/error.h"
#include "schedule/civil_time.h"

namespace cdw {

const char *const kCronFormatHint =
    "A schedule has five fields: minute hour day-of-month month day-of-week, e.g. '30 2 * * *', "
    "or @hourly, @daily, @weekly, @monthly, @yearly.";

namespace {

struct FieldSpec {
  const char *name;         // "minute"
  const char *capitalized;  // "Minute"
  int min;
  int max;
  const char *const *names;  // lower-case names for values min.., or nullptr
  const char *names_help;    // " or a month name (jan-dec)"
};

const char *const kMonthNames[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                   "jul", "aug", "sep", "oct", "nov", "dec"};
const char *const kDayNames[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

const FieldSpec kFields[5] = {
    {"minute", "Minute", 0, 59, nullptr, ""},
    {"hour", "Hour", 0, 23, nullptr, ""},
    {"day-of-month", "Day-of-month", 1, 31, nullptr, ""},
    {"month", "Month", 1, 12, kMonthNames, " or a month name (jan-dec)"},
    {"day-of-week", "Day-of-week", 0, 7, kDayNames, " or a day name (sun-sat)"},
};

std::string Lower(const std::string &s) {
  std::string out = s;
  for (char &c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::string Trim(const std::string &s) {
  size_t b = 0, e = s.size();
  while (b < e && IsSpace(s[b])) ++b;
  while (e > b && IsSpace(s[e - 1])) --e;
  return s.substr(b, e - b);
}

class FieldParser {
 public:
  FieldParser(const FieldSpec &spec, const std::string &schedule)
      : spec_(spec), schedule_(schedule) {}

  // Returns the bit set of the field's values.
  uint64_t Parse(const std::string &field) {
    uint64_t bits = 0;
    size_t start = 0;
    while (true) {
      size_t comma = field.find(',', start);
      std::string element = field.substr(start, comma == std::string::npos ? comma : comma - start);
      if (element.empty())
        Fail(field, "The " + std::string(spec_.name) + " field has an empty list element.");
      bits |= ParseElement(element);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    return bits;
  }

 private:
  [[noreturn]] void Fail(const std::string &what, const std::string &detail) const {
    throw Error(sqlstate::kInvalidParameterValue,
                "invalid " + std::string(spec_.name) + " \"" + what + "\" in schedule \"" +
                    schedule_ + "\"",
                detail, kCronFormatHint);
  }

  std::string RangeText() const {
    return "between " + std::to_string(spec_.min) + " and " + std::to_string(spec_.max);
  }

  // A number or a name; range-checked.
  int ParseValue(const std::string &element, const std::string &token) const {
    if (token.empty()) Fail(element, "A value is missing.");
    bool digits = true;
    for (char c : token) digits = digits && std::isdigit(static_cast<unsigned char>(c));
    int value = -1;
    if (digits) {
      if (token.size() > 6) Fail(element, OutOfRange(token));
      value = std::stoi(token);
    } else if (spec_.names != nullptr) {
      std::string lower = Lower(token);
      int count = spec_.max - spec_.min + (spec_.names == kDayNames ? 0 : 1);
      for (int i = 0; i < count; ++i)
        if (lower == spec_.names[i]) value = spec_.min + i;
    }
    if (value < 0)
      Fail(element, "\"" + token + "\" is not a number" + std::string(spec_.names_help) + ".");
    if (value < spec_.min || value > spec_.max) Fail(element, OutOfRange(token));
    return value;
  }

  std::string OutOfRange(const std::string &token) const {
    return std::string(spec_.capitalized) + " " + token + " is out of range; " + spec_.name +
           " values must be " + RangeText() + ".";
  }

  uint64_t ParseElement(const std::string &element) {
    std::string base = element;
    int step = 1;
    bool has_step = false;
    size_t slash = element.find('/');
    if (slash != std::string::npos) {
      has_step = true;
      base = element.substr(0, slash);
      std::string step_text = element.substr(slash + 1);
      bool digits = !step_text.empty() && step_text.size() <= 6;
      for (char c : step_text) digits = digits && std::isdigit(static_cast<unsigned char>(c));
      int span = spec_.max - spec_.min + 1;
      if (spec_.names == kDayNames) span = 7;
      if (!digits)
        Fail(element, "\"" + step_text + "\" is not a step; write */n or a-b/n with a number n.");
      step = std::stoi(step_text);
      if (step < 1 || step > span)
        Fail(element, "Step " + step_text + " is out of range; " + spec_.name +
                          " steps must be between 1 and " + std::to_string(span) + ".");
    }
    int lo, hi;
    if (base == "*") {
      lo = spec_.min;
      hi = spec_.max;
    } else {
      size_t dash = base.find('-');
      lo = ParseValue(element, base.substr(0, dash));
      if (dash != std::string::npos) {
        hi = ParseValue(element, base.substr(dash + 1));
        // "fri-sun", "5-0": a day-of-week range that ends on Sunday ends at 7.
        if (spec_.names == kDayNames && hi == 0 && lo > 0) hi = 7;
        if (lo > hi)
          Fail(element, "The range " + base + " starts after it ends; " + spec_.name +
                            " ranges must be ascending.");
      } else {
        hi = has_step ? spec_.max : lo;
      }
    }
    uint64_t bits = 0;
    for (int v = lo; v <= hi; v += step) bits |= uint64_t{1} << v;
    return bits;
  }

  const FieldSpec &spec_;
  const std::string &schedule_;
};

struct Macro {
  const char *name;
  const char *expansion;
};
const Macro kMacros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

// Index of the lowest set bit >= from (bits below 64), or -1.
int NextBit(uint64_t bits, int from) {
  if (from >= 64) return -1;
  uint64_t masked = bits & (~uint64_t{0} << from);
  return masked == 0 ? -1 : __builtin_ctzll(masked);
}

// Index of the highest set bit <= from, or -1.
int PreviousBit(uint64_t bits, int from) {
  if (from < 0) return -1;
  uint64_t masked = from >= 63 ? bits : bits & ((uint64_t{1} << (from + 1)) - 1);
  return masked == 0 ? -1 : 63 - __builtin_clzll(masked);
}

[[noreturn]] void ThrowNoMatch(const std::string &text, const char *direction) {
  throw Error(sqlstate::kInvalidParameterValue,
              "schedule \"" + text + "\" has no " + direction + " run time in years 1 to 9999");
}

}  // namespace

CronExpression CronExpression::Parse(const std::string &input) {
  CronExpression expr;
  expr.text_ = Trim(input);
  const std::string &text = expr.text_;
  if (text.empty())
    throw Error(sqlstate::kInvalidParameterValue, "schedule must not be empty", {},
                kCronFormatHint);

  std::string fields_text = text;
  if (text[0] == '@') {
    std::string lower = Lower(text);
    const char *expansion = nullptr;
    for (const Macro &m : kMacros)
      if (lower == m.name) expansion = m.expansion;
    if (expansion == nullptr) {
      std::string detail;
      if (lower == "@reboot") detail = "@reboot is not supported: schedules run at clock times.";
      throw Error(sqlstate::kInvalidParameterValue, "unknown schedule macro \"" + text + "\"",
                  detail, kCronFormatHint);
    }
    fields_text = expansion;
  }

  std::vector<std::string> fields;
  size_t i = 0;
  while (i < fields_text.size()) {
    while (i < fields_text.size() && IsSpace(fields_text[i])) ++i;
    size_t start = i;
    while (i < fields_text.size() && !IsSpace(fields_text[i])) ++i;
    if (i > start) fields.push_back(fields_text.substr(start, i - start));
  }
  if (fields.size() != 5)
    throw Error(sqlstate::kInvalidParameterValue, "invalid schedule \"" + text + "\"",
                "A schedule has 5 fields, but this one has " + std::to_string(fields.size()) + ".",
                kCronFormatHint);

  uint64_t bits[5];
  for (int f = 0; f < 5; ++f) bits[f] = FieldParser(kFields[f], text).Parse(fields[f]);
  expr.minutes_ = bits[0];
  expr.hours_ = static_cast<uint32_t>(bits[1]);
  expr.days_of_month_ = static_cast<uint32_t>(bits[2]);
  expr.months_ = static_cast<uint16_t>(bits[3]);
  uint64_t dow = bits[4];
  if (dow & (uint64_t{1} << 7)) dow = (dow | 1) & 0x7f;
  expr.days_of_week_ = static_cast<uint8_t>(dow);
  expr.hour_wildcard_ = fields[1][0] == '*';
  expr.dom_wildcard_ = fields[2][0] == '*';
  expr.dow_wildcard_ = fields[4][0] == '*';

  // With the AND rule, some day of the month must exist in some month (every
  // such date falls on every weekday within 400 years). With the OR rule the
  // day-of-week field alone matches days in every month.
  if (expr.dom_wildcard_ || expr.dow_wildcard_) {
    bool possible = false;
    for (int month = 1; month <= 12; ++month) {
      if (!expr.MatchesMonth(month)) continue;
      int longest = month == 2 ? 29 : DaysInMonth(2001, month);
      for (int day = 1; day <= longest; ++day)
        possible = possible || ((expr.days_of_month_ >> day) & 1);
    }
    if (!possible)
      throw Error(sqlstate::kInvalidParameterValue, "schedule \"" + text + "\" never runs",
                  "None of the selected months has any of the selected days of the month.",
                  "Choose days that exist in the selected months: April, June, September and "
                  "November have 30 days, February has 29 in leap years.");
  }
  return expr;
}

bool CronExpression::MatchesDay(int day_of_month, int weekday) const {
  bool dom = (days_of_month_ >> day_of_month) & 1;
  bool dow = (days_of_week_ >> weekday) & 1;
  if (dom_wildcard_ || dow_wildcard_) return dom && dow;
  return dom || dow;
}

bool CronExpression::MatchesDate(int64_t year, int month, int day) const {
  return MatchesMonth(month) && MatchesDay(day, WeekdayFromDays(DaysFromCivil(year, month, day)));
}

int64_t CronExpression::NextMatchingMinute(int64_t local_seconds) const {
  if (local_seconds < kMinScheduleSeconds) local_seconds = kMinScheduleSeconds;
  CivilTime c = SecondsToCivil(FloorDiv(local_seconds + 59, 60) * 60);
  const int64_t last_year = c.year + 401;
  while (true) {
    if (c.year > last_year || c.year > 9999) ThrowNoMatch(text_, "next");
    int month = NextBit(months_, c.month);
    if (month < 0 || month > 12) {
      ++c.year;
      c.month = NextBit(months_, 1);
      c.day = 1, c.hour = 0, c.minute = 0;
      continue;
    }
    if (month != c.month) c.month = month, c.day = 1, c.hour = 0, c.minute = 0;
    const int dim = DaysInMonth(c.year, c.month);
    // Find the first matching day at or after c.day in this month.
    int day = c.day;
    int weekday = WeekdayFromDays(DaysFromCivil(c.year, c.month, day));
    while (day <= dim && !MatchesDay(day, weekday)) ++day, weekday = (weekday + 1) % 7;
    if (day > dim) {
      if (++c.month > 12) c.month = 1, ++c.year;
      c.day = 1, c.hour = 0, c.minute = 0;
      continue;
    }
    if (day != c.day) c.day = day, c.hour = 0, c.minute = 0;
    int hour = NextBit(hours_, c.hour);
    if (hour < 0 || hour > 23) {
      c.day += 1, c.hour = 0, c.minute = 0;  // c.day may exceed dim: handled above
      if (c.day > dim) {
        if (++c.month > 12) c.month = 1, ++c.year;
        c.day = 1;
      }
      continue;
    }
    if (hour != c.hour) c.hour = hour, c.minute = 0;
    int minute = NextBit(minutes_, c.minute);
    if (minute < 0 || minute > 59) {
      c.hour += 1, c.minute = 0;
      if (c.hour > 23) {
        c.hour = 0, c.day += 1;
        if (c.day > dim) {
          if (++c.month > 12) c.month = 1, ++c.year;
          c.day = 1;
        }
      }
      continue;
    }
    c.minute = minute;
    c.second = 0;
    return CivilToSeconds(c);
  }
}

int64_t CronExpression::PreviousMatchingMinute(int64_t local_seconds) const {
  if (local_seconds > kMaxScheduleSeconds) local_seconds = kMaxScheduleSeconds;
  CivilTime c = SecondsToCivil(FloorDiv(local_seconds, 60) * 60);
  const int64_t first_year = c.year - 401;
  auto to_previous_month = [&c]() {
    if (--c.month < 1) c.month = 12, --c.year;
    c.day = 31, c.hour = 23, c.minute = 59;  // clamped to the month's length below
  };
  auto to_previous_day = [&c, &to_previous_month]() {
    if (--c.day < 1) {
      to_previous_month();
    } else {
      c.hour = 23, c.minute = 59;
    }
  };
  while (true) {
    if (c.year < first_year || c.year < 1) ThrowNoMatch(text_, "previous");
    int month = PreviousBit(months_, c.month);
    if (month < 1) {
      --c.year;
      c.month = PreviousBit(months_, 12);
      c.day = 31, c.hour = 23, c.minute = 59;
      continue;
    }
    if (month != c.month) c.month = month, c.day = 31, c.hour = 23, c.minute = 59;
    const int dim = DaysInMonth(c.year, c.month);
    if (c.day > dim) c.day = dim;
    int day = c.day;
    int weekday = WeekdayFromDays(DaysFromCivil(c.year, c.month, day));
    while (day >= 1 && !MatchesDay(day, weekday)) --day, weekday = (weekday + 6) % 7;
    if (day < 1) {
      to_previous_month();
      continue;
    }
    if (day != c.day) c.day = day, c.hour = 23, c.minute = 59;
    int hour = PreviousBit(hours_, c.hour);
    if (hour < 0) {
      to_previous_day();
      continue;
    }
    if (hour != c.hour) c.hour = hour, c.minute = 59;
    int minute = PreviousBit(minutes_, c.minute);
    if (minute < 0) {
      if (--c.hour < 0) {
        to_previous_day();
      } else {
        c.minute = 59;
      }
      continue;
    }
    c.minute = minute;
    c.second = 0;
    return CivilToSeconds(c);
  }
}

}  // namespace cdw
