// cdw_backup_list / cdw_backup_verify / cdw_backup_restore: reading backups
// back. Runs are found through the target's "_runs/" index (so they work on
// a fresh cluster with empty history) and each database through its
// manifest; restores run in a background worker connected to the
// destination database as the calling role.
extern "C" {
#include "postgres.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "access/htup_details.h"
#include "catalog/pg_database.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/regproc.h"
#include "utils/syscache.h"
#include "utils/snapmgr.h"
#include "utils/inval.h"
#include "mb/pg_wchar.h"
}

#include <memory>
#include <utility>
#include <string>
#include <vector>

#include "bgworker/restore/database_command.h"
#include "bgworker/restore_job.h"
#include "bgworker/shared_state.h"
#include "common/error.h"
#include "extension/control/restore_table_objects.h"
#include "extension/control/arguments.h"
#include "extension/control/manifest_authentication.h"
#include "extension/control/spi_util.h"
#include "extension/control/target_store.h"
#include "extension/control/thaw.h"
#include "extension/pg/bounded_copy.h"
#include "extension/pg/cpp_boundary.h"
#include "extension/pg/search_path.h"
#include "extension/pg/open_store.h"
#include "extension/pg/text_encoding.h"
#include "format/layout.h"
#include "manifest/verify.h"
#include "storage/store_factory.h"

namespace cdw::control {
namespace {

std::unique_ptr<ObjectStore> Open(const Target &target) {
  return pg::OpenTargetStore(target.location, target.options, target.secret_id, target.secret_key,
                             target.session_token, target.sse_customer_key, target.encryption_keys);
}

// Reads a manifest or run index with its MAC (palloc'd); NULL when
// `missing_ok` and it is missing. Refuses (ERROR) what does not
// authenticate; `authenticated` (may be NULL) says whether it did or was
// only allowed without a MAC.
char *ReadChecked(const Target &target, const char *key, const char *what,
                  bool allow_unauthenticated, bool missing_ok, bool *authenticated) {
  ReadBack *read = pg::CallCpp([&] {
    auto store = Open(target);
    return ReadBackAuthenticated(store.get(), target.manifest_key, key);
  });
  if (!read->found) {
    if (missing_ok) return nullptr;
    ereport(ERROR,
            (errcode(ERRCODE_UNDEFINED_FILE), errmsg("the %s %s is missing", what, read->url),
             errhint("SELECT * FROM cdw_backup_list(target => '%s'); lists the runs on it.",
                     target.name)));
  }
  AuthProblem *problem = AuthenticationProblem(read, what, target.name, allow_unauthenticated);
  if (problem) RaiseAuthenticationProblem(problem);
  if (authenticated) *authenticated = read->has_mac;
  return read->bytes;
}

// The keys of the target's run index entries (palloc'd strings); a plain
// List, not a C++ container, since the caller's frame calls PostgreSQL.
struct KeyList {
  int count;
  char **keys;
};

KeyList ListRunIndex(const Target &target) {
  return pg::CallCpp([&] {
    auto store = Open(target);
    std::vector<std::string> keys;
    for (const auto &object : store->List(kRunIndexPrefix))
      if (object.key.size() > 5 && object.key.compare(object.key.size() - 5, 5, ".json") == 0)
        keys.push_back(object.key);
    KeyList list{static_cast<int>(keys.size()), nullptr};
    list.keys = static_cast<char **>(MemoryContextAllocExtended(
        CurrentMemoryContext, sizeof(char *) * Max(keys.size(), size_t{1}),
        MCXT_ALLOC_NO_OOM | MCXT_ALLOC_HUGE));
    if (!list.keys) throw std::bad_alloc();
    for (size_t i = 0; i < keys.size(); i++) list.keys[i] = pg::PallocCopy(keys[i]);
    return list;
  });
}

struct RunDatabase {
  char *name;
  char *manifest_key;
};

// The run's databases and their manifests, found in the target's index.
// `target_name` NULL: the run's target from history, else 'default'.
List *FindRun(int64 run_id, const char *target_name, Target *target_out, char **run_path_out,
              bool allow_unauthenticated, bool *authenticated) {
  if (!target_name) {
    SavedUser saved = BecomeExtensionOwner();
    Oid types[1] = {INT8OID};
    Datum values[1] = {Int64GetDatum(run_id)};
    SpiRun("SELECT target FROM cdw_backup.runs WHERE run_id OPERATOR(pg_catalog.=) $1", 1, types,
           values, nullptr, true);
    RestoreUser(saved);
    target_name = SPI_processed > 0 ? SpiText(0, 1) : "default";
  }
  const Target &target = *LoadTarget(target_name, GetUserId());
  RequireReadableTarget(&target);
  *target_out = target;
  KeyList keys = ListRunIndex(target);
  List *matches = NIL;
  for (int k = 0; k < keys.count; k++) {
    char *key = keys.keys[k];
    if (pg::CallCpp([&] { return RunIdFromKey(key); }) == run_id) matches = lappend(matches, key);
  }
  if (list_length(matches) == 0)
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                    errmsg("run %lld was not found on target \"%s\"",
                           static_cast<long long>(run_id), target.name),
                    errdetail("No index entry %s*-run%lld.json exists there.", kRunIndexPrefix,
                              static_cast<long long>(run_id)),
                    errhint("SELECT * FROM cdw_backup_list(target => '%s'); lists the runs on it.",
                            target.name)));
  if (list_length(matches) > 1)
    ereport(ERROR,
            (errcode(ERRCODE_AMBIGUOUS_PARAMETER),
             errmsg("target \"%s\" holds several runs numbered %lld", target.name,
                    static_cast<long long>(run_id)),
             errdetail("They come from different clusters writing to the same location."),
             errhint("Use a target whose location is the directory of one cluster's backups.")));
  char *index = ReadChecked(target, static_cast<char *>(linitial(matches)), "run index",
                            allow_unauthenticated, false, authenticated);
  Oid types[1] = {TEXTOID};
  Datum values[1] = {CStringGetTextDatum(index)};
  // A malformed index (a field missing) gives no database rather than NULLs.
  SpiRun(
      "SELECT i OPERATOR(pg_catalog.->>) 'path', d OPERATOR(pg_catalog.->>) 'name', "
      " d OPERATOR(pg_catalog.->>) 'path', "
      " coalesce((d OPERATOR(pg_catalog.->>) 'manifest')::pg_catalog.bool, false) "
      "FROM (SELECT $1::pg_catalog.jsonb AS i) x, "
      " pg_catalog.jsonb_array_elements(i OPERATOR(pg_catalog.->) 'databases') d "
      "WHERE (i OPERATOR(pg_catalog.->>) 'path') IS NOT NULL "
      " AND (d OPERATOR(pg_catalog.->>) 'name') IS NOT NULL "
      " AND (d OPERATOR(pg_catalog.->>) 'path') IS NOT NULL "
      "ORDER BY 2",
      1, types, values, nullptr, true);
  List *databases = NIL;
  for (uint64 i = 0; i < SPI_processed; i++) {
    *run_path_out = SpiText(static_cast<int>(i), 1);
    if (strcmp(SpiText(static_cast<int>(i), 4), "t") != 0) continue;
    auto *db = static_cast<RunDatabase *>(palloc(sizeof(RunDatabase)));
    db->name = SpiText(static_cast<int>(i), 2);
    db->manifest_key = psprintf("%s%s%s", SpiText(static_cast<int>(i), 1),
                                SpiText(static_cast<int>(i), 3), kManifestName);
    databases = lappend(databases, db);
  }
  return databases;
}

// Errors unless the caller may connect to `database_id` (CONNECT privilege,
// and the database allows connections), as the restore worker will.
void RequireConnectable(Oid database_id, const char *database) {
  HeapTuple tuple = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(database_id));
  if (!HeapTupleIsValid(tuple))
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_DATABASE),
                    errmsg("database \"%s\" does not exist", database)));
  bool allow = reinterpret_cast<Form_pg_database>(GETSTRUCT(tuple))->datallowconn;
  ReleaseSysCache(tuple);
  if (!allow)
    ereport(ERROR,
            (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
             errmsg("database \"%s\" does not allow connections", database),
             errdetail("The restore runs in a background worker connected to it."),
             errhint("ALTER DATABASE %s ALLOW_CONNECTIONS true;", quote_identifier(database))));
  if (pg_database_aclcheck(database_id, GetUserId(), ACL_CONNECT) != ACLCHECK_OK)
    ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                    errmsg("permission denied to restore into database \"%s\"", database),
                    errdetail("The restore connects to it as role %s, which lacks CONNECT on it.",
                              quote_identifier(GetUserNameFromId(GetUserId(), false))),
                    errhint("GRANT CONNECT ON DATABASE %s TO %s;", quote_identifier(database),
                            quote_identifier(GetUserNameFromId(GetUserId(), false)))));
}

