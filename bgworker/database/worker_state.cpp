// The state of one database worker (see worker_state.h).
extern "C" {
#include "postgres.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "utils/inval.h"
}

#include "bgworker/database/worker_state.h"
#include "bgworker/shared_state.h"

namespace cdw::bgworker::database_worker {

DatabaseJob *g_job = nullptr;
TableList *g_tables = nullptr;
bool g_is_leader = false;
bool g_helper_done = false;
const char *g_role_name = nullptr;

void CopyText(char *dest, size_t size, const char *src) {
  strlcpy(dest, src ? src : "", size);
}

const char *RoleName() {
  return g_role_name;
}

void WakeCoordinator() {
  ConditionVariableBroadcast(&g_job->workers_changed);
  if (g_job->coordinator_latch) SetLatch(g_job->coordinator_latch);
}

void CheckCoordinator() {
  if (!RunIsActive(g_job->run_id))
    ereport(ERROR,
            (errcode(ERRCODE_ADMIN_SHUTDOWN),
             errmsg("backup run %lld lost its coordinator", static_cast<long long>(g_job->run_id)),
             errdetail("The run was interrupted; this worker's parts are discarded.")));
}

void ReleaseCatalogCaches() {
  InvalidateSystemCaches();
}

}  // namespace cdw::bgworker::database_worker
