// The history writer of a run's coordinator (see history.h).
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
#include "bgworker/run/history.h"
#include "bgworker/run/run_context.h"
#include "bgworker/run/run_index.h"
#include "bgworker/scheduler.h"
#include "bgworker/shared_state.h"
#include "extension/control/spi_util.h"
#include "extension/control/target_store.h"
#include "extension/pg/cpp_boundary.h"
#include "format/layout.h"
#include "storage/store_factory.h"

namespace cdw::bgworker::coordinator {

using control::SpiRun;
using control::SpiText;

void RecordDatabase(Run *run, const char *database, const char *status, int tables,
                    const char *location, const char *manifest, const char *sqlstate,
                    const char *error, const char *hint) {
  control::SpiParams params;
  params.Int8(run->request.run_id)
      .Name(database)
      .Text(status)
      .Int4(tables)
      .Text(location)
      .Text(manifest)
      .Text(sqlstate)
      .Text(error)
      .Text(hint);
  SpiRun(
      "INSERT INTO cdw_backup.run_databases AS d (run_id, database, status, tables_total, "
      "location, "
      "manifest, sqlstate, error, hint, started_at, finished_at) VALUES ($1, $2, $3, $4, $5, $6, "
      "$7, $8, "
      "$9, CASE WHEN $3 OPERATOR(pg_catalog.=) 'running' THEN pg_catalog.now() END, "
      "CASE WHEN $3 OPERATOR(pg_catalog.<>) ALL ('{pending,running}'::pg_catalog.text[]) "
      "THEN pg_catalog.clock_timestamp() END) ON CONFLICT (run_id, database) DO UPDATE SET status "
      "= "
      "excluded.status, "
      "tables_total = excluded.tables_total, location = coalesce(excluded.location, d.location), "
      "manifest = excluded.manifest, sqlstate = excluded.sqlstate, error = excluded.error, "
      "hint = excluded.hint, started_at = coalesce(d.started_at, excluded.started_at), "
      "finished_at = excluded.finished_at",
      params);
}

// Phase A: the runs row, the target, the databases. Committed before
// cdw_backup_run() returns.
bool RecordRun(Run *run, DatabaseList *databases) {
  const RunRequest &req = run->request;
  control::SpiParams params;
  params.Int8(req.run_id)
      .Text(req.schedule_name[0] ? req.schedule_name : nullptr)
      .Text(req.target)
      .Name(req.role_name)
      .Text(req.compression)
      .Timestamp(SchedulerNow());
  // The filters as the caller gave them (NULL for those not given).
  for (int kind = 0; kind < kFilterKinds; kind++) {
    const PatternList *list = &req.filters.lists[kind];
    Datum *patterns = static_cast<Datum *>(palloc(sizeof(Datum) * Max(list->count, 1)));
    for (int i = 0; i < list->count; i++) patterns[i] = CStringGetTextDatum(FilterPattern(list, i));
    params.Add(
        TEXTARRAYOID,
        PointerGetDatum(construct_array(patterns, list->count, TEXTOID, -1, false, TYPALIGN_INT)),
        list->count == 0);
  }
  SpiRun(
      "INSERT INTO cdw_backup.runs (run_id, schedule_name, target, role_name, status, compression, "
      "started_at, filters) VALUES ($1, $2, $3, $4, 'running', $5, $6, "
      " NULLIF(pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('tables', $7, "
      "  'exclude_tables', $8, 'schemas', $9, 'exclude_schemas', $10, 'exclude_table_data', $11)), "
      "  '{}'::pg_catalog.jsonb))",
      params);

  control::Target *target = control::FindTarget(req.target);
  if (!target)
    ereport(ERROR,
            (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("target \"%s\" does not exist", req.target),
             errhint("SELECT cdw_backup_add_target('%s', 'file:///var/backups/pg');", req.target)));
  run->location = MemoryContextStrdup(TopMemoryContext, target->location);
  run->secret_id = MemoryContextStrdup(TopMemoryContext, target->secret_id);
  run->secret_key = MemoryContextStrdup(TopMemoryContext, target->secret_key);
  run->session_token = MemoryContextStrdup(TopMemoryContext, target->session_token);
  run->sse_customer_key = MemoryContextStrdup(TopMemoryContext, target->sse_customer_key);
  run->store_options = MemoryContextStrdup(TopMemoryContext, target->options);
  run->manifest_key = MemoryContextStrdup(TopMemoryContext, target->manifest_key);
  run->encryption_keys = MemoryContextStrdup(TopMemoryContext, target->encryption_keys);

  bool needs_credentials = pg::CallCpp([&] { return LocationNeedsCredentials(run->location); });
  if (!needs_credentials && !has_privs_of_role(req.role_id, ROLE_PG_WRITE_SERVER_FILES))
    ereport(ERROR,
            (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
             errmsg("role %s may not write to target \"%s\"", req.role_name, req.target),
             errdetail("Writing server files through a file:// location requires superuser or "
                       "pg_write_server_files."),
             errhint("GRANT pg_write_server_files TO %s;", quote_identifier(req.role_name))));
  bool server_credentials = pg::CallCpp([&] {
    return needs_credentials && UsesServerCredentials(ParseStoreOptionLines(run->store_options));
  });
  if (server_credentials) control::RequireServerCredentialsPrivilege(req.role_id, req.target);

  run->run_prefix = MemoryContextStrdup(
      TopMemoryContext,
      pg::CallCpp([&] { return pg::PallocCopy(RunPrefix(req.run_id, time(nullptr))); }));

  // The databases: those that allow connections, not templates, narrowed by
  // databases / exclude_databases.
  control::SpiParams list;
  list.Add(OIDOID, ObjectIdGetDatum(req.role_id))
      .Bool(req.has_databases)
      .Add(TEXTARRAYOID,
           req.has_databases ? OidInputFunctionCall(F_ARRAY_IN, pstrdup(req.databases), TEXTOID, -1)
                             : (Datum)0,
           !req.has_databases)
      .Bool(req.has_exclude)
      .Add(TEXTARRAYOID,
           req.has_exclude ? OidInputFunctionCall(F_ARRAY_IN, pstrdup(req.exclude), TEXTOID, -1)
                           : (Datum)0,
           !req.has_exclude);
  SpiRun(
      "WITH wanted AS ("
      "  SELECT d.oid, d.datname::pg_catalog.text AS name, d.datallowconn, d.datistemplate,"
      "         pg_catalog.has_database_privilege($1, d.oid, 'CONNECT') AS can_connect,"
      "         true AS found,"
      "         CASE WHEN d.datallowconn AND NOT d.datistemplate"
      "              THEN pg_catalog.pg_database_size(d.oid) END AS size"
      "    FROM pg_catalog.pg_database d"
      "   WHERE ($2 AND d.datname OPERATOR(pg_catalog.=) ANY ($3))"
      "      OR (NOT $2 AND d.datallowconn AND NOT d.datistemplate)"
      "  UNION ALL"
      "  SELECT 0, w, false, false, false, false, NULL FROM pg_catalog.unnest($3) w"
      "   WHERE $2 AND NOT EXISTS (SELECT FROM pg_catalog.pg_database d"
      "                             WHERE d.datname OPERATOR(pg_catalog.=) w))"
      " SELECT oid, name, datallowconn, can_connect, found, datistemplate, size FROM wanted"
      "  WHERE NOT $4 OR name OPERATOR(pg_catalog.<>) ALL ($5) ORDER BY name",
      list);
  int count = static_cast<int>(SPI_processed);
  struct Candidate {
    Oid oid;
    char *name;
    bool allow, connect, found, is_template;
    int64 size;
  };
  auto *candidates = static_cast<Candidate *>(palloc(sizeof(Candidate) * Max(count, 1)));
  for (int i = 0; i < count; i++) {
    Candidate &c = candidates[i];
    c.oid = static_cast<Oid>(strtoul(SpiText(i, 1), nullptr, 10));
    c.name = MemoryContextStrdup(TopMemoryContext, SpiText(i, 2));
    c.allow = strcmp(SpiText(i, 3), "t") == 0;
    c.connect = strcmp(SpiText(i, 4), "t") == 0;
    c.found = strcmp(SpiText(i, 5), "t") == 0;
    c.is_template = strcmp(SpiText(i, 6), "t") == 0;
    const char *size = SpiText(i, 7);
    c.size = size ? strtoll(size, nullptr, 10) : 0;
  }
  databases->count = 0;
  run->databases_refused = 0;
  databases->items = static_cast<DatabaseToRun *>(
      MemoryContextAlloc(TopMemoryContext, sizeof(DatabaseToRun) * Max(count, 1)));
  Datum *names = static_cast<Datum *>(palloc(sizeof(Datum) * Max(count, 1)));
  int name_count = 0;
  for (int i = 0; i < count; i++) {
    const Candidate &c = candidates[i];
    names[name_count++] = CStringGetTextDatum(c.name);
    char *location =
        Url(run, psprintf("%s%s", run->run_prefix,
                          pg::CallCpp([&] { return pg::PallocCopy(DatabasePrefix(c.name)); })));
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
      databases->items[databases->count++] = {c.oid, c.name, c.size};
      continue;
    }
    run->databases_refused++;
  }
  // Largest first, so the run's tail is short (coordinator.cpp exports
  // several at a time); equal sizes keep their name order.
  qsort(databases->items, databases->count, sizeof(DatabaseToRun),
        [](const void *a, const void *b) {
          const auto *x = static_cast<const DatabaseToRun *>(a);
          const auto *y = static_cast<const DatabaseToRun *>(b);
          if (x->size_bytes != y->size_bytes) return x->size_bytes > y->size_bytes ? -1 : 1;
          return strcmp(x->name, y->name);
        });
  Oid update_types[3] = {INT8OID, TEXTARRAYOID, TEXTOID};
  Datum update_values[3] = {
      Int64GetDatum(req.run_id),
      PointerGetDatum(construct_array(names, name_count, TEXTOID, -1, false, TYPALIGN_INT)),
      Text(Url(run, run->run_prefix))};
  SpiRun(
      "UPDATE cdw_backup.runs SET databases = $2, location = $3 "
      "WHERE run_id OPERATOR(pg_catalog.=) $1",
      3, update_types, update_values, nullptr);
  return true;
}

