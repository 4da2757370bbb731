extern "C" {
#include "postgres.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
}

#include "bgworker/launcher.h"
#include "bgworker/shared_state.h"
#include "extension/module.h"

namespace cdw::bgworker {

namespace {
SharedState *g_shared = nullptr;
shmem_request_hook_type g_previous_request_hook = nullptr;
shmem_startup_hook_type g_previous_startup_hook = nullptr;

void RequestSharedMemory() {
  if (g_previous_request_hook) g_previous_request_hook();
  RequestAddinShmemSpace(MAXALIGN(sizeof(SharedState)));
  RequestNamedLWLockTranche("cdw_backup", 1);
}

void StartupSharedMemory() {
  if (g_previous_startup_hook) g_previous_startup_hook();
  LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
  bool found = false;
  g_shared = static_cast<SharedState *>(ShmemInitStruct("cdw_backup", sizeof(SharedState), &found));
  if (!found) {
    memset(g_shared, 0, sizeof(SharedState));
    g_shared->lock = &(GetNamedLWLockTranche("cdw_backup"))->lock;
    for (auto &run : g_shared->runs) ConditionVariableInit(&run.changed);
    for (auto &slot : g_shared->progress) {
      pg_atomic_init_u64(&slot.rows, 0);
      pg_atomic_init_u64(&slot.bytes_raw, 0);
    }
  }
  LWLockRelease(AddinShmemInitLock);
}
}  // namespace

void InitializeSharedState() {
  g_previous_request_hook = shmem_request_hook;
  shmem_request_hook = RequestSharedMemory;
  g_previous_startup_hook = shmem_startup_hook;
  shmem_startup_hook = StartupSharedMemory;
  RegisterLauncher();
}

SharedState *Shared() {
  return g_shared;
}

void RequireSharedState(const char *what) {
  if (g_shared) return;
  ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                  errmsg("%s requires cdw_backup to be loaded at server start", what),
                  errdetail("Runs are coordinated by background workers and shared memory that "
                            "only exist when the library is preloaded."),
                  errhint("Add shared_preload_libraries = 'cdw_backup' to postgresql.conf and "
                          "restart the server.")));
}

int FindRunSlot(int64 run_id) {
  for (int i = 0; i < kMaxActiveRuns; i++)
    if (g_shared->runs[i].in_use && g_shared->runs[i].request.run_id == run_id) return i;
  return -1;
}

void WakeLauncher() {
  if (g_shared && g_shared->launcher_latch) SetLatch(g_shared->launcher_latch);
}

}  // namespace cdw::bgworker
