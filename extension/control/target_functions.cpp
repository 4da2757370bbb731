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
#include "extension/control/arguments.h"
#include "common/hmac_sha256.h"
#include "extension/control/spi_util.h"
#include "extension/control/target_store.h"
#include "extension/pg/bounded_copy.h"
#include "extension/pg/cpp_boundary.h"
#include "extension/pg/open_store.h"
#include "manifest/authentication.h"
#include "extension/pg/search_path.h"
#include "crypto/age.h"
#include "s3/sse.h"
#include "storage/encrypted_store.h"
#include "storage/store_factory.h"

namespace cdw::control {
namespace {

void CheckOptionNames(const StoreOptions &options) {
  std::vector<std::string> valid = StoreOptionNames();
  valid.push_back(s3::kSseCustomerKeyOption);  // split off before (SplitCustomerKey)
  for (const auto &[key, value] : options) {
    // Options travel to the workers as "key\tvalue\n" lines.
    if (value.find_first_of("\t\n") != std::string::npos)
      throw Error(sqlstate::kInvalidParameterValue,
                  "target option \"" + key + "\" contains a tab or a newline", {},
                  "Option values are single-line text.");
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

struct TargetCheck {
  bool needs_credentials;
  bool server_credentials;  // option credentials: env / imds / cvm / instance
  size_t option_bytes;      // as "key\tvalue\n" lines
  bool skips_tls_verify;
  bool encrypted;  // encryption => 'on'
};

// The SSE-C key is a secret: it is split off the options (*options loses
// it) to be kept with the other secrets. NULL when there is none. Call
// inside SPI.
char *SplitCustomerKey(Datum *options) {
  Oid types[1] = {JSONBOID};
  Datum values[1] = {*options};
  SpiRun(
      "SELECT ($1 OPERATOR(pg_catalog.-) 'sse_customer_key'::pg_catalog.text)::pg_catalog.text, "
      "$1 OPERATOR(pg_catalog.->>) 'sse_customer_key'::pg_catalog.text",
      1, types, values, nullptr, true);
  char *stripped = SpiText(0, 1);
  char *key = SpiText(0, 2);
  *options = DirectFunctionCall1(jsonb_in, CStringGetDatum(stripped));
  return key;
}

// Validates a location, its options (without the SSE-C key) and the key.
TargetCheck CheckTarget(const char *location, Datum options, const char *customer_key) {
  StoreOptions parsed = OptionsFromJsonb(options);
  CheckOptionNames(parsed);
  ValidateLocation(location, parsed);
  ValidateSseCustomerKey(location, parsed, customer_key ? customer_key : "");
  size_t bytes = 0;
  for (const auto &[key, value] : parsed) bytes += key.size() + value.size() + 2;
  bool needs_credentials = LocationNeedsCredentials(location);
  return {needs_credentials, needs_credentials && UsesServerCredentials(parsed), bytes,
          LocationSkipsTlsVerification(location, parsed), EncryptionRequested(parsed)};
}

// What a worker receives in fixed-size fields: refused here if too long.
void CheckTargetLengths(const char *location, size_t option_bytes) {
  pg::CheckTextLength(location, kMaxLocationBytes, "target location");
  if (option_bytes > kMaxStoreOptionsBytes)
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("target options are too long"),
                    errdetail("They take %zu bytes; at most %zu are supported.", option_bytes,
                              kMaxStoreOptionsBytes),
                    errhint("Pass only the options that differ from their defaults.")));
}

Datum EmptyOptions() {
  return DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"));
}

// A new target's manifest key: 32 bytes from the server's strong random
// source (OpenSSL's RAND_bytes in an OpenSSL build).
bytea *NewManifestKey() {
  auto *key = static_cast<bytea *>(palloc(VARHDRSZ + kTargetKeyBytes));
  SET_VARSIZE(key, VARHDRSZ + kTargetKeyBytes);
  if (!pg_strong_random(VARDATA(key), kTargetKeyBytes))
    ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
                    errmsg("could not generate a manifest key for the target"),
                    errdetail("The server's strong random source failed."),
                    errhint("See the server log; try again.")));
  return key;
}

// The key given to cdw_backup_add_target(manifest_key => ...): 64 hex
// digits. The error never repeats what was given.
bytea *ManifestKeyFromHex(Datum hex_text) {
  char *hex = text_to_cstring(DatumGetTextPP(hex_text));
  bool valid = strlen(hex) == 2 * kTargetKeyBytes;
  auto *key = static_cast<bytea *>(palloc(VARHDRSZ + kTargetKeyBytes));
  SET_VARSIZE(key, VARHDRSZ + kTargetKeyBytes);
  if (valid)
    valid = pg::CallCpp([&] {
      auto bytes = HexDecode(hex);
      if (!bytes || bytes->size() != kTargetKeyBytes) return false;
      memcpy(VARDATA(key), bytes->data(), kTargetKeyBytes);
      return true;
    });
  if (!valid)
    ereport(ERROR,
            (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("invalid manifest_key"),
             errdetail("A manifest key is %zu bytes written as %zu hexadecimal digits.",
                       kTargetKeyBytes, 2 * kTargetKeyBytes),
             errhint("Pass the value cdw_backup_target_key() returned on the cluster that wrote "
                     "the backups, or leave manifest_key NULL to create a new key.")));
  return key;
}

