// The locks of a database worker (README, "Locks").
//
// The leader locks every table it backs up in ACCESS SHARE mode (as
// pg_dump) before it publishes the table list, and holds those locks until
// its transaction ends: they keep DDL and TRUNCATE away until every worker
// has read the table. A lock that is free is taken at once; the others are
// then waited for, each at most cdw_backup.lock_wait_timeout. A table whose
// lock cannot be had in that time, or whose wait ends in a deadlock, fails
// with the reason (55P03 naming the process in the way, or 40P01) and the
// run goes on.
//
// Helpers never wait for a table's lock (gpbackup's rule for its workers):
// a helper queued behind a waiter (a TRUNCATE waiting for the leader's lock)
// would wait for a process that waits for the leader, while the leader
// waits for the helper on a condition variable that no deadlock detector
// sees. A helper takes the lock only if it is free at once; otherwise it
// hands the table back to the leader, which holds the lock already. Every
// other lock wait of a worker is bounded by lock_timeout (the same setting):
// a helper hands such a table back too, the leader fails it.
//
// Everything else a table's export locks (the source's indexes and TOAST
// table, the temporary foreign table and its row types, the foreign server,
// catalogs, and a helper's own lock on the source) is released when the
// table is done (TableLockScope): a worker keeps one lock per table, held by
// the leader, instead of about eight until its transaction ends.
//
// Include after postgres.h.
#pragma once

#include "bgworker/database/database_job.h"

extern "C" {
#include "utils/resowner.h"
}

namespace cdw::bgworker::database_worker {

// The leader's locks must fit the shared lock table, which every session
// shares: max_locks_per_transaction * (MaxBackends + max_prepared_xacts)
// entries. ERROR (53400) naming the setting and the value to raise it to
// when `tables` locks and some headroom would not fit.
void CheckLockBudget(int tables);

// The same error (53400, with the value to set) when the lock table filled
// up anyway (other sessions held locks) after `locked` of `tables` locks.
void RaiseLockTableFull(int tables, int locked, const char *original_message);

// lock_timeout = cdw_backup.lock_wait_timeout for the worker's transaction
// (GUC_ACTION_LOCAL): no lock wait of a worker is unbounded.
void BoundLockWaits();

// Leader: locks `entry`'s table for the transaction, waiting at most the
// run's lock_wait_timeout. Returns false with the entry's sqlstate, error
// and hint set when the lock could not be had in that time or its wait
// ended in a deadlock; other errors (cancel, terminate) are raised.
bool LockTableForRun(TableEntry *entry);

// Whether an error ended a lock wait (lock_timeout or deadlock): what a
// helper hands back to the leader instead of failing the table.
bool IsLockWaitError(int sqlerrcode);

// Leader: the entry's error for a lock wait that timed out while the table
// was exported (a lock beyond the table's own, which the leader holds).
void DescribeExportLockWait(TableEntry *entry, const char *original_message);

// Locks taken between Begin and End are released at End (a resource owner
// of their own, child of the current one). End only on success: an error
// releases them with the enclosing subtransaction.
ResourceOwner BeginTableLockScope();
void EndTableLockScope(ResourceOwner scope);

}  // namespace cdw::bgworker::database_worker
