// CREATE DATABASE / DROP DATABASE for cdw_backup_restore(). Neither may run
// inside a transaction block or a function, so neither can run in the
// caller's backend or through SPI: a short background worker connected to
// the home database as the calling role runs the statement at top level, in
// a transaction of its own, exactly as a client's simple query would
// (StartTransactionCommand, ProcessUtility(PROCESS_UTILITY_TOPLEVEL),
// CommitTransactionCommand). It has the caller's privileges, no more (CREATE
// DATABASE needs CREATEDB). Include after postgres.h.
#pragma once

namespace cdw::bgworker::restore {

// Runs `statement` (one CREATE or DROP DATABASE, identifiers and literals
// already quoted) in such a worker and waits for it; raises its error, with
// `hint` when the error has none.
void RunDatabaseCommand(const char *statement, const char *hint);

}  // namespace cdw::bgworker::restore

extern "C" {
PGDLLEXPORT void cdw_backup_database_command_worker(Datum job_handle);
}
