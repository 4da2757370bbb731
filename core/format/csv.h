// CSV exactly as PostgreSQL's COPY ... (FORMAT csv) writes and reads it:
// delimiter ',', quote '"', escape '"', NULL as an unquoted empty field, an
// empty string as "", records ended by '\n'. Compatibility matters because a
// user must be able to restore without us: COPY t FROM PROGRAM 'gzip -dc part'.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/byte_stream.h"

namespace cdw {

// Appends records to a buffer and hands full buffers to a ByteSink.
class CsvEncoder {
 public:
  // `flush_threshold` bounds memory: the buffer is passed downstream whenever
  // it grows past it.
  explicit CsvEncoder(ByteSink *downstream, size_t flush_threshold = 1 << 20);

  // One field of the current record; `value` is ignored when `is_null`.
  // `single_column` must be true when the record has exactly one column
  // (COPY then quotes a lone "\." so it is not read as end-of-data).
  void AppendField(const char *value, size_t len, bool is_null, bool first, bool single_column);
  // One field already in its CSV form (quoted and with doubled quotes if
  // COPY would quote it), e.g. from FormatJsonStringForCsv: copied as is.
  void AppendEncodedField(const char *encoded, size_t len, bool first) {
    char *p = Reserve(len + 1);
    if (!first) *p++ = ',';
    memcpy(p, encoded, len);
    size_ = static_cast<size_t>(p + len - buffer_.get());
  }
  void EndRecord();
  void Flush();  // hands buffered bytes downstream (does not Finish it)

  // Bytes of CSV produced so far (the "raw" size of a backup).
  uint64_t bytes_encoded() const { return bytes_encoded_ + size_; }

 private:
  ByteSink *downstream_;
  size_t flush_threshold_;
  // Room for `bytes` more; returns where the buffer's content ends. One
  // check per field, then plain stores: this runs for every byte backed up.
  char *Reserve(size_t bytes) {
    if (size_ + bytes > capacity_) Grow(size_ + bytes);
    return buffer_.get() + size_;
  }
  void Grow(size_t needed);

  std::unique_ptr<char[]> buffer_;
  size_t size_ = 0;
  size_t capacity_ = 0;
  uint64_t bytes_encoded_ = 0;
};

// One field of a decoded record. `data` points into the decoder's record
// buffer and is valid until the next call to NextRecord(). Fields are
// NUL-terminated so they can go straight to PostgreSQL input functions.
struct CsvField {
  const char *data = nullptr;
  size_t len = 0;
  bool is_null = false;
};

// Streams records out of a ByteSource, keeping only one record and one read
// buffer in memory.
class CsvDecoder {
 public:
  explicit CsvDecoder(ByteSource *source, size_t read_buffer_size = 256 << 10);

  // Fills `fields` with the next record; returns false at end of input.
  // Throws cdw::Error (22P04) on malformed input, e.g. an unterminated
  // quoted field.
  bool NextRecord(std::vector<CsvField> *fields);

  // 1-based number of the line the last record started on, for messages.
  uint64_t record_line() const { return record_line_; }

 private:
  bool FillBuffer();

  ByteSource *source_;
  std::vector<char> read_buffer_;
  size_t read_pos_ = 0;
  size_t read_end_ = 0;
  bool eof_ = false;
  std::string record_;                 // field bytes, each followed by '\0'
  std::vector<size_t> field_offsets_;  // start of each field in record_
  std::vector<bool> field_nulls_;
  uint64_t line_ = 1;
  uint64_t record_line_ = 0;
};

}  // namespace cdw