constexpr size_t kMaxEncryptionKeyBytes = 255;

// Checks an encryption key (an age identity or a passphrase). The error
// never repeats the key.
void CheckEncryptionKey(const char *key) {
  if (strlen(key) > kMaxEncryptionKeyBytes)
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("encryption key is too long"),
                    errdetail("It has %zu bytes; at most %zu are supported.", strlen(key),
                              kMaxEncryptionKeyBytes),
                    errhint("Use an age identity (age-keygen writes one) or a shorter "
                            "passphrase.")));
  pg::CallCpp([&] { age::ParseKey(key); });
}

// The call's text holds a secret: hide it from pg_stat_activity and from
// the STATEMENT line PostgreSQL logs with any error raised below.
void HideStatement(const char *function) {
  char *hidden = psprintf("SELECT %s(...)  -- arguments hidden", function);
  pgstat_report_activity(STATE_RUNNING, hidden);
  debug_query_string = hidden;
}

// rotate_key (make_current) and add_decryption_key: a new key ring for an
// encrypted target, written as the extension owner.
void ChangeKeyRing(FunctionCallInfo fcinfo, const char *function, bool make_current) {
  HideStatement(function);
  int search_path = pg::PinSearchPath();
  RequireOperator("manage backup targets");
  RequireHomeDatabase(psprintf("%s()", function));
  char *example =
      psprintf("SELECT %s('default', '<AGE-SECRET-KEY-1... or passphrase>');", function);
  char *name = NameArgument(fcinfo, 0, "target name", example);
  RequireArgument(fcinfo, 1, make_current ? "new_key" : "key", example);
  char *key = TextArgument(fcinfo, 1, nullptr);
  CheckEncryptionKey(key);
  SPI_connect();
  Target *target = LoadTarget(name, GetUserId());
  bool encrypted =
      pg::CallCpp([&] { return EncryptionRequested(ParseStoreOptionLines(target->options)); });
  if (!encrypted)
    ereport(ERROR,
            (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
             errmsg("target \"%s\" is not encrypted", name),
             errdetail("Its objects are stored as written; there is no key to rotate."),
             errhint("Add an encrypted target: SELECT cdw_backup_add_target('%s-encrypted', "
                     "'<location>', options => '{\"encryption\": \"on\"}', encryption_key => "
                     "'<AGE-SECRET-KEY-1... or passphrase>');",
                     name)));
  // One key a line; the given key is moved to the front (rotate) or added
  // at the end (decryption only), never twice.
  StringInfoData ring;
  initStringInfo(&ring);
  if (make_current) appendStringInfo(&ring, "%s\n", key);
  char *old = pstrdup(target->encryption_keys);
  for (char *line = strtok(old, "\n"); line; line = strtok(nullptr, "\n"))
    if (strcmp(line, key) != 0) appendStringInfo(&ring, "%s\n", line);
  if (!make_current) appendStringInfo(&ring, "%s\n", key);
  if (static_cast<size_t>(ring.len) > kMaxEncryptionKeysBytes)
    ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
                    errmsg("the key ring of target \"%s\" is full", name),
                    errdetail("It would take %d bytes; at most %zu are supported.", ring.len,
                              kMaxEncryptionKeysBytes),
                    errhint("Back up to a new target, or delete the runs that need the oldest "
                            "keys and add the target again with the current key.")));
  SpiParams params;
  params.Text(name).Text(ring.data);
  SavedUser saved = BecomeExtensionOwner();
  SpiRun(
      "UPDATE cdw_backup.target_store SET encryption_keys = $2 "
      "WHERE name OPERATOR(pg_catalog.=) $1",
      params);
  RestoreUser(saved);
  SPI_finish();
  pg::UnpinSearchPath(search_path);
}

}  // namespace
}  // namespace cdw::control

CDW_SQL_FUNCTION(cdw_backup_rotate_key) {
  cdw::control::ChangeKeyRing(fcinfo, "cdw_backup_rotate_key", true);
  PG_RETURN_VOID();
}

CDW_SQL_FUNCTION(cdw_backup_add_decryption_key) {
  cdw::control::ChangeKeyRing(fcinfo, "cdw_backup_add_decryption_key", false);
  PG_RETURN_VOID();
}

