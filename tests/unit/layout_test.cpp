#include "format/layout.h"

#include <gtest/gtest.h>

#include <vector>

#include "common/error.h"
#include "manifest/json_writer.h"

namespace cdw {
namespace {

TEST(LayoutTest, EncodesEveryUnsafeByteAndRoundTrips) {
  EXPECT_EQ(EncodePathComponent("orders"), "orders");
  EXPECT_EQ(EncodePathComponent("my table"), "my%20table");
  EXPECT_EQ(EncodePathComponent("a.b/c\"d"), "a%2Eb%2Fc%22d");
  EXPECT_EQ(EncodePathComponent("100%"), "100%25");
  EXPECT_EQ(EncodePathComponent(".."), "%2E%2E");
  EXPECT_EQ(EncodePathComponent("漢字"), "漢字");
  for (const std::string &name :
       std::vector<std::string>{"x", "Mixed Case", "a.b", "sl/ash", "quo\"te", "new\nline", "..",
                                "%41", "ünï cödé", std::string("nul\x01", 4)}) {
    std::string encoded = EncodePathComponent(name);
    EXPECT_EQ(encoded.find('/'), std::string::npos) << name;
    EXPECT_EQ(encoded.find('.'), std::string::npos) << name;
    EXPECT_EQ(DecodePathComponent(encoded), name);
  }
  EXPECT_THROW(DecodePathComponent("bad%4"), Error);
  EXPECT_THROW(DecodePathComponent("bad%zz"), Error);
}

TEST(LayoutTest, RunPrefixSeparatesRunsOfOneDay) {
  // 2026-11-24 03:00:05 UTC
  EXPECT_EQ(RunPrefix(42, 1795489205), "20261124/030005Z-run42/");
  EXPECT_NE(RunPrefix(42, 1795489205), RunPrefix(43, 1795489205));
  EXPECT_EQ(TablePrefix("public", "orders"), "public.orders/");
  EXPECT_EQ(TablePrefix("a.b", "c d"), "a%2Eb.c%20d/");
  EXPECT_EQ(DatabasePrefix("sales db"), "sales%20db/");
}

TEST(LayoutTest, RunIndexKeyNamesTheRun) {
  EXPECT_EQ(RunIndexKey("20261124/030005Z-run42/"), "_runs/20261124T030005Z-run42.json");
  EXPECT_EQ(RunIdFromKey("_runs/20261124T030005Z-run42.json"), 42);
  EXPECT_EQ(RunIdFromKey("20261124/030005Z-run7/"), 7);
  EXPECT_EQ(RunIdFromKey("_runs/garbage.json"), -1);
}

TEST(JsonWriterTest, EscapesStrings) {
  JsonWriter w;
  w.BeginObject()
      .Key("k\"")
      .String("line\nbreak \\ \x01 漢")
      .Key("n")
      .Int(-5)
      .Key("a")
      .BeginArray();
  w.Bool(true).Null().EndArray().EndObject();
  EXPECT_EQ(w.str(), "{\"k\\\"\":\"line\\nbreak \\\\ \\u0001 漢\",\"n\":-5,\"a\":[true,null]}");
}

}  // namespace
}  // namespace cdw
