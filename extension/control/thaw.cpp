// Thawing archived objects for restore and verify (see thaw.h).
extern "C" {
#include "postgres.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"
}

#include <memory>
#include <string>
#include <vector>

#include "bgworker/shared_state.h"
#include "extension/control/thaw.h"
#include "extension/pg/cpp_boundary.h"
#include "extension/pg/open_store.h"
#include "s3/s3_location.h"
#include "s3/storage_class.h"
#include "storage/store_factory.h"
#include "storage/thaw.h"

namespace cdw::control {

namespace {

// The C++ state of one ThawTables() call. It lives across PostgreSQL calls
// (the waits), so it is owned by a reset callback of the current memory
// context: an error or cancel while waiting frees it with the context.
struct ThawJob {
  std::unique_ptr<ObjectStore> store;
  std::vector<ThawObject> objects;
  std::vector<int> table_of;  // objects[i] belongs to table_of[i]
  ThawRequest request;
};

// The reset callback's argument (PostgreSQL 15 cannot unregister one: a
// call that ends normally deletes the job itself and leaves NULL here).
struct ThawJobHolder {
  ThawJob *job;
};

void DeleteThawJob(void *arg) {
  auto *holder = static_cast<ThawJobHolder *>(arg);
  delete holder->job;
  holder->job = nullptr;
}

long IntervalMs(const Interval *interval) {
  double usecs = static_cast<double>(interval->time) +
                 static_cast<double>(interval->day) * USECS_PER_DAY +
                 static_cast<double>(interval->month) * DAYS_PER_MONTH * USECS_PER_DAY;
  constexpr double kMaxMs = 100.0 * 365 * 24 * 3600 * 1000;
  return usecs <= 0 ? 0 : static_cast<long>(Min(usecs / 1000, kMaxMs));
}

ThawSummary Summarize(const ThawJob &job) {
  ThawCounts counts = CountThaw(job.objects);
  ThawSummary summary{};
  summary.archived = static_cast<int>(counts.total);
  summary.thawing = static_cast<int>(counts.thawing);
  summary.requested = static_cast<int>(counts.requested);
  summary.failed = static_cast<int>(counts.failed);
  summary.days = job.request.days;
  return summary;
}

pg_noinline int AcquireThawSlot(int64 run_id, const char *database, int total) {
  using namespace cdw::bgworker;
  SharedState *shared = Shared();
  if (!shared) return -1;
  int found = -1;
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  for (int i = 0; i < kMaxProgressSlots && found < 0; i++) {
    ProgressSlot *slot = &shared->progress[i];
    if (slot->in_use) continue;
    found = i;
    slot->in_use = true;
    slot->thaw = true;
    slot->role_id = GetUserId();
    slot->run_id = run_id;
    slot->pid = MyProcPid;
    strlcpy(slot->database, database ? database : "", sizeof slot->database);
    slot->schema_name[0] = '\0';
    slot->table_name[0] = '\0';
    pg_atomic_write_u64(&slot->rows, 0);
    pg_atomic_write_u64(&slot->bytes_raw, 0);
    pg_atomic_write_u64(&slot->objects_thawed, 0);
    pg_atomic_write_u64(&slot->objects_total, static_cast<uint64>(total));
    slot->started_at = GetCurrentTimestamp();
  }
  LWLockRelease(shared->lock);
  return found;
}

void ReportThaw(int slot, const ThawSummary &summary) {
  cdw::bgworker::SharedState *shared = cdw::bgworker::Shared();
  if (!shared || slot < 0) return;
  pg_atomic_write_u64(&shared->progress[slot].objects_thawed,
                      static_cast<uint64>(summary.archived - summary.thawing - summary.failed));
  pg_atomic_write_u64(&shared->progress[slot].objects_total, static_cast<uint64>(summary.archived));
}

void ReleaseThawSlot(int slot) {
  cdw::bgworker::SharedState *shared = cdw::bgworker::Shared();
  if (!shared || slot < 0) return;
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  shared->progress[slot].thaw = false;
  shared->progress[slot].in_use = false;
  LWLockRelease(shared->lock);
}

// Checks again, with growing pauses, until nothing is thawing; errors at
// the timeout.
void WaitLoop(ThawJob *job, const ThawArguments &args, int64 run_id, ThawSummary *summary,
              int slot) {
  TimestampTz start = GetCurrentTimestamp();
  long pause_ms = 500;
  while (summary->thawing > 0) {
    long waited = static_cast<long>((GetCurrentTimestamp() - start) / 1000);
    if (waited >= args.timeout_ms)
      ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                      errmsg("archived objects of run %lld are still thawing after %ld s",
                             static_cast<long long>(run_id), waited / 1000),
                      errdetail("%d of %d archived objects are readable; the store keeps the thaw "
                                "requests (tier %s, readable for %d days).",
                                summary->archived - summary->thawing - summary->failed,
                                summary->archived, summary->tier, summary->days),
                      errhint("Call again later (requests already made are not repeated), with a "
                              "longer thaw_timeout, or with wait => false to return at once.")));
    long sleep_ms = Min(pause_ms, args.timeout_ms - waited);
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, sleep_ms,
                    PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
    CHECK_FOR_INTERRUPTS();
    char *tier = summary->tier;
    *summary = cdw::pg::CallCpp([&] {
      ThawPass(job->store.get(), &job->objects, job->request, true);
      return Summarize(*job);
    });
    summary->tier = tier;
    ReportThaw(slot, *summary);
    pause_ms = Min(pause_ms * 3 / 2, 30000L);
  }
}

