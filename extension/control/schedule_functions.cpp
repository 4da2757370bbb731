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
#include "compression/compression.h"
#include "extension/control/run_functions.h"
#include "extension/control/settings.h"
#include "extension/control/spi_util.h"
#include "extension/pg/cpp_boundary.h"
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
  cdw::bgworker::RequireSharedState("cdw_backup_schedule()");
  RequireOperator("schedule backups");
  RequireHomeDatabase("cdw_backup_schedule()");
  if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
    ereport(ERROR,
            (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("name and cron must not be null"),
             errhint("SELECT cdw_backup_schedule('nightly', '0 3 * * *');")));
  char *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
  char *cron = text_to_cstring(PG_GETARG_TEXT_PP(1));
  const char *target = PG_ARGISNULL(2) ? "default" : text_to_cstring(PG_GETARG_TEXT_PP(2));
  const char *timezone = PG_ARGISNULL(3) ? "UTC" : text_to_cstring(PG_GETARG_TEXT_PP(3));
  const char *compression = PG_ARGISNULL(6) ? "gzip" : text_to_cstring(PG_GETARG_TEXT_PP(6));
  for (int arg : {7, 8})
    if (!PG_ARGISNULL(arg) && PG_GETARG_INT32(arg) < 1)
      ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                      errmsg("%s must be at least 1", arg == 7 ? "keep_days" : "keep_runs"),
                      errhint("Leave it NULL to keep every backup of this schedule.")));
  cdw::pg::CallCpp([&] { (void)cdw::ParseCompression(compression); });
  TimestampTz now = cdw::bgworker::SchedulerNow();
  TimestampTz next = NextFireTime(cron, timezone, now);

  const char *user = GetUserNameFromId(GetUserId(), false);
  bool is_superuser = superuser();  // before switching to the extension owner
  SPI_connect();
  SavedUser saved = BecomeExtensionOwner();
  Oid name_types[1] = {TEXTOID};
  Datum name_values[1] = {CStringGetTextDatum(target)};
  SpiRun("SELECT owner FROM cdw_backup.target_store WHERE name = $1", 1, name_types, name_values,
         nullptr);
  char *target_owner = SpiText(0, 1);
  if (!target_owner)
    ereport(ERROR,
            (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("target \"%s\" does not exist", target),
             errhint("SELECT cdw_backup_add_target('%s', 'file:///var/backups/pg');", target)));
  if (strcmp(target_owner, user) != 0 && !is_superuser)
    ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                    errmsg("permission denied for target \"%s\"", target),
                    errhint("Schedule backups to a target of your own.")));
  name_values[0] = CStringGetTextDatum(name);
  SpiRun("SELECT owner FROM cdw_backup.schedule_store WHERE name = $1", 1, name_types, name_values,
         nullptr);
  char *schedule_owner = SpiText(0, 1);
  if (schedule_owner && strcmp(schedule_owner, user) != 0 && !is_superuser)
    ereport(ERROR, (errcode(ERRCODE_DUPLICATE_OBJECT),
                    errmsg("schedule \"%s\" belongs to role %s", name, schedule_owner),
                    errhint("Choose another name.")));
  Oid types[16] = {TEXTOID,     TEXTOID, TEXTOID,        TEXTOID,       TEXTARRAYOID, TEXTARRAYOID,
                   TEXTOID,     INT4OID, INT4OID,        BOOLOID,       BOOLOID,      INTERVALOID,
                   INTERVALOID, NAMEOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
  Datum values[16];
  char nulls[17] = "                ";
  for (int i = 0; i < 13; i++) {
    values[i] = PG_ARGISNULL(i) ? (Datum)0 : PG_GETARG_DATUM(i);
    if (PG_ARGISNULL(i)) nulls[i] = 'n';
  }
  values[2] = CStringGetTextDatum(target);
  nulls[2] = ' ';
  values[3] = CStringGetTextDatum(timezone);
  nulls[3] = ' ';
  values[6] = CStringGetTextDatum(compression);
  nulls[6] = ' ';
  values[9] = BoolGetDatum(!PG_ARGISNULL(9) && PG_GETARG_BOOL(9));
  nulls[9] = ' ';
  values[10] = BoolGetDatum(PG_ARGISNULL(10) || PG_GETARG_BOOL(10));
  nulls[10] = ' ';
  values[13] = DirectFunctionCall1(namein, CStringGetDatum(schedule_owner ? schedule_owner : user));
  values[14] = TimestampTzGetDatum(next);
  // Runs due before now are not caught up for a new or changed schedule.
  values[15] = TimestampTzGetDatum(now);
  SpiRun(
      "INSERT INTO cdw_backup.schedule_store AS s (name, cron, target, timezone, databases, "
      " exclude_databases, compression, keep_days, keep_runs, verify, enabled, catch_up_window, "
      " max_run_time, owner, next_run_at, last_checked_at) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) "
      "ON CONFLICT (name) DO UPDATE SET cron = excluded.cron, target = excluded.target, "
      " timezone = excluded.timezone, databases = excluded.databases, "
      " exclude_databases = excluded.exclude_databases, compression = excluded.compression, "
      " keep_days = excluded.keep_days, keep_runs = excluded.keep_runs, verify = excluded.verify, "
      " enabled = excluded.enabled, catch_up_window = excluded.catch_up_window, "
      " max_run_time = excluded.max_run_time, next_run_at = excluded.next_run_at, "
      " last_checked_at = excluded.last_checked_at, disabled_reason = NULL",
      16, types, values, nulls);
  RestoreUser(saved);
  SPI_finish();
  cdw::bgworker::WakeLauncherAtCommit();
  PG_RETURN_TIMESTAMPTZ(next);
}

