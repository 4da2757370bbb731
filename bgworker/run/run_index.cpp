// The run index on the target (see run_index.h).
extern "C" {
#include "postgres.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/elog.h"
}

#include <chrono>
#include <string>

#include "bgworker/run/run_context.h"
#include "bgworker/run/run_index.h"
#include "extension/control/spi_util.h"
#include "extension/pg/cpp_boundary.h"
#include "extension/pg/open_store.h"
#include "extension/pg/text_encoding.h"
#include "common/error.h"
#include "format/layout.h"
#include "common/hmac_sha256.h"
#include "manifest/authentication.h"
#include "manifest/manifest.h"
#include "storage/store_factory.h"

namespace cdw::bgworker::coordinator {

using control::SpiRun;

namespace {
constexpr std::chrono::seconds kRecordIndexBudget(2);
}  // namespace

bool WriteRunIndex(Run *run, pg::PendingError *pending) {
  Oid types[1] = {INT8OID};
  Datum values[1] = {Int64GetDatum(run->request.run_id)};
  SpiRun(
      "SELECT r.status, r.started_at::pg_catalog.text, r.finished_at::pg_catalog.text, "
      " d.database, d.status, d.tables_total,"
      "  (SELECT coalesce(pg_catalog.sum(t.rows), 0) FROM cdw_backup.run_tables t"
      "    WHERE t.run_id OPERATOR(pg_catalog.=) d.run_id"
      "      AND t.database OPERATOR(pg_catalog.=) d.database), "
      "  (SELECT coalesce(pg_catalog.sum(t.bytes_stored), 0) FROM cdw_backup.run_tables t"
      "    WHERE t.run_id OPERATOR(pg_catalog.=) d.run_id"
      "      AND t.database OPERATOR(pg_catalog.=) d.database), "
      " d.manifest IS NOT NULL, r.compression, r.schedule_name"
      " FROM cdw_backup.runs r JOIN cdw_backup.run_databases d USING (run_id)"
      " WHERE r.run_id OPERATOR(pg_catalog.=) $1 ORDER BY d.database",
      1, types, values, nullptr);
  int rows = static_cast<int>(SPI_processed);
  char ***cells = control::SpiTextRows();
  // What is written on the target is UTF-8.
  for (int i = 0; i < rows; i++) cells[i][3] = pg::ServerToUtf8(cells[i][3], "the database name");
  try {
    RunIndex index;
    index.run_id = run->request.run_id;
    index.path = run->run_prefix;
    if (rows > 0) {
      index.has_summary = true;
      index.status = cells[0][0];
      index.started_at = cells[0][1] ? cells[0][1] : "";
      index.finished_at = cells[0][2] ? cells[0][2] : "";
      index.compression = cells[0][9] ? cells[0][9] : "";
      index.schedule = cells[0][10] ? cells[0][10] : "";
    }
    for (int i = 0; i < rows; i++) {
      RunIndexDatabase database;
      database.name = cells[i][3];
      database.path = DatabasePrefix(cells[i][3]);
      database.status = cells[i][4];
      database.tables = atoll(cells[i][5]);
      database.rows = atoll(cells[i][6]);
      database.bytes_stored = atoll(cells[i][7]);
      database.manifest = strcmp(cells[i][8], "t") == 0;
      index.databases.push_back(std::move(database));
    }
    std::string json = SerializeRunIndex(index);
    auto store =
        pg::OpenTargetStore(run->location, run->store_options, run->secret_id, run->secret_key,
                            run->session_token, run->sse_customer_key, run->encryption_keys);
    // A cancel or a terminate ends the run within seconds whatever the
    // storage does: the index of a run that holds no backup (cancelled,
    // failed) is only a record (settling removes what the run left), so it
    // gets kRecordIndexBudget and no retries beyond. A partial run's index
    // gets the location's retries: its tables can be restored.
    const bool bounded =
        run->cancelled ||
        (rows > 0 && (strcmp(cells[0][0], "failed") == 0 || strcmp(cells[0][0], "cancelled") == 0));
    const auto deadline = std::chrono::steady_clock::now() + kRecordIndexBudget;
    if (bounded)
      store->SetInterruptCheck([deadline] {
        return pg::InterruptsPending() || std::chrono::steady_clock::now() >= deadline;
      });
    try {
      WriteAuthenticatedObject(store.get(), TargetKeyFromHex(run->manifest_key),
                               RunIndexKey(run->run_prefix), json);
    } catch (const Interrupted &) {
      if (!bounded || pg::InterruptsPending()) throw;
      throw Error(
          sqlstate::kConnectionFailure,
          "the storage did not answer within " + std::to_string(kRecordIndexBudget.count()) +
              " s; the run holds no backup, so its index is not waited for longer",
          "", "Check the storage service; the run's objects are removed when it is settled.");
    }
  } catch (...) {
    pg::CapturePendingError(pending);
  }
  if (pending->set && (pending->interrupted || pending->pg_error)) pg::RaisePendingError(pending);
  return !pending->set;
}

}  // namespace cdw::bgworker::coordinator
