// The history writer of a run's coordinator: the rows of cdw_backup.runs,
// run_databases and run_tables, written in short transactions of their own
// as the run goes on (see coordinator.cpp). Include after postgres.h.
#pragma once

extern "C" {
#include "utils/elog.h"
}

#include "bgworker/database/database_job.h"
#include "bgworker/run/run_context.h"
#include "extension/pg/cpp_boundary.h"

namespace cdw::bgworker::coordinator {

// Inserts or updates the run_databases row of `database`; NULL arguments
// are stored as NULL (location keeps its earlier value). Inside SPI.
// Appends "database <name>: <warning>" to the run's warnings. In a
// transaction.
void RecordDatabaseWarning(Run *run, const char *database, const char *warning);

void RecordDatabase(Run *run, const char *database, const char *status, int tables,
                    const char *location, const char *manifest, const char *sqlstate,
                    const char *error, const char *hint);

// Phase A: the runs row, the target, the databases (`databases` gets those
// that can be backed up; the others are recorded failed). Committed before
// cdw_backup_run() returns. Inside SPI.
bool RecordRun(Run *run, DatabaseList *databases);

// The pending run_tables row of every table of `tables`, and the
// database's tables_total. Runs its own transaction.
void InsertPendingTables(Run *run, TableList *tables, const char *database);

// Writes finished tables into run_tables: failed ones at once, backed-up
// ones only with `final`, once the database is known to be complete on the
// target (DatabaseComplete); `final` also settles tables no worker
// finished. `recorded` has one flag per entry of `tables`. Runs its own
// transaction when there is something to write.
void SyncTables(Run *run, DatabaseJob *job, TableList *tables, bool *recorded, bool final,
                const char *database);

// The run's totals and final status, its run index on the target
// (run_index.h) and a NOTIFY, in one transaction; a run that did not
// succeed is marked for cleanup when it is settled (run_cleanup.h).
void FinishRun(Run *run, bool any_failed_database);

// The run index could not be written: nothing of the run can be restored,
// so the run (unless cancelled), its databases and its tables are recorded
// failed with the storage error, and its objects are removed when it is
// settled. Inside SPI.
void FailRunForIndex(Run *run, const pg::PendingError *pending);

// Records the run failed with `error` (inserts its row if RecordRun did
// not commit it). `after_start`: the coordinator failed while exporting, so
// its unfinished databases and tables are failed with the same reason and
// the totals recomputed; the run is not left for the launcher to call
// "interrupted". Runs its own transaction.
void FailRun(Run *run, ErrorData *error, bool after_start);

}  // namespace cdw::bgworker::coordinator
