extern "C" {
#include "postgres.h"
#include "catalog/namespace.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/memutils.h"
}

#include "extension/pg/text_encoding.h"

namespace cdw::pg {
namespace {

TextConversion Make(int from, int to, bool check_input, MemoryContext context) {
  TextConversion conversion;
  conversion.from = from;
  conversion.to = to;
  if (from == to) {
    // Nothing to convert; text read from outside is still checked.
    conversion.validate = check_input && from != PG_SQL_ASCII ? from : -1;
  } else if (to == PG_SQL_ASCII) {
    // SQL_ASCII holds any bytes: they pass through.
    conversion.validate = check_input ? from : -1;
  } else if (from == PG_SQL_ASCII) {
    // Bytes of no known encoding cannot be converted; they pass only if
    // they are valid in the output encoding (pg_any_to_server's rule).
    conversion.validate = to;
  } else {
    Oid proc = FindDefaultConversionProc(from, to);
    if (OidIsValid(proc)) {
      conversion.function = static_cast<FmgrInfo *>(MemoryContextAlloc(context, sizeof(FmgrInfo)));
      fmgr_info_cxt(proc, conversion.function, context);
    } else {
      // MULE_INTERNAL has none to or from UTF8: ASCII text passes, other
      // text is an error when it comes (ConvertNonAscii).
      conversion.missing = true;
    }
  }
  conversion.active =
      conversion.function != nullptr || conversion.validate >= 0 || conversion.missing;
  return conversion;
}

// Bytes of `text` that form valid characters of `encoding`, from the start.
size_t ValidPrefix(int encoding, const char *text, size_t len) {
  size_t done = 0;
  while (done < len) {
    auto byte = static_cast<unsigned char>(text[done]);
    if (byte != 0 && !IS_HIGHBIT_SET(byte)) {
      done++;
      continue;
    }
    int l = byte == 0
                ? -1
                : pg_encoding_verifymbchar(encoding, text + done, static_cast<int>(len - done));
    if (l < 0) break;
    done += static_cast<size_t>(l);
  }
  return done;
}

// "0xe9 0x80" for the character at `bad`, as PostgreSQL's own messages.
char *ByteSequence(int encoding, const char *bad, size_t left) {
  int l = Min(pg_encoding_mblen(encoding, bad), static_cast<int>(left));
  StringInfoData bytes;
  initStringInfo(&bytes);
  for (int i = 0; i < Max(l, 1); i++)
    appendStringInfo(&bytes, "%s0x%02x", i ? " " : "", static_cast<unsigned char>(bad[i]));
  return bytes.data;
}

[[noreturn]] void ReportBadCharacter(const TextConversion &conversion, const char *bad, size_t left,
                                     const char *what, const char *hint) {
  bool invalid = !conversion.function ||
                 pg_encoding_verifymbchar(conversion.from, bad, static_cast<int>(left)) < 0;
  int encoding = conversion.function ? conversion.from : conversion.validate;
  if (invalid)
    ereport(ERROR, (errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
                    errmsg("invalid byte sequence for encoding \"%s\": %s",
                           pg_encoding_to_char(encoding), ByteSequence(encoding, bad, left)),
                    what ? errdetail("In %s.", what) : 0, hint ? errhint("%s", hint) : 0));
  ereport(ERROR, (errcode(ERRCODE_UNTRANSLATABLE_CHARACTER),
                  errmsg("character with byte sequence %s in encoding \"%s\" has no equivalent in "
                         "encoding \"%s\"",
                         ByteSequence(conversion.from, bad, left),
                         pg_encoding_to_char(conversion.from), pg_encoding_to_char(conversion.to)),
                  what ? errdetail("In %s.", what) : 0, hint ? errhint("%s", hint) : 0));
  pg_unreachable();
}

// pg_do_encoding_conversion_buf with the function looked up beforehand:
// converts into `out` (room for len * MAX_CONVERSION_GROWTH + 1 bytes; the
// result is NUL-terminated) as much as it can; returns the input bytes
// converted.
size_t CallConversion(const TextConversion &conversion, const char *text, size_t len,
                      unsigned char *out) {
  Datum done = FunctionCall6(conversion.function, Int32GetDatum(conversion.from),
                             Int32GetDatum(conversion.to), CStringGetDatum(text),
                             CStringGetDatum(reinterpret_cast<char *>(out)),
                             Int32GetDatum(static_cast<int>(len)), BoolGetDatum(true));
  return static_cast<size_t>(DatumGetInt32(done));
}

// Converts as much of `text` as possible into `out`; returns the input
// bytes consumed (all of them unless a character is invalid or has no
// equivalent).
size_t ConvertPrefix(const TextConversion &conversion, const char *text, size_t len,
                     StringInfo out) {
  if (!conversion.function) {
    size_t done = ValidPrefix(conversion.validate, text, len);
    appendBinaryStringInfo(out, text, static_cast<int>(done));
    return done;
  }
  size_t size = len * MAX_CONVERSION_GROWTH + 1;
  auto *buffer = static_cast<unsigned char *>(palloc(size));
  size_t done = CallConversion(conversion, text, len, buffer);
  appendStringInfoString(out, reinterpret_cast<char *>(buffer));
  pfree(buffer);
  return done;
}

}  // namespace

char *ConvertLossy(const TextConversion &conversion, const char *text, bool in_json) {
  const char *backslash = in_json ? "\\\\" : "\\";
  size_t len = strlen(text);
  if (!conversion.active || IsAscii(text, len)) return pstrdup(text);
  StringInfoData out;
  initStringInfo(&out);
  while (len > 0) {
    size_t done = 0;
    if (conversion.missing) {
      while (done < len && !IS_HIGHBIT_SET(text[done])) done++;
      appendBinaryStringInfo(&out, text, static_cast<int>(done));
    } else {
      done = ConvertPrefix(conversion, text, len, &out);
    }
    text += done;
    len -= done;
    if (len == 0) break;
    // The character at `text` cannot be carried over: spell it out.
    int l = pg_encoding_verifymbchar(conversion.from, text, static_cast<int>(len));
    if (l > 0 && conversion.from == PG_UTF8) {
      pg_wchar code = utf8_to_unicode(reinterpret_cast<const unsigned char *>(text));
      appendStringInfo(&out, code > 0xFFFF ? "%sU%08X" : "%su%04X", backslash, code);
    } else {
      l = Max(l, 1);
      for (int i = 0; i < l; i++)
        appendStringInfo(&out, "%sx%02x", backslash, static_cast<unsigned char>(text[i]));
    }
    text += l;
    len -= static_cast<size_t>(l);
  }
  return out.data;
}

TextConversion ConversionToTarget(int target) {
  return Make(GetDatabaseEncoding(), target, false, CurrentMemoryContext);
}

TextConversion ConversionFromSource(int source) {
  return Make(source, GetDatabaseEncoding(), true, CurrentMemoryContext);
}

TextConversion ConversionBetween(int from, int to, MemoryContext context) {
  return Make(from, to, true, context);
}

const char *ConvertNonAscii(const TextConversion &conversion, const char *text, size_t len,
                            size_t *out_len, const char *what, const char *hint) {
  if (conversion.missing)
    ereport(ERROR,
            (errcode(ERRCODE_UNTRANSLATABLE_CHARACTER),
             errmsg("no conversion from encoding \"%s\" to \"%s\" exists",
                    pg_encoding_to_char(conversion.from), pg_encoding_to_char(conversion.to)),
             errdetail("%s%s has characters other than ASCII.", what ? "In " : "",
                       what ? what : "The text"),
             hint ? errhint("%s", hint) : 0));
  if (!conversion.function) {
    size_t done = ValidPrefix(conversion.validate, text, len);
    if (done < len) ReportBadCharacter(conversion, text + done, len - done, what, hint);
    *out_len = len;
    return text;
  }
  if (len >= MaxAllocHugeSize / MAX_CONVERSION_GROWTH)
    ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED), errmsg("out of memory"),
                    errdetail("A value of %zu bytes is too long for encoding conversion.", len)));
  Size size = len * MAX_CONVERSION_GROWTH + 1;
  auto *out = static_cast<unsigned char *>(MemoryContextAllocHuge(CurrentMemoryContext, size));
  size_t done = CallConversion(conversion, text, len, out);
  if (done < len) ReportBadCharacter(conversion, text + done, len - done, what, hint);
  *out_len = strlen(reinterpret_cast<char *>(out));
  return reinterpret_cast<char *>(out);
}

