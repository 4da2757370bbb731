// Whether bytes are plain ASCII (every byte below 0x80). Every encoding
// PostgreSQL allows as a server encoding is an ASCII superset, and so is
// UTF-8: ASCII text reads the same in all of them and needs no conversion.
// Eight bytes at a time, since the writer asks this of every text value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace cdw {

inline bool IsAscii(const char *text, size_t len) {
  uint64_t high_bits = 0;
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t chunk;
    memcpy(&chunk, text + i, sizeof chunk);
    high_bits |= chunk;
  }
  for (; i < len; i++) high_bits |= static_cast<unsigned char>(text[i]);
  return (high_bits & 0x8080808080808080ULL) == 0;
}

}  // namespace cdw
