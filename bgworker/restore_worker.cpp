// The restore worker: connected to the destination database as the role
// that called cdw_backup_restore(), it plans the restore
// (bgworker/restore/plan.h) and loads each table, or each group of tables
// that foreign keys link, through the readable external table in one
// transaction (bgworker/restore/load_group.h).
extern "C" {
#include "postgres.h"
#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "catalog/pg_type.h"
}

#include "bgworker/restore/load_group.h"
#include "bgworker/restore/plan.h"
#include "bgworker/restore/schema_restore.h"
#include "bgworker/restore_job.h"
#include "extension/control/spi_util.h"
#include "extension/fdw/fdw_options.h"
#include "extension/fdw/pinned_settings.h"
#include "extension/pg/cpp_boundary.h"
#include "extension/pg/search_path.h"
#include "extension/pg/text_encoding.h"

namespace cdw::bgworker {
namespace {

using control::SpiRun;

// The job in shared memory has its strings in the home database's encoding
// (restore_job.h); the worker runs on a private copy in this database's
// (LocalizeJob) and hands its results back converted (CopyBack).
RestoreJob *g_shared = nullptr;
RestoreJob *g_restore = nullptr;

pg::TextConversion g_from_job;
pg::TextConversion g_to_job;
pg::TextConversion g_job_to_utf8;
const char *g_conversion_hint = nullptr;

void SetUpConversions() {
  int server = GetDatabaseEncoding();
  g_from_job = pg::ConversionBetween(g_shared->text_encoding, server, TopMemoryContext);
  g_to_job = pg::ConversionBetween(server, g_shared->text_encoding, TopMemoryContext);
  g_job_to_utf8 = pg::ConversionBetween(g_shared->text_encoding, PG_UTF8, TopMemoryContext);
  g_conversion_hint = MemoryContextStrdup(
      TopMemoryContext,
      psprintf("The name has a character that encoding %s of this database cannot hold: "
               "restore into a database with encoding UTF8, or under another name with "
               "into_table => '...' or into_schema => '...'.",
               GetDatabaseEncodingName()));
}

// A string of the job in this database's encoding (palloc'd).
const char *Local(const char *text, const char *what) {
  size_t len = 0;
  const char *local =
      pg::ConvertText(g_from_job, text, strlen(text), &len, what, g_conversion_hint);
  return local == text ? pstrdup(text) : local;
}

// A name of the job in this database's encoding, never truncated.
void LocalName(char *dest, size_t size, const char *name, const char *what) {
  const char *local = Local(name, what);
  if (strlen(local) >= NAMEDATALEN)
    ereport(ERROR,
            (errcode(ERRCODE_NAME_TOO_LONG),
             errmsg("%s \"%s\" is too long in encoding %s", what, local, GetDatabaseEncodingName()),
             errdetail("It takes %zu bytes here; a name takes at most %d.", strlen(local),
                       NAMEDATALEN - 1),
             errhint("Restore it under a shorter name with into_table => '...' or into_schema => "
                     "'...'.")));
  strlcpy(dest, local, size);
}

void Fail(RestoreItem *item, ErrorData *error);

// One item's names and strings in this database's encoding; its strings
// appended to `strings`. Throws (a PostgreSQL error) on a name this
// database cannot hold.
void LocalizeItem(const RestoreItem *shared, RestoreItem *item, StringInfo strings) {
  // The source's names only appear in messages.
  char *source_schema = pg::ConvertLossy(g_from_job, shared->source_schema);
  char *source_table = pg::ConvertLossy(g_from_job, shared->source_table);
  strlcpy(item->source_schema, source_schema, sizeof item->source_schema);
  strlcpy(item->source_table, source_table, sizeof item->source_table);
  LocalName(item->dest_schema, sizeof item->dest_schema, shared->dest_schema, "the schema name");
  LocalName(item->dest_table, sizeof item->dest_table, shared->dest_table, "the table name");
  item->path_offset = static_cast<uint32>(strings->len);
  appendStringInfoString(strings, Local(RestoreString(g_shared, shared->path_offset),
                                        "the table's path on the target"));
  appendStringInfoChar(strings, '\0');
  item->has_parts = shared->has_parts;
  item->parts_offset = static_cast<uint32>(strings->len);
  appendStringInfoString(strings, Local(RestoreString(g_shared, shared->parts_offset),
                                        "the table's objects on the target"));
  appendStringInfoChar(strings, '\0');
  item->columns_offset = static_cast<uint32>(strings->len);
  const char *p = RestoreString(g_shared, shared->columns_offset);
  for (int c = 0; c < shared->column_count * 3; c++) {
    appendStringInfoString(strings, Local(p, "a column of the table"));
    appendStringInfoChar(strings, '\0');
    p += strlen(p) + 1;
  }
  // The schema objects that come with it (restore_job.h): 8 strings each.
  item->objects_offset = static_cast<uint32>(strings->len);
  p = RestoreString(g_shared, shared->objects_offset);
  for (int o = 0; o < shared->object_count * 8; o++) {
    appendStringInfoString(strings, Local(p, "a schema object of the table"));
    appendStringInfoChar(strings, '\0');
    p += strlen(p) + 1;
  }
}

// A schema step's texts in this database's encoding, appended to `strings`.
// Throws (a PostgreSQL error) on a text this database cannot hold.
void LocalizeStep(const SchemaStep *shared, SchemaStep *step, StringInfo strings) {
  uint32 *offsets[] = {&step->kind_offset, &step->schema_offset, &step->name_offset,
                       &step->sql_offset};
  const uint32 shared_offsets[] = {shared->kind_offset, shared->schema_offset, shared->name_offset,
                                   shared->sql_offset};
  for (int t = 0; t < 4; t++) {
    *offsets[t] = static_cast<uint32>(strings->len);
    appendStringInfoString(strings, Local(RestoreString(g_shared, shared_offsets[t]),
                                          "a schema object of the backup"));
    appendStringInfoChar(strings, '\0');
  }
}

// A step whose texts this database cannot spell: failed, its texts empty (an
// empty SQL is never run).
void FailLocalizedStep(SchemaStep *step, ErrorData *error, StringInfo strings) {
  step->kind_offset = step->schema_offset = step->name_offset = step->sql_offset =
      static_cast<uint32>(strings->len);
  appendStringInfoChar(strings, '\0');
  strlcpy(step->sqlstate, unpack_sql_state(error->sqlerrcode), sizeof step->sqlstate);
  strlcpy(step->detail, error->message ? error->message : "error", sizeof step->detail);
  strlcpy(step->hint, error->hint ? error->hint : "", sizeof step->hint);
  step->status = static_cast<int>(RestoreStatus::kFailed);
}

// The job as this database reads it: a copy in TopMemoryContext with every
// name and string converted. An item whose names this database cannot hold
// fails, the others go on.
RestoreJob *LocalizeJob() {
  MemoryContext old_context = MemoryContextSwitchTo(TopMemoryContext);
  int count = g_shared->count;
  Size header = MAXALIGN(offsetof(RestoreJob, items) + sizeof(RestoreItem) * count);
  auto *items = static_cast<RestoreItem *>(palloc(sizeof(RestoreItem) * Max(count, 1)));
  memcpy(items, g_shared->items, sizeof(RestoreItem) * count);
  StringInfoData strings;
  initStringInfo(&strings);
  for (int i = 0; i < count; i++) {
    PG_TRY();
    { LocalizeItem(&g_shared->items[i], &items[i], &strings); }
    PG_CATCH();
    {
      MemoryContextSwitchTo(TopMemoryContext);
      ErrorData *error = CopyErrorData();
      FlushErrorState();
      if (items[i].status == static_cast<int>(RestoreStatus::kPending)) Fail(&items[i], error);
      FreeErrorData(error);
    }
    PG_END_TRY();
  }
  // The schema steps of a whole-database restore, their texts converted
  // too; a step this database cannot spell fails, the others go on.
  int step_count = Max(g_shared->schema_count, 0);
  auto *steps = static_cast<SchemaStep *>(palloc0(sizeof(SchemaStep) * Max(step_count, 1)));
  if (step_count > 0) memcpy(steps, SchemaSteps(g_shared), sizeof(SchemaStep) * step_count);
  for (volatile int i = 0; i < step_count; i = i + 1) {
    PG_TRY();
    { LocalizeStep(&SchemaSteps(g_shared)[i], &steps[i], &strings); }
    PG_CATCH();
    {
      MemoryContextSwitchTo(TopMemoryContext);
      ErrorData *error = CopyErrorData();
      FlushErrorState();
      FailLocalizedStep(&steps[i], error, &strings);
      FreeErrorData(error);
    }
    PG_END_TRY();
  }
  // Layout as the shared job's: items, the objects' failures, the schema
  // steps, strings.
  Size failures = MAXALIGN(sizeof(ObjectFailure) * Max(g_shared->failure_capacity, 0));
  Size steps_size = MAXALIGN(sizeof(SchemaStep) * step_count);
  auto *job = static_cast<RestoreJob *>(palloc0(header + failures + steps_size + strings.len + 1));
  memcpy(job, g_shared, offsetof(RestoreJob, items));
  memcpy(job->items, items, sizeof(RestoreItem) * count);
  job->failures_offset = static_cast<uint32>(header);
  job->failure_count = 0;
  job->schema_count = step_count;
  job->schema_offset = static_cast<uint32>(header + failures);
  if (step_count > 0) memcpy(SchemaSteps(job), steps, sizeof(SchemaStep) * step_count);
  memcpy(reinterpret_cast<char *>(job) + header + failures + steps_size, strings.data,
         strings.len + 1);
  job->strings_offset = static_cast<uint32>(header + failures + steps_size);
  size_t len = 0;
  const char *location = pg::ConvertText(g_from_job, g_shared->location, strlen(g_shared->location),
                                         &len, "the target's location", nullptr);
  strlcpy(job->location, location, sizeof job->location);
  // A parent named by the caller: it cannot exist here if this database
  // cannot spell it (then no partition is found).
  strlcpy(job->parent_schema, pg::ConvertLossy(g_from_job, g_shared->parent_schema),
          sizeof job->parent_schema);
  strlcpy(job->parent_table, pg::ConvertLossy(g_from_job, g_shared->parent_table),
          sizeof job->parent_table);
  MemoryContextSwitchTo(old_context);
  return job;
}

// This database's text for the job, clipped on a character boundary.
void CopyForJob(char *dest, size_t size, const char *text) {
  char *converted = pg::ConvertLossy(g_to_job, text ? text : "");
  strlcpy(dest, converted, size);
  dest[pg_encoding_mbcliplen(g_shared->text_encoding, dest, static_cast<int>(strlen(dest)),
                             static_cast<int>(size) - 1)] = '\0';
  pfree(converted);
}

// The results into the shared job, in its encoding.
void CopyBack() {
  if (!g_restore || g_restore == g_shared) return;
  g_shared->parent_found = g_restore->parent_found;
  int failures = Min(g_restore->failure_count, g_shared->failure_capacity);
  for (int f = 0; f < failures; f++) {
    const ObjectFailure *local = &ObjectFailures(g_restore)[f];
    ObjectFailure *shared = &ObjectFailures(g_shared)[f];
    shared->item = local->item;
    strlcpy(shared->kind, local->kind, sizeof shared->kind);
    CopyForJob(shared->name, sizeof shared->name, local->name);
    strlcpy(shared->sqlstate, local->sqlstate, sizeof shared->sqlstate);
    CopyForJob(shared->detail, sizeof shared->detail, local->detail);
    CopyForJob(shared->hint, sizeof shared->hint, local->hint);
  }
  g_shared->failure_count = failures;
  for (int i = 0; i < g_shared->schema_count && i < g_restore->schema_count; i++) {
    const SchemaStep *local = &SchemaSteps(g_restore)[i];
    SchemaStep *shared = &SchemaSteps(g_shared)[i];
    strlcpy(shared->sqlstate, local->sqlstate, sizeof shared->sqlstate);
    CopyForJob(shared->detail, sizeof shared->detail, local->detail);
    CopyForJob(shared->hint, sizeof shared->hint, local->hint);
    shared->status = local->status;
  }
  for (int i = 0; i < g_shared->count; i++) {
    const RestoreItem *local = &g_restore->items[i];
    RestoreItem *shared = &g_shared->items[i];
    shared->selected = local->selected;
    shared->rows = local->rows;
    strlcpy(shared->sqlstate, local->sqlstate, sizeof shared->sqlstate);
    // Unchanged text is the job's own (e.g. why a table was skipped).
    if (strcmp(local->detail, shared->detail) != 0)
      CopyForJob(shared->detail, sizeof shared->detail, local->detail);
    if (strcmp(local->hint, shared->hint) != 0)
      CopyForJob(shared->hint, sizeof shared->hint, local->hint);
    shared->status = local->status;
  }
  if (g_restore->refused) {
    strlcpy(g_shared->refused_sqlstate, g_restore->refused_sqlstate,
            sizeof g_shared->refused_sqlstate);
    CopyForJob(g_shared->refused_message, sizeof g_shared->refused_message,
               g_restore->refused_message);
    CopyForJob(g_shared->refused_detail, sizeof g_shared->refused_detail,
               g_restore->refused_detail);
    CopyForJob(g_shared->refused_hint, sizeof g_shared->refused_hint, g_restore->refused_hint);
    g_shared->refused = true;
  }
}

void Fail(RestoreItem *item, ErrorData *error) {
  strlcpy(item->sqlstate, unpack_sql_state(error->sqlerrcode), sizeof item->sqlstate);
  strlcpy(item->detail, error->message ? error->message : "error", sizeof item->detail);
  if (error->detail) {
    size_t len = strlen(item->detail);
    snprintf(item->detail + len, sizeof item->detail - len, ": %s", error->detail);
  }
  strlcpy(item->hint, error->hint ? error->hint : "", sizeof item->hint);
  item->status = static_cast<int>(RestoreStatus::kFailed);
}

// Plans the job (types checked, foreign-key groups), then restores each group
// in its own transaction: a group that fails leaves its tables as they were.
void LoadTables() {
  restore::TablePlan *plans = restore::PlanRestore(g_restore, TopMemoryContext);
  if (g_restore->refused) return;
  const char *server = quote_identifier(psprintf("cdw_backup_restore_%d", MyProcPid));
  int *members = static_cast<int *>(palloc(sizeof(int) * Max(g_restore->count, 1)));
  bool *done = static_cast<bool *>(palloc0(sizeof(bool) * Max(g_restore->count, 1)));
  auto restorable = [&](int i) {
    const RestoreItem *item = &g_restore->items[i];
    return item->selected && item->status == static_cast<int>(RestoreStatus::kPending) &&
           plans[i].usable;
  };
  for (int i = 0; i < g_restore->count; i++) {
    if (done[i] || !restorable(i)) continue;
    int count = 0;
    for (int j = i; j < g_restore->count; j++)
      if (!done[j] && restorable(j) && plans[j].group == plans[i].group) {
        done[j] = true;
        members[count++] = j;
      }
    CHECK_FOR_INTERRUPTS();
    restore::RestoreGroup(g_restore, plans, members, count, server);
  }
}

void RestoreAll() {
  // A whole database with its schema: pre-data before the rows, the
  // sequence values and post-data after (bgworker/restore/schema_restore.h).
  // Only from a manifest that authenticated: nothing else becomes DDL.
  bool schema = g_restore->schema_count > 0 && !g_restore->unauthenticated &&
                restore::PrepareSchema(g_restore);
  if (schema && g_restore->dry_run)
    restore::CheckSchema(g_restore);
  else if (schema)
    restore::RunSchemaSection(g_restore, SchemaSection::kPreData);
  LoadTables();
  if (schema && !g_restore->dry_run) {
    restore::RunSchemaSection(g_restore, SchemaSection::kData);
    restore::RunSchemaSection(g_restore, SchemaSection::kPostData);
  }
}

void EnsureExtension() {
  SetCurrentStatementStartTimestamp();
  StartTransactionCommand();
  (void)cdw::pg::PinSearchPath();  // until the transaction ends
  SPI_connect();
  PushActiveSnapshot(GetTransactionSnapshot());
  SpiRun(cdw::fdw::kCreateFdwExtension, 0, nullptr, nullptr, nullptr);
  SPI_finish();
  PopActiveSnapshot();
  CommitTransactionCommand();
}

}  // namespace
}  // namespace cdw::bgworker

