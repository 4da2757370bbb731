extern "C" {
#include "postgres.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "utils/array.h"
}

#include "bgworker/launcher.h"
#include "bgworker/run_cleanup.h"
#include "extension/control/spi_util.h"
#include "extension/pg/cpp_boundary.h"
#include "extension/pg/open_store.h"
#include "storage/store_factory.h"
#include "bgworker/scheduler.h"
#include "bgworker/shared_state.h"
#include "extension/module.h"

namespace cdw::bgworker {

namespace {
SharedState *g_shared = nullptr;
shmem_request_hook_type g_previous_request_hook = nullptr;
shmem_startup_hook_type g_previous_startup_hook = nullptr;

void RequestSharedMemory() {
  if (g_previous_request_hook) g_previous_request_hook();
  RequestAddinShmemSpace(MAXALIGN(sizeof(SharedState)));
  RequestNamedLWLockTranche("cdw_backup", 1);
}

void StartupSharedMemory() {
  if (g_previous_startup_hook) g_previous_startup_hook();
  LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
  bool found = false;
  g_shared = static_cast<SharedState *>(ShmemInitStruct("cdw_backup", sizeof(SharedState), &found));
  if (!found) {
    // Zero bytes are a valid RateBucket (rate 0: unlimited) too.
    memset(static_cast<void *>(g_shared), 0, sizeof(SharedState));
    g_shared->lock = &(GetNamedLWLockTranche("cdw_backup"))->lock;
    for (auto &run : g_shared->runs) ConditionVariableInit(&run.changed);
    for (auto &slot : g_shared->progress) {
      pg_atomic_init_u64(&slot.rows, 0);
      pg_atomic_init_u64(&slot.bytes_raw, 0);
      pg_atomic_init_u64(&slot.objects_thawed, 0);
      pg_atomic_init_u64(&slot.objects_total, 0);
    }
  }
  LWLockRelease(AddinShmemInitLock);
}
}  // namespace

const char *FilterParameterName(int kind) {
  static const char *const kNames[kFilterKinds] = {"tables", "exclude_tables", "schemas",
                                                   "exclude_schemas", "exclude_table_data"};
  return kind >= 0 && kind < kFilterKinds ? kNames[kind] : "filter";
}

const char *FilterPattern(const PatternList *list, int index) {
  const char *p = list->text;
  for (int i = 0; i < index; i++) p += strlen(p) + 1;
  return p;
}

bool HasFilters(const RunFilters *filters) {
  for (const auto &list : filters->lists)
    if (list.count > 0) return true;
  return false;
}

void InitializeSharedState() {
  g_previous_request_hook = shmem_request_hook;
  shmem_request_hook = RequestSharedMemory;
  g_previous_startup_hook = shmem_startup_hook;
  shmem_startup_hook = StartupSharedMemory;
  RegisterLauncher();
}

SharedState *Shared() {
  return g_shared;
}

BackgroundWorkerHandle *StartDynamicWorker(const char *function, const char *type, const char *name,
                                           Datum argument, const void *extra, size_t extra_size) {
  BackgroundWorker worker;
  memset(&worker, 0, sizeof worker);
  worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
  worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
  worker.bgw_restart_time = BGW_NEVER_RESTART;
  strlcpy(worker.bgw_library_name, "cdw_backup", BGW_MAXLEN);
  strlcpy(worker.bgw_function_name, function, BGW_MAXLEN);
  strlcpy(worker.bgw_name, name, BGW_MAXLEN);
  strlcpy(worker.bgw_type, type, BGW_MAXLEN);
  worker.bgw_main_arg = argument;
  if (extra) memcpy(worker.bgw_extra, extra, Min(extra_size, static_cast<size_t>(BGW_EXTRALEN)));
  worker.bgw_notify_pid = MyProcPid;
  BackgroundWorkerHandle *handle = nullptr;
  if (!RegisterDynamicBackgroundWorker(&worker, &handle)) return nullptr;
  return handle;
}

void RunDynamicWorkerToEnd(const char *function, const char *type, const char *name, Datum argument,
                           const char *purpose) {
  BackgroundWorkerHandle *handle = StartDynamicWorker(function, type, name, argument, nullptr, 0);
  if (!handle)
    ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_RESOURCES),
                    errmsg("could not start a background worker for %s", purpose),
                    errhint("Increase max_worker_processes and restart the server.")));
  PG_TRY();
  { (void)WaitForBackgroundWorkerShutdown(handle); }
  PG_CATCH();
  {
    TerminateBackgroundWorker(handle);
    PG_RE_THROW();
  }
  PG_END_TRY();
}

