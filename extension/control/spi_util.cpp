extern "C" {
#include "postgres.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
}

#include "extension/control/settings.h"
#include "extension/control/spi_util.h"
#include "extension/pg/bounded_copy.h"

namespace cdw::control {

int SpiRun(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls,
           bool read_only) {
  int rc = SPI_execute_with_args(sql, nargs, types, values, nulls, read_only, 0);
  if (rc < 0)
    elog(ERROR, "cdw_backup: SPI failed (%s) running: %s", SPI_result_code_string(rc), sql);
  return rc;
}

SpiParams &SpiParams::Add(Oid type, Datum value, bool is_null) {
  if (count_ >= kMax) elog(ERROR, "cdw_backup: more than %d SPI parameters", kMax);
  types_[count_] = type;
  values_[count_] = is_null ? (Datum)0 : value;
  nulls_[count_] = is_null ? 'n' : ' ';
  count_++;
  nulls_[count_] = '\0';
  return *this;
}

SpiParams &SpiParams::Text(const char *value) {
  return value ? Add(TEXTOID, CStringGetTextDatum(value)) : Null(TEXTOID);
}

SpiParams &SpiParams::Name(const char *value) {
  // namein would cut a longer one at 63 bytes.
  if (value) pg::CheckNameLength(value, "name");
  return value ? Add(NAMEOID, DirectFunctionCall1(namein, CStringGetDatum(value))) : Null(NAMEOID);
}

SpiParams &SpiParams::Int4(int32 value) {
  return Add(INT4OID, Int32GetDatum(value));
}

SpiParams &SpiParams::Int8(int64 value) {
  return Add(INT8OID, Int64GetDatum(value));
}

SpiParams &SpiParams::Bool(bool value) {
  return Add(BOOLOID, BoolGetDatum(value));
}

SpiParams &SpiParams::Timestamp(TimestampTz value) {
  return Add(TIMESTAMPTZOID, TimestampTzGetDatum(value));
}

SpiParams &SpiParams::Arg(FunctionCallInfo fcinfo, int arg, Oid type) {
  return PG_ARGISNULL(arg) ? Null(type) : Add(type, PG_GETARG_DATUM(arg));
}

int SpiRun(const char *sql, SpiParams &params, bool read_only) {
  return SpiRun(sql, params.count(), params.types(), params.values(), params.nulls(), read_only);
}

char *SpiText(int row, int column) {
  if (SPI_tuptable == nullptr || static_cast<uint64>(row) >= SPI_processed) return nullptr;
  return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, column);
}

char ***SpiTextRows() {
  uint64 rows = SPI_tuptable ? SPI_processed : 0;
  int columns = SPI_tuptable ? SPI_tuptable->tupdesc->natts : 0;
  auto cells = static_cast<char ***>(palloc(sizeof(char **) * Max(rows, uint64{1})));
  for (uint64 r = 0; r < rows; r++) {
    cells[r] = static_cast<char **>(palloc(sizeof(char *) * Max(columns, 1)));
    for (int c = 0; c < columns; c++) cells[r][c] = SpiText(static_cast<int>(r), c + 1);
  }
  return cells;
}

void OwnedRowParams(Datum name, Oid types[3], Datum values[3]) {
  types[0] = TEXTOID;
  types[1] = NAMEOID;
  types[2] = BOOLOID;
  values[0] = name;
  values[1] = DirectFunctionCall1(namein, CStringGetDatum(GetUserNameFromId(GetUserId(), false)));
  values[2] = BoolGetDatum(superuser());
}

SavedUser BecomeExtensionOwner() {
  SavedUser saved;
  GetUserIdAndSecContext(&saved.user, &saved.security_context);
  SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
                         saved.security_context | SECURITY_LOCAL_USERID_CHANGE);
  return saved;
}

void RestoreUser(SavedUser saved) {
  SetUserIdAndSecContext(saved.user, saved.security_context);
}

void RequireOperator(const char *action) {
  Oid user = GetUserId();
  if (superuser_arg(user)) return;
  Oid operator_role = get_role_oid("cdw_backup_operator", true);
  if (OidIsValid(operator_role) && has_privs_of_role(user, operator_role)) return;
  const char *user_name = GetUserNameFromId(user, false);
  ereport(ERROR,
          (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE), errmsg("permission denied to %s", action),
           errdetail("Only superusers and members of cdw_backup_operator may %s.", action),
           errhint("GRANT cdw_backup_operator TO %s;", quote_identifier(user_name))));
}

void RequireHomeDatabase(const char *function_name) {
  const char *current = get_database_name(MyDatabaseId);
  if (g_home_database && strcmp(current, g_home_database) == 0) return;
  ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                  errmsg("%s must be called in database \"%s\"", function_name,
                         g_home_database ? g_home_database : "postgres"),
                  errdetail("The cdw_backup history and schedules live in the database named by "
                            "cdw_backup.database."),
                  errhint("Connect to database \"%s\", or set cdw_backup.database = '%s' in "
                          "postgresql.conf and restart.",
                          g_home_database ? g_home_database : "postgres", current)));
}

}  // namespace cdw::control
