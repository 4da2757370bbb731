extern "C" {
#include "postgres.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "nodes/plannodes.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "tcop/dest.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/backend_status.h"
#include "utils/memutils.h"
}

#include "bgworker/restore/database_command.h"
#include "bgworker/shared_state.h"

namespace cdw::bgworker::restore {
namespace {

struct DatabaseCommandJob {
  Oid database_id;  // where the worker connects: the home database
  Oid role_id;
  char statement[4096];
  bool done;
  bool failed;
  int sqlerrcode;
  char message[1024];
  char detail[1024];
  char hint[512];
};

void RunAtTopLevel(const char *statement) {
  List *parsed = pg_parse_query(statement);
  Node *node = list_length(parsed) == 1 ? linitial_node(RawStmt, parsed)->stmt : nullptr;
  if (!node || (!IsA(node, CreatedbStmt) && !IsA(node, DropdbStmt)))
    elog(ERROR, "cdw_backup: not one CREATE or DROP DATABASE: %s", statement);
  RawStmt *raw = linitial_node(RawStmt, parsed);
  PlannedStmt *planned = makeNode(PlannedStmt);
  planned->commandType = CMD_UTILITY;
  planned->canSetTag = true;
  planned->utilityStmt = raw->stmt;
  planned->stmt_location = raw->stmt_location;
  planned->stmt_len = raw->stmt_len;
  ProcessUtility(planned, statement, false, PROCESS_UTILITY_TOPLEVEL, nullptr, nullptr,
                 None_Receiver, nullptr);
}

}  // namespace

void RunDatabaseCommand(const char *statement, const char *hint) {
  dsm_segment *segment = dsm_create(sizeof(DatabaseCommandJob), 0);
  auto *job = static_cast<DatabaseCommandJob *>(dsm_segment_address(segment));
  memset(job, 0, sizeof *job);
  job->database_id = MyDatabaseId;
  job->role_id = GetUserId();
  if (strlcpy(job->statement, statement, sizeof job->statement) >= sizeof job->statement)
    ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
                    errmsg("the database statement of this restore is too long")));
  RunDynamicWorkerToEnd("cdw_backup_database_command_worker", "cdw_backup restore",
                        "cdw_backup database command", UInt32GetDatum(dsm_segment_handle(segment)),
                        "the restore");
  if (job->failed || !job->done)
    ereport(ERROR, (errcode(job->failed ? job->sqlerrcode : ERRCODE_INTERNAL_ERROR),
                    errmsg("%s", job->failed ? job->message : "the database command did not run"),
                    job->detail[0] ? errdetail("%s", job->detail) : 0,
                    errhint("%s", job->hint[0] ? job->hint : hint)));
  dsm_detach(segment);
}

}  // namespace cdw::bgworker::restore

extern "C" void cdw_backup_database_command_worker(Datum job_handle) {
  using cdw::bgworker::restore::DatabaseCommandJob;
  pqsignal(SIGTERM, die);
  BackgroundWorkerUnblockSignals();
  dsm_segment *segment = dsm_attach(DatumGetUInt32(job_handle));
  if (!segment)
    ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                    errmsg("cdw_backup database command worker could not attach to its job")));
  auto *job = static_cast<DatabaseCommandJob *>(dsm_segment_address(segment));
  BackgroundWorkerInitializeConnectionByOid(job->database_id, job->role_id, 0);
  pgstat_report_appname("cdw_backup restore");
  pgstat_report_activity(STATE_RUNNING, job->statement);
  SetCurrentStatementStartTimestamp();
  StartTransactionCommand();
  PG_TRY();
  {
    cdw::bgworker::restore::RunAtTopLevel(job->statement);
    CommitTransactionCommand();
    job->done = true;
  }
  PG_CATCH();
  {
    MemoryContextSwitchTo(TopMemoryContext);
    ErrorData *error = CopyErrorData();
    FlushErrorState();
    AbortCurrentTransaction();
    job->failed = true;
    job->sqlerrcode = error->sqlerrcode;
    strlcpy(job->message, error->message ? error->message : "error", sizeof job->message);
    strlcpy(job->detail, error->detail ? error->detail : "", sizeof job->detail);
    strlcpy(job->hint, error->hint ? error->hint : "", sizeof job->hint);
  }
  PG_END_TRY();
  pgstat_report_activity(STATE_IDLE, nullptr);
  proc_exit(0);
}
