// cdw_backup_run / cdw_backup_wait / cdw_backup_cancel / cdw_backup_progress.
extern "C" {
#include "postgres.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/timestamp.h"
}

#include "bgworker/run/caller_api.h"
#include "bgworker/run_progress.h"
#include "bgworker/shared_state.h"
#include "common/rate_limiter.h"
#include "compression/compression.h"
#include "extension/control/run_functions.h"
#include "extension/control/arguments.h"
#include "extension/control/spi_util.h"
#include "extension/control/target_store.h"
#include "extension/pg/bounded_copy.h"
#include "extension/pg/cpp_boundary.h"
#include "extension/pg/search_path.h"
#include "storage/store_factory.h"

using namespace cdw::control;
using namespace cdw::bgworker;

namespace {

void CopyArrayLiteral(ArrayType *array, char *dest, size_t size, const char *parameter) {
  // array_out caches in flinfo, so it needs a real FmgrInfo (not DirectFunctionCall).
  char *literal = OidOutputFunctionCall(F_ARRAY_OUT, PointerGetDatum(array));
  if (strlen(literal) >= size)
    ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
                    errmsg("%s lists too many databases", parameter),
                    errhint("Use exclude_databases, or run several backups.")));
  strlcpy(dest, literal, size);
}

// In double so that '1000000 years' does not overflow; capped at ~100 years.
long IntervalToMilliseconds(Interval *interval) {
  double usecs = static_cast<double>(interval->time) +
                 static_cast<double>(interval->day) * USECS_PER_DAY +
                 static_cast<double>(interval->month) * DAYS_PER_MONTH * USECS_PER_DAY;
  constexpr double kMaxMs = 100.0 * 365 * 24 * 3600 * 1000;
  return usecs <= 0 ? 0 : static_cast<long>(Min(usecs / 1000, kMaxMs));
}

}  // namespace

namespace cdw::control {

int64 LaunchRun(const char *target, ArrayType *databases, ArrayType *exclude,
                const char *compression, Oid role_id, const char *schedule_name,
                const char *max_rate, const FilterArrays *filters, bool incremental) {
  RunRequest request;
  memset(&request, 0, sizeof request);
  cdw::pg::CallCpp([&] { (void)cdw::ParseCompression(compression); });
  request.max_rate = -1;
  if (max_rate)
    request.max_rate =
        cdw::pg::CallCpp([&] { return static_cast<int64>(cdw::ParseRate("max_rate", max_rate)); });
  // Everything goes into fixed-size fields of shared memory: checked, never
  // cut (a cut target name could name another role's target).
  cdw::pg::CopyName(request.target, target, "target name");
  cdw::pg::CopyBounded(request.compression, sizeof request.compression, compression, "compression");
  if (schedule_name) cdw::pg::CopyName(request.schedule_name, schedule_name, "schedule name");
  if (databases) {
    CheckDatabaseList(databases, "databases", false);
    request.has_databases = true;
    CopyArrayLiteral(databases, request.databases, sizeof request.databases, "databases");
  }
  if (exclude) {
    CheckDatabaseList(exclude, "exclude_databases", true);
    request.has_exclude = true;
    CopyArrayLiteral(exclude, request.exclude, sizeof request.exclude, "exclude_databases");
  }
  request.role_id = role_id;
  request.incremental = incremental;
  cdw::pg::CopyName(request.role_name, GetUserNameFromId(role_id, false), "role name");
  if (filters)
    for (int kind = 0; kind < kFilterKinds; kind++)
      if (filters->lists[kind])
        CheckPatternList(filters->lists[kind], kind, &request.filters.lists[kind]);

  SPI_connect();
  Target *found = LoadTarget(target, role_id);
  // The run's limit is fixed when it starts: changing the target's option
  // later does not change a run in progress.
  if (request.max_rate < 0)
    request.max_rate = cdw::pg::CallCpp([&] {
      return static_cast<int64>(cdw::StoreMaxRate(cdw::ParseStoreOptionLines(found->options)));
    });
  SavedUser saved = BecomeExtensionOwner();
  if (!filters && schedule_name) {
    // A schedule's filters were checked when it was written; checked again
    // (a dump restored from an older version could hold anything).
    SpiParams name;
    name.Text(schedule_name);
    SpiRun(
        "SELECT s.tables, s.exclude_tables, s.schemas, s.exclude_schemas, s.exclude_table_data "
        "FROM cdw_backup.schedule_store s WHERE s.name OPERATOR(pg_catalog.=) $1",
        name);
    for (int kind = 0; SPI_processed > 0 && kind < kFilterKinds; kind++) {
      bool isnull;
      Datum list = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, kind + 1, &isnull);
      if (!isnull) CheckPatternList(DatumGetArrayTypeP(list), kind, &request.filters.lists[kind]);
    }
  }
  SpiParams none;
  SpiRun("SELECT pg_catalog.nextval('cdw_backup.runs_run_id_seq'::pg_catalog.regclass)", none);
  request.run_id = strtoll(SpiText(0, 1), nullptr, 10);
  RestoreUser(saved);
  SPI_finish();

