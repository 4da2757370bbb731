extern "C" {
#include "postgres.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
}

#include "bgworker/restore/column_types.h"
#include "bgworker/restore/load_group.h"
#include "bgworker/restore/table_objects.h"
#include "extension/control/spi_util.h"
#include "extension/fdw/fdw_options.h"
#include "extension/fdw/pinned_settings.h"

namespace cdw::bgworker::restore {
namespace {

using control::SpiRun;
using control::SpiText;

struct Trigger {
  char *name;
  char enabled;  // pg_trigger.tgenabled: 'O', 'A' or 'R'
};

struct Member {
  int index;
  RestoreItem *item;
  const TablePlan *plan;
  const char *dest;  // quoted, qualified
  Oid relid;
  bool created;
  bool truncating;
  Trigger *triggers;
  int trigger_count;
  Oid *references;  // tables its foreign keys reference
  int reference_count;
  bool placed;
};

// The item whose step is running, to say which member of a group failed.
volatile int g_failing = -1;

Datum NameDatum(const char *s) {
  return DirectFunctionCall1(namein, CStringGetDatum(s));
}

// Looks the destination up by exact name; false when it does not exist.
bool LookupDestination(const RestoreItem *item, char ***row) {
  Oid types[2] = {NAMEOID, NAMEOID};
  Datum values[2] = {NameDatum(item->dest_schema), NameDatum(item->dest_table)};
  // Not read-only: the table may have just been created by this transaction.
  SpiRun(
      "SELECT c.oid, c.relkind::text, pg_catalog.pg_has_role(c.relowner, 'USAGE'), "
      "  pg_catalog.has_table_privilege(c.oid, 'SELECT'), "
      "  pg_catalog.has_table_privilege(c.oid, 'INSERT'), "
      "  pg_catalog.has_table_privilege(c.oid, 'TRUNCATE'), "
      "  pg_catalog.pg_get_userbyid(c.relowner)::text "
      "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
      "  ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
      "WHERE n.nspname OPERATOR(pg_catalog.=) $1 AND c.relname OPERATOR(pg_catalog.=) $2",
      2, types, values, nullptr);
  if (SPI_processed == 0) return false;
  *row = control::SpiTextRows()[0];
  return true;
}

const char *CurrentRole() {
  return quote_identifier(GetUserNameFromId(GetUserId(), false));
}

void CreateDestination(RestoreJob *job, Member *m) {
  RestoreItem *item = m->item;
  if (job->unauthenticated)
    ereport(ERROR,
            (errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
             errmsg("table %s does not exist, and an unauthenticated manifest creates nothing",
                    m->dest),
             errdetail("The backup's manifest has no MAC (allow_unauthenticated => true): its "
                       "definitions are not trusted as DDL."),
             errhint("Create the table first, or restore from a backup whose manifest is "
                     "authenticated by the target's key.")));
  Oid types[1] = {NAMEOID};
  Datum values[1] = {NameDatum(item->dest_schema)};
  SpiRun("SELECT FROM pg_catalog.pg_namespace WHERE nspname OPERATOR(pg_catalog.=) $1", 1, types,
         values, nullptr);
  // Only when missing: CREATE SCHEMA IF NOT EXISTS needs CREATE on the
  // database even when the schema is there.
  if (SPI_processed == 0)
    SpiRun(psprintf("CREATE SCHEMA %s", quote_identifier(item->dest_schema)), 0, nullptr, nullptr,
           nullptr);
  // As the backup had it (format 2), else from its columns.
  bool from_schema = item->object_count > 0 && CreateTableFromSchema(job, m->index);
  if (!from_schema && item->no_data)
    ereport(ERROR,
            (errcode(ERRCODE_UNDEFINED_OBJECT),
             errmsg("partitioned table %s could not be created from the backup's schema", m->dest),
             errhint("The rows of its partitions below say why.")));
  if (!from_schema)
    SpiRun(psprintf("CREATE TABLE %s (%s)", m->dest, m->plan->create_defs), 0, nullptr, nullptr,
           nullptr);
  m->created = true;
  char **row;
  if (!LookupDestination(item, &row)) elog(ERROR, "table %s vanished after CREATE TABLE", m->dest);
  m->relid = static_cast<Oid>(strtoul(row[0], nullptr, 10));
}

// Checks an existing destination as the restore will use it.
void CheckDestination(RestoreJob *job, Member *m, char **row, int group_size) {
  m->relid = static_cast<Oid>(strtoul(row[0], nullptr, 10));
  bool owner = strcmp(row[2], "t") == 0;
  const char *owner_name = quote_identifier(row[6]);
  // A partitioned table that is there: its partitions are what is restored.
  if (m->item->no_data && strcmp(row[1], "p") == 0) return;
  if (strcmp(row[1], "r") != 0)
    ereport(ERROR,
            (errcode(ERRCODE_WRONG_OBJECT_TYPE), errmsg("destination %s is not a table", m->dest),
             errdetail("It has relkind '%s'; the backup holds the rows of a table.", row[1]),
             errhint("Restore into a new table with into_table => '...'.")));
  Oid types[1] = {OIDOID};
  Datum values[1] = {ObjectIdGetDatum(m->relid)};
  SpiRun(
      "SELECT pg_catalog.string_agg(a.attname::text OPERATOR(pg_catalog.||) ' ' "
      "  OPERATOR(pg_catalog.||) pg_catalog.format_type(a.atttypid, a.atttypmod), ', ' "
      "  ORDER BY a.attnum) "
      "FROM pg_catalog.pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) $1 "
      "  AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped",
      1, types, values, nullptr);
  char *signature = SpiText(0, 1);
  if (!signature) signature = pstrdup("");
  if (strcmp(signature, m->plan->signature) != 0)
    ereport(ERROR,
            (errcode(ERRCODE_DATATYPE_MISMATCH),
             errmsg("the columns of %s do not match the backup", m->dest),
             errdetail("The table has (%s); the backup has (%s).", signature, m->plan->signature),
             errhint("Restore into a new table with into_table => '...', or into_schema => "
                     "'...'.")));
  if (strcmp(row[3], "t") != 0)
    ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                    errmsg("permission denied to restore into %s", m->dest),
                    errdetail("A restore reads the table to see whether it is empty; role %s "
                              "lacks SELECT on it.",
                              CurrentRole()),
                    errhint("GRANT SELECT, INSERT ON %s TO %s;", m->dest, CurrentRole())));
  // ONLY: rows of inheritance children are not this table's.
  SpiRun(psprintf("SELECT EXISTS (SELECT FROM ONLY %s)", m->dest), 0, nullptr, nullptr, nullptr);
  bool non_empty = strcmp(SpiText(0, 1), "t") == 0;
  if (non_empty && !job->truncate)
    ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                    errmsg("destination table %s is not empty", m->dest),
                    errdetail("Restoring into it would mix backed-up rows with current ones."),
                    errhint("Pass truncate => true to replace its rows, or restore into another "
                            "table with into_table => '...'.")));
  if (strcmp(row[4], "t") != 0)
    ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                    errmsg("permission denied to restore into %s", m->dest),
                    errdetail("Role %s lacks INSERT on it.", CurrentRole()),
                    errhint("GRANT INSERT ON %s TO %s; or restore as its owner, %s.", m->dest,
                            CurrentRole(), owner_name)));
  // A group's tables are truncated in one statement (their foreign keys
  // would refuse one alone), empty ones too.
  m->truncating = job->truncate && (non_empty || group_size > 1);
  if (m->truncating && strcmp(row[5], "t") != 0)
    ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                    errmsg("permission denied to truncate %s", m->dest),
                    errdetail("truncate => true replaces its rows; role %s lacks TRUNCATE on it.",
                              CurrentRole()),
                    errhint("GRANT TRUNCATE ON %s TO %s; or restore as its owner, %s.", m->dest,
                            CurrentRole(), owner_name)));
  SpiRun(
      "SELECT t.tgname::text, t.tgenabled::text FROM pg_catalog.pg_trigger t "
      "WHERE t.tgrelid OPERATOR(pg_catalog.=) $1 AND NOT t.tgisinternal "
      "  AND t.tgenabled OPERATOR(pg_catalog.<>) 'D' ORDER BY 1",
      1, types, values, nullptr);
  m->trigger_count = static_cast<int>(SPI_processed);
  m->triggers = static_cast<Trigger *>(palloc(sizeof(Trigger) * Max(m->trigger_count, 1)));
  StringInfoData names;
  initStringInfo(&names);
  for (int t = 0; t < m->trigger_count; t++) {
    m->triggers[t].name = SpiText(t, 1);
    m->triggers[t].enabled = SpiText(t, 2)[0];
    appendStringInfo(&names, "%s%s", t ? ", " : "", quote_identifier(m->triggers[t].name));
  }
  // pg_restore --disable-triggers does the same (as superuser, ALL); user
  // triggers only, so foreign keys are still checked row by row.
  if (m->trigger_count > 0 && !owner)
    ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                    errmsg("restoring into %s needs to disable its triggers", m->dest),
                    errdetail("Its triggers %s would fire for every restored row and change "
                              "them; only its owner, %s, may disable them for the load.",
                              names.data, owner_name),
                    errhint("Restore as %s (or a member of it), or into a new table with "
                            "into_table => '...'.",
                            owner_name)));
  SpiRun(
      "SELECT DISTINCT k.confrelid FROM pg_catalog.pg_constraint k "
      "WHERE k.conrelid OPERATOR(pg_catalog.=) $1 AND k.contype OPERATOR(pg_catalog.=) 'f' "
      "  AND k.confrelid OPERATOR(pg_catalog.<>) $1",
      1, types, values, nullptr);
  m->reference_count = static_cast<int>(SPI_processed);
  m->references = static_cast<Oid *>(palloc(sizeof(Oid) * Max(m->reference_count, 1)));
  for (int r = 0; r < m->reference_count; r++)
    m->references[r] = static_cast<Oid>(strtoul(SpiText(r, 1), nullptr, 10));
}

