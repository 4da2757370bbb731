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

#include "bgworker/database/database_job.h"
#include "bgworker/database/manifest_writer.h"
#include "bgworker/database/worker_state.h"
#include "extension/control/spi_util.h"
#include "extension/pg/cpp_boundary.h"
#include "extension/pg/open_store.h"
#include "format/layout.h"
#include "manifest/json_writer.h"
#include "storage/store_factory.h"

namespace cdw::bgworker::database_worker {
namespace {

struct ManifestRow {
  Oid relid;
  char *columns_json;
  char *create_table;
};

}  // namespace

// The database manifest, written last: every table with its columns, a
// CREATE TABLE that recreates it, its rows and every object with size and
// SHA-256. A database without it is an incomplete backup by definition.
void WriteManifest() {
  Datum *oids = static_cast<Datum *>(palloc(sizeof(Datum) * Max(g_tables->count, 1)));
  for (int i = 0; i < g_tables->count; i++) oids[i] = ObjectIdGetDatum(g_tables->entries[i].relid);
  ArrayType *array =
      construct_array(oids, g_tables->count, OIDOID, sizeof(Oid), true, TYPALIGN_INT);
  Oid types[1] = {OIDARRAYOID};
  Datum values[1] = {PointerGetDatum(array)};
  control::SpiRun(
      "SELECT c.oid, "
      " (SELECT json_agg(json_build_object('name', a.attname, 'type', "
      "    format_type(a.atttypid, a.atttypmod), 'not_null', a.attnotnull) ORDER BY a.attnum) "
      "    FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 "
      "    AND NOT a.attisdropped)::text, "
      " format('CREATE TABLE %I.%I (%s);', n.nspname, c.relname, "
      "   (SELECT string_agg(format('%I %s%s', a.attname, format_type(a.atttypid, a.atttypmod), "
      "      CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END), ', ' ORDER BY a.attnum) "
      "    FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 "
      "    AND NOT a.attisdropped)) "
      "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
      "WHERE c.oid = ANY ($1)",
      1, types, values, nullptr, true);
  int rows = static_cast<int>(SPI_processed);
  auto *manifest_rows = static_cast<ManifestRow *>(palloc0(sizeof(ManifestRow) * Max(rows, 1)));
  for (int i = 0; i < rows; i++) {
    manifest_rows[i].relid = static_cast<Oid>(strtoul(control::SpiText(i, 1), nullptr, 10));
    manifest_rows[i].columns_json = control::SpiText(i, 2);
    manifest_rows[i].create_table = control::SpiText(i, 3);
  }
  char *created_at = pstrdup(timestamptz_to_str(GetCurrentTimestamp()));
  const char *server_version = GetConfigOption("server_version", false, false);
  const char *encoding = GetDatabaseEncodingName();
  pg::CallCpp([&] {
    JsonWriter json;
    json.BeginObject();
    json.Key("format_version").Int(1);
    json.Key("tool").String(std::string("cdw_backup ") + CDW_BACKUP_VERSION);
    json.Key("run_id").Int(g_job->run_id);
    json.Key("database").String(g_job->database);
    json.Key("created_at").String(created_at);
    json.Key("server_version").String(server_version);
    json.Key("encoding").String(encoding);
    json.Key("compression").String(g_job->compression);
    json.Key("format").String("csv");
    json.Key("path").String(g_job->database_prefix);
    json.Key("tables").BeginArray();
    auto store = pg::OpenTargetStore(g_job->location, g_job->store_options, g_job->secret_id,
                                     g_job->secret_key, g_job->session_token);
    for (int i = 0; i < g_tables->count; i++) {
      const TableEntry &entry = g_tables->entries[i];
      if (entry.range_index != 0) continue;  // described with its range 0
      const ManifestRow *row = nullptr;
      for (int r = 0; r < rows && !row; r++)
        if (manifest_rows[r].relid == entry.relid) row = &manifest_rows[r];
      TableOutcome outcome = CombineRanges(&entry);
      bool succeeded = outcome.status == TableStatus::kSucceeded;
      std::string table_path = TablePrefix(entry.schema_name, entry.table_name);
      json.BeginObject();
      json.Key("schema").String(entry.schema_name);
      json.Key("name").String(entry.table_name);
      json.Key("status").String(TableStatusName(outcome.status));
      json.Key("path").String(table_path);
      json.Key("rows").Int(succeeded ? outcome.rows : 0);
      json.Key("bytes_raw").Int(succeeded ? outcome.bytes_raw : 0);
      json.Key("bytes_stored").Int(succeeded ? outcome.bytes_stored : 0);
      json.Key("columns").Raw(row && row->columns_json ? row->columns_json : "[]");
      json.Key("create_table").String(row && row->create_table ? row->create_table : "");
      json.Key("objects").BeginArray();
      for (int r = 0; r < entry.range_count; r++) {
        const TableEntry &range = (&entry)[r];
        for (int p = 0; p < range.part_count; p++) {
          if (!succeeded) {
            // Another range failed: this range's part is not a backup of the
            // table, so it must not stay behind looking like one.
            store->Remove(std::string(g_job->database_prefix) + table_path + range.parts[p].name);
            continue;
          }
          json.BeginObject();
          json.Key("key").String(range.parts[p].name);
          json.Key("rows").Int(static_cast<int64_t>(range.parts[p].rows));
          json.Key("size").Int(static_cast<int64_t>(range.parts[p].size));
          json.Key("sha256").String(range.parts[p].sha256);
          json.EndObject();
        }
      }
      json.EndArray();
      if (!succeeded && outcome.failed) {
        json.Key("sqlstate").String(outcome.failed->sqlstate);
        json.Key("error").String(outcome.failed->error);
      }
      json.EndObject();
    }
    json.EndArray();
    json.EndObject();
    auto writer = store->Create(std::string(g_job->database_prefix) + kManifestName);
    writer->Write(json.str().data(), json.str().size());
    writer->Finish();
    writer->Commit();
  });
  g_job->manifest_written = true;
}

}  // namespace cdw::bgworker::database_worker
