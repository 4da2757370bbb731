#include "s3/credentials.h"

#include <algorithm>
#include <cctype>
#include <ctime>

#include "common/error.h"
#include "manifest/json_value.h"

namespace cdw::s3 {

namespace {

constexpr const char *kInvalidAuthorization = "28000";

std::string Lower(std::string s) {
  for (auto &c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(const std::string &s) {
  size_t begin = s.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return {};
  size_t end = s.find_last_not_of(" \t\r\n");
  return s.substr(begin, end - begin + 1);
}

[[noreturn]] void BadDocument(const char *service, const std::string &detail) {
  throw Error(kInvalidAuthorization,
              std::string("unexpected credentials document from ") + service + " metadata", detail,
              "Check that a role is attached to the instance and that its name (option role) "
              "is right.");
}

const std::string &RequiredString(const JsonValue &doc, const char *service, const char *key) {
  const JsonValue *value = doc.Find(key);
  if (!value || value->type() != JsonValue::Type::kString || value->AsString(key).empty())
    BadDocument(service, std::string("The document has no \"") + key + "\" string.");
  return value->AsString(key);
}

JsonValue ParseDocument(const std::string &json, const char *service) {
  JsonValue doc;
  try {
    doc = ParseJson(json);
  } catch (const Error &) {
    BadDocument(service, "It is not valid JSON.");  // never echo it: it may hold a secret
  }
  if (doc.type() != JsonValue::Type::kObject) BadDocument(service, "It is not a JSON object.");
  if (const JsonValue *code = doc.Find("Code")) {
    if (code->type() == JsonValue::Type::kString && code->AsString("Code") != "Success")
      BadDocument(service, "Its Code is \"" + code->AsString("Code").substr(0, 64) +
                               "\" instead of \"Success\".");
  }
  return doc;
}

bool ValidEndpoint(const std::string &value) {
  std::string lower = Lower(value);
  size_t scheme = lower.rfind("http://", 0) == 0 ? 7 : lower.rfind("https://", 0) == 0 ? 8 : 0;
  if (scheme == 0 || value.size() == scheme) return false;
  for (size_t i = scheme; i < value.size(); i++) {
    unsigned char c = static_cast<unsigned char>(value[i]);
    if (!std::isalnum(c) && c != '.' && c != '-' && c != ':' && c != '[' && c != ']') return false;
  }
  return true;
}

[[noreturn]] void BadCredentialOption(const std::string &name, const std::string &detail,
                                      const std::string &hint) {
  throw Error(sqlstate::kFdwInvalidOptionValue, "invalid value for option \"" + name + "\"", detail,
              hint);
}

}  // namespace

std::string CredentialSettings::MetadataEndpoint() const {
  if (!metadata_endpoint.empty()) return metadata_endpoint;
  return source == CredentialSource::kCvm ? "http://metadata.tencentyun.com"
                                          : "http://169.254.169.254";
}

const char *CredentialSourceName(CredentialSource source) {
  switch (source) {
    case CredentialSource::kStatic:
      return "static";
    case CredentialSource::kEnv:
      return "env";
    case CredentialSource::kImds:
      return "imds";
    case CredentialSource::kCvm:
      return "cvm";
  }
  return "static";
}

const std::vector<std::string> &CredentialOptionNames() {
  static const std::vector<std::string> kNames = {"credentials", "profile", "role",
                                                  "metadata_endpoint"};
  return kNames;
}

CredentialSettings ParseCredentialSettings(const StoreOptions &options, bool cos) {
  CredentialSettings settings;
  auto option = [&](const char *name) -> const std::string * {
    auto it = options.find(name);
    return it == options.end() ? nullptr : &it->second;
  };
  if (const auto *value = option("credentials")) {
    std::string source = Lower(*value);
    if (source == "static")
      settings.source = CredentialSource::kStatic;
    else if (source == "env")
      settings.source = CredentialSource::kEnv;
    else if (source == "imds")
      settings.source = CredentialSource::kImds;
    else if (source == "cvm")
      settings.source = CredentialSource::kCvm;
    else if (source == "instance")
      settings.source = cos ? CredentialSource::kCvm : CredentialSource::kImds;
    else
      BadCredentialOption("credentials", "\"" + *value + "\" is not a credential source.",
                          "Use 'static' (secret_id and secret_key), 'env' (the server's "
                          "environment or ~/.aws/credentials), 'imds' (EC2 instance profile), "
                          "'cvm' (Tencent CVM CAM role) or 'instance' (imds for s3://, cvm for "
                          "cos://).");
  }
  const bool metadata =
      settings.source == CredentialSource::kImds || settings.source == CredentialSource::kCvm;
  if (const auto *value = option("profile")) {
    if (settings.source != CredentialSource::kEnv)
      BadCredentialOption("profile", "Option profile applies only to credentials 'env'.",
                          "Add credentials 'env' or drop profile.");
    if (value->empty() || value->find_first_of("[]\r\n") != std::string::npos)
      BadCredentialOption("profile", "A profile is a section name of the credentials file.",
                          "Use a name such as 'backup'.");
    settings.profile = *value;
  }
  if (const auto *value = option("role")) {
    if (!metadata)
      BadCredentialOption("role", "Option role applies only to credentials 'imds' and 'cvm'.",
                          "Add credentials 'instance' or drop role.");
    if (!ValidRoleName(*value))
      BadCredentialOption("role", "A role name is 1 to 128 letters, digits and +=,.@_-.",
                          "Use the name of the role attached to the instance.");
    settings.role = *value;
  }
  if (const auto *value = option("metadata_endpoint")) {
    if (!metadata)
      BadCredentialOption("metadata_endpoint",
                          "Option metadata_endpoint applies only to credentials 'imds' and 'cvm'.",
                          "Drop metadata_endpoint (it is meant for tests).");
    std::string endpoint = *value;
    while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
    if (!ValidEndpoint(endpoint))
      BadCredentialOption("metadata_endpoint",
                          "A metadata endpoint is http://host[:port] with nothing after it.",
                          "Use e.g. 'http://127.0.0.1:8080' (for tests), or drop the option to "
                          "use the instance's metadata service.");
    settings.metadata_endpoint = endpoint;
  }
  return settings;
}

bool ValidRoleName(const std::string &role) {
  if (role.empty() || role.size() > 128) return false;
  for (unsigned char c : role)
    if (!std::isalnum(c) && std::string("+=,.@_-").find(static_cast<char>(c)) == std::string::npos)
      return false;
  return true;
}

std::string FirstRoleName(const std::string &listing) {
  size_t start = 0;
  while (start < listing.size()) {
    size_t end = listing.find('\n', start);
    if (end == std::string::npos) end = listing.size();
    std::string line = Trim(listing.substr(start, end - start));
    if (!line.empty()) return line;
    start = end + 1;
  }
  return {};
}

std::optional<long long> ParseIso8601Utc(const std::string &text) {
  // YYYY-MM-DDTHH:MM:SS[.fff](Z|+00:00)
  if (text.size() < 20) return std::nullopt;
  auto digits = [&](size_t pos, size_t n, int *out) {
    int value = 0;
    for (size_t i = pos; i < pos + n; i++) {
      if (!std::isdigit(static_cast<unsigned char>(text[i]))) return false;
      value = value * 10 + (text[i] - '0');
    }
    *out = value;
    return true;
  };
  int year, month, day, hour, minute, second;
  if (!digits(0, 4, &year) || text[4] != '-' || !digits(5, 2, &month) || text[7] != '-' ||
      !digits(8, 2, &day) || (text[10] != 'T' && text[10] != ' ') || !digits(11, 2, &hour) ||
      text[13] != ':' || !digits(14, 2, &minute) || text[16] != ':' || !digits(17, 2, &second))
    return std::nullopt;
  size_t pos = 19;
  if (pos < text.size() && text[pos] == '.') {
    pos++;
    while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) pos++;
  }
  std::string zone = text.substr(pos);
  if (zone != "Z" && zone != "+00:00" && zone != "+0000") return std::nullopt;
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60)
    return std::nullopt;
  struct tm tm = {};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  return static_cast<long long>(timegm(&tm));
}

TimedCredentials ParseImdsCredentials(const std::string &json) {
  const char *service = "EC2 instance";
  JsonValue doc = ParseDocument(json, service);
  TimedCredentials out;
  out.credentials.access_key_id = RequiredString(doc, service, "AccessKeyId");
  out.credentials.secret_access_key = RequiredString(doc, service, "SecretAccessKey");
  out.credentials.session_token = RequiredString(doc, service, "Token");
  auto expires = ParseIso8601Utc(RequiredString(doc, service, "Expiration"));
  if (!expires) BadDocument(service, "Its Expiration is not an ISO 8601 UTC time.");
  out.expires_at = *expires;
  return out;
}

TimedCredentials ParseCvmCredentials(const std::string &json) {
  const char *service = "Tencent CVM";
  JsonValue doc = ParseDocument(json, service);
  TimedCredentials out;
  out.credentials.access_key_id = RequiredString(doc, service, "TmpSecretId");
  out.credentials.secret_access_key = RequiredString(doc, service, "TmpSecretKey");
  out.credentials.session_token = RequiredString(doc, service, "Token");
  const JsonValue *expired_time = doc.Find("ExpiredTime");
  if (expired_time && expired_time->type() == JsonValue::Type::kNumber) {
    out.expires_at = expired_time->AsInt("ExpiredTime");
  } else if (const JsonValue *expiration = doc.Find("Expiration");
             expiration && expiration->type() == JsonValue::Type::kString) {
    auto expires = ParseIso8601Utc(expiration->AsString("Expiration"));
    if (!expires) BadDocument(service, "Its Expiration is not an ISO 8601 UTC time.");
    out.expires_at = *expires;
  } else {
    BadDocument(service,
                "The document has neither an \"ExpiredTime\" number nor an "
                "\"Expiration\" time.");
  }
  if (out.expires_at <= 0) BadDocument(service, "Its ExpiredTime is not a positive number.");
  return out;
}

std::optional<Credentials> CredentialsFromIni(const std::string &text, const std::string &profile) {
  Credentials found;
  bool in_profile = false, seen = false;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = Trim(text.substr(start, end - start));
    start = end + 1;
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[') {
      size_t close = line.find(']');
      std::string name = close == std::string::npos ? "" : Trim(line.substr(1, close - 1));
      in_profile = name == profile;
      seen |= in_profile;
      continue;
    }
    if (!in_profile) continue;
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string key = Lower(Trim(line.substr(0, eq)));
    std::string value = Trim(line.substr(eq + 1));
    if (key == "aws_access_key_id") found.access_key_id = value;
    if (key == "aws_secret_access_key") found.secret_access_key = value;
    if (key == "aws_session_token" || key == "aws_security_token") found.session_token = value;
  }
  if (!seen || found.access_key_id.empty() || found.secret_access_key.empty()) return std::nullopt;
  return found;
}

long long RenewalTime(long long fetched_at, long long expires_at) {
  if (expires_at <= 0) return 0;
  long long lifetime = std::max(0LL, expires_at - fetched_at);
  long long window = std::clamp(lifetime / 4, 2LL, 300LL);
  return std::max(expires_at - window, fetched_at + 1);
}

}  // namespace cdw::s3
