#include "plan/block_ranges.h"

#include <algorithm>

namespace cdw {

uint64_t RangeBlocksFor(uint64_t total_blocks, int workers) {
  uint64_t per_worker_eighth = total_blocks / (static_cast<uint64_t>(std::max(workers, 1)) * 8);
  return std::max(kMinRangeBlocks, per_worker_eighth);
}

size_t PlanBlockRanges(uint64_t blocks, uint64_t range_blocks, int workers, BlockRange *out) {
  range_blocks = std::max<uint64_t>(range_blocks, 1);
  if (workers <= 1 || blocks < 2 * range_blocks) {
    if (out) out[0] = {0, kToTheEnd};
    return 1;
  }
  uint64_t ranges = blocks / range_blocks;
  uint64_t chunk = (blocks + ranges - 1) / ranges;
  // Halves only while they stay at least half the smallest range.
  uint64_t halved = chunk >= kMinRangeBlocks ? std::min<uint64_t>(workers, ranges - 1) : 0;
  uint64_t half = (chunk + 1) / 2;
  size_t count = 0;
  uint64_t start = 0;
  for (uint64_t r = 0; r < ranges - halved + 2 * halved; r++) {
    uint64_t size = r < ranges - halved ? chunk : half;
    // Rounding up may put the last ranges past the end: they are left out.
    if (start >= blocks) break;
    if (out) out[count] = {start, start + size};
    count++;
    start += size;
  }
  if (out) out[count - 1].end_block = kToTheEnd;
  return count;
}

}  // namespace cdw