CDW_SQL_FUNCTION(cdw_backup_check_location) {
  using namespace cdw::control;
  RequireArgument(fcinfo, 0, "location",
                  "SELECT cdw_backup_check_location('file:///var/backups/pg');");
  char *location = TextArgument(fcinfo, 0, nullptr);
  // NULL options are no options, as for cdw_backup_add_target().
  Datum options = PG_ARGISNULL(1) ? EmptyOptions() : PG_GETARG_DATUM(1);
  int search_path = cdw::pg::PinSearchPath();
  SPI_connect();
  char *customer_key = SplitCustomerKey(&options);
  TargetCheck check =
      cdw::pg::CallCpp([&] { return CheckTarget(location, options, customer_key); });
  CheckTargetLengths(location, check.option_bytes);
  if (check.skips_tls_verify) cdw::pg::WarnTlsVerifyOff(psprintf("\"%s\"", location));
  SPI_finish();
  cdw::pg::UnpinSearchPath(search_path);
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
  int search_path = cdw::pg::PinSearchPath();
  RequireOperator("manage backup targets");
  RequireHomeDatabase("cdw_backup_add_target()");
  static const char kExample[] =
      "SELECT cdw_backup_add_target('default', 'file:///var/backups/pg');";
  char *name = NameArgument(fcinfo, 0, "target name", kExample);
  if (name[0] == '\0')
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                    errmsg("target name must not be empty"), errhint("%s", kExample)));
  RequireArgument(fcinfo, 1, "location", kExample);
  char *location = TextArgument(fcinfo, 1, nullptr);
  // Checked here, before any INSERT: a constraint failure of the catalog
  // would print the failing row, secrets included, in its DETAIL.
  if (location[0] == '\0')
    ereport(ERROR,
            (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
             errmsg("location of target \"%s\" must not be empty", name),
             errhint("SELECT cdw_backup_add_target('%s', 'file:///var/backups/pg');", name)));
  bool has_id = !PG_ARGISNULL(2), has_key = !PG_ARGISNULL(3);
  if (has_id)
    cdw::pg::CheckTextLength(TextArgument(fcinfo, 2, nullptr), kMaxSecretIdBytes, "secret_id");
  if (has_key)
    cdw::pg::CheckTextLength(TextArgument(fcinfo, 3, nullptr), kMaxSecretKeyBytes, "secret_key");
  Datum options = PG_ARGISNULL(4) ? EmptyOptions() : PG_GETARG_DATUM(4);
  bool has_encryption_key = PG_NARGS() > 6 && !PG_ARGISNULL(6);
  char *encryption_key = has_encryption_key ? TextArgument(fcinfo, 6, nullptr) : nullptr;
  if (has_encryption_key) CheckEncryptionKey(encryption_key);
  SPI_connect();
  char *customer_key = SplitCustomerKey(&options);
  TargetCheck check =
      cdw::pg::CallCpp([&] { return CheckTarget(location, options, customer_key); });
  CheckTargetLengths(location, check.option_bytes);
  if (check.skips_tls_verify) cdw::pg::WarnTlsVerifyOff(psprintf("target \"%s\"", name));
  if (check.encrypted && !has_encryption_key)
    ereport(ERROR,
            (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
             errmsg("target \"%s\" is encrypted but has no encryption_key", name),
             errdetail("Option encryption => 'on' encrypts every object to a key of yours."),
             errhint("Pass encryption_key => '<AGE-SECRET-KEY-1... as age-keygen writes it, or "
                     "a passphrase>'.")));
  if (has_encryption_key && !check.encrypted)
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                    errmsg("encryption_key given for target \"%s\", which is not encrypted", name),
                    errhint("Add options => '{\"encryption\": \"on\"}', or leave out "
                            "encryption_key.")));
  bool needs_credentials = check.needs_credentials;
  if (check.server_credentials) {
    if (has_id || has_key)
      ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                      errmsg("target \"%s\" takes its credentials from the database server", name),
                      errdetail("With option credentials, secret_id and secret_key are not used."),
                      errhint("Drop secret_id and secret_key, or drop the credentials option.")));
    RequireServerCredentialsPrivilege(GetUserId(), name);
  } else if (needs_credentials && (!has_id || !has_key)) {
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                    errmsg("target \"%s\" needs credentials", name),
                    errdetail("Object storage locations need a secret_id and a secret_key, or "
                              "option credentials naming where the server finds them ('env', "
                              "'imds', 'cvm', 'instance')."),
                    errhint("SELECT cdw_backup_add_target('%s', '%s', secret_id => '...', "
                            "secret_key => '...');",
                            name, location)));
  }
  if (!needs_credentials && !has_privs_of_role(GetUserId(), ROLE_PG_WRITE_SERVER_FILES))
    ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                    errmsg("permission denied to back up to \"%s\"", location),
                    errdetail("Writing server files requires superuser or pg_write_server_files."),
                    errhint("GRANT pg_write_server_files TO %s;",
                            quote_identifier(GetUserNameFromId(GetUserId(), false)))));
  SpiParams params;
  params.Arg(fcinfo, 0, TEXTOID)
      .Arg(fcinfo, 1, TEXTOID)
      .Add(JSONBOID, options)
      .Arg(fcinfo, 2, TEXTOID)
      .Arg(fcinfo, 3, TEXTOID)
      .Text(customer_key)
      .Add(OIDOID, ObjectIdGetDatum(GetUserId()))
      .Add(BYTEAOID, PointerGetDatum(PG_ARGISNULL(5) ? NewManifestKey()
                                                     : ManifestKeyFromHex(PG_GETARG_DATUM(5))))
      .Add(TEXTOID,
           has_encryption_key ? PointerGetDatum(cstring_to_text(psprintf("%s\n", encryption_key)))
                              : (Datum)0,
           !has_encryption_key);
  if (FindTarget(name))
    ereport(ERROR, (errcode(ERRCODE_DUPLICATE_OBJECT), errmsg("target \"%s\" already exists", name),
                    errhint("SELECT cdw_backup_drop_target('%s'); first to replace it.", name)));
  SavedUser saved = BecomeExtensionOwner();
  SpiRun(
      "INSERT INTO cdw_backup.target_store (name, location, options, secret_id, secret_key, "
      "sse_customer_key, owner, manifest_key, encryption_keys) VALUES ($1, $2, $3, $4, $5, $6, "
      "$7::pg_catalog.regrole, $8, $9)",
      params);
  RestoreUser(saved);
  SPI_finish();
  cdw::pg::UnpinSearchPath(search_path);
  PG_RETURN_VOID();
}

