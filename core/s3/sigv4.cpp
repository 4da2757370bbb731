#include "s3/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <ctime>
#include <new>

#include "common/error.h"
#include "common/sha256.h"

namespace cdw::s3 {

namespace {

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string ToLower(std::string s) {
  for (auto &c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

// Trims and collapses runs of spaces, as the canonical header form requires.
std::string CanonicalHeaderValue(const std::string &value) {
  std::string out;
  bool pending_space = false;
  for (char c : value) {
    if (c == ' ' || c == '\t') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

QueryParams EncodedSorted(const QueryParams &params) {
  QueryParams encoded;
  encoded.reserve(params.size());
  for (const auto &[key, value] : params)
    encoded.emplace_back(UriEncode(key, false), UriEncode(value, false));
  std::sort(encoded.begin(), encoded.end());
  return encoded;
}

}  // namespace

std::string UriEncode(const std::string &value, bool keep_slash) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size() * 3 / 2);
  for (unsigned char c : value) {
    if (IsUnreserved(c) || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string UriDecode(const std::string &value) {
  std::string out;
  out.reserve(value.size());
  for (size_t i = 0; i < value.size(); i++) {
    if (value[i] != '%') {
      out.push_back(value[i]);
      continue;
    }
    int high = i + 2 < value.size() ? HexValue(value[i + 1]) : -1;
    int low = i + 2 < value.size() ? HexValue(value[i + 2]) : -1;
    if (high < 0 || low < 0)
      throw Error(sqlstate::kDataCorrupted, "invalid percent-encoding in \"" + value + "\"",
                  "Object storage returned a key that is not URL-encoded correctly.");
    out.push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  return out;
}

std::string CanonicalUri(const std::string &raw_path) {
  if (raw_path.empty() || raw_path[0] != '/') return "/" + UriEncode(raw_path, true);
  return UriEncode(raw_path, true);
}

std::string CanonicalQuery(const QueryParams &params) {
  std::string out;
  for (const auto &[key, value] : EncodedSorted(params)) {
    if (!out.empty()) out.push_back('&');
    out += key + "=" + value;
  }
  return out;
}

std::string WireQuery(const QueryParams &params) {
  std::string out;
  for (const auto &[key, value] : EncodedSorted(params)) {
    if (!out.empty()) out.push_back('&');
    out += key;
    if (!value.empty()) out += "=" + value;
  }
  return out;
}

std::string HexEncode(const std::string &bytes) {
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    hex.push_back(kHex[c >> 4]);
    hex.push_back(kHex[c & 15]);
  }
  return hex;
}

std::string HmacSha256(const std::string &key, const std::string &data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char *>(data.data()), data.size(), digest, &len))
    throw std::bad_alloc();
  return std::string(reinterpret_cast<char *>(digest), len);
}

std::string Sha256Hex(const void *data, size_t len) {
  return Sha256::HexOf(data, len);
}

std::string AmzDate(long long unix_seconds) {
  time_t t = static_cast<time_t>(unix_seconds);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buffer[32];
  strftime(buffer, sizeof(buffer), "%Y%m%dT%H%M%SZ", &tm);
  return buffer;
}

SignedRequest SignV4(const SigningInput &input) {
  // Canonical headers: lower-case names, sorted; repeated names joined by ','.
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto &[name, value] : input.headers)
    headers.emplace_back(ToLower(name), CanonicalHeaderValue(value));
  std::stable_sort(headers.begin(), headers.end(),
                   [](const auto &a, const auto &b) { return a.first < b.first; });
  std::string canonical_headers;
  std::string signed_headers;
  for (size_t i = 0; i < headers.size(); i++) {
    if (i > 0 && headers[i].first == headers[i - 1].first) {
      canonical_headers.pop_back();  // the '\n'
      canonical_headers += "," + headers[i].second + "\n";
      continue;
    }
    canonical_headers += headers[i].first + ":" + headers[i].second + "\n";
    if (!signed_headers.empty()) signed_headers.push_back(';');
    signed_headers += headers[i].first;
  }

  SignedRequest out;
  out.signed_headers = signed_headers;
  out.canonical_request = input.method + "\n" + CanonicalUri(input.raw_path) + "\n" +
                          CanonicalQuery(input.query) + "\n" + canonical_headers + "\n" +
                          signed_headers + "\n" + input.payload_hash;

  std::string date = input.amz_date.substr(0, 8);
  std::string scope = date + "/" + input.region + "/" + input.service + "/aws4_request";
  out.string_to_sign = "AWS4-HMAC-SHA256\n" + input.amz_date + "\n" + scope + "\n" +
                       Sha256Hex(out.canonical_request.data(), out.canonical_request.size());

  std::string key = HmacSha256("AWS4" + input.secret_access_key, date);
  key = HmacSha256(key, input.region);
  key = HmacSha256(key, input.service);
  key = HmacSha256(key, "aws4_request");
  out.signature = HexEncode(HmacSha256(key, out.string_to_sign));
  out.authorization = "AWS4-HMAC-SHA256 Credential=" + input.access_key_id + "/" + scope +
                      ", SignedHeaders=" + signed_headers + ", Signature=" + out.signature;
  return out;
}

}  // namespace cdw::s3
