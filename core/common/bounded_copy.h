// Copying a string into a fixed-size buffer (the fields of shared memory)
// without ever truncating it: a truncated name can equal another one (a
// target name cut at 63 bytes naming someone else's target) and a truncated
// location points somewhere else. Either the whole string fits, with its
// terminating NUL, or nothing is copied.
#pragma once

#include <cstddef>
#include <cstring>

namespace cdw {

// Copies `len` bytes of `src` and a NUL into `dest` (`capacity` bytes) and
// returns true, or returns false and leaves `dest` untouched when they do
// not fit or `src` holds a NUL byte before `len` (it would be cut there).
inline bool CopyIfFits(char *dest, size_t capacity, const char *src, size_t len) {
  if (capacity == 0 || len > capacity - 1) return false;
  if (len > 0 && memchr(src, '\0', len) != nullptr) return false;
  memcpy(dest, src, len);
  dest[len] = '\0';
  return true;
}

inline bool CopyIfFits(char *dest, size_t capacity, const char *src) {
  return CopyIfFits(dest, capacity, src, strlen(src));
}

}  // namespace cdw
