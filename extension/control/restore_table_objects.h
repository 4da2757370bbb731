// The schema objects that come with a table restored on its own, read from
// a manifest's "schema" section (format 2, core/schema/schema_toc.h): its
// TABLE entry and attachment, its owned sequences with their values, and
// every entry of the table (defaults, indexes, constraints, triggers,
// policies, grants, comments), its foreign keys to other tables
// ("outgoing") and those of other tables to it ("incoming"). The restore
// worker runs them around the table's load (bgworker/restore/table_objects.h).
// Include after postgres.h; call inside SPI.
#pragma once

extern "C" {
#include "utils/array.h"
}

namespace cdw::control {

// True when the manifest records its database's schema.
bool ManifestHasSchema(const char *manifest);

// A table of the schema that holds no rows of its own (a partitioned
// table), by name as a user writes it ("s.t" or "t"): false when there is
// none or several.
bool SchemaOnlyTable(const char *manifest, const char *table_name, char **schema, char **name);

// The tables of the backup under the named ones in their partition trees
// (every level), as a text[] of schema names and one of table names.
void PartitionsOf(const char *manifest, ArrayType *schemas, ArrayType *names,
                  ArrayType **partition_schemas, ArrayType **partition_names);

// Per table (parallel to `schemas` / `names`): its objects packed as
// count x 8 NUL-terminated strings (section, kind, schema, name, sql, role "own" /
// "outgoing" / "incoming", other table's schema, other table's name), in
// restore order. `packed[i]` is NULL when the table has none.
void CollectTableObjects(const char *manifest, int count, char **schemas, char **names,
                         char **packed, Size *packed_len, int *object_count);

// The position of each table's TABLE entry in the manifest's restore order
// (parents before their partitions), or INT_MAX.
void TableCreationOrder(const char *manifest, int count, char **schemas, char **names, int *order);

}  // namespace cdw::control
