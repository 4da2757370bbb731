#include "manifest/authentication.h"

#include <cstdint>

#include "common/error.h"
#include "common/hmac_sha256.h"
#include "storage/encrypted_store.h"
#include "storage/object_store.h"

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

std::string TargetKeyFromHex(const std::string &hex) {
  auto key = HexDecode(hex);
  if (!key || key->size() != kTargetKeyBytes)
    throw Error(sqlstate::kInvalidParameterValue, "the target's manifest key is not valid",
                "A manifest key is " + std::to_string(kTargetKeyBytes) + " bytes.",
                "Drop the target and add it again with cdw_backup_add_target().");
  return *key;
}

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

void WriteAuthenticatedObject(ObjectStore *store, const std::string &key,
                              const std::string &object_key, const std::string &bytes) {
  auto put = [&](const std::string &name, const std::string &data) {
    auto writer = store->CreateStored(name, ObjectKind::kMetadata);
    writer->Write(data.data(), data.size());
    writer->Finish();
    writer->Commit();
  };
  // On an encrypted target the object is stored encrypted and the MAC
  // covers the stored (encrypted) bytes; the ".hmac" object is stored as
  // is (a MAC reveals nothing of the object).
  std::string stored = SealForStore(store, bytes);
  put(object_key + kMacSuffix, MacObject(key, object_key, stored));
  put(object_key, stored);
}

namespace {
std::string ReadAll(ObjectStore *store, const std::string &key, size_t limit) {
  auto source = store->OpenStored(key);
  std::string data;
  char buffer[1 << 16];
  while (size_t n = source->Read(buffer, sizeof buffer)) {
    data.append(buffer, n);
    if (data.size() > limit) break;  // not one of ours; the verdict says so
  }
  return data;
}
}  // namespace

AuthenticatedRead ReadAuthenticatedObject(ObjectStore *store, const std::string &key,
                                          const std::string &object_key) {
  AuthenticatedRead read;
  const std::string mac_key = object_key + kMacSuffix;
  for (const auto &object : store->List(object_key)) {
    read.found |= object.key == object_key;
    read.has_mac |= object.key == mac_key;
  }
  if (!read.found) return read;
  read.bytes = ReadAll(store, object_key, SIZE_MAX - (1 << 16));
  if (read.has_mac)
    read.verdict =
        CheckMac(key, object_key, read.bytes, ReadAll(store, mac_key, 4096), &read.other_key_id);
  // Decrypted once the stored bytes are known to be ours (or when there is
  // no MAC, for allow_unauthenticated); an object that fails its MAC is
  // left as stored for the caller's verdict, which uses none of it.
  if (read.has_mac ? read.verdict == MacVerdict::kValid : !store->EncryptionLabel().empty())
    read.bytes = OpenFromStore(store, read.bytes, object_key);
  return read;
}

}  // namespace cdw
