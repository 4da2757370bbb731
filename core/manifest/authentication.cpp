#include "manifest/authentication.h"

#include "common/hmac_sha256.h"

namespace cdw {

namespace {

constexpr const char kPrefix[] = "cdw_backup-hmac-sha256 v1 key=";
constexpr const char kMacField[] = " mac=";

std::string Mac(const std::string &key, const std::string &object_key, const std::string &bytes) {
  std::string message = "cdw_backup object v1";
  message.push_back('\0');
  message += object_key;
  message.push_back('\0');
  message += bytes;
  return HmacSha256(key, message);
}

}  // namespace

std::string KeyId(const std::string &key) {
  return HexEncode(HmacSha256(key, "cdw_backup key id").substr(0, 8));
}

std::string MacObject(const std::string &key, const std::string &object_key,
                      const std::string &bytes) {
  return std::string(kPrefix) + KeyId(key) + kMacField + HexEncode(Mac(key, object_key, bytes)) +
         "\n";
}

MacVerdict CheckMac(const std::string &key, const std::string &object_key, const std::string &bytes,
                    const std::string &mac_object, std::string *other_key_id) {
  // Exactly the line MacObject writes, a final newline optional.
  std::string line = mac_object;
  if (!line.empty() && line.back() == '\n') line.pop_back();
  const size_t prefix = sizeof kPrefix - 1, field = sizeof kMacField - 1;
  if (line.size() != prefix + 16 + field + 64 || line.compare(0, prefix, kPrefix) != 0 ||
      line.compare(prefix + 16, field, kMacField) != 0)
    return MacVerdict::kMalformed;
  std::string id = line.substr(prefix, 16);
  auto mac = HexDecode(line.substr(prefix + 16 + field));
  if (!HexDecode(id) || !mac) return MacVerdict::kMalformed;
  if (id != KeyId(key)) {
    if (other_key_id) *other_key_id = id;
    return MacVerdict::kOtherKey;
  }
  return ConstantTimeEqual(*mac, Mac(key, object_key, bytes)) ? MacVerdict::kValid
                                                              : MacVerdict::kMismatch;
}

}  // namespace cdw