// Reads a manifest and checks it is one this version understands.
char *ReadManifest(const Target &target, const char *key, bool allow_unauthenticated,
                   bool *authenticated) {
  char *manifest = ReadChecked(target, key, "manifest", allow_unauthenticated, true, authenticated);
  if (!manifest)
    ereport(
        ERROR,
        (errcode(ERRCODE_UNDEFINED_FILE), errmsg("the manifest %s of this backup is missing", key),
         errdetail("Without its manifest a database backup is incomplete and cannot be "
                   "restored safely."),
         errhint("Check the run with cdw_backup_verify(), or restore from another run.")));
  // References to earlier runs' objects must name earlier runs of this
  // target (core/manifest/manifest.h), checked by the strict parser before
  // anything follows them, also for a manifest read unauthenticated.
  if (strstr(manifest, "\"source\""))
    cdw::pg::CallCpp([&] {
      try {
        (void)cdw::ParseManifest(manifest);
      } catch (const cdw::Error &e) {
        throw cdw::Error(cdw::sqlstate::kDataCorrupted,
                         std::string("manifest ") + key + ": " + e.what(), e.detail(),
                         "Restore from another run, or check the target.");
      }
    });
  // Manifests are UTF-8: in this database's encoding from here on.
  manifest = cdw::pg::Utf8ToServer(
      manifest, psprintf("the manifest %s", key),
      "A manifest's names must be representable in the encoding of the home database "
      "(cdw_backup.database): use a home database with encoding UTF8.");
  Oid types[1] = {TEXTOID};
  Datum values[1] = {CStringGetTextDatum(manifest)};
  SpiRun("SELECT ($1::pg_catalog.jsonb OPERATOR(pg_catalog.->>) 'format_version')::pg_catalog.int4",
         1, types, values, nullptr, true);
  char *version = SpiText(0, 1);
  if (!version || atoi(version) > 3)
    ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                    errmsg("manifest %s has format version %s", key, version ? version : "(none)"),
                    errdetail("This version of cdw_backup reads manifest format versions 1 to 3."),
                    errhint("Use a newer cdw_backup to read this backup.")));
  return manifest;
}

// What VerifyTable() found for one table, as plain palloc'd strings: no
// text format to split again (a path with a newline or a tab in a manifest
// made the old "kind\tdetail\n" report unparseable).
struct Problem {
  char *kind;
  char *detail;
};
struct ProblemList {
  int count;
  Problem *items;
};

// The objects of one manifest table, as read by SPI.
struct ObjectRows {
  int count;
  char **keys;
  int64 *sizes;
  char **sha256;
  int64 *rows;
  char **sources;  // "" for an object of this run
  int64 *source_runs;
};

ProblemList VerifyObjects(const Target &target, const char *compression, const char *table_path,
                          int64 expected_rows, const ObjectRows &objects) {
  return pg::CallCpp([&] {
    std::vector<ManifestObject> list;
    for (int o = 0; o < objects.count; o++) {
      ManifestObject object;
      object.key = objects.keys[o];
      object.size = static_cast<uint64_t>(objects.sizes[o]);
      object.sha256 = objects.sha256[o];
      object.rows = objects.rows[o];
      object.source = objects.sources[o];
      object.source_run = objects.source_runs[o];
      list.push_back(object);
    }
    auto store = Open(target);
    auto problems =
        VerifyTable(store.get(), table_path, list, ParseCompression(compression), expected_rows);
    ProblemList result{static_cast<int>(problems.size()), nullptr};
    result.items = static_cast<Problem *>(MemoryContextAllocExtended(
        CurrentMemoryContext, sizeof(Problem) * Max(problems.size(), size_t{1}),
        MCXT_ALLOC_NO_OOM | MCXT_ALLOC_HUGE));
    if (!result.items) throw std::bad_alloc();
    for (size_t p = 0; p < problems.size(); p++) {
      result.items[p].kind = pg::PallocCopy(problems[p].kind);
      result.items[p].detail = pg::PallocCopy(problems[p].detail);
    }
    return result;
  });
}

// The objects of a manifest table (its "objects" JSON); false when one
// lacks its key or checksum.
bool ReadObjectRows(const char *objects_json, ObjectRows *out) {
  SpiParams params;
  params.Text(objects_json);
  SpiRun(
      "SELECT o OPERATOR(pg_catalog.->>) 'key', (o OPERATOR(pg_catalog.->>) "
      "'size')::pg_catalog.int8, "
      " o OPERATOR(pg_catalog.->>) 'sha256', "
      " COALESCE((o OPERATOR(pg_catalog.->>) 'rows')::pg_catalog.int8, -1), "
      " COALESCE(o OPERATOR(pg_catalog.->>) 'source', ''), "
      " COALESCE((o OPERATOR(pg_catalog.->>) 'source_run')::pg_catalog.int8, 0) "
      "FROM pg_catalog.jsonb_array_elements(CASE WHEN "
      "pg_catalog.jsonb_typeof($1::pg_catalog.jsonb) "
      " OPERATOR(pg_catalog.=) 'array' THEN $1::pg_catalog.jsonb ELSE '[]' END) o",
      params, true);
  int count = static_cast<int>(SPI_processed);
  char ***cells = SpiTextRows();
  out->count = count;
  out->keys = static_cast<char **>(palloc(sizeof(char *) * Max(count, 1)));
  out->sha256 = static_cast<char **>(palloc(sizeof(char *) * Max(count, 1)));
  out->sizes = static_cast<int64 *>(palloc(sizeof(int64) * Max(count, 1)));
  out->rows = static_cast<int64 *>(palloc(sizeof(int64) * Max(count, 1)));
  out->sources = static_cast<char **>(palloc(sizeof(char *) * Max(count, 1)));
  out->source_runs = static_cast<int64 *>(palloc(sizeof(int64) * Max(count, 1)));
  for (int o = 0; o < count; o++) {
    if (!cells[o][0] || !cells[o][1] || !cells[o][2]) return false;
    out->keys[o] = cells[o][0];
    out->sizes[o] = strtoll(cells[o][1], nullptr, 10);
    out->sha256[o] = cells[o][2];
    out->rows[o] = strtoll(cells[o][3], nullptr, 10);
    out->sources[o] = cells[o][4];
    out->source_runs[o] = strtoll(cells[o][5], nullptr, 10);
  }
  return true;
}

// The tables of a manifest, for VerifyManifest (one query, so that the
// thaw pass and the verify pass see the same tables in the same order).
void SelectManifestTables(const char *manifest) {
  SpiParams params;
  params.Text(manifest);
  SpiRun(
      "SELECT m OPERATOR(pg_catalog.->>) 'compression', "
      " (m OPERATOR(pg_catalog.->>) 'path') OPERATOR(pg_catalog.||) "
      " (t OPERATOR(pg_catalog.->>) 'path'), "
      " t OPERATOR(pg_catalog.->>) 'schema', t OPERATOR(pg_catalog.->>) 'name', "
      " t OPERATOR(pg_catalog.->>) 'status', t OPERATOR(pg_catalog.->>) 'rows', "
      " t OPERATOR(pg_catalog.->) 'objects' "
      "FROM (SELECT $1::pg_catalog.jsonb AS m) x, "
      " pg_catalog.jsonb_array_elements(m OPERATOR(pg_catalog.->) 'tables') t ORDER BY 3, 4",
      params, true);
}

// Whether VerifyManifest reads this table's objects (cells of
// SelectManifestTables).
bool VerifyReadsObjects(char **table) {
  return !(table[4] && strcmp(table[4], "succeeded") != 0);
}

// Appends the object prefixes of the manifest's tables that verify reads
// (NULL for one without a path) to *prefixes (palloc'd, grown).
void CollectVerifyPrefixes(const char *manifest, char ***prefixes, int *count, int *capacity) {
  SelectManifestTables(manifest);
  int tables = static_cast<int>(SPI_processed);
  char ***cells = SpiTextRows();
  for (int i = 0; i < tables; i++) {
    if (!VerifyReadsObjects(cells[i])) continue;
    if (*count == *capacity) {
      *capacity = Max(16, *capacity * 2);
      *prefixes = *prefixes ? static_cast<char **>(repalloc(*prefixes, sizeof(char *) * *capacity))
                            : static_cast<char **>(palloc(sizeof(char *) * *capacity));
    }
    (*prefixes)[(*count)++] = cells[i][1];
  }
}

// Checks every table of one database's manifest against the target and
// emits a row per table (ok / not_backed_up / problem / thawing). `thaw`
// holds CollectVerifyPrefixes()'s tables from index *next on.
template <typename Emit>
void VerifyManifest(const Target &target, const char *manifest, Emit &emit, const TableThaw *thaw,
                    int *next, const ThawSummary &summary) {
  SelectManifestTables(manifest);
  int count = static_cast<int>(SPI_processed);
  char ***cells = SpiTextRows();
  for (int i = 0; i < count; i++) {
    CHECK_FOR_INTERRUPTS();
    char **table = cells[i];
    const char *schema = table[2], *name = table[3];
    if (!VerifyReadsObjects(table)) {
      emit(schema, name, "not_backed_up", nullptr,
           "The table failed in this run; there is nothing to verify.");
      continue;
    }
    const TableThaw &thawed = thaw[(*next)++];
    if (thawed.message) {
      emit(schema, name, "problem", "thaw_failed",
           psprintf("%s%s%s %s", thawed.message, thawed.detail && *thawed.detail ? ": " : "",
                    thawed.detail ? thawed.detail : "", thawed.hint ? thawed.hint : ""));
      continue;
    }
    if (thawed.thawing > 0) {
      emit(schema, name, "thawing", nullptr,
           psprintf("%s %s", ThawPendingDetail(summary, thawed.thawing, thawed.archived),
                    ThawPendingHint("cdw_backup_verify()")));
      continue;
    }
    ObjectRows objects;
    if (!table[0] || !table[1] || !table[4] || !table[5] || !table[6] ||
        !ReadObjectRows(table[6], &objects)) {
      emit(schema, name, "problem", "malformed_manifest",
           "The manifest's entry for this table lacks its path, status, rows or objects.");
      continue;
    }
    ProblemList problems =
        VerifyObjects(target, table[0], table[1], strtoll(table[5], nullptr, 10), objects);
    if (problems.count == 0) emit(schema, name, "ok", nullptr, nullptr);
    for (int p = 0; p < problems.count; p++)
      emit(schema, name, "problem", problems.items[p].kind, problems.items[p].detail);
  }
}

}  // namespace
}  // namespace cdw::control