void RequireSharedState(const char *what) {
  if (g_shared) return;
  ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                  errmsg("%s requires cdw_backup to be loaded at server start", what),
                  errdetail("Runs are coordinated by background workers and shared memory that "
                            "only exist when the library is preloaded."),
                  errhint("Add shared_preload_libraries = 'cdw_backup' to postgresql.conf and "
                          "restart the server.")));
}

int FindRunSlot(int64 run_id) {
  for (int i = 0; i < kMaxActiveRuns; i++)
    if (g_shared->runs[i].in_use && g_shared->runs[i].request.run_id == run_id) return i;
  return -1;
}

void UseRunRateLimit(int64 run_id) {
  if (!g_shared) return;
  LWLockAcquire(g_shared->lock, LW_SHARED);
  int index = FindRunSlot(run_id);
  // Slots are never freed, only reused: a worker that outlives its
  // terminated coordinator paces itself for a moment against the slot's
  // next run, nothing worse.
  pg::SetProcessRateBucket(index >= 0 ? &g_shared->runs[index].rate : nullptr);
  LWLockRelease(g_shared->lock);
}

bool RunIsActive(int64 run_id) {
  if (!g_shared) return false;
  LWLockAcquire(g_shared->lock, LW_SHARED);
  bool active = FindRunSlot(run_id) >= 0;
  LWLockRelease(g_shared->lock);
  return active;
}

