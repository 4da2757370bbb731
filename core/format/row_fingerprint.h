// The fingerprint of a part's source rows, for incremental runs: a SHA-256
// over exactly what determines the CSV the part holds -- the table's row
// type and the pinned output settings (the seed), then every row the run's
// snapshot sees, in scan order, as its stored bytes. Two parts with the same
// fingerprint hold the same CSV, so an incremental run can reference an
// earlier run's object after hashing the rows' bytes alone, without turning
// them into text (extension/fdw/tuple_fingerprint.h feeds it; README
// "Incremental runs" gives the argument).
//
// The byte stream hashed is a prefix code: every row and field starts with a
// tag and carries its length, so two different sequences of rows can never
// produce the same stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/sha256.h"

namespace cdw {

class RowFingerprint {
 public:
  // `seed` describes the row type and settings; it is hashed first.
  explicit RowFingerprint(const std::string &seed);

  // A row as the table stores it: its attribute count, null bitmap (empty
  // without nulls) and data area. Only for rows whose values all lie in the
  // data area (no value stored out of line), read with the table's own row
  // type, which the seed describes.
  // These four never throw (the batch buffer is reserved up front), so
  // PostgreSQL code may call them between calls that ereport.
  void StoredRow(uint16_t natts, const uint8_t *null_bitmap, size_t bitmap_len, const char *data,
                 size_t len) noexcept;

  // A row column by column (the columns the CSV has, in order): BeginRow,
  // then one NullColumn or Column per column. A value's bytes are its
  // complete stored form (a varlena with its header, a fixed-length value's
  // bytes, a pass-by-value Datum).
  void BeginRow(uint16_t ncolumns) noexcept;
  void NullColumn() noexcept;
  void Column(const char *data, size_t len) noexcept;

  uint64_t rows() const { return rows_; }
  // Finalizes; call once.
  std::string HexDigest();

 private:
  void Append(const void *data, size_t len) noexcept;
  void AppendLength(uint64_t len) noexcept;

  Sha256 hash_;
  std::string buffer_;  // batched into large SHA-256 updates
  uint64_t rows_ = 0;
};

}  // namespace cdw
