// The worker that exports tables of one database (see database_job.h).
//
// It runs as the role that started the run, connected to the database, with
// no loopback connection. Each table is exported exactly as the original
// shell script did, through SQL: CREATE FOREIGN TABLE ... SERVER (a
// cdw_backup_fdw server), INSERT INTO it SELECT * FROM ONLY the table, DROP.
// Each table runs in its own subtransaction of one REPEATABLE READ
// transaction whose snapshot all workers of the database share: a failed
// table is rolled back (its parts removed) and the next one goes on. The
// foreign table lives in pg_temp and is never committed, so no external
// table can survive an error, a cancel or a crash.
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

#include <algorithm>

#include "bgworker/database_job.h"
#include "bgworker/shared_state.h"
#include "extension/control/settings.h"
#include "extension/control/spi_util.h"
#include "extension/fdw/fdw_options.h"
#include "extension/fdw/part_registry.h"
#include "extension/fdw/pinned_settings.h"
#include "extension/pg/cpp_boundary.h"
#include "extension/pg/open_store.h"
#include "format/layout.h"
#include "manifest/json_writer.h"
#include "plan/block_ranges.h"
#include "storage/store_factory.h"

namespace cdw::bgworker {

const char *TableStatusName(TableStatus status) {
  switch (status) {
    case TableStatus::kPending:
      return "pending";
    case TableStatus::kRunning:
      return "running";
    case TableStatus::kSucceeded:
      return "succeeded";
    case TableStatus::kFailed:
      return "failed";
    case TableStatus::kCancelled:
      return "cancelled";
  }
  return "failed";
}

TableOutcome CombineRanges(const TableEntry *first) {
  TableOutcome outcome{TableStatus::kSucceeded, 0, 0, 0, 0, 0, nullptr};
  for (int r = 0; r < first->range_count; r++) {
    const TableEntry *entry = first + r;
    auto status = static_cast<TableStatus>(entry->status);
    if (status == TableStatus::kPending || status == TableStatus::kRunning) {
      outcome.status = status;
      return outcome;
    }
    if (status != TableStatus::kSucceeded && !outcome.failed) {
      outcome.failed = entry;
      outcome.status = status;
    }
    outcome.rows += entry->rows;
    outcome.bytes_raw += entry->bytes_raw;
    outcome.bytes_stored += entry->bytes_stored;
    if (entry->started_at && (!outcome.started_at || entry->started_at < outcome.started_at))
      outcome.started_at = entry->started_at;
    if (entry->finished_at > outcome.finished_at) outcome.finished_at = entry->finished_at;
  }
  return outcome;
}

namespace {

DatabaseJob *g_job = nullptr;
TableList *g_tables = nullptr;
bool g_is_leader = false;
int g_progress_slot = -1;
const char *g_server_name = nullptr;

void CopyText(char *dest, size_t size, const char *src) {
  strlcpy(dest, src ? src : "", size);
}

void ReleaseProgressSlot() {
  SharedState *shared = Shared();
  if (!shared || g_progress_slot < 0) return;
  shared->progress[g_progress_slot].in_use = false;
}

void AcquireProgressSlot(const TableEntry *entry) {
  SharedState *shared = Shared();
  if (!shared) return;
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  if (g_progress_slot < 0) {
    for (int i = 0; i < kMaxProgressSlots; i++) {
      if (!shared->progress[i].in_use) {
        g_progress_slot = i;
        break;
      }
    }
  }
  if (g_progress_slot >= 0) {
    ProgressSlot *slot = &shared->progress[g_progress_slot];
    slot->in_use = true;
    slot->run_id = g_job->run_id;
    slot->pid = MyProcPid;
    CopyText(slot->database, NAMEDATALEN, g_job->database);
    CopyText(slot->schema_name, NAMEDATALEN, entry->schema_name);
    CopyText(slot->table_name, NAMEDATALEN, entry->table_name);
    pg_atomic_write_u64(&slot->rows, 0);
    pg_atomic_write_u64(&slot->bytes_raw, 0);
    slot->started_at = GetCurrentTimestamp();
  }
  LWLockRelease(shared->lock);
}

void ReportProgress(uint64 rows, uint64 bytes_raw) {
  SharedState *shared = Shared();
  if (!shared || g_progress_slot < 0) return;
  pg_atomic_write_u64(&shared->progress[g_progress_slot].rows, rows);
  pg_atomic_write_u64(&shared->progress[g_progress_slot].bytes_raw, bytes_raw);
}

bool g_helper_done = false;

// Tells the coordinator, and the leader or helpers waiting on each other,
// that the job changed.
void WakeCoordinator() {
  ConditionVariableBroadcast(&g_job->workers_changed);
  if (g_job->coordinator_latch) SetLatch(g_job->coordinator_latch);
}

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
  CopyText(g_job->error, sizeof g_job->error, error->message);
  CopyText(g_job->hint, sizeof g_job->hint, hint ? hint : error->hint);
  g_job->phase = static_cast<int>(JobPhase::kFailed);
  SpinLockRelease(&g_job->mutex);
  WakeCoordinator();
}

// Looked up once at start-up: error paths run outside any transaction.
const char *g_role_name = nullptr;

const char *RoleName() {
  return g_role_name;
}

// The hint the original document's table would give for a privilege error.
const char *HintFor(ErrorData *error, const TableEntry *entry) {
  if (error->sqlerrcode == ERRCODE_INSUFFICIENT_PRIVILEGE) {
    if (error->message && strstr(error->message, "permission denied for schema"))
      return psprintf("GRANT USAGE ON SCHEMA %s TO %s;", quote_identifier(entry->schema_name),
                      RoleName());
    if (error->message && strstr(error->message, "row-level security"))
      return psprintf(
          "Run the backup as the table owner or a role with BYPASSRLS: ALTER ROLE %s "
          "BYPASSRLS;",
          RoleName());
    if (error->message && strstr(error->message, "foreign-data wrapper"))
      return psprintf("GRANT USAGE ON FOREIGN DATA WRAPPER cdw_backup_fdw TO %s;", RoleName());
    if (error->message && strstr(error->message, "permission denied for"))
      return psprintf("GRANT SELECT ON %s TO %s;",
                      quote_qualified_identifier(entry->schema_name, entry->table_name),
                      RoleName());
  }
  return error->hint;
}

// Refuses tables the role cannot read completely, before touching them, so
// the error names the missing privilege (the original document's table).
// pg_dump's rule applies: rows hidden by row-level security are an error,
// never a silently smaller backup.
void CheckTableAccess(const TableEntry *entry) {
  Oid namespace_id = get_rel_namespace(entry->relid);
  if (pg_namespace_aclcheck(namespace_id, g_job->role_id, ACL_USAGE) != ACLCHECK_OK)
    ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                    errmsg("permission denied for schema %s", entry->schema_name),
                    errhint("GRANT USAGE ON SCHEMA %s TO %s;", quote_identifier(entry->schema_name),
                            RoleName())));
  if (pg_class_aclcheck(entry->relid, g_job->role_id, ACL_SELECT) != ACLCHECK_OK)
    ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                    errmsg("permission denied for table %s", entry->table_name),
                    errhint("GRANT SELECT ON %s TO %s;",
                            quote_qualified_identifier(entry->schema_name, entry->table_name),
                            RoleName())));
  if (check_enable_rls(entry->relid, InvalidOid, true) == RLS_ENABLED)
    ereport(ERROR,
            (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
             errmsg("row-level security would hide rows of table %s from role %s",
                    quote_qualified_identifier(entry->schema_name, entry->table_name), RoleName()),
             errdetail("A backup must hold every row; like pg_dump, cdw_backup refuses "
                       "rather than copy a filtered table."),
             errhint("Run the backup as the table owner or a role with BYPASSRLS: ALTER ROLE "
                     "%s BYPASSRLS;",
                     RoleName())));
}