extern "C" void cdw_backup_restore_worker(Datum job_handle) {
  using namespace cdw::bgworker;
  pqsignal(SIGTERM, die);
  BackgroundWorkerUnblockSignals();
  dsm_segment *segment = dsm_attach(DatumGetUInt32(job_handle));
  if (!segment)
    ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                    errmsg("cdw_backup restore worker could not attach to its job")));
  g_shared = g_restore = static_cast<RestoreJob *>(dsm_segment_address(segment));
  BackgroundWorkerInitializeConnectionByOid(g_shared->database_id, g_shared->role_id, 0);
  pgstat_report_appname("cdw_backup restore");
  PG_TRY();
  {
    StartTransactionCommand();
    SetUpConversions();
    CommitTransactionCommand();
    g_restore = LocalizeJob();
    // A worker that stops early (terminated) still hands back what it did.
    before_shmem_exit([](int, Datum) { CopyBack(); }, 0);
    // The FDW compares it with its server's location made UTF-8.
    char *location = cdw::pg::ConvertLossy(g_job_to_utf8, g_shared->location);
    cdw::pg::CallCpp([&] {
      cdw::Credentials credentials{g_restore->secret_id, g_restore->secret_key,
                                   g_restore->session_token, g_restore->sse_customer_key};
      cdw::fdw::SetProcessCredentials(location, credentials, g_restore->encryption_keys);
    });
    EnsureExtension();
  }
  PG_CATCH();
  {
    MemoryContextSwitchTo(TopMemoryContext);
    ErrorData *error = CopyErrorData();
    FlushErrorState();
    AbortCurrentTransaction();
    for (int i = 0; i < g_restore->count; i++)
      if (g_restore->items[i].status == static_cast<int>(RestoreStatus::kPending))
        Fail(&g_restore->items[i], error);
    CopyBack();
    proc_exit(0);
  }
  PG_END_TRY();
  PG_TRY();
  { RestoreAll(); }
  PG_CATCH();
  {
    // Planning itself failed (not one table): every table not yet done says why.
    MemoryContextSwitchTo(TopMemoryContext);
    ErrorData *error = CopyErrorData();
    FlushErrorState();
    AbortCurrentTransaction();
    for (int i = 0; i < g_restore->count; i++)
      if (g_restore->items[i].status == static_cast<int>(RestoreStatus::kPending))
        Fail(&g_restore->items[i], error);
  }
  PG_END_TRY();
  CopyBack();
  proc_exit(0);
}
