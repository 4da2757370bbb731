// Options of cdw_backup_fdw servers, tables and user mappings.
// Include after postgres.h.
#pragma once

#include <string>
#include <vector>

extern "C" {
#include "mb/pg_wchar.h"
}

#include "compression/compression.h"
#include "storage/store_factory.h"

namespace cdw::fdw {

// Everything needed to open a table's storage, resolved from the catalogs.
struct TableOptions {
  std::string table_name;  // qualified, for messages
  std::string location;    // server option
  StoreOptions store_options;
  std::string prefix;  // table path, normalized to end in '/'
  Compression compression = Compression::kGzip;
  int compression_level = 0;
  bool header = false;
  int batch_size = 1000;
  // Encoding of the parts' text (pg_enc); the writer converts to it from the
  // server encoding and the reader from it, as COPY's ENCODING option.
  // UTF8 unless the table says otherwise (extension/pg/text_encoding.h).
  int encoding = PG_UTF8;
  // The export only hashes the CSV it would write and writes nothing
  // (incremental runs: part_receiver.h; not a foreign-table option).
  bool probe = false;
  // Scanning reads exactly these objects (keys relative to the location,
  // UTF-8), in order, instead of every part under `prefix`: the objects a
  // manifest lists, references to earlier runs included. Option "parts",
  // one key per line.
  bool has_parts = false;
  std::vector<std::string> parts;
  Credentials credentials;
  // Servers with encryption 'on': the key ring (one key a line), from the
  // user mapping's encryption_key or the worker's process credentials.
  std::string encryption_keys;
};

// Reads the options of foreign table `relid` (and its server and the current
// user's mapping). Throws PgError / cdw::Error.
TableOptions LoadTableOptions(Oid relid);

// The options of a table on server `server_name` that has no foreign table
// (a backup worker's direct export, extension/fdw/part_receiver.h): `path`,
// `compression` and `encoding` as the foreign table's options would give
// them, validated as those. `table_label` names it in messages. Throws.
TableOptions LoadExportOptions(const char *server_name, const char *table_label, const char *path,
                               const char *compression, const char *encoding);

// The URL of the table's prefix, for messages and history.
std::string PrefixUrl(const TableOptions &options);

// The CREATE SERVER statement for a cdw_backup_fdw server on `location` with
// the store options given as "key\tvalue\n" lines (palloc'd). Used by the
// backup and restore workers for their transaction-local servers.
char *CreateServerStatement(const char *server_name, const char *location,
                            const char *store_option_lines);

// The statement that installs this FDW in a database the workers connect
// to. Explicit schema: under the pinned search_path (extension/pg/
// search_path.h) the default would be pg_catalog.
inline constexpr char kCreateFdwExtension[] =
    "CREATE EXTENSION IF NOT EXISTS cdw_backup_fdw SCHEMA public";

// Backup workers hand credentials to the FDW in process memory rather than
// through a user mapping, so secrets never reach a catalog of the database
// being backed up. Cleared by the worker when it is done.
// With them the key ring of an encrypted target (one key a line).
void SetProcessCredentials(const std::string &location, const Credentials &credentials,
                           const std::string &encryption_keys);
void ClearProcessCredentials();

// Fails with 42501 and a GRANT hint unless the current user may read
// (write=false) or write (write=true) server files, for file:// locations.
void CheckFilePermission(const TableOptions &options, bool write);

}  // namespace cdw::fdw
