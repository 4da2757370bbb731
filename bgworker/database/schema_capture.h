// The schema of the job's database, captured by the leader in the snapshot
// transaction that the data is exported under: everything pg_dump
// --schema-only would recreate, as a table of contents of SQL entries (the
// format is described in core/schema/schema_toc.h). Include after postgres.h.
#pragma once

namespace cdw::bgworker::database_worker {

// Reads the catalogs (search_path pinned to pg_catalog, pg_temp, so the
// deparsers qualify every name outside pg_catalog) and returns the
// manifest's "schema" object as JSON text, palloc'd in the current memory
// context. Inside the snapshot transaction and SPI; ERROR on failure.
char *CaptureSchema();

}  // namespace cdw::bgworker::database_worker
