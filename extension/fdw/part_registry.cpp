#include "extension/fdw/part_registry.h"

extern "C" {
#include "postgres.h"
#include "access/xact.h"
}

#include <algorithm>

#include "extension/module.h"
#include "extension/pg/cpp_boundary.h"

namespace cdw::fdw {

namespace {
// Parts of the open transaction, by the subtransaction that wrote them.
std::vector<WrittenPart> g_transaction_parts;
// Every part written since ClearRecentParts(), for the backup worker.
std::vector<WrittenPart> g_recent_parts;

// The callbacks below run inside (sub)transaction commit and abort, where an
// exception would be std::terminate and an ERROR a crash of the abort: they
// change the vectors in place (moves only, no allocation) and a failed
// removal is a WARNING through CallCppOrWarn.
void RemoveParts(std::vector<WrittenPart> *parts, bool (*matches)(const WrittenPart &, int),
                 int arg) {
  size_t kept = 0;
  for (size_t i = 0; i < parts->size(); i++) {
    WrittenPart &part = (*parts)[i];
    if (!matches(part, arg)) {
      if (kept != i) (*parts)[kept] = std::move(part);
      kept++;
      continue;
    }
    const char *what = psprintf(
        "could not remove part \"%s\" of an aborted transaction (it holds rows that were rolled "
        "back: remove the object by hand)",
        part.url.c_str());
    pg::CallCppOrWarn(
        what, [&] { part.store->Remove(part.stats.key); }, /*raise_pg_errors=*/false);
  }
  parts->erase(parts->begin() + static_cast<std::ptrdiff_t>(kept), parts->end());
}

// Drops recent parts the (sub)transaction `subtransaction_id` and its
// children wrote. Parts of committed transactions carry id 0 and stay.
void ForgetRecent(int subtransaction_id) {
  g_recent_parts.erase(std::remove_if(g_recent_parts.begin(), g_recent_parts.end(),
                                      [&](const WrittenPart &part) {
                                        return part.subtransaction_id >= subtransaction_id;
                                      }),
                       g_recent_parts.end());
}

void OnTransactionEvent(XactEvent event, void *) {
  switch (event) {
    case XACT_EVENT_PRE_PREPARE:
      if (!g_transaction_parts.empty())
        ereport(ERROR,
                (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                 errmsg("cannot PREPARE a transaction that wrote to a cdw_backup external table"),
                 errhint("Commit the transaction directly.")));
      break;
    case XACT_EVENT_COMMIT:
    case XACT_EVENT_PARALLEL_COMMIT:
    case XACT_EVENT_PREPARE:
      g_transaction_parts.clear();
      for (auto &part : g_recent_parts) part.subtransaction_id = InvalidSubTransactionId;
      break;
    case XACT_EVENT_ABORT:
    case XACT_EVENT_PARALLEL_ABORT:
      RemoveParts(
          &g_transaction_parts, [](const WrittenPart &, int) { return true; }, 0);
      ForgetRecent(TopSubTransactionId);
      break;
    default:
      break;
  }
}

void OnSubtransactionEvent(SubXactEvent event, SubTransactionId my_subid,
                           SubTransactionId parent_subid, void *) {
  if (event == SUBXACT_EVENT_ABORT_SUB) {
    RemoveParts(
        &g_transaction_parts,
        [](const WrittenPart &part, int subid) { return part.subtransaction_id >= subid; },
        static_cast<int>(my_subid));
    ForgetRecent(static_cast<int>(my_subid));
  } else if (event == SUBXACT_EVENT_COMMIT_SUB) {
    for (auto &part : g_transaction_parts)
      if (part.subtransaction_id == static_cast<int>(my_subid))
        part.subtransaction_id = static_cast<int>(parent_subid);
  }
}
}  // namespace

void RegisterTransactionCallbacks() {
  RegisterXactCallback(OnTransactionEvent, nullptr);
  RegisterSubXactCallback(OnSubtransactionEvent, nullptr);
}

void RegisterWrittenPart(std::shared_ptr<ObjectStore> store, const PartStats &stats,
                         std::string url) {
  WrittenPart part{std::move(store), stats, std::move(url),
                   static_cast<int>(GetCurrentSubTransactionId())};
  g_recent_parts.push_back(part);
  g_transaction_parts.push_back(std::move(part));
}

const std::vector<WrittenPart> &RecentParts() {
  return g_recent_parts;
}

void ClearRecentParts() {
  g_recent_parts.clear();
}

namespace {
ProgressCallback g_progress_callback = nullptr;
}

void SetProgressCallback(ProgressCallback callback) {
  g_progress_callback = callback;
}

void ReportWriterProgress(uint64_t rows, uint64_t bytes_raw) {
  if (g_progress_callback) g_progress_callback(rows, bytes_raw);
}

}  // namespace cdw::fdw
