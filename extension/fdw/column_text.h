// The text of one column value as the writer puts it into CSV: for common
// types formatted here, byte-identical to the type's output function under
// the pinned settings (see core/format/type_text.h for why), otherwise
// through the output function. Include after postgres.h and fmgr.h.
#pragma once

#include <cstddef>

namespace cdw::fdw {

enum class ColumnFormat : char {
  kOutputFunction,  // any other type
  kStoredText,      // text, varchar, bpchar, json: the stored bytes themselves
  kInt2,
  kInt4,
  kInt8,
  kUuid,
  kDate,
  kTimestamp,
  kTimestampTz,
  kJsonb,  // written already CSV-encoded (see FormatColumnValue)
};

ColumnFormat ColumnFormatFor(Oid output_function);

// Text of the formats done here is ASCII (digits, dates, uuids), the same in
// every server encoding; the others may need conversion to the target's.
inline bool MayHoldNonAscii(ColumnFormat format) {
  return format == ColumnFormat::kStoredText || format == ColumnFormat::kJsonb ||
         format == ColumnFormat::kOutputFunction;
}

constexpr size_t kColumnScratchBytes = 40;

struct ColumnText {
  const char *data;
  size_t len;
  bool csv_encoded;  // already quoted as COPY would: append as is
};

// The text of a non-null `value`. It may point into `value`, `scratch` or
// `jsonb_buffer` (a StringInfo of the caller's, reset here), or into memory
// palloc'd in the current context. The pinned settings must be in force.
// May throw a PostgreSQL error (detoasting, an output function).
ColumnText FormatColumnValue(ColumnFormat format, FmgrInfo *output_function, Datum value,
                             char *scratch, StringInfo jsonb_buffer);

}  // namespace cdw::fdw