// The external table's column list: every live column, as the source has it.
char *ColumnDefinitions(Oid relid) {
  Oid types[1] = {OIDOID};
  Datum values[1] = {ObjectIdGetDatum(relid)};
  control::SpiRun(
      "SELECT string_agg(format('%I %s', attname, format_type(atttypid, atttypmod)), ', ' "
      "ORDER BY attnum) FROM pg_catalog.pg_attribute "
      "WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped",
      1, types, values, nullptr, true);
  char *defs = control::SpiText(0, 1);
  return defs ? defs : pstrdup("");
}

void RecordParts(TableEntry *entry) {
  const auto &parts = fdw::RecentParts();
  entry->part_count = 0;
  entry->rows = entry->bytes_raw = entry->bytes_stored = 0;
  for (const auto &part : parts) {
    if (entry->part_count == kMaxPartsPerTable)
      ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
                      errmsg("table %s produced more than %d parts", entry->table_name,
                             kMaxPartsPerTable)));
    PartRecord *record = &entry->parts[entry->part_count++];
    const std::string &key = part.stats.key;
    CopyText(record->name, sizeof record->name, key.c_str() + key.rfind('/') + 1);
    record->rows = part.stats.rows;
    record->size = part.stats.bytes_stored;
    CopyText(record->sha256, sizeof record->sha256, part.stats.sha256.c_str());
    entry->bytes_raw += part.stats.bytes_raw;
    entry->bytes_stored += part.stats.bytes_stored;
  }
}

