// The two stream interfaces every layer of the data path speaks.
//
// CSV encoder -> compressor -> checksum/counter -> object writer are chained
// ByteSinks; object reader -> decompressor -> CSV decoder are chained
// ByteSources. Each layer owns bounded buffers only, so memory does not grow
// with the size of a table.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>

namespace cdw {

class ByteSink {
 public:
  virtual ~ByteSink() = default;
  virtual void Write(const char *data, size_t len) = 0;
  // Flushes buffered bytes downstream and writes any trailer. Called once,
  // only on success; after an error the chain is simply destroyed.
  virtual void Finish() = 0;
};

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to `capacity` bytes; returns 0 only at end of stream.
  virtual size_t Read(char *buffer, size_t capacity) = 0;
};

// An object of known size whose bytes can be read at any offset (a file, an
// S3 object read with ranged GETs): what a ranged read mid-object needs.
class RandomAccessSource {
 public:
  virtual ~RandomAccessSource() = default;
  virtual uint64_t Size() = 0;
  // Reads up to `len` bytes at `offset`; fewer only at the end of the object.
  virtual size_t ReadAt(uint64_t offset, char *buffer, size_t len) = 0;
};

// Collects what is written into a string: `out`, or the string given to the
// constructor or to Retarget().
class StringSink : public ByteSink {
 public:
  StringSink() = default;
  explicit StringSink(std::string *target) : target_(target) {}
  void Write(const char *data, size_t len) override { Target()->append(data, len); }
  void Finish() override { finished = true; }
  void Retarget(std::string *target) { target_ = target; }

  std::string out;
  bool finished = false;

 private:
  std::string *Target() { return target_ ? target_ : &out; }
  std::string *target_ = nullptr;
};

// Reads a string it owns, at most `max_read` bytes per Read (so that tests
// can make records straddle reads).
class StringSource : public ByteSource {
 public:
  explicit StringSource(std::string data, size_t max_read = SIZE_MAX)
      : data_(std::move(data)), max_read_(max_read) {}
  size_t Read(char *buffer, size_t capacity) override {
    size_t n = std::min({capacity, max_read_, data_.size() - offset_});
    if (n > 0) memcpy(buffer, data_.data() + offset_, n);
    offset_ += n;
    return n;
  }

 private:
  std::string data_;
  size_t max_read_;
  size_t offset_ = 0;
};

// A string as a RandomAccessSource; counts the bytes read.
class StringRandomAccess : public RandomAccessSource {
 public:
  explicit StringRandomAccess(std::string data) : data_(std::move(data)) {}
  uint64_t Size() override { return data_.size(); }
  size_t ReadAt(uint64_t offset, char *buffer, size_t len) override {
    if (offset >= data_.size()) return 0;
    size_t n = std::min<uint64_t>(len, data_.size() - offset);
    memcpy(buffer, data_.data() + offset, n);
    bytes_read += n;
    return n;
  }
  uint64_t bytes_read = 0;

 private:
  std::string data_;
};

// Everything a source still has, read in 64 KiB pieces.
inline std::string ReadToString(ByteSource *source) {
  std::string out;
  char buffer[1 << 16];
  while (size_t n = source->Read(buffer, sizeof buffer)) out.append(buffer, n);
  return out;
}

// Installed by the host so long-running core loops can notice a query cancel.
// Returns true when the current operation should stop; the core then throws
// cdw::Interrupted. Never called from threads other than the caller's.
using InterruptCheck = std::function<bool()>;

}  // namespace cdw
