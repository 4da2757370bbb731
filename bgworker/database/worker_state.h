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

// Frees the catalog caches' entries no one holds (as a shared-invalidation
// overflow does; what is in use is rebuilt in place). A worker touches
// every table it lists, measures or exports in one transaction, and
// PostgreSQL keeps each one's relcache and catcache entries (~9 kB) until
// the transaction's backend exits: 90 MiB of a leader listing 10,000
// tables. Called between batches of tables, so what a run keeps is
// bounded by the batch, not by the database.
void ReleaseCatalogCaches();
constexpr int kTablesPerCacheRelease = 1000;

}  // namespace cdw::bgworker::database_worker
