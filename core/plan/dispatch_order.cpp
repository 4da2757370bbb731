#include "plan/dispatch_order.h"

#include <algorithm>

namespace cdw {
namespace {

// floor(log2(cost)), 0 for costs below 2.
int Band(int64_t cost) {
  int band = 0;
  for (uint64_t c = static_cast<uint64_t>(std::max<int64_t>(cost, 1)); c > 1; c >>= 1) band++;
  return band;
}

}  // namespace

void OrderUnits(const int64_t *cost, const int32_t *range_index, size_t count, uint32_t *order) {
  for (size_t i = 0; i < count; i++) order[i] = static_cast<uint32_t>(i);
  // std::sort with a total order (the index breaks ties): no buffer to
  // allocate, unlike std::stable_sort, and the same order every time.
  std::sort(order, order + count, [&](uint32_t a, uint32_t b) {
    int band_a = Band(cost[a]), band_b = Band(cost[b]);
    if (band_a != band_b) return band_a > band_b;
    if (range_index[a] != range_index[b]) return range_index[a] < range_index[b];
    if (cost[a] != cost[b]) return cost[a] > cost[b];
    return a < b;
  });
}

}  // namespace cdw
