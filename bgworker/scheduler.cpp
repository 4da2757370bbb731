// Scheduling, as pg_cron does it but without its pain points: no loopback
// connection (runs are started in-process as the schedule's owner), a run
// missed while the server was down runs once at start-up if it is recent
// enough (else it is recorded as missed), overlapping runs are skipped and
// recorded, a dropped owner or target disables the schedule with a reason
// instead of crashing the launcher, and history is bounded.
extern "C" {
#include "postgres.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

#include <string>
#include <vector>

#include "bgworker/scheduler.h"
#include "bgworker/shared_state.h"
#include "extension/control/run_functions.h"
#include "extension/control/settings.h"
#include "extension/control/spi_util.h"
#include "extension/control/target_store.h"
#include "extension/pg/cpp_boundary.h"
#include "extension/pg/open_store.h"
#include "extension/pg/search_path.h"
#include "format/layout.h"
#include "manifest/authentication.h"
#include "manifest/manifest.h"
#include "storage/run_cleanup.h"
#include "schedule/cron_expression.h"
#include "schedule/next_run.h"
#include "schedule/time_zone.h"
#include "storage/store_factory.h"

namespace cdw::bgworker {

TimestampTz SchedulerNow() {
  return GetCurrentTimestamp() + static_cast<int64>(control::g_test_time_offset) * USECS_PER_SEC;
}

namespace {

using control::SpiRun;
using control::SpiText;

void Begin() {
  SetCurrentStatementStartTimestamp();
  StartTransactionCommand();
  // Until the transaction ends (STYLE.md "Search-path safety").
  (void)pg::PinSearchPath();
  SPI_connect();
  PushActiveSnapshot(GetTransactionSnapshot());
}

void End() {
  SPI_finish();
  PopActiveSnapshot();
  CommitTransactionCommand();
  pgstat_report_activity(STATE_IDLE, nullptr);
}

Datum Text(const char *s) {
  return CStringGetTextDatum(s ? s : "");
}

void DisableSchedule(const char *name, const char *reason) {
  Oid types[2] = {TEXTOID, TEXTOID};
  Datum values[2] = {Text(name), Text(reason)};
  SpiRun(
      "UPDATE cdw_backup.schedule_store SET enabled = false, disabled_reason = $2, "
      "next_run_at = NULL WHERE name OPERATOR(pg_catalog.=) $1",
      2, types, values, nullptr);
  ereport(LOG, (errmsg("cdw_backup schedule \"%s\" disabled: %s", name, reason)));
}

// A row in cdw_backup.runs for a run that did not happen, so the history
// says why (skipped: overlap; missed: the server was down too long).
void RecordNonRun(const char *schedule, const char *target, const char *role,
                  const char *compression, const char *status, const char *error, const char *hint,
                  TimestampTz due) {
  control::SpiParams params;
  params.Text(schedule)
      .Text(target)
      .Name(role)
      .Text(compression)
      .Text(status)
      .Text(error ? error : "")
      .Text(hint)
      .Timestamp(due);
  SpiRun(
      "INSERT INTO cdw_backup.runs (run_id, schedule_name, target, role_name, compression, status, "
      " error, hint, started_at, finished_at) "
      "VALUES (pg_catalog.nextval('cdw_backup.runs_run_id_seq'::pg_catalog.regclass), $1, $2, "
      " $3, $4, $5, $6, $7, $8, $8)",
      params);
  ereport(LOG, (errmsg("cdw_backup schedule \"%s\": run %s: %s", schedule, status, error)));
}

struct ScheduleRow {
  char *name, *cron, *timezone, *target, *compression, *owner;
  char *max_rate;  // NULL: the target's
  Datum databases, exclude;
  bool databases_null, exclude_null;
  TimestampTz last_checked;
  int64 window_seconds;  // 0: one period
  bool has_owner, has_target;
  Oid owner_oid;
  int64 last_run_id;
  char *last_status;
};

// Decides and acts for one schedule; returns its next fire time.
TimestampTz Visit(ScheduleRow *s, TimestampTz now) {
  if (!s->has_owner) {
    DisableSchedule(s->name, psprintf("its owner role %s no longer exists", s->owner));
    return 0;
  }
  if (!s->has_target) {
    DisableSchedule(s->name, psprintf("its target \"%s\" no longer exists", s->target));
    return 0;
  }
  MissedRuns missed;
  TimestampTz next = 0;
  pg::PendingError pending;
  try {
    auto expression = CronExpression::Parse(s->cron);
    auto zone = TimeZone::Load(s->timezone);
    missed = FindMissedRuns(expression, *zone, timestamptz_to_time_t(s->last_checked),
                            timestamptz_to_time_t(now), s->window_seconds);
    next = time_t_to_timestamptz(
        static_cast<pg_time_t>(NextRunAfter(expression, *zone, timestamptz_to_time_t(now))));
  } catch (...) {
    pg::CapturePendingError(&pending);
  }
  if (pending.set) {
    DisableSchedule(s->name, psprintf("its schedule cannot be evaluated: %s",
                                      pending.message ? pending.message : "error"));
    return 0;
  }
  int64 run_id = s->last_run_id;
  if (missed.any) {
    TimestampTz due = time_t_to_timestamptz(static_cast<pg_time_t>(missed.latest_due));
    if (missed.earliest_due != missed.latest_due)
      RecordNonRun(s->name, s->target, s->owner, s->compression, "missed",
                   psprintf("runs due from %s were missed while the server was not running",
                            timestamptz_to_str(time_t_to_timestamptz(
                                static_cast<pg_time_t>(missed.earliest_due)))),
                   "Only the most recent missed run is caught up, once.", due);
    if (s->last_status && strcmp(s->last_status, "running") == 0) {
      RecordNonRun(s->name, s->target, s->owner, s->compression, "skipped",
                   psprintf("run %lld of this schedule was still running when the next was due",
                            static_cast<long long>(s->last_run_id)),
                   "Schedule less often, or set max_run_time to stop runs that take too long.",
                   due);
    } else if (!missed.catch_up) {
      RecordNonRun(s->name, s->target, s->owner, s->compression, "missed",
                   psprintf("the run due at %s was missed while the server was not running",
                            timestamptz_to_str(due)),
                   "Set catch_up_window on the schedule to catch up older runs.", due);
    } else {
      Datum databases = s->databases, exclude = s->exclude;
      run_id =
          control::LaunchRun(s->target, s->databases_null ? nullptr : DatumGetArrayTypeP(databases),
                             s->exclude_null ? nullptr : DatumGetArrayTypeP(exclude),
                             s->compression, s->owner_oid, s->name, s->max_rate);
    }
  }
  control::SpiParams params;
  params.Text(s->name).Timestamp(now).Timestamp(next).Add(INT8OID, Int64GetDatum(run_id),
                                                          run_id == 0);
  SpiRun(
      "UPDATE cdw_backup.schedule_store SET last_checked_at = $2, next_run_at = $3, "
      "last_run_id = $4 WHERE name OPERATOR(pg_catalog.=) $1",
      params);
  return next;
}

// Stops runs of schedules that exceeded their max_run_time.
void EnforceMaxRunTime(TimestampTz now) {
  Oid types[1] = {TIMESTAMPTZOID};
  Datum values[1] = {TimestampTzGetDatum(now)};
  SpiRun(
      "SELECT r.run_id FROM cdw_backup.runs r JOIN cdw_backup.schedule_store s "
      " ON s.name OPERATOR(pg_catalog.=) r.schedule_name "
      "WHERE r.status OPERATOR(pg_catalog.=) 'running' AND s.max_run_time IS NOT NULL "
      " AND (r.started_at OPERATOR(pg_catalog.+) s.max_run_time) OPERATOR(pg_catalog.<) $1",
      1, types, values, nullptr, true);
  for (uint64 i = 0; i < SPI_processed; i++) {
    int64 run_id = strtoll(SpiText(static_cast<int>(i), 1), nullptr, 10);
    SharedState *shared = Shared();
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    int index = FindRunSlot(run_id);
    if (index >= 0 && !shared->runs[index].cancel_requested) {
      shared->runs[index].cancel_requested = true;
      if (shared->runs[index].coordinator_latch) SetLatch(shared->runs[index].coordinator_latch);
      ereport(LOG, (errmsg("cdw_backup run %lld exceeded its schedule's max_run_time; cancelling",
                           static_cast<long long>(run_id))));
    }
    LWLockRelease(shared->lock);
  }
}

// The part of a run's location below the target's root
// ("<YYYYMMDD>/<HHMMSS>Z-run<id>/"), or NULL.
const char *RunPrefixOf(const control::Target &target, const char *run_location) {
  size_t root = strlen(target.location);
  while (root > 0 && target.location[root - 1] == '/') root--;
  if (strlen(run_location) <= root + 1 || strncmp(run_location, target.location, root) != 0)
    return nullptr;
  return run_location + root + 1;
}

// Expires a run on its target: its manifests and run index go first (a
// half-deleted run must not look complete), then every object under the
// prefixes of the target's expired runs (`expired_locations`, this one
// among them) that no manifest left on the target references. Incremental
// runs reference objects earlier runs wrote: those stay until the last run
// referencing them expires too (README "Retention with references"). A
// manifest that cannot be read keeps everything.
bool DeleteRunObjects(const control::Target &target, const char *run_location,
                      char **expired_locations, int expired_count) {
  const char *prefix = RunPrefixOf(target, run_location);
  if (!prefix) return false;
  std::vector<const char *> expired;
  for (int i = 0; i < expired_count; i++) {
    const char *other = expired_locations[i] ? RunPrefixOf(target, expired_locations[i]) : nullptr;
    if (other) expired.push_back(other);
  }
  return pg::CallCppOrWarn(
      psprintf("cdw_backup could not delete expired backup %s", run_location),
      [&] {
        auto store = pg::OpenTargetStore(target.location, target.options, target.secret_id,
                                         target.secret_key, target.session_token,
                                         target.sse_customer_key, target.encryption_keys);
        auto is_manifest = [](const std::string &key) {
          size_t n = strlen(kManifestName);
          return key.size() >= n &&
                 key.compare(key.size() - n, std::string::npos, kManifestName) == 0;
        };
        for (const auto &object : store->List(prefix))
          if (is_manifest(object.key)) store->Remove(object.key);
        store->Remove(RunIndexKey(prefix));
        store->Remove(RunIndexKey(prefix) + kMacSuffix);
        // What the remaining manifests reference, own objects and references.
        std::vector<std::string> referenced;
        for (const auto &object : store->List(""))
          if (is_manifest(object.key)) {
            referenced.push_back(object.key);
            referenced.push_back(object.key + kMacSuffix);
            auto reader = store->Open(object.key);
            std::string json;
            char buffer[65536];
            for (size_t n; (n = reader->Read(buffer, sizeof buffer)) > 0;) json.append(buffer, n);
            DatabaseManifest manifest = ParseManifest(json);  // throws: nothing more is removed
            for (auto &key : ManifestObjectKeys(manifest)) referenced.push_back(std::move(key));
          }
        std::vector<ObjectInfo> candidates = store->List(prefix);
        for (const char *other : expired)
          if (strcmp(other, prefix) != 0)
            for (auto &object : store->List(other)) candidates.push_back(std::move(object));
        for (const auto &key : UnreferencedObjects(candidates, referenced)) store->Remove(key);
      },
      /*raise_pg_errors=*/false);
}

// keep_days / keep_runs: after a successful run, the schedule's older
// backups beyond both limits are deleted from the target and their runs
// marked expired. The newest successful backup is never deleted, nor are
// backups of other schedules or manual runs.
void ApplyRetention(TimestampTz now) {
  Oid types[1] = {TIMESTAMPTZOID};
  Datum values[1] = {TimestampTzGetDatum(now)};
  SpiRun(
      "WITH ranked AS ("
      "  SELECT r.run_id, r.location, r.started_at, s.keep_days, s.keep_runs,"
      // Successful backups of the schedule newer than this run.
      "         (SELECT pg_catalog.count(*) FROM cdw_backup.runs n"
      "           WHERE n.schedule_name OPERATOR(pg_catalog.=) r.schedule_name"
      "           AND n.status OPERATOR(pg_catalog.=) 'succeeded'"
      "           AND (n.started_at, n.run_id) OPERATOR(pg_catalog.>) (r.started_at, r.run_id))"
      "           AS newer_ok,"
      "         (SELECT pg_catalog.max(n.run_id) FROM cdw_backup.runs n"
      "           WHERE n.schedule_name OPERATOR(pg_catalog.=) r.schedule_name"
      "           AND n.status OPERATOR(pg_catalog.=) 'succeeded') AS newest_ok,"
      "         (SELECT n.status FROM cdw_backup.runs n"
      "           WHERE n.schedule_name OPERATOR(pg_catalog.=) r.schedule_name"
      "           AND n.status OPERATOR(pg_catalog.=) ANY"
      "             ('{succeeded,partial,failed,cancelled,interrupted}'::pg_catalog.text[])"
      "           ORDER BY n.started_at DESC, n.run_id DESC LIMIT 1) AS latest_status"
      "    FROM cdw_backup.runs r JOIN cdw_backup.schedule_store s"
      "      ON s.name OPERATOR(pg_catalog.=) r.schedule_name"
      "   WHERE r.status OPERATOR(pg_catalog.=) ANY"
      "           ('{succeeded,partial,failed,cancelled,interrupted}'::pg_catalog.text[])"
      "     AND (s.keep_days IS NOT NULL OR s.keep_runs IS NOT NULL))"
      " SELECT k.run_id, k.location, r.target"
      "   FROM ranked k JOIN cdw_backup.runs r USING (run_id)"
      // A run is kept while fewer than keep_runs good backups are newer, or
      // while it is younger than keep_days; the newest good one always.
      "  WHERE k.latest_status OPERATOR(pg_catalog.=) 'succeeded'"
      "    AND k.run_id OPERATOR(pg_catalog.<>) k.newest_ok AND k.location IS NOT NULL"
      // The base of a running incremental run stays until that run ends.
      "    AND NOT EXISTS (SELECT FROM cdw_backup.runs b WHERE b.status OPERATOR(pg_catalog.=) "
      "      'running' AND b.base_run_id OPERATOR(pg_catalog.=) k.run_id)"
      "    AND NOT (k.keep_runs IS NOT NULL AND k.newer_ok OPERATOR(pg_catalog.<) k.keep_runs)"
      // OPERATOR() binds as any other operator does: parenthesize.
      "    AND NOT (k.keep_days IS NOT NULL AND k.started_at OPERATOR(pg_catalog.>)"
      "             ($1 OPERATOR(pg_catalog.-) pg_catalog.make_interval(days => k.keep_days)))",
      1, types, values, nullptr, true);
  int count = static_cast<int>(SPI_processed);
  char ***cells = control::SpiTextRows();
  for (int i = 0; i < count; i++) {
    if (!cells[i][1] || !cells[i][2]) continue;
    // A run whose target was dropped has nothing we could open: kept.
    control::Target *target = control::FindTarget(cells[i][2]);
    if (!target) continue;
    // Earlier expired runs of the target may hold objects only this run
    // still referenced.
    control::SpiParams expired_params;
    expired_params.Text(cells[i][2]);
    SpiRun(
        "SELECT location FROM cdw_backup.runs WHERE target OPERATOR(pg_catalog.=) $1 "
        " AND status OPERATOR(pg_catalog.=) 'expired' AND location IS NOT NULL",
        expired_params, true);
    int expired_count = static_cast<int>(SPI_processed);
    char **expired = static_cast<char **>(palloc(sizeof(char *) * Max(expired_count, 1)));
    for (int e = 0; e < expired_count; e++) expired[e] = control::SpiText(e, 1);
    if (!DeleteRunObjects(*target, cells[i][1], expired, expired_count)) continue;
    Oid run_types[1] = {INT8OID};
    Datum run_values[1] = {Int64GetDatum(strtoll(cells[i][0], nullptr, 10))};
    SpiRun("UPDATE cdw_backup.runs SET status = 'expired' WHERE run_id OPERATOR(pg_catalog.=) $1",
           1, run_types, run_values, nullptr);
    ereport(LOG, (errmsg("cdw_backup run %s expired: its backup was deleted from %s", cells[i][0],
                         cells[i][1])));
  }
}

void BoundHistory(TimestampTz now) {
  Oid types[2] = {TIMESTAMPTZOID, INT4OID};
  Datum values[2] = {TimestampTzGetDatum(now), Int32GetDatum(control::g_history_days)};
  SpiRun(
      // A run whose cleanup is pending keeps its row: it lists what is left
      // on the target and settling retries from it.
      "DELETE FROM cdw_backup.runs WHERE status OPERATOR(pg_catalog.<>) 'running' "
      "AND NOT cleanup_pending "
      "AND coalesce(finished_at, started_at) OPERATOR(pg_catalog.<) "
      " ($1 OPERATOR(pg_catalog.-) pg_catalog.make_interval(days => $2))",
      2, types, values, nullptr);
}

}  // namespace

TimestampTz ProcessSchedules() {
  Begin();
  SpiRun("SELECT FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'cdw_backup'", 0,
         nullptr, nullptr, nullptr, true);
  if (SPI_processed == 0) {
    End();
    return 0;
  }
  TimestampTz now = SchedulerNow();
  SpiRun(
      "SELECT s.name, s.cron, s.timezone, s.target, s.compression,"
      " coalesce((SELECT a.rolname FROM pg_catalog.pg_roles a"
      "            WHERE a.oid OPERATOR(pg_catalog.=) s.owner)::pg_catalog.text,"
      "          s.owner_name::pg_catalog.text),"
      " s.databases, s.exclude_databases, coalesce(s.last_checked_at, s.created_at),"
      " coalesce(pg_catalog.date_part('epoch', s.catch_up_window)::pg_catalog.int8, 0),"
      " (SELECT a.oid FROM pg_catalog.pg_roles a WHERE a.oid OPERATOR(pg_catalog.=) s.owner),"
      " EXISTS (SELECT FROM cdw_backup.target_store t"
      "          WHERE t.name OPERATOR(pg_catalog.=) s.target),"
      " coalesce(s.last_run_id, 0), (SELECT r.status FROM cdw_backup.runs r"
      "                               WHERE r.run_id OPERATOR(pg_catalog.=) s.last_run_id),"
      " s.max_rate"
      " FROM cdw_backup.schedule_store s WHERE s.enabled ORDER BY s.name FOR UPDATE OF s",
      0, nullptr, nullptr, nullptr);
  int count = static_cast<int>(SPI_processed);
  auto *rows = static_cast<ScheduleRow *>(palloc0(sizeof(ScheduleRow) * Max(count, 1)));
  for (int i = 0; i < count; i++) {
    ScheduleRow *s = &rows[i];
    HeapTuple tuple = SPI_tuptable->vals[i];
    TupleDesc desc = SPI_tuptable->tupdesc;
    bool isnull;
    s->name = SpiText(i, 1);
    s->cron = SpiText(i, 2);
    s->timezone = SpiText(i, 3);
    s->target = SpiText(i, 4);
    s->compression = SpiText(i, 5);
    s->owner = SpiText(i, 6);
    s->databases = SPI_getbinval(tuple, desc, 7, &s->databases_null);
    if (!s->databases_null) s->databases = PointerGetDatum(DatumGetArrayTypePCopy(s->databases));
    s->exclude = SPI_getbinval(tuple, desc, 8, &s->exclude_null);
    if (!s->exclude_null) s->exclude = PointerGetDatum(DatumGetArrayTypePCopy(s->exclude));
    s->last_checked = DatumGetTimestampTz(SPI_getbinval(tuple, desc, 9, &isnull));
    s->window_seconds = strtoll(SpiText(i, 10), nullptr, 10);
    char *owner_oid = SpiText(i, 11);
    s->has_owner = owner_oid != nullptr;
    s->owner_oid = owner_oid ? static_cast<Oid>(strtoul(owner_oid, nullptr, 10)) : InvalidOid;
    s->has_target = strcmp(SpiText(i, 12), "t") == 0;
    s->last_run_id = strtoll(SpiText(i, 13), nullptr, 10);
    s->last_status = SpiText(i, 14);
    s->max_rate = SpiText(i, 15);
  }
  TimestampTz wake = 0;
  for (int i = 0; i < count; i++) {
    TimestampTz next = Visit(&rows[i], now);
    if (next != 0 && (wake == 0 || next < wake)) wake = next;
  }
  EnforceMaxRunTime(now);
  // Also wake when a running scheduled run reaches its max_run_time.
  Oid types[1] = {TIMESTAMPTZOID};
  Datum values[1] = {TimestampTzGetDatum(now)};
  SpiRun(
      "SELECT pg_catalog.min(r.started_at OPERATOR(pg_catalog.+) s.max_run_time) "
      "FROM cdw_backup.runs r JOIN cdw_backup.schedule_store s "
      " ON s.name OPERATOR(pg_catalog.=) r.schedule_name "
      "WHERE r.status OPERATOR(pg_catalog.=) 'running' AND s.max_run_time IS NOT NULL "
      " AND (r.started_at OPERATOR(pg_catalog.+) s.max_run_time) OPERATOR(pg_catalog.>=) $1",
      1, types, values, nullptr, true);
  bool isnull;
  Datum deadline = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
  if (!isnull && (wake == 0 || DatumGetTimestampTz(deadline) < wake))
    wake = DatumGetTimestampTz(deadline) + USECS_PER_SEC;
  ApplyRetention(now);
  BoundHistory(now);
  End();
  // Back to the real clock: the launcher sleeps in real time.
  return wake == 0 ? 0 : wake - static_cast<int64>(control::g_test_time_offset) * USECS_PER_SEC;
}

}  // namespace cdw::bgworker