// Parents before the tables whose foreign keys reference them; a cycle keeps
// the manifest's order (its load then fails on the key it checks first).
void OrderForLoad(Member *members, int count, Member **order) {
  for (int placed = 0; placed < count; placed++) {
    Member *pick = nullptr;
    for (int k = 0; k < count && !pick; k++) {
      Member *m = &members[k];
      if (m->placed) continue;
      bool ready = true;
      for (int r = 0; r < m->reference_count && ready; r++)
        for (int o = 0; o < count; o++)
          if (!members[o].placed && o != k && members[o].relid == m->references[r]) ready = false;
      if (ready) pick = m;
    }
    for (int k = 0; k < count && !pick; k++)
      if (!members[k].placed) pick = &members[k];
    pick->placed = true;
    order[placed] = pick;
  }
}

void SetTriggers(Member *m, bool enable) {
  for (int t = 0; t < m->trigger_count; t++) {
    const char *mode = "";
    if (enable && m->triggers[t].enabled == 'A') mode = "ALWAYS ";
    if (enable && m->triggers[t].enabled == 'R') mode = "REPLICA ";
    SpiRun(psprintf("ALTER TABLE %s %s %sTRIGGER %s", m->dest, enable ? "ENABLE" : "DISABLE", mode,
                    quote_identifier(m->triggers[t].name)),
           0, nullptr, nullptr, nullptr);
  }
}

