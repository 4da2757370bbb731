// The worker that exports tables of one database (see database_job.h): its
// entry point and the protocol between the leader and its helpers.
//
// It runs as the role that started the run, connected to the database, with
// no loopback connection. The leader opens the REPEATABLE READ transaction,
// exports its snapshot, lists the tables (table_list.cpp), exports its share
// (table_export.cpp), waits for the helpers and writes the manifest
// (manifest_writer.cpp); helpers import the snapshot, export their share
// and commit only once the leader's verdict is known.
extern "C" {
#include "postgres.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/rls.h"
#include "utils/syscache.h"
#include "mb/pg_wchar.h"
}

#include <malloc.h>

#include "bgworker/database/database_job.h"
#include "bgworker/database/database_worker.h"
#include "bgworker/database/manifest_writer.h"
#include "bgworker/database/schema_capture.h"
#include "bgworker/database/table_export.h"
#include "bgworker/database/table_list.h"
#include "bgworker/database/table_locks.h"
#include "bgworker/database/worker_state.h"
#include "bgworker/database/worker_text.h"
#include "bgworker/shared_state.h"
#include "extension/control/spi_util.h"
#include "extension/fdw/fdw_options.h"
#include "extension/fdw/part_registry.h"
#include "extension/fdw/pinned_settings.h"
#include "extension/pg/cpp_boundary.h"
#include "extension/pg/search_path.h"
#include "storage/file_store.h"

