#include "plan/block_ranges.h"

#include <algorithm>

namespace cdw {

uint64_t RangeBlocksFor(uint64_t total_blocks, int workers) {
  uint64_t per_worker_eighth = total_blocks / (static_cast<uint64_t>(std::max(workers, 1)) * 8);
  return std::max(kMinRangeBlocks, per_worker_eighth);
}

std::vector<BlockRange> PlanBlockRanges(uint64_t blocks, uint64_t range_blocks, int workers) {
  range_blocks = std::max<uint64_t>(range_blocks, 1);
  if (workers <= 1 || blocks < 2 * range_blocks) return {{0, kToTheEnd}};
  uint64_t ranges = blocks / range_blocks;
  uint64_t chunk = (blocks + ranges - 1) / ranges;
  // Halves only while they stay at least half the smallest range.
  uint64_t halved = chunk >= kMinRangeBlocks ? std::min<uint64_t>(workers, ranges - 1) : 0;
  std::vector<BlockRange> plan;
  uint64_t start = 0;
  for (uint64_t r = 0; r < ranges - halved; r++, start += chunk)
    plan.push_back({start, start + chunk});
  uint64_t half = (chunk + 1) / 2;
  for (uint64_t h = 0; h < 2 * halved; h++, start += half) plan.push_back({start, start + half});
  // Rounding up may leave the last ranges past the end: drop them.
  while (plan.size() > 1 && plan.back().start_block >= blocks) plan.pop_back();
  plan.back().end_block = kToTheEnd;
  return plan;
}

}  // namespace cdw
