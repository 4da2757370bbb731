// IANA time zones without PostgreSQL and without touching the process's TZ.
//
// A TimeZone is read from a TZif file (RFC 8536; versions 1-4) under the
// system zoneinfo directory. Instants after the file's last transition follow
// the POSIX TZ rule in the file's footer ("EST5EDT,M3.2.0,M11.1.0"), which is
// what "slim" tzdata relies on for all current rules; Mm.w.d, Jn and n date
// forms and rule times from -167 to 167 hours are supported. Files with leap
// seconds ("right/...") are rejected. "UTC" is built in and needs no files.
//
// Times are int64 Unix seconds (UTC). "Local seconds" are wall-clock readings
// counted like Unix seconds (see civil_time.h).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "schedule/civil_time.h"

namespace cdw {

// One local time type: UTC offset (seconds east of Greenwich), DST flag,
// abbreviation ("EDT").
struct LocalTimeType {
  int32_t utc_offset = 0;
  bool is_dst = false;
  std::string abbreviation;
};

// How a wall-clock reading maps to instants.
struct LocalTimeResolution {
  enum class Kind {
    kUnique,    // one instant: earlier == later
    kSkipped,   // in a gap (clocks jump forward): earlier == later ==
                // transition, the first instant after the gap
    kRepeated,  // occurs twice (clocks go back): earlier < later
  };
  Kind kind = Kind::kUnique;
  int64_t earlier = 0;
  int64_t later = 0;
  // kSkipped, kRepeated: the instant the offset changes (for kRepeated, the
  // start of the second pass); kUnique: equal to earlier.
  int64_t transition = 0;
};

class TimeZone {
 public:
  // Loads an IANA zone ("Asia/Shanghai") from the system zoneinfo directory
  // (/usr/share/zoneinfo, /usr/lib/zoneinfo, /usr/share/lib/zoneinfo); names
  // are matched exactly first, then case-insensitively. Results are cached
  // for the life of the process. Throws cdw::Error 22023 with a hint for
  // unknown or malformed names (empty, leading '/', "..", odd characters).
  static std::shared_ptr<const TimeZone> Load(const std::string &name);

  // The same from a given directory, uncached (tests, custom tzdata).
  static std::shared_ptr<const TimeZone> LoadFromDirectory(const std::string &directory,
                                                           const std::string &name);

  // The built-in UTC zone.
  static std::shared_ptr<const TimeZone> Utc();

  // Parses TZif file contents. Throws cdw::Error (22023) if malformed.
  static std::shared_ptr<const TimeZone> FromTzif(const std::string &name,
                                                  const std::string &contents);

  // A zone defined only by a POSIX TZ rule such as "CET-1CEST,M3.5.0,M10.5.0/3".
  static std::shared_ptr<const TimeZone> FromPosixRule(const std::string &name,
                                                       const std::string &rule);

  // Throws cdw::Error 22023 unless `name` is a plausible IANA name; does
  // not look for the file.
  static void CheckName(const std::string &name);

  const std::string &name() const { return name_; }
  // The POSIX footer rule, empty if none.
  const std::string &posix_rule() const { return footer_text_; }

  LocalTimeType TypeAt(int64_t unix_seconds) const;
  int32_t UtcOffsetAt(int64_t unix_seconds) const;

  // UTC -> wall clock.
  int64_t ToLocalSeconds(int64_t unix_seconds) const {
    return unix_seconds + UtcOffsetAt(unix_seconds);
  }
  CivilTime ToCivil(int64_t unix_seconds) const {
    return SecondsToCivil(ToLocalSeconds(unix_seconds));
  }

  // Wall clock -> UTC, with gaps and repeats spelled out.
  LocalTimeResolution Resolve(int64_t local_seconds) const;
  LocalTimeResolution Resolve(const CivilTime &civil) const {
    return Resolve(CivilToSeconds(civil));
  }
  // The first occurrence of a wall-clock time; for a time in a gap, the first
  // instant after the gap.
  int64_t ToUnixSeconds(const CivilTime &civil) const { return Resolve(civil).earlier; }

  // The first instant > unix_seconds at which the UTC offset changes.
  std::optional<int64_t> NextOffsetChangeAfter(int64_t unix_seconds) const;

  // The smallest and largest UTC offset in effect at any instant in
  // [from, to] (from <= to).
  void OffsetRange(int64_t from, int64_t to, int32_t *min_offset, int32_t *max_offset) const;

  // Smallest and largest UTC offset of any local time type of the zone.
  int32_t min_offset() const { return min_offset_; }
  int32_t max_offset() const { return max_offset_; }

  // POSIX footer rule representation (public so the parser can fill it).
  struct PosixDate {
    enum class Form { kJulianNoLeap, kZeroBased, kMonthWeekDay } form = Form::kMonthWeekDay;
    int day = 0;          // Jn: 1-365; n: 0-365; Mm.w.d: d 0-6
    int month = 0;        // Mm.w.d
    int week = 0;         // Mm.w.d, 1-5
    int32_t time = 7200;  // local time of day, seconds, -167h..167h
  };
  struct PosixRule {
    LocalTimeType standard;
    bool has_dst = false;
    LocalTimeType dst;
    PosixDate start, end;
  };

 private:
  TimeZone() = default;
  void Finish();
  int32_t FooterOffsetAt(int64_t t) const;
  bool FooterIsDstAt(int64_t t) const;
  std::optional<int64_t> FooterNextChangeAfter(int64_t t) const;
  int64_t FooterTransition(int64_t year, bool start) const;
  bool ComputeFooterPermanentDst() const;

  std::string name_;
  std::vector<int64_t> times_;        // transition instants, ascending
  std::vector<uint8_t> time_types_;   // type index per transition
  std::vector<LocalTimeType> types_;  // at least one
  std::optional<PosixRule> footer_;
  std::string footer_text_;
  bool footer_permanent_dst_ = false;
  int32_t min_offset_ = 0;
  int32_t max_offset_ = 0;
};

// The hint attached to time zone errors.
extern const char *const kTimeZoneHint;

}  // namespace cdw
