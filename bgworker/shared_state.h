// Shared memory of the control plane: one slot per active run (the request a
// caller hands to the run's coordinator, cancel flag, completion) and one
// progress slot per exporting worker. Exists only under
// shared_preload_libraries. Include after postgres.h.
#pragma once

extern "C" {
#include "postmaster/bgworker.h"
#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "utils/timestamp.h"
}

#include "common/rate_limiter.h"

namespace cdw::bgworker {

constexpr int kMaxActiveRuns = 8;
constexpr int kMaxProgressSlots = 64;
constexpr int kListBytes = 4096;

// Table filters of a run (README "Choosing tables"): up to
// kMaxFilterPatterns patterns per list, each NUL-terminated in `text`, in the
// home database's encoding; checked by cdw_backup_run() (arguments.h).
enum FilterKind : int {
  kFilterTables = 0,
  kFilterExcludeTables,
  kFilterSchemas,
  kFilterExcludeSchemas,
  kFilterExcludeTableData,
  kFilterKinds
};
constexpr int kMaxFilterPatterns = 64;
constexpr int kFilterBytes = 4096;
struct PatternList {
  int count;
  char text[kFilterBytes];
};
struct RunFilters {
  PatternList lists[kFilterKinds];
};
// The argument's name: "tables", "exclude_tables", ...
const char *FilterParameterName(int kind);
// The `index`th pattern of `list` (index < list->count).
const char *FilterPattern(const PatternList *list, int index);
// Whether any list holds a pattern.
bool HasFilters(const RunFilters *filters);

// How far a run is, published by its coordinator (bgworker/run_progress.h
// adds what running workers report). Guarded by the shared lock.
struct RunProgress {
  TimestampTz started_at;  // when exporting began; 0 before
  int databases_total;
  int databases_done;
  int tables_total;  // of the databases listed so far
  int tables_done;
  int64 finished_raw;     // CSV bytes of finished units
  int64 finished_size;    // their relation bytes at planning
  int64 finished_stored;  // bytes they stored on the target
  int64 unfinished_size;  // relation bytes of listed units not finished
  // CSV bytes expected from the unfinished ranges of tables some of whose
  // ranges finished (scaled by that table's own ratio; not in unfinished_size)
  int64 unfinished_expected_raw;
  int64 unlisted_size;  // estimate for databases not listed yet
  // The start of the window the rate is measured over (core/progress's
  // ProgressHistory, kept by the coordinator): when, and the bytes done
  // then (finished and in flight). 0: the run is younger than the window.
  TimestampTz window_at;
  int64 window_bytes_done;
};

// What cdw_backup_run() asks for; copied by the coordinator at start.
struct RunRequest {
  int64 run_id;
  Oid role_id;
  char role_name[NAMEDATALEN];
  char target[NAMEDATALEN];
  char compression[16];
  char schedule_name[NAMEDATALEN];
  bool has_databases;
  bool has_exclude;
  // May reuse objects of an earlier run (cdw_backup_run's incremental; a
  // schedule's run unless its full_every is due, see coordinator.cpp).
  bool incremental;
  char databases[kListBytes];  // text[] literal
  char exclude[kListBytes];    // text[] literal
  // The run's bandwidth limit in bytes per second (0: none): max_rate of
  // cdw_backup_run() or the schedule, else the target's option max_rate.
  int64 max_rate;
  RunFilters filters;
};

struct RunSlot {
  bool in_use;
  RunRequest request;
  pid_t coordinator_pid;
  bool recorded;  // the runs row is committed; cdw_backup_run() may return
  bool finished;
  bool cancel_requested;
  Latch *coordinator_latch;
  ConditionVariable changed;  // broadcast on recorded / finished
  // max_rate of the run, shared by all its workers (and their threads):
  // every byte they write to or read from the target's objects is paid for
  // here (common/rate_limiter.h). Started by StartRun().
  cdw::RateBucket rate;
  RunProgress progress;
};

struct ProgressSlot {
  bool in_use;
  int64 run_id;
  pid_t pid;
  // Names in the home database's encoding: up to 4 times their bytes in
  // the database they come from (see database_job.h).
  char database[NAMEDATALEN];
  char schema_name[NAMEDATALEN * 4];
  char table_name[NAMEDATALEN * 4];
  pg_atomic_uint64 rows;
  pg_atomic_uint64 bytes_raw;
  TimestampTz started_at;
  // A backend waiting for archived objects to thaw (cdw_backup_restore,
  // cdw_backup_verify; extension/control/thaw.h): thaw is set, role_id is
  // the caller (who sees the row), schema and table names are empty.
  bool thaw;
  Oid role_id;
  pg_atomic_uint64 objects_thawed;
  pg_atomic_uint64 objects_total;
};

struct SharedState {
  LWLock *lock;
  Latch *launcher_latch;  // woken when a run ends or schedules change
  RunSlot runs[kMaxActiveRuns];
  ProgressSlot progress[kMaxProgressSlots];
};

// Registers a dynamic background worker of this library that connects to a
// database, reports to this backend (bgw_notify_pid) and is never restarted.
// `extra` (may be NULL) fills bgw_extra. Returns NULL when no slot is free.
BackgroundWorkerHandle *StartDynamicWorker(const char *function, const char *type, const char *name,
                                           Datum argument, const void *extra, size_t extra_size);

// Starts such a worker (no bgw_extra) and waits until it has exited; an
// error or cancel of the caller while waiting terminates the worker first.
// Errors with ERRCODE_INSUFFICIENT_RESOURCES and a hint when no slot is free;
// `purpose` completes "could not start a background worker for ...".
void RunDynamicWorkerToEnd(const char *function, const char *type, const char *name, Datum argument,
                           const char *purpose);

// NULL unless the library was preloaded.
SharedState *Shared();

// Errors with a hint naming shared_preload_libraries unless preloaded.
void RequireSharedState(const char *what);

// Finds the slot of an active run, or -1. Caller holds the lock.
int FindRunSlot(int64 run_id);

// Makes the stores this process opens from now on share run `run_id`'s
// bandwidth limit (extension/pg/open_store.h); nothing when the run has no
// slot (any more).
void UseRunRateLimit(int64 run_id);

// Wakes the launcher (it records runs whose coordinator vanished).
void WakeLauncher();

// Wakes the launcher when the current transaction commits, so it sees the
// schedule change that woke it.
void WakeLauncherAtCommit();

// Whether run `run_id` still has its coordinator (an active slot).
bool RunIsActive(int64 run_id);

// Marks runs still 'running' in the history but without a coordinator as
// interrupted, with their unfinished databases and tables failed and their
// totals recomputed, then cleans up what settled runs left on their targets
// (CleanUpSettledRuns, within `cleanup_budget_ms`; returns how many runs
// still need time). Call inside SPI; runs as the extension owner.
int SettleOrphanedRuns(long cleanup_budget_ms);

}  // namespace cdw::bgworker
