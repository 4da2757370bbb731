// TimeZone: TZif reading, POSIX footer rules, local <-> UTC conversion.
// Expected instants were computed with `TZ=<zone> date -d @<seconds>` and
// Python's zoneinfo while writing the tests.
#include <gtest/gtest.h>

#include <string>

#include "common/error.h"
#include "schedule/time_zone.h"

namespace cdw {
namespace {

using Kind = LocalTimeResolution::Kind;

const std::string kDataDir = std::string(CDW_TEST_DATA_DIR) + "/zoneinfo";

Error LoadError(const std::string &name) {
  try {
    TimeZone::Load(name);
  } catch (const Error &e) {
    return e;
  }
  ADD_FAILURE() << "\"" << name << "\" was accepted";
  return Error("", "");
}

std::string LocalText(const TimeZone &zone, int64_t t) {
  return FormatCivil(zone.ToCivil(t)) + " " + zone.TypeAt(t).abbreviation;
}

int64_t Local(int64_t y, int mo, int d, int h, int mi) {
  return CivilToSeconds(CivilTime{y, mo, d, h, mi, 0});
}

// Appends big-endian integers to a byte string (for hand-made TZif files).
void Put32(std::string *s, uint32_t v) {
  for (int i = 3; i >= 0; --i) s->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// A version-1 TZif file: two types (+01 "AAA", +02 "BBB") and the given
// transitions alternating between them, starting with BBB.
std::string MakeV1(const std::vector<int32_t> &times) {
  std::string s = "TZif";
  s.push_back('\0');
  s.append(15, '\0');
  Put32(&s, 0);             // isutcnt
  Put32(&s, 0);             // isstdcnt
  Put32(&s, 0);             // leapcnt
  Put32(&s, times.size());  // timecnt
  Put32(&s, 2);             // typecnt
  Put32(&s, 8);             // charcnt
  for (int32_t t : times) Put32(&s, static_cast<uint32_t>(t));
  for (size_t i = 0; i < times.size(); ++i) s.push_back(static_cast<char>(i % 2 == 0 ? 1 : 0));
  Put32(&s, 3600);
  s.push_back(0);
  s.push_back(0);
  Put32(&s, 7200);
  s.push_back(1);
  s.push_back(4);
  s.append("AAA\0BBB\0", 8);
  return s;
}

TEST(TimeZoneTest, UtcIsBuiltIn) {
  auto utc = TimeZone::Load("UTC");
  EXPECT_EQ(utc, TimeZone::Utc());
  EXPECT_EQ(utc->name(), "UTC");
  EXPECT_EQ(utc->UtcOffsetAt(0), 0);
  EXPECT_EQ(utc->UtcOffsetAt(4102444800), 0);
  EXPECT_EQ(utc->TypeAt(1700000000).abbreviation, "UTC");
  EXPECT_FALSE(utc->NextOffsetChangeAfter(0).has_value());
  LocalTimeResolution r = utc->Resolve(Local(2024, 3, 10, 2, 30));
  EXPECT_EQ(r.kind, Kind::kUnique);
  EXPECT_EQ(r.earlier, 1710037800);
  EXPECT_EQ(FormatCivil(utc->ToCivil(1710037800)), "2024-03-10 02:30:00");
}

TEST(TimeZoneTest, UtcAliases) {
  EXPECT_THROW(TimeZone::LoadFromDirectory(kDataDir + "/nonexistent", "Etc/UTC"), Error);
  EXPECT_EQ(TimeZone::Load("Etc/UTC")->UtcOffsetAt(0), 0);
  EXPECT_EQ(TimeZone::Load("GMT")->UtcOffsetAt(1700000000), 0);
}

TEST(TimeZoneTest, UnknownAndMalformedNames) {
  Error e = LoadError("Mars/Olympus_Mons");
  EXPECT_EQ(e.sqlstate(), "22023");
  EXPECT_STREQ(e.what(), "time zone \"Mars/Olympus_Mons\" not recognized");
  EXPECT_EQ(e.hint(), "Use an IANA time zone name such as 'UTC' or 'Asia/Shanghai'.");

  e = LoadError("../../etc/passwd");
  EXPECT_STREQ(e.what(), "time zone \"../../etc/passwd\" not recognized");
  EXPECT_EQ(e.detail(), "Time zone names must not contain \"..\".");
  e = LoadError("Europe/../../../etc/passwd");
  EXPECT_EQ(e.detail(), "Time zone names must not contain \"..\".");
  e = LoadError("/etc/localtime");
  EXPECT_EQ(e.detail(), "Time zone names are relative, not file paths.");
  e = LoadError("Asia/Shang hai");
  EXPECT_EQ(e.detail(), "Time zone names consist of letters, digits, '/', '_', '-', '+' and '.'.");
  e = LoadError("");
  EXPECT_STREQ(e.what(), "time zone name must not be empty");
  EXPECT_EQ(e.hint(), "Use an IANA time zone name such as 'UTC' or 'Asia/Shanghai'.");
  // Directories and non-TZif files under zoneinfo are not zones.
  EXPECT_STREQ(LoadError("America").what(), "time zone \"America\" not recognized");
  e = LoadError("zone.tab");
  EXPECT_STREQ(e.what(), "time zone \"zone.tab\" not recognized");
  EXPECT_EQ(e.detail(), "The file is not in TZif format.");
  // Leap-second zones count TAI-like seconds; refused.
  e = LoadError("right/UTC");
  EXPECT_EQ(e.detail(), "Zones with leap seconds (\"right/...\") are not supported.");
}

TEST(TimeZoneTest, NamesMatchCaseInsensitively) {
  auto a = TimeZone::Load("asia/shanghai");
  EXPECT_EQ(a->name(), "Asia/Shanghai");
  EXPECT_EQ(a->UtcOffsetAt(1717180200), 8 * 3600);
  EXPECT_EQ(TimeZone::Load("AMERICA/NEW_YORK")->name(), "America/New_York");
  // Cached: the same object for the same name.
  EXPECT_EQ(TimeZone::Load("Asia/Shanghai"), TimeZone::Load("Asia/Shanghai"));
}

TEST(TimeZoneTest, NewYorkOffsetsAndAbbreviations) {
  auto ny = TimeZone::Load("America/New_York");
  EXPECT_EQ(ny->posix_rule(), "EST5EDT,M3.2.0,M11.1.0");
  // 2024-03-10 07:00:00 UTC: clocks go from 01:59:59 EST to 03:00:00 EDT.
  EXPECT_EQ(LocalText(*ny, 1710053999), "2024-03-10 01:59:59 EST");
  EXPECT_EQ(LocalText(*ny, 1710054000), "2024-03-10 03:00:00 EDT");
  EXPECT_EQ(ny->UtcOffsetAt(1710054000), -4 * 3600);
  EXPECT_TRUE(ny->TypeAt(1710054000).is_dst);
  // 2024-11-03 06:00:00 UTC: from 01:59:59 EDT back to 01:00:00 EST.
  EXPECT_EQ(LocalText(*ny, 1730613599), "2024-11-03 01:59:59 EDT");
  EXPECT_EQ(LocalText(*ny, 1730613600), "2024-11-03 01:00:00 EST");
  EXPECT_EQ(ny->NextOffsetChangeAfter(1704067200), 1710054000);
  EXPECT_EQ(ny->NextOffsetChangeAfter(1710054000), 1730613600);
  // History: 1883 local mean time, and war time in 1943.
  EXPECT_EQ(ny->TypeAt(-3000000000).abbreviation, "LMT");
  EXPECT_EQ(ny->UtcOffsetAt(-3000000000), -17762);
  EXPECT_EQ(ny->TypeAt(-850000000).abbreviation, "EWT");
}

TEST(TimeZoneTest, ResolveGapAndRepeat) {
  auto ny = TimeZone::Load("America/New_York");
  LocalTimeResolution r = ny->Resolve(Local(2024, 3, 10, 2, 30));
  EXPECT_EQ(r.kind, Kind::kSkipped);
  EXPECT_EQ(r.earlier, 1710054000);  // 03:00 EDT
  EXPECT_EQ(r.later, 1710054000);
  EXPECT_EQ(r.transition, 1710054000);
  EXPECT_EQ(ny->Resolve(Local(2024, 3, 10, 2, 0)).kind, Kind::kSkipped);
  EXPECT_EQ(ny->Resolve(Local(2024, 3, 10, 1, 59)).kind, Kind::kUnique);
  EXPECT_EQ(ny->Resolve(Local(2024, 3, 10, 3, 0)).kind, Kind::kUnique);
  EXPECT_EQ(ny->Resolve(Local(2024, 3, 10, 3, 0)).earlier, 1710054000);

  r = ny->Resolve(Local(2024, 11, 3, 1, 30));
  EXPECT_EQ(r.kind, Kind::kRepeated);
  EXPECT_EQ(r.earlier, 1730611800);  // 01:30 EDT
  EXPECT_EQ(r.later, 1730615400);    // 01:30 EST
  EXPECT_EQ(r.transition, 1730613600);
  EXPECT_EQ(ny->Resolve(Local(2024, 11, 3, 1, 0)).kind, Kind::kRepeated);
  EXPECT_EQ(ny->Resolve(Local(2024, 11, 3, 2, 0)).kind, Kind::kUnique);
  EXPECT_EQ(ny->Resolve(Local(2024, 11, 3, 0, 59)).kind, Kind::kUnique);
  EXPECT_EQ(ny->ToUnixSeconds(CivilTime{2024, 11, 3, 1, 30, 0}), 1730611800);
  EXPECT_EQ(ny->ToUnixSeconds(CivilTime{2024, 7, 4, 12, 0, 0}), 1720108800);
}

TEST(TimeZoneTest, BerlinAndSydney) {
  auto berlin = TimeZone::Load("Europe/Berlin");
  // 2024-03-31: 02:00 CET -> 03:00 CEST at 01:00 UTC.
  EXPECT_EQ(LocalText(*berlin, 1711846799), "2024-03-31 01:59:59 CET");
  EXPECT_EQ(LocalText(*berlin, 1711846800), "2024-03-31 03:00:00 CEST");
  EXPECT_EQ(berlin->Resolve(Local(2024, 3, 31, 2, 30)).kind, Kind::kSkipped);
  // 2024-10-27: 03:00 CEST -> 02:00 CET at 01:00 UTC; 02:30 twice.
  LocalTimeResolution r = berlin->Resolve(Local(2024, 10, 27, 2, 30));
  EXPECT_EQ(r.kind, Kind::kRepeated);
  EXPECT_EQ(r.earlier, 1729989000);
  EXPECT_EQ(r.later, 1729992600);

  // Southern hemisphere: DST from October to April.
  auto sydney = TimeZone::Load("Australia/Sydney");
  EXPECT_EQ(sydney->UtcOffsetAt(1704067200), 11 * 3600);  // January: AEDT
  EXPECT_EQ(sydney->UtcOffsetAt(1719792000), 10 * 3600);  // July: AEST
  EXPECT_EQ(LocalText(*sydney, 1728144000), "2024-10-06 03:00:00 AEDT");
  EXPECT_EQ(LocalText(*sydney, 1728143999), "2024-10-06 01:59:59 AEST");
  r = sydney->Resolve(Local(2024, 10, 6, 2, 30));
  EXPECT_EQ(r.kind, Kind::kSkipped);
  EXPECT_EQ(r.earlier, 1728144000);
  r = sydney->Resolve(Local(2024, 4, 7, 2, 30));
  EXPECT_EQ(r.kind, Kind::kRepeated);
  EXPECT_EQ(r.earlier, 1712417400);
  EXPECT_EQ(r.later, 1712421000);
}

TEST(TimeZoneTest, ShanghaiHasNoDst) {
  auto shanghai = TimeZone::Load("Asia/Shanghai");
  EXPECT_EQ(shanghai->posix_rule(), "CST-8");
  EXPECT_EQ(shanghai->UtcOffsetAt(1717180200), 8 * 3600);
  EXPECT_EQ(shanghai->UtcOffsetAt(2530767600), 8 * 3600);  // 2050
  EXPECT_FALSE(shanghai->NextOffsetChangeAfter(1700000000).has_value());
  EXPECT_EQ(shanghai->ToUnixSeconds(CivilTime{2024, 6, 1, 2, 30, 0}), 1717180200);
  // China used DST 1986-1991.
  EXPECT_EQ(shanghai->TypeAt(584000000).abbreviation, "CDT");  // 1988-07-04
}

TEST(TimeZoneTest, FooterRuleBeyondTheTable) {
  auto ny = TimeZone::Load("America/New_York");
  // 2050-03-13 07:00 UTC: spring forward; 2050-11-06 06:00 UTC: fall back.
  EXPECT_EQ(LocalText(*ny, 2530767599), "2050-03-13 01:59:59 EST");
  EXPECT_EQ(LocalText(*ny, 2530767600), "2050-03-13 03:00:00 EDT");
  EXPECT_EQ(LocalText(*ny, 2551327200), "2050-11-06 01:00:00 EST");
  EXPECT_EQ(ny->NextOffsetChangeAfter(2524608000), 2530767600);  // from 2050-01-01
  LocalTimeResolution r = ny->Resolve(Local(2050, 11, 6, 1, 30));
  EXPECT_EQ(r.kind, Kind::kRepeated);
  EXPECT_EQ(r.earlier, 2551325400);
  EXPECT_EQ(r.later, 2551329000);
  // Year 2400 (a leap year far outside any table).
  EXPECT_EQ(ny->UtcOffsetAt(13574563200 + 180 * 86400), -4 * 3600);
}

TEST(TimeZoneTest, SlimFilesUseTheFooterEverywhere) {
  // tests/unit/data/zoneinfo holds `zic -b slim` output: transitions stop at
  // 2007 (New York) / 1996 (Berlin); everything later comes from the footer.
  auto slim = TimeZone::LoadFromDirectory(kDataDir, "America/New_York");
  auto fat = TimeZone::Load("America/New_York");
  EXPECT_EQ(slim->name(), "America/New_York");
  for (int64_t t = -2000000000; t < 2600000000; t += 86400 * 7 + 3571) {
    ASSERT_EQ(slim->UtcOffsetAt(t), fat->UtcOffsetAt(t)) << t;
    ASSERT_EQ(slim->TypeAt(t).abbreviation, fat->TypeAt(t).abbreviation) << t;
  }
  // Every transition instant agrees, 2000-2045.
  std::optional<int64_t> a = 946684800, b = 946684800;
  while (*a < 2366841600) {
    a = slim->NextOffsetChangeAfter(*a);
    b = fat->NextOffsetChangeAfter(*b);
    ASSERT_TRUE(a && b);
    ASSERT_EQ(*a, *b);
  }
  for (const char *name : {"Europe/Berlin", "Australia/Sydney"}) {
    auto s = TimeZone::LoadFromDirectory(kDataDir, name);
    auto f = TimeZone::Load(name);
    for (int64_t t = 0; t < 2600000000; t += 86400 * 3 + 1234)
      ASSERT_EQ(s->UtcOffsetAt(t), f->UtcOffsetAt(t)) << name << " " << t;
    EXPECT_EQ(s->Resolve(Local(2024, 10, 27, 2, 30)).earlier,
              f->Resolve(Local(2024, 10, 27, 2, 30)).earlier);
  }
  EXPECT_THROW(TimeZone::LoadFromDirectory(kDataDir, "Asia/Shanghai"), Error);
}

TEST(TimeZoneTest, PosixRuleForms) {
  // Mm.w.d with explicit times, angle-bracket names, southern hemisphere.
  auto chile = TimeZone::FromPosixRule("x", "<-04>4<-03>,M9.1.6/24,M4.1.6/24");
  // 2024-09-08 04:00 UTC: Saturday 24:00 -04 = Sunday 00:00 -> 01:00 -03.
  EXPECT_EQ(chile->UtcOffsetAt(1725768000 - 1), -4 * 3600);
  EXPECT_EQ(chile->UtcOffsetAt(1725768000), -3 * 3600);
  EXPECT_EQ(chile->TypeAt(1725768000).abbreviation, "-03");

  // Jn counts days without Feb 29: J60 is always March 1.
  auto j = TimeZone::FromPosixRule("j", "AAA0BBB,J60/0,J300/0");
  EXPECT_EQ(j->NextOffsetChangeAfter(Local(2024, 1, 1, 0, 0)), Local(2024, 3, 1, 0, 0));
  EXPECT_EQ(j->NextOffsetChangeAfter(Local(2023, 1, 1, 0, 0)), Local(2023, 3, 1, 0, 0));
  // n counts from zero including Feb 29: day 59 is Feb 29 in leap years.
  auto n = TimeZone::FromPosixRule("n", "AAA0BBB,59/0,300/0");
  EXPECT_EQ(n->NextOffsetChangeAfter(Local(2024, 1, 1, 0, 0)), Local(2024, 2, 29, 0, 0));
  EXPECT_EQ(n->NextOffsetChangeAfter(Local(2023, 1, 1, 0, 0)), Local(2023, 3, 1, 0, 0));
  // Week 5 means the last such weekday: the last Sunday of October 2024 is the 27th.
  auto eu = TimeZone::FromPosixRule("eu", "CET-1CEST,M3.5.0,M10.5.0/3");
  EXPECT_EQ(eu->NextOffsetChangeAfter(Local(2024, 6, 1, 0, 0)), 1729990800);
  // Negative rule times and hours beyond 24 (TZif v3).
  auto neg = TimeZone::FromPosixRule("neg", "AAA3BBB,M3.2.0/-1,M11.1.0/26:30");
  // Second Sunday of March 2024 is the 10th; -1:00 is 23:00 on the 9th (-03).
  EXPECT_EQ(neg->NextOffsetChangeAfter(Local(2024, 1, 1, 0, 0)), Local(2024, 3, 10, 2, 0));
  // First Sunday of November is the 3rd; 26:30 local (-02) is 04:30 on the 4th.
  EXPECT_EQ(neg->NextOffsetChangeAfter(Local(2024, 6, 1, 0, 0)), Local(2024, 11, 4, 4, 30));
  // A DST name without rules uses the US default; the DST offset defaults to +1h.
  auto def = TimeZone::FromPosixRule("def", "EST5EDT");
  EXPECT_EQ(def->NextOffsetChangeAfter(1704067200), 1710054000);
  EXPECT_EQ(def->UtcOffsetAt(1720108800), -4 * 3600);
  // Permanent DST ("DST all year" as tzdata encodes it).
  auto perm = TimeZone::FromPosixRule("perm", "EST5EDT,0/0,J365/25");
  EXPECT_EQ(perm->UtcOffsetAt(1704067200), -4 * 3600);
  EXPECT_EQ(perm->UtcOffsetAt(1720108800), -4 * 3600);
  EXPECT_FALSE(perm->NextOffsetChangeAfter(1704067200).has_value());
  // Fixed offsets.
  EXPECT_EQ(TimeZone::FromPosixRule("p", "<+0530>-5:30")->UtcOffsetAt(0), 19800);

  for (const char *bad : {"", "E5", "EST", "EST5EDT,M13.1.0,M11.1.0", "EST5EDT,M3.6.0,M11.1.0",
                          "EST5EDT,M3.2.7,M11.1.0", "EST5EDT,J0,J100", "EST5EDT,366,1",
                          "EST5EDT,M3.2.0", "EST5EDT,M3.2.0,M11.1.0,", "<EST5", "EST25"}) {
    EXPECT_THROW(TimeZone::FromPosixRule("bad", bad), Error) << bad;
  }
}

TEST(TimeZoneTest, VersionOneFilesAndMalformedData) {
  // v1: 32-bit times, no footer; the last type holds forever.
  auto v1 = TimeZone::FromTzif("v1", MakeV1({1000000, 2000000}));
  EXPECT_EQ(v1->UtcOffsetAt(0), 3600);  // before the first transition: type 0
  EXPECT_EQ(v1->UtcOffsetAt(1000000), 7200);
  EXPECT_EQ(v1->TypeAt(1000000).abbreviation, "BBB");
  EXPECT_EQ(v1->UtcOffsetAt(2000000), 3600);
  EXPECT_EQ(v1->UtcOffsetAt(4000000000), 3600);
  EXPECT_EQ(v1->NextOffsetChangeAfter(0), 1000000);
  EXPECT_EQ(v1->NextOffsetChangeAfter(1000000), 2000000);
  EXPECT_FALSE(v1->NextOffsetChangeAfter(2000000).has_value());

  std::string good = MakeV1({1000000, 2000000});
  for (size_t cut : {size_t{3}, size_t{44}, good.size() - 1}) {
    try {
      TimeZone::FromTzif("cut", good.substr(0, cut));
      ADD_FAILURE() << cut;
    } catch (const Error &e) {
      EXPECT_EQ(e.sqlstate(), "22023");
    }
  }
  std::string descending = MakeV1({2000000, 1000000});
  try {
    TimeZone::FromTzif("desc", descending);
    ADD_FAILURE();
  } catch (const Error &e) {
    EXPECT_STREQ(e.what(), "time zone \"desc\" has an invalid zoneinfo file");
    EXPECT_EQ(e.detail(), "The transition times are not ascending.");
  }
}

}  // namespace
}  // namespace cdw
