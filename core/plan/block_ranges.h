// How a backup run divides its work: big tables into block ranges (one TID
// range scan and one part each), sized from the whole database so that every
// worker stays busy to the end of the run. PostgreSQL-free so it is tested
// directly; bgworker/database/table_list.cpp applies it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cdw {

// The smallest range (1024 blocks of 8 KiB): each range costs a part (file
// or object) and a few milliseconds of set-up.
inline constexpr uint64_t kMinRangeBlocks = 1024;

// Target size of a range: an eighth of one worker's share of the database
// (`total_blocks`, all tables), rounded down to a power of two, at least
// kMinRangeBlocks.
uint64_t RangeBlocksFor(uint64_t total_blocks, int workers);

struct BlockRange {
  uint64_t start_block;
  uint64_t end_block;  // exclusive; kToTheEnd for the last range
};
inline constexpr uint64_t kToTheEnd = UINT64_MAX;

// The ranges of a table of `blocks` blocks: one (the whole table) when it is
// smaller than two ranges or there is one worker; otherwise ranges of
// exactly `range_blocks` starting at its multiples, so that a table that
// only grows keeps the boundaries (and the unchanged content) of its earlier
// ranges from one run to the next. The last range is open-ended: the table
// may have grown since it was measured.
// Writes the ranges to `out` unless it is null and returns how many there
// are: call with null to size the array. Allocates nothing and never throws,
// so PostgreSQL code calls it directly with a palloc'd array.
size_t PlanBlockRanges(uint64_t blocks, uint64_t range_blocks, int workers, BlockRange *out);

}  // namespace cdw