// WaitLoop() with a progress slot, released whatever happens.
void WaitForThaw(ThawJob *job, const ThawArguments &args, int64 run_id, const char *database,
                 ThawSummary *summary) {
  const int slot = AcquireThawSlot(run_id, database, summary->archived);
  ReportThaw(slot, *summary);
  PG_TRY();
  { WaitLoop(job, args, run_id, summary, slot); }
  PG_FINALLY();
  { ReleaseThawSlot(slot); }
  PG_END_TRY();
}

}  // namespace

ThawArguments ThawArgumentsFrom(FunctionCallInfo fcinfo, int first) {
  ThawArguments args{};
  args.wait = PG_ARGISNULL(first) || PG_GETARG_BOOL(first);
  args.timeout_ms = 12L * 3600 * 1000;
  if (!PG_ARGISNULL(first + 1)) {
    Interval *timeout = PG_GETARG_INTERVAL_P(first + 1);
    args.timeout_ms = IntervalMs(timeout);
    if (args.timeout_ms <= 0)
      ereport(ERROR,
              (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("thaw_timeout must be positive"),
               errhint("Use e.g. thaw_timeout => '6 hours', or wait => false to return "
                       "at once.")));
  }
  if (!PG_ARGISNULL(first + 2)) {
    char *tier = text_to_cstring(PG_GETARG_TEXT_PP(first + 2));
    for (const char *name : {"Expedited", "Standard", "Bulk"})
      if (pg_strcasecmp(tier, name) == 0) args.tier = name;
    if (!args.tier)
      ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                      errmsg("restore_tier must be Expedited, Standard or Bulk"),
                      errhint("Expedited thaws in minutes (the dearest), Standard in hours, Bulk "
                              "(the cheapest) in up to two days; NULL takes the target's "
                              "restore_tier option.")));
  }
  if (!PG_ARGISNULL(first + 3)) {
    args.days = PG_GETARG_INT32(first + 3);
    if (args.days < 1 || args.days > 365)
      ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                      errmsg("restore_days must be between 1 and 365"),
                      errhint("It is how long the thawed copies stay readable; NULL takes the "
                              "target's restore_days option.")));
  }
  return args;
}

