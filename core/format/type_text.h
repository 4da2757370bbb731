// Text forms of common column types, byte-identical to what PostgreSQL's
// output functions print under the settings a backup pins (DateStyle ISO,
// TimeZone UTC; see extension/fdw/pinned_settings.h). The writer formats
// these itself because the output functions cost more than the rest of the
// row: fmgr calls, palloc, strlen, and for jsonb a StringInfo the CSV
// encoder then scans again. Values outside the common range (infinity,
// years before 1 or after 9999) return 0: the caller then uses the type's
// output function, so rare values cost nothing to get exactly right.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cdw {

// uuid_out: 36 lower-case hex digits and hyphens. Returns 36.
size_t FormatUuid(const unsigned char bytes[16], char *out);

// timestamp_out / timestamptz_out in ISO style, UTC ("+00" appended when
// `with_utc_offset`): "2024-01-31 12:34:56.789+00", trailing zeros of the
// fraction dropped. `microseconds` counts from 2000-01-01 00:00:00 as in
// PostgreSQL. Needs 33 bytes; returns 0 outside years 1..9999.
size_t FormatIsoTimestamp(int64_t microseconds, bool with_utc_offset, char *out);

// date_out in ISO style: "2024-01-31". `days` counts from 2000-01-01. Needs
// 10 bytes; returns 0 outside years 1..9999.
size_t FormatIsoDate(int32_t days, char *out);

// A JSON string as jsonb_out writes it (escape_json: \" \\ \b \f \n \r \t,
// other control bytes as \u00xx, everything else as is) inside a CSV field
// that will be quoted, so each '"' it writes is doubled. `out` must hold
// JsonStringForCsvBound(len) bytes; returns the bytes written.
constexpr size_t JsonStringForCsvBound(size_t len) {
  return 6 * len + 4;
}
size_t FormatJsonStringForCsv(const char *value, size_t len, char *out);

}  // namespace cdw
