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
  // False while the run has not started exporting (its coordinator has
  // published nothing yet): nothing is known, not even whether there is
  // anything to do, so the fraction is 0 and the ETA unknown.
  bool started = true;
  int64_t finished_raw = 0;     // CSV bytes of units that finished
  int64_t finished_size = 0;    // their relation bytes at planning
  int64_t unfinished_size = 0;  // relation bytes of units not finished (running or pending)
  // CSV bytes expected from unfinished units whose ratio is known already
  // (other block ranges of the same table finished): not scaled again.
  int64_t unfinished_expected_raw = 0;
  int64_t inflight_raw = 0;   // CSV bytes that running units produced so far
  int64_t unlisted_size = 0;  // estimate for databases whose tables are not listed yet
  // Units running or pending, or databases not listed yet. The bytes can
  // say "done" before the run is (a bloated table whose first ranges were
  // dead rows gives a CSV ratio near 0 for the rest): then the fraction
  // stays below 1 and the ETA is unknown rather than 0.
  bool work_left = false;
  double elapsed_seconds = 0;  // since the run started exporting
  // Bytes done (finished and in flight) `window_seconds` ago, from a
  // ProgressHistory: the rate is measured over that recent window. 0
  // seconds: none yet, the rate is the average since the start.
  double window_seconds = 0;
  int64_t window_bytes_done = 0;
};

struct ProgressEstimate {
  int64_t bytes_done = 0;
  int64_t bytes_total = 0;  // never below bytes_done
  // Bytes per second over the recent window (the average since the start
  // without one, or when nothing moved in it); 0 while unknown.
  double rate = 0;
  double eta_seconds = -1;  // time left; < 0 while unknown
  double fraction = 0;      // bytes_done / bytes_total, 0..1
};

ProgressEstimate EstimateProgress(const ProgressInputs &in);

// The window the rate is measured over, `elapsed` seconds into a run: the
// last quarter of the run, at least 5 s and at most 15 min. A run's rate
// changes as it goes: its tables cost differently per CSV byte (prose
// compresses slower than numbers, and the biggest units go first), and other
// work on the server comes and goes; the average since the start answers
// late to both (issue 16 goal 4, README "Progress").
double RateWindowSeconds(double elapsed);

// The bytes a run had done at moments of its life (its coordinator adds one
// at each look), kept in a fixed array thinned to one sample per 1/16 of
// the window, so it spans several windows however long the run. Allocates
// nothing and never throws: PostgreSQL code keeps it in its own memory.
class ProgressHistory {
 public:
  // `seconds` since the run started; ignored unless a sixteenth of the
  // window later than the newest sample kept.
  void Add(double seconds, int64_t bytes_done);
  // The newest sample at least RateWindowSeconds(now) before `now`: its
  // time and bytes. False when there is none (the run is younger than the
  // window, or nothing was added).
  bool WindowStart(double now, double *seconds, int64_t *bytes_done) const;

  static constexpr int kCapacity = 64;

 private:
  double seconds_[kCapacity] = {};
  int64_t bytes_[kCapacity] = {};
  int count_ = 0;
  int newest_ = 0;  // index of the newest sample; all zeros is an empty history
};

// "1h02m03s", "4m05s", "7s"; "unknown" for a negative duration.
std::string FormatDuration(double seconds);

}  // namespace cdw
