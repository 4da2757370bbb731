// Settling what a run left on its target (see core/storage/run_cleanup.h).
//
// A run that did not succeed (interrupted, cancelled, failed, partial) is
// marked cleanup_pending in cdw_backup.runs. Whoever settles it (the
// launcher, at start-up and whenever a coordinator exits; cdw_backup_wait()
// of a run that lost its coordinator) calls CleanUpSettledRuns(): every
// object under the run's prefix that no manifest of a database the history
// keeps (succeeded / partial with a manifest) lists is removed. What cannot
// be removed is listed in runs.leftover_objects with the storage error in
// runs.leftover_error, and tried again at the next settling.
//
// Code that must end quickly (a cancel, a terminate) leaves its storage
// cleanup here: it only sets cleanup_pending (MarkCleanupPending).
// Include after postgres.h.
#pragma once

namespace cdw::bgworker {

// Cleans up every run with cleanup_pending whose coordinator is gone,
// spending at most `budget_ms` on storage; runs not finished stay pending.
// Runs another session is cleaning up are skipped. Call inside SPI; runs
// as the extension owner. Returns how many runs are still pending.
int CleanUpSettledRuns(long budget_ms);

// Marks run `run_id` for cleanup at its settling. Call inside SPI as a role
// that may write the history.
void MarkCleanupPending(int64 run_id);

}  // namespace cdw::bgworker
