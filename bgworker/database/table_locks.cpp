// The locks of a database worker (see table_locks.h).
extern "C" {
#include "postgres.h"
#include "access/twophase.h"
#include "access/xact.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/sinvaladt.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
}

#include "bgworker/database/table_locks.h"
#include "bgworker/database/worker_state.h"
#include "bgworker/database/worker_text.h"

namespace cdw::bgworker::database_worker {
namespace {

// Locks beyond the tables' own that a database's backup takes while it
// runs (catalogs, one table's export, the worker's transaction), and a
// quarter more for the other sessions: what the budget keeps free.
constexpr int64 kLockHeadroom = 200;

// "5 s", "1500 ms": as the setting would be written.
char *FormatTimeout(int ms) {
  if (ms % 1000 == 0) return psprintf("%d s", ms / 1000);
  return psprintf("%d ms", ms);
}

// The processes that hold a lock on `relid` conflicting with ACCESS SHARE
// (an ACCESS EXCLUSIVE lock), as "process 123" / "processes 123, 456";
// NULL when none holds one (then a conflicting request waits ahead of ours).
char *ConflictingHolders(Oid relid) {
  LOCKTAG tag;
  SET_LOCKTAG_RELATION(tag, MyDatabaseId, relid);
  int count = 0;
  VirtualTransactionId *holders = GetLockConflicts(&tag, AccessShareLock, &count);
  StringInfoData pids;
  initStringInfo(&pids);
  int shown = 0;
  for (int i = 0; i < count && shown < 5; i++) {
    PGPROC *proc = BackendIdGetProc(holders[i].backendId);
    if (!proc || proc->pid == 0) continue;
    appendStringInfo(&pids, "%s%d", shown > 0 ? ", " : "", proc->pid);
    shown++;
  }
  if (shown == 0) return nullptr;
  return psprintf("%s %s", shown == 1 ? "process" : "processes", pids.data);
}

void SetEntryError(TableEntry *entry, const char *sqlstate, const char *error, const char *hint) {
  CopyText(entry->sqlstate, sizeof entry->sqlstate, sqlstate);
  // The coordinator writes them into the home database's history.
  CopyForHome(entry->error, sizeof entry->error, error);
  CopyForHome(entry->hint, sizeof entry->hint, hint);
}

const char *RaiseTimeoutHint() {
  return psprintf(
      "Retry when the table is free, or give the backup more time: ALTER SYSTEM SET "
      "cdw_backup.lock_wait_timeout = '1min'; SELECT pg_reload_conf(); (now %s).",
      FormatTimeout(g_job->lock_wait_timeout_ms));
}

void DescribeLockTimeout(TableEntry *entry) {
  char *table = quote_qualified_identifier(entry->schema_name, entry->table_name);
  char *holders = ConflictingHolders(entry->relid);
  char *error =
      holders ? psprintf("could not lock table %s within %s: %s holds a conflicting lock on it",
                         table, FormatTimeout(g_job->lock_wait_timeout_ms), holders)
              : psprintf(
                    "could not lock table %s within %s: another session's request for a "
                    "conflicting lock on it waits ahead of the backup",
                    table, FormatTimeout(g_job->lock_wait_timeout_ms));
  SetEntryError(entry, "55P03", error, RaiseTimeoutHint());
}

// max_locks_per_transaction for `needed` locks in the shared lock table,
// with a quarter more for the other sessions.
int64 SuggestedLocksPerTransaction(int64 needed) {
  int64 slots = static_cast<int64>(MaxBackends) + max_prepared_xacts;
  return (needed + needed / 4 + slots - 1) / slots;
}

}  // namespace

void RaiseLockTableFull(int tables, int locked, const char *original_message) {
  int64 slots = static_cast<int64>(MaxBackends) + max_prepared_xacts;
  int64 capacity = static_cast<int64>(max_locks_per_xact) * slots;
  // What the other sessions held when the table filled up, and all of ours.
  int64 others = Max(capacity - locked, static_cast<int64>(0));
  int64 suggested = Max(SuggestedLocksPerTransaction(tables + others + kLockHeadroom),
                        static_cast<int64>(max_locks_per_xact) * 2);
  ereport(ERROR,
          (errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
           errmsg("the server's lock table filled up after the backup of database %s locked %d "
                  "of its %d tables",
                  quote_identifier(g_job->database), locked, tables),
           errdetail("A backup holds an ACCESS SHARE lock on every table of a database until "
                     "the database is done, as pg_dump does; the lock table of all sessions "
                     "holds about max_locks_per_transaction (%d) * %lld locks, and other "
                     "sessions held some of them (%s).",
                     max_locks_per_xact, static_cast<long long>(slots),
                     original_message ? original_message : "out of shared memory"),
           errhint("Set max_locks_per_transaction = %lld in postgresql.conf and restart the "
                   "server.",
                   static_cast<long long>(suggested))));
}

void CheckLockBudget(int tables) {
  int64 slots = static_cast<int64>(MaxBackends) + max_prepared_xacts;
  int64 capacity = static_cast<int64>(max_locks_per_xact) * slots;
  int64 needed = tables + kLockHeadroom;
  if (needed <= capacity) return;
  int64 suggested = SuggestedLocksPerTransaction(needed);
  ereport(ERROR,
          (errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
           errmsg("database %s has more tables to back up (%d) than the server's lock table "
                  "can hold",
                  quote_identifier(g_job->database), tables),
           errdetail("A backup holds an ACCESS SHARE lock on every table of a database until "
                     "the database is done, as pg_dump does; the lock table of all sessions "
                     "holds max_locks_per_transaction (%d) * (max_connections + other server "
                     "processes + max_prepared_transactions = %lld) = %lld locks.",
                     max_locks_per_xact, static_cast<long long>(slots),
                     static_cast<long long>(capacity)),
           errhint("Set max_locks_per_transaction = %lld in postgresql.conf and restart the "
                   "server.",
                   static_cast<long long>(suggested))));
}

void BoundLockWaits() {
  // lock_timeout 0 would mean no limit: a run that takes only free locks
  // (lock_wait_timeout 0) waits at most 1 ms for any other.
  char *value = psprintf("%d", Max(g_job->lock_wait_timeout_ms, 1));
  (void)set_config_option("lock_timeout", value, PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL, true,
                          0, false);
}

bool IsLockWaitError(int sqlerrcode) {
  return sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE || sqlerrcode == ERRCODE_T_R_DEADLOCK_DETECTED;
}

bool LockTableForRun(TableEntry *entry) {
  if (ConditionalLockRelationOid(entry->relid, AccessShareLock)) return true;
  if (g_job->lock_wait_timeout_ms <= 0) {
    DescribeLockTimeout(entry);
    return false;
  }
  // A wait that ends in an error is left through a subtransaction, which
  // cleans up the lock manager's state; a granted lock moves to the
  // transaction when the subtransaction is released.
  MemoryContext context = CurrentMemoryContext;
  ResourceOwner owner = CurrentResourceOwner;
  volatile int failure = 0;
  char *volatile detail = nullptr;
  BeginInternalSubTransaction(nullptr);
  MemoryContextSwitchTo(context);
  PG_TRY();
  {
    LockRelationOid(entry->relid, AccessShareLock);  // lock_timeout: BoundLockWaits()
    ReleaseCurrentSubTransaction();
  }
  PG_CATCH();
  {
    MemoryContextSwitchTo(context);
    ErrorData *error = CopyErrorData();
    if (!IsLockWaitError(error->sqlerrcode)) PG_RE_THROW();  // cancel, terminate, ...
    FlushErrorState();
    RollbackAndReleaseCurrentSubTransaction();
    failure = error->sqlerrcode;
    detail = error->detail;
  }
  PG_END_TRY();
  MemoryContextSwitchTo(context);
  CurrentResourceOwner = owner;
  if (failure == 0) return true;
  if (failure == ERRCODE_T_R_DEADLOCK_DETECTED) {
    char *table = quote_qualified_identifier(entry->schema_name, entry->table_name);
    SetEntryError(entry, "40P01",
                  psprintf("deadlock detected while locking table %s%s%s", table,
                           detail ? ": " : "", detail ? detail : ""),
                  "Another transaction locked a table the backup holds and waited for one it "
                  "was about to lock; run the backup again when that transaction is done.");
  } else {
    DescribeLockTimeout(entry);
  }
  return false;
}

void DescribeExportLockWait(TableEntry *entry, const char *original_message) {
  char *table = quote_qualified_identifier(entry->schema_name, entry->table_name);
  SetEntryError(entry, "55P03",
                psprintf("could not back up table %s: a lock it needs was not granted within %s "
                         "(%s)",
                         table, FormatTimeout(g_job->lock_wait_timeout_ms),
                         original_message ? original_message : "lock timeout"),
                RaiseTimeoutHint());
}

ResourceOwner BeginTableLockScope() {
  ResourceOwner scope = ResourceOwnerCreate(CurrentResourceOwner, "cdw_backup table");
  CurrentResourceOwner = scope;
  return scope;
}

void EndTableLockScope(ResourceOwner scope) {
  // Not a commit: a commit would hand the locks to the parent owner. Every
  // statement of the table has ended, so nothing but locks is left here.
  ResourceOwner parent = ResourceOwnerGetParent(scope);
  CurrentResourceOwner = parent;
  ResourceOwnerRelease(scope, RESOURCE_RELEASE_BEFORE_LOCKS, false, false);
  ResourceOwnerRelease(scope, RESOURCE_RELEASE_LOCKS, false, false);
  ResourceOwnerRelease(scope, RESOURCE_RELEASE_AFTER_LOCKS, false, false);
  ResourceOwnerDelete(scope);
}

}  // namespace cdw::bgworker::database_worker
