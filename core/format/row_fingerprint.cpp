#include "format/row_fingerprint.h"

namespace cdw {

namespace {
constexpr size_t kBatchBytes = 64 * 1024;
constexpr char kSeedTag = 'S';
constexpr char kStoredRowTag = 'R';
constexpr char kColumnsRowTag = 'C';
constexpr char kNullTag = 'N';
constexpr char kValueTag = 'V';
}  // namespace

RowFingerprint::RowFingerprint(const std::string &seed) {
  buffer_.reserve(kBatchBytes + 256);
  Append(&kSeedTag, 1);
  AppendLength(seed.size());
  Append(seed.data(), seed.size());
}

// Within the reserved capacity: never reallocates.
void RowFingerprint::Append(const void *data, size_t len) noexcept {
  if (buffer_.size() + len > kBatchBytes) {
    hash_.Update(buffer_.data(), buffer_.size());
    buffer_.clear();
    if (len > kBatchBytes) {
      hash_.Update(data, len);
      return;
    }
  }
  buffer_.append(static_cast<const char *>(data), len);
}

// Eight bytes, little-endian: fixed width, so no length can be read as the
// start of another.
void RowFingerprint::AppendLength(uint64_t len) noexcept {
  unsigned char bytes[8];
  for (int i = 0; i < 8; i++) bytes[i] = static_cast<unsigned char>(len >> (8 * i));
  Append(bytes, sizeof bytes);
}

void RowFingerprint::StoredRow(uint16_t natts, const uint8_t *null_bitmap, size_t bitmap_len,
                               const char *data, size_t len) noexcept {
  rows_++;
  Append(&kStoredRowTag, 1);
  AppendLength(natts);
  AppendLength(bitmap_len);
  Append(null_bitmap, bitmap_len);
  AppendLength(len);
  Append(data, len);
}

void RowFingerprint::BeginRow(uint16_t ncolumns) noexcept {
  rows_++;
  Append(&kColumnsRowTag, 1);
  AppendLength(ncolumns);
}

void RowFingerprint::NullColumn() noexcept {
  Append(&kNullTag, 1);
}

void RowFingerprint::Column(const char *data, size_t len) noexcept {
  Append(&kValueTag, 1);
  AppendLength(len);
  Append(data, len);
}

std::string RowFingerprint::HexDigest() {
  if (!buffer_.empty()) hash_.Update(buffer_.data(), buffer_.size());
  buffer_.clear();
  return hash_.HexDigest();
}

}  // namespace cdw
