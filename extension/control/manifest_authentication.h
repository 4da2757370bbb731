// What cdw_backup_list / verify / restore do with a manifest or run index
// read back from a target (see core/manifest/authentication.h): read it and
// its MAC, then either use it, report it (verify) or refuse it. Include
// after postgres.h.
#pragma once

namespace cdw {
class ObjectStore;
}

namespace cdw::control {

// An object read back with its MAC; palloc'd, no C++ members, so it may live
// in frames PostgreSQL can leave with an ERROR.
struct ReadBack {
  bool found;          // the object exists
  bool has_mac;        // its ".hmac" exists
  int verdict;         // cdw::MacVerdict, when has_mac
  char *bytes;         // the object (when found), exactly as checked
  char *url;           // of the object, for messages
  char *key_id;        // id of the target's key
  char *other_key_id;  // id the MAC names, when made with another key
};

// Reads `object_key` and its MAC from `store` under the target's `key_hex`.
// Call from C++ (inside CallCpp); PostgreSQL allocations go through PgCall.
ReadBack *ReadBackAuthenticated(ObjectStore *store, const char *key_hex, const char *object_key);

// Why an object may not be used, or NULL when it may: authenticated, or
// without a MAC at all and `allow_unauthenticated` (an object with a MAC
// that does not verify is never usable). `what` is "manifest" or
// "run index".
struct AuthProblem {
  const char *code;  // verify's problem: unauthenticated_manifest, manifest_mac_mismatch, ...
  int sqlstate;
  char *message;
  char *detail;
  char *hint;
};
AuthProblem *AuthenticationProblem(const ReadBack *read, const char *what, const char *target_name,
                                   bool allow_unauthenticated);

// Raises the problem as an ERROR.
[[noreturn]] void RaiseAuthenticationProblem(const AuthProblem *problem);

}  // namespace cdw::control
