// Parts committed to storage inside a transaction that may still abort.
//
// A part becomes visible when its INSERT statement ends. If the surrounding
// (sub)transaction later aborts, the registry removes the part again, so an
// aborted transaction leaves no data a reader would take for a backup. The
// backup worker also reads the list to build its manifest.
// Include after postgres.h.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "format/part_io.h"
#include "storage/object_store.h"

namespace cdw::fdw {

struct WrittenPart {
  std::shared_ptr<ObjectStore> store;
  PartStats stats;
  std::string url;
  int subtransaction_id;  // SubTransactionId that committed it
  // Set while the part's upload may still be under way (background commits).
  std::shared_ptr<PendingCommit> pending = nullptr;
  int64_t commit_tag = -1;  // its table's tag once deferred (DeferRecentCommits)
};

// `pending`: the part's commit, when it runs in the background; a removal
// (rollback) cancels it first.
void RegisterWrittenPart(std::shared_ptr<ObjectStore> store, const PartStats &stats,
                         std::string url, std::shared_ptr<PendingCommit> pending = nullptr);

// Background commits (backup workers): parts of the direct export
// (part_receiver.h) are committed with ObjectWriter::CommitInBackground, so
// a table's upload overlaps the next tables' scans. The worker then defers
// each table's commits after its subtransaction and counts the table as
// written only once NextFinishedCommits() says so. Off by default: an
// INSERT into an external table commits its part before it returns.
void SetBackgroundCommits(bool on);
bool BackgroundCommits();
// After a table's subtransaction committed: the recent parts' commits become
// one group tagged `tag`. Returns false when there were none (then the
// table is written).
bool DeferRecentCommits(int64_t tag);
// Whether a new table should wait for a deferred one first (bounded by the
// target's uploads_in_flight and 32 MiB of buffers).
bool CommitsFull();
bool CommitsInFlight();
struct CommitFailure {
  char sqlstate[6];
  char message[1024];
  char hint[1024];
};
// A deferred table whose commits ended (with `wait`, the oldest, once it
// ended): its tag, and whether one failed (then *failure says why, and its
// parts are no longer the transaction's: removed, best effort, as an upload
// that reported an error may still have landed). Returns false when none is
// in flight (without wait: none has ended). Throws Interrupted.
bool NextFinishedCommits(bool wait, int64_t *tag, bool *failed, CommitFailure *failure);

// Parts that an abort could not remove in its time budget (see
// part_registry.cpp), since the process started: what settling must clean.
int PartsLeftBehind();

// Parts written since the last call to ClearRecentParts(), in this backend.
const std::vector<WrittenPart> &RecentParts();
void ClearRecentParts();

// The result of the last INSERT into a table with option probe (rows, CSV
// bytes and content_sha256; nothing was written), since ClearRecentParts().
void SetRecentProbe(const PartStats &stats);
const PartStats *RecentProbe();

// Backup workers publish rows/bytes of the part being written to
// cdw_backup.progress; the writer calls this after each batch.
using ProgressCallback = void (*)(uint64_t rows, uint64_t bytes_raw);
void SetProgressCallback(ProgressCallback callback);
void ReportWriterProgress(uint64_t rows, uint64_t bytes_raw);

}  // namespace cdw::fdw