namespace cdw::bgworker::database_worker {
namespace {

void OnWorkerExit(int, Datum) {
  ReleaseProgressSlot();
  fdw::SetProgressCallback(nullptr);
  if (g_job && !g_is_leader && !g_helper_done) pg_atomic_fetch_sub_u32(&g_job->helpers_active, 1);
  // A leader that dies before committing its manifest fails the database,
  // so helpers waiting for its verdict discard their parts.
  if (g_job && g_is_leader && g_job->phase != static_cast<int>(JobPhase::kDone))
    g_job->phase = static_cast<int>(JobPhase::kFailed);
  if (g_job) WakeCoordinator();
}

// Waits for a broadcast on the job, or 50 ms: cancel and a lost coordinator
// are noticed by polling.
void WaitForJobChange() {
  (void)ConditionVariableTimedSleep(&g_job->workers_changed, 50, PG_WAIT_EXTENSION);
}

void FailDatabase(ErrorData *error, const char *hint) {
  SpinLockAcquire(&g_job->mutex);
  CopyText(g_job->sqlstate, sizeof g_job->sqlstate, unpack_sql_state(error->sqlerrcode));
  CopyForHome(g_job->error, sizeof g_job->error, error->message);
  CopyForHome(g_job->hint, sizeof g_job->hint, hint ? hint : error->hint);
  g_job->phase = static_cast<int>(JobPhase::kFailed);
  SpinLockRelease(&g_job->mutex);
  WakeCoordinator();
}

void StartSnapshotTransaction(bool import) {
  SetCurrentStatementStartTimestamp();
  StartTransactionCommand();
  XactIsoLevel = XACT_REPEATABLE_READ;
  // Until the transaction ends: the database's owner may have put objects
  // in public (or first in its search_path) that would beat pg_catalog's.
  (void)pg::PinSearchPath();
  if (import) ImportSnapshot(g_job->snapshot);
  // Like pg_dump: rows hidden by row-level security are an error, not a gap.
  (void)set_config_option("row_security", "off", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL, true,
                          0, false);
  // Text output pinned once for the whole export (see fdw/pinned_settings.h).
  fdw::PinSettingsForTransaction();
  (void)set_config_option("statement_timeout", "0", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL,
                          true, 0, false);
  // Like pg_dump: no JIT. The catalog queries of a database with 10,000
  // tables cost enough to be compiled, which took longer than running them.
  (void)set_config_option("jit", "off", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0,
                          false);
  // Rows in physical order, every run the same (as pg_dump sets it): a
  // synchronized scan would start where another session's scan of the table
  // is, and a parallel one returns rows as its workers find them; either
  // would change a part's row order, hence its fingerprint and CSV, and make
  // an incremental run write an unchanged part again. (The workers are our
  // parallelism; parallel query would only compete with them.)
  (void)set_config_option("synchronize_seqscans", "off", PGC_USERSET, PGC_S_SESSION,
                          GUC_ACTION_LOCAL, true, 0, false);
  (void)set_config_option("max_parallel_workers_per_gather", "0", PGC_USERSET, PGC_S_SESSION,
                          GUC_ACTION_LOCAL, true, 0, false);
  BoundLockWaits();
  SPI_connect();
  PushActiveSnapshot(GetTransactionSnapshot());
}

// Commits the worker's transaction: from here on the parts it wrote stay on
// the target (an abort would have removed them), which the coordinator
// needs to know before it calls their tables backed up.
void EndSnapshotTransaction() {
  SPI_finish();
  PopActiveSnapshot();
  CommitTransactionCommand();
  for (int i = 0; g_tables && i < g_tables->count; i++) {
    TableEntry *entry = &g_tables->entries[i];
    if (entry->exporter_pid == MyProcPid &&
        entry->status == static_cast<int>(TableStatus::kSucceeded))
      entry->kept = true;
  }
  pg_write_barrier();
  pgstat_report_activity(STATE_IDLE, nullptr);
}

// While the helpers finish, the leader exports what they hand back; a
// helper hands back before it leaves helpers_active, so nothing is left
// behind once they are all done.
void WaitForHelpers() {
  ConditionVariablePrepareToSleep(&g_job->workers_changed);
  while (pg_atomic_read_u32(&g_job->helpers_active) > 0 && !g_job->cancel) {
    if (ExportHandedBack()) continue;
    CheckCoordinator();
    WaitForJobChange();
  }
  ConditionVariableCancelSleep();
  ExportHandedBack();
}

void RunLeader() {
  // The external table's extension, committed on its own, as the original
  // script does with its COS plugin.
  SetCurrentStatementStartTimestamp();
  StartTransactionCommand();
  (void)pg::PinSearchPath();
  MemoryContext context = CurrentMemoryContext;
  PG_TRY();
  {
    SPI_connect();
    PushActiveSnapshot(GetTransactionSnapshot());
    control::SpiRun(fdw::kCreateFdwExtension, 0, nullptr, nullptr, nullptr);
    SPI_finish();
    PopActiveSnapshot();
    CommitTransactionCommand();
  }
  PG_CATCH();
  {
    MemoryContextSwitchTo(context);
    ErrorData *error = CopyErrorData();
    FlushErrorState();
    AbortCurrentTransaction();
    FailDatabase(
        error,
        psprintf("As a superuser run CREATE EXTENSION cdw_backup_fdw; in database %s, "
                 "or GRANT CREATE ON DATABASE %s TO %s;",
                 quote_identifier(pg::ConvertLossy(g_from_home, g_job->database)),
                 quote_identifier(pg::ConvertLossy(g_from_home, g_job->database)), RoleName()));
    return;
  }
  PG_END_TRY();

  StartSnapshotTransaction(false);
  context = CurrentMemoryContext;
  PG_TRY();
  {
    char *snapshot = ExportSnapshot(GetActiveSnapshot());
    CopyText(g_job->snapshot, sizeof g_job->snapshot, snapshot);
    TableEntry *entries = nullptr;
    uint32 *order = nullptr;
    // The listing's and the schema capture's memory (an entry of 3 kB per
    // table, their queries' results) is freed once what they produce is
    // kept (a nested SPI connection, whose memory SPI_finish frees): it
    // grew the leader by ~10 kB per table for the whole run.
    SPI_connect();
    int count = ListTables(&entries, &order);
    PublishTables(entries, order, count);
    SPI_finish();
    ReleaseCatalogCaches();
    CreateServer();
    // While the helpers export, under the same snapshot and locks.
    SPI_connect();
    char *captured = CaptureSchema();
    size_t captured_len = strlen(captured);
    auto *schema = static_cast<char *>(SPI_palloc(captured_len + 1));
    memcpy(schema, captured, captured_len + 1);
    SPI_finish();
    ReleaseCatalogCaches();
    ExportLoop();
    SpinLockAcquire(&g_job->mutex);
    g_job->accepting_helpers = false;
    SpinLockRelease(&g_job->mutex);
    WaitForHelpers();
    DropServer();
    CheckCoordinator();
    if (g_job->cancel)
      ereport(ERROR, (errcode(ERRCODE_QUERY_CANCELED), errmsg("the run was cancelled")));
    // The leader's parts are durable before the manifest names them (the
    // helpers' are: they sync before they are done).
    pg::CallCpp([] { cdw::SyncDeferredFiles(); });
    WriteManifest(schema);
    EndSnapshotTransaction();
  }
  PG_CATCH();
  {
    MemoryContextSwitchTo(TopMemoryContext);
    ErrorData *error = CopyErrorData();
    FlushErrorState();
    AbortCurrentTransaction();
    MemoryContextSwitchTo(TopMemoryContext);
    FailDatabase(error, error->hint);
    return;
  }
  PG_END_TRY();
  SpinLockAcquire(&g_job->mutex);
  g_job->phase = static_cast<int>(JobPhase::kDone);
  SpinLockRelease(&g_job->mutex);
  WakeCoordinator();
}

// A helper commits (keeping its parts) only once the leader has committed
// the database's manifest; if the leader fails, the helper aborts and its
// parts are removed: a database's backup is all there or not there.
void AwaitLeaderVerdict() {
  g_helper_done = true;
  pg_atomic_fetch_sub_u32(&g_job->helpers_active, 1);
  WakeCoordinator();  // and the leader, if this was the last helper
  ConditionVariablePrepareToSleep(&g_job->workers_changed);
  for (;;) {
    int phase = g_job->phase;
    if (phase == static_cast<int>(JobPhase::kDone)) break;
    if (phase == static_cast<int>(JobPhase::kFailed) || g_job->cancel)
      ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                      errmsg("the backup of database %s failed; discarding this worker's parts",
                             g_job->database)));
    CheckCoordinator();
    WaitForJobChange();
  }
  ConditionVariableCancelSleep();
}

