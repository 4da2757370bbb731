// The two stream interfaces every layer of the data path speaks.
//
// CSV encoder -> compressor -> checksum/counter -> object writer are chained
// ByteSinks; object reader -> decompressor -> CSV decoder are chained
// ByteSources. Each layer owns bounded buffers only, so memory does not grow
// with the size of a table.
#pragma once

#include <cstddef>
#include <functional>

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

// Installed by the host so long-running core loops can notice a query cancel.
// Returns true when the current operation should stop; the core then throws
// cdw::Interrupted. Never called from threads other than the caller's.
using InterruptCheck = std::function<bool()>;

}  // namespace cdw