  StartRun(request);
  return request.run_id;
}

}  // namespace cdw::control

namespace {

// Raises 42501 unless the current user started run `run_id` (or is a
// superuser). Active runs are checked in shared memory (role OID), others
// in the history. A run found in neither is left to the caller's "does not
// exist" error.
void RequireOwnRun(int64 run_id, const char *action) {
  Oid user = GetUserId();
  if (superuser_arg(user)) return;
  SharedState *shared = Shared();
  bool active = false, own = false;
  char owner[NAMEDATALEN] = "";
  LWLockAcquire(shared->lock, LW_SHARED);
  int index = FindRunSlot(run_id);
  if (index >= 0) {
    active = true;
    own = shared->runs[index].request.role_id == user;
  }
  LWLockRelease(shared->lock);
  if (!active) {
    SPI_connect();
    SpiParams params;
    params.Int8(run_id);
    SavedUser saved = BecomeExtensionOwner();
    SpiRun("SELECT role_name FROM cdw_backup.runs WHERE run_id OPERATOR(pg_catalog.=) $1", params,
           true);
    RestoreUser(saved);
    char *role = SpiText(0, 1);
    if (role) strlcpy(owner, role, sizeof owner);
    SPI_finish();
    if (!owner[0]) return;
    own = strcmp(owner, GetUserNameFromId(user, false)) == 0;
  }
  if (!own)
    ereport(ERROR,
            (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
             errmsg("permission denied to %s run %lld", action, static_cast<long long>(run_id)),
             errdetail("The run was started by another role."),
             errhint("Only the role that started a run, or a superuser, may %s it; "
                     "SELECT run_id, status FROM cdw_backup.runs; lists your runs.",
                     action)));
}

}  // namespace

CDW_SQL_FUNCTION(cdw_backup_run) {
  int search_path = cdw::pg::PinSearchPath();
  RequireSharedState("cdw_backup_run()");
  RequireOperator("start backup runs");
  RequireHomeDatabase("cdw_backup_run()");
  // NULL target and compression mean their defaults, NULL lists "every
  // database" and "exclude none" (documented in README).
  const char *target = TextArgument(fcinfo, 0, "default");
  const char *compression = TextArgument(fcinfo, 3, "gzip");
  bool wait = !PG_ARGISNULL(4) && PG_GETARG_BOOL(4);
  // NULL max_rate: the target's option.
  const char *max_rate = TextArgument(fcinfo, 5, nullptr);
  // tables, exclude_tables, schemas, exclude_schemas, exclude_table_data.
  FilterArrays filters;
  for (int kind = 0; kind < kFilterKinds; kind++)
    filters.lists[kind] = PG_ARGISNULL(6 + kind) ? nullptr : PG_GETARG_ARRAYTYPE_P(6 + kind);
  // NULL incremental: the default, true (an earlier good run with the same
  // compression is reused where its content is unchanged).
  bool incremental = PG_ARGISNULL(11) || PG_GETARG_BOOL(11);
  int64 run_id = LaunchRun(target, PG_ARGISNULL(1) ? nullptr : PG_GETARG_ARRAYTYPE_P(1),
                           PG_ARGISNULL(2) ? nullptr : PG_GETARG_ARRAYTYPE_P(2), compression,
                           GetUserId(), nullptr, max_rate, &filters, incremental);
  if (wait) (void)WaitForRun(run_id, -1);
  cdw::pg::UnpinSearchPath(search_path);
  PG_RETURN_INT64(run_id);
}

