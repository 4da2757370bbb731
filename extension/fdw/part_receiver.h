// Writing the rows of a query as one part without a foreign table: the
// backup workers' export (bgworker/database/table_export.cpp). The rows go
// through exactly the code that INSERT INTO a cdw_backup_fdw foreign table
// runs (text output, CSV, compression, the part's commit and its
// registration for rollback), but no relation is created per table: no
// catalog rows, no locks on them, no relation cache entries that every later
// subtransaction end would scan (AtEOSubXact_RelationCache) -- which made
// exporting N tables in one transaction cost O(N^2).
// Include after postgres.h.
#pragma once

extern "C" {
#include "tcop/dest.h"
}

namespace cdw::fdw {

enum class PartMode {
  kWrite,      // the part is written (full runs, and changed parts)
  kProbeText,  // incremental: the CSV is made and hashed, nothing is written
  kProbeRows,  // incremental: only the rows' fingerprint, no text at all
};

// A DestReceiver (palloc'd in the current memory context) that writes what
// it receives as one part under `path` of server `server_name`, with the
// foreign-table options `compression` and `encoding`; validated as those
// options are. `table_label` names the table in messages. Pass it as the
// `dest` of SPI_execute_extended() for a scan of table `relid`; rDestroy()
// frees it. The part is committed and registered (part_registry.h) when the
// query ends; an error before that leaves nothing on the target. Unless the
// table's types forbid it (tuple_fingerprint.h), the rows are also
// fingerprinted (PartStats::fingerprint). A probe writes nothing:
// part_registry.h's RecentProbe() has its rows, fingerprint and, for
// kProbeText (or kProbeRows of a table without a fingerprint), the CSV's
// bytes and SHA-256.
DestReceiver *CreatePartReceiver(const char *server_name, const char *table_label, const char *path,
                                 const char *compression, const char *encoding, Oid relid,
                                 PartMode mode);

}  // namespace cdw::fdw