void FinishEntry(TableEntry *entry, TableStatus status) {
  entry->finished_at = GetCurrentTimestamp();
  pg_write_barrier();
  entry->status = static_cast<int>(status);
  ReleaseProgressSlot();
  WakeCoordinator();
}

// One table, in its own subtransaction (the pattern of a PL/pgSQL exception
// block): on error everything it did is rolled back, including its parts.
void ExportTable(TableEntry *entry, const char *table_prefix) {
  MemoryContext old_context = CurrentMemoryContext;
  ResourceOwner old_owner = CurrentResourceOwner;
  entry->started_at = GetCurrentTimestamp();
  entry->status = static_cast<int>(TableStatus::kRunning);
  AcquireProgressSlot(entry);
  pgstat_report_activity(
      STATE_RUNNING, psprintf("cdw_backup run %lld: %s.%s", static_cast<long long>(g_job->run_id),
                              entry->schema_name, entry->table_name));
  BeginInternalSubTransaction(nullptr);
  MemoryContextSwitchTo(old_context);
  PG_TRY();
  {
    CheckTableAccess(entry);
    fdw::ClearRecentParts();
    SPI_connect();
    // Clip on a character boundary so the name stays valid multibyte text.
    int clip = pg_mbcliplen(entry->table_name, strlen(entry->table_name), 40);
    char *external = psprintf(
        "pg_temp.%s", quote_identifier(psprintf("%.*s_cdw_backup_cos", clip, entry->table_name)));
    char *source = quote_qualified_identifier(entry->schema_name, entry->table_name);
    char *path = psprintf("%s%s", g_job->database_prefix, table_prefix);
    // batch_size 1: the settings are pinned for the whole transaction, so
    // the FDW gains nothing from batches, while the executor would copy
    // every row into a batch slot.
    control::SpiRun(
        psprintf("CREATE FOREIGN TABLE %s (%s) SERVER %s OPTIONS (path %s, compression %s, "
                 "batch_size '1')",
                 external, ColumnDefinitions(entry->relid), g_server_name, quote_literal_cstr(path),
                 quote_literal_cstr(g_job->compression)),
        0, nullptr, nullptr, nullptr);
    // A range of a big table reads its blocks only (a TID range scan).
    char *range = pstrdup("");
    if (entry->range_count > 1) {
      range = psprintf(" WHERE ctid >= '(%u,0)'::tid", entry->start_block);
      if (entry->end_block != InvalidBlockNumber)
        range = psprintf("%s AND ctid < '(%u,0)'::tid", range, entry->end_block);
    }
    control::SpiRun(psprintf("INSERT INTO %s SELECT * FROM ONLY %s%s", external, source, range), 0,
                    nullptr, nullptr, nullptr);
    uint64 rows = SPI_processed;
    control::SpiRun(psprintf("DROP FOREIGN TABLE %s", external), 0, nullptr, nullptr, nullptr);
    SPI_finish();
    RecordParts(entry);
    entry->rows = static_cast<int64>(rows);
    ReleaseCurrentSubTransaction();
    MemoryContextSwitchTo(old_context);
    CurrentResourceOwner = old_owner;
  }
  PG_CATCH();
  {
    MemoryContextSwitchTo(old_context);
    ErrorData *error = CopyErrorData();
    FlushErrorState();
    RollbackAndReleaseCurrentSubTransaction();
    MemoryContextSwitchTo(old_context);
    CurrentResourceOwner = old_owner;
    CopyText(entry->sqlstate, sizeof entry->sqlstate, unpack_sql_state(error->sqlerrcode));
    CopyText(entry->error, sizeof entry->error, error->message);
    CopyText(entry->hint, sizeof entry->hint, HintFor(error, entry));
    entry->part_count = 0;
    entry->rows = entry->bytes_raw = entry->bytes_stored = 0;
    bool cancelled = error->sqlerrcode == ERRCODE_QUERY_CANCELED && g_job->cancel;
    FreeErrorData(error);
    FinishEntry(entry, cancelled ? TableStatus::kCancelled : TableStatus::kFailed);
    return;
  }
  PG_END_TRY();
  FinishEntry(entry, TableStatus::kSucceeded);
}