using namespace cdw::control;
using cdw::pg::CopyBounded;
using cdw::pg::CopyName;

CDW_SQL_FUNCTION(cdw_backup_list) {
  int search_path = cdw::pg::PinSearchPath();
  RequireOperator("list backups");
  InitMaterializedSRF(fcinfo, 0);
  auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
  // NULL means the default target, as the argument's default does.
  const char *target_name = TextArgument(fcinfo, 0, "default");
  bool allow_unauthenticated = !PG_ARGISNULL(1) && PG_GETARG_BOOL(1);
  SPI_connect();
  const Target &target = *LoadTarget(target_name, GetUserId());
  RequireReadableTarget(&target);
  KeyList keys = ListRunIndex(target);
  for (int k = 0; k < keys.count; k++) {
    char *key = keys.keys[k];
    char *index = ReadChecked(target, key, "run index", allow_unauthenticated, true, nullptr);
    if (!index) continue;
    Oid types[2] = {TEXTOID, TEXTOID};
    Datum values[2] = {CStringGetTextDatum(index), CStringGetTextDatum(target.location)};
    SpiRun(
        "SELECT (i OPERATOR(pg_catalog.->>) 'run_id')::pg_catalog.int8, "
        " i OPERATOR(pg_catalog.->>) 'schedule', i OPERATOR(pg_catalog.->>) 'status', "
        " (i OPERATOR(pg_catalog.->>) 'started_at')::pg_catalog.timestamptz, "
        " (i OPERATOR(pg_catalog.->>) 'finished_at')::pg_catalog.timestamptz, "
        " i OPERATOR(pg_catalog.->>) 'compression', d OPERATOR(pg_catalog.->>) 'name', "
        " d OPERATOR(pg_catalog.->>) 'status', "
        " (d OPERATOR(pg_catalog.->>) 'tables')::pg_catalog.int4, "
        " (d OPERATOR(pg_catalog.->>) 'rows')::pg_catalog.int8, "
        " (d OPERATOR(pg_catalog.->>) 'bytes_stored')::pg_catalog.int8, "
        " pg_catalog.rtrim($2, '/') OPERATOR(pg_catalog.||) '/' OPERATOR(pg_catalog.||) "
        " (i OPERATOR(pg_catalog.->>) 'path') OPERATOR(pg_catalog.||) "
        " (d OPERATOR(pg_catalog.->>) 'path') "
        "FROM (SELECT $1::pg_catalog.jsonb AS i) x, "
        " pg_catalog.jsonb_array_elements(i OPERATOR(pg_catalog.->) 'databases') d "
        "ORDER BY d OPERATOR(pg_catalog.->>) 'name'",
        2, types, values, nullptr, true);
    for (uint64 r = 0; r < SPI_processed; r++) {
      Datum row[12];
      bool nulls[12];
      for (int c = 0; c < 12; c++)
        row[c] = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, c + 1, &nulls[c]);
      tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, row, nulls);
    }
  }
  SPI_finish();
  cdw::pg::UnpinSearchPath(search_path);
  return (Datum)0;
}

CDW_SQL_FUNCTION(cdw_backup_verify) {
  int search_path = cdw::pg::PinSearchPath();
  RequireOperator("verify backups");
  RequireHomeDatabase("cdw_backup_verify()");
  if (PG_ARGISNULL(0))
    ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("run_id must not be null")));
  int64 run_id = PG_GETARG_INT64(0);
  const char *target_name = PG_ARGISNULL(1) ? nullptr : text_to_cstring(PG_GETARG_TEXT_PP(1));
  bool allow_unauthenticated = !PG_ARGISNULL(2) && PG_GETARG_BOOL(2);
  ThawArguments thaw_args = ThawArgumentsFrom(fcinfo, 3);
  InitMaterializedSRF(fcinfo, 0);
  auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
  SPI_connect();
  Target target;
  char *run_path = nullptr;
  List *databases =
      FindRun(run_id, target_name, &target, &run_path, allow_unauthenticated, nullptr);
  // First the manifests, and the thaw of every archived object they list
  // (all requested at once, whatever the database), then the checks.
  int database_count = list_length(databases);
  ReadBack **reads = static_cast<ReadBack **>(palloc0(sizeof(ReadBack *) * Max(database_count, 1)));
  char **prefixes = nullptr;
  int prefix_count = 0, prefix_capacity = 0;
  ListCell *cell;
  int d = 0;
  foreach (cell, databases) {
    auto *db = static_cast<RunDatabase *>(lfirst(cell));
    ReadBack *read = cdw::pg::CallCpp([&] {
      auto store = Open(target);
      return ReadBackAuthenticated(store.get(), target.manifest_key, db->manifest_key);
    });
    reads[d++] = read;
    if (read->bytes && !AuthenticationProblem(read, "manifest", target.name, allow_unauthenticated))
      CollectVerifyPrefixes(read->bytes, &prefixes, &prefix_count, &prefix_capacity);
  }
  ThawSummary thaw_summary;
  TableThaw *thaw =
      ThawTables(target, prefix_count, prefixes, thaw_args, run_id, nullptr, &thaw_summary);
  if (thaw_summary.thawing > 0)
    ereport(NOTICE,
            (errmsg("%d of %d archived objects of run %lld are thawing; their tables were not "
                    "verified",
                    thaw_summary.thawing, thaw_summary.archived, static_cast<long long>(run_id)),
             errdetail("%d thaw requests were sent now (tier %s, readable for %d days).",
                       thaw_summary.requested, thaw_summary.tier, thaw_summary.days),
             errhint("%s", ThawPendingHint("cdw_backup_verify()"))));
  int next_table = 0;
  d = 0;
  foreach (cell, databases) {
    auto *db = static_cast<RunDatabase *>(lfirst(cell));
    ReadBack *read = reads[d++];
    char *manifest = read->bytes;
    auto emit = [&](const char *schema, const char *table, const char *status, const char *problem,
                    const char *detail) {
      Datum row[6];
      bool nulls[6] = {false, schema == nullptr,  table == nullptr,
                       false, problem == nullptr, detail == nullptr};
      row[0] = CStringGetTextDatum(db->name);
      row[1] = schema ? CStringGetTextDatum(schema) : (Datum)0;
      row[2] = table ? CStringGetTextDatum(table) : (Datum)0;
      row[3] = CStringGetTextDatum(status);
      row[4] = problem ? CStringGetTextDatum(problem) : (Datum)0;
      row[5] = detail ? CStringGetTextDatum(detail) : (Datum)0;
      tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, row, nulls);
    };
    if (!manifest) {
      emit(nullptr, nullptr, "problem", "missing_manifest",
           psprintf("The manifest %s is missing: the backup of this database is incomplete.",
                    db->manifest_key));
      continue;
    }
    // Nothing of a manifest that does not authenticate is used: its tables
    // are not checked against it.
    AuthProblem *problem =
        AuthenticationProblem(read, "manifest", target.name, allow_unauthenticated);
    if (problem) {
      emit(nullptr, nullptr, "problem", problem->code,
           psprintf("%s: %s %s", problem->message, problem->detail, problem->hint));
      continue;
    }
    VerifyManifest(target, manifest, emit, thaw, &next_table, thaw_summary);
  }
  SPI_finish();
  cdw::pg::UnpinSearchPath(search_path);
  return (Datum)0;
}

namespace cdw::control {
namespace {

// What to do about a table or schema the run's filters left out.
constexpr char kExcludedByChoiceHint[] =
    "Restore it from a run that included it: cdw_backup.runs.filters shows each run's filters, "
    "cdw_backup_list() lists the runs on the target.";

// A table the run's filters left out (the manifest's "excluded_tables") is
// not "not found": the error says it was left out by choice and by which
// filter. Only when no table of the backup has the name. Inside SPI.
void RefuseExcludedTable(const char *manifest, const char *table_name, int64 run_id,
                         const char *database) {
  Oid types[2] = {TEXTOID, TEXTOID};
  Datum values[2] = {CStringGetTextDatum(manifest), CStringGetTextDatum(table_name)};
  SpiRun(
      "WITH m AS (SELECT $1::pg_catalog.jsonb AS m), w AS (SELECT pg_catalog.parse_ident($2) AS w) "
      "SELECT pg_catalog.format('%I.%I', x OPERATOR(pg_catalog.->>) 'schema', "
      "  x OPERATOR(pg_catalog.->>) 'name'), x OPERATOR(pg_catalog.->>) 'excluded_by' "
      "FROM m, w, pg_catalog.jsonb_array_elements(coalesce(m OPERATOR(pg_catalog.->) "
      "  'excluded_tables', '[]'::pg_catalog.jsonb)) x "
      "WHERE ((pg_catalog.array_length(w, 1) OPERATOR(pg_catalog.=) 2 "
      "   AND x OPERATOR(pg_catalog.->>) 'schema' OPERATOR(pg_catalog.=) w[1] "
      "   AND x OPERATOR(pg_catalog.->>) 'name' OPERATOR(pg_catalog.=) w[2]) "
      "  OR (pg_catalog.array_length(w, 1) OPERATOR(pg_catalog.=) 1 "
      "   AND x OPERATOR(pg_catalog.->>) 'name' OPERATOR(pg_catalog.=) w[1])) "
      "AND NOT EXISTS (SELECT FROM pg_catalog.jsonb_array_elements(m OPERATOR(pg_catalog.->) "
      "  'tables') t WHERE (pg_catalog.array_length(w, 1) OPERATOR(pg_catalog.=) 2 "
      "   AND t OPERATOR(pg_catalog.->>) 'schema' OPERATOR(pg_catalog.=) w[1] "
      "   AND t OPERATOR(pg_catalog.->>) 'name' OPERATOR(pg_catalog.=) w[2]) "
      "  OR (pg_catalog.array_length(w, 1) OPERATOR(pg_catalog.=) 1 "
      "   AND t OPERATOR(pg_catalog.->>) 'name' OPERATOR(pg_catalog.=) w[1])) "
      "ORDER BY 1 LIMIT 1",
      2, types, values, nullptr, true);
  if (SPI_processed == 0) return;
  ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
                  errmsg("table %s is not in run %lld of database \"%s\": it was excluded from the "
                         "backup",
                         SpiText(0, 1), static_cast<long long>(run_id), database),
                  errdetail("Not in this backup by choice (excluded by %s).", SpiText(0, 2)),
                  errhint("%s", kExcludedByChoiceHint)));
}

