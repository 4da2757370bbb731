extern "C" {
#include "postgres.h"
}

#include "extension/pg/bounded_copy.h"

#include "common/bounded_copy.h"

namespace cdw::pg {

void CheckNameLength(const char *value, const char *what) {
  size_t len = strlen(value);
  if (len < NAMEDATALEN) return;
  ereport(ERROR,
          (errcode(ERRCODE_NAME_TOO_LONG), errmsg("%s is too long", what),
           errdetail("It has %zu bytes; names are limited to %d bytes (NAMEDATALEN - 1).", len,
                     NAMEDATALEN - 1),
           errhint("Use at most %d bytes for the %s: longer names are refused rather than cut, "
                   "since a cut name could be another one.",
                   NAMEDATALEN - 1, what)));
}

void CopyName(char *dest, const char *value, const char *what) {
  CheckNameLength(value, what);
  memcpy(dest, value, strlen(value) + 1);
}

void CheckTextLength(const char *value, size_t max_bytes, const char *what) {
  size_t len = strlen(value);
  if (len <= max_bytes) return;
  ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("%s is too long", what),
                  errdetail("It has %zu bytes; at most %zu are supported.", len, max_bytes),
                  errhint("Use at most %zu bytes for the %s.", max_bytes, what)));
}

void CopyBounded(char *dest, size_t size, const char *value, const char *what) {
  if (CopyIfFits(dest, size, value)) return;
  CheckTextLength(value, size - 1, what);
  // Only an empty buffer gets here.
  elog(ERROR, "cdw_backup: no room for %s", what);
}

}  // namespace cdw::pg
