// cdw_backup_schedule / cdw_backup_unschedule / cdw_backup_run_schedule.
// The launcher (bgworker/scheduler.cpp) reads what these write and is woken
// through its latch whenever a schedule changes.
extern "C" {
#include "postgres.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
}

#include "bgworker/scheduler.h"
#include "bgworker/shared_state.h"
#include "common/rate_limiter.h"
#include "compression/compression.h"
#include "extension/control/run_functions.h"
#include "extension/control/arguments.h"
#include "extension/control/settings.h"
#include "extension/control/spi_util.h"
#include "extension/control/target_store.h"
#include "extension/pg/bounded_copy.h"
#include "extension/pg/cpp_boundary.h"
#include "extension/pg/search_path.h"
#include "schedule/cron_expression.h"
#include "schedule/next_run.h"
#include "schedule/time_zone.h"

using namespace cdw::control;

namespace cdw::control {

// Next fire time after `after` of a schedule; throws cdw::Error with a hint
// showing the format when the expression or the time zone is invalid.
TimestampTz NextFireTime(const char *cron, const char *timezone, TimestampTz after) {
  return pg::CallCpp([&] {
    auto expression = CronExpression::Parse(cron);
    auto zone = TimeZone::Load(timezone);
    int64_t next = NextRunAfter(expression, *zone, timestamptz_to_time_t(after));
    return time_t_to_timestamptz(static_cast<pg_time_t>(next));
  });
}

}  // namespace cdw::control

