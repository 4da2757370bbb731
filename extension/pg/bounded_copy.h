// Text copied into fixed-size fields of shared memory (RunRequest,
// DatabaseJob, RestoreJob) is checked, never truncated: a name longer than
// NAMEDATALEN - 1 bytes is an error (42622), and so is any other text that
// does not fit its field (22023), each with a hint naming the limit.
// Include after postgres.h.
#pragma once

#include <cstddef>

namespace cdw::pg {

// Errors with 42622 unless `value` fits a `name` (at most NAMEDATALEN - 1
// bytes). `what` names the argument in the message ("target name").
void CheckNameLength(const char *value, const char *what);

// Copies `value` into `dest` (NAMEDATALEN bytes) after CheckNameLength().
void CopyName(char *dest, const char *value, const char *what);

// Copies `value` into `dest` (`size` bytes) or errors with 22023 naming
// `what` and the limit of size - 1 bytes.
void CopyBounded(char *dest, size_t size, const char *value, const char *what);

// Errors with 22023 unless `value` has at most `max_bytes` bytes.
void CheckTextLength(const char *value, size_t max_bytes, const char *what);

}  // namespace cdw::pg
