extern "C" {
#include "postgres.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"
}

#include <charconv>

#include "extension/fdw/column_text.h"
#include "format/type_text.h"

namespace cdw::fdw {

namespace {

// Room for `bytes` more in `out`, checked inline: appendBinaryStringInfo
// calls enlargeStringInfo (a function call and its checks) per token, which
// measured more than the rest of the jsonb formatting. The text is
// NUL-terminated only at the end (FormatJsonb).
inline char *Room(StringInfo out, int bytes) {
  if (unlikely(out->len + bytes >= out->maxlen)) enlargeStringInfo(out, bytes);
  return out->data + out->len;
}

inline void AppendLiteral(StringInfo out, const char *text, int len) {
  memcpy(Room(out, len), text, len);
  out->len += len;
}

inline void AppendChar(StringInfo out, char c) {
  *Room(out, 1) = c;
  out->len++;
}

// One scalar as jsonb_out's jsonb_put_escaped_value writes it; strings
// already with their quotes doubled for CSV. Returns whether the scalar
// makes the field need quoting (a string: it holds '"').
bool AppendJsonbScalar(StringInfo out, const JsonbValue *value) {
  switch (value->type) {
    case jbvNull:
      AppendLiteral(out, "null", 4);
      return false;
    case jbvString: {
      size_t len = static_cast<size_t>(value->val.string.len);
      char *room = Room(out, static_cast<int>(JsonStringForCsvBound(len)));
      out->len += static_cast<int>(FormatJsonStringForCsv(value->val.string.val, len, room));
      return true;
    }
    case jbvNumeric: {
      char *text =
          DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(value->val.numeric)));
      AppendLiteral(out, text, static_cast<int>(strlen(text)));
      return false;
    }
    case jbvBool:
      if (value->val.boolean)
        AppendLiteral(out, "true", 4);
      else
        AppendLiteral(out, "false", 5);
      return false;
    default:
      elog(ERROR, "unknown jsonb scalar type");
  }
  return false;
}

// jsonb_out (JsonbToCStringWorker without indentation) writing straight
// into the CSV field: `out` gets '"' + text + '"' and the result drops the
// outer quotes again when nothing in the text needs them.
ColumnText FormatJsonb(Jsonb *jsonb, StringInfo out) {
  resetStringInfo(out);
  AppendChar(out, '"');
  bool quote = false;
  bool first = true;
  bool raw_scalar = false;
  bool redo_switch = false;
  JsonbIterator *it = JsonbIteratorInit(&jsonb->root);
  JsonbValue value;
  JsonbIteratorToken type = WJB_DONE;
  auto separator = [&] {
    AppendLiteral(out, ", ", 2);
    quote = true;  // holds the delimiter
  };
  while (redo_switch || (type = JsonbIteratorNext(&it, &value, false)) != WJB_DONE) {
    redo_switch = false;
    switch (type) {
      case WJB_BEGIN_ARRAY:
        if (!first) separator();
        if (!value.val.array.rawScalar)
          AppendChar(out, '[');
        else
          raw_scalar = true;
        first = true;
        break;
      case WJB_BEGIN_OBJECT:
        if (!first) separator();
        AppendChar(out, '{');
        first = true;
        break;
      case WJB_KEY:
        if (!first) separator();
        first = true;
        quote |= AppendJsonbScalar(out, &value);
        AppendLiteral(out, ": ", 2);
        type = JsonbIteratorNext(&it, &value, false);
        if (type == WJB_VALUE) {
          first = false;
          quote |= AppendJsonbScalar(out, &value);
        } else {
          redo_switch = true;  // a container: the next round prints it
        }
        break;
      case WJB_ELEM:
        if (!first) separator();
        first = false;
        quote |= AppendJsonbScalar(out, &value);
        break;
      case WJB_END_ARRAY:
        if (!raw_scalar) AppendChar(out, ']');
        first = false;
        break;
      case WJB_END_OBJECT:
        AppendChar(out, '}');
        first = false;
        break;
      default:
        elog(ERROR, "unknown jsonb iterator token type");
    }
  }
  // The text cannot be empty or hold CR/LF (escape_json escapes them), so
  // only '"' and ',' decide the quoting.
  if (quote) AppendChar(out, '"');
  *Room(out, 1) = '\0';
  if (quote) return {out->data, static_cast<size_t>(out->len), true};
  return {out->data + 1, static_cast<size_t>(out->len - 1), true};
}

ColumnText Formatted(const char *scratch, size_t len) {
  return {scratch, len, false};
}

// int2out / int4out / int8out: plain decimal, '-' for negatives.
template <typename Integer>
ColumnText FormattedInteger(char *scratch, Integer value) {
  char *end = std::to_chars(scratch, scratch + kColumnScratchBytes, value).ptr;
  return Formatted(scratch, static_cast<size_t>(end - scratch));
}

}  // namespace

ColumnFormat ColumnFormatFor(Oid output_function) {
  switch (output_function) {
    case F_TEXTOUT:
    case F_VARCHAROUT:
    case F_BPCHAROUT:
    case F_JSON_OUT:
      return ColumnFormat::kStoredText;
    case F_INT2OUT:
      return ColumnFormat::kInt2;
    case F_INT4OUT:
      return ColumnFormat::kInt4;
    case F_INT8OUT:
      return ColumnFormat::kInt8;
    case F_UUID_OUT:
      return ColumnFormat::kUuid;
    case F_DATE_OUT:
      return ColumnFormat::kDate;
    case F_TIMESTAMP_OUT:
      return ColumnFormat::kTimestamp;
    case F_TIMESTAMPTZ_OUT:
      return ColumnFormat::kTimestampTz;
    case F_JSONB_OUT:
      return ColumnFormat::kJsonb;
    default:
      return ColumnFormat::kOutputFunction;
  }
}

ColumnText FormatColumnValue(ColumnFormat format, FmgrInfo *output_function, Datum value,
                             char *scratch, StringInfo jsonb_buffer) {
  size_t len = 0;
  switch (format) {
    case ColumnFormat::kStoredText: {
      struct varlena *text = PG_DETOAST_DATUM_PACKED(value);
      return {VARDATA_ANY(text), VARSIZE_ANY_EXHDR(text), false};
    }
    case ColumnFormat::kInt2:
      return FormattedInteger(scratch, DatumGetInt16(value));
    case ColumnFormat::kInt4:
      return FormattedInteger(scratch, DatumGetInt32(value));
    case ColumnFormat::kInt8:
      return FormattedInteger(scratch, DatumGetInt64(value));
    case ColumnFormat::kUuid:
      return Formatted(scratch, FormatUuid(DatumGetUUIDP(value)->data, scratch));
    case ColumnFormat::kDate:
      len = FormatIsoDate(DatumGetDateADT(value), scratch);
      break;
    case ColumnFormat::kTimestamp:
      len = FormatIsoTimestamp(DatumGetTimestamp(value), false, scratch);
      break;
    case ColumnFormat::kTimestampTz:
      len = FormatIsoTimestamp(DatumGetTimestampTz(value), true, scratch);
      break;
    case ColumnFormat::kJsonb:
      return FormatJsonb(DatumGetJsonbP(value), jsonb_buffer);
    case ColumnFormat::kOutputFunction:
      break;
  }
  if (len > 0) return Formatted(scratch, len);
  // Other types, and the rare values the fast paths leave to PostgreSQL
  // (infinity, years outside 1..9999).
  char *text = OutputFunctionCall(output_function, value);
  return {text, strlen(text), false};
}

}  // namespace cdw::fdw
