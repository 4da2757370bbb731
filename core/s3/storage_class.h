// Archive storage classes and thawing them: the pure parts (names, header
// names, the RestoreObject body, the x-amz-restore / x-cos-restore answer).
//
// S3 and COS name the same things differently:
//   storage class on PUT / Initiate Multipart Upload, and on HEAD
//       s3:  x-amz-storage-class   STANDARD, STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING,
//                                  GLACIER_IR, GLACIER, DEEP_ARCHIVE, REDUCED_REDUNDANCY, ...
//       cos: x-cos-storage-class   STANDARD, STANDARD_IA, ARCHIVE, DEEP_ARCHIVE,
//                                  INTELLIGENT_TIERING, MAZ_STANDARD, MAZ_STANDARD_IA, ...
//   thaw (POST <key>?restore)
//       s3:  <RestoreRequest><Days>N</Days><GlacierJobParameters><Tier>T</Tier>...
//       cos: <RestoreRequest><Days>N</Days><CASJobParameters><Tier>T</Tier>...
//   thaw status on HEAD: x-amz-restore / x-cos-restore: ongoing-request="true" |
//       ongoing-request="false", expiry-date="..."
// Our cos:// requests are signed with SigV4 like s3:// ones (COS accepts
// that); every x-cos-* / x-amz-* header we add is signed as any other.
#pragma once

#include <string>
#include <vector>

namespace cdw::s3 {

// The storage classes a provider accepts, canonical (upper-case) names.
const std::vector<std::string> &StorageClassNames(bool cos);

// `value` of option `option` (storage_class, manifest_storage_class) in its
// canonical form; throws cdw::Error (HV00D) with a hint listing the names.
std::string ParseStorageClass(const std::string &option, const std::string &value, bool cos);

// The header that carries a storage class for this provider.
const char *StorageClassHeader(bool cos);
// The header that carries the thaw status on HEAD.
const char *RestoreHeader(bool cos);

// Whether objects of this class must be thawed before a GET (S3 GLACIER and
// DEEP_ARCHIVE, COS ARCHIVE and DEEP_ARCHIVE; GLACIER_IR reads directly).
bool NeedsThaw(const std::string &storage_class);

// "Expedited", "Standard" or "Bulk" (any case) in canonical form; throws.
std::string ParseRestoreTier(const std::string &option, const std::string &value);
// 1..365 days; throws.
int ParseRestoreDays(const std::string &option, const std::string &value);

// The body of POST <key>?restore.
std::string RestoreRequestBody(int days, const std::string &tier, bool cos);

// What the x-amz-restore / x-cos-restore header of a HEAD says.
struct RestoreHeaderInfo {
  bool present = false;  // no header: no thaw was ever requested (or it expired)
  bool ongoing = false;  // ongoing-request="true"
  std::string expiry;    // expiry-date of a finished thaw
};
RestoreHeaderInfo ParseRestoreHeaderValue(const std::string &value);

}  // namespace cdw::s3