// Workers stop when their run has no coordinator any more (terminated,
// crashed): history would call the run interrupted, so the target must not
// get a backup that looks complete.
void CheckCoordinator() {
  if (!RunIsActive(g_job->run_id))
    ereport(ERROR,
            (errcode(ERRCODE_ADMIN_SHUTDOWN),
             errmsg("backup run %lld lost its coordinator", static_cast<long long>(g_job->run_id)),
             errdetail("The run was interrupted; this worker's parts are discarded.")));
}

void ExportLoop() {
  for (;;) {
    CHECK_FOR_INTERRUPTS();
    if (g_job->cancel) break;
    CheckCoordinator();
    uint32 index = pg_atomic_fetch_add_u32(&g_job->next_table, 1);
    if (static_cast<int>(index) >= g_tables->count) break;
    TableEntry *entry = &g_tables->entries[DispatchOrder(g_tables)[index]];
    char *table_prefix = pg::CallCpp(
        [&] { return pstrdup(TablePrefix(entry->schema_name, entry->table_name).c_str()); });
    ExportTable(entry, table_prefix);
  }
}

// A server of our own per worker, created inside the uncommitted
// transaction and dropped before commit: nothing persists in the database.
void CreateServer() {
  g_server_name = quote_identifier(
      psprintf("cdw_backup_run%lld_%d", static_cast<long long>(g_job->run_id), MyProcPid));
  control::SpiRun(fdw::CreateServerStatement(g_server_name, g_job->location, g_job->store_options),
                  0, nullptr, nullptr, nullptr);
  pg::CallCpp([&] {
    Credentials credentials{g_job->secret_id, g_job->secret_key, g_job->session_token};
    fdw::SetProcessCredentials(g_job->location, credentials);
  });
}

void DropServer() {
  control::SpiRun(psprintf("DROP SERVER %s", g_server_name), 0, nullptr, nullptr, nullptr);
  fdw::ClearProcessCredentials();
}

