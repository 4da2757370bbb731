// The database manifest (see manifest_writer.h).
extern "C" {
#include "postgres.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/rls.h"
#include "utils/syscache.h"
#include "mb/pg_wchar.h"
}

#include <string>
#include <unordered_map>
#include <vector>

#include "bgworker/database/database_job.h"
#include "bgworker/database/manifest_writer.h"
#include "bgworker/database/table_export.h"
#include "bgworker/database/worker_state.h"
#include "bgworker/database/worker_text.h"
#include "extension/control/spi_util.h"
#include "extension/pg/cpp_boundary.h"
#include "extension/pg/open_store.h"
#include "crypto/age.h"
#include "format/layout.h"
#include "common/error.h"
#include "common/hmac_sha256.h"
#include "manifest/authentication.h"
#include "manifest/json_writer.h"
#include "manifest/manifest.h"
#include "storage/store_factory.h"

namespace cdw::bgworker::database_worker {

std::string EncryptionSection(ObjectStore *store) {
  if (store->EncryptionLabel().empty()) return {};
  JsonWriter encryption;
  encryption.BeginObject();
  encryption.Key("format").String(store->EncryptionLabel());
  encryption.Key("key").String(age::KeyLabel(age::ParseKeyRing(g_job->encryption_keys).front()));
  encryption.EndObject();
  return encryption.str();
}

// The database manifest, written last: every table with its columns, a
// CREATE TABLE that recreates it, its rows and every object with size and
// SHA-256. A database without it is an incomplete backup by definition.
// The catalog is read here; the JSON is core/manifest's (SerializeManifest).
void WriteManifest(const char *schema) {
  Datum *oids = static_cast<Datum *>(palloc(sizeof(Datum) * Max(g_tables->count, 1)));
  for (int i = 0; i < g_tables->count; i++) oids[i] = ObjectIdGetDatum(g_tables->entries[i].relid);
  ArrayType *array =
      construct_array(oids, g_tables->count, OIDOID, sizeof(Oid), true, TYPALIGN_INT);
  Oid types[1] = {OIDARRAYOID};
  Datum values[1] = {PointerGetDatum(array)};
  // Each table's CREATE TABLE, then its columns in order.
  control::SpiRun(
      "SELECT c.oid, "
      " pg_catalog.format('CREATE TABLE %I.%I (%s);', n.nspname, c.relname, "
      "   (SELECT pg_catalog.string_agg(pg_catalog.format('%I %s%s', a.attname, "
      "      pg_catalog.format_type(a.atttypid, a.atttypmod), "
      "      CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END), ', ' ORDER BY a.attnum) "
      "    FROM pg_catalog.pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid "
      "    AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped)) "
      "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
      " ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
      "WHERE c.oid OPERATOR(pg_catalog.=) ANY ($1)",
      1, types, values, nullptr, true);
  int create_count = static_cast<int>(SPI_processed);
  char ***creates = control::SpiTextRows();
  control::SpiRun(
      "SELECT a.attrelid, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), "
      " a.attnotnull "
      "FROM pg_catalog.pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) ANY ($1) "
      "AND a.attnum OPERATOR(pg_catalog.>) 0 "
      "AND NOT a.attisdropped ORDER BY a.attrelid, a.attnum",
      1, types, values, nullptr, true);
  int column_count = static_cast<int>(SPI_processed);
  char ***columns = control::SpiTextRows();
  // The manifest is UTF-8: this database's text converted (the names of
  // every table that succeeded were checked to convert, see ExportTable),
  // the job's text from the home database's encoding.
  auto utf8 = [](const char *text) { return text ? pg::ConvertLossy(g_to_utf8, text) : nullptr; };
  for (int i = 0; i < create_count; i++) creates[i][1] = utf8(creates[i][1]);
  for (int i = 0; i < column_count; i++) {
    columns[i][1] = utf8(columns[i][1]);
    columns[i][2] = utf8(columns[i][2]);
  }
  auto *names = static_cast<char **>(palloc0(sizeof(char *) * 4 * Max(g_tables->count, 1)));
  for (int i = 0; i < g_tables->count; i++) {
    const TableEntry &entry = g_tables->entries[i];
    names[4 * i] = utf8(entry.schema_name);
    names[4 * i + 1] = utf8(entry.table_name);
    names[4 * i + 2] = pg::ConvertLossy(g_home_to_utf8, entry.error);
    names[4 * i + 3] = pg::ConvertLossy(g_home_to_utf8, entry.hint);  // excluded_by
  }
  // The run's filters, as the caller wrote them (UTF-8).
  int filter_total = 0;
  for (const auto &list : g_job->filters.lists) filter_total += list.count;
  auto *filter_texts = static_cast<char **>(palloc0(sizeof(char *) * Max(filter_total, 1)));
  for (int kind = 0, n = 0; kind < kFilterKinds; kind++)
    for (int i = 0; i < g_job->filters.lists[kind].count; i++)
      filter_texts[n++] =
          pg::ConvertLossy(g_home_to_utf8, FilterPattern(&g_job->filters.lists[kind], i));
  // The schema's SQL holds the database's text: as UTF-8 too. A character
  // UTF-8 lacks (SQL_ASCII bytes that are not UTF-8, MULE_INTERNAL) is
  // spelled \\xNN inside the JSON rather than fail the whole database; the
  // tables such names belong to failed their backup already (ExportTable).
  char *schema_utf8 = pg::ConvertLossy(g_to_utf8, schema, true);
  char *database = pg::ConvertLossy(g_home_to_utf8, g_job->database);
  char *location = pg::ConvertLossy(g_home_to_utf8, g_job->location);
  char *created_at = pstrdup(timestamptz_to_str(GetCurrentTimestamp()));
  const char *server_version = GetConfigOption("server_version", false, false);
  const char *source_encoding = GetDatabaseEncodingName();
  const char *part_encoding = pg_encoding_to_char(g_part_encoding);
  // What CREATE DATABASE needs to recreate it on a fresh cluster.
  Oid database_types[1] = {OIDOID};
  Datum database_values[1] = {ObjectIdGetDatum(MyDatabaseId)};
  control::SpiRun(
      "SELECT d.datcollate::text, d.datctype::text, "
      "  CASE d.datlocprovider WHEN 'i' THEN 'icu' ELSE 'libc' END, d.daticulocale "
      "FROM pg_catalog.pg_database d WHERE d.oid OPERATOR(pg_catalog.=) $1",
      1, database_types, database_values, nullptr, true);
  char *lc_collate = control::SpiText(0, 1);
  char *lc_ctype = control::SpiText(0, 2);
  char *locale_provider = control::SpiText(0, 3);
  char *icu_locale = control::SpiText(0, 4);
  pg::CallCpp([&] {
    std::unordered_map<Oid, const char *> create_of;
    for (int i = 0; i < create_count; i++)
      create_of[static_cast<Oid>(strtoul(creates[i][0], nullptr, 10))] = creates[i][1];
    std::unordered_map<Oid, std::vector<ManifestColumn>> columns_of;
    for (int i = 0; i < column_count; i++)
      columns_of[static_cast<Oid>(strtoul(columns[i][0], nullptr, 10))].push_back(
          {columns[i][1], columns[i][2], strcmp(columns[i][3], "t") == 0});

    DatabaseManifest manifest;
    manifest.tool = std::string("cdw_backup ") + CDW_BACKUP_VERSION;
    manifest.run_id = g_job->run_id;
    manifest.database = database;
    manifest.created_at = created_at;
    manifest.server_version = server_version;
    manifest.encoding = part_encoding;
    manifest.source_encoding = source_encoding;
    // What CREATE DATABASE needs to recreate the database on a fresh cluster.
    auto add_string = [&](const char *key, const char *value) {
      JsonWriter value_json;
      value_json.String(value);
      manifest.extra.emplace_back(key, value_json.str());
    };
    add_string("lc_collate", lc_collate ? lc_collate : "");
    add_string("lc_ctype", lc_ctype ? lc_ctype : "");
    add_string("locale_provider", locale_provider ? locale_provider : "libc");
    if (icu_locale) add_string("icu_locale", icu_locale);
    manifest.compression = g_job->compression;
    manifest.path = g_job->database_prefix;
    // Format 2: the schema, as core/schema/schema_toc.h describes it.
    manifest.extra.emplace_back("schema", schema_utf8);
    // What the run's filters left out (README "Choosing tables"): a restore
    // of such a table says so instead of "not found".
    if (filter_total > 0) {
      JsonWriter filters;
      filters.BeginObject();
      for (int kind = 0, n = 0; kind < kFilterKinds; kind++) {
        if (g_job->filters.lists[kind].count == 0) continue;
        filters.Key(FilterParameterName(kind)).BeginArray();
        for (int i = 0; i < g_job->filters.lists[kind].count; i++)
          filters.String(filter_texts[n++]);
        filters.EndArray();
      }
      filters.EndObject();
      manifest.extra.emplace_back("filters", filters.str());
      JsonWriter excluded;
      excluded.BeginArray();
      for (int i = 0; i < g_tables->count; i++) {
        if (g_tables->entries[i].status != static_cast<int>(TableStatus::kExcluded)) continue;
        excluded.BeginObject();
        excluded.Key("schema").String(names[4 * i]);
        excluded.Key("name").String(names[4 * i + 1]);
        excluded.Key("excluded_by").String(names[4 * i + 3]);
        excluded.EndObject();
      }
      excluded.EndArray();
      manifest.extra.emplace_back("excluded_tables", excluded.str());
    }
    auto store =
        pg::OpenTargetStore(location, g_job->store_options, g_job->secret_id, g_job->secret_key,
                            g_job->session_token, g_job->sse_customer_key, g_job->encryption_keys);
    // An encrypted run says so (and to which key) in its manifest: runs
    // that reuse its objects must be encrypted the same way.
    std::string encryption = EncryptionSection(store.get());
    if (!encryption.empty()) manifest.extra.emplace_back("encryption", encryption);
    for (int i = 0; i < g_tables->count; i++) {
      const TableEntry &entry = g_tables->entries[i];
      if (entry.range_index != 0) continue;  // described with its range 0
      if (entry.status == static_cast<int>(TableStatus::kExcluded)) continue;  // see above
      TableOutcome outcome = CombineRanges(&entry);
      bool succeeded = outcome.status == TableStatus::kSucceeded;
      ManifestTable table;
      table.schema = names[4 * i];
      table.name = names[4 * i + 1];
      if (entry.data_excluded) {
        // In the schema, without rows: a restore creates it empty.
        JsonWriter by;
        by.String(names[4 * i + 3]);
        table.extra.emplace_back("data_excluded_by", by.str());
      }
      table.status = TableStatusName(outcome.status);
      table.path = TablePrefix(table.schema, table.name);
      table.rows = succeeded ? outcome.rows : 0;
      table.bytes_raw = succeeded ? outcome.bytes_raw : 0;
      table.bytes_stored = succeeded ? outcome.bytes_stored : 0;
      auto found_columns = columns_of.find(entry.relid);
      if (found_columns != columns_of.end()) table.columns = std::move(found_columns->second);
      auto found_create = create_of.find(entry.relid);
      if (found_create != create_of.end() && found_create->second)
        table.create_table = found_create->second;
      for (int r = 0; r < entry.range_count; r++) {
        const TableEntry &range = (&entry)[r];
        for (int p = 0; p < range.part_count; p++) {
          const PartRecord &part = range.parts[p];
          const DatabaseManifest *base = BaseManifest();
          bool reference = part.reused_table >= 0;
          if (!succeeded) {
            // Another range failed: this range's part is not a backup of the
            // table, so it must not stay behind looking like one. (An
            // earlier run's object it referenced is that run's.)
            if (!reference)
              store->Remove(std::string(g_job->database_prefix) + table.path + part.name);
            continue;
          }
          if (reference) {
            // Incremental: the base's object, resolved to the run that wrote
            // it (references are never chained).
            // A helper found it in its own copy of the base manifest: the
            // leader's must hold the same object.
            if (!base || static_cast<size_t>(part.reused_table) >= base->tables.size() ||
                static_cast<size_t>(part.reused_object) >=
                    base->tables[part.reused_table].objects.size() ||
                base->tables[part.reused_table].objects[part.reused_object].content_sha256 !=
                    part.content_sha256 ||
                (part.fingerprint[0] &&
                 !base->tables[part.reused_table].objects[part.reused_object].fingerprint.empty() &&
                 base->tables[part.reused_table].objects[part.reused_object].fingerprint !=
                     part.fingerprint))
              throw Error("XX000", "the base manifest of an incremental run changed during the run",
                          {}, "Run the backup again, or with incremental => false.");
            const ManifestTable &base_table = base->tables[part.reused_table];
            ManifestObject object = base_table.objects[part.reused_object];
            object.source = ObjectKey(base->path, base_table.path, object);
            if (object.source_run == 0) object.source_run = base->run_id;
            // This run's fingerprint of the rows, for the runs after it (a
            // base without one matched on its CSV).
            if (part.fingerprint[0]) object.fingerprint = part.fingerprint;
            table.objects.push_back(std::move(object));
            continue;
          }
          ManifestObject object;
          object.key = part.name;
          object.size = part.size;
          object.sha256 = part.sha256;
          object.rows = static_cast<int64_t>(part.rows);
          object.content_sha256 = part.content_sha256;
          object.bytes_raw = static_cast<int64_t>(part.bytes_raw);
          object.fingerprint = part.fingerprint;
          table.objects.push_back(std::move(object));
        }
      }
      if (!succeeded && outcome.failed) {
        table.sqlstate = outcome.failed->sqlstate;
        table.error = names[4 * (outcome.failed - g_tables->entries) + 2];
      }
      manifest.tables.push_back(std::move(table));
    }
    WriteAuthenticatedObject(store.get(), TargetKeyFromHex(g_job->manifest_key),
                             std::string(g_job->database_prefix) + kManifestName,
                             SerializeManifest(manifest));
  });
  g_job->manifest_written = true;
}

}  // namespace cdw::bgworker::database_worker
