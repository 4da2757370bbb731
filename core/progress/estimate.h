// The arithmetic of a run's progress (cdw_backup.run_progress and the
// cdw_backup.progress_log lines): how many bytes are done and how many there
// will be, the rate and the time left. PostgreSQL-free.
//
// Sizes at planning are relation sizes (pg_table_size: what the scan reads),
// while what a run counts as done is the bytes of CSV it produced
// (bytes_raw). The two differ per table (CSV of numbers is smaller than the
// heap, of wide text larger), so the estimate for what is not finished is
// scaled by the ratio CSV / relation size of the units that are: the total
// is corrected as units finish, and equals the bytes done once all are.
#pragma once

#include <cstdint>
#include <string>

namespace cdw {

struct ProgressInputs {
  int64_t finished_raw = 0;     // CSV bytes of units that finished
  int64_t finished_size = 0;    // their relation bytes at planning
  int64_t unfinished_size = 0;  // relation bytes of units not finished (running or pending)
  // CSV bytes expected from unfinished units whose ratio is known already
  // (other block ranges of the same table finished): not scaled again.
  int64_t unfinished_expected_raw = 0;
  int64_t inflight_raw = 0;    // CSV bytes that running units produced so far
  int64_t unlisted_size = 0;   // estimate for databases whose tables are not listed yet
  double elapsed_seconds = 0;  // since the run started exporting
};

struct ProgressEstimate {
  int64_t bytes_done = 0;
  int64_t bytes_total = 0;  // never below bytes_done
  double rate = 0;          // bytes per second; 0 while unknown
  double eta_seconds = -1;  // time left; < 0 while unknown
  double fraction = 0;      // bytes_done / bytes_total, 0..1
};

ProgressEstimate EstimateProgress(const ProgressInputs &in);

// "1h02m03s", "4m05s", "7s"; "unknown" for a negative duration.
std::string FormatDuration(double seconds);

}  // namespace cdw