CDW_SQL_FUNCTION(cdw_backup_schedule) {
  int search_path = cdw::pg::PinSearchPath();
  cdw::bgworker::RequireSharedState("cdw_backup_schedule()");
  RequireOperator("schedule backups");
  RequireHomeDatabase("cdw_backup_schedule()");
  static const char kExample[] = "SELECT cdw_backup_schedule('nightly', '0 3 * * *');";
  char *name = NameArgument(fcinfo, 0, "schedule name", kExample);
  if (name[0] == '\0')
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                    errmsg("schedule name must not be empty"), errhint("%s", kExample)));
  RequireArgument(fcinfo, 1, "cron", kExample);
  char *cron = TextArgument(fcinfo, 1, nullptr);
  // NULL optional arguments take their defaults (documented in README).
  const char *target = TextArgument(fcinfo, 2, "default");
  cdw::pg::CheckNameLength(target, "target name");
  const char *timezone = TextArgument(fcinfo, 3, "UTC");
  if (!PG_ARGISNULL(4)) CheckDatabaseList(PG_GETARG_ARRAYTYPE_P(4), "databases", false);
  if (!PG_ARGISNULL(5)) CheckDatabaseList(PG_GETARG_ARRAYTYPE_P(5), "exclude_databases", true);
  const char *compression = TextArgument(fcinfo, 6, "gzip");
  if (!PG_ARGISNULL(11)) CheckInterval(PG_GETARG_INTERVAL_P(11), "catch_up_window", true);
  if (!PG_ARGISNULL(12)) CheckInterval(PG_GETARG_INTERVAL_P(12), "max_run_time", false);
  // tables, exclude_tables, schemas, exclude_schemas, exclude_table_data.
  for (int kind = 0; kind < cdw::bgworker::kFilterKinds; kind++)
    if (!PG_ARGISNULL(14 + kind)) CheckPatternList(PG_GETARG_ARRAYTYPE_P(14 + kind), kind, nullptr);
  if (!PG_ARGISNULL(19)) CheckInterval(PG_GETARG_INTERVAL_P(19), "full_every", false);
  for (int arg : {7, 8})
    if (!PG_ARGISNULL(arg) && PG_GETARG_INT32(arg) < 1)
      ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                      errmsg("%s must be at least 1", arg == 7 ? "keep_days" : "keep_runs"),
                      errhint("Leave it NULL to keep every backup of this schedule.")));
  cdw::pg::CallCpp([&] { (void)cdw::ParseCompression(compression); });
  // NULL: the target's max_rate when the run starts.
  const char *max_rate = TextArgument(fcinfo, 13, nullptr);
  if (max_rate) cdw::pg::CallCpp([&] { (void)cdw::ParseRate("max_rate", max_rate); });
  TimestampTz now = cdw::bgworker::SchedulerNow();
  TimestampTz next = NextFireTime(cron, timezone, now);

  Oid user = GetUserId();
  bool is_superuser = superuser();  // before switching to the extension owner
  SPI_connect();
  Target *found = FindTarget(target);
  if (!found)
    ereport(ERROR,
            (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("target \"%s\" does not exist", target),
             errhint("SELECT cdw_backup_add_target('%s', 'file:///var/backups/pg');", target)));
  if (found->owner_id != user && !is_superuser)
    ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                    errmsg("permission denied for target \"%s\"", target),
                    errhint("Schedule backups to a target of your own.")));
  SavedUser saved = BecomeExtensionOwner();
  SpiParams name_param;
  name_param.Text(name);
  SpiRun(
      "SELECT s.owner::pg_catalog.oid, s.owner_name::pg_catalog.text "
      "FROM cdw_backup.schedule_store s WHERE s.name OPERATOR(pg_catalog.=) $1",
      name_param);
  char *schedule_owner_oid = SpiText(0, 1);
  char *schedule_owner = SpiText(0, 2);
  Oid owner_id =
      schedule_owner_oid ? static_cast<Oid>(strtoul(schedule_owner_oid, nullptr, 10)) : user;
  if (owner_id != user && !is_superuser)
    ereport(ERROR, (errcode(ERRCODE_DUPLICATE_OBJECT),
                    errmsg("schedule \"%s\" belongs to role %s", name, schedule_owner),
                    errhint("Choose another name.")));
  SpiParams params;
  params.Arg(fcinfo, 0, TEXTOID)
      .Arg(fcinfo, 1, TEXTOID)
      .Text(target)
      .Text(timezone)
      .Arg(fcinfo, 4, TEXTARRAYOID)
      .Arg(fcinfo, 5, TEXTARRAYOID)
      .Text(compression)
      .Arg(fcinfo, 7, INT4OID)
      .Arg(fcinfo, 8, INT4OID)
      .Bool(!PG_ARGISNULL(9) && PG_GETARG_BOOL(9))
      .Bool(PG_ARGISNULL(10) || PG_GETARG_BOOL(10))
      .Arg(fcinfo, 11, INTERVALOID)
      .Arg(fcinfo, 12, INTERVALOID)
      // A superuser redefining another role's schedule keeps its owner.
      .Add(OIDOID, ObjectIdGetDatum(owner_id))
      .Timestamp(next)
      // Runs due before now are not caught up for a new or changed schedule.
      .Timestamp(now)
      .Arg(fcinfo, 13, TEXTOID)
      .Arg(fcinfo, 14, TEXTARRAYOID)
      .Arg(fcinfo, 15, TEXTARRAYOID)
      .Arg(fcinfo, 16, TEXTARRAYOID)
      .Arg(fcinfo, 17, TEXTARRAYOID)
      .Arg(fcinfo, 18, TEXTARRAYOID)
      .Arg(fcinfo, 19, INTERVALOID);
  SpiRun(
      "INSERT INTO cdw_backup.schedule_store AS s (name, cron, target, timezone, databases, "
      " exclude_databases, compression, keep_days, keep_runs, verify, enabled, catch_up_window, "
      " max_run_time, owner, next_run_at, last_checked_at, owner_name, max_rate, tables, "
      " exclude_tables, schemas, exclude_schemas, exclude_table_data, full_every) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, "
      " $14::pg_catalog.regrole, $15, $16, "
      " coalesce((SELECT a.rolname FROM pg_catalog.pg_roles a "
      "           WHERE a.oid OPERATOR(pg_catalog.=) $14), $14::pg_catalog.text::pg_catalog.name), "
      " $17, $18, $19, $20, $21, $22, $23) "
      "ON CONFLICT (name) DO UPDATE SET cron = excluded.cron, target = excluded.target, "
      " timezone = excluded.timezone, databases = excluded.databases, "
      " exclude_databases = excluded.exclude_databases, compression = excluded.compression, "
      " keep_days = excluded.keep_days, keep_runs = excluded.keep_runs, verify = excluded.verify, "
      " enabled = excluded.enabled, catch_up_window = excluded.catch_up_window, "
      " max_run_time = excluded.max_run_time, full_every = excluded.full_every, "
      " next_run_at = excluded.next_run_at, "
      " last_checked_at = excluded.last_checked_at, owner_name = excluded.owner_name, "
      " max_rate = excluded.max_rate, "
      " tables = excluded.tables, exclude_tables = excluded.exclude_tables, "
      " schemas = excluded.schemas, exclude_schemas = excluded.exclude_schemas, "
      " exclude_table_data = excluded.exclude_table_data, "
      " disabled_reason = NULL",
      params);
  RestoreUser(saved);
  SPI_finish();
  cdw::bgworker::WakeLauncherAtCommit();
  cdw::pg::UnpinSearchPath(search_path);
  PG_RETURN_TIMESTAMPTZ(next);
}

