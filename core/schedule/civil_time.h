// Proleptic Gregorian calendar arithmetic, independent of any time zone.
//
// "Local seconds" are seconds since 1970-01-01 00:00:00 of a wall clock: the
// civil time a zone shows, counted as if it were UTC. They order wall-clock
// readings but are not instants; TimeZone converts them to UTC seconds.
#pragma once

#include <cstdint>
#include <string>

namespace cdw {

struct CivilTime {
  int64_t year = 1970;
  int month = 1;  // 1-12
  int day = 1;    // 1-31
  int hour = 0;   // 0-23
  int minute = 0;
  int second = 0;

  bool operator==(const CivilTime &o) const {
    return year == o.year && month == o.month && day == o.day && hour == o.hour &&
           minute == o.minute && second == o.second;
  }
  bool operator!=(const CivilTime &o) const { return !(*this == o); }
};

// Days since 1970-01-01 of the given date (which must be valid).
int64_t DaysFromCivil(int64_t year, int month, int day);

// The date of the given number of days since 1970-01-01.
void CivilFromDays(int64_t days, int64_t *year, int *month, int *day);

bool IsLeapYear(int64_t year);

// 28-31.
int DaysInMonth(int64_t year, int month);

// 0 = Sunday ... 6 = Saturday, for days since 1970-01-01.
int WeekdayFromDays(int64_t days);

// Civil time -> local seconds and back. CivilToSeconds does not validate.
int64_t CivilToSeconds(const CivilTime &civil);
CivilTime SecondsToCivil(int64_t local_seconds);

// "2024-03-10 02:30:00" (for messages and test output).
std::string FormatCivil(const CivilTime &civil);

// Floor division and modulo that round toward negative infinity.
inline int64_t FloorDiv(int64_t a, int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}
inline int64_t FloorMod(int64_t a, int64_t b) {
  return a - FloorDiv(a, b) * b;
}

// Unix seconds of 0001-01-01T00:00:00 and 9999-12-31T23:59:59: the range the
// scheduling functions accept.
inline constexpr int64_t kMinScheduleSeconds = -62135596800;
inline constexpr int64_t kMaxScheduleSeconds = 253402300799;

}  // namespace cdw
