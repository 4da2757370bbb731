// file:// targets: a local directory tree.
//
// A new object is written to a hidden temporary file (".tmp-<name>") next to
// its final name, fsynced, and renamed into place on Commit(), then the
// directory is fsynced, so a crash can never leave a file under a final name
// that holds less than was written. List() ignores the temporary files.
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

// Rejects keys that are absolute, empty, or contain "." / ".." components,
// so that a key can never escape the store root. Throws cdw::Error.
void CheckRelativeKey(const std::string &key, const char *what);

}  // namespace cdw
