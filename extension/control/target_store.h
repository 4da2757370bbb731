// The one reader of cdw_backup.target_store: every place that needs a
// target's location, options or credentials (runs, list/verify/restore,
// settling interrupted runs, retention) loads it here. Include after
// postgres.h; call between SPI_connect() and SPI_finish().
#pragma once

extern "C" {
#include "postgres.h"
}

namespace cdw::control {

// Limits of a target's fields: they are copied into fixed-size fields of
// shared memory (bgworker/database_job.h, bgworker/restore_job.h), so
// cdw_backup_add_target() refuses anything longer rather than have it cut.
constexpr size_t kMaxLocationBytes = 1023;
constexpr size_t kMaxStoreOptionsBytes = 2047;  // as "key\tvalue\n" lines
constexpr size_t kMaxSecretIdBytes = 255;
constexpr size_t kMaxSecretKeyBytes = 255;
constexpr size_t kMaxSessionTokenBytes = 2047;
constexpr size_t kMaxSseCustomerKeyBytes = 64;    // 64 hex digits or 44 of base64
constexpr size_t kMaxEncryptionKeysBytes = 2047;  // the key ring, one key a line

// A target row, palloc'd in the current memory context. Secrets and options
// are "" when absent; options are "key\tvalue\n" lines.
struct Target {
  char *name;
  char *location;
  char *options;
  char *secret_id;
  char *secret_key;
  char *session_token;
  char *sse_customer_key;  // SSE-C key (s3/sse.h)
  char *owner;             // the owning role's name (its OID while the role is gone)
  Oid owner_id;            // ownership is by OID
  char *manifest_key;      // hex: authenticates the target's manifests and run indexes
  char *encryption_keys;   // key ring (one key a line, the current first); "" if none
};

// Reads target `name` (the store is readable only by the extension owner;
// the read switches to it for that one statement). NULL when it does not
// exist.
Target *FindTarget(const char *name);

// FindTarget(), but errors with 42704 (and a hint to add it) when it does not
// exist and with 42501 unless `role_id` owns it or is a superuser.
Target *LoadTarget(const char *name, Oid role_id);

// list, verify and restore read a target's objects in the caller's session
// (and the restore worker as the caller): for a file:// target that is
// reading server files, so it needs pg_read_server_files (42501 with the
// GRANT otherwise), as pg_read_file() and COPY FROM a file do.
void RequireReadableTarget(const Target *target);

// Targets whose option credentials takes them from the database server
// ('env', 'imds', 'cvm', 'instance') act with the server's own identity:
// adding, running, listing, verifying or restoring one needs the privileges
// of pg_read_server_files (42501 with the GRANT otherwise). `target` names it
// in the error.
void RequireServerCredentialsPrivilege(Oid role_id, const char *target);

}  // namespace cdw::control
