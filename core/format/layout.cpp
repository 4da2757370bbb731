#include "format/layout.h"

#include <ctime>

#include "common/error.h"

namespace cdw {

std::string EncodePathComponent(const std::string &identifier) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(identifier.size());
  for (unsigned char c : identifier) {
    bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '-' || c >= 0x80;
    if (keep) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string DecodePathComponent(const std::string &component) {
  std::string out;
  for (size_t i = 0; i < component.size(); i++) {
    if (component[i] != '%') {
      out.push_back(component[i]);
      continue;
    }
    auto hex = [&](char h) -> int {
      if (h >= '0' && h <= '9') return h - '0';
      if (h >= 'A' && h <= 'F') return h - 'A' + 10;
      if (h >= 'a' && h <= 'f') return h - 'a' + 10;
      throw Error(sqlstate::kInvalidParameterValue, "malformed encoded name \"" + component + "\"");
    };
    if (i + 2 >= component.size())
      throw Error(sqlstate::kInvalidParameterValue, "malformed encoded name \"" + component + "\"");
    out.push_back(static_cast<char>(hex(component[i + 1]) * 16 + hex(component[i + 2])));
    i += 2;
  }
  return out;
}

std::string RunPrefix(int64_t run_id, int64_t unix_seconds) {
  time_t t = static_cast<time_t>(unix_seconds);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buffer[64];
  strftime(buffer, sizeof buffer, "%Y%m%d/%H%M%SZ", &tm);
  return std::string(buffer) + "-run" + std::to_string(run_id) + "/";
}

std::string DatabasePrefix(const std::string &database) {
  return EncodePathComponent(database) + "/";
}

std::string TablePrefix(const std::string &schema, const std::string &table) {
  return EncodePathComponent(schema) + "." + EncodePathComponent(table) + "/";
}

std::string RunIndexKey(const std::string &run_prefix) {
  std::string flat = run_prefix;
  if (!flat.empty() && flat.back() == '/') flat.pop_back();
  auto slash = flat.find('/');
  if (slash != std::string::npos) flat[slash] = 'T';
  return std::string(kRunIndexPrefix) + flat + ".json";
}

int64_t RunIdFromKey(const std::string &key) {
  auto pos = key.rfind("-run");
  if (pos == std::string::npos) return -1;
  int64_t id = 0;
  size_t i = pos + 4;
  if (i >= key.size() || key[i] < '0' || key[i] > '9') return -1;
  for (; i < key.size() && key[i] >= '0' && key[i] <= '9'; i++) id = id * 10 + (key[i] - '0');
  return id;
}

}  // namespace cdw