CDW_SQL_FUNCTION(cdw_backup_wait) {
  int search_path = cdw::pg::PinSearchPath();
  RequireSharedState("cdw_backup_wait()");
  RequireOperator("wait for backup runs");
  RequireArgument(fcinfo, 0, "run_id", "SELECT cdw_backup_wait(42, timeout => '10 minutes');");
  if (!PG_ARGISNULL(1)) CheckInterval(PG_GETARG_INTERVAL_P(1), "timeout", true);
  long timeout = PG_ARGISNULL(1) ? -1 : IntervalToMilliseconds(PG_GETARG_INTERVAL_P(1));
  RequireOwnRun(PG_GETARG_INT64(0), "wait for");
  text *status = cstring_to_text(WaitForRun(PG_GETARG_INT64(0), timeout));
  cdw::pg::UnpinSearchPath(search_path);
  PG_RETURN_TEXT_P(status);
}

CDW_SQL_FUNCTION(cdw_backup_cancel) {
  RequireSharedState("cdw_backup_cancel()");
  RequireOperator("cancel backup runs");
  RequireArgument(fcinfo, 0, "run_id", "SELECT cdw_backup_cancel(42);");
  int64 run_id = PG_GETARG_INT64(0);
  SharedState *shared = Shared();
  bool found = false;
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  int index = FindRunSlot(run_id);
  if (index >= 0) {
    RunSlot *slot = &shared->runs[index];
    if (slot->request.role_id != GetUserId() && !superuser()) {
      // Copied under the lock: the slot may be reused once it is released.
      char owner[NAMEDATALEN];
      strlcpy(owner, slot->request.role_name, sizeof owner);
      LWLockRelease(shared->lock);
      ereport(ERROR,
              (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
               errmsg("permission denied to cancel run %lld", static_cast<long long>(run_id)),
               errdetail("The run was started by role %s.", owner),
               errhint("Ask role %s or a superuser to run SELECT cdw_backup_cancel(%lld);",
                       quote_identifier(owner), static_cast<long long>(run_id))));
    }
    slot->cancel_requested = true;
    if (slot->coordinator_latch) SetLatch(slot->coordinator_latch);
    found = true;
  }
  LWLockRelease(shared->lock);
  PG_RETURN_BOOL(found);
}

CDW_SQL_FUNCTION(cdw_backup_progress) {
  InitMaterializedSRF(fcinfo, 0);
  auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
  SharedState *shared = Shared();
  if (!shared) return (Datum)0;
  // A role sees the progress of its own runs only; superusers see all.
  Oid user = GetUserId();
  bool sees_all = superuser_arg(user);
  LWLockAcquire(shared->lock, LW_SHARED);
  for (const auto &slot : shared->progress) {
    if (!slot.in_use) continue;
    if (!sees_all && slot.thaw && slot.role_id != user) continue;
    if (!sees_all && !slot.thaw) {
      int run = FindRunSlot(slot.run_id);
      if (run < 0 || shared->runs[run].request.role_id != user) continue;
    }
    Datum values[11];
    bool nulls[11] = {false};
    values[0] = Int64GetDatum(slot.run_id);
    values[1] = Int32GetDatum(slot.pid);
    values[2] = DirectFunctionCall1(namein, CStringGetDatum(slot.database));
    values[3] = CStringGetTextDatum(slot.schema_name);
    values[4] = CStringGetTextDatum(slot.table_name);
    values[5] = Int64GetDatum(
        static_cast<int64>(pg_atomic_read_u64(const_cast<pg_atomic_uint64 *>(&slot.rows))));
    values[6] = Int64GetDatum(
        static_cast<int64>(pg_atomic_read_u64(const_cast<pg_atomic_uint64 *>(&slot.bytes_raw))));
    values[7] = TimestampTzGetDatum(slot.started_at);
    // A restore or verify waiting for archived objects to thaw.
    values[8] = CStringGetTextDatum(slot.thaw ? "thaw" : "export");
    values[9] = Int64GetDatum(static_cast<int64>(
        pg_atomic_read_u64(const_cast<pg_atomic_uint64 *>(&slot.objects_thawed))));
    values[10] = Int64GetDatum(static_cast<int64>(
        pg_atomic_read_u64(const_cast<pg_atomic_uint64 *>(&slot.objects_total))));
    if (slot.thaw) {
      nulls[2] = slot.database[0] == '\0';
      nulls[3] = nulls[4] = nulls[5] = nulls[6] = true;
    } else {
      nulls[9] = nulls[10] = true;
    }
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
  }
  LWLockRelease(shared->lock);
  return (Datum)0;
}

