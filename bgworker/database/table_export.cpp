// The export of tables by one database worker (see table_export.h).
//
// Each table is exported exactly as the original shell script did, through
// SQL: CREATE FOREIGN TABLE ... SERVER (a cdw_backup_fdw server), INSERT INTO
// it SELECT * FROM ONLY the table, DROP. Each table runs in its own
// subtransaction of one REPEATABLE READ transaction whose snapshot all
// workers of the database share: a failed table is rolled back (its parts
// removed) and the next one goes on. The foreign table lives in pg_temp and
// is never committed, so no external table can survive an error, a cancel
// or a crash.
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
#include "storage/latch.h"
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

#include "bgworker/database/database_job.h"
#include "bgworker/database/table_export.h"
#include "bgworker/database/table_locks.h"
#include "bgworker/database/worker_state.h"
#include "bgworker/database/worker_text.h"
#include "bgworker/shared_state.h"
#include "extension/control/spi_util.h"
#include "extension/fdw/fdw_options.h"
#include "extension/fdw/part_receiver.h"
#include "extension/fdw/part_registry.h"
#include "extension/pg/cpp_boundary.h"
#include "bgworker/database/manifest_writer.h"
#include "extension/pg/open_store.h"
#include "format/layout.h"
#include "common/error.h"
#include "manifest/authentication.h"
#include "storage/store_factory.h"

#include <memory>

namespace cdw::bgworker::database_worker {
namespace {

int g_progress_slot = -1;
const char *g_server_name = nullptr;      // quoted, for SQL
const char *g_server_raw_name = nullptr;  // as the catalog has it

// Incremental runs (see BaseManifest()).
std::unique_ptr<DatabaseManifest> g_base;

}  // namespace

const DatabaseManifest *BaseManifest() {
  return g_base.get();
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
    CopyText(slot->database, sizeof slot->database, g_job->database);
    CopyText(slot->schema_name, sizeof slot->schema_name, entry->schema_text);
    CopyText(slot->table_name, sizeof slot->table_name, entry->table_text);
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

namespace {

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
      "SELECT pg_catalog.string_agg(pg_catalog.format('%I %s', attname, "
      " pg_catalog.format_type(atttypid, atttypmod)), ', ' ORDER BY attnum) "
      "FROM pg_catalog.pg_attribute "
      "WHERE attrelid OPERATOR(pg_catalog.=) $1 AND attnum OPERATOR(pg_catalog.>) 0 "
      " AND NOT attisdropped",
      1, types, values, nullptr, true);
  char *defs = control::SpiText(0, 1);
  return defs ? defs : pstrdup("");
}

void RecordParts(TableEntry *entry) {
  const auto &parts = fdw::RecentParts();
  entry->part_count = 0;
  entry->rows = entry->bytes_raw = entry->bytes_stored = entry->bytes_reused = 0;
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
    CopyText(record->content_sha256, sizeof record->content_sha256,
             part.stats.content_sha256.c_str());
    CopyText(record->fingerprint, sizeof record->fingerprint, part.stats.fingerprint.c_str());
    record->bytes_raw = part.stats.bytes_raw;
    record->reused_table = record->reused_object = -1;
    entry->bytes_raw += part.stats.bytes_raw;
    entry->bytes_stored += part.stats.bytes_stored;
  }
}