// restore(schema => ...) of a schema none of whose tables is in the backup
// because the run's filters left them all out: says so, and by which
// filter. Inside SPI.
void RefuseExcludedSchema(const char *manifest, const char *schema_name, int64 run_id,
                          const char *database) {
  Oid types[2] = {TEXTOID, TEXTOID};
  Datum values[2] = {CStringGetTextDatum(manifest), CStringGetTextDatum(schema_name)};
  SpiRun(
      "SELECT pg_catalog.count(*), pg_catalog.min(x OPERATOR(pg_catalog.->>) 'excluded_by') "
      "FROM pg_catalog.jsonb_array_elements(coalesce($1::pg_catalog.jsonb "
      "  OPERATOR(pg_catalog.->) 'excluded_tables', '[]'::pg_catalog.jsonb)) x "
      "WHERE x OPERATOR(pg_catalog.->>) 'schema' OPERATOR(pg_catalog.=) $2 HAVING "
      "pg_catalog.count(*) OPERATOR(pg_catalog.>) 0",
      2, types, values, nullptr, true);
  if (SPI_processed == 0) return;
  ereport(ERROR,
          (errcode(ERRCODE_UNDEFINED_TABLE),
           errmsg("schema %s is not in run %lld of database \"%s\": its tables were excluded "
                  "from the backup",
                  quote_identifier(schema_name), static_cast<long long>(run_id), database),
           errdetail("Not in this backup by choice: %s table(s) excluded (by %s).", SpiText(0, 1),
                     SpiText(0, 2)),
           errhint("%s", kExcludedByChoiceHint)));
}

struct RestoreOptions {
  int64 run_id;
  const char *table_name;
  const char *into_table;
  const char *into_schema;
  const char *schema_name;  // every table of one schema
  bool truncate;
  bool cascade;
  bool dry_run;
  bool allow_unauthenticated;
  bool index_authenticated;  // the run index had a MAC that verified
  bool create_roles;         // a whole database's missing roles are created NOLOGIN
  ThawArguments thaw;        // archived objects (thaw.h)
};

// Thaws the archived objects of the tables the restore reads (thaw.h).
// A table whose thaw the store refused fails with the store's error; with
// wait => false and objects still thawing, adds a 'thawing' row for each
// table (the others 'not restored') and returns false: nothing is restored.
bool ThawForRestore(ReturnSetInfo *rsinfo, const Target &target, cdw::bgworker::RestoreJob *job,
                    const RestoreOptions &options, const char *database,
                    const char *into_database) {
  using namespace cdw::bgworker;
  int count = job->count;
  char **prefixes = static_cast<char **>(palloc0(sizeof(char *) * Max(count, 1)));
  for (int k = 0; k < count; k++) {
    RestoreItem *item = &job->items[k];
    if (item->no_data || item->status != static_cast<int>(RestoreStatus::kPending)) continue;
    if (!item->selected && item->group_with < 0) continue;
    prefixes[k] = pstrdup(RestoreString(job, item->path_offset));
  }
  ThawSummary summary;
  TableThaw *thaw =
      ThawTables(target, count, prefixes, options.thaw, options.run_id, database, &summary);
  for (int k = 0; k < count; k++) {
    RestoreItem *item = &job->items[k];
    if (!thaw[k].message) continue;
    item->status = static_cast<int>(RestoreStatus::kFailed);
    snprintf(item->detail, sizeof item->detail, "%s%s%s", thaw[k].message,
             thaw[k].detail && *thaw[k].detail ? ": " : "", thaw[k].detail ? thaw[k].detail : "");
    strlcpy(item->hint,
            thaw[k].hint && *thaw[k].hint
                ? thaw[k].hint
                : "The store refused to thaw this table's archived objects; see the detail.",
            sizeof item->hint);
  }
  if (summary.thawing == 0) return true;
  ereport(NOTICE,
          (errmsg("%d of %d archived objects of run %lld are thawing; nothing was restored",
                  summary.thawing, summary.archived, static_cast<long long>(options.run_id)),
           errdetail("%d thaw requests were sent now (tier %s, readable for %d days).",
                     summary.requested, summary.tier, summary.days),
           errhint("%s", ThawPendingHint("cdw_backup_restore()"))));
  for (int k = 0; k < count; k++) {
    RestoreItem *item = &job->items[k];
    if (!item->selected) continue;
    bool thawing = thaw[k].thawing > 0;
    bool failed = item->status == static_cast<int>(RestoreStatus::kFailed);
    Datum row[7];
    bool nulls[7] = {false, false, false, false, true, false, false};
    row[0] = CStringGetTextDatum(item->source_schema);
    row[1] = CStringGetTextDatum(item->source_table);
    row[2] = CStringGetTextDatum(
        psprintf("%s.%s", quote_identifier(into_database),
                 quote_qualified_identifier(item->dest_schema, item->dest_table)));
    row[3] = CStringGetTextDatum(thawing ? "thawing" : failed ? "failed" : "not restored");
    row[4] = (Datum)0;
    row[5] = CStringGetTextDatum(
        thawing  ? ThawPendingDetail(summary, thaw[k].thawing, thaw[k].archived)
        : failed ? item->detail
                 : "Its objects are readable; it is restored with the others once they are "
                   "thawed.");
    row[6] = CStringGetTextDatum(failed ? item->hint : ThawPendingHint("cdw_backup_restore()"));
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, row, nulls);
  }
  return false;
}