void Load(RestoreJob *job, Member *m, const char *server) {
  RestoreItem *item = m->item;
  if (item->no_data) {
    item->rows = 0;
    return;
  }
  // Clip on a character boundary so the name stays valid multibyte text.
  int clip = pg_mbcliplen(item->dest_table, strlen(item->dest_table), 40);
  const char *external = quote_identifier(psprintf("%.*s_cdw_restore", clip, item->dest_table));
  // The external table converts the parts' text from the backup's encoding
  // (the manifest's "encoding": UTF8, or what an older backup wrote).
  // It reads exactly the objects the manifest lists (references to earlier
  // runs' objects included).
  SpiRun(
      psprintf("CREATE FOREIGN TABLE pg_temp.%s (%s) SERVER %s OPTIONS (path %s, compression "
               "%s, encoding %s%s%s)",
               external, m->plan->external_defs, server,
               quote_literal_cstr(RestoreString(job, item->path_offset)),
               quote_literal_cstr(job->compression),
               quote_literal_cstr(job->data_encoding[0] ? job->data_encoding : "UTF8"),
               item->has_parts ? ", parts " : "",
               item->has_parts ? quote_literal_cstr(RestoreString(job, item->parts_offset)) : ""),
      0, nullptr, nullptr, nullptr);
  // Generated columns are computed again by the destination; identity
  // columns keep their backed-up values (as pg_restore does).
  Oid types[1] = {OIDOID};
  Datum values[1] = {ObjectIdGetDatum(m->relid)};
  SpiRun(
      "SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum) "
      "FROM pg_catalog.pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) $1 "
      "  AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped "
      "  AND a.attgenerated OPERATOR(pg_catalog.=) ''",
      1, types, values, nullptr);
  char *columns = SpiText(0, 1);
  if (columns)
    SpiRun(psprintf("INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM pg_temp.%s",
                    m->dest, columns, columns, external),
           0, nullptr, nullptr, nullptr);
  else
    SpiRun(psprintf("INSERT INTO %s SELECT FROM pg_temp.%s", m->dest, external), 0, nullptr,
           nullptr, nullptr);
  uint64 rows = SPI_processed;
  SpiRun(psprintf("DROP FOREIGN TABLE pg_temp.%s", external), 0, nullptr, nullptr, nullptr);
  if (static_cast<int64>(rows) != item->expected_rows)
    ereport(ERROR,
            (errcode(ERRCODE_DATA_CORRUPTED),
             errmsg("the backup of %s.%s holds %llu rows; its manifest says %lld",
                    item->source_schema, item->source_table, static_cast<unsigned long long>(rows),
                    static_cast<long long>(item->expected_rows)),
             errhint("Check the backup with cdw_backup_verify().")));
  item->rows = static_cast<int64>(rows);
}

