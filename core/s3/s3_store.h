// s3:// and cos:// targets: an ObjectStore on S3-compatible storage.
//
// Writes: an object up to one part is sent as a single PUT at Commit() (or,
// with CommitInBackground(), on a thread of its own); a larger one becomes
// a multipart upload whose parts (>= 5 MiB, growing so no object needs more
// than 10,000 parts) are uploaded on helper threads, uploads_in_flight at
// once, while the next part fills, so a writer holds at most
// uploads_in_flight + 1 part buffers. With CommitInBackground() the parts
// still uploading and the CompleteMultipartUpload go on on a thread of their
// own, which holds those parts' buffers (released as each part lands) and
// aborts the upload if it fails or is cancelled. Parts (ObjectKind::kPart)
// are written without the GET existence check other objects get. The
// object becomes visible only at Commit() (the PUT or
// CompleteMultipartUpload); Abort() and the destructor of an uncommitted
// writer abort the multipart upload (best effort, bounded in time).
// Reads: ranged GETs of S3Location::range_size bytes. List: ListObjectsV2
// with continuation tokens.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "s3/s3_client.h"
#include "s3/s3_location.h"
#include "storage/object_store.h"

namespace cdw::s3 {

// Size of part `part_number` (1-based): the base size for parts 1..900,
// doubling every 900 parts after that, capped at 5 GiB. Even with the 5 MiB
// minimum, 10,000 parts hold more than 5 TiB (S3's largest object), and a
// writer's buffers only grow once gigabytes have been written (4.4 GiB with
// 5 MiB parts, 7 GiB with the 8 MiB default).
uint64_t PartSizeFor(uint64_t base_part_size, int part_number);

// The largest object kMaxParts parts of PartSizeFor() can hold.
uint64_t MaxObjectSize(uint64_t base_part_size);

// Retry bounds for the abort of an upload (destructor, Abort()): two short
// attempts within ~1.5 s and no InterruptCheck (cancel is what got us here),
// so a cancel returns promptly even when the server stalls.
RetrySettings AbortRetrySettings();

// Uploads whose abort did not get through in that time are kept here and
// aborted again later (the extension retries at backend exit), so a stalled
// server at cancel time does not leave a dangling upload behind.
void DeferAbort(const S3Location &location, const Credentials &credentials, const std::string &key,
                const std::string &upload_id);
// Retries every deferred abort within `budget`; returns how many remain and,
// with `remaining`, names them ("<url> (upload id <id>)", "; "-separated, the
// first few) so a user can abort them by hand. Never throws.
size_t RetryDeferredAborts(std::chrono::milliseconds budget, std::string *remaining = nullptr);

class S3Store : public ObjectStore {
 public:
  S3Store(S3Location location, Credentials credentials);

  // Data objects get location().storage_class, metadata objects
  // location().manifest_storage_class.
  std::unique_ptr<ObjectWriter> Create(const std::string &key,
                                       ObjectKind kind = ObjectKind::kData) override;
  std::unique_ptr<ByteSource> Open(const std::string &key) override;
  std::vector<ObjectInfo> List(const std::string &prefix) override;
  void Remove(const std::string &key) override;
  void RemoveQuickly(const std::string &key) override;
  void ReleaseConnections() noexcept override;
  std::string Url(const std::string &key) const override;
  ArchiveState Archive(const std::string &key, std::string *storage_class = nullptr) override;
  ArchiveState RequestThaw(const std::string &key, const ThawRequest &request) override;

  // In-progress multipart uploads under the store root whose key starts
  // with `prefix`; keys relative to the root.
  std::vector<MultipartUploadInfo> ListMultipartUploads(const std::string &prefix = "");
  size_t DiscardIncomplete(const std::string &prefix) override;
  void AbortMultipartUpload(const std::string &key, const std::string &upload_id);

  const S3Location &location() const { return client_->location(); }

 private:
  std::string FullKey(const std::string &key) const;
  AbortCheck Interrupts() const;

  std::shared_ptr<S3Client> client_;
  Credentials credentials_;  // for the upload threads' own connections
};

}  // namespace cdw::s3