CDW_SQL_FUNCTION(cdw_backup_drop_target) {
  using namespace cdw::control;
  int search_path = cdw::pg::PinSearchPath();
  RequireOperator("manage backup targets");
  RequireHomeDatabase("cdw_backup_drop_target()");
  char *name = NameArgument(fcinfo, 0, "target name", "SELECT cdw_backup_drop_target('default');");
  Oid types[3];
  Datum values[3];
  OwnedRowParams(PG_GETARG_DATUM(0), types, values);
  SPI_connect();
  SavedUser saved = BecomeExtensionOwner();
  SpiRun(
      "DELETE FROM cdw_backup.target_store WHERE name OPERATOR(pg_catalog.=) $1 "
      "AND (owner OPERATOR(pg_catalog.=) $2 OR $3)",
      3, types, values, nullptr);
  RestoreUser(saved);
  if (SPI_processed == 0)
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("target \"%s\" does not exist", name),
                    errhint("SELECT name, location FROM cdw_backup.targets; lists your targets.")));
  SPI_finish();
  cdw::pg::UnpinSearchPath(search_path);
  PG_RETURN_VOID();
}

// The target's manifest key (hex), for its owner or a superuser to keep: a
// fresh cluster needs it to authenticate what the target holds.
CDW_SQL_FUNCTION(cdw_backup_target_key) {
  using namespace cdw::control;
  // The call holds no secret; its result is one, returned to the caller
  // only (never logged, never in an error).
  RequireOperator("export target keys");
  RequireHomeDatabase("cdw_backup_target_key()");
  if (PG_ARGISNULL(0))
    ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("target name must not be null"),
                    errhint("SELECT cdw_backup_target_key('default');")));
  char *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
  cdw::pg::CheckNameLength(name, "target name");
  Oid types[3];
  Datum values[3];
  OwnedRowParams(PG_GETARG_DATUM(0), types, values);
  SPI_connect();
  SavedUser saved = BecomeExtensionOwner();
  SpiRun(
      "SELECT pg_catalog.encode(manifest_key, 'hex') FROM cdw_backup.target_store "
      "WHERE name OPERATOR(pg_catalog.=) $1 AND (owner OPERATOR(pg_catalog.=) $2 OR $3)",
      3, types, values, nullptr, true);
  RestoreUser(saved);
  char *hex = SPI_processed > 0 ? SpiText(0, 1) : nullptr;
  text *result = hex ? cstring_to_text(hex) : nullptr;
  if (result) {
    // Out of SPI's memory before SPI_finish().
    Size size = VARSIZE(result);
    text *copy = static_cast<text *>(SPI_palloc(size));
    memcpy(copy, result, size);
    result = copy;
  }
  SPI_finish();
  if (!result)
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("target \"%s\" does not exist", name),
                    errdetail("Or it belongs to another role: only its owner or a superuser may "
                              "export its key."),
                    errhint("SELECT name, owner FROM cdw_backup.targets; lists your targets.")));
  PG_RETURN_TEXT_P(result);
}
