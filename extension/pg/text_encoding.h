// Text between the server encoding and the encoding of a target.
//
// What cdw_backup writes on a target (part files, object keys, manifests,
// the run index) is UTF-8 whatever the encoding of the database it comes
// from; what it reads back is converted to the encoding of the database it
// goes into, as COPY ... (ENCODING 'UTF8') does. Conversion errors name the
// character and say what to do, instead of writing or restoring garbage.
//
// SQL_ASCII is PostgreSQL's "no encoding": its bytes cannot be converted.
// Text written with encoding SQL_ASCII is passed through unchanged; text
// read with encoding SQL_ASCII is only checked to be valid in the server
// encoding (pg_any_to_server's rule), so restoring non-UTF-8 bytes from a
// SQL_ASCII database into a UTF-8 database is an error with a hint.
//
// Include after postgres.h. These are PostgreSQL-side functions (they
// ereport): call them from C++ frames through PgCall.
#pragma once

#include <cstddef>

extern "C" {
#include "fmgr.h"
#include "mb/pg_wchar.h"
}

#include "common/ascii.h"

namespace cdw::pg {

// How text crosses between two encodings. Made inside a transaction (it
// looks the conversion function up); used afterwards also outside one.
struct TextConversion {
  int from = 0;                  // encoding of the input
  int to = 0;                    // encoding of the output
  FmgrInfo *function = nullptr;  // conversion function, or none
  int validate = -1;             // encoding the input is checked against, or -1
  bool missing = false;          // no conversion exists (MULE_INTERNAL <-> UTF8)
  bool active = false;           // whether ConvertText does anything at all
};

// Writing: from the server encoding to `target` (a pg_enc value).
TextConversion ConversionToTarget(int target);
// Reading: from `source` to the server encoding; the input is always
// checked, as COPY FROM checks it.
TextConversion ConversionFromSource(int source);
// Between any two encodings, the input checked; the function's FmgrInfo is
// allocated in `context` (TopMemoryContext for a conversion kept for the
// life of a worker).
TextConversion ConversionBetween(int from, int to, MemoryContext context);

// The slow path of ConvertText.
const char *ConvertNonAscii(const TextConversion &conversion, const char *text, size_t len,
                            size_t *out_len, const char *what, const char *hint);

// `text` (not necessarily NUL-terminated) in the output encoding: `text`
// itself when nothing changes, otherwise NUL-terminated and palloc'd in the
// current memory context. A character that is invalid or has no equivalent
// is an error (22021 / 22P05) whose detail names `what` ("a value of column
// \"note\"") and whose hint is `hint` (may be NULL).
inline const char *ConvertText(const TextConversion &conversion, const char *text, size_t len,
                               size_t *out_len, const char *what, const char *hint) {
  *out_len = len;
  if (!conversion.active || IsAscii(text, len)) return text;
  return ConvertNonAscii(conversion, text, len, out_len, what, hint);
}

// The encoding a backup writes the parts' text in: UTF8, except for
// SQL_ASCII (bytes of no known encoding) and MULE_INTERNAL (no conversion
// to UTF8 exists), whose parts keep the database's bytes. The manifest's
// "encoding" says which, so a restore converts from it.
int PartEncoding();

// A NUL-terminated name in the server encoding as UTF-8 (palloc'd), for
// object keys, manifests and shared memory read by other databases.
char *ServerToUtf8(const char *name, const char *what);
// A NUL-terminated UTF-8 name or text (from a manifest) in the server
// encoding; an error with `hint` when a character is invalid or has no
// equivalent.
char *Utf8ToServer(const char *name, const char *what, const char *hint);
// `text` (NUL-terminated) converted, never an error: a character that has no
// equivalent (or is invalid) is spelled \uXXXX (UTF-8 input) or \xNN. For
// history and messages that cross into another database; needs no
// transaction. Palloc'd.
// `in_json`: the text is JSON, so the backslash of the spelling is escaped
// (\\xNN) and the result stays valid JSON.
char *ConvertLossy(const TextConversion &conversion, const char *text, bool in_json = false);

}  // namespace cdw::pg
