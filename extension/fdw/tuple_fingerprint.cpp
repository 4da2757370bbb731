extern "C" {
#include "postgres.h"
#include "access/detoast.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/tupdesc_details.h"
#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "utils/fmgroids.h"
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
// that change independently of the stored bytes.
bool TextFollowsBytes(Oid type) {
  for (int depth = 0; depth < 32; depth++) {
    HeapTuple tuple = SearchSysCache1(TYPEOID, ObjectIdGetDatum(type));
    if (!HeapTupleIsValid(tuple)) return false;
    auto *form = reinterpret_cast<Form_pg_type>(GETSTRUCT(tuple));
    char kind = form->typtype;
    Oid base = form->typbasetype;
    Oid element = form->typelem;
    bool is_array = form->typsubscript == F_ARRAY_SUBSCRIPT_HANDLER;
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

void AppendDatumImage(StringInfo out, Datum value, int16 len, bool by_value) {
  if (by_value) {
    appendBinaryStringInfo(out, reinterpret_cast<const char *>(&value), sizeof value);
  } else if (len > 0) {
    appendBinaryStringInfo(out, DatumGetPointer(value), len);
  } else if (len == -1) {
    struct varlena *flat = detoast_attr(reinterpret_cast<struct varlena *>(DatumGetPointer(value)));
    appendBinaryStringInfo(out, reinterpret_cast<const char *>(flat), VARSIZE_ANY(flat));
  } else {
    appendStringInfoString(out, DatumGetCString(value));
    appendStringInfoChar(out, '\0');
  }
}

}  // namespace

char *FingerprintSeed(Oid relid, int part_encoding) {
  Relation rel = relation_open(relid, NoLock);
  TupleDesc desc = RelationGetDescr(rel);
  StringInfoData seed;
  initStringInfo(&seed);
  // A new encoding of the stream or of the CSV gets a new first line.
  appendStringInfo(&seed, "cdw_backup row fingerprint 1\nserver %d\nencoding %s -> %s\n%s\n",
                   PG_VERSION_NUM, GetDatabaseEncodingName(), pg_encoding_to_char(part_encoding),
                   PinnedSettingsText());
  bool usable = true;
  for (int a = 0; a < desc->natts && usable; a++) {
    Form_pg_attribute att = TupleDescAttr(desc, a);
    appendStringInfo(&seed, "%d %s %u %d %d %d %c %d %d", a + 1, NameStr(att->attname),
                     att->atttypid, att->atttypmod, att->attlen, att->attbyval, att->attalign,
                     att->attisdropped, att->atthasmissing);
    if (!att->attisdropped && !TextFollowsBytes(att->atttypid)) usable = false;
    if (att->atthasmissing && desc->constr && desc->constr->missing &&
        desc->constr->missing[a].am_present) {
      StringInfoData image;
      initStringInfo(&image);
      AppendDatumImage(&image, desc->constr->missing[a].am_value, att->attlen, att->attbyval);
      appendStringInfo(&seed, " missing %d:", image.len);
      appendBinaryStringInfo(&seed, image.data, image.len);
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
