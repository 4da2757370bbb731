extern "C" {
#include "postgres.h"
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
}

#include "extension/control/settings.h"
#include "extension/control/spi_util.h"
#include "extension/pg/bounded_copy.h"
#include "extension/pg/search_path.h"

namespace cdw::control {

int SpiRun(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls,
           bool read_only) {
  // Callers pin search_path for their whole span already; a statement
  // reached without that pin still never runs under another search_path.
  int nest_level = pg::SearchPathPinned() ? -1 : pg::PinSearchPath();
  int rc = SPI_execute_with_args(sql, nargs, types, values, nulls, read_only, 0);
  if (nest_level >= 0) pg::UnpinSearchPath(nest_level);
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
  types[1] = OIDOID;
  types[2] = BOOLOID;
  values[0] = name;
  values[1] = ObjectIdGetDatum(GetUserId());
  values[2] = BoolGetDatum(superuser());
}

namespace {
// Owner and schema of extension cdw_backup, from pg_extension.
void ReadExtension(Oid *owner, Oid *schema) {
  Oid extension = get_extension_oid("cdw_backup", false);
  Relation catalog = table_open(ExtensionRelationId, AccessShareLock);
  ScanKeyData key;
  ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
              ObjectIdGetDatum(extension));
  SysScanDesc scan = systable_beginscan(catalog, ExtensionOidIndexId, true, nullptr, 1, &key);
  HeapTuple tuple = systable_getnext(scan);
  if (!HeapTupleIsValid(tuple))
    elog(ERROR, "cdw_backup: extension %u has no pg_extension row", extension);
  auto *row = reinterpret_cast<Form_pg_extension>(GETSTRUCT(tuple));
  *owner = row->extowner;
  *schema = row->extnamespace;
  systable_endscan(scan);
  table_close(catalog, AccessShareLock);
}
}  // namespace

Oid ExtensionOwner() {
  Oid owner, schema;
  ReadExtension(&owner, &schema);
  return owner;
}

const char *ExtensionFunction(const char *function) {
  Oid owner, schema;
  ReadExtension(&owner, &schema);
  return quote_qualified_identifier(get_namespace_name(schema), function);
}

SavedUser BecomeExtensionOwner() {
  SavedUser saved;
  GetUserIdAndSecContext(&saved.user, &saved.security_context);
  Oid owner = ExtensionOwner();
  saved.nest_level = pg::PinSearchPath();
  // Restricted as index expressions run: no SET ROLE, no temporary objects.
  SetUserIdAndSecContext(
      owner, saved.security_context | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
  return saved;
}

void RestoreUser(SavedUser saved) {
  SetUserIdAndSecContext(saved.user, saved.security_context);
  pg::UnpinSearchPath(saved.nest_level);
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
