// Authentication of what restore trusts on a target: each manifest and run
// index object is accompanied by a detached "<object>.hmac" object holding
// HMAC-SHA-256, under the target's secret key, of
//
//   "cdw_backup object v1" NUL <object key relative to the target root> NUL
//   <the object's exact bytes>
//
// so a changed byte, a swapped object (another database's or run's manifest
// under this key) or a MAC made with another key never verifies. The key
// itself never leaves the home database (see README, "The target's key").
// The ".hmac" object is one line:
//
//   cdw_backup-hmac-sha256 v1 key=<key id, 16 hex> mac=<64 hex>
//
// where the key id (the first 8 bytes of HMAC(key, "cdw_backup key id")) lets
// a reader tell "made with another key" from "changed after it was written"
// without revealing anything about the key.
#pragma once

#include <string>

namespace cdw {

class ObjectStore;

constexpr size_t kTargetKeyBytes = 32;
constexpr const char *kMacSuffix = ".hmac";

// The raw key from its hex form (as target_store keeps it); throws
// cdw::Error (22023) unless it is kTargetKeyBytes bytes.
std::string TargetKeyFromHex(const std::string &hex);

// The 16-hex-digit id of a key.
std::string KeyId(const std::string &key);

// The contents of "<object_key>.hmac" for an object with `bytes`.
std::string MacObject(const std::string &key, const std::string &object_key,
                      const std::string &bytes);

enum class MacVerdict {
  kValid,      // the object is what this key's holder wrote under this name
  kMalformed,  // the .hmac object is not one cdw_backup writes
  kOtherKey,   // made with another key (its id differs from this key's)
  kMismatch,   // this key's id, but the MAC differs: the object was changed
};

// Checks `mac_object` (the contents of "<object_key>.hmac") against the
// object's bytes. `other_key_id` receives the id the MAC names when the
// verdict is kOtherKey.
MacVerdict CheckMac(const std::string &key, const std::string &object_key, const std::string &bytes,
                    const std::string &mac_object, std::string *other_key_id = nullptr);

// Writes "<object_key>.hmac", then the object: an object never appears
// without its MAC (a MAC without its object is harmless).
void WriteAuthenticatedObject(ObjectStore *store, const std::string &key,
                              const std::string &object_key, const std::string &bytes);

struct AuthenticatedRead {
  bool found = false;                           // the object exists
  bool has_mac = false;                         // so does its .hmac
  MacVerdict verdict = MacVerdict::kMalformed;  // when has_mac
  std::string other_key_id;                     // when kOtherKey
  std::string bytes;                            // the object, when found
};

// Reads an object and its MAC (one listing, two reads) and checks them. The
// caller decides what to do with anything but a kValid verdict. The MAC
// covers the stored bytes; on an encrypted store `bytes` are their
// plaintext once the MAC verified (decryption errors are thrown), the
// stored bytes otherwise.
AuthenticatedRead ReadAuthenticatedObject(ObjectStore *store, const std::string &key,
                                          const std::string &object_key);

}  // namespace cdw
