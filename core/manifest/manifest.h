// The model of what a backup writes about itself on a target, with its JSON
// serializer and parser (PostgreSQL-free):
//   - DatabaseManifest: "<run>/<database>/manifest.json", every table of one
//     database with its columns, status, rows and objects (format/layout.h);
//   - RunIndex: "_runs/<...>-run<id>.json", a run and its databases.
// Serialize* writes UTF-8 JSON (names are expected in UTF-8; anything else is
// an error, never invalid JSON on the target). Parse* accepts what Serialize*
// writes and every older manifest of the same format version; sections this
// version does not know are kept in `extra` byte for byte, so a reader and a
// writer of different versions do not lose each other's data.
//
// To add a field: a member here, one line in Serialize and one in Parse, and
// a round-trip case in tests/unit/manifest_test.cpp. A whole new section
// (say the schema of a database) can also travel as raw JSON in `extra`.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace cdw {

// 3: objects may be references to objects an earlier run wrote (incremental
// runs; a manifest without references is still written as 2, so readers of
// 2 keep reading full backups). 2: the manifest has a "schema" section
// (core/schema/schema_toc.h); 1 has none and restores as bare tables.
constexpr int kManifestFormatVersion = 3;
constexpr int kManifestFormatWithoutReferences = 2;

// Raw JSON values by key, in order: sections this version does not model.
using JsonSections = std::vector<std::pair<std::string, std::string>>;

struct ManifestObject {
  std::string key;  // relative to the table prefix (its name, for a reference)
  uint64_t size = 0;
  std::string sha256;  // of the stored object
  int64_t rows = -1;   // -1: not recorded
  // SHA-256 of the CSV bytes before compression ("" in manifests older than
  // incremental runs): what an incremental run compares.
  std::string content_sha256;
  int64_t bytes_raw = -1;  // CSV bytes; -1: not recorded
  // SHA-256 of the rows the CSV was made from (format/row_fingerprint.h):
  // what an incremental run compares without making the CSV. "" when the
  // table's types give no fingerprint, or in older manifests.
  std::string fingerprint;
  // A reference: the object was written by the earlier run `source_run` at
  // `source` (its key relative to the target root); "" and 0 for an object
  // this run wrote. Covered by the manifest's MAC like everything in it.
  std::string source;
  int64_t source_run = 0;
};

// The object's key relative to the target root: `source` for a reference,
// else the database's path + the table's path + key.
std::string ObjectKey(const std::string &database_path, const std::string &table_path,
                      const ManifestObject &object);

// Every object key (relative to the target root) the manifest's succeeded
// tables list, its own and references: what must stay while it is kept.
struct DatabaseManifest;
std::vector<std::string> ManifestObjectKeys(const DatabaseManifest &manifest);

// The run id a run prefix or key names ("<YYYYMMDD>/<HHMMSS>Z-run<id>/..."),
// or -1.
int64_t RunOfKey(const std::string &key);

struct ManifestColumn {
  std::string name;
  std::string type;  // format_type() of the source column
  bool not_null = false;
};

struct ManifestTable {
  std::string schema;
  std::string name;
  std::string status;  // "succeeded", "failed", "cancelled", ...
  std::string path;    // relative to the database prefix, ends in '/'
  int64_t rows = 0;
  int64_t bytes_raw = 0;
  int64_t bytes_stored = 0;
  std::vector<ManifestColumn> columns;
  std::string create_table;
  std::vector<ManifestObject> objects;
  std::string sqlstate;  // why the table failed ("" when it succeeded)
  std::string error;
  JsonSections extra;
};

struct DatabaseManifest {
  int format_version = kManifestFormatVersion;
  std::string tool;
  int64_t run_id = 0;
  std::string database;
  std::string created_at;
  std::string server_version;
  // Of the parts' text: UTF8, or the database's own bytes (SQL_ASCII,
  // MULE_INTERNAL; and every backup written before source_encoding).
  std::string encoding;
  // The database's encoding; "" in manifests older than the field (not
  // written then).
  std::string source_encoding;
  std::string compression;
  std::string format = "csv";
  std::string path;  // of the database, relative to the target root
  std::vector<ManifestTable> tables;
  JsonSections extra;
};

struct RunIndexDatabase {
  std::string name;
  std::string path;  // relative to the run's path
  std::string status;
  int64_t tables = 0;
  int64_t rows = 0;
  int64_t bytes_stored = 0;
  bool manifest = false;  // whether its manifest was written
  JsonSections extra;
};

struct RunIndex {
  int format_version = kManifestFormatVersion;
  int64_t run_id = 0;
  std::string path;          // of the run, relative to the target root
  bool has_summary = false;  // status .. schedule below are known
  std::string status;
  std::string started_at;
  std::string finished_at;
  std::string compression;
  std::string schedule;  // "" for a run that no schedule started
  std::vector<RunIndexDatabase> databases;
  JsonSections extra;
};

// Throw cdw::Error (22021, character_not_in_repertoire) when a string is not
// valid UTF-8. A manifest with a reference is written as format 3, one
// without as format 2 (whatever format_version says).
std::string SerializeManifest(const DatabaseManifest &manifest);
std::string SerializeRunIndex(const RunIndex &index);

// Throw cdw::Error: 22P02 for malformed JSON or a field of the wrong type,
// 0A000 for a format version newer than this version reads. A reference
// must name an earlier run and a key of that run's prefix, without "." or
// ".." components (else 22P02): a manifest never points outside the runs
// of its target.
DatabaseManifest ParseManifest(const std::string &json);
RunIndex ParseRunIndex(const std::string &json);

}  // namespace cdw