// Restores one database of the run into `into_database` (which exists) in a
// restore worker and adds its result rows. Inside SPI. False when nothing
// was restored because archived objects are still thawing (wait => false).
bool RestoreDatabase(ReturnSetInfo *rsinfo, const Target &target, const RunDatabase *source,
                     const RestoreOptions &options, const char *into_database, Oid database_id) {
  using namespace cdw::bgworker;
  int64 run_id = options.run_id;
  const char *database = source->name;
  const char *table_name = options.table_name;
  const char *into_table = options.into_table;
  const char *into_schema = options.into_schema;
  bool truncate = options.truncate;
  bool cascade = options.cascade;
  bool dry_run = options.dry_run;
  // The restore worker connects as the caller: refused here, with the
  // reason, what would only make the worker fail to start.
  RequireConnectable(database_id, into_database);
  bool manifest_authenticated = false;
  char *manifest = ReadManifest(target, source->manifest_key, options.allow_unauthenticated,
                                &manifest_authenticated);
  // The encoding of the parts' text: UTF8 since manifests have
  // "source_encoding"; older backups wrote the database's own and said so.
  {
    Oid encoding_types[1] = {TEXTOID};
    Datum encoding_values[1] = {CStringGetTextDatum(manifest)};
    SpiRun(
        "SELECT coalesce($1::pg_catalog.jsonb OPERATOR(pg_catalog.->>) 'encoding', "
        "'UTF8')",
        1, encoding_types, encoding_values, nullptr, true);
  }
  char *data_encoding = SpiText(0, 1);
  // With cascade, every table of the backup is a candidate the worker may
  // add when a named one's foreign keys need it; only named ones get rows.
  // Format 2: a table created by the restore comes with its schema objects
  // (restored under its own name only: the manifest's SQL names it).
  bool with_schema = !into_table && !into_schema && ManifestHasSchema(manifest);
  // A partitioned table comes with its partitions: every table is a
  // candidate, those of its tree are selected below.
  bool candidates = (cascade && truncate && table_name) || (with_schema && table_name);
  // A name that is no table of the backup may be a partitioned table (or an
  // inheritance parent) of the destination: the worker restores the
  // partitions of its tree that the backup holds, so every table of the
  // backup is a candidate.
  bool by_parent = false;
  const char *schema_name = options.schema_name;
  if (table_name) RefuseExcludedTable(manifest, table_name, run_id, database);
  for (;;) {
    Oid types[6] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, BOOLOID, TEXTOID};
    Datum values[6] = {CStringGetTextDatum(manifest),
                       table_name ? CStringGetTextDatum(table_name) : (Datum)0,
                       into_table ? CStringGetTextDatum(into_table) : (Datum)0,
                       into_schema ? CStringGetTextDatum(into_schema) : (Datum)0,
                       BoolGetDatum(candidates || by_parent),
                       schema_name ? CStringGetTextDatum(schema_name) : (Datum)0};
    char nulls[7] = "      ";
    if (!table_name) nulls[1] = 'n';
    if (!into_table) nulls[2] = 'n';
    if (!into_schema) nulls[3] = 'n';
    if (!schema_name) nulls[5] = 'n';
    // Column types stay as the manifest has them (name, type, not null
    // triples): the worker resolves each in the destination before use.
    SpiRun(
        "WITH m AS (SELECT $1::pg_catalog.jsonb AS m), "
        " wanted AS (SELECT CASE WHEN $2 IS NULL THEN NULL ELSE pg_catalog.parse_ident($2) END AS "
        "w), "
        " dest AS (SELECT CASE WHEN $3 IS NULL THEN NULL ELSE pg_catalog.parse_ident($3) END AS d) "
        "SELECT m OPERATOR(pg_catalog.->>) 'compression', "
        " (m OPERATOR(pg_catalog.->>) 'path') OPERATOR(pg_catalog.||) (t OPERATOR(pg_catalog.->>) "
        "'path'), "
        " t OPERATOR(pg_catalog.->>) 'schema', t OPERATOR(pg_catalog.->>) 'name', "
        " t OPERATOR(pg_catalog.->>) 'status', (t OPERATOR(pg_catalog.->>) "
        "'rows')::pg_catalog.int8, "
        " coalesce(CASE WHEN $4 IS NOT NULL THEN $4 "
        "   WHEN s.sel AND pg_catalog.array_length(d, 1) OPERATOR(pg_catalog.=) 2 THEN d[1] END, "
        "   t OPERATOR(pg_catalog.->>) 'schema'), "
        " coalesce(CASE WHEN s.sel THEN d[pg_catalog.array_length(d, 1)] END, "
        "   t OPERATOR(pg_catalog.->>) 'name'), "
        " s.sel, "
        " (SELECT pg_catalog.array_agg(coalesce(v, '') ORDER BY o, k) "
        "    FROM pg_catalog.jsonb_array_elements(t OPERATOR(pg_catalog.->) 'columns') "
        "      WITH ORDINALITY AS x(c, o), "
        "    LATERAL (VALUES (1, c OPERATOR(pg_catalog.->>) 'name'), "
        "                    (2, c OPERATOR(pg_catalog.->>) 'type'), "
        "                    (3, CASE WHEN (c OPERATOR(pg_catalog.->>) "
        "'not_null')::pg_catalog.bool "
        "                        THEN 't' ELSE 'f' END)) AS y(k, v)), "
        // Every object the manifest lists, by its key below the target's
        // root (a reference to an earlier run's object by its source), one
        // a line: the restore reads exactly these.
        " CASE WHEN pg_catalog.jsonb_typeof(t OPERATOR(pg_catalog.->) 'objects') "
        "   OPERATOR(pg_catalog.=) 'array' THEN coalesce((SELECT pg_catalog.string_agg("
        "     coalesce(o OPERATOR(pg_catalog.->>) 'source', (m OPERATOR(pg_catalog.->>) 'path') "
        "       OPERATOR(pg_catalog.||) (t OPERATOR(pg_catalog.->>) 'path') "
        "       OPERATOR(pg_catalog.||) (o OPERATOR(pg_catalog.->>) 'key')), E'\\n' ORDER BY n) "
        "   FROM pg_catalog.jsonb_array_elements(t OPERATOR(pg_catalog.->) 'objects') "
        "     WITH ORDINALITY AS z(o, n)), '') END "
        "FROM m, wanted, dest, pg_catalog.jsonb_array_elements(m OPERATOR(pg_catalog.->) 'tables') "
        "t, "
        " LATERAL (SELECT (w IS NULL AND ($6 IS NULL "
        "       OR t OPERATOR(pg_catalog.->>) 'schema' OPERATOR(pg_catalog.=) $6)) "
        "   OR (pg_catalog.array_length(w, 1) OPERATOR(pg_catalog.=) 2 "
        "       AND t OPERATOR(pg_catalog.->>) 'schema' OPERATOR(pg_catalog.=) w[1] "
        "       AND t OPERATOR(pg_catalog.->>) 'name' OPERATOR(pg_catalog.=) w[2]) "
        "   OR (pg_catalog.array_length(w, 1) OPERATOR(pg_catalog.=) 1 "
        "       AND t OPERATOR(pg_catalog.->>) 'name' OPERATOR(pg_catalog.=) w[1]) AS sel) s "
        "WHERE s.sel OR $5 "
        "ORDER BY 3, 4",
        6, types, values, nulls, true);
    int found = 0;
    for (uint64 i = 0; i < SPI_processed; i++)
      found += strcmp(SpiText(static_cast<int>(i), 9), "t") == 0;
    if (found > 0 || by_parent || !table_name || into_table || into_schema) break;
    by_parent = true;
  }
  int count = static_cast<int>(SPI_processed);
  int selected = 0;
  for (int i = 0; i < count; i++) selected += strcmp(SpiText(i, 9), "t") == 0;
  if (table_name && selected > 1)
    ereport(ERROR,
            (errcode(ERRCODE_AMBIGUOUS_PARAMETER),
             errmsg("table name \"%s\" matches %d tables of the backup", table_name, selected),
             errhint("Qualify it with its schema: schema.table.")));
  char ***rows = SpiTextRows();
  SPITupleTable *column_rows = SPI_tuptable;  // kept until SPI_finish
  // A partitioned table of the schema (no rows of its own, so not among the
  // backup's tables) comes back with its whole tree.
  bool *in_tree = static_cast<bool *>(palloc0(sizeof(bool) * (count + 1)));
  bool *no_data = static_cast<bool *>(palloc0(sizeof(bool) * (count + 1)));
  char *parent_schema = nullptr, *parent_name = nullptr;
  if (with_schema && table_name && selected == 0 &&
      SchemaOnlyTable(manifest, table_name, &parent_schema, &parent_name)) {
    by_parent = false;
    char ***more = static_cast<char ***>(palloc(sizeof(char **) * (count + 1)));
    for (int i = 0; i < count; i++) more[i] = rows[i];
    more[count] = static_cast<char **>(palloc0(sizeof(char *) * 11));
    more[count][0] = count > 0 ? rows[0][0] : pstrdup("none");
    more[count][1] = pstrdup("");
    more[count][2] = parent_schema;
    more[count][3] = parent_name;
    more[count][4] = pstrdup("succeeded");
    more[count][5] = pstrdup("0");
    more[count][6] = parent_schema;
    more[count][7] = parent_name;
    more[count][8] = pstrdup("t");
    no_data[count] = true;
    in_tree[count] = true;
    rows = more;
    count++;
    selected = 1;
  }
  if (with_schema && table_name && selected > 0) {
    // Cells: 3 schema, 4 name, 9 selected (1-based as in the query).
    char **named_schemas = static_cast<char **>(palloc(sizeof(char *) * count));
    char **named_tables = static_cast<char **>(palloc(sizeof(char *) * count));
    int named = 0;
    for (int i = 0; i < count; i++)
      if (strcmp(rows[i][8], "t") == 0) {
        named_schemas[named] = rows[i][2];
        named_tables[named++] = rows[i][3];
      }
    Datum *ds = static_cast<Datum *>(palloc(sizeof(Datum) * named));
    Datum *dn = static_cast<Datum *>(palloc(sizeof(Datum) * named));
    for (int i = 0; i < named; i++) {
      ds[i] = CStringGetTextDatum(named_schemas[i]);
      dn[i] = CStringGetTextDatum(named_tables[i]);
    }
    ArrayType *tree_schemas, *tree_tables;
    PartitionsOf(manifest, construct_array(ds, named, TEXTOID, -1, false, TYPALIGN_INT),
                 construct_array(dn, named, TEXTOID, -1, false, TYPALIGN_INT), &tree_schemas,
                 &tree_tables);
    Datum *ts, *tt;
    int tree_count, tree_count2;
    deconstruct_array(tree_schemas, TEXTOID, -1, false, TYPALIGN_INT, &ts, nullptr, &tree_count);
    deconstruct_array(tree_tables, TEXTOID, -1, false, TYPALIGN_INT, &tt, nullptr, &tree_count2);
    // Partitioned tables inside the tree hold no rows either: they are
    // created from the schema like its root.
    int capacity = count + tree_count;
    char ***grown = static_cast<char ***>(palloc(sizeof(char **) * capacity));
    bool *grown_tree = static_cast<bool *>(palloc0(sizeof(bool) * capacity));
    bool *grown_no_data = static_cast<bool *>(palloc0(sizeof(bool) * capacity));
    for (int i = 0; i < count; i++) {
      grown[i] = rows[i];
      grown_tree[i] = in_tree[i];
      grown_no_data[i] = no_data[i];
    }
    for (int k = 0; k < tree_count && k < tree_count2; k++) {
      char *tree_schema = TextDatumGetCString(ts[k]);
      char *tree_table = TextDatumGetCString(tt[k]);
      bool found_row = false;
      for (int i = 0; i < count; i++)
        if (strcmp(grown[i][2], tree_schema) == 0 && strcmp(grown[i][3], tree_table) == 0) {
          if (strcmp(grown[i][8], "t") != 0 || tree_count > 1) grown_tree[i] = true;
          grown[i][8] = pstrdup("t");
          found_row = true;
        }
      if (found_row) continue;
      grown[count] = static_cast<char **>(palloc0(sizeof(char *) * 11));
      grown[count][0] = count > 0 ? grown[0][0] : pstrdup("none");
      grown[count][1] = pstrdup("");
      grown[count][2] = grown[count][6] = tree_schema;
      grown[count][3] = grown[count][7] = tree_table;
      grown[count][4] = pstrdup("succeeded");
      grown[count][5] = pstrdup("0");
      grown[count][8] = pstrdup("t");
      grown_tree[count] = grown_no_data[count] = true;
      count++;
    }
    rows = grown;
    in_tree = grown_tree;
    no_data = grown_no_data;
  }
  if (selected == 0 && !by_parent && schema_name && !table_name) {
    RefuseExcludedSchema(manifest, schema_name, run_id, database);
    ereport(ERROR,
            (errcode(ERRCODE_UNDEFINED_TABLE),
             errmsg("run %lld has no table in schema %s of database \"%s\"",
                    static_cast<long long>(run_id), quote_identifier(schema_name), database),
             errhint("Name the schema exactly as listed in cdw_backup.run_tables.schema_name "
                     "(case matters).")));
  }
  if (selected == 0 && !by_parent)
    ereport(ERROR,
            (errcode(ERRCODE_UNDEFINED_TABLE),
             errmsg("run %lld has no table %s in database \"%s\"", static_cast<long long>(run_id),
                    table_name ? table_name : "at all", database),
             errhint("Name the table as schema.table, as listed in cdw_backup.run_tables.")));
  constexpr int kCells = 9;
  char ***cells = static_cast<char ***>(palloc(sizeof(char **) * count));
  // Each table's columns: name, type, not null, packed NUL-separated.
  char **packed = static_cast<char **>(palloc(sizeof(char *) * count));
  Size *packed_len = static_cast<Size *>(palloc0(sizeof(Size) * count));
  int *column_count = static_cast<int *>(palloc0(sizeof(int) * count));
  // The objects to read, one key a line; NULL: every part under the path.
  char **part_keys = static_cast<char **>(palloc0(sizeof(char *) * count));
  Size strings = 0;
  for (int i = 0; i < count; i++) {
    cells[i] = static_cast<char **>(palloc(sizeof(char *) * kCells));
    for (int c = 0; c < kCells; c++) {
      cells[i][c] = rows[i][c];
      if (!cells[i][c]) cells[i][c] = pstrdup("");
      strings += strlen(cells[i][c]) + 1;
    }
    bool isnull = true;
    Datum array = (Datum)0;
    if (!no_data[i]) array = SPI_getbinval(column_rows->vals[i], column_rows->tupdesc, 10, &isnull);
    Datum *elements = nullptr;
    int n = 0;
    if (!isnull)
      deconstruct_array(DatumGetArrayTypeP(array), TEXTOID, -1, false, TYPALIGN_INT, &elements,
                        nullptr, &n);
    StringInfoData buffer;
    initStringInfo(&buffer);
    for (int e = 0; e < n; e++) {
      char *cell = TextDatumGetCString(elements[e]);
      appendBinaryStringInfo(&buffer, cell, static_cast<int>(strlen(cell)) + 1);
    }
    packed[i] = buffer.data;
    packed_len[i] = static_cast<Size>(buffer.len);
    column_count[i] = n / 3;
    strings += packed_len[i] + 1;
    part_keys[i] = no_data[i] ? nullptr : rows[i][10];
    strings += (part_keys[i] ? strlen(part_keys[i]) : 0) + 1;
  }
  char **objects = static_cast<char **>(palloc0(sizeof(char *) * count));
  Size *objects_len = static_cast<Size *>(palloc0(sizeof(Size) * count));
  int *object_count = static_cast<int *>(palloc0(sizeof(int) * count));
  int *position = static_cast<int *>(palloc(sizeof(int) * count));
  for (int i = 0; i < count; i++) position[i] = i;
  int failure_capacity = count + 16;
  if (with_schema) {
    char **schemas = static_cast<char **>(palloc(sizeof(char *) * count));
    char **tables = static_cast<char **>(palloc(sizeof(char *) * count));
    for (int i = 0; i < count; i++) {
      schemas[i] = cells[i][2];
      tables[i] = cells[i][3];
    }
    CollectTableObjects(manifest, count, schemas, tables, objects, objects_len, object_count);
    for (int i = 0; i < count; i++) {
      strings += objects_len[i] + 1;
      failure_capacity += object_count[i];
    }
    // Parents before their partitions: the manifest's order of creation.
    int *order = static_cast<int *>(palloc(sizeof(int) * count));
    TableCreationOrder(manifest, count, schemas, tables, order);
    for (int i = 1; i < count; i++)
      for (int k = i; k > 0 && order[position[k]] < order[position[k - 1]]; k--)
        std::swap(position[k], position[k - 1]);
  }

  // A whole database (no table or schema named) with a schema in its
  // manifest: its roles and objects become the job's schema steps, in
  // order (bgworker/restore/schema_restore.h).
  int step_count = 0;
  char ***steps = nullptr;
  if (with_schema && !table_name && !options.schema_name) {
    Oid step_types[1] = {TEXTOID};
    Datum step_values[1] = {CStringGetTextDatum(manifest)};
    SpiRun(
        "SELECT 0, 'ROLE', '', r OPERATOR(pg_catalog.->>) 'name', '', 0 AS part, x.n "
        "FROM pg_catalog.jsonb_array_elements($1::pg_catalog.jsonb OPERATOR(pg_catalog.#>) "
        "'{schema,roles}') WITH ORDINALITY AS x(r, n) "
        "UNION ALL SELECT CASE WHEN o OPERATOR(pg_catalog.->>) 'section' OPERATOR(pg_catalog.=) "
        "'pre-data' THEN 0 WHEN o OPERATOR(pg_catalog.->>) 'section' OPERATOR(pg_catalog.=) "
        "'data' THEN 1 ELSE 2 END, o OPERATOR(pg_catalog.->>) 'kind', "
        "COALESCE(o OPERATOR(pg_catalog.->>) 'schema', ''), "
        "COALESCE(o OPERATOR(pg_catalog.->>) 'name', ''), "
        "COALESCE(o OPERATOR(pg_catalog.->>) 'sql', ''), 1, y.n "
        "FROM pg_catalog.jsonb_array_elements($1::pg_catalog.jsonb OPERATOR(pg_catalog.#>) "
        "'{schema,objects}') WITH ORDINALITY AS y(o, n) ORDER BY 6, 7",
        1, step_types, step_values, nullptr, true);
    step_count = static_cast<int>(SPI_processed);
    steps = SpiTextRows();
    for (int i = 0; i < step_count; i++)
      for (int c = 1; c <= 4; c++) strings += strlen(steps[i][c] ? steps[i][c] : "") + 1;
  }

  Size items_size = MAXALIGN(offsetof(RestoreJob, items) + sizeof(RestoreItem) * count);
  Size failures_size = MAXALIGN(sizeof(ObjectFailure) * failure_capacity);
  Size header = items_size + failures_size + MAXALIGN(sizeof(SchemaStep) * step_count);
  dsm_segment *segment = dsm_create(header + strings, 0);
  auto *job = static_cast<RestoreJob *>(dsm_segment_address(segment));
  memset(job, 0, header);
  job->database_id = database_id;
  job->role_id = GetUserId();
  // Checked copies: a target added before its fields were limited, or a
  // manifest with an over-long name, is an error rather than a cut value.
  CopyBounded(job->location, sizeof job->location, target.location, "target location");
  CopyBounded(job->store_options, sizeof job->store_options, target.options, "target options");
  CopyBounded(job->secret_id, sizeof job->secret_id, target.secret_id, "secret_id");
  CopyBounded(job->secret_key, sizeof job->secret_key, target.secret_key, "secret_key");
  CopyBounded(job->session_token, sizeof job->session_token, target.session_token, "session_token");
  CopyBounded(job->sse_customer_key, sizeof job->sse_customer_key, target.sse_customer_key,
              "sse_customer_key");
  CopyBounded(job->encryption_keys, sizeof job->encryption_keys, target.encryption_keys,
              "encryption keys");
  // What an unauthenticated manifest says is never turned into DDL.
  job->unauthenticated = !options.index_authenticated || !manifest_authenticated;
  CopyBounded(job->compression, sizeof job->compression, cells[0][0], "manifest compression");
  // The job's text is this database's; the parts' is the manifest's.
  job->text_encoding = GetDatabaseEncoding();
  CopyBounded(job->data_encoding, sizeof job->data_encoding, data_encoding, "manifest encoding");
  job->truncate = truncate;
  job->cascade = cascade;
  if (by_parent) {
    List *parts = stringToQualifiedNameList(table_name);
    job->by_parent = true;
    if (list_length(parts) == 2)
      strlcpy(job->parent_schema, strVal(linitial(parts)), sizeof job->parent_schema);
    strlcpy(job->parent_table, strVal(llast(parts)), sizeof job->parent_table);
  }
  job->dry_run = dry_run;
  job->count = count;
  job->failure_capacity = failure_capacity;
  job->failures_offset = static_cast<uint32>(items_size);
  job->strings_offset = static_cast<uint32>(header);
  char *area = reinterpret_cast<char *>(job) + header;
  uint32 used = 0;
  auto put = [&](const char *s, Size len) {
    uint32 offset = used;
    memcpy(area + used, s, len);
    area[used + len] = '\0';
    used += static_cast<uint32>(len + 1);
    return offset;
  };
  job->schema_count = step_count;
  job->schema_offset = static_cast<uint32>(items_size + failures_size);
  job->create_roles = options.create_roles;
  for (int i = 0; i < step_count; i++) {
    SchemaStep *step = &SchemaSteps(job)[i];
    auto text = [&](int c) { return steps[i][c] ? steps[i][c] : ""; };
    step->section = atoi(text(0));
    step->kind_offset = put(text(1), strlen(text(1)));
    step->schema_offset = put(text(2), strlen(text(2)));
    step->name_offset = put(text(3), strlen(text(3)));
    step->sql_offset = put(text(4), strlen(text(4)));
  }
  int tree_root = -1;  // a partition tree is restored in one transaction, all pre-data first
  for (int k = 0; k < count; k++) {
    RestoreItem *item = &job->items[k];
    int i = position[k];
    item->group_with = -1;
    if (in_tree[i]) {
      if (tree_root < 0) tree_root = k;
      item->group_with = tree_root;
    }
    item->no_data = no_data[i];
    item->objects_offset = put(objects[i] ? objects[i] : "", objects_len[i]);
    item->object_count = object_count[i];
    // Names in this database's encoding may take more than NAMEDATALEN - 1
    // bytes (from a LATIN1 database, 'é' takes two here): the worker checks
    // each in the destination's encoding, where it must fit (restore_job.h).
    CopyBounded(item->source_schema, sizeof item->source_schema, cells[i][2],
                "schema name in the manifest");
    CopyBounded(item->source_table, sizeof item->source_table, cells[i][3],
                "table name in the manifest");
    // A destination name the caller gave is checked here, as before.
    if (strcmp(cells[i][6], cells[i][2]) != 0)
      CopyName(item->dest_schema, cells[i][6], "destination schema name");
    else
      CopyBounded(item->dest_schema, sizeof item->dest_schema, cells[i][6],
                  "destination schema name");
    if (strcmp(cells[i][7], cells[i][3]) != 0)
      CopyName(item->dest_table, cells[i][7], "destination table name");
    else
      CopyBounded(item->dest_table, sizeof item->dest_table, cells[i][7], "destination table name");
    item->selected = strcmp(cells[i][8], "t") == 0;
    item->expected_rows = atoll(cells[i][5]);
    item->path_offset = put(cells[i][1], strlen(cells[i][1]));
    item->has_parts = part_keys[i] != nullptr;
    item->parts_offset =
        put(part_keys[i] ? part_keys[i] : "", part_keys[i] ? strlen(part_keys[i]) : 0);
    item->columns_offset = put(packed[i], packed_len[i]);
    item->column_count = column_count[i];
    if (strcmp(cells[i][4], "succeeded") != 0) {
      item->status = static_cast<int>(RestoreStatus::kSkipped);
      strlcpy(item->detail, "the table failed in this run, so the backup holds no data for it",
              sizeof item->detail);
      strlcpy(item->hint, "Restore it from another run: cdw_backup_list() shows them.",
              sizeof item->hint);
    }
  }
  // A table whose rows the run's filters left out comes back empty: its
  // row says why, so that 0 rows is not mistaken for a loss. (The manifest
  // is parsed again only if it can hold such a table.)
  if (strstr(manifest, "\"data_excluded_by\"")) {
    Oid types[1] = {TEXTOID};
    Datum values[1] = {CStringGetTextDatum(manifest)};
    SpiRun(
        "SELECT t OPERATOR(pg_catalog.->>) 'schema', t OPERATOR(pg_catalog.->>) 'name', "
        " t OPERATOR(pg_catalog.->>) 'data_excluded_by' "
        "FROM pg_catalog.jsonb_array_elements($1::pg_catalog.jsonb OPERATOR(pg_catalog.->) "
        " 'tables') t WHERE t OPERATOR(pg_catalog.?) 'data_excluded_by'",
        1, types, values, nullptr, true);
    for (uint64 r = 0; r < SPI_processed; r++) {
      const char *schema = SpiText(static_cast<int>(r), 1);
      const char *table = SpiText(static_cast<int>(r), 2);
      const char *by = SpiText(static_cast<int>(r), 3);
      for (int k = 0; schema && table && k < count; k++) {
        RestoreItem *item = &job->items[k];
        if (item->detail[0] || strcmp(item->source_schema, schema) != 0 ||
            strcmp(item->source_table, table) != 0)
          continue;
        snprintf(item->detail, sizeof item->detail,
                 "created empty: the backup holds its definition, not its rows (excluded by %s)",
                 by ? by : "a filter");
      }
    }
  }

  if (!ThawForRestore(rsinfo, target, job, options, database, into_database)) {
    dsm_detach(segment);
    return false;
  }
  RunDynamicWorkerToEnd("cdw_backup_restore_worker", "cdw_backup restore",
                        psprintf("cdw_backup restore of run %lld into %s",
                                 static_cast<long long>(run_id), into_database),
                        UInt32GetDatum(dsm_segment_handle(segment)), "the restore");

  if (job->by_parent && !job->parent_found)
    ereport(ERROR,
            (errcode(ERRCODE_UNDEFINED_TABLE),
             errmsg("run %lld has no table %s in database \"%s\"", static_cast<long long>(run_id),
                    table_name, database),
             errdetail("Nor is it a partitioned table of database \"%s\" with partitions in the "
                       "backup.",
                       into_database),
             errhint("Name the table as schema.table, as listed in cdw_backup.run_tables.")));
  if (job->refused)
    ereport(ERROR, (errcode(MAKE_SQLSTATE(job->refused_sqlstate[0], job->refused_sqlstate[1],
                                          job->refused_sqlstate[2], job->refused_sqlstate[3],
                                          job->refused_sqlstate[4])),
                    errmsg("%s", job->refused_message), errdetail("%s", job->refused_detail),
                    errhint("%s", job->refused_hint)));
  static const char *kStatus[] = {"not restored", "restored", "failed",
                                  "checked",      "skipped",  "refused"};
  for (int i = 0; i < count; i++) {
    RestoreItem *item = &job->items[i];
    if (!item->selected) continue;
    bool done = item->status == static_cast<int>(RestoreStatus::kRestored) ||
                item->status == static_cast<int>(RestoreStatus::kChecked);
    // Every table that was not restored says why and what to do.
    if (!done && item->detail[0] == '\0')
      snprintf(item->detail, sizeof item->detail,
               "the restore worker in database %s stopped before it restored this table",
               quote_identifier(into_database));
    if (!done && item->hint[0] == '\0')
      strlcpy(item->hint,
              "The server log of that database says why; fix it and restore the table again "
              "(dry_run => true checks first).",
              sizeof item->hint);
    Datum row[7];
    bool row_nulls[7] = {false, false, false, false, false, false, false};
    row[0] = CStringGetTextDatum(item->source_schema);
    row[1] = CStringGetTextDatum(item->source_table);
    row[2] = CStringGetTextDatum(
        psprintf("%s.%s", quote_identifier(into_database),
                 quote_qualified_identifier(item->dest_schema, item->dest_table)));
    row[3] = CStringGetTextDatum(kStatus[item->status]);
    row[4] = Int64GetDatum(item->rows);
    row_nulls[4] = item->status != static_cast<int>(RestoreStatus::kRestored) &&
                   item->status != static_cast<int>(RestoreStatus::kChecked);
    row[5] = CStringGetTextDatum(item->detail);
    row_nulls[5] = item->detail[0] == '\0';
    row[6] = CStringGetTextDatum(item->hint);
    row_nulls[6] = item->hint[0] == '\0';
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, row, row_nulls);
  }
  // The schema objects that failed, each one more row of its table.
  for (int f = 0; f < job->failure_count; f++) {
    const ObjectFailure *failure = &ObjectFailures(job)[f];
    const RestoreItem *item = &job->items[failure->item];
    Datum row[7];
    bool row_nulls[7] = {false, false, false, false, true, false, false};
    row[0] = CStringGetTextDatum(item->source_schema);
    row[1] = CStringGetTextDatum(item->source_table);
    row[2] = CStringGetTextDatum(
        psprintf("%s.%s", quote_identifier(into_database),
                 quote_qualified_identifier(item->dest_schema, item->dest_table)));
    row[3] = CStringGetTextDatum("failed");
    row[4] = (Datum)0;
    row[5] = CStringGetTextDatum(failure->detail);
    row[6] = CStringGetTextDatum(failure->hint);
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, row, row_nulls);
  }
  // Schema steps of a whole database: a row for each that failed and for
  // each role created.
  for (int i = 0; i < job->schema_count; i++) {
    SchemaStep *step = &SchemaSteps(job)[i];
    const char *kind = RestoreString(job, step->kind_offset);
    bool role = strcmp(kind, "ROLE") == 0;
    bool failed = step->status == static_cast<int>(RestoreStatus::kFailed);
    if (!failed && !(role && step->status == static_cast<int>(RestoreStatus::kRestored))) continue;
    const char *schema = RestoreString(job, step->schema_offset);
    const char *name = RestoreString(job, step->name_offset);
    Datum row[7];
    bool row_nulls[7] = {*schema == '\0', false, false, false, true, false, step->hint[0] == '\0'};
    row[0] = CStringGetTextDatum(schema);
    row[1] = CStringGetTextDatum(name);
    row[2] = CStringGetTextDatum(role ? psprintf("ROLE %s", quote_identifier(name))
                                      : psprintf("%s %s.%s", kind, quote_identifier(into_database),
                                                 *schema ? quote_qualified_identifier(schema, name)
                                                         : quote_identifier(name)));
    row[3] = CStringGetTextDatum(failed ? "failed" : "created");
    row[4] = (Datum)0;
    row[5] = CStringGetTextDatum(failed ? step->detail : "created NOLOGIN (create_roles => true)");
    row[6] = CStringGetTextDatum(step->hint);
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, row, row_nulls);
  }
  dsm_detach(segment);
  return true;
}

