// Restoring one group of tables (bgworker/restore/plan.h) in one
// transaction: each destination checked as a real restore needs it (columns,
// emptiness, privileges, its triggers), created when missing, then - unless
// dry_run - its user triggers disabled, the group truncated in one
// statement, loaded parents first, triggers enabled again as they were, and
// committed. dry_run does the same checks and DDL, loads nothing and rolls
// back. Include after postgres.h.
#pragma once

#include "bgworker/restore/plan.h"

namespace cdw::bgworker::restore {

// `members`: the group's item indexes (at least one). `server`: a quoted
// name for the transaction's foreign server.
void RestoreGroup(RestoreJob *job, const TablePlan *plans, const int *members, int count,
                  const char *server);

}  // namespace cdw::bgworker::restore
