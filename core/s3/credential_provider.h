// The credentials an S3Client signs each request with (see credentials.h for
// the sources and their options).
//
// Static and environment credentials are read once per provider. Instance
// metadata credentials (EC2 IMDSv2, Tencent CVM) are fetched over HTTP
// (libcurl) when first needed and renewed before they expire (RenewalTime()),
// so a multipart upload that outlives one set of credentials signs each part
// with the set that is current when the part starts. One metadata provider
// per (source, endpoint, role) is shared by every client of the process, the
// upload threads' included: Get() is thread-safe, and the threads that call
// it never touch PostgreSQL. A renewal that fails while the current
// credentials are still valid is retried later, not reported; with no valid
// credentials left, Get() throws cdw::Error: 08006 when the metadata service
// cannot be reached, 28000 when it answers without usable credentials.
// Nothing here ever puts a secret, a session token or a metadata token into
// an error.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "s3/credentials.h"

namespace cdw::s3 {

using AbortCheck = std::function<bool()>;

class CredentialProvider {
 public:
  virtual ~CredentialProvider() = default;

  // The credentials to sign the next request with. Throws cdw::Error, or
  // cdw::Interrupted when `abort` says stop during a fetch.
  virtual Credentials Get(const AbortCheck &abort) = 0;

  // The storage service refused `used` as expired or unknown: renew them at
  // the next Get(). Returns whether a retry may get other credentials.
  virtual bool Invalidate(const Credentials &used) {
    (void)used;
    return false;
  }
};

// The provider for a location's credential settings. `given` are the
// secret_id / secret_key / session_token of the target or user mapping:
// required for 'static', refused for the other sources. `where` names the
// location in errors. Fetches nothing yet.
std::shared_ptr<CredentialProvider> MakeCredentialProvider(const CredentialSettings &settings,
                                                           const Credentials &given,
                                                           const std::string &where);

// Clock for expiry decisions (Unix seconds); tests pin it. nullptr restores
// the real clock.
void SetCredentialClockForTest(long long (*now)());

// Forgets the process's shared metadata providers (tests).
void ResetCredentialProvidersForTest();

}  // namespace cdw::s3
