// A target with encryption => 'on': every object is stored as an age file
// (crypto/age.h) encrypted to the first key of the target's key ring, and
// read with any key of the ring. EncryptedStore wraps the store of the
// location; everything but the bytes of objects (keys, listing, removal) is
// the inner store's.
#pragma once

#include <memory>
#include <string>

#include "crypto/age.h"
#include "storage/object_store.h"
#include "storage/store_factory.h"

namespace cdw {

// The target option that turns encryption on ("on" / "off").
constexpr const char *kEncryptionOption = "encryption";

// Whether `options` ask for encryption; throws cdw::Error (22023) for a value
// other than on/off (and true/false).
bool EncryptionRequested(const StoreOptions &options);

class EncryptedStore : public ObjectStore {
 public:
  // `key_ring`: one key per line, the first the one objects are written to.
  EncryptedStore(std::unique_ptr<ObjectStore> inner, const std::string &key_ring);

  std::unique_ptr<ObjectWriter> Create(const std::string &key,
                                       ObjectKind kind = ObjectKind::kData) override;
  std::unique_ptr<ByteSource> Open(const std::string &key) override;
  std::vector<ObjectInfo> List(const std::string &prefix) override { return inner_->List(prefix); }
  void Remove(const std::string &key) override { inner_->Remove(key); }
  void RemoveQuickly(const std::string &key) override { inner_->RemoveQuickly(key); }
  void ReleaseConnections() noexcept override { inner_->ReleaseConnections(); }
  size_t DiscardIncomplete(const std::string &prefix) override {
    return inner_->DiscardIncomplete(prefix);
  }
  ArchiveState Archive(const std::string &key, std::string *storage_class = nullptr) override {
    return inner_->Archive(key, storage_class);
  }
  ArchiveState RequestThaw(const std::string &key, const ThawRequest &request) override {
    return inner_->RequestThaw(key, request);
  }
  std::string Url(const std::string &key) const override { return inner_->Url(key); }

  std::unique_ptr<ObjectWriter> CreateStored(const std::string &key,
                                             ObjectKind kind = ObjectKind::kData) override {
    return inner_->CreateStored(key, kind);
  }
  std::unique_ptr<ByteSource> OpenStored(const std::string &key) override {
    return inner_->OpenStored(key);
  }
  std::unique_ptr<ByteSink> EncryptTo(ByteSink *stored) override;
  std::unique_ptr<ByteSource> DecryptFrom(std::unique_ptr<ByteSource> stored,
                                          const std::string &key) override;
  std::string EncryptionLabel() const override { return "age"; }
  void SetInterruptCheck(InterruptCheck check) override {
    inner_->SetInterruptCheck(check);
    ObjectStore::SetInterruptCheck(std::move(check));
  }

  ObjectStore *inner() { return inner_.get(); }

 private:
  std::unique_ptr<ObjectStore> inner_;
  age::Encryptor encryptor_;
  age::Decryptor decryptor_;
};

// `store` itself when `options` do not ask for encryption; an EncryptedStore
// around it when they do. Throws cdw::Error (22023, with a hint) when
// encryption is asked for and `key_ring` is empty.
std::unique_ptr<ObjectStore> WithEncryption(std::unique_ptr<ObjectStore> store,
                                            const StoreOptions &options,
                                            const std::string &key_ring);

// Bytes as the store stores them: `plaintext` encrypted when it encrypts.
std::string SealForStore(ObjectStore *store, const std::string &plaintext);
// The plaintext of stored bytes.
std::string OpenFromStore(ObjectStore *store, const std::string &stored, const std::string &key);

}  // namespace cdw
