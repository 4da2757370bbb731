// A whole-database restore in pg_restore's order: the manifest's schema
// (core/schema/schema_toc.h) as steps of the job (bgworker/restore_job.h),
// run by the restore worker around the table loads: roles, then pre-data
// (schemas, extensions, types, functions, sequences, tables without their
// indexes and constraints), the rows, the data section (sequence values),
// then post-data (indexes, constraints, foreign keys, triggers, policies,
// grants, materialized view refreshes), so that foreign keys never depend
// on the order of the loads and no trigger fires during them. Each step runs
// in its own subtransaction as the restoring role, with search_path pinned
// to pg_catalog, pg_temp: a failed step is reported and the rest go on.
// Include after postgres.h.
#pragma once

#include "bgworker/restore_job.h"

namespace cdw::bgworker::restore {

// Before anything is created: when the destination already holds a table of
// the backup, the schema is left as it is (every step skipped, rows are
// restored into the existing tables as before) and this returns false.
// Otherwise the roles are checked: missing ones are created NOLOGIN with
// create_roles, else each is a failed step and every table is refused
// (false). True when the schema is to be restored.
bool PrepareSchema(RestoreJob *job);

// Runs the pending steps of one section in one transaction.
void RunSchemaSection(RestoreJob *job, SchemaSection section);

// dry_run: every section in one transaction that is rolled back; each step
// is checked or failed.
void CheckSchema(RestoreJob *job);

}  // namespace cdw::bgworker::restore
