#include "schedule/time_zone.h"

#include <dirent.h>
#include <strings.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <sstream>

#include "common/error.h"

namespace cdw {

const char *const kTimeZoneHint = "Use an IANA time zone name such as 'UTC' or 'Asia/Shanghai'.";

namespace {

const char *const kZoneInfoDirectories[] = {"/usr/share/zoneinfo", "/usr/lib/zoneinfo",
                                            "/usr/share/lib/zoneinfo"};

// Names that mean UTC when no zoneinfo file is available.
const char *const kUtcAliases[] = {"UTC",       "Etc/UTC",       "UCT",   "Etc/UCT",
                                   "GMT",       "Etc/GMT",       "GMT0",  "Etc/GMT0",
                                   "Universal", "Etc/Universal", "Zulu",  "Etc/Zulu",
                                   "Greenwich", "Etc/Greenwich", "GMT+0", "GMT-0"};

[[noreturn]] void ThrowNotRecognized(const std::string &name, const std::string &detail = {}) {
  throw Error(sqlstate::kInvalidParameterValue, "time zone \"" + name + "\" not recognized", detail,
              kTimeZoneHint);
}

[[noreturn]] void ThrowMalformed(const std::string &name, const std::string &detail) {
  throw Error(sqlstate::kInvalidParameterValue,
              "time zone \"" + name + "\" has an invalid zoneinfo file", detail,
              "Reinstall the operating system's tzdata package or use another zone.");
}

// ---- POSIX TZ rules ---------------------------------------------------------

class PosixParser {
 public:
  explicit PosixParser(const std::string &s) : s_(s) {}

  bool Parse(TimeZone::PosixRule *rule) {
    if (!ParseName(&rule->standard.abbreviation)) return false;
    int32_t offset;
    if (!ParseOffset(24, &offset)) return false;
    rule->standard.utc_offset = -offset;  // POSIX counts west of Greenwich
    rule->standard.is_dst = false;
    if (AtEnd()) return true;
    rule->has_dst = true;
    if (!ParseName(&rule->dst.abbreviation)) return false;
    rule->dst.is_dst = true;
    rule->dst.utc_offset = rule->standard.utc_offset + 3600;
    if (!AtEnd() && Peek() != ',') {
      if (!ParseOffset(24, &offset)) return false;
      rule->dst.utc_offset = -offset;
    }
    if (AtEnd()) {  // no rule: the traditional US default
      rule->start = {TimeZone::PosixDate::Form::kMonthWeekDay, 0, 3, 2, 7200};
      rule->end = {TimeZone::PosixDate::Form::kMonthWeekDay, 0, 11, 1, 7200};
      return true;
    }
    if (Peek() != ',') return false;
    ++pos_;
    if (!ParseDate(&rule->start) || AtEnd() || Peek() != ',') return false;
    ++pos_;
    if (!ParseDate(&rule->end)) return false;
    return AtEnd();
  }

 private:
  bool AtEnd() const { return pos_ >= s_.size(); }
  char Peek() const { return s_[pos_]; }

  bool ParseName(std::string *out) {
    size_t start = pos_;
    if (!AtEnd() && Peek() == '<') {
      ++pos_;
      while (!AtEnd() && Peek() != '>') {
        char c = Peek();
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-') return false;
        ++pos_;
      }
      if (AtEnd()) return false;
      *out = s_.substr(start + 1, pos_ - start - 1);
      ++pos_;
      return !out->empty();
    }
    while (!AtEnd() && std::isalpha(static_cast<unsigned char>(Peek()))) ++pos_;
    *out = s_.substr(start, pos_ - start);
    return out->size() >= 3;
  }

  bool ParseNumber(int max, int *out) {
    if (AtEnd() || !std::isdigit(static_cast<unsigned char>(Peek()))) return false;
    int value = 0;
    while (!AtEnd() && std::isdigit(static_cast<unsigned char>(Peek()))) {
      value = value * 10 + (Peek() - '0');
      if (value > max) return false;
      ++pos_;
    }
    *out = value;
    return true;
  }

