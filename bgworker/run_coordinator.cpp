// The coordinator of one run: a dynamic background worker connected to the
// home database. It records the run (so the run exists whatever the
// caller's transaction does), then exports the databases one after the
// other through database workers (database_worker.cpp), turning what they
// report in shared memory into history rows as tables finish.
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

#include <vector>

#include "bgworker/database_job.h"
#include "bgworker/run_coordinator.h"
#include "bgworker/scheduler.h"
#include "bgworker/shared_state.h"
#include "extension/control/settings.h"
#include "extension/control/spi_util.h"
#include "extension/pg/cpp_boundary.h"
#include "extension/pg/open_store.h"
#include "format/layout.h"
#include "manifest/json_writer.h"
#include "storage/store_factory.h"

namespace cdw::bgworker {
namespace {

using control::SpiRun;
using control::SpiText;

// The database being exported and its workers, for the exit callback.
DatabaseJob *g_current_job = nullptr;
std::vector<BackgroundWorkerHandle *> g_current_workers;

void BeginWork() {
  SetCurrentStatementStartTimestamp();
  StartTransactionCommand();
  SPI_connect();
  PushActiveSnapshot(GetTransactionSnapshot());
}

void EndWork() {
  SPI_finish();
  PopActiveSnapshot();
  CommitTransactionCommand();
}

Datum Text(const char *s) {
  return CStringGetTextDatum(s ? s : "");
}

// Everything the coordinator knows about the run.
struct Run {
  RunRequest request;
  int slot;
  char *location;       // target root
  char *store_options;  // "key\tvalue\n"
  char *secret_id;
  char *secret_key;
  char *session_token;
  char *run_prefix;  // key of the run on the target
  bool cancelled;
};

struct DatabaseToRun {
  Oid oid;
  char *name;
};

void Broadcast(Run *run) {
  ConditionVariableBroadcast(&Shared()->runs[run->slot].changed);
}

bool CancelRequested(Run *run) {
  if (Shared()->runs[run->slot].cancel_requested) run->cancelled = true;
  return run->cancelled;
}

char *Url(Run *run, const char *key) {
  const char *root = run->location;
  size_t len = strlen(root);
  return psprintf("%s%s%s", root, (len > 0 && root[len - 1] == '/') ? "" : "/", key);
}

void RecordDatabase(Run *run, const char *database, const char *status, int tables,
                    const char *location, const char *manifest, const char *sqlstate,
                    const char *error, const char *hint) {
  Oid types[9] = {INT8OID, NAMEOID, TEXTOID, INT4OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
  Datum values[9] = {Int64GetDatum(run->request.run_id),
                     DirectFunctionCall1(namein, CStringGetDatum(database)),
                     Text(status),
                     Int32GetDatum(tables),
                     Text(location),
                     Text(manifest),
                     Text(sqlstate),
                     Text(error),
                     Text(hint)};
  char nulls[10] = "         ";
  if (!location) nulls[4] = 'n';
  if (!manifest) nulls[5] = 'n';
  if (!sqlstate) nulls[6] = 'n';
  if (!error) nulls[7] = 'n';
  if (!hint) nulls[8] = 'n';
  SpiRun(
      "INSERT INTO cdw_backup.run_databases AS d (run_id, database, status, tables_total, "
      "location, "
      "manifest, sqlstate, error, hint, started_at, finished_at) VALUES ($1, $2, $3, $4, $5, $6, "
      "$7, $8, "
      "$9, CASE WHEN $3 = 'running' THEN now() END, CASE WHEN $3 NOT IN ('pending', 'running') "
      "THEN "
      "clock_timestamp() END) ON CONFLICT (run_id, database) DO UPDATE SET status = "
      "excluded.status, "
      "tables_total = excluded.tables_total, location = coalesce(excluded.location, d.location), "
      "manifest = excluded.manifest, sqlstate = excluded.sqlstate, error = excluded.error, "
      "hint = excluded.hint, started_at = coalesce(d.started_at, excluded.started_at), "
      "finished_at = excluded.finished_at",
      9, types, values, nulls);
}

// Phase A: the runs row, the target, the databases. Committed before
// cdw_backup_run() returns.
bool RecordRun(Run *run, std::vector<DatabaseToRun> *databases) {
  const RunRequest &req = run->request;
  Oid types[6] = {INT8OID, TEXTOID, TEXTOID, NAMEOID, TEXTOID, TIMESTAMPTZOID};
  Datum values[6] = {
      Int64GetDatum(req.run_id), Text(req.schedule_name),
      Text(req.target),          DirectFunctionCall1(namein, CStringGetDatum(req.role_name)),
      Text(req.compression),     TimestampTzGetDatum(control::SchedulerNow())};
  char nulls[7] = "      ";
  if (!req.schedule_name[0]) nulls[1] = 'n';
  SpiRun(
      "INSERT INTO cdw_backup.runs (run_id, schedule_name, target, role_name, status, compression, "
      "started_at) VALUES ($1, $2, $3, $4, 'running', $5, $6)",
      6, types, values, nulls);

  SpiRun(
      "SELECT location, secret_id, secret_key, session_token, "
      "(SELECT string_agg(key || E'\\t' || value, E'\\n') FROM jsonb_each_text(options)) "
      "FROM cdw_backup.target_store WHERE name = $1",
      1, &types[2], &values[2], nullptr);
  if (SPI_processed == 0)
    ereport(ERROR,
            (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("target \"%s\" does not exist", req.target),
             errhint("SELECT cdw_backup_add_target('%s', 'file:///var/backups/pg');", req.target)));
  MemoryContext spi_context = MemoryContextSwitchTo(TopMemoryContext);
  run->location = pstrdup(SpiText(0, 1));
  char *id = SpiText(0, 2), *key = SpiText(0, 3), *token = SpiText(0, 4), *options = SpiText(0, 5);
  run->secret_id = pstrdup(id ? id : "");
  run->secret_key = pstrdup(key ? key : "");
  run->session_token = pstrdup(token ? token : "");
  run->store_options = pstrdup(options ? options : "");
  MemoryContextSwitchTo(spi_context);

  bool needs_credentials = pg::CallCpp([&] { return LocationNeedsCredentials(run->location); });
  if (!needs_credentials && !has_privs_of_role(req.role_id, ROLE_PG_WRITE_SERVER_FILES))
    ereport(ERROR,
            (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
             errmsg("role %s may not write to target \"%s\"", req.role_name, req.target),
             errdetail("Writing server files through a file:// location requires superuser or "
                       "pg_write_server_files."),
             errhint("GRANT pg_write_server_files TO %s;", quote_identifier(req.role_name))));

  run->run_prefix = MemoryContextStrdup(
      TopMemoryContext,
      pg::CallCpp([&] { return pstrdup(RunPrefix(req.run_id, time(nullptr)).c_str()); }));

  // The databases: those that allow connections, not templates, narrowed by
  // databases / exclude_databases.
  Oid list_types[5] = {OIDOID, BOOLOID, TEXTARRAYOID, BOOLOID, TEXTARRAYOID};
  Datum list_values[5] = {
      ObjectIdGetDatum(req.role_id), BoolGetDatum(req.has_databases),
      req.has_databases ? OidInputFunctionCall(F_ARRAY_IN, pstrdup(req.databases), TEXTOID, -1)
                        : (Datum)0,
      BoolGetDatum(req.has_exclude),
      req.has_exclude ? OidInputFunctionCall(F_ARRAY_IN, pstrdup(req.exclude), TEXTOID, -1)
                      : (Datum)0};
  char list_nulls[6] = "     ";
  if (!req.has_databases) list_nulls[2] = 'n';
  if (!req.has_exclude) list_nulls[4] = 'n';
  SpiRun(
      "WITH wanted AS ("
      "  SELECT d.oid, d.datname::text AS name, d.datallowconn, d.datistemplate,"
      "         has_database_privilege($1, d.oid, 'CONNECT') AS can_connect, true AS found"
      "    FROM pg_database d"
      "   WHERE ($2 AND d.datname = ANY ($3)) OR (NOT $2 AND d.datallowconn AND NOT "
      "d.datistemplate)"
      "  UNION ALL"
      "  SELECT 0, w, false, false, false, false FROM unnest($3) w"
      "   WHERE $2 AND NOT EXISTS (SELECT FROM pg_database d WHERE d.datname = w))"
      " SELECT oid, name, datallowconn, can_connect, found, datistemplate FROM wanted"
      "  WHERE NOT $4 OR name <> ALL ($5) ORDER BY name",
      5, list_types, list_values, list_nulls);
  int count = static_cast<int>(SPI_processed);
  struct Candidate {
    Oid oid;
    char *name;
    bool allow, connect, found, is_template;
  };
  std::vector<Candidate> candidates;
  for (int i = 0; i < count; i++) {
    Candidate c;
    c.oid = static_cast<Oid>(strtoul(SpiText(i, 1), nullptr, 10));
    c.name = MemoryContextStrdup(TopMemoryContext, SpiText(i, 2));
    c.allow = strcmp(SpiText(i, 3), "t") == 0;
    c.connect = strcmp(SpiText(i, 4), "t") == 0;
    c.found = strcmp(SpiText(i, 5), "t") == 0;
    c.is_template = strcmp(SpiText(i, 6), "t") == 0;
    candidates.push_back(c);
  }
  Datum *names = static_cast<Datum *>(palloc(sizeof(Datum) * Max(candidates.size(), size_t{1})));
  int name_count = 0;
  for (const auto &c : candidates) {
    names[name_count++] = CStringGetTextDatum(c.name);
    char *location =
        Url(run, psprintf("%s%s", run->run_prefix,
                          pg::CallCpp([&] { return pstrdup(DatabasePrefix(c.name).c_str()); })));
    const char *role = quote_identifier(req.role_name);
    const char *db = quote_identifier(c.name);
    if (!c.found) {
      RecordDatabase(run, c.name, "failed", 0, nullptr, nullptr, "3D000",
                     psprintf("database \"%s\" does not exist", c.name),
                     "SELECT datname FROM pg_database; lists the databases.");
    } else if (c.is_template) {
      RecordDatabase(run, c.name, "failed", 0, nullptr, nullptr, "22023",
                     psprintf("database \"%s\" is a template", c.name),
                     "Templates are not backed up; remove it from databases.");
    } else if (!c.allow) {
      RecordDatabase(run, c.name, "failed", 0, nullptr, nullptr, "55000",
                     psprintf("database \"%s\" does not allow connections", c.name),
                     psprintf("ALTER DATABASE %s ALLOW_CONNECTIONS true;", db));
    } else if (!c.connect) {
      RecordDatabase(run, c.name, "failed", 0, location, nullptr, "42501",
                     psprintf("permission denied for database %s", c.name),
                     psprintf("GRANT CONNECT ON DATABASE %s TO %s;", db, role));
    } else {
      RecordDatabase(run, c.name, "pending", 0, location, nullptr, nullptr, nullptr, nullptr);
      databases->push_back({c.oid, c.name});
    }
  }
  Oid update_types[3] = {INT8OID, TEXTARRAYOID, TEXTOID};
  Datum update_values[3] = {
      Int64GetDatum(req.run_id),
      PointerGetDatum(construct_array(names, name_count, TEXTOID, -1, false, TYPALIGN_INT)),
      Text(Url(run, run->run_prefix))};
  SpiRun("UPDATE cdw_backup.runs SET databases = $2, location = $3 WHERE run_id = $1", 3,
         update_types, update_values, nullptr);
  return true;
}

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

// Writes finished tables into run_tables; `final` also settles tables no
// worker finished.
void SyncTables(Run *run, DatabaseJob *job, TableList *tables, std::vector<bool> *recorded,
                bool final, const char *database) {
  bool started = false;
  for (int i = 0; i < tables->count; i++) {
    if ((*recorded)[i]) continue;
    TableEntry *entry = &tables->entries[i];
    if (entry->range_index != 0) continue;  // recorded with its range 0
    pg_read_barrier();
    // A split table is one history row, settled when all its ranges are.
    TableOutcome outcome = CombineRanges(entry);
    TableStatus status = outcome.status;
    const TableEntry *reason = outcome.failed ? outcome.failed : entry;
    const char *error = reason->error[0] ? reason->error : nullptr;
    const char *hint = reason->hint[0] ? reason->hint : nullptr;
    const char *sqlstate = reason->sqlstate[0] ? reason->sqlstate : nullptr;
    if (status == TableStatus::kPending || status == TableStatus::kRunning) {
      if (!final) continue;
      if (run->cancelled || job->cancel) {
        status = TableStatus::kCancelled;
        sqlstate = "57014";
        error = "the run was cancelled before this table was backed up";
        hint = nullptr;
      } else {
        status = TableStatus::kFailed;
        sqlstate = "XX000";
        error = job->error[0] ? psprintf("the database worker stopped: %s", job->error)
                              : "the database worker stopped before backing up this table";
        hint = "See the server log for why the worker stopped.";
      }
    } else if (final && status == TableStatus::kSucceeded &&
               (job->phase == static_cast<int>(JobPhase::kFailed) || !job->manifest_written)) {
      // Without its manifest the database's backup is incomplete.
      status = TableStatus::kFailed;
      sqlstate = job->sqlstate[0] ? job->sqlstate : "XX000";
      error = psprintf("the backup of database %s is incomplete: %s", database,
                       job->error[0] ? job->error : "its manifest was not written");
      hint = "See cdw_backup.run_databases and the server log.";
    }
    if (!started) {
      BeginWork();
      started = true;
    }
    char *location = Url(
        run, psprintf("%s%s", job->database_prefix, pg::CallCpp([&] {
                        return pstrdup(TablePrefix(entry->schema_name, entry->table_name).c_str());
                      })));
    Oid types[14] = {INT8OID, NAMEOID, NAMEOID,        NAMEOID,        TEXTOID, INT8OID, INT8OID,
                     INT8OID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID};
    Datum values[14] = {
        Int64GetDatum(run->request.run_id),
        DirectFunctionCall1(namein, CStringGetDatum(database)),
        DirectFunctionCall1(namein, CStringGetDatum(entry->schema_name)),
        DirectFunctionCall1(namein, CStringGetDatum(entry->table_name)),
        Text(TableStatusName(status)),
        Int64GetDatum(outcome.rows),
        Int64GetDatum(outcome.bytes_raw),
        Int64GetDatum(outcome.bytes_stored),
        Text(location),
        TimestampTzGetDatum(outcome.started_at),
        TimestampTzGetDatum(outcome.finished_at ? outcome.finished_at : GetCurrentTimestamp()),
        Text(error),
        Text(hint),
        Text(sqlstate)};
    char nulls[15] = "              ";
    if (status != TableStatus::kSucceeded) nulls[5] = nulls[6] = nulls[7] = 'n';
    if (!outcome.started_at) nulls[9] = 'n';
    if (!error) nulls[11] = 'n';
    if (!hint) nulls[12] = 'n';
    if (!sqlstate || status == TableStatus::kSucceeded) nulls[13] = 'n';
    SpiRun(
        "UPDATE cdw_backup.run_tables SET status = $5, rows = $6, bytes_raw = $7, bytes_stored = "
        "$8, "
        "location = $9, started_at = $10, finished_at = $11, error = $12, hint = $13, sqlstate = "
        "$14 "
        "WHERE run_id = $1 AND database = $2 AND schema_name = $3 AND table_name = $4",
        14, types, values, nulls);
    for (int r = 0; r < entry->range_count; r++) (*recorded)[i + r] = true;
  }
  if (started) EndWork();
}

void InsertPendingTables(Run *run, TableList *tables, const char *database) {
  BeginWork();
  Datum *schemas = static_cast<Datum *>(palloc(sizeof(Datum) * Max(tables->count, 1)));
  Datum *names = static_cast<Datum *>(palloc(sizeof(Datum) * Max(tables->count, 1)));
  int count = 0;
  for (int i = 0; i < tables->count; i++) {
    if (tables->entries[i].range_index != 0) continue;
    schemas[count] = CStringGetTextDatum(tables->entries[i].schema_name);
    names[count++] = CStringGetTextDatum(tables->entries[i].table_name);
  }
  Oid types[4] = {INT8OID, NAMEOID, TEXTARRAYOID, TEXTARRAYOID};
  Datum values[4] = {
      Int64GetDatum(run->request.run_id), DirectFunctionCall1(namein, CStringGetDatum(database)),
      PointerGetDatum(construct_array(schemas, count, TEXTOID, -1, false, TYPALIGN_INT)),
      PointerGetDatum(construct_array(names, count, TEXTOID, -1, false, TYPALIGN_INT))};
  SpiRun(
      "INSERT INTO cdw_backup.run_tables (run_id, database, schema_name, table_name, status) "
      "SELECT $1, $2, s, t, 'pending' FROM unnest($3::text[], $4::text[]) AS u(s, t)",
      4, types, values, nullptr);
  Oid db_types[3] = {INT8OID, NAMEOID, INT4OID};
  Datum db_values[3] = {values[0], values[1], Int32GetDatum(count)};
  SpiRun(
      "UPDATE cdw_backup.run_databases SET tables_total = $3 WHERE run_id = $1 AND database = $2",
      3, db_types, db_values, nullptr);
  EndWork();
}

void WaitForEvent(long timeout_ms) {
  (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, timeout_ms,
                  PG_WAIT_EXTENSION);
  ResetLatch(MyLatch);
  CHECK_FOR_INTERRUPTS();
}

bool AllStopped(const std::vector<BackgroundWorkerHandle *> &workers) {
  for (auto *worker : workers)
    if (!Stopped(worker)) return false;
  return true;
}

// Exports one database; returns its final status.
const char *RunDatabase(Run *run, const DatabaseToRun &database) {
  BeginWork();
  RecordDatabase(run, database.name, "running", 0, nullptr, nullptr, nullptr, nullptr, nullptr);
  EndWork();

  dsm_segment *segment = dsm_create(sizeof(DatabaseJob), 0);
  auto *job = static_cast<DatabaseJob *>(dsm_segment_address(segment));
  memset(job, 0, sizeof *job);
  job->run_id = run->request.run_id;
  job->database_id = database.oid;
  job->role_id = run->request.role_id;
  strlcpy(job->database, database.name, sizeof job->database);
  strlcpy(job->compression, run->request.compression, sizeof job->compression);
  strlcpy(job->location, run->location, sizeof job->location);
  strlcpy(job->store_options, run->store_options, sizeof job->store_options);
  strlcpy(job->secret_id, run->secret_id, sizeof job->secret_id);
  strlcpy(job->secret_key, run->secret_key, sizeof job->secret_key);
  strlcpy(job->session_token, run->session_token, sizeof job->session_token);
  char *database_prefix =
      pg::CallCpp([&] { return pstrdup(DatabasePrefix(database.name).c_str()); });
  snprintf(job->database_prefix, sizeof job->database_prefix, "%s%s", run->run_prefix,
           database_prefix);
  job->coordinator_latch = MyLatch;
  SpinLockInit(&job->mutex);
  pg_atomic_init_u32(&job->next_table, 0);
  // Helpers start together with the leader, so their start-up overlaps the
  // listing; counted before the leader starts, so it always waits for them.
  int helpers = Max(control::g_max_workers - 1, 0);
  pg_atomic_init_u32(&job->helpers_active, static_cast<uint32>(helpers));
  ConditionVariableInit(&job->workers_changed);

  std::vector<BackgroundWorkerHandle *> &workers = g_current_workers;
  workers.clear();
  g_current_job = job;
  BackgroundWorkerHandle *leader = StartDatabaseWorker(run, segment, database.name, true);
  if (!leader) {
    g_current_job = nullptr;
    dsm_detach(segment);
    BeginWork();
    RecordDatabase(run, database.name, "failed", 0, nullptr, nullptr, "53000",
                   "no background worker slot is free for the database worker",
                   "Increase max_worker_processes (cdw_backup needs cdw_backup.max_workers + 2).");
    EndWork();
    return "failed";
  }
  workers.push_back(leader);
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
    workers.push_back(helper);
  }

  // Wait for the table list.
  while (job->phase == static_cast<int>(JobPhase::kStarting) && !Stopped(leader)) {
    if (CancelRequested(run) && !job->cancel) {
      job->cancel = true;
      TerminateBackgroundWorker(leader);
    }
    WaitForEvent(1000);
  }
  TableList *tables = nullptr;
  dsm_segment *tables_segment = nullptr;
  if (job->phase == static_cast<int>(JobPhase::kListed) ||
      (job->phase == static_cast<int>(JobPhase::kDone))) {
    tables_segment = dsm_attach(job->tables_handle);
    if (tables_segment) tables = static_cast<TableList *>(dsm_segment_address(tables_segment));
  }
  std::vector<bool> recorded;
  if (tables) {
    recorded.assign(tables->count, false);
    // The workers export while the pending history rows of every table
    // (10,000 of them in a big database) are written.
    InsertPendingTables(run, tables, database.name);
    for (;;) {
      if (CancelRequested(run) && !job->cancel) {
        job->cancel = true;
        for (auto *worker : workers) TerminateBackgroundWorker(worker);
      }
      SyncTables(run, job, tables, &recorded, false, database.name);
      if (AllStopped(workers)) break;
      WaitForEvent(1000);
    }
    SyncTables(run, job, tables, &recorded, true, database.name);
  } else {
    // The leader stopped before listing tables; the helpers see it fail.
    while (!AllStopped(workers)) WaitForEvent(1000);
  }

  const char *status = "succeeded";
  int failed = 0, total = 0;
  for (int i = 0; tables && i < tables->count; i++) {
    if (tables->entries[i].range_index != 0) continue;
    total++;
    if (CombineRanges(&tables->entries[i]).status != TableStatus::kSucceeded) failed++;
  }
  const char *sqlstate = job->sqlstate[0] ? job->sqlstate : nullptr;
  const char *error = job->error[0] ? job->error : nullptr;
  const char *hint = job->hint[0] ? job->hint : nullptr;
  if (run->cancelled) {
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
  } else if (!job->manifest_written) {
    status = "failed";
    sqlstate = "XX000";
    error = "the database manifest was not written";
    hint = "See the server log.";
  } else if (failed > 0) {
    status = failed == total ? "failed" : "partial";
  }
  char *manifest = job->manifest_written
                       ? Url(run, psprintf("%s%s", job->database_prefix, kManifestName))
                       : nullptr;
  BeginWork();
  RecordDatabase(run, database.name, status, total, nullptr, manifest, sqlstate, error, hint);
  EndWork();
  g_current_job = nullptr;
  workers.clear();
  if (tables_segment) dsm_detach(tables_segment);
  dsm_detach(segment);
  return status;
}

// The run's entry in the target's "_runs/" index (see format/layout.h).
// The run is complete without it, so a failure is a WARNING.
void WriteRunIndex(Run *run) {
  BeginWork();
  Oid types[1] = {INT8OID};
  Datum values[1] = {Int64GetDatum(run->request.run_id)};
  SpiRun(
      "SELECT r.status, r.started_at::text, r.finished_at::text, d.database, d.status, "
      "d.tables_total,"
      "  (SELECT coalesce(sum(t.rows), 0) FROM cdw_backup.run_tables t WHERE t.run_id = d.run_id "
      "AND"
      "     t.database = d.database), "
      "  (SELECT coalesce(sum(t.bytes_stored), 0) FROM cdw_backup.run_tables t WHERE t.run_id = "
      "d.run_id"
      "     AND t.database = d.database), d.manifest IS NOT NULL, r.compression, r.schedule_name"
      " FROM cdw_backup.runs r JOIN cdw_backup.run_databases d USING (run_id)"
      " WHERE r.run_id = $1 ORDER BY d.database",
      1, types, values, nullptr);
  int rows = static_cast<int>(SPI_processed);
  // The cells live in SPI's memory: the object is written before EndWork().
  char ***cells = control::SpiTextRows();
  pg::PendingError pending;
  try {
    JsonWriter json;
    json.BeginObject();
    json.Key("format_version").Int(1);
    json.Key("run_id").Int(run->request.run_id);
    json.Key("path").String(run->run_prefix);
    if (rows > 0) {
      json.Key("status").String(cells[0][0]);
      json.Key("started_at").String(cells[0][1] ? cells[0][1] : "");
      json.Key("finished_at").String(cells[0][2] ? cells[0][2] : "");
      json.Key("compression").String(cells[0][9] ? cells[0][9] : "");
      if (cells[0][10]) json.Key("schedule").String(cells[0][10]);
    }
    json.Key("databases").BeginArray();
    for (int i = 0; i < rows; i++) {
      json.BeginObject();
      json.Key("name").String(cells[i][3]);
      json.Key("path").String(DatabasePrefix(cells[i][3]));
      json.Key("status").String(cells[i][4]);
      json.Key("tables").Int(atoll(cells[i][5]));
      json.Key("rows").Int(atoll(cells[i][6]));
      json.Key("bytes_stored").Int(atoll(cells[i][7]));
      json.Key("manifest").Bool(strcmp(cells[i][8], "t") == 0);
      json.EndObject();
    }
    json.EndArray();
    json.EndObject();
    auto store = pg::OpenTargetStore(run->location, run->store_options, run->secret_id,
                                     run->secret_key, run->session_token);
    auto writer = store->Create(RunIndexKey(run->run_prefix));
    writer->Write(json.str().data(), json.str().size());
    writer->Finish();
    writer->Commit();
  } catch (...) {
    pg::CapturePendingError(&pending);
  }
  if (pending.set && !pending.interrupted && !pending.pg_error)
    ereport(WARNING, (errmsg("cdw_backup run %lld: could not write the run index: %s",
                             static_cast<long long>(run->request.run_id),
                             pending.message ? pending.message : "out of memory")));
  else if (pending.set)
    pg::RaisePendingError(&pending);
  EndWork();
}

void FinishRun(Run *run, bool any_failed_database) {
  BeginWork();
  // runs.started_at / finished_at use the launcher's clock, which schedules,
  // retention and max_run_time compare them with (see SchedulerNow()).
  Oid types[4] = {INT8OID, BOOLOID, BOOLOID, TIMESTAMPTZOID};
  Datum values[4] = {Int64GetDatum(run->request.run_id), BoolGetDatum(run->cancelled),
                     BoolGetDatum(any_failed_database),
                     TimestampTzGetDatum(control::SchedulerNow())};
  SpiRun(
      "WITH t AS (SELECT count(*) AS total, count(*) FILTER (WHERE status = 'succeeded') AS ok,"
      "                  count(*) FILTER (WHERE status <> 'succeeded') AS bad,"
      "                  coalesce(sum(rows), 0) AS rows, coalesce(sum(bytes_raw), 0) AS raw,"
      "                  coalesce(sum(bytes_stored), 0) AS stored"
      "             FROM cdw_backup.run_tables WHERE run_id = $1),"
      "     d AS (SELECT count(*) FILTER (WHERE status <> 'succeeded') AS bad,"
      "                  (array_agg(format('database %s: %s', database, error) ORDER BY database)"
      "                     FILTER (WHERE error IS NOT NULL))[1] AS error,"
      "                  (array_agg(hint ORDER BY database) FILTER (WHERE error IS NOT NULL))[1] "
      "AS hint"
      "             FROM cdw_backup.run_databases WHERE run_id = $1)"
      " UPDATE cdw_backup.runs r SET finished_at = $4,"
      "   tables_total = t.total, tables_succeeded = t.ok, tables_failed = t.bad,"
      "   rows = t.rows, bytes_raw = t.raw, bytes_stored = t.stored,"
      "   error = coalesce(r.error, d.error), hint = coalesce(r.hint, d.hint),"
      "   status = CASE WHEN $2 THEN 'cancelled'"
      "                 WHEN t.bad = 0 AND d.bad = 0 AND NOT $3 THEN 'succeeded'"
      "                 WHEN t.ok = 0 THEN 'failed' ELSE 'partial' END"
      "  FROM t, d WHERE r.run_id = $1"
      " RETURNING r.status, r.tables_total, r.tables_succeeded, r.tables_failed, r.rows, "
      "r.bytes_stored,"
      "   json_build_object('run_id', r.run_id, 'schedule', r.schedule_name, 'status', "
      "r.status)::text",
      4, types, values, nullptr);
  char *status = SpiText(0, 1);
  ereport(LOG,
          (errmsg("cdw_backup run %lld %s: %s tables, %s succeeded, %s failed, %s rows, %s bytes "
                  "stored",
                  static_cast<long long>(run->request.run_id), status, SpiText(0, 2), SpiText(0, 3),
                  SpiText(0, 4), SpiText(0, 5), SpiText(0, 6))));
  Async_Notify("cdw_backup", SpiText(0, 7));
  EndWork();
  WriteRunIndex(run);
}

// Schedules with verify => true: every backup is re-read and checked right
// after it is written (cdw_backup_verify), and the outcome recorded on the
// run. A verification that cannot run is recorded, never fatal.
void VerifyIfScheduled(Run *run) {
  BeginWork();
  Oid types[2] = {TEXTOID, INT8OID};
  Datum values[2] = {Text(run->request.schedule_name), Int64GetDatum(run->request.run_id)};
  SpiRun(
      "SELECT FROM cdw_backup.schedule_store s JOIN cdw_backup.runs r ON r.run_id = $2 "
      "WHERE s.name = $1 AND s.verify AND r.status IN ('succeeded', 'partial')",
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
    SpiRun(
        "SELECT count(*) FILTER (WHERE status = 'problem'), "
        " string_agg(format('%s.%s.%s: %s', database, schema_name, table_name, "
        "   coalesce(problem, status)), '; ') FILTER (WHERE status = 'problem') "
        "FROM cdw_backup_verify($2)",
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
  Oid update_types[3] = {INT8OID, TEXTOID, TEXTOID};
  Datum update_values[3] = {Int64GetDatum(run->request.run_id), Text(status), Text(detail)};
  char nulls[4] = "   ";
  if (!detail) nulls[2] = 'n';
  SpiRun("UPDATE cdw_backup.runs SET verify_status = $2, verify_detail = $3 WHERE run_id = $1", 3,
         update_types, update_values, nulls);
  EndWork();
  ereport(
      strcmp(status, "ok") == 0 ? LOG : WARNING,
      (errmsg("cdw_backup run %lld verified: %s%s%s", static_cast<long long>(run->request.run_id),
              status, detail ? ": " : "", detail ? detail : "")));
}

void FailRun(Run *run, ErrorData *error) {
  BeginWork();
  Oid types[4] = {INT8OID, TEXTOID, TEXTOID, TIMESTAMPTZOID};
  Datum values[4] = {Int64GetDatum(run->request.run_id), Text(error->message), Text(error->hint),
                     TimestampTzGetDatum(control::SchedulerNow())};
  char nulls[5] = "    ";
  if (!error->hint) nulls[2] = 'n';
  SpiRun(
      "UPDATE cdw_backup.runs SET status = 'failed', error = $2, hint = $3, "
      "finished_at = $4 WHERE run_id = $1",
      4, types, values, nulls);
  if (SPI_processed == 0) {
    Oid insert_types[7] = {INT8OID, TEXTOID, NAMEOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID};
    Datum insert_values[7] = {Int64GetDatum(run->request.run_id),
                              Text(run->request.target),
                              DirectFunctionCall1(namein, CStringGetDatum(run->request.role_name)),
                              Text(run->request.compression),
                              Text(error->message),
                              Text(error->hint),
                              values[3]};
    char insert_nulls[8] = "       ";
    if (!error->hint) insert_nulls[5] = 'n';
    SpiRun(
        "INSERT INTO cdw_backup.runs (run_id, target, role_name, compression, status, error, hint, "
        "started_at, finished_at) VALUES ($1, $2, $3, $4, 'failed', $5, $6, $7, $7)",
        7, insert_types, insert_values, insert_nulls);
  }
  Async_Notify("cdw_backup", psprintf("{\"run_id\": %lld, \"status\": \"failed\"}",
                                      static_cast<long long>(run->request.run_id)));
  ereport(LOG, (errmsg("cdw_backup run %lld failed: %s",
                       static_cast<long long>(run->request.run_id), error->message)));
  EndWork();
}

void Coordinate(Run *run) {
  std::vector<DatabaseToRun> databases;
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
    FailRun(run, error);
  }
  PG_END_TRY();
  Shared()->runs[run->slot].recorded = true;
  Broadcast(run);
  if (!recorded) return;

  bool any_failed = false;
  for (const auto &database : databases) {
    if (CancelRequested(run)) {
      BeginWork();
      RecordDatabase(run, database.name, "cancelled", 0, nullptr, nullptr, "57014",
                     "the run was cancelled before this database was backed up", nullptr);
      EndWork();
      continue;
    }
    pgstat_report_activity(STATE_RUNNING,
                           psprintf("cdw_backup run %lld: database %s",
                                    static_cast<long long>(run->request.run_id), database.name));
    const char *status = RunDatabase(run, database);
    any_failed |= strcmp(status, "succeeded") != 0;
  }
  FinishRun(run, any_failed);
  if (run->request.schedule_name[0]) VerifyIfScheduled(run);
  pgstat_report_activity(STATE_IDLE, nullptr);
}

int g_slot_index = -1;

void OnCoordinatorExit(int, Datum) {
  // Whatever ends the coordinator ends its workers too.
  if (g_current_job) g_current_job->cancel = true;
  for (auto *worker : g_current_workers) TerminateBackgroundWorker(worker);
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

void StartRun(const RunRequest &request) {
  SharedState *shared = Shared();
  int index = -1;
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  for (int i = 0; i < kMaxActiveRuns; i++) {
    if (!shared->runs[i].in_use) {
      index = i;
      break;
    }
  }
  if (index >= 0) {
    RunSlot *slot = &shared->runs[index];
    slot->in_use = true;
    slot->request = request;
    slot->recorded = slot->finished = slot->cancel_requested = false;
    slot->coordinator_latch = nullptr;
    slot->coordinator_pid = 0;
  }
  LWLockRelease(shared->lock);
  if (index < 0)
    ereport(ERROR,
            (errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
             errmsg("too many cdw_backup runs in progress"),
             errdetail("At most %d runs can be active at the same time.", kMaxActiveRuns),
             errhint("Wait for a run to end: SELECT run_id FROM cdw_backup.runs WHERE status "
                     "= 'running';")));
  RunSlot *slot = &shared->runs[index];

  BackgroundWorkerHandle *handle = StartDynamicWorker(
      "cdw_backup_run_coordinator", "cdw_backup coordinator",
      psprintf("cdw_backup run %lld coordinator", static_cast<long long>(request.run_id)),
      Int32GetDatum(index), &request.run_id, sizeof request.run_id);
  pid_t pid;
  if (!handle || WaitForBackgroundWorkerStartup(handle, &pid) != BGWH_STARTED) {
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    slot->in_use = false;
    LWLockRelease(shared->lock);
    ereport(ERROR,
            (errcode(ERRCODE_INSUFFICIENT_RESOURCES),
             errmsg("could not start a background worker for the backup run"),
             errhint("Increase max_worker_processes (cdw_backup needs cdw_backup.max_workers "
                     "+ 2 workers per run) and restart the server.")));
  }
  ConditionVariablePrepareToSleep(&slot->changed);
  for (;;) {
    if (slot->recorded || !slot->in_use || slot->request.run_id != request.run_id) break;
    if (GetBackgroundWorkerPid(handle, &pid) == BGWH_STOPPED) break;
    ConditionVariableTimedSleep(&slot->changed, 1000, PG_WAIT_EXTENSION);
  }
  ConditionVariableCancelSleep();
  if (!slot->recorded) {
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    if (slot->in_use && slot->request.run_id == request.run_id) slot->in_use = false;
    LWLockRelease(shared->lock);
    ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
                    errmsg("the coordinator of backup run %lld stopped before recording the run",
                           static_cast<long long>(request.run_id)),
                    errhint("See the server log for the reason.")));
  }
}

char *WaitForRun(int64 run_id, long timeout_ms) {
  SharedState *shared = Shared();
  TimestampTz start = GetCurrentTimestamp();
  for (;;) {
    LWLockAcquire(shared->lock, LW_SHARED);
    int index = FindRunSlot(run_id);
    LWLockRelease(shared->lock);
    if (index < 0) break;
    long remaining = 1000;
    if (timeout_ms >= 0) {
      long elapsed = static_cast<long>((GetCurrentTimestamp() - start) / 1000);
      if (elapsed >= timeout_ms) return pstrdup("running");
      remaining = Min(remaining, timeout_ms - elapsed);
    }
    ConditionVariablePrepareToSleep(&shared->runs[index].changed);
    if (shared->runs[index].in_use && shared->runs[index].request.run_id == run_id &&
        !shared->runs[index].finished)
      ConditionVariableTimedSleep(&shared->runs[index].changed, remaining, PG_WAIT_EXTENSION);
    ConditionVariableCancelSleep();
    CHECK_FOR_INTERRUPTS();
  }
  SPI_connect();
  // No coordinator holds the run any more: if its row still says running,
  // the coordinator died; settle it as the launcher would.
  SettleOrphanedRuns();
  control::SavedUser saved = control::BecomeExtensionOwner();
  Oid types[1] = {INT8OID};
  Datum values[1] = {Int64GetDatum(run_id)};
  SpiRun("SELECT status FROM cdw_backup.runs WHERE run_id = $1", 1, types, values, nullptr);
  char *status = SpiText(0, 1);
  MemoryContext outer = MemoryContextSwitchTo(TopTransactionContext);
  char *result = status ? pstrdup(status) : nullptr;
  MemoryContextSwitchTo(outer);
  control::RestoreUser(saved);
  SPI_finish();
  if (!result)
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                    errmsg("backup run %lld does not exist", static_cast<long long>(run_id)),
                    errhint("SELECT run_id, status FROM cdw_backup.runs ORDER BY run_id DESC;")));
  return result;
}

}  // namespace cdw::bgworker

extern "C" void cdw_backup_run_coordinator(Datum slot_index) {
  using namespace cdw::bgworker;
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
  BackgroundWorkerInitializeConnection(cdw::control::g_home_database, nullptr, 0);
  pgstat_report_appname(psprintf("cdw_backup run %lld", static_cast<long long>(run_id)));
  Coordinate(run);
  proc_exit(0);
}
