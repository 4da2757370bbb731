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
  kSkipped = 4,
  kRefused = 5,  // not attempted: restoring it needs other tables too (detail lists them)
};

// Room for a name in any encoding: a name of NAMEDATALEN - 1 bytes in the
// database it comes from can be up to MAX_CONVERSION_GROWTH times longer in
// another (LATIN1 'é' is one byte, two in UTF-8).
constexpr int kRestoreNameBytes = NAMEDATALEN * 4;

// Every string of a job is in the encoding `text_encoding` of the database
// that made it (the home database); the worker converts to its own.
struct RestoreItem {
  char source_schema[kRestoreNameBytes];
  char source_table[kRestoreNameBytes];
  char dest_schema[kRestoreNameBytes];
  char dest_table[kRestoreNameBytes];
  int64 expected_rows;
  uint32 path_offset;  // table prefix key on the target
  // The manifest's objects (keys below the target's root, one a line, its
  // references to earlier runs included): what the restore reads. Old
  // manifests without an objects list read every part under the path.
  bool has_parts;
  uint32 parts_offset;
  // The manifest's columns, unchecked: column_count triples of
  // NUL-terminated strings (name, type as format_type() wrote it, "t"/"f"
  // for NOT NULL). The worker resolves every type before using it.
  uint32 columns_offset;
  int column_count;
  // Format 2: the schema objects that come with the table when it is
  // created (extension/control/restore_table_objects.h), object_count x 8
  // NUL-terminated strings; 0 for an old manifest or a renamed destination.
  uint32 objects_offset;
  int object_count;
  // A table restored in the same transaction as item group_with (-1: on
  // its own): the members of a partition tree, all created before any is
  // loaded or gets its indexes.
  int group_with;
  bool no_data;  // a partitioned table: created from the schema, no rows to load
  // false: a table of the backup the caller did not ask for, there only so
  // that cascade => true can add it; it gets no result row unless added.
  bool selected;
  volatile int status;  // RestoreStatus
  int64 rows;
  char sqlstate[6];
  char detail[1024];
  char hint[512];
};

// A schema object of a restored table that could not be restored (the
// table itself may be restored): one more result row.
struct ObjectFailure {
  int item;
  char kind[32];
  char name[2 * NAMEDATALEN + 2];
  char sqlstate[6];
  char detail[1024];
  char hint[512];
};

// One entry of the manifest's schema (core/schema/schema_toc.h), in restore
// order, for a whole-database restore (bgworker/restore/schema_restore.h).
enum class SchemaSection : int { kPreData = 0, kData = 1, kPostData = 2 };

struct SchemaStep {
  int section;  // SchemaSection
  uint32 kind_offset;
  uint32 schema_offset;
  uint32 name_offset;
  uint32 sql_offset;
  volatile int status;  // RestoreStatus: kPending, kRestored, kChecked, kFailed, kSkipped
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
  char sse_customer_key[65];
  char encryption_keys[2048];  // the target's key ring (encryption => 'on'), one a line
  char compression[16];
  int text_encoding;                // of the job's strings (pg_enc)
  char data_encoding[NAMEDATALEN];  // of the parts' text: the manifest's "encoding"
  bool truncate;
  bool cascade;
  bool dry_run;
  // by_parent: the caller named a table the backup does not hold; the
  // worker selects the tables of the backup that are the leaf partitions (or
  // inheritance children) of that table in the destination and sets
  // parent_found when there are any. parent_schema "" when unqualified.
  bool by_parent;
  bool parent_found;
  char parent_schema[NAMEDATALEN];
  char parent_table[NAMEDATALEN];
  // The manifest (or the run index) was accepted without a MAC
  // (allow_unauthenticated => true): nothing is created from it, rows only
  // go into tables that exist.
  bool unauthenticated;
  // Set by the worker when the manifest itself is unusable (a column type
  // that is not a type name): nothing was restored and the caller raises
  // this error instead of returning rows.
  bool refused;
  char refused_sqlstate[6];
  char refused_message[512];
  char refused_detail[1024];
  char refused_hint[512];
  int failure_capacity;
  int failure_count;
  uint32 failures_offset;  // ObjectFailure[failure_capacity] from the start of the job
  // The schema of a whole-database restore (0 steps: tables only): an
  // array at schema_offset from the start of the job; first a "ROLE" step
  // for each role its objects refer to (sql empty), then the objects.
  int schema_count;
  uint32 schema_offset;
  bool create_roles;  // create missing roles NOLOGIN instead of refusing
  int count;
  uint32 strings_offset;  // from the start of the job
  RestoreItem items[FLEXIBLE_ARRAY_MEMBER];
};

inline const char *RestoreString(const RestoreJob *job, uint32 offset) {
  return reinterpret_cast<const char *>(job) + job->strings_offset + offset;
}

inline ObjectFailure *ObjectFailures(RestoreJob *job) {
  return reinterpret_cast<ObjectFailure *>(reinterpret_cast<char *>(job) + job->failures_offset);
}

inline SchemaStep *SchemaSteps(RestoreJob *job) {
  return reinterpret_cast<SchemaStep *>(reinterpret_cast<char *>(job) + job->schema_offset);
}

}  // namespace cdw::bgworker

extern "C" {
PGDLLEXPORT void cdw_backup_restore_worker(Datum job_handle);
}
