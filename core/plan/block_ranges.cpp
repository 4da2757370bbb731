#include "plan/block_ranges.h"

#include <algorithm>

namespace cdw {

uint64_t RangeBlocksFor(uint64_t total_blocks, int workers) {
  uint64_t per_worker_eighth = total_blocks / (static_cast<uint64_t>(std::max(workers, 1)) * 8);
  // A power of two: the size, and so every boundary, stays the same while
  // the database grows less than twofold.
  uint64_t size = kMinRangeBlocks;
  while (size * 2 <= per_worker_eighth) size *= 2;
  return size;
}

size_t PlanBlockRanges(uint64_t blocks, uint64_t range_blocks, int workers, BlockRange *out) {
  range_blocks = std::max<uint64_t>(range_blocks, 1);
  if (workers <= 1 || blocks < 2 * range_blocks) {
    if (out) out[0] = {0, kToTheEnd};
    return 1;
  }
  // Fixed boundaries at multiples of range_blocks, the last range open: rows
  // appended to the table land in the last range, the others keep their
  // blocks (and an incremental run their objects).
  uint64_t ranges = (blocks + range_blocks - 1) / range_blocks;
  if (out)
    for (uint64_t r = 0; r < ranges; r++)
      out[r] = {r * range_blocks, r + 1 == ranges ? kToTheEnd : (r + 1) * range_blocks};
  return ranges;
}

}  // namespace cdw
