// The restore worker: connected to the destination database as the role
// that called cdw_backup_restore(), it loads each table through the readable
// external table (INSERT INTO t SELECT * FROM ext), one transaction per
// table, so a failed table leaves its destination as it was.
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
#include "mb/pg_wchar.h"
#include "catalog/pg_type.h"
}

#include "bgworker/restore_job.h"
#include "extension/control/spi_util.h"
#include "extension/fdw/fdw_options.h"
#include "extension/fdw/pinned_settings.h"
#include "extension/pg/cpp_boundary.h"

namespace cdw::bgworker {
namespace {

using control::SpiRun;
using control::SpiText;

RestoreJob *g_restore = nullptr;

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

// The destination's columns as "name type, ..." (same form as the manifest's
// signature), or NULL when the table does not exist.
char *DestinationSignature(const char *qualified) {
  Oid types[1] = {TEXTOID};
  Datum values[1] = {CStringGetTextDatum(qualified)};
  SpiRun(
      "SELECT (SELECT string_agg(format('%s %s', attname, format_type(atttypid, atttypmod)), ', ' "
      "ORDER BY attnum) FROM pg_attribute WHERE attrelid = r.oid AND attnum > 0 AND NOT "
      "attisdropped) "
      "FROM (SELECT to_regclass($1) AS oid) r WHERE r.oid IS NOT NULL",
      1, types, values, nullptr, true);
  if (SPI_processed == 0) return nullptr;
  char *signature = SpiText(0, 1);
  return signature ? signature : pstrdup("");
}

void RestoreOne(RestoreItem *item, const char *server) {
  const char *dest = quote_qualified_identifier(item->dest_schema, item->dest_table);
  char *signature = DestinationSignature(dest);
  const char *expected = RestoreString(g_restore, item->signature_offset);
  if (!signature) {
    SpiRun(psprintf("CREATE SCHEMA IF NOT EXISTS %s", quote_identifier(item->dest_schema)), 0,
           nullptr, nullptr, nullptr);
    SpiRun(
        psprintf("CREATE TABLE %s (%s)", dest, RestoreString(g_restore, item->create_defs_offset)),
        0, nullptr, nullptr, nullptr);
  } else {
    if (strcmp(signature, expected) != 0)
      ereport(ERROR,
              (errcode(ERRCODE_DATATYPE_MISMATCH),
               errmsg("the columns of %s do not match the backup", dest),
               errdetail("The table has (%s); the backup has (%s).", signature, expected),
               errhint("Restore into a new table with into_table => '...', or into_schema => "
                       "'...'.")));
    // ONLY: rows of inheritance children are not this table's.
    SpiRun(psprintf("SELECT EXISTS (SELECT FROM ONLY %s)", dest), 0, nullptr, nullptr, nullptr,
           true);
    bool non_empty = strcmp(SpiText(0, 1), "t") == 0;
    if (non_empty && !g_restore->truncate)
      ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                      errmsg("destination table %s is not empty", dest),
                      errdetail("Restoring into it would mix backed-up rows with current ones."),
                      errhint("Pass truncate => true to replace its rows, or restore into another "
                              "table with into_table => '...'.")));
    if (non_empty && !g_restore->dry_run)
      SpiRun(psprintf("TRUNCATE ONLY %s", dest), 0, nullptr, nullptr, nullptr);
  }
  if (g_restore->dry_run) {
    item->rows = item->expected_rows;
    item->status = static_cast<int>(RestoreStatus::kChecked);
    return;
  }
  // Clip on a character boundary so the name stays valid multibyte text.
  int clip = pg_mbcliplen(item->dest_table, strlen(item->dest_table), 40);
  const char *external = quote_identifier(psprintf("%.*s_cdw_restore", clip, item->dest_table));
  SpiRun(
      psprintf("CREATE FOREIGN TABLE pg_temp.%s (%s) SERVER %s OPTIONS (path %s, compression %s)",
               external, RestoreString(g_restore, item->column_defs_offset), server,
               quote_literal_cstr(RestoreString(g_restore, item->path_offset)),
               quote_literal_cstr(g_restore->compression)),
      0, nullptr, nullptr, nullptr);
  // Generated columns are computed again by the destination; identity
  // columns keep their backed-up values (as pg_restore does).
  Oid types[1] = {TEXTOID};
  Datum values[1] = {CStringGetTextDatum(dest)};
  SpiRun(
      "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute "
      "WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''",
      1, types, values, nullptr);  // not read-only: the table may have just been created
  char *columns = SpiText(0, 1);
  SpiRun(psprintf("INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM pg_temp.%s", dest,
                  columns, columns, external),
         0, nullptr, nullptr, nullptr);
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
  item->status = static_cast<int>(RestoreStatus::kRestored);
}

void RestoreAll() {
  const char *server = quote_identifier(psprintf("cdw_backup_restore_%d", MyProcPid));
  for (int i = 0; i < g_restore->count; i++) {
    RestoreItem *item = &g_restore->items[i];
    if (item->status != static_cast<int>(RestoreStatus::kPending)) continue;
    CHECK_FOR_INTERRUPTS();
    pgstat_report_activity(
        STATE_RUNNING, psprintf("cdw_backup restore: %s.%s", item->dest_schema, item->dest_table));
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    PG_TRY();
    {
      SPI_connect();
      PushActiveSnapshot(GetTransactionSnapshot());
      cdw::fdw::PinSettingsForTransaction();
      SpiRun(cdw::fdw::CreateServerStatement(server, g_restore->location, g_restore->store_options),
             0, nullptr, nullptr, nullptr);
      RestoreOne(item, server);
      SpiRun(psprintf("DROP SERVER %s", server), 0, nullptr, nullptr, nullptr);
      SPI_finish();
      PopActiveSnapshot();
      if (g_restore->dry_run)
        AbortCurrentTransaction();
      else
        CommitTransactionCommand();
    }
    PG_CATCH();
    {
      // The copy must outlive the transaction we are about to abort.
      MemoryContextSwitchTo(TopMemoryContext);
      ErrorData *error = CopyErrorData();
      FlushErrorState();
      AbortCurrentTransaction();
      Fail(item, error);
      FreeErrorData(error);
    }
    PG_END_TRY();
  }
}

void EnsureExtension() {
  SetCurrentStatementStartTimestamp();
  StartTransactionCommand();
  SPI_connect();
  PushActiveSnapshot(GetTransactionSnapshot());
  SpiRun("CREATE EXTENSION IF NOT EXISTS cdw_backup_fdw", 0, nullptr, nullptr, nullptr);
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
  g_restore = static_cast<RestoreJob *>(dsm_segment_address(segment));
  BackgroundWorkerInitializeConnectionByOid(g_restore->database_id, g_restore->role_id, 0);
  pgstat_report_appname("cdw_backup restore");
  cdw::pg::CallCpp([&] {
    cdw::Credentials credentials{g_restore->secret_id, g_restore->secret_key,
                                 g_restore->session_token};
    cdw::fdw::SetProcessCredentials(g_restore->location, credentials);
  });
  PG_TRY();
  { EnsureExtension(); }
  PG_CATCH();
  {
    MemoryContextSwitchTo(TopMemoryContext);
    ErrorData *error = CopyErrorData();
    FlushErrorState();
    AbortCurrentTransaction();
    for (int i = 0; i < g_restore->count; i++) Fail(&g_restore->items[i], error);
    proc_exit(0);
  }
  PG_END_TRY();
  RestoreAll();
  proc_exit(0);
}
