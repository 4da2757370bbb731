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

// A DestReceiver (palloc'd in the current memory context) that writes what
// it receives as one part under `path` of server `server_name`, with the
// foreign-table options `compression` and `encoding`; validated as those
// options are. `table_label` names the table in messages. Pass it as the
// `dest` of SPI_execute_extended(); rDestroy() frees it. The part is
// committed and registered (part_registry.h) when the query ends; an error
// before that leaves nothing on the target. With `probe` nothing is
// compressed or written: the CSV is only hashed, and part_registry.h's
// RecentProbe() has its rows, bytes and SHA-256 (incremental runs).
DestReceiver *CreatePartReceiver(const char *server_name, const char *table_label, const char *path,
                                 const char *compression, const char *encoding, bool probe);

}  // namespace cdw::fdw
