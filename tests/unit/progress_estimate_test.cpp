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

// A bloated table: its first ranges were dead rows, so the ratio learnt
// says almost nothing is left, while a unit still runs and produces CSV.
// The run is not "100%, ETA 0" before it ends.
TEST(ProgressEstimate, WorkLeftIsNeverDoneWhateverTheBytesSay) {
  ProgressInputs in;
  in.finished_raw = 1;           // dead rows: next to no CSV
  in.finished_size = 1'000'000;  // for a lot of heap
  in.unfinished_size = 1'000'000;
  in.inflight_raw = 500'000;  // the running range is full of live rows
  in.work_left = true;
  in.elapsed_seconds = 10;
  ProgressEstimate e = EstimateProgress(in);
  EXPECT_EQ(e.bytes_done, 500'001);
  EXPECT_LT(e.fraction, 1.0);
  EXPECT_GT(e.fraction, 0.99);
  EXPECT_LT(e.eta_seconds, 0);  // unknown, not 0
  EXPECT_GT(e.rate, 0);
  // Once nothing is left, the same bytes are 100% and ETA 0.
  in.work_left = false;
  in.unfinished_size = 0;
  in.finished_raw += in.inflight_raw;
  in.inflight_raw = 0;
  e = EstimateProgress(in);
  EXPECT_DOUBLE_EQ(e.fraction, 1.0);
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

TEST(ProgressEstimate, NotStartedIsNotComplete) {
  // A run still planning has published nothing: all zeros, which must not
  // read as an empty run that is done.
  ProgressInputs in;
  in.started = false;
  ProgressEstimate e = EstimateProgress(in);
  EXPECT_DOUBLE_EQ(e.fraction, 0);
  EXPECT_LT(e.eta_seconds, 0);
  EXPECT_EQ(e.rate, 0);
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

TEST(ProgressEstimate, RateIsMeasuredOverTheRecentWindow) {
  // 1000 bytes in 10 s, but 800 of them in the last 2.5 s: the ETA of the
  // 1000 left follows the recent 320 bytes/s, not the average 100.
  ProgressInputs in;
  in.finished_raw = 1000;
  in.finished_size = 1000;
  in.unfinished_size = 1000;
  in.elapsed_seconds = 10;
  in.window_seconds = 2.5;
  in.window_bytes_done = 200;
  ProgressEstimate e = EstimateProgress(in);
  EXPECT_DOUBLE_EQ(e.rate, 320);
  EXPECT_DOUBLE_EQ(e.eta_seconds, 1000.0 / 320);
}

TEST(ProgressEstimate, NothingMovedInTheWindowFallsBackToTheAverage) {
  // A run waiting for a lock still shows a rate and an ETA.
  ProgressInputs in;
  in.finished_raw = 500;
  in.finished_size = 500;
  in.unlisted_size = 500;
  in.elapsed_seconds = 20;
  in.window_seconds = 5;
  in.window_bytes_done = 500;
  ProgressEstimate e = EstimateProgress(in);
  EXPECT_DOUBLE_EQ(e.rate, 25);
  EXPECT_DOUBLE_EQ(e.eta_seconds, 20);
}

TEST(ProgressEstimate, RateWindowIsAQuarterOfTheRunWithinBounds) {
  EXPECT_DOUBLE_EQ(RateWindowSeconds(0), 5);
  EXPECT_DOUBLE_EQ(RateWindowSeconds(12), 5);
  EXPECT_DOUBLE_EQ(RateWindowSeconds(100), 25);
  EXPECT_DOUBLE_EQ(RateWindowSeconds(10 * 3600), 15 * 60);
}

TEST(ProgressHistory, NoWindowStartWhileTheRunIsYoungerThanTheWindow) {
  ProgressHistory h;
  double seconds;
  int64_t bytes;
  EXPECT_FALSE(h.WindowStart(10, &seconds, &bytes));
  for (int i = 0; i <= 40; i++) h.Add(i * 0.1, i * 100);
  EXPECT_FALSE(h.WindowStart(4, &seconds, &bytes));  // window 5 s
}

TEST(ProgressHistory, WindowStartIsTheNewestSampleOldEnough) {
  ProgressHistory h;
  // A sample every 0.25 s for 40 s, 1000 bytes a second.
  for (int i = 0; i <= 160; i++) h.Add(i * 0.25, i * 250);
  double seconds = -1;
  int64_t bytes = -1;
  ASSERT_TRUE(h.WindowStart(40, &seconds, &bytes));  // window 10 s: from 30 s
  EXPECT_LE(seconds, 30);
  EXPECT_GE(seconds, 30 - RateWindowSeconds(40) / 16 - 0.25);
  EXPECT_EQ(bytes, static_cast<int64_t>(seconds * 1000));
}

TEST(ProgressHistory, SpansTheWindowOfALongRun) {
  // A sample every second for 10 hours: 64 samples still reach back the
  // 15-minute window, and the rate over it is the recent one.
  ProgressHistory h;
  for (int i = 0; i <= 36000; i++) h.Add(i, i < 30000 ? i * 100LL : 3000000LL + (i - 30000) * 50LL);
  double seconds;
  int64_t bytes;
  ASSERT_TRUE(h.WindowStart(36000, &seconds, &bytes));
  EXPECT_LE(seconds, 36000 - 900);
  EXPECT_GE(seconds, 36000 - 900 - 60);
  ProgressInputs in;
  in.finished_raw = 3000000 + 6000 * 50;
  in.finished_size = in.finished_raw;
  in.unfinished_size = 1000000;
  in.elapsed_seconds = 36000;
  in.window_seconds = 36000 - seconds;
  in.window_bytes_done = bytes;
  EXPECT_NEAR(EstimateProgress(in).rate, 50, 1e-9);
  EXPECT_NEAR(EstimateProgress(in).eta_seconds, 1000000.0 / 50, 1e-6);
}

TEST(ProgressHistory, IgnoresSamplesOutOfOrder) {
  ProgressHistory h;
  h.Add(10, 1000);
  h.Add(5, 9999);  // earlier than the newest: ignored
  h.Add(16, 2000);
  double seconds;
  int64_t bytes;
  ASSERT_TRUE(h.WindowStart(16, &seconds, &bytes));
  EXPECT_EQ(seconds, 10);
  EXPECT_EQ(bytes, 1000);
}

TEST(ProgressEstimate, FormatDuration) {
  EXPECT_EQ(FormatDuration(7.4), "7s");
  EXPECT_EQ(FormatDuration(245), "4m05s");
  EXPECT_EQ(FormatDuration(3723), "1h02m03s");
  EXPECT_EQ(FormatDuration(-1), "unknown");
}

}  // namespace
}  // namespace cdw