void StartSnapshotTransaction(bool import) {
  SetCurrentStatementStartTimestamp();
  StartTransactionCommand();
  XactIsoLevel = XACT_REPEATABLE_READ;
  if (import) ImportSnapshot(g_job->snapshot);
  // Like pg_dump: rows hidden by row-level security are an error, not a gap.
  (void)set_config_option("row_security", "off", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL, true,
                          0, false);
  // Text output pinned once for the whole export (see fdw/pinned_settings.h).
  fdw::PinSettingsForTransaction();
  (void)set_config_option("statement_timeout", "0", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL,
                          true, 0, false);
  SPI_connect();
  PushActiveSnapshot(GetTransactionSnapshot());
}

void EndSnapshotTransaction() {
  SPI_finish();
  PopActiveSnapshot();
  CommitTransactionCommand();
  pgstat_report_activity(STATE_IDLE, nullptr);
}

// Lists (and locks, like pg_dump) the tables to back up: ordinary tables and
// leaf partitions of non-system schemas, unlogged included; not views,
// materialized views, foreign or temporary tables, partitioned parents, nor
// tables that belong to extensions (their data is the extension's).
struct ListedTable {
  int64 blocks;  // of the main fork: what block ranges divide
  int64 cost;    // with TOAST: what the export of the table costs
};

int ListTables(TableEntry **entries_out, uint32 **order_out) {
  control::SpiRun(
      "SELECT c.oid, n.nspname, c.relname, "
      " pg_catalog.pg_relation_size(c.oid) / current_setting('block_size')::bigint, "
      " pg_catalog.pg_table_size(c.oid) / current_setting('block_size')::bigint "
      "FROM pg_catalog.pg_class c "
      "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
      "WHERE c.relkind = 'r' AND c.relpersistence IN ('p', 'u') "
      "AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_' "
      "AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d WHERE d.classid = "
      "'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e') "
      "ORDER BY 5 DESC, n.nspname, c.relname",
      0, nullptr, nullptr, nullptr, true);
  int count = static_cast<int>(SPI_processed);
  auto *listed = static_cast<ListedTable *>(palloc(sizeof(ListedTable) * Max(count, 1)));
  int64 total_cost = 0;
  for (int i = 0; i < count; i++) {
    listed[i].blocks = strtoll(control::SpiText(i, 4), nullptr, 10);
    listed[i].cost = Max(strtoll(control::SpiText(i, 5), nullptr, 10), listed[i].blocks);
    total_cost += listed[i].cost;
  }
  int workers = Max(control::g_max_workers, 1);
  uint64 range_blocks = RangeBlocksFor(static_cast<uint64>(total_cost), workers);
  int capacity = 0;
  for (int i = 0; i < count; i++)
    capacity += static_cast<int>(
        PlanBlockRanges(static_cast<uint64>(listed[i].blocks), range_blocks, workers, nullptr));
  auto *entries = static_cast<TableEntry *>(palloc0(sizeof(TableEntry) * Max(capacity, 1)));
  auto *entry_cost = static_cast<int64 *>(palloc(sizeof(int64) * Max(capacity, 1)));
  int kept = 0;
  for (int i = 0; i < count; i++) {
    TableEntry *entry = &entries[kept];
    entry->relid = static_cast<Oid>(strtoul(control::SpiText(i, 1), nullptr, 10));
    CopyText(entry->schema_name, NAMEDATALEN, control::SpiText(i, 2));
    CopyText(entry->table_name, NAMEDATALEN, control::SpiText(i, 3));
    int64 blocks = listed[i].blocks;
    // Lock what the role may read, so no DDL or TRUNCATE changes a table
    // between our snapshot and its export.
    if (pg_class_aclcheck(entry->relid, g_job->role_id, ACL_SELECT) == ACLCHECK_OK) {
      LockRelationOid(entry->relid, AccessShareLock);
      if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(entry->relid))) continue;  // dropped
    }
    // Straight into palloc'd memory: this frame may be left by an ERROR.
    auto *plan = static_cast<BlockRange *>(
        palloc(sizeof(BlockRange) *
               PlanBlockRanges(static_cast<uint64>(blocks), range_blocks, workers, nullptr)));
    int ranges =
        static_cast<int>(PlanBlockRanges(static_cast<uint64>(blocks), range_blocks, workers, plan));
    for (int r = 0; r < ranges; r++) {
      TableEntry *range = &entries[kept + r];
      if (r > 0) *range = *entry;
      range->range_index = r;
      range->range_count = ranges;
      range->start_block = static_cast<BlockNumber>(plan[r].start_block);
      range->end_block = plan[r].end_block == kToTheEnd
                             ? InvalidBlockNumber
                             : static_cast<BlockNumber>(plan[r].end_block);
      // A share of the table's cost (TOAST included) in proportion to blocks.
      uint64 range_size =
          (plan[r].end_block == kToTheEnd ? static_cast<uint64>(blocks) : plan[r].end_block) -
          plan[r].start_block;
      entry_cost[kept + r] = blocks > 0
                                 ? static_cast<int64>(static_cast<double>(listed[i].cost) *
                                                      range_size / static_cast<double>(blocks))
                                 : listed[i].cost;
    }
    kept += ranges;
  }
  // Workers take units largest first (ranges of a big table among them), so
  // the last units to start are the smallest: the longest-processing-time
  // rule, which keeps the idle tail of a run short.
  auto *order = static_cast<uint32 *>(palloc(sizeof(uint32) * Max(kept, 1)));
  for (int i = 0; i < kept; i++) order[i] = static_cast<uint32>(i);
  std::stable_sort(order, order + kept,
                   [&](uint32 a, uint32 b) { return entry_cost[a] > entry_cost[b]; });
  *entries_out = entries;
  *order_out = order;
  return kept;
}