int PartEncoding() {
  int server = GetDatabaseEncoding();
  if (server == PG_SQL_ASCII || server == PG_UTF8) return server;
  return OidIsValid(FindDefaultConversionProc(server, PG_UTF8)) ? PG_UTF8 : server;
}

char *ServerToUtf8(const char *name, const char *what) {
  TextConversion conversion = ConversionToTarget(PG_UTF8);
  size_t len = 0;
  const char *hint =
      GetDatabaseEncoding() == PG_SQL_ASCII
          ? "In a SQL_ASCII database, cdw_backup can store only names that are valid UTF-8 (what "
            "it writes on a target is UTF-8): rename the object."
      : conversion.missing ? "Names written on a target are UTF-8, which this database's encoding "
                             "does not convert to: rename the object with ASCII characters."
                           : nullptr;
  const char *converted = ConvertText(conversion, name, strlen(name), &len, what, hint);
  return converted == name ? pstrdup(name) : const_cast<char *>(converted);
}

char *Utf8ToServer(const char *name, const char *what, const char *hint) {
  TextConversion conversion = ConversionFromSource(PG_UTF8);
  size_t len = 0;
  const char *converted = ConvertText(conversion, name, strlen(name), &len, what, hint);
  return converted == name ? pstrdup(name) : const_cast<char *>(converted);
}

}  // namespace cdw::pg