// Incremental runs: the base manifest's entry for the table, when its
// objects can stand for this run's: the same compression and part encoding
// (manifest-wide, checked when it was read), the same columns with the same
// types, every object with its content hash. -1 otherwise.
int BaseTableFor(const TableEntry *entry) {
  if (!g_base) return -1;
  char *schema = pg::ConvertLossy(g_to_utf8, entry->schema_name);
  char *table = pg::ConvertLossy(g_to_utf8, entry->table_name);
  Oid types[1] = {OIDOID};
  Datum values[1] = {ObjectIdGetDatum(entry->relid)};
  control::SpiRun(
      "SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) "
      "FROM pg_catalog.pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) $1 "
      "AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped ORDER BY a.attnum",
      1, types, values, nullptr, true);
  int count = static_cast<int>(SPI_processed);
  char ***cells = control::SpiTextRows();
  for (int c = 0; c < count; c++) {
    cells[c][0] = pg::ConvertLossy(g_to_utf8, cells[c][0]);
    cells[c][1] = pg::ConvertLossy(g_to_utf8, cells[c][1]);
  }
  return pg::CallCpp([&] {
    const DatabaseManifest &base = *g_base;
    for (size_t t = 0; t < base.tables.size(); t++) {
      const ManifestTable &candidate = base.tables[t];
      if (candidate.schema != schema || candidate.name != table) continue;
      if (candidate.status != "succeeded" || candidate.columns.size() != static_cast<size_t>(count))
        return -1;
      for (int c = 0; c < count; c++)
        if (candidate.columns[c].name != cells[c][0] || candidate.columns[c].type != cells[c][1])
          return -1;
      for (const auto &object : candidate.objects)
        if (object.content_sha256.size() != 64 || object.bytes_raw < 0 || object.rows < 0)
          return -1;
      return static_cast<int>(t);
    }
    return -1;
  });
}

// How to probe a unit of base table `base_table`: by the rows' fingerprint
// alone when every object of the base has one (no text is made), else by
// the CSV.
fdw::PartMode ProbeModeFor(int base_table) {
  bool all_fingerprinted = pg::CallCpp([&] {
    for (const auto &object : g_base->tables[base_table].objects)
      if (object.fingerprint.size() != 64) return false;
    return true;
  });
  return all_fingerprinted ? fdw::PartMode::kProbeRows : fdw::PartMode::kProbeText;
}

// After a probe: the object of base table `base_table` made from the same
// rows (the same fingerprint and row count) or holding exactly the CSV the
// probe made (the same SHA-256, rows and bytes), recorded as the entry's
// part instead of writing it again. False when there is none.
bool ReuseProbed(TableEntry *entry, int base_table, fdw::PartMode mode) {
  const PartStats *probe = fdw::RecentProbe();
  if (!probe) return false;
  // A table without a fingerprint seed makes its CSV even when asked for rows only.
  bool made_text = mode == fdw::PartMode::kProbeText || probe->fingerprint.empty();
  int found = pg::CallCpp([&] {
    const auto &objects = g_base->tables[base_table].objects;
    for (size_t o = 0; o < objects.size(); o++) {
      if (objects[o].rows != static_cast<int64_t>(probe->rows)) continue;
      if (!probe->fingerprint.empty() && objects[o].fingerprint == probe->fingerprint)
        return static_cast<int>(o);
      if (made_text && objects[o].content_sha256 == probe->content_sha256 &&
          objects[o].bytes_raw == static_cast<int64_t>(probe->bytes_raw))
        return static_cast<int>(o);
    }
    return -1;
  });
  if (found < 0) return false;
  const ManifestObject &object = g_base->tables[base_table].objects[found];
  entry->part_count = 1;
  PartRecord *record = &entry->parts[0];
  CopyText(record->name, sizeof record->name, object.key.c_str());
  record->rows = probe->rows;
  record->size = object.size;
  CopyText(record->sha256, sizeof record->sha256, object.sha256.c_str());
  CopyText(record->content_sha256, sizeof record->content_sha256, object.content_sha256.c_str());
  CopyText(record->fingerprint, sizeof record->fingerprint, probe->fingerprint.c_str());
  record->bytes_raw = object.bytes_raw;
  record->reused_table = base_table;
  record->reused_object = found;
  entry->bytes_raw = static_cast<int64>(object.bytes_raw);
  entry->bytes_stored = entry->bytes_reused = static_cast<int64>(object.size);
  return true;
}