// The CREATE DATABASE that recreates a backed-up database as its manifest
// describes it (encoding, locale), owned by the caller.
char *CreateDatabaseStatement(const char *manifest, const char *name) {
  Oid types[1] = {TEXTOID};
  Datum values[1] = {CStringGetTextDatum(manifest)};
  SpiRun(
      // The database's encoding: source_encoding ("encoding" is the parts'
      // text's, which was the database's own before source_encoding existed).
      "SELECT coalesce(m OPERATOR(pg_catalog.->>) 'source_encoding', "
      "    m OPERATOR(pg_catalog.->>) 'encoding'), m OPERATOR(pg_catalog.->>) 'lc_collate', "
      "  m OPERATOR(pg_catalog.->>) 'lc_ctype', m OPERATOR(pg_catalog.->>) 'locale_provider', "
      "  m OPERATOR(pg_catalog.->>) 'icu_locale' "
      "FROM (SELECT $1::pg_catalog.jsonb AS m) x",
      1, types, values, nullptr, true);
  const char *encoding = SpiText(0, 1);
  const char *collate = SpiText(0, 2);
  const char *ctype = SpiText(0, 3);
  const char *provider = SpiText(0, 4);
  const char *icu_locale = SpiText(0, 5);
  StringInfoData sql;
  initStringInfo(&sql);
  appendStringInfo(&sql, "CREATE DATABASE %s TEMPLATE template0", quote_identifier(name));
  if (encoding) {
    if (pg_valid_server_encoding(encoding) < 0)
      ereport(ERROR,
              (errcode(ERRCODE_DATA_CORRUPTED),
               errmsg("the manifest of database \"%s\" names encoding \"%s\"", name, encoding),
               errdetail("That is not a server encoding of this PostgreSQL."),
               errhint("Create the database yourself, then restore into it with "
                       "into_database => '...'.")));
    appendStringInfo(&sql, " ENCODING %s", quote_literal_cstr(encoding));
  }
  if (collate) appendStringInfo(&sql, " LC_COLLATE %s", quote_literal_cstr(collate));
  if (ctype) appendStringInfo(&sql, " LC_CTYPE %s", quote_literal_cstr(ctype));
  if (provider && strcmp(provider, "icu") == 0) {
    appendStringInfoString(&sql, " LOCALE_PROVIDER icu");
    if (icu_locale) appendStringInfo(&sql, " ICU_LOCALE %s", quote_literal_cstr(icu_locale));
  }
  return sql.data;
}

