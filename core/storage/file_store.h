// file:// targets: a local directory tree.
//
// A new object is written to a hidden temporary file (".tmp-<name>") next to
// its final name, fsynced, and renamed into place on Commit(), then the
// directory is fsynced, so a crash can never leave a file under a final name
// that holds less than was written (SetDeferredFileSync: data objects are
// fsynced later, in one batch). List() ignores the temporary files.
#pragma once

#include <string>

#include "storage/object_store.h"

namespace cdw {

class FileStore : public ObjectStore {
 public:
  explicit FileStore(std::string root_directory);

  // "file:///a/b" -> "/a/b". Rejects relative paths, hosts other than empty
  // or localhost, and ".." components. Throws cdw::Error.
  static std::string ParseRoot(const std::string &location);

  std::unique_ptr<ObjectWriter> Create(const std::string &key,
                                       ObjectKind kind = ObjectKind::kData) override;
  std::unique_ptr<ByteSource> Open(const std::string &key) override;
  std::vector<ObjectInfo> List(const std::string &prefix) override;
  void Remove(const std::string &key) override;
  size_t DiscardIncomplete(const std::string &prefix) override;
  std::string Url(const std::string &key) const override;

  const std::string &root() const { return root_; }

  // Prefix of in-progress files; never a valid part of a committed key.
  static constexpr const char *kTemporaryPrefix = ".tmp-";

 private:
  std::string PathOf(const std::string &key) const;
  std::string root_;
};

// Deferred durability, for a process that writes many small objects (a
// database worker exporting 50,000 tables would otherwise wait for two
// fsyncs per table). While on, data objects (ObjectKind::kData) written to
// file:// targets by this process are not fsynced one by one as they are
// committed: SyncDeferredFiles() fsyncs every such file and the directories
// that name them at once (by then the kernel has written most of them back,
// and one journal commit covers many). It must be called before anything
// that says those objects are there (a manifest) is written. Metadata
// objects (manifests, run indexes) are always made durable at once. Objects
// removed since (a rolled-back table) are skipped. Throws cdw::Error.
void SetDeferredFileSync(bool on);
void SyncDeferredFiles();

// Rejects keys that are absolute, empty, or contain "." / ".." components,
// so that a key can never escape the store root. Throws cdw::Error.
void CheckRelativeKey(const std::string &key, const char *what);

}  // namespace cdw
