// Option validation (the FDW validator) and resolution, after contrib
// file_fdw / postgres_fdw: a table of {name, catalog}, unknown names rejected
// with a "Perhaps you meant" hint, secrets accepted only on user mappings.
extern "C" {
#include "postgres.h"
#include "access/reloptions.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_foreign_table.h"
#include "catalog/pg_user_mapping.h"
#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/acl.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
}

#include <vector>

#include "extension/fdw/fdw_options.h"
#include "common/closest_match.h"
#include "common/error.h"
#include "extension/pg/cpp_boundary.h"
#include "extension/pg/open_store.h"
#include "extension/pg/text_encoding.h"
#include "format/part_io.h"
#include "s3/sse.h"
#include "storage/file_store.h"

namespace cdw::fdw {

namespace {

struct OptionSpec {
  const char *name;
  Oid catalog;
};

constexpr OptionSpec kFixedOptions[] = {
    {"location", ForeignServerRelationId},
    {"path", ForeignTableRelationId},
    {"format", ForeignTableRelationId},
    {"compression", ForeignTableRelationId},
    {"compression_level", ForeignTableRelationId},
    {"header", ForeignTableRelationId},
    {"batch_size", ForeignTableRelationId},
    {"encoding", ForeignTableRelationId},
    {"parts", ForeignTableRelationId},
    {"secret_id", UserMappingRelationId},
    {"secret_key", UserMappingRelationId},
    {"session_token", UserMappingRelationId},
    {"sse_customer_key", UserMappingRelationId},
    {"encryption_key", UserMappingRelationId},  // servers with encryption 'on'
};

bool IsSecretOption(const std::string &name) {
  return name == "secret_id" || name == "secret_key" || name == "session_token" ||
         name == s3::kSseCustomerKeyOption || name == "encryption_key";
}

const char *CatalogNoun(Oid catalog) {
  switch (catalog) {
    case ForeignServerRelationId:
      return "server";
    case ForeignTableRelationId:
      return "foreign table";
    case UserMappingRelationId:
      return "user mapping";
    default:
      return "foreign-data wrapper";
  }
}

// Options valid for `catalog`: the fixed ones plus object-storage settings
// (endpoint, region, ...) on servers.
std::vector<std::string> ValidNames(Oid catalog) {
  std::vector<std::string> names;
  for (const auto &spec : kFixedOptions)
    if (spec.catalog == catalog) names.push_back(spec.name);
  if (catalog == ForeignServerRelationId)
    for (const auto &name : cdw::StoreOptionNames()) names.push_back(name);
  return names;
}

int ParsePositiveInt(const std::string &name, const std::string &value, int low, int high) {
  char *end = nullptr;
  long parsed = strtol(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || parsed < low || parsed > high)
    throw Error(
        sqlstate::kFdwInvalidOptionValue,
        "invalid value for option \"" + name + "\": \"" + value + "\"", {},
        "Use an integer between " + std::to_string(low) + " and " + std::to_string(high) + ".");
  return static_cast<int>(parsed);
}

bool ParseBool(const std::string &name, const std::string &value) {
  bool result = false;
  if (!parse_bool(value.c_str(), &result))
    throw Error(sqlstate::kFdwInvalidOptionValue,
                "invalid value for option \"" + name + "\": \"" + value + "\"", {},
                "Use true or false.");
  return result;
}

void ApplyTableOption(TableOptions *options, const std::string &name, const std::string &value) {
  if (name == "path") {
    options->prefix = NormalizeTablePrefix(value);
  } else if (name == "format") {
    if (value != "csv")
      throw Error(sqlstate::kFdwInvalidOptionValue,
                  "invalid value for option \"format\": \"" + value + "\"", {},
                  "The only supported format is csv.");
  } else if (name == "compression") {
    try {
      options->compression = ParseCompression(value);
    } catch (const Error &e) {
      throw Error(sqlstate::kFdwInvalidOptionValue, e.what(), e.detail(), e.hint());
    }
  } else if (name == "compression_level") {
    options->compression_level = ParsePositiveInt(name, value, 1, 22);
  } else if (name == "header") {
    options->header = ParseBool(name, value);
  } else if (name == "parts") {
    options->has_parts = true;
    options->parts.clear();
    size_t start = 0;
    while (start < value.size()) {
      size_t end = value.find('\n', start);
      if (end == std::string::npos) end = value.size();
      std::string key = value.substr(start, end - start);
      if (!key.empty()) {
        try {
          CheckRelativeKey(key, "part key");
        } catch (const Error &e) {
          throw Error(sqlstate::kFdwInvalidOptionValue, e.what(), e.detail(),
                      "Option \"parts\" lists object keys relative to the location, one a line.");
        }
        options->parts.push_back(std::move(key));
      }
      start = end + 1;
    }
  } else if (name == "batch_size") {
    options->batch_size = ParsePositiveInt(name, value, 1, 100000);
  } else if (name == "encoding") {
    int encoding = -1;
    pg::PgCall([&] { encoding = pg_valid_server_encoding(value.c_str()); });
    if (encoding < 0)
      throw Error(sqlstate::kFdwInvalidOptionValue,
                  "invalid value for option \"encoding\": \"" + value + "\"",
                  "The parts' text must be in an encoding a server can use.",
                  "Use UTF8 (the default), or a server encoding such as LATIN1 or EUC_JP.");
    options->encoding = encoding;
  }
}

struct DefElemView {
  std::string name;
  std::string value;
};

// Called from C++ frames: defGetString() errors (an option without a value)
// come back as PgError through PgCall.
std::vector<DefElemView> ToViews(List *list) {
  std::vector<DefElemView> views;
  ListCell *cell;
  foreach (cell, list) {
    DefElem *def = static_cast<DefElem *>(lfirst(cell));
    char *value = nullptr;
    pg::PgCall([&] { value = defGetString(def); });
    views.push_back({def->defname, value});
  }
  return views;
}

// Whether the current user may use file:// locations, and its name for a
// hint; through PgCall, as the callers are C++ frames.
bool MayUseServerFiles(std::string *user_name) {
  bool allowed = false;
  const char *name = nullptr;
  pg::PgCall([&] {
    Oid user = GetUserId();
    allowed = superuser() || has_privs_of_role(user, ROLE_PG_WRITE_SERVER_FILES) ||
              has_privs_of_role(user, ROLE_PG_READ_SERVER_FILES);
    name = quote_identifier(GetUserNameFromId(user, false));
  });
  *user_name = name;
  return allowed;
}

// Credentials from the database server itself (option credentials 'env',
// 'imds', 'cvm', 'instance') need the privileges of pg_read_server_files,
// when a server is created with them and whenever a table of it is used.
void RequireServerCredentialsPrivilege(const std::string &what) {
  bool allowed = false;
  const char *name = nullptr;
  pg::PgCall([&] {
    Oid user = GetUserId();
    allowed = has_privs_of_role(user, ROLE_PG_READ_SERVER_FILES);
    name = quote_identifier(GetUserNameFromId(user, false));
  });
  if (allowed) return;
  throw Error(sqlstate::kInsufficientPrivilege,
              "permission denied to use the database server's credentials for " + what,
              "Option credentials takes them from the server's environment, files or instance "
              "role; that requires superuser or pg_read_server_files.",
              "GRANT pg_read_server_files TO " + std::string(name) + ";");
}

// Returns whether a server's location skips TLS verification (to warn).
bool ValidateOptions(const std::vector<DefElemView> &options, Oid catalog) {
  std::vector<std::string> valid = ValidNames(catalog);
  TableOptions table;
  StoreOptions store_options;
  std::string location;
  bool has_path = false;
  for (const auto &option : options) {
    bool known = false;
    for (const auto &name : valid) known |= (name == option.name);
    if (!known) {
      if (IsSecretOption(option.name))
        throw Error(
            sqlstate::kFdwInvalidOptionName,
            "option \"" + option.name + "\" is only allowed on a user mapping",
            "Secrets on a server or table would be readable by every role.",
            "Use CREATE USER MAPPING FOR ... SERVER ... OPTIONS (secret_id '...', secret_key "
            "'...').");
      std::string closest = ClosestMatch(option.name, valid);
      std::string hint;
      if (!closest.empty()) {
        hint = "Perhaps you meant the option \"" + closest + "\".";
      } else {
        hint = "Valid options here are:";
        for (size_t i = 0; i < valid.size(); i++) hint += (i ? ", " : " ") + valid[i];
        hint += ".";
      }
      if (valid.empty())
        hint = "cdw_backup_fdw takes no options on the foreign-data wrapper itself.";
      throw Error(
          sqlstate::kFdwInvalidOptionName,
          "invalid option \"" + option.name + "\" for a cdw_backup_fdw " + CatalogNoun(catalog), {},
          hint);
    }
    if (catalog == ForeignTableRelationId) {
      ApplyTableOption(&table, option.name, option.value);
      has_path |= option.name == "path";
    } else if (catalog == UserMappingRelationId) {
      // The key's form is checked here; the error never shows it.
      if (option.name == s3::kSseCustomerKeyOption) s3::ParseSseCustomerKey(option.value);
    } else if (catalog == ForeignServerRelationId) {
      if (option.name == "location")
        location = option.value;
      else
        store_options[option.name] = option.value;
    }
  }
  if (catalog == ForeignServerRelationId) {
    if (location.empty())
      throw Error(
          sqlstate::kFdwInvalidOptionValue, "a cdw_backup_fdw server needs a location", {},
          "Add OPTIONS (location 'file:///var/backups/pg') or an s3:// or cos:// location.");
    ValidateLocation(location, store_options);
    if (LocationNeedsCredentials(location) && UsesServerCredentials(store_options))
      RequireServerCredentialsPrivilege("a cdw_backup_fdw server");
    std::string user;
    if (!LocationNeedsCredentials(location) && !MayUseServerFiles(&user))
      throw Error(sqlstate::kInsufficientPrivilege,
                  "permission denied to create a cdw_backup_fdw server on a file:// location",
                  "Only superusers and members of pg_read_server_files or pg_write_server_files "
                  "may access server files.",
                  "GRANT pg_write_server_files TO " + user + ";");
  }
  if (catalog == ForeignTableRelationId && !has_path)
    throw Error(sqlstate::kFdwInvalidOptionValue, "a cdw_backup_fdw foreign table needs a path", {},
                "Add OPTIONS (path '20261124/sales/public.orders/').");
  if (catalog == ForeignTableRelationId && table.compression_level != 0) {
    if (table.compression == Compression::kNone)
      throw Error(sqlstate::kFdwInvalidOptionValue,
                  "option \"compression_level\" applies only to gzip and zstd", {},
                  "Remove compression_level or choose compression 'gzip' or 'zstd'.");
    CheckCompressionLevel(table.compression, table.compression_level);
  }
  return catalog == ForeignServerRelationId &&
         LocationSkipsTlsVerification(location, store_options);
}

struct ProcessCredentials {
  std::string location;
  Credentials credentials;
  bool set = false;
  std::string encryption_keys;
};
ProcessCredentials g_process_credentials;

// An option that names objects on the target (location, path) as UTF-8: the
// options are text in the server encoding, keys and file names are UTF-8.
std::string KeyText(const std::string &value, const char *what) {
  char *converted = nullptr;
  pg::PgCall([&] { converted = pg::ServerToUtf8(value.c_str(), what); });
  return converted;
}

}  // namespace

char *CreateServerStatement(const char *server_name, const char *location,
                            const char *store_option_lines) {
  StringInfoData sql;
  initStringInfo(&sql);
  appendStringInfo(&sql,
                   "CREATE SERVER %s FOREIGN DATA WRAPPER cdw_backup_fdw OPTIONS (location %s",
                   server_name, quote_literal_cstr(location));
  char *lines = pstrdup(store_option_lines);
  for (char *line = strtok(lines, "\n"); line; line = strtok(nullptr, "\n")) {
    char *tab = strchr(line, '\t');
    if (!tab) continue;
    *tab = '\0';
    appendStringInfo(&sql, ", %s %s", quote_identifier(line), quote_literal_cstr(tab + 1));
  }
  appendStringInfoChar(&sql, ')');
  return sql.data;
}

void SetProcessCredentials(const std::string &location, const Credentials &credentials,
                           const std::string &encryption_keys) {
  g_process_credentials = {location, credentials, true, encryption_keys};
}

void ClearProcessCredentials() {
  g_process_credentials = {};
}

namespace {

// The options of a table on `server` (its own `table_options`, the server's,
// the current user's mapping). `relname` names it in messages.
TableOptions ResolveTableOptions(ForeignServer *server, List *table_options, const char *relname) {
  UserMapping *mapping = nullptr;
  pg::PgCall([&] {
    // A missing mapping is fine for file:// locations.
    Oid user_mapping_oid =
        GetSysCacheOid2(USERMAPPINGUSERSERVER, Anum_pg_user_mapping_oid,
                        ObjectIdGetDatum(GetUserId()), ObjectIdGetDatum(server->serverid));
    Oid public_mapping_oid =
        GetSysCacheOid2(USERMAPPINGUSERSERVER, Anum_pg_user_mapping_oid,
                        ObjectIdGetDatum(InvalidOid), ObjectIdGetDatum(server->serverid));
    if (OidIsValid(user_mapping_oid) || OidIsValid(public_mapping_oid))
      mapping = GetUserMapping(GetUserId(), server->serverid);
  });
  TableOptions options;
  options.table_name = relname;
  for (const auto &option : ToViews(server->options)) {
    if (option.name == "location")
      options.location = KeyText(option.value, "the location of the server");
    else
      options.store_options[option.name] = option.value;
  }
  for (const auto &option : ToViews(table_options))
    ApplyTableOption(&options, option.name,
                     option.name == "path"    ? KeyText(option.value, "the path of the table")
                     : option.name == "parts" ? KeyText(option.value, "the parts of the table")
                                              : option.value);
  if (options.compression_level == 0)
    options.compression_level = DefaultCompressionLevel(options.compression);
  if (mapping) {
    for (const auto &option : ToViews(mapping->options)) {
      if (option.name == "secret_id") options.credentials.access_key_id = option.value;
      if (option.name == "secret_key") options.credentials.secret_access_key = option.value;
      if (option.name == "session_token") options.credentials.session_token = option.value;
      if (option.name == s3::kSseCustomerKeyOption)
        options.credentials.sse_customer_key = option.value;
      if (option.name == "encryption_key") options.encryption_keys = option.value;
    }
  }
  if (g_process_credentials.set && g_process_credentials.location == options.location) {
    if (options.credentials.empty()) options.credentials = g_process_credentials.credentials;
    if (options.encryption_keys.empty())
      options.encryption_keys = g_process_credentials.encryption_keys;
  }
  const bool server_credentials =
      LocationNeedsCredentials(options.location) && UsesServerCredentials(options.store_options);
  if (server_credentials)
    RequireServerCredentialsPrivilege("cdw_backup_fdw server \"" + std::string(server->servername) +
                                      "\"");
  if (LocationNeedsCredentials(options.location) && options.credentials.empty() &&
      !server_credentials) {
    const char *quoted = nullptr;
    pg::PgCall([&] { quoted = quote_identifier(server->servername); });
    throw Error(
        sqlstate::kFdwInvalidOptionValue,
        "no credentials for cdw_backup_fdw server \"" + std::string(server->servername) + "\"",
        "Object storage locations need secret_id and secret_key, which are accepted only on "
        "user mappings.",
        "CREATE USER MAPPING FOR CURRENT_USER SERVER " + std::string(quoted) +
            " OPTIONS (secret_id '...', secret_key '...');");
  }
  return options;
}

}  // namespace

TableOptions LoadTableOptions(Oid relid) {
  ForeignTable *table = nullptr;
  ForeignServer *server = nullptr;
  char *relname = nullptr;
  pg::PgCall([&] {
    table = GetForeignTable(relid);
    server = GetForeignServer(table->serverid);
    relname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
                                         get_rel_name(relid));
  });
  return ResolveTableOptions(server, table->options, relname);
}