CDW_SQL_FUNCTION(cdw_backup_unschedule) {
  RequireOperator("unschedule backups");
  RequireHomeDatabase("cdw_backup_unschedule()");
  char *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
  Oid types[3];
  Datum values[3];
  OwnedRowParams(PG_GETARG_DATUM(0), types, values);
  SPI_connect();
  SavedUser saved = BecomeExtensionOwner();
  SpiRun("DELETE FROM cdw_backup.schedule_store WHERE name = $1 AND (owner = $2 OR $3)", 3, types,
         values, nullptr);
  RestoreUser(saved);
  bool found = SPI_processed > 0;
  SPI_finish();
  if (!found)
    ereport(ERROR,
            (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("schedule \"%s\" does not exist", name),
             errhint("SELECT name FROM cdw_backup.schedules; lists your schedules.")));
  cdw::bgworker::WakeLauncherAtCommit();
  PG_RETURN_BOOL(true);
}

CDW_SQL_FUNCTION(cdw_backup_run_schedule) {
  cdw::bgworker::RequireSharedState("cdw_backup_run_schedule()");
  RequireOperator("run schedules");
  RequireHomeDatabase("cdw_backup_run_schedule()");
  char *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
  Oid types[3];
  Datum values[3];
  OwnedRowParams(PG_GETARG_DATUM(0), types, values);
  SPI_connect();
  SavedUser saved = BecomeExtensionOwner();
  SpiRun(
      "SELECT target, databases, exclude_databases, compression, owner, "
      " (SELECT oid FROM pg_roles WHERE rolname = owner) "
      "FROM cdw_backup.schedule_store WHERE name = $1 AND (owner = $2 OR $3)",
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
  MemoryContextSwitchTo(outer);
  SPI_finish();
  if (!owner_oid)
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                    errmsg("the owner of schedule \"%s\", role %s, no longer exists", name, owner),
                    errhint("Create the schedule again as an existing role.")));
  // Runs execute as the schedule's owner, also when a superuser starts them.
  int64 run_id = LaunchRun(target, database_array, exclude_array, compression,
                           static_cast<Oid>(strtoul(owner_oid, nullptr, 10)), name);
  SPI_connect();
  saved = BecomeExtensionOwner();
  Oid update_types[2] = {TEXTOID, INT8OID};
  Datum update_values[2] = {PG_GETARG_DATUM(0), Int64GetDatum(run_id)};
  SpiRun("UPDATE cdw_backup.schedule_store SET last_run_id = $2 WHERE name = $1", 2, update_types,
         update_values, nullptr);
  RestoreUser(saved);
  SPI_finish();
  PG_RETURN_INT64(run_id);
}
