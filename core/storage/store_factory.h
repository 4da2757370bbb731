// Opens the ObjectStore a location URL names.
//
//   file:///absolute/dir                         local directory (FileStore)
//   s3://bucket/prefix                           S3-compatible (S3Store)
//   cos://bucket-appid.cos.region.myqcloud.com/prefix, cos://cos.region.myqcloud.com/bucket/prefix
//
// `options` are the FDW server options / target options that refine a
// location (endpoint, region, path_style, https, connect_to, ...) and
// max_rate, the bandwidth limit (any scheme, file:// too). Unknown
// keys are the caller's business (the FDW validator rejects them).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "storage/object_store.h"

namespace cdw {

struct Credentials {
  std::string access_key_id;      // secret_id
  std::string secret_access_key;  // secret_key
  std::string session_token;      // optional
  // SSE-C key (s3/sse.h), 64 hex digits or base64; optional. A secret like
  // the others: kept with them, never shown.
  std::string sse_customer_key = {};  // (initialized: older aggregate inits stay valid)
  bool empty() const { return access_key_id.empty() && secret_access_key.empty(); }
};

using StoreOptions = std::map<std::string, std::string>;

// Store options travel between processes as "key\tvalue\n" lines.
StoreOptions ParseStoreOptionLines(const std::string &lines);

enum class LocationScheme { kFile, kS3, kCos };

// Names of the options that refine a location (FDW server options and
// target options): endpoint, region, path_style, https, connect_to, ...
const std::vector<std::string> &StoreOptionNames();

// Option max_rate, in bytes per second (0: none or unlimited). Throws
// cdw::Error (22023) when it is not a rate (see common/rate_limiter.h).
uint64_t StoreMaxRate(const StoreOptions &options);

// Returns the scheme of a location, or throws cdw::Error (22023) with a hint
// listing the accepted forms.
LocationScheme ParseLocationScheme(const std::string &location);

// Checks a location and its options without touching storage (used by the
// FDW validator and cdw_backup_add_target). Throws cdw::Error.
void ValidateLocation(const std::string &location, const StoreOptions &options);

// Whether requests to the location skip TLS certificate verification
// (option tls_verify false on an https location): callers warn about it.
// Throws like ValidateLocation.
bool LocationSkipsTlsVerification(const std::string &location, const StoreOptions &options);

// Checks an SSE-C key (Credentials::sse_customer_key, "" for none) for a
// location and its options: its form, that the location is object storage,
// and that the options' sse does not exclude it. Never shows the key.
void ValidateSseCustomerKey(const std::string &location, const StoreOptions &options,
                            const std::string &key);

// Whether the location's scheme needs credentials (object storage does).
bool LocationNeedsCredentials(const std::string &location);

// Whether the options take an object storage location's credentials from
// the database server itself (option credentials 'env', 'imds', 'cvm' or
// 'instance'): its environment, its files or its instance role. Using them
// needs the privileges of pg_read_server_files, as reading the server's
// ~/.aws/credentials would.
bool UsesServerCredentials(const StoreOptions &options);

// Cleanups that could not finish in time when they were due (aborting a
// multipart upload while the server stalled) are retried here, within
// `budget_ms`. Returns how many remain (named in `remaining`, see
// s3::RetryDeferredAborts); never throws.
size_t RetryDeferredCleanups(long budget_ms, std::string *remaining = nullptr);

std::unique_ptr<ObjectStore> OpenObjectStore(const std::string &location,
                                             const StoreOptions &options,
                                             const Credentials &credentials);

}  // namespace cdw
