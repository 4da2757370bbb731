// Where backups live: a flat namespace of immutable objects addressed by keys.
//
// file://, s3:// and cos:// targets all implement ObjectStore. Keys are
// relative to the store's root and use '/' as separator. An object written
// through ObjectWriter is invisible (to List and Open) until Commit()
// succeeds; Abort() (or destroying an uncommitted writer) leaves nothing a
// reader would take for data.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/byte_stream.h"

namespace cdw {

// What an object holds: table data, or the small objects that describe a
// run (manifests, their .hmac, the run index), which object storage keeps
// in a storage class readable at once (manifest_storage_class). kPart is
// table data under a key nobody else can produce (a part name: time,
// backend pid, per-backend counter, under the run's prefix): object storage
// skips the existence check before writing it, a round trip per object
// that could only ever answer "no such object".
enum class ObjectKind { kData, kMetadata, kPart };

// Whether an object can be read now, for targets with archive storage
// classes (S3 GLACIER / DEEP_ARCHIVE, COS ARCHIVE / DEEP_ARCHIVE).
enum class ArchiveState {
  kReadable,  // not archived, or thawed
  kArchived,  // must be thawed before a read; no thaw requested
  kThawing,   // a thaw is under way
};

struct ThawRequest {
  std::string tier;  // Expedited, Standard, Bulk
  int days = 1;      // how long the thawed copy stays readable
};

struct ObjectInfo {
  std::string key;  // relative to the store root
  uint64_t size = 0;
};

// A commit under way on a thread of the store's (ObjectWriter::
// CommitInBackground). Destroying it before Wait() returned cancels the
// upload and joins its thread (never throws); the object may then exist or
// not, so the owner removes it.
class PendingCommit {
 public:
  virtual ~PendingCommit() = default;
  // Whether Wait() would return at once (the upload ended, either way).
  virtual bool Done() = 0;
  // Waits for the upload, polling the store's interrupt check; rethrows
  // its error. After a normal return the object is visible.
  virtual void Wait() = 0;
  // Stops the upload if it still runs and joins its thread; never throws.
  // The object may exist or not; a later Wait() throws.
  virtual void Cancel() noexcept {}
  // How many commits of this store one writer may keep in flight (the
  // option uploads_in_flight on object storage).
  virtual int InFlightLimit() const { return 1; }
  // Bytes the commit holds in memory until it ends.
  virtual uint64_t BufferedBytes() const { return 0; }
};

class ObjectWriter : public ByteSink {
 public:
  // Makes the object visible under its key. Finish() must have been called.
  virtual void Commit() = 0;
  // Commit() that may return before the object is visible: object storage
  // sends an object of one part, or the last parts and the completion of a
  // multipart upload, on a thread of its own and returns at once (several
  // can be in flight, hiding round trips). The object is visible
  // only once the returned commit's Wait() returned. The default commits
  // now and returns a commit that is done.
  virtual std::unique_ptr<PendingCommit> CommitInBackground();
  // Discards everything written; safe to call at any time, never throws.
  virtual void Abort() noexcept = 0;
  // Finish() on an object writer only flushes; visibility comes from Commit().
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  // Starts a new object. Fails if an object already exists under `key`:
  // backups never overwrite.
  virtual std::unique_ptr<ObjectWriter> Create(const std::string &key,
                                               ObjectKind kind = ObjectKind::kData) = 0;
  virtual std::unique_ptr<ByteSource> Open(const std::string &key) = 0;
  // Complete objects whose key starts with `prefix`, sorted by key.
  virtual std::vector<ObjectInfo> List(const std::string &prefix) = 0;
  // Removes a committed object; a missing object is not an error.
  virtual void Remove(const std::string &key) = 0;
  // Remove() bounded in time (about 1.5 s on object storage, whatever the
  // server does), for cleanup during an abort or a cancel; throws when the
  // object could not be removed in that time.
  virtual void RemoveQuickly(const std::string &key) { Remove(key); }
  // Closes network connections kept alive for later requests (the next
  // request opens a new one). A store held only for a possible cleanup
  // keeps no file descriptor open meanwhile. Never throws.
  virtual void ReleaseConnections() noexcept {}
  // Removes what interrupted writers left under `prefix` (temporary files,
  // open multipart uploads) and returns how many. Call only when no writer
  // can still be active there, e.g. for a run that was interrupted.
  virtual size_t DiscardIncomplete(const std::string &prefix) {
    (void)prefix;
    return 0;
  }
  // Whether `key` can be read now (a HEAD on object storage); stores
  // without archive classes always say kReadable. `storage_class` (may be
  // NULL) receives the object's class when the store reports one.
  virtual ArchiveState Archive(const std::string &key, std::string *storage_class = nullptr) {
    (void)key;
    if (storage_class) storage_class->clear();
    return ArchiveState::kReadable;
  }
  // Asks for a thaw of an archived object (POST ?restore); returns the new
  // state (kThawing, or kReadable when the store already had a thawed
  // copy). Throws cdw::Error with the store's code when it refuses.
  virtual ArchiveState RequestThaw(const std::string &key, const ThawRequest &request) {
    (void)key;
    (void)request;
    return ArchiveState::kReadable;
  }
  // Human-readable URL of a key, for messages and history. Never contains
  // credentials.
  virtual std::string Url(const std::string &key) const = 0;

  // Client-side encryption (storage/encrypted_store.h). Create() and Open()
  // speak plaintext; the Stored variants the bytes as stored (what manifest
  // checksums and MACs cover). A store that does not encrypt stores what it
  // is given: EncryptTo() returns nullptr and DecryptFrom() its argument.
  virtual std::unique_ptr<ObjectWriter> CreateStored(const std::string &key,
                                                     ObjectKind kind = ObjectKind::kData) {
    return Create(key, kind);
  }
  virtual std::unique_ptr<ByteSource> OpenStored(const std::string &key) { return Open(key); }
  // A sink encrypting into `stored` (not owned) as this store stores
  // objects; its Finish() finishes `stored`.
  virtual std::unique_ptr<ByteSink> EncryptTo(ByteSink *stored) {
    (void)stored;
    return nullptr;
  }
  // The plaintext of stored bytes read from `stored`; `key` names the
  // object in errors.
  virtual std::unique_ptr<ByteSource> DecryptFrom(std::unique_ptr<ByteSource> stored,
                                                  const std::string &key) {
    (void)key;
    return stored;
  }
  // "age" when objects are stored encrypted, "" otherwise; what manifests
  // record (see ManifestEncryption()).
  virtual std::string EncryptionLabel() const { return {}; }

  virtual void SetInterruptCheck(InterruptCheck check) { interrupt_check_ = std::move(check); }

 protected:
  void CheckInterrupts() const;
  InterruptCheck interrupt_check_;
};

}  // namespace cdw