TableThaw *ThawTables(const Target &target, int count, char *const *prefixes,
                      const ThawArguments &args, int64 run_id, const char *database,
                      ThawSummary *summary) {
  auto *tables = static_cast<TableThaw *>(palloc0(sizeof(TableThaw) * Max(count, 1)));
  *summary = ThawSummary{};
  if (!LocationNeedsCredentials(target.location)) return tables;  // file://: nothing archived
  auto *callback = static_cast<MemoryContextCallback *>(palloc0(sizeof(MemoryContextCallback)));
  char *tier = nullptr;
  ThawJob *job = cdw::pg::CallCpp([&] {
    auto owned = std::make_unique<ThawJob>();
    s3::S3Location location =
        s3::ParseS3Location(target.location, ParseStoreOptionLines(target.options));
    owned->request.tier = args.tier ? std::string(args.tier) : location.restore_tier;
    owned->request.days = args.days > 0 ? args.days : location.restore_days;
    tier = pg::PallocCopy(owned->request.tier);
    owned->store =
        pg::OpenTargetStore(target.location, target.options, target.secret_id, target.secret_key,
                            target.session_token, target.sse_customer_key, target.encryption_keys);
    for (int t = 0; t < count; t++) {
      if (!prefixes[t]) continue;
      const std::string prefix = prefixes[t];
      for (const auto &info : owned->store->List(prefix)) {
        if (info.key.find('/', prefix.size()) != std::string::npos) continue;
        ThawObject object;
        object.key = info.key;
        owned->objects.push_back(std::move(object));
        owned->table_of.push_back(t);
      }
    }
    return owned.release();
  });
  auto *holder = static_cast<ThawJobHolder *>(palloc0(sizeof(ThawJobHolder)));
  holder->job = job;
  callback->func = DeleteThawJob;
  callback->arg = holder;
  MemoryContextRegisterResetCallback(CurrentMemoryContext, callback);

  *summary = cdw::pg::CallCpp([&] {
    ThawPass(job->store.get(), &job->objects, job->request, true);
    return Summarize(*job);
  });
  summary->tier = tier;
  if (args.wait && summary->thawing > 0) WaitForThaw(job, args, run_id, database, summary);

  cdw::pg::CallCpp([&] {
    for (size_t i = 0; i < job->objects.size(); i++) {
      const ThawObject &object = job->objects[i];
      TableThaw &table = tables[job->table_of[i]];
      table.requested += object.requested;
      if (object.failed) {
        table.archived++;
        if (!table.message) {
          table.message = pg::PallocCopy(object.message);
          table.detail = pg::PallocCopy(object.detail);
          table.hint = pg::PallocCopy(object.hint);
          const std::string &code = object.sqlstate;
          table.sqlstate = code.size() == 5
                               ? MAKE_SQLSTATE(code[0], code[1], code[2], code[3], code[4])
                               : ERRCODE_IO_ERROR;
        }
        continue;
      }
      if (!object.archived) continue;
      table.archived++;
      table.thawing += object.state != ArchiveState::kReadable;
    }
  });
  DeleteThawJob(holder);
  return tables;
}

char *ThawPendingDetail(const ThawSummary &summary, int table_thawing, int table_archived) {
  const char *when = strcmp(summary.tier, "Expedited") == 0 ? "1 to 5 minutes"
                     : strcmp(summary.tier, "Bulk") == 0    ? "5 to 12 hours (DEEP_ARCHIVE: 48)"
                                                            : "3 to 5 hours (DEEP_ARCHIVE: 12)";
  return psprintf(
      "%d of this table's %d archived objects are still thawing; %d thaw requests were sent now "
      "for the whole call (tier %s, readable for %d days; %d of %d objects still thawing). A %s "
      "thaw takes about %s.",
      table_thawing, table_archived, summary.requested, summary.tier, summary.days, summary.thawing,
      summary.archived, summary.tier, when);
}

char *ThawPendingHint(const char *function) {
  return psprintf(
      "Call %s again once they are readable (requests already made are not repeated), or with "
      "wait => true to wait for them; cdw_backup.progress shows the thaw while it waits.",
      function);
}

}  // namespace cdw::control
