// The export of tables by one database worker: each table (or block range)
// through a temporary foreign table of cdw_backup_fdw, in a subtransaction
// of the worker's snapshot transaction. Include after postgres.h.
#pragma once

#include "bgworker/database/database_job.h"
#include "manifest/manifest.h"

namespace cdw::bgworker::database_worker {

// Incremental runs: the manifest of the job's base_prefix, read and
// authenticated once per worker by CreateServer(); null for a full copy
// (no base, or its manifest could not be read, authenticated or used).
const DatabaseManifest *BaseManifest();

// A server of our own per worker, created inside the uncommitted
// transaction and dropped before commit: nothing persists in the database.
void CreateServer();
void DropServer();

// Takes entries from the job's shared counter and exports them until none
// is left, the run is cancelled or its coordinator is gone.
void ExportLoop();

// Leader: exports the tables helpers handed back (table_locks.h) until
// none is waiting; returns whether there were any.
bool ExportHandedBack();

// The worker's progress slot (cdw_backup_progress()).
void ReportProgress(uint64 rows, uint64 bytes_raw);
void ReleaseProgressSlot();

}  // namespace cdw::bgworker::database_worker
