#include "extension/fdw/part_registry.h"

extern "C" {
#include "postgres.h"
#include "access/xact.h"
#include "miscadmin.h"
}

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "common/error.h"
#include "extension/module.h"
#include "extension/pg/cpp_boundary.h"
#include "storage/commit_queue.h"

namespace cdw::fdw {

namespace {
// Parts of the open transaction, by the subtransaction that wrote them.
std::vector<WrittenPart> g_transaction_parts;
// Every part written since ClearRecentParts(), for the backup worker.
std::vector<WrittenPart> g_recent_parts;
// What the last probing INSERT found (fdw_options.h, option probe).
PartStats g_recent_probe;
bool g_has_recent_probe = false;
// Tables whose parts' uploads may still be under way (background commits).
bool g_background_commits = false;
CommitQueue g_commit_queue;

// The callbacks below run inside (sub)transaction commit and abort, where an
// exception would be std::terminate and an ERROR a crash of the abort: they
// change the vectors in place (moves only, no allocation), and what could
// not be removed is one WARNING raised after the C++ frames are gone.
//
// Cleanup during an abort must not hold up a cancel or a terminate, whatever
// the storage does: each removal is bounded (RemoveQuickly, ~1.5 s), the
// whole cleanup gets kCleanupBudget, and after the first failure (the
// storage is not answering) or once a terminate is pending, the remaining
// parts are left where they are, counted in PartsLeftBehind() and named in
// the WARNING. A backup run's leftovers are under its prefix, where settling
// removes them (bgworker/run_cleanup.h).
struct CleanupReport {
  int left = 0;
  char first_url[512] = "";
  char first_error[512] = "";
};

constexpr auto kCleanupBudget = std::chrono::seconds(3);
int g_parts_left_behind = 0;

void RemoveParts(std::vector<WrittenPart> *parts, bool (*matches)(const WrittenPart &, int),
                 int arg, CleanupReport *report) noexcept {
  const auto deadline = std::chrono::steady_clock::now() + kCleanupBudget;
  bool give_up = false;
  size_t kept = 0;
  for (size_t i = 0; i < parts->size(); i++) {
    WrittenPart &part = (*parts)[i];
    if (!matches(part, arg)) {
      if (kept != i) (*parts)[kept] = std::move(part);
      kept++;
      continue;
    }
    give_up = give_up || ProcDiePending || std::chrono::steady_clock::now() >= deadline;
    char error[sizeof report->first_error] = "not tried: the storage did not answer in time";
    // An upload still under way stops first: it must not land after the removal.
    if (part.pending) part.pending->Cancel();
    if (!give_up) {
      bool removed = false;
      try {
        part.store->RemoveQuickly(part.stats.key);
        removed = true;
      } catch (const std::exception &e) {
        snprintf(error, sizeof error, "%s", e.what());
      } catch (...) {
        snprintf(error, sizeof error, "%s", "unknown error");
      }
      part.store->ReleaseConnections();
      if (removed) continue;
      give_up = true;
    }
    if (report->left++ == 0) {
      snprintf(report->first_url, sizeof report->first_url, "%s", part.url.c_str());
      memcpy(report->first_error, error, sizeof error);
    }
  }
  parts->erase(parts->begin() + static_cast<std::ptrdiff_t>(kept), parts->end());
}

// Inside abort processing: a WARNING, never an ERROR.
void ReportCleanup(const CleanupReport &report) {
  if (report.left == 0) return;
  g_parts_left_behind += report.left;
  ereport(WARNING, (errmsg("could not remove %d part%s of an aborted transaction", report.left,
                           report.left == 1 ? "" : "s"),
                    errdetail("The first is \"%s\": %s.", report.first_url, report.first_error),
                    errhint("They hold rows that were rolled back: remove them by hand, or let the "
                            "settling of the backup run remove them.")));
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
    case XACT_EVENT_PRE_COMMIT:
      // Backup workers wait for every deferred table before they commit;
      // a commit with uploads in flight would count unconfirmed objects.
      if (!g_commit_queue.empty())
        ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
                        errmsg("cdw_backup: %zu table uploads still in flight at commit",
                               g_commit_queue.size())));
      break;
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
    case XACT_EVENT_PARALLEL_ABORT: {
      CleanupReport report;
      RemoveParts(
          &g_transaction_parts, [](const WrittenPart &, int) { return true; }, 0, &report);
      g_commit_queue.Clear();
      ForgetRecent(TopSubTransactionId);
      ReportCleanup(report);
      break;
    }
    default:
      break;
  }
}