void PublishTables(TableEntry *entries, uint32 *order, int count) {
  Size size = TableListSize(count);
  dsm_segment *segment = dsm_create(size, 0);
  dsm_pin_mapping(segment);
  g_tables = static_cast<TableList *>(dsm_segment_address(segment));
  g_tables->count = count;
  memcpy(g_tables->entries, entries, sizeof(TableEntry) * count);
  memcpy(DispatchOrder(g_tables), order, sizeof(uint32) * count);
  SpinLockAcquire(&g_job->mutex);
  g_job->tables_handle = dsm_segment_handle(segment);
  g_job->phase = static_cast<int>(JobPhase::kListed);
  SpinLockRelease(&g_job->mutex);
  WakeCoordinator();
}

void AttachTables() {
  dsm_segment *segment = dsm_attach(g_job->tables_handle);
  if (!segment)
    ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                    errmsg("could not attach to the table list of run %lld",
                           static_cast<long long>(g_job->run_id))));
  dsm_pin_mapping(segment);
  g_tables = static_cast<TableList *>(dsm_segment_address(segment));
}

void WaitForHelpers() {
  ConditionVariablePrepareToSleep(&g_job->workers_changed);
  while (pg_atomic_read_u32(&g_job->helpers_active) > 0) WaitForJobChange();
  ConditionVariableCancelSleep();
}

struct ManifestRow {
  Oid relid;
  char *columns_json;
  char *create_table;
};

