// Settling what runs left on their targets (see run_cleanup.h).
extern "C" {
#include "postgres.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
}

#include <chrono>
#include <string>
#include <vector>

#include "bgworker/run_cleanup.h"
#include "bgworker/shared_state.h"
#include "extension/control/spi_util.h"
#include "extension/control/target_store.h"
#include "extension/pg/cpp_boundary.h"
#include "extension/pg/open_store.h"
#include "format/layout.h"
#include "common/error.h"
#include "manifest/authentication.h"
#include "manifest/manifest.h"
#include "storage/run_cleanup.h"

namespace cdw::bgworker {
namespace {

using control::SpiRun;
using control::SpiText;

struct RunTarget {
  const char *location;  // the target's root URL
  const char *options;   // "key\tvalue\n"
  const char *secret_id;
  const char *secret_key;
  const char *session_token;
  const char *sse_customer_key;
  const char *encryption_keys;  // the key ring, one key a line
};

// The key of `url` relative to `root` (a target location), or NULL when the
// URL is not under it (the target's location changed since the run).
char *KeyUnder(const char *root, const char *url) {
  size_t len = strlen(root);
  while (len > 0 && root[len - 1] == '/') len--;
  if (strncmp(url, root, len) != 0 || url[len] != '/') return nullptr;
  return pstrdup(url + len + 1);
}

struct Outcome {
  int64 removed;
  int left_count;
  char **left;  // URLs
  char *error;  // NULL when every removal worked
  bool listed;  // false: the run's objects could not even be listed
  bool out_of_time;
};

// Reads a kept database's manifest into the keys it lists (itself and its
// detached MAC included); false when it cannot be read or parsed, and then
// the database is kept whole.
bool ListManifest(ObjectStore *store, const std::string &manifest_key, KeptDatabase *database,
                  std::string *error) {
  try {
    auto source = store->Open(manifest_key);
    std::string json;
    char buffer[1 << 16];
    while (size_t n = source->Read(buffer, sizeof buffer)) json.append(buffer, n);
    DatabaseManifest manifest = ParseManifest(json);
    database->keys.push_back(manifest_key);
    database->keys.push_back(manifest_key + kMacSuffix);
    // References to earlier runs' objects resolve outside this run's prefix:
    // never candidates for removal here.
    for (const auto &table : manifest.tables)
      for (const auto &object : table.objects)
        database->keys.push_back(ObjectKey(database->prefix, table.path, object));
    database->listing_known = true;
    return true;
  } catch (const Interrupted &) {
    throw;
  } catch (const std::exception &e) {
    *error = "could not read manifest " + store->Url(manifest_key) + ": " + e.what();
    return false;
  }
}

// Lists the run's objects and removes those no kept manifest lists.
// `manifest_keys` are the manifests of the databases the history keeps.
Outcome Sweep(const RunTarget &target, const char *run_key, char **manifest_keys,
              int manifest_count, std::chrono::steady_clock::time_point deadline) {
  Outcome out{0, 0, nullptr, nullptr, false, false};
  pg::PendingError pending;
  try {
    auto store =
        pg::OpenTargetStore(target.location, target.options, target.secret_id, target.secret_key,
                            target.session_token, target.sse_customer_key, target.encryption_keys);
    std::vector<KeptDatabase> databases;
    std::string error;
    for (int d = 0; d < manifest_count; d++) {
      std::string key = manifest_keys[d];
      KeptDatabase database;
      database.prefix = key.substr(0, key.size() - strlen(kManifestName));
      std::string why;
      // Unreadable now (storage error): keep it whole, try again next time.
      if (!ListManifest(store.get(), key, &database, &why) && error.empty()) error = why;
      databases.push_back(std::move(database));
    }
    // What interrupted writers left (temporary files, open multipart uploads).
    size_t incomplete = store->DiscardIncomplete(run_key);
    std::vector<ObjectInfo> objects = store->List(run_key);
    out.listed = true;
    RemovalOutcome removal =
        RemoveObjects(store.get(), UnlistedObjects(objects, databases), deadline);
    if (error.empty()) error = removal.error;
    std::vector<std::string> urls;
    for (const auto &key : removal.left) urls.push_back(store->Url(key));
    out.removed = static_cast<int64>(removal.removed + incomplete);
    out.out_of_time = removal.out_of_time;
    pg::PgCall([&] {
      out.left = static_cast<char **>(palloc(sizeof(char *) * (urls.size() + 1)));
      for (const auto &url : urls) out.left[out.left_count++] = pstrdup(url.c_str());
      if (!error.empty()) out.error = pstrdup(error.c_str());
    });
  } catch (...) {
    pg::CapturePendingError(&pending);
  }
  if (pending.set && (pending.interrupted || pending.pg_error)) pg::RaisePendingError(&pending);
  if (pending.set) {
    out.listed = false;
    out.error = pending.message ? pending.message : pstrdup("out of memory");
  }
  return out;
}

void RecordOutcome(int64 run_id, const char *run_url, const Outcome &out) {
  bool done = out.listed && out.left_count == 0 && !out.error;
  Oid types[4] = {INT8OID, TEXTARRAYOID, TEXTOID, BOOLOID};
  Datum values[4] = {Int64GetDatum(run_id), (Datum)0, (Datum)0, BoolGetDatum(!done)};
  char nulls[5] = "    ";
  if (done) {
    nulls[1] = nulls[2] = 'n';
  } else {
    if (out.listed) {
      Datum *urls = static_cast<Datum *>(palloc(sizeof(Datum) * Max(out.left_count, 1)));
      for (int i = 0; i < out.left_count; i++) urls[i] = CStringGetTextDatum(out.left[i]);
      values[1] =
          PointerGetDatum(construct_array(urls, out.left_count, TEXTOID, -1, false, TYPALIGN_INT));
    } else {
      nulls[1] = 'n';  // unknown: keep what an earlier attempt listed
    }
    const char *error = out.error;
    if (!out.listed)
      error = psprintf("could not list the objects of the run at %s: %s", run_url, out.error);
    else if (!error)
      error = "the cleanup ran out of time; it goes on when the run is settled again";
    values[2] = CStringGetTextDatum(error);
  }
  SpiRun(
      "UPDATE cdw_backup.runs SET cleanup_pending = $4, "
      " leftover_objects = CASE WHEN $4 THEN COALESCE($2, leftover_objects) END, "
      " leftover_error = $3 WHERE run_id OPERATOR(pg_catalog.=) $1",
      4, types, values, nulls);
  if (out.removed > 0)
    ereport(LOG, (errmsg("cdw_backup run %lld: removed %lld object(s) that no manifest lists",
                         static_cast<long long>(run_id), static_cast<long long>(out.removed))));
  if (!done && !out.out_of_time)
    ereport(WARNING,
            (errmsg("cdw_backup run %lld: objects that no manifest lists remain at %s",
                    static_cast<long long>(run_id), run_url),
             errdetail("%s", DatumGetCString(DirectFunctionCall1(textout, values[2]))),
             errhint("They are listed in cdw_backup.runs.leftover_objects and removal is tried "
                     "again whenever runs are settled; you may also remove them by hand.")));
}

// A run whose objects cannot be found any more (target dropped or moved).
void RecordLost(int64 run_id, const char *run_url, const char *why) {
  Oid types[3] = {INT8OID, TEXTOID, TEXTOID};
  Datum values[3] = {Int64GetDatum(run_id), CStringGetTextDatum(run_url ? run_url : ""),
                     CStringGetTextDatum(why)};
  SpiRun(
      "UPDATE cdw_backup.runs SET cleanup_pending = false, "
      " leftover_objects = CASE WHEN $2 OPERATOR(pg_catalog.<>) '' THEN ARRAY[$2] END, "
      " leftover_error = $3 WHERE run_id OPERATOR(pg_catalog.=) $1",
      3, types, values, nullptr);
  ereport(WARNING, (errmsg("cdw_backup run %lld: its objects cannot be cleaned up: %s",
                           static_cast<long long>(run_id), why),
                    errhint("Remove what is left under %s by hand.", run_url ? run_url : "?")));
}

void CleanUpRun(int64 run_id, const char *run_url, const RunTarget &target,
                std::chrono::steady_clock::time_point deadline, bool *out_of_time) {
  char *run_key = KeyUnder(target.location, run_url);
  if (!run_key || !run_key[0]) {
    RecordLost(run_id, run_url, "the run is not under its target's location any more");
    return;
  }
  Oid types[1] = {INT8OID};
  Datum values[1] = {Int64GetDatum(run_id)};
  SpiRun(
      "SELECT manifest FROM cdw_backup.run_databases WHERE run_id OPERATOR(pg_catalog.=) $1 "
      "AND status OPERATOR(pg_catalog.=) ANY ('{succeeded,partial}'::pg_catalog.text[]) "
      "AND manifest IS NOT NULL",
      // Not read-only: a read-only query would see the snapshot of the
      // caller's statement (cdw_backup_run(wait => true)), older than the
      // coordinator's last history rows.
      1, types, values, nullptr, false);
  char ***rows = control::SpiTextRows();
  int count = static_cast<int>(SPI_processed);
  auto *manifests = static_cast<char **>(palloc(sizeof(char *) * Max(count, 1)));
  int manifest_count = 0;
  for (int i = 0; i < count; i++) {
    char *key = KeyUnder(target.location, rows[i][0]);
    size_t name_len = strlen(kManifestName);
    if (key && strlen(key) > name_len && strcmp(key + strlen(key) - name_len, kManifestName) == 0)
      manifests[manifest_count++] = key;
  }
  Outcome out = Sweep(target, run_key, manifests, manifest_count, deadline);
  *out_of_time |= out.out_of_time;
  RecordOutcome(run_id, run_url, out);
}

}  // namespace

int CleanUpSettledRuns(long budget_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(budget_ms);
  SharedState *shared = Shared();
  Datum active[kMaxActiveRuns];
  int active_count = 0;
  if (shared) {
    LWLockAcquire(shared->lock, LW_SHARED);
    for (const auto &run : shared->runs)
      if (run.in_use) active[active_count++] = Int64GetDatum(run.request.run_id);
    LWLockRelease(shared->lock);
  }
  control::SavedUser saved = control::BecomeExtensionOwner();
  Oid types[1] = {INT8ARRAYOID};
  Datum values[1] = {
      PointerGetDatum(construct_array(active, active_count, INT8OID, 8, true, TYPALIGN_DOUBLE))};
  // Another session cleaning a run holds its row: skip it.
  SpiRun(
      "SELECT r.run_id, r.location, r.target FROM cdw_backup.runs r "
      "WHERE r.cleanup_pending AND r.status OPERATOR(pg_catalog.<>) 'running' "
      "  AND r.run_id OPERATOR(pg_catalog.<>) ALL ($1) "
      "ORDER BY r.run_id FOR UPDATE OF r SKIP LOCKED",
      1, types, values, nullptr);
  char ***runs = control::SpiTextRows();
  int count = static_cast<int>(SPI_processed);
  int pending = 0;
  for (int i = 0; i < count; i++) {
    int64 run_id = strtoll(runs[i][0], nullptr, 10);
    const char *run_url = runs[i][1];
    bool out_of_time = false;
    control::Target *found = runs[i][2] ? control::FindTarget(runs[i][2]) : nullptr;
    if (!found) {
      RecordLost(run_id, run_url,
                 psprintf("its target \"%s\" no longer exists", runs[i][2] ? runs[i][2] : ""));
    } else if (!run_url) {
      RecordLost(run_id, nullptr, "the run has no location");
    } else if (std::chrono::steady_clock::now() >= deadline) {
      pending++;  // next time
    } else {
      RunTarget target{found->location,       found->options,       found->secret_id,
                       found->secret_key,     found->session_token, found->sse_customer_key,
                       found->encryption_keys};
      CleanUpRun(run_id, run_url, target, deadline, &out_of_time);
      if (out_of_time) pending++;
    }
  }
  control::RestoreUser(saved);
  return pending;
}

void MarkCleanupPending(int64 run_id) {
  control::SavedUser saved = control::BecomeExtensionOwner();
  Oid types[1] = {INT8OID};
  Datum values[1] = {Int64GetDatum(run_id)};
  SpiRun("UPDATE cdw_backup.runs SET cleanup_pending = true WHERE run_id OPERATOR(pg_catalog.=) $1",
         1, types, values, nullptr);
  control::RestoreUser(saved);
}

}  // namespace cdw::bgworker
