#include "plan/block_ranges.h"

#include <gtest/gtest.h>

#include <vector>

namespace cdw {
namespace {

std::vector<BlockRange> Plan(uint64_t blocks, uint64_t range_blocks, int workers) {
  std::vector<BlockRange> plan(PlanBlockRanges(blocks, range_blocks, workers, nullptr));
  EXPECT_EQ(PlanBlockRanges(blocks, range_blocks, workers, plan.data()), plan.size());
  return plan;
}

// The ranges cover [0, blocks) exactly once, in order, the last open-ended.
void ExpectCoverage(const std::vector<BlockRange> &plan, uint64_t blocks) {
  ASSERT_FALSE(plan.empty());
  EXPECT_EQ(plan.front().start_block, 0u);
  for (size_t i = 0; i + 1 < plan.size(); i++) {
    EXPECT_LT(plan[i].start_block, plan[i].end_block);
    EXPECT_EQ(plan[i].end_block, plan[i + 1].start_block);
  }
  EXPECT_EQ(plan.back().end_block, kToTheEnd);
  EXPECT_LT(plan.back().start_block, std::max<uint64_t>(blocks, 1));
}

TEST(BlockRanges, RangeSizeIsAnEighthOfAWorkersSharePowerOfTwoButNotTiny) {
  EXPECT_EQ(RangeBlocksFor(160000, 2), 8192u);  // 10000 rounded down
  EXPECT_EQ(RangeBlocksFor(1000, 2), kMinRangeBlocks);
  EXPECT_EQ(RangeBlocksFor(160000, 0), 16384u);  // treated as one worker
  // Growth by less than twofold keeps the size.
  EXPECT_EQ(RangeBlocksFor(131072 * 2 - 1, 1), RangeBlocksFor(131072, 1));
}

TEST(BlockRanges, SmallTablesAndOneWorkerKeepTheTableWhole) {
  for (auto plan : {Plan(0, 1024, 2), Plan(2047, 1024, 4), Plan(1000000, 1024, 1)}) {
    ASSERT_EQ(plan.size(), 1u);
    EXPECT_EQ(plan[0].start_block, 0u);
    EXPECT_EQ(plan[0].end_block, kToTheEnd);
  }
}

TEST(BlockRanges, BoundariesAreMultiplesOfTheRangeSoAppendsKeepThem) {
  auto plan = Plan(18755, 1024, 2);
  ExpectCoverage(plan, 18755);
  ASSERT_EQ(plan.size(), 19u);
  for (size_t i = 0; i + 1 < plan.size(); i++) {
    EXPECT_EQ(plan[i].start_block, i * 1024);
    EXPECT_EQ(plan[i].end_block, (i + 1) * 1024);
  }
  // 1% more blocks: every range but the open last one is the same.
  auto grown = Plan(18755 + 188, 1024, 2);
  ASSERT_GE(grown.size(), plan.size());
  for (size_t i = 0; i + 1 < plan.size(); i++) {
    EXPECT_EQ(grown[i].start_block, plan[i].start_block);
    EXPECT_EQ(grown[i].end_block, plan[i].end_block);
  }
  EXPECT_EQ(grown[plan.size() - 1].start_block, plan.back().start_block);
}

TEST(BlockRanges, EveryShapeIsCoveredExactlyOnce) {
  for (uint64_t blocks : {2048ull, 2049ull, 3000ull, 10007ull, 262144ull, 1000003ull})
    for (int workers : {2, 3, 8})
      for (uint64_t range_blocks : {1024ull, 1500ull, 40000ull}) {
        SCOPED_TRACE(testing::Message() << blocks << " blocks, " << workers << " workers, "
                                        << range_blocks << " per range");
        ExpectCoverage(Plan(blocks, range_blocks, workers), blocks);
      }
}

}  // namespace
}  // namespace cdw
