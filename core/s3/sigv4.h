// AWS Signature Version 4 for S3-compatible object storage.
//
// Signs one request: builds the canonical request (method, URI-encoded path,
// sorted query, lower-cased sorted headers, payload hash), the string to sign
// and the Authorization header. The path and query that are signed must be the
// ones sent: callers build the URL from CanonicalUri() and CanonicalQuery().
// S3 does not normalise or double-encode paths, so neither do we.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace cdw::s3 {

using QueryParams = std::vector<std::pair<std::string, std::string>>;
using HeaderList = std::vector<std::pair<std::string, std::string>>;

// The SHA-256 of an empty payload, and the marker for an unhashed payload.
inline constexpr const char *kEmptyPayloadSha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
inline constexpr const char *kUnsignedPayload = "UNSIGNED-PAYLOAD";

// RFC 3986 percent-encoding as SigV4 wants it: everything except
// A-Z a-z 0-9 - _ . ~ is encoded as %XX (upper-case hex), byte by byte, so
// UTF-8 sequences become one %XX per byte. With keep_slash, '/' is kept.
std::string UriEncode(const std::string &value, bool keep_slash);

// Decodes %XX escapes (and nothing else: '+' stays '+'). Throws cdw::Error on
// a malformed escape.
std::string UriDecode(const std::string &value);

// "/" + the encoded key ("/bucket/key" for path-style requests).
std::string CanonicalUri(const std::string &raw_path);

// "a=1&b=x%2Fy&uploads=": encoded, sorted by key then value.
std::string CanonicalQuery(const QueryParams &params);

// The query as it goes on the wire: like CanonicalQuery() but a parameter
// without a value is sent bare ("?uploads"), as botocore and the S3
// documentation do.
std::string WireQuery(const QueryParams &params);

struct SigningInput {
  std::string method;        // GET, PUT, ...
  std::string raw_path;      // unencoded, starting with '/': "/bucket/my key"
  QueryParams query;         // unencoded
  HeaderList headers;        // every header to sign, including host and x-amz-date
  std::string payload_hash;  // hex SHA-256 of the body, or kUnsignedPayload
  std::string amz_date;      // 20130524T000000Z
  std::string region;
  std::string service = "s3";
  std::string access_key_id;
  std::string secret_access_key;
};

struct SignedRequest {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;       // hex
  std::string signed_headers;  // "host;range;x-amz-content-sha256;x-amz-date"
  std::string authorization;   // the Authorization header value
};

SignedRequest SignV4(const SigningInput &input);

// "20130524T000000Z" for a Unix time.
std::string AmzDate(long long unix_seconds);

// Hex HMAC-SHA256 and SHA-256 helpers (OpenSSL EVP), exposed for tests.
std::string HmacSha256(const std::string &key, const std::string &data);  // raw bytes
std::string HexEncode(const std::string &bytes);
std::string Sha256Hex(const void *data, size_t len);

}  // namespace cdw::s3
