// How far a run is (cdw_backup.run_progress, cdw_backup.progress_log): what
// its coordinator published in its slot (RunProgress) plus what its running
// workers report in their progress slots, estimated by core/progress.
// Include after postgres.h.
#pragma once

#include "bgworker/shared_state.h"
#include "progress/estimate.h"

namespace cdw::bgworker {

struct RunProgressNumbers {
  RunProgress published;
  int64 inflight_raw;  // bytes of units being exported now
  double elapsed_seconds;
  ProgressEstimate estimate;
};

// CSV bytes that the running workers of `run_id` produced so far; the
// caller holds the shared lock.
int64 InflightRaw(const SharedState *shared, int64 run_id);

// Of the active run in `slot`; the caller holds the shared lock.
// `run_ended`: for the run's last line, when nothing is left to do whatever
// its tables' outcome (a failed database's tables never finish).
RunProgressNumbers ComputeRunProgress(const SharedState *shared, const RunSlot *slot,
                                      TimestampTz now, bool run_ended = false);

// The LOG line of cdw_backup.progress_log ("cdw_backup run 7 progress:
// tables 3/10, bytes 1048576/4194304 (25.0%), 12.5 MB/s, elapsed 4s, ETA
// 12s, databases 0/1"), palloc'd. `ending` ("finished", "cancelled") starts
// the last line of a run; NULL for the others.
char *DescribeRunProgress(int64 run_id, const RunProgressNumbers &numbers, const char *ending);

}  // namespace cdw::bgworker
