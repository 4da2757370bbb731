// The leader's table list (see table_list.h).
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

#include <algorithm>

#include "bgworker/database/database_job.h"
#include "bgworker/database/table_list.h"
#include "bgworker/database/worker_state.h"
#include "bgworker/database/worker_text.h"
#include "extension/control/settings.h"
#include "extension/control/spi_util.h"
#include "plan/block_ranges.h"

namespace cdw::bgworker::database_worker {
namespace {

struct ListedTable {
  int64 blocks;  // of the main fork: what block ranges divide
  int64 cost;    // with TOAST: what the export of the table costs
};

}  // namespace

int ListTables(TableEntry **entries_out, uint32 **order_out) {
  control::SpiRun(
      "SELECT c.oid, n.nspname, c.relname, "
      " pg_catalog.pg_relation_size(c.oid) OPERATOR(pg_catalog./) "
      "   pg_catalog.current_setting('block_size')::pg_catalog.int8, "
      " pg_catalog.pg_table_size(c.oid) OPERATOR(pg_catalog./) "
      "   pg_catalog.current_setting('block_size')::pg_catalog.int8 "
      "FROM pg_catalog.pg_class c "
      "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
      "WHERE c.relkind OPERATOR(pg_catalog.=) 'r' "
      "AND c.relpersistence OPERATOR(pg_catalog.=) ANY ('{p,u}'::pg_catalog.\"char\"[]) "
      "AND n.nspname OPERATOR(pg_catalog.<>) 'information_schema' "
      "AND n.nspname OPERATOR(pg_catalog.!~) '^pg_' "
      "AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d "
      " WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
      " AND d.objid OPERATOR(pg_catalog.=) c.oid AND d.deptype OPERATOR(pg_catalog.=) 'e') "
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
    CopyForHome(entry->schema_text, sizeof entry->schema_text, entry->schema_name);
    CopyForHome(entry->table_text, sizeof entry->table_text, entry->table_name);
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

}  // namespace cdw::bgworker::database_worker