void OnSubtransactionEvent(SubXactEvent event, SubTransactionId my_subid,
                           SubTransactionId parent_subid, void *) {
  if (event == SUBXACT_EVENT_ABORT_SUB) {
    CleanupReport report;
    RemoveParts(
        &g_transaction_parts,
        [](const WrittenPart &part, int subid) { return part.subtransaction_id >= subid; },
        static_cast<int>(my_subid), &report);
    ForgetRecent(static_cast<int>(my_subid));
    ReportCleanup(report);
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
                         std::string url, std::shared_ptr<PendingCommit> pending) {
  // Kept for a removal that may never come: without its connection (a
  // worker that writes thousands of tables would otherwise hold a socket
  // and libcurl's socket pair per table until its transaction ends).
  store->ReleaseConnections();
  WrittenPart part{std::move(store), stats, std::move(url),
                   static_cast<int>(GetCurrentSubTransactionId()), std::move(pending)};
  g_recent_parts.push_back(part);
  g_transaction_parts.push_back(std::move(part));
}

int PartsLeftBehind() {
  return g_parts_left_behind;
}

const std::vector<WrittenPart> &RecentParts() {
  return g_recent_parts;
}

void SetRecentProbe(const PartStats &stats) {
  g_recent_probe = stats;
  g_has_recent_probe = true;
}

const PartStats *RecentProbe() {
  return g_has_recent_probe ? &g_recent_probe : nullptr;
}

void ClearRecentParts() {
  g_has_recent_probe = false;
  g_recent_parts.clear();
}

void SetBackgroundCommits(bool on) {
  g_background_commits = on;
}

bool BackgroundCommits() {
  return g_background_commits;
}

bool DeferRecentCommits(int64_t tag) {
  std::vector<std::shared_ptr<PendingCommit>> commits;
  for (auto &part : g_recent_parts) {
    if (!part.pending) continue;
    commits.push_back(part.pending);
    for (auto &held : g_transaction_parts)
      if (held.pending == part.pending) held.commit_tag = tag;
  }
  if (commits.empty()) return false;
  g_commit_queue.Add(tag, std::move(commits));
  return true;
}

bool CommitsFull() {
  return g_commit_queue.Full();
}

bool CommitsInFlight() {
  return !g_commit_queue.empty();
}

bool NextFinishedCommits(bool wait, int64_t *tag, bool *failed, CommitFailure *failure) {
  CommitQueue::Finished finished;
  if (!g_commit_queue.Next(wait, &finished)) return false;
  *tag = finished.tag;
  *failed = finished.error != nullptr;
  // Done either way: the parts need their commits no more.
  for (auto &part : g_transaction_parts)
    if (part.commit_tag == finished.tag) part.pending.reset();
  if (!*failed) return true;
  snprintf(failure->sqlstate, sizeof failure->sqlstate, "%s", sqlstate::kIoError);
  failure->message[0] = failure->hint[0] = '\0';
  try {
    std::rethrow_exception(finished.error);
  } catch (const Error &e) {
    snprintf(failure->sqlstate, sizeof failure->sqlstate, "%s", e.sqlstate().c_str());
    snprintf(failure->message, sizeof failure->message, "%s", e.what());
    snprintf(failure->hint, sizeof failure->hint, "%s", e.hint().c_str());
  } catch (const std::exception &e) {
    snprintf(failure->message, sizeof failure->message, "%s", e.what());
  } catch (...) {
    snprintf(failure->message, sizeof failure->message, "%s", "upload failed");
  }
  // The table is not written: its parts leave the transaction, and go from
  // the target if a failed upload landed after all.
  for (auto &part : g_transaction_parts) {
    if (part.commit_tag != finished.tag) continue;
    try {
      part.store->RemoveQuickly(part.stats.key);
    } catch (...) {
      // Not in any manifest; settling removes what a failed run left.
    }
    part.store->ReleaseConnections();
  }
  g_transaction_parts.erase(
      std::remove_if(g_transaction_parts.begin(), g_transaction_parts.end(),
                     [&](const WrittenPart &part) { return part.commit_tag == finished.tag; }),
      g_transaction_parts.end());
  return true;
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
