// The worker that exports tables of one database (see database_job.h): the
// entry point of the leader and the helpers. Include after postgres.h.
#pragma once

extern "C" {
#include "fmgr.h"
}

// Worker entry point (bgw_function_name value); `job_handle` is the
// DatabaseJob's DSM handle, bgw_extra[0] 'L' (leader) or 'H' (helper).
extern "C" {
PGDLLEXPORT void cdw_backup_database_worker(Datum job_handle);
}
