extern "C" {
#include "postgres.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
}

#include "bgworker/restore/column_types.h"
#include "bgworker/restore/plan.h"
#include "extension/control/spi_util.h"

namespace cdw::bgworker::restore {
namespace {

using control::SpiRun;
using control::SpiText;

void SetOutcome(RestoreItem *item, RestoreStatus status, int sqlstate, const char *detail,
                const char *hint) {
  item->status = static_cast<int>(status);
  strlcpy(item->sqlstate, unpack_sql_state(sqlstate), sizeof item->sqlstate);
  strlcpy(item->detail, detail, sizeof item->detail);
  strlcpy(item->hint, hint ? hint : "", sizeof item->hint);
}

int Find(TablePlan *plans, int i) {
  while (plans[i].group != i) i = plans[i].group = plans[plans[i].group].group;
  return i;
}

void Union(TablePlan *plans, int a, int b) {
  a = Find(plans, a);
  b = Find(plans, b);
  if (a < b) plans[b].group = a;
  if (b < a) plans[a].group = b;
}

const char *SourceName(const RestoreItem *item) {
  return quote_qualified_identifier(item->source_schema, item->source_table);
}

// The column lists of one table from its checked types. False when the
// table cannot be restored here (the item is failed) or the manifest is
// refused (job->refused).
bool PlanColumns(RestoreJob *job, RestoreItem *item, TablePlan *plan, MemoryContext context) {
  StringInfoData create, external, signature;
  MemoryContext old = MemoryContextSwitchTo(context);
  initStringInfo(&create);
  initStringInfo(&external);
  initStringInfo(&signature);
  MemoryContextSwitchTo(old);
  const char *p = RestoreString(job, item->columns_offset);
  for (int c = 0; c < item->column_count; c++) {
    const char *name = p;
    p += strlen(p) + 1;
    const char *type = p;
    p += strlen(p) + 1;
    bool not_null = strcmp(p, "t") == 0;
    p += strlen(p) + 1;
    char *canonical = nullptr, *reason = nullptr;
    int sqlstate = 0;
    TypeCheck check = ResolveColumnType(type, &canonical, &reason, &sqlstate);
    if (check == TypeCheck::kInvalid) {
      job->refused = true;
      strlcpy(job->refused_sqlstate, unpack_sql_state(ERRCODE_DATA_CORRUPTED),
              sizeof job->refused_sqlstate);
      strlcpy(job->refused_message,
              "the manifest of this backup names a column type that is not a type",
              sizeof job->refused_message);
      snprintf(job->refused_detail, sizeof job->refused_detail,
               "Column %s of table %s: %s. Nothing was restored.", quote_identifier(name),
               SourceName(item), reason);
      strlcpy(job->refused_hint,
              "The manifest was changed after the backup was written. Restore from another run "
              "and check this one with cdw_backup_verify().",
              sizeof job->refused_hint);
      return false;
    }
    if (check == TypeCheck::kUnavailable) {
      SetOutcome(item, RestoreStatus::kFailed, sqlstate,
                 psprintf("column %s of %s: %s", quote_identifier(name), SourceName(item), reason),
                 "Create the type in the destination database first (or restore its whole "
                 "database, whose backup records its types), then restore the table again.");
      return false;
    }
    const char *separator = c == 0 ? "" : ", ";
    old = MemoryContextSwitchTo(context);
    appendStringInfo(&create, "%s%s %s%s", separator, quote_identifier(name), canonical,
                     not_null ? " NOT NULL" : "");
    appendStringInfo(&external, "%s%s %s", separator, quote_identifier(name), canonical);
    appendStringInfo(&signature, "%s%s %s", separator, name, canonical);
    MemoryContextSwitchTo(old);
  }
  plan->create_defs = create.data;
  plan->external_defs = external.data;
  plan->signature = signature.data;
  plan->usable = true;
  return true;
}

// The item restored into (schema, table), or -1.
int FindDestination(const RestoreJob *job, const char *schema, const char *table) {
  for (int i = 0; i < job->count; i++)
    if (strcmp(job->items[i].dest_schema, schema) == 0 &&
        strcmp(job->items[i].dest_table, table) == 0)
      return i;
  return -1;
}

// The destination table's oid when it exists, is a table we may read and
// holds rows (so truncate => true truncates it); InvalidOid otherwise.
Oid NonEmptyDestination(const RestoreItem *item) {
  Oid types[2] = {NAMEOID, NAMEOID};
  Datum values[2] = {DirectFunctionCall1(namein, CStringGetDatum(item->dest_schema)),
                     DirectFunctionCall1(namein, CStringGetDatum(item->dest_table))};
  SpiRun(
      "SELECT c.oid, pg_catalog.has_table_privilege(c.oid, 'SELECT') "
      "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
      "  ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
      "WHERE n.nspname OPERATOR(pg_catalog.=) $1 AND c.relname OPERATOR(pg_catalog.=) $2 "
      "  AND c.relkind OPERATOR(pg_catalog.=) 'r'",
      2, types, values, nullptr, true);
  if (SPI_processed == 0 || strcmp(SpiText(0, 2), "t") != 0) return InvalidOid;
  Oid relid = static_cast<Oid>(strtoul(SpiText(0, 1), nullptr, 10));
  SpiRun(psprintf("SELECT EXISTS (SELECT FROM ONLY %s)",
                  quote_qualified_identifier(item->dest_schema, item->dest_table)),
         0, nullptr, nullptr, nullptr, true);
  return strcmp(SpiText(0, 1), "t") == 0 ? relid : InvalidOid;
}

// Tables whose foreign keys reference `relid` (other than itself): a
// TRUNCATE of it must name them too.
void GroupReferencingTables(RestoreJob *job, TablePlan *plans, int i, Oid relid, int *worklist,
                            int *queued, bool *seen) {
  RestoreItem *item = &job->items[i];
  Oid types[1] = {OIDOID};
  Datum values[1] = {ObjectIdGetDatum(relid)};
  SpiRun(
      "SELECT DISTINCT n.nspname::text, c.relname::text "
      "FROM pg_catalog.pg_constraint k "
      "JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) k.conrelid "
      "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
      "WHERE k.contype OPERATOR(pg_catalog.=) 'f' AND k.confrelid OPERATOR(pg_catalog.=) $1 "
      "  AND k.conrelid OPERATOR(pg_catalog.<>) $1 AND c.relkind OPERATOR(pg_catalog.=) 'r' "
      "ORDER BY 1, 2",
      1, types, values, nullptr, true);
  char ***rows = control::SpiTextRows();
  int count = static_cast<int>(SPI_processed);
  StringInfoData outside, not_backed_up;
  initStringInfo(&outside);
  initStringInfo(&not_backed_up);
  for (int r = 0; r < count; r++) {
    const char *name = quote_qualified_identifier(rows[r][0], rows[r][1]);
    int j = FindDestination(job, rows[r][0], rows[r][1]);
    if (j >= 0 && !job->items[j].selected && job->cascade) job->items[j].selected = true;
    if (j < 0 || !job->items[j].selected) {
      StringInfo list = j < 0 && job->cascade ? &not_backed_up : &outside;
      appendStringInfo(list, "%s%s", list->len ? ", " : "", name);
      continue;
    }
    Union(plans, i, j);
    if (!seen[j]) {
      seen[j] = true;
      worklist[(*queued)++] = j;
    }
  }
  const char *dest = quote_qualified_identifier(item->dest_schema, item->dest_table);
  if (not_backed_up.len)
    SetOutcome(item, RestoreStatus::kRefused, ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST,
               psprintf("%s is referenced by foreign keys of %s, which this backup does not "
                        "hold: truncating %s would need to empty them too",
                        dest, not_backed_up.data, dest),
               "Drop or empty those tables' foreign keys first, or restore into a new table "
               "with into_table => '...'.");
  else if (outside.len)
    SetOutcome(item, RestoreStatus::kRefused, ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST,
               psprintf("%s is referenced by foreign keys of %s, which this restore does not "
                        "include: tables to include: %s",
                        dest, outside.data, outside.data),
               "Pass cascade => true to restore those tables from the backup too (all in one "
               "transaction), or restore into a new table with into_table => '...'.");
}

// Marks every other selected, pending member of a group that cannot be
// restored as refused: a group is restored whole or not at all.
void RefuseGroups(RestoreJob *job, TablePlan *plans) {
  for (int i = 0; i < job->count; i++) {
    RestoreItem *item = &job->items[i];
    bool blocked = item->status == static_cast<int>(RestoreStatus::kRefused) ||
                   item->status == static_cast<int>(RestoreStatus::kFailed) ||
                   item->status == static_cast<int>(RestoreStatus::kSkipped);
    if (!item->selected || !blocked) continue;
    for (int j = 0; j < job->count; j++) {
      RestoreItem *other = &job->items[j];
      if (j == i || !other->selected || Find(plans, j) != Find(plans, i) ||
          other->status != static_cast<int>(RestoreStatus::kPending))
        continue;
      SetOutcome(
          other, RestoreStatus::kRefused, ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST,
          psprintf("not restored: foreign keys link it to %s, which cannot be restored "
                   "(%s)",
                   quote_qualified_identifier(item->dest_schema, item->dest_table), item->detail),
          item->hint);
    }
  }
}

// by_parent: selects the tables of the backup that are leaf partitions of
// the named partitioned table in the destination.
void SelectPartitions(RestoreJob *job) {
  Oid types[2] = {TEXTOID, NAMEOID};
  Datum values[2] = {CStringGetTextDatum(job->parent_schema),
                     DirectFunctionCall1(namein, CStringGetDatum(job->parent_table))};
  SpiRun(
      "SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
      "  ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
      "WHERE c.relname OPERATOR(pg_catalog.=) $2 AND c.relkind OPERATOR(pg_catalog.=) 'p' "
      "  AND ($1 OPERATOR(pg_catalog.=) '' OR n.nspname::text OPERATOR(pg_catalog.=) $1)",
      2, types, values, nullptr, true);
  if (SPI_processed != 1) return;  // none, or an unqualified name in several schemas
  Datum parent[1] = {ObjectIdGetDatum(strtoul(SpiText(0, 1), nullptr, 10))};
  Oid parent_types[1] = {REGCLASSOID};
  SpiRun(
      "SELECT n.nspname::text, c.relname::text FROM pg_catalog.pg_partition_tree($1) t "
      "JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.relid "
      "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
      "WHERE t.isleaf",
      1, parent_types, parent, nullptr, true);
  char ***leaves = control::SpiTextRows();
  for (uint64 r = 0; r < SPI_processed; r++) {
    int j = FindDestination(job, leaves[r][0], leaves[r][1]);
    if (j < 0) continue;
    job->items[j].selected = true;
    job->parent_found = true;
  }
}

}  // namespace

TablePlan *PlanRestore(RestoreJob *job, MemoryContext context) {
  auto *plans =
      static_cast<TablePlan *>(MemoryContextAllocZero(context, sizeof(TablePlan) * job->count));
  for (int i = 0; i < job->count; i++) plans[i].group = i;
  for (int i = 0; i < job->count; i++)
    if (job->items[i].group_with >= 0) Union(plans, i, job->items[i].group_with);
  SetCurrentStatementStartTimestamp();
  StartTransactionCommand();
  SPI_connect();
  PushActiveSnapshot(GetTransactionSnapshot());
  PinSearchPathForTransaction();
  if (job->by_parent) SelectPartitions(job);
  // Every table's types first, so a manifest that is refused changes nothing.
  for (int i = 0; i < job->count && !job->refused; i++) {
    RestoreItem *item = &job->items[i];
    CHECK_FOR_INTERRUPTS();
    if (item->status == static_cast<int>(RestoreStatus::kPending))
      (void)PlanColumns(job, item, &plans[i], context);
  }
  if (!job->refused && job->truncate) {
    int *worklist = static_cast<int *>(palloc(sizeof(int) * job->count));
    bool *seen = static_cast<bool *>(palloc0(sizeof(bool) * job->count));
    int queued = 0;
    for (int i = 0; i < job->count; i++)
      if (job->items[i].selected &&
          job->items[i].status == static_cast<int>(RestoreStatus::kPending) &&
          OidIsValid(NonEmptyDestination(&job->items[i]))) {
        seen[i] = true;
        worklist[queued++] = i;
      }
    // Members of a group are all truncated together, so each one's own
    // referencing tables join too, empty or not.
    for (int next = 0; next < queued; next++) {
      CHECK_FOR_INTERRUPTS();
      int i = worklist[next];
      RestoreItem *item = &job->items[i];
      Oid types[2] = {NAMEOID, NAMEOID};
      Datum values[2] = {DirectFunctionCall1(namein, CStringGetDatum(item->dest_schema)),
                         DirectFunctionCall1(namein, CStringGetDatum(item->dest_table))};
      SpiRun(
          "SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
          "  ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
          "WHERE n.nspname OPERATOR(pg_catalog.=) $1 AND c.relname OPERATOR(pg_catalog.=) $2 "
          "  AND c.relkind OPERATOR(pg_catalog.=) 'r'",
          2, types, values, nullptr, true);
      if (SPI_processed == 0) continue;
      Oid relid = static_cast<Oid>(strtoul(SpiText(0, 1), nullptr, 10));
      GroupReferencingTables(job, plans, i, relid, worklist, &queued, seen);
    }
    RefuseGroups(job, plans);
  }
  for (int i = 0; i < job->count; i++) plans[i].group = Find(plans, i);
  SPI_finish();
  PopActiveSnapshot();
  // Planning only reads: nothing to keep.
  AbortCurrentTransaction();
  return plans;
}

}  // namespace cdw::bgworker::restore
