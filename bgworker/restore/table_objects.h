// Running the schema objects of a table that a restore creates
// (extension/control/restore_table_objects.h) as the restoring role, with
// search_path pinned: its pre-data before the load (CREATE TABLE as the
// backup had it, attachment to its partitioned parent, owned sequences,
// defaults), then after the load its sequence values and post-data
// (indexes, constraints, foreign keys to and from existing tables,
// triggers, policies, grants, comments). Every statement but the CREATE
// TABLE runs in a subtransaction: one that fails is one more result row
// (ObjectFailure) and the rest goes on. Include after postgres.h.
#pragma once

#include "bgworker/restore_job.h"

namespace cdw::bgworker::restore {

// Pre-data of item `index` (inside the restore's transaction and SPI).
// False when the schema's CREATE TABLE failed (reported) or is missing: the
// caller creates the table from its columns, and nothing else ran.
bool CreateTableFromSchema(RestoreJob *job, int index);

// Data and post-data of item `index`, after its rows (and those of the
// other tables of its group) are loaded.
void FinishTableFromSchema(RestoreJob *job, int index);

// The statements of a schema object's SQL, split by the parser (an object
// may hold several: CREATE, ALTER ... OWNER TO, COMMENT ON).
List *Statements(const char *sql);

// An ALTER ... OWNER TO a role the restoring role is not a member of: it
// cannot give the object away, so the object stays its own (as
// pg_restore --no-owner does). A role that does not exist still fails.
bool OwnerWeCannotSet(const char *statement);

}  // namespace cdw::bgworker::restore
