#include "s3/s3_location.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "common/error.h"
#include "s3/storage_class.h"
#include "storage/file_store.h"

namespace cdw::s3 {

namespace {

constexpr const char *kS3FormHint =
    "Use s3://bucket/prefix, with options endpoint, region and path_style for S3-compatible "
    "servers.";
constexpr const char *kCosFormHint =
    "Use cos://<bucket>-<appid>.cos.<region>.myqcloud.com/<prefix>, e.g. "
    "cos://backup-1250000000.cos.ap-guangzhou.myqcloud.com/pg.";

[[noreturn]] void BadLocation(const std::string &shown, const std::string &detail,
                              const char *hint) {
  throw Error(sqlstate::kFdwInvalidOptionValue, "invalid object storage location \"" + shown + "\"",
              detail, hint);
}

[[noreturn]] void BadOption(const std::string &name, const std::string &value,
                            const std::string &hint) {
  throw Error(sqlstate::kFdwInvalidOptionValue,
              "invalid value for option \"" + name + "\": \"" + value + "\"", {}, hint);
}

std::string Lower(std::string s) {
  for (auto &c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool EndsWith(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool ParseBoolOption(const std::string &name, const std::string &value) {
  std::string v = Lower(value);
  if (v == "true" || v == "on" || v == "yes" || v == "1" || v == "t" || v == "y") return true;
  if (v == "false" || v == "off" || v == "no" || v == "0" || v == "f" || v == "n") return false;
  BadOption(name, value, "Use true or false.");
}

long long ParseIntOption(const std::string &name, const std::string &value, long long low,
                         long long high) {
  char *end = nullptr;
  errno = 0;
  long long parsed = std::strtoll(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || errno != 0 || parsed < low || parsed > high)
    BadOption(
        name, value,
        "Use an integer between " + std::to_string(low) + " and " + std::to_string(high) + ".");
  return parsed;
}

int ParsePort(const std::string &text) {
  if (text.empty() || text.size() > 5) return -1;
  for (char c : text)
    if (!std::isdigit(static_cast<unsigned char>(c))) return -1;
  int port = std::atoi(text.c_str());
  return (port >= 1 && port <= 65535) ? port : -1;
}

bool ValidHostName(const std::string &host) {
  if (host.empty()) return false;
  if (host.front() == '[') return host.back() == ']' && host.size() > 2;
  for (char c : host)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_'))
      return false;
  return true;
}

// "host[:port]" (host may be "[v6]") -> host, port (0 when absent). False when malformed.
bool SplitHostPort(const std::string &text, std::string *host, int *port) {
  *port = 0;
  size_t colon = std::string::npos;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string::npos) return false;
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') return false;
      colon = close + 1;
    }
  } else {
    colon = text.rfind(':');
  }
  *host = text.substr(0, colon);
  if (colon != std::string::npos) {
    *port = ParsePort(text.substr(colon + 1));
    if (*port < 0) return false;
  }
  return ValidHostName(*host);
}

bool ValidBucketName(const std::string &bucket) {
  if (bucket.size() < 3 || bucket.size() > 255) return false;
  for (char c : bucket)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_'))
      return false;
  return true;
}

// Virtual-hosted requests need a bucket name that is a valid DNS label sequence.
bool DnsCompatibleBucket(const std::string &bucket) {
  if (bucket.size() > 63) return false;
  for (char c : bucket)
    if (!(std::islower(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.'))
      return false;
  return bucket.find("..") == std::string::npos && bucket.front() != '-' && bucket.back() != '-';
}

bool ValidRegion(const std::string &region) {
  if (region.empty()) return false;
  for (char c : region)
    if (!(std::islower(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '-'))
      return false;
  return true;
}

// The path part of a location after the bucket: validated like file:// paths
// (relative, no "." / ".." / empty components) and stored with a trailing '/'.
std::string NormalizePrefix(const std::string &shown, std::string path, const char *hint) {
  while (!path.empty() && path.front() == '/') path.erase(0, 1);
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (path.empty()) return {};
  try {
    CheckRelativeKey(path, "location path");
  } catch (const Error &e) {
    BadLocation(shown, e.detail(), hint);
  }
  return path + "/";
}

struct Endpoint {
  bool has_scheme = false;
  bool https = true;
  std::string host;
  int port = 0;
};

Endpoint ParseEndpoint(const std::string &value) {
  const char *hint =
      "Use a URL such as 'https://minio.example.com:9000' or 'http://127.0.0.1:9000', without "
      "a path or credentials.";
  Endpoint endpoint;
  std::string rest = value;
  std::string lower = Lower(value);
  if (lower.rfind("https://", 0) == 0) {
    endpoint.has_scheme = true;
    endpoint.https = true;
    rest = value.substr(8);
  } else if (lower.rfind("http://", 0) == 0) {
    endpoint.has_scheme = true;
    endpoint.https = false;
    rest = value.substr(7);
  } else if (value.find("://") != std::string::npos) {
    BadOption("endpoint", value, hint);
  }
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.find('@') != std::string::npos)
    throw Error(sqlstate::kFdwInvalidOptionValue, "invalid value for option \"endpoint\"",
                "Credentials must not be part of the endpoint URL.",
                "Put secret_id and secret_key on a user mapping instead.");
  if (rest.find_first_of("/?#") != std::string::npos ||
      !SplitHostPort(rest, &endpoint.host, &endpoint.port))
    BadOption("endpoint", value, hint);
  return endpoint;
}

// ca_file / ca_path: an absolute path the server can read, checked now so
// a typo is reported when the target is added, not at the first backup.
std::string CheckCaOption(const char *name, const std::string &value, bool directory) {
  const std::string hint =
      directory ? "Give the absolute path of a directory of CA certificates prepared with "
                  "'openssl rehash', readable by the database server's operating system user."
                : "Give the absolute path of a PEM file with the CA certificate(s) that signed the "
                  "storage server's certificate, readable by the database server's operating "
                  "system user.";
  if (value.empty() || value.front() != '/')
    throw Error(sqlstate::kFdwInvalidOptionValue,
                "invalid value for option \"" + std::string(name) + "\": \"" + value + "\"",
                "The path must be absolute.", hint);
  struct stat st;
  int saved_errno = 0;
  if (stat(value.c_str(), &st) != 0)
    saved_errno = errno;
  else if (directory ? !S_ISDIR(st.st_mode) : S_ISDIR(st.st_mode))
    saved_errno = directory ? ENOTDIR : EISDIR;
  else if (access(value.c_str(), directory ? (R_OK | X_OK) : R_OK) != 0)
    saved_errno = errno;
  if (saved_errno != 0)
    throw Error(sqlstate::kFdwInvalidOptionValue,
                "could not use " + std::string(name) + " \"" + value + "\"",
                std::string(std::strerror(saved_errno)) + ".", hint);
  return value;
}

// proxy: 'http://host[:port]' or 'https://host[:port]', or 'none'.
void ParseProxy(const std::string &value, S3Location *loc) {
  const char *hint =
      "Use 'http://proxy.example.com:3128' (or https://), or 'none' to use no proxy even when "
      "http_proxy/https_proxy are set in the server's environment.";
  std::string lower = Lower(value);
  loc->proxy_set = true;
  if (lower == "none" || lower.empty()) {
    loc->proxy.clear();
    return;
  }
  std::string rest;
  if (lower.rfind("http://", 0) == 0)
    rest = value.substr(7);
  else if (lower.rfind("https://", 0) == 0)
    rest = value.substr(8);
  else
    BadOption("proxy", value, hint);
  if (rest.find('@') != std::string::npos)
    throw Error(sqlstate::kFdwInvalidOptionValue, "invalid value for option \"proxy\"",
                "Credentials must not be part of the proxy URL: target and server options are "
                "readable by ordinary roles.",
                "Give the proxy with its credentials in the https_proxy environment variable of "
                "the database server instead.");
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  std::string host;
  int port = 0;
  if (rest.find_first_of("/?#") != std::string::npos || !SplitHostPort(rest, &host, &port))
    BadOption("proxy", value, hint);
  loc->proxy = value;
}

}  // namespace

const std::vector<std::string> &S3OptionNames() {
  static const std::vector<std::string> kNames = [] {
    std::vector<std::string> names = {"endpoint",          "region",
                                      "path_style",        "https",
                                      "connect_to",        "retry_max_attempts",
                                      "retry_max_seconds", "part_size",
                                      "uploads_in_flight", "checksum",
                                      "ca_file",           "ca_path",
                                      "tls_verify",        "proxy",
                                      "connect_timeout",   "request_timeout",
                                      "storage_class",     "manifest_storage_class",
                                      "restore_tier",      "restore_days"};
    for (const auto &name : SseOptionNames()) names.push_back(name);
    for (const auto &name : CredentialOptionNames()) names.push_back(name);
    return names;
  }();
  return kNames;
}

long long ParseDurationMs(const std::string &name, const std::string &value) {
  const std::string hint =
      "Use seconds or an interval such as '30s', '500ms', '2min' or '1h' (a bare number is "
      "seconds).";
  std::string text = Lower(value);
  while (!text.empty() && text.front() == ' ') text.erase(0, 1);
  while (!text.empty() && text.back() == ' ') text.pop_back();
  size_t end = 0;
  while (end < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[end])) || text[end] == '.'))
    end++;
  std::string number = text.substr(0, end);
  std::string unit = text.substr(end);
  while (!unit.empty() && unit.front() == ' ') unit.erase(0, 1);
  double scale = 0;
  if (unit.empty() || unit == "s" || unit == "sec" || unit == "secs" || unit == "second" ||
      unit == "seconds")
    scale = 1000;
  else if (unit == "ms" || unit == "msec" || unit == "millisecond" || unit == "milliseconds")
    scale = 1;
  else if (unit == "min" || unit == "mins" || unit == "minute" || unit == "minutes")
    scale = 60000;
  else if (unit == "h" || unit == "hour" || unit == "hours")
    scale = 3600000;
  if (number.empty() || number == "." || number.find('.') != number.rfind('.') || scale == 0 ||
      number.size() > 12)
    BadOption(name, value, hint);
  double ms = std::strtod(number.c_str(), nullptr) * scale;
  if (!std::isfinite(ms)) BadOption(name, value, hint);
  return static_cast<long long>(std::llround(ms));
}

uint64_t ParseByteSize(const std::string &name, const std::string &value) {
  size_t digits = 0;
  while (digits < value.size() && std::isdigit(static_cast<unsigned char>(value[digits]))) digits++;
  std::string unit = Lower(value.substr(digits));
  while (!unit.empty() && unit.front() == ' ') unit.erase(0, 1);
  uint64_t multiplier = 0;
  if (unit.empty() || unit == "b") multiplier = 1;
  if (unit == "kb" || unit == "kib" || unit == "k") multiplier = 1024;
  if (unit == "mb" || unit == "mib" || unit == "m") multiplier = kMiB;
  if (unit == "gb" || unit == "gib" || unit == "g") multiplier = 1024 * kMiB;
  if (digits == 0 || digits > 12 || multiplier == 0)
    BadOption(name, value, "Use a size such as '8MB', '64MB' or '1GB' (1MB = 1048576 bytes).");
  return std::stoull(value.substr(0, digits)) * multiplier;
}

S3Location ParseS3Location(const std::string &location, const StoreOptions &options) {
  S3Location loc;
  const bool cos = location.rfind("cos://", 0) == 0;
  const bool s3 = location.rfind("s3://", 0) == 0;
  if (!cos && !s3)
    BadLocation(location, "An object storage location starts with s3:// or cos://.", kS3FormHint);
  loc.cos = cos;
  loc.checksum_crc32 = !cos;
  const char *hint = cos ? kCosFormHint : kS3FormHint;
  std::string rest = location.substr(cos ? 6 : 5);
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  std::string path = slash == std::string::npos ? std::string() : rest.substr(slash + 1);
  // Never echo a location that may carry credentials.
  if (authority.find('@') != std::string::npos)
    throw Error(sqlstate::kFdwInvalidOptionValue, "invalid object storage location",
                "Credentials must not be part of a location.",
                "Put secret_id and secret_key on a user mapping (or pass them to "
                "cdw_backup_add_target), never in the location.");
  if (location.find_first_of("?#") != std::string::npos)
    BadLocation(location, "A location has no query string or fragment.",
                "Give endpoint, region and the other settings as options.");

  if (s3) {
    loc.bucket = authority;
    if (!ValidBucketName(loc.bucket))
      BadLocation(location, "The bucket name must be 3 to 255 letters, digits, '.', '-' or '_'.",
                  hint);
  } else {
    // cos://<bucket>-<appid>.cos.<region>.myqcloud.com or cos://cos.<region>.myqcloud.com/<bucket>
    std::string host = Lower(authority);
    const std::string suffix = ".myqcloud.com";
    if (!EndsWith(host, suffix) || authority.find(':') != std::string::npos)
      BadLocation(location,
                  "A cos:// location names a COS host ending in .myqcloud.com (give a port "
                  "with the endpoint option).",
                  hint);
    std::string head = host.substr(0, host.size() - suffix.size());
    if (head.rfind("cos.", 0) == 0) {
      loc.region = head.substr(4);
      size_t bucket_end = path.find('/');
      loc.bucket = path.substr(0, bucket_end);
      path = bucket_end == std::string::npos ? std::string() : path.substr(bucket_end + 1);
    } else {
      size_t marker = head.find(".cos.");
      if (marker == std::string::npos)
        BadLocation(location, "The host name must be <bucket>-<appid>.cos.<region>.myqcloud.com.",
                    hint);
      loc.bucket = head.substr(0, marker);
      loc.region = head.substr(marker + 5);
    }
    size_t dash = loc.bucket.rfind('-');
    bool has_appid = dash != std::string::npos && dash > 0 && dash + 1 < loc.bucket.size();
    for (size_t i = has_appid ? dash + 1 : 0; has_appid && i < loc.bucket.size(); i++)
      has_appid = std::isdigit(static_cast<unsigned char>(loc.bucket[i]));
    if (!has_appid || !DnsCompatibleBucket(loc.bucket))
      BadLocation(location,
                  "A COS bucket name is <name>-<appid>, lower-case, e.g. backup-1250000000.", hint);
    if (!ValidRegion(loc.region))
      BadLocation(location, "The region in the host name is not valid.", hint);
    loc.endpoint_host = "cos." + loc.region + ".myqcloud.com";
  }
  loc.prefix = NormalizePrefix(location, path, hint);

  // Options. Unknown names are the caller's business (the FDW validator).
  auto option = [&](const char *name) -> const std::string * {
    auto it = options.find(name);
    return it == options.end() ? nullptr : &it->second;
  };
  if (const auto *region = option("region")) {
    if (!ValidRegion(*region))
      BadOption("region", *region, "Use a region name such as 'us-east-1' or 'ap-guangzhou'.");
    loc.region = *region;
  }
  bool has_endpoint = false;
  Endpoint endpoint;
  if (const auto *value = option("endpoint")) {
    endpoint = ParseEndpoint(*value);
    has_endpoint = true;
    loc.endpoint_host = Lower(endpoint.host);
    loc.port = endpoint.port;
    loc.https = endpoint.https;
  } else if (s3) {
    loc.endpoint_host = "s3." + loc.region + ".amazonaws.com";
  }
  if (const auto *value = option("https")) {
    bool https = ParseBoolOption("https", *value);
    if (endpoint.has_scheme && https != endpoint.https)
      throw Error(
          sqlstate::kFdwInvalidOptionValue, "conflicting options \"https\" and \"endpoint\"",
          "The endpoint URL starts with " + std::string(endpoint.https ? "https://" : "http://") +
              " but https is '" + *value + "'.",
          "Drop the https option or the scheme of the endpoint.");
    loc.https = https;
  }
  if (const auto *value = option("path_style")) {
    loc.path_style = ParseBoolOption("path_style", *value);
  } else if (cos) {
    loc.path_style = false;
  } else {
    loc.path_style = has_endpoint || (loc.https && loc.bucket.find('.') != std::string::npos);
  }
  if (!loc.path_style && !DnsCompatibleBucket(loc.bucket))
    BadLocation(location,
                "Bucket \"" + loc.bucket +
                    "\" is not a valid host name label, so it cannot be addressed "
                    "virtual-hosted.",
                "Set the option path_style 'true'.");
  if (const auto *value = option("connect_to")) {
    std::string host;
    int port = 0;
    if (!SplitHostPort(*value, &host, &port) || port == 0)
      BadOption("connect_to", *value,
                "Use 'host:port', e.g. '127.0.0.1:9000'; requests keep the location's host name.");
    loc.connect_to = *value;
  }
  if (const auto *value = option("retry_max_attempts"))
    loc.retry.max_attempts = static_cast<int>(ParseIntOption("retry_max_attempts", *value, 1, 100));
  if (const auto *value = option("retry_max_seconds"))
    loc.retry.max_total =
        std::chrono::seconds(ParseIntOption("retry_max_seconds", *value, 1, 86400));
  if (const auto *value = option("part_size")) {
    uint64_t size = ParseByteSize("part_size", *value);
    if (size < kMinPartSize || size > kMaxPartSize)
      BadOption("part_size", *value, "Use a size between 5MB and 5GB, e.g. '16MB'.");
    loc.part_size = size;
  }
  if (const auto *value = option("uploads_in_flight"))
    loc.uploads_in_flight =
        static_cast<int>(ParseIntOption("uploads_in_flight", *value, 1, kMaxUploadsInFlight));
  if (const auto *value = option("checksum")) {
    std::string checksum = Lower(*value);
    if (checksum != "crc32" && checksum != "none")
      BadOption("checksum", *value,
                "Use 'crc32' (the service checks each part's CRC32) or 'none' (for servers "
                "that reject x-amz-checksum-* headers).");
    loc.checksum_crc32 = checksum == "crc32";
  }
  if (const auto *value = option("ca_file")) loc.ca_file = CheckCaOption("ca_file", *value, false);
  if (const auto *value = option("ca_path")) loc.ca_path = CheckCaOption("ca_path", *value, true);
  if (const auto *value = option("tls_verify"))
    loc.tls_verify = ParseBoolOption("tls_verify", *value);
  if (const auto *value = option("proxy")) ParseProxy(*value, &loc);
  // 100 ms .. 1 h to connect, 100 ms .. 24 h per request.
  auto duration = [&](const char *name, long long high_ms, long *out) {
    const auto *value = option(name);
    if (!value) return;
    long long ms = ParseDurationMs(name, *value);
    if (ms < 100 || ms > high_ms)
      throw Error(sqlstate::kFdwInvalidOptionValue,
                  "invalid value for option \"" + std::string(name) + "\": \"" + *value + "\"",
                  "It must be between 100 milliseconds and " + std::to_string(high_ms / 3600000) +
                      " hour" + (high_ms > 3600000 ? "s." : "."),
                  "Use seconds or an interval such as '30s', '500ms', '2min' or '1h'.");
    *out = static_cast<long>(ms);
  };
  duration("connect_timeout", 3600000LL, &loc.connect_timeout_ms);
  duration("request_timeout", 24 * 3600000LL, &loc.request_timeout_ms);
  loc.sse = ParseSseOptions(cos, options);
  if (const auto *value = option("storage_class")) {
    loc.storage_class = ParseStorageClass("storage_class", *value, cos);
    loc.manifest_storage_class = "STANDARD";
  }
  if (const auto *value = option("manifest_storage_class"))
    loc.manifest_storage_class = ParseStorageClass("manifest_storage_class", *value, cos);
  if (const auto *value = option("restore_tier"))
    loc.restore_tier = ParseRestoreTier("restore_tier", *value);
  if (const auto *value = option("restore_days"))
    loc.restore_days = ParseRestoreDays("restore_days", *value);
  loc.credential_settings = ParseCredentialSettings(options, cos);
  return loc;
}

std::string S3Location::RequestHost() const {
  std::string host = path_style ? endpoint_host : bucket + "." + endpoint_host;
  if (port != 0 && port != (https ? 443 : 80)) host += ":" + std::to_string(port);
  return host;
}

std::string S3Location::BaseUrl() const {
  return (https ? "https://" : "http://") + RequestHost();
}

std::string S3Location::RequestPath(const std::string &object_key) const {
  if (path_style) return object_key.empty() ? "/" + bucket : "/" + bucket + "/" + object_key;
  return "/" + object_key;
}

std::string S3Location::DisplayUrl(const std::string &object_key) const {
  if (cos) return "cos://" + bucket + ".cos." + region + ".myqcloud.com/" + object_key;
  return "s3://" + bucket + "/" + object_key;
}

std::string S3Location::ConnectionTarget() const {
  if (!connect_to.empty()) return connect_to;
  std::string host = path_style ? endpoint_host : bucket + "." + endpoint_host;
  return host + ":" + std::to_string(port != 0 ? port : (https ? 443 : 80));
}

}  // namespace cdw::s3
