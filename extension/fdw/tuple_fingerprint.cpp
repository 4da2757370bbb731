extern "C" {
#include "postgres.h"
#include "access/detoast.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/tupdesc_details.h"
#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
}

#include "extension/fdw/pinned_settings.h"
#include "extension/fdw/tuple_fingerprint.h"
#include "format/row_fingerprint.h"

namespace cdw::fdw {

namespace {

// Built-in types whose text names catalog objects (a rename changes it).
bool PrintsCatalogNames(Oid type) {
  switch (type) {
    case REGPROCOID:
    case REGPROCEDUREOID:
    case REGOPEROID:
    case REGOPERATOROID:
    case REGCLASSOID:
    case REGTYPEOID:
    case REGROLEOID:
    case REGNAMESPACEOID:
    case REGCONFIGOID:
    case REGDICTIONARYOID:
    case REGCOLLATIONOID:
    case ACLITEMOID:
      return true;
    default:
      return false;
  }
}

// Whether values of `type` print the same as long as their bytes are the
// same: built-in base types (and arrays, ranges, multiranges of them, and
// domains over any of these; a domain prints as its base type). Anything
// created after initdb may have an output function, labels or attributes
// that change independently of the stored bytes. Every type on the way is
// added to `seed` (a domain re-created over another base type under the same
// name changes the seed).
bool TextFollowsBytes(Oid type, StringInfo seed) {
  for (int depth = 0; depth < 32; depth++) {
    appendStringInfo(seed, " %u", type);
    HeapTuple tuple = SearchSysCache1(TYPEOID, ObjectIdGetDatum(type));
    if (!HeapTupleIsValid(tuple)) return false;
    auto *form = reinterpret_cast<Form_pg_type>(GETSTRUCT(tuple));
    char kind = form->typtype;
    Oid base = form->typbasetype;
    Oid element = form->typelem;
    // A true array prints with array_out; a type that only borrows the
    // array subscript handler may have an output function of its own.
    bool is_array =
        form->typsubscript == F_ARRAY_SUBSCRIPT_HANDLER && form->typoutput == F_ARRAY_OUT;
    ReleaseSysCache(tuple);
    if (kind == TYPTYPE_DOMAIN) {
      type = base;
      continue;
    }
    if (is_array && OidIsValid(element)) {
      type = element;
      continue;
    }
    if (type >= FirstNormalObjectId || PrintsCatalogNames(type)) return false;
    if (kind == TYPTYPE_RANGE) {
      type = get_range_subtype(type);
      continue;
    }
    if (kind == TYPTYPE_MULTIRANGE) {
      type = get_multirange_range(type);
      continue;
    }
    return kind == TYPTYPE_BASE;
  }
  return false;
}

// The value's bytes, hex-encoded: the seed is text (its first NUL would
// end it).
void AppendDatumImage(StringInfo out, Datum value, int16 len, bool by_value) {
  const char *data;
  size_t size;
  if (by_value) {
    data = reinterpret_cast<const char *>(&value);
    size = sizeof value;
  } else if (len > 0) {
    data = DatumGetPointer(value);
    size = len;
  } else if (len == -1) {
    struct varlena *flat = detoast_attr(reinterpret_cast<struct varlena *>(DatumGetPointer(value)));
    data = reinterpret_cast<const char *>(flat);
    size = VARSIZE_ANY(flat);
  } else {
    data = DatumGetCString(value);
    size = strlen(data) + 1;
  }
  appendStringInfo(out, "%zu:", size);
  static const char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < size; i++) {
    auto byte = static_cast<unsigned char>(data[i]);
    appendStringInfoChar(out, kHex[byte >> 4]);
    appendStringInfoChar(out, kHex[byte & 15]);
  }
}

}  // namespace

