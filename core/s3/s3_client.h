// The S3 REST operations cdw_backup needs, signed (SigV4), retried and
// turned into cdw::Error on failure.
//
// Keys here are full object keys inside the bucket (the location prefix
// included). Every operation takes an abort check: the caller's
// InterruptCheck on the main thread, a cancel flag on an upload thread. It is
// polled during transfers and between retries, and a true answer throws
// cdw::Interrupted. One S3Client (one connection) is used by one thread at a
// time; nothing here calls PostgreSQL.
//
// Errors: 4xx responses carry S3's Code and Message and a hint naming the
// fix (secret_key, secret_id, the bucket name, the policy's action, the
// region, sse_customer_key, sse_kms_key_id); transport failures become SQLSTATE 08006 naming host
// and port. Nothing ever includes the secret key, the session token, the access key id or the SSE-C
// key.
//
// Server-side encryption (s3/sse.h): PutObject and CreateMultipartUpload
// carry the sse options' headers; with an SSE-C key, every write request of
// an object (parts and completion included) and every read carries the key.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "s3/credential_provider.h"
#include "s3/http_client.h"
#include "s3/s3_location.h"
#include "s3/s3_xml.h"
#include "s3/sse.h"
#include "s3/storage_class.h"
#include "storage/store_factory.h"

namespace cdw::s3 {

class S3Client {
 public:
  // `credentials` are the static ones (location().credential_settings says
  // where they come from otherwise; see credential_provider.h). Throws
  // cdw::Error when static credentials are incomplete, or given for another
  // source. Each request (each attempt) is signed with the provider's
  // current credentials, so temporary ones are renewed in the middle of a
  // multipart upload.
  S3Client(S3Location location, Credentials credentials);

  // Size of an object, or nullopt when there is none (a 1-byte ranged GET,
  // so the answer carries S3's error code when access is refused).
  std::optional<uint64_t> ObjectSize(const std::string &key, const AbortCheck &abort);

  // `storage_class` ("" for none) goes into the provider's storage class
  // header (x-amz-storage-class, x-cos-storage-class).
  void PutObject(const std::string &key, const char *data, size_t len, const AbortCheck &abort,
                 const std::string &storage_class = std::string());

  // With location().checksum_crc32, the upload is started with CRC32 as its
  // checksum algorithm, and every part must then carry its CRC32.
  std::string CreateMultipartUpload(const std::string &key, const AbortCheck &abort,
                                    const std::string &storage_class = std::string());

  // HEAD of an object: its storage class and thaw status (either
  // provider's header names are understood).
  struct HeadInfo {
    bool exists = false;
    std::string storage_class;  // "" when the server names none (STANDARD)
    RestoreHeaderInfo restore;
  };
  HeadInfo HeadObject(const std::string &key, const AbortCheck &abort);

  // POST <key>?restore. Returns true when the thaw is under way (202, or
  // RestoreAlreadyInProgress), false when a thawed copy is already there
  // (200). Other refusals throw with the store's code.
  bool RestoreObject(const std::string &key, int days, const std::string &tier,
                     const AbortCheck &abort);
  // Returns the part's number, ETag and the CRC32 it was sent with, for
  // CompleteMultipartUpload.
  CompletedPart UploadPart(const std::string &key, const std::string &upload_id, int part_number,
                           const char *data, size_t len, const AbortCheck &abort);
  // `total_size` lets a retried completion that finds the upload already
  // completed confirm that the object is there.
  void CompleteMultipartUpload(const std::string &key, const std::string &upload_id,
                               const std::vector<CompletedPart> &parts, uint64_t total_size,
                               const AbortCheck &abort);
  // A missing upload is not an error. `retry` (with a 5 s limit per attempt)
  // bounds a best-effort abort.
  void AbortMultipartUpload(const std::string &key, const std::string &upload_id,
                            const AbortCheck &abort, const RetrySettings *retry = nullptr);

  // Reads bytes [offset, offset + length) into *out (replacing its content).
  // Sets *total_size to the object's size. length 0 is not allowed.
  void GetRange(const std::string &key, uint64_t offset, uint64_t length, std::string *out,
                uint64_t *total_size, const AbortCheck &abort);

  ListObjectsPage ListObjectsV2(const std::string &prefix, const std::string &continuation_token,
                                const AbortCheck &abort, int max_keys = 1000);
  // All pages; keys as stored (full keys).
  std::vector<ObjectInfo> ListAll(const std::string &prefix, const AbortCheck &abort);

  // A missing object is not an error. `retry` (with a 650 ms limit per
  // attempt, as AbortMultipartUpload) bounds a best-effort removal.
  void DeleteObject(const std::string &key, const AbortCheck &abort,
                    const RetrySettings *retry = nullptr);

  // Closes the connection (see HttpClient::Close); the next call reconnects.
  void CloseConnection() noexcept { http_.Close(); }

  // Every in-progress multipart upload whose key starts with `prefix`.
  std::vector<MultipartUploadInfo> ListMultipartUploads(const std::string &prefix,
                                                        const AbortCheck &abort);

  const S3Location &location() const { return location_; }

  // Signing time source (Unix seconds); tests pin it.
  void SetClockForTest(std::function<long long()> now) { now_ = std::move(now); }

 private:
  struct Call {
    const char *method = "GET";
    std::string key;          // "" for bucket-level requests
    std::string display_key;  // shown in messages instead of key (a list's prefix)
    QueryParams query;
    HeaderList headers;  // extra signed headers (Range, ...)
    const char *body = nullptr;
    size_t body_size = 0;
    size_t expected_response_size = 0;
    const char *action = "";                  // IAM action for AccessDenied hints: "s3:PutObject"
    std::string what;                         // "write object", "read object", "list", ...
    std::vector<std::string> accepted_codes;  // returned to the caller, not thrown
    bool error_in_200 = false;                // CompleteMultipartUpload may fail with a 200
    const RetrySettings *retry = nullptr;
    long timeout_ms = 0;       // per attempt; 0: none beyond the low-speed limit
    bool object_read = false;  // a GET of an object (for SSE-C hints)
  };
  struct Result {
    HttpResponse response;
    S3ErrorInfo error;  // set when an accepted error code came back
  };

  Result Execute(const Call &call, const AbortCheck &abort);
  [[noreturn]] void ThrowHttpError(const Call &call, const HttpResponse &response,
                                   const S3ErrorInfo &info, int attempts) const;
  [[noreturn]] void ThrowTransportError(const Call &call, const HttpResponse &response,
                                        int attempts, long long elapsed_ms) const;
  std::string Scrub(std::string text) const;

  S3Location location_;
  std::shared_ptr<CredentialProvider> provider_;
  Credentials credentials_;      // the last ones used (and the SSE-C key), for Scrub()
  SseCustomerKey customer_key_;  // from the given credentials' sse_customer_key
  HttpClient http_;
  std::function<long long()> now_;
};

// Base64 of the big-endian CRC32 (ISO-HDLC, as zlib) of data: the value of
// an x-amz-checksum-crc32 header.
std::string ChecksumCrc32Base64(const char *data, size_t len);

// Base64 of the MD5 of data: a Content-MD5 header.
std::string ContentMd5Base64(const char *data, size_t len);

// Replaces every occurrence of the secret key, the session token, the
// access key id and the SSE-C key (as given and as base64) in `text` by
// "[redacted]".
std::string ScrubSecrets(std::string text, const Credentials &credentials);

// The hint for an S3 error code (exposed for tests).
std::string HintForS3Error(const std::string &code, long status, const std::string &action,
                           const S3Location &location);

}  // namespace cdw::s3
