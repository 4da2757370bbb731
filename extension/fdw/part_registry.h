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
};

void RegisterWrittenPart(std::shared_ptr<ObjectStore> store, const PartStats &stats,
                         std::string url);

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
