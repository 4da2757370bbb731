// Authentication of what is read back from a target (see
// manifest_authentication.h).
extern "C" {
#include "postgres.h"
#include "utils/builtins.h"
}

#include "extension/control/manifest_authentication.h"
#include "extension/pg/cpp_boundary.h"
#include "manifest/authentication.h"
#include "storage/object_store.h"

namespace cdw::control {

ReadBack *ReadBackAuthenticated(ObjectStore *store, const char *key_hex, const char *object_key) {
  std::string key = TargetKeyFromHex(key_hex);
  AuthenticatedRead read = ReadAuthenticatedObject(store, key, object_key);
  std::string url = store->Url(object_key), key_id = KeyId(key);
  ReadBack *result = nullptr;
  pg::PgCall([&] {
    result = static_cast<ReadBack *>(palloc0(sizeof(ReadBack)));
    result->found = read.found;
    result->has_mac = read.has_mac;
    result->verdict = static_cast<int>(read.verdict);
    result->bytes = read.found ? pnstrdup(read.bytes.data(), read.bytes.size()) : nullptr;
    result->url = pstrdup(url.c_str());
    result->key_id = pstrdup(key_id.c_str());
    result->other_key_id = pstrdup(read.other_key_id.c_str());
  });
  return result;
}

AuthProblem *AuthenticationProblem(const ReadBack *read, const char *what, const char *target_name,
                                   bool allow_unauthenticated) {
  if (!read->has_mac && allow_unauthenticated) return nullptr;
  auto verdict = static_cast<MacVerdict>(read->verdict);
  if (read->has_mac && verdict == MacVerdict::kValid) return nullptr;
  auto *p = static_cast<AuthProblem *>(palloc0(sizeof(AuthProblem)));
  bool manifest = strcmp(what, "manifest") == 0;
  if (!read->has_mac) {
    p->code = manifest ? "unauthenticated_manifest" : "unauthenticated_run_index";
    p->sqlstate = ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION;
    p->message = psprintf("the %s %s is not authenticated", what, read->url);
    p->detail = psprintf(
        "It has no %s object: it was written by a cdw_backup older than manifest "
        "authentication, or its MAC was removed. Its content may have been changed by anyone "
        "who can write to the target.",
        kMacSuffix);
    p->hint = psprintf(
        "If you trust everyone who can write to target \"%s\", pass allow_unauthenticated => "
        "true (a restore then only loads into tables that exist already; it creates nothing).",
        target_name);
  } else if (verdict == MacVerdict::kOtherKey) {
    p->code = manifest ? "manifest_other_key" : "run_index_other_key";
    p->sqlstate = ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION;
    p->message = psprintf("the %s %s was authenticated with another key", what, read->url);
    p->detail = psprintf("Its MAC names key %s; target \"%s\" has key %s.", read->other_key_id,
                         target_name, read->key_id);
    p->hint = psprintf(
        "Add the target with the key of the cluster that wrote it: "
        "cdw_backup_add_target(..., manifest_key => '<cdw_backup_target_key() of that "
        "cluster>').");
  } else {
    p->code = manifest ? "manifest_mac_mismatch" : "run_index_mac_mismatch";
    p->sqlstate = ERRCODE_DATA_CORRUPTED;
    p->message = psprintf("the %s %s does not match its MAC", what, read->url);
    p->detail = psprintf(
        verdict == MacVerdict::kMalformed
            ? "Its %s object is not one cdw_backup writes: it was changed after the backup."
            : "It was changed after the backup was written (or its %s object was).",
        kMacSuffix);
    p->hint = pstrdup(
        "Nothing of it is used. Find out who can write to the target; restore from another run.");
  }
  return p;
}

void RaiseAuthenticationProblem(const AuthProblem *problem) {
  ereport(ERROR, (errcode(problem->sqlstate), errmsg_internal("%s", problem->message),
                  errdetail_internal("%s", problem->detail), errhint("%s", problem->hint)));
}

}  // namespace cdw::control