int SettleOrphanedRuns(long cleanup_budget_ms) {
  Datum active[kMaxActiveRuns];
  int count = 0;
  LWLockAcquire(g_shared->lock, LW_SHARED);
  for (const auto &run : g_shared->runs)
    if (run.in_use) active[count++] = Int64GetDatum(run.request.run_id);
  LWLockRelease(g_shared->lock);
  control::SavedUser saved = control::BecomeExtensionOwner();
  Oid types[1] = {INT8ARRAYOID};
  Datum values[1] = {
      PointerGetDatum(construct_array(active, count, INT8OID, 8, true, TYPALIGN_DOUBLE))};
  control::SpiRun(
      "SELECT coalesce(pg_catalog.array_agg(run_id), '{}') FROM cdw_backup.runs "
      "WHERE status OPERATOR(pg_catalog.=) 'running' AND run_id OPERATOR(pg_catalog.<>) ALL ($1)",
      1, types, values, nullptr);
  bool isnull;
  // One statement per table: a row updated twice in one statement keeps
  // only the first update.
  values[0] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
  control::SpiRun(
      "UPDATE cdw_backup.run_tables SET status = 'failed', "
      "finished_at = pg_catalog.clock_timestamp(), "
      "sqlstate = '57P01', error = 'the run was interrupted before this table was backed "
      "up', hint = 'Start the run again.' "
      "WHERE run_id OPERATOR(pg_catalog.=) ANY ($1) "
      " AND status OPERATOR(pg_catalog.=) ANY ('{pending,running}'::pg_catalog.text[])",
      1, types, values, nullptr);
  // A table is backed up only once its database's manifest is written: the
  // tables of a database that did not finish are not, whatever their row
  // says, and their objects are removed below.
  control::SpiRun(
      "UPDATE cdw_backup.run_tables t SET status = 'failed', rows = NULL, bytes_raw = NULL, "
      "bytes_stored = NULL, sqlstate = '57P01', error = 'the run was interrupted before the "
      "backup of database ' OPERATOR(pg_catalog.||) t.database::pg_catalog.text "
      " OPERATOR(pg_catalog.||) ' was complete', hint = 'Start the run again.' "
      "WHERE t.run_id OPERATOR(pg_catalog.=) ANY ($1) "
      " AND t.status OPERATOR(pg_catalog.=) 'succeeded' AND EXISTS (SELECT FROM "
      " cdw_backup.run_databases d WHERE d.run_id OPERATOR(pg_catalog.=) t.run_id "
      " AND d.database OPERATOR(pg_catalog.=) t.database "
      " AND d.status OPERATOR(pg_catalog.=) ANY ('{pending,running}'::pg_catalog.text[]))",
      1, types, values, nullptr);
  control::SpiRun(
      "UPDATE cdw_backup.run_databases SET status = 'failed', "
      "finished_at = pg_catalog.clock_timestamp(), "
      "error = coalesce(error, 'the run was interrupted') "
      "WHERE run_id OPERATOR(pg_catalog.=) ANY ($1) "
      " AND status OPERATOR(pg_catalog.=) ANY ('{pending,running}'::pg_catalog.text[])",
      1, types, values, nullptr);
  Oid finish_types[2] = {INT8ARRAYOID, TIMESTAMPTZOID};
  Datum finish_values[2] = {values[0], TimestampTzGetDatum(SchedulerNow())};
  control::SpiRun(
      "UPDATE cdw_backup.runs r SET status = 'interrupted', finished_at = $2,"
      " error = coalesce(error, 'the server stopped or the run''s coordinator was killed before "
      "the "
      "run ended'), hint = coalesce(hint, 'Start the run again: SELECT cdw_backup_run();'),"
      " tables_total = t.total, tables_succeeded = t.ok, tables_failed = t.total "
      "OPERATOR(pg_catalog.-) t.ok,"
      " rows = t.rows, bytes_raw = t.raw, bytes_stored = t.stored"
      " FROM (SELECT x.run_id, pg_catalog.count(t.*) AS total,"
      "        pg_catalog.count(t.*) FILTER (WHERE t.status OPERATOR(pg_catalog.=) 'succeeded')"
      "          AS ok,"
      "        coalesce(pg_catalog.sum(t.rows), 0) AS rows,"
      "        coalesce(pg_catalog.sum(t.bytes_raw), 0) AS raw,"
      "        coalesce(pg_catalog.sum(t.bytes_stored), 0) AS stored"
      "       FROM pg_catalog.unnest($1::pg_catalog.int8[]) AS x(run_id)"
      "       LEFT JOIN cdw_backup.run_tables t ON t.run_id OPERATOR(pg_catalog.=) x.run_id"
      "        AND t.status OPERATOR(pg_catalog.<>) 'excluded'"
      "       GROUP BY x.run_id) t"
      " WHERE r.run_id OPERATOR(pg_catalog.=) t.run_id RETURNING r.run_id",
      2, finish_types, finish_values, nullptr);
  for (uint64 i = 0; i < SPI_processed; i++)
    ereport(LOG, (errmsg("cdw_backup run %s was interrupted; recorded as such",
                         control::SpiText(static_cast<int>(i), 1))));
  // What the interrupted runs wrote and no manifest lists goes too (finished
  // parts of databases that did not finish, temporary files, open multipart
  // uploads), as for every run that did not succeed: see run_cleanup.h.
  control::SpiRun(
      "UPDATE cdw_backup.runs SET cleanup_pending = true "
      "WHERE run_id OPERATOR(pg_catalog.=) ANY ($1) AND location IS NOT NULL",
      1, types, values, nullptr);
  control::RestoreUser(saved);
  return CleanUpSettledRuns(cleanup_budget_ms);
}

namespace {
bool g_wake_launcher_at_commit = false;

void WakeLauncherCallback(XactEvent event, void *) {
  if (event == XACT_EVENT_COMMIT && g_wake_launcher_at_commit) WakeLauncher();
  if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT) g_wake_launcher_at_commit = false;
}
}  // namespace

void WakeLauncherAtCommit() {
  static bool registered = false;
  if (!registered) {
    RegisterXactCallback(WakeLauncherCallback, nullptr);
    registered = true;
  }
  g_wake_launcher_at_commit = true;
}

void WakeLauncher() {
  if (g_shared && g_shared->launcher_latch) SetLatch(g_shared->launcher_latch);
}

}  // namespace cdw::bgworker