// The database manifest, written last: every table with its columns, a
// CREATE TABLE that recreates it, its rows and every object with size and
// SHA-256. A database without it is an incomplete backup by definition.
void WriteManifest() {
  Datum *oids = static_cast<Datum *>(palloc(sizeof(Datum) * Max(g_tables->count, 1)));
  for (int i = 0; i < g_tables->count; i++) oids[i] = ObjectIdGetDatum(g_tables->entries[i].relid);
  ArrayType *array =
      construct_array(oids, g_tables->count, OIDOID, sizeof(Oid), true, TYPALIGN_INT);
  Oid types[1] = {OIDARRAYOID};
  Datum values[1] = {PointerGetDatum(array)};
  control::SpiRun(
      "SELECT c.oid, "
      " (SELECT json_agg(json_build_object('name', a.attname, 'type', "
      "    format_type(a.atttypid, a.atttypmod), 'not_null', a.attnotnull) ORDER BY a.attnum) "
      "    FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 "
      "    AND NOT a.attisdropped)::text, "
      " format('CREATE TABLE %I.%I (%s);', n.nspname, c.relname, "
      "   (SELECT string_agg(format('%I %s%s', a.attname, format_type(a.atttypid, a.atttypmod), "
      "      CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END), ', ' ORDER BY a.attnum) "
      "    FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 "
      "    AND NOT a.attisdropped)) "
      "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
      "WHERE c.oid = ANY ($1)",
      1, types, values, nullptr, true);
  int rows = static_cast<int>(SPI_processed);
  auto *manifest_rows = static_cast<ManifestRow *>(palloc0(sizeof(ManifestRow) * Max(rows, 1)));
  for (int i = 0; i < rows; i++) {
    manifest_rows[i].relid = static_cast<Oid>(strtoul(control::SpiText(i, 1), nullptr, 10));
    manifest_rows[i].columns_json = control::SpiText(i, 2);
    manifest_rows[i].create_table = control::SpiText(i, 3);
  }
  char *created_at = pstrdup(timestamptz_to_str(GetCurrentTimestamp()));
  const char *server_version = GetConfigOption("server_version", false, false);
  const char *encoding = GetDatabaseEncodingName();
  pg::CallCpp([&] {
    JsonWriter json;
    json.BeginObject();
    json.Key("format_version").Int(1);
    json.Key("tool").String(std::string("cdw_backup ") + CDW_BACKUP_VERSION);
    json.Key("run_id").Int(g_job->run_id);
    json.Key("database").String(g_job->database);
    json.Key("created_at").String(created_at);
    json.Key("server_version").String(server_version);
    json.Key("encoding").String(encoding);
    json.Key("compression").String(g_job->compression);
    json.Key("format").String("csv");
    json.Key("path").String(g_job->database_prefix);
    json.Key("tables").BeginArray();
    auto store = pg::OpenTargetStore(g_job->location, g_job->store_options, g_job->secret_id,
                                     g_job->secret_key, g_job->session_token);
    for (int i = 0; i < g_tables->count; i++) {
      const TableEntry &entry = g_tables->entries[i];
      if (entry.range_index != 0) continue;  // described with its range 0
      const ManifestRow *row = nullptr;
      for (int r = 0; r < rows && !row; r++)
        if (manifest_rows[r].relid == entry.relid) row = &manifest_rows[r];
      TableOutcome outcome = CombineRanges(&entry);
      bool succeeded = outcome.status == TableStatus::kSucceeded;
      std::string table_path = TablePrefix(entry.schema_name, entry.table_name);
      json.BeginObject();
      json.Key("schema").String(entry.schema_name);
      json.Key("name").String(entry.table_name);
      json.Key("status").String(TableStatusName(outcome.status));
      json.Key("path").String(table_path);
      json.Key("rows").Int(succeeded ? outcome.rows : 0);
      json.Key("bytes_raw").Int(succeeded ? outcome.bytes_raw : 0);
      json.Key("bytes_stored").Int(succeeded ? outcome.bytes_stored : 0);
      json.Key("columns").Raw(row && row->columns_json ? row->columns_json : "[]");
      json.Key("create_table").String(row && row->create_table ? row->create_table : "");
      json.Key("objects").BeginArray();
      for (int r = 0; r < entry.range_count; r++) {
        const TableEntry &range = (&entry)[r];
        for (int p = 0; p < range.part_count; p++) {
          if (!succeeded) {
            // Another range failed: this range's part is not a backup of the
            // table, so it must not stay behind looking like one.
            store->Remove(std::string(g_job->database_prefix) + table_path + range.parts[p].name);
            continue;
          }
          json.BeginObject();
          json.Key("key").String(range.parts[p].name);
          json.Key("rows").Int(static_cast<int64_t>(range.parts[p].rows));
          json.Key("size").Int(static_cast<int64_t>(range.parts[p].size));
          json.Key("sha256").String(range.parts[p].sha256);
          json.EndObject();
        }
      }
      json.EndArray();
      if (!succeeded && outcome.failed) {
        json.Key("sqlstate").String(outcome.failed->sqlstate);
        json.Key("error").String(outcome.failed->error);
      }
      json.EndObject();
    }
    json.EndArray();
    json.EndObject();
    auto writer = store->Create(std::string(g_job->database_prefix) + kManifestName);
    writer->Write(json.str().data(), json.str().size());
    writer->Finish();
    writer->Commit();
  });
  g_job->manifest_written = true;
}

