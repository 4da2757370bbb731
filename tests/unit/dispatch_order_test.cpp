// OrderUnits: the order in which a database's workers take its units.
#include "plan/dispatch_order.h"

#include <gtest/gtest.h>

#include <vector>

namespace cdw {
namespace {

std::vector<uint32_t> Order(const std::vector<int64_t> &cost, const std::vector<int32_t> &range) {
  std::vector<uint32_t> order(cost.size());
  OrderUnits(cost.data(), range.data(), cost.size(), order.data());
  return order;
}

TEST(DispatchOrder, LargestFirst) {
  // Whole tables (range 0) of clearly different sizes.
  EXPECT_EQ(Order({10, 1000, 100, 1}, {0, 0, 0, 0}), (std::vector<uint32_t>{1, 2, 0, 3}));
}

TEST(DispatchOrder, RangesOfSeveralTablesAreTakenRoundRobin) {
  // Table A: units 0..3 (ranges 0..3 of 1024 blocks), table B: units 4..6
  // (ranges of 1024 blocks whose TOAST adds to their cost): B's first range
  // comes first, A's second, not after all of B's.
  std::vector<int64_t> cost = {1024, 1024, 1024, 1024, 1100, 1100, 1100};
  std::vector<int32_t> range = {0, 1, 2, 3, 0, 1, 2};
  EXPECT_EQ(Order(cost, range), (std::vector<uint32_t>{4, 0, 5, 1, 6, 2, 3}));
}

TEST(DispatchOrder, SmallerUnitsStillComeLast) {
  // The open-ended last ranges (300, 600 blocks) and a small table (50)
  // stay behind the full ranges; a big whole table (2000) leads.
  std::vector<int64_t> cost = {1024, 1024, 300, 1024, 600, 50, 2000};
  std::vector<int32_t> range = {0, 1, 2, 0, 1, 0, 0};
  EXPECT_EQ(Order(cost, range), (std::vector<uint32_t>{6, 0, 3, 1, 4, 2, 5}));
}

TEST(DispatchOrder, WithinABandWholeTablesGoLargestFirstWithFirstRanges) {
  // 1500 and 1100 share a power of two with the 1024-block ranges: they are
  // taken among the first ranges, largest first, before the second ranges.
  std::vector<int64_t> cost = {1024, 1024, 1100, 1500};
  std::vector<int32_t> range = {0, 1, 0, 0};
  EXPECT_EQ(Order(cost, range), (std::vector<uint32_t>{3, 2, 0, 1}));
}

TEST(DispatchOrder, EqualUnitsKeepTheirListedOrderAndZeroCostsAreFine) {
  EXPECT_EQ(Order({0, 5, 5, 0}, {0, 0, 0, 0}), (std::vector<uint32_t>{1, 2, 0, 3}));
  EXPECT_TRUE(Order({}, {}).empty());
}

}  // namespace
}  // namespace cdw
