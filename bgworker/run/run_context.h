// What the coordinator of one run knows about it, shared by the files of
// bgworker/run/: the orchestration (coordinator.cpp), the history writer
// (history.cpp) and the run index (run_index.cpp). Internal to
// bgworker/run/. Include after postgres.h.
#pragma once

extern "C" {
#include "fmgr.h"
}

#include "bgworker/shared_state.h"
#include "progress/estimate.h"

namespace cdw::bgworker::coordinator {

// Everything the coordinator knows about the run.
struct Run {
  RunRequest request;
  int slot;
  char *location;       // target root
  char *store_options;  // "key\tvalue\n"
  char *secret_id;
  char *secret_key;
  char *session_token;
  char *sse_customer_key;
  char *manifest_key;     // hex; authenticates the manifests and the run index
  char *encryption_keys;  // the key ring (encryption => 'on'), one key a line
  char *run_prefix;       // key of the run on the target
  bool cancelled;
  bool cancel_sent;  // its databases' workers were told to stop
  // Which filter patterns matched in some database (for runs.warnings).
  bool pattern_matched[kFilterKinds][kMaxFilterPatterns];
  // Progress of the databases already done, and when it was last logged
  // (cdw_backup.progress_log).
  RunProgress done;
  // Databases refused when the run chose them (missing, no CONNECT, ...):
  // failed before they could start, counted done in the progress.
  int databases_refused;
  TimestampTz last_progress_log;
  // Bytes done at moments of the run, for the rate over a recent window.
  cdw::ProgressHistory history;
  // Incremental runs: the earlier run whose manifests offer objects to
  // reuse (0: a full copy) and its prefix on the target.
  int64 base_run_id;
  char *base_prefix;
};

struct DatabaseToRun {
  Oid oid;
  char *name;
  int64 size_bytes;  // pg_database_size() when the run started: largest first
};

// The databases a run exports, in TopMemoryContext (a plain array: it lives
// in frames where PostgreSQL may longjmp).
struct DatabaseList {
  int count;
  DatabaseToRun *items;
};

// One short transaction with SPI and a snapshot, for a unit of history work.
void BeginWork();
void EndWork();

// A text Datum of `s` ("" for NULL).
Datum Text(const char *s);

// Wakes whoever waits on the run's slot (cdw_backup_run(), cdw_backup_wait()).
void Broadcast(Run *run);

// Whether the run was cancelled (remembered once seen).
bool CancelRequested(Run *run);

// The URL of `key` under the target's root (palloc'd).
char *Url(Run *run, const char *key);

}  // namespace cdw::bgworker::coordinator