// One row per active run (cdw_backup.run_progress): the coordinator's
// published numbers plus its running workers', estimated as
// core/progress/estimate.h says. A role sees its own runs; superusers all.
CDW_SQL_FUNCTION(cdw_backup_run_progress) {
  InitMaterializedSRF(fcinfo, 0);
  auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
  SharedState *shared = Shared();
  if (!shared) return (Datum)0;
  Oid user = GetUserId();
  bool sees_all = superuser_arg(user);
  TimestampTz now = GetCurrentTimestamp();
  struct Row {
    int64 run_id;
    RunProgressNumbers numbers;
  };
  Row *rows = static_cast<Row *>(palloc(sizeof(Row) * kMaxActiveRuns));
  int count = 0;
  LWLockAcquire(shared->lock, LW_SHARED);
  for (const auto &slot : shared->runs) {
    if (!slot.in_use || !slot.recorded) continue;
    if (!sees_all && slot.request.role_id != user) continue;
    rows[count].run_id = slot.request.run_id;
    rows[count].numbers = ComputeRunProgress(shared, &slot, now);
    count++;
  }
  LWLockRelease(shared->lock);
  for (int r = 0; r < count; r++) {
    const RunProgressNumbers &n = rows[r].numbers;
    const RunProgress &p = n.published;
    const cdw::ProgressEstimate &e = n.estimate;
    Datum values[14];
    bool nulls[14] = {false};
    values[0] = Int64GetDatum(rows[r].run_id);
    values[1] = TimestampTzGetDatum(p.started_at);
    nulls[1] = p.started_at == 0;
    values[2] = Int32GetDatum(p.databases_done);
    values[3] = Int32GetDatum(p.databases_total);
    values[4] = Int32GetDatum(p.tables_done);
    values[5] = Int32GetDatum(p.tables_total);
    values[6] = Int64GetDatum(e.bytes_done);
    values[7] = Int64GetDatum(e.bytes_total);
    values[8] = Int64GetDatum(p.finished_stored);
    values[9] = Float8GetDatum(e.fraction * 100.0);
    values[10] = Float8GetDatum(e.rate);
    nulls[10] = e.rate <= 0;
    auto interval = [](double seconds) {
      Interval *result = static_cast<Interval *>(palloc0(sizeof(Interval)));
      result->time = static_cast<TimeOffset>(seconds * USECS_PER_SEC);
      return IntervalPGetDatum(result);
    };
    values[11] = interval(n.elapsed_seconds);
    nulls[11] = p.started_at == 0;
    values[12] = interval(e.eta_seconds);
    nulls[12] = e.eta_seconds < 0;
    values[13] = TimestampTzGetDatum(now + static_cast<int64>(e.eta_seconds * USECS_PER_SEC));
    nulls[13] = e.eta_seconds < 0;
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
  }
  return (Datum)0;
}
