#include "common/signals.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>

#include <dirent.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "compression/threaded_compressor.h"

namespace cdw {
namespace {

bool Blocked(const sigset_t &set) {
  for (int signal : {SIGINT, SIGTERM, SIGQUIT, SIGALRM, SIGUSR1, SIGUSR2, SIGHUP, SIGCHLD})
    if (!sigismember(&set, signal)) return false;
  return true;
}

sigset_t CurrentMask() {
  sigset_t mask;
  pthread_sigmask(SIG_SETMASK, nullptr, &mask);
  return mask;
}

TEST(SignalsTest, ThreadStartsWithEverySignalBlocked) {
  sigset_t before = CurrentMask();
  ASSERT_FALSE(sigismember(&before, SIGINT));
  bool blocked_at_start = false;
  std::thread thread = StartThreadWithSignalsBlocked([&] {
    // The very first thing the thread does: its mask must already be full.
    blocked_at_start = Blocked(CurrentMask());
  });
  thread.join();
  EXPECT_TRUE(blocked_at_start);
  sigset_t after = CurrentMask();
  for (int signal = 1; signal < 32; signal++)
    EXPECT_EQ(sigismember(&before, signal), sigismember(&after, signal)) << "signal " << signal;
}

TEST(SignalsTest, ScopedBlockRestoresTheMask) {
  {
    AllSignalsBlocked blocked;
    EXPECT_TRUE(Blocked(CurrentMask()));
  }
  sigset_t after = CurrentMask();
  EXPECT_FALSE(sigismember(&after, SIGTERM));
}

class NullSink : public ByteSink {
 public:
  void Write(const char *, size_t) override {}
  void Finish() override {}
};

// SigBlk of every thread of this process but the calling one (from /proc).
std::vector<unsigned long long> OtherThreadMasks() {
  std::vector<unsigned long long> masks;
  DIR *dir = opendir("/proc/self/task");
  if (!dir) return masks;
  std::string self = std::to_string(gettid());
  while (dirent *entry = readdir(dir)) {
    std::string tid = entry->d_name;
    if (tid == "." || tid == ".." || tid == self) continue;
    std::ifstream status("/proc/self/task/" + tid + "/status");
    std::string line;
    while (std::getline(status, line))
      if (line.rfind("SigBlk:", 0) == 0)
        masks.push_back(std::strtoull(line.c_str() + 7, nullptr, 16));
  }
  closedir(dir);
  return masks;
}

TEST(SignalsTest, CompressorThreadBlocksSignalsAndCallerKeepsItsMask) {
  NullSink sink;
  auto compressor = MakeThreadedCompressor(Compression::kGzip, 1, &sink);
  // The thread starts with the first full 1 MiB chunk.
  std::string chunk(size_t{1} << 20, 'x');
  compressor->Write(chunk.data(), chunk.size());
  std::vector<unsigned long long> masks = OtherThreadMasks();
  ASSERT_FALSE(masks.empty());
  for (unsigned long long mask : masks)
    for (int signal : {SIGINT, SIGTERM, SIGALRM, SIGUSR1})
      EXPECT_TRUE(mask & (1ULL << (signal - 1)))
          << "signal " << signal << " mask " << std::hex << mask;
  sigset_t mine = CurrentMask();
  EXPECT_FALSE(sigismember(&mine, SIGINT));
  compressor->Finish();
}

}  // namespace
}  // namespace cdw
