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
#include "mb/pg_wchar.h"
#include "catalog/pg_type.h"
}

#include "bgworker/restore/load_group.h"
#include "bgworker/restore/plan.h"
#include "bgworker/restore_job.h"
#include "extension/control/spi_util.h"
#include "extension/fdw/fdw_options.h"
#include "extension/fdw/pinned_settings.h"
#include "extension/pg/cpp_boundary.h"
#include "extension/pg/search_path.h"

namespace cdw::bgworker {
namespace {

using control::SpiRun;

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

// Plans the job (types checked, foreign-key groups), then restores each group
// in its own transaction: a group that fails leaves its tables as they were.
void RestoreAll() {
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
  proc_exit(0);
}