char *FingerprintSeed(Oid relid, int part_encoding) {
  Relation rel = relation_open(relid, NoLock);
  TupleDesc desc = RelationGetDescr(rel);
  StringInfoData seed;
  initStringInfo(&seed);
  // A new encoding of the stream or of the CSV gets a new first line; the
  // running server's version and the extension's (the CSV writer) follow.
  appendStringInfo(
      &seed, "cdw_backup row fingerprint 2\nextension %s\nserver %s\nencoding %s -> %s\n%s\n",
      CDW_BACKUP_VERSION, GetConfigOption("server_version_num", false, false),
      GetDatabaseEncodingName(), pg_encoding_to_char(part_encoding), PinnedSettingsText());
  bool usable = true;
  for (int a = 0; a < desc->natts && usable; a++) {
    Form_pg_attribute att = TupleDescAttr(desc, a);
    const char *name = NameStr(att->attname);
    // Length-prefixed: a name cannot pass for the rest of a line.
    appendStringInfo(&seed, "%d %zu:%s %d %d %d %c %d %d types", a + 1, strlen(name), name,
                     att->atttypmod, att->attlen, att->attbyval, att->attalign, att->attisdropped,
                     att->atthasmissing);
    if (att->attisdropped)
      appendStringInfo(&seed, " %u", att->atttypid);
    else if (!TextFollowsBytes(att->atttypid, &seed))
      usable = false;
    if (att->atthasmissing && desc->constr && desc->constr->missing &&
        desc->constr->missing[a].am_present) {
      appendStringInfoString(&seed, " missing ");
      AppendDatumImage(&seed, desc->constr->missing[a].am_value, att->attlen, att->attbyval);
    }
    appendStringInfoChar(&seed, '\n');
  }
  relation_close(rel, NoLock);
  return usable ? seed.data : nullptr;
}

void AddRowToFingerprint(TupleTableSlot *slot, Oid relid, int ncolumns, const int *attnums,
                         RowFingerprint *fingerprint) {
  // The scan's own tuple: its bytes, as stored, when nothing is out of line.
  if ((TTS_IS_BUFFERTUPLE(slot) || TTS_IS_HEAPTUPLE(slot)) && slot->tts_tableOid == relid) {
    HeapTuple tuple = reinterpret_cast<HeapTupleTableSlot *>(slot)->tuple;
    if (tuple && tuple->t_data && !HeapTupleHasExternal(tuple)) {
      HeapTupleHeader header = tuple->t_data;
      int natts = HeapTupleHeaderGetNatts(header);
      size_t bitmap_len = HeapTupleHasNulls(tuple) ? BITMAPLEN(natts) : 0;
      fingerprint->StoredRow(static_cast<uint16_t>(natts),
                             reinterpret_cast<const uint8_t *>(header->t_bits), bitmap_len,
                             reinterpret_cast<const char *>(header) + header->t_hoff,
                             tuple->t_len - header->t_hoff);
      return;
    }
  }
  slot_getallattrs(slot);
  TupleDesc desc = slot->tts_tupleDescriptor;
  fingerprint->BeginRow(static_cast<uint16_t>(ncolumns));
  for (int c = 0; c < ncolumns; c++) {
    int a = attnums[c];
    if (slot->tts_isnull[a]) {
      fingerprint->NullColumn();
      continue;
    }
    Form_pg_attribute att = TupleDescAttr(desc, a);
    Datum value = slot->tts_values[a];
    if (att->attbyval) {
      fingerprint->Column(reinterpret_cast<const char *>(&value), sizeof value);
    } else if (att->attlen > 0) {
      fingerprint->Column(DatumGetPointer(value), att->attlen);
    } else if (att->attlen == -1) {
      auto *stored = reinterpret_cast<struct varlena *>(DatumGetPointer(value));
      // Out of line: the value itself (perhaps still compressed, which
      // decodes to one value only), not the pointer to it.
      struct varlena *inline_value =
          VARATT_IS_EXTERNAL(stored) ? detoast_external_attr(stored) : stored;
      fingerprint->Column(reinterpret_cast<const char *>(inline_value), VARSIZE_ANY(inline_value));
      if (inline_value != stored) pfree(inline_value);
    } else {
      const char *text = DatumGetCString(value);
      fingerprint->Column(text, strlen(text) + 1);
    }
  }
}

}  // namespace cdw::fdw