// What to do about an error PostgreSQL raised without a hint.
const char *DefaultHint(int sqlerrcode) {
  if (sqlerrcode == ERRCODE_INSUFFICIENT_PRIVILEGE)
    return "Grant the restoring role the privilege named above, or restore as the table's owner.";
  switch (ERRCODE_TO_CATEGORY(sqlerrcode)) {
    case ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION:
      return "The backed-up rows break a constraint of the destination (a foreign key to rows "
             "that are not there, a duplicate key): restore the tables they reference first or "
             "together, or restore into a new table with into_table => '...'.";
    case ERRCODE_DATA_EXCEPTION:
      return "The backed-up rows do not fit the destination's columns: check the backup with "
             "cdw_backup_verify(), or restore into a new table with into_table => '...'.";
    default:
      return "Fix the cause named in detail and restore the table again (dry_run => true "
             "checks first).";
  }
}

void Fail(RestoreItem *item, ErrorData *error) {
  strlcpy(item->sqlstate, unpack_sql_state(error->sqlerrcode), sizeof item->sqlstate);
  strlcpy(item->detail, error->message ? error->message : "error", sizeof item->detail);
  if (error->detail) {
    size_t len = strlen(item->detail);
    snprintf(item->detail + len, sizeof item->detail - len, ": %s", error->detail);
  }
  strlcpy(item->hint, error->hint ? error->hint : DefaultHint(error->sqlerrcode),
          sizeof item->hint);
  item->rows = 0;
  item->status = static_cast<int>(RestoreStatus::kFailed);
}

