#include "format/type_text.h"

#include <cstring>

namespace cdw {

namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

// Whether a 64-bit word holds a zero byte / a byte below 0x20 (the classic
// SWAR tests; the second is exact for thresholds up to 0x80).
inline uint64_t HasZeroByte(uint64_t word) {
  return (word - 0x0101010101010101ULL) & ~word & 0x8080808080808080ULL;
}
inline uint64_t HasByteBelow0x20(uint64_t word) {
  return (word - 0x2020202020202020ULL) & ~word & 0x8080808080808080ULL;
}
constexpr int64_t kMicrosecondsPerDay = 86400LL * 1000000;

inline char *TwoDigits(char *out, unsigned value) {
  out[0] = static_cast<char>('0' + value / 10);
  out[1] = static_cast<char>('0' + value % 10);
  return out + 2;
}

// The proleptic Gregorian date `days` after 2000-01-01, as PostgreSQL's
// j2date computes it (H. Hinnant's civil_from_days, shifted to 2000).
// False outside years 1..9999.
bool CivilDate(int64_t days, unsigned *year, unsigned *month, unsigned *day) {
  int64_t z = days + 10957 + 719468;  // 2000-01-01 is day 10957 of 1970
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t day_of_era = z - era * 146097;
  int64_t year_of_era =
      (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  int64_t shifted_month = (5 * day_of_year + 2) / 153;  // March = 0
  int64_t m = shifted_month < 10 ? shifted_month + 3 : shifted_month - 9;
  int64_t y = year_of_era + era * 400 + (m <= 2 ? 1 : 0);
  if (y < 1 || y > 9999) return false;
  *year = static_cast<unsigned>(y);
  *month = static_cast<unsigned>(m);
  *day = static_cast<unsigned>(day_of_year - (153 * shifted_month + 2) / 5 + 1);
  return true;
}

char *IsoDate(char *out, unsigned year, unsigned month, unsigned day) {
  out = TwoDigits(out, year / 100);
  out = TwoDigits(out, year % 100);
  *out++ = '-';
  out = TwoDigits(out, month);
  *out++ = '-';
  return TwoDigits(out, day);
}

}  // namespace

size_t FormatUuid(const unsigned char bytes[16], char *out) {
  char *p = out;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) *p++ = '-';
    *p++ = kHexDigits[bytes[i] >> 4];
    *p++ = kHexDigits[bytes[i] & 0xF];
  }
  return static_cast<size_t>(p - out);
}

size_t FormatIsoDate(int32_t days, char *out) {
  unsigned year, month, day;
  if (!CivilDate(days, &year, &month, &day)) return 0;
  return static_cast<size_t>(IsoDate(out, year, month, day) - out);
}

size_t FormatIsoTimestamp(int64_t microseconds, bool with_utc_offset, char *out) {
  // Floor division: times before 2000 belong to the previous day.
  int64_t days = microseconds / kMicrosecondsPerDay;
  int64_t time_of_day = microseconds - days * kMicrosecondsPerDay;
  if (time_of_day < 0) {
    time_of_day += kMicrosecondsPerDay;
    days--;
  }
  unsigned year, month, day;
  if (!CivilDate(days, &year, &month, &day)) return 0;
  char *p = IsoDate(out, year, month, day);
  auto seconds = static_cast<unsigned>(time_of_day / 1000000);
  auto fraction = static_cast<unsigned>(time_of_day % 1000000);
  *p++ = ' ';
  p = TwoDigits(p, seconds / 3600);
  *p++ = ':';
  p = TwoDigits(p, seconds / 60 % 60);
  *p++ = ':';
  p = TwoDigits(p, seconds % 60);
  if (fraction != 0) {
    // Six digits, trailing zeros dropped (AppendSeconds).
    *p++ = '.';
    char digits[6];
    for (int i = 5; i >= 0; i--, fraction /= 10) digits[i] = static_cast<char>('0' + fraction % 10);
    int used = 6;
    while (digits[used - 1] == '0') used--;
    for (int i = 0; i < used; i++) *p++ = digits[i];
  }
  if (with_utc_offset) {
    *p++ = '+';
    *p++ = '0';
    *p++ = '0';
  }
  return static_cast<size_t>(p - out);
}

size_t FormatJsonStringForCsv(const char *value, size_t len, char *out) {
  char *p = out;
  *p++ = '"';
  *p++ = '"';
  size_t i = 0;
  while (i < len) {
    // Eight bytes at a time while none needs escaping (almost always).
    for (; i + 8 <= len; i += 8) {
      uint64_t word;
      memcpy(&word, value + i, 8);
      if (HasByteBelow0x20(word) | HasZeroByte(word ^ 0x2222222222222222ULL) |
          HasZeroByte(word ^ 0x5C5C5C5C5C5C5C5CULL))
        break;
      memcpy(p, &word, 8);
      p += 8;
    }
    if (i >= len) break;
    auto c = static_cast<unsigned char>(value[i++]);
    switch (c) {
      case '"':
        *p++ = '\\';
        *p++ = '"';
        *p++ = '"';
        break;
      case '\\':
        *p++ = '\\';
        *p++ = '\\';
        break;
      case '\b':
        *p++ = '\\';
        *p++ = 'b';
        break;
      case '\f':
        *p++ = '\\';
        *p++ = 'f';
        break;
      case '\n':
        *p++ = '\\';
        *p++ = 'n';
        break;
      case '\r':
        *p++ = '\\';
        *p++ = 'r';
        break;
      case '\t':
        *p++ = '\\';
        *p++ = 't';
        break;
      default:
        if (c < 0x20) {
          *p++ = '\\';
          *p++ = 'u';
          *p++ = '0';
          *p++ = '0';
          *p++ = kHexDigits[c >> 4];
          *p++ = kHexDigits[c & 0xF];
        } else {
          *p++ = static_cast<char>(c);
        }
    }
  }
  *p++ = '"';
  *p++ = '"';
  return static_cast<size_t>(p - out);
}

}  // namespace cdw
