// What the run functions (run_functions.cpp) offer the rest of the
// extension: starting a run the way cdw_backup_run() does, also used by the
// scheduler. Include after postgres.h.
#pragma once

extern "C" {
#include "utils/array.h"
}

#include "bgworker/shared_state.h"

namespace cdw::control {

// Starts a backup run (see bgworker/run/caller_api.h) as `role_id` after
// checking the target; returns its id once its row is committed.
// `databases` / `exclude` may be NULL; `schedule_name` NULL for manual runs;
// `max_rate` NULL for the target's option max_rate (else it replaces it;
// '0' lifts it). `filters`: the table filters of a manual run (NULL
// elements: none); a scheduled run (schedule_name set, filters NULL) takes
// its schedule's. `incremental`: the run may reference unchanged objects
// of an earlier run (README "Incremental runs").
struct FilterArrays {
  ArrayType *lists[bgworker::kFilterKinds];
};
int64 LaunchRun(const char *target, ArrayType *databases, ArrayType *exclude,
                const char *compression, Oid role_id, const char *schedule_name,
                const char *max_rate, const FilterArrays *filters = nullptr,
                bool incremental = true);

}  // namespace cdw::control