// The run_tables rows SyncTables() writes, as one array per column.
struct TableRowBatch {
  static constexpr int kColumns = 14;
  static constexpr Oid kArrayTypes[kColumns] = {
      TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID,        INT8ARRAYOID,        INT8ARRAYOID,
      INT8ARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID, TEXTARRAYOID,
      TEXTARRAYOID, TEXTARRAYOID, INT8ARRAYOID,        INT8ARRAYOID};
  static constexpr Oid kElementTypes[kColumns] = {
      TEXTOID,        TEXTOID,        TEXTOID, INT8OID, INT8OID, INT8OID, TEXTOID,
      TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID, INT8OID, INT8OID};
  Datum *columns[kColumns] = {};
  bool *nulls[kColumns] = {};
  int count = 0;

  void Allocate(int capacity) {
    for (int c = 0; c < kColumns; c++) {
      columns[c] = static_cast<Datum *>(palloc(sizeof(Datum) * Max(capacity, 1)));
      nulls[c] = static_cast<bool *>(palloc0(sizeof(bool) * Max(capacity, 1)));
    }
  }
  void Set(int column, int row, Datum value, bool is_null = false) {
    columns[column][row] = is_null ? (Datum)0 : value;
    nulls[column][row] = is_null;
  }
  Datum Array(int column) const {
    int dims[1] = {count};
    int lbs[1] = {1};
    bool by_value = kElementTypes[column] != TEXTOID;  // int8, timestamptz: by value on 64 bits
    int16 length = by_value ? 8 : -1;
    char align = by_value ? TYPALIGN_DOUBLE : TYPALIGN_INT;
    return PointerGetDatum(construct_md_array(columns[column], nulls[column], 1, dims, lbs,
                                              kElementTypes[column], length, by_value, align));
  }
};

