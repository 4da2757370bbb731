// The leader's table list (see table_list.h).
extern "C" {
#include "postgres.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/array.h"
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
#include "bgworker/database/table_list.h"
#include "bgworker/database/table_locks.h"
#include "bgworker/database/worker_state.h"
#include "bgworker/database/worker_text.h"
#include "extension/control/settings.h"
#include "extension/control/spi_util.h"
#include "extension/pg/cpp_boundary.h"
#include "filter/name_pattern.h"
#include "plan/block_ranges.h"
#include "plan/dispatch_order.h"

namespace cdw::bgworker::database_worker {
namespace {

enum class LockState { kNotWanted, kWanted, kLocked, kFailed };

struct ListedTable {
  Oid relid;
  char *schema_name, *table_name;
  char *excluded_by;       // left out by a filter (which one), or NULL
  char *data_excluded_by;  // exclude_table_data: schema only, or NULL
  int64 blocks;            // of the main fork: what block ranges divide
  int64 cost;              // with TOAST: what the export of the table costs
  Oid relfilenode;         // as of the snapshot
  LockState lock;
  char *sqlstate, *error, *hint;  // why, when the table failed as it was listed
};

// Locks what the role may read (table_locks.h), so no DDL or TRUNCATE
// changes a table between the snapshot and its export: first every table
// whose lock is free, then the others, each waited for at most
// lock_wait_timeout, so one busy table does not hold up the locking of the
// rest.
void LockListedTables(ListedTable *listed, int count) {
  volatile int wanted = 0;
  for (int i = 0; i < count; i++) {
    // A table whose rows are left out is still locked, as pg_dump locks it:
    // its definition is in the backup, and DDL must wait for it too.
    if (listed[i].excluded_by) {
      listed[i].lock = LockState::kNotWanted;  // not in the backup: not locked
      continue;
    }
    listed[i].lock = pg_class_aclcheck(listed[i].relid, g_job->role_id, ACL_SELECT) == ACLCHECK_OK
                         ? LockState::kWanted
                         : LockState::kNotWanted;  // fails later, naming the GRANT
    if (listed[i].lock == LockState::kWanted) wanted++;
  }
  CheckLockBudget(wanted);
  // The budget counts capacity; other sessions' locks may fill the lock
  // table first ("out of shared memory"): then the error says what to set.
  MemoryContext context = CurrentMemoryContext;
  PG_TRY();
  {
    for (int i = 0; i < count; i++)
      if (listed[i].lock == LockState::kWanted &&
          ConditionalLockRelationOid(listed[i].relid, AccessShareLock))
        listed[i].lock = LockState::kLocked;
    auto *entry = static_cast<TableEntry *>(palloc0(sizeof(TableEntry)));
    for (int i = 0; i < count; i++) {
      if (listed[i].lock != LockState::kWanted) continue;
      CHECK_FOR_INTERRUPTS();
      entry->relid = listed[i].relid;
      CopyText(entry->schema_name, NAMEDATALEN, listed[i].schema_name);
      CopyText(entry->table_name, NAMEDATALEN, listed[i].table_name);
      if (LockTableForRun(entry)) {
        listed[i].lock = LockState::kLocked;
        continue;
      }
      listed[i].lock = LockState::kFailed;
      listed[i].sqlstate = pstrdup(entry->sqlstate);
      listed[i].error = pstrdup(entry->error);
      listed[i].hint = pstrdup(entry->hint);
    }
  }
  PG_CATCH();
  {
    MemoryContextSwitchTo(context);
    ErrorData *error = CopyErrorData();
    if (error->sqlerrcode != ERRCODE_OUT_OF_MEMORY) PG_RE_THROW();
    FlushErrorState();
    int locked = 0;
    for (int i = 0; i < count; i++) locked += listed[i].lock == LockState::kLocked;
    RaiseLockTableFull(wanted, locked, error->message);
  }
  PG_END_TRY();
}

// A table truncated or rewritten after the snapshot and before its lock:
// TRUNCATE is not MVCC-safe, so the snapshot would read the new, empty
// file and the backup would silently lose the rows.
bool RewrittenSinceSnapshot(Oid relid, Oid relfilenode_at_snapshot) {
  HeapTuple tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
  if (!HeapTupleIsValid(tuple)) return false;
  Oid now = reinterpret_cast<Form_pg_class>(GETSTRUCT(tuple))->relfilenode;
  ReleaseSysCache(tuple);
  return now != relfilenode_at_snapshot;
}

// Sizes of the locked tables (pg_relation_size opens a table, and would
// wait for its lock without a bound if it came before the locking).
// In batches: measuring opens each table (and its TOAST table), which
// leaves their cache entries behind (ReleaseCatalogCaches).
void MeasureLockedTables(ListedTable *listed, int count) {
  Datum *oids = static_cast<Datum *>(palloc(sizeof(Datum) * Max(count, 1)));
  for (int first = 0; first < count; first += kTablesPerCacheRelease) {
    int batch = Min(count - first, kTablesPerCacheRelease);
    for (int i = 0; i < batch; i++)
      oids[i] = ObjectIdGetDatum(
          listed[first + i].lock == LockState::kLocked ? listed[first + i].relid : InvalidOid);
    Oid types[1] = {OIDARRAYOID};
    Datum values[1] = {
        PointerGetDatum(construct_array(oids, batch, OIDOID, sizeof(Oid), true, TYPALIGN_INT))};
    control::SpiRun(
        "SELECT pg_catalog.pg_relation_size(u.r) OPERATOR(pg_catalog./) "
        "   pg_catalog.current_setting('block_size')::pg_catalog.int8, "
        " pg_catalog.pg_table_size(u.r) OPERATOR(pg_catalog./) "
        "   pg_catalog.current_setting('block_size')::pg_catalog.int8 "
        "FROM pg_catalog.unnest($1) WITH ORDINALITY AS u(r, i) ORDER BY u.i",
        1, types, values, nullptr, true);
    for (int i = 0; i < batch && i < static_cast<int>(SPI_processed); i++) {
      const char *blocks = control::SpiText(i, 1);
      const char *cost = control::SpiText(i, 2);
      listed[first + i].blocks = blocks ? strtoll(blocks, nullptr, 10) : 0;
      listed[first + i].cost = Max(cost ? strtoll(cost, nullptr, 10) : 0, listed[first + i].blocks);
    }
    ReleaseCatalogCaches();
  }
}

// The run's filters in this database's encoding, translated to regexes
// (core/filter/name_pattern.h). A pattern with a character this database
// cannot hold matches none of its names and is left out.
struct Filter {
  int kind, index;
  const char *pattern;               // as the caller wrote it, in the job's encoding
  char *schema_regex, *table_regex;  // NULL: any
};
Filter *g_filters = nullptr;
int g_filter_count = 0;
bool g_has_filter[kFilterKinds];

// `text` of the job in this database's encoding, or NULL when it has a
// character this database cannot hold.
char *ToDatabase(const char *text) {
  MemoryContext context = CurrentMemoryContext;
  char *volatile converted = nullptr;
  PG_TRY();
  {
    size_t length;
    const char *out =
        pg::ConvertText(g_from_home, text, strlen(text), &length, "a filter pattern", nullptr);
    converted = pnstrdup(out, length);
  }
  PG_CATCH();
  {
    MemoryContextSwitchTo(context);
    FlushErrorState();
    converted = nullptr;
  }
  PG_END_TRY();
  return converted;
}

void PrepareFilters() {
  int total = 0;
  for (const auto &list : g_job->filters.lists) total += list.count;
  g_filters = static_cast<Filter *>(palloc0(sizeof(Filter) * Max(total, 1)));
  g_filter_count = 0;
  for (int kind = 0; kind < kFilterKinds; kind++) {
    const PatternList *list = &g_job->filters.lists[kind];
    g_has_filter[kind] = list->count > 0;
    for (int i = 0; i < list->count; i++) {
      const char *pattern = FilterPattern(list, i);
      char *local = ToDatabase(pattern);
      if (!local) continue;
      Filter *f = &g_filters[g_filter_count];
      f->kind = kind;
      f->index = i;
      f->pattern = pattern;
      bool schema_list = kind == kFilterSchemas || kind == kFilterExcludeSchemas;
      const char *parameter = FilterParameterName(kind);
      pg::CallCpp([&] {
        if (schema_list) {
          f->schema_regex = pg::PallocCopy(TranslateSchemaPattern(local, parameter));
        } else {
          TableNamePattern translated = TranslateTablePattern(local, parameter);
          f->schema_regex = pg::PallocCopy(translated.schema_regex);
          f->table_regex = pg::PallocCopy(translated.table_regex);
        }
      });
      if (f->schema_regex && !f->schema_regex[0]) f->schema_regex = nullptr;
      if (f->table_regex && !f->table_regex[0]) f->table_regex = nullptr;
      g_filter_count++;
    }
  }
}

// "exclude_tables pattern "log_*"" (in this database's encoding).
char *Reason(const Filter &f) {
  char *local = ToDatabase(f.pattern);
  return psprintf("%s pattern \"%s\"", FilterParameterName(f.kind), local ? local : "?");
}

// Which filters a name matched, from the query's array of filter positions
// ("{0,3}", or NULL for none).
void ParsePositions(const char *text, bool *matched) {
  for (int i = 0; i < g_filter_count; i++) matched[i] = false;
  if (!text) return;
  for (const char *p = text; *p;) {
    if (*p >= '0' && *p <= '9') {
      char *end;
      long position = strtol(p, &end, 10);
      if (position >= 0 && position < g_filter_count) matched[position] = true;
      p = end;
    } else {
      p++;
    }
  }
}

// Decides for one table: excluded (by which filter), its data excluded, or
// backed up. Filters combine: its schema must pass schemas / exclude_schemas
// and the table tables / exclude_tables (README "Choosing tables").
void Decide(ListedTable *table, const bool *matched) {
  const Filter *first[kFilterKinds] = {nullptr};
  for (int i = 0; i < g_filter_count; i++) {
    if (!matched[i]) continue;
    if (!first[g_filters[i].kind]) first[g_filters[i].kind] = &g_filters[i];
    g_job->pattern_matched[g_filters[i].kind][g_filters[i].index] = true;
  }
  if (first[kFilterExcludeSchemas])
    table->excluded_by = Reason(*first[kFilterExcludeSchemas]);
  else if (g_has_filter[kFilterSchemas] && !first[kFilterSchemas])
    table->excluded_by = pstrdup("schemas (its schema matches none of the patterns)");
  else if (first[kFilterExcludeTables])
    table->excluded_by = Reason(*first[kFilterExcludeTables]);
  else if (g_has_filter[kFilterTables] && !first[kFilterTables])
    table->excluded_by = pstrdup("tables (it matches none of the patterns)");
  else if (first[kFilterExcludeTableData])
    table->data_excluded_by = Reason(*first[kFilterExcludeTableData]);
}

// The filters as query parameters: positions, schema and table regexes.
void FilterParameters(Datum *values) {
  int n = Max(g_filter_count, 1);
  Datum *positions = static_cast<Datum *>(palloc(sizeof(Datum) * n));
  Datum *schemas = static_cast<Datum *>(palloc(sizeof(Datum) * n));
  Datum *tables = static_cast<Datum *>(palloc(sizeof(Datum) * n));
  bool *schema_nulls = static_cast<bool *>(palloc(sizeof(bool) * n));
  bool *table_nulls = static_cast<bool *>(palloc(sizeof(bool) * n));
  for (int i = 0; i < g_filter_count; i++) {
    positions[i] = Int32GetDatum(i);
    schema_nulls[i] = !g_filters[i].schema_regex;
    schemas[i] = schema_nulls[i] ? (Datum)0 : CStringGetTextDatum(g_filters[i].schema_regex);
    table_nulls[i] = !g_filters[i].table_regex;
    tables[i] = table_nulls[i] ? (Datum)0 : CStringGetTextDatum(g_filters[i].table_regex);
  }
  int dims[1] = {g_filter_count};
  int lbs[1] = {1};
  values[0] = PointerGetDatum(
      construct_array(positions, g_filter_count, INT4OID, sizeof(int32), true, TYPALIGN_INT));
  values[1] = PointerGetDatum(
      construct_md_array(schemas, schema_nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
  values[2] = PointerGetDatum(
      construct_md_array(tables, table_nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
}

// The positions of the filters that match n.nspname and `relname_match`;
// the regexes are parameters, never spliced into the SQL; name's collation
// is C, as the caller's check compiled them.
#define MATCHED_FILTERS(relname_match)                                                   \
  "(SELECT pg_catalog.array_agg(f.pos)::pg_catalog.text FROM ROWS FROM ("                \
  "pg_catalog.unnest($1::pg_catalog.int4[]), pg_catalog.unnest($2::pg_catalog.text[]), " \
  "pg_catalog.unnest($3::pg_catalog.text[])) AS f(pos, s, t) "                           \
  "WHERE (f.s IS NULL OR n.nspname OPERATOR(pg_catalog.~) f.s) "                         \
  "AND (f.t IS NULL OR " relname_match ")) "

}  // namespace

int ListTables(TableEntry **entries_out, uint32 **order_out) {
  PrepareFilters();
  Oid filter_types[3] = {INT4ARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
  Datum filter_values[3];
  FilterParameters(filter_values);
  if (g_filter_count > 0) {
    // A schema pattern that matches a schema (with tables or not) matched.
    control::SpiRun(
        "SELECT " MATCHED_FILTERS("false")
        "FROM pg_catalog.pg_namespace n "
        "WHERE n.nspname OPERATOR(pg_catalog.<>) 'information_schema' "
        "AND n.nspname OPERATOR(pg_catalog.!~) '^pg_'",
        3, filter_types, filter_values, nullptr, true);
    bool *matched = static_cast<bool *>(palloc(sizeof(bool) * g_filter_count));
    for (uint64 r = 0; r < SPI_processed; r++) {
      ParsePositions(control::SpiText(static_cast<int>(r), 1), matched);
      for (int i = 0; i < g_filter_count; i++)
        if (matched[i] &&
            (g_filters[i].kind == kFilterSchemas || g_filters[i].kind == kFilterExcludeSchemas))
          g_job->pattern_matched[g_filters[i].kind][g_filters[i].index] = true;
    }
  }
  control::SpiRun(
      "SELECT c.oid, n.nspname, c.relname, c.relfilenode, "
      MATCHED_FILTERS("c.relname OPERATOR(pg_catalog.~) f.t")
      "FROM pg_catalog.pg_class c "
      "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
      "WHERE c.relkind OPERATOR(pg_catalog.=) 'r' "
      "AND c.relpersistence OPERATOR(pg_catalog.=) ANY ('{p,u}'::pg_catalog.\"char\"[]) "
      "AND n.nspname OPERATOR(pg_catalog.<>) 'information_schema' "
      "AND n.nspname OPERATOR(pg_catalog.!~) '^pg_' "
      "AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d "
      " WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
      " AND d.objid OPERATOR(pg_catalog.=) c.oid AND d.deptype OPERATOR(pg_catalog.=) 'e') "
      "ORDER BY n.nspname, c.relname",
      3, filter_types, filter_values, nullptr, true);
  int count = static_cast<int>(SPI_processed);
  auto *listed = static_cast<ListedTable *>(palloc0(sizeof(ListedTable) * Max(count, 1)));
  bool *matched = static_cast<bool *>(palloc0(sizeof(bool) * Max(g_filter_count, 1)));
  bool any_filter = HasFilters(&g_job->filters);
  for (int i = 0; i < count; i++) {
    listed[i].relid = static_cast<Oid>(strtoul(control::SpiText(i, 1), nullptr, 10));
    listed[i].schema_name = control::SpiText(i, 2);
    listed[i].table_name = control::SpiText(i, 3);
    listed[i].relfilenode = static_cast<Oid>(strtoul(control::SpiText(i, 4), nullptr, 10));
    if (any_filter) {
      ParsePositions(control::SpiText(i, 5), matched);
      Decide(&listed[i], matched);
    }
  }
  LockListedTables(listed, count);
  MeasureLockedTables(listed, count);
  int64 total_cost = 0;
  for (int i = 0; i < count; i++) total_cost += listed[i].cost;
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
    entry->relid = listed[i].relid;
    CopyText(entry->schema_name, NAMEDATALEN, listed[i].schema_name);
    CopyText(entry->table_name, NAMEDATALEN, listed[i].table_name);
    CopyForHome(entry->schema_text, sizeof entry->schema_text, entry->schema_name);
    CopyForHome(entry->table_text, sizeof entry->table_text, entry->table_name);
    int64 blocks = listed[i].blocks;
    // Dropped since the listing: gone from the run. A table whose rows are
    // left out is treated as its lock went, as an exported table is: its
    // lock not granted, it failed (its definition may be changing under an
    // ACCESS EXCLUSIVE holder).
    if (listed[i].lock == LockState::kLocked &&
        !SearchSysCacheExists1(RELOID, ObjectIdGetDatum(entry->relid)))
      continue;
    bool schema_only = !listed[i].excluded_by && listed[i].data_excluded_by;
    if (listed[i].excluded_by || (schema_only && listed[i].lock != LockState::kFailed)) {
      // One entry no worker takes: left out, or its schema only (done now,
      // kept when the leader commits, like a table it exported).
      entry->range_count = 1;
      entry->end_block = InvalidBlockNumber;
      CopyForHome(entry->hint, sizeof entry->hint,
                  listed[i].excluded_by ? listed[i].excluded_by : listed[i].data_excluded_by);
      entry->data_excluded = listed[i].data_excluded_by != nullptr;
      entry->started_at = entry->finished_at = GetCurrentTimestamp();
      if (entry->data_excluded) entry->exporter_pid = MyProcPid;
      entry->status = static_cast<int>(listed[i].excluded_by ? TableStatus::kExcluded
                                                             : TableStatus::kSucceeded);
      entry_cost[kept] = 0;
      kept++;
      continue;
    }
    if (listed[i].lock == LockState::kLocked &&
        RewrittenSinceSnapshot(entry->relid, listed[i].relfilenode)) {
      listed[i].lock = LockState::kFailed;
      listed[i].sqlstate = pstrdup("40001");
      listed[i].error = psprintf(
          "table %s was truncated or rewritten after the backup's snapshot was taken; "
          "its rows as of the snapshot are gone",
          quote_qualified_identifier(entry->schema_name, entry->table_name));
      listed[i].hint =
          pstrdup("Run the backup again (TRUNCATE and table rewrites are not MVCC-safe).");
    }
    if (listed[i].lock == LockState::kFailed) {
      // Failed as it was listed: one entry that no worker takes.
      CopyText(entry->sqlstate, sizeof entry->sqlstate, listed[i].sqlstate);
      CopyText(entry->error, sizeof entry->error, listed[i].error);
      CopyText(entry->hint, sizeof entry->hint, listed[i].hint);
      entry->status = static_cast<int>(TableStatus::kFailed);
      entry->finished_at = GetCurrentTimestamp();
      entry->range_count = 1;
      entry->end_block = InvalidBlockNumber;
      entry_cost[kept] = 0;
      kept++;
      continue;
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
      range->planned_bytes = entry_cost[kept + r] * BLCKSZ;
    }
    kept += ranges;
  }
  // Workers take units largest first (ranges of a big table among them), so
  // the last units to start are the smallest: the longest-processing-time
  // rule, which keeps the idle tail of a run short. Ranges of about the same
  // size are taken round robin across tables, so that each big table's CSV
  // ratio is known early (core/plan/dispatch_order.h).
  auto *order = static_cast<uint32 *>(palloc(sizeof(uint32) * Max(kept, 1)));
  auto *range_index = static_cast<int32 *>(palloc(sizeof(int32) * Max(kept, 1)));
  for (int i = 0; i < kept; i++) range_index[i] = entries[i].range_index;
  OrderUnits(entry_cost, range_index, static_cast<size_t>(kept), order);
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
  g_tables->handed_back = g_tables->taken_back = 0;
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

}  // namespace cdw::bgworker::database_worker
