// Incremental SHA-256 (OpenSSL EVP), for object checksums in manifests.
#pragma once

#include <cstddef>
#include <string>

#include "common/byte_stream.h"

struct evp_md_ctx_st;

namespace cdw {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256 &) = delete;
  Sha256 &operator=(const Sha256 &) = delete;

  void Update(const void *data, size_t len);
  std::string HexDigest();  // finalizes; call once

  static std::string HexOf(const void *data, size_t len);

 private:
  evp_md_ctx_st *context_;
};

// Passes bytes through to `downstream` while counting and hashing them: the
// last link before storage, so the manifest records exactly what was stored.
class MeasuringSink : public ByteSink {
 public:
  explicit MeasuringSink(ByteSink *downstream) : downstream_(downstream) {}
  void Write(const char *data, size_t len) override {
    hash_.Update(data, len);
    bytes_ += len;
    downstream_->Write(data, len);
  }
  void Finish() override { downstream_->Finish(); }
  uint64_t bytes() const { return bytes_; }
  std::string HexDigest() { return hash_.HexDigest(); }

 private:
  ByteSink *downstream_;
  Sha256 hash_;
  uint64_t bytes_ = 0;
};

// Swallows what it is given (a probe's end of the chain).
class DiscardingSink : public ByteSink {
 public:
  void Write(const char *, size_t) override {}
  void Finish() override {}
};

}  // namespace cdw
