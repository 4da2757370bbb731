// Where an s3:// or cos:// location's credentials come from, and the pure
// logic of getting them: option parsing, the shared credentials file (ini),
// the instance metadata documents (EC2 IMDS, Tencent CVM) and when to renew
// temporary credentials. No network and no PostgreSQL here (see
// credential_provider.h for the fetching).
//
//   credentials 'static'    secret_id / secret_key (and session_token) given to
//                           cdw_backup_add_target or a user mapping (default)
//   credentials 'env'       the database server OS user's environment:
//                           AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN;
//                           without them the shared credentials file
//                           (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials), profile
//                           from the option `profile`, else AWS_PROFILE, else "default".
//                           An explicit `profile` reads the file even when the variables are set.
//   credentials 'imds'      EC2 instance metadata, IMDSv2 (token, then the instance
//                           profile's role credentials)
//   credentials 'cvm'       Tencent CVM instance metadata (the CAM role bound to the instance)
//   credentials 'instance'  'imds' for s3://, 'cvm' for cos://
//   role                    imds/cvm: the role name (default: the first one the metadata lists)
//   metadata_endpoint       imds/cvm, for tests: 'http://127.0.0.1:8080' instead of
//                           http://169.254.169.254 (IMDS) or http://metadata.tencentyun.com (CVM)
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "storage/store_factory.h"

namespace cdw::s3 {

enum class CredentialSource { kStatic, kEnv, kImds, kCvm };

struct CredentialSettings {
  CredentialSource source = CredentialSource::kStatic;
  std::string profile;            // kEnv: "" means AWS_PROFILE or "default"
  std::string role;               // kImds / kCvm: "" means the first role listed
  std::string metadata_endpoint;  // kImds / kCvm: "http://host[:port]" ("" = the real one)

  // "http://169.254.169.254" / "http://metadata.tencentyun.com" unless overridden.
  std::string MetadataEndpoint() const;
};

// "static", "env", "imds", "cvm".
const char *CredentialSourceName(CredentialSource source);

// The option names this file understands (part of S3OptionNames()).
const std::vector<std::string> &CredentialOptionNames();

// Parses credentials / profile / role / metadata_endpoint. Throws cdw::Error
// (HV024) for an unknown source, or an option that does not apply to it.
CredentialSettings ParseCredentialSettings(const StoreOptions &options, bool cos);

// Credentials with their expiry (Unix seconds; 0: they do not expire).
struct TimedCredentials {
  Credentials credentials;
  long long expires_at = 0;
};

// The metadata documents. Both throw cdw::Error (28000) naming what is
// missing or wrong, never a secret.
//   IMDS: {"Code":"Success","AccessKeyId":..,"SecretAccessKey":..,"Token":..,
//          "Expiration":"2026-12-02T10:00:00Z"}
//   CVM:  {"Code":"Success","TmpSecretId":..,"TmpSecretKey":..,"Token":..,
//          "ExpiredTime":1764669600,"Expiration":"2026-12-02T10:00:00Z"}
TimedCredentials ParseImdsCredentials(const std::string &json);
TimedCredentials ParseCvmCredentials(const std::string &json);

// The first role name of a metadata listing ("role\n" or "role1\nrole2"), or "".
std::string FirstRoleName(const std::string &listing);

// Whether a role name may be put into a metadata URL path.
bool ValidRoleName(const std::string &role);

// "2026-12-02T10:00:00Z" (fractional seconds and "+00:00" accepted) -> Unix
// seconds; nullopt when it is not a UTC ISO 8601 time.
std::optional<long long> ParseIso8601Utc(const std::string &text);

// The credentials of `profile` in a shared credentials file's text
// (aws_access_key_id, aws_secret_access_key, aws_session_token; '#' and ';'
// comments). nullopt when the profile is missing or has no key pair.
std::optional<Credentials> CredentialsFromIni(const std::string &text, const std::string &profile);

// When to renew credentials fetched at `fetched_at` that expire at
// `expires_at` (0: never). The renewal window is a quarter of the lifetime
// the credentials had when fetched, at least 2 s and at most 5 minutes: real
// instance credentials (hours) are renewed 5 minutes before they expire, as
// the AWS SDKs do; short-lived test credentials (seconds) early enough that
// no request is signed with credentials about to lapse. Never earlier than
// 1 s after the fetch, so credentials the metadata service has not rotated
// yet are not fetched in a tight loop. Returns 0 for "never".
long long RenewalTime(long long fetched_at, long long expires_at);

}  // namespace cdw::s3
