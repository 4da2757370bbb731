// EstimateProgress / FormatDuration: the numbers of cdw_backup.run_progress.
#include <gtest/gtest.h>

#include "progress/estimate.h"

namespace cdw {
namespace {

TEST(ProgressEstimate, NothingDoneYetUsesRelationSizes) {
  ProgressInputs in;
  in.unfinished_size = 1000;
  in.elapsed_seconds = 0;
  ProgressEstimate e = EstimateProgress(in);
  EXPECT_EQ(e.bytes_done, 0);
  EXPECT_EQ(e.bytes_total, 1000);
  EXPECT_LT(e.eta_seconds, 0);  // unknown before any byte is done
  EXPECT_DOUBLE_EQ(e.fraction, 0);
}

TEST(ProgressEstimate, RatioOfFinishedUnitsCorrectsTheRest) {
  ProgressInputs in;
  in.finished_raw = 500;    // CSV of the finished units
  in.finished_size = 1000;  // their relation size: ratio 0.5
  in.unfinished_size = 3000;
  in.elapsed_seconds = 10;
  ProgressEstimate e = EstimateProgress(in);
  EXPECT_EQ(e.bytes_done, 500);
  EXPECT_EQ(e.bytes_total, 500 + 1500);
  EXPECT_DOUBLE_EQ(e.rate, 50);
  EXPECT_DOUBLE_EQ(e.eta_seconds, 1500.0 / 50);
  EXPECT_DOUBLE_EQ(e.fraction, 0.25);
}

TEST(ProgressEstimate, InflightBytesCountAsDoneAndBoundTheTotal) {
  ProgressInputs in;
  in.unfinished_size = 100;
  in.inflight_raw = 400;  // a unit produced more CSV than its relation size
  in.elapsed_seconds = 4;
  ProgressEstimate e = EstimateProgress(in);
  EXPECT_EQ(e.bytes_done, 400);
  EXPECT_EQ(e.bytes_total, 400);
  EXPECT_DOUBLE_EQ(e.eta_seconds, 0);
}

TEST(ProgressEstimate, KnownRatiosAreNotScaledAgain) {
  ProgressInputs in;
  in.finished_raw = 100;
  in.finished_size = 200;  // ratio 0.5 for the rest
  in.unfinished_size = 100;
  in.unfinished_expected_raw = 300;  // ranges of a table whose own ratio is known
  in.elapsed_seconds = 1;
  ProgressEstimate e = EstimateProgress(in);
  EXPECT_EQ(e.bytes_total, 100 + 50 + 300);
  EXPECT_DOUBLE_EQ(e.eta_seconds, 350.0 / 100);
}

TEST(ProgressEstimate, UnlistedDatabasesAddTheirEstimate) {
  ProgressInputs in;
  in.finished_raw = 200;
  in.finished_size = 100;  // ratio 2
  in.unlisted_size = 50;
  in.elapsed_seconds = 2;
  ProgressEstimate e = EstimateProgress(in);
  EXPECT_EQ(e.bytes_total, 300);
  EXPECT_DOUBLE_EQ(e.eta_seconds, 100.0 / 100);
}

TEST(ProgressEstimate, AllFinishedAddsUp) {
  ProgressInputs in;
  in.finished_raw = 12345;
  in.finished_size = 8192;
  in.elapsed_seconds = 3;
  ProgressEstimate e = EstimateProgress(in);
  EXPECT_EQ(e.bytes_done, 12345);
  EXPECT_EQ(e.bytes_total, 12345);
  EXPECT_DOUBLE_EQ(e.fraction, 1);
  EXPECT_DOUBLE_EQ(e.eta_seconds, 0);
}

TEST(ProgressEstimate, EmptyRunIsComplete) {
  ProgressEstimate e = EstimateProgress(ProgressInputs{});
  EXPECT_EQ(e.bytes_total, 0);
  EXPECT_DOUBLE_EQ(e.fraction, 1);
  EXPECT_DOUBLE_EQ(e.eta_seconds, 0);
}

TEST(ProgressEstimate, SteadyRateGivesExactEtaAtHalfway) {
  // 2 GB at 100 MB/s, half done after 10 s: 10 s left.
  ProgressInputs in;
  in.finished_raw = 1000'000'000;
  in.finished_size = 1000'000'000;
  in.unfinished_size = 1000'000'000;
  in.elapsed_seconds = 10;
  EXPECT_DOUBLE_EQ(EstimateProgress(in).eta_seconds, 10);
}

TEST(ProgressEstimate, FormatDuration) {
  EXPECT_EQ(FormatDuration(7.4), "7s");
  EXPECT_EQ(FormatDuration(245), "4m05s");
  EXPECT_EQ(FormatDuration(3723), "1h02m03s");
  EXPECT_EQ(FormatDuration(-1), "unknown");
}

}  // namespace
}  // namespace cdw
