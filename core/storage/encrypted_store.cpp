#include "storage/encrypted_store.h"

#include "common/error.h"

namespace cdw {

namespace {

age::Key CurrentKey(const std::string &key_ring) {
  auto ring = age::ParseKeyRing(key_ring);
  if (ring.empty())
    throw Error(sqlstate::kInvalidParameterValue, "the target is encrypted but has no key",
                "A target with encryption on needs an encryption key.",
                "Give one: SELECT cdw_backup_rotate_key('<target>', '<AGE-SECRET-KEY-1... or "
                "passphrase>');");
  return ring.front();
}

// Writes plaintext through an encrypting sink into the inner writer.
class EncryptingWriter : public ObjectWriter {
 public:
  EncryptingWriter(std::unique_ptr<ObjectWriter> inner, EncryptedStore *store)
      : inner_(std::move(inner)) {
    sink_ = store->EncryptTo(inner_.get());
  }
  void Write(const char *data, size_t len) override { sink_->Write(data, len); }
  void Finish() override { sink_->Finish(); }
  void Commit() override { inner_->Commit(); }
  void Abort() noexcept override { inner_->Abort(); }

 private:
  std::unique_ptr<ObjectWriter> inner_;
  std::unique_ptr<ByteSink> sink_;
};

}  // namespace

bool EncryptionRequested(const StoreOptions &options) {
  auto it = options.find(kEncryptionOption);
  if (it == options.end()) return false;
  if (it->second == "on" || it->second == "true") return true;
  if (it->second == "off" || it->second == "false") return false;
  throw Error(sqlstate::kInvalidParameterValue,
              "invalid value for target option \"encryption\": \"" + it->second + "\"", {},
              "Use \"on\" (with an encryption_key) or \"off\".");
}

EncryptedStore::EncryptedStore(std::unique_ptr<ObjectStore> inner, const std::string &key_ring)
    : inner_(std::move(inner)),
      encryptor_(CurrentKey(key_ring)),
      decryptor_(age::ParseKeyRing(key_ring)) {}

std::unique_ptr<ObjectWriter> EncryptedStore::Create(const std::string &key, ObjectKind kind) {
  return std::make_unique<EncryptingWriter>(inner_->Create(key, kind), this);
}

std::unique_ptr<ByteSource> EncryptedStore::Open(const std::string &key) {
  return DecryptFrom(inner_->Open(key), key);
}

std::unique_ptr<ByteSink> EncryptedStore::EncryptTo(ByteSink *stored) {
  return encryptor_.Encrypt(stored);
}

std::unique_ptr<ByteSource> EncryptedStore::DecryptFrom(std::unique_ptr<ByteSource> stored,
                                                        const std::string &key) {
  return decryptor_.Decrypt(std::move(stored), inner_->Url(key));
}

std::unique_ptr<ObjectStore> WithEncryption(std::unique_ptr<ObjectStore> store,
                                            const StoreOptions &options,
                                            const std::string &key_ring) {
  if (!EncryptionRequested(options)) return store;
  return std::make_unique<EncryptedStore>(std::move(store), key_ring);
}

std::string SealForStore(ObjectStore *store, const std::string &plaintext) {
  std::string stored;
  StringSink sink(&stored);
  auto encrypting = store->EncryptTo(&sink);
  if (!encrypting) return plaintext;
  encrypting->Write(plaintext.data(), plaintext.size());
  encrypting->Finish();
  return stored;
}

std::string OpenFromStore(ObjectStore *store, const std::string &stored, const std::string &key) {
  auto source = store->DecryptFrom(std::make_unique<StringSource>(stored), key);
  return ReadToString(source.get());
}

}  // namespace cdw
