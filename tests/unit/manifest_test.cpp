#include "manifest/manifest.h"

#include <gtest/gtest.h>

#include <string>

#include "common/error.h"
#include "manifest/json_value.h"

namespace cdw {
namespace {

DatabaseManifest Sample() {
  DatabaseManifest m;
  m.tool = "cdw_backup 0.1.0";
  m.run_id = 42;
  m.database = "sales \"east\"";
  m.created_at = "2026-12-01 23:00:00+00";
  m.server_version = "15.10";
  m.encoding = "UTF8";
  m.compression = "gzip";
  m.path = "20261201/230000Z-run42/sales%20%22east%22/";
  ManifestTable ok;
  ok.schema = "public";
  ok.name = "orders";
  ok.status = "succeeded";
  ok.path = "public.orders/";
  ok.rows = 3;
  ok.bytes_raw = 100;
  ok.bytes_stored = 60;
  ok.columns = {{"id", "integer", true}, {"note", "character varying(20)", false}};
  ok.create_table = "CREATE TABLE public.orders (id integer NOT NULL, note character varying(20));";
  ManifestObject part;
  part.key = "part-000001.csv.gz";
  part.size = 60;
  part.sha256 = std::string(64, 'a');
  part.rows = 3;
  ok.objects = {part};
  ManifestTable failed;
  failed.schema = "s";
  failed.name = "t";
  failed.status = "failed";
  failed.path = "s.t/";
  failed.sqlstate = "42501";
  failed.error = "permission denied for table t";
  m.tables = {ok, failed};
  return m;
}

TEST(ManifestTest, RoundTrip) {
  DatabaseManifest m = Sample();
  std::string json = SerializeManifest(m);
  DatabaseManifest back = ParseManifest(json);
  EXPECT_EQ(SerializeManifest(back), json);
  EXPECT_EQ(back.database, m.database);
  ASSERT_EQ(back.tables.size(), 2u);
  EXPECT_EQ(back.tables[0].columns[1].type, "character varying(20)");
  EXPECT_TRUE(back.tables[0].columns[0].not_null);
  EXPECT_EQ(back.tables[0].objects[0].size, 60u);
  EXPECT_EQ(back.tables[0].objects[0].rows, 3);
  EXPECT_EQ(back.tables[1].sqlstate, "42501");
  EXPECT_TRUE(back.tables[0].sqlstate.empty());
  // A failed table keeps its reason; a succeeded one writes none.
  EXPECT_EQ(json.find("\"sqlstate\""), json.rfind("\"sqlstate\""));
}

TEST(ManifestTest, EscapesControlCharactersQuotesBackslashesAndKeepsUnicode) {
  DatabaseManifest m = Sample();
  std::string nasty = std::string("a\"b\\c\nd\re\tf\x01g\x1f") + "h/é漢😀\x7f";
  m.tables[0].name = nasty;
  m.tables[0].columns[0].name = nasty;
  m.tables[0].columns[0].type = "text); COPY (SELECT 1) TO PROGRAM 'touch /tmp/x'; --";
  std::string json = SerializeManifest(m);
  EXPECT_NE(json.find("\"a\\\"b\\\\c\\nd\\re\\tf\\u0001g\\u001fh/é漢😀\x7f\""), std::string::npos);
  for (unsigned char c : json) EXPECT_GE(c, 0x20) << "raw control character in JSON";
  DatabaseManifest back = ParseManifest(json);
  EXPECT_EQ(back.tables[0].name, nasty);
  EXPECT_EQ(back.tables[0].columns[0].name, nasty);
  EXPECT_EQ(back.tables[0].columns[0].type, m.tables[0].columns[0].type);
}

TEST(ManifestTest, RefusesNonUtf8Names) {
  DatabaseManifest m = Sample();
  m.tables[0].name = "caf\xe9";  // LATIN1 bytes
  try {
    SerializeManifest(m);
    FAIL() << "serialized invalid UTF-8";
  } catch (const Error &e) {
    EXPECT_EQ(e.sqlstate(), "22021");
    EXPECT_NE(std::string(e.what()).find("table name"), std::string::npos);
  }
}

TEST(ManifestTest, KeepsSectionsItDoesNotKnow) {
  std::string json = SerializeManifest(Sample());
  // A newer writer's sections, at the top and in a table.
  json.insert(json.size() - 1, ",\"schema\":{\"objects\":[{\"ddl\":\"CREATE TYPE x\"}]}");
  size_t table_end = json.find("\"create_table\"");
  json.insert(table_end, "\"identity\": [1, 2.5e3, null],");
  DatabaseManifest back = ParseManifest(json);
  ASSERT_EQ(back.extra.size(), 1u);
  EXPECT_EQ(back.extra[0].first, "schema");
  EXPECT_EQ(back.extra[0].second, "{\"objects\":[{\"ddl\":\"CREATE TYPE x\"}]}");
  ASSERT_EQ(back.tables[0].extra.size(), 1u);
  EXPECT_EQ(back.tables[0].extra[0].second, "[1, 2.5e3, null]");
  std::string again = SerializeManifest(back);
  EXPECT_NE(again.find("\"schema\":{\"objects\":[{\"ddl\":\"CREATE TYPE x\"}]}"),
            std::string::npos);
  EXPECT_NO_THROW(ParseManifest(again));
}

TEST(ManifestTest, ReadsTheFormatWrittenBefore) {
  // A manifest as cdw_backup 0.1.0 wrote it (columns from json_agg, spaces).
  std::string old =
      R"({"format_version":1,"tool":"cdw_backup 0.1.0","run_id":4,"database":"db",)"
      R"("created_at":"2026-11-24 03:00:05.1+00","server_version":"15.10","encoding":"UTF8",)"
      R"("compression":"gzip","format":"csv","path":"20261124/030005Z-run4/db/","tables":[)"
      R"({"schema":"public","name":"t","status":"succeeded","path":"public.t/","rows":2,)"
      R"("bytes_raw":10,"bytes_stored":40,"columns":[{"name" : "a", "type" : "integer", )"
      R"("not_null" : false}],"create_table":"CREATE TABLE public.t (a integer);",)"
      R"("objects":[{"key":"part-000001.csv.gz","rows":2,"size":40,"sha256":"ab"}]}]})";
  DatabaseManifest m = ParseManifest(old);
  EXPECT_EQ(m.run_id, 4);
  ASSERT_EQ(m.tables.size(), 1u);
  EXPECT_EQ(m.tables[0].columns[0].name, "a");
  EXPECT_TRUE(m.tables[0].extra.empty());
  EXPECT_TRUE(m.extra.empty());
}

TEST(ManifestTest, SourceEncodingIsWrittenWhenKnownAndReadWhenThere) {
  DatabaseManifest m = Sample();
  m.source_encoding = "LATIN1";
  std::string json = SerializeManifest(m);
  EXPECT_NE(json.find(R"("encoding":"UTF8","source_encoding":"LATIN1")"), std::string::npos)
      << json;
  DatabaseManifest back = ParseManifest(json);
  EXPECT_EQ(back.source_encoding, "LATIN1");
  EXPECT_EQ(back.encoding, "UTF8");
  EXPECT_TRUE(back.extra.empty());
  // Older manifests have none: it stays empty and is not written back.
  m.source_encoding.clear();
  json = SerializeManifest(m);
  EXPECT_EQ(json.find("source_encoding"), std::string::npos);
  EXPECT_TRUE(ParseManifest(json).source_encoding.empty());
}

TEST(ManifestTest, RefusesWhatItCannotRead) {
  auto sqlstate_of = [](const std::string &json) {
    try {
      ParseManifest(json);
    } catch (const Error &e) {
      return e.sqlstate();
    }
    return std::string("parsed");
  };
  EXPECT_EQ(sqlstate_of(R"({"format_version":4,"tables":[]})"), "0A000");
  EXPECT_EQ(sqlstate_of(R"({"tables":[]})"), "0A000");
  EXPECT_EQ(sqlstate_of(R"({"format_version":1,"tables":{}})"), "22P02");
  EXPECT_EQ(sqlstate_of(R"({"format_version":1,"run_id":"4"})"), "22P02");
  EXPECT_EQ(sqlstate_of(R"({"format_version":1,"run_id":1.5})"), "22P02");
  EXPECT_EQ(sqlstate_of(R"({"format_version":1,"tables":[{"objects":[{"size":-1}]}]})"), "22P02");
  EXPECT_EQ(sqlstate_of("{\"format_version\":1} x"), "22P02");
  EXPECT_EQ(sqlstate_of("[1]"), "22P02");
  EXPECT_EQ(sqlstate_of("{\"format_version\":1,\"format_version\":1}"), "22P02");
}

// Incremental runs: a reference to an object of an earlier run.
ManifestObject Reference(const std::string &source, int64_t run) {
  ManifestObject o;
  o.key = source.substr(source.rfind('/') + 1);
  o.size = 60;
  o.sha256 = std::string(64, 'b');
  o.rows = 3;
  o.content_sha256 = std::string(64, 'c');
  o.bytes_raw = 100;
  o.source = source;
  o.source_run = run;
  return o;
}

TEST(ManifestReferences, ResolveToTheWritersKeyAndRoundTripAsFormat3) {
  DatabaseManifest m = Sample();
  // Without references: format 2, readable by the version before.
  EXPECT_EQ(ParseManifest(SerializeManifest(m)).format_version, 2);
  m.tables[0].objects.push_back(
      Reference("20261130/230000Z-run40/sales%20%22east%22/public.orders/part-9.csv.gz", 40));
  std::string json = SerializeManifest(m);
  DatabaseManifest back = ParseManifest(json);
  EXPECT_EQ(back.format_version, 3);
  EXPECT_EQ(SerializeManifest(back), json);
  const auto &objects = back.tables[0].objects;
  ASSERT_EQ(objects.size(), 2u);
  EXPECT_EQ(objects[1].source_run, 40);
  EXPECT_EQ(objects[1].content_sha256, std::string(64, 'c'));
  EXPECT_EQ(objects[1].bytes_raw, 100);
  // Own objects resolve under this run's table path, references to their source.
  EXPECT_EQ(ObjectKey(back.path, back.tables[0].path, objects[0]),
            "20261201/230000Z-run42/sales%20%22east%22/public.orders/part-000001.csv.gz");
  EXPECT_EQ(ObjectKey(back.path, back.tables[0].path, objects[1]),
            "20261130/230000Z-run40/sales%20%22east%22/public.orders/part-9.csv.gz");
  EXPECT_EQ(ManifestObjectKeys(back),
            (std::vector<std::string>{
                "20261201/230000Z-run42/sales%20%22east%22/public.orders/part-000001.csv.gz",
                "20261130/230000Z-run40/sales%20%22east%22/public.orders/part-9.csv.gz"}));
}

TEST(ManifestReferences, OnlyEarlierRunsOfTheTargetCanBeReferenced) {
  auto refused = [](const std::string &source, int64_t run) {
    DatabaseManifest m = Sample();
    m.tables[0].objects.push_back(Reference(source, run));
    try {
      SerializeManifest(m);
    } catch (const Error &e) {
      return e.sqlstate();
    }
    return std::string("written");
  };
  EXPECT_EQ(refused("20261130/230000Z-run40/db/t/part-1.csv.gz", 40), "written");
  EXPECT_EQ(refused("20261130/230000Z-run42/db/t/part-1.csv.gz", 42), "22P02");  // not earlier
  EXPECT_EQ(refused("20261130/230000Z-run50/db/t/part-1.csv.gz", 50), "22P02");
  EXPECT_EQ(refused("20261130/230000Z-run40/db/t/part-1.csv.gz", 39), "22P02");  // other run
  EXPECT_EQ(refused("20261130/230000Z-run40/../../etc/passwd", 40), "22P02");
  EXPECT_EQ(refused("/20261130/230000Z-run40/db/t/p", 40), "22P02");
  EXPECT_EQ(refused("elsewhere/230000Z-run40/db/t/p", 40), "22P02");
  EXPECT_EQ(refused("20261130/230000Z-run40/db/t/", 40), "22P02");
  // The parser refuses the same (a manifest is authenticated, but a bug or
  // an old key must not make restore read outside the target's runs), and
  // references in a manifest that claims format 2.
  DatabaseManifest m = Sample();
  m.tables[0].objects.push_back(Reference("20261130/230000Z-run40/db/t/part-1.csv.gz", 40));
  std::string json = SerializeManifest(m);
  std::string bad = json;
  bad.replace(bad.find("run40/db/t"), 10, "run40/../t");
  EXPECT_THROW(ParseManifest(bad), Error);
  bad = json;
  bad.replace(bad.find("\"format_version\":3"), 18, "\"format_version\":2");
  EXPECT_THROW(ParseManifest(bad), Error);
  bad = json;
  bad.replace(bad.find("\"source_run\":40"), 16, "\"source_run\":41");
  EXPECT_THROW(ParseManifest(bad), Error);
}

TEST(ManifestReferences, RunOfKey) {
  EXPECT_EQ(RunOfKey("20261130/230000Z-run40/db/t/part-1"), 40);
  EXPECT_EQ(RunOfKey("20261130/230000Z-run7/"), 7);
  EXPECT_EQ(RunOfKey("20261130/230000Z-run/db"), -1);
  EXPECT_EQ(RunOfKey("2026113/230000Z-run4/db"), -1);
  EXPECT_EQ(RunOfKey("x/20261130/230000Z-run4/db"), -1);
  EXPECT_EQ(RunOfKey("20261130/230000Z-run4x/db"), -1);
}

TEST(JsonValueTest, StrictParsing) {
  EXPECT_EQ(ParseJson("\"\\u00e9\\ud83d\\ude00\\/\"").AsString("s"), "é😀/");
  EXPECT_EQ(ParseJson(" -0 ").AsInt("n"), 0);
  EXPECT_EQ(ParseJson("9223372036854775807").AsInt("n"), INT64_MAX);
  EXPECT_THROW(ParseJson("9223372036854775808").AsInt("n"), Error);
  for (const char *bad : {"", "{", "[1,]", "{\"a\":1,}", "01", "1.", "-", "\"\\x\"", "\"a\nb\"",
                          "\"\\ud800\"", "\"\\udc00\"", "\"\\u0000\"", "tru", "nul", "\"\xc3\x28\"",
                          "\"\xed\xa0\x80\"", "\"\xc0\xaf\"", "\"\xf4\x90\x80\x80\"", "{'a':1}"})
    EXPECT_THROW(ParseJson(bad), Error) << bad;
  std::string deep(kMaxJsonDepth + 2, '[');
  deep += std::string(kMaxJsonDepth + 2, ']');
  EXPECT_THROW(ParseJson(deep), Error);
  std::string ok(kMaxJsonDepth, '[');
  ok += std::string(kMaxJsonDepth, ']');
  EXPECT_NO_THROW(ParseJson(ok));
}

TEST(RunIndexTest, RoundTrip) {
  RunIndex index;
  index.run_id = 7;
  index.path = "20261201/230000Z-run7/";
  index.has_summary = true;
  index.status = "partial";
  index.started_at = "2026-12-01 23:00:00+00";
  index.finished_at = "2026-12-01 23:00:05+00";
  index.compression = "zstd";
  index.schedule = "nightly";
  index.databases = {{"a\tb", "a%09b/", "succeeded", 3, 10, 200, true, {}},
                     {"c", "c/", "failed", 0, 0, 0, false, {}}};
  std::string json = SerializeRunIndex(index);
  RunIndex back = ParseRunIndex(json);
  EXPECT_EQ(SerializeRunIndex(back), json);
  EXPECT_EQ(back.databases[0].name, "a\tb");
  EXPECT_TRUE(back.databases[0].manifest);
  EXPECT_FALSE(back.databases[1].manifest);
  EXPECT_EQ(back.schedule, "nightly");
  // A manual run writes no schedule; a run without history rows no summary.
  index.schedule.clear();
  index.has_summary = false;
  json = SerializeRunIndex(index);
  EXPECT_EQ(json.find("schedule"), std::string::npos);
  EXPECT_EQ(json.find("status\":\"partial"), std::string::npos);
  EXPECT_FALSE(ParseRunIndex(json).has_summary);
}

}  // namespace
}  // namespace cdw
