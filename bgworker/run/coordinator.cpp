// The coordinator of one run: a dynamic background worker connected to the
// home database. It records the run (so the run exists whatever the
// caller's transaction does), then exports the databases, several at a time,
// through database workers (bgworker/database/), turning what they report
// in shared memory into history rows as tables finish (history.cpp).
extern "C" {
#include "postgres.h"
#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

#include "bgworker/database/database_job.h"
#include "bgworker/run/coordinator.h"
#include "bgworker/run/history.h"
#include "bgworker/run/run_context.h"
#include "bgworker/run_progress.h"
#include "bgworker/scheduler.h"
#include "bgworker/shared_state.h"
#include "extension/control/settings.h"
#include "extension/control/spi_util.h"
#include "extension/pg/bounded_copy.h"
#include "extension/pg/cpp_boundary.h"
#include "extension/pg/text_encoding.h"
#include "format/layout.h"

namespace cdw::bgworker::coordinator {
namespace {

using control::SpiRun;
using control::SpiText;

// The databases being exported and their workers, for the loop and the
// exit callback. Fixed arrays (cdw_backup.max_workers is at most 64, and
// every database being exported has at least one worker): no C++ container
// in frames where PostgreSQL may longjmp.
constexpr int kMaxWorkers = 64;

// A database whose size is at least this is given every free worker when
// it starts (its helpers' start-up then overlaps its listing); a smaller
// one starts with its leader alone and gets helpers only once no database
// is left to start and it still has units nobody took.
constexpr int64 kBigDatabaseBytes = 256LL << 20;

struct ActiveDatabase {
  const DatabaseToRun *database;
  dsm_segment *segment;
  DatabaseJob *job;
  dsm_segment *tables_segment;
  TableList *tables;                             // attached once the leader has listed them
  bool *recorded;                                // one flag per entry of tables (history.h)
  BackgroundWorkerHandle *workers[kMaxWorkers];  // the leader first
  int worker_count;
  bool listing_settled;  // tables attached, or the leader stopped without them
};

ActiveDatabase g_active[kMaxWorkers];
int g_active_count = 0;

BackgroundWorkerHandle *StartDatabaseWorker(Run *run, dsm_segment *segment, const char *database,
                                            bool leader) {
  char role = leader ? 'L' : 'H';
  return StartDynamicWorker(
      "cdw_backup_database_worker", "cdw_backup database worker",
      psprintf("cdw_backup run %lld %s: %s", static_cast<long long>(run->request.run_id),
               leader ? "leader" : "helper", database),
      UInt32GetDatum(dsm_segment_handle(segment)), &role, 1);
}

bool Stopped(BackgroundWorkerHandle *handle) {
  pid_t pid;
  return handle == nullptr || GetBackgroundWorkerPid(handle, &pid) == BGWH_STOPPED;
}

void WaitForEvent(long timeout_ms) {
  (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, timeout_ms,
                  PG_WAIT_EXTENSION);
  ResetLatch(MyLatch);
  CHECK_FOR_INTERRUPTS();
}

bool AllStopped(const ActiveDatabase *active) {
  for (int i = 0; i < active->worker_count; i++)
    if (!Stopped(active->workers[i])) return false;
  return true;
}

// Entries of the databases being exported, listed or not.
int ActiveEntries() {
  int entries = 0;
  for (int a = 0; a < g_active_count; a++)
    if (g_active[a].tables) entries += g_active[a].tables->count;
  return entries;
}

// Workers of the run still running, across its databases.
int RunningWorkers() {
  int running = 0;
  for (int a = 0; a < g_active_count; a++)
    for (int i = 0; i < g_active[a].worker_count; i++)
      if (!Stopped(g_active[a].workers[i])) running++;
  return running;
}

// The databases of the run and the first not started yet, for progress.
const DatabaseList *g_databases = nullptr;
int g_next_database = 0;

// Every table that finishes wakes the coordinator, and a look at a
// database's entries (failed tables' history rows, progress) reads all of
// them: with 50,000 tables, looking at every wake-up cost the run O(N^2).
// Big databases are therefore looked at most every 10 ms per 1,000 entries
// (100 ms at 10,000; at most 500 ms): a look costs about 0.1 ms per 1,000
// entries, so the coordinator's share of a CPU stays near 1% however many
// tables (at 2 ms per 1,000 it was 5.7% of a 2-core machine's samples at
// 10,000 tables, taken from the workers). Starts and ends of workers are
// still seen at once; progress is at most that much behind.
bool g_scan_due = true;
TimestampTz g_last_scan = 0;

long ScanIntervalMs() {
  return Min(500L, static_cast<long>(ActiveEntries()) * 10 / 1000);
}

// Decides g_scan_due for this pass of the coordinator's loop.
void DecideScan() {
  TimestampTz now = GetCurrentTimestamp();
  long interval = ScanIntervalMs();
  g_scan_due = interval == 0 || g_last_scan == 0 ||
               TimestampDifferenceExceeds(g_last_scan, now, static_cast<int>(interval));
  if (g_scan_due) g_last_scan = now;
}

// Adds the entries of a listed database to `p`. The unfinished ranges of a
// table some of whose ranges finished are expected to produce CSV at that
// table's own ratio (unfinished_expected_raw); the rest at the run's.
void AddProgress(RunProgress *p, const TableList *tables) {
  for (int i = 0; i < tables->count;) {
    const TableEntry *first = &tables->entries[i];
    int ranges = Max(first->range_count, 1);
    if (first->status == static_cast<int>(TableStatus::kExcluded)) {
      i += ranges;
      continue;
    }
    p->tables_total++;
    TableStatus combined = CombineRanges(first).status;
    if (combined != TableStatus::kPending && combined != TableStatus::kRunning) p->tables_done++;
    int64 done_raw = 0, done_size = 0, rest_size = 0;
    for (int r = 0; r < ranges && i + r < tables->count; r++) {
      const TableEntry *entry = first + r;
      auto status = static_cast<TableStatus>(entry->status);
      if (status == TableStatus::kPending || status == TableStatus::kRunning) {
        rest_size += entry->planned_bytes;
      } else {
        done_raw += entry->bytes_raw;
        done_size += entry->planned_bytes;
        p->finished_stored += entry->bytes_stored;
      }
    }
    p->finished_raw += done_raw;
    p->finished_size += done_size;
    if (rest_size > 0 && done_size > 0 && done_raw > 0)
      p->unfinished_expected_raw +=
          static_cast<int64>(static_cast<double>(rest_size) * static_cast<double>(done_raw) /
                             static_cast<double>(done_size));
    else
      p->unfinished_size += rest_size;
    i += ranges;
  }
}

// Publishes the run's progress in its slot: the databases done (run->done),
// the entries of those being exported, and the sizes (pg_database_size) of
// those not listed yet.
void PublishProgress(Run *run) {
  RunProgress p = run->done;
  p.databases_total = (g_databases ? g_databases->count : 0) + run->databases_refused;
  p.databases_done += run->databases_refused;
  p.unlisted_size = 0;
  for (int i = g_next_database; g_databases && i < g_databases->count; i++)
    p.unlisted_size += g_databases->items[i].size_bytes;
  for (int a = 0; a < g_active_count; a++) {
    if (g_active[a].tables)
      AddProgress(&p, g_active[a].tables);
    else
      p.unlisted_size += g_active[a].database->size_bytes;
  }
  SharedState *shared = Shared();
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  // The bytes done now join the history; the window's start goes out with
  // the rest, for the rate over it (core/progress/estimate.h).
  if (p.started_at) {
    TimestampTz now = GetCurrentTimestamp();
    double seconds = static_cast<double>(now - p.started_at) / USECS_PER_SEC;
    run->history.Add(seconds, p.finished_raw + InflightRaw(shared, run->request.run_id));
    double start = 0;
    int64_t bytes = 0;
    if (run->history.WindowStart(seconds, &start, &bytes)) {
      p.window_at = p.started_at + static_cast<TimestampTz>(start * USECS_PER_SEC);
      p.window_bytes_done = bytes;
    }
  }
  shared->runs[run->slot].progress = p;
  LWLockRelease(shared->lock);
}

// cdw_backup.progress_log: the run's progress as a LOG line every so often
// (and once at the end, `finished`).
void LogProgress(Run *run, bool finished) {
  if (control::g_progress_log_s <= 0) return;
  TimestampTz now = GetCurrentTimestamp();
  // The interval in ms is an int: one of 25 days or more overflowed it and
  // logged at every wake-up; past INT_MAX ms it means "at the end only".
  if (!finished && run->last_progress_log &&
      !TimestampDifferenceExceeds(run->last_progress_log, now,
                                  Min(control::g_progress_log_s, INT_MAX / 1000) * 1000))
    return;
  run->last_progress_log = now;
  SharedState *shared = Shared();
  LWLockAcquire(shared->lock, LW_SHARED);
  RunProgressNumbers numbers = ComputeRunProgress(shared, &shared->runs[run->slot], now, finished);
  LWLockRelease(shared->lock);
  // A cancelled run's last line says so: its totals are what it did.
  const char *ending = !finished ? nullptr : run->cancelled ? "cancelled" : "finished";
  ereport(LOG, (errmsg("%s", DescribeRunProgress(run->request.run_id, numbers, ending)),
                errhidestmt(true)));
}

void CancelCurrentDatabases() {
  for (int a = 0; a < g_active_count; a++) {
    g_active[a].job->cancel = true;
    for (int i = 0; i < g_active[a].worker_count; i++)
      TerminateBackgroundWorker(g_active[a].workers[i]);
  }
}

// Counts a helper in before it starts, so the leader waits for it; refused
// once the leader has stopped taking helpers (it is then past its share of
// the units) or nothing is left to take.
bool AdmitHelper(DatabaseJob *job, const TableList *tables) {
  SpinLockAcquire(&job->mutex);
  bool admitted =
      job->accepting_helpers && job->phase == static_cast<int>(JobPhase::kListed) &&
      (tables == nullptr || static_cast<int>(pg_atomic_read_u32(&job->next_table)) < tables->count);
  if (admitted) pg_atomic_fetch_add_u32(&job->helpers_active, 1);
  SpinLockRelease(&job->mutex);
  return admitted;
}

// Starts up to `count` helpers for `active`; returns how many started.
int AddHelpers(Run *run, ActiveDatabase *active, int count) {
  int started = 0;
  while (started < count && active->worker_count < kMaxWorkers) {
    if (!AdmitHelper(active->job, active->tables)) break;
    BackgroundWorkerHandle *helper =
        StartDatabaseWorker(run, active->segment, active->database->name, false);
    if (!helper) {
      pg_atomic_fetch_sub_u32(&active->job->helpers_active, 1);
      ConditionVariableBroadcast(&active->job->workers_changed);
      ereport(LOG, (errmsg("cdw_backup run %lld: a worker could not be started",
                           static_cast<long long>(run->request.run_id)),
                    errhint("Increase max_worker_processes.")));
      break;
    }
    active->workers[active->worker_count++] = helper;
    started++;
  }
  return started;
}

// Incremental runs: the newest good run on the same target with the same
// compression is the base, unless the run asked for a full copy or its
// schedule's full_every is due (no good run of the schedule that reused
// nothing started within it). Recorded on the run.
void ChooseBase(Run *run) {
  BeginWork();
  control::SpiParams params;
  params.Int8(run->request.run_id)
      .Text(run->request.target)
      .Text(run->request.compression)
      .Text(run->request.schedule_name[0] ? run->request.schedule_name : nullptr)
      .Timestamp(SchedulerNow());
  SpiRun(
      "SELECT b.run_id, b.location FROM cdw_backup.runs b "
      "WHERE b.target OPERATOR(pg_catalog.=) $2 AND b.compression OPERATOR(pg_catalog.=) $3 "
      " AND b.status OPERATOR(pg_catalog.=) ANY ('{succeeded,partial}'::pg_catalog.text[]) "
      " AND b.run_id OPERATOR(pg_catalog.<) $1 AND b.location IS NOT NULL "
      " AND NOT EXISTS (SELECT FROM cdw_backup.schedule_store s "
      "   WHERE s.name OPERATOR(pg_catalog.=) $4 AND s.full_every IS NOT NULL "
      "   AND NOT EXISTS (SELECT FROM cdw_backup.runs f "
      "     WHERE f.schedule_name OPERATOR(pg_catalog.=) s.name "
      "     AND f.status OPERATOR(pg_catalog.=) ANY "
      "       ('{succeeded,partial,expired}'::pg_catalog.text[]) "
      "     AND f.bytes_reused OPERATOR(pg_catalog.=) 0 "
      "     AND f.started_at OPERATOR(pg_catalog.>) ($5 OPERATOR(pg_catalog.-) s.full_every))) "
      "ORDER BY b.run_id DESC LIMIT 1",
      params, true);
  char *base_run = SPI_processed > 0 ? SpiText(0, 1) : nullptr;
  char *base_location = SPI_processed > 0 ? SpiText(0, 2) : nullptr;
  // The base's prefix: its location below the target's root.
  char *root = Url(run, "");
  if (run->request.incremental && base_run && base_location &&
      strncmp(base_location, root, strlen(root)) == 0 && base_location[strlen(root)] != '\0') {
    const char *prefix = base_location + strlen(root);
    size_t len = strlen(prefix);
    run->base_run_id = strtoll(base_run, nullptr, 10);
    run->base_prefix = MemoryContextStrdup(
        TopMemoryContext, psprintf("%s%s", prefix, prefix[len - 1] == '/' ? "" : "/"));
  }
  control::SpiParams update;
  update.Int8(run->request.run_id)
      .Bool(run->request.incremental)
      .Add(INT8OID, Int64GetDatum(run->base_run_id), run->base_run_id == 0);
  SpiRun(
      "UPDATE cdw_backup.runs SET incremental = $2, base_run_id = $3 "
      "WHERE run_id OPERATOR(pg_catalog.=) $1",
      update);
  EndWork();
}

// Whether the base run has this database's manifest (it backed it up).
bool BaseHasDatabase(Run *run, const char *database) {
  if (run->base_run_id == 0) return false;
  BeginWork();
  control::SpiParams params;
  params.Int8(run->base_run_id).Name(database);
  SpiRun(
      "SELECT FROM cdw_backup.run_databases d WHERE d.run_id OPERATOR(pg_catalog.=) $1 "
      " AND d.database OPERATOR(pg_catalog.=) $2 AND d.manifest IS NOT NULL "
      " AND d.status OPERATOR(pg_catalog.=) ANY ('{succeeded,partial}'::pg_catalog.text[])",
      params, true);
  bool found = SPI_processed > 0;
  EndWork();
  return found;
}

// Creates the job of one database and starts its leader (and `helpers`
// helpers). False when not even the leader could start (recorded failed).
bool StartDatabase(Run *run, const DatabaseToRun &database, int helpers) {
  bool has_base = BaseHasDatabase(run, database.name);
  BeginWork();
  RecordDatabase(run, database.name, "running", 0, nullptr, nullptr, nullptr, nullptr, nullptr);
  EndWork();

  dsm_segment *segment = dsm_create(sizeof(DatabaseJob), 0);
  auto *job = static_cast<DatabaseJob *>(dsm_segment_address(segment));
  memset(job, 0, sizeof *job);
  job->run_id = run->request.run_id;
  job->database_id = database.oid;
  job->role_id = run->request.role_id;
  // Checked copies: a target stored before its fields were limited is an
  // error of this run, not a cut location or secret.
  pg::CopyName(job->database, database.name, "database name");
  pg::CopyBounded(job->compression, sizeof job->compression, run->request.compression,
                  "compression");
  pg::CopyBounded(job->location, sizeof job->location, run->location, "target location");
  pg::CopyBounded(job->store_options, sizeof job->store_options, run->store_options,
                  "target options");
  pg::CopyBounded(job->secret_id, sizeof job->secret_id, run->secret_id, "secret_id");
  pg::CopyBounded(job->secret_key, sizeof job->secret_key, run->secret_key, "secret_key");
  pg::CopyBounded(job->session_token, sizeof job->session_token, run->session_token,
                  "session_token");
  pg::CopyBounded(job->sse_customer_key, sizeof job->sse_customer_key, run->sse_customer_key,
                  "sse_customer_key");
  pg::CopyBounded(job->manifest_key, sizeof job->manifest_key, run->manifest_key, "manifest key");
  pg::CopyBounded(job->encryption_keys, sizeof job->encryption_keys, run->encryption_keys,
                  "encryption keys");
  // Keys are UTF-8; the job's text is this database's (database_job.h).
  job->text_encoding = GetDatabaseEncoding();
  char *database_utf8 = pg::ServerToUtf8(database.name, "the database name");
  char *database_prefix =
      pg::CallCpp([&] { return pg::PallocCopy(DatabasePrefix(database_utf8)); });
  pg::CopyBounded(job->database_prefix, sizeof job->database_prefix,
                  psprintf("%s%s", run->run_prefix, database_prefix), "database prefix");
  if (has_base) {
    pg::CopyBounded(job->base_prefix, sizeof job->base_prefix,
                    psprintf("%s%s", run->base_prefix, database_prefix), "base database prefix");
    job->base_run_id = run->base_run_id;
  }
  job->lock_wait_timeout_ms = control::g_lock_wait_timeout_ms;
  job->filters = run->request.filters;
  job->coordinator_latch = MyLatch;
  SpinLockInit(&job->mutex);
  pg_atomic_init_u32(&job->next_table, 0);
  pg_atomic_init_u32(&job->helpers_active, 0);
  job->accepting_helpers = true;
  ConditionVariableInit(&job->workers_changed);

  ActiveDatabase *active = &g_active[g_active_count];
  memset(active, 0, sizeof *active);
  active->database = &database;
  active->segment = segment;
  active->job = job;
  // Helpers that start with the leader are counted before it starts, so
  // it always waits for them.
  for (int i = 0; i < helpers; i++) pg_atomic_fetch_add_u32(&job->helpers_active, 1);
  BackgroundWorkerHandle *leader = StartDatabaseWorker(run, segment, database.name, true);
  if (!leader) {
    dsm_detach(segment);
    BeginWork();
    RecordDatabase(run, database.name, "failed", 0, nullptr, nullptr, "53000",
                   "no background worker slot is free for the database worker",
                   "Increase max_worker_processes (cdw_backup needs cdw_backup.max_workers + 2).");
    EndWork();
    return false;
  }
  active->workers[active->worker_count++] = leader;
  g_active_count++;
  for (int i = 0; i < helpers; i++) {
    BackgroundWorkerHandle *helper = StartDatabaseWorker(run, segment, database.name, false);
    if (!helper) {
      // Fewer workers than configured: the others take the tables.
      pg_atomic_fetch_sub_u32(&job->helpers_active, static_cast<uint32>(helpers - i));
      ConditionVariableBroadcast(&job->workers_changed);
      ereport(LOG, (errmsg("cdw_backup run %lld: only %d of %d workers could be started",
                           static_cast<long long>(run->request.run_id), i + 1, helpers + 1),
                    errhint("Increase max_worker_processes.")));
      break;
    }
    active->workers[active->worker_count++] = helper;
  }
  return true;
}

// Records the final status of a database whose workers have all stopped;
// returns it.
const char *FinishDatabase(Run *run, ActiveDatabase *active) {
  DatabaseJob *job = active->job;
  TableList *tables = active->tables;
  const char *name = active->database->name;
  const char *status = "succeeded";
  int failed = 0, total = 0;
  // Which patterns matched here (runs.warnings names those that matched in
  // no database).
  for (int kind = 0; kind < kFilterKinds; kind++)
    for (int i = 0; i < kMaxFilterPatterns; i++)
      run->pattern_matched[kind][i] |= job->pattern_matched[kind][i];
  // The database's share of progress, done whatever its outcome; what did
  // not finish is no longer expected.
  if (tables) AddProgress(&run->done, tables);
  run->done.unfinished_size = 0;
  run->done.unfinished_expected_raw = 0;
  run->done.databases_done++;
  for (int i = 0; tables && i < tables->count; i++) {
    if (tables->entries[i].range_index != 0) continue;
    if (tables->entries[i].status == static_cast<int>(TableStatus::kExcluded)) continue;
    total++;
    if (CombineRanges(&tables->entries[i]).status != TableStatus::kSucceeded) failed++;
  }
  const char *sqlstate = job->sqlstate[0] ? job->sqlstate : nullptr;
  const char *error = job->error[0] ? job->error : nullptr;
  const char *hint = job->hint[0] ? job->hint : nullptr;
  // History says what is on the target: a database is backed up (and has a
  // manifest) only if it is there as a whole, cancelled or not.
  bool complete = tables && DatabaseComplete(job, tables);
  if (complete) {
    if (failed > 0) status = failed == total ? "failed" : "partial";
  } else if (run->cancelled) {
    status = "cancelled";
    if (!error) {
      sqlstate = "57014";
      error = "the run was cancelled";
    }
  } else if (job->phase == static_cast<int>(JobPhase::kFailed) || !tables) {
    status = "failed";
    if (!error) {
      sqlstate = "XX000";
      error = "the database worker stopped unexpectedly";
      hint = "See the server log.";
    }
  } else {
    status = "failed";
    sqlstate = "XX000";
    error = psprintf("the database backup is incomplete: %s", IncompleteReason(job));
    hint = "See the server log.";
  }
  // A failed database's manifest is removed when the run is settled.
  char *manifest = complete && strcmp(status, "failed") != 0
                       ? Url(run, psprintf("%s%s", job->database_prefix, kManifestName))
                       : nullptr;
  BeginWork();
  RecordDatabase(run, name, status, total, nullptr, manifest, sqlstate, error, hint);
  if (job->schema_warning[0])
    RecordDatabaseWarning(run, quote_identifier(name), job->schema_warning);
  EndWork();
  if (active->recorded) pfree(active->recorded);
  if (active->tables_segment) dsm_detach(active->tables_segment);
  dsm_detach(active->segment);
  return status;
}

// One look at a database being exported: its table list once published,
// history rows of tables that finished. True once all its workers have
// stopped and its outcome is recorded (`*status`).
bool PollDatabase(Run *run, ActiveDatabase *active, const char **status) {
  DatabaseJob *job = active->job;
  const char *name = active->database->name;
  if (!active->listing_settled) {
    int phase = job->phase;
    if (phase == static_cast<int>(JobPhase::kListed) ||
        phase == static_cast<int>(JobPhase::kDone)) {
      active->tables_segment = dsm_attach(job->tables_handle);
      if (active->tables_segment)
        active->tables = static_cast<TableList *>(dsm_segment_address(active->tables_segment));
      active->listing_settled = true;
      if (active->tables) {
        active->recorded =
            static_cast<bool *>(palloc0(sizeof(bool) * Max(active->tables->count, 1)));
        // The workers export while the pending history rows of every table
        // (10,000 of them in a big database) are written.
        InsertPendingTables(run, active->tables, name);
      }
    } else if (Stopped(active->workers[0])) {
      // The leader stopped before listing tables; the helpers see it fail.
      active->listing_settled = true;
    }
  }
  bool stopped = AllStopped(active);
  // A look at every entry is skipped while the run's scans are throttled
  // (ScanDue), except the last one, once every worker has stopped.
  if (active->tables && (g_scan_due || stopped))
    SyncTables(run, job, active->tables, active->recorded, stopped && active->listing_settled,
               name);
  if (!stopped || !active->listing_settled) return false;
  *status = FinishDatabase(run, active);
  return true;
}

// Workers for units nobody has taken yet, once no database waits to start:
// the run's tail is then as short as the biggest database's remaining work.
void FeedHelpers(Run *run, int free_workers) {
  for (int a = 0; a < g_active_count && free_workers > 0; a++) {
    ActiveDatabase *active = &g_active[a];
    if (!active->tables || active->job->cancel) continue;
    int untaken =
        active->tables->count - static_cast<int>(pg_atomic_read_u32(&active->job->next_table));
    if (untaken <= 0) continue;
    free_workers -= AddHelpers(run, active, Min(free_workers, untaken));
  }
}

void ReportActivity(Run *run) {
  if (g_active_count == 0) return;
  pgstat_report_activity(
      STATE_RUNNING,
      g_active_count == 1
          ? psprintf("cdw_backup run %lld: database %s",
                     static_cast<long long>(run->request.run_id), g_active[0].database->name)
          : psprintf("cdw_backup run %lld: %d databases, %s and others",
                     static_cast<long long>(run->request.run_id), g_active_count,
                     g_active[0].database->name));
}

// Schedules with verify => true: every backup is re-read and checked right
// after it is written (cdw_backup_verify), and the outcome recorded on the
// run. A verification that cannot run is recorded, never fatal.
void VerifyIfScheduled(Run *run) {
  BeginWork();
  Oid types[2] = {TEXTOID, INT8OID};
  Datum values[2] = {Text(run->request.schedule_name), Int64GetDatum(run->request.run_id)};
  SpiRun(
      "SELECT FROM cdw_backup.schedule_store s JOIN cdw_backup.runs r "
      " ON r.run_id OPERATOR(pg_catalog.=) $2 "
      "WHERE s.name OPERATOR(pg_catalog.=) $1 AND s.verify "
      " AND r.status OPERATOR(pg_catalog.=) ANY ('{succeeded,partial}'::pg_catalog.text[])",
      2, types, values, nullptr, true);
  bool wanted = SPI_processed > 0;
  EndWork();
  if (!wanted) return;
  pgstat_report_activity(STATE_RUNNING, psprintf("cdw_backup run %lld: verifying",
                                                 static_cast<long long>(run->request.run_id)));
  BeginWork();
  // Assigned inside PG_TRY and read after it: volatile (setjmp rules).
  char *volatile status = nullptr;
  char *volatile detail = nullptr;
  PG_TRY();
  {
    SpiRun(psprintf("SELECT pg_catalog.count(*) FILTER (WHERE status OPERATOR(pg_catalog.=) "
                    "'problem'), "
                    " pg_catalog.string_agg(pg_catalog.format('%%s.%%s.%%s: %%s', database, "
                    "   schema_name, table_name, coalesce(problem, status)), '; ') "
                    "   FILTER (WHERE status OPERATOR(pg_catalog.=) 'problem') "
                    "FROM %s($2)",
                    control::ExtensionFunction("cdw_backup_verify")),
           2, types, values, nullptr);
    bool problems = strcmp(SpiText(0, 1), "0") != 0;
    status = MemoryContextStrdup(TopMemoryContext, problems ? "problems" : "ok");
    char *text = SpiText(0, 2);
    detail = text ? MemoryContextStrdup(TopMemoryContext, text) : nullptr;
    EndWork();
  }
  PG_CATCH();
  {
    MemoryContextSwitchTo(TopMemoryContext);
    ErrorData *error = CopyErrorData();
    FlushErrorState();
    AbortCurrentTransaction();
    status = MemoryContextStrdup(TopMemoryContext, "error");
    detail = MemoryContextStrdup(TopMemoryContext, error->message);
  }
  PG_END_TRY();
  BeginWork();
  control::SpiParams update;
  update.Int8(run->request.run_id).Text(status).Text(detail);
  SpiRun(
      "UPDATE cdw_backup.runs SET verify_status = $2, verify_detail = $3 WHERE run_id "
      "OPERATOR(pg_catalog.=) $1",
      update);
  EndWork();
  ereport(
      strcmp(status, "ok") == 0 ? LOG : WARNING,
      (errmsg("cdw_backup run %lld verified: %s%s%s", static_cast<long long>(run->request.run_id),
              status, detail ? ": " : "", detail ? detail : "")));
}

// Phase B: every database, then the run's totals and index. Databases are
// exported in parallel (largest first, as RecordRun ordered them) by at most
// cdw_backup.max_workers workers in all; each keeps its own snapshot and
// manifest.
void ExportDatabases(Run *run, const DatabaseList &databases) {
  bool any_failed = false;
  ChooseBase(run);
  int next = 0;
  g_databases = &databases;
  run->done.started_at = GetCurrentTimestamp();
  for (;;) {
    if (CancelRequested(run)) {
      if (!run->cancel_sent) {
        run->cancel_sent = true;
        CancelCurrentDatabases();
      }
      for (; next < databases.count; next++) {
        BeginWork();
        RecordDatabase(run, databases.items[next].name, "cancelled", 0, nullptr, nullptr, "57014",
                       "the run was cancelled before this database was backed up", nullptr);
        EndWork();
      }
    }
    DecideScan();
    for (int a = 0; a < g_active_count;) {
      const char *status = nullptr;
      if (PollDatabase(run, &g_active[a], &status)) {
        any_failed |= strcmp(status, "succeeded") != 0;
        g_active[a] = g_active[--g_active_count];
      } else {
        a++;
      }
    }
    int free_workers = Max(control::g_max_workers, 1) - RunningWorkers();
    while (free_workers > 0 && next < databases.count && g_active_count < kMaxWorkers) {
      const DatabaseToRun &database = databases.items[next++];
      bool last = next == databases.count;
      int helpers = last || database.size_bytes >= kBigDatabaseBytes ? free_workers - 1 : 0;
      if (!StartDatabase(run, database, Min(helpers, kMaxWorkers - 1))) {
        any_failed = true;
        break;  // no worker slot now: the next database once one of ours stops
      }
      free_workers = Max(control::g_max_workers, 1) - RunningWorkers();
      ReportActivity(run);
    }
    if (next >= databases.count && free_workers > 0 && !run->cancelled)
      FeedHelpers(run, free_workers);
    g_next_database = next;
    if (g_scan_due || g_active_count == 0) PublishProgress(run);
    if (next >= databases.count && g_active_count == 0) break;
    LogProgress(run, false);
    // Nothing of ours runs (no slot was free): try the next database now.
    // A skipped look is taken at the end of its interval at the latest.
    if (g_active_count > 0) WaitForEvent(g_scan_due ? 1000 : ScanIntervalMs());
  }
  LogProgress(run, true);
  FinishRun(run, any_failed);
  if (run->request.schedule_name[0]) VerifyIfScheduled(run);
}

void Coordinate(Run *run) {
  DatabaseList databases{0, nullptr};
  volatile bool recorded = false;
  BeginWork();
  PG_TRY();
  {
    recorded = RecordRun(run, &databases);
    EndWork();
  }
  PG_CATCH();
  {
    // The copy must outlive the transaction we are about to abort.
    MemoryContextSwitchTo(TopMemoryContext);
    ErrorData *error = CopyErrorData();
    FlushErrorState();
    AbortCurrentTransaction();
    MemoryContextSwitchTo(TopMemoryContext);
    FailRun(run, error, false);
  }
  PG_END_TRY();
  Shared()->runs[run->slot].recorded = true;
  Broadcast(run);
  if (!recorded) return;

  // An ERROR from here on (a history write, shared memory, the target) is
  // what happened to the run: recorded as its failure, rather than left
  // 'running' for the launcher to settle as "the server stopped".
  PG_TRY();
  { ExportDatabases(run, databases); }
  PG_CATCH();
  {
    MemoryContextSwitchTo(TopMemoryContext);
    ErrorData *error = CopyErrorData();
    FlushErrorState();
    AbortCurrentTransaction();
    MemoryContextSwitchTo(TopMemoryContext);
    CancelCurrentDatabases();
    FailRun(run, error, true);
  }
  PG_END_TRY();
  pgstat_report_activity(STATE_IDLE, nullptr);
}

int g_slot_index = -1;

void OnCoordinatorExit(int, Datum) {
  // Whatever ends the coordinator ends its workers too.
  CancelCurrentDatabases();
  SharedState *shared = Shared();
  if (!shared || g_slot_index < 0) return;
  RunSlot *slot = &shared->runs[g_slot_index];
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  slot->finished = true;
  slot->in_use = false;
  slot->coordinator_latch = nullptr;
  LWLockRelease(shared->lock);
  ConditionVariableBroadcast(&slot->changed);
  WakeLauncher();
}

}  // namespace
}  // namespace cdw::bgworker::coordinator

extern "C" void cdw_backup_run_coordinator(Datum slot_index) {
  using namespace cdw::bgworker;
  using namespace cdw::bgworker::coordinator;
  pqsignal(SIGTERM, die);
  BackgroundWorkerUnblockSignals();
  int index = DatumGetInt32(slot_index);
  SharedState *shared = Shared();
  RunSlot *slot = &shared->runs[index];
  int64 run_id;
  memcpy(&run_id, MyBgworkerEntry->bgw_extra, sizeof run_id);
  if (!slot->in_use || slot->request.run_id != run_id) proc_exit(0);
  g_slot_index = index;
  before_shmem_exit(OnCoordinatorExit, 0);
  Run *run = static_cast<Run *>(MemoryContextAllocZero(TopMemoryContext, sizeof(Run)));
  run->request = slot->request;
  run->slot = index;
  slot->coordinator_pid = MyProcPid;
  slot->coordinator_latch = MyLatch;
  UseRunRateLimit(run_id);  // the run index and what settling a failure removes
  BackgroundWorkerInitializeConnection(cdw::control::g_home_database, nullptr, 0);
  pgstat_report_appname(psprintf("cdw_backup run %lld", static_cast<long long>(run_id)));
  Coordinate(run);
  proc_exit(0);
}
