// The state of one database worker (leader or helper), shared by the files
// of bgworker/database/: the job it belongs to, the table list, its role.
// Internal to bgworker/database/. Include after postgres.h.
#pragma once

#include "bgworker/database/database_job.h"

namespace cdw::bgworker::database_worker {

extern DatabaseJob *g_job;   // the job in dynamic shared memory
extern TableList *g_tables;  // the leader's table list, once published
extern bool g_is_leader;
extern bool g_helper_done;       // this helper has left helpers_active
extern const char *g_role_name;  // quoted; looked up once at start-up

// strlcpy that takes NULL as "".
void CopyText(char *dest, size_t size, const char *src);

// The quoted name of the role the run runs as (error paths run outside any
// transaction, so it is looked up once at start-up).
const char *RoleName();

// Tells the coordinator, and the leader or helpers waiting on each other,
// that the job changed.
void WakeCoordinator();

// Workers stop when their run has no coordinator any more (terminated,
// crashed): history would call the run interrupted, so the target must not
// get a backup that looks complete. ERROR when it is gone.
void CheckCoordinator();

}  // namespace cdw::bgworker::database_worker