void RunLeader() {
  // The external table's extension, committed on its own, as the original
  // script does with its COS plugin.
  SetCurrentStatementStartTimestamp();
  StartTransactionCommand();
  MemoryContext context = CurrentMemoryContext;
  PG_TRY();
  {
    SPI_connect();
    PushActiveSnapshot(GetTransactionSnapshot());
    control::SpiRun("CREATE EXTENSION IF NOT EXISTS cdw_backup_fdw", 0, nullptr, nullptr, nullptr);
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
                 quote_identifier(g_job->database), quote_identifier(g_job->database), RoleName()));
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
    int count = ListTables(&entries, &order);
    CreateServer();
    PublishTables(entries, order, count);
    ExportLoop();
    DropServer();
    WaitForHelpers();
    CheckCoordinator();
    if (g_job->cancel)
      ereport(ERROR, (errcode(ERRCODE_QUERY_CANCELED), errmsg("the run was cancelled")));
    WriteManifest();
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
  AwaitLeaderVerdict();
  EndSnapshotTransaction();
}

}  // namespace
}  // namespace cdw::bgworker

extern "C" void cdw_backup_database_worker(Datum job_handle) {
  using namespace cdw::bgworker;
  // Every part allocates ~1 MiB buffers (CSV, compression chunks) and frees
  // them when it ends; glibc would hand them back to the kernel (mmap, heap
  // trim) and fault them in again, zeroed, for the next part. A worker is
  // short-lived and writes one part per range: keep freed memory for reuse.
  // Peak memory is unchanged (measured by the benchmark's goal 6).
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 128 << 20);
  pqsignal(SIGTERM, die);
  pqsignal(SIGINT, StatementCancelHandler);
  BackgroundWorkerUnblockSignals();
  dsm_segment *segment = dsm_attach(DatumGetUInt32(job_handle));
  if (!segment)
    ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                    errmsg("cdw_backup database worker could not attach to its job")));
  g_job = static_cast<DatabaseJob *>(dsm_segment_address(segment));
  g_is_leader = MyBgworkerEntry->bgw_extra[0] == 'L';
  before_shmem_exit(OnWorkerExit, 0);
  BackgroundWorkerInitializeConnectionByOid(g_job->database_id, g_job->role_id, 0);
  StartTransactionCommand();
  g_role_name = MemoryContextStrdup(TopMemoryContext,
                                    quote_identifier(GetUserNameFromId(g_job->role_id, false)));
  CommitTransactionCommand();
  cdw::fdw::SetProgressCallback([](uint64_t rows, uint64_t bytes) { ReportProgress(rows, bytes); });
  pgstat_report_appname(psprintf("cdw_backup run %lld", static_cast<long long>(g_job->run_id)));
  if (g_is_leader)
    RunLeader();
  else
    RunHelper();
  proc_exit(0);
}