CDW_SQL_FUNCTION(cdw_backup_unschedule) {
  int search_path = cdw::pg::PinSearchPath();
  RequireOperator("unschedule backups");
  RequireHomeDatabase("cdw_backup_unschedule()");
  char *name = NameArgument(fcinfo, 0, "schedule name", "SELECT cdw_backup_unschedule('nightly');");
  Oid types[3];
  Datum values[3];
  OwnedRowParams(PG_GETARG_DATUM(0), types, values);
  SPI_connect();
  SavedUser saved = BecomeExtensionOwner();
  SpiRun(
      "DELETE FROM cdw_backup.schedule_store WHERE name OPERATOR(pg_catalog.=) $1 "
      "AND (owner OPERATOR(pg_catalog.=) $2 OR $3)",
      3, types, values, nullptr);
  RestoreUser(saved);
  bool found = SPI_processed > 0;
  SPI_finish();
  if (!found)
    ereport(ERROR,
            (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("schedule \"%s\" does not exist", name),
             errhint("SELECT name FROM cdw_backup.schedules; lists your schedules.")));
  cdw::bgworker::WakeLauncherAtCommit();
  cdw::pg::UnpinSearchPath(search_path);
  PG_RETURN_BOOL(true);
}

CDW_SQL_FUNCTION(cdw_backup_run_schedule) {
  int search_path = cdw::pg::PinSearchPath();
  cdw::bgworker::RequireSharedState("cdw_backup_run_schedule()");
  RequireOperator("run schedules");
  RequireHomeDatabase("cdw_backup_run_schedule()");
  char *name =
      NameArgument(fcinfo, 0, "schedule name", "SELECT cdw_backup_run_schedule('nightly');");
  Oid types[3];
  Datum values[3];
  OwnedRowParams(PG_GETARG_DATUM(0), types, values);
  SPI_connect();
  SavedUser saved = BecomeExtensionOwner();
  SpiRun(
      "SELECT s.target, s.databases, s.exclude_databases, s.compression, "
      " coalesce(a.rolname, s.owner_name)::pg_catalog.text, a.oid, s.max_rate "
      "FROM cdw_backup.schedule_store s "
      "LEFT JOIN pg_catalog.pg_roles a ON a.oid OPERATOR(pg_catalog.=) s.owner "
      "WHERE s.name OPERATOR(pg_catalog.=) $1 AND (s.owner OPERATOR(pg_catalog.=) $2 OR $3)",
      3, types, values, nullptr);
  RestoreUser(saved);
  if (SPI_processed == 0)
    ereport(ERROR,
            (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("schedule \"%s\" does not exist", name),
             errhint("SELECT name FROM cdw_backup.schedules; lists your schedules.")));
  bool isnull;
  MemoryContext outer = MemoryContextSwitchTo(TopTransactionContext);
  char *target = SpiText(0, 1);
  Datum databases = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
  ArrayType *database_array = isnull ? nullptr : DatumGetArrayTypePCopy(databases);
  Datum exclude = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);
  ArrayType *exclude_array = isnull ? nullptr : DatumGetArrayTypePCopy(exclude);
  char *compression = SpiText(0, 4);
  char *owner = SpiText(0, 5);
  char *owner_oid = SpiText(0, 6);
  char *max_rate = SpiText(0, 7);
  MemoryContextSwitchTo(outer);
  SPI_finish();
  if (!owner_oid)
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                    errmsg("the owner of schedule \"%s\", role %s, no longer exists", name, owner),
                    errhint("Create the schedule again as an existing role.")));
  // Runs execute as the schedule's owner, also when a superuser starts them.
  int64 run_id = LaunchRun(target, database_array, exclude_array, compression,
                           static_cast<Oid>(strtoul(owner_oid, nullptr, 10)), name, max_rate);
  SPI_connect();
  saved = BecomeExtensionOwner();
  Oid update_types[2] = {TEXTOID, INT8OID};
  Datum update_values[2] = {PG_GETARG_DATUM(0), Int64GetDatum(run_id)};
  SpiRun(
      "UPDATE cdw_backup.schedule_store SET last_run_id = $2 WHERE name OPERATOR(pg_catalog.=) $1",
      2, update_types, update_values, nullptr);
  RestoreUser(saved);
  SPI_finish();
  cdw::pg::UnpinSearchPath(search_path);
  PG_RETURN_INT64(run_id);
}
