// Shared memory between cdw_backup_restore() (in the home database) and the
// restore worker connected to the destination database. Include after
// postgres.h.
#pragma once

extern "C" {
#include "storage/dsm.h"
}

namespace cdw::bgworker {

enum class RestoreStatus : int {
  kPending = 0,
  kRestored = 1,
  kFailed = 2,
  kChecked = 3,
  kSkipped = 4
};

struct RestoreItem {
  char source_schema[NAMEDATALEN];
  char source_table[NAMEDATALEN];
  char dest_schema[NAMEDATALEN];
  char dest_table[NAMEDATALEN];
  int64 expected_rows;
  uint32 path_offset;         // table prefix key on the target
  uint32 column_defs_offset;  // "%I type, ..." for the external table
  uint32 create_defs_offset;  // the same with NOT NULL, for CREATE TABLE
  uint32 signature_offset;    // "name type, ..." to compare with an existing table
  volatile int status;        // RestoreStatus
  int64 rows;
  char sqlstate[6];
  char detail[1024];
  char hint[512];
};

struct RestoreJob {
  Oid database_id;
  Oid role_id;
  char location[1024];
  char store_options[2048];
  char secret_id[256];
  char secret_key[256];
  char session_token[2048];
  char compression[16];
  bool truncate;
  bool dry_run;
  int count;
  uint32 strings_offset;  // from the start of the job
  RestoreItem items[FLEXIBLE_ARRAY_MEMBER];
};

inline const char *RestoreString(const RestoreJob *job, uint32 offset) {
  return reinterpret_cast<const char *>(job) + job->strings_offset + offset;
}

}  // namespace cdw::bgworker

extern "C" {
PGDLLEXPORT void cdw_backup_restore_worker(Datum job_handle);
}