// Writes finished tables into run_tables; `final` also settles tables no
// worker finished.
void SyncTables(Run *run, DatabaseJob *job, TableList *tables, bool *recorded, bool final,
                const char *database) {
  TableRowBatch batch;
  // Whether the database is complete is one answer for all its tables
  // (DatabaseComplete reads every entry): asked once, not once per table.
  int complete = -1;  // not asked yet
  for (int i = 0; i < tables->count; i++) {
    if (recorded[i]) continue;
    TableEntry *entry = &tables->entries[i];
    if (entry->range_index != 0) continue;  // recorded with its range 0
    if (entry->status == static_cast<int>(TableStatus::kExcluded)) {
      recorded[i] = true;  // by InsertPendingTables
      continue;
    }
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
    } else if (status == TableStatus::kSucceeded) {
      // Backed up only once it is listed in a manifest that was written and
      // its parts are kept (DatabaseComplete): until then it stays pending.
      if (!final) continue;
      if (complete < 0) complete = DatabaseComplete(job, tables) ? 1 : 0;
      if (!complete) {
        if (run->cancelled || job->cancel) {
          status = TableStatus::kCancelled;
          sqlstate = "57014";
          error = psprintf("the run was cancelled before the backup of database %s was complete",
                           database);
          hint = nullptr;
        } else {
          status = TableStatus::kFailed;
          sqlstate = job->sqlstate[0] ? job->sqlstate : "XX000";
          error = psprintf("the backup of database %s is incomplete: %s", database,
                           job->error[0] ? job->error : IncompleteReason(job));
          hint = job->hint[0] ? job->hint : "See cdw_backup.run_databases and the server log.";
        }
      }
    }
    // In the transaction's memory, freed when it ends.
    if (batch.count == 0) {
      BeginWork();
      batch.Allocate(tables->count);
    }
    // The names as this database reads them (database_job.h): the URL is
    // shown here; its key on the target is their UTF-8.
    char *location = Url(
        run, psprintf("%s%s", job->database_prefix, pg::CallCpp([&] {
                        return pg::PallocCopy(TablePrefix(entry->schema_text, entry->table_text));
                      })));
    bool succeeded = status == TableStatus::kSucceeded;
    int n = batch.count++;
    batch.Set(0, n, CStringGetTextDatum(entry->schema_text));
    batch.Set(1, n, CStringGetTextDatum(entry->table_text));
    batch.Set(2, n, CStringGetTextDatum(TableStatusName(status)));
    batch.Set(3, n, Int64GetDatum(outcome.rows), !succeeded);
    batch.Set(4, n, Int64GetDatum(outcome.bytes_raw), !succeeded);
    batch.Set(5, n, Int64GetDatum(outcome.bytes_stored), !succeeded);
    batch.Set(6, n, CStringGetTextDatum(location));
    batch.Set(7, n, TimestampTzGetDatum(outcome.started_at), !outcome.started_at);
    batch.Set(
        8, n,
        TimestampTzGetDatum(outcome.finished_at ? outcome.finished_at : GetCurrentTimestamp()));
    batch.Set(9, n, error ? CStringGetTextDatum(error) : (Datum)0, !error);
    batch.Set(10, n, hint ? CStringGetTextDatum(hint) : (Datum)0, !hint);
    const char *code = succeeded ? nullptr : sqlstate;
    batch.Set(11, n, code ? CStringGetTextDatum(code) : (Datum)0, !code);
    batch.Set(12, n, Int64GetDatum(outcome.bytes_stored - outcome.bytes_reused), !succeeded);
    batch.Set(13, n, Int64GetDatum(outcome.bytes_reused), !succeeded);
    for (int r = 0; r < entry->range_count; r++) recorded[i + r] = true;
  }
  if (batch.count == 0) return;
  // One statement for all of them (50,000 statements took seconds at the
  // end of a big database).
  Oid types[2 + TableRowBatch::kColumns];
  Datum values[2 + TableRowBatch::kColumns];
  types[0] = INT8OID;
  values[0] = Int64GetDatum(run->request.run_id);
  types[1] = NAMEOID;
  values[1] = DirectFunctionCall1(namein, CStringGetDatum(database));
  for (int c = 0; c < TableRowBatch::kColumns; c++) {
    types[2 + c] = TableRowBatch::kArrayTypes[c];
    values[2 + c] = batch.Array(c);
  }
  SpiRun(
      "UPDATE cdw_backup.run_tables t SET status = u.st, rows = u.r, bytes_raw = u.br, "
      " bytes_stored = u.bs, location = u.loc, started_at = u.sa, finished_at = u.fa, "
      " error = u.e, hint = u.h, sqlstate = u.ss, bytes_written = u.bw, bytes_reused = u.bru "
      "FROM ROWS FROM (pg_catalog.unnest($3::pg_catalog.text[]), "
      " pg_catalog.unnest($4::pg_catalog.text[]), pg_catalog.unnest($5::pg_catalog.text[]), "
      " pg_catalog.unnest($6::pg_catalog.int8[]), pg_catalog.unnest($7::pg_catalog.int8[]), "
      " pg_catalog.unnest($8::pg_catalog.int8[]), pg_catalog.unnest($9::pg_catalog.text[]), "
      " pg_catalog.unnest($10::pg_catalog.timestamptz[]), "
      " pg_catalog.unnest($11::pg_catalog.timestamptz[]), "
      " pg_catalog.unnest($12::pg_catalog.text[]), pg_catalog.unnest($13::pg_catalog.text[]), "
      " pg_catalog.unnest($14::pg_catalog.text[]), pg_catalog.unnest($15::pg_catalog.int8[]), "
      " pg_catalog.unnest($16::pg_catalog.int8[])) "
      " AS u(s, n, st, r, br, bs, loc, sa, fa, e, h, ss, bw, bru) "
      "WHERE t.run_id OPERATOR(pg_catalog.=) $1 AND t.database OPERATOR(pg_catalog.=) $2 "
      " AND t.schema_name OPERATOR(pg_catalog.=) u.s AND t.table_name OPERATOR(pg_catalog.=) u.n",
      2 + TableRowBatch::kColumns, types, values, nullptr);
  EndWork();
}

