// The caller side of a run: starting it and waiting for it, used by the SQL
// functions in extension/control (the run itself is coordinator.cpp). Include after postgres.h.
#pragma once

#include "bgworker/shared_state.h"

namespace cdw::bgworker {

// Hands `request` to a new coordinator worker and returns once the run's
// row is committed (independently of the caller's transaction).
void StartRun(const RunRequest &request);

// Waits until run `run_id` ends or `timeout_ms` passes (-1: no limit);
// returns its status (palloc'd).
char *WaitForRun(int64 run_id, long timeout_ms);

}  // namespace cdw::bgworker