TableOptions LoadExportOptions(const char *server_name, const char *table_label, const char *path,
                               const char *compression, const char *encoding) {
  ForeignServer *server = nullptr;
  List *table_options = NIL;
  pg::PgCall([&] {
    server = GetForeignServerByName(server_name, false);
    table_options = list_make3(
        makeDefElem(pstrdup("path"), (Node *)makeString(pstrdup(path)), -1),
        makeDefElem(pstrdup("compression"), (Node *)makeString(pstrdup(compression)), -1),
        makeDefElem(pstrdup("encoding"), (Node *)makeString(pstrdup(encoding)), -1));
  });
  // The same checks as CREATE FOREIGN TABLE's validator.
  ValidateOptions(ToViews(table_options), ForeignTableRelationId);
  return ResolveTableOptions(server, table_options, table_label);
}

std::string PrefixUrl(const TableOptions &options) {
  std::string location = options.location;
  if (!location.empty() && location.back() != '/') location += '/';
  return location + options.prefix;
}

void CheckFilePermission(const TableOptions &options, bool write) {
  if (LocationNeedsCredentials(options.location)) return;
  Oid role = write ? ROLE_PG_WRITE_SERVER_FILES : ROLE_PG_READ_SERVER_FILES;
  bool allowed = false;
  const char *user = nullptr;
  pg::PgCall([&] {
    allowed = has_privs_of_role(GetUserId(), role);
    user = quote_identifier(GetUserNameFromId(GetUserId(), false));
  });
  if (allowed) return;
  const char *role_name = write ? "pg_write_server_files" : "pg_read_server_files";
  throw Error(sqlstate::kInsufficientPrivilege,
              std::string("permission denied to ") + (write ? "write" : "read") +
                  " cdw_backup external table " + options.table_name,
              std::string("Only superusers and members of ") + role_name + " may " +
                  (write ? "write" : "read") + " server files through a file:// location.",
              std::string("GRANT ") + role_name + " TO " + user + ";");
}

}  // namespace cdw::fdw

// STRICT, as file_fdw's and postgres_fdw's validators: PostgreSQL passes an
// empty array for no options, never NULL.
CDW_SQL_FUNCTION(cdw_backup_fdw_validator) {
  List *options = untransformRelOptions(PG_GETARG_DATUM(0));
  Oid catalog = PG_GETARG_OID(1);
  bool skips_tls_verify = cdw::pg::CallCpp(
      [&] { return cdw::fdw::ValidateOptions(cdw::fdw::ToViews(options), catalog); });
  if (skips_tls_verify) cdw::pg::WarnTlsVerifyOff("this cdw_backup_fdw server");
  PG_RETURN_VOID();
}