// Helpers start with the leader (see RunDatabase): they wait for its table
// list. Returns false when there will be none (the leader failed, the run
// was cancelled) or nothing is left to take: the helper then just stops.
bool AwaitTableList() {
  ConditionVariablePrepareToSleep(&g_job->workers_changed);
  while (g_job->phase == static_cast<int>(JobPhase::kStarting) && !g_job->cancel) {
    CheckCoordinator();
    WaitForJobChange();
  }
  ConditionVariableCancelSleep();
  if (g_job->phase != static_cast<int>(JobPhase::kListed) || g_job->cancel) return false;
  AttachTables();
  return static_cast<int>(pg_atomic_read_u32(&g_job->next_table)) < g_tables->count;
}

void RunHelper() {
  if (!AwaitTableList()) return;  // OnWorkerExit tells the leader
  StartSnapshotTransaction(true);
  CreateServer();
  ExportLoop();
  DropServer();
  // Its parts durable before the leader writes the manifest that names them.
  pg::CallCpp([] { cdw::SyncDeferredFiles(); });
  AwaitLeaderVerdict();
  EndSnapshotTransaction();
}

}  // namespace
}  // namespace cdw::bgworker::database_worker

extern "C" void cdw_backup_database_worker(Datum job_handle) {
  using namespace cdw::bgworker;
  using namespace cdw::bgworker::database_worker;
  // Every part allocates ~1 MiB buffers (CSV, compression chunks) and frees
  // them when it ends; glibc would hand them back to the kernel (mmap, heap
  // trim) and fault them in again, zeroed, for the next part. A worker is
  // short-lived and writes one part per range: keep freed memory for reuse.
  // Peak memory is unchanged (measured by the benchmark's goal 6).
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 128 << 20);
  // Parts on file:// targets are fsynced in one batch before the manifest
  // (file_store.h): two fsyncs per table were most of a small table's time.
  cdw::pg::CallCpp([] { cdw::SetDeferredFileSync(true); });
  pqsignal(SIGTERM, die);
  pqsignal(SIGINT, StatementCancelHandler);
  BackgroundWorkerUnblockSignals();
  dsm_segment *segment = dsm_attach(DatumGetUInt32(job_handle));
  if (!segment)
    ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                    errmsg("cdw_backup database worker could not attach to its job")));
  g_job = static_cast<DatabaseJob *>(dsm_segment_address(segment));
  g_is_leader = MyBgworkerEntry->bgw_extra[0] == 'L';
  // Every worker of the run draws from the run's one bucket.
  UseRunRateLimit(g_job->run_id);
  before_shmem_exit(OnWorkerExit, 0);
  BackgroundWorkerInitializeConnectionByOid(g_job->database_id, g_job->role_id, 0);
  StartTransactionCommand();
  g_role_name = MemoryContextStrdup(TopMemoryContext,
                                    quote_identifier(GetUserNameFromId(g_job->role_id, false)));
  SetUpConversions();
  CommitTransactionCommand();
  cdw::fdw::SetProgressCallback([](uint64_t rows, uint64_t bytes) { ReportProgress(rows, bytes); });
  // Parts upload while the next tables are scanned (part_registry.h).
  cdw::fdw::SetBackgroundCommits(true);
  pgstat_report_appname(psprintf("cdw_backup run %lld", static_cast<long long>(g_job->run_id)));
  if (g_is_leader)
    RunLeader();
  else
    RunHelper();
  proc_exit(0);
}
