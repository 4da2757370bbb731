// Planning a restore in the destination database, before anything changes:
// every column type checked (bgworker/restore/column_types.h), and for
// truncate => true the tables linked by foreign keys grouped, so that a group
// is truncated and loaded in one transaction (or not at all). Include after
// postgres.h.
#pragma once

#include "bgworker/restore_job.h"

namespace cdw::bgworker::restore {

struct TablePlan {
  bool usable;          // every column type resolved
  char *create_defs;    // "name type [NOT NULL], ..." (quoted names, checked types)
  char *external_defs;  // "name type, ..." for the external table
  char *signature;      // "name type, ..." unquoted, to compare with an existing table
  int group;            // the group's representative item (itself when alone)
};

// Plans `job` (one transaction). Items that cannot be restored get their
// status (failed / refused) and a reason; with cascade, tables of the backup
// the caller did not name are selected when a selected one needs them.
// On a manifest that is not usable at all job->refused is set and nothing
// else is planned. The plans live in `context`.
TablePlan *PlanRestore(RestoreJob *job, MemoryContext context);

}  // namespace cdw::bgworker::restore