// The destination database's oid, creating it from the manifest when it is
// missing and this is a whole-database restore; `*created` says so.
Oid DestinationDatabase(const Target &target, const RunDatabase *source,
                        const RestoreOptions &options, const char *into_database, bool *created) {
  *created = false;
  Oid database_id = get_database_oid(into_database, true);
  if (OidIsValid(database_id)) return database_id;
  if (options.table_name || options.into_schema || options.schema_name)
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_DATABASE),
                    errmsg("database \"%s\" does not exist", into_database),
                    errhint("CREATE DATABASE %s; first (a restore of a whole database creates it).",
                            quote_identifier(into_database))));
  bool authenticated = false;
  char *manifest =
      ReadManifest(target, source->manifest_key, options.allow_unauthenticated, &authenticated);
  if (!authenticated || !options.index_authenticated)
    ereport(
        ERROR,
        (errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
         errmsg("database \"%s\" does not exist, and an unauthenticated manifest creates "
                "nothing",
                into_database),
         errdetail("The backup's manifest or run index has no MAC (allow_unauthenticated => "
                   "true): its definitions are not trusted as DDL."),
         errhint("CREATE DATABASE %s; first and restore again.", quote_identifier(into_database))));
  char *statement = CreateDatabaseStatement(manifest, into_database);
  cdw::bgworker::restore::RunDatabaseCommand(
      statement, psprintf("Restoring a whole database creates it as the calling role, which "
                          "needs CREATEDB; or CREATE DATABASE %s; first and restore again.",
                          quote_identifier(into_database)));
  *created = true;
  // The worker committed it: see it in this transaction's catalog lookups.
  AcceptInvalidationMessages();
  InvalidateCatalogSnapshot();
  return get_database_oid(into_database, false);
}

}  // namespace
}  // namespace cdw::control

