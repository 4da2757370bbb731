// RemoveExcludedTables: what a run's table filters leave out of the schema.
#include <gtest/gtest.h>

#include <algorithm>

#include "schema/schema_toc.h"

namespace cdw {
namespace {

SchemaObject Obj(const std::string &id, const std::string &kind, const std::string &name,
                 std::vector<std::string> deps = {}, const std::string &table = "") {
  SchemaObject o;
  o.id = id;
  o.kind = kind;
  o.section = "pre-data";
  o.schema = "s";
  o.name = name;
  o.deps = std::move(deps);
  if (!table.empty()) {
    o.table_schema = "s";
    o.table_name = table;
  }
  return o;
}

std::vector<std::string> Ids(const std::vector<SchemaObject> &objects) {
  std::vector<std::string> ids;
  for (const auto &o : objects) ids.push_back(o.id);
  return ids;
}

TEST(SchemaExclude, NothingExcludedKeepsEverything) {
  std::vector<SchemaObject> toc = {Obj("1", "TABLE", "a")};
  EXPECT_TRUE(RemoveExcludedTables(toc, {}).empty());
  EXPECT_EQ(toc.size(), 1u);
}

TEST(SchemaExclude, TableAndItsObjectsAndDependentsGo) {
  std::vector<SchemaObject> toc = {
      Obj("t1", "TABLE", "log"),
      Obj("i1", "INDEX", "log_idx", {"t1"}, "log"),
      Obj("v1", "VIEW", "log_view", {"t1"}),
      Obj("t2", "TABLE", "orders"),
      Obj("f1", "FK CONSTRAINT", "orders_log_fk", {"t2", "t1"}, "orders"),
      Obj("i2", "INDEX", "orders_idx", {"t2"}, "orders"),
  };
  auto removed = RemoveExcludedTables(toc, {{"s", "log"}});
  std::sort(removed.begin(), removed.end());
  EXPECT_EQ(removed, (std::vector<std::string>{"f1", "i1", "t1", "v1"}));
  EXPECT_EQ(Ids(toc), (std::vector<std::string>{"t2", "i2"}));
}

TEST(SchemaExclude, WhatAKeptTableNeedsStays) {
  // A kept child inherits from the excluded parent: the parent's definition
  // must stay for the child to restore (it comes back empty).
  std::vector<SchemaObject> toc = {
      Obj("p", "TABLE", "parent"),
      Obj("c", "TABLE", "child", {"p"}),
      Obj("pi", "INDEX", "parent_idx", {"p"}, "parent"),
  };
  RemoveExcludedTables(toc, {{"s", "parent"}});
  EXPECT_EQ(Ids(toc), (std::vector<std::string>{"p", "c"}));
}

TEST(SchemaExclude, DependenciesOnRemovedEntriesAreDropped) {
  std::vector<SchemaObject> toc = {
      Obj("t1", "TABLE", "gone"),
      Obj("fn", "FUNCTION", "f"),
      Obj("t2", "TABLE", "kept", {"fn"}),
  };
  toc[1].deps = {};
  RemoveExcludedTables(toc, {{"s", "gone"}});
  EXPECT_EQ(Ids(toc), (std::vector<std::string>{"fn", "t2"}));
  EXPECT_EQ(toc[1].deps, (std::vector<std::string>{"fn"}));
}

TEST(SchemaExclude, OtherSchemaSameNameStays) {
  std::vector<SchemaObject> toc = {Obj("t1", "TABLE", "x")};
  toc[0].schema = "other";
  RemoveExcludedTables(toc, {{"s", "x"}});
  EXPECT_EQ(toc.size(), 1u);
}

}  // namespace
}  // namespace cdw