// The table's key prefix on the target (UTF-8, from its names) as this
// database's text, for the external table's path option (which the FDW
// turns back into UTF-8). A name UTF-8 cannot hold fails the table.
char *TablePathOption(const TableEntry *entry) {
  char *schema = pg::ServerToUtf8(entry->schema_name, "the schema name");
  char *table = pg::ServerToUtf8(entry->table_name, "the table name");
  char *prefix = pg::CallCpp([&] { return pstrdup(TablePrefix(schema, table).c_str()); });
  char *key = psprintf("%s%s", g_job->database_prefix, prefix);
  size_t len = 0;
  return const_cast<char *>(
      pg::ConvertText(g_from_utf8, key, strlen(key), &len, "the table's path on the target",
                      "The database's name must be representable in the database's own encoding."));
}

// `release_slot` false: a table whose upload ended while the worker's
// progress slot shows the table being exported now.
void FinishEntry(TableEntry *entry, TableStatus status, bool release_slot = true) {
  entry->finished_at = GetCurrentTimestamp();
  pg_write_barrier();
  entry->status = static_cast<int>(status);
  if (release_slot) ReleaseProgressSlot();
  WakeCoordinator();
}

// Tables whose rows are written but whose parts may still be uploading
// (part_registry.h, background commits) stay kRunning until their uploads
// ended: succeeded only once every object is on the target; an upload that
// failed fails its table (its parts removed), not the run. With `wait`,
// waits for the oldest one; returns whether one finished.
bool FinishUploadedTable(bool wait) {
  static fdw::CommitFailure failure;
  int64_t tag = 0;
  bool failed = false;
  if (!pg::CallCpp([&] { return fdw::NextFinishedCommits(wait, &tag, &failed, &failure); }))
    return false;
  TableEntry *entry = &g_tables->entries[tag];
  if (failed) {
    CopyText(entry->sqlstate, sizeof entry->sqlstate, failure.sqlstate);
    CopyForHome(entry->error, sizeof entry->error, failure.message);
    CopyForHome(entry->hint, sizeof entry->hint, failure.hint);
    entry->part_count = 0;
    entry->rows = entry->bytes_raw = entry->bytes_stored = 0;
  }
  FinishEntry(entry, failed ? TableStatus::kFailed : TableStatus::kSucceeded, false);
  return true;
}

// Finishes the tables whose uploads ended, then waits while as many are in
// flight as the target allows. The wait ends as soon as there is room: when
// a table's uploads end, or when the buffers of those in flight shrink
// under the bound as their parts land (a block range's multipart object
// still completing holds no buffer), so the next range is scanned while
// earlier ones complete.
void FinishUploadedTables() {
  while (FinishUploadedTable(false)) {
  }
  while (pg::CallCpp([] { return fdw::CommitsFull(); })) {
    if (FinishUploadedTable(false)) continue;
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 5, PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
    CHECK_FOR_INTERRUPTS();
  }
}

// Waits for every table still uploading (before the worker's manifest or
// commit).
void DrainUploads() {
  bool any = false;
  while (FinishUploadedTable(true)) any = true;
  if (any) ReleaseProgressSlot();  // the last table exported kept it
}

// A helper gives a table it cannot lock at once back to the leader, which
// holds the table's lock (table_locks.h). The entry is pending again.
void HandBack(TableEntry *entry) {
  entry->started_at = 0;
  entry->exporter_pid = 0;
  entry->part_count = 0;
  entry->rows = entry->bytes_raw = entry->bytes_stored = entry->bytes_reused = 0;
  entry->sqlstate[0] = entry->error[0] = entry->hint[0] = '\0';
  entry->status = static_cast<int>(TableStatus::kPending);
  ReleaseProgressSlot();
  SpinLockAcquire(&g_job->mutex);
  HandedBack(g_tables)[g_tables->handed_back++] = static_cast<uint32>(entry - g_tables->entries);
  SpinLockRelease(&g_job->mutex);
  WakeCoordinator();  // and the leader
}

