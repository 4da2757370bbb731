// The caller side of a run (see caller_api.h): runs in the backend that
// calls cdw_backup_run() / cdw_backup_wait(), talking to the coordinator
// through its slot in shared memory.
extern "C" {
#include "postgres.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/condition_variable.h"
#include "storage/lwlock.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
}

#include "bgworker/run/caller_api.h"
#include "bgworker/shared_state.h"
#include "extension/control/spi_util.h"

namespace cdw::bgworker {

using control::SpiRun;
using control::SpiText;

void StartRun(const RunRequest &request) {
  SharedState *shared = Shared();
  int index = -1;
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  for (int i = 0; i < kMaxActiveRuns; i++) {
    if (!shared->runs[i].in_use) {
      index = i;
      break;
    }
  }
  if (index >= 0) {
    RunSlot *slot = &shared->runs[index];
    slot->in_use = true;
    slot->request = request;
    slot->recorded = slot->finished = slot->cancel_requested = false;
    slot->coordinator_latch = nullptr;
    slot->coordinator_pid = 0;
    InitRateBucket(&slot->rate, static_cast<uint64>(Max(request.max_rate, 0)));
  }
  LWLockRelease(shared->lock);
  if (index < 0)
    ereport(ERROR,
            (errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
             errmsg("too many cdw_backup runs in progress"),
             errdetail("At most %d runs can be active at the same time.", kMaxActiveRuns),
             errhint("Wait for a run to end: SELECT run_id FROM cdw_backup.runs WHERE status "
                     "= 'running';")));
  RunSlot *slot = &shared->runs[index];

  BackgroundWorkerHandle *handle = StartDynamicWorker(
      "cdw_backup_run_coordinator", "cdw_backup coordinator",
      psprintf("cdw_backup run %lld coordinator", static_cast<long long>(request.run_id)),
      Int32GetDatum(index), &request.run_id, sizeof request.run_id);
  pid_t pid;
  if (!handle || WaitForBackgroundWorkerStartup(handle, &pid) != BGWH_STARTED) {
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    slot->in_use = false;
    LWLockRelease(shared->lock);
    ereport(ERROR,
            (errcode(ERRCODE_INSUFFICIENT_RESOURCES),
             errmsg("could not start a background worker for the backup run"),
             errhint("Increase max_worker_processes (cdw_backup needs cdw_backup.max_workers "
                     "+ 2 workers per run) and restart the server.")));
  }
  ConditionVariablePrepareToSleep(&slot->changed);
  for (;;) {
    if (slot->recorded || !slot->in_use || slot->request.run_id != request.run_id) break;
    if (GetBackgroundWorkerPid(handle, &pid) == BGWH_STOPPED) break;
    ConditionVariableTimedSleep(&slot->changed, 1000, PG_WAIT_EXTENSION);
  }
  ConditionVariableCancelSleep();
  if (!slot->recorded) {
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    if (slot->in_use && slot->request.run_id == request.run_id) slot->in_use = false;
    LWLockRelease(shared->lock);
    ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
                    errmsg("the coordinator of backup run %lld stopped before recording the run",
                           static_cast<long long>(request.run_id)),
                    errhint("See the server log for the reason.")));
  }
}

char *WaitForRun(int64 run_id, long timeout_ms) {
  SharedState *shared = Shared();
  TimestampTz start = GetCurrentTimestamp();
  for (;;) {
    LWLockAcquire(shared->lock, LW_SHARED);
    int index = FindRunSlot(run_id);
    LWLockRelease(shared->lock);
    if (index < 0) break;
    long remaining = 1000;
    if (timeout_ms >= 0) {
      long elapsed = static_cast<long>((GetCurrentTimestamp() - start) / 1000);
      if (elapsed >= timeout_ms) return pstrdup("running");
      remaining = Min(remaining, timeout_ms - elapsed);
    }
    ConditionVariablePrepareToSleep(&shared->runs[index].changed);
    if (shared->runs[index].in_use && shared->runs[index].request.run_id == run_id &&
        !shared->runs[index].finished)
      ConditionVariableTimedSleep(&shared->runs[index].changed, remaining, PG_WAIT_EXTENSION);
    ConditionVariableCancelSleep();
    CHECK_FOR_INTERRUPTS();
  }
  SPI_connect();
  // No coordinator holds the run any more: if its row still says running,
  // the coordinator died; settle it as the launcher would.
  SettleOrphanedRuns(5000);  // at most 5 s of storage cleanup in the caller
  control::SavedUser saved = control::BecomeExtensionOwner();
  Oid types[1] = {INT8OID};
  Datum values[1] = {Int64GetDatum(run_id)};
  SpiRun("SELECT status FROM cdw_backup.runs WHERE run_id OPERATOR(pg_catalog.=) $1", 1, types,
         values, nullptr);
  char *status = SpiText(0, 1);
  MemoryContext outer = MemoryContextSwitchTo(TopTransactionContext);
  char *result = status ? pstrdup(status) : nullptr;
  MemoryContextSwitchTo(outer);
  control::RestoreUser(saved);
  SPI_finish();
  if (!result)
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                    errmsg("backup run %lld does not exist", static_cast<long long>(run_id)),
                    errhint("SELECT run_id, status FROM cdw_backup.runs ORDER BY run_id DESC;")));
  return result;
}

}  // namespace cdw::bgworker
