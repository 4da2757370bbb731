// The coordinator of one run: a dynamic background worker in the home
// database, started by StartRun() (caller_api.h). Include after postgres.h.
#pragma once

extern "C" {
#include "fmgr.h"
}

// Worker entry point (bgw_function_name value); `slot_index` is the run's
// slot in shared memory.
extern "C" {
PGDLLEXPORT void cdw_backup_run_coordinator(Datum slot_index);
}