// Runs `select` (a scan of `relid`) with its rows going to a part under
// `path`, or, for a probe, only hashed: nothing is compressed or written,
// and part_registry.h's RecentProbe() has the result. Returns the number of
// rows.
uint64 ExportRows(const char *select, Oid relid, const char *source, const char *path,
                  fdw::PartMode mode) {
  DestReceiver *part = fdw::CreatePartReceiver(g_server_raw_name, source, path, g_job->compression,
                                               pg_encoding_to_char(g_part_encoding), relid, mode);
  SPIExecuteOptions select_options;
  memset(&select_options, 0, sizeof select_options);
  select_options.read_only = true;
  select_options.dest = part;
  int result = SPI_execute_extended(select, &select_options);
  // A SELECT whose rows go to a receiver other than SPI's own reports
  // SPI_OK_UTILITY (_SPI_pquery); SPI_processed still counts the rows.
  if (result != SPI_OK_SELECT && result != SPI_OK_UTILITY)
    ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
                    errmsg("exporting %s returned %s", source, SPI_result_code_string(result))));
  part->rDestroy(part);
  return SPI_processed;
}

// One table, in its own subtransaction (the pattern of a PL/pgSQL exception
// block): on error everything it did is rolled back, including its parts.
void ExportTable(TableEntry *entry) {
  // A helper never waits for the table's lock; it holds it (the leader has
  // it for the transaction) only while it exports the table.
  if (!g_is_leader && !ConditionalLockRelationOid(entry->relid, AccessShareLock)) {
    HandBack(entry);
    return;
  }
  MemoryContext old_context = CurrentMemoryContext;
  ResourceOwner old_owner = CurrentResourceOwner;
  entry->started_at = GetCurrentTimestamp();
  entry->exporter_pid = MyProcPid;
  entry->status = static_cast<int>(TableStatus::kRunning);
  AcquireProgressSlot(entry);
  pgstat_report_activity(
      STATE_RUNNING, psprintf("cdw_backup run %lld: %s.%s", static_cast<long long>(g_job->run_id),
                              entry->schema_name, entry->table_name));
  BeginInternalSubTransaction(nullptr);
  MemoryContextSwitchTo(old_context);
  PG_TRY();
  {
    // What the export locks beyond the leader's lock on the table is
    // released once the table is done (table_locks.h).
    ResourceOwner table_locks = BeginTableLockScope();
    CheckTableAccess(entry);
    fdw::ClearRecentParts();
    SPI_connect();
    char *source = quote_qualified_identifier(entry->schema_name, entry->table_name);
    char *path = TablePathOption(entry);
    char *columns = ColumnDefinitions(entry->relid);
    // Its column names go into the manifest, as UTF-8.
    (void)pg::ServerToUtf8(columns, "the column names");
    // The rows go to the part through the FDW's insert path, as INSERT
    // INTO a foreign table would send them, but with no foreign table
    // (fdw/part_receiver.h). The parts' text is UTF-8 (or the database's
    // bytes where it cannot be: text_encoding.h's PartEncoding).
    // Incremental runs probe first: the rows this unit would write are
    // fingerprinted (or, for a table without fingerprints, its CSV is made
    // and hashed); nothing is compressed or written. When an object of the
    // base run was made from the same rows (holds exactly this CSV), the
    // manifest references it. Probe and write read the same snapshot, so
    // what is referenced is byte for byte what would have been written.
    int base_table = BaseTableFor(entry);
    // A range of a big table reads its blocks only (a TID range scan).
    char *range = pstrdup("");
    if (entry->range_count > 1) {
      range = psprintf(" WHERE ctid OPERATOR(pg_catalog.>=) '(%u,0)'::pg_catalog.tid",
                       entry->start_block);
      if (entry->end_block != InvalidBlockNumber)
        range = psprintf("%s AND ctid OPERATOR(pg_catalog.<) '(%u,0)'::pg_catalog.tid", range,
                         entry->end_block);
    }
    char *select = psprintf("SELECT * FROM ONLY %s%s", source, range);
    uint64 rows = 0;
    bool reused = false;
    if (base_table >= 0) {
      fdw::PartMode mode = ProbeModeFor(base_table);
      rows = ExportRows(select, entry->relid, source, path, mode);
      reused = ReuseProbed(entry, base_table, mode);
    }
    // Changed (or a full run): written.
    if (!reused) rows = ExportRows(select, entry->relid, source, path, fdw::PartMode::kWrite);
    SPI_finish();
    EndTableLockScope(table_locks);
    if (!reused) RecordParts(entry);
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
    if (!g_is_leader) UnlockRelationOid(entry->relid, AccessShareLock);
    // A lock wait that timed out or deadlocked: a helper leaves the table
    // to the leader, which holds its lock; the leader fails it.
    if (!g_is_leader && IsLockWaitError(error->sqlerrcode)) {
      FreeErrorData(error);
      HandBack(entry);
      return;
    }
    CopyText(entry->sqlstate, sizeof entry->sqlstate, unpack_sql_state(error->sqlerrcode));
    CopyForHome(entry->error, sizeof entry->error, error->message);
    CopyForHome(entry->hint, sizeof entry->hint, HintFor(error, entry));
    if (error->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE)
      DescribeExportLockWait(entry, error->message);
    entry->part_count = 0;
    entry->rows = entry->bytes_raw = entry->bytes_stored = entry->bytes_reused = 0;
    bool cancelled = error->sqlerrcode == ERRCODE_QUERY_CANCELED && g_job->cancel;
    FreeErrorData(error);
    FinishEntry(entry, cancelled ? TableStatus::kCancelled : TableStatus::kFailed);
    return;
  }
  PG_END_TRY();
  if (!g_is_leader) UnlockRelationOid(entry->relid, AccessShareLock);
  // Uploads still under way: the table finishes when they end.
  int64_t tag = entry - g_tables->entries;
  if (!pg::CallCpp([&] { return fdw::DeferRecentCommits(tag); }))
    FinishEntry(entry, TableStatus::kSucceeded);
}

