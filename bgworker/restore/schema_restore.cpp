// Whole-database schema restore (see schema_restore.h).
extern "C" {
#include "postgres.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
}

#include "bgworker/restore/schema_restore.h"

#include "bgworker/restore/plan.h"
#include "bgworker/restore/table_objects.h"
#include "extension/pg/search_path.h"

namespace cdw::bgworker::restore {
namespace {

const char *Text(RestoreJob *job, uint32 offset) {
  return RestoreString(job, offset);
}

void FailStep(SchemaStep *step, ErrorData *error) {
  strlcpy(step->sqlstate, unpack_sql_state(error->sqlerrcode), sizeof step->sqlstate);
  strlcpy(step->detail, error->message ? error->message : "error", sizeof step->detail);
  if (error->detail) {
    size_t len = strlen(step->detail);
    snprintf(step->detail + len, sizeof step->detail - len, ": %s", error->detail);
  }
  // Every failed step names a fix, also when PostgreSQL gives none.
  const char *hint = error->hint;
  if (!hint && error->sqlerrcode == ERRCODE_FOREIGN_KEY_VIOLATION)
    hint =
        "The referenced rows are not in the restored data (a table whose data the run excluded, "
        "or left out, or that failed): restore or load them, then add the constraint again.";
  if (!hint)
    hint =
        "The rest of the database was restored: fix the cause above, then create this object "
        "by hand, or restore again into an empty database.";
  strlcpy(step->hint, hint, sizeof step->hint);
  step->status = static_cast<int>(RestoreStatus::kFailed);
}

// What every statement of a schema restore runs with: names resolve in
// pg_catalog only (the DDL qualifies everything else), function bodies are
// checked when called, not when created (as pg_restore sets it: a function
// may name a table that comes later).
int PinSettings() {
  // Undone with the search_path pin (UnpinSearchPath restores what changed after it).
  int nest_level = pg::PinSearchPath();
  (void)set_config_option("check_function_bodies", "off", PGC_USERSET, PGC_S_SESSION,
                          GUC_ACTION_SAVE, true, 0, false);
  (void)set_config_option("client_min_messages", "warning", PGC_USERSET, PGC_S_SESSION,
                          GUC_ACTION_SAVE, true, 0, false);
  return nest_level;
}

// Runs one step in a subtransaction (the pattern of a PL/pgSQL exception
// block); on error it is rolled back and the step says why.
void RunStep(RestoreJob *job, SchemaStep *step, RestoreStatus success) {
  MemoryContext context = CurrentMemoryContext;
  ResourceOwner owner = CurrentResourceOwner;
  const char *sql = Text(job, step->sql_offset);
  if (!*sql) {
    step->status = static_cast<int>(success);
    return;
  }
  pgstat_report_activity(STATE_RUNNING,
                         psprintf("cdw_backup restore: %s %s.%s", Text(job, step->kind_offset),
                                  Text(job, step->schema_offset), Text(job, step->name_offset)));
  BeginInternalSubTransaction(nullptr);
  MemoryContextSwitchTo(context);
  PG_TRY();
  {
    // The owner change a restorer cannot make is left out, so the object
    // is still created (the restorer's), as in a table restore.
    ListCell *cell;
    foreach (cell, Statements(sql)) {
      const char *statement = static_cast<const char *>(lfirst(cell));
      if (OwnerWeCannotSet(statement)) continue;
      int rc = SPI_execute(statement, false, 0);
      if (rc < 0)
        ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
                        errmsg("could not run the %s step: %s", Text(job, step->kind_offset),
                               SPI_result_code_string(rc))));
    }
    ReleaseCurrentSubTransaction();
    MemoryContextSwitchTo(context);
    CurrentResourceOwner = owner;
    step->status = static_cast<int>(success);
  }
  PG_CATCH();
  {
    MemoryContextSwitchTo(context);
    ErrorData *error = CopyErrorData();
    FlushErrorState();
    RollbackAndReleaseCurrentSubTransaction();
    MemoryContextSwitchTo(context);
    CurrentResourceOwner = owner;
    FailStep(step, error);
    FreeErrorData(error);
  }
  PG_END_TRY();
}

bool IsRole(RestoreJob *job, const SchemaStep *step) {
  return strcmp(Text(job, step->kind_offset), "ROLE") == 0;
}

void RunSections(RestoreJob *job, int first, int last, RestoreStatus success) {
  SchemaStep *steps = SchemaSteps(job);
  SetCurrentStatementStartTimestamp();
  StartTransactionCommand();
  int nest_level = PinSettings();
  SPI_connect();
  PushActiveSnapshot(GetTransactionSnapshot());
  for (int section = first; section <= last; section++)
    for (int i = 0; i < job->schema_count; i++) {
      SchemaStep *step = &steps[i];
      if (step->section != section || IsRole(job, step) ||
          step->status != static_cast<int>(RestoreStatus::kPending))
        continue;
      CHECK_FOR_INTERRUPTS();
      RunStep(job, step, success);
    }
  SPI_finish();
  PopActiveSnapshot();
  pg::UnpinSearchPath(nest_level);
  if (success == RestoreStatus::kChecked)
    AbortCurrentTransaction();
  else
    CommitTransactionCommand();
  pgstat_report_activity(STATE_IDLE, nullptr);
}

}  // namespace