  // [+-]hh[:mm[:ss]] with hours up to max_hours; returns seconds.
  bool ParseOffset(int max_hours, int32_t *out) {
    int sign = 1;
    if (!AtEnd() && (Peek() == '+' || Peek() == '-')) sign = Peek() == '-' ? -1 : 1, ++pos_;
    int h, m = 0, sec = 0;
    if (!ParseNumber(max_hours, &h)) return false;
    if (!AtEnd() && Peek() == ':') {
      ++pos_;
      if (!ParseNumber(59, &m)) return false;
      if (!AtEnd() && Peek() == ':') {
        ++pos_;
        if (!ParseNumber(59, &sec)) return false;
      }
    }
    *out = sign * (h * 3600 + m * 60 + sec);
    return true;
  }

  bool ParseDate(TimeZone::PosixDate *date) {
    using Form = TimeZone::PosixDate::Form;
    if (AtEnd()) return false;
    if (Peek() == 'J') {
      ++pos_;
      date->form = Form::kJulianNoLeap;
      if (!ParseNumber(365, &date->day) || date->day < 1) return false;
    } else if (Peek() == 'M') {
      ++pos_;
      date->form = Form::kMonthWeekDay;
      if (!ParseNumber(12, &date->month) || date->month < 1) return false;
      if (AtEnd() || Peek() != '.') return false;
      ++pos_;
      if (!ParseNumber(5, &date->week) || date->week < 1) return false;
      if (AtEnd() || Peek() != '.') return false;
      ++pos_;
      if (!ParseNumber(6, &date->day)) return false;
    } else {
      date->form = Form::kZeroBased;
      if (!ParseNumber(365, &date->day)) return false;
    }
    date->time = 7200;
    if (!AtEnd() && Peek() == '/') {
      ++pos_;
      if (!ParseOffset(167, &date->time)) return false;
    }
    return true;
  }

  const std::string &s_;
  size_t pos_ = 0;
};

// Days since the epoch of a rule date in `year`.
int64_t RuleDay(const TimeZone::PosixDate &date, int64_t year) {
  using Form = TimeZone::PosixDate::Form;
  const int64_t jan1 = DaysFromCivil(year, 1, 1);
  switch (date.form) {
    case Form::kJulianNoLeap:
      return jan1 + date.day - 1 + ((IsLeapYear(year) && date.day >= 60) ? 1 : 0);
    case Form::kZeroBased:
      return jan1 + date.day;
    case Form::kMonthWeekDay:
    default: {
      const int64_t first = DaysFromCivil(year, date.month, 1);
      int day = 1 + (date.day - WeekdayFromDays(first) + 7) % 7 + (date.week - 1) * 7;
      const int dim = DaysInMonth(year, date.month);
      while (day > dim) day -= 7;
      return first + day - 1;
    }
  }
}

// ---- TZif -------------------------------------------------------------------

class Reader {
 public:
  Reader(const std::string &data, const std::string &name) : data_(data), name_(name) {}
  size_t pos() const { return pos_; }
  void Need(size_t n) const {
    if (data_.size() - pos_ < n) ThrowMalformed(name_, "The file is truncated.");
  }
  uint8_t U8() {
    Need(1);
    return static_cast<uint8_t>(data_[pos_++]);
  }
  uint32_t U32() {
    Need(4);
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(data_[pos_++]);
    return v;
  }
  int64_t I64() {
    Need(8);
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(data_[pos_++]);
    return static_cast<int64_t>(v);
  }
  void Skip(size_t n) {
    Need(n);
    pos_ += n;
  }
  std::string Bytes(size_t n) {
    Need(n);
    std::string out = data_.substr(pos_, n);
    pos_ += n;
    return out;
  }
  bool AtEnd() const { return pos_ >= data_.size(); }

