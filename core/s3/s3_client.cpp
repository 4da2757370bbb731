#include "s3/s3_client.h"

#include <libdeflate.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>

#include "common/error.h"
#include "s3/sigv4.h"

namespace cdw::s3 {

namespace {

bool Is2xx(long status) {
  return status >= 200 && status < 300;
}

// Codes for bodiless error responses (HEAD, or a proxy's empty reply).
std::string CodeForStatus(long status, bool bucket_level) {
  switch (status) {
    case 301:
      return "PermanentRedirect";
    case 400:
      return "BadRequest";
    case 403:
      return "AccessDenied";
    case 404:
      return bucket_level ? "NoSuchBucket" : "NoSuchKey";
    case 416:
      return "InvalidRange";
    case 429:
      return "SlowDown";
    case 503:
      return "ServiceUnavailable";
    default:
      return status >= 500 ? "InternalError" : "HTTP" + std::to_string(status);
  }
}

const char *SqlstateFor(const std::string &code, long status) {
  if (code == "NoSuchKey" || code == "NoSuchBucket") return sqlstate::kUndefinedFile;
  if (code == "InvalidObjectState") return sqlstate::kObjectNotInPrerequisiteState;
  if (status == 403 || code == "AccessDenied" || code == "SignatureDoesNotMatch" ||
      code == "InvalidAccessKeyId" || code == "ExpiredToken" || code == "InvalidToken")
    return sqlstate::kInsufficientPrivilege;
  return sqlstate::kIoError;
}

// Codes with which a service refuses credentials that have lapsed (or that
// it no longer knows, as after a rotation).
bool IsCredentialRefusal(const std::string &code) {
  return code == "ExpiredToken" || code == "InvalidToken" || code == "TokenRefreshRequired" ||
         code == "InvalidAccessKeyId";
}

// "bytes 0-0/1234" -> 1234; "bytes */0" -> 0.
bool ParseContentRangeTotal(const std::string &value, uint64_t *total) {
  size_t slash = value.rfind('/');
  if (slash == std::string::npos || slash + 1 >= value.size() || value[slash + 1] == '*')
    return false;
  char *end = nullptr;
  *total = std::strtoull(value.c_str() + slash + 1, &end, 10);
  return end && *end == '\0';
}

std::string RangeHeader(uint64_t first, uint64_t last) {
  return "bytes=" + std::to_string(first) + "-" + std::to_string(last);
}

// Signed headers that give the service a body's CRC32 to verify: the
// algorithm (as the AWS SDKs send it; some services look for it) and the value.
void AddChecksumHeaders(HeaderList *headers, const std::string &crc32_base64) {
  headers->emplace_back("x-amz-checksum-crc32", crc32_base64);
  headers->emplace_back("x-amz-sdk-checksum-algorithm", "CRC32");
}

HttpSettings HttpSettingsFor(const S3Location &location) {
  HttpSettings settings;
  settings.connect_to = location.connect_to;
  settings.connect_timeout_ms = location.connect_timeout_ms;
  settings.low_speed_seconds = location.low_speed_seconds;
  settings.request_timeout_ms = location.request_timeout_ms;
  settings.ca_file = location.ca_file;
  settings.ca_path = location.ca_path;
  settings.tls_verify = location.tls_verify;
  settings.proxy_set = location.proxy_set;
  settings.proxy = location.proxy;
  return settings;
}

std::string Millis(long ms) {
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + " s";
  return std::to_string(ms) + " ms";
}

}  // namespace

std::string ChecksumCrc32Base64(const char *data, size_t len) {
  uint32_t crc = libdeflate_crc32(0, data, len);
  const unsigned char big_endian[4] = {
      static_cast<unsigned char>(crc >> 24), static_cast<unsigned char>(crc >> 16),
      static_cast<unsigned char>(crc >> 8), static_cast<unsigned char>(crc)};
  unsigned char encoded[9];  // 8 characters and the NUL EVP_EncodeBlock adds
  int n = EVP_EncodeBlock(encoded, big_endian, sizeof big_endian);
  return std::string(reinterpret_cast<char *>(encoded), static_cast<size_t>(n));
}

std::string ScrubSecrets(std::string text, const Credentials &credentials) {
  const std::string key_base64 = [&] {
    try {
      return ParseSseCustomerKey(credentials.sse_customer_key).key_base64;
    } catch (const Error &) {
      return std::string();
    }
  }();
  for (const std::string *secret :
       {&credentials.secret_access_key, &credentials.session_token, &credentials.access_key_id,
        &credentials.sse_customer_key, &key_base64}) {
    if (secret->size() < 4) continue;
    for (size_t pos = text.find(*secret); pos != std::string::npos;
         pos = text.find(*secret, pos + 10))
      text.replace(pos, secret->size(), "[redacted]");
  }
  return text;
}

std::string HintForS3Error(const std::string &code, long status, const std::string &action,
                           const S3Location &location) {
  const std::string where = location.DisplayUrl(location.prefix);
  // A 403 too, but not a matter of permissions.
  if (code == "InvalidObjectState")
    return "The object is in an archive storage class (GLACIER, DEEP_ARCHIVE, ARCHIVE) and must be "
           "thawed before it is read: cdw_backup_restore() and cdw_backup_verify() request the "
           "thaw and wait for it (arguments wait, thaw_timeout, restore_tier, restore_days; "
           "wait => false returns at once).";
  const CredentialSource source = location.credential_settings.source;
  if (source != CredentialSource::kStatic &&
      (code == "SignatureDoesNotMatch" || code == "InvalidAccessKeyId" ||
       IsCredentialRefusal(code)))
    return source == CredentialSource::kEnv
               ? "Check the credentials in the database server's environment "
                 "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) or its shared "
                 "credentials file; PostgreSQL reads its environment when it starts."
               : "The instance's role credentials were refused: check the role attached to the "
                 "instance and the database server's clock (NTP).";
  if (code == "SignatureDoesNotMatch")
    return "Check secret_key: it does not belong to secret_id (set both on the user mapping or "
           "the backup target).";
  if (code == "InvalidAccessKeyId")
    return "Check secret_id: the storage service does not know this access key.";
  if (code == "ExpiredToken" || code == "InvalidToken" || code == "TokenRefreshRequired")
    return "Renew the temporary credentials: give a current session_token with its secret_id "
           "and secret_key.";
  if (code == "NoSuchBucket")
    return "Check the bucket name \"" + location.bucket + "\" in the location" +
           (location.cos ? " (COS bucket names end with -<appid>)." : ", and the endpoint.");
  if (code == "RequestTimeTooSkewed")
    return "Synchronize the database server's clock (NTP): signed requests must be within 15 "
           "minutes of the storage service's time.";
  if (code == "AuthorizationHeaderMalformed" || code == "PermanentRedirect" ||
      code == "IllegalLocationConstraintException" || code == "AuthorizationQueryParametersError")
    return "Check the region option (now \"" + location.region +
           "\"): the bucket may be in another region.";
  if (code == "InvalidBucketName") return "Check the bucket name in the location.";
  if (code == "AccessDenied" || code == "AllAccessDisabled" || status == 403) {
    std::string hint = "The bucket policy must allow ";
    hint += action.empty() ? "this request" : action;
    hint += " on " + where +
            " for this access key; backups need s3:PutObject, s3:GetObject, s3:ListBucket, "
            "s3:DeleteObject and s3:AbortMultipartUpload.";
    return hint;
  }
  if (code == "NotImplemented" || status == 405 || status == 501)
    return "The storage server does not support this S3 request; check the endpoint.";
  return {};
}

S3Client::S3Client(S3Location location, Credentials credentials)
    : location_(std::move(location)),
      provider_(MakeCredentialProvider(location_.credential_settings, credentials,
                                       location_.DisplayUrl(location_.prefix))),
      credentials_(std::move(credentials)),
      http_(HttpSettingsFor(location_)),
      now_([] { return static_cast<long long>(std::time(nullptr)); }) {
  InitXmlParser();
  customer_key_ = ParseSseCustomerKey(credentials_.sse_customer_key);
  CheckSseCombination(location_.sse, customer_key_);
}

std::string S3Client::Scrub(std::string text) const {
  return ScrubSecrets(std::move(text), credentials_);
}

void S3Client::ThrowHttpError(const Call &call, const HttpResponse &response,
                              const S3ErrorInfo &info, int attempts) const {
  std::string url = location_.DisplayUrl(call.display_key.empty() ? call.key : call.display_key);
  std::string message = "could not " + call.what + " \"" + url + "\": " + info.code;
  if (!info.message.empty()) message += ": " + info.message;
  std::string detail = "The storage service answered HTTP " + std::to_string(response.status) +
                       " to " + call.method + " " + location_.BaseUrl() +
                       location_.RequestPath(call.key);
  if (!info.request_id.empty()) detail += " (request id " + info.request_id + ")";
  detail += attempts > 1 ? " after " + std::to_string(attempts) + " attempts." : ".";
  std::string hint = HintForSseError(info.code, response.status, info.message, call.object_read,
                                     location_.cos, location_.sse, customer_key_);
  if (hint.empty()) hint = HintForS3Error(info.code, response.status, call.action, location_);
  throw Error(SqlstateFor(info.code, response.status), Scrub(message), Scrub(detail), Scrub(hint));
}

void S3Client::ThrowTransportError(const Call &call, const HttpResponse &response, int attempts,
                                   long long elapsed_ms) const {
  std::string target = location_.ConnectionTarget();
  std::string shown = call.display_key.empty() ? call.key : call.display_key;
  std::string failed = "failed";
  std::string hint =
      "Check that the storage service is reachable from the database server and the "
      "location's endpoint, https and connect_to options; retry_max_attempts and "
      "retry_max_seconds bound the retries.";
  std::string via;
  if (location_.proxy_set && !location_.proxy.empty()) via = ", through proxy " + location_.proxy;
  switch (response.failure) {
    case TransportFailure::kTlsVerify:
      failed = "failed: the server's TLS certificate could not be verified";
      hint = location_.ca_file.empty() && location_.ca_path.empty()
                 ? "Set the option ca_file (a PEM file of the CA that signed the server's "
                   "certificate) or ca_path (a directory prepared with 'openssl rehash'); "
                   "tls_verify 'false' skips the check, which is not recommended."
                 : "Check that ca_file/ca_path hold the CA that signed the server's certificate "
                   "and that the certificate names the host " +
                       location_.RequestHost() + ".";
      break;
    case TransportFailure::kTlsSetup:
      failed = "failed: the TLS set-up is unusable";
      hint =
          "Check the options ca_file and ca_path: they must name PEM CA certificates the "
          "database server can read.";
      break;
    case TransportFailure::kTimeout:
      failed = "timed out";
      hint = "The connection was given " + Millis(location_.connect_timeout_ms) +
             " (option connect_timeout) and each request " +
             (location_.request_timeout_ms > 0
                  ? Millis(location_.request_timeout_ms) + " (option request_timeout)"
                  : std::string("no limit (option request_timeout), but a transfer stalled ") +
                        std::to_string(location_.low_speed_seconds) + " s times out") +
             "; check that the storage service answers, or raise them; retry_max_attempts and "
             "retry_max_seconds bound the retries.";
      break;
    case TransportFailure::kProxy:
      failed = "failed at the proxy";
      hint =
          "Check the option proxy (or the http_proxy/https_proxy environment variables of "
          "the database server): the proxy must be reachable and allow connections to " +
          location_.ConnectionTarget() + ".";
      break;
    default:
      break;
  }
  std::string message = "could not " + call.what + " \"" + location_.DisplayUrl(shown) +
                        "\": connection to object storage at " + target + " " + failed;
  std::string detail = response.error + " (" + std::to_string(attempts) + " attempt" +
                       (attempts == 1 ? "" : "s") + " in " + std::to_string(elapsed_ms / 1000) +
                       " s, host " + location_.RequestHost() + via + ").";
  throw Error(sqlstate::kConnectionFailure, Scrub(message), Scrub(detail), hint);
}

S3Client::Result S3Client::Execute(const Call &call, const AbortCheck &abort) {
  RetryPolicy policy(call.retry ? *call.retry : location_.retry);
  const std::string raw_path = location_.RequestPath(call.key);
  const std::string host = location_.RequestHost();
  std::string url = location_.BaseUrl() + CanonicalUri(raw_path);
  if (!call.query.empty()) url += "?" + WireQuery(call.query);
  const bool has_body = std::string(call.method) == "PUT" || std::string(call.method) == "POST";
  const std::string payload_hash =
      has_body ? Sha256Hex(call.body ? call.body : "", call.body_size) : kEmptyPayloadSha256;

  bool renewed = false;  // credentials refused as expired: renewed and retried once
  for (int attempt = 1;; attempt++) {
    if (abort && abort()) throw Interrupted();
    {
      // The provider's current set; the SSE-C key stays the one given.
      Credentials current = provider_->Get(abort);
      current.sse_customer_key = std::move(credentials_.sse_customer_key);
      credentials_ = std::move(current);
    }
    SigningInput input;
    input.method = call.method;
    input.raw_path = raw_path;
    input.query = call.query;
    input.payload_hash = payload_hash;
    input.amz_date = AmzDate(now_());
    input.region = location_.region;
    input.access_key_id = credentials_.access_key_id;
    input.secret_access_key = credentials_.secret_access_key;
    input.headers = {
        {"host", host}, {"x-amz-content-sha256", payload_hash}, {"x-amz-date", input.amz_date}};
    if (!credentials_.session_token.empty()) {
      input.headers.emplace_back("x-amz-security-token", credentials_.session_token);
      // COS reads temporary keys' tokens from its own header (both are signed).
      if (location_.cos)
        input.headers.emplace_back("x-cos-security-token", credentials_.session_token);
    }
    for (const auto &header : call.headers) input.headers.push_back(header);
    SignedRequest signed_request = SignV4(input);

    HttpRequest request;
    request.method = call.method;
    request.url = url;
    request.headers = input.headers;
    request.headers.emplace_back("Authorization", signed_request.authorization);
    request.body = call.body;
    request.body_size = call.body_size;
    request.expected_response_size = call.expected_response_size;
    request.timeout_ms = call.timeout_ms;

    HttpResponse response = http_.Perform(request, abort);
    if (response.aborted) throw Interrupted();
    S3ErrorInfo info;
    if (response.transport_error) {
      if (!response.transport_retryable)
        ThrowTransportError(call, response, attempt, policy.Elapsed().count());
    } else {
      bool failed = !Is2xx(response.status);
      if (failed) {
        if (!ParseS3Error(response.body, &info) || info.code.empty())
          info.code = CodeForStatus(response.status, call.key.empty());
      } else if (call.error_in_200 && ParseS3Error(response.body, &info)) {
        failed = true;
        if (info.code.empty()) info.code = "InternalError";
      }
      if (!failed) return Result{std::move(response), {}};
      if (std::find(call.accepted_codes.begin(), call.accepted_codes.end(), info.code) !=
          call.accepted_codes.end())
        return Result{std::move(response), info};
      if (!renewed && IsCredentialRefusal(info.code) && provider_->Invalidate(credentials_)) {
        renewed = true;  // temporary credentials that lapsed early: once more with new ones
        continue;
      }
      if (!RetryPolicy::IsRetryableHttp(response.status, info.code))
        ThrowHttpError(call, response, info, attempt);
    }
    auto delay = policy.NextDelay(attempt);
    if (!delay) {
      if (response.transport_error)
        ThrowTransportError(call, response, attempt, policy.Elapsed().count());
      ThrowHttpError(call, response, info, attempt);
    }
    if (!SleepInSlices(*delay, abort)) throw Interrupted();
  }
}

std::optional<uint64_t> S3Client::ObjectSize(const std::string &key, const AbortCheck &abort) {
  Call call;
  call.key = key;
  call.headers = {{"range", RangeHeader(0, 0)}};
  AddSseCustomerHeaders(&call.headers, location_.cos, customer_key_);
  call.expected_response_size = 1;
  call.action = "s3:GetObject";
  call.what = "check object";
  call.object_read = true;
  call.accepted_codes = {"NoSuchKey", "InvalidRange"};
  Result result = Execute(call, abort);
  if (result.error.code == "NoSuchKey") return std::nullopt;
  if (result.error.code == "InvalidRange") return 0;  // only an empty object has no byte 0
  uint64_t total = 0;
  if (result.response.status == 206 &&
      ParseContentRangeTotal(result.response.Header("content-range"), &total))
    return total;
  return result.response.body.size();  // a server that ignored the range sent it all
}

void S3Client::PutObject(const std::string &key, const char *data, size_t len,
                         const AbortCheck &abort, const std::string &storage_class) {
  Call call;
  call.method = "PUT";
  call.key = key;
  call.body = data;
  call.body_size = len;
  if (location_.checksum_crc32) AddChecksumHeaders(&call.headers, ChecksumCrc32Base64(data, len));
  AddSseObjectHeaders(&call.headers, location_.cos, location_.sse, customer_key_);
  if (!storage_class.empty())
    call.headers.emplace_back(StorageClassHeader(location_.cos), storage_class);
  call.action = "s3:PutObject";
  call.what = "write object";
  Execute(call, abort);
}

std::string S3Client::CreateMultipartUpload(const std::string &key, const AbortCheck &abort,
                                            const std::string &storage_class) {
  Call call;
  call.method = "POST";
  call.key = key;
  call.query = {{"uploads", ""}};
  // Without a checksum algorithm, S3 (and moto) computes a CRC64 of the
  // whole object at completion; with CRC32 it combines the parts' CRC32s.
  if (location_.checksum_crc32) call.headers = {{"x-amz-checksum-algorithm", "CRC32"}};
  AddSseObjectHeaders(&call.headers, location_.cos, location_.sse, customer_key_);
  if (!storage_class.empty())
    call.headers.emplace_back(StorageClassHeader(location_.cos), storage_class);
  call.action = "s3:PutObject";
  call.what = "start multipart upload of";
  return ParseInitiateMultipartUpload(Execute(call, abort).response.body);
}

CompletedPart S3Client::UploadPart(const std::string &key, const std::string &upload_id,
                                   int part_number, const char *data, size_t len,
                                   const AbortCheck &abort) {
  CompletedPart part;
  part.part_number = part_number;
  Call call;
  call.method = "PUT";
  call.key = key;
  call.query = {{"partNumber", std::to_string(part_number)}, {"uploadId", upload_id}};
  call.body = data;
  call.body_size = len;
  if (location_.checksum_crc32) {
    part.checksum_crc32 = ChecksumCrc32Base64(data, len);
    AddChecksumHeaders(&call.headers, part.checksum_crc32);
  }
  AddSseCustomerHeaders(&call.headers, location_.cos, customer_key_);
  call.action = "s3:PutObject";
  call.what = "upload part " + std::to_string(part_number) + " of";
  Result result = Execute(call, abort);
  part.etag = result.response.Header("etag");
  if (part.etag.empty())
    throw Error(sqlstate::kIoError,
                "unexpected response from object storage to " + call.what + " \"" +
                    location_.DisplayUrl(key) + "\"",
                "The response has no ETag header.");
  return part;
}

void S3Client::CompleteMultipartUpload(const std::string &key, const std::string &upload_id,
                                       const std::vector<CompletedPart> &parts, uint64_t total_size,
                                       const AbortCheck &abort) {
  std::string body = CompleteMultipartUploadBody(parts);
  Call call;
  call.method = "POST";
  call.key = key;
  call.query = {{"uploadId", upload_id}};
  call.body = body.data();
  call.body_size = body.size();
  // S3 documents the SSE-C headers on completion (needed with a checksum
  // algorithm); COS does not.
  if (!location_.cos) AddSseCustomerHeaders(&call.headers, location_.cos, customer_key_);
  call.action = "s3:PutObject";
  call.what = "complete multipart upload of";
  call.error_in_200 = true;
  call.accepted_codes = {"NoSuchUpload"};
  Result result = Execute(call, abort);
  if (result.error.code.empty()) return;
  // NoSuchUpload: an earlier attempt may have completed it and lost the answer.
  auto size = ObjectSize(key, abort);
  if (size && *size == total_size) return;
  ThrowHttpError(call, result.response, result.error, 1);
}

void S3Client::AbortMultipartUpload(const std::string &key, const std::string &upload_id,
                                    const AbortCheck &abort, const RetrySettings *retry) {
  Call call;
  call.method = "DELETE";
  call.key = key;
  call.query = {{"uploadId", upload_id}};
  call.action = "s3:AbortMultipartUpload";
  call.what = "abort multipart upload of";
  call.accepted_codes = {"NoSuchUpload"};
  call.retry = retry;
  if (retry) call.timeout_ms = 650;  // see AbortRetrySettings()
  Execute(call, abort);
}

void S3Client::GetRange(const std::string &key, uint64_t offset, uint64_t length, std::string *out,
                        uint64_t *total_size, const AbortCheck &abort) {
  Call call;
  call.key = key;
  call.headers = {{"range", RangeHeader(offset, offset + length - 1)}};
  AddSseCustomerHeaders(&call.headers, location_.cos, customer_key_);
  call.expected_response_size = length;
  call.action = "s3:GetObject";
  call.what = "read object";
  call.object_read = true;
  call.accepted_codes = {"InvalidRange"};
  Result result = Execute(call, abort);
  out->clear();
  if (result.error.code == "InvalidRange") {  // reading past the end (an empty object)
    *total_size = 0;
    if (!ParseContentRangeTotal(result.response.Header("content-range"), total_size))
      *total_size = offset;
    return;
  }
  if (result.response.status == 206) {
    if (!ParseContentRangeTotal(result.response.Header("content-range"), total_size))
      *total_size = offset + result.response.body.size();
    out->swap(result.response.body);
    return;
  }
  // 200: the whole object; keep the requested slice.
  std::string &all = result.response.body;
  *total_size = all.size();
  if (offset < all.size())
    out->assign(all, offset, std::min<uint64_t>(length, all.size() - offset));
}

ListObjectsPage S3Client::ListObjectsV2(const std::string &prefix,
                                        const std::string &continuation_token,
                                        const AbortCheck &abort, int max_keys) {
  Call call;
  call.key = "";
  call.query = {{"list-type", "2"},
                {"prefix", prefix},
                {"encoding-type", "url"},
                {"max-keys", std::to_string(max_keys)}};
  if (!continuation_token.empty())
    call.query.emplace_back("continuation-token", continuation_token);
  call.display_key = prefix;
  call.action = "s3:ListBucket";
  call.what = "list";
  Result result = Execute(call, abort);
  return ParseListObjectsV2(result.response.body);
}

std::vector<ObjectInfo> S3Client::ListAll(const std::string &prefix, const AbortCheck &abort) {
  std::vector<ObjectInfo> all;
  std::string token;
  do {
    ListObjectsPage page = ListObjectsV2(prefix, token, abort);
    for (auto &object : page.objects) all.push_back(std::move(object));
    token = page.truncated ? page.next_continuation_token : std::string();
  } while (!token.empty());
  return all;
}

void S3Client::DeleteObject(const std::string &key, const AbortCheck &abort,
                            const RetrySettings *retry) {
  Call call;
  call.method = "DELETE";
  call.key = key;
  call.action = "s3:DeleteObject";
  call.what = "remove object";
  call.accepted_codes = {"NoSuchKey"};
  call.retry = retry;
  if (retry) call.timeout_ms = 650;  // see AbortRetrySettings()
  Execute(call, abort);
}

std::vector<MultipartUploadInfo> S3Client::ListMultipartUploads(const std::string &prefix,
                                                                const AbortCheck &abort) {
  std::vector<MultipartUploadInfo> all;
  std::string key_marker, upload_id_marker;
  for (;;) {
    Call call;
    call.key = "";
    call.query = {{"uploads", ""}, {"prefix", prefix}, {"encoding-type", "url"}};
    if (!key_marker.empty()) call.query.emplace_back("key-marker", key_marker);
    if (!upload_id_marker.empty()) call.query.emplace_back("upload-id-marker", upload_id_marker);
    call.display_key = prefix;
    call.action = "s3:ListBucketMultipartUploads";
    call.what = "list multipart uploads in";
    ListUploadsPage page = ParseListMultipartUploads(Execute(call, abort).response.body);
    for (auto &upload : page.uploads) all.push_back(std::move(upload));
    if (!page.truncated || page.next_key_marker.empty()) break;
    key_marker = page.next_key_marker;
    upload_id_marker = page.next_upload_id_marker;
  }
  return all;
}

S3Client::HeadInfo S3Client::HeadObject(const std::string &key, const AbortCheck &abort) {
  Call call;
  call.method = "HEAD";
  call.key = key;
  AddSseCustomerHeaders(&call.headers, location_.cos, customer_key_);  // SSE-C objects need it
  call.action = "s3:GetObject";
  call.what = "check object";
  call.accepted_codes = {"NoSuchKey"};
  Result result = Execute(call, abort);
  HeadInfo info;
  if (result.error.code == "NoSuchKey") return info;
  info.exists = true;
  // COS answers SigV4 requests with x-cos-* headers; S3 with x-amz-*.
  for (bool cos : {location_.cos, !location_.cos}) {
    if (info.storage_class.empty())
      info.storage_class = result.response.Header(StorageClassHeader(cos));
    if (!info.restore.present)
      info.restore = ParseRestoreHeaderValue(result.response.Header(RestoreHeader(cos)));
  }
  return info;
}

bool S3Client::RestoreObject(const std::string &key, int days, const std::string &tier,
                             const AbortCheck &abort) {
  std::string body = RestoreRequestBody(days, tier, location_.cos);
  Call call;
  call.method = "POST";
  call.key = key;
  call.query = {{"restore", ""}};
  call.body = body.data();
  call.body_size = body.size();
  // COS documents Content-MD5 on this request; S3 accepts it.
  call.headers = {{"content-md5", ContentMd5Base64(body.data(), body.size())},
                  {"content-type", "application/xml"}};
  call.action = "s3:RestoreObject";
  call.what = "thaw object";
  call.accepted_codes = {"RestoreAlreadyInProgress"};
  Result result = Execute(call, abort);
  if (!result.error.code.empty()) return true;
  return result.response.status != 200;
}

std::string ContentMd5Base64(const char *data, size_t len) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  EVP_Digest(data, len, digest, &digest_len, EVP_md5(), nullptr);
  unsigned char encoded[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
  int n = EVP_EncodeBlock(encoded, digest, static_cast<int>(digest_len));
  return std::string(reinterpret_cast<char *>(encoded), static_cast<size_t>(n));
}

}  // namespace cdw::s3
