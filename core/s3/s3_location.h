// s3:// and cos:// locations and the options that refine them.
//
//   s3://bucket[/prefix]
//       endpoint    default https://s3.<region>.amazonaws.com
//       region      default us-east-1
//       path_style  default false for AWS (virtual-hosted: Host bucket.s3.<region>.amazonaws.com)
//                   and true when an endpoint is given (MinIO, Ceph RGW, moto, ...);
//                   dotted bucket names on AWS over HTTPS use path style (TLS wildcard
//                   certificates do not cover them) unless path_style says otherwise.
//   cos://<bucket>-<appid>.cos.<region>.myqcloud.com[/prefix]
//   cos://cos.<region>.myqcloud.com/<bucket>-<appid>[/prefix]   (older form, same requests)
//       Virtual-hosted requests (Host: <bucket>-<appid>.cos.<region>.myqcloud.com), since
//       COS rejects path-style requests on new buckets; region from the host name
//       (option region overrides it). HTTPS unless https 'false'.
//       Choice for `endpoint` on cos://: it replaces the service endpoint
//       cos.<region>.myqcloud.com (scheme, host and port, e.g.
//       'http://cos.ap-guangzhou.myqcloud.com:8080'), and requests stay
//       virtual-hosted on it (Host: <bucket>-<appid>.<endpoint host>[:port]) unless
//       path_style is 'true'. This is how a non-default port is given.
//   Both:
//       https               true/false, when the endpoint has no scheme (default true)
//       connect_to          'host:port': open connections there while the URL, Host header,
//                           TLS name and signature keep the real host (curl --connect-to)
//       retry_max_attempts  attempts per request, 1..100 (default 6)
//       retry_max_seconds   time budget per request with its retries, 1..86400 (default 120)
//       part_size           multipart part size, 5MB..5GB (default 8MB; grows with the object)
//       uploads_in_flight   1..32 (default 6): parts of one object uploaded at once, and
//                           small objects a backup worker has in flight
//       ca_file, ca_path    CA bundle (PEM file) / hashed CA directory replacing the system's
//       tls_verify          true (default) / false: skip certificate checks (warned about)
//       proxy               'http://host:port' or 'https://host:port' for every request, 'none'
//                           for none; unset: the http_proxy/https_proxy/no_proxy environment
//       connect_timeout     seconds or an interval ('10s', '500ms', '2min'), default 10s
//       request_timeout     each request (attempt) at most this long; default none (a transfer
//                           stalled for 60 s still times out)
//       sse, sse_kms_key_id, sse_kms_context   server-side encryption (s3/sse.h)
//       storage_class       storage class of data objects (s3/storage_class.h lists them)
//       manifest_storage_class  of manifests, their .hmac and the run index (default STANDARD)
//       restore_tier, restore_days  how archived objects are thawed for a restore or verify
//       credentials, profile, role, metadata_endpoint: where credentials come from
//                           (see credentials.h)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "s3/credentials.h"
#include "s3/retry_policy.h"
#include "s3/sse.h"
#include "storage/store_factory.h"

namespace cdw::s3 {

inline constexpr uint64_t kMiB = 1024 * 1024;
inline constexpr uint64_t kMinPartSize = 5 * kMiB;
inline constexpr uint64_t kMaxPartSize = 5 * 1024 * kMiB;
inline constexpr uint64_t kDefaultPartSize = 8 * kMiB;
inline constexpr int kMaxParts = 10000;
inline constexpr int kDefaultUploadsInFlight = 6;
inline constexpr int kMaxUploadsInFlight = 32;

struct S3Location {
  bool cos = false;
  std::string bucket;
  std::string prefix;  // "" or "dir/sub/" (ends with '/')
  std::string region = "us-east-1";
  bool https = true;
  std::string endpoint_host;  // service host without the bucket, e.g. s3.us-east-1.amazonaws.com
  int port = 0;               // 0: the scheme's default
  bool path_style = false;
  std::string connect_to;  // "host:port" or ""
  RetrySettings retry;
  uint64_t part_size = kDefaultPartSize;
  int uploads_in_flight = kDefaultUploadsInFlight;
  // Writes carry a CRC32 of their bytes (x-amz-checksum-crc32, what the AWS
  // SDKs send by default), which the service verifies and records. On for
  // s3://; off for cos://, whose own checksum is CRC64 (x-cos-hash-crc64ecma).
  // Option `checksum` ('crc32' / 'none') overrides it.
  bool checksum_crc32 = true;
  // Server-side encryption (options sse, sse_kms_key_id, sse_kms_context;
  // see s3/sse.h). The SSE-C key is a secret: Credentials::sse_customer_key.
  SseSettings sse;
  // Storage classes sent on PUT / Initiate Multipart Upload ("" sends none):
  // data objects get storage_class; manifests, their .hmac and the run
  // index get manifest_storage_class (STANDARD once storage_class is set,
  // so listing runs and planning a restore never wait for a thaw).
  std::string storage_class;
  std::string manifest_storage_class;
  // How archived objects are thawed (POST ?restore), unless the restore or
  // verify call says otherwise.
  std::string restore_tier = "Standard";
  int restore_days = 1;
  // Where the credentials come from (option credentials; static by default).
  CredentialSettings credential_settings;

  // TLS and proxy (see HttpSettings).
  std::string ca_file;
  std::string ca_path;
  bool tls_verify = true;
  bool proxy_set = false;
  std::string proxy;  // "" with proxy_set: no proxy

  // Transfer limits: connect_timeout and request_timeout are options; tests
  // shorten the low-speed limit.
  long connect_timeout_ms = 10000;
  long request_timeout_ms = 0;   // 0: no limit per request
  long low_speed_seconds = 60;   // a transfer below 1 byte/s for this long is a timeout
  size_t range_size = 8 * kMiB;  // ranged GET size when reading

  // Host header value: virtual-hosted "bucket.endpoint_host" or the endpoint host,
  // with ":port" when it is not the scheme's default.
  std::string RequestHost() const;
  // "https://" + RequestHost()
  std::string BaseUrl() const;
  // Unencoded request path of an object key (relative to the bucket):
  // "/key" or, path-style, "/bucket/key". An empty key gives the bucket itself
  // ("/" or "/bucket").
  std::string RequestPath(const std::string &object_key) const;
  // Human-readable URL of a full object key, never with credentials:
  // "s3://bucket/key" or "cos://bucket-appid.cos.region.myqcloud.com/key".
  std::string DisplayUrl(const std::string &object_key) const;
  // "host:port" of the server connections go to, for connection errors.
  std::string ConnectionTarget() const;
};

// Parses and validates a location and its options without touching the
// network. Throws cdw::Error (HV024) naming the bad part and the accepted form.
S3Location ParseS3Location(const std::string &location, const StoreOptions &options);

// The option names ParseS3Location understands (for the FDW validator).
const std::vector<std::string> &S3OptionNames();

// Whether a location's requests skip TLS certificate verification
// (https with tls_verify false): callers warn about it.
inline bool SkipsTlsVerification(const S3Location &location) {
  return location.https && !location.tls_verify;
}

// "30", "2.5", "30s", "500ms", "2min", "1h", "1 minute" -> milliseconds
// (a bare number is seconds). Throws cdw::Error naming the option.
long long ParseDurationMs(const std::string &name, const std::string &value);

// "5MB", "8MiB", "16777216", "1GB" -> bytes (kB/MB/GB are 1024-based, as in
// PostgreSQL). Throws cdw::Error.
uint64_t ParseByteSize(const std::string &name, const std::string &value);

}  // namespace cdw::s3
