#include "format/csv.h"

#include <algorithm>
#include <cstring>

#include "common/error.h"

namespace cdw {

namespace {

// Whether a 64-bit word holds a zero byte (the classic SWAR test).
inline uint64_t HasZeroByte(uint64_t word) {
  return (word - 0x0101010101010101ULL) & ~word & 0x8080808080808080ULL;
}

// Whether a value holds a byte COPY must quote for: ',', '"', '\n', '\r'.
// Eight bytes at a time, because almost every value holds none of them and
// this scan runs over every byte of every backup.
bool NeedsQuotes(const char *value, size_t len) {
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t word;
    memcpy(&word, value + i, 8);
    if (HasZeroByte(word ^ 0x2C2C2C2C2C2C2C2CULL) | HasZeroByte(word ^ 0x2222222222222222ULL) |
        HasZeroByte(word ^ 0x0A0A0A0A0A0A0A0AULL) | HasZeroByte(word ^ 0x0D0D0D0D0D0D0D0DULL))
      return true;
  }
  for (; i < len; i++) {
    char c = value[i];
    if (c == ',' || c == '"' || c == '\n' || c == '\r') return true;
  }
  return false;
}

}  // namespace

CsvEncoder::CsvEncoder(ByteSink *downstream, size_t flush_threshold)
    : downstream_(downstream), flush_threshold_(flush_threshold) {
  Grow(flush_threshold_ + 4096);
}

void CsvEncoder::Grow(size_t needed) {
  size_t capacity = std::max(needed, 2 * capacity_);
  std::unique_ptr<char[]> bigger(new char[capacity]);
  if (size_ > 0) memcpy(bigger.get(), buffer_.get(), size_);
  buffer_ = std::move(bigger);
  capacity_ = capacity;
}

void CsvEncoder::AppendField(const char *value, size_t len, bool is_null, bool first,
                             bool single_column) {
  // Delimiter, two quotes, and every byte a doubled quote at worst.
  char *p = Reserve(2 * len + 3);
  if (!first) *p++ = ',';
  if (is_null) {  // NULL: unquoted empty field
    size_ = static_cast<size_t>(p - buffer_.get());
    return;
  }
  // Same rule as CopyAttributeOutCSV: quote empty strings (to tell them from
  // NULL), values holding the delimiter, quote, CR or LF, and a lone "\." in
  // a one-column record.
  bool quote = (len == 0) || (single_column && len == 2 && value[0] == '\\' && value[1] == '.') ||
               NeedsQuotes(value, len);
  if (!quote) {
    memcpy(p, value, len);
    size_ = static_cast<size_t>(p + len - buffer_.get());
    return;
  }
  *p++ = '"';
  const char *segment = value;
  const char *end = value + len;
  while (const char *q = static_cast<const char *>(memchr(segment, '"', end - segment))) {
    size_t run = static_cast<size_t>(q - segment + 1);
    memcpy(p, segment, run);
    p += run;
    *p++ = '"';  // a quote inside a quoted field is doubled
    segment = q + 1;
  }
  memcpy(p, segment, static_cast<size_t>(end - segment));
  p += end - segment;
  *p++ = '"';
  size_ = static_cast<size_t>(p - buffer_.get());
}

void CsvEncoder::EndRecord() {
  *Reserve(1) = '\n';
  size_++;
  if (size_ >= flush_threshold_) Flush();
}

void CsvEncoder::Flush() {
  if (size_ == 0) return;
  downstream_->Write(buffer_.get(), size_);
  bytes_encoded_ += size_;
  size_ = 0;
}

CsvDecoder::CsvDecoder(ByteSource *source, size_t read_buffer_size)
    : source_(source), read_buffer_(read_buffer_size) {}

bool CsvDecoder::FillBuffer() {
  if (eof_) return false;
  read_pos_ = 0;
  read_end_ = source_->Read(read_buffer_.data(), read_buffer_.size());
  if (read_end_ == 0) eof_ = true;
  return read_end_ > 0;
}

bool CsvDecoder::NextRecord(std::vector<CsvField> *fields) {
  record_.clear();
  field_offsets_.clear();
  field_nulls_.clear();
  if (read_pos_ == read_end_ && !FillBuffer()) return false;
  record_line_ = line_;

  enum class State { kFieldStart, kUnquoted, kQuoted, kQuoteInQuoted };
  State state = State::kFieldStart;
  bool field_was_quoted = false;
  auto begin_field = [&]() {
    field_offsets_.push_back(record_.size());
    field_was_quoted = false;
  };
  auto end_field = [&]() {
    size_t start = field_offsets_.back();
    // An unquoted empty field is NULL; "" is an empty string.
    field_nulls_.push_back(!field_was_quoted && record_.size() == start);
    record_.push_back('\0');
  };
  begin_field();
  for (;;) {
    if (read_pos_ == read_end_ && !FillBuffer()) {
      if (state == State::kQuoted)
        throw Error(sqlstate::kBadCopyFileFormat, "unterminated CSV quoted field",
                    "The quoted field starting on line " + std::to_string(record_line_) +
                        " is not closed before the end of the object.",
                    "The object is truncated or was not written by COPY/cdw_backup.");
      end_field();
      break;  // last record without a trailing newline
    }
    char c = read_buffer_[read_pos_++];
    switch (state) {
      case State::kFieldStart:
        if (c == '"') {
          state = State::kQuoted;
          field_was_quoted = true;
          continue;
        }
        state = State::kUnquoted;
        [[fallthrough]];
      case State::kUnquoted:
        if (c == ',') {
          end_field();
          begin_field();
          state = State::kFieldStart;
        } else if (c == '\n' || c == '\r') {
          if (c == '\r' && (read_pos_ < read_end_ || FillBuffer()) &&
              read_buffer_[read_pos_] == '\n')
            read_pos_++;
          line_++;
          end_field();
          goto done;
        } else {
          record_.push_back(c);
        }
        continue;
      case State::kQuoted:
        if (c == '"') {
          state = State::kQuoteInQuoted;
        } else {
          if (c == '\n') line_++;
          record_.push_back(c);
        }
        continue;
      case State::kQuoteInQuoted:
        if (c == '"') {  // doubled quote inside a quoted field
          record_.push_back('"');
          state = State::kQuoted;
          continue;
        }
        // The quoted part ended; COPY allows unquoted text to follow it.
        state = State::kUnquoted;
        read_pos_--;
        continue;
    }
  }
done:
  fields->resize(field_offsets_.size());
  for (size_t i = 0; i < field_offsets_.size(); i++) {
    size_t start = field_offsets_[i];
    size_t end = (i + 1 < field_offsets_.size()) ? field_offsets_[i + 1] - 1 : record_.size() - 1;
    (*fields)[i] = CsvField{record_.data() + start, end - start, field_nulls_[i]};
  }
  return true;
}

}  // namespace cdw
