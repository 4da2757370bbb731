// Feeding a part's source rows into its RowFingerprint (format/
// row_fingerprint.h): the PostgreSQL half of incremental runs' cheap probe.
// Include after postgres.h.
#pragma once

extern "C" {
#include "executor/tuptable.h"
}

namespace cdw {
class RowFingerprint;
}

namespace cdw::fdw {

// The seed of table `relid`'s fingerprints for parts in encoding
// `part_encoding`: its row type (every attribute with name, type, typmod,
// storage, dropped, and the value a column added with a default gives to
// older rows), the settings the text output is pinned to, the server
// version and encodings. Palloc'd; NULL when a column's text form can change
// without its stored bytes changing (the table then gets no fingerprint and
// incremental runs compare the CSV itself): enums, composite and
// user-defined types, reg* types and aclitem (they print catalog names),
// and arrays, domains or ranges of those. The table must be locked.
char *FingerprintSeed(Oid relid, int part_encoding);

// Adds one row (the slot a scan of `relid` returned, or a projection of it
// with the CSV's columns at `attnums`) to `fingerprint`. A heap tuple of the
// table with no value stored out of line is hashed as stored; anything else
// column by column, with out-of-line values fetched from TOAST first (their
// pointers name storage, not content). Can ereport; call outside C++ frames.
void AddRowToFingerprint(TupleTableSlot *slot, Oid relid, int ncolumns, const int *attnums,
                         RowFingerprint *fingerprint);

}  // namespace cdw::fdw