// The next entry a helper handed back, or NULL.
TableEntry *TakeHandedBack() {
  TableEntry *entry = nullptr;
  SpinLockAcquire(&g_job->mutex);
  if (g_tables->taken_back < g_tables->handed_back)
    entry = &g_tables->entries[HandedBack(g_tables)[g_tables->taken_back++]];
  SpinLockRelease(&g_job->mutex);
  return entry;
}

void Export(TableEntry *entry) {
  ExportTable(entry);
}

}  // namespace

void ExportLoop() {
  int exported = 0;
  for (;;) {
    CHECK_FOR_INTERRUPTS();
    if (g_job->cancel) break;
    CheckCoordinator();
    FinishUploadedTables();
    // The leader takes what helpers gave back first: they may be waiting
    // for nothing else.
    TableEntry *entry = g_is_leader ? TakeHandedBack() : nullptr;
    if (!entry) {
      uint32 index = pg_atomic_fetch_add_u32(&g_job->next_table, 1);
      if (static_cast<int>(index) >= g_tables->count) break;
      entry = &g_tables->entries[DispatchOrder(g_tables)[index]];
    }
    // Tables that failed as they were listed (their lock) are not exported.
    if (entry->status != static_cast<int>(TableStatus::kPending)) continue;
    Export(entry);
    if (++exported % kTablesPerCacheRelease == 0) ReleaseCatalogCaches();
  }
  DrainUploads();
}

bool ExportHandedBack() {
  bool any = false;
  while (!g_job->cancel) {
    CHECK_FOR_INTERRUPTS();
    FinishUploadedTables();
    TableEntry *entry = TakeHandedBack();
    if (!entry) break;
    Export(entry);
    any = true;
  }
  DrainUploads();
  return any;
}

