// The leader's table list: which tables of the database are backed up, in
// how many block ranges, in which order workers take them, published in
// dynamic shared memory for the helpers. Include after postgres.h.
#pragma once

#include "bgworker/database/database_job.h"

namespace cdw::bgworker::database_worker {

// Lists (and locks, like pg_dump) the tables to back up: ordinary tables and
// leaf partitions of non-system schemas, unlogged included; not views,
// materialized views, foreign or temporary tables, partitioned parents, nor
// tables that belong to extensions (their data is the extension's). Splits
// big tables into block ranges; returns the number of entries (palloc'd,
// with the dispatch order, largest unit first). Inside SPI.
int ListTables(TableEntry **entries_out, uint32 **order_out);

// Copies the list into a new DSM segment (g_tables) and tells the
// coordinator and the helpers it is there.
void PublishTables(TableEntry *entries, uint32 *order, int count);

// A helper's view of the leader's published list (g_tables).
void AttachTables();

}  // namespace cdw::bgworker::database_worker