bool PrepareSchema(RestoreJob *job) {
  SchemaStep *steps = SchemaSteps(job);
  // A manifest whose tables name a column type that is no type name was
  // changed after the backup: the planner refuses it (bgworker/restore/
  // plan.h) and nothing of its schema may run. Its other verdicts (types
  // that the schema is about to create) are forgotten.
  Size items_size = sizeof(RestoreItem) * job->count;
  auto *saved = static_cast<RestoreItem *>(palloc(Max(items_size, 1)));
  memcpy(saved, job->items, items_size);
  (void)PlanRestore(job, CurrentMemoryContext);
  memcpy(job->items, saved, items_size);
  if (job->refused) {
    for (int i = 0; i < job->schema_count; i++)
      steps[i].status = static_cast<int>(RestoreStatus::kSkipped);
    return false;
  }
  SetCurrentStatementStartTimestamp();
  StartTransactionCommand();
  int nest_level = PinSettings();
  // An existing table of the backup: the destination has a schema already.
  const char *existing = nullptr;
  for (int i = 0; i < job->count && !existing; i++) {
    const RestoreItem *item = &job->items[i];
    Oid namespace_id = get_namespace_oid(item->dest_schema, true);
    if (OidIsValid(namespace_id) && OidIsValid(get_relname_relid(item->dest_table, namespace_id)))
      existing = psprintf("%s", quote_qualified_identifier(item->dest_schema, item->dest_table));
  }
  if (existing) {
    for (int i = 0; i < job->schema_count; i++)
      steps[i].status = static_cast<int>(RestoreStatus::kSkipped);
    pg::UnpinSearchPath(nest_level);
    CommitTransactionCommand();
    return false;
  }
  StringInfoData missing;
  initStringInfo(&missing);
  SPI_connect();
  PushActiveSnapshot(GetTransactionSnapshot());
  for (int i = 0; i < job->schema_count; i++) {
    SchemaStep *step = &steps[i];
    if (!IsRole(job, step)) continue;
    const char *role = Text(job, step->name_offset);
    if (OidIsValid(get_role_oid(role, true))) {
      step->status = static_cast<int>(RestoreStatus::kSkipped);
      continue;
    }
    if (job->create_roles && !job->dry_run) {
      // Roles are cluster-wide: created and committed on their own below.
      continue;
    }
    if (job->create_roles) {
      step->status = static_cast<int>(RestoreStatus::kChecked);
      continue;
    }
    step->status = static_cast<int>(RestoreStatus::kFailed);
    strlcpy(step->sqlstate, "42704", sizeof step->sqlstate);
    snprintf(step->detail, sizeof step->detail,
             "role %s owns or is granted objects of the backup and does not exist in this "
             "cluster",
             quote_identifier(role));
    snprintf(step->hint, sizeof step->hint,
             "CREATE ROLE %s NOLOGIN; (or pass create_roles => true), then restore again.",
             quote_identifier(role));
    appendStringInfo(&missing, "%s%s", missing.len ? ", " : "", quote_identifier(role));
  }
  SPI_finish();
  PopActiveSnapshot();
  pg::UnpinSearchPath(nest_level);
  CommitTransactionCommand();
  for (int i = 0; i < job->schema_count && job->create_roles && !job->dry_run; i++) {
    SchemaStep *step = &steps[i];
    if (!IsRole(job, step) || step->status != static_cast<int>(RestoreStatus::kPending)) continue;
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    nest_level = PinSettings();
    SPI_connect();
    PushActiveSnapshot(GetTransactionSnapshot());
    MemoryContext context = CurrentMemoryContext;
    PG_TRY();
    {
      int rc = SPI_execute(
          psprintf("CREATE ROLE %s NOLOGIN", quote_identifier(Text(job, step->name_offset))), false,
          0);
      if (rc < 0)
        ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not create a role")));
      SPI_finish();
      PopActiveSnapshot();
      pg::UnpinSearchPath(nest_level);
      CommitTransactionCommand();
      step->status = static_cast<int>(RestoreStatus::kRestored);
    }
    PG_CATCH();
    {
      MemoryContextSwitchTo(context);
      ErrorData *error = CopyErrorData();
      FlushErrorState();
      AbortCurrentTransaction();
      FailStep(step, error);
      appendStringInfo(&missing, "%s%s", missing.len ? ", " : "",
                       quote_identifier(Text(job, step->name_offset)));
    }
    PG_END_TRY();
  }
  if (missing.len == 0) return true;
  // Without its roles the schema cannot be what it was: nothing is created.
  for (int i = 0; i < job->schema_count; i++)
    if (steps[i].status == static_cast<int>(RestoreStatus::kPending))
      steps[i].status = static_cast<int>(RestoreStatus::kSkipped);
  for (int i = 0; i < job->count; i++) {
    RestoreItem *item = &job->items[i];
    if (item->status != static_cast<int>(RestoreStatus::kPending)) continue;
    item->status = static_cast<int>(RestoreStatus::kRefused);
    snprintf(item->detail, sizeof item->detail,
             "the backup's objects refer to roles this cluster does not have: %s", missing.data);
    strlcpy(item->hint, "Create the roles, or pass create_roles => true.", sizeof item->hint);
  }
  return false;
}

void RunSchemaSection(RestoreJob *job, SchemaSection section) {
  int s = static_cast<int>(section);
  RunSections(job, s, s, RestoreStatus::kRestored);
}

void CheckSchema(RestoreJob *job) {
  RunSections(job, static_cast<int>(SchemaSection::kPreData),
              static_cast<int>(SchemaSection::kPostData), RestoreStatus::kChecked);
}

}  // namespace cdw::bgworker::restore
