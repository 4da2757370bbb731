// The order in which a database's workers take its units (whole tables and
// block ranges of big ones). PostgreSQL-free so it is tested directly;
// bgworker/database/table_list.cpp applies it.
//
// Largest first, the longest-processing-time rule that keeps the idle tail
// of a run short, but with costs compared by power of two: units within a
// factor of two of each other count as equally large, and among those the
// ranges of different tables are taken round robin (the first range of
// every table, then the second, ...). Every table's first range then
// finishes early in the run, and with it what its rows weigh as CSV against
// their relation size: cdw_backup.run_progress corrects the rest of that
// table's estimate by it (core/progress/estimate.h) instead of guessing it
// from other tables until the table's turn comes, which for the last big
// table of a run is after the half-way point.
//
// Costs are in blocks: a full range costs at least its range_blocks (a power
// of two, core/plan/block_ranges.h) and less than twice that unless its
// TOAST outweighs its heap, so the full ranges of all tables share a band.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cdw {

// Fills order[0..count) with the indexes of the units in the order workers
// take them. cost[i] is unit i's planned cost (any unit, e.g. blocks or
// bytes), range_index[i] its position among its table's ranges (0 for a
// table that is one unit). Allocates nothing and never throws, so
// PostgreSQL code calls it directly with palloc'd arrays.
void OrderUnits(const int64_t *cost, const int32_t *range_index, size_t count, uint32_t *order);

}  // namespace cdw