namespace {

// Incremental runs: reads the base run's manifest for this database. Only
// an authenticated manifest (the target's key) whose compression and part
// encoding are this run's is used; anything else means a full copy, said in
// the log.
void LoadBaseManifest(const char *location_utf8) {
  if (g_base || !g_job->base_prefix[0]) return;
  const char *part_encoding = pg_encoding_to_char(g_part_encoding);
  char *problem = pg::CallCpp([&]() -> char * {
    auto store = pg::OpenTargetStore(location_utf8, g_job->store_options, g_job->secret_id,
                                     g_job->secret_key, g_job->session_token,
                                     g_job->sse_customer_key, g_job->encryption_keys);
    std::string key = std::string(g_job->base_prefix) + kManifestName;
    AuthenticatedRead read =
        ReadAuthenticatedObject(store.get(), TargetKeyFromHex(g_job->manifest_key), key);
    if (!read.found) return pg::PallocCopy("its manifest " + key + " is missing");
    if (!read.has_mac || read.verdict != MacVerdict::kValid)
      return pg::PallocCopy("its manifest " + key + " is not authenticated by the target's key");
    std::unique_ptr<DatabaseManifest> base;
    try {
      base = std::make_unique<DatabaseManifest>(ParseManifest(read.bytes));
    } catch (const Error &e) {
      return pg::PallocCopy("its manifest " + key + " cannot be read: " + e.what());
    }
    if (base->run_id != g_job->base_run_id || base->path != g_job->base_prefix)
      return pg::PallocCopy("its manifest " + key + " names another run");
    if (base->compression != g_job->compression || base->encoding != part_encoding)
      return pg::PallocCopy("it has another compression or encoding");
    // Objects are reused only under the encryption this run would apply,
    // to the same key: after cdw_backup_rotate_key the next run is a full
    // copy under the new key, so no new run depends on a retired key.
    std::string encryption;
    for (const auto &[name, raw] : base->extra)
      if (name == "encryption") encryption = raw;
    if (encryption != EncryptionSection(store.get()))
      return pg::PallocCopy("it is encrypted differently (or to another key)");
    g_base = std::move(base);
    return nullptr;
  });
  if (problem)
    ereport(LOG, (errmsg("cdw_backup run %lld: database %s is copied in full, not from run %lld: "
                         "%s",
                         static_cast<long long>(g_job->run_id), g_job->database,
                         static_cast<long long>(g_job->base_run_id), problem)));
}

}  // namespace

// A server of our own per worker, created inside the uncommitted
// transaction and dropped before commit: nothing persists in the database.
void CreateServer() {
  g_server_raw_name =
      psprintf("cdw_backup_run%lld_%d", static_cast<long long>(g_job->run_id), MyProcPid);
  g_server_name = quote_identifier(g_server_raw_name);
  // The location is the home database's text; the FDW reads it as this
  // database's and makes it UTF-8 again.
  size_t len = 0;
  const char *location = pg::ConvertText(g_from_home, g_job->location, strlen(g_job->location),
                                         &len, "the target's location", nullptr);
  control::SpiRun(fdw::CreateServerStatement(g_server_name, location, g_job->store_options), 0,
                  nullptr, nullptr, nullptr);
  char *location_utf8 = pg::ConvertLossy(g_home_to_utf8, g_job->location);
  pg::CallCpp([&] {
    Credentials credentials{g_job->secret_id, g_job->secret_key, g_job->session_token,
                            g_job->sse_customer_key};
    fdw::SetProcessCredentials(location_utf8, credentials, g_job->encryption_keys);
  });
  LoadBaseManifest(location_utf8);
}

void DropServer() {
  control::SpiRun(psprintf("DROP SERVER %s", g_server_name), 0, nullptr, nullptr, nullptr);
  fdw::ClearProcessCredentials();
}

}  // namespace cdw::bgworker::database_worker
