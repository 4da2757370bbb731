// How far a run is (see run_progress.h).
extern "C" {
#include "postgres.h"
#include "utils/timestamp.h"
}

#include "bgworker/run_progress.h"
#include "extension/pg/cpp_boundary.h"

namespace cdw::bgworker {

int64 InflightRaw(const SharedState *shared, int64 run_id) {
  int64 bytes = 0;
  for (const auto &worker : shared->progress)
    if (worker.in_use && worker.run_id == run_id)
      bytes +=
          static_cast<int64>(pg_atomic_read_u64(const_cast<pg_atomic_uint64 *>(&worker.bytes_raw)));
  return bytes;
}

RunProgressNumbers ComputeRunProgress(const SharedState *shared, const RunSlot *slot,
                                      TimestampTz now, bool run_ended) {
  RunProgressNumbers numbers{};
  numbers.published = slot->progress;
  numbers.inflight_raw = InflightRaw(shared, slot->request.run_id);
  const RunProgress &p = numbers.published;
  numbers.elapsed_seconds =
      p.started_at ? static_cast<double>(now - p.started_at) / USECS_PER_SEC : 0.0;
  ProgressInputs in;
  in.started = p.started_at != 0;
  in.finished_raw = p.finished_raw;
  in.finished_size = p.finished_size;
  in.unfinished_size = p.unfinished_size;
  in.unfinished_expected_raw = p.unfinished_expected_raw;
  in.inflight_raw = numbers.inflight_raw;
  in.unlisted_size = p.unlisted_size;
  in.work_left =
      !run_ended && (p.tables_done < p.tables_total || p.databases_done < p.databases_total);
  in.elapsed_seconds = numbers.elapsed_seconds;
  if (p.window_at && now > p.window_at) {
    in.window_seconds = static_cast<double>(now - p.window_at) / USECS_PER_SEC;
    in.window_bytes_done = p.window_bytes_done;
  }
  numbers.estimate = EstimateProgress(in);
  return numbers;
}

char *DescribeRunProgress(int64 run_id, const RunProgressNumbers &numbers, const char *ending) {
  const ProgressEstimate &e = numbers.estimate;
  char *elapsed =
      pg::CallCpp([&] { return pg::PallocCopy(FormatDuration(numbers.elapsed_seconds)); });
  char *eta = pg::CallCpp([&] { return pg::PallocCopy(FormatDuration(e.eta_seconds)); });
  return psprintf(
      "cdw_backup run %lld progress: %s%stables %d/%d, bytes %lld/%lld (%.1f%%), %.1f MB/s, "
      "elapsed %s, ETA %s, databases %d/%d",
      static_cast<long long>(run_id), ending ? ending : "", ending ? ", " : "",
      numbers.published.tables_done, numbers.published.tables_total,
      static_cast<long long>(e.bytes_done), static_cast<long long>(e.bytes_total),
      e.fraction * 100.0, e.rate / (1024.0 * 1024.0), elapsed, eta,
      numbers.published.databases_done, numbers.published.databases_total);
}

}  // namespace cdw::bgworker