void RestoreGroupInTransaction(RestoreJob *job, const TablePlan *plans, const int *indexes,
                               int count, const char *server) {
  SPI_connect();
  PushActiveSnapshot(GetTransactionSnapshot());
  cdw::fdw::PinSettingsForTransaction();
  PinSearchPathForTransaction();
  SpiRun(cdw::fdw::CreateServerStatement(server, job->location, job->store_options), 0, nullptr,
         nullptr, nullptr);
  auto *members = static_cast<Member *>(palloc0(sizeof(Member) * count));
  for (int k = 0; k < count; k++) {
    Member *m = &members[k];
    m->index = indexes[k];
    m->item = &job->items[m->index];
    m->plan = &plans[m->index];
    m->dest = quote_qualified_identifier(m->item->dest_schema, m->item->dest_table);
    g_failing = m->index;
    CHECK_FOR_INTERRUPTS();
    pgstat_report_activity(STATE_RUNNING, psprintf("cdw_backup restore: %s.%s",
                                                   m->item->dest_schema, m->item->dest_table));
    char **row;
    if (LookupDestination(m->item, &row))
      CheckDestination(job, m, row, count);
    else
      CreateDestination(job, m);
  }
  if (!job->dry_run) {
    auto *order = static_cast<Member **>(palloc(sizeof(Member *) * count));
    OrderForLoad(members, count, order);
    StringInfoData truncate;
    initStringInfo(&truncate);
    for (int k = 0; k < count; k++) {
      g_failing = members[k].index;
      SetTriggers(&members[k], false);
      if (members[k].truncating)
        appendStringInfo(&truncate, "%s%s", truncate.len ? ", " : "TRUNCATE ONLY ",
                         members[k].dest);
    }
    g_failing = count == 1 ? members[0].index : -1;
    if (truncate.len) SpiRun(truncate.data, 0, nullptr, nullptr, nullptr);
    for (int k = 0; k < count; k++) {
      g_failing = order[k]->index;
      CHECK_FOR_INTERRUPTS();
      Load(job, order[k], server);
    }
    for (int k = 0; k < count; k++) {
      g_failing = members[k].index;
      SetTriggers(&members[k], true);
    }
  }
  // Indexes, constraints, keys, triggers, grants of the tables created from
  // the schema: after every load of the group (a dry run checks them on the
  // empty tables).
  for (int k = 0; k < count; k++) {
    if (!members[k].created || members[k].item->object_count == 0) continue;
    g_failing = members[k].index;
    FinishTableFromSchema(job, members[k].index);
  }
  g_failing = -1;
  SpiRun(psprintf("DROP SERVER %s", server), 0, nullptr, nullptr, nullptr);
  SPI_finish();
  PopActiveSnapshot();
}

}  // namespace

void RestoreGroup(RestoreJob *job, const TablePlan *plans, const int *members, int count,
                  const char *server) {
  SetCurrentStatementStartTimestamp();
  StartTransactionCommand();
  g_failing = count == 1 ? members[0] : -1;
  int failures_before = job->failure_count;
  PG_TRY();
  {
    RestoreGroupInTransaction(job, plans, members, count, server);
    g_failing = count == 1 ? members[0] : -1;
    if (job->dry_run)
      AbortCurrentTransaction();
    else
      CommitTransactionCommand();  // deferred constraints are checked here
    for (int k = 0; k < count; k++) {
      RestoreItem *item = &job->items[members[k]];
      if (job->dry_run) item->rows = item->expected_rows;
      item->status =
          static_cast<int>(job->dry_run ? RestoreStatus::kChecked : RestoreStatus::kRestored);
    }
  }
  PG_CATCH();
  {
    // The copy must outlive the transaction we are about to abort.
    MemoryContextSwitchTo(TopMemoryContext);
    ErrorData *error = CopyErrorData();
    FlushErrorState();
    AbortCurrentTransaction();
    job->failure_count = failures_before;  // their objects were rolled back too
    int failing = g_failing;
    const char *culprit = failing >= 0 ? quote_qualified_identifier(job->items[failing].dest_schema,
                                                                    job->items[failing].dest_table)
                                       : nullptr;
    for (int k = 0; k < count; k++) {
      RestoreItem *item = &job->items[members[k]];
      if (failing < 0 || members[k] == failing) {
        Fail(item, error);
        continue;
      }
      item->rows = 0;
      item->status = static_cast<int>(RestoreStatus::kPending);
      snprintf(item->detail, sizeof item->detail,
               "rolled back: restored in one transaction with %s (foreign keys or a partition "
               "tree link them), which failed (%s)",
               culprit, error->message ? error->message : "error");
      strlcpy(item->hint, error->hint ? error->hint : "", sizeof item->hint);
    }
    FreeErrorData(error);
  }
  PG_END_TRY();
}

}  // namespace cdw::bgworker::restore