CDW_SQL_FUNCTION(cdw_backup_restore) {
  // Also for the name parsing and lookups below.
  int search_path = cdw::pg::PinSearchPath();
  RequireOperator("restore backups");
  RequireHomeDatabase("cdw_backup_restore()");
  if (PG_ARGISNULL(0))
    ereport(ERROR,
            (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("run_id is required"),
             errhint("SELECT * FROM cdw_backup_restore(run_id => 42, database => 'sales');")));
  RestoreOptions options{};
  options.run_id = PG_GETARG_INT64(0);
  // database NULL: every database of the run, each into its own name.
  char *database = PG_ARGISNULL(1) ? nullptr : text_to_cstring(PG_GETARG_TEXT_PP(1));
  options.table_name = PG_ARGISNULL(2) ? nullptr : text_to_cstring(PG_GETARG_TEXT_PP(2));
  options.into_table = PG_ARGISNULL(3) ? nullptr : text_to_cstring(PG_GETARG_TEXT_PP(3));
  options.into_schema = PG_ARGISNULL(4) ? nullptr : text_to_cstring(PG_GETARG_TEXT_PP(4));
  char *into_database = PG_ARGISNULL(5) ? database : text_to_cstring(PG_GETARG_TEXT_PP(5));
  options.truncate = !PG_ARGISNULL(6) && PG_GETARG_BOOL(6);
  options.dry_run = !PG_ARGISNULL(7) && PG_GETARG_BOOL(7);
  const char *target_name = PG_ARGISNULL(8) ? nullptr : text_to_cstring(PG_GETARG_TEXT_PP(8));
  options.cascade = !PG_ARGISNULL(9) && PG_GETARG_BOOL(9);
  options.schema_name = PG_ARGISNULL(10) ? nullptr : text_to_cstring(PG_GETARG_TEXT_PP(10));
  options.allow_unauthenticated = !PG_ARGISNULL(11) && PG_GETARG_BOOL(11);
  options.create_roles = !PG_ARGISNULL(12) && PG_GETARG_BOOL(12);
  options.thaw = ThawArgumentsFrom(fcinfo, 13);
  if (options.schema_name && options.table_name)
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                    errmsg("table_name and schema cannot be used together"),
                    errhint("schema => 'sales' restores every table of schema sales; name one "
                            "table as table_name => 'sales.orders'.")));
  const char *table_name = options.table_name;
  const char *into_table = options.into_table;
  const char *into_schema = options.into_schema;
  if (!database &&
      (table_name || into_table || into_schema || options.schema_name || !PG_ARGISNULL(5)))
    ereport(ERROR,
            (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
             errmsg("database => NULL restores every database of the run as it was"),
             errdetail("table_name, into_table, into_schema and into_database need one database."),
             errhint("Name the database: cdw_backup_restore(42, 'sales', ...).")));
  if (options.cascade && !options.truncate)
    ereport(ERROR,
            (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("cascade needs truncate => true"),
             errhint("cascade => true adds the tables whose foreign keys reference a "
                     "table that truncate => true empties.")));
  if (into_schema) {
    cdw::pg::CheckNameLength(into_schema, "into_schema");
    if (into_schema[0] == '\0')
      ereport(ERROR,
              (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("into_schema must not be empty"),
               errhint("Name a schema, as in into_schema => 'restored', or leave it out.")));
  }
  if (into_table && into_schema)
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                    errmsg("into_table and into_schema cannot be used together"),
                    errhint("Use into_table => 'schema.table' to name both.")));
  if (into_table && !table_name)
    ereport(ERROR,
            (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("into_table needs table_name"),
             errhint("into_table renames one table: pass table_name => 'schema.table' too.")));
  if (into_table) {
    List *parts = stringToQualifiedNameList(into_table);
    if (list_length(parts) > 2)
      ereport(ERROR,
              (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
               errmsg("into_table \"%s\" has too many dotted names", into_table),
               errhint("Use into_table => 'table' or 'schema.table'; to restore into another "
                       "database pass into_database.")));
  }
  // Only a whole database is created when missing: say so before reading the target.
  if (database && (table_name || into_schema || options.schema_name) &&
      !OidIsValid(get_database_oid(into_database, true)))
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_DATABASE),
                    errmsg("database \"%s\" does not exist", into_database),
                    errhint("CREATE DATABASE %s; first (a restore of a whole database creates it).",
                            quote_identifier(into_database))));
  InitMaterializedSRF(fcinfo, 0);
  auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);

  SPI_connect();
  Target target;
  char *run_path = nullptr;
  List *databases = FindRun(options.run_id, target_name, &target, &run_path,
                            options.allow_unauthenticated, &options.index_authenticated);
  int restored = 0;
  ListCell *cell;
  foreach (cell, databases) {
    auto *source = static_cast<RunDatabase *>(lfirst(cell));
    if (database && strcmp(source->name, database) != 0) continue;
    const char *destination = database ? into_database : source->name;
    bool created = false;
    Oid database_id = DestinationDatabase(target, source, options, destination, &created);
    bool done = RestoreDatabase(rsinfo, target, source, options, destination, database_id);
    // A dry run leaves nothing behind, not even the database it checked in;
    // nor does a restore that waits for a thaw (the next call creates it).
    if (created && (options.dry_run || !done))
      cdw::bgworker::restore::RunDatabaseCommand(
          psprintf("DROP DATABASE %s", quote_identifier(destination)),
          "The dry run created it to check the restore in; drop it with DROP DATABASE.");
    restored++;
  }
  if (restored == 0)
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                    errmsg("run %lld has no complete backup of database \"%s\"",
                           static_cast<long long>(options.run_id), database ? database : "*"),
                    errhint("SELECT * FROM cdw_backup_list(); shows the databases of each run.")));
  SPI_finish();
  cdw::pg::UnpinSearchPath(search_path);
  return (Datum)0;
}
