// What a run's coordinator and its database workers read from a job's
// entries (see database_job.h).
extern "C" {
#include "postgres.h"
}

#include "bgworker/database/database_job.h"

namespace cdw::bgworker {

const char *TableStatusName(TableStatus status) {
  switch (status) {
    case TableStatus::kPending:
      return "pending";
    case TableStatus::kRunning:
      return "running";
    case TableStatus::kSucceeded:
      return "succeeded";
    case TableStatus::kFailed:
      return "failed";
    case TableStatus::kCancelled:
      return "cancelled";
    case TableStatus::kExcluded:
      return "excluded";
  }
  return "failed";
}

TableOutcome CombineRanges(const TableEntry *first) {
  TableOutcome outcome{TableStatus::kSucceeded, 0, 0, 0, 0, 0, 0, nullptr};
  for (int r = 0; r < first->range_count; r++) {
    const TableEntry *entry = first + r;
    auto status = static_cast<TableStatus>(entry->status);
    if (status == TableStatus::kPending || status == TableStatus::kRunning) {
      outcome.status = status;
      return outcome;
    }
    if (status != TableStatus::kSucceeded && !outcome.failed) {
      outcome.failed = entry;
      outcome.status = status;
    }
    outcome.rows += entry->rows;
    outcome.bytes_raw += entry->bytes_raw;
    outcome.bytes_stored += entry->bytes_stored;
    outcome.bytes_reused += entry->bytes_reused;
    if (entry->started_at && (!outcome.started_at || entry->started_at < outcome.started_at))
      outcome.started_at = entry->started_at;
    if (entry->finished_at > outcome.finished_at) outcome.finished_at = entry->finished_at;
  }
  return outcome;
}

bool DatabaseComplete(const DatabaseJob *job, const TableList *tables) {
  if (!job->manifest_written || job->phase != static_cast<int>(JobPhase::kDone)) return false;
  pg_read_barrier();
  for (int i = 0; i < tables->count; i++)
    if (tables->entries[i].status == static_cast<int>(TableStatus::kSucceeded) &&
        !tables->entries[i].kept)
      return false;
  return true;
}

const char *IncompleteReason(const DatabaseJob *job) {
  if (!job->manifest_written) return "its manifest was not written";
  if (job->phase != static_cast<int>(JobPhase::kDone))
    return "its leader stopped after writing the manifest";
  return "a worker stopped after the manifest was written and its parts were removed";
}

}  // namespace cdw::bgworker
