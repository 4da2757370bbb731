// cdw_backup_add_target / cdw_backup_drop_target / cdw_backup_check_location.
//
// Secrets go into cdw_backup.target_store, which only superusers can read;
// cdw_backup.targets shows each role its own targets without them. The query
// text of cdw_backup_add_target() is replaced in pg_stat_activity so the
// secret does not linger there.
extern "C" {
#include "postgres.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
}

#include "common/error.h"
#include "extension/control/spi_util.h"
#include "extension/pg/cpp_boundary.h"
#include "storage/store_factory.h"

namespace cdw::control {
namespace {

void CheckOptionNames(const StoreOptions &options) {
  const auto &valid = StoreOptionNames();
  for (const auto &[key, value] : options) {
    bool known = false;
    for (const auto &name : valid) known |= (name == key);
    if (!known) {
      std::string list;
      for (const auto &name : valid) list += (list.empty() ? "" : ", ") + name;
      throw Error(sqlstate::kInvalidParameterValue, "invalid target option \"" + key + "\"", {},
                  "Valid options are: " + list + ".");
    }
  }
}

// jsonb options -> StoreOptions (values as text). Call inside SPI.
StoreOptions OptionsFromJsonb(Datum options) {
  Oid types[1] = {JSONBOID};
  Datum values[1] = {options};
  pg::PgCall([&] {
    SpiRun("SELECT key, value FROM pg_catalog.jsonb_each_text($1) ORDER BY key", 1, types, values,
           nullptr, true);
  });
  StoreOptions result;
  for (uint64 i = 0; i < SPI_processed; i++) {
    char *key = nullptr, *value = nullptr;
    pg::PgCall([&] {
      key = SpiText(static_cast<int>(i), 1);
      value = SpiText(static_cast<int>(i), 2);
    });
    result[key] = value ? value : "";
  }
  return result;
}

// Validates a location and its options; returns whether it needs credentials.
bool CheckTarget(const char *location, Datum options) {
  StoreOptions parsed = OptionsFromJsonb(options);
  CheckOptionNames(parsed);
  ValidateLocation(location, parsed);
  return LocationNeedsCredentials(location);
}

}  // namespace
}  // namespace cdw::control

CDW_SQL_FUNCTION(cdw_backup_check_location) {
  using namespace cdw::control;
  text *location = PG_GETARG_TEXT_PP(0);
  Datum options = PG_GETARG_DATUM(1);
  char *location_text = text_to_cstring(location);
  SPI_connect();
  cdw::pg::CallCpp([&] { CheckTarget(location_text, options); });
  SPI_finish();
  PG_RETURN_VOID();
}

CDW_SQL_FUNCTION(cdw_backup_add_target) {
  using namespace cdw::control;
  // The call's text holds the secret: hide it from pg_stat_activity and
  // from the STATEMENT line PostgreSQL logs with any error raised below.
  // (log_statement = 'all' logs statements before they run; see README.)
  static const char kHidden[] = "SELECT cdw_backup_add_target(...)  -- arguments hidden";
  pgstat_report_activity(STATE_RUNNING, kHidden);
  debug_query_string = kHidden;
  RequireOperator("manage backup targets");
  RequireHomeDatabase("cdw_backup_add_target()");
  if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
    ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                    errmsg("target name and location must not be null"),
                    errhint("SELECT cdw_backup_add_target('default', 'file:///var/backups/pg');")));
  char *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
  char *location = text_to_cstring(PG_GETARG_TEXT_PP(1));
  bool has_id = !PG_ARGISNULL(2), has_key = !PG_ARGISNULL(3);
  Datum options =
      PG_ARGISNULL(4) ? DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")) : PG_GETARG_DATUM(4);
  SPI_connect();
  bool needs_credentials = cdw::pg::CallCpp([&] { return CheckTarget(location, options); });
  if (needs_credentials && (!has_id || !has_key))
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                    errmsg("target \"%s\" needs credentials", name),
                    errdetail("Object storage locations need a secret_id and a secret_key."),
                    errhint("SELECT cdw_backup_add_target('%s', '%s', secret_id => '...', "
                            "secret_key => '...');",
                            name, location)));
  if (!needs_credentials && !has_privs_of_role(GetUserId(), ROLE_PG_WRITE_SERVER_FILES))
    ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                    errmsg("permission denied to back up to \"%s\"", location),
                    errdetail("Writing server files requires superuser or pg_write_server_files."),
                    errhint("GRANT pg_write_server_files TO %s;",
                            quote_identifier(GetUserNameFromId(GetUserId(), false)))));
  Oid types[6] = {TEXTOID, TEXTOID, JSONBOID, TEXTOID, TEXTOID, NAMEOID};
  Datum values[6] = {
      PG_GETARG_DATUM(0),
      PG_GETARG_DATUM(1),
      options,
      has_id ? PG_GETARG_DATUM(2) : (Datum)0,
      has_key ? PG_GETARG_DATUM(3) : (Datum)0,
      DirectFunctionCall1(namein, CStringGetDatum(GetUserNameFromId(GetUserId(), false)))};
  char nulls[7] = {' ', ' ', ' ', has_id ? ' ' : 'n', has_key ? ' ' : 'n', ' ', '\0'};
  SavedUser saved = BecomeExtensionOwner();
  SpiRun("SELECT 1 FROM cdw_backup.target_store WHERE name = $1", 1, types, values, nulls);
  if (SPI_processed > 0)
    ereport(ERROR, (errcode(ERRCODE_DUPLICATE_OBJECT), errmsg("target \"%s\" already exists", name),
                    errhint("SELECT cdw_backup_drop_target('%s'); first to replace it.", name)));
  SpiRun(
      "INSERT INTO cdw_backup.target_store (name, location, options, secret_id, secret_key, owner) "
      "VALUES ($1, $2, $3, $4, $5, $6)",
      6, types, values, nulls);
  RestoreUser(saved);
  SPI_finish();
  PG_RETURN_VOID();
}

CDW_SQL_FUNCTION(cdw_backup_drop_target) {
  using namespace cdw::control;
  RequireOperator("manage backup targets");
  RequireHomeDatabase("cdw_backup_drop_target()");
  char *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
  Oid types[3];
  Datum values[3];
  OwnedRowParams(PG_GETARG_DATUM(0), types, values);
  SPI_connect();
  SavedUser saved = BecomeExtensionOwner();
  SpiRun("DELETE FROM cdw_backup.target_store WHERE name = $1 AND (owner = $2 OR $3)", 3, types,
         values, nullptr);
  RestoreUser(saved);
  if (SPI_processed == 0)
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("target \"%s\" does not exist", name),
                    errhint("SELECT name, location FROM cdw_backup.targets; lists your targets.")));
  SPI_finish();
  PG_RETURN_VOID();
}