 private:
  const std::string &data_;
  const std::string &name_;
  size_t pos_ = 0;
};

struct TzifHeader {
  char version = 0;
  uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

TzifHeader ReadHeader(Reader *r, const std::string &name) {
  TzifHeader h;
  if (r->Bytes(4) != "TZif") ThrowNotRecognized(name, "The file is not in TZif format.");
  h.version = static_cast<char>(r->U8());
  r->Skip(15);
  h.isutcnt = r->U32();
  h.isstdcnt = r->U32();
  h.leapcnt = r->U32();
  h.timecnt = r->U32();
  h.typecnt = r->U32();
  h.charcnt = r->U32();
  if (h.typecnt == 0 || h.typecnt > 256 || h.timecnt > 100000 || h.charcnt > 65536 ||
      h.leapcnt > 100000 || (h.isutcnt != 0 && h.isutcnt != h.typecnt) ||
      (h.isstdcnt != 0 && h.isstdcnt != h.typecnt))
    ThrowMalformed(name, "The header counts are inconsistent.");
  return h;
}

std::mutex cache_mutex;
std::map<std::string, std::shared_ptr<const TimeZone>> &Cache() {
  static auto *cache = new std::map<std::string, std::shared_ptr<const TimeZone>>();
  return *cache;
}

bool IsRegularFile(const std::string &path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// Finds `name` under `directory`, exactly or else case-insensitively per
// path component. Sets *canonical to the name as spelled on disk.
bool FindZoneFile(const std::string &directory, const std::string &name, std::string *path,
                  std::string *canonical) {
  if (IsRegularFile(directory + "/" + name)) {
    *path = directory + "/" + name;
    *canonical = name;
    return true;
  }
  std::string current = directory;
  std::string spelled;
  size_t start = 0;
  while (start <= name.size()) {
    size_t slash = name.find('/', start);
    std::string component = name.substr(start, slash == std::string::npos ? slash : slash - start);
    DIR *dir = ::opendir(current.c_str());
    if (dir == nullptr) return false;
    std::string found;
    while (struct dirent *entry = ::readdir(dir)) {
      if (::strcasecmp(entry->d_name, component.c_str()) == 0) {
        found = entry->d_name;
        break;
      }
    }
    ::closedir(dir);
    if (found.empty()) return false;
    current += "/" + found;
    spelled += (spelled.empty() ? "" : "/") + found;
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  if (!IsRegularFile(current)) return false;
  *path = current;
  *canonical = spelled;
  return true;
}

}  // namespace

// ---- construction -------------------------------------------------------------

void TimeZone::CheckName(const std::string &name) {
  if (name.empty())
    throw Error(sqlstate::kInvalidParameterValue, "time zone name must not be empty", {},
                kTimeZoneHint);
  std::string problem;
  if (name.size() > 255)
    problem = "The name is too long.";
  else if (name[0] == '/')
    problem = "Time zone names are relative, not file paths.";
  else if (name.find("..") != std::string::npos)
    problem = "Time zone names must not contain \"..\".";
  else
    for (char c : name)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '/' && c != '_' && c != '-' &&
          c != '+' && c != '.')
        problem = "Time zone names consist of letters, digits, '/', '_', '-', '+' and '.'.";
  if (!problem.empty()) ThrowNotRecognized(name, problem);
}

std::shared_ptr<const TimeZone> TimeZone::Utc() {
  static const std::shared_ptr<const TimeZone> utc = [] {
    std::shared_ptr<TimeZone> tz(new TimeZone());
    tz->name_ = "UTC";
    tz->types_.push_back(LocalTimeType{0, false, "UTC"});
    tz->footer_text_ = "UTC0";
    tz->Finish();
    return tz;
  }();
  return utc;
}

std::shared_ptr<const TimeZone> TimeZone::Load(const std::string &name) {
  if (name == "UTC") return Utc();
  {
    std::lock_guard<std::mutex> lock(cache_mutex);
    auto it = Cache().find(name);
    if (it != Cache().end()) return it->second;
  }
  CheckName(name);
  std::shared_ptr<const TimeZone> tz;
  for (const char *directory : kZoneInfoDirectories) {
    std::string path, canonical;
    if (FindZoneFile(directory, name, &path, &canonical)) {
      tz = LoadFromDirectory(directory, canonical);
      break;
    }
  }
  if (!tz) {
    for (const char *alias : kUtcAliases)
      if (::strcasecmp(alias, name.c_str()) == 0) tz = Utc();
  }
  if (!tz) ThrowNotRecognized(name);
  std::lock_guard<std::mutex> lock(cache_mutex);
  Cache()[name] = tz;
  return tz;
}

std::shared_ptr<const TimeZone> TimeZone::LoadFromDirectory(const std::string &directory,
                                                            const std::string &name) {
  CheckName(name);
  std::string path, canonical;
  if (!FindZoneFile(directory, name, &path, &canonical)) ThrowNotRecognized(name);
  std::ifstream in(path, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  if (!in.good() && !in.eof()) ThrowNotRecognized(name, "The zoneinfo file could not be read.");
  if (contents.str().size() > (1u << 20)) ThrowNotRecognized(name, "The file is too large.");
  return FromTzif(canonical, contents.str());
}

std::shared_ptr<const TimeZone> TimeZone::FromTzif(const std::string &name,
                                                   const std::string &contents) {
  Reader r(contents, name);
  TzifHeader h = ReadHeader(&r, name);
  bool wide = false;
  if (h.version >= '2') {
    // Skip the 32-bit block; the 64-bit block and footer follow.
    r.Skip(size_t{h.timecnt} * 5 + size_t{h.typecnt} * 6 + h.charcnt + size_t{h.leapcnt} * 8 +
           h.isstdcnt + h.isutcnt);
    h = ReadHeader(&r, name);
    wide = true;
  }
  if (h.leapcnt != 0)
    ThrowNotRecognized(name, "Zones with leap seconds (\"right/...\") are not supported.");

  std::shared_ptr<TimeZone> tz(new TimeZone());
  tz->name_ = name;
  tz->times_.resize(h.timecnt);
  for (auto &t : tz->times_) t = wide ? r.I64() : static_cast<int32_t>(r.U32());
  tz->time_types_.resize(h.timecnt);
  for (auto &i : tz->time_types_) {
    i = r.U8();
    if (i >= h.typecnt) ThrowMalformed(name, "A transition refers to an unknown time type.");
  }
  for (size_t i = 1; i < tz->times_.size(); ++i)
    if (tz->times_[i] <= tz->times_[i - 1])
      ThrowMalformed(name, "The transition times are not ascending.");
  std::vector<uint8_t> abbr_index(h.typecnt);
  tz->types_.resize(h.typecnt);
  for (uint32_t i = 0; i < h.typecnt; ++i) {
    int32_t offset = static_cast<int32_t>(r.U32());
    if (offset < -89999 || offset > 93599) ThrowMalformed(name, "A UTC offset is out of range.");
    tz->types_[i].utc_offset = offset;
    tz->types_[i].is_dst = r.U8() != 0;
    abbr_index[i] = r.U8();
  }
  std::string chars = r.Bytes(h.charcnt);
  for (uint32_t i = 0; i < h.typecnt; ++i) {
    if (abbr_index[i] >= chars.size())
      ThrowMalformed(name, "An abbreviation index is out of range.");
    tz->types_[i].abbreviation = std::string(chars.c_str() + abbr_index[i]);
  }
  r.Skip(h.isstdcnt + h.isutcnt);

  if (wide && !r.AtEnd()) {
    if (r.U8() != '\n') ThrowMalformed(name, "The footer is malformed.");
    std::string footer;
    while (true) {
      char c = static_cast<char>(r.U8());
      if (c == '\n') break;
      footer += c;
      if (footer.size() > 256) ThrowMalformed(name, "The footer is too long.");
    }
    if (!footer.empty()) {
      PosixRule rule;
      if (!PosixParser(footer).Parse(&rule))
        ThrowMalformed(name, "The POSIX TZ rule \"" + footer + "\" in the footer is invalid.");
      tz->footer_ = rule;
      tz->footer_text_ = footer;
    }
  }
  tz->Finish();
  return tz;
}

std::shared_ptr<const TimeZone> TimeZone::FromPosixRule(const std::string &name,
                                                        const std::string &rule_text) {
  PosixRule rule;
  if (!PosixParser(rule_text).Parse(&rule))
    throw Error(sqlstate::kInvalidParameterValue,
                "invalid POSIX time zone rule \"" + rule_text + "\"", {},
                "A rule looks like 'EST5EDT,M3.2.0,M11.1.0'.");
  std::shared_ptr<TimeZone> tz(new TimeZone());
  tz->name_ = name;
  tz->types_.push_back(rule.standard);
  tz->footer_ = rule;
  tz->footer_text_ = rule_text;
  tz->Finish();
  return tz;
}

void TimeZone::Finish() {
  min_offset_ = std::numeric_limits<int32_t>::max();
  max_offset_ = std::numeric_limits<int32_t>::min();
  auto add = [this](int32_t o) {
    min_offset_ = std::min(min_offset_, o);
    max_offset_ = std::max(max_offset_, o);
  };
  for (const auto &t : types_) add(t.utc_offset);
  if (footer_) {
    add(footer_->standard.utc_offset);
    if (footer_->has_dst) add(footer_->dst.utc_offset);
    footer_permanent_dst_ = footer_->has_dst && ComputeFooterPermanentDst();
  }
}

// ---- footer rule evaluation ----------------------------------------------------

int64_t TimeZone::FooterTransition(int64_t year, bool start) const {
  const PosixDate &date = start ? footer_->start : footer_->end;
  // The rule time is local time in the type in effect before the change.
  int32_t before = start ? footer_->standard.utc_offset : footer_->dst.utc_offset;
  return RuleDay(date, year) * 86400 + date.time - before;
}

bool TimeZone::ComputeFooterPermanentDst() const {
  // As tzcode: DST lasting at least a whole year means DST all year
  // (e.g. "EST5EDT,0/0,J365/25").
  for (int64_t year : {2001, 2004}) {
    int64_t year_seconds = (IsLeapYear(year) ? 366 : 365) * int64_t{86400};
    if (FooterTransition(year, false) - FooterTransition(year, true) >= year_seconds) return true;
  }
  return false;
}

namespace {
struct FooterEntry {
  int64_t time;
  bool dst;
};
struct FooterEntries {
  FooterEntry items[8];
  int count = 0;
  void Add(int64_t time, bool dst) { items[count++] = {time, dst}; }
  void Sort() {
    std::sort(items, items + count,
              [](const FooterEntry &a, const FooterEntry &b) { return a.time < b.time; });
  }
  const FooterEntry *begin() const { return items; }
  const FooterEntry *end() const { return items + count; }
};
// Keeps instants inside years 0..10000 so the calendar arithmetic is exact.
int64_t YearOf(int64_t t) {
  t = std::clamp<int64_t>(t, -62167219200, 253402300800);
  CivilTime c = SecondsToCivil(t);
  return c.year;
}
}  // namespace

bool TimeZone::FooterIsDstAt(int64_t t) const {
  if (!footer_->has_dst) return false;
  if (footer_permanent_dst_) return true;
  const int64_t year = YearOf(t);
  FooterEntries entries;
  for (int64_t y = year - 2; y <= year + 1; ++y) {
    int64_t s = FooterTransition(y, true), e = FooterTransition(y, false);
    if (s == e) continue;
    entries.Add(s, true);
    entries.Add(e, false);
  }
  entries.Sort();
  bool dst = false;
  for (const auto &entry : entries)
    if (entry.time <= t) dst = entry.dst;
  return dst;
}

int32_t TimeZone::FooterOffsetAt(int64_t t) const {
  return FooterIsDstAt(t) ? footer_->dst.utc_offset : footer_->standard.utc_offset;
}

std::optional<int64_t> TimeZone::FooterNextChangeAfter(int64_t t) const {
  if (!footer_->has_dst || footer_->dst.utc_offset == footer_->standard.utc_offset ||
      footer_permanent_dst_)
    return std::nullopt;
  const int64_t year = YearOf(t);
  FooterEntries entries;
  for (int64_t y = year - 1; y <= year + 2; ++y) {
    int64_t s = FooterTransition(y, true), e = FooterTransition(y, false);
    if (s == e) continue;
    entries.Add(s, true);
    entries.Add(e, false);
  }
  entries.Sort();
  bool current = FooterIsDstAt(t);
  for (const auto &entry : entries)
    if (entry.time > t && entry.dst != current) return entry.time;
  return std::nullopt;
}

// ---- lookups ---------------------------------------------------------------------

LocalTimeType TimeZone::TypeAt(int64_t t) const {
  if (footer_ && (times_.empty() || t >= times_.back())) {
    return FooterIsDstAt(t) ? footer_->dst : footer_->standard;
  }
  if (times_.empty() || t < times_.front()) return types_[0];
  size_t i = std::upper_bound(times_.begin(), times_.end(), t) - times_.begin() - 1;
  return types_[time_types_[i]];
}

int32_t TimeZone::UtcOffsetAt(int64_t t) const {
  if (footer_ && (times_.empty() || t >= times_.back())) return FooterOffsetAt(t);
  if (times_.empty() || t < times_.front()) return types_[0].utc_offset;
  size_t i = std::upper_bound(times_.begin(), times_.end(), t) - times_.begin() - 1;
  return types_[time_types_[i]].utc_offset;
}

std::optional<int64_t> TimeZone::NextOffsetChangeAfter(int64_t t) const {
  if (!times_.empty() && t < times_.back()) {
    int32_t current = UtcOffsetAt(t);
    size_t i = std::upper_bound(times_.begin(), times_.end(), t) - times_.begin();
    for (; i < times_.size(); ++i) {
      // At the last transition the footer takes over; it agrees with the table.
      int32_t offset = (footer_ && i + 1 == times_.size()) ? FooterOffsetAt(times_[i])
                                                           : types_[time_types_[i]].utc_offset;
      if (offset != current) return times_[i];
    }
    t = times_.back();
  }
  if (!footer_) return std::nullopt;
  return FooterNextChangeAfter(t);
}

void TimeZone::OffsetRange(int64_t from, int64_t to, int32_t *min_offset,
                           int32_t *max_offset) const {
  int32_t lo = UtcOffsetAt(from), hi = lo;
  int64_t t = from;
  for (int steps = 0;; ++steps) {
    if (steps == 64) {  // a long range: fall back to the zone's extremes
      lo = min_offset_, hi = max_offset_;
      break;
    }
    std::optional<int64_t> next = NextOffsetChangeAfter(t);
    if (!next || *next > to) break;
    int32_t offset = UtcOffsetAt(*next);
    lo = std::min(lo, offset);
    hi = std::max(hi, offset);
    t = *next;
  }
  *min_offset = lo;
  *max_offset = hi;
}

LocalTimeResolution TimeZone::Resolve(int64_t local) const {
  // Every instant whose wall clock reads `local` lies in [first, last].
  const int64_t first = local - max_offset_;
  const int64_t last = local - min_offset_;
  std::vector<int64_t> candidates;
  std::optional<int64_t> gap;
  int64_t start = first;
  int32_t offset = UtcOffsetAt(first);
  while (true) {
    std::optional<int64_t> next = NextOffsetChangeAfter(start);
    const int64_t candidate = local - offset;
    if (candidate >= start && (!next || candidate < *next)) candidates.push_back(candidate);
    if (!next || *next > last) break;
    const int32_t next_offset = UtcOffsetAt(*next);
    if (next_offset > offset && local >= *next + offset && local < *next + next_offset && !gap)
      gap = *next;
    start = *next;
    offset = next_offset;
  }
  LocalTimeResolution r;
  if (candidates.empty()) {
    r.kind = LocalTimeResolution::Kind::kSkipped;
    // A gap always exists here; the fallback only guards malformed data.
    r.earlier = r.later = r.transition = gap ? *gap : local - UtcOffsetAt(local);
  } else if (candidates.size() == 1) {
    r.kind = LocalTimeResolution::Kind::kUnique;
    r.earlier = r.later = r.transition = candidates[0];
  } else {
    r.kind = LocalTimeResolution::Kind::kRepeated;
    r.earlier = candidates.front();
    r.later = candidates.back();
    r.transition = NextOffsetChangeAfter(r.earlier).value_or(r.later);
  }
  return r;
}

}  // namespace cdw
