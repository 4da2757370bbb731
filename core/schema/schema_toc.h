// The schema of a backed-up database as a pg_dump-like table of contents:
// one entry per object with the SQL that recreates it (from the server's own
// deparsers, captured in the database worker), its section and its
// dependencies, sorted so that each entry comes after everything it needs.
//
// Manifest format 2 ("schema" section, written by the database worker):
//   "schema": {
//     "server_version", "encoding", "datcollate", "datctype": text
//     "roles":      [{"name", "superuser", "inherit", "createrole", "createdb",
//                     "login", "replication", "bypassrls", "connlimit"}]
//                   every role an object refers to (owner, grantee, policy);
//                   never a password
//     "extensions": [{"name", "version", "schema"}]
//     "objects":    [{"id", "section", "kind", "schema", "name", "owner",
//                     "table": {"schema", "name"} (objects of a table only),
//                     "sql", "deps": [ids]}]
//   }
// "objects" are in restore order (dependencies first; among independent
// objects by kind priority, then schema, then name, as pg_dump_sort.c).
// "section" is "pre-data" (run before the rows are loaded), "data" (run
// right after: sequence values) or "post-data" (indexes, constraints,
// triggers, policies, grants, materialized view refreshes). "sql" holds one
// or more complete statements, schema-qualified, meant to run with
// search_path = pg_catalog, pg_temp. The data entries ("tables") link to
// TABLE objects by schema and name.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cdw {

struct SchemaObject {
  std::string id;  // "classid.objid" of the catalog row, plus a suffix for derived entries
  std::string section;
  std::string kind;
  std::string schema;
  std::string name;
  std::string owner;
  std::string table_schema;  // empty unless the object belongs to a table
  std::string table_name;
  std::string sql;
  std::vector<std::string> deps;  // ids of entries this one needs (after Resolve)
};

// Restore priority of a kind (lower first), after pg_dump_sort.c's
// dbObjectTypePriority; unknown kinds sort last in their section.
int KindPriority(const std::string &kind);

// An edge of the catalog's dependency graph (pg_depend), by catalog ids.
struct DependencyEdge {
  std::string from;
  std::string to;
};

// A catalog id that is not an entry of its own but part of one (an array
// type of its element type, a table's row type, a constraint's index).
struct IdAlias {
  std::string id;
  std::string entry;
};

// Turns catalog edges into entry dependencies: both ends are resolved
// through `aliases`, edges that leave the set of entries (system objects)
// or point to the entry itself are dropped, duplicates removed. The
// objects' own `deps` are resolved the same way and kept first.
void ResolveDependencies(std::vector<SchemaObject> &objects, const std::vector<IdAlias> &aliases,
                         const std::vector<DependencyEdge> &edges);

// Sorts topologically: every entry after its deps; ties (and the order
// inside a dependency cycle, which is broken at its first entry) by section,
// kind priority, schema, name, id. Returns the ids of entries whose cycle
// had to be broken (empty for a consistent catalog).
std::vector<std::string> SortObjects(std::vector<SchemaObject> &objects);

}  // namespace cdw

namespace cdw {

// A table by schema and name, as in SchemaObject.
struct TableName {
  std::string schema;
  std::string name;
  bool operator<(const TableName &other) const {
    return schema != other.schema ? schema < other.schema : name < other.name;
  }
};

// Leaves out of the table of contents the tables a run's filters excluded
// (exclude_tables, schemas, ...; not exclude_table_data, whose tables stay):
// their TABLE entries, every entry of theirs (index, constraint, trigger,
// policy, ACL, ...) and, transitively, every entry that needs one of those
// (a view over the table, a foreign key to it) -- except what a table that
// is backed up needs: a TABLE entry not in `excluded`, and everything it
// depends on, stays, so that what is kept always restores. Entries' deps on
// removed entries are dropped. Returns the ids removed. Call after
// ResolveDependencies.
std::vector<std::string> RemoveExcludedTables(std::vector<SchemaObject> &objects,
                                              const std::vector<TableName> &excluded);

}  // namespace cdw
