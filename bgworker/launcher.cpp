// The launcher: one static background worker in the home database
// (cdw_backup.database). Today it settles runs that lost their coordinator
// (server crash, immediate shutdown, kill -9): TimescaleDB's rule that a
// "started" row without its process is a crash, recorded as such. It sleeps
// on its latch; coordinators wake it when they exit.
extern "C" {
#include "postgres.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

#include "bgworker/launcher.h"
#include "bgworker/scheduler.h"
#include "bgworker/shared_state.h"
#include "extension/control/settings.h"
#include "extension/control/spi_util.h"
#include "extension/pg/search_path.h"

namespace cdw::bgworker {

namespace {

// Storage time one pass of the launcher spends cleaning up settled runs;
// what remains is cleaned up in the next passes.
constexpr long kCleanupBudgetMs = 10 * 1000L;

// Settles runs whose coordinator is gone and cleans up what runs that did
// not succeed left on their targets (see SettleOrphanedRuns). Returns
// whether a cleanup ran out of time (then the next pass comes soon).
bool SettleInterruptedRuns() {
  bool more = false;
  SetCurrentStatementStartTimestamp();
  StartTransactionCommand();
  (void)pg::PinSearchPath();  // until the transaction ends
  SPI_connect();
  PushActiveSnapshot(GetTransactionSnapshot());
  control::SpiRun(
      "SELECT FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'cdw_backup'", 0,
      nullptr, nullptr, nullptr, true);
  if (SPI_processed > 0) more = SettleOrphanedRuns(kCleanupBudgetMs) > 0;
  SPI_finish();
  PopActiveSnapshot();
  CommitTransactionCommand();
  pgstat_report_activity(STATE_IDLE, nullptr);
  return more;
}

}  // namespace

void RegisterLauncher() {
  BackgroundWorker worker;
  memset(&worker, 0, sizeof worker);
  worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
  worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
  worker.bgw_restart_time = 10;  // seconds; never a tight crash loop
  strlcpy(worker.bgw_library_name, "cdw_backup", BGW_MAXLEN);
  strlcpy(worker.bgw_function_name, "cdw_backup_launcher_main", BGW_MAXLEN);
  strlcpy(worker.bgw_name, "cdw_backup launcher", BGW_MAXLEN);
  strlcpy(worker.bgw_type, "cdw_backup launcher", BGW_MAXLEN);
  RegisterBackgroundWorker(&worker);
}

}  // namespace cdw::bgworker

extern "C" void cdw_backup_launcher_main(Datum) {
  using namespace cdw::bgworker;
  pqsignal(SIGTERM, die);
  pqsignal(SIGHUP, SignalHandlerForConfigReload);
  BackgroundWorkerUnblockSignals();
  Shared()->launcher_latch = MyLatch;
  BackgroundWorkerInitializeConnection(cdw::control::g_home_database, nullptr, 0);
  pgstat_report_appname("cdw_backup launcher");
  for (;;) {
    long sleep_ms = 300 * 1000L;
    MemoryContext context = CurrentMemoryContext;
    PG_TRY();
    {
      bool more_cleanup = SettleInterruptedRuns();
      TimestampTz wake = ProcessSchedules();
      if (wake != 0) {
        long until = static_cast<long>((wake - GetCurrentTimestamp()) / 1000);
        sleep_ms = Max(Min(until, sleep_ms), 0L);
      }
      if (more_cleanup) sleep_ms = Min(sleep_ms, 1000L);
    }
    PG_CATCH();
    {
      // Never crash-loop: report, clean up, and look again later.
      MemoryContextSwitchTo(context);
      EmitErrorReport();
      FlushErrorState();
      AbortCurrentTransaction();
      sleep_ms = 60 * 1000L;
    }
    PG_END_TRY();
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, sleep_ms,
                    PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
    CHECK_FOR_INTERRUPTS();
    if (ConfigReloadPending) {
      ConfigReloadPending = false;
      ProcessConfigFile(PGC_SIGHUP);
    }
  }
}
