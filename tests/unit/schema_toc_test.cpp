#include "schema/schema_toc.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "manifest/json_writer.h"
#include "schema/acl_commands.h"
#include "schema/schema_json.h"
#include "common/error.h"

namespace cdw {
namespace {

SchemaObject Make(const std::string &id, const std::string &kind, const std::string &name,
                  const std::string &section = "pre-data") {
  SchemaObject object;
  object.id = id;
  object.kind = kind;
  object.section = section;
  object.schema = "s";
  object.name = name;
  return object;
}

std::vector<std::string> Ids(const std::vector<SchemaObject> &objects) {
  std::vector<std::string> ids;
  for (const auto &o : objects) ids.push_back(o.id);
  return ids;
}

TEST(SchemaToc, PresortByKindThenName) {
  std::vector<SchemaObject> objects = {Make("t2", "TABLE", "b"), Make("t1", "TABLE", "a"),
                                       Make("ty", "TYPE", "z"), Make("ns", "SCHEMA", "s"),
                                       Make("ix", "INDEX", "a", "post-data")};
  EXPECT_TRUE(SortObjects(objects).empty());
  EXPECT_EQ(Ids(objects), (std::vector<std::string>{"ns", "ty", "t1", "t2", "ix"}));
}

TEST(SchemaToc, DependenciesOverrideNames) {
  // A view named "a" over a table named "b"; a function that returns the
  // table's row type comes after the table although functions sort first.
  std::vector<SchemaObject> objects = {Make("v", "VIEW", "a"), Make("t", "TABLE", "b"),
                                       Make("f", "FUNCTION", "f")};
  std::vector<DependencyEdge> edges = {{"2618.1", "1259.t"}, {"f", "1247.rowtype"}};
  std::vector<IdAlias> aliases = {{"2618.1", "v"}, {"1259.t", "t"}, {"1247.rowtype", "1259.t"}};
  ResolveDependencies(objects, aliases, edges);
  EXPECT_EQ(objects[0].deps, (std::vector<std::string>{"t"}));
  EXPECT_EQ(objects[2].deps, (std::vector<std::string>{"t"}));
  SortObjects(objects);
  EXPECT_EQ(Ids(objects), (std::vector<std::string>{"t", "f", "v"}));
}

TEST(SchemaToc, EdgesOutsideTheEntriesAndSelfEdgesAreDropped) {
  std::vector<SchemaObject> objects = {Make("t", "TABLE", "t")};
  ResolveDependencies(objects, {{"1247.row", "t"}},
                      {{"t", "1247.23"}, {"t", "1247.row"}, {"t", "t"}, {"t", "t"}});
  EXPECT_TRUE(objects[0].deps.empty());
}

TEST(SchemaToc, OwnDepsAreResolvedThroughAliases) {
  // An index attachment names the indexes; one belongs to a constraint.
  std::vector<SchemaObject> objects = {Make("att", "INDEX ATTACH", "a", "post-data"),
                                       Make("2606.9", "CONSTRAINT", "pk", "post-data"),
                                       Make("1259.7", "INDEX", "i", "post-data")};
  objects[0].deps = {"1259.8", "1259.7", "1259.99"};
  ResolveDependencies(objects, {{"1259.8", "2606.9"}}, {});
  EXPECT_EQ(objects[0].deps, (std::vector<std::string>{"2606.9", "1259.7"}));
}

TEST(SchemaToc, PreDataThatNeedsPostDataMovesToPostData) {
  std::vector<SchemaObject> objects = {Make("pk", "CONSTRAINT", "pk", "post-data"),
                                       Make("v", "VIEW", "v"), Make("t", "TABLE", "t")};
  objects[0].deps = {"t"};
  objects[1].deps = {"pk"};
  SortObjects(objects);
  EXPECT_EQ(Ids(objects), (std::vector<std::string>{"t", "pk", "v"}));
  EXPECT_EQ(objects[2].section, "post-data");
}

TEST(SchemaToc, CycleIsBrokenAndReported) {
  std::vector<SchemaObject> objects = {Make("a", "TABLE", "a"), Make("b", "TABLE", "b"),
                                       Make("c", "TABLE", "c")};
  objects[0].deps = {"b"};
  objects[1].deps = {"a"};
  auto broken = SortObjects(objects);
  EXPECT_EQ(broken, (std::vector<std::string>{"a"}));
  EXPECT_EQ(Ids(objects), (std::vector<std::string>{"c", "a", "b"}));
}

TEST(SchemaToc, JsonHasEveryField) {
  std::vector<SchemaObject> objects = {Make("2606.1", "CONSTRAINT", "pk \"x\"", "post-data")};
  objects[0].table_schema = "s";
  objects[0].table_name = "t";
  objects[0].sql = "ALTER TABLE ONLY s.t ADD CONSTRAINT \"pk \"\"x\"\"\" PRIMARY KEY (a);\n";
  objects[0].deps = {"1259.5"};
  JsonWriter json;
  WriteSchemaObjects(json, objects);
  EXPECT_EQ(json.str(),
            "[{\"id\":\"2606.1\",\"section\":\"post-data\",\"kind\":\"CONSTRAINT\",\"schema\":"
            "\"s\",\"name\":\"pk \\\"x\\\"\",\"owner\":\"\",\"table\":{\"schema\":\"s\",\"name\":"
            "\"t\"},\"sql\":\"ALTER TABLE ONLY s.t ADD CONSTRAINT \\\"pk \\\"\\\"x\\\"\\\"\\\" "
            "PRIMARY KEY (a);\\n\",\"deps\":[\"1259.5\"]}]");
}

TEST(AclCommands, ParsesQuotedNamesAndGrantOptions) {
  AclItem item;
  ASSERT_TRUE(ParseAclItem("\"we\"\"ird=x\"=ar*w/\"own er\"", &item));
  EXPECT_EQ(item.grantee, "we\"ird=x");
  EXPECT_EQ(item.privileges, "aw");
  EXPECT_EQ(item.privileges_grant_option, "r");
  EXPECT_EQ(item.grantor, "own er");
  ASSERT_TRUE(ParseAclItem("=U/postgres", &item));
  EXPECT_EQ(item.grantee, "");
  EXPECT_FALSE(ParseAclItem("bob=r", &item));
  EXPECT_FALSE(ParseAclItem("bob=q/alice", &item));
}

TEST(AclCommands, RevokesMissingDefaultsAndGrantsExtras) {
  std::vector<std::string> base = {"alice=arwdDxt/alice"};
  std::vector<std::string> acl = {"alice=r/alice", "=r/alice", "bob=ar*/alice"};
  EXPECT_EQ(BuildAclCommands("TABLE s.t", "", acl, base),
            "REVOKE ALL ON TABLE s.t FROM \"alice\";\n"
            "GRANT SELECT ON TABLE s.t TO \"alice\";\n"
            "GRANT SELECT ON TABLE s.t TO PUBLIC;\n"
            "GRANT INSERT ON TABLE s.t TO \"bob\";\n"
            "GRANT SELECT ON TABLE s.t TO \"bob\" WITH GRANT OPTION;\n");
  EXPECT_EQ(BuildAclCommands("TABLE s.t", "", base, base), "");
}

TEST(AclCommands, ColumnPrivileges) {
  EXPECT_EQ(BuildAclCommands("TABLE s.t", "\"c\"", {"bob=rw/alice"}, {}),
            "GRANT SELECT(\"c\"),UPDATE(\"c\") ON TABLE s.t TO \"bob\";\n");
}

TEST(AclCommands, MalformedItemThrows) {
  EXPECT_THROW(BuildAclCommands("TABLE s.t", "", {"bob=r"}, {}), Error);
}

}  // namespace
}  // namespace cdw
