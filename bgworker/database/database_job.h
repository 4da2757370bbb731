// The shared-memory contract between a run's coordinator (in the home
// database, bgworker/run/) and the workers that export one database
// (bgworker/database/).
//
// The coordinator creates a DatabaseJob in a DSM segment and starts the
// leader worker, which connects to the database, opens a REPEATABLE READ
// transaction, exports its snapshot, locks and lists the tables and puts
// them into a second DSM segment (TableEntry array). Helpers start together
// with the leader and import the snapshot once the list is published; every
// worker takes tables from the shared counter. The coordinator turns finished entries into history
// rows; the leader writes the database manifest once every worker is done.
// Include after postgres.h.
#pragma once

extern "C" {
#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/dsm.h"
#include "storage/latch.h"
#include "storage/spin.h"
#include "utils/timestamp.h"
}

#include "bgworker/shared_state.h"

namespace cdw::bgworker {

enum class JobPhase : int { kStarting = 0, kListed = 1, kFailed = 2, kDone = 3 };
enum class TableStatus : int {
  kPending = 0,
  kRunning = 1,
  kSucceeded = 2,
  kFailed = 3,
  kCancelled = 4,
  // Left out by the run's filters: no worker takes it, the manifest lists
  // it among "excluded_tables", history says which filter (`hint`).
  kExcluded = 5
};

// The status as history and the manifest spell it (database_job.cpp).
const char *TableStatusName(TableStatus status);

// The status of a whole table from the entries of its ranges (`first` is
// its range 0): succeeded only if all succeeded; pending while any is.
struct TableOutcome {
  TableStatus status;
  int64 rows, bytes_raw, bytes_stored, bytes_reused;
  TimestampTz started_at, finished_at;
  const struct TableEntry *failed;  // the first range that did not succeed
};
TableOutcome CombineRanges(const struct TableEntry *first);

struct DatabaseJob;
struct TableList;
// Whether a database's backup is on the target as a whole: its manifest was
// written by a leader that committed, and every worker that exported a table
// committed too (an abort removes a worker's parts). Only then are its
// tables backed up; IncompleteReason() says why not, as a phrase.
bool DatabaseComplete(const DatabaseJob *job, const TableList *tables);
const char *IncompleteReason(const DatabaseJob *job);

constexpr int kMaxPartsPerTable = 4;
constexpr int kTextBytes = 1024;
constexpr int kSmallTextBytes = 512;

struct PartRecord {
  char name[128];
  uint64 rows;
  uint64 size;
  char sha256[65];
  char content_sha256[65];  // of the CSV bytes
  char fingerprint[65];     // of the rows (format/row_fingerprint.h), or ""
  uint64 bytes_raw;
  // Incremental runs: the part was not written because object
  // reused_object of table reused_table of the base manifest (the job's
  // base_prefix) holds the same CSV; -1 for a part this run wrote.
  int32 reused_table;
  int32 reused_object;
};

// Room for a name in another encoding: NAMEDATALEN - 1 bytes in the
// database it comes from can be up to MAX_CONVERSION_GROWTH times more in
// the home database's (LATIN1 'é' is one byte, two in UTF-8).
constexpr int kNameTextBytes = NAMEDATALEN * 4;

// One unit of work: a whole table, or one block range of a big table (so a
// one-table database still keeps every worker busy). The ranges of a table
// are consecutive entries; the first has range_index 0. All ranges read the
// same snapshot; each writes its own part.
struct TableEntry {
  Oid relid;
  char schema_name[NAMEDATALEN];  // in the database's encoding, for the workers' SQL
  char table_name[NAMEDATALEN];
  char schema_text[kNameTextBytes];  // the same in the job's text_encoding, for history
  char table_text[kNameTextBytes];
  int range_index;
  int range_count;
  uint32 start_block;
  uint32 end_block;     // InvalidBlockNumber: to the end of the table
  volatile int status;  // TableStatus; written last, after a write barrier
  int64 rows;
  int64 bytes_raw;
  int64 bytes_stored;
  int64 bytes_reused;  // of bytes_stored, what references to earlier runs' objects hold
  TimestampTz started_at;
  TimestampTz finished_at;
  char sqlstate[6];
  char error[kTextBytes];
  char hint[kSmallTextBytes];
  int part_count;
  PartRecord parts[kMaxPartsPerTable];
  int exporter_pid;    // the worker that exported it
  volatile bool kept;  // its worker committed: its parts stay on the target
  // exclude_table_data: its schema is backed up, its rows are not (status
  // succeeded at listing, no parts); `hint` says which pattern.
  bool data_excluded;
  int64 planned_bytes;  // relation bytes (TOAST included) at planning, for progress
};

// In dynamic shared memory: the entries, then the order in which workers
// take them (indexes into entries, largest unit first), then the entries
// helpers handed back to the leader (see table_locks.h), each at most once.
struct TableList {
  int count;
  int handed_back;  // entries in HandedBack(); both guarded by the job's mutex
  int taken_back;   // of those, how many the leader took
  TableEntry entries[FLEXIBLE_ARRAY_MEMBER];
};

inline Size TableListSize(int count) {
  return offsetof(TableList, entries) + (sizeof(TableEntry) + 2 * sizeof(uint32)) * Max(count, 1);
}

inline uint32 *DispatchOrder(TableList *list) {
  return reinterpret_cast<uint32 *>(&list->entries[list->count]);
}

inline uint32 *HandedBack(TableList *list) {
  return DispatchOrder(list) + Max(list->count, 1);
}

// Text in the job is in `text_encoding`, the coordinator's (the home
// database's) encoding: what the coordinator puts in, and the names and
// messages the workers put back, converted from their database's encoding
// (bgworker/database/worker_text.h). Keys (database_prefix) are UTF-8.
struct DatabaseJob {
  int64 run_id;
  Oid database_id;
  Oid role_id;
  int text_encoding;
  char database[NAMEDATALEN];
  char compression[16];
  char location[kTextBytes];
  char store_options[2048];  // "key\tvalue\n" lines
  char secret_id[256];
  char secret_key[256];
  char session_token[2048];
  char sse_customer_key[65];
  char manifest_key[65];       // the target's key (hex) that authenticates the manifest
  char encryption_keys[2048];  // the target's key ring (encryption => 'on'), one a line
  char database_prefix[2048];  // key of the database on the target, ends in '/'
  int lock_wait_timeout_ms;    // cdw_backup.lock_wait_timeout when the run started
  RunFilters filters;          // the run's, in text_encoding
  // Set by the leader: which patterns matched a table (or, for schema
  // lists, a schema) of this database.
  bool pattern_matched[kFilterKinds][kMaxFilterPatterns];
  // Incremental runs: the database prefix of the earlier run whose manifest
  // (authenticated with manifest_key) offers objects to reuse; "" for a full
  // copy.
  char base_prefix[2048];
  int64 base_run_id;
  Latch *coordinator_latch;

  slock_t mutex;
  volatile int phase;  // JobPhase
  volatile bool cancel;
  char snapshot[64];
  dsm_handle tables_handle;
  pg_atomic_uint32 next_table;
  pg_atomic_uint32 helpers_active;
  // The coordinator may add helpers (counted into helpers_active under the
  // mutex) while this is set; the leader clears it, under the mutex, when
  // it has taken its last unit, before it waits for helpers_active to be 0.
  bool accepting_helpers;
  // Broadcast when a helper finishes and when the leader's verdict (phase
  // done or failed) is known, so neither side waits for a poll interval.
  ConditionVariable workers_changed;
  volatile bool manifest_written;
  char sqlstate[6];
  char error[kTextBytes];
  char hint[kSmallTextBytes];
  // Objects the schema capture leaves out (schema_capture.cpp), in the home
  // database's encoding; the coordinator adds it to runs.warnings. Empty:
  // none.
  char schema_warning[kTextBytes];
};

}  // namespace cdw::bgworker