void InsertPendingTables(Run *run, TableList *tables, const char *database) {
  BeginWork();
  Datum *schemas = static_cast<Datum *>(palloc(sizeof(Datum) * Max(tables->count, 1)));
  Datum *names = static_cast<Datum *>(palloc(sizeof(Datum) * Max(tables->count, 1)));
  Datum *statuses = static_cast<Datum *>(palloc(sizeof(Datum) * Max(tables->count, 1)));
  Datum *reasons = static_cast<Datum *>(palloc(sizeof(Datum) * Max(tables->count, 1)));
  bool *no_reason = static_cast<bool *>(palloc(sizeof(bool) * Max(tables->count, 1)));
  int count = 0, excluded = 0;
  for (int i = 0; i < tables->count; i++) {
    const TableEntry *entry = &tables->entries[i];
    if (entry->range_index != 0) continue;
    bool is_excluded = entry->status == static_cast<int>(TableStatus::kExcluded);
    excluded += is_excluded;
    schemas[count] = CStringGetTextDatum(entry->schema_text);
    names[count] = CStringGetTextDatum(entry->table_text);
    statuses[count] = CStringGetTextDatum(is_excluded ? "excluded" : "pending");
    // Which filter left the table (or its rows) out.
    no_reason[count] = !is_excluded && !entry->data_excluded;
    reasons[count] = no_reason[count] ? (Datum)0 : CStringGetTextDatum(entry->hint);
    count++;
  }
  int dims[1] = {count};
  int lbs[1] = {1};
  Oid types[6] = {INT8OID, NAMEOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
  Datum values[6] = {
      Int64GetDatum(run->request.run_id),
      DirectFunctionCall1(namein, CStringGetDatum(database)),
      PointerGetDatum(construct_array(schemas, count, TEXTOID, -1, false, TYPALIGN_INT)),
      PointerGetDatum(construct_array(names, count, TEXTOID, -1, false, TYPALIGN_INT)),
      PointerGetDatum(construct_array(statuses, count, TEXTOID, -1, false, TYPALIGN_INT)),
      PointerGetDatum(
          construct_md_array(reasons, no_reason, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT))};
  SpiRun(
      "INSERT INTO cdw_backup.run_tables (run_id, database, schema_name, table_name, status, "
      " excluded_by, finished_at) "
      "SELECT $1, $2, s, t, st, x, CASE WHEN st OPERATOR(pg_catalog.=) 'excluded' "
      " THEN pg_catalog.now() END "
      // ROWS FROM: the several-array unnest() is grammar, not a function.
      "FROM ROWS FROM (pg_catalog.unnest($3::pg_catalog.text[]), "
      "                pg_catalog.unnest($4::pg_catalog.text[]), "
      "                pg_catalog.unnest($5::pg_catalog.text[]), "
      "                pg_catalog.unnest($6::pg_catalog.text[])) AS u(s, t, st, x)",
      6, types, values, nullptr);
  Oid db_types[4] = {INT8OID, NAMEOID, INT4OID, INT4OID};
  Datum db_values[4] = {values[0], values[1], Int32GetDatum(count - excluded),
                        Int32GetDatum(excluded)};
  SpiRun(
      "UPDATE cdw_backup.run_databases SET tables_total = $3, tables_excluded = $4 "
      "WHERE run_id OPERATOR(pg_catalog.=) $1 AND database OPERATOR(pg_catalog.=) $2",
      4, db_types, db_values, nullptr);
  EndWork();
}

namespace {

// Appends `count` text warnings to runs.warnings of the run.
void AppendRunWarnings(Run *run, Datum *warnings, int count) {
  if (count == 0) return;
  Oid types[2] = {INT8OID, TEXTARRAYOID};
  Datum values[2] = {
      Int64GetDatum(run->request.run_id),
      PointerGetDatum(construct_array(warnings, count, TEXTOID, -1, false, TYPALIGN_INT))};
  SpiRun(
      "UPDATE cdw_backup.runs SET warnings = pg_catalog.array_cat(warnings, $2) "
      "WHERE run_id OPERATOR(pg_catalog.=) $1",
      2, types, values, nullptr);
}

}  // namespace

// A filter pattern that matched nothing in any database of the run: not a
// failure (pg_dump fails only with --strict-names), but said on the run
// (runs.warnings) and in the server log, since it is most often a typo.
void RecordFilterWarnings(Run *run) {
  const RunFilters &filters = run->request.filters;
  int total = 0;
  for (const auto &list : filters.lists) total += list.count;
  if (total == 0) return;
  Datum *warnings = static_cast<Datum *>(palloc(sizeof(Datum) * total));
  int count = 0;
  for (int kind = 0; kind < kFilterKinds; kind++) {
    bool schema_list = kind == kFilterSchemas || kind == kFilterExcludeSchemas;
    for (int i = 0; i < filters.lists[kind].count; i++) {
      if (run->pattern_matched[kind][i]) continue;
      char *warning = psprintf("%s pattern \"%s\" matched no %s in any database of the run",
                               FilterParameterName(kind), FilterPattern(&filters.lists[kind], i),
                               schema_list ? "schema" : "table");
      ereport(WARNING, (errmsg("cdw_backup run %lld: %s",
                               static_cast<long long>(run->request.run_id), warning)));
      warnings[count++] = CStringGetTextDatum(warning);
    }
  }
  AppendRunWarnings(run, warnings, count);
}

void RecordDatabaseWarning(Run *run, const char *database, const char *warning) {
  Datum text = CStringGetTextDatum(psprintf("database %s: %s", database, warning));
  AppendRunWarnings(run, &text, 1);
}

void FinishRun(Run *run, bool any_failed_database) {
  BeginWork();
  RecordFilterWarnings(run);
  // runs.started_at / finished_at use the launcher's clock, which schedules,
  // retention and max_run_time compare them with (see SchedulerNow()).
  Oid types[4] = {INT8OID, BOOLOID, BOOLOID, TIMESTAMPTZOID};
  Datum values[4] = {Int64GetDatum(run->request.run_id), BoolGetDatum(run->cancelled),
                     BoolGetDatum(any_failed_database), TimestampTzGetDatum(SchedulerNow())};
  SpiRun(
      "WITH t AS (SELECT pg_catalog.count(*) AS total,"
      "                  pg_catalog.count(*) FILTER (WHERE status OPERATOR(pg_catalog.=) "
      "                    'succeeded') AS ok,"
      "                  pg_catalog.count(*) FILTER (WHERE status OPERATOR(pg_catalog.<>) "
      "                    'succeeded') AS bad,"
      "                  coalesce(pg_catalog.sum(rows), 0) AS rows,"
      "                  coalesce(pg_catalog.sum(bytes_raw), 0) AS raw,"
      "                  coalesce(pg_catalog.sum(bytes_stored), 0) AS stored,"
      "                  coalesce(pg_catalog.sum(bytes_written), 0) AS written,"
      "                  coalesce(pg_catalog.sum(bytes_reused), 0) AS reused"
      "             FROM cdw_backup.run_tables WHERE run_id OPERATOR(pg_catalog.=) $1"
      "              AND status OPERATOR(pg_catalog.<>) 'excluded'),"
      "     d AS (SELECT pg_catalog.count(*) FILTER (WHERE status OPERATOR(pg_catalog.<>) "
      "                    'succeeded') AS bad,"
      "                  (pg_catalog.array_agg(pg_catalog.format('database %s: %s', database,"
      "                     error) ORDER BY database) FILTER (WHERE error IS NOT NULL))[1] AS "
      "error,"
      "                  (pg_catalog.array_agg(hint ORDER BY database)"
      "                     FILTER (WHERE error IS NOT NULL))[1] AS hint"
      "             FROM cdw_backup.run_databases WHERE run_id OPERATOR(pg_catalog.=) $1)"
      " UPDATE cdw_backup.runs r SET finished_at = $4,"
      "   tables_total = t.total, tables_succeeded = t.ok, tables_failed = t.bad,"
      "   rows = t.rows, bytes_raw = t.raw, bytes_stored = t.stored,"
      "   bytes_written = t.written, bytes_reused = t.reused,"
      "   error = coalesce(r.error, d.error), hint = coalesce(r.hint, d.hint),"
      "   status = CASE WHEN $2 THEN 'cancelled'"
      "                 WHEN t.bad OPERATOR(pg_catalog.=) 0 AND d.bad OPERATOR(pg_catalog.=) 0"
      "                  AND NOT $3 THEN 'succeeded'"
      "                 WHEN t.ok OPERATOR(pg_catalog.=) 0 THEN 'failed' ELSE 'partial' END,"
      // What a run that did not succeed wrote and no manifest lists is
      // removed when it is settled (bgworker/run_cleanup.h).
      "   cleanup_pending = r.location IS NOT NULL"
      "     AND ($2 OR t.bad OPERATOR(pg_catalog.<>) 0 OR d.bad OPERATOR(pg_catalog.<>) 0 OR $3)"
      "  FROM t, d WHERE r.run_id OPERATOR(pg_catalog.=) $1",
      4, types, values, nullptr);
  // The index is written inside the transaction that records the outcome:
  // nobody sees the run succeeded before the index is on the target.
  pg::PendingError pending;
  if (!WriteRunIndex(run, &pending)) FailRunForIndex(run, &pending);
  SpiRun(
      "SELECT r.status, r.tables_total, r.tables_succeeded, r.tables_failed, r.rows, "
      "r.bytes_stored, pg_catalog.json_build_object('run_id', r.run_id, 'schedule', "
      "r.schedule_name, 'status', r.status)::pg_catalog.text, "
      // runs.tables_failed counts every table not succeeded; the line
      // tells the cancelled ones apart, as run_tables does.
      " (SELECT pg_catalog.count(*) FROM cdw_backup.run_tables t "
      "   WHERE t.run_id OPERATOR(pg_catalog.=) r.run_id "
      "   AND t.status OPERATOR(pg_catalog.=) 'cancelled') "
      "FROM cdw_backup.runs r "
      "WHERE r.run_id OPERATOR(pg_catalog.=) $1",
      1, types, values, nullptr);
  char *status = SpiText(0, 1);
  long long cancelled_tables = strtoll(SpiText(0, 8), nullptr, 10);
  long long failed_tables = strtoll(SpiText(0, 4), nullptr, 10) - cancelled_tables;
  ereport(LOG,
          (errmsg("cdw_backup run %lld %s: %s tables, %s succeeded, %lld failed, %lld "
                  "cancelled, %s rows, %s bytes stored",
                  static_cast<long long>(run->request.run_id), status, SpiText(0, 2), SpiText(0, 3),
                  failed_tables, cancelled_tables, SpiText(0, 5), SpiText(0, 6))));
  Async_Notify("cdw_backup", SpiText(0, 7));
  EndWork();
}

void FailRunForIndex(Run *run, const pg::PendingError *pending) {
  const char *sqlstate = pending->sqlstate ? unpack_sql_state(pending->sqlstate) : "58030";
  char *error = psprintf("the run index could not be written: %s",
                         pending->message ? pending->message : "out of memory");
  const char *hint = pending->hint ? pending->hint : "See the server log.";
  Oid types[4] = {INT8OID, TEXTOID, TEXTOID, TEXTOID};
  Datum values[4] = {Int64GetDatum(run->request.run_id), Text(sqlstate), Text(error), Text(hint)};
  SpiRun(
      "UPDATE cdw_backup.run_tables SET status = 'failed', rows = NULL, bytes_raw = NULL, "
      "bytes_stored = NULL, sqlstate = $2, error = $3, hint = $4 "
      "WHERE run_id OPERATOR(pg_catalog.=) $1 AND status OPERATOR(pg_catalog.=) 'succeeded'",
      4, types, values, nullptr);
  SpiRun(
      "UPDATE cdw_backup.run_databases SET status = 'failed', manifest = NULL, sqlstate = $2, "
      "error = $3, hint = $4 WHERE run_id OPERATOR(pg_catalog.=) $1 "
      "AND status OPERATOR(pg_catalog.=) ANY ('{succeeded,partial}'::pg_catalog.text[])",
      4, types, values, nullptr);
  SpiRun(
      "UPDATE cdw_backup.runs SET status = CASE WHEN status OPERATOR(pg_catalog.=) 'cancelled' "
      "THEN status "
      "ELSE 'failed' END, error = $3, hint = $4, tables_succeeded = 0, "
      "tables_failed = tables_total, rows = 0, bytes_raw = 0, bytes_stored = 0, "
      "cleanup_pending = location IS NOT NULL WHERE run_id OPERATOR(pg_catalog.=) $1",
      4, types, values, nullptr);
  ereport(WARNING, (errmsg("cdw_backup run %lld failed: %s",
                           static_cast<long long>(run->request.run_id), error),
                    errhint("%s", hint)));
}

void FailRun(Run *run, ErrorData *error, bool after_start) {
  const char *message = error->message ? error->message : "unknown error";
  if (after_start) message = psprintf("the run's coordinator failed: %s", message);
  const char *hint = error->hint ? error->hint : (after_start ? "See the server log." : nullptr);
  const char *sqlstate = unpack_sql_state(error->sqlerrcode);
  BeginWork();
  if (after_start) {
    // What was not finished failed for this reason: not "interrupted".
    control::SpiParams settle;
    settle.Int8(run->request.run_id).Text(sqlstate).Text(message).Text(hint);
    SpiRun(
        "UPDATE cdw_backup.run_tables SET status = 'failed', finished_at = "
        "pg_catalog.clock_timestamp(), sqlstate = $2, error = $3, hint = $4 "
        "WHERE run_id OPERATOR(pg_catalog.=) $1 "
        "AND status OPERATOR(pg_catalog.=) ANY ('{pending,running}'::pg_catalog.text[])",
        settle);
    SpiRun(
        "UPDATE cdw_backup.run_databases SET status = 'failed', finished_at = "
        "pg_catalog.clock_timestamp(), sqlstate = $2, error = $3, hint = $4 "
        "WHERE run_id OPERATOR(pg_catalog.=) $1 "
        "AND status OPERATOR(pg_catalog.=) ANY ('{pending,running}'::pg_catalog.text[])",
        settle);
  }
  control::SpiParams params;
  params.Int8(run->request.run_id).Text(message).Text(hint).Timestamp(SchedulerNow());
  SpiRun(
      "UPDATE cdw_backup.runs r SET status = 'failed', error = $2, hint = $3, finished_at = $4, "
      // Nothing of a failed run is kept: removed when it is settled.
      " cleanup_pending = r.location IS NOT NULL, "
      " tables_total = t.total, tables_succeeded = t.ok, tables_failed = t.total "
      "OPERATOR(pg_catalog.-) t.ok, "
      " rows = t.rows, bytes_raw = t.raw, bytes_stored = t.stored "
      "FROM (SELECT pg_catalog.count(*) AS total, "
      "             pg_catalog.count(*) FILTER (WHERE status OPERATOR(pg_catalog.=) 'succeeded') "
      "               AS ok, "
      "             COALESCE(pg_catalog.sum(rows), 0) AS rows, "
      "             COALESCE(pg_catalog.sum(bytes_raw), 0) AS raw, "
      "             COALESCE(pg_catalog.sum(bytes_stored), 0) AS stored "
      "        FROM cdw_backup.run_tables WHERE run_id OPERATOR(pg_catalog.=) $1 "
      "         AND status OPERATOR(pg_catalog.<>) 'excluded') t "
      "WHERE r.run_id OPERATOR(pg_catalog.=) $1",
      params);
  if (SPI_processed == 0) {
    control::SpiParams insert;
    insert.Int8(run->request.run_id)
        .Text(run->request.target)
        .Name(run->request.role_name)
        .Text(run->request.compression)
        .Text(message)
        .Text(hint)
        .Timestamp(SchedulerNow());
    SpiRun(
        "INSERT INTO cdw_backup.runs (run_id, target, role_name, compression, status, error, hint, "
        "started_at, finished_at) VALUES ($1, $2, $3, $4, 'failed', $5, $6, $7, $7)",
        insert);
  }
  Async_Notify("cdw_backup", psprintf("{\"run_id\": %lld, \"status\": \"failed\"}",
                                      static_cast<long long>(run->request.run_id)));
  ereport(LOG, (errmsg("cdw_backup run %lld failed: %s",
                       static_cast<long long>(run->request.run_id), message)));
  EndWork();
}

}  // namespace cdw::bgworker::coordinator
